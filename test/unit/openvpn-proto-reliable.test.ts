// The control-channel reliability layer, step by step: ids, windows, acks, backoff, wrap.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ReliableLayer,
  packetIdBefore,
  packetIdDistance,
} from '../../src/proto/openvpn/reliable.js';
import type { ReliableOutput } from '../../src/proto/openvpn/reliable.js';
import {
  DEFAULT_MAX_CONTROL_PAYLOAD,
  maxControlPayloadBytes,
  segmentBytes,
} from '../../src/proto/openvpn/control-payload.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Everything `poll` has to send at `now`. */
function drain(rel: ReliableLayer, now: number): ReliableOutput[] {
  const out: ReliableOutput[] = [];
  for (let o = rel.poll(now); o !== undefined; o = rel.poll(now)) out.push(o);
  return out;
}

function sends(outputs: ReliableOutput[]) {
  return outputs.filter((o) => o.kind === 'send');
}

test('transcript: three messages go out as ids 0,1,2 and come back acked in one ACK_V1', () => {
  const client = new ReliableLayer();
  const server = new ReliableLayer();
  client.queue(text('hello'), 7);
  client.queue(text('tls'));
  client.queue(text('bytes'));

  const out = drain(client, 0);
  assert.deepEqual(
    out.map((o) => (o.kind === 'send' ? [o.packetId, str(o.payload), o.opcode, o.attempt] : o)),
    [
      [0, 'hello', 7, 1],
      [1, 'tls', undefined, 1],
      [2, 'bytes', undefined, 1],
    ],
  );

  for (const o of sends(out)) {
    const r = server.onPacket({ packetId: o.packetId, acks: o.acks, payload: o.payload }, 10);
    assert.equal(r.received, 'new');
  }
  assert.deepEqual(server.deliver().map(str), ['hello', 'tls', 'bytes']);
  assert.deepEqual(server.deliver(), [], 'each payload is delivered once');

  const reply = drain(server, 10);
  assert.deepEqual(reply, [{ kind: 'ack', acks: [0, 1, 2] }]);
  const acked = client.onPacket({ acks: [0, 1, 2] }, 20);
  assert.deepEqual(acked, { received: 'ack-only', newlyAcked: [0, 1, 2] });
  assert.equal(client.isIdle(), true);
  assert.equal(client.nextDeadline(), undefined, 'nothing left to retransmit');
});

test('acks ride on the next CONTROL packet instead of a separate ACK_V1', () => {
  const a = new ReliableLayer();
  const b = new ReliableLayer();
  a.queue(text('client hello'));
  const [hello] = sends(drain(a, 0));
  assert.ok(hello);
  b.onPacket({ packetId: hello.packetId, acks: hello.acks, payload: hello.payload }, 5);
  b.queue(text('server hello'));
  const out = drain(b, 5);
  assert.equal(out.length, 1, 'no bare ack: it is piggy-backed');
  assert.deepEqual(out[0], {
    kind: 'send',
    packetId: 0,
    payload: text('server hello'),
    acks: [0],
    opcode: undefined,
    attempt: 1,
  });
});

test('send window: at most 6 ids past the oldest unacked one, even if later ones are acked', () => {
  const rel = new ReliableLayer();
  for (let i = 0; i < 10; i++) rel.queue(text(`m${i}`));
  assert.deepEqual(
    sends(drain(rel, 0)).map((o) => o.packetId),
    [0, 1, 2, 3, 4, 5],
  );
  rel.onPacket({ acks: [1, 2, 3, 4, 5] }, 100);
  assert.deepEqual(
    sends(drain(rel, 100)).map((o) => [o.packetId, o.attempt]),
    [[0, 2]],
    'id 0 still holds the window: only it goes out again (early, since later ids were acked)',
  );
  rel.onPacket({ acks: [0] }, 200);
  assert.deepEqual(
    sends(drain(rel, 200)).map((o) => o.packetId),
    [6, 7, 8, 9],
  );
});

test('retransmit backoff: 2 s, then doubling, capped at 60 s, stops once acked', () => {
  const rel = new ReliableLayer();
  rel.queue(text('lost'));
  const sentAt: number[] = [];
  let now = 0;
  while (sentAt.length < 9) {
    for (const o of drain(rel, now)) {
      assert.equal(o.kind, 'send');
      sentAt.push(now);
    }
    now = rel.nextDeadline() as number;
  }
  assert.deepEqual(
    sentAt,
    [0, 2_000, 6_000, 14_000, 30_000, 62_000, 122_000, 182_000, 242_000],
    'first resend after tls-timeout, then 4, 8, 16, 32 s, then at most 60 s apart',
  );
  assert.equal(rel.stats().retransmitted, 8);
  rel.onPacket({ acks: [0] }, now);
  assert.equal(rel.nextDeadline(), undefined);
  assert.deepEqual(drain(rel, now + 600_000), [], 'an acked id is never resent');
});

test('timeouts are parameters (tls-timeout 1 s, cap 4 s)', () => {
  const rel = new ReliableLayer({ initialTimeoutMs: 1_000, maxTimeoutMs: 4_000 });
  rel.queue(text('x'));
  const sentAt: number[] = [];
  let now = 0;
  while (sentAt.length < 6) {
    for (const _ of drain(rel, now)) sentAt.push(now);
    now = rel.nextDeadline() as number;
  }
  assert.deepEqual(sentAt, [0, 1_000, 3_000, 7_000, 11_000, 15_000]);
});

test('fast retransmit: three acks of later ids resend the missing one before its timer', () => {
  const rel = new ReliableLayer();
  for (let i = 0; i < 5; i++) rel.queue(text(`m${i}`));
  drain(rel, 0);
  rel.onPacket({ acks: [1] }, 100);
  rel.onPacket({ acks: [2] }, 110);
  assert.deepEqual(drain(rel, 110), [], 'two later acks are not enough');
  rel.onPacket({ acks: [3] }, 120);
  assert.equal(rel.nextDeadline(), 120, 'due now');
  const out = sends(drain(rel, 120));
  assert.deepEqual(
    out.map((o) => [o.packetId, o.attempt]),
    [[0, 2]],
  );
  assert.equal(rel.stats().fastRetransmitted, 1);
});

test('fast retransmit can be turned off', () => {
  const rel = new ReliableLayer({ fastRetransmitAcks: 0 });
  for (let i = 0; i < 5; i++) rel.queue(text(`m${i}`));
  drain(rel, 0);
  rel.onPacket({ acks: [1, 2, 3, 4] }, 100);
  assert.deepEqual(drain(rel, 100), []);
  assert.equal(rel.nextDeadline(), 2_000);
});

test('receiving: out-of-order ids wait for the gap, duplicates are re-acked, not re-delivered', () => {
  const rel = new ReliableLayer();
  assert.equal(rel.onPacket({ packetId: 2, acks: [], payload: text('c') }, 0).received, 'new');
  assert.equal(rel.onPacket({ packetId: 1, acks: [], payload: text('b') }, 0).received, 'new');
  assert.deepEqual(rel.deliver(), [], 'id 0 is missing');
  assert.equal(
    rel.onPacket({ packetId: 2, acks: [], payload: text('c') }, 0).received,
    'duplicate',
  );
  assert.equal(rel.onPacket({ packetId: 0, acks: [], payload: text('a') }, 0).received, 'new');
  assert.deepEqual(rel.deliver().map(str), ['a', 'b', 'c']);
  assert.deepEqual(drain(rel, 0), [{ kind: 'ack', acks: [2, 1, 0] }]);

  // The peer did not get our ack and resends id 1: ack it again, deliver nothing.
  assert.equal(
    rel.onPacket({ packetId: 1, acks: [], payload: text('b') }, 50).received,
    'duplicate',
  );
  assert.deepEqual(rel.deliver(), []);
  const [reAck] = drain(rel, 50);
  assert.ok(reAck?.kind === 'ack' && reAck.acks[0] === 1, 'the duplicate is acked first');
});

test('receiving: ids beyond the 12-packet window are dropped and not acked', () => {
  const rel = new ReliableLayer();
  assert.equal(rel.onPacket({ packetId: 11, acks: [], payload: text('x') }, 0).received, 'new');
  assert.equal(
    rel.onPacket({ packetId: 12, acks: [], payload: text('y') }, 0).received,
    'beyond-window',
  );
  assert.deepEqual(drain(rel, 0), [{ kind: 'ack', acks: [11] }]);
  assert.equal(rel.stats().beyondWindow, 1);
});

test('receive window moves only as payloads are taken (the peer is slowed, not overrun)', () => {
  const rel = new ReliableLayer({ receiveWindow: 2 });
  rel.onPacket({ packetId: 0, acks: [], payload: text('a') }, 0);
  rel.onPacket({ packetId: 1, acks: [], payload: text('b') }, 0);
  assert.equal(
    rel.onPacket({ packetId: 2, acks: [], payload: text('c') }, 0).received,
    'beyond-window',
  );
  assert.deepEqual(rel.deliver().map(str), ['a', 'b']);
  assert.equal(rel.onPacket({ packetId: 2, acks: [], payload: text('c') }, 0).received, 'new');
});

test('ack limits: 4 ride on a CONTROL packet, 8 fill an ACK_V1, both are parameters', () => {
  const rel = new ReliableLayer({ repeatRecentAcks: false });
  for (let i = 0; i < 10; i++) rel.onPacket({ packetId: i, acks: [], payload: text('p') }, 0);
  // The ack backlog holds 8 (RELIABLE_ACK_SIZE); ids 8 and 9 get acked when resent.
  rel.queue(text('reply'));
  const out = drain(rel, 0);
  assert.deepEqual(
    out.map((o) => o.acks),
    [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ],
  );
  assert.equal(out[1]?.kind, 'ack');

  const small = new ReliableLayer({ acksPerControlPacket: 1, acksPerAckPacket: 2 });
  for (let i = 0; i < 3; i++) small.onPacket({ packetId: i, acks: [], payload: text('p') }, 0);
  small.queue(text('reply'));
  const [first, second] = drain(small, 0);
  assert.deepEqual(first?.acks, [0]);
  assert.deepEqual(second, { kind: 'ack', acks: [1, 0] }, 'id 0 repeated in the free slot');
});

test('recently sent acks are repeated in free slots (OpenVPN 2.6 ack copies)', () => {
  const rel = new ReliableLayer();
  rel.onPacket({ packetId: 0, acks: [], payload: text('a') }, 0);
  assert.deepEqual(drain(rel, 0), [{ kind: 'ack', acks: [0] }]);
  rel.onPacket({ packetId: 1, acks: [], payload: text('b') }, 0);
  rel.queue(text('c'));
  const [send] = drain(rel, 0);
  assert.deepEqual(send?.acks, [1, 0], 'the new ack first, then the one already sent');
});

test('packet ids wrap from 2^32-1 to 0 on both sides', () => {
  const start = 0xffff_fffe;
  const a = new ReliableLayer({ firstSendId: start });
  const b = new ReliableLayer({ firstReceiveId: start });
  for (const s of ['w', 'x', 'y', 'z']) a.queue(text(s));
  const out = sends(drain(a, 0));
  assert.deepEqual(
    out.map((o) => o.packetId),
    [0xffff_fffe, 0xffff_ffff, 0, 1],
  );
  for (const o of [...out].reverse()) {
    b.onPacket({ packetId: o.packetId, acks: [], payload: o.payload }, 1);
  }
  assert.deepEqual(b.deliver().map(str), ['w', 'x', 'y', 'z']);
  // An id from before the wrap is now behind: a duplicate, acked again.
  assert.equal(
    b.onPacket({ packetId: 0xffff_ffff, acks: [], payload: text('x') }, 2).received,
    'duplicate',
  );
  a.onPacket({ acks: [0, 1] }, 3);
  a.onPacket({ acks: [0xffff_fffe, 0xffff_ffff] }, 3);
  assert.equal(a.isIdle(), true);
  assert.equal(packetIdBefore(0xffff_ffff, 0), true);
  assert.equal(packetIdDistance(1, 0xffff_ffff), 2);
});

test('queueBytes coalesces TLS output and cuts it into payloads of at most maxPayloadBytes', () => {
  const rel = new ReliableLayer({ maxPayloadBytes: 1000 });
  const record1 = new Uint8Array(1500).fill(1);
  const record2 = new Uint8Array(700).fill(2);
  rel.queueBytes(record1);
  rel.queueBytes(record2);
  rel.queue(text('message'), 4);
  const out = sends(drain(rel, 0));
  assert.deepEqual(
    out.map((o) => o.payload.length),
    [1000, 1000, 200, 7],
  );
  assert.deepEqual(out[1]?.payload.subarray(498, 502), Uint8Array.from([1, 1, 2, 2]));
  assert.equal(out[3]?.opcode, 4);
});

test('control payload budget: 1108 bytes for tls-mtu 1250 with tls-crypt (as OpenVPN 2.6)', () => {
  assert.equal(DEFAULT_MAX_CONTROL_PAYLOAD, 1108);
  assert.equal(maxControlPayloadBytes({ wrap: { kind: 'tls-auth', hmacBytes: 20 } }), 1136);
  assert.equal(maxControlPayloadBytes({ wrap: { kind: 'none' } }), 1164);
  assert.equal(maxControlPayloadBytes({ acks: 0 }), 1132);
  assert.equal(maxControlPayloadBytes({ tlsMtu: 100 }), 512 - 142, 'clamped to tls-mtu 512');
  assert.deepEqual(
    segmentBytes(new Uint8Array(2500), 1108).map((s) => s.length),
    [1108, 1108, 284],
  );
  assert.deepEqual(segmentBytes(new Uint8Array(0), 1108), []);
  assert.throws(() => segmentBytes(new Uint8Array(1), 0), { code: 'OVPN_BAD_PAYLOAD_SIZE' });
});

test('bad options are our own misuse and throw with a code', () => {
  assert.throws(() => new ReliableLayer({ sendWindow: 0 }), { code: 'OVPN_RELIABLE_BAD_OPTION' });
  assert.throws(() => new ReliableLayer({ firstSendId: 2 ** 32 }), {
    code: 'OVPN_RELIABLE_BAD_OPTION',
  });
});
