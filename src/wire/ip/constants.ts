// IP, ICMP and ICMPv6 constants (RFC 791, RFC 8200, RFC 792, RFC 4443), in one place.

// IPv4 header (RFC 791 section 3.1):
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  |Version|  IHL  |Type of Service|          Total Length         |
//  |         Identification        |Flags|      Fragment Offset    |
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  |                       Source Address                          |
//  |                    Destination Address                        |
//  |                    Options                    |    Padding    |
export const IPV4_VERSION = 4;
export const IPV4_MIN_HEADER_LENGTH = 20;
export const IPV4_MAX_TOTAL_LENGTH = 0xffff;
export const IPV4_ADDRESS_LENGTH = 4;
export const IPV4_IHL_UNIT = 4; // IHL counts 32-bit words
export const IPV4_MIN_IHL = 5;
export const IPV4_OFFSET_VERSION_IHL = 0;
export const IPV4_OFFSET_TOS = 1;
export const IPV4_OFFSET_TOTAL_LENGTH = 2;
export const IPV4_OFFSET_IDENTIFICATION = 4;
export const IPV4_OFFSET_FLAGS_FRAGMENT = 6;
export const IPV4_OFFSET_TTL = 8;
export const IPV4_OFFSET_PROTOCOL = 9;
export const IPV4_OFFSET_CHECKSUM = 10;
export const IPV4_OFFSET_SOURCE = 12;
export const IPV4_OFFSET_DESTINATION = 16;
export const IPV4_FLAG_DONT_FRAGMENT = 0x4000;
export const IPV4_FLAG_MORE_FRAGMENTS = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;
export const IPV4_FRAGMENT_OFFSET_UNIT = 8; // the offset counts 8-byte blocks

// IPv6 fixed header (RFC 8200 section 3):
//  |Version| Traffic Class |           Flow Label                  |
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  |                    Source Address (128 bits)                  |
//  |                 Destination Address (128 bits)                |
export const IPV6_VERSION = 6;
export const IPV6_HEADER_LENGTH = 40;
export const IPV6_ADDRESS_LENGTH = 16;
export const IPV6_MAX_PAYLOAD_LENGTH = 0xffff;
export const IPV6_OFFSET_VERSION_CLASS_FLOW = 0;
export const IPV6_OFFSET_PAYLOAD_LENGTH = 4;
export const IPV6_OFFSET_NEXT_HEADER = 6;
export const IPV6_OFFSET_HOP_LIMIT = 7;
export const IPV6_OFFSET_SOURCE = 8;
export const IPV6_OFFSET_DESTINATION = 24;
export const IPV6_FLOW_LABEL_MASK = 0xfffff;
export const IPV6_TRAFFIC_CLASS_SHIFT = 20;

/** The version nibble, first in both headers. */
export const IP_VERSION_SHIFT = 4;

// IANA protocol numbers (IPv4 Protocol / IPv6 Next Header).
export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_UDP = 17;
export const IP_PROTOCOL_ICMPV6 = 58;

// ICMP / ICMPv6 echo (RFC 792, RFC 4443 section 4):
//  |     Type      |     Code      |          Checksum             |
//  |           Identifier          |        Sequence Number        |
//  |     Data ...
export const ICMP_ECHO_HEADER_LENGTH = 8;
export const ICMP_OFFSET_TYPE = 0;
export const ICMP_OFFSET_CODE = 1;
export const ICMP_OFFSET_CHECKSUM = 2;
export const ICMP_OFFSET_IDENTIFIER = 4;
export const ICMP_OFFSET_SEQUENCE = 6;
export const ICMP_TYPE_ECHO_REPLY = 0;
export const ICMP_TYPE_ECHO_REQUEST = 8;
export const ICMPV6_TYPE_ECHO_REQUEST = 128;
export const ICMPV6_TYPE_ECHO_REPLY = 129;

/** What we put in TTL / Hop Limit of packets we originate (the Linux default). */
export const DEFAULT_HOP_LIMIT = 64;
