// OpenVPN tls-crypt (tls_crypt.h): every control packet is authenticated and encrypted with a
// pre-shared key, SIV-style, so the tag doubles as the IV and a repeated packet id leaks nothing
// beyond equality:
//
//   header = opcode|kid (1) || session id (8) || packet id (4) || net time (4)
//   tag    = HMAC-SHA256(Ka, header || plaintext)
//   ct     = AES-256-CTR(Ke, IV = tag[0..16], plaintext)
//   wire   = header || tag || ct
//
// "plaintext" is the control packet body: acks, remote session id, message id, TLS bytes.
// Ka and Ke are the first 32 bytes of the hmac and cipher halves of one `struct key` in the
// 256-byte static key. The server sends with keys[0] and the client with keys[1]
// (tls_crypt_init_key: KEY_DIRECTION_NORMAL on the server, INVERSE on the client); the captured
// keys in test/vectors/openvpn/ confirm it.
//
// Unwrap does not check replay: the caller owns the replay state for the long-form packet id.
import { createCipheriv } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { PosternError } from '../errors.js';
import {
  KEY2_SIZE,
  LONG_PACKET_ID_SIZE,
  NET_TIME_SIZE,
  OPCODE_SIZE,
  PACKET_ID_MAX,
  SESSION_ID_SIZE,
  TLS_CRYPT_IV_SIZE,
  TLS_CRYPT_KEY_SIZE,
  TLS_CRYPT_OFF_CT,
  TLS_CRYPT_OFF_PID,
  TLS_CRYPT_OFF_TAG,
} from '../wire/openvpn/constants.js';
import type { Opcode } from '../wire/openvpn/constants.js';
import { opcodeByte, readOpcodeByte } from '../wire/openvpn/opcode.js';
import { constantTimeEqual } from './constant-time.js';
import { hmacSha256 } from './hmac.js';
import { keyHalvesAt, keyIndexFor } from './static-key.js';

/**
 * Ke and Ka for one direction. Raw bytes rather than KeyObjects: a session wraps only a few
 * control packets in its life, and two 32-byte arrays cost far less memory per idle session than
 * two KeyObjects (each a JS wrapper, a native handle and an OpenSSL-side copy).
 */
export interface TlsCryptKey {
  readonly encryptionKey: Uint8Array;
  readonly authenticationKey: Uint8Array;
}

export interface TlsCryptKeys {
  send: TlsCryptKey;
  receive: TlsCryptKey;
}

export type TlsCryptRole = 'server' | 'client';

/**
 * The send and receive keys of one side, from a 256-byte static key (or tls-crypt-v2 Kc).
 * Copies, so the result neither changes when the caller wipes its key nor keeps a larger buffer
 * alive.
 */
export function tlsCryptKeys(key2: Uint8Array, role: TlsCryptRole): TlsCryptKeys {
  const copy = (k: TlsCryptKey): TlsCryptKey => ({
    encryptionKey: new Uint8Array(k.encryptionKey),
    authenticationKey: new Uint8Array(k.authenticationKey),
  });
  return {
    send: copy(tlsCryptKeyView(key2, role, 'send')),
    receive: copy(tlsCryptKeyView(key2, role, 'receive')),
  };
}

/**
 * One side's key for one use, as views into `key2`: Ke = the first 256 bits of the cipher half,
 * Ka = the first 256 bits of the hmac half. For the packet being wrapped or unwrapped now, when
 * nothing keeps the key (the control channel keeps only key2 and cuts the key it needs per
 * packet; copying both directions' keys for each was ~15 KiB of garbage a handshake).
 */
export function tlsCryptKeyView(
  key2: Uint8Array,
  role: TlsCryptRole,
  use: 'send' | 'receive',
): TlsCryptKey {
  if (key2.length !== KEY2_SIZE) {
    throw new PosternError(
      'CRYPTO_BAD_KEY_SIZE',
      `a tls-crypt key is ${KEY2_SIZE} bytes, got ${key2.length}`,
    );
  }
  const halves = keyHalvesAt(key2, keyIndexFor(role === 'server' ? 'normal' : 'inverse', use));
  return {
    encryptionKey: halves.cipher.subarray(0, TLS_CRYPT_KEY_SIZE),
    authenticationKey: halves.hmac.subarray(0, TLS_CRYPT_KEY_SIZE),
  };
}

/**
 * The key2 block for dynamic tls-crypt after a renegotiation (2.6.1+, tls_crypt.c
 * tls_session_generate_dynamic_tls_crypt_key): the 256 bytes exported with label
 * EXPORTER-OpenVPN-dynamic-tls-crypt, XORed with the original tls-crypt (or tls-crypt-v2 Kc)
 * key when there is one. Directions are those of tls-crypt.
 */
export function dynamicTlsCryptKey2(exported: Uint8Array, original?: Uint8Array): Uint8Array {
  if (exported.length !== KEY2_SIZE || (original && original.length !== KEY2_SIZE)) {
    throw new PosternError('CRYPTO_BAD_KEY_SIZE', `dynamic tls-crypt keys are ${KEY2_SIZE} bytes`);
  }
  const out = new Uint8Array(exported);
  if (original) for (let i = 0; i < KEY2_SIZE; i++) out[i] = (out[i] ?? 0) ^ (original[i] ?? 0);
  return out;
}

/** The authenticated cleartext header of a tls-crypt packet. */
export interface TlsCryptHeader {
  opcode: Opcode;
  keyId: number;
  sessionId: Uint8Array;
  /** tls-crypt replay id: counts from 1 per session (0x0f000001 with tls-crypt-v2). */
  packetId: number;
  /** Seconds since the epoch when the sender's counter started, 32-bit. */
  netTime: number;
}

/**
 * tls-crypt's two primitives. The reference below is node:crypto; a composition root may install
 * a faster implementation of the same bytes (native/tls_crypt.c through src/io/tls/), held equal
 * to this one by test/unit/tls-crypt-native.test.ts.
 */
export interface TlsCryptPrimitives {
  /** header || HMAC-SHA256(Ka, header || plaintext) || AES-256-CTR(Ke, tag[0..16], plaintext). */
  seal(key: TlsCryptKey, header: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** The plaintext of a whole packet (header, tag, ciphertext) if its tag verifies. */
  open(key: TlsCryptKey, packet: Uint8Array): Uint8Array | undefined;
  /**
   * The same with the parts apart: the plaintext of `ciphertext` if `tag` is
   * HMAC-SHA256(Ka, authenticated || plaintext). tls-crypt-v2's WKc is sealed this way.
   */
  openDetached(
    key: TlsCryptKey,
    authenticated: Uint8Array,
    tag: Uint8Array,
    ciphertext: Uint8Array,
  ): Uint8Array | undefined;
}

/** The node:crypto implementation: the default, and what any other is tested against. */
export const referenceTlsCryptPrimitives: TlsCryptPrimitives = {
  seal(key, header, plaintext) {
    const tag = hmacSha256(key.authenticationKey, header, plaintext);
    const ct = aes256Ctr(key.encryptionKey, tag.subarray(0, TLS_CRYPT_IV_SIZE), plaintext);
    const out = new Uint8Array(TLS_CRYPT_OFF_CT + ct.length);
    out.set(header, 0);
    out.set(tag, TLS_CRYPT_OFF_TAG);
    out.set(ct, TLS_CRYPT_OFF_CT);
    return out;
  },
  open(key, packet) {
    return referenceTlsCryptPrimitives.openDetached(
      key,
      packet.subarray(0, TLS_CRYPT_OFF_TAG),
      packet.subarray(TLS_CRYPT_OFF_TAG, TLS_CRYPT_OFF_CT),
      packet.subarray(TLS_CRYPT_OFF_CT),
    );
  },
  openDetached(key, authenticated, tag, ciphertext) {
    const plaintext = aes256Ctr(key.encryptionKey, tag.subarray(0, TLS_CRYPT_IV_SIZE), ciphertext);
    const expected = hmacSha256(key.authenticationKey, authenticated, plaintext);
    if (constantTimeEqual(expected, tag)) return plaintext;
    plaintext.fill(0);
    return undefined;
  },
};

let primitives: TlsCryptPrimitives = referenceTlsCryptPrimitives;

/** Installs another implementation of the primitives (undefined: back to the reference). */
export function useTlsCryptPrimitives(p: TlsCryptPrimitives | undefined): void {
  primitives = p ?? referenceTlsCryptPrimitives;
}

/** TlsCryptPrimitives.openDetached with the primitives installed. */
export function tlsCryptOpenDetached(
  key: TlsCryptKey,
  authenticated: Uint8Array,
  tag: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array | undefined {
  return primitives.openDetached(key, authenticated, tag, ciphertext);
}

/** Builds the wire packet. Throws only on our own misuse (bad sizes or ids). */
export function tlsCryptWrap(
  key: TlsCryptKey,
  header: TlsCryptHeader,
  plaintext: Uint8Array,
): Uint8Array {
  return primitives.seal(key, encodeHeader(header), plaintext);
}

export type TlsCryptUnwrapError = 'truncated' | 'unknown-opcode' | 'auth-failed';

export type TlsCryptUnwrapResult =
  | {
      ok: true;
      header: TlsCryptHeader;
      /** The decrypted body (acks, remote session id, message id, payload). */
      plaintext: Uint8Array;
      /** opcode|kid || session id || plaintext: what parseControlPacket reads. */
      controlPacket: Uint8Array;
    }
  | { ok: false; reason: TlsCryptUnwrapError };

/**
 * Verifies and decrypts one packet. Never throws; the tag is compared in constant time and
 * nothing decrypted is returned unless it authenticates. A tls-crypt-v2 WKc must already be cut
 * off (see tls-crypt-v2.ts splitWrappedClientKey).
 */
export function tlsCryptUnwrap(key: TlsCryptKey, packet: Uint8Array): TlsCryptUnwrapResult {
  if (packet.length < TLS_CRYPT_OFF_CT) return { ok: false, reason: 'truncated' };
  const first = readOpcodeByte(packet[0] ?? 0);
  if (first === undefined) return { ok: false, reason: 'unknown-opcode' };
  const plaintext = primitives.open(key, packet);
  if (plaintext === undefined) return { ok: false, reason: 'auth-failed' };
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const header: TlsCryptHeader = {
    opcode: first.opcode,
    keyId: first.keyId,
    sessionId: packet.slice(OPCODE_SIZE, OPCODE_SIZE + SESSION_ID_SIZE),
    packetId: view.getUint32(TLS_CRYPT_OFF_PID),
    netTime: view.getUint32(TLS_CRYPT_OFF_PID + LONG_PACKET_ID_SIZE - NET_TIME_SIZE),
  };
  const controlPacket = new Uint8Array(TLS_CRYPT_OFF_PID + plaintext.length);
  controlPacket.set(packet.subarray(0, TLS_CRYPT_OFF_PID), 0);
  controlPacket.set(plaintext, TLS_CRYPT_OFF_PID);
  return { ok: true, header, plaintext, controlPacket };
}

function encodeHeader(h: TlsCryptHeader): Uint8Array {
  if (h.sessionId.length !== SESSION_ID_SIZE) {
    throw new PosternError('OPENVPN_BAD_SESSION_ID', `session id must be ${SESSION_ID_SIZE} bytes`);
  }
  for (const [name, v] of [
    ['packetId', h.packetId],
    ['netTime', h.netTime],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > PACKET_ID_MAX) {
      throw new PosternError(
        'OPENVPN_BAD_PACKET_ID',
        `${name} ${v} is not a 32-bit unsigned value`,
      );
    }
  }
  const out = new Uint8Array(TLS_CRYPT_OFF_TAG);
  const view = new DataView(out.buffer);
  out[0] = opcodeByte(h.opcode, h.keyId);
  out.set(h.sessionId, OPCODE_SIZE);
  view.setUint32(TLS_CRYPT_OFF_PID, h.packetId);
  view.setUint32(TLS_CRYPT_OFF_PID + LONG_PACKET_ID_SIZE - NET_TIME_SIZE, h.netTime);
  return out;
}

/** AES-256-CTR with a 128-bit big-endian counter block starting at `iv` (OpenSSL's CTR). */
export function aes256Ctr(
  key: KeyObject | Uint8Array,
  iv: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const head = cipher.update(data);
  const tail = cipher.final();
  return new Uint8Array(tail.length === 0 ? head : Buffer.concat([head, tail]));
}

/** Size of a wrapped packet for a body of `plaintextLength` bytes. */
export function tlsCryptWrappedSize(plaintextLength: number): number {
  return TLS_CRYPT_OFF_CT + plaintextLength;
}
