// HMAC over one or more byte strings (RFC 2104), via node:crypto.
import { createHmac } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export type HmacDigest = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** Output sizes in bytes of each digest. */
export const HMAC_SIZE: Readonly<Record<HmacDigest, number>> = {
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

/** HMAC of the concatenation of `parts`, without building the concatenation. */
export function hmac(
  digest: HmacDigest,
  key: Uint8Array | KeyObject,
  ...parts: readonly Uint8Array[]
): Uint8Array {
  const h = createHmac(digest, key);
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

export function hmacSha256(
  key: Uint8Array | KeyObject,
  ...parts: readonly Uint8Array[]
): Uint8Array {
  return hmac('sha256', key, ...parts);
}
