import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIpAddress } from '../../src/wire/ip/address.js';
import { internetChecksum, ipv6PseudoHeaderSum } from '../../src/wire/ip/checksum.js';
import { buildEchoReply, parseEchoRequest } from '../../src/wire/ip/icmp-echo.js';
import { parseIpv4Header, ipv4HeaderChecksumValid } from '../../src/wire/ip/ipv4.js';
import { parseIpv6Header } from '../../src/wire/ip/ipv6.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Echo requests as a Linux TUN device delivered them (see ip-header.test.ts), and an ICMPv6
// router solicitation the kernel sends into a fresh device.
const PING_V4 = hex(
  '4500002c cc434000 4001a60a 64400001 64400002' +
    '08003bf5354d0001 4eea086b00000000 2967060000000000',
);
const PING_V6 = hex(
  '600d6f2b 00183a40 fd000064000000000000000000000001 fd000064000000000000000000000002' +
    '8000105e35410001 4dea086b00000000 dbea0d0000000000',
);
const ROUTER_SOLICITATION = hex(
  '60000000 00083aff fe80000000000000 64f5248065c4b965 ff020000000000000000000000000002' +
    '8500d49700000000',
);

test('IPv4: the reply swaps the addresses, is type 0, keeps id/sequence/data, and verifies', () => {
  const reply = buildEchoReply(PING_V4);
  assert.ok(reply);
  assert.equal(reply.byteLength, PING_V4.byteLength);
  const r = parseIpv4Header(reply);
  assert.ok(r.ok);
  assert.equal(formatIpAddress(r.value.src), '100.64.0.2');
  assert.equal(formatIpAddress(r.value.dst), '100.64.0.1');
  assert.equal(r.value.protocol, 1);
  assert.equal(r.value.ttl, 64);
  assert.ok(ipv4HeaderChecksumValid(reply, r.value));
  const icmp = r.value.payload;
  assert.equal(icmp[0], 0, 'echo reply');
  assert.equal(icmp[1], 0, 'code');
  assert.deepEqual(icmp.subarray(4), PING_V4.subarray(24), 'identifier, sequence, data');
  assert.equal(internetChecksum(icmp), 0);
  // Only the type changed (8 -> 0), so the checksum grew by 0x0800: RFC 1624 in one line.
  assert.equal((icmp[2] ?? 0) * 256 + (icmp[3] ?? 0), 0x3bf5 + 0x0800);
});

test('IPv6: the reply is type 129 with a pseudo-header checksum over the swapped addresses', () => {
  const reply = buildEchoReply(PING_V6);
  assert.ok(reply);
  const r = parseIpv6Header(reply);
  assert.ok(r.ok);
  assert.equal(formatIpAddress(r.value.src), 'fd00:64::2');
  assert.equal(formatIpAddress(r.value.dst), 'fd00:64::1');
  assert.equal(r.value.nextHeader, 58);
  assert.equal(r.value.hopLimit, 64);
  const icmp = r.value.payload;
  assert.equal(icmp[0], 129);
  assert.deepEqual(icmp.subarray(4), PING_V6.subarray(44));
  const sum = ipv6PseudoHeaderSum(r.value.src, r.value.dst, icmp.byteLength, 58);
  assert.equal(internetChecksum(icmp, sum), 0);
  assert.equal((icmp[2] ?? 0) * 256 + (icmp[3] ?? 0), 0x105e - 0x0100, '128 -> 129');
});

test('a reply to a reply, or to anything that is not an echo request, is undefined', () => {
  const reply = buildEchoReply(PING_V4);
  assert.ok(reply);
  assert.equal(buildEchoReply(reply), undefined, 'echo reply');
  assert.ok(parseIpv6Header(ROUTER_SOLICITATION).ok, 'a well-formed packet...');
  assert.equal(buildEchoReply(ROUTER_SOLICITATION), undefined, '...but a router solicitation');
  assert.equal(parseEchoRequest(new Uint8Array(0)), undefined);
  assert.equal(buildEchoReply(PING_V4.subarray(0, 27)), undefined, 'ICMP header cut');
});

test('a request whose checksum does not verify gets no reply (flip any ICMP byte)', () => {
  for (const [packet, icmpStart] of [
    [PING_V4, 20],
    [PING_V6, 40],
  ] as const) {
    for (let i = icmpStart; i < packet.byteLength; i++) {
      const flipped = Uint8Array.from(packet);
      flipped[i] = (packet[i] ?? 0) ^ 0x10;
      assert.equal(buildEchoReply(flipped), undefined, `byte ${i}`);
    }
  }
  // IPv6 addresses are under the checksum too (the pseudo-header).
  const moved = Uint8Array.from(PING_V6);
  moved[39] = 3;
  assert.equal(buildEchoReply(moved), undefined);
});

test('an IPv4 fragment is not answered', () => {
  const fragment = Uint8Array.from(PING_V4);
  fragment[6] = 0x20; // More Fragments, DF cleared
  fragment[10] = 0;
  fragment[11] = 0;
  const h = internetChecksum(fragment.subarray(0, 20));
  fragment[10] = h >> 8;
  fragment[11] = h & 0xff;
  assert.equal(buildEchoReply(fragment), undefined);
});

test('property: arbitrary bytes never make the echo code throw', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 100 }),
      fc.constantFrom(0x45, 0x60, 0x46, 0x00),
      (bytes, first) => {
        const input = Uint8Array.from(bytes);
        if (input.byteLength > 0) input[0] = first;
        const reply = buildEchoReply(input);
        assert.ok(reply === undefined || reply.byteLength >= 28);
      },
    ),
    { numRuns: 2000 },
  );
});
