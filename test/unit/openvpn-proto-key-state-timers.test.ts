// Renegotiation scheduling: reneg-sec with the server's jitter, byte/packet triggers, the lame duck.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  effectiveRenegSeconds,
  KeySchedule,
  nextKeyId,
} from '../../src/proto/openvpn/key-state-timers.js';

const SEC = 1000;

test('reneg-sec 3600: a server draws 3241..3600 s per session, a client keeps 3600', () => {
  assert.equal(
    effectiveRenegSeconds({}, 'server', () => 0),
    3600,
  );
  assert.equal(
    effectiveRenegSeconds({}, 'server', () => 0.999999),
    3241,
  );
  assert.equal(
    effectiveRenegSeconds({}, 'server', () => 0.5),
    3420,
  );
  assert.equal(
    effectiveRenegSeconds({}, 'client', () => 0.999),
    3600,
  );
  for (let i = 0; i < 100; i++) {
    const s = effectiveRenegSeconds({}, 'server', () => i / 100);
    assert.ok(s > 0.9 * 3600 && s <= 3600, String(s));
  }
});

test('reneg-sec max min: between min (exclusive) and max; 0 disables', () => {
  assert.equal(
    effectiveRenegSeconds({ renegSec: 600, renegSecMin: 300 }, 'client', () => 0.999),
    301,
  );
  assert.equal(
    effectiveRenegSeconds({ renegSec: 600, renegSecMin: 300 }, 'server', () => 0),
    600,
  );
  assert.equal(
    effectiveRenegSeconds({ renegSec: 0 }, 'server', () => 0.5),
    0,
  );
  assert.throws(() => effectiveRenegSeconds({}, 'server', () => 1), { code: 'OVPN_BAD_RANDOM' });
});

test('key ids: 0 once, then 1..7 round and round', () => {
  const seen = [0];
  for (let i = 0; i < 9; i++) seen.push(nextKeyId(seen[seen.length - 1] as number));
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 1, 2]);
});

test('transcript: handshake, renegotiate on time, lame duck kept for tran-window', () => {
  const ks = new KeySchedule({ renegSec: 3600 }, 'client', () => 0);
  assert.equal(ks.startFirstKey(0), 0);
  assert.equal(ks.nextDeadline(), 60 * SEC, 'hand-window');
  ks.established(0, 5 * SEC);
  assert.equal(ks.encryptKeyId(5 * SEC), 0);
  assert.equal(ks.nextDeadline(), 3605 * SEC);
  assert.equal(ks.poll(3604 * SEC), undefined);
  assert.deepEqual(ks.poll(3605 * SEC), { kind: 'renegotiate', keyId: 0, reason: 'time' });
  assert.equal(ks.poll(3606 * SEC), undefined, 'reported once');

  const newId = ks.beginRenegotiation(3606 * SEC);
  assert.equal(newId, 1);
  assert.equal(ks.encryptKeyId(3607 * SEC), 0, 'old key carries data until the new one is up');
  assert.equal(ks.canDecrypt(0, 3607 * SEC), true);
  ks.established(1, 3610 * SEC);
  assert.equal(ks.encryptKeyId(3610 * SEC), 1);
  assert.equal(ks.canDecrypt(0, 3610 * SEC), true, 'late packets under the old key still decrypt');
  assert.deepEqual(
    ks.keys().map((k) => [k.keyId, k.phase]),
    [
      [1, 'active'],
      [0, 'lame-duck'],
    ],
  );
  assert.equal(ks.nextDeadline(), (3606 + 3600) * SEC, 'the lame duck dies first');
  assert.deepEqual(ks.poll((3606 + 3600) * SEC), { kind: 'lame-duck-expired', keyId: 0 });
  assert.equal(ks.canDecrypt(0, (3606 + 3600) * SEC), false);
});

test('a key that does not finish its handshake in hand-window is reported', () => {
  const ks = new KeySchedule({ handWindowSec: 60 }, 'server', () => 0);
  ks.startFirstKey(1_000);
  assert.equal(ks.poll(60_999), undefined);
  assert.deepEqual(ks.poll(61_000), { kind: 'handshake-timeout', keyId: 0 });
  assert.equal(ks.poll(62_000), undefined);
});

test('reneg-bytes and reneg-pkts count traffic through the primary, both directions', () => {
  const bytes = new KeySchedule({ renegSec: 0, renegBytes: 1_000_000 }, 'server', () => 0);
  bytes.startFirstKey(0);
  bytes.established(0, 0);
  assert.equal(bytes.nextDeadline(), undefined, 'no time trigger');
  bytes.countTraffic(0, 600_000, 400);
  assert.equal(bytes.poll(1), undefined);
  bytes.countTraffic(0, 400_000, 300);
  assert.deepEqual(bytes.poll(2), { kind: 'renegotiate', keyId: 0, reason: 'bytes' });

  const pkts = new KeySchedule({ renegSec: 0, renegPackets: 1000 }, 'client', () => 0);
  pkts.startFirstKey(0);
  pkts.established(0, 0);
  for (let i = 0; i < 999; i++) pkts.countTraffic(0, 100);
  assert.equal(pkts.poll(1), undefined);
  pkts.countTraffic(0, 100);
  assert.deepEqual(pkts.poll(2), { kind: 'renegotiate', keyId: 0, reason: 'packets' });
});

test('a data packet id close to wrapping forces a renegotiation', () => {
  const ks = new KeySchedule({}, 'client', () => 0);
  ks.startFirstKey(0);
  ks.established(0, 0);
  assert.equal(ks.poll(1, 0xfeff_ffff), undefined);
  assert.deepEqual(ks.poll(1, 0xff00_0000), {
    kind: 'renegotiate',
    keyId: 0,
    reason: 'packet-id-wrap',
  });
});

test('misuse is reported with a code', () => {
  const ks = new KeySchedule({}, 'client', () => 0);
  assert.throws(() => ks.beginRenegotiation(0), { code: 'OVPN_KEY_SCHEDULE_STATE' });
  ks.startFirstKey(0);
  assert.throws(() => ks.established(3, 0), { code: 'OVPN_KEY_SCHEDULE_STATE' });
});
