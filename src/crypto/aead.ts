// AEAD seal/open (AES-GCM, ChaCha20-Poly1305) with 96-bit nonces and 128-bit tags, via
// node:crypto. Opening never throws for bad input: a wrong tag, a short tag or a corrupted
// ciphertext all come back as `undefined`. Misuse of our own (a key of the wrong size) throws.
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import type { CipherGCMTypes, KeyObject } from 'node:crypto';
import { PosternError } from '../errors.js';

/** The names OpenVPN uses in `--data-ciphers` (and IKEv2 maps its transform ids onto). */
export type AeadAlgorithm = 'AES-128-GCM' | 'AES-256-GCM' | 'CHACHA20-POLY1305';

export const AEAD_ALGORITHMS: readonly AeadAlgorithm[] = [
  'AES-128-GCM',
  'AES-256-GCM',
  'CHACHA20-POLY1305',
];

export const AEAD_KEY_SIZE: Readonly<Record<AeadAlgorithm, number>> = {
  'AES-128-GCM': 16,
  'AES-256-GCM': 32,
  'CHACHA20-POLY1305': 32,
};

export const AEAD_NONCE_SIZE = 12;
export const AEAD_TAG_SIZE = 16;

const NODE_CIPHER: Readonly<Record<AeadAlgorithm, CipherGCMTypes | 'chacha20-poly1305'>> = {
  'AES-128-GCM': 'aes-128-gcm',
  'AES-256-GCM': 'aes-256-gcm',
  'CHACHA20-POLY1305': 'chacha20-poly1305',
};

/** Cipher names are case-insensitive in OpenVPN configs ("aes-256-gcm" works). */
export function parseAeadAlgorithm(name: string): AeadAlgorithm | undefined {
  const upper = name.toUpperCase();
  return AEAD_ALGORITHMS.find((a) => a === upper);
}

export interface Sealed {
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

/** One key, ready for many packets. */
export class AeadKey {
  readonly algorithm: AeadAlgorithm;
  private readonly key: KeyObject;
  private readonly nodeCipher: CipherGCMTypes | 'chacha20-poly1305';

  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    checkKey(algorithm, key);
    this.algorithm = algorithm;
    this.key = createSecretKey(key);
    this.nodeCipher = NODE_CIPHER[algorithm];
  }

  /** Encrypts and authenticates. Throws only on a nonce of the wrong size (our misuse). */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Sealed {
    return sealWith(this.nodeCipher, this.key, nonce, aad, plaintext);
  }

  /** Verifies and decrypts; undefined when anything is wrong. Never throws. */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    ciphertext: Uint8Array,
    tag: Uint8Array,
  ): Uint8Array | undefined {
    return openWith(this.nodeCipher, this.key, nonce, aad, ciphertext, tag);
  }
}

/**
 * One-shot seal straight from the key bytes. Hot paths keep an AeadKey; rarely used keys (an
 * idle session's control channel) are cheaper to hold as bytes than as a KeyObject.
 */
export function aeadSeal(
  algorithm: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Sealed {
  checkKey(algorithm, key);
  return sealWith(NODE_CIPHER[algorithm], key, nonce, aad, plaintext);
}

/** One-shot open. Undefined on any failure, including a key of the wrong size. */
export function aeadOpen(
  algorithm: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined {
  if (AEAD_KEY_SIZE[algorithm] !== key.length) return undefined;
  return openWith(NODE_CIPHER[algorithm], key, nonce, aad, ciphertext, tag);
}

function checkKey(algorithm: AeadAlgorithm, key: Uint8Array): void {
  const size = AEAD_KEY_SIZE[algorithm];
  if (size === undefined) {
    throw new PosternError('CRYPTO_BAD_ALGORITHM', `unknown AEAD algorithm ${String(algorithm)}`);
  }
  if (key.length !== size) {
    throw new PosternError(
      'CRYPTO_BAD_KEY_SIZE',
      `${algorithm} takes a ${size}-byte key, got ${key.length}`,
    );
  }
}

function sealWith(
  nodeCipher: CipherGCMTypes | 'chacha20-poly1305',
  key: KeyObject | Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Sealed {
  checkNonce(nonce);
  // The union of cipher names defeats the overloads; both kinds take the same options.
  const cipher = createCipheriv(nodeCipher as CipherGCMTypes, key, nonce, {
    authTagLength: AEAD_TAG_SIZE,
  });
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const ciphertext = tail.length === 0 ? head : Buffer.concat([head, tail]);
  return { ciphertext: new Uint8Array(ciphertext), tag: new Uint8Array(cipher.getAuthTag()) };
}

function openWith(
  nodeCipher: CipherGCMTypes | 'chacha20-poly1305',
  key: KeyObject | Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined {
  if (nonce.length !== AEAD_NONCE_SIZE || tag.length !== AEAD_TAG_SIZE) return undefined;
  try {
    const decipher = createDecipheriv(nodeCipher as CipherGCMTypes, key, nonce, {
      authTagLength: AEAD_TAG_SIZE,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const head = decipher.update(ciphertext);
    const tail = decipher.final();
    return new Uint8Array(tail.length === 0 ? head : Buffer.concat([head, tail]));
  } catch {
    return undefined;
  }
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== AEAD_NONCE_SIZE) {
    throw new PosternError(
      'CRYPTO_BAD_NONCE_SIZE',
      `AEAD nonce must be ${AEAD_NONCE_SIZE} bytes, got ${nonce.length}`,
    );
  }
}
