// The 2.6 stateless handshake cookie: the server's session id proves the client got our reply.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  checkCookie,
  cookieSlotMs,
  isFirstExchangePacket,
  makeCookie,
} from '../../src/proto/openvpn/hmac-cookie.js';
import {
  isDefinedSessionId,
  newSessionId,
  sessionIdEquals,
  sessionIdHex,
} from '../../src/proto/openvpn/session-id.js';

const key = new Uint8Array(32).fill(7);
const client = { ip: '198.51.100.7', port: 50_123 };
const clientSessionId = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const SLOT = 30_000;
const t0 = 1_700_000_000_000; // a slot boundary is irrelevant: the tests pick times relative to it

test('slots are half the hand-window, as OpenVPN: 30 s for 60 s', () => {
  assert.equal(cookieSlotMs(), SLOT);
  assert.equal(cookieSlotMs(60), 30_000);
  assert.equal(cookieSlotMs(61), 31_000);
});

test('transcript: reset -> cookie as server session id -> echoed back and accepted', () => {
  const cookie = makeCookie(key, { clientAddr: client, clientSessionId, now: t0 });
  assert.equal(cookie.length, 8);
  assert.ok(isDefinedSessionId(cookie));
  // Deterministic: the server keeps no state, it recomputes.
  assert.deepEqual(makeCookie(key, { clientAddr: client, clientSessionId, now: t0 + 1 }), cookie);
  const check = checkCookie(key, { clientAddr: client, clientSessionId, now: t0 + 200, cookie });
  assert.deepEqual(check, { ok: true, slotAge: 0 });
});

test('accepted in the current slot and the two before it (at least one hand-window)', () => {
  const start = Math.floor(t0 / SLOT) * SLOT; // made at the very start of a slot
  const cookie = makeCookie(key, { clientAddr: client, clientSessionId, now: start });
  for (const [later, age] of [
    [SLOT - 1, 0],
    [SLOT, 1],
    [2 * SLOT + SLOT - 1, 2],
  ] as const) {
    assert.deepEqual(
      checkCookie(key, { clientAddr: client, clientSessionId, now: start + later, cookie }),
      { ok: true, slotAge: age },
    );
  }
  // Made at the very end of a slot it still lives a full 60 s hand-window.
  const late = makeCookie(key, { clientAddr: client, clientSessionId, now: start + SLOT - 1 });
  assert.ok(
    checkCookie(key, {
      clientAddr: client,
      clientSessionId,
      now: start + SLOT - 1 + 60_000,
      cookie: late,
    }).ok,
  );
});

test('refused: too old, other address, other port, other client session, flipped byte, other key', () => {
  const start = Math.floor(t0 / SLOT) * SLOT;
  const cookie = makeCookie(key, { clientAddr: client, clientSessionId, now: start });
  const base = { clientAddr: client, clientSessionId, now: start + 1_000, cookie };
  const refusals: [string, Parameters<typeof checkCookie>[1], Uint8Array?][] = [
    ['three slots later', { ...base, now: start + 3 * SLOT }],
    ['other address', { ...base, clientAddr: { ip: '198.51.100.8', port: client.port } }],
    ['other port', { ...base, clientAddr: { ip: client.ip, port: client.port + 1 } }],
    [
      'other client session id',
      { ...base, clientSessionId: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 9]) },
    ],
    ['from the future', { ...base, now: start - SLOT }],
  ];
  for (const [name, input] of refusals) {
    assert.deepEqual(checkCookie(key, input), { ok: false, reason: 'mismatch' }, name);
  }
  for (let i = 0; i < 8; i++) {
    const flipped = Uint8Array.from(cookie);
    flipped[i] = (flipped[i] as number) ^ 0x01;
    assert.equal(checkCookie(key, { ...base, cookie: flipped }).ok, false, `flipped byte ${i}`);
  }
  assert.equal(checkCookie(new Uint8Array(32).fill(8), base).ok, false, 'other server key');
  assert.deepEqual(checkCookie(key, { ...base, cookie: cookie.subarray(0, 7) }), {
    ok: false,
    reason: 'bad-length',
  });
});

test('slot length and accepted age are parameters ("current and previous" only)', () => {
  const options = { slotMs: 10_000, pastSlotsAccepted: 1 };
  const start = Math.floor(t0 / 10_000) * 10_000;
  const cookie = makeCookie(key, { clientAddr: client, clientSessionId, now: start }, options);
  const at = (dt: number) =>
    checkCookie(key, { clientAddr: client, clientSessionId, now: start + dt, cookie }, options).ok;
  assert.equal(at(9_999), true);
  assert.equal(at(19_999), true);
  assert.equal(at(20_000), false);
});

test('IPv6 addresses are compared case-insensitively (sockets may print either)', () => {
  const v6 = { ip: '2001:DB8::7', port: 1194 };
  const cookie = makeCookie(key, { clientAddr: v6, clientSessionId, now: t0 });
  assert.ok(
    checkCookie(key, {
      clientAddr: { ip: '2001:db8::7', port: 1194 },
      clientSessionId,
      now: t0,
      cookie,
    }).ok,
  );
});

test('one address spelt differently (v4-mapped, uncompressed IPv6) gives the same cookie', () => {
  const same = (a: string, b: string): boolean => {
    const cookie = makeCookie(key, { clientAddr: { ip: a, port: 1194 }, clientSessionId, now: t0 });
    const input = { clientAddr: { ip: b, port: 1194 }, clientSessionId, now: t0, cookie };
    return checkCookie(key, input).ok;
  };
  assert.ok(same('198.51.100.7', '::ffff:198.51.100.7'), 'v4-mapped');
  assert.ok(same('198.51.100.7', '::FFFF:c633:6407'), 'v4-mapped in hex');
  assert.ok(same('2001:db8::7', '2001:0db8:0:0:0:0:0:0007'), 'uncompressed');
  assert.ok(!same('198.51.100.7', '::198.51.100.7'), 'v4-compatible is another address');
  assert.ok(!same('2001:db8::7', '2001:db8::8'));
});

test('an address that is not one is our own misuse', () => {
  assert.throws(
    () => makeCookie(key, { clientAddr: { ip: 'client-1', port: 1 }, clientSessionId, now: t0 }),
    { code: 'OVPN_COOKIE_BAD_ADDRESS' },
  );
});

test('a short key is our own misuse', () => {
  assert.throws(
    () => makeCookie(new Uint8Array(8), { clientAddr: client, clientSessionId, now: t0 }),
    {
      code: 'OVPN_COOKIE_BAD_KEY',
    },
  );
});

test('only packets of the first exchange (ids 0 and 1) may open a session', () => {
  assert.equal(isFirstExchangePacket({ acks: [0] }), true, 'ACK_V1 of our reset');
  assert.equal(
    isFirstExchangePacket({ acks: [0], packetId: 1 }),
    true,
    'CONTROL_V1 with ClientHello',
  );
  assert.equal(isFirstExchangePacket({ acks: [0, 2] }), false);
  assert.equal(isFirstExchangePacket({ acks: [], packetId: 2 }), false);
});

test('session ids: random, defined, compared, printed', () => {
  const id = newSessionId((n) => randomBytes(n));
  assert.equal(id.length, 8);
  assert.ok(isDefinedSessionId(id));
  assert.equal(isDefinedSessionId(new Uint8Array(8)), false);
  let calls = 0;
  const zeroThenOnes = (n: number) => new Uint8Array(n).fill(calls++ === 0 ? 0 : 1);
  assert.deepEqual(newSessionId(zeroThenOnes), new Uint8Array(8).fill(1), 'all-zero is redrawn');
  assert.throws(() => newSessionId((n) => new Uint8Array(n)), { code: 'OVPN_BAD_RANDOM' });
  assert.ok(sessionIdEquals(clientSessionId, Uint8Array.from(clientSessionId)));
  assert.equal(sessionIdHex(clientSessionId), '0102030405060708');
});
