// Early negotiation (OpenVPN 2.6, ssl_pkt.h, doc/tls-crypt-v2.txt "HMAC Cookie support").
//
// A client announces support by starting its tls-crypt packet ids at EARLY_NEG_START, so its
// first packet carries 0x0f000001. A server that then wants the WKc resent in the client's
// third packet puts TLVs in the payload of its P_CONTROL_HARD_RESET_SERVER_V2 (normally empty):
//
//   +-----------+-----------+----------------+
//   | type (16) | len (16)  | value (len)    |  ... repeated
//   +-----------+-----------+----------------+
//
// The only TLV defined is EARLY_NEG_FLAGS (type 1, length 2) with bit EARLY_NEG_FLAG_RESEND_WKC.
import { PosternError } from '../../errors.js';
import {
  EARLY_NEG_FLAG_RESEND_WKC,
  EARLY_NEG_MASK,
  EARLY_NEG_START,
  TLV_HEADER_SIZE,
  TLV_TYPE_EARLY_NEG_FLAGS,
} from './constants.js';

const FLAGS_VALUE_SIZE = 2;
const TLV_MAX_LENGTH = 0xffff;

export interface Tlv {
  type: number;
  value: Uint8Array;
}

/** Does this tls-crypt packet id announce early negotiation? */
export function announcesEarlyNegotiation(tlsCryptPacketId: number): boolean {
  return (tlsCryptPacketId & EARLY_NEG_MASK) >>> 0 === EARLY_NEG_START;
}

export type TlvParseResult = { ok: true; tlvs: Tlv[] } | { ok: false; reason: 'truncated' };

/** Splits a payload into TLVs. Never throws. */
export function parseTlvs(payload: Uint8Array): TlvParseResult {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const tlvs: Tlv[] = [];
  let off = 0;
  while (off < payload.length) {
    if (payload.length - off < TLV_HEADER_SIZE) return { ok: false, reason: 'truncated' };
    const type = view.getUint16(off);
    const length = view.getUint16(off + 2);
    off += TLV_HEADER_SIZE;
    if (payload.length - off < length) return { ok: false, reason: 'truncated' };
    tlvs.push({ type, value: payload.slice(off, off + length) });
    off += length;
  }
  return { ok: true, tlvs };
}

export function serializeTlvs(tlvs: readonly Tlv[]): Uint8Array {
  const size = tlvs.reduce((n, t) => n + TLV_HEADER_SIZE + t.value.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const t of tlvs) {
    if (t.type < 0 || t.type > 0xffff || t.value.length > TLV_MAX_LENGTH) {
      throw new PosternError('OPENVPN_BAD_TLV', `TLV type ${t.type} or length out of range`);
    }
    view.setUint16(off, t.type);
    view.setUint16(off + 2, t.value.length);
    out.set(t.value, off + TLV_HEADER_SIZE);
    off += TLV_HEADER_SIZE + t.value.length;
  }
  return out;
}

/** The EARLY_NEG_FLAGS value in a server reset payload, if present and well formed. */
export function earlyNegotiationFlags(tlvs: readonly Tlv[]): number | undefined {
  const t = tlvs.find((x) => x.type === TLV_TYPE_EARLY_NEG_FLAGS);
  if (!t || t.value.length !== FLAGS_VALUE_SIZE) return undefined;
  return ((t.value[0] ?? 0) << 8) | (t.value[1] ?? 0);
}

/** The payload a cookie-mode server puts in its reset: "resend WKc in your third packet". */
export function resendWkcPayload(): Uint8Array {
  return serializeTlvs([
    { type: TLV_TYPE_EARLY_NEG_FLAGS, value: Uint8Array.of(0, EARLY_NEG_FLAG_RESEND_WKC) },
  ]);
}
