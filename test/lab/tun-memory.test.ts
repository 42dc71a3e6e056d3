// The in-memory TUN twin, driven by the same echo responder the namespace lab runs over the
// Linux device: what the Linux test proves with ping, this shows as a transcript of packets.
// Needs no privileges.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MemoryTun } from '../../src/io/tun/memory-tun.js';
import { formatIpAddress } from '../../src/wire/ip/address.js';
import { parseCidr, type Cidr } from '../../src/wire/ip/cidr.js';
import { parseIpHeader } from '../../src/wire/ip/packet.js';
import { GARBAGE_BATCH, startEchoResponder } from '../fixtures/tun-echo-responder.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// What `ping 100.64.0.2` and `ping -6 fd00:64::2` put into a Linux TUN device.
const PING_V4 = hex(
  '4500002c cc434000 4001a60a 64400001 64400002' +
    '08003bf5354d0001 4eea086b00000000 2967060000000000',
);
const PING_V6 = hex(
  '600d6f2b 00183a40 fd000064000000000000000000000001 fd000064000000000000000000000002' +
    '8000105e35410001 4dea086b00000000 dbea0d0000000000',
);
const SUBNETS = ['100.64.0.1/24', 'fd00:64::1/64'].map((c) => parseCidr(c)) as Cidr[];

function endpoints(packet: Uint8Array | undefined): string {
  assert.ok(packet);
  const r = parseIpHeader(packet);
  assert.ok(r.ok);
  return `${formatIpAddress(r.value.src)} -> ${formatIpAddress(r.value.dst)}`;
}

test('pings injected into the memory TUN come back as replies written to it', () => {
  const tun = new MemoryTun({ name: 'pst0' });
  const counts = startEchoResponder(tun, SUBNETS);
  tun.inject([PING_V4, PING_V6]);
  const written = tun.takeWritten();
  assert.deepEqual(written.map(endpoints), [
    '100.64.0.2 -> 100.64.0.1',
    'fd00:64::2 -> fd00:64::1',
  ]);
  assert.deepEqual(counts, {
    packetsSeen: 2,
    echoRequestsV4: 1,
    echoRequestsV6: 1,
    repliesWritten: 2,
    ignored: 0,
  });
  assert.deepEqual(tun.stats(), {
    packetsRead: 2,
    batchesRead: 1,
    readErrors: 0,
    packetsWritten: 2,
    writeDropped: 0,
  });
  assert.deepEqual(tun.written, [], 'takeWritten empties the record');
});

test("a ping to the responder's own address is not answered (the kernel does that)", () => {
  const tun = new MemoryTun();
  const counts = startEchoResponder(tun, [parseCidr('100.64.0.2/24') as Cidr]);
  tun.inject([PING_V4]);
  assert.equal(tun.written.length, 0);
  assert.equal(counts.ignored, 1);
});

test('packets injected before anyone reads are queued, then delivered as one batch', () => {
  const tun = new MemoryTun();
  tun.inject([PING_V4]);
  tun.inject([PING_V6]);
  const batches: Uint8Array[][] = [];
  tun.onPackets((packets) => batches.push(packets));
  assert.equal(batches.length, 1);
  assert.deepEqual(batches[0], [PING_V4, PING_V6]);
  assert.notEqual(batches[0]?.[0], PING_V4, 'the consumer owns a copy');
});

test('writes the kernel would refuse are dropped and counted, as on the Linux device', async () => {
  const tun = new MemoryTun();
  const seen: number[] = [];
  tun.onWrite((packets) => seen.push(packets.length));
  tun.write([...GARBAGE_BATCH, PING_V4]);
  assert.equal(tun.stats().writeDropped, GARBAGE_BATCH.length);
  assert.equal(tun.stats().packetsWritten, 1);
  assert.deepEqual(seen, [1]);
  await tun.close();
  tun.write([PING_V4]);
  tun.inject([PING_V4]);
  assert.equal(tun.stats().writeDropped, GARBAGE_BATCH.length + 1, 'writes after close drop');
  assert.equal(tun.stats().packetsRead, 0);
  assert.ok(tun.closed);
});
