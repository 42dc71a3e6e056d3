// The control channel's outer layer for one session: tls-crypt wrapping and unwrapping of every
// control packet (tls_crypt.c, ssl_pkt.c write_control_auth / read_control_auth), the tls-crypt
// replay check, tls-crypt-v2's WKc, and dynamic tls-crypt after a renegotiation.
//
// tls-crypt puts a long-form packet id (a 32-bit counter and the sender's start time in seconds)
// in the clear, authenticated header. Each side counts its own packets from 1 (a tls-crypt-v2
// client that can do early negotiation starts at 0x0f000001). The receiver keeps a replay window
// per sender time, as packet_id.c does: the same time and an id already seen or too far behind is
// a replay; an older time is a replay; a newer time starts a fresh window.
//
// With dynamic tls-crypt (2.6.1+, `protocol-flags dyn-tls-crypt`), packets of key ids 1..7 use a
// second key exported from the first TLS session, with its own counter and replay window; key
// id 0 keeps the original key. The golden capture shows both counters and times.
//
// Without tls-crypt ("none", certificate-only OpenVPN) packets go out as plain control packets.
import {
  tlsCryptKeyView,
  tlsCryptUnwrap,
  tlsCryptWrap,
  dynamicTlsCryptKey2,
} from '../../../crypto/tls-crypt.js';
import { appendWrappedClientKey, splitWrappedClientKey } from '../../../crypto/tls-crypt-v2.js';
import {
  parseControlPacket,
  serializeControlBody,
  serializeControlPacket,
} from '../../../wire/openvpn/control-packet.js';
import type { ControlPacket } from '../../../wire/openvpn/control-packet.js';
import { carriesWrappedClientKey, readOpcodeByte } from '../../../wire/openvpn/opcode.js';
import { Opcode, PACKET_ID_MAX } from '../../../wire/openvpn/constants.js';
import { PosternError } from '../../../errors.js';

const MS_PER_SEC = 1000;
/** packet_id.c: how far behind the highest id a tls-crypt packet may still arrive. */
export const CONTROL_REPLAY_WINDOW = 64;

export type ControlRole = 'server' | 'client';

export interface ControlChannelOptions {
  role: ControlRole;
  /**
   * The 256-byte tls-crypt key: the static key of `--tls-crypt`, or the client key Kc of
   * `--tls-crypt-v2`. Undefined: no wrapping at all.
   */
  tlsCryptKey?: Uint8Array;
  /** tls-crypt-v2 client: WKc, appended to HARD_RESET_CLIENT_V3 and CONTROL_WKC_V1. */
  wrappedClientKey?: Uint8Array;
  /** tls-crypt-v2 server: cut a WKc off HARD_RESET_CLIENT_V3 and CONTROL_WKC_V1 packets. */
  expectWrappedClientKey?: boolean;
  /** The first tls-crypt packet id we send; 1 by default. */
  firstSendPacketId?: number;
  /** The caller's clock (ms since the Unix epoch) when the session started. */
  now: number;
}

export type ControlUnwrapError =
  | 'truncated'
  | 'unknown-opcode'
  | 'data-packet'
  | 'bad-wkc'
  | 'auth-failed'
  | 'replay'
  | 'malformed';

export type ControlUnwrapResult =
  | {
      ok: true;
      packet: ControlPacket;
      /** The tls-crypt packet id the sender used (undefined without tls-crypt). */
      wrapPacketId: number | undefined;
    }
  | { ok: false; reason: ControlUnwrapError };

/** CONTROL_REPLAY_WINDOW as a bit count, and the mask that keeps a bitmap within it. */
const WINDOW_BITS = BigInt(CONTROL_REPLAY_WINDOW);
const WINDOW_MASK = (1n << WINDOW_BITS) - 1n;

/**
 * Accepts each long-form packet id (id, time) once, as packet_id.c does for tls-crypt. The
 * window is one 64-bit BigInt rather than a ReplayWindow: two of these live in every session
 * for its whole life, and see a few packets an hour once it is up.
 */
export class LongPacketIdReplay {
  private time: number | undefined;
  /** The highest id seen with `time`; 0 before the first. */
  private top = 0;
  /** Bit i set: id `top - i` was seen (i < CONTROL_REPLAY_WINDOW). */
  private seen = 0n;

  /** Would this id be accepted? Changes nothing. */
  check(id: number, time: number): boolean {
    if (id === 0) return false;
    if (this.time === undefined || time > this.time) return true;
    if (time < this.time) return false;
    if (id > this.top) return true;
    const behind = this.top - id;
    if (behind >= CONTROL_REPLAY_WINDOW) return false;
    return ((this.seen >> BigInt(behind)) & 1n) === 0n;
  }

  /** Marks an authenticated id as seen. */
  update(id: number, time: number): void {
    if (!this.check(id, time)) return;
    if (this.time === undefined || time > this.time) {
      this.time = time;
      this.top = 0;
      this.seen = 0n;
    }
    if (id > this.top) {
      const ahead = id - this.top;
      this.seen = ahead >= CONTROL_REPLAY_WINDOW ? 0n : (this.seen << BigInt(ahead)) & WINDOW_MASK;
      this.top = id;
    }
    this.seen |= 1n << BigInt(this.top - id);
  }
}

interface WrapState {
  /**
   * The 256-byte key2 block; the directional keys are cut from it for each packet. Control
   * packets are rare once a session is up, so holding one block instead of four prepared keys
   * keeps an idle session small (and the original state shares the block with `tlsCryptKey`).
   */
  key2: Uint8Array;
  nextSendId: number;
  netTime: number;
  replay: LongPacketIdReplay;
}

function netTimeOf(now: number): number {
  return Math.floor(now / MS_PER_SEC) >>> 0;
}

export class ControlChannel {
  private readonly role: ControlRole;
  private readonly tlsCryptKey: Uint8Array | undefined;
  private readonly wrappedClientKey: Uint8Array | undefined;
  private readonly expectWrappedClientKey: boolean;
  private readonly original: WrapState | undefined;
  private dynamic: WrapState | undefined;

  constructor(options: ControlChannelOptions) {
    this.role = options.role;
    // Copies (new Uint8Array, not .slice(), which on a Buffer is a view that could pin a pooled
    // 8 KiB slab), so the caller may wipe or reuse its bytes.
    this.tlsCryptKey = options.tlsCryptKey && new Uint8Array(options.tlsCryptKey);
    this.wrappedClientKey = options.wrappedClientKey && new Uint8Array(options.wrappedClientKey);
    this.expectWrappedClientKey = options.expectWrappedClientKey ?? false;
    if (this.tlsCryptKey !== undefined) {
      tlsCryptKeyView(this.tlsCryptKey, this.role, 'send'); // a bad size throws now, not later
      this.original = {
        key2: this.tlsCryptKey,
        nextSendId: options.firstSendPacketId ?? 1,
        netTime: netTimeOf(options.now),
        replay: new LongPacketIdReplay(),
      };
    }
  }

  /** True when packets are wrapped with tls-crypt (v1 or v2). */
  get wrapped(): boolean {
    return this.original !== undefined;
  }

  /** True once dynamic tls-crypt protects key ids 1..7. */
  get dynamicTlsCrypt(): boolean {
    return this.dynamic !== undefined;
  }

  /**
   * Switches key ids 1..7 to the dynamic tls-crypt key: `exported` is the 256-byte export with
   * label EXPORTER-OpenVPN-dynamic-tls-crypt from the first TLS session.
   */
  enableDynamicTlsCrypt(exported: Uint8Array, now: number): void {
    if (this.tlsCryptKey === undefined) {
      throw new PosternError('OVPN_DYN_TLS_CRYPT', 'dynamic tls-crypt needs tls-crypt');
    }
    this.dynamic = {
      key2: dynamicTlsCryptKey2(exported, this.tlsCryptKey),
      nextSendId: 1,
      netTime: netTimeOf(now),
      replay: new LongPacketIdReplay(),
    };
  }

  /** The bytes on the wire for one control packet. Throws only on our own misuse. */
  wrap(packet: ControlPacket): Uint8Array {
    const state = this.stateFor(packet.keyId);
    let out: Uint8Array;
    if (state === undefined) {
      out = serializeControlPacket(packet);
    } else {
      if (state.nextSendId > PACKET_ID_MAX) {
        throw new PosternError('OVPN_TLS_CRYPT_EXHAUSTED', 'tls-crypt packet ids are used up');
      }
      const packetId = state.nextSendId;
      state.nextSendId += 1;
      out = tlsCryptWrap(
        tlsCryptKeyView(state.key2, this.role, 'send'),
        {
          opcode: packet.opcode,
          keyId: packet.keyId,
          sessionId: packet.sessionId,
          packetId,
          netTime: state.netTime,
        },
        serializeControlBody(packet),
      );
    }
    if (this.wrappedClientKey !== undefined && carriesWrappedClientKey(packet.opcode)) {
      out = appendWrappedClientKey(out, this.wrappedClientKey);
    }
    return out;
  }

  /** Authenticates, replay-checks and parses one packet from the peer. Never throws. */
  unwrap(bytes: Uint8Array): ControlUnwrapResult {
    const first = readOpcodeByte(bytes[0] ?? 0);
    if (bytes.length === 0) return { ok: false, reason: 'truncated' };
    if (first === undefined) return { ok: false, reason: 'unknown-opcode' };
    if (first.opcode === Opcode.DATA_V1 || first.opcode === Opcode.DATA_V2) {
      return { ok: false, reason: 'data-packet' };
    }
    let body = bytes;
    if (this.expectWrappedClientKey && carriesWrappedClientKey(first.opcode)) {
      const split = splitWrappedClientKey(bytes);
      if (!split.ok) return { ok: false, reason: 'bad-wkc' };
      body = split.packet;
    }
    const state = this.stateFor(first.keyId);
    if (state === undefined) {
      const parsed = parseControlPacket(body);
      if (!parsed.ok) return { ok: false, reason: 'malformed' };
      return { ok: true, packet: parsed.packet, wrapPacketId: undefined };
    }
    const opened = tlsCryptUnwrap(tlsCryptKeyView(state.key2, this.role, 'receive'), body);
    if (!opened.ok) return { ok: false, reason: opened.reason };
    const { packetId, netTime } = opened.header;
    if (!state.replay.check(packetId, netTime)) return { ok: false, reason: 'replay' };
    const parsed = parseControlPacket(opened.controlPacket);
    if (!parsed.ok) return { ok: false, reason: 'malformed' };
    state.replay.update(packetId, netTime);
    return { ok: true, packet: parsed.packet, wrapPacketId: packetId };
  }

  private stateFor(keyId: number): WrapState | undefined {
    if (keyId !== 0 && this.dynamic !== undefined) return this.dynamic;
    return this.original;
  }
}
