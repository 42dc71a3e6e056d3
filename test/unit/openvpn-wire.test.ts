// The OpenVPN control packet codec, opcode byte, early-negotiation TLVs and TCP framing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPosternError } from '../../src/errors.js';
import {
  EARLY_NEG_START,
  MAX_ACKS_PER_PACKET,
  OCC_EXIT_MESSAGE,
  Opcode,
  PING_MAGIC,
  TLS_CRYPT_V2_MAX_METADATA_LEN,
} from '../../src/wire/openvpn/constants.js';
import {
  parseControlPacket,
  serializeControlBody,
  serializeControlPacket,
} from '../../src/wire/openvpn/control-packet.js';
import type { ControlPacket } from '../../src/wire/openvpn/control-packet.js';
import {
  announcesEarlyNegotiation,
  earlyNegotiationFlags,
  parseTlvs,
  resendWkcPayload,
} from '../../src/wire/openvpn/early-negotiation.js';
import { opcodeByte, readOpcodeByte } from '../../src/wire/openvpn/opcode.js';
import { frame, TcpDeframer } from '../../src/wire/openvpn/tcp-framing.js';
import { hex, toHex } from '../vectors/openvpn/vectors.js';

const CLIENT_SID = hex('a4041ba381867804');
const SERVER_SID = hex('297c01a3e86edb29');

describe('OpenVPN constants', () => {
  it('hold the magic payloads of ping.c and occ.c', () => {
    assert.equal(toHex(PING_MAGIC), '2a187bf3641eb4cb07ed2d0a981fc748');
    assert.equal(toHex(OCC_EXIT_MESSAGE), '287f346bd4ef7a812d56b8d3afc5459c06');
  });

  it('size tls-crypt-v2 metadata as tls_crypt.h does', () => {
    assert.equal(TLS_CRYPT_V2_MAX_METADATA_LEN, 1024 - 256 - 32 - 2);
  });
});

describe('opcode byte', () => {
  it('puts the opcode in the high 5 bits and the key id in the low 3', () => {
    assert.equal(opcodeByte(Opcode.CONTROL_HARD_RESET_CLIENT_V2, 0), 0x38);
    assert.equal(opcodeByte(Opcode.DATA_V2, 0), 0x48);
    assert.equal(opcodeByte(Opcode.CONTROL_SOFT_RESET_V1, 1), 0x19);
    assert.deepEqual(readOpcodeByte(0x4b), { opcode: Opcode.DATA_V2, keyId: 3 });
  });

  it('knows no opcode 0, 1, 2 or above 11', () => {
    for (const op of [0, 1, 2, 12, 31]) assert.equal(readOpcodeByte(op << 3), undefined);
  });

  it('refuses to build a key id outside 0..7', () => {
    assert.throws(() => opcodeByte(Opcode.CONTROL_V1, 8), isPosternError);
  });
});

describe('control packet', () => {
  // The client's first P_CONTROL_V1 of a real 2.6 handshake, as tls-crypt unwrap gives it back:
  // ack of the server reset (id 0), the server's session id, message id 1, a TLS record.
  const clientHello = hex(
    '20' + 'a4041ba381867804' + '01' + '00000000' + '297c01a3e86edb29' + '00000001' + '160301',
  );

  it('reads opcode, session ids, acks, message id and payload', () => {
    const r = parseControlPacket(clientHello);
    assert.ok(r.ok);
    assert.equal(r.packet.kind, 'message');
    assert.equal(r.packet.opcode, Opcode.CONTROL_V1);
    assert.equal(r.packet.keyId, 0);
    assert.equal(toHex(r.packet.sessionId), toHex(CLIENT_SID));
    assert.deepEqual(r.packet.acks, [0]);
    assert.equal(toHex(r.packet.remoteSessionId!), toHex(SERVER_SID));
    if (r.packet.kind === 'message') {
      assert.equal(r.packet.packetId, 1);
      assert.equal(toHex(r.packet.payload), '160301');
    }
    assert.equal(toHex(serializeControlPacket(r.packet)), toHex(clientHello));
  });

  it('reads a reset without acks: no remote session id, message id 0, empty payload', () => {
    const r = parseControlPacket(hex('38' + 'a4041ba381867804' + '00' + '00000000'));
    assert.ok(r.ok && r.packet.kind === 'message');
    assert.equal(r.packet.opcode, Opcode.CONTROL_HARD_RESET_CLIENT_V2);
    assert.deepEqual(r.packet.acks, []);
    assert.equal(r.packet.remoteSessionId, undefined);
    assert.equal(r.packet.payload.length, 0);
  });

  it('reads ACK_V1, which has no message id, with up to 8 acks', () => {
    const acks = [6, 5, 4, 3, 2, 1];
    const bytes = hex(
      '28' +
        'a4041ba381867804' +
        '06' +
        acks.map((a) => a.toString(16).padStart(8, '0')).join('') +
        '297c01a3e86edb29',
    );
    const r = parseControlPacket(bytes);
    assert.ok(r.ok);
    assert.equal(r.packet.kind, 'ack');
    assert.deepEqual(r.packet.acks, acks);
    assert.equal(toHex(serializeControlPacket(r.packet)), toHex(bytes));
  });

  it('refuses more than 8 acks, as reliable_ack_parse does', () => {
    const nine = '09' + '00000001'.repeat(9) + '297c01a3e86edb29';
    assert.deepEqual(parseControlPacket(hex('28' + 'a4041ba381867804' + nine)), {
      ok: false,
      reason: 'too-many-acks',
    });
  });

  it('says truncated at every cut of a valid packet', () => {
    for (let n = 0; n < clientHello.length - 3; n++) {
      const r = parseControlPacket(clientHello.subarray(0, n));
      assert.deepEqual(r, { ok: false, reason: 'truncated' }, `cut at ${n}`);
    }
  });

  it('refuses data opcodes and unknown opcodes', () => {
    const tail = 'a4041ba381867804' + '00' + '00000000';
    assert.deepEqual(parseControlPacket(hex('48' + tail)), {
      ok: false,
      reason: 'not-a-control-opcode',
    });
    assert.deepEqual(parseControlPacket(hex('08' + tail)), { ok: false, reason: 'unknown-opcode' });
  });

  it('serializes only what OpenVPN could parse', () => {
    const base: ControlPacket = {
      kind: 'message',
      opcode: Opcode.CONTROL_V1,
      keyId: 0,
      sessionId: CLIENT_SID,
      acks: [],
      remoteSessionId: undefined,
      packetId: 0,
      payload: new Uint8Array(0),
    };
    assert.throws(() => serializeControlPacket({ ...base, acks: [1] }), isPosternError);
    assert.throws(
      () => serializeControlPacket({ ...base, remoteSessionId: SERVER_SID }),
      isPosternError,
    );
    const tooMany = Array.from({ length: MAX_ACKS_PER_PACKET + 1 }, (_, i) => i);
    assert.throws(
      () => serializeControlPacket({ ...base, acks: tooMany, remoteSessionId: SERVER_SID }),
      isPosternError,
    );
    assert.throws(() => serializeControlPacket({ ...base, sessionId: hex('00') }), isPosternError);
    assert.throws(() => serializeControlPacket({ ...base, packetId: 2 ** 32 }), isPosternError);
    assert.equal(toHex(serializeControlBody(base)), '0000000000');
  });
});

describe('early negotiation', () => {
  it('recognises the 0x0f000000 packet-id marker of a tls-crypt-v2 client', () => {
    assert.ok(announcesEarlyNegotiation(EARLY_NEG_START + 1));
    assert.ok(!announcesEarlyNegotiation(1));
    assert.ok(!announcesEarlyNegotiation(0x1f000001));
  });

  it('builds and reads the server reset TLV asking for the WKc again', () => {
    const payload = resendWkcPayload();
    assert.equal(toHex(payload), '000100020001');
    const r = parseTlvs(payload);
    assert.ok(r.ok);
    assert.equal(earlyNegotiationFlags(r.tlvs), 1);
  });

  it('says truncated for a TLV longer than its payload', () => {
    assert.deepEqual(parseTlvs(hex('0001000500')), { ok: false, reason: 'truncated' });
    assert.deepEqual(parseTlvs(hex('000100')), { ok: false, reason: 'truncated' });
    assert.deepEqual(parseTlvs(new Uint8Array(0)), { ok: true, tlvs: [] });
  });
});

describe('TCP framing', () => {
  it('prefixes each packet with its 16-bit big-endian length', () => {
    assert.equal(toHex(frame(hex('38aabb'))), '000338aabb');
    assert.throws(() => frame(new Uint8Array(0)), isPosternError);
    assert.throws(() => frame(new Uint8Array(0x10000)), isPosternError);
  });

  it('gives back packets split and joined across chunks', () => {
    const a = hex('3801020304');
    const b = hex('48');
    const c = new Uint8Array(300).fill(7);
    const stream = Buffer.concat([frame(a), frame(b), frame(c)]);
    const d = new TcpDeframer();
    const out = [
      ...d.push(stream.subarray(0, 1)),
      ...d.push(stream.subarray(1, 9)),
      ...d.push(stream.subarray(9, 200)),
      ...d.push(stream.subarray(200)),
    ];
    assert.deepEqual(out.map(toHex), [a, b, c].map(toHex));
    assert.equal(d.bufferedBytes, 0);
  });

  it('breaks the stream, counted, on a zero length or one above the maximum', () => {
    const d = new TcpDeframer({ maxPacketLength: 100 });
    assert.deepEqual(d.push(Buffer.concat([frame(hex('38')), hex('0065'), hex('00')])).map(toHex), [
      '38',
    ]);
    assert.deepEqual(d.state, { kind: 'broken', reason: 'too-long', length: 101 });
    assert.equal(d.errors, 1);
    assert.deepEqual(d.push(frame(hex('38'))), [], 'nothing after the stream broke');
    assert.equal(d.discardedBytes, 3 + 3);

    const z = new TcpDeframer();
    assert.deepEqual(z.push(hex('0000')), []);
    assert.deepEqual(z.state, { kind: 'broken', reason: 'zero-length', length: 0 });
  });

  it('refuses a maximum outside 1..65535', () => {
    assert.throws(() => new TcpDeframer({ maxPacketLength: 0 }), isPosternError);
    assert.throws(() => new TcpDeframer({ maxPacketLength: 65536 }), isPosternError);
  });
});
