// Random bytes for the gateway's sessions, drawn from a pooled buffer. Each handshake takes a
// few dozen bytes in small pieces (session ids, key-method-2 randoms); crypto.randomBytes makes
// a native job object per call, so one refill of the pool serves ~100 handshakes. Every byte is
// handed out once, as a copy, and the pool's used part is wiped.
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let used = POOL_SIZE;

export function randomBytesPooled(n: number): Uint8Array {
  if (n > POOL_SIZE) return randomFillSync(new Uint8Array(n));
  if (used + n > POOL_SIZE) {
    randomFillSync(pool);
    used = 0;
  }
  const out = pool.slice(used, used + n);
  pool.fill(0, used, used + n);
  used += n;
  return out;
}
