import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AddressPool,
  addressToBigInt,
  bigIntToAddress,
  netmask4,
} from '../../src/control/pool/index.js';

describe('address pool', () => {
  it('keeps the gateway, network and broadcast addresses out of an IPv4 pool', () => {
    const p = new AddressPool('100.64.0.0/29');
    assert.equal(p.gateway, '100.64.0.1');
    const got = [
      p.allocate(),
      p.allocate(),
      p.allocate(),
      p.allocate(),
      p.allocate(),
      p.allocate(),
    ];
    assert.deepEqual(got, [
      '100.64.0.2',
      '100.64.0.3',
      '100.64.0.4',
      '100.64.0.5',
      '100.64.0.6',
      undefined,
    ]);
  });

  it('gives back a released address, and the preferred one when free', () => {
    const p = new AddressPool('100.64.0.0/24');
    assert.equal(p.allocate(), '100.64.0.2');
    assert.equal(p.allocate('100.64.0.77'), '100.64.0.77');
    assert.equal(
      p.allocate('100.64.0.77'),
      '100.64.0.3',
      'a taken preference falls back to the lowest free',
    );
    assert.equal(
      p.allocate('192.0.2.1'),
      '100.64.0.4',
      'an address outside the pool is never handed out',
    );
    p.release('100.64.0.2');
    assert.equal(p.allocate(), '100.64.0.2');
    assert.equal(p.take('100.64.0.1'), false, 'the gateway address cannot be taken');
  });

  it('works for IPv6 with canonical text', () => {
    const p = new AddressPool('fd00:64::/64');
    assert.equal(p.gateway, 'fd00:64::1');
    assert.equal(p.allocate(), 'fd00:64::2');
    assert.equal(p.allocate('fd00:64::abcd'), 'fd00:64::abcd');
    assert.equal(p.allocate('FD00:64:0:0::abce'), 'FD00:64:0:0::abce');
  });

  it('never hands out one address twice', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant('a'), fc.integer({ min: 0, max: 40 })), { maxLength: 200 }),
        (ops) => {
          const p = new AddressPool('100.64.0.0/26');
          const live = new Set<string>();
          for (const op of ops) {
            if (op === 'a') {
              const a = p.allocate();
              if (a === undefined) assert.equal(live.size, 61);
              else {
                assert.ok(!live.has(a));
                live.add(a);
              }
            } else {
              const a = `100.64.0.${op + 2}`;
              p.release(a);
              live.delete(a);
            }
          }
        },
      ),
    );
  });

  it('address text round-trips through numbers', () => {
    assert.equal(bigIntToAddress(addressToBigInt('2001:db8::1'), 6), '2001:db8::1');
    assert.equal(bigIntToAddress(addressToBigInt('2001:db8:0:1:0:0:0:1'), 6), '2001:db8:0:1::1');
    assert.equal(bigIntToAddress(addressToBigInt('::ffff:192.0.2.1'), 6), '::ffff:c000:201');
    assert.equal(bigIntToAddress(addressToBigInt('::'), 6), '::');
    assert.equal(netmask4(24), '255.255.255.0');
    assert.equal(netmask4(0), '0.0.0.0');
    assert.equal(netmask4(32), '255.255.255.255');
    fc.assert(
      fc.property(
        fc.ipV6(),
        (a) => addressToBigInt(bigIntToAddress(addressToBigInt(a), 6)) === addressToBigInt(a),
      ),
    );
    fc.assert(fc.property(fc.ipV4(), (a) => bigIntToAddress(addressToBigInt(a), 4) === a));
  });
});
