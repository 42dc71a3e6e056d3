// What a client is told to configure (src/gateway/openvpn/push-config.ts): its addresses, its
// groups' routes (each once), full tunnel when a group says so; the same answer every time for
// the same groups, and the new file's routes right after a reload.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, renderConfig } from '../../src/control/config/index.js';
import type { Config } from '../../src/control/config/index.js';
import { pushConfigFor } from '../../src/gateway/openvpn/push-config.js';

function configWith(groups: string): Config {
  const base = renderConfig({
    name: 'x',
    endpoint: 'vpn.example.com',
    routes: [],
    dns: ['192.0.2.53'],
    pool4: '100.64.0.0/24',
    pool6: 'fd00:64::/64',
  });
  return parseConfig(base.replace(/\ngroups:[\s\S]*$/, `\n${groups}`), 'postern.yaml');
}

const GROUPS = `groups:
  default:
    routes: [192.0.2.0/24]
  staff:
    routes: [192.0.2.0/24, 198.51.100.0/25, 2001:db8:2::/64]
  travellers:
    routes: [10.1.0.0/16]
    full-tunnel: true
`;

const ADDRESSES = { v4: '100.64.0.7', v6: 'fd00:64::7' };

describe('push config', () => {
  it("a client's addresses and its groups' routes, each route once", () => {
    const push = pushConfigFor(configWith(GROUPS), ['staff', 'default'], ADDRESSES);
    assert.deepEqual(push.ifconfig, { local: '100.64.0.7', netmask: '255.255.255.0' });
    assert.deepEqual(push.ifconfigIpv6, {
      address: 'fd00:64::7',
      prefixLength: 64,
      gateway: 'fd00:64::1',
    });
    assert.equal(push.routeGateway, '100.64.0.1');
    assert.deepEqual(push.routes, [
      { network: '192.0.2.0', netmask: '255.255.255.0' },
      { network: '198.51.100.0', netmask: '255.255.255.128' },
    ]);
    assert.deepEqual(push.routesIpv6, [{ network: '2001:db8:2::/64' }]);
    assert.deepEqual(push.dns, ['192.0.2.53']);
    assert.equal(push.redirectGateway, undefined);
  });

  it('no groups means the default group; a full-tunnel group redirects everything', () => {
    const config = configWith(GROUPS);
    assert.deepEqual(pushConfigFor(config, [], ADDRESSES).routes, [
      { network: '192.0.2.0', netmask: '255.255.255.0' },
    ]);
    const travelling = pushConfigFor(config, ['travellers'], { v4: '100.64.0.9', v6: undefined });
    assert.deepEqual(travelling.redirectGateway, ['def1', 'ipv6', 'bypass-dhcp']);
    assert.equal(travelling.ifconfigIpv6, undefined);
    assert.deepEqual(travelling.ifconfig, { local: '100.64.0.9', netmask: '255.255.255.0' });
  });

  it('the same groups give the same routes to every client, unchanged by what one did', () => {
    const config = configWith(GROUPS);
    const first = pushConfigFor(config, ['staff'], ADDRESSES);
    first.routes?.push({ network: '203.0.113.0', netmask: '255.255.255.0' });
    (first.routes?.[0] as { network: string }).network = '0.0.0.0';
    const second = pushConfigFor(config, ['staff'], { v4: '100.64.0.8', v6: 'fd00:64::8' });
    assert.deepEqual(second.routes, [
      { network: '192.0.2.0', netmask: '255.255.255.0' },
      { network: '198.51.100.0', netmask: '255.255.255.128' },
    ]);
    assert.equal(second.ifconfig?.local, '100.64.0.8');
  });

  it('a reloaded file is what the next client gets', () => {
    const before = pushConfigFor(configWith(GROUPS), ['staff'], ADDRESSES);
    const after = pushConfigFor(
      configWith(GROUPS.replace('198.51.100.0/25', '198.51.100.128/25')),
      ['staff'],
      ADDRESSES,
    );
    assert.equal(before.routes?.[1]?.network, '198.51.100.0');
    assert.equal(after.routes?.[1]?.network, '198.51.100.128');
  });
});
