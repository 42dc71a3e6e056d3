// Keys for looking up the peer an inner IP packet belongs to, without allocating objects: the
// address bytes as a short string (4 characters for IPv4, 16 for IPv6, so they never collide).
import { parseIpAddress } from '../wire/ip/address.js';
import { IPV4_OFFSET_DESTINATION, IPV4_OFFSET_SOURCE } from '../wire/ip/constants.js';

const IPV4_HEADER_MIN = 20;
const IPV6_HEADER = 40;
const IPV6_OFFSET_SOURCE = 8;
const IPV6_OFFSET_DESTINATION = 24;

function bytesKey(p: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = at; i < at + len; i++) s += String.fromCharCode(p[i] as number);
  return s;
}

/** The key of the packet's source or destination address; undefined if it is not IP. */
export function packetAddressKey(packet: Uint8Array, which: 'src' | 'dst'): string | undefined {
  const version = (packet[0] ?? 0) >> 4;
  if (version === 4 && packet.length >= IPV4_HEADER_MIN) {
    return bytesKey(packet, which === 'src' ? IPV4_OFFSET_SOURCE : IPV4_OFFSET_DESTINATION, 4);
  }
  if (version === 6 && packet.length >= IPV6_HEADER) {
    return bytesKey(packet, which === 'src' ? IPV6_OFFSET_SOURCE : IPV6_OFFSET_DESTINATION, 16);
  }
  return undefined;
}

/** The key of an address written as text ("100.64.0.2", "fd00:64::2"). */
export function addressKey(text: string): string | undefined {
  const bytes = parseIpAddress(text);
  return bytes ? bytesKey(bytes, 0, bytes.length) : undefined;
}
