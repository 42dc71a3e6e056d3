// A large file that anyone can regenerate: the AES-128-CTR keystream under an all-zero key and
// counter. Every 16-byte block differs, so a lost, repeated or reordered chunk changes the hash
// (a short repeating pattern would hide a swapped chunk), and it streams at memory speed.
import { createCipheriv, createHash } from 'node:crypto';

const KEY = Buffer.alloc(16);
const COUNTER = Buffer.alloc(16);
export const DEFAULT_CHUNK_BYTES = 64 * 1024;

/** The first `total` bytes, in chunks of at most `chunkBytes`. */
export function* deterministicChunks(
  total: number,
  chunkBytes = DEFAULT_CHUNK_BYTES,
): Generator<Buffer> {
  const keystream = createCipheriv('aes-128-ctr', KEY, COUNTER);
  const zeros = Buffer.alloc(chunkBytes);
  for (let done = 0; done < total; done += chunkBytes) {
    const n = Math.min(chunkBytes, total - done);
    yield keystream.update(zeros.subarray(0, n));
  }
}

/** SHA-256 (hex) of the first `total` bytes: what a correct download must hash to. */
export function deterministicSha256(total: number): string {
  const h = createHash('sha256');
  for (const chunk of deterministicChunks(total)) h.update(chunk);
  return h.digest('hex');
}
