// The lab's wiring as data: the `ip -batch` lines and sysctls that build it. Pure functions, so
// the plan can be read (and tested) apart from running it. Every veth pair is created straight
// into its two namespaces (`link add A netns X type veth peer name B netns Y`): nothing is ever
// configured in the root namespace, not even for a moment.
import type { HostName } from './addresses.js';
import { LAB_ADDRESSES as A, LAB_IFACES as I, LAB_NETWORKS as N } from './addresses.js';
import { V4_PREFIX_LEN, V6_PREFIX_LEN } from './addresses.js';

export type Namespaces = Readonly<Record<HostName, string>>;

export interface TopologyPlan {
  /** Root `ip -batch` lines that create the namespaces. */
  readonly createNamespaces: readonly string[];
  /** Per-namespace sysctls (`key=value`), set before any link exists so new links inherit them. */
  readonly sysctls: Readonly<Record<HostName, readonly string[]>>;
  /** Root `ip -batch` lines that create every veth pair directly inside its namespaces. */
  readonly links: readonly string[];
  /** Per-namespace `ip -n NS -batch` lines: links up, addresses, routes. */
  readonly config: Readonly<Record<HostName, readonly string[]>>;
}

const ROUTERS: ReadonlySet<HostName> = new Set<HostName>(['inet', 'gw']);

function v4(addr: string): string {
  return `${addr}/${V4_PREFIX_LEN}`;
}

function v6(addr: string): string {
  return `${addr}/${V6_PREFIX_LEN}`;
}

function veth(ns: Namespaces, a: HostName, aIf: string, b: HostName, bIf: string): string {
  return `link add ${aIf} netns ${ns[a]} type veth peer name ${bIf} netns ${ns[b]}`;
}

function sysctlsFor(host: HostName, ipv6: boolean): string[] {
  const out = ipv6
    ? // No duplicate address detection: v6 addresses are usable the moment they are added.
      ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']
    : ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
  if (ROUTERS.has(host)) {
    out.push('net.ipv4.ip_forward=1');
    if (ipv6) out.push('net.ipv6.conf.all.forwarding=1');
  }
  return out;
}

interface HostConfig {
  up: string[];
  /** [v4 address, v6 address, interface] */
  addrs: [string, string, string][];
  /** Default route via [v4, v6], or none (inet routes only its own connected networks). */
  gateway?: { v4: string; v6: string };
}

function hostConfig(host: HostName): HostConfig {
  switch (host) {
    case 'laptop':
      return {
        up: [I.laptop.toInet],
        addrs: [[A.laptop.v4, A.laptop.v6, I.laptop.toInet]],
        gateway: A.inet.laptopSide,
      };
    case 'inet':
      return {
        up: [I.inet.toLaptop, I.inet.toGw],
        addrs: [
          [A.inet.laptopSide.v4, A.inet.laptopSide.v6, I.inet.toLaptop],
          [A.inet.gwSide.v4, A.inet.gwSide.v6, I.inet.toGw],
        ],
      };
    case 'gw':
      return {
        up: [I.gw.toInet, I.gw.toOffice, I.gw.toBranch],
        addrs: [
          [A.gw.outside.v4, A.gw.outside.v6, I.gw.toInet],
          [A.gw.office.v4, A.gw.office.v6, I.gw.toOffice],
          [A.gw.branch.v4, A.gw.branch.v6, I.gw.toBranch],
        ],
        gateway: A.inet.gwSide,
      };
    case 'office':
      return {
        up: [I.office.toGw],
        addrs: [[A.office.v4, A.office.v6, I.office.toGw]],
        gateway: A.gw.office,
      };
    case 'branch':
      return {
        up: [I.branch.toGw, I.branch.lan, I.branch.lanPeer],
        addrs: [
          [A.branch.v4, A.branch.v6, I.branch.toGw],
          [A.branch.lan.v4, A.branch.lan.v6, I.branch.lan],
        ],
        gateway: A.gw.branch,
      };
  }
}

function configFor(host: HostName, ipv6: boolean): string[] {
  const c = hostConfig(host);
  const out = ['link set lo up', ...c.up.map((ifname) => `link set ${ifname} up`)];
  for (const [a4, a6, ifname] of c.addrs) {
    out.push(`addr add ${v4(a4)} dev ${ifname}`);
    if (ipv6) out.push(`addr add ${v6(a6)} dev ${ifname} nodad`);
  }
  if (c.gateway) {
    out.push(`route add default via ${c.gateway.v4}`);
    if (ipv6) out.push(`route add ::/0 via ${c.gateway.v6}`);
  }
  return out;
}

function perHost<T>(f: (host: HostName) => T): Record<HostName, T> {
  return {
    laptop: f('laptop'),
    inet: f('inet'),
    gw: f('gw'),
    office: f('office'),
    branch: f('branch'),
  };
}

export function planTopology(ns: Namespaces, ipv6: boolean): TopologyPlan {
  return {
    createNamespaces: Object.values(ns).map((name) => `netns add ${name}`),
    sysctls: perHost((h) => sysctlsFor(h, ipv6)),
    links: [
      veth(ns, 'laptop', I.laptop.toInet, 'inet', I.inet.toLaptop),
      veth(ns, 'inet', I.inet.toGw, 'gw', I.gw.toInet),
      veth(ns, 'gw', I.gw.toOffice, 'office', I.office.toGw),
      veth(ns, 'gw', I.gw.toBranch, 'branch', I.branch.toGw),
      veth(ns, 'branch', I.branch.lan, 'branch', I.branch.lanPeer),
    ],
    config: perHost((h) => configFor(h, ipv6)),
  };
}

/** Root `ip -batch` lines that delete the namespaces (run with `-force`: keep going on errors). */
export function planTeardown(names: readonly string[]): string[] {
  return names.map((name) => `netns del ${name}`);
}

/**
 * Lines for inet's `ip -batch` that make the office LAN routable from the Internet, as if it
 * used public addresses. Only the plain-routing test wants this: normally a VPN is the way in.
 */
export function planExposeOffice(ipv6: boolean): string[] {
  const out = [`route add ${N.office.v4} via ${A.gw.outside.v4}`];
  if (ipv6) out.push(`route add ${N.office.v6} via ${A.gw.outside.v6}`);
  return out;
}
