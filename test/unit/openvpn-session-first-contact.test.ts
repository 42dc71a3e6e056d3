// The gateway's stateless answer to unknown addresses, fed with the real OpenVPN 2.6 clients'
// first packets from the golden captures. The reply must be what a 2.6 server sends (the
// captured server reset is the reference: acks [0], tls-crypt id 1, the resend-WKc TLV for
// tls-crypt-v2); a session may only open on a packet that echoes a valid cookie.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseStaticKey } from '../../src/crypto/static-key.js';
import { parseClientKeyFile, parseServerKeyFile } from '../../src/crypto/tls-crypt-v2.js';
import { ControlChannel } from '../../src/proto/openvpn/session/control-channel.js';
import { handleFirstContact } from '../../src/proto/openvpn/session/first-contact.js';
import type {
  FirstContactConfig,
  FirstContactVerdict,
} from '../../src/proto/openvpn/session/first-contact.js';
import type { ClientAddress } from '../../src/proto/openvpn/hmac-cookie.js';
import { EARLY_NEG_START, Opcode, TLS_CRYPT_OFF_PID } from '../../src/wire/openvpn/constants.js';
import type { ControlPacket } from '../../src/wire/openvpn/control-packet.js';
import { loadCapture, readVectorFile, toHex } from '../vectors/openvpn/vectors.js';
import type { CapturedPacket } from '../vectors/openvpn/vectors.js';

const NOW = 1_800_000_000_000;
const FROM: ClientAddress = { ip: '198.51.100.7', port: 40_000 };
const COOKIE_KEY = new Uint8Array(32).fill(7);

function staticKey(): Uint8Array {
  const parsed = parseStaticKey(readVectorFile('tls-crypt.key'));
  assert.ok(parsed.ok);
  return parsed.key;
}

function reply(v: FirstContactVerdict): Uint8Array {
  assert.equal(v.kind, 'reply', JSON.stringify(v));
  return (v as { packet: Uint8Array }).packet;
}

function netTime(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(TLS_CRYPT_OFF_PID + 4);
}

function wrapId(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(TLS_CRYPT_OFF_PID);
}

/** The client's third packet: an ACK of our reset, echoing `cookie`, from a client channel. */
function ackOf(
  channel: ControlChannel,
  clientSid: Uint8Array,
  cookie: Uint8Array,
  opcode: ControlPacket['opcode'] = Opcode.ACK_V1,
): Uint8Array {
  if (opcode === Opcode.ACK_V1) {
    return channel.wrap({
      kind: 'ack',
      opcode: Opcode.ACK_V1,
      keyId: 0,
      sessionId: clientSid,
      acks: [0],
      remoteSessionId: cookie,
    });
  }
  return channel.wrap({
    kind: 'message',
    opcode: opcode as typeof Opcode.CONTROL_V1,
    keyId: 0,
    sessionId: clientSid,
    acks: [0],
    remoteSessionId: cookie,
    packetId: 1,
    payload: Uint8Array.of(0x16, 0x03, 0x01),
  });
}

describe('first contact with tls-crypt, against the captured 2.6 client', () => {
  const capture = loadCapture('udp-tls-crypt');
  const key = staticKey();
  const config: FirstContactConfig = { wrap: { kind: 'tls-crypt', key }, cookieKey: COOKIE_KEY };
  const clientReset = capture.packets[0] as CapturedPacket;
  const stockReply = capture.packets[1] as CapturedPacket;
  const clientReader = () => new ControlChannel({ role: 'client', tlsCryptKey: key, now: 0 });

  it('answers the reset the way the stock server did, keeping nothing', () => {
    const ours = reply(handleFirstContact(config, clientReset.bytes, FROM, NOW));
    const stock = clientReader().unwrap(stockReply.bytes);
    const mine = clientReader().unwrap(ours);
    assert.ok(stock.ok && mine.ok);
    assert.equal(mine.packet.opcode, Opcode.CONTROL_HARD_RESET_SERVER_V2);
    assert.equal(mine.wrapPacketId, stock.wrapPacketId, 'tls-crypt id 1, as the stock server');
    assert.deepEqual(mine.packet.acks, stock.packet.acks);
    assert.deepEqual(mine.packet.remoteSessionId, stock.packet.remoteSessionId);
    assert.equal(mine.packet.kind === 'message' && mine.packet.packetId, 0);
    assert.equal(mine.packet.kind === 'message' && mine.packet.payload.length, 0);
    assert.equal(netTime(ours), Math.floor(NOW / 1000));
    // Stateless: the same reset in the same time slot gets the same cookie; elsewhere not.
    assert.equal(
      toHex(reply(handleFirstContact(config, clientReset.bytes, FROM, NOW))),
      toHex(ours),
    );
    const other = reply(
      handleFirstContact(config, clientReset.bytes, { ...FROM, port: 40_001 }, NOW),
    );
    assert.notEqual(toHex(other.subarray(1, 9)), toHex(ours.subarray(1, 9)));
  });

  it('opens a session only for a packet that echoes a fresh cookie from the same address', () => {
    const ours = reply(handleFirstContact(config, clientReset.bytes, FROM, NOW));
    const cookie = ours.subarray(1, 9);
    const clientSid = clientReset.bytes.subarray(1, 9);
    const client = () =>
      new ControlChannel({
        role: 'client',
        tlsCryptKey: key,
        firstSendPacketId: 2,
        now: netTime(clientReset.bytes) * 1000,
      });
    const third = ackOf(client(), clientSid, cookie);

    const opened = handleFirstContact(config, third, FROM, NOW + 20_000);
    assert.equal(opened.kind, 'open');
    if (opened.kind === 'open') {
      assert.equal(opened.start.mode, 'cookie');
      assert.equal(toHex(opened.start.clientSessionId), toHex(clientSid));
      assert.equal(toHex(opened.start.serverSessionId ?? new Uint8Array()), toHex(cookie));
      assert.equal(opened.start.firstWrapPacketId, 2);
      assert.equal(opened.start.clientResetOpcode, Opcode.CONTROL_HARD_RESET_CLIENT_V2);
    }
    // The TLS packet (CONTROL_V1 id 1) may be the one that proves the cookie, too.
    const hello = ackOf(client(), clientSid, cookie, Opcode.CONTROL_V1);
    assert.equal(handleFirstContact(config, hello, FROM, NOW).kind, 'open');

    const bad = (v: FirstContactVerdict) =>
      assert.deepEqual(v, { kind: 'drop', reason: 'bad-cookie' });
    bad(handleFirstContact(config, third, { ...FROM, ip: '198.51.100.8' }, NOW));
    bad(handleFirstContact(config, third, FROM, NOW + 120_000)); // four 30 s slots later
    bad(
      handleFirstContact(config, ackOf(client(), clientSid, new Uint8Array(8).fill(1)), FROM, NOW),
    );
    // The stock client's own third packet acks the stock server's session id, not our cookie.
    bad(handleFirstContact(config, (capture.packets[2] as CapturedPacket).bytes, FROM, NOW));
  });

  it('drops what does not belong to a first contact', () => {
    const data = capture.packets.find((p) => (p.bytes[0] ?? 0) >>> 3 === Opcode.DATA_V2);
    assert.ok(data);
    const drop = (bytes: Uint8Array) => handleFirstContact(config, bytes, FROM, NOW).kind;
    assert.equal(drop(data.bytes), 'drop');
    assert.equal(drop(new Uint8Array(0)), 'drop');
    const forged = clientReset.bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    assert.deepEqual(handleFirstContact(config, forged, FROM, NOW), {
      kind: 'drop',
      reason: 'auth-failed',
    });
    const reneg = capture.packets.find((p) => ((p.bytes[0] ?? 0) & 0x07) === 1);
    assert.ok(reneg);
    assert.deepEqual(handleFirstContact(config, reneg.bytes, FROM, NOW), {
      kind: 'drop',
      reason: 'not-key-id-0',
    });
    // A reset under another key is not answered at all.
    const otherKey = key.slice();
    otherKey[0] = (otherKey[0] ?? 0) ^ 1;
    otherKey[64] = (otherKey[64] ?? 0) ^ 1;
    otherKey[128] = (otherKey[128] ?? 0) ^ 1;
    otherKey[192] = (otherKey[192] ?? 0) ^ 1;
    const stranger = { ...config, wrap: { kind: 'tls-crypt' as const, key: otherKey } };
    assert.equal(handleFirstContact(stranger, clientReset.bytes, FROM, NOW).kind, 'drop');
  });

  it('never throws, whatever arrives', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        assert.equal(handleFirstContact(config, bytes, FROM, NOW).kind, 'drop');
      }),
      { numRuns: 500 },
    );
  });
});

describe('first contact with tls-crypt-v2, against the captured 2.6 client', () => {
  const capture = loadCapture('udp-tls-crypt-v2');
  const server = parseServerKeyFile(readVectorFile('tls-crypt-v2-server.key'));
  const client = parseClientKeyFile(readVectorFile('tls-crypt-v2-client.key'));
  assert.ok(server.ok && client.ok);
  const config: FirstContactConfig = {
    wrap: { kind: 'tls-crypt-v2', serverKey: server.key },
    cookieKey: COOKIE_KEY,
  };
  const clientReset = capture.packets[0] as CapturedPacket;
  const stockReply = capture.packets[1] as CapturedPacket;
  const clientReader = () =>
    new ControlChannel({ role: 'client', tlsCryptKey: client.clientKey, now: 0 });

  it('asks an early-negotiating client to resend WKc, exactly as the stock server did', () => {
    assert.equal(wrapId(clientReset.bytes), EARLY_NEG_START + 1);
    const ours = reply(handleFirstContact(config, clientReset.bytes, FROM, NOW));
    const stock = clientReader().unwrap(stockReply.bytes);
    const mine = clientReader().unwrap(ours);
    assert.ok(stock.ok && mine.ok);
    assert.ok(stock.packet.kind === 'message' && mine.packet.kind === 'message');
    assert.equal(toHex(mine.packet.payload), toHex(stock.packet.payload));
    assert.equal(toHex(mine.packet.payload), '000100020001');
    assert.deepEqual(mine.packet.acks, [0]);
  });

  it('opens on CONTROL_WKC_V1 with the cookie, and reads the WKc metadata', () => {
    const ours = reply(handleFirstContact(config, clientReset.bytes, FROM, NOW));
    const channel = new ControlChannel({
      role: 'client',
      tlsCryptKey: client.clientKey,
      wrappedClientKey: client.wkc,
      firstSendPacketId: EARLY_NEG_START + 2,
      now: NOW,
    });
    const third = ackOf(
      channel,
      clientReset.bytes.subarray(1, 9),
      ours.subarray(1, 9),
      Opcode.CONTROL_WKC_V1,
    );
    const opened = handleFirstContact(config, third, FROM, NOW);
    assert.equal(opened.kind, 'open');
    if (opened.kind === 'open') {
      assert.equal(opened.start.mode, 'cookie');
      assert.equal(opened.start.expectWrappedClientKey, true);
      assert.equal(toHex(opened.start.tlsCryptKey ?? new Uint8Array()), toHex(client.clientKey));
      assert.equal(opened.start.wkcMetadata?.type, 'timestamp');
    }
    // The stock client's third packet echoes the stock server's id: no session for it here.
    assert.deepEqual(
      handleFirstContact(config, (capture.packets[2] as CapturedPacket).bytes, FROM, NOW),
      {
        kind: 'drop',
        reason: 'bad-cookie',
      },
    );
  });

  it('opens at once, statefully, for a v2 client that cannot do early negotiation', () => {
    const channel = new ControlChannel({
      role: 'client',
      tlsCryptKey: client.clientKey,
      wrappedClientKey: client.wkc,
      now: NOW,
    });
    const reset = channel.wrap({
      kind: 'message',
      opcode: Opcode.CONTROL_HARD_RESET_CLIENT_V3,
      keyId: 0,
      sessionId: Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9),
      acks: [],
      remoteSessionId: undefined,
      packetId: 0,
      payload: new Uint8Array(0),
    });
    const opened = handleFirstContact(config, reset, FROM, NOW);
    assert.equal(opened.kind, 'open');
    if (opened.kind === 'open') {
      assert.equal(opened.start.mode, 'stateful');
      assert.equal(opened.start.serverSessionId, undefined);
      assert.equal(opened.start.firstWrapPacketId, 1);
      assert.equal(opened.start.clientResetOpcode, Opcode.CONTROL_HARD_RESET_CLIENT_V3);
    }
  });

  it('refuses v1 resets and a WKc that is not ours', () => {
    const v1 = loadCapture('udp-tls-crypt').packets[0] as CapturedPacket;
    assert.deepEqual(handleFirstContact(config, v1.bytes, FROM, NOW), {
      kind: 'drop',
      reason: 'unexpected-opcode',
    });
    const bad = clientReset.bytes.slice();
    bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 1;
    assert.deepEqual(handleFirstContact(config, bad, FROM, NOW), {
      kind: 'drop',
      reason: 'bad-wkc',
    });
  });
});
