// RADIUS numbers (RFC 2865 authentication, RFC 2866 accounting, RFC 2869 extensions, RFC 3579
// Message-Authenticator). Only what Postern sends or reads is named here.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Code      |  Identifier   |            Length             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Authenticator (16 octets)             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Attributes: Type (1) | Length (1, includes these 2) | Value ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

export const HEADER_SIZE = 20;
export const CODE_OFFSET = 0;
export const IDENTIFIER_OFFSET = 1;
export const LENGTH_OFFSET = 2;
export const AUTHENTICATOR_OFFSET = 4;
export const AUTHENTICATOR_SIZE = 16;
/** RFC 2865 §3: a packet is at most 4096 octets long. */
export const MAX_PACKET_SIZE = 4096;
export const ATTRIBUTE_HEADER_SIZE = 2;
export const MAX_ATTRIBUTE_VALUE = 253;
/** User-Password is hidden in 16-octet blocks, at most 128 octets (RFC 2865 §5.2). */
export const PASSWORD_BLOCK = 16;
export const MAX_PASSWORD = 128;
export const MESSAGE_AUTHENTICATOR_SIZE = 16;

export const Code = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
} as const;

export const Attr = {
  UserName: 1,
  UserPassword: 2,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FramedIpAddress: 8,
  ReplyMessage: 18,
  Class: 25,
  CallingStationId: 31,
  NasIdentifier: 32,
  AcctStatusType: 40,
  AcctDelayTime: 41,
  AcctInputOctets: 42,
  AcctOutputOctets: 43,
  AcctSessionId: 44,
  AcctSessionTime: 46,
  AcctInputPackets: 47,
  AcctOutputPackets: 48,
  AcctTerminateCause: 49,
  AcctInputGigawords: 52,
  AcctOutputGigawords: 53,
  EventTimestamp: 55,
  NasPortType: 61,
  MessageAuthenticator: 80,
  FramedIpv6Address: 168,
} as const;

export const AcctStatusType = { Start: 1, Stop: 2, InterimUpdate: 3 } as const;

/** RFC 2866 §5.10. */
export const TerminateCause = {
  UserRequest: 1,
  LostCarrier: 2,
  IdleTimeout: 4,
  SessionTimeout: 5,
  AdminReset: 6,
  AdminReboot: 7,
  PortError: 8,
  NasError: 9,
  NasRequest: 10,
  UserError: 17,
} as const;

export const ServiceTypeValue = { Framed: 2 } as const;
export const NasPortTypeValue = { Virtual: 5 } as const;

/** Octet counters wrap at 2^32; the wraps travel in the Gigawords attributes (RFC 2869). */
export const GIGAWORD = 2 ** 32;
