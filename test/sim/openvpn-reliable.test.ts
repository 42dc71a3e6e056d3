// Two control-channel reliability layers talking across a simulated lossy link, on a virtual
// clock: the link drops, duplicates, delays and reorders packets from a seeded PRNG. Whatever it
// does, every message must arrive exactly once and in order, resends must follow the backoff,
// and the exchange must finish in bounded virtual time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReliableLayer } from '../../src/proto/openvpn/reliable.js';
import type { ReliableOptions } from '../../src/proto/openvpn/reliable.js';

/** mulberry32: small, seedable, good enough to drive a network simulation. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface LinkProfile {
  /** Probability a packet is lost. */
  loss: number;
  /** Probability a delivered packet arrives twice. */
  duplicate: number;
  /** Probability a packet is held back by up to `reorderMs` extra. */
  reorder: number;
  delayMs: number;
  jitterMs: number;
  reorderMs: number;
}

interface WirePacket {
  packetId?: number;
  acks: number[];
  payload?: Uint8Array;
}

interface Arrival {
  at: number;
  seq: number;
  to: 0 | 1;
  packet: WirePacket;
}

interface SimResult {
  delivered: [string[], string[]];
  finishedAt: number;
  /** Per side and packet id, the times it was put on the wire. */
  sendTimes: [Map<number, number[]>, Map<number, number[]>];
  stats: [ReturnType<ReliableLayer['stats']>, ReturnType<ReliableLayer['stats']>];
  packetsOnWire: number;
}

const MESSAGE_SIZES = [1, 40, 300, 1108];

function message(side: number, i: number): Uint8Array {
  const body = `${side}:${i}:`;
  const size = Math.max(body.length, MESSAGE_SIZES[i % MESSAGE_SIZES.length] as number);
  const bytes = new Uint8Array(size).fill(0x2e);
  bytes.set(new TextEncoder().encode(body));
  return bytes;
}

function label(payload: Uint8Array): string {
  const text = new TextDecoder().decode(payload);
  const [side, i] = text.split(':');
  return `${side}:${i}`;
}

/**
 * Runs both endpoints until each has received all `count` messages of the other and every
 * message is acked, or until `limitMs` of virtual time. Throws if the exchange stalls.
 */
function simulate(
  seed: number,
  link: LinkProfile,
  count: number,
  options: ReliableOptions = {},
  limitMs = 3_600_000,
): SimResult {
  const random = prng(seed);
  const ends = [new ReliableLayer(options), new ReliableLayer(options)] as const;
  const delivered: [string[], string[]] = [[], []];
  const sendTimes: SimResult['sendTimes'] = [new Map(), new Map()];
  const inFlight: Arrival[] = [];
  let seq = 0;
  let packetsOnWire = 0;

  for (const side of [0, 1] as const) {
    for (let i = 0; i < count; i++) ends[side].queue(message(side, i));
  }

  const transmit = (from: 0 | 1, packet: WirePacket, now: number) => {
    packetsOnWire += 1;
    if (random() < link.loss) return;
    const copies = random() < link.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let delay = link.delayMs + random() * link.jitterMs;
      if (random() < link.reorder) delay += random() * link.reorderMs;
      inFlight.push({ at: now + delay, seq: seq++, to: from === 0 ? 1 : 0, packet });
    }
  };

  const flush = (side: 0 | 1, now: number) => {
    for (let out = ends[side].poll(now); out !== undefined; out = ends[side].poll(now)) {
      if (out.kind === 'send') {
        const times = sendTimes[side].get(out.packetId) ?? [];
        times.push(now);
        sendTimes[side].set(out.packetId, times);
        transmit(side, { packetId: out.packetId, acks: out.acks, payload: out.payload }, now);
      } else {
        transmit(side, { acks: out.acks }, now);
      }
    }
  };

  const done = () =>
    delivered[0].length === count &&
    delivered[1].length === count &&
    ends[0].unackedCount() === 0 &&
    ends[1].unackedCount() === 0 &&
    ends[0].queuedCount() === 0 &&
    ends[1].queuedCount() === 0;

  let now = 0;
  for (;;) {
    flush(0, now);
    flush(1, now);
    if (done()) break;
    const deadlines = [ends[0].nextDeadline(), ends[1].nextDeadline()].filter(
      (d): d is number => d !== undefined,
    );
    inFlight.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = Math.min(inFlight[0]?.at ?? Infinity, ...deadlines);
    if (next === Infinity) throw new Error(`stalled at ${now} ms with nothing scheduled`);
    now = Math.max(now, next);
    if (now > limitMs) throw new Error(`not finished after ${limitMs} ms of virtual time`);
    while (inFlight.length > 0 && (inFlight[0] as Arrival).at <= now) {
      const arrival = inFlight.shift() as Arrival;
      ends[arrival.to].onPacket(arrival.packet, now);
      for (const payload of ends[arrival.to].deliver()) delivered[arrival.to].push(label(payload));
    }
  }
  return {
    delivered,
    finishedAt: now,
    sendTimes,
    stats: [ends[0].stats(), ends[1].stats()],
    packetsOnWire,
  };
}

function expectedOrder(fromSide: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${fromSide}:${i}`);
}

/** Times a timer-driven resend may happen: after 2 s, 4 s, 8 s ... capped (per attempt). */
function earlyResends(times: Map<number, number[]>, initialMs: number, capMs: number): number {
  let early = 0;
  for (const sent of times.values()) {
    let timeout = initialMs;
    for (let k = 1; k < sent.length; k++) {
      if ((sent[k] as number) - (sent[k - 1] as number) < timeout) early += 1;
      timeout = Math.min(timeout * 2, capMs);
    }
  }
  return early;
}

const CLEAN: LinkProfile = {
  loss: 0,
  duplicate: 0,
  reorder: 0,
  delayMs: 25,
  jitterMs: 0,
  reorderMs: 0,
};

test('clean link: 200 messages each way, in order, no resends, done in a few seconds', () => {
  const r = simulate(1, CLEAN, 200);
  assert.deepEqual(r.delivered[1], expectedOrder(0, 200));
  assert.deepEqual(r.delivered[0], expectedOrder(1, 200));
  assert.equal(r.stats[0].retransmitted + r.stats[1].retransmitted, 0);
  assert.ok(r.finishedAt < 5_000, `finished at ${r.finishedAt} ms`);
});

for (const [loss, seed] of [
  [0.1, 11],
  [0.3, 12],
] as const) {
  test(`${loss * 100}% loss with duplication, reordering and jitter: exactly once, in order`, () => {
    const link: LinkProfile = {
      loss,
      duplicate: 0.1,
      reorder: 0.2,
      delayMs: 20,
      jitterMs: 30,
      reorderMs: 400,
    };
    const r = simulate(seed, link, 200);
    assert.deepEqual(r.delivered[1], expectedOrder(0, 200));
    assert.deepEqual(r.delivered[0], expectedOrder(1, 200));
    const resent = r.stats[0].retransmitted + r.stats[1].retransmitted;
    assert.ok(resent > 0, 'loss was repaired by resending');
    for (const side of [0, 1] as const) {
      assert.ok(
        earlyResends(r.sendTimes[side], 2_000, 60_000) <= r.stats[side].fastRetransmitted,
        'only fast retransmits beat the backoff timer',
      );
    }
    assert.ok(r.finishedAt < 30 * 60_000, `finished at ${r.finishedAt} ms`);
  });
}

test('retransmits back off: with fast retransmit off, no resend of an id ever comes early', () => {
  const link: LinkProfile = {
    loss: 0.3,
    duplicate: 0,
    reorder: 0.1,
    delayMs: 20,
    jitterMs: 10,
    reorderMs: 200,
  };
  const r = simulate(21, link, 100, { fastRetransmitAcks: 0 });
  assert.deepEqual(r.delivered[1], expectedOrder(0, 100));
  assert.equal(earlyResends(r.sendTimes[0], 2_000, 60_000), 0);
  assert.equal(earlyResends(r.sendTimes[1], 2_000, 60_000), 0);
  const maxAttempts = Math.max(
    ...[...r.sendTimes[0].values(), ...r.sendTimes[1].values()].map((t) => t.length),
  );
  assert.ok(maxAttempts >= 3, 'some id needed at least two resends, so backoff was exercised');
});

test('a burst of loss: a one-minute blackout is survived and the layer catches up', () => {
  // A link that is dead for the first 60 s, then clean.
  const ends = [new ReliableLayer(), new ReliableLayer()] as const;
  for (let i = 0; i < 20; i++) ends[0].queue(message(0, i));
  const got: string[] = [];
  let now = 0;
  const queue: { at: number; to: 0 | 1; packet: WirePacket }[] = [];
  let guard = 0;
  while (got.length < 20 || ends[0].unackedCount() > 0) {
    for (const side of [0, 1] as const) {
      for (let out = ends[side].poll(now); out !== undefined; out = ends[side].poll(now)) {
        if (now < 60_000) continue; // blackout
        const packet: WirePacket =
          out.kind === 'send'
            ? { packetId: out.packetId, acks: out.acks, payload: out.payload }
            : { acks: out.acks };
        queue.push({ at: now + 30, to: side === 0 ? 1 : 0, packet });
      }
    }
    queue.sort((a, b) => a.at - b.at);
    const d = [ends[0].nextDeadline(), ends[1].nextDeadline()].filter(
      (x): x is number => x !== undefined,
    );
    now = Math.max(now, Math.min(queue[0]?.at ?? Infinity, ...d));
    while (queue.length > 0 && (queue[0] as { at: number }).at <= now) {
      const a = queue.shift() as { at: number; to: 0 | 1; packet: WirePacket };
      ends[a.to].onPacket(a.packet, now);
      for (const p of ends[a.to].deliver()) got.push(label(p));
    }
    assert.ok(++guard < 10_000, 'no livelock');
  }
  assert.deepEqual(got, expectedOrder(0, 20));
  // Timers fired at 2, 6, 14, 30 and 62 s: the 62 s resend is the first to get through.
  assert.ok(now >= 62_000 && now < 130_000, `caught up at ${now} ms`);
});

test('property: any lossy, duplicating, reordering link delivers exactly once, in order', () => {
  fc.assert(
    fc.property(
      fc.record({
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        loss: fc.double({ min: 0, max: 0.35, noNaN: true }),
        duplicate: fc.double({ min: 0, max: 0.3, noNaN: true }),
        reorder: fc.double({ min: 0, max: 0.5, noNaN: true }),
        delayMs: fc.integer({ min: 1, max: 200 }),
        jitterMs: fc.integer({ min: 0, max: 200 }),
        reorderMs: fc.integer({ min: 0, max: 3_000 }),
        count: fc.integer({ min: 1, max: 60 }),
        startId: fc.constantFrom(0, 0xffff_fff0),
        sendWindow: fc.integer({ min: 1, max: 6 }),
      }),
      (p) => {
        const r = simulate(p.seed, p, p.count, {
          firstSendId: p.startId,
          firstReceiveId: p.startId,
          sendWindow: p.sendWindow,
        });
        assert.deepEqual(r.delivered[1], expectedOrder(0, p.count));
        assert.deepEqual(r.delivered[0], expectedOrder(1, p.count));
        for (const side of [0, 1] as const) {
          assert.ok(
            earlyResends(r.sendTimes[side], 2_000, 60_000) <= r.stats[side].fastRetransmitted,
          );
        }
      },
    ),
    { numRuns: 60 },
  );
});
