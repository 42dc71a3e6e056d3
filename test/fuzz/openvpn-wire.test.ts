// Property tests: every parser of bytes from the network returns a result and never throws,
// whatever it is fed, and every codec gives back what it was given.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseStaticKey } from '../../src/crypto/static-key.js';
import { tlsCryptKeys, tlsCryptUnwrap, tlsCryptWrap } from '../../src/crypto/tls-crypt.js';
import {
  parseClientKeyFile,
  splitWrappedClientKey,
  tlsCryptV2ServerKey,
  unwrapClientKey,
  wrapClientKey,
} from '../../src/crypto/tls-crypt-v2.js';
import {
  dataChannelKeys,
  OpenvpnDataDecryptor,
  OpenvpnDataEncryptor,
  parseDataPacket,
} from '../../src/dataplane/reference/openvpn-data.js';
import { Opcode } from '../../src/wire/openvpn/constants.js';
import {
  parseControlPacket,
  serializeControlPacket,
} from '../../src/wire/openvpn/control-packet.js';
import type { ControlPacket } from '../../src/wire/openvpn/control-packet.js';
import { parseTlvs, serializeTlvs } from '../../src/wire/openvpn/early-negotiation.js';
import type { MessageOpcode } from '../../src/wire/openvpn/opcode.js';
import { frame, TcpDeframer } from '../../src/wire/openvpn/tcp-framing.js';

const RUNS = { numRuns: 1000 };
const bytes = (maxLength = 300) => fc.uint8Array({ maxLength });
const KEY2 = Uint8Array.from({ length: 256 }, (_, i) => (i * 7) & 0xff);
const TLS_CRYPT = { server: tlsCryptKeys(KEY2, 'server'), client: tlsCryptKeys(KEY2, 'client') };
const V2_SERVER = tlsCryptV2ServerKey(KEY2.subarray(0, 128));

/** Random bytes biased to start with a valid opcode byte, so parsers get past the first check. */
const packetLike = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 3, max: 11 }), bytes())
  .map(([kid, op, rest]) => Uint8Array.from([(op << 3) | (kid & 7), ...rest]));

const anyPacket = fc.oneof(bytes(), packetLike);

const sessionId = fc.uint8Array({ minLength: 8, maxLength: 8 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const messageOpcode = fc.constantFrom<MessageOpcode>(
  Opcode.CONTROL_SOFT_RESET_V1,
  Opcode.CONTROL_V1,
  Opcode.CONTROL_HARD_RESET_CLIENT_V2,
  Opcode.CONTROL_HARD_RESET_SERVER_V2,
  Opcode.CONTROL_HARD_RESET_CLIENT_V3,
  Opcode.CONTROL_WKC_V1,
);
const controlPacket: fc.Arbitrary<ControlPacket> = fc
  .record({
    keyId: fc.integer({ min: 0, max: 7 }),
    sessionId,
    acks: fc.array(u32, { maxLength: 8 }),
    remote: sessionId,
    message: fc.option(fc.record({ opcode: messageOpcode, packetId: u32, payload: bytes() })),
  })
  .map(({ keyId, sessionId: sid, acks, remote, message }): ControlPacket => {
    const common = {
      keyId,
      sessionId: sid,
      acks,
      remoteSessionId: acks.length ? remote : undefined,
    };
    return message
      ? { kind: 'message', ...common, ...message }
      : { kind: 'ack', opcode: Opcode.ACK_V1, ...common };
  });

describe('fuzz: OpenVPN wire parsers never throw', () => {
  it('parseControlPacket, and what parses serializes back to the same bytes', () => {
    fc.assert(
      fc.property(anyPacket, (b) => {
        const r = parseControlPacket(b);
        if (!r.ok) return;
        const again = serializeControlPacket(r.packet);
        // An ACK_V1 may have trailing bytes OpenVPN ignores; everything else is exact.
        assert.deepEqual(again, r.packet.kind === 'ack' ? b.subarray(0, again.length) : b);
      }),
      RUNS,
    );
  });

  it('the TCP deframer, on garbage in random chunks', () => {
    fc.assert(
      fc.property(
        fc.array(bytes(50), { maxLength: 20 }),
        fc.integer({ min: 1, max: 65535 }),
        (chunks, max) => {
          const d = new TcpDeframer({ maxPacketLength: max });
          for (const c of chunks) {
            for (const p of d.push(c)) assert.ok(p.length >= 1 && p.length <= max);
          }
          assert.ok(d.state.kind === 'ok' || d.errors === 1);
        },
      ),
      RUNS,
    );
  });

  it('tls-crypt unwrap, WKc split and unwrap, data decrypt, TLVs and key files', () => {
    const keys = dataChannelKeys(KEY2, 'AES-256-GCM', 'server');
    fc.assert(
      fc.property(anyPacket, fc.string(), (b, s) => {
        assert.equal(tlsCryptUnwrap(TLS_CRYPT.server.receive, b).ok, false);
        const split = splitWrappedClientKey(b);
        if (split.ok) assert.equal(split.packet.length + split.wkc.length, b.length);
        assert.equal(unwrapClientKey(V2_SERVER, b).ok, false);
        const d = new OpenvpnDataDecryptor({ key: keys.receive, keyId: b[0]! & 7 });
        assert.equal(d.decrypt(b).kind, 'drop');
        parseDataPacket(b);
        parseTlvs(b);
        parseStaticKey(s);
        parseClientKeyFile(s);
      }),
      RUNS,
    );
  });
});

describe('fuzz: OpenVPN codecs round-trip', () => {
  it('control packets: parse(serialize(p)) = p', () => {
    fc.assert(
      fc.property(controlPacket, (p) => {
        const r = parseControlPacket(serializeControlPacket(p));
        assert.ok(r.ok);
        assert.deepEqual(r.packet, p);
      }),
      RUNS,
    );
  });

  it('TCP framing: any packets, cut anywhere, come back whole and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
        (packets, cuts) => {
          const stream = Buffer.concat(packets.map(frame));
          const d = new TcpDeframer({ maxPacketLength: 200 });
          const out: Uint8Array[] = [];
          let off = 0;
          for (let i = 0; off < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            out.push(...d.push(stream.subarray(off, off + n)));
            off += n;
          }
          assert.deepEqual(
            out.map((p) => Buffer.from(p)),
            packets.map((p) => Buffer.from(p)),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('tls-crypt: unwrap(wrap(h, body)) = h, body; one flipped bit fails', () => {
    fc.assert(
      fc.property(controlPacket, u32, u32, fc.nat(), (p, packetId, netTime, flip) => {
        const body = serializeControlPacket(p).subarray(9);
        const header = {
          opcode: p.opcode,
          keyId: p.keyId,
          sessionId: p.sessionId,
          packetId,
          netTime,
        };
        const wire = tlsCryptWrap(TLS_CRYPT.client.send, header, body);
        const r = tlsCryptUnwrap(TLS_CRYPT.server.receive, wire);
        assert.ok(r.ok);
        assert.deepEqual(r.header, header);
        assert.deepEqual(r.plaintext, body);
        const bad = wire.slice();
        const bit = flip % (wire.length * 8);
        bad[bit >> 3] = bad[bit >> 3]! ^ (1 << (bit & 7));
        assert.equal(tlsCryptUnwrap(TLS_CRYPT.server.receive, bad).ok, false);
      }),
      { numRuns: 300 },
    );
  });

  it('tls-crypt-v2: any Kc and metadata up to 734 bytes unwrap to themselves', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 256, maxLength: 256 }),
        fc.uint8Array({ maxLength: 734 }),
        (kc, md) => {
          const r = unwrapClientKey(V2_SERVER, wrapClientKey(V2_SERVER, kc, md));
          assert.ok(r.ok);
          assert.deepEqual(r.clientKey, kc);
          assert.deepEqual(r.metadata, md);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('data channel: any payload, V1 or V2, decrypts to itself on the other side', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 1500 }), { minLength: 1, maxLength: 5 }),
        fc.option(fc.integer({ min: 0, max: 0xffffff }), { nil: undefined }),
        fc.constantFrom('AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305') as fc.Arbitrary<
          'AES-128-GCM' | 'AES-256-GCM' | 'CHACHA20-POLY1305'
        >,
        (payloads, peerId, cipher) => {
          const e = new OpenvpnDataEncryptor({
            key: dataChannelKeys(KEY2, cipher, 'server').send,
            keyId: 1,
            peerId,
          });
          const d = new OpenvpnDataDecryptor({
            key: dataChannelKeys(KEY2, cipher, 'client').receive,
            keyId: 1,
          });
          for (const payload of payloads) {
            const sealed = e.encrypt(payload);
            assert.ok(sealed.kind === 'packet');
            const opened = d.decrypt(sealed.packet);
            assert.ok(opened.kind === 'packet');
            assert.deepEqual(opened.data, payload);
            assert.equal(opened.peerId, peerId);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('TLVs: parse(serialize(tlvs)) = tlvs', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc
            .tuple(fc.integer({ min: 0, max: 0xffff }), bytes(40))
            .map(([type, value]) => ({ type, value })),
          { maxLength: 6 },
        ),
        (tlvs) => {
          const r = parseTlvs(serializeTlvs(tlvs));
          assert.ok(r.ok);
          assert.deepEqual(r.tlvs, tlvs);
        },
      ),
      RUNS,
    );
  });
});
