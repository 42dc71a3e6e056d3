// How many TLS bytes fit in one control packet, and cutting a byte run to that size.
//
// OpenVPN sizes control packets so the whole datagram, IP and UDP headers included, stays within
// `--tls-mtu` (1250 by default). It subtracts a pessimistic overhead (ssl.c
// calc_control_channel_frame_overhead): opcode, our session id, the ack array with the peer's
// session id, the message packet id, the tls-auth/tls-crypt wrapping, and IPv6+UDP headers
// whatever the real transport. We budget the same way so our packets are never larger than the
// ones a stock peer sends and expects.

import {
  IPV6_UDP_OVERHEAD,
  MESSAGE_PACKET_ID_BYTES,
  SESSION_ID_BYTES,
  TLS_AUTH_PACKET_ID_BYTES,
  TLS_CHANNEL_BUF_SIZE,
  TLS_CHANNEL_MTU_MIN,
  TLS_CRYPT_OVERHEAD,
  TLS_MTU,
  ACKS_PER_CONTROL_PACKET,
} from './constants.js';
import { PosternError } from '../../errors.js';

const OPCODE_BYTES = 1;
const ACK_COUNT_BYTES = 1;

/** How control packets are wrapped; decides the per-packet overhead. */
export type ControlWrap =
  { kind: 'tls-crypt' } | { kind: 'tls-auth'; hmacBytes: number } | { kind: 'none' };

export interface ControlPayloadBudget {
  /** `--tls-mtu`: the whole control datagram. Clamped to OpenVPN's 512..2048 range. */
  tlsMtu?: number;
  /** Wrapping of the control channel; tls-crypt by default. */
  wrap?: ControlWrap;
  /** Acks the packet may carry (their ids and the peer session id count against the payload). */
  acks?: number;
}

/** Bytes of the ack array: count byte, 4 bytes per id, and the peer session id when non-empty. */
export function ackArrayBytes(acks: number): number {
  return ACK_COUNT_BYTES + acks * MESSAGE_PACKET_ID_BYTES + (acks > 0 ? SESSION_ID_BYTES : 0);
}

function wrapOverhead(wrap: ControlWrap): number {
  switch (wrap.kind) {
    case 'tls-crypt':
      return TLS_CRYPT_OVERHEAD;
    case 'tls-auth':
      return wrap.hmacBytes + TLS_AUTH_PACKET_ID_BYTES;
    case 'none':
      return 0;
  }
}

/**
 * Largest TLS payload one control packet may carry. With the defaults (tls-mtu 1250, tls-crypt,
 * 4 acks) this is 1108 bytes, the figure OpenVPN 2.6 itself uses.
 */
export function maxControlPayloadBytes(budget: ControlPayloadBudget = {}): number {
  const tlsMtu = Math.min(
    TLS_CHANNEL_BUF_SIZE,
    Math.max(TLS_CHANNEL_MTU_MIN, budget.tlsMtu ?? TLS_MTU),
  );
  const acks = budget.acks ?? ACKS_PER_CONTROL_PACKET;
  const overhead =
    OPCODE_BYTES +
    SESSION_ID_BYTES +
    ackArrayBytes(acks) +
    MESSAGE_PACKET_ID_BYTES +
    wrapOverhead(budget.wrap ?? { kind: 'tls-crypt' }) +
    IPV6_UDP_OVERHEAD;
  return tlsMtu - overhead;
}

/** The payload budget for OpenVPN 2.6 defaults: 1108 bytes. */
export const DEFAULT_MAX_CONTROL_PAYLOAD = maxControlPayloadBytes();

/** Cuts `bytes` into consecutive views of at most `maxBytes` each (none for empty input). */
export function segmentBytes(bytes: Uint8Array, maxBytes: number): Uint8Array[] {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new PosternError(
      'OVPN_BAD_PAYLOAD_SIZE',
      `control payload size must be a positive integer, got ${maxBytes}`,
    );
  }
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += maxBytes) {
    out.push(bytes.subarray(off, Math.min(bytes.length, off + maxBytes)));
  }
  return out;
}
