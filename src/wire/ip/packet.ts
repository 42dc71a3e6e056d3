// Either IP version, told apart by the version nibble both headers start with.

import { IP_VERSION_SHIFT, IPV4_VERSION, IPV6_VERSION } from './constants.js';
import { parseIpv4Header, type Ipv4Header } from './ipv4.js';
import { parseIpv6Header, type Ipv6Header } from './ipv6.js';
import { rejected, type IpParseResult } from './parse-result.js';

export type IpHeader = Ipv4Header | Ipv6Header;

/** The version nibble of the first byte, or undefined for an empty packet. */
export function ipVersionOf(packet: Uint8Array): number | undefined {
  return packet.byteLength === 0 ? undefined : (packet[0] ?? 0) >> IP_VERSION_SHIFT;
}

export function parseIpHeader(packet: Uint8Array): IpParseResult<IpHeader> {
  switch (ipVersionOf(packet)) {
    case undefined:
      return rejected('empty');
    case IPV4_VERSION:
      return parseIpv4Header(packet);
    case IPV6_VERSION:
      return parseIpv6Header(packet);
    default:
      return rejected('bad-version');
  }
}
