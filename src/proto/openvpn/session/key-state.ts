// One key state (ssl_common.h struct key_state): everything that belongs to one key id. Its own
// reliable layer (message ids from 0 each way), its own TLS session, the reset exchange that
// opens it, and the key method 2 exchange inside TLS that supplies the PRF material and the
// peer's username, password and peer-info. After that the TLS stream carries NUL-terminated
// control messages (PUSH_REQUEST, PUSH_REPLY, AUTH_FAILED, EXIT, ...).
//
//   initial ── both resets through ──▶ tls ── handshake done ──▶ key-exchange
//     ── both key method 2 messages through ──▶ key-exchanged ── data keys out ──▶ active
//     ── a newer key takes over ──▶ lame-duck ── tran-window over ──▶ closed
//
// Message 0 in each direction is the reset (HARD_RESET_* for key id 0, SOFT_RESET_V1 after).
// As OpenVPN (S_PRE_START → S_START), TLS records are held back until our reset is acknowledged
// and the peer's reset has arrived, so a ClientHello never overtakes the reset exchange.
// Key method 2 goes client first: the client writes it when its handshake is done, the server
// answers once it has read the client's (ssl.c tls_process_state).
//
// The key state never sees bytes on the wire: the session decodes packets for it and encodes
// what `poll` returns. It reports what happened as KeyStateEvents for the session to act on.
import { PosternError } from '../../../errors.js';
import type { Opcode } from '../../../wire/openvpn/constants.js';
import type { ControlPacket } from '../../../wire/openvpn/control-packet.js';
import { encodeControlMessage, ControlMessageSplitter } from '../control-messages.js';
import { decodeKeyMethod2, encodeKeyMethod2 } from '../key-method2.js';
import type { KeyMethod2Message, KeyMethod2Sender } from '../key-method2.js';
import { ReliableLayer } from '../reliable.js';
import type { ReliableOptions, ReliableOutput } from '../reliable.js';
import type { TlsEngine, TlsEngineFactory, TlsEvent, TlsHandshakeInfo } from './tls-engine.js';

/** The message id of the reset in each direction. */
const RESET_PACKET_ID = 0;
/** A key method 2 message is a few hundred bytes; more without a complete one is garbage. */
const MAX_KEY_METHOD_2_BYTES = 4096;
/** Shared by every key state that has no partial key method 2 message (nearly all of them). */
const NO_BYTES = new Uint8Array(0);
/** Longest a bare ACK waits for a TLS step's output to ride on (holdsAcks). */
const ACK_HOLD_MAX_MS = 50;
/** How often a held ACK looks again whether the step is done (it usually wakes us first). */
const ACK_RECHECK_MS = 5;

export type KeyPhase =
  'initial' | 'tls' | 'key-exchange' | 'key-exchanged' | 'active' | 'lame-duck' | 'closed';

export type KeyStateEvent =
  /** The peer's reset (message 0) arrived; its payload (TLVs in a 2.6 server reset). */
  | { kind: 'peer-reset'; payload: Uint8Array }
  | { kind: 'handshake-done'; info: TlsHandshakeInfo }
  /** The peer's key method 2 message; ours has been sent too. */
  | { kind: 'key-method-2'; message: KeyMethod2Message }
  | { kind: 'key-method-2-invalid'; detail: string }
  | { kind: 'control-message'; text: string }
  | { kind: 'control-message-invalid' }
  | { kind: 'tls-error'; code: string; message: string };

export type KeyStateDrop = 'bad-reset' | 'beyond-window';

export interface KeyStateOptions {
  keyId: number;
  role: KeyMethod2Sender;
  /**
   * Our reset, queued as message 0. Undefined when both resets were exchanged before this key
   * state existed (a 2.6 server's stateless HMAC-cookie start): then ids start at 1 both ways.
   */
  resetOpcode: Opcode | undefined;
  /** Payload of our reset (empty, or early-negotiation TLVs). */
  resetPayload?: Uint8Array;
  /** Opcodes the peer's message 0 may carry. */
  peerResetOpcodes: readonly Opcode[];
  /** Our key method 2 message, sent when our turn comes. */
  localKeyMethod2: KeyMethod2Message;
  reliable?: ReliableOptions;
  createTls: TlsEngineFactory;
  /** Where this key state's TLS events go (the session queues them). */
  onTlsEvent: (state: KeyState, event: TlsEvent) => void;
}

export class KeyState {
  readonly keyId: number;
  readonly role: KeyMethod2Sender;
  readonly tls: TlsEngine;
  private ackHeldSince: number | undefined;
  private ackCheckedAt = 0;
  readonly reliable: ReliableLayer;
  private phaseNow: KeyPhase = 'initial';
  private readonly peerResetOpcodes: readonly Opcode[];
  private ourResetAcked: boolean;
  private peerResetReceived: boolean;
  private heldCiphertext: Uint8Array[] = [];
  private heldPlaintext: Uint8Array[] = [];
  private heldMessages: Uint8Array[] = [];
  private keyMethod2Bytes: Uint8Array = NO_BYTES;
  // Both key method 2 messages serve only to derive this key's data keys: activate() lets go of
  // them, as a key lives on for an hour or more after that.
  private local: KeyMethod2Message | undefined;
  private remote: KeyMethod2Message | undefined;
  private keyMethod2Done = false;
  private handshakeDone = false;
  private readonly splitter = new ControlMessageSplitter();
  /** Ciphertext events seen; lets a session wait until a last message has left TLS. */
  ciphertextEvents = 0;

  constructor(options: KeyStateOptions) {
    this.keyId = options.keyId;
    this.role = options.role;
    this.local = options.localKeyMethod2;
    this.peerResetOpcodes = options.peerResetOpcodes;
    const preExchanged = options.resetOpcode === undefined;
    this.reliable = new ReliableLayer({
      ...options.reliable,
      firstSendId: preExchanged ? RESET_PACKET_ID + 1 : RESET_PACKET_ID,
      firstReceiveId: preExchanged ? RESET_PACKET_ID + 1 : RESET_PACKET_ID,
    });
    this.ourResetAcked = preExchanged;
    this.peerResetReceived = preExchanged;
    if (options.resetOpcode !== undefined) {
      this.reliable.queue(options.resetPayload ?? new Uint8Array(0), options.resetOpcode);
    }
    if (preExchanged) this.phaseNow = 'tls';
    // The callback must not close over `options`: the engine keeps it for the key's life.
    const onTlsEvent = options.onTlsEvent;
    this.tls = options.createTls(this.keyId, (event) => onTlsEvent(this, event));
  }

  get phase(): KeyPhase {
    return this.phaseNow;
  }

  /** Our key method 2 message, until activate(). */
  get localKeyMethod2(): KeyMethod2Message | undefined {
    return this.local;
  }

  /** The peer's key method 2 message, once read and until activate(). */
  get remoteKeyMethod2(): KeyMethod2Message | undefined {
    return this.remote;
  }

  /** Data keys are out: the key carries traffic. The key method 2 messages are let go. */
  activate(): void {
    this.requirePhase('key-exchanged', 'activate');
    this.phaseNow = 'active';
    this.local = undefined;
    this.remote = undefined;
  }

  /** A newer key took over; this one only decrypts until the transition window ends. */
  demote(): void {
    if (this.phaseNow === 'active') this.phaseNow = 'lame-duck';
  }

  close(): void {
    if (this.phaseNow === 'closed') return;
    this.phaseNow = 'closed';
    this.heldCiphertext = [];
    this.heldPlaintext = [];
    this.heldMessages = [];
    this.tls.close();
  }

  /**
   * A decoded packet of this key id from the peer. Returns what happened; a reset that is not
   * message 0 (or a message 0 that is not a reset) is dropped.
   */
  receive(packet: ControlPacket, now: number): { events: KeyStateEvent[]; drop?: KeyStateDrop } {
    if (this.phaseNow === 'closed') return { events: [] };
    if (packet.kind === 'message') {
      const isReset = this.peerResetOpcodes.includes(packet.opcode);
      if (isReset !== (packet.packetId === RESET_PACKET_ID))
        return { events: [], drop: 'bad-reset' };
    }
    const result = this.reliable.onPacket(
      packet.kind === 'message'
        ? { packetId: packet.packetId, acks: packet.acks, payload: packet.payload }
        : { acks: packet.acks },
      now,
    );
    if (result.newlyAcked.includes(RESET_PACKET_ID)) this.ourResetAcked = true;
    const events: KeyStateEvent[] = [];
    for (const payload of this.reliable.deliver()) {
      if (!this.peerResetReceived) {
        this.peerResetReceived = true;
        events.push({ kind: 'peer-reset', payload });
        continue;
      }
      this.tls.receiveCiphertext(payload);
    }
    this.openGate();
    if (result.received === 'beyond-window') return { events, drop: 'beyond-window' };
    return { events };
  }

  /** One event of this key state's TLS engine, taken from the session's queue. */
  onTls(event: TlsEvent): KeyStateEvent[] {
    if (this.phaseNow === 'closed') return [];
    switch (event.kind) {
      case 'ciphertext':
        this.ciphertextEvents += 1;
        this.heldCiphertext.push(event.bytes);
        this.openGate();
        return [];
      case 'handshake-done': {
        this.handshakeDone = true;
        if (this.phaseNow === 'initial' || this.phaseNow === 'tls') this.phaseNow = 'key-exchange';
        const events: KeyStateEvent[] = [{ kind: 'handshake-done', info: event.info }];
        if (this.role === 'client') this.sendKeyMethod2();
        const held = this.heldPlaintext;
        this.heldPlaintext = [];
        for (const bytes of held) events.push(...this.onPlaintext(bytes));
        return events;
      }
      case 'plaintext':
        if (!this.handshakeDone) {
          this.heldPlaintext.push(event.bytes);
          return [];
        }
        return this.onPlaintext(event.bytes);
      case 'error':
        return [{ kind: 'tls-error', code: event.code, message: event.message }];
    }
  }

  /**
   * Sends one control message (text without its NUL) through TLS. Before key method 2 is
   * through both ways it waits, as OpenVPN queues it in the key state's `paybuf`.
   */
  sendControlMessage(text: string): void {
    if (this.phaseNow === 'closed') {
      throw new PosternError('OVPN_KEY_STATE', `key ${this.keyId} is closed`);
    }
    const bytes = encodeControlMessage(text);
    if (!this.keyMethod2Done) this.heldMessages.push(bytes);
    else this.tls.sendPlaintext(bytes);
  }

  /** The next packet the reliable layer wants out, or undefined. */
  poll(now: number): ReliableOutput | undefined {
    if (this.phaseNow === 'closed') return undefined;
    if (this.holdsAcks(now)) return undefined;
    return this.reliable.poll(now);
  }

  nextDeadline(): number | undefined {
    if (this.phaseNow === 'closed') return undefined;
    const held = this.ackHeldSince;
    if (held === undefined) return this.reliable.nextDeadline();
    const recheck = Math.min(held + ACK_HOLD_MAX_MS, this.ackCheckedAt + ACK_RECHECK_MS);
    const other = this.reliable.nextDeadline({ ignoreAcks: true });
    return other === undefined ? recheck : Math.min(other, recheck);
  }

  /**
   * While a TLS step runs on the pool, a bare ACK waits for the step's output to carry it (as
   * OpenVPN's synchronous TLS answers with one packet): two packets fewer per handshake each
   * way. Never longer than ACK_HOLD_MAX_MS, far below the peer's retransmission timeout.
   */
  private holdsAcks(now: number): boolean {
    this.ackCheckedAt = now;
    if (this.tls.busy !== true || !this.reliable.onlyAcksDue(now)) {
      this.ackHeldSince = undefined;
      return false;
    }
    this.ackHeldSince ??= now;
    if (now - this.ackHeldSince < ACK_HOLD_MAX_MS) return true;
    this.ackHeldSince = undefined;
    return false;
  }

  /** Nothing of ours is waiting to be sent or acknowledged. */
  isDrained(): boolean {
    return (
      this.heldMessages.length === 0 && this.heldCiphertext.length === 0 && this.reliable.isIdle()
    );
  }

  private openGate(): void {
    if (!this.ourResetAcked || !this.peerResetReceived) return;
    if (this.phaseNow === 'initial') this.phaseNow = 'tls';
    for (const bytes of this.heldCiphertext) this.reliable.queueBytes(bytes);
    this.heldCiphertext = [];
  }

  private sendKeyMethod2(): void {
    const local = this.local as KeyMethod2Message; // sent before activate() lets go of it
    this.tls.sendPlaintext(encodeKeyMethod2(local, this.role));
  }

  private onPlaintext(bytes: Uint8Array): KeyStateEvent[] {
    if (this.keyMethod2Done) return this.controlMessages(bytes);
    const joined = new Uint8Array(this.keyMethod2Bytes.length + bytes.length);
    joined.set(this.keyMethod2Bytes, 0);
    joined.set(bytes, this.keyMethod2Bytes.length);
    const decoded = decodeKeyMethod2(joined, {
      from: this.role === 'server' ? 'client' : 'server',
    });
    if (!decoded.ok) {
      if (decoded.reason === 'truncated' && joined.length < MAX_KEY_METHOD_2_BYTES) {
        this.keyMethod2Bytes = joined;
        return [];
      }
      this.keyMethod2Bytes = NO_BYTES;
      return [{ kind: 'key-method-2-invalid', detail: `${decoded.reason}: ${decoded.detail}` }];
    }
    // Bytes after the message are ignored, as OpenVPN does: it reads one TLS record.
    this.keyMethod2Bytes = NO_BYTES;
    this.remote = decoded.message;
    this.keyMethod2Done = true;
    if (this.role === 'server') this.sendKeyMethod2();
    this.phaseNow = 'key-exchanged';
    for (const message of this.heldMessages) this.tls.sendPlaintext(message);
    this.heldMessages = [];
    return [{ kind: 'key-method-2', message: decoded.message }];
  }

  private controlMessages(bytes: Uint8Array): KeyStateEvent[] {
    const events: KeyStateEvent[] = [];
    for (const out of this.splitter.push(bytes)) {
      if (out.kind === 'message') events.push({ kind: 'control-message', text: out.text });
      else events.push({ kind: 'control-message-invalid' });
    }
    return events;
  }

  private requirePhase(phase: KeyPhase, action: string): void {
    if (this.phaseNow !== phase) {
      throw new PosternError(
        'OVPN_KEY_STATE',
        `key ${this.keyId} cannot ${action} in phase ${this.phaseNow}`,
      );
    }
  }
}
