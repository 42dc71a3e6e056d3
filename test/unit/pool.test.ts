import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LeaseCursor } from '../../src/control/pool/lease-cursor.js';
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
    assert.equal(p.clientCount, 5n);
    assert.deepEqual(
      [...new LeaseCursor('100.64.0.0/29').candidates()],
      ['100.64.0.2', '100.64.0.3', '100.64.0.4', '100.64.0.5', '100.64.0.6'],
    );
    for (const outside of ['100.64.0.0', '100.64.0.1', '100.64.0.7', '192.0.2.1']) {
      assert.equal(p.isClientAddress(outside), false, `${outside} is not a client address`);
    }
  });

  it('works for IPv6 with canonical text', () => {
    const p = new AddressPool('fd00:64::/64');
    assert.equal(p.gateway, 'fd00:64::1');
    assert.equal(new LeaseCursor('fd00:64::/64').candidates().next().value, 'fd00:64::2');
    assert.equal(p.isClientAddress('FD00:64:0:0::abce'), true);
    assert.equal(p.isClientAddress('fd00:64::1'), false, 'the gateway address is not a client one');
    assert.equal(p.isClientAddress('fd00:65::2'), false);
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
