// Control-channel session ids: 8 opaque bytes each side picks for itself and the peer echoes in
// its ack arrays (session_id.h). All-zero means "not yet known" (session_id_defined), which is
// why a fresh id is redrawn in the unlikely case the random source yields zeros.

import { bytesEqual } from '../../wire/bytes-equal.js';
import { SESSION_ID_BYTES } from './constants.js';
import { PosternError } from '../../errors.js';

/** A source of random bytes, e.g. `(n) => crypto.randomBytes(n)` supplied by the caller. */
export type RandomBytes = (length: number) => Uint8Array;

const MAX_DRAWS = 4;

/** A fresh, defined session id. */
export function newSessionId(random: RandomBytes): Uint8Array {
  for (let i = 0; i < MAX_DRAWS; i++) {
    const id = random(SESSION_ID_BYTES);
    if (id.length !== SESSION_ID_BYTES) {
      throw new PosternError('OVPN_BAD_RANDOM', `random source gave ${id.length} bytes, not 8`);
    }
    if (isDefinedSessionId(id)) return Uint8Array.from(id);
  }
  throw new PosternError('OVPN_BAD_RANDOM', 'random source keeps returning zeros');
}

/** True for an 8-byte id that is not all zero. */
export function isDefinedSessionId(id: Uint8Array): boolean {
  return id.length === SESSION_ID_BYTES && id.some((b) => b !== 0);
}

/** Byte equality of two session ids (ids are not secrets; no constant time needed). */
export const sessionIdEquals: (a: Uint8Array, b: Uint8Array) => boolean = bytesEqual;

/** Lower-case hex, as OpenVPN prints session ids in its logs. */
export function sessionIdHex(id: Uint8Array): string {
  return Array.from(id, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The sender's session id of a control packet as it comes off the wire: every control-channel
 * wrap (none, tls-auth, tls-crypt, tls-crypt-v2) carries it in clear right after the opcode
 * byte. Undefined when the packet is too short to hold one. Not authenticated: a routing hint.
 */
export function senderSessionId(packet: Uint8Array): Uint8Array | undefined {
  if (packet.length < 1 + SESSION_ID_BYTES) return undefined;
  return packet.subarray(1, 1 + SESSION_ID_BYTES);
}
