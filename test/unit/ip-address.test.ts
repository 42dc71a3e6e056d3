import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatIpAddress,
  ipAddressEquals,
  parseIpAddress,
  parseIpv4Address,
  parseIpv6Address,
} from '../../src/wire/ip/address.js';
import { cidrContains, formatCidr, parseCidr } from '../../src/wire/ip/cidr.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

test('IPv4 text parses to four bytes; leading zeros, out-of-range and short forms are refused', () => {
  assert.deepEqual(parseIpv4Address('100.64.0.1'), bytes(100, 64, 0, 1));
  assert.deepEqual(parseIpv4Address('0.0.0.0'), bytes(0, 0, 0, 0));
  for (const bad of [
    '100.64.0',
    '100.64.0.1.2',
    '100.64.0.256',
    '100.064.0.1',
    '1.2.3.-4',
    '',
    'a.b.c.d',
    '1.2.3.4 ',
  ]) {
    assert.equal(parseIpv4Address(bad), undefined, bad);
  }
});

test('IPv6 text: "::" forms, embedded IPv4, and malformed input', () => {
  const full = parseIpv6Address('fd00:64:0:0:0:0:0:1');
  assert.deepEqual(parseIpv6Address('fd00:64::1'), full);
  assert.deepEqual(parseIpv6Address('::'), new Uint8Array(16));
  assert.deepEqual(
    parseIpv6Address('::ffff:100.64.0.1')?.subarray(10),
    bytes(0xff, 0xff, 100, 64, 0, 1),
  );
  assert.deepEqual(parseIpv6Address('FD00::ABCD')?.subarray(14), bytes(0xab, 0xcd));
  for (const bad of [
    '1::2::3',
    ':1::',
    'fd00:64::1%eth0',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    '1:2:3:4:5:6:7:8::',
    '::1.2.3',
    'g::1',
  ]) {
    assert.equal(parseIpv6Address(bad), undefined, bad);
  }
});

test('IPv6 formatting follows RFC 5952', () => {
  const cases: [string, string][] = [
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group stays
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of equal runs
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['FD00:64:0:0:0:0:0:0', 'fd00:64::'],
  ];
  for (const [input, expected] of cases) {
    const parsed = parseIpv6Address(input);
    assert.ok(parsed, input);
    assert.equal(formatIpAddress(parsed), expected);
  }
  assert.equal(formatIpAddress(bytes(100, 64, 0, 2)), '100.64.0.2');
});

test('property: formatting then parsing any address gives the same bytes', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
      ),
      (address) => {
        const back = parseIpAddress(formatIpAddress(address));
        assert.ok(back && ipAddressEquals(back, address));
      },
    ),
  );
});

test('property: parsing arbitrary text never throws', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:./%x '.split('')) }),
      (text) => {
        const v = parseIpAddress(text);
        assert.ok(v === undefined || v.byteLength === 4 || v.byteLength === 16);
        parseCidr(text);
      },
    ),
  );
});

test('CIDR: interface addresses keep their host bits; containment checks only the prefix', () => {
  const v4 = parseCidr('100.64.0.1/24');
  assert.ok(v4);
  assert.equal(v4.version, 4);
  assert.equal(formatCidr(v4), '100.64.0.1/24');
  assert.ok(cidrContains(v4, bytes(100, 64, 0, 2)));
  assert.ok(cidrContains(v4, bytes(100, 64, 0, 255)));
  assert.ok(!cidrContains(v4, bytes(100, 64, 1, 2)));
  assert.ok(!cidrContains(v4, new Uint8Array(16)), 'other family');

  const odd = parseCidr('100.64.0.0/10');
  assert.ok(odd);
  assert.ok(cidrContains(odd, bytes(100, 127, 255, 255)));
  assert.ok(!cidrContains(odd, bytes(100, 128, 0, 0)));

  const v6 = parseCidr('fd00:64::1/64');
  assert.ok(v6);
  assert.equal(v6.version, 6);
  assert.ok(cidrContains(v6, parseIpv6Address('fd00:64::2') ?? new Uint8Array(16)));
  assert.ok(!cidrContains(v6, parseIpv6Address('fd00:65::2') ?? new Uint8Array(16)));

  const all = parseCidr('::/0');
  assert.ok(all && cidrContains(all, parseIpv6Address('2001:db8::1') ?? new Uint8Array(0)));

  for (const bad of [
    '100.64.0.1',
    '100.64.0.1/33',
    'fd00::/129',
    '100.64.0.1/',
    '100.64.0.1/024',
    '/24',
    'x/1',
  ]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});
