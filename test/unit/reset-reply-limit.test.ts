// The reset reply limit (OpenVPN 2.6's --connect-freq-initial): at most `max` replies in a
// window that opens at the first reset after the last window closed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ResetReplyLimit } from '../../src/proto/openvpn/reset-reply-limit.js';
import { parseConfig } from '../../src/control/config/index.js';

const LIMIT = { max: 3, windowMs: 1000 };

describe('reset reply limit', () => {
  it('answers max resets in a window, then none until it closes', () => {
    const l = new ResetReplyLimit();
    const at = (t: number) => l.admit(t, LIMIT);
    assert.deepEqual(
      [at(5000), at(5001), at(5500), at(5999), at(5999)],
      [true, true, true, false, false],
    );
    // The window opened at 5000: it is over at 6000, and the next one opens there.
    assert.equal(at(6000), true);
    assert.deepEqual([at(6001), at(6002), at(6003)], [true, true, false]);
  });

  it('opens its window at the first reset after a quiet spell, not on a fixed grid', () => {
    const l = new ResetReplyLimit();
    assert.equal(l.admit(10_900, LIMIT), true);
    // A grid of whole seconds would have started a new window at 11,000.
    assert.deepEqual(
      [l.admit(10_950, LIMIT), l.admit(11_100, LIMIT), l.admit(11_200, LIMIT)],
      [true, true, false],
    );
    assert.equal(l.admit(11_900, LIMIT), true);
  });

  it('a clock that goes back starts a new window instead of stalling', () => {
    const l = new ResetReplyLimit();
    for (let i = 0; i < 3; i++) assert.equal(l.admit(50_000, LIMIT), true);
    assert.equal(l.admit(50_010, LIMIT), false);
    assert.equal(l.admit(20_000, LIMIT), true);
  });

  it('follows the settings it is given on each call (a reload changes them)', () => {
    const l = new ResetReplyLimit();
    for (let i = 0; i < 3; i++) assert.equal(l.admit(0, LIMIT), true);
    assert.equal(l.admit(1, LIMIT), false);
    assert.equal(l.admit(2, { max: 10, windowMs: 1000 }), true);
  });

  it('postern.yaml: 1,000 per second unless it says otherwise; both must be whole and >= 1', () => {
    const config = (y: string) =>
      parseConfig('endpoint: vpn.example.com\n' + y, '/etc/postern/postern.yaml');
    const d = config('');
    assert.deepEqual(d.openvpn['connect-freq-initial'], { max: 1000, seconds: 1 });
    const set = config('openvpn:\n  connect-freq-initial: { max: 100, seconds: 10 }\n');
    assert.deepEqual(set.openvpn['connect-freq-initial'], { max: 100, seconds: 10 });
    assert.throws(
      () => config('openvpn:\n  connect-freq-initial: { max: 0, seconds: 10 }\n'),
      (e: Error) => /postern\.yaml:3/.test(e.message) && /max/.test(e.message),
    );
    assert.throws(
      () => config('openvpn:\n  connect-freq-initial: { max: 100, seconds: 0.5 }\n'),
      (e: Error) => /postern\.yaml:3/.test(e.message) && /seconds/.test(e.message),
    );
  });
});
