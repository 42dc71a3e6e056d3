// The reference OpenVPN AEAD data channel: layout, key selection, replay, and every way a
// packet from the network can be wrong (dropped with a reason, never thrown).
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import type { AeadAlgorithm } from '../../src/crypto/aead.js';
import {
  dataChannelKeys,
  OpenvpnDataDecryptor,
  OpenvpnDataEncryptor,
  parseDataPacket,
} from '../../src/dataplane/reference/openvpn-data.js';
import { isPosternError } from '../../src/errors.js';
import { Opcode, PING_MAGIC } from '../../src/wire/openvpn/constants.js';
import { toHex } from '../vectors/openvpn/vectors.js';

/** A key block whose every byte says where it is: byte i holds i & 0xff. */
const BLOCK = Uint8Array.from({ length: 256 }, (_, i) => i);

/** Client sends, server receives; `peerId: undefined` means DATA_V1. */
function pair(
  cipher: AeadAlgorithm,
  { peerId, keyId }: { peerId: number | undefined; keyId: number } = { peerId: 7, keyId: 2 },
) {
  const client = dataChannelKeys(BLOCK, cipher, 'client');
  const server = dataChannelKeys(BLOCK, cipher, 'server');
  return {
    encryptor: new OpenvpnDataEncryptor({ key: client.send, keyId, peerId }),
    decryptor: new OpenvpnDataDecryptor({ key: server.receive, keyId }),
  };
}

describe('data channel keys', () => {
  it('take client-to-server keys from keys[0] and server-to-client keys from keys[1]', () => {
    const client = dataChannelKeys(BLOCK, 'AES-256-GCM', 'client');
    const server = dataChannelKeys(BLOCK, 'AES-256-GCM', 'server');
    assert.equal(client.send.key[0], 0, 'keys[0].cipher starts at 0');
    assert.equal(client.send.key.length, 32);
    assert.equal(toHex(client.send.implicitIv), '4041424344454647', 'keys[0].hmac starts at 64');
    assert.equal(client.receive.key[0], 128, 'keys[1].cipher starts at 128');
    assert.equal(toHex(client.receive.implicitIv), 'c0c1c2c3c4c5c6c7', 'keys[1].hmac at 192');
    assert.deepEqual(server.send, client.receive);
    assert.deepEqual(server.receive, client.send);
  });

  it('use the first 16 bytes of the cipher half for AES-128-GCM', () => {
    assert.equal(dataChannelKeys(BLOCK, 'AES-128-GCM', 'client').send.key.length, 16);
  });
});

describe('data channel packets', () => {
  it('lay out DATA_V2 as opcode, peer id, packet id, tag, ciphertext', () => {
    const { encryptor } = pair('AES-256-GCM', { peerId: 0x123456, keyId: 2 });
    const r = encryptor.encrypt(PING_MAGIC);
    assert.ok(r.kind === 'packet');
    assert.equal(r.packetId, 1, 'ids start at 1');
    assert.equal(toHex(r.packet.subarray(0, 8)), '4a12345600000001');
    assert.equal(r.packet.length, 8 + 16 + 16);

    // Check against node:crypto directly: nonce = id || implicit IV, AAD = the 8-byte header.
    const keys = dataChannelKeys(BLOCK, 'AES-256-GCM', 'client').send;
    const d = createDecipheriv(
      'aes-256-gcm',
      keys.key,
      Buffer.concat([r.packet.subarray(4, 8), keys.implicitIv]),
    );
    d.setAAD(r.packet.subarray(0, 8));
    d.setAuthTag(r.packet.subarray(8, 24));
    assert.equal(
      toHex(Buffer.concat([d.update(r.packet.subarray(24)), d.final()])),
      toHex(PING_MAGIC),
    );
  });

  it('lay out DATA_V1 without peer id, authenticating the packet id but not the opcode', () => {
    const { encryptor, decryptor } = pair('AES-256-GCM', { peerId: undefined, keyId: 2 });
    const r = encryptor.encrypt(PING_MAGIC);
    assert.ok(r.kind === 'packet');
    assert.equal(toHex(r.packet.subarray(0, 5)), '3200000001');
    const parsed = parseDataPacket(r.packet);
    assert.ok(parsed.ok);
    assert.equal(parsed.parts.opcode, Opcode.DATA_V1);
    assert.equal(parsed.parts.peerId, undefined);
    assert.equal(toHex(parsed.parts.aad), '00000001');
    const out = decryptor.decrypt(r.packet);
    assert.equal(out.kind, 'packet');
  });

  for (const cipher of ['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305'] as const) {
    it(`round-trip with ${cipher}, ids counting up`, () => {
      const { encryptor, decryptor } = pair(cipher);
      for (let i = 1; i <= 5; i++) {
        const payload = Uint8Array.from({ length: 20 + i }, (_, j) => j * i);
        const sealed = encryptor.encrypt(payload);
        assert.ok(sealed.kind === 'packet');
        assert.equal(sealed.packetId, i);
        const opened = decryptor.decrypt(sealed.packet);
        assert.deepEqual(opened, { kind: 'packet', data: payload, packetId: i, peerId: 7 });
      }
    });
  }

  it('drop a packet with any byte changed, the peer id and opcode included', () => {
    const { encryptor } = pair('AES-256-GCM');
    const r = encryptor.encrypt(PING_MAGIC);
    assert.ok(r.kind === 'packet');
    const server = dataChannelKeys(BLOCK, 'AES-256-GCM', 'server');
    for (let i = 0; i < r.packet.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = r.packet.slice();
        bad[i] = (bad[i] ?? 0) ^ bit;
        const d = new OpenvpnDataDecryptor({ key: server.receive, keyId: 2 });
        assert.equal(d.decrypt(bad).kind, 'drop', `byte ${i} bit ${bit}`);
      }
    }
  });

  it('drop replays, and count every drop by reason', () => {
    const { encryptor, decryptor } = pair('AES-256-GCM');
    const first = encryptor.encrypt(PING_MAGIC);
    assert.ok(first.kind === 'packet');
    for (let i = 0; i < 70; i++) {
      const p = encryptor.encrypt(PING_MAGIC);
      assert.ok(p.kind === 'packet');
      assert.equal(decryptor.decrypt(p.packet).kind, 'packet');
    }
    assert.deepEqual(decryptor.decrypt(first.packet), { kind: 'drop', reason: 'replay-too-old' });
    const again = encryptor.encrypt(PING_MAGIC);
    assert.ok(again.kind === 'packet');
    assert.equal(decryptor.decrypt(again.packet).kind, 'packet');
    assert.deepEqual(decryptor.decrypt(again.packet), { kind: 'drop', reason: 'replay-duplicate' });
    assert.equal(decryptor.dropCounts.get('replay-too-old'), 1);
    assert.equal(decryptor.dropCounts.get('replay-duplicate'), 1);
  });

  it('do not let a forged packet move the replay window', () => {
    const { encryptor, decryptor } = pair('AES-256-GCM');
    const p = encryptor.encrypt(PING_MAGIC);
    assert.ok(p.kind === 'packet');
    const forged = p.packet.slice();
    forged.set([0xff, 0xff, 0xff, 0xf0], 4); // a far-ahead packet id, tag left as is
    assert.deepEqual(decryptor.decrypt(forged), { kind: 'drop', reason: 'auth-failed' });
    assert.equal(decryptor.decrypt(p.packet).kind, 'packet', 'id 1 still fits the window');
  });

  it('drop the wrong key id, packet id 0, truncated and empty packets', () => {
    const { encryptor, decryptor } = pair('AES-256-GCM');
    const p = encryptor.encrypt(PING_MAGIC);
    assert.ok(p.kind === 'packet');
    const otherKey = p.packet.slice();
    otherKey[0] = (Opcode.DATA_V2 << 3) | 3;
    assert.deepEqual(decryptor.decrypt(otherKey), { kind: 'drop', reason: 'wrong-key-id' });
    const zero = p.packet.slice();
    zero.set([0, 0, 0, 0], 4);
    assert.deepEqual(decryptor.decrypt(zero), { kind: 'drop', reason: 'invalid-packet-id' });
    for (let n = 0; n < 24; n++) {
      assert.deepEqual(decryptor.decrypt(p.packet.subarray(0, n)), {
        kind: 'drop',
        reason: 'truncated',
      });
    }
    assert.deepEqual(decryptor.decrypt(p.packet.subarray(0, 24)), {
      kind: 'drop',
      reason: 'empty-payload',
    });
    assert.deepEqual(decryptor.decrypt(Uint8Array.of(0x20, 1, 2)), {
      kind: 'drop',
      reason: 'not-data-opcode',
    });
  });

  it('stop at packet id 2^32 - 1: the key must be renegotiated first', () => {
    const keys = dataChannelKeys(BLOCK, 'AES-256-GCM', 'client');
    const e = new OpenvpnDataEncryptor({
      key: keys.send,
      keyId: 0,
      peerId: 0,
      firstPacketId: 0xffffffff,
    });
    const last = e.encrypt(PING_MAGIC);
    assert.ok(last.kind === 'packet' && last.packetId === 0xffffffff);
    assert.deepEqual(e.encrypt(PING_MAGIC), { kind: 'exhausted' });
  });

  it('refuse our own misuse: empty payload, bad key id, peer id or implicit IV', () => {
    const keys = dataChannelKeys(BLOCK, 'AES-256-GCM', 'client');
    const e = new OpenvpnDataEncryptor({ key: keys.send, keyId: 0, peerId: 0 });
    assert.throws(() => e.encrypt(new Uint8Array(0)), isPosternError);
    assert.throws(
      () => new OpenvpnDataEncryptor({ key: keys.send, keyId: 8, peerId: 0 }),
      isPosternError,
    );
    assert.throws(
      () => new OpenvpnDataEncryptor({ key: keys.send, keyId: 0, peerId: 1 << 24 }),
      isPosternError,
    );
    assert.throws(
      () =>
        new OpenvpnDataDecryptor({
          key: { ...keys.receive, implicitIv: new Uint8Array(4) },
          keyId: 0,
        }),
      isPosternError,
    );
  });
});
