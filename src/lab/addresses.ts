// The lab's addresses and interface names. Documentation and benchmark ranges only
// (RFC 5737, RFC 2544, RFC 3849), so nothing here can ever collide with a real network.
//
//   laptop ──198.51.100/24── inet ──203.0.113/24── gw ──192.0.2/24── office
//                                                   └──198.18.0/24── branch (LAN 198.18.1/24)

export type HostName = 'laptop' | 'inet' | 'gw' | 'office' | 'branch';
export const HOSTS: readonly HostName[] = ['laptop', 'inet', 'gw', 'office', 'branch'];

export interface DualStack {
  readonly v4: string;
  readonly v6: string;
}

/** Prefix lengths of every lab link. */
export const V4_PREFIX_LEN = 24;
export const V6_PREFIX_LEN = 64;

export const LAB_NETWORKS = {
  /** laptop–inet: the laptop's ISP, public. */
  laptopInet: { v4: '198.51.100.0/24', v6: '2001:db8:51::/64' },
  /** inet–gw: the gateway's uplink, public. */
  inetGw: { v4: '203.0.113.0/24', v6: '2001:db8:113::/64' },
  /** gw–office: the office LAN, private (inet has no route to it). */
  office: { v4: '192.0.2.0/24', v6: '2001:db8:2::/64' },
  /** gw–branch: the link to the branch gateway. */
  gwBranch: { v4: '198.18.0.0/24', v6: '2001:db8:18::/64' },
  /** The LAN behind the branch gateway, private. */
  branchLan: { v4: '198.18.1.0/24', v6: '2001:db8:18:1::/64' },
} as const satisfies Record<string, DualStack>;

export const LAB_ADDRESSES = {
  laptop: { v4: '198.51.100.2', v6: '2001:db8:51::2' },
  inet: {
    laptopSide: { v4: '198.51.100.1', v6: '2001:db8:51::1' },
    gwSide: { v4: '203.0.113.1', v6: '2001:db8:113::1' },
  },
  gw: {
    /** The gateway's public address: what clients connect to. */
    outside: { v4: '203.0.113.2', v6: '2001:db8:113::2' },
    office: { v4: '192.0.2.1', v6: '2001:db8:2::1' },
    branch: { v4: '198.18.0.1', v6: '2001:db8:18::1' },
  },
  office: { v4: '192.0.2.10', v6: '2001:db8:2::10' },
  branch: {
    v4: '198.18.0.2',
    v6: '2001:db8:18::2',
    lan: { v4: '198.18.1.1', v6: '2001:db8:18:1::1' },
  },
  net: LAB_NETWORKS,
} as const;

export type LabAddresses = typeof LAB_ADDRESSES;

/** The address that stands for a host when one is asked for by name (e.g. `ping('gw')`). */
export const PRIMARY_ADDRESS: Readonly<Record<HostName, DualStack>> = {
  laptop: LAB_ADDRESSES.laptop,
  inet: LAB_ADDRESSES.inet.laptopSide,
  gw: LAB_ADDRESSES.gw.outside,
  office: LAB_ADDRESSES.office,
  branch: LAB_ADDRESSES.branch,
};

/** Interface names, the same in every lab, each read inside its own namespace. */
export const LAB_IFACES = {
  laptop: { toInet: 'to-inet' },
  inet: { toLaptop: 'to-laptop', toGw: 'to-gw' },
  gw: { toInet: 'to-inet', toOffice: 'to-office', toBranch: 'to-branch' },
  office: { toGw: 'to-gw' },
  // The kernel here has no `dummy` driver, so the branch LAN is one end of a veth pair whose
  // other end (`lan0-peer`) stays inside branch too: both ends up, so the LAN has carrier.
  branch: { toGw: 'to-gw', lan: 'lan0', lanPeer: 'lan0-peer' },
} as const;

/** The interface a capture on a host watches when none is named. */
export const DEFAULT_CAPTURE_IFACE: Readonly<Record<HostName, string>> = {
  laptop: LAB_IFACES.laptop.toInet,
  inet: LAB_IFACES.inet.toLaptop,
  gw: LAB_IFACES.gw.toInet,
  office: LAB_IFACES.office.toGw,
  branch: LAB_IFACES.branch.toGw,
};
