// The plaintext OpenVPN control packet: what is on the wire without control-channel wrapping,
// and what tls-crypt unwrap gives back once its header is put in front again (reliable.c
// reliable_ack_parse / reliable_ack_write, ssl_pkt.c write_control_auth):
//
//  +--------+------------+-------+------------------+-------------------+-----------+---------+
//  | op|kid | session id | n acks| acked ids        | remote session id | packet id | payload |
//  |   1    |     8      |   1   | 4 each, n <= 8   | 8, iff n > 0      | 4, not in | rest    |
//  |        |            |       |                  |                   |  ACK_V1   |         |
//  +--------+------------+-------+------------------+-------------------+-----------+---------+
//
// The part after the session id is the "body": tls-crypt encrypts exactly that.
import { PosternError } from '../../errors.js';
import {
  ACK_COUNT_SIZE,
  MAX_ACKS_PER_PACKET,
  Opcode,
  OPCODE_SIZE,
  PACKET_ID_MAX,
  PACKET_ID_SIZE,
  SESSION_ID_SIZE,
} from './constants.js';
import type { MessageOpcode } from './opcode.js';
import { isMessageOpcode, opcodeByte, readOpcodeByte } from './opcode.js';

const OFF_SESSION_ID = OPCODE_SIZE;
const OFF_BODY = OPCODE_SIZE + SESSION_ID_SIZE;

interface ControlCommon {
  keyId: number;
  /** The sender's own session id. */
  sessionId: Uint8Array;
  /** Message packet ids of the peer being acknowledged, in wire order (not cumulative). */
  acks: readonly number[];
  /** The receiver's session id, echoed back; present exactly when there are acks. */
  remoteSessionId: Uint8Array | undefined;
}

/** A control packet carrying a reliable message: resets, CONTROL_V1 (TLS records), WKC_V1. */
export interface ControlMessagePacket extends ControlCommon {
  kind: 'message';
  opcode: MessageOpcode;
  /** Reliable-layer message id, per direction from 0. */
  packetId: number;
  payload: Uint8Array;
}

/** ACK_V1: acks only, no message id, no payload. */
export interface AckPacket extends ControlCommon {
  kind: 'ack';
  opcode: typeof Opcode.ACK_V1;
}

export type ControlPacket = ControlMessagePacket | AckPacket;

export type ControlParseError =
  'truncated' | 'unknown-opcode' | 'not-a-control-opcode' | 'too-many-acks';

export type ControlParseResult =
  { ok: true; packet: ControlPacket } | { ok: false; reason: ControlParseError };

/**
 * Parses a plaintext control packet. Never throws: bytes from the network that do not fit come
 * back as `{ ok: false, reason }`. Trailing bytes after an ACK_V1 are ignored, as OpenVPN does.
 */
export function parseControlPacket(bytes: Uint8Array): ControlParseResult {
  if (bytes.length < OFF_BODY) return { ok: false, reason: 'truncated' };
  const first = readOpcodeByte(bytes[0] ?? 0);
  if (first === undefined) return { ok: false, reason: 'unknown-opcode' };
  const { opcode, keyId } = first;
  if (opcode === Opcode.DATA_V1 || opcode === Opcode.DATA_V2) {
    return { ok: false, reason: 'not-a-control-opcode' };
  }
  const sessionId = bytes.slice(OFF_SESSION_ID, OFF_BODY);
  const body = parseBody(bytes, OFF_BODY, opcode !== Opcode.ACK_V1);
  if (!body.ok) return body;
  const common = { keyId, sessionId, acks: body.acks, remoteSessionId: body.remoteSessionId };
  if (opcode === Opcode.ACK_V1) {
    return { ok: true, packet: { kind: 'ack', opcode, ...common } };
  }
  if (!isMessageOpcode(opcode)) return { ok: false, reason: 'not-a-control-opcode' };
  return {
    ok: true,
    packet: {
      kind: 'message',
      opcode,
      ...common,
      packetId: body.packetId,
      payload: bytes.slice(body.payloadOffset),
    },
  };
}

type BodyResult =
  | {
      ok: true;
      acks: number[];
      remoteSessionId: Uint8Array | undefined;
      packetId: number;
      payloadOffset: number;
    }
  | { ok: false; reason: ControlParseError };

function parseBody(bytes: Uint8Array, start: number, hasMessage: boolean): BodyResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = start;
  if (bytes.length < off + ACK_COUNT_SIZE) return { ok: false, reason: 'truncated' };
  const count = view.getUint8(off);
  off += ACK_COUNT_SIZE;
  if (count > MAX_ACKS_PER_PACKET) return { ok: false, reason: 'too-many-acks' };
  if (bytes.length < off + count * PACKET_ID_SIZE) return { ok: false, reason: 'truncated' };
  const acks: number[] = [];
  for (let i = 0; i < count; i++) {
    acks.push(view.getUint32(off));
    off += PACKET_ID_SIZE;
  }
  let remoteSessionId: Uint8Array | undefined;
  if (count > 0) {
    if (bytes.length < off + SESSION_ID_SIZE) return { ok: false, reason: 'truncated' };
    remoteSessionId = bytes.slice(off, off + SESSION_ID_SIZE);
    off += SESSION_ID_SIZE;
  }
  let packetId = 0;
  if (hasMessage) {
    if (bytes.length < off + PACKET_ID_SIZE) return { ok: false, reason: 'truncated' };
    packetId = view.getUint32(off);
    off += PACKET_ID_SIZE;
  }
  return { ok: true, acks, remoteSessionId, packetId, payloadOffset: off };
}

/** Serializes opcode, session id and body. Throws PosternError on our own misuse. */
export function serializeControlPacket(packet: ControlPacket): Uint8Array {
  const first = opcodeByte(packet.opcode, packet.keyId);
  checkSessionId(packet.sessionId, 'sessionId');
  const body = serializeControlBody(packet);
  const out = new Uint8Array(OFF_BODY + body.length);
  out[0] = first;
  out.set(packet.sessionId, OFF_SESSION_ID);
  out.set(body, OFF_BODY);
  return out;
}

/** Serializes what follows the session id: the part tls-crypt encrypts. */
export function serializeControlBody(packet: ControlPacket): Uint8Array {
  const { acks, remoteSessionId } = packet;
  if (acks.length > MAX_ACKS_PER_PACKET) {
    throw new PosternError(
      'OPENVPN_TOO_MANY_ACKS',
      `${acks.length} acks in one packet, at most ${MAX_ACKS_PER_PACKET}`,
    );
  }
  if (acks.length > 0 !== (remoteSessionId !== undefined)) {
    throw new PosternError(
      'OPENVPN_ACK_SESSION_MISMATCH',
      'a remote session id goes with acks, and only with acks',
    );
  }
  if (remoteSessionId !== undefined) checkSessionId(remoteSessionId, 'remoteSessionId');
  const isMessage = packet.kind === 'message';
  const payload = isMessage ? packet.payload : new Uint8Array(0);
  const length =
    ACK_COUNT_SIZE +
    acks.length * PACKET_ID_SIZE +
    (remoteSessionId ? SESSION_ID_SIZE : 0) +
    (isMessage ? PACKET_ID_SIZE : 0) +
    payload.length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let off = 0;
  view.setUint8(off, acks.length);
  off += ACK_COUNT_SIZE;
  for (const id of acks) {
    checkPacketId(id);
    view.setUint32(off, id);
    off += PACKET_ID_SIZE;
  }
  if (remoteSessionId) {
    out.set(remoteSessionId, off);
    off += SESSION_ID_SIZE;
  }
  if (isMessage) {
    checkPacketId(packet.packetId);
    view.setUint32(off, packet.packetId);
    off += PACKET_ID_SIZE;
    out.set(payload, off);
  }
  return out;
}

function checkSessionId(id: Uint8Array, name: string): void {
  if (id.length !== SESSION_ID_SIZE) {
    throw new PosternError(
      'OPENVPN_BAD_SESSION_ID',
      `${name} is ${id.length} bytes, must be ${SESSION_ID_SIZE}`,
    );
  }
}

function checkPacketId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > PACKET_ID_MAX) {
    throw new PosternError(
      'OPENVPN_BAD_PACKET_ID',
      `packet id ${id} is not a 32-bit unsigned value`,
    );
  }
}
