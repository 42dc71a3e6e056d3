// OpenVPN tls-crypt-v2 (doc/tls-crypt-v2.txt, tls_crypt.c): each client gets its own tls-crypt
// key Kc, plus WKc, the same key wrapped by the server key so the server can keep no per-client
// state. The client appends WKc, in the clear, to its P_CONTROL_HARD_RESET_CLIENT_V3 (and, in
// 2.6 cookie mode, to its P_CONTROL_WKC_V1); the server finds it by the length at the very end.
//
//   server key = struct key: cipher(64) | hmac(64);  Ke = cipher[0..32], Ka = hmac[0..32]
//   len        = length of the whole WKc, this field included, 16-bit big-endian
//   T          = HMAC-SHA256(Ka, len || Kc || metadata)
//   WKc        = T || AES-256-CTR(Ke, IV = T[0..16], Kc || metadata) || len
//
// WKc is at most 1024 bytes, so metadata (its type byte included) is at most 734 bytes.
// Metadata starts with a type: 0x00 user data (`--genkey tls-crypt-v2-client key b64data`),
// 0x01 a 64-bit big-endian Unix timestamp (the default, checked by --tls-crypt-v2-max-age).
//
// Once unwrapped, Kc is used exactly like a tls-crypt static key (see tls-crypt.ts).
import { PosternError } from '../errors.js';
import {
  OPCODE_SIZE,
  TLS_CRYPT_IV_SIZE,
  TLS_CRYPT_KEY_SIZE,
  TLS_CRYPT_TAG_SIZE,
  TLS_CRYPT_V2_CLIENT_KEY_LEN,
  TLS_CRYPT_V2_CLIENT_PEM_LABEL,
  TLS_CRYPT_V2_LENGTH_SIZE,
  TLS_CRYPT_V2_MAX_METADATA_LEN,
  TLS_CRYPT_V2_MAX_WKC_LEN,
  TLS_CRYPT_V2_METADATA_TIMESTAMP,
  TLS_CRYPT_V2_METADATA_USER,
  TLS_CRYPT_V2_SERVER_KEY_LEN,
  TLS_CRYPT_V2_SERVER_PEM_LABEL,
  KEY_CIPHER_PART_SIZE,
} from '../wire/openvpn/constants.js';
import { hmacSha256 } from './hmac.js';
import { decodePem, encodePem } from './pem.js';
import { aes256Ctr, tlsCryptOpenDetached, type TlsCryptKey } from './tls-crypt.js';

const TIMESTAMP_SIZE = 8;
/** Smallest WKc: tag, a full Kc, no metadata, length. */
const MIN_WKC_LEN = TLS_CRYPT_TAG_SIZE + TLS_CRYPT_V2_CLIENT_KEY_LEN + TLS_CRYPT_V2_LENGTH_SIZE;

/** Ke and Ka of the server key: WKc is sealed as tls-crypt seals a packet, with its parts apart. */
export type TlsCryptV2ServerKey = TlsCryptKey;

export function tlsCryptV2ServerKey(raw: Uint8Array): TlsCryptV2ServerKey {
  if (raw.length !== TLS_CRYPT_V2_SERVER_KEY_LEN) {
    throw new PosternError(
      'CRYPTO_BAD_KEY_SIZE',
      `a tls-crypt-v2 server key is ${TLS_CRYPT_V2_SERVER_KEY_LEN} bytes, got ${raw.length}`,
    );
  }
  return {
    encryptionKey: raw.slice(0, TLS_CRYPT_KEY_SIZE),
    authenticationKey: raw.slice(KEY_CIPHER_PART_SIZE, KEY_CIPHER_PART_SIZE + TLS_CRYPT_KEY_SIZE),
  };
}

// Metadata.

export type TlsCryptV2Metadata =
  | { type: 'user'; data: Uint8Array }
  | { type: 'timestamp'; seconds: bigint }
  /** A type byte we do not know, or a timestamp of the wrong size; kept as is. */
  | { type: 'other'; typeByte: number; data: Uint8Array }
  /** No metadata at all (OpenVPN never writes this, but accepts it). */
  | { type: 'empty' };

export function encodeMetadata(metadata: TlsCryptV2Metadata): Uint8Array {
  let out: Uint8Array;
  switch (metadata.type) {
    case 'user':
      out = prefixed(TLS_CRYPT_V2_METADATA_USER, metadata.data);
      break;
    case 'timestamp': {
      out = new Uint8Array(1 + TIMESTAMP_SIZE);
      out[0] = TLS_CRYPT_V2_METADATA_TIMESTAMP;
      new DataView(out.buffer).setBigInt64(1, metadata.seconds);
      break;
    }
    case 'other':
      out = prefixed(metadata.typeByte, metadata.data);
      break;
    case 'empty':
      out = new Uint8Array(0);
      break;
  }
  if (out.length > TLS_CRYPT_V2_MAX_METADATA_LEN) {
    throw new PosternError(
      'OPENVPN_TLS_CRYPT_V2_METADATA_TOO_LONG',
      `tls-crypt-v2 metadata is ${out.length} bytes, at most ${TLS_CRYPT_V2_MAX_METADATA_LEN}`,
      'keep user metadata under 734 bytes, such as a certificate serial or a user id',
    );
  }
  return out;
}

export function decodeMetadata(raw: Uint8Array): TlsCryptV2Metadata {
  if (raw.length === 0) return { type: 'empty' };
  const typeByte = raw[0] ?? 0;
  const data = raw.slice(1);
  if (typeByte === TLS_CRYPT_V2_METADATA_USER) return { type: 'user', data };
  if (typeByte === TLS_CRYPT_V2_METADATA_TIMESTAMP && data.length === TIMESTAMP_SIZE) {
    return { type: 'timestamp', seconds: new DataView(data.buffer).getBigInt64(0) };
  }
  return { type: 'other', typeByte, data };
}

function prefixed(typeByte: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + data.length);
  out[0] = typeByte & 0xff;
  out.set(data, 1);
  return out;
}

// Wrapping.

/** Builds WKc. Deterministic: the same key, Kc and metadata always give the same bytes. */
export function wrapClientKey(
  server: TlsCryptV2ServerKey,
  clientKey: Uint8Array,
  metadata: Uint8Array,
): Uint8Array {
  if (clientKey.length !== TLS_CRYPT_V2_CLIENT_KEY_LEN) {
    throw new PosternError(
      'CRYPTO_BAD_KEY_SIZE',
      `a tls-crypt-v2 client key is ${TLS_CRYPT_V2_CLIENT_KEY_LEN} bytes, got ${clientKey.length}`,
    );
  }
  if (metadata.length > TLS_CRYPT_V2_MAX_METADATA_LEN) {
    throw new PosternError(
      'OPENVPN_TLS_CRYPT_V2_METADATA_TOO_LONG',
      `tls-crypt-v2 metadata is ${metadata.length} bytes, at most ${TLS_CRYPT_V2_MAX_METADATA_LEN}`,
    );
  }
  const total = MIN_WKC_LEN + metadata.length;
  const len = Uint8Array.of(total >>> 8, total & 0xff);
  const tag = hmacSha256(server.authenticationKey, len, clientKey, metadata);
  const plain = new Uint8Array(clientKey.length + metadata.length);
  plain.set(clientKey, 0);
  plain.set(metadata, clientKey.length);
  const ct = aes256Ctr(server.encryptionKey, tag.subarray(0, TLS_CRYPT_IV_SIZE), plain);
  plain.fill(0);
  const out = new Uint8Array(total);
  out.set(tag, 0);
  out.set(ct, TLS_CRYPT_TAG_SIZE);
  out.set(len, total - TLS_CRYPT_V2_LENGTH_SIZE);
  return out;
}

export type UnwrapClientKeyError = 'too-long' | 'truncated' | 'length-mismatch' | 'auth-failed';

export type UnwrapClientKeyResult =
  | { ok: true; clientKey: Uint8Array; metadata: Uint8Array; decoded: TlsCryptV2Metadata }
  | { ok: false; reason: UnwrapClientKeyError };

/** Opens WKc with the server key. Never throws; nothing is returned unless it authenticates. */
export function unwrapClientKey(
  server: TlsCryptV2ServerKey,
  wkc: Uint8Array,
): UnwrapClientKeyResult {
  if (wkc.length > TLS_CRYPT_V2_MAX_WKC_LEN) return { ok: false, reason: 'too-long' };
  if (wkc.length < TLS_CRYPT_V2_LENGTH_SIZE) return { ok: false, reason: 'truncated' };
  const lenBytes = wkc.subarray(wkc.length - TLS_CRYPT_V2_LENGTH_SIZE);
  const declared = ((lenBytes[0] ?? 0) << 8) | (lenBytes[1] ?? 0);
  if (declared !== wkc.length) return { ok: false, reason: 'length-mismatch' };
  if (wkc.length < TLS_CRYPT_TAG_SIZE + TLS_CRYPT_V2_LENGTH_SIZE) {
    return { ok: false, reason: 'truncated' };
  }
  const tag = wkc.subarray(0, TLS_CRYPT_TAG_SIZE);
  const ct = wkc.subarray(TLS_CRYPT_TAG_SIZE, wkc.length - TLS_CRYPT_V2_LENGTH_SIZE);
  const plain = tlsCryptOpenDetached(server, lenBytes, tag, ct);
  if (plain === undefined) return { ok: false, reason: 'auth-failed' };
  if (plain.length < TLS_CRYPT_V2_CLIENT_KEY_LEN) {
    plain.fill(0);
    return { ok: false, reason: 'truncated' };
  }
  const clientKey = plain.slice(0, TLS_CRYPT_V2_CLIENT_KEY_LEN);
  const metadata = plain.slice(TLS_CRYPT_V2_CLIENT_KEY_LEN);
  plain.fill(0);
  return { ok: true, clientKey, metadata, decoded: decodeMetadata(metadata) };
}

/** A new client key: Kc from the caller's 256 random bytes, and its WKc. */
export function generateClientKey(
  server: TlsCryptV2ServerKey,
  random: Uint8Array,
  metadata: TlsCryptV2Metadata,
): { clientKey: Uint8Array; wkc: Uint8Array } {
  const clientKey = new Uint8Array(random);
  return { clientKey, wkc: wrapClientKey(server, clientKey, encodeMetadata(metadata)) };
}

export type SplitWkcResult =
  | { ok: true; packet: Uint8Array; wkc: Uint8Array }
  | { ok: false; reason: 'truncated' | 'bad-length' };

/**
 * Cuts the WKc off a received HARD_RESET_CLIENT_V3 or CONTROL_WKC_V1 (tls_crypt.c
 * tls_crypt_v2_extract_client_key): its length is the last two bytes, and it may not reach
 * into the opcode byte. Returns views into `received`. Never throws.
 */
export function splitWrappedClientKey(received: Uint8Array): SplitWkcResult {
  if (received.length < OPCODE_SIZE + 1 + TLS_CRYPT_V2_LENGTH_SIZE) {
    return { ok: false, reason: 'truncated' };
  }
  const n = received.length;
  const wkcLen = ((received[n - 2] ?? 0) << 8) | (received[n - 1] ?? 0);
  if (wkcLen > n - OPCODE_SIZE) return { ok: false, reason: 'bad-length' };
  return {
    ok: true,
    packet: received.subarray(0, n - wkcLen),
    wkc: received.subarray(n - wkcLen),
  };
}

/** Appends WKc to a tls-crypt wrapped HARD_RESET_CLIENT_V3 or CONTROL_WKC_V1. */
export function appendWrappedClientKey(wrapped: Uint8Array, wkc: Uint8Array): Uint8Array {
  const out = new Uint8Array(wrapped.length + wkc.length);
  out.set(wrapped, 0);
  out.set(wkc, wrapped.length);
  return out;
}

// Key files, as `openvpn --genkey tls-crypt-v2-server|tls-crypt-v2-client` writes them.

export type KeyFileError = 'no-header' | 'no-footer' | 'not-base64' | 'wrong-length';

export function parseServerKeyFile(
  text: string,
): { ok: true; key: Uint8Array } | { ok: false; reason: KeyFileError } {
  const pem = decodePem(text, TLS_CRYPT_V2_SERVER_PEM_LABEL);
  if (!pem.ok) return pem;
  if (pem.data.length !== TLS_CRYPT_V2_SERVER_KEY_LEN) return { ok: false, reason: 'wrong-length' };
  return { ok: true, key: pem.data };
}

export function formatServerKeyFile(key: Uint8Array): string {
  if (key.length !== TLS_CRYPT_V2_SERVER_KEY_LEN) {
    throw new PosternError('CRYPTO_BAD_KEY_SIZE', 'a tls-crypt-v2 server key is 128 bytes');
  }
  return encodePem(key, TLS_CRYPT_V2_SERVER_PEM_LABEL);
}

/** The client file holds Kc || WKc. */
export function parseClientKeyFile(
  text: string,
): { ok: true; clientKey: Uint8Array; wkc: Uint8Array } | { ok: false; reason: KeyFileError } {
  const pem = decodePem(text, TLS_CRYPT_V2_CLIENT_PEM_LABEL);
  if (!pem.ok) return pem;
  const wkcLen = pem.data.length - TLS_CRYPT_V2_CLIENT_KEY_LEN;
  if (wkcLen < MIN_WKC_LEN || wkcLen > TLS_CRYPT_V2_MAX_WKC_LEN) {
    return { ok: false, reason: 'wrong-length' };
  }
  return {
    ok: true,
    clientKey: pem.data.slice(0, TLS_CRYPT_V2_CLIENT_KEY_LEN),
    wkc: pem.data.slice(TLS_CRYPT_V2_CLIENT_KEY_LEN),
  };
}

export function formatClientKeyFile(clientKey: Uint8Array, wkc: Uint8Array): string {
  if (clientKey.length !== TLS_CRYPT_V2_CLIENT_KEY_LEN || wkc.length > TLS_CRYPT_V2_MAX_WKC_LEN) {
    throw new PosternError('CRYPTO_BAD_KEY_SIZE', 'not a tls-crypt-v2 client key and WKc');
  }
  const both = new Uint8Array(clientKey.length + wkc.length);
  both.set(clientKey, 0);
  both.set(wkc, clientKey.length);
  return encodePem(both, TLS_CRYPT_V2_CLIENT_PEM_LABEL);
}
