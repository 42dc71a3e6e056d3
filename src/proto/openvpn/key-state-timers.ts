// When to renegotiate data-channel keys, and how long the old key stays usable (ssl.c tls_process,
// key_state_soft_reset; options.c reneg-sec jitter).
//
// A session has at most two key states that carry data: the primary and a "lame duck". A
// renegotiation (SOFT_RESET_V1 with the next key id, from either side) starts a new primary and
// turns the old primary into the lame duck, which keeps decrypting, and encrypting until the new
// key is up, for `--tran-window` (3600 s) from that moment. A new key must finish its TLS handshake
// within `--hand-window` (60 s). The primary is renegotiated after `--reneg-sec` seconds, after
// `--reneg-bytes` bytes or `--reneg-pkts` packets through it, or before its data packet id wraps.
// A 2.6 server shortens reneg-sec per session by up to 10% at random (or down to an explicit
// minimum) so that clients which connected together do not all renegotiate together.

import {
  HAND_WINDOW_SEC,
  KEY_ID_MASK,
  PACKET_ID_WRAP_TRIGGER,
  RENEG_SEC,
  TRANSITION_WINDOW_SEC,
} from './constants.js';
import { PosternError } from '../../errors.js';

const MS_PER_SEC = 1000;
const DEFAULT_JITTER_DIVISOR = 10;

export type KeyRole = 'server' | 'client';

export interface RenegotiationPolicy {
  /** `reneg-sec max`: seconds a key lives; 0 disables the time trigger. Default 3600. */
  renegSec?: number;
  /** `reneg-sec max min`: lower bound of the randomised lifetime. */
  renegSecMin?: number;
  /** `reneg-bytes`: bytes through a key (both directions); 0 or absent disables. */
  renegBytes?: number;
  /** `reneg-pkts`: packets through a key (both directions); 0 or absent disables. */
  renegPackets?: number;
  /** `hand-window`: seconds a key's TLS handshake may take. Default 60. */
  handWindowSec?: number;
  /** `tran-window`: seconds the previous key stays valid after a renegotiation starts. */
  tranWindowSec?: number;
}

/** A uniform random number in [0, 1), supplied by the caller. */
export type UnitRandom = () => number;

/**
 * The reneg-sec this session uses. A server without an explicit minimum takes a whole number of
 * seconds in (0.9·max, max]; with `min` it takes one in (min, max]; a client uses max unless it
 * has an explicit min. Mirrors options.c, where the jitter is `random % range` subtracted from max.
 */
export function effectiveRenegSeconds(
  policy: RenegotiationPolicy,
  role: KeyRole,
  random: UnitRandom,
): number {
  const max = policy.renegSec ?? RENEG_SEC;
  if (max <= 0) return 0;
  let range: number;
  if (policy.renegSecMin !== undefined && policy.renegSecMin >= 0) {
    range = Math.max(max - policy.renegSecMin, 1);
  } else if (role === 'server') {
    range = Math.max(Math.floor(max / DEFAULT_JITTER_DIVISOR), 1);
  } else {
    return max;
  }
  const r = random();
  if (!(r >= 0 && r < 1)) {
    throw new PosternError('OVPN_BAD_RANDOM', `unit random must be in [0, 1), got ${r}`);
  }
  return max - Math.floor(r * range);
}

/** The key id after `keyId`: 0 is used once, then ids cycle 1..7 (ssl.c key_id wrap). */
export function nextKeyId(keyId: number): number {
  const next = (keyId + 1) & KEY_ID_MASK;
  return next === 0 ? 1 : next;
}

export type RenegotiationReason = 'time' | 'bytes' | 'packets' | 'packet-id-wrap';

export type KeyScheduleEvent =
  | { kind: 'renegotiate'; keyId: number; reason: RenegotiationReason }
  | { kind: 'handshake-timeout'; keyId: number }
  | { kind: 'lame-duck-expired'; keyId: number };

type KeyPhase = 'negotiating' | 'active' | 'lame-duck';

interface KeyRecord {
  keyId: number;
  phase: KeyPhase;
  handshakeDeadline: number;
  renegotiateAt: number | undefined;
  expiresAt: number | undefined;
  bytes: number;
  packets: number;
  reported: boolean;
}

export interface KeySnapshot {
  keyId: number;
  phase: KeyPhase;
  bytes: number;
  packets: number;
  expiresAt: number | undefined;
}

/** Tracks the primary and lame-duck keys of one session and says when to act. Sans-I/O. */
export class KeySchedule {
  /** The reneg-sec this session drew; 0 when the time trigger is off. */
  readonly renegSeconds: number;
  private readonly handWindowMs: number;
  private readonly tranWindowMs: number;
  private readonly renegBytes: number;
  private readonly renegPackets: number;
  private primary: KeyRecord | undefined;
  private lameDuck: KeyRecord | undefined;

  constructor(policy: RenegotiationPolicy, role: KeyRole, random: UnitRandom) {
    this.renegSeconds = effectiveRenegSeconds(policy, role, random);
    this.handWindowMs = (policy.handWindowSec ?? HAND_WINDOW_SEC) * MS_PER_SEC;
    this.tranWindowMs = (policy.tranWindowSec ?? TRANSITION_WINDOW_SEC) * MS_PER_SEC;
    this.renegBytes = policy.renegBytes ?? 0;
    this.renegPackets = policy.renegPackets ?? 0;
  }

  /** The first key of a session (key id 0) starts its handshake. */
  startFirstKey(now: number): number {
    this.primary = this.record(0, now);
    this.lameDuck = undefined;
    return 0;
  }

  /**
   * A renegotiation starts, by us or by the peer's SOFT_RESET: the primary becomes the lame duck
   * (valid for tran-window from now) and a new key with the next id starts its handshake.
   * Returns the new key id.
   */
  beginRenegotiation(now: number): number {
    const old = this.primary;
    if (old === undefined) {
      throw new PosternError('OVPN_KEY_SCHEDULE_STATE', 'renegotiation before the first key');
    }
    if (old.phase === 'active') {
      old.phase = 'lame-duck';
      old.expiresAt = now + this.tranWindowMs;
      old.renegotiateAt = undefined;
      old.reported = false;
      this.lameDuck = old;
    }
    // A key still negotiating is simply replaced, as OpenVPN resets an unfinished key state.
    this.primary = this.record(nextKeyId(old.keyId), now);
    return this.primary.keyId;
  }

  /** The primary finished its handshake and carries data from now on. */
  established(keyId: number, now: number): void {
    const key = this.primary;
    if (key === undefined || key.keyId !== keyId || key.phase !== 'negotiating') {
      throw new PosternError('OVPN_KEY_SCHEDULE_STATE', `key ${keyId} is not negotiating`);
    }
    key.phase = 'active';
    key.reported = false;
    key.renegotiateAt = this.renegSeconds > 0 ? now + this.renegSeconds * MS_PER_SEC : undefined;
  }

  /** Adds data-channel traffic through a key (either direction). */
  countTraffic(keyId: number, bytes: number, packets = 1): void {
    const key = this.find(keyId);
    if (key === undefined) return;
    key.bytes += bytes;
    key.packets += packets;
  }

  /** True while `keyId` may decrypt data: the active primary or an unexpired lame duck. */
  canDecrypt(keyId: number, now: number): boolean {
    if (this.primary?.keyId === keyId && this.primary.phase === 'active') return true;
    const duck = this.lameDuck;
    return duck?.keyId === keyId && duck.expiresAt !== undefined && now < duck.expiresAt;
  }

  /** The key to encrypt with: the active primary, else an unexpired lame duck. */
  encryptKeyId(now: number): number | undefined {
    if (this.primary?.phase === 'active') return this.primary.keyId;
    const duck = this.lameDuck;
    if (duck?.expiresAt !== undefined && now < duck.expiresAt) return duck.keyId;
    return undefined;
  }

  /**
   * The next thing to act on, or undefined. `sendPacketId` is the primary's next outgoing
   * data-channel packet id, to renegotiate before it wraps. Each condition is reported once.
   */
  poll(now: number, sendPacketId?: number): KeyScheduleEvent | undefined {
    const duck = this.lameDuck;
    if (duck?.expiresAt !== undefined && now >= duck.expiresAt) {
      this.lameDuck = undefined;
      return { kind: 'lame-duck-expired', keyId: duck.keyId };
    }
    const key = this.primary;
    if (key === undefined || key.reported) return undefined;
    if (key.phase === 'negotiating') {
      if (now < key.handshakeDeadline) return undefined;
      key.reported = true;
      return { kind: 'handshake-timeout', keyId: key.keyId };
    }
    const reason = this.renegotiationReason(key, now, sendPacketId);
    if (reason === undefined) return undefined;
    key.reported = true;
    return { kind: 'renegotiate', keyId: key.keyId, reason };
  }

  /** The earliest time `poll` has a timed event, or undefined. */
  nextDeadline(): number | undefined {
    const times: number[] = [];
    if (this.lameDuck?.expiresAt !== undefined) times.push(this.lameDuck.expiresAt);
    const key = this.primary;
    if (key !== undefined && !key.reported) {
      if (key.phase === 'negotiating') times.push(key.handshakeDeadline);
      else if (key.renegotiateAt !== undefined) times.push(key.renegotiateAt);
    }
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** The keys as they stand, primary first. */
  keys(): KeySnapshot[] {
    return [this.primary, this.lameDuck]
      .filter((k): k is KeyRecord => k !== undefined)
      .map((k) => ({
        keyId: k.keyId,
        phase: k.phase,
        bytes: k.bytes,
        packets: k.packets,
        expiresAt: k.expiresAt,
      }));
  }

  private renegotiationReason(
    key: KeyRecord,
    now: number,
    sendPacketId: number | undefined,
  ): RenegotiationReason | undefined {
    if (key.renegotiateAt !== undefined && now >= key.renegotiateAt) return 'time';
    if (this.renegBytes > 0 && key.bytes >= this.renegBytes) return 'bytes';
    if (this.renegPackets > 0 && key.packets >= this.renegPackets) return 'packets';
    if (sendPacketId !== undefined && sendPacketId >= PACKET_ID_WRAP_TRIGGER) {
      return 'packet-id-wrap';
    }
    return undefined;
  }

  private find(keyId: number): KeyRecord | undefined {
    if (this.primary?.keyId === keyId) return this.primary;
    if (this.lameDuck?.keyId === keyId) return this.lameDuck;
    return undefined;
  }

  private record(keyId: number, now: number): KeyRecord {
    return {
      keyId,
      phase: 'negotiating',
      handshakeDeadline: now + this.handWindowMs,
      renegotiateAt: undefined,
      expiresAt: undefined,
      bytes: 0,
      packets: 0,
      reported: false,
    };
  }
}
