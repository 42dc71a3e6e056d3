// Runs one ServerSession core against real time and real transports: feeds it packets, TLS
// events and timeouts, and carries out what it asks (send, authenticate, keys, close).
import { randomBytesPooled } from '../../io/random.js';
import type { NativeUdpRemote } from '../../dataplane/native/openvpn-native.js';
import type { PeerTransport } from '../../dataplane/reference/openvpn-peers.js';
import type { ServerOutput, ServerSession } from '../../proto/openvpn/session/server-session.js';
import type { CloseReason } from '../../proto/openvpn/session/session-core.js';
import type { Protocol, SessionInfo, LiveSession } from '../sessions.js';

export interface DriverHooks {
  authenticate(d: SessionDriver, out: Extract<ServerOutput, { kind: 'authenticate' }>): void;
  keys(d: SessionDriver, out: Extract<ServerOutput, { kind: 'keys' }>): void;
  useKey(d: SessionDriver, keyId: number): void;
  retireKey(d: SessionDriver, keyId: number): void;
  established(d: SessionDriver, out: Extract<ServerOutput, { kind: 'established' }>): void;
  closed(d: SessionDriver, reason: CloseReason, detail: string | undefined): void;
  /** The gateway ended the session: its traffic stops now, before the goodbye is acknowledged. */
  kicked(d: SessionDriver): void;
  counters(d: SessionDriver): { bytesIn: number; bytesOut: number };
  /** Which data path carries the session's packets (undefined before it has keys). */
  dataPath?(d: SessionDriver): 'native' | 'reference' | undefined;
}

export class SessionDriver implements LiveSession {
  readonly id = Buffer.from(randomBytesPooled(4)).toString('hex');
  readonly protocol: Protocol;
  readonly peerId: number;
  core!: ServerSession;
  transport: PeerTransport;
  /** A UDP client on the native listener: its address, for the native data path. */
  nativeRemote: NativeUdpRemote | undefined;
  /** A UDP client: its key in the service's address map, so leaving it is one delete. */
  udpKey: string | undefined;
  remote: string;
  user = '';
  address4: string | null = null;
  address6: string | null = null;
  cipher: string | null = null;
  connectedAt: Date | undefined;
  rekeys = 0;
  keyCount = 0;
  /** The key id packets are sent with now (the newest one installed). */
  currentKeyId = 0;
  /** Bytes already reported to the core for reneg-bytes. */
  countedBytes = 0;
  isClosed = false;
  /** An audit record about this attempt was written (auth ok/fail), so a close needs no other. */
  authAudited = false;
  /** Traffic totals frozen when the data path let go of the session early (a kick). */
  finalCounters:
    { bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number } | undefined;
  readonly #hooks: DriverHooks;
  #timer: NodeJS.Timeout | undefined;
  /** The deadline #timer is armed for. */
  #timerAt = 0;
  #wakePending = false;

  constructor(o: {
    protocol: Protocol;
    peerId: number;
    transport: PeerTransport;
    remote: string;
    hooks: DriverHooks;
  }) {
    this.protocol = o.protocol;
    this.peerId = o.peerId;
    this.transport = o.transport;
    this.remote = o.remote;
    this.#hooks = o.hooks;
  }

  /**
   * The core's wake callback: TLS events are queued; handle them soon, never re-entrantly. A
   * microtask runs once the current call into the core has returned, before the event loop
   * polls again: a TLS step finished on the pool is answered at once, not a loop turn later
   * (each turn was 0.1-0.3 ms of a connect).
   */
  wake = (): void => {
    if (this.#wakePending || this.isClosed) return;
    this.#wakePending = true;
    queueMicrotask(() => {
      this.#wakePending = false;
      if (!this.isClosed) this.run(this.core.handleTlsEvents(Date.now()));
    });
  };

  receive(packet: Uint8Array): void {
    if (!this.isClosed) this.run(this.core.receive(packet, Date.now()));
  }

  run(outputs: ServerOutput[]): void {
    // 'established' comes before the PUSH_REPLY it goes with (events first, packets at the end
    // of a core call); its hook (session table, audit, accounting, log: ~0.3 ms) waits until
    // this call's packets are out. Keys are installed in order: they must be in place first.
    let established: Extract<ServerOutput, { kind: 'established' }> | undefined;
    for (const out of outputs) {
      switch (out.kind) {
        case 'send':
          this.transport.send(out.packet);
          break;
        case 'authenticate':
          this.#hooks.authenticate(this, out);
          break;
        case 'keys':
          this.keyCount += 1;
          this.currentKeyId = out.keyId;
          if (this.keyCount > 1) this.rekeys += 1;
          this.#hooks.keys(this, out);
          break;
        case 'use-key':
          this.#hooks.useKey(this, out.keyId);
          break;
        case 'retireKey':
          this.#hooks.retireKey(this, out.keyId);
          break;
        case 'established':
          established = out;
          break;
        case 'closed':
          if (established) this.#hooks.established(this, established);
          this.#finish(out.reason, out.detail);
          return;
      }
    }
    if (established) this.#hooks.established(this, established);
    this.#schedule();
  }

  /** Arms the timer for the core's next deadline; one already armed for it stays (no churn). */
  #schedule(): void {
    const at = this.core.nextDeadline();
    if (this.#timer !== undefined && at === this.#timerAt && !this.isClosed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (at === undefined || this.isClosed) return;
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.run(this.core.handleTimeout(Date.now()));
      },
      Math.max(0, at - Date.now()),
    );
  }

  close(reason: CloseReason, detail?: string): void {
    if (!this.isClosed) this.run(this.core.close(reason, Date.now(), detail));
  }

  #finish(reason: CloseReason, detail: string | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#hooks.closed(this, reason, detail);
  }

  // LiveSession, for the API.

  info(): SessionInfo {
    const c = this.#hooks.counters(this);
    const dataPath = this.#hooks.dataPath?.(this);
    return {
      ...(dataPath ? { dataPath } : {}),
      id: this.id,
      user: this.user,
      protocol: this.protocol,
      remote: this.remote,
      address4: this.address4,
      address6: this.address6,
      cipher: this.cipher,
      connectedAt: (this.connectedAt ?? new Date()).toISOString(),
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      rekeys: this.rekeys,
    };
  }

  rekey(): boolean {
    if (this.isClosed) return false;
    const before = this.core.renegotiationCount;
    this.run(this.core.rekey(Date.now()));
    return this.core.renegotiationCount > before;
  }

  /** The gateway stops: the client is told to reconnect (ServerSession.goodbye). */
  goodbye(): void {
    if (!this.isClosed) this.run(this.core.goodbye(Date.now()));
  }

  kick(reason: string): void {
    if (this.isClosed) return;
    this.#hooks.kicked(this);
    this.run(this.core.kick(reason, Date.now()));
  }
}
