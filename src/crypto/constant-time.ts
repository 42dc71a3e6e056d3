// Comparing secrets (tags, MACs) without leaking where they first differ.
import { timingSafeEqual } from 'node:crypto';

/**
 * True when `a` and `b` hold the same bytes. The time taken depends only on the length, which
 * is public for every tag we compare; different lengths are simply unequal.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
