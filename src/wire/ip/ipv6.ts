// The IPv6 fixed header (RFC 8200). `nextHeader` is the first Next Header: extension headers
// are not walked here. Jumbograms (Payload Length 0 with a Jumbo option) are not supported: a
// zero Payload Length means an empty payload. Views, not copies.

import {
  IP_VERSION_SHIFT,
  IPV6_ADDRESS_LENGTH,
  IPV6_FLOW_LABEL_MASK,
  IPV6_HEADER_LENGTH,
  IPV6_OFFSET_DESTINATION,
  IPV6_OFFSET_HOP_LIMIT,
  IPV6_OFFSET_NEXT_HEADER,
  IPV6_OFFSET_PAYLOAD_LENGTH,
  IPV6_OFFSET_SOURCE,
  IPV6_OFFSET_VERSION_CLASS_FLOW,
  IPV6_TRAFFIC_CLASS_SHIFT,
  IPV6_VERSION,
} from './constants.js';
import { parsed, rejected, type IpParseResult } from './parse-result.js';

const VERSION_SHIFT_IN_WORD = 28;
const TRAFFIC_CLASS_MASK = 0xff;

export interface Ipv6Header {
  readonly version: 6;
  readonly headerLength: typeof IPV6_HEADER_LENGTH;
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** Bytes 40..40+payloadLength; anything after is not included. */
  readonly payload: Uint8Array;
}

export function parseIpv6Header(packet: Uint8Array): IpParseResult<Ipv6Header> {
  if (packet.byteLength === 0) return rejected('empty');
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (view.getUint8(0) >> IP_VERSION_SHIFT !== IPV6_VERSION) return rejected('bad-version');
  if (packet.byteLength < IPV6_HEADER_LENGTH) return rejected('truncated');
  const word = view.getUint32(IPV6_OFFSET_VERSION_CLASS_FLOW);
  const payloadLength = view.getUint16(IPV6_OFFSET_PAYLOAD_LENGTH);
  if (IPV6_HEADER_LENGTH + payloadLength > packet.byteLength) return rejected('truncated');
  return parsed({
    version: IPV6_VERSION,
    headerLength: IPV6_HEADER_LENGTH,
    trafficClass: (word >>> IPV6_TRAFFIC_CLASS_SHIFT) & TRAFFIC_CLASS_MASK,
    flowLabel: word & IPV6_FLOW_LABEL_MASK,
    payloadLength,
    nextHeader: view.getUint8(IPV6_OFFSET_NEXT_HEADER),
    hopLimit: view.getUint8(IPV6_OFFSET_HOP_LIMIT),
    src: packet.subarray(IPV6_OFFSET_SOURCE, IPV6_OFFSET_SOURCE + IPV6_ADDRESS_LENGTH),
    dst: packet.subarray(IPV6_OFFSET_DESTINATION, IPV6_OFFSET_DESTINATION + IPV6_ADDRESS_LENGTH),
    payload: packet.subarray(IPV6_HEADER_LENGTH, IPV6_HEADER_LENGTH + payloadLength),
  });
}

export interface Ipv6HeaderFields {
  readonly trafficClass?: number;
  readonly flowLabel?: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

/** Writes the 40-byte fixed header at the start of `out` for a payload of `payloadLength`. */
export function writeIpv6Header(
  out: Uint8Array,
  fields: Ipv6HeaderFields,
  payloadLength: number,
): void {
  const view = new DataView(out.buffer, out.byteOffset, IPV6_HEADER_LENGTH);
  const word =
    ((IPV6_VERSION << VERSION_SHIFT_IN_WORD) |
      (((fields.trafficClass ?? 0) & TRAFFIC_CLASS_MASK) << IPV6_TRAFFIC_CLASS_SHIFT) |
      ((fields.flowLabel ?? 0) & IPV6_FLOW_LABEL_MASK)) >>>
    0;
  view.setUint32(IPV6_OFFSET_VERSION_CLASS_FLOW, word);
  view.setUint16(IPV6_OFFSET_PAYLOAD_LENGTH, payloadLength);
  view.setUint8(IPV6_OFFSET_NEXT_HEADER, fields.nextHeader);
  view.setUint8(IPV6_OFFSET_HOP_LIMIT, fields.hopLimit);
  out.set(fields.src.subarray(0, IPV6_ADDRESS_LENGTH), IPV6_OFFSET_SOURCE);
  out.set(fields.dst.subarray(0, IPV6_ADDRESS_LENGTH), IPV6_OFFSET_DESTINATION);
}
