// What a client is told to configure: its addresses from the pools, the routes of its groups
// (split tunnel unless a group says full-tunnel), DNS and keepalive, from postern.yaml.
import type { Config } from '../../control/config/index.js';
import { AddressPool, bigIntToAddress, netmask4, parseNetwork } from '../../control/pool/index.js';
import type { PushConfig, PushRoute, PushRouteIpv6 } from '../../proto/openvpn/push-reply.js';

export interface ClientAddresses {
  v4: string | undefined;
  v6: string | undefined;
}

export function groupsOf(config: Config, groups: string[]): Config['groups'][string][] {
  const names = groups.length ? groups : ['default'];
  return names
    .map((g) => config.groups[g])
    .filter((g): g is Config['groups'][string] => g !== undefined);
}

export function pushConfigFor(config: Config, groups: string[], addr: ClientAddresses): PushConfig {
  const pool4 = new AddressPool(config.pools.ipv4);
  const pool6 = new AddressPool(config.pools.ipv6);
  const routes: PushRoute[] = [];
  const routes6: PushRouteIpv6[] = [];
  const seen = new Set<string>();
  let fullTunnel = false;
  for (const g of groupsOf(config, groups)) {
    fullTunnel ||= g['full-tunnel'];
    for (const r of g.routes) {
      if (seen.has(r)) continue;
      seen.add(r);
      const net = parseNetwork(r);
      if (net.family === 4)
        routes.push({ network: bigIntToAddress(net.base, 4), netmask: netmask4(net.prefix) });
      else routes6.push({ network: `${bigIntToAddress(net.base, 6)}/${net.prefix}` });
    }
  }
  return {
    topology: 'subnet',
    routeGateway: pool4.gateway,
    ...(addr.v4 ? { ifconfig: { local: addr.v4, netmask: netmask4(pool4.prefix) } } : {}),
    ...(addr.v6
      ? { ifconfigIpv6: { address: addr.v6, prefixLength: pool6.prefix, gateway: pool6.gateway } }
      : {}),
    routes,
    routesIpv6: routes6,
    ...(config.dns.length ? { dns: config.dns } : {}),
    ...(fullTunnel ? { redirectGateway: ['def1', 'ipv6', 'bypass-dhcp'] } : {}),
    ping: config.openvpn.keepalive.ping,
    pingRestart: config.openvpn.keepalive.restart,
  };
}
