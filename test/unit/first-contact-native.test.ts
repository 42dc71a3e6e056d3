// The RX thread's own answer to a client reset (native/ovpn_first_contact.c) against the
// reference, handleFirstContact (src/proto/openvpn/session/first-contact.ts): whenever the
// native side answers, the reply is the reference's byte for byte; whenever the reference
// replies to a reset the native side takes, the native side replies too; whenever the native
// side drops a packet, the reference drops it for the same reason; everything else goes to JS.
// Random keys, client session ids, addresses (IPv4, IPv6, v4-mapped), ports, clocks, damaged,
// foreign and random packets, and the captured resets of the stock OpenVPN 2.6 client.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseStaticKey } from '../../src/crypto/static-key.js';
import {
  encodeMetadata,
  parseServerKeyFile,
  tlsCryptV2ServerKey,
  wrapClientKey,
} from '../../src/crypto/tls-crypt-v2.js';
import { loadOvpnNative, supportsNative } from '../../src/dataplane/native/native-binding.js';
import { cookieSlotMs } from '../../src/proto/openvpn/hmac-cookie.js';
import { ControlChannel } from '../../src/proto/openvpn/session/control-channel.js';
import { handleFirstContact } from '../../src/proto/openvpn/session/first-contact.js';
import type { FirstContactConfig } from '../../src/proto/openvpn/session/first-contact.js';
import { EARLY_NEG_START, Opcode, TLS_CRYPT_OFF_CT } from '../../src/wire/openvpn/constants.js';
import { loadCapture, readVectorFile, toHex } from '../vectors/openvpn/vectors.js';
import type { CapturedPacket } from '../vectors/openvpn/vectors.js';

const support = supportsNative();
const skip = support.ok ? false : support.reason;
const SLOT_MS = cookieSlotMs();
/** The longest reset body (after the tls-crypt header and tag) the native side looks at. */
const NATIVE_BODY_MAX = 2048;

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const ipv4 = fc.ipV4();
const address = fc.oneof(
  ipv4,
  fc.ipV6(),
  ipv4.map((a) => `::ffff:${a}`),
);

interface Case {
  v2: boolean;
  key: Uint8Array;
  cookieKey: Uint8Array;
  packet: Uint8Array;
  ip: string;
  port: number;
  now: number;
}

/** A client reset under a random key: sometimes well formed, sometimes a little off. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    v2: fc.boolean(),
    serverKey: bytes(128),
    staticKey: bytes(256),
    clientKey: bytes(256),
    metadata: fc.uint8Array({ maxLength: 100 }),
    cookieKey: fc.uint8Array({ minLength: 16, maxLength: 64 }),
    sessionId: bytes(8),
    earlyNegotiation: fc.boolean(),
    packetId: fc.oneof(fc.constant(0), fc.nat()),
    acks: fc.oneof(fc.constant([]), fc.array(fc.nat(), { minLength: 1, maxLength: 3 })),
    opcode: fc.constantFrom<Opcode>(
      Opcode.CONTROL_HARD_RESET_CLIENT_V2,
      Opcode.CONTROL_HARD_RESET_CLIENT_V3,
      Opcode.CONTROL_V1,
      Opcode.CONTROL_WKC_V1,
    ),
    keyId: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 7 })),
    payload: fc.uint8Array({ maxLength: 64 }),
    damage: fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { freq: 3 }),
    ip: address,
    port: fc.integer({ min: 0, max: 65535 }),
    now: fc.integer({ min: 0, max: 2 ** 42 }),
    wellFormed: fc.boolean(),
    // A forger's packet: random bytes behind a reset's opcode byte.
    garbage: fc.oneof(
      { arbitrary: fc.constant(null), weight: 3 },
      { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 1200, size: 'max' }), weight: 1 },
    ),
  })
  .map((drawn): Case => {
    // Half the cases a reset as a 2.6 client sends it, the other half anything close to one.
    const r = !drawn.wellFormed
      ? drawn
      : {
          ...drawn,
          opcode: drawn.v2
            ? Opcode.CONTROL_HARD_RESET_CLIENT_V3
            : Opcode.CONTROL_HARD_RESET_CLIENT_V2,
          keyId: 0,
          packetId: 0,
          acks: [],
          damage: null,
          earlyNegotiation: true,
        };
    const wkc = wrapClientKey(
      tlsCryptV2ServerKey(r.serverKey),
      r.clientKey,
      encodeMetadata({ type: 'user', data: r.metadata }),
    );
    const channel = new ControlChannel({
      role: 'client',
      tlsCryptKey: r.v2 ? r.clientKey : r.staticKey,
      wrappedClientKey: r.v2 ? wkc : undefined,
      firstSendPacketId: r.earlyNegotiation ? EARLY_NEG_START + 1 : 1,
      now: r.now,
    });
    const packet = channel.wrap({
      kind: 'message',
      opcode: r.opcode as typeof Opcode.CONTROL_HARD_RESET_CLIENT_V3,
      keyId: r.keyId,
      sessionId: r.sessionId,
      acks: r.acks,
      remoteSessionId: r.acks.length > 0 ? r.sessionId.map((b) => b ^ 0xff) : undefined,
      packetId: r.packetId,
      payload: r.payload,
    });
    if (r.damage) {
      const [at, bit] = r.damage;
      const i = at % packet.length;
      packet[i] = (packet[i] ?? 0) ^ (1 << bit);
    }
    const forged = drawn.garbage?.slice();
    // Forged as a flood would be: the reset opcode this server takes, key id 0, random behind.
    const reset = r.v2 ? Opcode.CONTROL_HARD_RESET_CLIENT_V3 : Opcode.CONTROL_HARD_RESET_CLIENT_V2;
    if (forged) forged[0] = reset << 3;
    return {
      v2: r.v2,
      key: r.v2 ? r.serverKey : r.staticKey,
      cookieKey: r.cookieKey,
      packet: forged ?? packet,
      ip: r.ip,
      port: r.port,
      now: r.now,
    };
  });

function referenceVerdict(c: Case): ReturnType<typeof handleFirstContact> {
  const config: FirstContactConfig = {
    wrap: c.v2 ? { kind: 'tls-crypt-v2', serverKey: c.key } : { kind: 'tls-crypt', key: c.key },
    cookieKey: c.cookieKey,
  };
  return handleFirstContact(config, c.packet, { ip: c.ip, port: c.port }, c.now);
}

function referenceOf(c: Case): Uint8Array | undefined {
  const verdict = referenceVerdict(c);
  return verdict.kind === 'reply' ? verdict.packet : undefined;
}

describe('the RX thread answers client resets as the reference does', { skip }, () => {
  const native = support.ok ? loadOvpnNative() : undefined;
  const nativeVerdict = (c: Case) =>
    native!.ovpnFirstContactForTest(
      c.v2,
      c.key,
      c.cookieKey,
      SLOT_MS,
      c.packet,
      c.ip,
      c.port,
      c.now,
    );
  const nativeOf = (c: Case): Uint8Array | undefined => {
    const v = nativeVerdict(c);
    return typeof v === 'string' ? undefined : (v ?? undefined);
  };
  /** A drop on the native side is the reference's drop, for the same reason. */
  const assertSameDrop = (c: Case): boolean => {
    const v = nativeVerdict(c);
    if (typeof v !== 'string') return false;
    const reference = referenceVerdict(c);
    assert.deepEqual(reference.kind === 'drop' ? reference.reason : reference.kind, v);
    return true;
  };

  it('the same reply, drop or none, for random resets, keys, addresses and clocks', () => {
    let replies = 0;
    let drops = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        const mine = nativeOf(c);
        const reference = referenceOf(c);
        assert.equal(mine && toHex(mine), reference && toHex(reference));
        if (mine) replies++;
        if (assertSameDrop(c)) drops++;
      }),
      { numRuns: 800 },
    );
    // The generator must reach the interesting cases, not only what goes to JS.
    assert.ok(replies >= 200, `only ${replies} resets were answered`);
    assert.ok(drops >= 100, `only ${drops} forged resets were dropped natively`);
  });

  it('answers no single-bit change of a good reset; what it drops, JS drops alike', () => {
    const server = parseServerKeyFile(readVectorFile('tls-crypt-v2-server.key'));
    assert.ok(server.ok);
    const reset = (loadCapture('udp-tls-crypt-v2').packets[0] as CapturedPacket).bytes;
    const c: Case = {
      v2: true,
      key: server.key,
      cookieKey: new Uint8Array(32).fill(3),
      packet: reset,
      ip: '198.51.100.7',
      port: 40_000,
      now: 1_800_000_000_000,
    };
    assert.ok(nativeOf(c), 'the intact reset is answered');
    let dropped = 0;
    for (let i = 0; i < reset.length * 8; i++) {
      const packet = reset.slice();
      packet[i >> 3] = (packet[i >> 3] ?? 0) ^ (1 << (i & 7));
      // Header, body and WKc are all authenticated: no change survives either side.
      assert.equal(nativeOf({ ...c, packet }), undefined, `bit ${i}`);
      assert.equal(referenceOf({ ...c, packet }), undefined, `bit ${i}`);
      if (assertSameDrop({ ...c, packet })) dropped++;
    }
    // Only a change to the opcode byte leaves the native side's reach (another opcode, key id).
    assert.ok(dropped >= (reset.length - 1) * 8, `${dropped} dropped natively`);
  });

  it("answers the stock 2.6 client's captured resets, tls-crypt and tls-crypt-v2", () => {
    const staticKey = parseStaticKey(readVectorFile('tls-crypt.key'));
    const server = parseServerKeyFile(readVectorFile('tls-crypt-v2-server.key'));
    assert.ok(staticKey.ok && server.ok);
    for (const [v2, key, capture] of [
      [false, staticKey.key, 'udp-tls-crypt'],
      [true, server.key, 'udp-tls-crypt-v2'],
    ] as const) {
      const packets = loadCapture(capture).packets;
      const c: Case = {
        v2,
        key,
        cookieKey: new Uint8Array(32).fill(5),
        packet: (packets[0] as CapturedPacket).bytes,
        ip: '2001:db8::7',
        port: 1194,
        now: 1_800_000_000_000,
      };
      const mine = nativeOf(c);
      assert.ok(mine, capture);
      assert.equal(toHex(mine), toHex(referenceOf(c)!), capture);
      assert.equal(mine.length, v2 ? 72 : 66);
      // Every later packet of the capture belongs to JS (the session, or its cookie check).
      for (const p of packets.slice(1))
        assert.equal(nativeVerdict({ ...c, packet: p.bytes }), null);
    }
  });

  it('leaves a reset with a body longer than it reads to JS, which answers it', () => {
    const staticKey = new Uint8Array(256).map((_, i) => (i * 7 + 3) & 0xff);
    const channel = new ControlChannel({ role: 'client', tlsCryptKey: staticKey, now: 0 });
    const payload = new Uint8Array(NATIVE_BODY_MAX);
    const packet = channel.wrap({
      kind: 'message',
      opcode: Opcode.CONTROL_HARD_RESET_CLIENT_V2,
      keyId: 0,
      sessionId: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      acks: [],
      remoteSessionId: undefined,
      packetId: 0,
      payload,
    });
    assert.ok(packet.length > TLS_CRYPT_OFF_CT + NATIVE_BODY_MAX);
    const big: Case = {
      v2: false,
      key: staticKey,
      cookieKey: new Uint8Array(32).fill(5),
      packet,
      ip: '198.51.100.7',
      port: 40_000,
      now: 1_800_000_000_000,
    };
    assert.equal(nativeOf(big), undefined);
    assert.ok(referenceOf(big));
  });

  it('refuses keys of the wrong size instead of answering with them', () => {
    const call = (key: number, cookie: number, slot: number) => () =>
      native!.ovpnFirstContactForTest(
        true,
        new Uint8Array(key),
        new Uint8Array(cookie),
        slot,
        new Uint8Array(80),
        '198.51.100.7',
        1,
        0,
      );
    assert.throws(call(256, 32, SLOT_MS), RangeError);
    assert.throws(call(128, 8, SLOT_MS), RangeError);
    assert.throws(call(128, 32, 0), RangeError);
    assert.equal(call(128, 32, SLOT_MS)(), null);
  });
});
