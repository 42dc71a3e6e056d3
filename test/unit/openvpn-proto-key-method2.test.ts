// Key method 2 messages: what a client and a server write into the TLS tunnel first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeKeyMethod2,
  encodeKeyMethod2,
  PRE_MASTER_BYTES,
  RANDOM_BYTES,
} from '../../src/proto/openvpn/key-method2.js';
import type { KeyMethod2Message } from '../../src/proto/openvpn/key-method2.js';

const filled = (n: number, v: number) => new Uint8Array(n).fill(v);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const CLIENT_OPTIONS =
  'V4,dev-type tun,link-mtu 1559,tun-mtu 1500,proto UDPv4,cipher AES-256-GCM,auth [null-digest],keysize 256,key-method 2,tls-client';
const CLIENT_PEER_INFO =
  'IV_VER=2.6.12\nIV_PLAT=linux\nIV_TCPNL=1\nIV_MTU=1600\nIV_NCP=2\nIV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\nIV_PROTO=990\n';

const clientMessage: KeyMethod2Message = {
  preMaster: filled(PRE_MASTER_BYTES, 0xaa),
  random1: filled(RANDOM_BYTES, 0xbb),
  random2: filled(RANDOM_BYTES, 0xcc),
  options: CLIENT_OPTIONS,
  username: 'alice',
  password: 'correct horse',
  peerInfo: CLIENT_PEER_INFO,
};

test('transcript: a client message, byte by byte', () => {
  const msg: KeyMethod2Message = {
    preMaster: filled(48, 0x11),
    random1: filled(32, 0x22),
    random2: filled(32, 0x33),
    options: 'V4',
    username: 'u',
    password: 'pw',
  };
  const bytes = encodeKeyMethod2(msg, 'client');
  const expected =
    '00000000' + // literal zero
    '02' + // key method 2
    '11'.repeat(48) + // pre_master
    '22'.repeat(32) + // random1
    '33'.repeat(32) + // random2
    '0003' +
    '563400' + // "V4\0", length 3 counts the NUL
    '0002' +
    '7500' + // "u\0"
    '0003' +
    '707700' + // "pw\0"
    '0000'; // no peer_info
  assert.equal(hex(bytes), expected);
});

test('client message round trip: every field comes back', () => {
  const bytes = encodeKeyMethod2(clientMessage, 'client');
  const decoded = decodeKeyMethod2(bytes, { from: 'client' });
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.detail);
  assert.deepEqual(decoded.message, clientMessage);
  assert.equal(decoded.trailingBytes, 0);
  assert.equal(decoded.keyMethodFlags, 0);
});

test('server message: no pre_master, no credentials, empty strings as length 0', () => {
  const server: KeyMethod2Message = {
    random1: filled(32, 1),
    random2: filled(32, 2),
    options: 'V4,dev-type tun,tls-server',
  };
  const bytes = encodeKeyMethod2(server, 'server');
  assert.equal(bytes.length, 4 + 1 + 64 + 2 + 27 + 2 + 2 + 2);
  const decoded = decodeKeyMethod2(bytes, { from: 'server' });
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.message, server);
  assert.equal('preMaster' in decoded.message, false);
});

test('optional trailing fields may be absent altogether (older writers stop early)', () => {
  const full = encodeKeyMethod2(
    { ...clientMessage, username: undefined, password: undefined, peerInfo: undefined },
    'client',
  );
  const cut = full.subarray(0, full.length - 6); // drop the three empty-string lengths
  const decoded = decodeKeyMethod2(cut, { from: 'client' });
  assert.ok(decoded.ok);
  assert.equal(decoded.message.options, CLIENT_OPTIONS);
  assert.equal(decoded.message.username, undefined);
  assert.equal(decoded.message.peerInfo, undefined);
});

test('an empty username is kept apart from an absent one', () => {
  const bytes = encodeKeyMethod2({ ...clientMessage, username: '', password: '' }, 'client');
  const decoded = decodeKeyMethod2(bytes, { from: 'client' });
  assert.ok(decoded.ok);
  assert.equal(decoded.message.username, '');
  assert.equal(decoded.message.password, '');
});

test('like the C reader, a string value ends at its first NUL', () => {
  const bytes = encodeKeyMethod2({ ...clientMessage, username: 'bob' }, 'client');
  const at = hex(bytes).indexOf('0004626f6200') / 2;
  assert.ok(at > 0);
  bytes[at + 3] = 0; // "b\0b\0"
  const decoded = decodeKeyMethod2(bytes, { from: 'client' });
  assert.ok(decoded.ok);
  assert.equal(decoded.message.username, 'b');
  assert.equal(
    decoded.message.password,
    'correct horse',
    'the next field is still found by length',
  );
});

test('rejections carry a reason', () => {
  const good = encodeKeyMethod2(clientMessage, 'client');
  const cases: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'truncated'],
    ['nonzero prefix', Uint8Array.from([0, 0, 0, 1, 2]), 'bad-prefix'],
    ['key method 1', Uint8Array.from([0, 0, 0, 0, 1]), 'bad-key-method'],
    ['key material cut', good.subarray(0, 100), 'truncated'],
    ['no options string', good.subarray(0, 5 + 48 + 64), 'truncated'],
    ['options length cut', good.subarray(0, 5 + 48 + 64 + 1), 'truncated'],
    ['options body cut', good.subarray(0, 5 + 48 + 64 + 2 + 10), 'truncated'],
    ['peer_info body cut', good.subarray(0, good.length - 5), 'truncated'],
  ];
  for (const [name, bytes, reason] of cases) {
    const r = decodeKeyMethod2(bytes, { from: 'client' });
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.equal(r.reason, reason, `${name}: ${r.detail}`);
  }
  // A server message read as if a client sent it runs short of key material or misparses.
  const fromServer = encodeKeyMethod2(
    { random1: filled(32, 1), random2: filled(32, 2), options: 'V4' },
    'server',
  );
  assert.equal(decodeKeyMethod2(fromServer, { from: 'client' }).ok, false);
});

test('an options string longer than TLS_OPTIONS_LEN is refused, as OpenVPN does', () => {
  const longOptions = 'V4,' + 'x'.repeat(520);
  const bytes = encodeKeyMethod2({ ...clientMessage, options: 'V4' }, 'client');
  // Build by hand: the encoder refuses to write it.
  assert.throws(() => encodeKeyMethod2({ ...clientMessage, options: longOptions }, 'client'), {
    code: 'OVPN_KM2_BAD_FIELD',
  });
  const head = bytes.subarray(0, 5 + 48 + 64);
  const body = new TextEncoder().encode(longOptions);
  const forged = new Uint8Array(head.length + 2 + body.length + 1);
  forged.set(head);
  new DataView(forged.buffer).setUint16(head.length, body.length + 1);
  forged.set(body, head.length + 2);
  const r = decodeKeyMethod2(forged, { from: 'client' });
  assert.equal(r.ok ? 'ok' : r.reason, 'options-too-long');
  assert.equal(decodeKeyMethod2(forged, { from: 'client', maxOptionsBytes: 1024 }).ok, true);
});

test('a password that is not UTF-8 is refused rather than mangled', () => {
  const bytes = encodeKeyMethod2({ ...clientMessage, password: 'ab' }, 'client');
  const at = hex(bytes).indexOf('0003616200') / 2;
  bytes[at + 2] = 0xff;
  const r = decodeKeyMethod2(bytes, { from: 'client' });
  assert.equal(r.ok ? 'ok' : r.reason, 'bad-utf8');
});

test('the encoder refuses its own bad input', () => {
  assert.throws(() => encodeKeyMethod2({ ...clientMessage, preMaster: undefined }, 'client'), {
    code: 'OVPN_KM2_BAD_FIELD',
  });
  assert.throws(() => encodeKeyMethod2(clientMessage, 'server'), { code: 'OVPN_KM2_BAD_FIELD' });
  assert.throws(() => encodeKeyMethod2({ ...clientMessage, random1: filled(31, 0) }, 'client'), {
    code: 'OVPN_KM2_BAD_FIELD',
  });
  assert.throws(() => encodeKeyMethod2({ ...clientMessage, username: 'a\0b' }, 'client'), {
    code: 'OVPN_KM2_BAD_FIELD',
  });
});

test('property: every prefix of a valid message either decodes or is reported truncated', () => {
  const bytes = encodeKeyMethod2(clientMessage, 'client');
  for (let n = 0; n < bytes.length; n++) {
    const r = decodeKeyMethod2(bytes.subarray(0, n), { from: 'client' });
    if (!r.ok) assert.equal(r.reason, 'truncated', `prefix ${n}`);
  }
});

test('property: random messages round-trip; random bytes never throw', () => {
  const text = fc.string({ maxLength: 60 }).filter((s) => !s.includes('\0'));
  fc.assert(
    fc.property(
      fc.record({
        random1: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        random2: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        preMaster: fc.uint8Array({ minLength: 48, maxLength: 48 }),
        options: text,
        username: fc.option(text, { nil: undefined }),
        password: fc.option(text, { nil: undefined }),
        peerInfo: fc.option(text, { nil: undefined }),
      }),
      (m) => {
        const msg: KeyMethod2Message = { ...m };
        for (const k of ['username', 'password', 'peerInfo'] as const) {
          if (msg[k] === undefined) delete msg[k];
        }
        const r = decodeKeyMethod2(encodeKeyMethod2(msg, 'client'), { from: 'client' });
        assert.ok(r.ok);
        assert.deepEqual(r.message, msg);
      },
    ),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, fromClient) => {
      const r = decodeKeyMethod2(bytes, { from: fromClient ? 'client' : 'server' });
      assert.equal(typeof r.ok, 'boolean');
    }),
    { numRuns: 500 },
  );
});
