import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  finishChecksum,
  internetChecksum,
  ipv6PseudoHeaderSum,
  onesComplementAdd,
} from '../../src/wire/ip/checksum.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('RFC 1071 section 3 example: the words 0001 f203 f4f5 f6f7 sum to ddf2', () => {
  const data = hex('0001 f203 f4f5 f6f7');
  assert.equal(onesComplementAdd(data) % 0xffff, 0xddf2);
  assert.equal(internetChecksum(data), ~0xddf2 & 0xffff);
});

test('a captured IPv4 header checksum is b861 and the header then sums to zero', () => {
  // 192.168.0.1 -> 192.168.0.199, UDP, checksum field zeroed.
  const header = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  assert.equal(internetChecksum(header), 0xb861);
  header[10] = 0xb8;
  header[11] = 0x61;
  assert.equal(internetChecksum(header), 0);
});

test('an odd trailing byte counts as the high byte of a last word', () => {
  assert.equal(internetChecksum(hex('01')), ~0x0100 & 0xffff);
  assert.equal(internetChecksum(hex('0102 03')), ~(0x0102 + 0x0300) & 0xffff);
});

test('empty data and all-ones data have the well-known checksums', () => {
  assert.equal(internetChecksum(new Uint8Array(0)), 0xffff);
  assert.equal(internetChecksum(new Uint8Array(4).fill(0xff)), 0);
});

test('property: writing the checksum into the data makes the data verify', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 1500 }), (bytes) => {
      const data = Uint8Array.from(bytes);
      const even = data.byteLength & ~1;
      const body = data.subarray(0, even);
      body[0] = 0;
      body[1] = 0;
      const sum = internetChecksum(body);
      body[0] = sum >> 8;
      body[1] = sum & 0xff;
      assert.equal(internetChecksum(body), 0);
    }),
  );
});

test('property: the sum of pieces (even lengths) equals the sum of the whole', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }), (a, b) => {
      const first = a.subarray(0, a.byteLength & ~1);
      const whole = new Uint8Array(first.byteLength + b.byteLength);
      whole.set(first);
      whole.set(b, first.byteLength);
      assert.equal(
        finishChecksum(onesComplementAdd(b, onesComplementAdd(first))),
        internetChecksum(whole),
      );
    }),
  );
});

test('the IPv6 pseudo-header sum equals the sum of the 40-byte pseudo-header laid out', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.integer({ min: 0, max: 0xfffff }),
      fc.integer({ min: 0, max: 255 }),
      (src, dst, length, nextHeader) => {
        const pseudo = new Uint8Array(40);
        pseudo.set(src, 0);
        pseudo.set(dst, 16);
        new DataView(pseudo.buffer).setUint32(32, length);
        pseudo[39] = nextHeader;
        assert.equal(
          finishChecksum(ipv6PseudoHeaderSum(src, dst, length, nextHeader)),
          internetChecksum(pseudo),
        );
      },
    ),
  );
});
