// OpenVPN's control-channel reliability layer for one key state, sans-I/O.
//
// The control channel runs TLS over UDP, so OpenVPN adds its own ordering and retransmission
// (reliable.c, doc_reliable.h). Each direction numbers its packets from 0 with a 32-bit message
// packet id. The receiver acknowledges ids individually (not cumulatively): up to 4 acks ride on
// each CONTROL packet, or up to 8 go in a bare ACK_V1. The sender keeps a window of 6 ids counted
// from the oldest unacknowledged one, resends after `tls-timeout` (2 s) doubling each time, and
// resends early once 3 later ids have been acked. The receiver buffers up to 12 ids ahead of the
// next one it will deliver, hands payloads over in order exactly once, drops ids beyond that
// window without acking them, and acks again any id it has already seen (the peer resent it
// because our ack was lost). Like OpenVPN 2.6, acks already sent are repeated in free ack slots
// of later packets, so one lost ACK_V1 rarely costs a retransmission.
//
// This module knows nothing of bytes on the wire: it deals in packet ids, ack lists and payloads.
// The caller encodes `poll()` results into CONTROL_V1 / ACK_V1 packets (adding session ids and
// wrapping) and feeds decoded packets to `onPacket()`.

import {
  ACKS_PER_ACK_PACKET,
  ACKS_PER_CONTROL_PACKET,
  FAST_RETRANSMIT_ACKS,
  PACKET_ID_HALF_RANGE,
  PACKET_ID_MODULUS,
  RELIABLE_RECEIVE_WINDOW,
  RELIABLE_SEND_WINDOW,
  RETRANSMIT_TIMEOUT_CAP_MS,
  TLS_TIMEOUT_MS,
} from './constants.js';
import { DEFAULT_MAX_CONTROL_PAYLOAD } from './control-payload.js';
import { PosternError } from '../../errors.js';

export interface ReliableOptions {
  /** Ids in flight, counted from the oldest unacked one. Default 6. */
  sendWindow?: number;
  /** Ids buffered ahead of the next one to deliver. Default 12. */
  receiveWindow?: number;
  /** First retransmit timeout (`--tls-timeout`). Default 2000 ms. */
  initialTimeoutMs?: number;
  /** Ceiling of the doubled timeout. Default 60000 ms. */
  maxTimeoutMs?: number;
  /** Acks piggy-backed on a packet that carries a payload. Default 4. */
  acksPerControlPacket?: number;
  /** Acks in a bare ack packet; also how many unsent acks are remembered. Default 8. */
  acksPerAckPacket?: number;
  /** Acks of later ids that trigger an early resend; 0 turns this off. Default 3. */
  fastRetransmitAcks?: number;
  /** Largest payload cut from bytes given to `queueBytes`. Default 1108. */
  maxPayloadBytes?: number;
  /** Repeat recently sent acks in free ack slots, as OpenVPN 2.6 does. Default true. */
  repeatRecentAcks?: boolean;
  /** Id of our first packet. Default 0 (a server resuming after a stateless reset uses 1). */
  firstSendId?: number;
  /** Id expected first from the peer. Default 0. */
  firstReceiveId?: number;
}

/** A decoded control packet as this layer sees it. ACK_V1 packets have no `packetId`. */
export interface IncomingControl {
  packetId?: number;
  acks: readonly number[];
  payload?: Uint8Array;
}

/** What to put on the wire next. */
export type ReliableOutput =
  | {
      kind: 'send';
      packetId: number;
      payload: Uint8Array;
      acks: number[];
      /** The opcode given to `queue`, echoed so resends keep it (reset vs control). */
      opcode: number | undefined;
      /** 1 for the first transmission, 2 for the first resend, ... */
      attempt: number;
    }
  | { kind: 'ack'; acks: number[] };

/** What `onPacket` made of the packet's message id. */
export type ReceiveVerdict =
  | 'new' // stored for delivery and acked
  | 'duplicate' // seen before (delivered or still buffered): acked again, not delivered again
  | 'beyond-window' // too far ahead to buffer: dropped, not acked, the peer will resend
  | 'ack-only'; // the packet carried no message id

export interface PacketResult {
  received: ReceiveVerdict;
  /** Our ids this packet acknowledged for the first time. */
  newlyAcked: number[];
}

export interface ReliableStats {
  sent: number;
  retransmitted: number;
  fastRetransmitted: number;
  acked: number;
  received: number;
  duplicates: number;
  beyondWindow: number;
  ackPackets: number;
}

interface InFlight {
  packetId: number;
  payload: Uint8Array;
  opcode: number | undefined;
  nextTryAt: number;
  timeoutMs: number;
  laterAcks: number;
  attempts: number;
}

interface PendingMessage {
  kind: 'message';
  payload: Uint8Array;
  opcode: number | undefined;
}

interface PendingStream {
  kind: 'stream';
  chunks: Uint8Array[];
  length: number;
}

// What an idle layer holds instead of Maps of its own: shared, empty and never written (every
// write goes through `inFlightForWrite` / `receivedForWrite`, which swap in a real Map first).
// A key state is idle for nearly all of its life, and two empty Maps per key cost more than
// the rest of the layer.
const IDLE_IN_FLIGHT: ReadonlyMap<number, InFlight> = new Map();
const IDLE_RECEIVED: ReadonlyMap<number, Uint8Array> = new Map();

/** `a - b` in the 32-bit id space, in 0..2^32-1. */
export function packetIdDistance(a: number, b: number): number {
  return (((a - b) % PACKET_ID_MODULUS) + PACKET_ID_MODULUS) % PACKET_ID_MODULUS;
}

/** True when id `a` comes before id `b`, allowing for wrap (`reliable_pid_min`). */
export function packetIdBefore(a: number, b: number): boolean {
  return packetIdDistance(a, b) >= PACKET_ID_HALF_RANGE;
}

function nextPacketId(id: number): number {
  return (id + 1) % PACKET_ID_MODULUS;
}

function positiveInteger(name: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new PosternError('OVPN_RELIABLE_BAD_OPTION', `${name} must be an integer >= ${min}`);
  }
  return value;
}

function packetId(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value >= PACKET_ID_MODULUS) {
    throw new PosternError('OVPN_RELIABLE_BAD_OPTION', `${name} must be a 32-bit packet id`);
  }
  return value;
}

/** The reliability layer of one key state: both our sending side and our receiving side. */
export class ReliableLayer {
  private readonly sendWindow: number;
  private readonly receiveWindow: number;
  private readonly initialTimeoutMs: number;
  private readonly maxTimeoutMs: number;
  private readonly acksPerControlPacket: number;
  private readonly acksPerAckPacket: number;
  private readonly fastRetransmitAcks: number;
  private readonly maxPayloadBytes: number;
  private readonly repeatRecentAcks: boolean;

  private nextSendId: number;
  private inFlight: ReadonlyMap<number, InFlight> = IDLE_IN_FLIGHT;
  private pending: (PendingMessage | PendingStream)[] = [];

  private nextDeliverId: number;
  private received: ReadonlyMap<number, Uint8Array> = IDLE_RECEIVED;
  private readonly unsentAcks: number[] = [];
  private readonly recentAcks: number[] = [];

  private lastNow = Number.NEGATIVE_INFINITY;
  private readonly counters: ReliableStats = {
    sent: 0,
    retransmitted: 0,
    fastRetransmitted: 0,
    acked: 0,
    received: 0,
    duplicates: 0,
    beyondWindow: 0,
    ackPackets: 0,
  };

  constructor(options: ReliableOptions = {}) {
    this.sendWindow = positiveInteger('sendWindow', options.sendWindow ?? RELIABLE_SEND_WINDOW);
    this.receiveWindow = positiveInteger(
      'receiveWindow',
      options.receiveWindow ?? RELIABLE_RECEIVE_WINDOW,
    );
    this.initialTimeoutMs = positiveInteger(
      'initialTimeoutMs',
      options.initialTimeoutMs ?? TLS_TIMEOUT_MS,
    );
    this.maxTimeoutMs = Math.max(
      this.initialTimeoutMs,
      positiveInteger('maxTimeoutMs', options.maxTimeoutMs ?? RETRANSMIT_TIMEOUT_CAP_MS),
    );
    this.acksPerControlPacket = positiveInteger(
      'acksPerControlPacket',
      options.acksPerControlPacket ?? ACKS_PER_CONTROL_PACKET,
      0,
    );
    this.acksPerAckPacket = positiveInteger(
      'acksPerAckPacket',
      options.acksPerAckPacket ?? ACKS_PER_ACK_PACKET,
    );
    this.fastRetransmitAcks = positiveInteger(
      'fastRetransmitAcks',
      options.fastRetransmitAcks ?? FAST_RETRANSMIT_ACKS,
      0,
    );
    this.maxPayloadBytes = positiveInteger(
      'maxPayloadBytes',
      options.maxPayloadBytes ?? DEFAULT_MAX_CONTROL_PAYLOAD,
    );
    this.repeatRecentAcks = options.repeatRecentAcks ?? true;
    this.nextSendId = packetId('firstSendId', options.firstSendId ?? 0);
    this.nextDeliverId = packetId('firstReceiveId', options.firstReceiveId ?? 0);
  }

  /** Queues one payload to go out as one packet, whatever its size. */
  queue(payload: Uint8Array, opcode?: number): void {
    this.pending.push({ kind: 'message', payload, opcode });
  }

  /**
   * Queues bytes of a stream (TLS records). Consecutive calls are coalesced and cut into
   * payloads of at most `maxPayloadBytes` when window space opens, as OpenVPN reads its TLS
   * BIO one packet's worth at a time.
   */
  queueBytes(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const last = this.pending[this.pending.length - 1];
    if (last?.kind === 'stream') {
      last.chunks.push(bytes);
      last.length += bytes.length;
    } else {
      this.pending.push({ kind: 'stream', chunks: [bytes], length: bytes.length });
    }
  }

  /** Processes a decoded packet from the peer: its acks, then its message id and payload. */
  onPacket(packet: IncomingControl, now: number): PacketResult {
    this.lastNow = now;
    const newlyAcked = this.applyAcks(packet.acks);
    if (packet.packetId === undefined) return { received: 'ack-only', newlyAcked };
    return { received: this.acceptMessage(packet.packetId, packet.payload), newlyAcked };
  }

  /** Payloads now in order, each returned exactly once; frees receive window space. */
  deliver(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (;;) {
      const payload = this.received.get(this.nextDeliverId);
      if (payload === undefined) break;
      this.receivedForWrite().delete(this.nextDeliverId);
      out.push(payload);
      this.nextDeliverId = nextPacketId(this.nextDeliverId);
    }
    if (this.received.size === 0) this.received = IDLE_RECEIVED;
    return out;
  }

  /**
   * The next packet to send, or undefined when nothing is due. Call repeatedly until undefined
   * after every input and at every deadline. Resends go before new packets, lowest id first.
   */
  poll(now: number): ReliableOutput | undefined {
    this.lastNow = now;
    this.admitPending(now);
    const due = this.dueEntry(now);
    if (due !== undefined) {
      const fast = now < due.nextTryAt;
      due.attempts += 1;
      due.nextTryAt = now + due.timeoutMs;
      due.timeoutMs = Math.min(due.timeoutMs * 2, this.maxTimeoutMs);
      due.laterAcks = 0;
      if (due.attempts === 1) this.counters.sent += 1;
      else this.counters.retransmitted += 1;
      if (fast && due.attempts > 1) this.counters.fastRetransmitted += 1;
      return {
        kind: 'send',
        packetId: due.packetId,
        payload: due.payload,
        acks: this.takeAcks(this.acksPerControlPacket),
        opcode: due.opcode,
        attempt: due.attempts,
      };
    }
    if (this.unsentAcks.length > 0) {
      this.counters.ackPackets += 1;
      return { kind: 'ack', acks: this.takeAcks(this.acksPerAckPacket) };
    }
    return undefined;
  }

  /** `poll` would give only a bare ACK now: acks owed, nothing new or due to send. */
  onlyAcksDue(now: number): boolean {
    if (this.unsentAcks.length === 0) return false;
    if (this.pending.length > 0 && this.windowHasRoom()) return false;
    return this.dueEntry(now) === undefined;
  }

  /**
   * When `poll` next has something to do, in the caller's ms clock; undefined when idle. A value
   * at or before the current time means "poll now".
   */
  nextDeadline(o: { ignoreAcks?: boolean } = {}): number | undefined {
    const acksWaiting = !o.ignoreAcks && this.unsentAcks.length > 0;
    if (acksWaiting || (this.pending.length > 0 && this.windowHasRoom())) {
      return this.lastNow;
    }
    let earliest: number | undefined;
    for (const e of this.inFlight.values()) {
      const at = this.fastDue(e) ? this.lastNow : e.nextTryAt;
      if (earliest === undefined || at < earliest) earliest = at;
    }
    return earliest;
  }

  /** Nothing queued, nothing unacked and no ack owed. */
  isIdle(): boolean {
    return this.pending.length === 0 && this.inFlight.size === 0 && this.unsentAcks.length === 0;
  }

  /** Our packets sent and not yet acked. */
  unackedCount(): number {
    return this.inFlight.size;
  }

  /** Payloads and stream bytes waiting for window space. */
  queuedCount(): number {
    return this.pending.length;
  }

  stats(): ReliableStats {
    return { ...this.counters };
  }

  private applyAcks(acks: readonly number[]): number[] {
    const newlyAcked: number[] = [];
    for (const raw of acks) {
      const id = raw >>> 0;
      const entry = this.inFlight.get(id);
      if (entry !== undefined) {
        const inFlight = this.inFlightForWrite();
        inFlight.delete(id);
        if (inFlight.size === 0) this.inFlight = IDLE_IN_FLIGHT;
        newlyAcked.push(id);
        this.counters.acked += 1;
      }
      // An ack for a later id hints that earlier ones were lost (reliable_send_purge). Like
      // OpenVPN we count every ack listed, repeated copies included: it resends some packets
      // that were merely overtaken, but in simulation it finishes lossy exchanges several times
      // sooner than counting first acks only, and handshake latency is what matters here.
      for (const e of this.inFlight.values()) {
        if (packetIdBefore(e.packetId, id)) e.laterAcks += 1;
      }
    }
    return newlyAcked;
  }

  private acceptMessage(rawId: number, payload: Uint8Array | undefined): ReceiveVerdict {
    const id = rawId >>> 0;
    const ahead = packetIdDistance(id, this.nextDeliverId);
    let verdict: ReceiveVerdict;
    if (ahead < this.receiveWindow) {
      if (this.received.has(id)) {
        verdict = 'duplicate';
      } else {
        this.receivedForWrite().set(id, payload ?? new Uint8Array(0));
        verdict = 'new';
      }
    } else if (ahead >= PACKET_ID_HALF_RANGE) {
      verdict = 'duplicate';
    } else {
      this.counters.beyondWindow += 1;
      return 'beyond-window';
    }
    if (verdict === 'new') this.counters.received += 1;
    else this.counters.duplicates += 1;
    this.recordAck(id);
    return verdict;
  }

  private recordAck(id: number): void {
    // Like reliable_ack_acknowledge_packet_id: no duplicates, and a bounded backlog; an id that
    // does not fit is acked when the peer resends it.
    if (this.unsentAcks.includes(id) || this.unsentAcks.length >= this.acksPerAckPacket) return;
    this.unsentAcks.push(id);
  }

  /** Takes up to `max` owed acks, then fills free slots with recently sent ones. */
  private takeAcks(max: number): number[] {
    const fresh = this.unsentAcks.splice(0, Math.min(max, this.unsentAcks.length));
    if (!this.repeatRecentAcks) return fresh;
    for (let i = fresh.length - 1; i >= 0; i--) {
      const id = fresh[i] as number;
      const at = this.recentAcks.indexOf(id);
      if (at >= 0) this.recentAcks.splice(at, 1);
      this.recentAcks.unshift(id);
    }
    if (this.recentAcks.length > this.acksPerAckPacket) {
      this.recentAcks.length = this.acksPerAckPacket;
    }
    return this.recentAcks.slice(0, max);
  }

  private oldestUnacked(): number | undefined {
    let oldest: number | undefined;
    for (const id of this.inFlight.keys()) {
      if (oldest === undefined || packetIdBefore(id, oldest)) oldest = id;
    }
    return oldest;
  }

  private windowHasRoom(): boolean {
    const oldest = this.oldestUnacked();
    return oldest === undefined || packetIdDistance(this.nextSendId, oldest) < this.sendWindow;
  }

  private admitPending(now: number): void {
    while (this.pending.length > 0 && this.windowHasRoom()) {
      const { payload, opcode } = this.takePendingPayload();
      const id = this.nextSendId;
      this.nextSendId = nextPacketId(id);
      this.inFlightForWrite().set(id, {
        packetId: id,
        payload,
        opcode,
        nextTryAt: now,
        timeoutMs: this.initialTimeoutMs,
        laterAcks: 0,
        attempts: 0,
      });
    }
  }

  private takePendingPayload(): { payload: Uint8Array; opcode: number | undefined } {
    const head = this.pending[0] as PendingMessage | PendingStream;
    if (head.kind === 'message') {
      this.takePending();
      return { payload: head.payload, opcode: head.opcode };
    }
    const size = Math.min(this.maxPayloadBytes, head.length);
    const payload = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      const chunk = head.chunks[0] as Uint8Array;
      const take = Math.min(chunk.length, size - filled);
      payload.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.length) head.chunks.shift();
      else head.chunks[0] = chunk.subarray(take);
    }
    head.length -= size;
    if (head.length === 0) this.takePending();
    return { payload, opcode: undefined };
  }

  /** Drops the head of `pending`; an emptied queue gets a fresh array, shift() keeps capacity. */
  private takePending(): void {
    this.pending.shift();
    if (this.pending.length === 0) this.pending = [];
  }

  private inFlightForWrite(): Map<number, InFlight> {
    if (this.inFlight === IDLE_IN_FLIGHT) this.inFlight = new Map();
    return this.inFlight as Map<number, InFlight>;
  }

  private receivedForWrite(): Map<number, Uint8Array> {
    if (this.received === IDLE_RECEIVED) this.received = new Map();
    return this.received as Map<number, Uint8Array>;
  }

  private fastDue(e: InFlight): boolean {
    return this.fastRetransmitAcks > 0 && e.attempts > 0 && e.laterAcks >= this.fastRetransmitAcks;
  }

  private dueEntry(now: number): InFlight | undefined {
    let best: InFlight | undefined;
    for (const e of this.inFlight.values()) {
      if (now < e.nextTryAt && !this.fastDue(e)) continue;
      if (best === undefined || packetIdBefore(e.packetId, best.packetId)) best = e;
    }
    return best;
  }
}
