// The TLS 1.0/1.1 PRF (RFC 2246 section 5): P_MD5 over the first half of the secret XORed
// with P_SHA1 over the second half. OpenVPN still derives its data-channel key block with it
// when a peer cannot do the RFC 5705 exporter (ssl.c generate_key_expansion_openvpn_prf).
import { PosternError } from '../errors.js';
import { hmac } from './hmac.js';
import type { HmacDigest } from './hmac.js';

/** P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ... */
export function pHash(
  digest: HmacDigest,
  secret: Uint8Array,
  seed: Uint8Array,
  length: number,
): Uint8Array {
  const out = new Uint8Array(length);
  let a = hmac(digest, secret, seed); // A(1)
  let off = 0;
  while (off < length) {
    const block = hmac(digest, secret, a, seed);
    out.set(block.subarray(0, Math.min(block.length, length - off)), off);
    off += block.length;
    a = hmac(digest, secret, a);
  }
  return out;
}

/**
 * PRF(secret, label, seed) of TLS 1.0. The two halves of the secret overlap by one byte when
 * its length is odd, as RFC 2246 says. `label` and `seed` are simply concatenated.
 */
export function tls10Prf(
  secret: Uint8Array,
  label: string | Uint8Array,
  seed: Uint8Array,
  length: number,
): Uint8Array {
  if (!Number.isInteger(length) || length < 0) {
    throw new PosternError('CRYPTO_BAD_LENGTH', `PRF output length ${length} is not valid`);
  }
  const labelBytes = typeof label === 'string' ? new TextEncoder().encode(label) : label;
  const labelAndSeed = new Uint8Array(labelBytes.length + seed.length);
  labelAndSeed.set(labelBytes, 0);
  labelAndSeed.set(seed, labelBytes.length);
  const half = Math.ceil(secret.length / 2);
  const s1 = secret.subarray(0, half);
  const s2 = secret.subarray(secret.length - half);
  const md5 = pHash('md5', s1, labelAndSeed, length);
  const sha1 = pHash('sha1', s2, labelAndSeed, length);
  for (let i = 0; i < length; i++) md5[i] = (md5[i] ?? 0) ^ (sha1[i] ?? 0);
  return md5;
}

/** What key method 2 exchanges, as OpenVPN's `struct key_source2` holds it. */
export interface OpenvpnKeySources {
  /** 48 bytes, sent by the client only. */
  clientPreMaster: Uint8Array;
  clientRandom1: Uint8Array;
  clientRandom2: Uint8Array;
  serverRandom1: Uint8Array;
  serverRandom2: Uint8Array;
  clientSessionId: Uint8Array;
  serverSessionId: Uint8Array;
}

export const OPENVPN_PRF_MASTER_SIZE = 48;
export const OPENVPN_PRF_KEY_BLOCK_SIZE = 256;
const MASTER_LABEL = 'OpenVPN master secret';
const EXPANSION_LABEL = 'OpenVPN key expansion';

/**
 * The 256-byte data-channel key block without EKM (OpenVPN `generate_key_expansion_openvpn_prf`):
 *   master = PRF(pre_master, "OpenVPN master secret", c.random1 | s.random1)            48 bytes
 *   block  = PRF(master, "OpenVPN key expansion", c.random2 | s.random2 | c.sid | s.sid) 256 bytes
 * The block has the same layout as the EKM one (see dataplane/reference/openvpn-data.ts).
 */
export function openvpnPrfKeyBlock(src: OpenvpnKeySources): Uint8Array {
  const master = tls10Prf(
    src.clientPreMaster,
    MASTER_LABEL,
    concat(src.clientRandom1, src.serverRandom1),
    OPENVPN_PRF_MASTER_SIZE,
  );
  const block = tls10Prf(
    master,
    EXPANSION_LABEL,
    concat(src.clientRandom2, src.serverRandom2, src.clientSessionId, src.serverSessionId),
    OPENVPN_PRF_KEY_BLOCK_SIZE,
  );
  master.fill(0);
  return block;
}

function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
