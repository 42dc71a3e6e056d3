// Every subject, in the order the table lists them. The first OpenVPN one is the reference.
import type { Subject } from '../lib/types.js';
import { openvpnTcp, openvpnTcpChacha } from './openvpn-tcp.js';
import { ocserv } from './ocserv.js';
import { openvpnUdp, openvpnUdpChacha } from './openvpn-udp.js';
import { posternConnectUdp } from './postern-connect-udp.js';
import { posternOpenvpnTcp } from './postern-openvpn-tcp.js';
import { posternOpenvpnUdp, posternOpenvpnUdpChacha } from './postern-openvpn-udp.js';
import { strongswan } from './strongswan.js';
import { veth } from './veth.js';
import { wireguardGo } from './wireguard-go.js';

export const SUBJECTS: readonly Subject[] = [
  veth,
  openvpnUdp,
  openvpnUdpChacha,
  openvpnTcp,
  openvpnTcpChacha,
  posternOpenvpnUdp,
  posternOpenvpnUdpChacha,
  posternOpenvpnTcp,
  posternConnectUdp,
  wireguardGo,
  strongswan,
  ocserv,
];

/** Ratios are taken against these two. */
export const REFERENCE_ID = openvpnUdp.id;
export const CEILING_ID = veth.id;

/** What a full run measures: everything but the TCP ChaCha20 variant (it adds little). */
export const DEFAULT_IDS: readonly string[] = SUBJECTS.map((s) => s.id).filter(
  (id) => id !== openvpnTcpChacha.id,
);
/** What `--quick` measures when no `--only` is given: one protocol and the ceiling. */
export const QUICK_IDS: readonly string[] = [veth.id, posternOpenvpnUdp.id];
