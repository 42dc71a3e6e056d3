// The gateway's pooled random bytes (src/io/random.ts): the sizes asked for, never the same bytes
// twice (across refills too), and a request larger than the pool served whole.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytesPooled } from '../../src/io/random.js';

describe('pooled random bytes', () => {
  it('hands out fresh bytes of the size asked, across refills of the pool', () => {
    const seen = new Set<string>();
    // 3,000 x 32 bytes: about 23 refills of the 4 KiB pool.
    for (let i = 0; i < 3000; i++) {
      const bytes = randomBytesPooled(32);
      assert.equal(bytes.length, 32);
      const hex = Buffer.from(bytes).toString('hex');
      assert.ok(!seen.has(hex), 'no 32 bytes handed out twice');
      seen.add(hex);
    }
    const odd = randomBytesPooled(7);
    assert.equal(odd.length, 7);
    const big = randomBytesPooled(10_000);
    assert.equal(big.length, 10_000);
    assert.ok(big.some((b) => b !== 0));
    // A copy: changing it changes nothing handed out later.
    const a = randomBytesPooled(16);
    a.fill(0);
    assert.ok(randomBytesPooled(16).some((b) => b !== 0));
  });
});
