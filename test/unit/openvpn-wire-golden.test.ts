// Golden packets from the real OpenVPN 2.6 (Debian), captured by
// test/vectors/openvpn/capture.sh: a server and a client in a network namespace of their own,
// tls-crypt or tls-crypt-v2, AES-256-GCM, a renegotiation, pings through the tunnel. These
// tests read the captures as the exchange they are and check that our codecs agree with
// OpenVPN byte for byte: unwrap what it wrapped, wrap exactly what it wrapped, derive the keys
// it logged, decrypt what it encrypted and encrypt exactly what it encrypted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { directionalKeys, parseStaticKey } from '../../src/crypto/static-key.js';
import {
  dynamicTlsCryptKey2,
  tlsCryptKeys,
  tlsCryptUnwrap,
  tlsCryptWrap,
} from '../../src/crypto/tls-crypt.js';
import type { TlsCryptKeys } from '../../src/crypto/tls-crypt.js';
import {
  formatClientKeyFile,
  formatServerKeyFile,
  parseClientKeyFile,
  parseServerKeyFile,
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
import {
  EARLY_NEG_FLAG_RESEND_WKC,
  EARLY_NEG_START,
  EKM_LABEL_DATA_KEYS,
  EKM_LABEL_DYNAMIC_TLS_CRYPT,
  Opcode,
  PING_MAGIC,
} from '../../src/wire/openvpn/constants.js';
import {
  parseControlPacket,
  serializeControlPacket,
} from '../../src/wire/openvpn/control-packet.js';
import type { ControlPacket } from '../../src/wire/openvpn/control-packet.js';
import {
  announcesEarlyNegotiation,
  earlyNegotiationFlags,
  parseTlvs,
} from '../../src/wire/openvpn/early-negotiation.js';
import { readOpcodeByte } from '../../src/wire/openvpn/opcode.js';
import { frame, TcpDeframer } from '../../src/wire/openvpn/tcp-framing.js';
import { loadCapture, readVectorFile, toHex } from '../vectors/openvpn/vectors.js';
import type { Capture, CapturedPacket, Direction } from '../vectors/openvpn/vectors.js';

const AES_256_GCM = 'AES-256-GCM';

function isData(p: CapturedPacket): boolean {
  const op = readOpcodeByte(p.bytes[0] ?? 0)?.opcode;
  return op === Opcode.DATA_V1 || op === Opcode.DATA_V2;
}

function keyIdOf(p: CapturedPacket): number {
  return (p.bytes[0] ?? 0) & 0x07;
}

function staticKey(name: string): Uint8Array {
  const parsed = parseStaticKey(readVectorFile(name));
  assert.ok(parsed.ok, `${name} parses`);
  return parsed.key;
}

function ekm(capture: Capture, label: string): Uint8Array[] {
  return capture.exportedKeyingMaterial.filter((e) => e.label === label).map((e) => e.bytes);
}

/** Keys of both sides: the receiver of a c2s packet is the server. */
interface Sides {
  server: TlsCryptKeys;
  client: TlsCryptKeys;
}

function sides(key2: Uint8Array): Sides {
  return { server: tlsCryptKeys(key2, 'server'), client: tlsCryptKeys(key2, 'client') };
}

function receiverOf(s: Sides, dir: Direction): TlsCryptKeys {
  return dir === 'c2s' ? s.server : s.client;
}

function senderOf(s: Sides, dir: Direction): TlsCryptKeys {
  return dir === 'c2s' ? s.client : s.server;
}

interface Opened {
  dir: Direction;
  raw: Uint8Array;
  wkc: Uint8Array | undefined;
  tlsCryptPacketId: number;
  netTime: number;
  plaintext: Uint8Array;
  packet: ControlPacket;
}

/** Unwraps and parses one captured control packet, cutting off a WKc where there is one. */
function open(keys: Sides, p: CapturedPacket): Opened {
  let wrapped = p.bytes;
  let wkc: Uint8Array | undefined;
  const op = readOpcodeByte(p.bytes[0] ?? 0)?.opcode;
  if (op === Opcode.CONTROL_HARD_RESET_CLIENT_V3 || op === Opcode.CONTROL_WKC_V1) {
    const split = splitWrappedClientKey(p.bytes);
    assert.ok(split.ok, 'WKc found at the end of the packet');
    wrapped = split.packet;
    wkc = split.wkc;
  }
  const unwrapped = tlsCryptUnwrap(receiverOf(keys, p.dir).receive, wrapped);
  assert.ok(unwrapped.ok, `unwrap ${p.dir} ${toHex(p.bytes.subarray(0, 9))}`);
  const parsed = parseControlPacket(unwrapped.controlPacket);
  assert.ok(parsed.ok, 'the unwrapped packet parses');
  return {
    dir: p.dir,
    raw: p.bytes,
    wkc,
    tlsCryptPacketId: unwrapped.header.packetId,
    netTime: unwrapped.header.netTime,
    plaintext: unwrapped.plaintext,
    packet: parsed.packet,
  };
}

/** What every control conversation must look like, whatever the wrapping. */
function checkConversation(opened: Opened[]): void {
  const c2s = opened.filter((o) => o.dir === 'c2s');
  const s2c = opened.filter((o) => o.dir === 's2c');
  assert.ok(c2s.length > 3 && s2c.length > 3, 'both sides talk');
  const clientSid = toHex(c2s[0]!.packet.sessionId);
  const serverSid = toHex(s2c[0]!.packet.sessionId);
  assert.notEqual(clientSid, serverSid);
  for (const o of c2s) {
    assert.equal(toHex(o.packet.sessionId), clientSid, 'client keeps its session id');
    if (o.packet.acks.length > 0) assert.equal(toHex(o.packet.remoteSessionId!), serverSid);
  }
  for (const o of s2c) {
    assert.equal(toHex(o.packet.sessionId), serverSid, 'server keeps its session id');
    if (o.packet.acks.length > 0) assert.equal(toHex(o.packet.remoteSessionId!), clientSid);
  }
  for (const dir of [c2s, s2c]) {
    // tls-crypt replay ids count up by one per packet sent, time stays put within a session.
    for (let i = 1; i < dir.length; i++) {
      assert.equal(dir[i]!.tlsCryptPacketId, dir[i - 1]!.tlsCryptPacketId + 1);
      assert.equal(dir[i]!.netTime, dir[0]!.netTime);
    }
    // Reliable message ids start at 0 and count up (a retransmission may repeat one).
    const ids = dir.flatMap((o) => (o.packet.kind === 'message' ? [o.packet.packetId] : []));
    assert.equal(ids[0], 0);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! - ids[i - 1]! <= 1);
  }
  // Whatever one side sent as message id n, the other side acked.
  for (const [senders, ackers] of [
    [c2s, s2c],
    [s2c, c2s],
  ] as const) {
    const acked = new Set(ackers.flatMap((o) => o.packet.acks));
    for (const o of senders) {
      if (o.packet.kind === 'message' && o !== senders[senders.length - 1]) {
        assert.ok(acked.has(o.packet.packetId), `message ${o.packet.packetId} was acked`);
      }
    }
  }
  // The first message each way is the reset; the client's first CONTROL_V1 is a TLS ClientHello.
  const firstTls = c2s.find((o) => o.packet.kind === 'message' && o.packet.payload.length > 0);
  assert.ok(firstTls && firstTls.packet.kind === 'message');
  assert.equal(firstTls.packet.payload[0], 0x16, 'TLS handshake record');
  assert.equal(firstTls.packet.payload[5], 0x01, 'ClientHello');
}

/** Our wrap of what we unwrapped gives back the captured packet, byte for byte. */
function checkRewrap(keys: Sides, o: Opened): void {
  const rewrapped = tlsCryptWrap(
    senderOf(keys, o.dir).send,
    {
      opcode: o.packet.opcode,
      keyId: o.packet.keyId,
      sessionId: o.packet.sessionId,
      packetId: o.tlsCryptPacketId,
      netTime: o.netTime,
    },
    o.plaintext,
  );
  const whole = o.wkc ? Buffer.concat([rewrapped, o.wkc]) : rewrapped;
  assert.equal(toHex(whole), toHex(o.raw));
  // And the plaintext codec is exact too.
  assert.equal(
    toHex(serializeControlPacket(o.packet)),
    toHex(Buffer.concat([o.raw.subarray(0, 9), o.plaintext])),
  );
}

function checkEveryByteFlipFails(keys: Sides, p: CapturedPacket): void {
  const receive = receiverOf(keys, p.dir).receive;
  assert.ok(tlsCryptUnwrap(receive, p.bytes).ok);
  for (let i = 0; i < p.bytes.length; i++) {
    const bad = p.bytes.slice();
    bad[i] = (bad[i] ?? 0) ^ 0x01;
    assert.equal(tlsCryptUnwrap(receive, bad).ok, false, `flip at byte ${i} must fail`);
  }
}

/** Decrypts every data packet with the keys from the exported block of its key id. */
function checkDataChannel(capture: Capture): { payloads: { dir: Direction; data: Uint8Array }[] } {
  const blocks = ekm(capture, EKM_LABEL_DATA_KEYS);
  const decryptors = new Map<string, OpenvpnDataDecryptor>();
  const payloads: { dir: Direction; data: Uint8Array }[] = [];
  for (const p of capture.packets.filter(isData)) {
    const keyId = keyIdOf(p);
    const block = blocks[keyId];
    assert.ok(block, `a key block for key id ${keyId}`);
    const receiver = p.dir === 'c2s' ? 'server' : 'client';
    const name = `${p.dir}/${keyId}`;
    let decryptor = decryptors.get(name);
    if (!decryptor) {
      decryptor = new OpenvpnDataDecryptor({
        key: dataChannelKeys(block, AES_256_GCM, receiver).receive,
        keyId,
      });
      decryptors.set(name, decryptor);
    }
    const result = decryptor.decrypt(p.bytes);
    assert.equal(result.kind, 'packet', `decrypt ${name} ${toHex(p.bytes.subarray(0, 8))}`);
    if (result.kind !== 'packet') continue;
    assert.equal(result.peerId, capture.observed.client.peerId, 'the pushed peer-id');
    payloads.push({ dir: p.dir, data: result.data });

    // Encrypting the same payload with the same id gives the captured bytes.
    const sender = p.dir === 'c2s' ? 'client' : 'server';
    const encryptor = new OpenvpnDataEncryptor({
      key: dataChannelKeys(block, AES_256_GCM, sender).send,
      keyId,
      peerId: result.peerId,
      firstPacketId: result.packetId,
    });
    const again = encryptor.encrypt(result.data);
    assert.equal(again.kind, 'packet');
    if (again.kind === 'packet') assert.equal(toHex(again.packet), toHex(p.bytes));
  }
  return { payloads };
}

function checkObservedDataKeys(capture: Capture): void {
  ekm(capture, EKM_LABEL_DATA_KEYS).forEach((block, i) => {
    for (const role of ['client', 'server'] as const) {
      const keys = dataChannelKeys(block, AES_256_GCM, role);
      const seen = capture.observed[role];
      assert.equal(toHex(keys.send.key), seen.dataSendCipherKeys[i], `${role} send key ${i}`);
      assert.equal(toHex(keys.receive.key), seen.dataReceiveCipherKeys[i]);
      assert.equal(toHex(keys.send.implicitIv), seen.dataSendImplicitIvs[i]);
      assert.equal(toHex(keys.receive.implicitIv), seen.dataReceiveImplicitIvs[i]);
    }
  });
}

function isPing(d: Uint8Array): boolean {
  return toHex(d) === toHex(PING_MAGIC);
}

/** An IPv4 ICMP echo request from the server's tunnel address 100.64.0.1 to the client's. */
function isEchoRequestToClient(d: Uint8Array): boolean {
  return (
    d[0] === 0x45 &&
    d[9] === 1 &&
    toHex(d.subarray(12, 16)) === '64400001' &&
    toHex(d.subarray(16, 20)) === '64400002' &&
    d[20] === 8
  );
}

describe('golden: OpenVPN 2.6 over UDP with tls-crypt and a renegotiation', () => {
  const capture = loadCapture('udp-tls-crypt');
  const key2 = staticKey('tls-crypt.key');
  const keys = sides(key2);
  const control = capture.packets.filter((p) => !isData(p));
  const initial = control.filter((p) => keyIdOf(p) === 0);
  const reneg = control.filter((p) => keyIdOf(p) === 1);

  it('was made by OpenVPN 2.6', () => {
    assert.match(capture.openvpnVersion, /^OpenVPN 2\.6\./);
    assert.ok(initial.length > 6 && reneg.length > 6, 'a handshake and a renegotiation');
  });

  it('picks the key halves OpenVPN logged: server sends with keys[0], client with keys[1]', () => {
    const { send: serverSend, receive: serverReceive } = directionalKeys(key2, 'normal');
    const seen = capture.observed;
    assert.equal(toHex(serverSend.cipher.subarray(0, 32)), seen.server.tlsCryptSendCipherKey);
    assert.equal(toHex(serverSend.hmac.subarray(0, 32)), seen.server.tlsCryptSendHmacKey);
    assert.equal(toHex(serverReceive.cipher.subarray(0, 32)), seen.server.tlsCryptReceiveCipherKey);
    assert.equal(toHex(serverReceive.cipher.subarray(0, 32)), seen.client.tlsCryptSendCipherKey);
    assert.equal(toHex(serverReceive.hmac.subarray(0, 32)), seen.client.tlsCryptSendHmacKey);
  });

  it('unwraps every control packet of the handshake, both ways, into a consistent exchange', () => {
    const opened = initial.map((p) => open(keys, p));
    checkConversation(opened);
    const first = opened[0]!;
    assert.equal(first.packet.opcode, Opcode.CONTROL_HARD_RESET_CLIENT_V2);
    assert.equal(first.tlsCryptPacketId, 1, 'plain tls-crypt ids start at 1');
    assert.deepEqual(first.packet.acks, []);
    const reply = opened.find((o) => o.dir === 's2c')!;
    assert.equal(reply.packet.opcode, Opcode.CONTROL_HARD_RESET_SERVER_V2);
    assert.deepEqual(reply.packet.acks, [0], 'the server acks the client reset');
    assert.ok(opened.some((o) => o.packet.opcode === Opcode.ACK_V1 && o.packet.acks.length > 1));
  });

  it('wraps the unwrapped content back into exactly the captured bytes', () => {
    for (const p of initial) checkRewrap(keys, open(keys, p));
  });

  it('rejects the packet when any single byte is changed', () => {
    checkEveryByteFlipFails(keys, initial[0]!);
    const longest = initial.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
    checkEveryByteFlipFails(keys, longest);
  });

  it('rejects a packet meant for the other side (wrong key direction)', () => {
    const p = initial[0]!;
    assert.deepEqual(tlsCryptUnwrap(keys.client.receive, p.bytes), {
      ok: false,
      reason: 'auth-failed',
    });
  });

  it('unwraps the renegotiation with the dynamic tls-crypt key, as OpenVPN derived it', () => {
    const [exported] = ekm(capture, EKM_LABEL_DYNAMIC_TLS_CRYPT);
    assert.ok(exported);
    const dyn = dynamicTlsCryptKey2(exported, key2);
    const [k0, k1] = [dyn.subarray(0, 128), dyn.subarray(128)];
    const seen = capture.observed;
    assert.equal(toHex(k0.subarray(0, 32)), seen.server.dynamicTlsCryptSendCipherKeys[0]);
    assert.equal(toHex(k0.subarray(64, 96)), seen.server.dynamicTlsCryptSendHmacKeys[0]);
    assert.equal(toHex(k1.subarray(0, 32)), seen.client.dynamicTlsCryptSendCipherKeys[0]);
    assert.equal(toHex(k1.subarray(64, 96)), seen.client.dynamicTlsCryptSendHmacKeys[0]);

    const dynKeys = sides(dyn);
    const opened = reneg.map((p) => open(dynKeys, p));
    assert.equal(opened[0]!.packet.opcode, Opcode.CONTROL_SOFT_RESET_V1);
    checkConversation(opened);
    for (const o of opened) checkRewrap(dynKeys, o);
    // The original key does not open them.
    assert.equal(tlsCryptUnwrap(keys.server.receive, reneg[0]!.bytes).ok, false);
  });

  it('derives the data keys OpenVPN logged from the exported key block, for both key ids', () => {
    assert.equal(ekm(capture, EKM_LABEL_DATA_KEYS).length, 2);
    checkObservedDataKeys(capture);
  });

  it('decrypts every data packet and re-encrypts it to the same bytes', () => {
    const { payloads } = checkDataChannel(capture);
    assert.ok(
      payloads.some((x) => x.dir === 'c2s' && isPing(x.data)),
      'client pings',
    );
    assert.ok(
      payloads.some((x) => x.dir === 's2c' && isPing(x.data)),
      'server pings',
    );
    assert.ok(payloads.some((x) => x.dir === 's2c' && isEchoRequestToClient(x.data)));
  });

  it('drops a data packet with any byte changed, and a replayed one', () => {
    const block = ekm(capture, EKM_LABEL_DATA_KEYS)[0]!;
    const p = capture.packets.find((x) => isData(x) && x.dir === 's2c' && keyIdOf(x) === 0)!;
    const receive = dataChannelKeys(block, AES_256_GCM, 'client').receive;
    for (let i = 0; i < p.bytes.length; i++) {
      const bad = p.bytes.slice();
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      const d = new OpenvpnDataDecryptor({ key: receive, keyId: 0 });
      assert.equal(d.decrypt(bad).kind, 'drop', `flip at byte ${i}`);
    }
    const d = new OpenvpnDataDecryptor({ key: receive, keyId: 0 });
    assert.equal(d.decrypt(p.bytes).kind, 'packet');
    assert.deepEqual(d.decrypt(p.bytes), { kind: 'drop', reason: 'replay-duplicate' });
  });
});

describe('golden: OpenVPN 2.6 over UDP with tls-crypt-v2', () => {
  const capture = loadCapture('udp-tls-crypt-v2');
  const serverFile = readVectorFile('tls-crypt-v2-server.key');
  const clientFile = readVectorFile('tls-crypt-v2-client.key');
  const serverParsed = parseServerKeyFile(serverFile);
  const clientParsed = parseClientKeyFile(clientFile);
  assert.ok(serverParsed.ok && clientParsed.ok);
  const serverKey = tlsCryptV2ServerKey(serverParsed.key);
  const keys = sides(clientParsed.clientKey);
  const control = capture.packets.filter((p) => !isData(p));

  it('reads and writes the key files exactly as openvpn --genkey does', () => {
    assert.equal(formatServerKeyFile(serverParsed.key), serverFile);
    assert.equal(formatClientKeyFile(clientParsed.clientKey, clientParsed.wkc), clientFile);
  });

  it('unwraps the WKc openvpn generated, with its timestamp, and wraps it back identically', () => {
    const opened = unwrapClientKey(serverKey, clientParsed.wkc);
    assert.ok(opened.ok);
    assert.equal(toHex(opened.clientKey), toHex(clientParsed.clientKey));
    assert.equal(opened.decoded.type, 'timestamp');
    if (opened.decoded.type === 'timestamp') {
      assert.ok(opened.decoded.seconds > 1_600_000_000n && opened.decoded.seconds < 4_000_000_000n);
    }
    const rewrapped = wrapClientKey(serverKey, opened.clientKey, opened.metadata);
    assert.equal(toHex(rewrapped), toHex(clientParsed.wkc));
  });

  it('reads user metadata from a key made with --genkey tls-crypt-v2-client <b64>', () => {
    const user = parseClientKeyFile(readVectorFile('tls-crypt-v2-client-user.key'));
    assert.ok(user.ok);
    const opened = unwrapClientKey(serverKey, user.wkc);
    assert.ok(opened.ok);
    assert.equal(opened.decoded.type, 'user');
    if (opened.decoded.type === 'user') {
      assert.equal(Buffer.from(opened.decoded.data).toString(), 'postern user metadata');
    }
    assert.equal(
      toHex(wrapClientKey(serverKey, opened.clientKey, opened.metadata)),
      toHex(user.wkc),
    );
  });

  it('refuses a WKc with any byte changed', () => {
    for (let i = 0; i < clientParsed.wkc.length; i++) {
      const bad = clientParsed.wkc.slice();
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      assert.equal(unwrapClientKey(serverKey, bad).ok, false, `flip at byte ${i}`);
    }
  });

  it('matches the tls-crypt keys OpenVPN used with Kc (server keys[0], client keys[1])', () => {
    const { send } = directionalKeys(clientParsed.clientKey, 'inverse');
    assert.equal(toHex(send.cipher.subarray(0, 32)), capture.observed.client.tlsCryptSendCipherKey);
    assert.equal(toHex(send.hmac.subarray(0, 32)), capture.observed.client.tlsCryptSendHmacKey);
  });

  it('opens the 2.6 cookie handshake: HARD_RESET_CLIENT_V3, reset with TLV, CONTROL_WKC_V1', () => {
    const [reset, reply, wkcPacket] = control.map((p) => open(keys, p));
    assert.ok(reset && reply && wkcPacket);

    assert.equal(reset.packet.opcode, Opcode.CONTROL_HARD_RESET_CLIENT_V3);
    assert.equal(toHex(reset.wkc!), toHex(clientParsed.wkc), 'the WKc of the key file');
    assert.equal(reset.tlsCryptPacketId, EARLY_NEG_START + 1);
    assert.ok(announcesEarlyNegotiation(reset.tlsCryptPacketId));
    const fromWire = unwrapClientKey(serverKey, reset.wkc!);
    assert.ok(fromWire.ok && toHex(fromWire.clientKey) === toHex(clientParsed.clientKey));

    assert.equal(reply.packet.opcode, Opcode.CONTROL_HARD_RESET_SERVER_V2);
    assert.ok(reply.packet.kind === 'message');
    const tlvs = parseTlvs(reply.packet.payload);
    assert.ok(tlvs.ok);
    assert.equal(earlyNegotiationFlags(tlvs.tlvs), EARLY_NEG_FLAG_RESEND_WKC);

    assert.equal(wkcPacket.packet.opcode, Opcode.CONTROL_WKC_V1);
    assert.equal(toHex(wkcPacket.wkc!), toHex(clientParsed.wkc), 'WKc resent');
    assert.deepEqual(wkcPacket.packet.acks, [0], 'acks the server reset');
  });

  it('unwraps every control packet into a consistent exchange and wraps it back exactly', () => {
    const opened = control.map((p) => open(keys, p));
    checkConversation(opened);
    for (const o of opened) checkRewrap(keys, o);
  });

  it('decrypts every data packet with the exported key block', () => {
    checkObservedDataKeys(capture);
    const { payloads } = checkDataChannel(capture);
    assert.ok(payloads.some((x) => isPing(x.data)));
  });
});

describe('golden: OpenVPN 2.6 over TCP with tls-crypt', () => {
  const capture = loadCapture('tcp-tls-crypt');
  const keys = sides(staticKey('tls-crypt.key'));
  const streams = capture.tcpStreams!;

  it('deframes the real streams, in chunks of every size, into the same packets', () => {
    for (const dir of ['c2s', 's2c'] as const) {
      const expected = capture.packets.filter((p) => p.dir === dir).map((p) => toHex(p.bytes));
      for (const chunk of [1, 2, 3, 7, 100, 1500, streams[dir].length]) {
        const deframer = new TcpDeframer();
        const got: string[] = [];
        for (let off = 0; off < streams[dir].length; off += chunk) {
          for (const p of deframer.push(streams[dir].subarray(off, off + chunk)))
            got.push(toHex(p));
        }
        assert.deepEqual(got, expected, `${dir} in chunks of ${chunk}`);
        assert.equal(deframer.state.kind, 'ok');
        assert.equal(deframer.bufferedBytes, 0);
      }
      const reframed = Buffer.concat(
        capture.packets.filter((p) => p.dir === dir).map((p) => frame(p.bytes)),
      );
      assert.equal(toHex(reframed), toHex(streams[dir]));
    }
  });

  it('unwraps, re-wraps and decrypts everything carried over TCP', () => {
    const opened = capture.packets.filter((p) => !isData(p)).map((p) => open(keys, p));
    checkConversation(opened);
    for (const o of opened) checkRewrap(keys, o);
    checkObservedDataKeys(capture);
    const { payloads } = checkDataChannel(capture);
    assert.ok(payloads.some((x) => x.dir === 's2c' && isEchoRequestToClient(x.data)));
  });

  it('parses a DATA_V2 header as OpenVPN laid it out', () => {
    const p = capture.packets.find(isData)!;
    const parsed = parseDataPacket(p.bytes);
    assert.ok(parsed.ok);
    assert.equal(parsed.parts.opcode, Opcode.DATA_V2);
    assert.equal(parsed.parts.packetId, 1);
    assert.equal(toHex(parsed.parts.aad), toHex(p.bytes.subarray(0, 8)));
    assert.equal(parsed.parts.tag.length, 16);
  });
});
