// Crypto wrappers: known-answer vectors from the RFCs and the GCM specification, and the
// OpenVPN constructions (tls-crypt, tls-crypt-v2, key files) checked against an independent
// computation with node:crypto so a wrong offset or order cannot hide.
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { AeadKey, aeadOpen, aeadSeal, parseAeadAlgorithm } from '../../src/crypto/aead.js';
import type { AeadAlgorithm } from '../../src/crypto/aead.js';
import { constantTimeEqual } from '../../src/crypto/constant-time.js';
import { hmac, hmacSha256 } from '../../src/crypto/hmac.js';
import { decodePem, encodePem } from '../../src/crypto/pem.js';
import {
  directionalKeys,
  formatStaticKey,
  parseStaticKey,
  splitKey2,
} from '../../src/crypto/static-key.js';
import { openvpnPrfKeyBlock, tls10Prf } from '../../src/crypto/tls-prf.js';
import {
  dynamicTlsCryptKey2,
  tlsCryptKeys,
  tlsCryptKeyView,
  tlsCryptUnwrap,
  tlsCryptWrap,
} from '../../src/crypto/tls-crypt.js';
import {
  decodeMetadata,
  encodeMetadata,
  generateClientKey,
  parseClientKeyFile,
  parseServerKeyFile,
  splitWrappedClientKey,
  tlsCryptV2ServerKey,
  unwrapClientKey,
  wrapClientKey,
} from '../../src/crypto/tls-crypt-v2.js';
import { isPosternError } from '../../src/errors.js';
import { Opcode } from '../../src/wire/openvpn/constants.js';
import { hex, toHex } from '../vectors/openvpn/vectors.js';

const counting = (n: number, start = 0): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

describe('HMAC and constant-time compare', () => {
  it('matches RFC 4231 test case 2, in one part or several', () => {
    const expected = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843';
    const key = new TextEncoder().encode('Jefe');
    const msg = new TextEncoder().encode('what do ya want for nothing?');
    assert.equal(toHex(hmacSha256(key, msg)), expected);
    assert.equal(toHex(hmac('sha256', key, msg.subarray(0, 5), msg.subarray(5))), expected);
  });

  it('compares equal, unequal and different-length inputs', () => {
    assert.ok(constantTimeEqual(hex('0102'), hex('0102')));
    assert.ok(!constantTimeEqual(hex('0102'), hex('0103')));
    assert.ok(!constantTimeEqual(hex('0102'), hex('010203')));
    assert.ok(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)));
  });
});

describe('TLS 1.0 PRF', () => {
  it('matches the published test vector (48 x 0xab, "PRF Testvector", 64 x 0xcd)', () => {
    const out = tls10Prf(
      new Uint8Array(48).fill(0xab),
      'PRF Testvector',
      new Uint8Array(64).fill(0xcd),
      104,
    );
    assert.equal(
      toHex(out),
      'd3d4d1e349b5d515044666d51de32bab258cb521b6b053463e354832fd976754' +
        '443bcf9a296519bc289abcbc1187e4ebd31e602353776c408aafb74cbc85eff6' +
        '9255f9788faa184cbb957a9819d84a5d7eb006eb459d3ae8de9810454b8b2d8f' +
        '1afbc655a8c9a013',
    );
  });

  it('splits an odd-length secret with one shared byte, and any length is a prefix', () => {
    const secret = counting(5);
    const long = tls10Prf(secret, 'x', hex('00'), 100);
    assert.equal(toHex(tls10Prf(secret, 'x', hex('00'), 33)), toHex(long.subarray(0, 33)));
    // Changing the middle byte changes both halves' output.
    const other = secret.slice();
    other[2] = 0xff;
    assert.notEqual(toHex(tls10Prf(other, 'x', hex('00'), 16)), toHex(long.subarray(0, 16)));
  });

  it('builds OpenVPN key method 2 key block from master secret then key expansion', () => {
    const src = {
      clientPreMaster: counting(48, 1),
      clientRandom1: counting(32, 2),
      clientRandom2: counting(32, 3),
      serverRandom1: counting(32, 4),
      serverRandom2: counting(32, 5),
      clientSessionId: counting(8, 6),
      serverSessionId: counting(8, 7),
    };
    const master = tls10Prf(
      src.clientPreMaster,
      'OpenVPN master secret',
      Buffer.concat([src.clientRandom1, src.serverRandom1]),
      48,
    );
    const expected = tls10Prf(
      master,
      'OpenVPN key expansion',
      Buffer.concat([
        src.clientRandom2,
        src.serverRandom2,
        src.clientSessionId,
        src.serverSessionId,
      ]),
      256,
    );
    assert.equal(toHex(openvpnPrfKeyBlock(src)), toHex(expected));
  });
});

describe('AEAD', () => {
  const gcmKey = hex('feffe9928665731c6d6a8f9467308308');
  const gcmIv = hex('cafebabefacedbaddecaf888');
  const gcmAad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
  const gcmPlain = hex(
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
      '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
  );
  const chachaPlain = new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const vectors: {
    name: string;
    alg: AeadAlgorithm;
    key: Uint8Array;
    nonce: Uint8Array;
    aad: Uint8Array;
    plain: Uint8Array;
    ct: string;
    tag: string;
  }[] = [
    {
      name: 'GCM spec test case 4 (AES-128)',
      alg: 'AES-128-GCM',
      key: gcmKey,
      nonce: gcmIv,
      aad: gcmAad,
      plain: gcmPlain,
      ct:
        '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e' +
        '21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
      tag: '5bc94fbc3221a5db94fae95ae7121a47',
    },
    {
      name: 'GCM spec test case 16 (AES-256)',
      alg: 'AES-256-GCM',
      key: Buffer.concat([gcmKey, gcmKey]),
      nonce: gcmIv,
      aad: gcmAad,
      plain: gcmPlain,
      ct:
        '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' +
        '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
      tag: '76fc6ece0f4e1768cddf8853bb2d551b',
    },
    {
      name: 'RFC 8439 section 2.8.2 (ChaCha20-Poly1305)',
      alg: 'CHACHA20-POLY1305',
      key: counting(32, 0x80),
      nonce: hex('070000004041424344454647'),
      aad: hex('50515253c0c1c2c3c4c5c6c7'),
      plain: chachaPlain,
      ct:
        'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
        '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
        '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
        '3ff4def08e4b7a9de576d26586cec64b6116',
      tag: '1ae10b594f09e26a7e902ecbd0600691',
    },
  ];

  for (const v of vectors) {
    it(`matches ${v.name}, and refuses every flipped bit of ciphertext, tag, AAD or nonce`, () => {
      const sealed = aeadSeal(v.alg, v.key, v.nonce, v.aad, v.plain);
      assert.equal(toHex(sealed.ciphertext), v.ct);
      assert.equal(toHex(sealed.tag), v.tag);
      const key = new AeadKey(v.alg, v.key);
      assert.equal(toHex(key.open(v.nonce, v.aad, sealed.ciphertext, sealed.tag)!), toHex(v.plain));
      const parts = [v.nonce, v.aad, sealed.ciphertext, sealed.tag] as const;
      parts.forEach((part, which) => {
        for (let i = 0; i < part.length * 8; i += 7) {
          const bad = part.slice();
          bad[i >> 3] = (bad[i >> 3] ?? 0) ^ (1 << (i & 7));
          const args = [...parts] as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
          args[which] = bad;
          assert.equal(key.open(...args), undefined, `part ${which} bit ${i}`);
        }
      });
    });
  }

  it('never throws on bad input when opening', () => {
    const k = new AeadKey('AES-256-GCM', counting(32));
    assert.equal(k.open(counting(11), hex(''), hex('00'), counting(16)), undefined, 'short nonce');
    assert.equal(k.open(counting(12), hex(''), hex('00'), counting(15)), undefined, 'short tag');
    assert.equal(k.open(counting(12), hex(''), new Uint8Array(0), counting(16)), undefined);
    assert.equal(
      aeadOpen('AES-256-GCM', counting(31), counting(12), hex(''), hex(''), counting(16)),
      undefined,
    );
  });

  it('refuses our own misuse: key or nonce of the wrong size', () => {
    assert.throws(() => new AeadKey('AES-128-GCM', counting(32)), isPosternError);
    assert.throws(
      () => new AeadKey('AES-256-GCM', counting(32)).seal(counting(8), hex(''), hex('')),
      isPosternError,
    );
  });

  it('reads cipher names case-insensitively, as OpenVPN does', () => {
    assert.equal(parseAeadAlgorithm('aes-256-gcm'), 'AES-256-GCM');
    assert.equal(parseAeadAlgorithm('ChaCha20-Poly1305'), 'CHACHA20-POLY1305');
    assert.equal(parseAeadAlgorithm('AES-256-CBC'), undefined);
  });
});

describe('OpenVPN static key files', () => {
  const key = counting(256, 0x10);

  it('round-trip, and read the key out of an inline profile block with CRLF', () => {
    const text = formatStaticKey(key);
    assert.match(
      text,
      /^#\n# 2048 bit OpenVPN static key\n#\n-----BEGIN OpenVPN Static key V1-----\n/,
    );
    assert.equal(text.split('\n').filter((l) => /^[0-9a-f]{32}$/.test(l)).length, 16);
    const inline = `<tls-crypt>\r\n${text.replace(/\n/g, '\r\n')}</tls-crypt>\r\n`;
    const parsed = parseStaticKey(inline);
    assert.ok(parsed.ok);
    assert.equal(toHex(parsed.key), toHex(key));
  });

  it('report what is wrong with a broken file', () => {
    const text = formatStaticKey(key);
    assert.deepEqual(parseStaticKey('nothing'), { ok: false, reason: 'no-header' });
    assert.deepEqual(parseStaticKey(text.replace(/-----END.*/, '')), {
      ok: false,
      reason: 'no-footer',
    });
    assert.deepEqual(parseStaticKey(text.replace('10111213', '1011121x')), {
      ok: false,
      reason: 'not-hex',
    });
    const short = text
      .split('\n')
      .filter((l, i) => i !== 5)
      .join('\n');
    assert.deepEqual(parseStaticKey(short), { ok: false, reason: 'wrong-length' });
  });

  it('split into keys[0] and keys[1], each cipher(64) then hmac(64)', () => {
    const [k0, k1] = splitKey2(key);
    assert.equal(k0.cipher[0], 0x10);
    assert.equal(k0.hmac[0], 0x50);
    assert.equal(k1.cipher[0], 0x90);
    assert.equal(k1.hmac[0], 0xd0);
    assert.deepEqual(directionalKeys(key, 'normal'), { send: k0, receive: k1 });
    assert.deepEqual(directionalKeys(key, 'inverse'), { send: k1, receive: k0 });
  });
});

describe('tls-crypt', () => {
  const key2 = counting(256);
  const server = tlsCryptKeys(key2, 'server');
  const client = tlsCryptKeys(key2, 'client');
  const header = {
    opcode: Opcode.CONTROL_V1,
    keyId: 0,
    sessionId: hex('0102030405060708'),
    packetId: 7,
    netTime: 0x6b08e985,
  };
  const body = hex('0100000000a1a2a3a4a5a6a7a800000001160303');

  it('is header || HMAC-SHA256(Ka, header || body) || AES-256-CTR(Ke, IV = tag[0..16], body)', () => {
    const wire = tlsCryptWrap(client.send, header, body);
    const head = hex('200102030405060708' + '00000007' + '6b08e985');
    assert.equal(toHex(wire.subarray(0, 17)), toHex(head));
    // The client sends with keys[1]: Ke = bytes 128..160, Ka = bytes 192..224.
    const tag = createHmac('sha256', key2.subarray(192, 224)).update(head).update(body).digest();
    assert.equal(toHex(wire.subarray(17, 49)), toHex(tag));
    const ctr = createCipheriv('aes-256-ctr', key2.subarray(128, 160), tag.subarray(0, 16));
    assert.equal(toHex(wire.subarray(49)), toHex(Buffer.concat([ctr.update(body), ctr.final()])));
  });

  it('cuts each key as a view for one use: Ke, Ka from keys[0] or keys[1] as the role says', () => {
    // The server sends with keys[0] (Ke = bytes 0..32, Ka = 64..96), the client with keys[1].
    const offsets = { 0: [0, 64], 1: [128, 192] } as const;
    for (const [role, use, index] of [
      ['server', 'send', 0],
      ['server', 'receive', 1],
      ['client', 'send', 1],
      ['client', 'receive', 0],
    ] as const) {
      const view = tlsCryptKeyView(key2, role, use);
      const [ke, ka] = offsets[index];
      assert.equal(toHex(view.encryptionKey), toHex(key2.subarray(ke, ke + 32)), `${role} ${use}`);
      assert.equal(toHex(view.authenticationKey), toHex(key2.subarray(ka, ka + 32)));
      assert.equal(view.encryptionKey.buffer, key2.buffer, 'a view, not a copy');
      const copied = (role === 'server' ? server : client)[use];
      assert.equal(toHex(copied.encryptionKey), toHex(view.encryptionKey));
      assert.notEqual(copied.encryptionKey.buffer, key2.buffer, 'tlsCryptKeys copies');
    }
    assert.throws(() => tlsCryptKeyView(new Uint8Array(255), 'server', 'send'), /256 bytes/);
  });

  it('unwraps on the other side only, giving back header and body', () => {
    const wire = tlsCryptWrap(client.send, header, body);
    const opened = tlsCryptUnwrap(server.receive, wire);
    assert.ok(opened.ok);
    assert.deepEqual(opened.header, header);
    assert.equal(toHex(opened.plaintext), toHex(body));
    assert.equal(toHex(opened.controlPacket), toHex(Buffer.concat([wire.subarray(0, 9), body])));
    assert.deepEqual(tlsCryptUnwrap(client.receive, wire), { ok: false, reason: 'auth-failed' });
  });

  it('takes an empty body, and calls anything shorter than header and tag truncated', () => {
    const wire = tlsCryptWrap(server.send, header, new Uint8Array(0));
    assert.equal(wire.length, 49);
    assert.ok(tlsCryptUnwrap(client.receive, wire).ok);
    assert.deepEqual(tlsCryptUnwrap(client.receive, wire.subarray(0, 48)), {
      ok: false,
      reason: 'truncated',
    });
    const junkOpcode = wire.slice();
    junkOpcode[0] = 0;
    assert.deepEqual(tlsCryptUnwrap(client.receive, junkOpcode), {
      ok: false,
      reason: 'unknown-opcode',
    });
  });

  it('derives the dynamic key by XOR with the original, or takes the export alone', () => {
    const exported = counting(256, 5);
    const x = dynamicTlsCryptKey2(exported, key2);
    assert.equal(x[0], 5 ^ 0);
    assert.equal(x[255], ((255 + 5) & 0xff) ^ 255);
    assert.equal(toHex(dynamicTlsCryptKey2(exported)), toHex(exported));
    assert.throws(() => dynamicTlsCryptKey2(counting(255)), isPosternError);
  });
});

describe('tls-crypt-v2', () => {
  const serverRaw = counting(128, 0x33);
  const server = tlsCryptV2ServerKey(serverRaw);
  const kc = counting(256, 0x77);

  it('wraps as T || AES-256-CTR(Ke, T[0..16], Kc || metadata) || len, T over len || Kc || md', () => {
    const md = encodeMetadata({ type: 'user', data: hex('abcdef') });
    assert.equal(toHex(md), '00abcdef');
    const wkc = wrapClientKey(server, kc, md);
    const len = 32 + 256 + 4 + 2;
    assert.equal(wkc.length, len);
    assert.equal(toHex(wkc.subarray(len - 2)), len.toString(16).padStart(4, '0'), 'length last');
    // Ke is the first 32 bytes of the cipher half, Ka the first 32 of the hmac half (64..96).
    const lenBytes = Uint8Array.of(len >> 8, len & 0xff);
    const t = createHmac('sha256', serverRaw.subarray(64, 96))
      .update(lenBytes)
      .update(kc)
      .update(md)
      .digest();
    assert.equal(toHex(wkc.subarray(0, 32)), toHex(t), 'tag first');
    const ctr = createCipheriv('aes-256-ctr', serverRaw.subarray(0, 32), t.subarray(0, 16));
    const ct = Buffer.concat([ctr.update(Buffer.concat([kc, md])), ctr.final()]);
    assert.equal(toHex(wkc.subarray(32, len - 2)), toHex(ct));
  });

  it('unwraps what it wrapped, refuses a wrong server key and a bad length field', () => {
    const wkc = wrapClientKey(
      server,
      kc,
      encodeMetadata({ type: 'timestamp', seconds: 1_700_000_000n }),
    );
    const opened = unwrapClientKey(server, wkc);
    assert.ok(opened.ok);
    assert.equal(toHex(opened.clientKey), toHex(kc));
    assert.deepEqual(opened.decoded, { type: 'timestamp', seconds: 1_700_000_000n });
    const other = tlsCryptV2ServerKey(counting(128, 0x34));
    assert.deepEqual(unwrapClientKey(other, wkc), { ok: false, reason: 'auth-failed' });
    const badLen = wkc.slice();
    badLen[badLen.length - 1] = (badLen[badLen.length - 1] ?? 0) ^ 1;
    assert.deepEqual(unwrapClientKey(server, badLen), { ok: false, reason: 'length-mismatch' });
    assert.deepEqual(unwrapClientKey(server, hex('00')), { ok: false, reason: 'truncated' });
    assert.deepEqual(unwrapClientKey(server, hex('0002')), { ok: false, reason: 'truncated' });
  });

  it('allows WKc up to 1024 bytes: 734 bytes of metadata, no more', () => {
    const max = wrapClientKey(server, kc, new Uint8Array(734));
    assert.equal(max.length, 1024);
    assert.ok(unwrapClientKey(server, max).ok);
    assert.throws(() => wrapClientKey(server, kc, new Uint8Array(735)), isPosternError);
    assert.throws(
      () => encodeMetadata({ type: 'user', data: new Uint8Array(734) }),
      isPosternError,
    );
    const tooLong = new Uint8Array(1025);
    tooLong.set([0x04, 0x01], 1023);
    assert.deepEqual(unwrapClientKey(server, tooLong), { ok: false, reason: 'too-long' });
  });

  it('finds WKc at the end of a packet by its length, never reaching the opcode', () => {
    const wkc = wrapClientKey(server, kc, encodeMetadata({ type: 'empty' }));
    const packet = Buffer.concat([hex('50aabbcc'), wkc]);
    const split = splitWrappedClientKey(packet);
    assert.ok(split.ok);
    assert.equal(toHex(split.packet), '50aabbcc');
    assert.equal(toHex(split.wkc), toHex(wkc));
    assert.deepEqual(splitWrappedClientKey(hex('500004')), { ok: false, reason: 'truncated' });
    assert.deepEqual(splitWrappedClientKey(hex('50000004')), { ok: false, reason: 'bad-length' });
    assert.ok(splitWrappedClientKey(hex('50000003')).ok, 'a 3-byte WKc right after the opcode');
  });

  it('generates client keys from the randomness given, with any metadata type', () => {
    const made = generateClientKey(server, counting(256, 9), { type: 'user', data: hex('01') });
    assert.equal(toHex(made.clientKey), toHex(counting(256, 9)));
    const opened = unwrapClientKey(server, made.wkc);
    assert.ok(opened.ok);
    assert.deepEqual(opened.decoded, { type: 'user', data: hex('01') });
    assert.deepEqual(decodeMetadata(hex('07aa')), { type: 'other', typeByte: 7, data: hex('aa') });
    assert.deepEqual(decodeMetadata(hex('01aa')), { type: 'other', typeByte: 1, data: hex('aa') });
    assert.deepEqual(decodeMetadata(new Uint8Array(0)), { type: 'empty' });
  });

  it('reads key files and says why a broken one is refused', () => {
    assert.deepEqual(parseServerKeyFile('x'), { ok: false, reason: 'no-header' });
    const short = encodePem(counting(127), 'OpenVPN tls-crypt-v2 server key');
    assert.deepEqual(parseServerKeyFile(short), { ok: false, reason: 'wrong-length' });
    const noWkc = encodePem(counting(256), 'OpenVPN tls-crypt-v2 client key');
    assert.deepEqual(parseClientKeyFile(noWkc), { ok: false, reason: 'wrong-length' });
    assert.deepEqual(decodePem('-----BEGIN A-----\n!!!!\n-----END A-----\n', 'A'), {
      ok: false,
      reason: 'not-base64',
    });
  });
});
