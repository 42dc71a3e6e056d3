// The session's control-channel layer against the golden OpenVPN 2.6 captures
// (test/vectors/openvpn/): our ControlChannel, numbering its own tls-crypt packet ids and
// stamping its own start time, must produce exactly the bytes each real peer sent, through the
// renegotiation under dynamic tls-crypt and with tls-crypt-v2's WKc; and it must take each
// packet once, and nothing forged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseStaticKey } from '../../src/crypto/static-key.js';
import { parseClientKeyFile } from '../../src/crypto/tls-crypt-v2.js';
import {
  ControlChannel,
  LongPacketIdReplay,
} from '../../src/proto/openvpn/session/control-channel.js';
import {
  EARLY_NEG_START,
  EKM_LABEL_DYNAMIC_TLS_CRYPT,
  Opcode,
  TLS_CRYPT_OFF_PID,
} from '../../src/wire/openvpn/constants.js';
import { parseControlPacket } from '../../src/wire/openvpn/control-packet.js';
import type { ControlPacket } from '../../src/wire/openvpn/control-packet.js';
import { readOpcodeByte } from '../../src/wire/openvpn/opcode.js';
import { loadCapture, readVectorFile, toHex } from '../vectors/openvpn/vectors.js';
import type { CapturedPacket, Direction } from '../vectors/openvpn/vectors.js';

const MS = 1000;

function isControl(p: CapturedPacket): boolean {
  const op = readOpcodeByte(p.bytes[0] ?? 0)?.opcode;
  return op !== Opcode.DATA_V1 && op !== Opcode.DATA_V2;
}

function staticKey(): Uint8Array {
  const parsed = parseStaticKey(readVectorFile('tls-crypt.key'));
  assert.ok(parsed.ok);
  return parsed.key;
}

/** The sender's start time, in the clear in every tls-crypt header (after opcode, sid, id). */
function netTime(p: CapturedPacket): number {
  return new DataView(p.bytes.buffer, p.bytes.byteOffset).getUint32(TLS_CRYPT_OFF_PID + 4);
}

/** Unwraps a whole direction with a receiving ControlChannel, checking each once. */
function receiveAll(channel: ControlChannel, packets: CapturedPacket[]): ControlPacket[] {
  return packets.map((p) => {
    const r = channel.unwrap(p.bytes);
    assert.ok(r.ok, `unwrap ${p.dir} ${toHex(p.bytes.subarray(0, 9))}`);
    return r.packet;
  });
}

describe('control channel against OpenVPN 2.6 (tls-crypt, renegotiation)', () => {
  const capture = loadCapture('udp-tls-crypt');
  const key = staticKey();
  const control = capture.packets.filter(isControl);
  const dynamic = capture.exportedKeyingMaterial.find(
    (e) => e.label === EKM_LABEL_DYNAMIC_TLS_CRYPT,
  );
  assert.ok(dynamic);

  for (const dir of ['c2s', 's2c'] as Direction[]) {
    const sender = dir === 'c2s' ? 'client' : 'server';
    const receiver = dir === 'c2s' ? 'server' : 'client';
    const sent = control.filter((p) => p.dir === dir);
    const first = sent[0] as CapturedPacket;
    const firstReneg = sent.find((p) => ((p.bytes[0] ?? 0) & 0x07) === 1) as CapturedPacket;

    it(`wraps the ${sender}'s packets into exactly the captured bytes, key ids 0 and 1`, () => {
      // What the packets say, read by the peer's channel.
      const reader = new ControlChannel({ role: receiver, tlsCryptKey: key, now: 0 });
      reader.enableDynamicTlsCrypt(dynamic.bytes, 0);
      const packets = receiveAll(reader, sent);
      // Our channel, started when the real one was, numbering its own ids.
      const writer = new ControlChannel({
        role: sender,
        tlsCryptKey: key,
        now: netTime(first) * MS,
      });
      packets.forEach((packet, i) => {
        if (packet.keyId === 1 && !writer.dynamicTlsCrypt) {
          writer.enableDynamicTlsCrypt(dynamic.bytes, netTime(firstReneg) * MS);
        }
        assert.equal(
          toHex(writer.wrap(packet)),
          toHex((sent[i] as CapturedPacket).bytes),
          `packet ${i}`,
        );
      });
    });

    it(`takes each of the ${sender}'s packets once and refuses forgeries`, () => {
      const reader = new ControlChannel({ role: receiver, tlsCryptKey: key, now: 0 });
      reader.enableDynamicTlsCrypt(dynamic.bytes, 0);
      receiveAll(reader, sent);
      for (const p of sent)
        assert.deepEqual(reader.unwrap(p.bytes), { ok: false, reason: 'replay' });
      const fresh = new ControlChannel({ role: receiver, tlsCryptKey: key, now: 0 });
      const forged = first.bytes.slice();
      forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
      assert.deepEqual(fresh.unwrap(forged), { ok: false, reason: 'auth-failed' });
      // The sender's own channel cannot read what it sent (wrong direction).
      const own = new ControlChannel({ role: sender, tlsCryptKey: key, now: 0 });
      assert.deepEqual(own.unwrap(first.bytes), { ok: false, reason: 'auth-failed' });
      // Without dynamic tls-crypt, key id 1 packets do not open.
      assert.deepEqual(fresh.unwrap(firstReneg.bytes), { ok: false, reason: 'auth-failed' });
      assert.ok(fresh.unwrap(first.bytes).ok);
    });
  }

  it('leaves data packets to the data plane', () => {
    const channel = new ControlChannel({ role: 'server', tlsCryptKey: key, now: 0 });
    const data = capture.packets.find((p) => !isControl(p)) as CapturedPacket;
    assert.deepEqual(channel.unwrap(data.bytes), { ok: false, reason: 'data-packet' });
    assert.deepEqual(channel.unwrap(new Uint8Array(0)), { ok: false, reason: 'truncated' });
  });
});

describe('control channel against OpenVPN 2.6 (tls-crypt-v2)', () => {
  const capture = loadCapture('udp-tls-crypt-v2');
  const client = parseClientKeyFile(readVectorFile('tls-crypt-v2-client.key'));
  assert.ok(client.ok);
  const sent = capture.packets.filter((p) => isControl(p) && p.dir === 'c2s');

  it("wraps the client's packets, WKc included, into exactly the captured bytes", () => {
    const reader = new ControlChannel({
      role: 'server',
      tlsCryptKey: client.clientKey,
      expectWrappedClientKey: true,
      now: 0,
    });
    const packets = receiveAll(reader, sent);
    assert.equal(packets[0]?.opcode, Opcode.CONTROL_HARD_RESET_CLIENT_V3);
    assert.equal(packets[1]?.opcode, Opcode.CONTROL_WKC_V1);
    const writer = new ControlChannel({
      role: 'client',
      tlsCryptKey: client.clientKey,
      wrappedClientKey: client.wkc,
      firstSendPacketId: EARLY_NEG_START + 1,
      now: netTime(sent[0] as CapturedPacket) * MS,
    });
    packets.forEach((packet, i) => {
      assert.equal(
        toHex(writer.wrap(packet)),
        toHex((sent[i] as CapturedPacket).bytes),
        `packet ${i}`,
      );
    });
  });

  it('refuses a packet whose WKc length runs past the packet', () => {
    const reader = new ControlChannel({
      role: 'server',
      tlsCryptKey: client.clientKey,
      expectWrappedClientKey: true,
      now: 0,
    });
    const bad = (sent[0] as CapturedPacket).bytes.slice();
    bad[bad.length - 2] = 0xff;
    assert.deepEqual(reader.unwrap(bad), { ok: false, reason: 'bad-wkc' });
  });
});

describe('control channel without tls-crypt', () => {
  it('sends plain control packets and reads them back', () => {
    const client = new ControlChannel({ role: 'client', now: 0 });
    const server = new ControlChannel({ role: 'server', now: 0 });
    const packet: ControlPacket = {
      kind: 'message',
      opcode: Opcode.CONTROL_V1,
      keyId: 0,
      sessionId: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      acks: [0],
      remoteSessionId: Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1),
      packetId: 1,
      payload: Uint8Array.of(0x16, 3, 1),
    };
    const wire = client.wrap(packet);
    assert.equal(client.wrapped, false);
    assert.deepEqual(parseControlPacket(wire), { ok: true, packet });
    assert.deepEqual(server.unwrap(wire), { ok: true, packet, wrapPacketId: undefined });
  });
});

describe('tls-crypt replay state (packet_id.c long form)', () => {
  it('accepts each (id, time) once, within a 64-id window, and never an older time', () => {
    const r = new LongPacketIdReplay();
    const t = 1_800_000_000;
    assert.equal(r.check(0, t), false, 'id 0 is never valid');
    r.update(5, t);
    assert.equal(r.check(5, t), false, 'duplicate');
    assert.equal(r.check(3, t), true, 'late but inside the window');
    r.update(100, t);
    assert.equal(r.check(36, t), false, 'more than 64 behind');
    assert.equal(r.check(37, t), true);
    assert.equal(r.check(200, t - 1), false, 'an earlier sender start time');
    assert.equal(r.check(1, t + 1), true, 'a later start time opens a new window');
    r.update(1, t + 1);
    assert.equal(r.check(100, t), false, 'the old time is gone');
    assert.equal(r.check(2, t + 1), true);
  });
});
