// The IPv4 header (RFC 791). Views, not copies: `src`, `dst`, `options` and `payload` are
// subarrays of the packet.

import { internetChecksum } from './checksum.js';
import {
  IP_VERSION_SHIFT,
  IPV4_ADDRESS_LENGTH,
  IPV4_FLAG_DONT_FRAGMENT,
  IPV4_FLAG_MORE_FRAGMENTS,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_FRAGMENT_OFFSET_UNIT,
  IPV4_IHL_UNIT,
  IPV4_MIN_HEADER_LENGTH,
  IPV4_MIN_IHL,
  IPV4_OFFSET_CHECKSUM,
  IPV4_OFFSET_DESTINATION,
  IPV4_OFFSET_FLAGS_FRAGMENT,
  IPV4_OFFSET_IDENTIFICATION,
  IPV4_OFFSET_PROTOCOL,
  IPV4_OFFSET_SOURCE,
  IPV4_OFFSET_TOS,
  IPV4_OFFSET_TOTAL_LENGTH,
  IPV4_OFFSET_TTL,
  IPV4_OFFSET_VERSION_IHL,
  IPV4_VERSION,
} from './constants.js';
import { parsed, rejected, type IpParseResult } from './parse-result.js';

const IHL_MASK = 0x0f;

export interface Ipv4Header {
  readonly version: 4;
  /** Header length in bytes (IHL x 4), options included. */
  readonly headerLength: number;
  readonly tos: number;
  /** Total Length field: header plus payload, in bytes. */
  readonly totalLength: number;
  readonly identification: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** Fragment offset in bytes. */
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly headerChecksum: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly options: Uint8Array;
  /** Bytes headerLength..totalLength; link padding after totalLength is not included. */
  readonly payload: Uint8Array;
}

export function parseIpv4Header(packet: Uint8Array): IpParseResult<Ipv4Header> {
  if (packet.byteLength === 0) return rejected('empty');
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const versionIhl = view.getUint8(IPV4_OFFSET_VERSION_IHL);
  if (versionIhl >> IP_VERSION_SHIFT !== IPV4_VERSION) return rejected('bad-version');
  if (packet.byteLength < IPV4_MIN_HEADER_LENGTH) return rejected('truncated');
  const ihl = versionIhl & IHL_MASK;
  if (ihl < IPV4_MIN_IHL) return rejected('bad-header-length');
  const headerLength = ihl * IPV4_IHL_UNIT;
  if (headerLength > packet.byteLength) return rejected('truncated');
  const totalLength = view.getUint16(IPV4_OFFSET_TOTAL_LENGTH);
  if (totalLength < headerLength) return rejected('bad-total-length');
  if (totalLength > packet.byteLength) return rejected('truncated');
  const flagsFragment = view.getUint16(IPV4_OFFSET_FLAGS_FRAGMENT);
  return parsed({
    version: IPV4_VERSION,
    headerLength,
    tos: view.getUint8(IPV4_OFFSET_TOS),
    totalLength,
    identification: view.getUint16(IPV4_OFFSET_IDENTIFICATION),
    dontFragment: (flagsFragment & IPV4_FLAG_DONT_FRAGMENT) !== 0,
    moreFragments: (flagsFragment & IPV4_FLAG_MORE_FRAGMENTS) !== 0,
    fragmentOffset: (flagsFragment & IPV4_FRAGMENT_OFFSET_MASK) * IPV4_FRAGMENT_OFFSET_UNIT,
    ttl: view.getUint8(IPV4_OFFSET_TTL),
    protocol: view.getUint8(IPV4_OFFSET_PROTOCOL),
    headerChecksum: view.getUint16(IPV4_OFFSET_CHECKSUM),
    src: packet.subarray(IPV4_OFFSET_SOURCE, IPV4_OFFSET_SOURCE + IPV4_ADDRESS_LENGTH),
    dst: packet.subarray(IPV4_OFFSET_DESTINATION, IPV4_OFFSET_DESTINATION + IPV4_ADDRESS_LENGTH),
    options: packet.subarray(IPV4_MIN_HEADER_LENGTH, headerLength),
    payload: packet.subarray(headerLength, totalLength),
  });
}

/** Whether the header checksum of a parsed packet verifies. */
export function ipv4HeaderChecksumValid(packet: Uint8Array, header: Ipv4Header): boolean {
  return internetChecksum(packet.subarray(0, header.headerLength)) === 0;
}

export interface Ipv4HeaderFields {
  readonly tos?: number;
  readonly identification?: number;
  readonly dontFragment?: boolean;
  readonly ttl: number;
  readonly protocol: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

/**
 * Writes a 20-byte header (no options, not a fragment) with its checksum at the start of
 * `out`, for a payload of `payloadLength` bytes. `out` must hold at least the header.
 */
export function writeIpv4Header(
  out: Uint8Array,
  fields: Ipv4HeaderFields,
  payloadLength: number,
): void {
  const view = new DataView(out.buffer, out.byteOffset, IPV4_MIN_HEADER_LENGTH);
  view.setUint8(IPV4_OFFSET_VERSION_IHL, (IPV4_VERSION << IP_VERSION_SHIFT) | IPV4_MIN_IHL);
  view.setUint8(IPV4_OFFSET_TOS, fields.tos ?? 0);
  view.setUint16(IPV4_OFFSET_TOTAL_LENGTH, IPV4_MIN_HEADER_LENGTH + payloadLength);
  view.setUint16(IPV4_OFFSET_IDENTIFICATION, fields.identification ?? 0);
  view.setUint16(IPV4_OFFSET_FLAGS_FRAGMENT, fields.dontFragment ? IPV4_FLAG_DONT_FRAGMENT : 0);
  view.setUint8(IPV4_OFFSET_TTL, fields.ttl);
  view.setUint8(IPV4_OFFSET_PROTOCOL, fields.protocol);
  view.setUint16(IPV4_OFFSET_CHECKSUM, 0);
  out.set(fields.src.subarray(0, IPV4_ADDRESS_LENGTH), IPV4_OFFSET_SOURCE);
  out.set(fields.dst.subarray(0, IPV4_ADDRESS_LENGTH), IPV4_OFFSET_DESTINATION);
  const header = out.subarray(0, IPV4_MIN_HEADER_LENGTH);
  view.setUint16(IPV4_OFFSET_CHECKSUM, internetChecksum(header));
}
