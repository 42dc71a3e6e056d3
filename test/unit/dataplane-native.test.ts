// The native data path against the TypeScript reference, byte for byte: for each cipher, random
// keys and payloads, native sealing produces exactly the reference's DATA_V2 (and DATA_V1)
// packets for the same packet id; native opening accepts the reference's packets and rejects
// every single-byte change; the native replay window gives the same verdicts as ReplayWindow.
// Uses the addon's test hooks, which run the data path's own seal/open/replay code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AEAD_ALGORITHMS, AEAD_KEY_SIZE, type AeadAlgorithm } from '../../src/crypto/aead.js';
import {
  OpenvpnDataDecryptor,
  OpenvpnDataEncryptor,
  type DataDirectionKey,
} from '../../src/dataplane/reference/openvpn-data.js';
import { loadOvpnNative, supportsNative } from '../../src/dataplane/native/native-binding.js';
import { ReplayWindow } from '../../src/proto/replay-window.js';

const support = supportsNative();
const skip = support.ok ? false : support.reason;
const RUNS = 200;
const PAYLOAD_MAX = 1500;
const FLIP_PAYLOAD_MAX = 96;
const PACKET_ID_MAX = 0xffffffff;
const PEER_ID_MAX = 0xfffffe;

function keyArbitrary(cipher: AeadAlgorithm): fc.Arbitrary<DataDirectionKey> {
  return fc
    .record({
      key: fc.uint8Array({ minLength: AEAD_KEY_SIZE[cipher], maxLength: AEAD_KEY_SIZE[cipher] }),
      implicitIv: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    })
    .map(({ key, implicitIv }) => ({ cipher, key, implicitIv }));
}

function packetCase(cipher: AeadAlgorithm, payloadMax: number) {
  return fc.record({
    key: keyArbitrary(cipher),
    keyId: fc.integer({ min: 0, max: 7 }),
    peerId: fc.option(fc.integer({ min: 0, max: PEER_ID_MAX }), { nil: undefined }),
    packetId: fc.integer({ min: 1, max: PACKET_ID_MAX }),
    payload: fc.uint8Array({ minLength: 1, maxLength: payloadMax }),
  });
}

function referenceSeal(
  key: DataDirectionKey,
  keyId: number,
  peerId: number | undefined,
  packetId: number,
  payload: Uint8Array,
): Uint8Array {
  const enc = new OpenvpnDataEncryptor({ key, keyId, peerId, firstPacketId: packetId });
  const r = enc.encrypt(payload);
  assert.equal(r.kind, 'packet');
  return r.kind === 'packet' ? r.packet : new Uint8Array(0);
}

describe('native OpenVPN data path vs the TypeScript reference', { skip }, () => {
  const native = support.ok ? loadOvpnNative() : undefined;

  for (const cipher of AEAD_ALGORITHMS) {
    it(`${cipher}: native sealing gives the reference's bytes for the same packet id`, () => {
      fc.assert(
        fc.property(packetCase(cipher, PAYLOAD_MAX), (c) => {
          const expected = referenceSeal(c.key, c.keyId, c.peerId, c.packetId, c.payload);
          const sealed = native!.ovpnSealForTest(
            cipher,
            c.key.key,
            c.key.implicitIv,
            c.keyId,
            c.peerId ?? -1,
            c.packetId,
            c.payload,
          );
          assert.deepEqual(new Uint8Array(sealed), expected);
        }),
        { numRuns: RUNS },
      );
    });

    it(`${cipher}: native opening takes reference packets and refuses every 1-byte change`, () => {
      fc.assert(
        fc.property(
          packetCase(cipher, FLIP_PAYLOAD_MAX),
          fc.integer({ min: 1, max: 255 }),
          (c, xor) => {
            const packet = referenceSeal(c.key, c.keyId, c.peerId, c.packetId, c.payload);
            const open = (p: Uint8Array) =>
              native!.ovpnOpenForTest(cipher, c.key.key, c.key.implicitIv, c.keyId, p);
            const opened = open(packet);
            assert.ok(Buffer.isBuffer(opened), `refused: ${String(opened)}`);
            assert.deepEqual(new Uint8Array(opened), c.payload);
            for (let i = 0; i < packet.length; i++) {
              const flipped = Uint8Array.from(packet);
              flipped[i]! ^= xor;
              const verdict = open(flipped);
              assert.equal(typeof verdict, 'string', `byte ${i} ^ ${xor} was accepted`);
            }
          },
        ),
        { numRuns: RUNS },
      );
    });

    it(`${cipher}: the reference opens what native seals`, () => {
      fc.assert(
        fc.property(packetCase(cipher, PAYLOAD_MAX), (c) => {
          const sealed = native!.ovpnSealForTest(
            cipher,
            c.key.key,
            c.key.implicitIv,
            c.keyId,
            c.peerId ?? -1,
            c.packetId,
            c.payload,
          );
          const dec = new OpenvpnDataDecryptor({ key: c.key, keyId: c.keyId });
          const r = dec.decrypt(sealed);
          assert.equal(r.kind, 'packet');
          if (r.kind === 'packet') {
            assert.deepEqual(r.data, c.payload);
            assert.equal(r.packetId, c.packetId);
            assert.equal(r.peerId, c.peerId);
          }
        }),
        { numRuns: RUNS / 2 },
      );
    });
  }

  it('malformed packets get the reference drop reason, never a crash', () => {
    const key = new Uint8Array(32).fill(7);
    const iv = new Uint8Array(8).fill(9);
    const open = (p: Uint8Array) => native!.ovpnOpenForTest('AES-256-GCM', key, iv, 0, p);
    assert.equal(open(new Uint8Array(0)), 'truncated');
    assert.equal(open(Uint8Array.of(9 << 3)), 'truncated');
    assert.equal(open(new Uint8Array(23).fill(0).fill(9 << 3, 0, 1)), 'truncated');
    const headerAndTagOnly = new Uint8Array(24);
    headerAndTagOnly[0] = 9 << 3;
    assert.equal(open(headerAndTagOnly), 'empty-payload');
    const idZero = new Uint8Array(40);
    idZero[0] = 9 << 3;
    assert.equal(open(idZero), 'invalid-packet-id');
    const control = new Uint8Array(40);
    control[0] = 4 << 3;
    assert.equal(open(control), 'bad-opcode');
    const otherKey = Uint8Array.from(idZero);
    otherKey[0] = (9 << 3) | 1;
    assert.equal(open(otherKey), 'wrong-key-id');
  });

  it('the replay window gives ReplayWindow(64) verdicts for random id sequences', () => {
    const step = fc.record({
      // Mostly near the front of the window, sometimes far ahead or far behind.
      delta: fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: -80, max: 8 }) },
        { weight: 1, arbitrary: fc.integer({ min: 60, max: 5000 }) },
      ),
      authentic: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.array(step, { maxLength: 300 }),
        (start, steps) => {
          const ids: number[] = [];
          let at = start;
          for (const s of steps) {
            at = Math.max(0, Math.min(PACKET_ID_MAX, at + s.delta));
            ids.push(at);
          }
          const authentic = steps.map((s) => s.authentic);
          const window = new ReplayWindow(64);
          const expected = ids.map((id, i) => {
            const verdict = window.check(id);
            if (verdict === 'ok' && authentic[i]) window.update(id);
            return verdict;
          });
          assert.deepEqual(native!.ovpnReplayForTest(ids, authentic), expected);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('edge ids: 0 is invalid, exactly 64 behind is too old, 63 behind is fine', () => {
    assert.deepEqual(
      native!.ovpnReplayForTest(
        [0, 100, 36, 37, 37, 2 ** 32 - 1, 100],
        [true, true, true, true, true, true, true],
      ),
      ['invalid', 'ok', 'too-old', 'ok', 'duplicate', 'ok', 'too-old'],
    );
  });
});
