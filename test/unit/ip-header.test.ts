import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIpAddress } from '../../src/wire/ip/address.js';
import { IP_PROTOCOL_ICMP, IP_PROTOCOL_ICMPV6 } from '../../src/wire/ip/constants.js';
import {
  ipv4HeaderChecksumValid,
  parseIpv4Header,
  writeIpv4Header,
} from '../../src/wire/ip/ipv4.js';
import { parseIpv6Header, writeIpv6Header } from '../../src/wire/ip/ipv6.js';
import { ipVersionOf, parseIpHeader } from '../../src/wire/ip/packet.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Read from a Linux TUN device: `ping -s 16 100.64.0.2` and `ping -6 -s 16 fd00:64::2` sent
// from 100.64.0.1 / fd00:64::1.
const PING_V4 = hex(
  '4500002c cc434000 4001a60a 64400001 64400002' +
    '08003bf5354d0001 4eea086b00000000 2967060000000000',
);
const PING_V6 = hex(
  '600d6f2b 00183a40 fd000064000000000000000000000001 fd000064000000000000000000000002' +
    '8000105e35410001 4dea086b00000000 dbea0d0000000000',
);

test('a captured IPv4 ping parses: addresses, protocol, lengths, flags, checksum', () => {
  const r = parseIpv4Header(PING_V4);
  assert.ok(r.ok);
  const h = r.value;
  assert.equal(h.version, 4);
  assert.equal(h.headerLength, 20);
  assert.equal(h.totalLength, 44);
  assert.equal(h.identification, 0xcc43);
  assert.equal(h.dontFragment, true);
  assert.equal(h.moreFragments, false);
  assert.equal(h.fragmentOffset, 0);
  assert.equal(h.ttl, 64);
  assert.equal(h.protocol, IP_PROTOCOL_ICMP);
  assert.equal(formatIpAddress(h.src), '100.64.0.1');
  assert.equal(formatIpAddress(h.dst), '100.64.0.2');
  assert.equal(h.payload.byteLength, 24);
  assert.equal(h.options.byteLength, 0);
  assert.ok(ipv4HeaderChecksumValid(PING_V4, h));
  const flipped = withByte(PING_V4, 8, 63); // TTL, checksum not updated
  const f = parseIpv4Header(flipped);
  assert.ok(f.ok && !ipv4HeaderChecksumValid(flipped, f.value));
});

test('a captured IPv6 ping parses: addresses, next header, lengths, class and flow label', () => {
  const r = parseIpv6Header(PING_V6);
  assert.ok(r.ok);
  const h = r.value;
  assert.equal(h.version, 6);
  assert.equal(h.trafficClass, 0);
  assert.equal(h.flowLabel, 0xd6f2b);
  assert.equal(h.payloadLength, 24);
  assert.equal(h.nextHeader, IP_PROTOCOL_ICMPV6);
  assert.equal(h.hopLimit, 64);
  assert.equal(formatIpAddress(h.src), 'fd00:64::1');
  assert.equal(formatIpAddress(h.dst), 'fd00:64::2');
  assert.equal(h.payload.byteLength, 24);
});

test('parseIpHeader dispatches on the version nibble', () => {
  const v4 = parseIpHeader(PING_V4);
  const v6 = parseIpHeader(PING_V6);
  assert.ok(v4.ok && v4.value.version === 4);
  assert.ok(v6.ok && v6.value.version === 6);
  assert.deepEqual(parseIpHeader(new Uint8Array(0)), { ok: false, reason: 'empty' });
  assert.deepEqual(parseIpHeader(hex('50')), { ok: false, reason: 'bad-version' });
  assert.equal(ipVersionOf(new Uint8Array(0)), undefined);
  assert.equal(ipVersionOf(PING_V6), 6);
});

test('malformed IPv4 headers are refused with a reason', () => {
  const cases: [string, Uint8Array, string][] = [
    ['cut inside the header', PING_V4.subarray(0, 19), 'truncated'],
    ['cut inside the payload', PING_V4.subarray(0, 43), 'truncated'],
    ['IHL below 5', withByte(PING_V4, 0, 0x44), 'bad-header-length'],
    ['IHL beyond the bytes', withByte(PING_V4, 0, 0x4f), 'truncated'],
    ['total length below the header', withByte(withByte(PING_V4, 2, 0), 3, 19), 'bad-total-length'],
    ['version 6 nibble', withByte(PING_V4, 0, 0x65), 'bad-version'],
  ];
  for (const [name, packet, reason] of cases) {
    assert.deepEqual(parseIpv4Header(packet), { ok: false, reason }, name);
  }
  // Link padding after Total Length is not payload.
  const padded = new Uint8Array(PING_V4.byteLength + 6);
  padded.set(PING_V4);
  const r = parseIpv4Header(padded);
  assert.ok(r.ok && r.value.payload.byteLength === 24);
});

test('malformed IPv6 headers are refused with a reason', () => {
  assert.deepEqual(parseIpv6Header(PING_V6.subarray(0, 39)), { ok: false, reason: 'truncated' });
  assert.deepEqual(parseIpv6Header(PING_V6.subarray(0, 63)), { ok: false, reason: 'truncated' });
  assert.deepEqual(parseIpv6Header(PING_V4), { ok: false, reason: 'bad-version' });
});

function withByte(packet: Uint8Array, index: number, value: number): Uint8Array {
  const copy = Uint8Array.from(packet);
  copy[index] = value;
  return copy;
}

test('property: parsing random bytes never throws, and every view stays inside the input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, forceVersion) => {
      const input = Uint8Array.from(bytes);
      if (forceVersion && input.byteLength > 0) input[0] = ((input[0] ?? 0) & 0x1f) | 0x40;
      for (const parse of [parseIpHeader, parseIpv4Header, parseIpv6Header]) {
        const r = parse(input);
        if (!r.ok) continue;
        assert.equal(r.value.src.buffer, input.buffer);
        assert.ok(r.value.headerLength + r.value.payload.byteLength <= input.byteLength);
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: a written IPv4 header parses back to the same fields and verifies', () => {
  fc.assert(
    fc.property(
      fc.record({
        tos: fc.integer({ min: 0, max: 255 }),
        identification: fc.integer({ min: 0, max: 0xffff }),
        dontFragment: fc.boolean(),
        ttl: fc.integer({ min: 0, max: 255 }),
        protocol: fc.integer({ min: 0, max: 255 }),
        src: fc.uint8Array({ minLength: 4, maxLength: 4 }),
        dst: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      }),
      fc.uint8Array({ maxLength: 64 }),
      (fields, payload) => {
        const packet = new Uint8Array(20 + payload.byteLength);
        packet.set(payload, 20);
        writeIpv4Header(packet, fields, payload.byteLength);
        const r = parseIpv4Header(packet);
        assert.ok(r.ok);
        const { tos, identification, dontFragment, ttl, protocol } = r.value;
        assert.deepEqual(
          { tos, identification, dontFragment, ttl, protocol },
          {
            tos: fields.tos,
            identification: fields.identification,
            dontFragment: fields.dontFragment,
            ttl: fields.ttl,
            protocol: fields.protocol,
          },
        );
        assert.deepEqual(r.value.src, fields.src);
        assert.deepEqual(r.value.dst, fields.dst);
        assert.deepEqual(r.value.payload, payload);
        assert.ok(ipv4HeaderChecksumValid(packet, r.value));
      },
    ),
  );
});

test('property: a written IPv6 header parses back to the same fields', () => {
  fc.assert(
    fc.property(
      fc.record({
        trafficClass: fc.integer({ min: 0, max: 255 }),
        flowLabel: fc.integer({ min: 0, max: 0xfffff }),
        nextHeader: fc.integer({ min: 0, max: 255 }),
        hopLimit: fc.integer({ min: 0, max: 255 }),
        src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      }),
      fc.uint8Array({ maxLength: 64 }),
      (fields, payload) => {
        const packet = new Uint8Array(40 + payload.byteLength);
        packet.set(payload, 40);
        writeIpv6Header(packet, fields, payload.byteLength);
        const r = parseIpv6Header(packet);
        assert.ok(r.ok);
        const { trafficClass, flowLabel, nextHeader, hopLimit } = r.value;
        assert.deepEqual(
          { trafficClass, flowLabel, nextHeader, hopLimit },
          {
            trafficClass: fields.trafficClass,
            flowLabel: fields.flowLabel,
            nextHeader: fields.nextHeader,
            hopLimit: fields.hopLimit,
          },
        );
        assert.deepEqual(r.value.src, fields.src);
        assert.deepEqual(r.value.dst, fields.dst);
        assert.deepEqual(r.value.payload, payload);
      },
    ),
  );
});
