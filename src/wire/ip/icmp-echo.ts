// ICMP echo (RFC 792) and ICMPv6 echo (RFC 4443 section 4): recognise a request and build its
// reply. The reply carries the request's identifier, sequence number and data, comes from the
// address the request was sent to, and gets fresh checksums (ICMPv6: over the pseudo-header).

import { internetChecksum, ipv6PseudoHeaderSum } from './checksum.js';
import {
  DEFAULT_HOP_LIMIT,
  ICMP_ECHO_HEADER_LENGTH,
  ICMP_OFFSET_CHECKSUM,
  ICMP_OFFSET_CODE,
  ICMP_OFFSET_TYPE,
  ICMP_TYPE_ECHO_REPLY,
  ICMP_TYPE_ECHO_REQUEST,
  ICMPV6_TYPE_ECHO_REPLY,
  ICMPV6_TYPE_ECHO_REQUEST,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_ICMPV6,
  IPV4_MIN_HEADER_LENGTH,
  IPV6_HEADER_LENGTH,
} from './constants.js';
import { writeIpv4Header } from './ipv4.js';
import { writeIpv6Header } from './ipv6.js';
import { parseIpHeader, type IpHeader } from './packet.js';

const ECHO_CODE = 0;

export interface EchoRequest {
  readonly ip: IpHeader;
  /** The ICMP / ICMPv6 message: type, code, checksum, identifier, sequence, data. */
  readonly message: Uint8Array;
}

function icmpv6Checksum(src: Uint8Array, dst: Uint8Array, message: Uint8Array): number {
  return internetChecksum(
    message,
    ipv6PseudoHeaderSum(src, dst, message.byteLength, IP_PROTOCOL_ICMPV6),
  );
}

/**
 * The echo request in `packet`, if it is one: a whole (unfragmented) IPv4 packet carrying ICMP
 * type 8, or an IPv6 packet whose first next header is ICMPv6 type 128, with code 0 and a
 * checksum that verifies. Anything else, malformed or not, gives undefined.
 */
export function parseEchoRequest(packet: Uint8Array): EchoRequest | undefined {
  const parsed = parseIpHeader(packet);
  if (!parsed.ok) return undefined;
  const ip = parsed.value;
  const message = ip.payload;
  if (message.byteLength < ICMP_ECHO_HEADER_LENGTH) return undefined;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  if (view.getUint8(ICMP_OFFSET_CODE) !== ECHO_CODE) return undefined;
  const type = view.getUint8(ICMP_OFFSET_TYPE);
  if (ip.version === 4) {
    if (ip.protocol !== IP_PROTOCOL_ICMP || ip.moreFragments || ip.fragmentOffset !== 0) {
      return undefined;
    }
    if (type !== ICMP_TYPE_ECHO_REQUEST || internetChecksum(message) !== 0) return undefined;
  } else {
    if (ip.nextHeader !== IP_PROTOCOL_ICMPV6 || type !== ICMPV6_TYPE_ECHO_REQUEST) {
      return undefined;
    }
    if (icmpv6Checksum(ip.src, ip.dst, message) !== 0) return undefined;
  }
  return { ip, message };
}

/** The echo reply to an echo request (see parseEchoRequest), or undefined if it is not one. */
export function buildEchoReply(packet: Uint8Array): Uint8Array | undefined {
  const request = parseEchoRequest(packet);
  if (!request) return undefined;
  const { ip, message } = request;
  const headerLength = ip.version === 4 ? IPV4_MIN_HEADER_LENGTH : IPV6_HEADER_LENGTH;
  const reply = new Uint8Array(headerLength + message.byteLength);
  const replyMessage = reply.subarray(headerLength);
  replyMessage.set(message);
  const view = new DataView(replyMessage.buffer, replyMessage.byteOffset, replyMessage.byteLength);
  view.setUint16(ICMP_OFFSET_CHECKSUM, 0);
  if (ip.version === 4) {
    writeIpv4Header(
      reply,
      {
        tos: ip.tos,
        identification: ip.identification,
        ttl: DEFAULT_HOP_LIMIT,
        protocol: IP_PROTOCOL_ICMP,
        src: ip.dst,
        dst: ip.src,
      },
      message.byteLength,
    );
    view.setUint8(ICMP_OFFSET_TYPE, ICMP_TYPE_ECHO_REPLY);
    view.setUint16(ICMP_OFFSET_CHECKSUM, internetChecksum(replyMessage));
  } else {
    writeIpv6Header(
      reply,
      {
        trafficClass: ip.trafficClass,
        nextHeader: IP_PROTOCOL_ICMPV6,
        hopLimit: DEFAULT_HOP_LIMIT,
        src: ip.dst,
        dst: ip.src,
      },
      message.byteLength,
    );
    view.setUint8(ICMP_OFFSET_TYPE, ICMPV6_TYPE_ECHO_REPLY);
    view.setUint16(ICMP_OFFSET_CHECKSUM, icmpv6Checksum(ip.dst, ip.src, replyMessage));
  }
  return reply;
}
