// The five fields of an inner IP packet that policy looks at, read without copying: family,
// protocol, source and destination address, and ports for TCP and UDP. Sans-I/O.
//
// Ports are read only from a first fragment whose transport header is in the packet; otherwise
// they are 0, which no port rule matches (a port rule must not admit what it cannot see).
// IPv6 extension headers are not walked: the protocol is then the first next-header value.
import { IpProto } from './allow-rule.js';

export interface Flow {
  family: 4 | 6;
  proto: number;
  /** 4 or 16 bytes, views into the packet. */
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
}

const IPV4_HEADER_MIN = 20;
const IPV6_HEADER = 40;
const IPV4_PROTO_AT = 9;
const IPV4_FRAGMENT_AT = 6;
const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;
const IPV4_SRC_AT = 12;
const IPV4_DST_AT = 16;
const IPV6_NEXT_HEADER_AT = 6;
const IPV6_SRC_AT = 8;
const IPV6_DST_AT = 24;
const PORTS_SIZE = 4;
const IHL_MASK = 0x0f;
const IHL_UNIT = 4;

function hasPorts(proto: number): boolean {
  return proto === IpProto.TCP || proto === IpProto.UDP;
}

/** The flow of an IPv4 or IPv6 packet; undefined if it is neither or too short. */
export function readFlow(packet: Uint8Array): Flow | undefined {
  const version = (packet[0] ?? 0) >> 4;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (version === 4 && packet.length >= IPV4_HEADER_MIN) {
    const headerLength = ((packet[0] ?? 0) & IHL_MASK) * IHL_UNIT;
    const proto = packet[IPV4_PROTO_AT] ?? 0;
    const firstFragment = (view.getUint16(IPV4_FRAGMENT_AT) & IPV4_FRAGMENT_OFFSET_MASK) === 0;
    const ports =
      firstFragment &&
      hasPorts(proto) &&
      headerLength >= IPV4_HEADER_MIN &&
      packet.length >= headerLength + PORTS_SIZE;
    return {
      family: 4,
      proto,
      src: packet.subarray(IPV4_SRC_AT, IPV4_SRC_AT + 4),
      dst: packet.subarray(IPV4_DST_AT, IPV4_DST_AT + 4),
      srcPort: ports ? view.getUint16(headerLength) : 0,
      dstPort: ports ? view.getUint16(headerLength + 2) : 0,
    };
  }
  if (version === 6 && packet.length >= IPV6_HEADER) {
    const proto = packet[IPV6_NEXT_HEADER_AT] ?? 0;
    const ports = hasPorts(proto) && packet.length >= IPV6_HEADER + PORTS_SIZE;
    return {
      family: 6,
      proto,
      src: packet.subarray(IPV6_SRC_AT, IPV6_SRC_AT + 16),
      dst: packet.subarray(IPV6_DST_AT, IPV6_DST_AT + 16),
      srcPort: ports ? view.getUint16(IPV6_HEADER) : 0,
      dstPort: ports ? view.getUint16(IPV6_HEADER + 2) : 0,
    };
  }
  return undefined;
}
