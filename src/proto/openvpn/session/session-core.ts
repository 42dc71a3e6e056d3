// What a server session and a client session share (ssl.c tls_multi / tls_session): one pair of
// session ids, the control-channel wrapping, the key states (a primary and, after a
// renegotiation, a lame duck), the key schedule, and the loop that turns packets, TLS events and
// timeouts into outputs. Sans-I/O: every entry point takes `now` (ms since the Unix epoch) and
// returns the outputs it produced; `nextDeadline()` says when to call `handleTimeout`.
//
// Renegotiation (either side, same session ids): the initiator opens key id n+1 with a
// SOFT_RESET_V1, the responder answers with its own, then a full TLS handshake and key method 2
// run in the new key state. The new key becomes the primary once its data keys are out; the old
// one stays decryptable as the lame duck until `tran-window` ends (then `retireKey`).
import { PosternError } from '../../../errors.js';
import type { AeadAlgorithm } from '../../../crypto/aead.js';
import type { DataChannelKeys } from '../../../dataplane/reference/openvpn-data.js';
import { Opcode } from '../../../wire/openvpn/constants.js';
import type { ControlPacket } from '../../../wire/openvpn/control-packet.js';
import type { MessageOpcode } from '../../../wire/openvpn/opcode.js';
import { maxControlPayloadBytes } from '../control-payload.js';
import type { KeyMethod2Message } from '../key-method2.js';
import { KeySchedule, nextKeyId } from '../key-state-timers.js';
import type { KeyRole, RenegotiationPolicy } from '../key-state-timers.js';
import type { ReliableOutput } from '../reliable.js';
import { sessionIdEquals } from '../session-id.js';
import type { RandomBytes } from '../session-id.js';
import type { ControlChannel } from './control-channel.js';
import { deriveDataKeys } from './data-keys.js';
import type { KeyDerivation } from './data-keys.js';
import { KeyState } from './key-state.js';
import type { KeyStateEvent } from './key-state.js';
import type { TlsEngineFactory, TlsEvent } from './tls-engine.js';

const MS_PER_SEC = 1000;
const UINT32_RANGE = 0x1_0000_0000;
/**
 * How long a session waits for its last message (AUTH_FAILED, RESTART, HALT, EXIT) to be
 * acknowledged before it calls itself closed: OpenVPN's `--scheduled-exit-interval`, 5 s.
 */
export const CLOSE_LINGER_MS = 5_000;
/** How long a session that failed in TLS keeps sending its last records (the alert). */
export const TLS_ALERT_LINGER_MS = 2_000;

export type Transport = 'udp' | 'tcp';

export type CloseReason =
  /** The peer said EXIT (server), or we said it (client disconnect). */
  | 'exit'
  /** Refused: bad credentials, or no shared data-channel cipher. */
  | 'auth-failed'
  /** The gateway kicked the client (RESTART or HALT sent). */
  | 'kicked'
  /** Client: the server sent RESTART / HALT. */
  | 'restart'
  | 'halt'
  /** A key's TLS handshake and key exchange did not finish within hand-window. */
  | 'handshake-timeout'
  /** TLS failed: bad certificate, alert, changed identity. */
  | 'tls-error'
  /** The peer broke the protocol (bad key method 2, pushed cipher we never offered, ...). */
  | 'protocol-error'
  /** Closed by the owner: ping-restart, shutdown, replaced by a new session. */
  | 'ping-restart'
  | 'shutdown'
  | 'replaced';

/** The data-channel keys of one key id, for the data plane. */
export interface KeysOutput {
  kind: 'keys';
  keyId: number;
  cipher: AeadAlgorithm;
  /** This side's send and receive keys. */
  keys: DataChannelKeys;
  /** DATA_V2 peer id (the server's assignment); undefined means DATA_V1. */
  peerId: number | undefined;
  derivation: KeyDerivation;
  /**
   * Send with this key from now on. False for a server's renegotiated key: it decrypts at once,
   * but the data plane keeps sending with the old key until `use-key`, when the peer has
   * acknowledged our key method 2 and so can decrypt the new key (ssl.c: S_GOT_KEY becomes
   * S_ACTIVE once the send queue is empty). Sooner, its packets would reach a peer that cannot
   * open them yet.
   */
  sendNow: boolean;
}

export type CommonOutput =
  /** One OpenVPN packet: frame it for TCP, or send it as one UDP datagram. */
  | { kind: 'send'; packet: Uint8Array }
  | KeysOutput
  /** The peer can now decrypt this key (installed earlier with sendNow false): send with it. */
  | { kind: 'use-key'; keyId: number }
  /** The transition window of an old key is over: stop decrypting with it. */
  | { kind: 'retireKey'; keyId: number }
  /** The session is over; no more outputs follow. The data plane drops all its keys. */
  | { kind: 'closed'; reason: CloseReason; detail: string | undefined };

/** What the data channel runs with, decided once for the whole session. */
export interface DataChannelParams {
  cipher: AeadAlgorithm;
  derivation: KeyDerivation;
  peerId: number | undefined;
}

export interface SessionCoreOptions {
  role: KeyRole;
  localSessionId: Uint8Array;
  remoteSessionId: Uint8Array | undefined;
  control: ControlChannel;
  createTls: TlsEngineFactory;
  random: RandomBytes;
  renegotiation?: RenegotiationPolicy;
  /** Called when TLS events are queued: the driver should then call `handleTlsEvents(now)`. */
  wake?: () => void;
}

type SessionPhase = 'open' | 'closing' | 'closed';

/** What `dropCounts` shows before the first drop: most sessions never drop a packet. */
const NO_DROPS: ReadonlyMap<string, number> = new Map();

function unitRandom(random: RandomBytes): () => number {
  return () => {
    const b = random(4);
    return (
      ((((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0) /
      UINT32_RANGE
    );
  };
}

export abstract class SessionCore<Extra extends { kind: string }> {
  readonly localSessionId: Uint8Array;
  protected remoteSessionId: Uint8Array | undefined;
  protected readonly role: KeyRole;
  protected readonly control: ControlChannel;
  protected readonly random: RandomBytes;
  protected readonly schedule: KeySchedule;
  protected primary: KeyState | undefined;
  protected lameDuck: KeyState | undefined;
  protected dataParams: DataChannelParams | undefined;
  private readonly createTls: TlsEngineFactory;
  private readonly wake: (() => void) | undefined;
  private inbox: { state: KeyState; event: TlsEvent }[] = [];
  private outputs: (CommonOutput | Extra)[] = [];
  private phase: SessionPhase = 'open';
  private linger:
    | {
        until: number;
        reason: CloseReason;
        detail: string | undefined;
        key: KeyState;
        mark: number;
      }
    | undefined;
  /** Created at the first drop. */
  private drops: Map<string, number> | undefined;
  private readonly maxPayloadBytes: number;
  private renegotiations = 0;

  protected constructor(options: SessionCoreOptions) {
    this.role = options.role;
    // Copies (new Uint8Array: Buffer's slice() is a view, which could pin a whole packet or a
    // pooled 8 KiB slab for the session's life).
    this.localSessionId = new Uint8Array(options.localSessionId);
    this.remoteSessionId = options.remoteSessionId && new Uint8Array(options.remoteSessionId);
    this.control = options.control;
    this.createTls = options.createTls;
    this.random = options.random;
    this.wake = options.wake;
    this.schedule = new KeySchedule(
      options.renegotiation ?? {},
      this.role,
      unitRandom(this.random),
    );
    this.maxPayloadBytes = maxControlPayloadBytes({
      wrap: this.control.wrapped ? { kind: 'tls-crypt' } : { kind: 'none' },
    });
  }

  // Entry points.

  /** One control packet from the peer (anything but DATA_V1/V2). */
  receive(bytes: Uint8Array, now: number): (CommonOutput | Extra)[] {
    if (this.phase === 'closed') return [];
    this.deferredWork();
    this.drainInbox(now);
    this.receivePacket(bytes, now);
    this.drainInbox(now);
    return this.flush(now);
  }

  /** Acts on the TLS events queued since the last call (after `wake`). */
  handleTlsEvents(now: number): (CommonOutput | Extra)[] {
    if (this.phase === 'closed') return [];
    this.drainInbox(now);
    return this.flush(now);
  }

  /** Retransmissions, renegotiation and other timers; call at `nextDeadline()`. */
  handleTimeout(now: number): (CommonOutput | Extra)[] {
    if (this.phase === 'closed') return [];
    this.deferredWork();
    this.drainInbox(now);
    this.runSchedule(now);
    if (!this.closed) this.onTimers(now);
    this.drainInbox(now);
    return this.flush(now);
  }

  /** Starts a renegotiation now (`postern rekey`); ignored while one is under way. */
  rekey(now: number): (CommonOutput | Extra)[] {
    if (this.phase !== 'open') return [];
    this.drainInbox(now);
    this.startRenegotiation(now);
    return this.flush(now);
  }

  /** Ends the session at once, telling the peer nothing (ping-restart, shutdown). */
  close(reason: CloseReason, now: number, detail?: string): (CommonOutput | Extra)[] {
    if (this.phase === 'closed') return [];
    // After our final message (a kick, a goodbye) the peer hanging up is its answer to it: the
    // session ends for our reason, not its.
    const linger = this.linger;
    if (linger !== undefined) this.closeNow(linger.reason, linger.detail);
    else this.closeNow(reason, detail);
    return this.flush(now);
  }

  /** When `handleTimeout` wants to run next; undefined once closed or when nothing is due. */
  nextDeadline(): number | undefined {
    if (this.phase === 'closed') return undefined;
    const times: number[] = [];
    for (const state of this.keyStates()) {
      const t = state.nextDeadline();
      if (t !== undefined) times.push(t);
    }
    const scheduled = this.schedule.nextDeadline();
    if (scheduled !== undefined) times.push(scheduled);
    if (this.linger !== undefined) times.push(this.linger.until);
    const own = this.ownDeadline();
    if (own !== undefined) times.push(own);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** Adds data-channel traffic through a key, for byte/packet renegotiation limits. */
  countTraffic(keyId: number, bytes: number, packets = 1): void {
    this.schedule.countTraffic(keyId, bytes, packets);
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  /** `id` is not the peer's session id (false while that is not known yet). */
  isAnotherPeer(id: Uint8Array): boolean {
    return this.remoteSessionId !== undefined && !sessionIdEquals(id, this.remoteSessionId);
  }

  /** Packets dropped, by reason (bad tls-crypt tag, replay, wrong session id, ...). */
  get dropCounts(): ReadonlyMap<string, number> {
    return this.drops ?? NO_DROPS;
  }

  /** Renegotiations started so far, by either side. */
  get renegotiationCount(): number {
    return this.renegotiations;
  }

  /** The key ids that currently carry data: the primary (if active) and the lame duck. */
  activeKeyIds(): number[] {
    return this.keyStates()
      .filter((s) => s.phase === 'active' || s.phase === 'lame-duck')
      .map((s) => s.keyId);
  }

  // Hooks for the two sides.

  /** Opcodes the peer's message 0 of this key id may carry. */
  protected abstract peerResetOpcodes(keyId: number): readonly Opcode[];
  /** A fresh key method 2 message of ours (new randoms each key). */
  protected abstract newLocalKeyMethod2(): KeyMethod2Message;
  /** Reacts to what a key state reports (handshake done, key method 2, control messages). */
  protected abstract onKeyEvent(state: KeyState, event: KeyStateEvent, now: number): void;
  /** Whether to adopt the session id of a peer whose id we do not know yet. */
  protected abstract adoptsPeerSessionId(packet: ControlPacket): boolean;
  /** Side-specific timers (the client's PUSH_REQUEST retries). */
  protected onTimers(_now: number): void {}
  protected ownDeadline(): number | undefined {
    return undefined;
  }
  /** The opcode of an outgoing TLS packet (the v2 client's CONTROL_WKC_V1 overrides). */
  protected controlOpcode(_state: KeyState, _packetId: number): MessageOpcode {
    return Opcode.CONTROL_V1;
  }

  // Helpers for the two sides.

  protected emit(output: CommonOutput | Extra): void {
    this.outputs.push(output);
  }

  protected countDrop(reason: string): void {
    this.drops ??= new Map();
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  protected get isOpen(): boolean {
    return this.phase === 'open';
  }

  protected newKeyState(
    keyId: number,
    resetOpcode: Opcode | undefined,
    resetPayload?: Uint8Array,
  ): KeyState {
    return new KeyState({
      keyId,
      role: this.role,
      resetOpcode,
      ...(resetPayload !== undefined ? { resetPayload } : {}),
      peerResetOpcodes: this.peerResetOpcodes(keyId),
      localKeyMethod2: this.newLocalKeyMethod2(),
      reliable: { maxPayloadBytes: this.maxPayloadBytes },
      createTls: this.createTls,
      onTlsEvent: (state, event) => this.enqueueTlsEvent(state, event),
    });
  }

  /**
   * The key that carries control messages: always the primary, even while it is still being
   * negotiated (messages then wait in it). OpenVPN sends on and accepts from the primary only
   * ("local/remote key IDs out of sync" otherwise).
   */
  protected controlKey(): KeyState | undefined {
    return this.primary?.phase === 'closed' ? undefined : this.primary;
  }

  protected sendControlMessage(text: string): boolean {
    const key = this.controlKey();
    if (key === undefined) return false;
    key.sendControlMessage(text);
    return true;
  }

  /** Derives the data keys of a key state that finished key method 2 and puts it to work. */
  protected activateKey(state: KeyState, now: number): void {
    const params = this.dataParams;
    const remote = state.remoteKeyMethod2;
    const local = state.localKeyMethod2;
    if (
      params === undefined ||
      remote === undefined ||
      local === undefined ||
      this.remoteSessionId === undefined
    ) {
      throw new PosternError('OVPN_SESSION_STATE', `key ${state.keyId} is not ready for data keys`);
    }
    const server = this.role === 'server';
    const keys = deriveDataKeys({
      derivation: params.derivation,
      tls: state.tls,
      role: this.role,
      cipher: params.cipher,
      clientKeyMethod2: server ? remote : local,
      serverKeyMethod2: server ? local : remote,
      clientSessionId: server ? this.remoteSessionId : this.localSessionId,
      serverSessionId: server ? this.localSessionId : this.remoteSessionId,
    });
    state.activate();
    this.schedule.established(state.keyId, now);
    if (state === this.primary) this.lameDuck?.demote();
    // A server's renegotiated key: the peer learns it from the key method 2 we just sent.
    const sendNow = !server || state.keyId === 0 || state !== this.primary;
    if (!sendNow) this.awaitingUse = { key: state, mark: state.ciphertextEvents };
    this.emit({
      kind: 'keys',
      keyId: state.keyId,
      cipher: params.cipher,
      keys,
      peerId: params.peerId,
      derivation: params.derivation,
      sendNow,
    });
  }

  /** The renegotiated key waiting for its key method 2 to be acknowledged (server side). */
  private awaitingUse: { key: KeyState; mark: number } | undefined;

  /** Emits `use-key` once the peer acknowledged what we sent with the new key's key method 2. */
  private checkKeyInUse(): void {
    const waiting = this.awaitingUse;
    if (waiting === undefined) return;
    if (waiting.key !== this.primary || waiting.key.phase === 'closed') {
      this.awaitingUse = undefined;
      return;
    }
    if (waiting.key.ciphertextEvents > waiting.mark && waiting.key.isDrained()) {
      this.awaitingUse = undefined;
      this.emit({ kind: 'use-key', keyId: waiting.key.keyId });
    }
  }

  /**
   * Sends a last control message (AUTH_FAILED, RESTART, HALT, EXIT) and ends the session once
   * the peer has acknowledged it, or after CLOSE_LINGER_MS. Without a key that can carry it, the
   * session ends at once.
   */
  protected sendFinalMessage(
    text: string,
    reason: CloseReason,
    detail: string | undefined,
    now: number,
  ): void {
    if (this.phase !== 'open') return;
    const key = this.controlKey();
    if (key === undefined) {
      this.closeNow(reason, detail);
      return;
    }
    const mark = key.ciphertextEvents;
    key.sendControlMessage(text);
    this.phase = 'closing';
    this.linger = { until: now + CLOSE_LINGER_MS, reason, detail, key, mark };
  }

  protected closeNow(reason: CloseReason, detail?: string): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.linger = undefined;
    for (const state of this.keyStates()) state.close();
    this.inbox.length = 0;
    this.emit({ kind: 'closed', reason, detail });
  }

  protected startRenegotiation(now: number): void {
    const old = this.primary;
    if (this.phase !== 'open' || old === undefined || old.phase !== 'active') return;
    if (this.lameDuck !== undefined) this.retire(this.lameDuck);
    const keyId = this.schedule.beginRenegotiation(now);
    this.lameDuck = old;
    this.primary = this.newKeyState(keyId, Opcode.CONTROL_SOFT_RESET_V1);
    this.renegotiations += 1;
  }

  /**
   * Work a call put off to the next packet or timer, so that the packets it made are not held
   * up by it (they leave only when the call returns).
   */
  protected deferredWork(): void {}

  // Internals.

  private keyStates(): KeyState[] {
    return [this.primary, this.lameDuck].filter((s): s is KeyState => s !== undefined);
  }

  private enqueueTlsEvent(state: KeyState, event: TlsEvent): void {
    if (this.phase === 'closed') return;
    const wasEmpty = this.inbox.length === 0;
    this.inbox.push({ state, event });
    if (wasEmpty) this.wake?.();
  }

  private drainInbox(now: number): void {
    if (this.inbox.length === 0) return;
    while (this.inbox.length > 0 && this.phase !== 'closed') {
      const { state, event } = this.inbox.shift() as { state: KeyState; event: TlsEvent };
      if (state !== this.primary && state !== this.lameDuck) continue;
      this.handleKeyEvents(state, state.onTls(event), now);
    }
    // shift() leaves the array's grown backing store in place; an idle session need not keep it.
    if (this.inbox.length === 0) this.inbox = [];
  }

  private receivePacket(bytes: Uint8Array, now: number): void {
    const opened = this.control.unwrap(bytes);
    if (!opened.ok) {
      this.countDrop(opened.reason);
      return;
    }
    const packet = opened.packet;
    if (this.remoteSessionId === undefined) {
      if (!this.adoptsPeerSessionId(packet)) {
        this.countDrop('unexpected-packet');
        return;
      }
      this.remoteSessionId = new Uint8Array(packet.sessionId);
    } else if (!sessionIdEquals(packet.sessionId, this.remoteSessionId)) {
      this.countDrop('wrong-session-id');
      return;
    }
    if (
      packet.acks.length > 0 &&
      (packet.remoteSessionId === undefined ||
        !sessionIdEquals(packet.remoteSessionId, this.localSessionId))
    ) {
      this.countDrop('wrong-remote-session-id');
      return;
    }
    let state = this.keyStates().find((s) => s.keyId === packet.keyId);
    if (
      state === undefined &&
      packet.opcode === Opcode.CONTROL_SOFT_RESET_V1 &&
      this.primary?.phase === 'active' &&
      packet.keyId === nextKeyId(this.primary.keyId)
    ) {
      this.startRenegotiation(now);
      state = this.primary;
    }
    if (state === undefined || state.keyId !== packet.keyId) {
      this.countDrop('unknown-key-id');
      return;
    }
    const { events, drop } = state.receive(packet, now);
    if (drop !== undefined) this.countDrop(drop);
    this.handleKeyEvents(state, events, now);
  }

  private handleKeyEvents(state: KeyState, events: readonly KeyStateEvent[], now: number): void {
    for (const event of events) {
      if (this.phase === 'closed') return;
      switch (event.kind) {
        case 'tls-error':
          // Only the primary's TLS matters; an old key's session has done its work.
          if (state !== this.primary) {
            this.countDrop('lame-duck-tls-error');
            break;
          }
          // Let the reliable layer deliver what TLS queued last (its alert, e.g. "certificate
          // revoked"), so the peer learns why instead of waiting out hand-window; then close.
          if (this.phase === 'open') {
            this.phase = 'closing';
            const detail = `${event.code}: ${event.message}`;
            this.linger = {
              until: now + TLS_ALERT_LINGER_MS,
              reason: 'tls-error',
              detail,
              key: state,
              mark: -1,
            };
            return;
          }
          this.closeNow('tls-error', `${event.code}: ${event.message}`);
          return;
        case 'key-method-2-invalid':
          this.closeNow('protocol-error', `key method 2: ${event.detail}`);
          return;
        case 'control-message-invalid':
          this.countDrop('invalid-control-message');
          break;
        default:
          this.onKeyEvent(state, event, now);
      }
    }
  }

  private runSchedule(now: number): void {
    for (;;) {
      const event = this.schedule.poll(now);
      if (event === undefined || this.phase === 'closed') return;
      switch (event.kind) {
        case 'renegotiate':
          this.startRenegotiation(now);
          break;
        case 'handshake-timeout':
          this.closeNow('handshake-timeout', `key ${event.keyId} not ready within hand-window`);
          return;
        case 'lame-duck-expired':
          if (this.lameDuck?.keyId === event.keyId) this.retire(this.lameDuck);
          break;
      }
    }
  }

  private retire(state: KeyState): void {
    const hadKeys = state.phase === 'active' || state.phase === 'lame-duck';
    state.close();
    if (state === this.lameDuck) this.lameDuck = undefined;
    if (hadKeys) this.emit({ kind: 'retireKey', keyId: state.keyId });
  }

  private flush(now: number): (CommonOutput | Extra)[] {
    if (this.phase !== 'closed') {
      for (const state of this.keyStates()) {
        for (let out = state.poll(now); out !== undefined; out = state.poll(now)) {
          this.emit({ kind: 'send', packet: this.control.wrap(this.encode(state, out)) });
        }
      }
      this.checkKeyInUse();
      this.checkLinger(now);
    }
    const outputs = this.outputs;
    this.outputs = [];
    return outputs;
  }

  private checkLinger(now: number): void {
    const linger = this.linger;
    if (linger === undefined) return;
    const key = linger.key;
    const delivered = key.ciphertextEvents > linger.mark && key.isDrained();
    if (delivered || now >= linger.until) this.closeNow(linger.reason, linger.detail);
  }

  private encode(state: KeyState, out: ReliableOutput): ControlPacket {
    const acks = out.acks;
    const common = {
      keyId: state.keyId,
      sessionId: this.localSessionId,
      acks,
      remoteSessionId: acks.length > 0 ? this.remoteSessionId : undefined,
    };
    if (out.kind === 'ack') return { kind: 'ack', opcode: Opcode.ACK_V1, ...common };
    return {
      kind: 'message',
      opcode: (out.opcode as MessageOpcode | undefined) ?? this.controlOpcode(state, out.packetId),
      packetId: out.packetId,
      payload: out.payload,
      ...common,
    };
  }
}

/** Seconds to ms, for timers given in OpenVPN's units. */
export function secondsToMs(seconds: number): number {
  return seconds * MS_PER_SEC;
}
