// The anti-replay window: what it accepts and refuses, read as a sequence of arrivals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ReplayWindow } from '../../src/proto/replay-window.js';
import { isPosternError } from '../../src/errors.js';

/** Feeds arrivals, marking each accepted one as an authenticated packet would be. */
function arrive(w: ReplayWindow, seqs: number[]): string[] {
  return seqs.map((s) => w.checkAndUpdate(s));
}

describe('replay window', () => {
  it('accepts in-order packets and refuses each of them a second time', () => {
    const w = new ReplayWindow(64);
    assert.deepEqual(arrive(w, [1, 2, 3, 4]), ['ok', 'ok', 'ok', 'ok']);
    assert.deepEqual(arrive(w, [1, 2, 3, 4]), ['duplicate', 'duplicate', 'duplicate', 'duplicate']);
    assert.equal(w.highest, 4);
  });

  it('accepts late packets inside the window once, refuses them outside', () => {
    const w = new ReplayWindow(64);
    assert.deepEqual(arrive(w, [100, 37, 36, 99, 37]), ['ok', 'ok', 'too-old', 'ok', 'duplicate']);
    // 100 - 64 = 36 is just outside a 64-wide window; 37 is the oldest inside.
  });

  it('checks without marking: a packet that fails authentication changes nothing', () => {
    const w = new ReplayWindow(64);
    assert.equal(w.check(5), 'ok');
    assert.equal(w.check(1000), 'ok');
    assert.equal(w.highest, 0);
    w.update(5);
    assert.equal(w.check(5), 'duplicate');
    assert.equal(w.check(6), 'ok');
  });

  it('survives huge jumps: everything behind the new window is too old, inside is fresh', () => {
    const w = new ReplayWindow(64);
    arrive(w, [1, 2, 3]);
    assert.equal(w.checkAndUpdate(1_000_000), 'ok');
    assert.equal(w.check(3), 'too-old');
    assert.equal(w.check(999_937), 'ok', 'inside the new window and never seen');
    assert.equal(w.check(999_936), 'too-old');
    assert.equal(w.checkAndUpdate(2 ** 40), 'ok');
    assert.equal(w.check(2 ** 40 - 63), 'ok');
    assert.equal(w.check(1_000_000), 'too-old');
  });

  it('refuses 0, negatives, fractions and unsafe integers', () => {
    const w = new ReplayWindow();
    for (const s of [0, -1, 1.5, Number.NaN, 2 ** 53]) assert.equal(w.check(s), 'invalid');
    w.update(0);
    assert.equal(w.highest, 0);
  });

  it('works at ESP sizes 32 and 1024 and at width 1, and resets', () => {
    for (const width of [1, 32, 1024]) {
      const w = new ReplayWindow(width);
      w.update(5000);
      // The oldest number still inside; with width 1 that is 5000 itself, already seen.
      assert.equal(w.check(5000 - width + 1), width === 1 ? 'duplicate' : 'ok');
      assert.equal(w.check(5000 - width), 'too-old');
      w.reset();
      assert.equal(w.check(1), 'ok');
    }
    assert.throws(() => new ReplayWindow(0), isPosternError);
    assert.throws(() => new ReplayWindow(65537), isPosternError);
  });

  it('agrees with a plain set-based model on any arrival order', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 32, 64, 100, 1024),
        fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 400 }),
        (width, seqs) => {
          const w = new ReplayWindow(width);
          const seen = new Set<number>();
          let top = 0;
          for (const s of seqs) {
            const expected =
              s > top ? 'ok' : top - s >= width ? 'too-old' : seen.has(s) ? 'duplicate' : 'ok';
            assert.equal(w.checkAndUpdate(s), expected, `seq ${s} after top ${top}`);
            if (expected === 'ok') {
              seen.add(s);
              top = Math.max(top, s);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
