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

/** What a group set's clients all get; only their addresses differ. */
interface GroupPush {
  routeGateway: string;
  netmask4: string;
  prefix6: number;
  gateway6: string;
  routes: PushRoute[];
  routes6: PushRouteIpv6[];
  fullTunnel: boolean;
}

/** Per loaded postern.yaml (a reload makes a new Config), per group set. */
const groupPushes = new WeakMap<Config, Map<string, GroupPush>>();

function groupPushFor(config: Config, groups: string[]): GroupPush {
  let byGroups = groupPushes.get(config);
  if (byGroups === undefined) groupPushes.set(config, (byGroups = new Map()));
  const key = groups.join('\n');
  let push = byGroups.get(key);
  if (push === undefined) byGroups.set(key, (push = buildGroupPush(config, groups)));
  return push;
}

function buildGroupPush(config: Config, groups: string[]): GroupPush {
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
    routeGateway: pool4.gateway,
    netmask4: netmask4(pool4.prefix),
    prefix6: pool6.prefix,
    gateway6: pool6.gateway,
    routes,
    routes6,
    fullTunnel,
  };
}

/** The PUSH_REPLY settings of a client in `groups` with these addresses. */
export function pushConfigFor(config: Config, groups: string[], addr: ClientAddresses): PushConfig {
  const g = groupPushFor(config, groups);
  return {
    topology: 'subnet',
    routeGateway: g.routeGateway,
    ...(addr.v4 ? { ifconfig: { local: addr.v4, netmask: g.netmask4 } } : {}),
    ...(addr.v6
      ? { ifconfigIpv6: { address: addr.v6, prefixLength: g.prefix6, gateway: g.gateway6 } }
      : {}),
    routes: g.routes.map((r) => ({ ...r })),
    routesIpv6: g.routes6.map((r) => ({ ...r })),
    ...(config.dns.length ? { dns: config.dns } : {}),
    ...(g.fullTunnel ? { redirectGateway: ['def1', 'ipv6', 'bypass-dhcp'] } : {}),
    ping: config.openvpn.keepalive.ping,
    pingRestart: config.openvpn.keepalive.restart,
  };
}
