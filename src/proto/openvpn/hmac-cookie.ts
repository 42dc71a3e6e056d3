// The stateless server handshake of OpenVPN 2.6 (ssl_pkt.c calculate_session_id_hmac,
// check_session_hmac_and_pkt_id).
//
// A client opens with HARD_RESET_CLIENT carrying its session id. Instead of allocating state for
// an address that may be spoofed, the server answers with HARD_RESET_SERVER whose session id is a
// cookie: an HMAC over the client's address and port, the client's session id and a coarse time
// slot. The address goes in as its bytes (4, or 16 for IPv6; a v4-mapped IPv6 address as its 4),
// not as text, so the cookie does not depend on how a socket or native code spells it. The
// client's next packet (ACK_V1 or CONTROL_V1) echoes that id in its ack array; only then, when
// the cookie verifies and the packet still belongs to the first exchange (ids 0 or 1),
// does the server create the session. Time slots are half a hand-window long; OpenVPN accepts the
// current slot and the two before it, so a cookie lives at least one full hand-window.
//
// The cookie is only ever checked by the server that made it, so our byte layout need not match
// OpenVPN's; the shape (HMAC-SHA256 truncated to the 8-byte session id) does.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { HAND_WINDOW_SEC, SESSION_ID_BYTES } from './constants.js';
import { PosternError } from '../../errors.js';
import { parseIpAddress } from '../../wire/ip/address.js';

const MS_PER_SEC = 1000;
const MIN_KEY_BYTES = 16;
const SLOT_BYTES = 4;
const PORT_BYTES = 2;
const ADDRESS_LENGTH_BYTES = 1;
/** ::ffff:0:0/96, IPv4 as a dual-stack socket may report it. */
const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
/** Ids a packet of the first exchange can carry or ack: the resets are 0, the next packet 1. */
const LAST_HANDSHAKE_PACKET_ID = 1;
const DOMAIN_LABEL = new TextEncoder().encode('postern openvpn session cookie v2');

export interface ClientAddress {
  /** The source address as the socket reports it ("198.51.100.7", "2001:db8::7"). */
  ip: string;
  port: number;
}

export interface CookieInput {
  clientAddr: ClientAddress;
  /** The session id from the client's HARD_RESET_CLIENT. */
  clientSessionId: Uint8Array;
  /** The caller's clock, in ms. */
  now: number;
}

export interface CookieOptions {
  /** Length of a time slot; default half the hand-window, 30 s (as OpenVPN: (60 + 1) / 2). */
  slotMs?: number;
  /** Earlier slots still accepted besides the current one; default 2, as OpenVPN. */
  pastSlotsAccepted?: number;
}

export type CookieCheck =
  | { ok: true; /** 0 = made in the current slot, 1 = the one before, ... */ slotAge: number }
  | { ok: false; reason: 'mismatch' | 'bad-length' };

/** Slot length for a hand-window in seconds, quantised to whole seconds as OpenVPN does. */
export function cookieSlotMs(handWindowSec: number = HAND_WINDOW_SEC): number {
  return Math.max(1, Math.floor((handWindowSec + 1) / 2)) * MS_PER_SEC;
}

function checkKey(key: Uint8Array): void {
  if (key.length < MIN_KEY_BYTES) {
    throw new PosternError(
      'OVPN_COOKIE_BAD_KEY',
      `cookie key must be at least ${MIN_KEY_BYTES} bytes`,
      'draw 32 random bytes when the server starts',
    );
  }
}

function slotOf(now: number, options: CookieOptions): number {
  const slotMs = options.slotMs ?? cookieSlotMs();
  if (!Number.isFinite(now) || now < 0 || !(slotMs > 0)) {
    throw new PosternError('OVPN_COOKIE_BAD_TIME', 'cookie time and slot length must be >= 0');
  }
  return Math.floor(now / slotMs);
}

/** The client's address as 4 or 16 bytes (IPv4 also when spelt v4-mapped). */
function addressBytes(addr: ClientAddress): Uint8Array {
  const bytes = parseIpAddress(addr.ip);
  if (bytes === undefined || !Number.isInteger(addr.port)) {
    throw new PosternError('OVPN_COOKIE_BAD_ADDRESS', `bad client address ${addr.ip}:${addr.port}`);
  }
  const mapped = bytes.length === 16 && V4_MAPPED_PREFIX.every((b, i) => bytes[i] === b);
  return mapped ? bytes.subarray(V4_MAPPED_PREFIX.length) : bytes;
}

function cookieForSlot(
  key: Uint8Array,
  slot: number,
  addr: ClientAddress,
  clientSessionId: Uint8Array,
): Uint8Array {
  const address = addressBytes(addr);
  const fields = new Uint8Array(SLOT_BYTES + ADDRESS_LENGTH_BYTES + address.length + PORT_BYTES);
  const view = new DataView(fields.buffer);
  view.setUint32(0, slot >>> 0);
  view.setUint8(SLOT_BYTES, address.length);
  fields.set(address, SLOT_BYTES + ADDRESS_LENGTH_BYTES);
  view.setUint16(SLOT_BYTES + ADDRESS_LENGTH_BYTES + address.length, addr.port & 0xffff);
  const mac = createHmac('sha256', key)
    .update(DOMAIN_LABEL)
    .update(fields)
    .update(clientSessionId)
    .digest();
  return new Uint8Array(mac.subarray(0, SESSION_ID_BYTES));
}

/** The server session id to put in HARD_RESET_SERVER for this client, now. */
export function makeCookie(
  key: Uint8Array,
  input: CookieInput,
  options: CookieOptions = {},
): Uint8Array {
  checkKey(key);
  const cookie = cookieForSlot(
    key,
    slotOf(input.now, options),
    input.clientAddr,
    input.clientSessionId,
  );
  // An all-zero session id means "undefined" on the wire; make that (2^-64) case impossible.
  if (cookie.every((b) => b === 0)) cookie[SESSION_ID_BYTES - 1] = 1;
  return cookie;
}

/**
 * Verifies the server session id a client echoed back. Accepts cookies made in the current slot
 * and in `pastSlotsAccepted` slots before it, from the same address, port and client session id.
 */
export function checkCookie(
  key: Uint8Array,
  input: CookieInput & { cookie: Uint8Array },
  options: CookieOptions = {},
): CookieCheck {
  checkKey(key);
  if (input.cookie.length !== SESSION_ID_BYTES) return { ok: false, reason: 'bad-length' };
  const current = slotOf(input.now, options);
  const pastSlots = options.pastSlotsAccepted ?? 2;
  for (let age = 0; age <= pastSlots && current - age >= 0; age++) {
    const expected = makeCookie(
      key,
      { ...input, now: (current - age) * (options.slotMs ?? cookieSlotMs()) },
      options,
    );
    if (timingSafeEqual(expected, input.cookie)) return { ok: true, slotAge: age };
  }
  return { ok: false, reason: 'mismatch' };
}

/**
 * True when a client packet can be the third packet of the stateless handshake: every id it
 * acks and its own message id (absent for ACK_V1) are 0 or 1. Anything later cannot be part of
 * the first exchange and must not create a session.
 */
export function isFirstExchangePacket(packet: {
  acks: readonly number[];
  packetId?: number;
}): boolean {
  if (packet.acks.some((id) => id > LAST_HANDSHAKE_PACKET_ID)) return false;
  return packet.packetId === undefined || packet.packetId <= LAST_HANDSHAKE_PACKET_ID;
}
