// A dropped packet's five fields as the data paths report them for audit sampling.
import { formatIpAddress } from '../../wire/ip/address.js';
import type { Flow } from './flow.js';

export interface DroppedFlow {
  proto: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

const PROTO_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  58: 'icmpv6',
};

export function droppedFlow(flow: Flow): DroppedFlow {
  return {
    proto: flow.proto,
    src: formatIpAddress(flow.src),
    dst: formatIpAddress(flow.dst),
    srcPort: flow.srcPort,
    dstPort: flow.dstPort,
  };
}

/** "tcp 100.64.0.2:40000 -> 192.0.2.10:8080" */
export function formatFlow(f: DroppedFlow): string {
  const proto = PROTO_NAMES[f.proto] ?? `proto ${f.proto}`;
  const at = (a: string, p: number): string =>
    p === 0 ? a : a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`;
  return `${proto} ${at(f.src, f.srcPort)} -> ${at(f.dst, f.dstPort)}`;
}
