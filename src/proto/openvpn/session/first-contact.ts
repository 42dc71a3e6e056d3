// The gateway's answer to packets from an address it has no session for: OpenVPN 2.6's stateless
// start (ssl_pkt.c tls_pre_decrypt_lite, tls_reset_standalone; multi.c).
//
//   client                                   gateway (keeps nothing)
//   HARD_RESET_CLIENT_V2 sid=C id=0   ──▶    answers from the packet alone:
//                                     ◀──    HARD_RESET_SERVER_V2 sid=cookie ack[0]→C id=0
//   CONTROL_V1 / ACK_V1 ack[0]→cookie ──▶    cookie verifies: now create the ServerSession
//
// The cookie (hmac-cookie.ts) binds the client's address, port, session id and a time slot, so
// a spoofed source cannot make the gateway allocate anything. With tls-crypt-v2 the client's key
// Kc only exists inside WKc, so a 2.6 client that starts its tls-crypt ids at 0x0f000001
// (early negotiation) is asked, by a TLV in the reset, to append WKc again to its third packet
// (CONTROL_WKC_V1). A v2 client without early negotiation cannot be served statelessly: its
// HARD_RESET_CLIENT_V3 opens a session at once, as OpenVPN does.
//
// The reset reply uses tls-crypt packet id 1; the session then continues from 2, as the golden
// capture of OpenVPN 2.6 shows.
import { tlsCryptKeyView, tlsCryptUnwrap, tlsCryptWrap } from '../../../crypto/tls-crypt.js';
import {
  splitWrappedClientKey,
  tlsCryptV2ServerKey,
  unwrapClientKey,
} from '../../../crypto/tls-crypt-v2.js';
import type { TlsCryptV2Metadata, TlsCryptV2ServerKey } from '../../../crypto/tls-crypt-v2.js';
import { Opcode } from '../../../wire/openvpn/constants.js';
import {
  parseControlPacket,
  serializeControlBody,
  serializeControlPacket,
} from '../../../wire/openvpn/control-packet.js';
import type { ControlPacket } from '../../../wire/openvpn/control-packet.js';
import {
  announcesEarlyNegotiation,
  resendWkcPayload,
} from '../../../wire/openvpn/early-negotiation.js';
import { readOpcodeByte } from '../../../wire/openvpn/opcode.js';
import { checkCookie, isFirstExchangePacket, makeCookie } from '../hmac-cookie.js';
import type { ClientAddress, CookieOptions } from '../hmac-cookie.js';

const MS_PER_SEC = 1000;
/** The tls-crypt packet id of the stateless reset reply; the session goes on from the next. */
const RESET_REPLY_WRAP_ID = 1;

/** How the gateway protects its control channel. */
export type ServerControlWrap =
  | { kind: 'tls-crypt'; key: Uint8Array }
  | { kind: 'tls-crypt-v2'; serverKey: Uint8Array }
  | { kind: 'none' };

export interface FirstContactConfig {
  wrap: ServerControlWrap;
  /** Secret for the HMAC cookies: 32 random bytes drawn when the gateway starts. */
  cookieKey: Uint8Array;
  cookie?: CookieOptions;
}

/** Everything a ServerSession needs to pick up where the stateless exchange left off. */
export interface ServerSessionStart {
  /** 'cookie': both resets already went through; 'stateful': the session answers the reset. */
  mode: 'cookie' | 'stateful';
  clientSessionId: Uint8Array;
  /** Our session id: the cookie; undefined in stateful mode (the session draws one). */
  serverSessionId: Uint8Array | undefined;
  /** The client's reset opcode (HARD_RESET_CLIENT_V2, or V3 with tls-crypt-v2). */
  clientResetOpcode:
    typeof Opcode.CONTROL_HARD_RESET_CLIENT_V2 | typeof Opcode.CONTROL_HARD_RESET_CLIENT_V3;
  /** The 256-byte tls-crypt key of this client (the static key, or its v2 Kc); none without. */
  tlsCryptKey: Uint8Array | undefined;
  /** tls-crypt-v2: strip WKc from the client's V3 / WKC_V1 packets. */
  expectWrappedClientKey: boolean;
  /** The first tls-crypt packet id the session sends. */
  firstWrapPacketId: number;
  /** tls-crypt-v2: what the WKc said about the client (user data or creation time). */
  wkcMetadata: TlsCryptV2Metadata | undefined;
}

export type FirstContactDrop =
  | 'truncated'
  | 'not-key-id-0'
  | 'unexpected-opcode'
  | 'bad-wkc'
  | 'auth-failed'
  | 'malformed'
  | 'bad-reset'
  | 'bad-cookie';

export type FirstContactVerdict =
  /** Send this packet back to the client and remember nothing. */
  | { kind: 'reply'; packet: Uint8Array }
  /** Create a ServerSession with `start`, then give it this same packet. */
  | { kind: 'open'; start: ServerSessionStart }
  | { kind: 'drop'; reason: FirstContactDrop };

interface Opened {
  packet: ControlPacket;
  tlsCryptKey: Uint8Array | undefined;
  wrapPacketId: number | undefined;
  metadata: TlsCryptV2Metadata | undefined;
}

/** Answers one packet from an unknown address. Never throws; never keeps state. */
export function handleFirstContact(
  config: FirstContactConfig,
  bytes: Uint8Array,
  from: ClientAddress,
  now: number,
): FirstContactVerdict {
  const first = readOpcodeByte(bytes[0] ?? 0);
  if (bytes.length === 0 || first === undefined) return { kind: 'drop', reason: 'truncated' };
  if (first.keyId !== 0) return { kind: 'drop', reason: 'not-key-id-0' };
  const opened = open(config.wrap, first.opcode, bytes);
  if ('drop' in opened) return { kind: 'drop', reason: opened.drop };
  const { packet } = opened;
  const v2 = config.wrap.kind === 'tls-crypt-v2';

  if (
    packet.opcode === Opcode.CONTROL_HARD_RESET_CLIENT_V2 ||
    packet.opcode === Opcode.CONTROL_HARD_RESET_CLIENT_V3
  ) {
    if (packet.kind !== 'message' || packet.packetId !== 0 || packet.acks.length > 0) {
      return { kind: 'drop', reason: 'bad-reset' };
    }
    const earlyNegotiation =
      opened.wrapPacketId !== undefined && announcesEarlyNegotiation(opened.wrapPacketId);
    if (v2 && !earlyNegotiation) {
      return { kind: 'open', start: startFor(opened, packet.opcode, 'stateful', undefined, v2) };
    }
    const cookie = makeCookie(
      config.cookieKey,
      { clientAddr: from, clientSessionId: packet.sessionId, now },
      config.cookie,
    );
    const reply: ControlPacket = {
      kind: 'message',
      opcode: Opcode.CONTROL_HARD_RESET_SERVER_V2,
      keyId: 0,
      sessionId: cookie,
      acks: [0],
      remoteSessionId: packet.sessionId,
      packetId: 0,
      payload: v2 ? resendWkcPayload() : new Uint8Array(0),
    };
    return { kind: 'reply', packet: wrapReply(opened.tlsCryptKey, reply, now) };
  }

  // The client's third packet must echo the cookie in its ack array.
  const echoed = packet.remoteSessionId;
  if (
    packet.acks.length === 0 ||
    echoed === undefined ||
    !isFirstExchangePacket(
      packet.kind === 'message'
        ? { acks: packet.acks, packetId: packet.packetId }
        : { acks: packet.acks },
    )
  ) {
    return { kind: 'drop', reason: 'bad-cookie' };
  }
  const check = checkCookie(
    config.cookieKey,
    { clientAddr: from, clientSessionId: packet.sessionId, now, cookie: echoed },
    config.cookie,
  );
  if (!check.ok) return { kind: 'drop', reason: 'bad-cookie' };
  const resetOpcode = v2
    ? Opcode.CONTROL_HARD_RESET_CLIENT_V3
    : Opcode.CONTROL_HARD_RESET_CLIENT_V2;
  return { kind: 'open', start: startFor(opened, resetOpcode, 'cookie', echoed, v2) };
}

function startFor(
  opened: Opened,
  clientResetOpcode: ServerSessionStart['clientResetOpcode'],
  mode: ServerSessionStart['mode'],
  cookie: Uint8Array | undefined,
  v2: boolean,
): ServerSessionStart {
  return {
    mode,
    clientSessionId: opened.packet.sessionId.slice(),
    serverSessionId: cookie?.slice(),
    clientResetOpcode,
    tlsCryptKey: opened.tlsCryptKey,
    expectWrappedClientKey: v2,
    firstWrapPacketId: mode === 'cookie' ? RESET_REPLY_WRAP_ID + 1 : 1,
    wkcMetadata: opened.metadata,
  };
}

/** The server key split into Ke and Ka once per key, not on every first packet. */
const serverKeys = new WeakMap<Uint8Array, TlsCryptV2ServerKey>();
function serverKeyOf(raw: Uint8Array): TlsCryptV2ServerKey {
  let key = serverKeys.get(raw);
  if (key === undefined) {
    key = tlsCryptV2ServerKey(raw);
    serverKeys.set(raw, key);
  }
  return key;
}

function open(
  wrap: ServerControlWrap,
  opcode: Opcode,
  bytes: Uint8Array,
): Opened | { drop: FirstContactDrop } {
  const allowed: readonly Opcode[] =
    wrap.kind === 'tls-crypt-v2'
      ? [Opcode.CONTROL_HARD_RESET_CLIENT_V3, Opcode.CONTROL_WKC_V1]
      : [Opcode.CONTROL_HARD_RESET_CLIENT_V2, Opcode.CONTROL_V1, Opcode.ACK_V1];
  if (!allowed.includes(opcode)) return { drop: 'unexpected-opcode' };

  if (wrap.kind === 'none') {
    const parsed = parseControlPacket(bytes);
    if (!parsed.ok) return { drop: 'malformed' };
    return {
      packet: parsed.packet,
      tlsCryptKey: undefined,
      wrapPacketId: undefined,
      metadata: undefined,
    };
  }
  let body = bytes;
  let key: Uint8Array;
  let metadata: TlsCryptV2Metadata | undefined;
  if (wrap.kind === 'tls-crypt-v2') {
    const split = splitWrappedClientKey(bytes);
    if (!split.ok) return { drop: 'bad-wkc' };
    const unwrapped = unwrapClientKey(serverKeyOf(wrap.serverKey), split.wkc);
    if (!unwrapped.ok) return { drop: 'bad-wkc' };
    body = split.packet;
    key = unwrapped.clientKey;
    metadata = unwrapped.decoded;
  } else {
    key = wrap.key;
  }
  const unwrapped = tlsCryptUnwrap(tlsCryptKeyView(key, 'server', 'receive'), body);
  if (!unwrapped.ok)
    return { drop: unwrapped.reason === 'auth-failed' ? 'auth-failed' : 'malformed' };
  const parsed = parseControlPacket(unwrapped.controlPacket);
  if (!parsed.ok) return { drop: 'malformed' };
  return {
    packet: parsed.packet,
    tlsCryptKey: key,
    wrapPacketId: unwrapped.header.packetId,
    metadata,
  };
}

function wrapReply(key: Uint8Array | undefined, reply: ControlPacket, now: number): Uint8Array {
  if (key === undefined) return serializeControlPacket(reply);
  return tlsCryptWrap(
    tlsCryptKeyView(key, 'server', 'send'),
    {
      opcode: reply.opcode,
      keyId: reply.keyId,
      sessionId: reply.sessionId,
      packetId: RESET_REPLY_WRAP_ID,
      netTime: Math.floor(now / MS_PER_SEC) >>> 0,
    },
    serializeControlBody(reply),
  );
}
