// A ClientSession and a gateway (first-contact listener + ServerSession) joined by a simulated
// link, on a virtual clock. The link drops, duplicates, delays and reorders packets from a seeded
// PRNG. TLS engines are the real ones (Node TLS), whose events come asynchronously in real time:
// the loop yields to the event loop until the engines are quiet, and only then moves the virtual
// clock to the next thing due (a packet arrival or a core deadline).
import { randomBytes } from 'node:crypto';
import {
  ClientSession,
  type ClientOutput,
  type ClientSessionOptions,
} from '../../src/proto/openvpn/session/client-session.js';
import {
  handleFirstContact,
  type FirstContactConfig,
} from '../../src/proto/openvpn/session/first-contact.js';
import {
  ServerSession,
  type AuthRequest,
  type ServerOutput,
  type ServerSessionOptions,
} from '../../src/proto/openvpn/session/server-session.js';
import type { PushConfig } from '../../src/proto/openvpn/push-reply.js';
import type { ClientAddress } from '../../src/proto/openvpn/hmac-cookie.js';

/** mulberry32: small, seedable, good enough to drive a network simulation. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinkProfile {
  loss: number;
  duplicate: number;
  reorder: number;
  delayMs: number;
  jitterMs: number;
  reorderMs: number;
}

export const CLEAN_LINK: LinkProfile = {
  loss: 0,
  duplicate: 0,
  reorder: 0,
  delayMs: 20,
  jitterMs: 0,
  reorderMs: 0,
};

export const LOSSY_LINK: LinkProfile = {
  loss: 0.2,
  duplicate: 0.05,
  reorder: 0.2,
  delayMs: 30,
  jitterMs: 20,
  reorderMs: 150,
};

type Dir = 'c2s' | 's2c';

interface InFlight {
  at: number;
  seq: number;
  dir: Dir;
  bytes: Uint8Array;
}

export type AuthDecision = { accept: PushConfig } | { reject: string | undefined };

export interface PairOptions {
  seed?: number;
  link?: LinkProfile;
  firstContact: FirstContactConfig;
  client: Omit<ClientSessionOptions, 'now' | 'random' | 'wake'>;
  server: Omit<ServerSessionOptions, 'now' | 'random' | 'wake' | 'start'>;
  decide: (request: AuthRequest) => AuthDecision;
  /** Virtual ms between a TLS-driven `authenticate` and the gateway's answer. */
  authDelayMs?: number;
  /** Tamper with (or drop, by returning undefined) packets on the way. */
  tap?: (dir: Dir, bytes: Uint8Array) => Uint8Array | undefined;
}

export const START_TIME = 1_800_000_000_000;
const CLIENT_ADDRESS: ClientAddress = { ip: '198.51.100.7', port: 40_000 };
const QUIET_TURNS = 4;

export class SessionPair {
  now = START_TIME;
  readonly client: ClientSession;
  server: ServerSession | undefined;
  readonly clientOutputs: ClientOutput[] = [];
  readonly serverOutputs: ServerOutput[] = [];
  /** Verdicts of the stateless listener, by kind and drop reason. */
  readonly listener = new Map<string, number>();
  /** Packets put on the link, by direction. */
  readonly sent = { c2s: [] as Uint8Array[], s2c: [] as Uint8Array[] };
  private readonly rand: () => number;
  private readonly link: LinkProfile;
  private readonly flight: InFlight[] = [];
  private seq = 0;
  private clientWoken = false;
  private serverWoken = false;
  private pendingAuth: { at: number; request: AuthRequest } | undefined;
  private readonly options: PairOptions;

  constructor(options: PairOptions) {
    this.options = options;
    this.rand = prng(options.seed ?? 1);
    this.link = options.link ?? CLEAN_LINK;
    this.client = new ClientSession({
      ...options.client,
      now: this.now,
      random: (n) => new Uint8Array(randomBytes(n)),
      wake: () => {
        this.clientWoken = true;
      },
    });
    this.onClient(this.client.start(this.now));
  }

  of<K extends ClientOutput['kind']>(kind: K): Extract<ClientOutput, { kind: K }>[] {
    return this.clientOutputs.filter(
      (o): o is Extract<ClientOutput, { kind: K }> => o.kind === kind,
    );
  }

  ofServer<K extends ServerOutput['kind']>(kind: K): Extract<ServerOutput, { kind: K }>[] {
    return this.serverOutputs.filter(
      (o): o is Extract<ServerOutput, { kind: K }> => o.kind === kind,
    );
  }

  /** Runs until `done()` or `limitMs` of virtual time; returns whether `done()` came true. */
  async run(done: () => boolean, limitMs = 120_000): Promise<boolean> {
    const end = this.now + limitMs;
    let quiet = 0;
    while (!done()) {
      let acted = this.step();
      await new Promise((r) => setImmediate(r));
      acted = this.wakeUp() || acted;
      if (acted) {
        quiet = 0;
        continue;
      }
      if (++quiet < QUIET_TURNS) continue;
      quiet = 0;
      const next = this.nextEvent();
      if (next === undefined || next > end) return done();
      // A deadline that stays due after its timeout ran must not stall the clock.
      this.now = Math.max(this.now + 1, next);
    }
    return true;
  }

  /** Lets the virtual clock run for `ms` (timers fire, packets flow). */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await this.run(() => false, ms);
    this.now = Math.max(this.now, end);
    this.step();
  }

  /** Delivers outputs of a call made on the client from outside (rekey, disconnect). */
  onClient(outputs: ClientOutput[]): void {
    for (const o of outputs) {
      if (o.kind === 'send') this.transmit('c2s', o.packet);
      else this.clientOutputs.push(o);
    }
  }

  onServer(outputs: ServerOutput[]): void {
    for (const o of outputs) {
      if (o.kind === 'send') this.transmit('s2c', o.packet);
      else {
        this.serverOutputs.push(o);
        if (o.kind === 'authenticate') {
          this.pendingAuth = { at: this.now + (this.options.authDelayMs ?? 0), request: o.request };
        }
      }
    }
  }

  private transmit(dir: Dir, packet: Uint8Array): void {
    this.sent[dir].push(packet);
    const bytes = this.options.tap ? this.options.tap(dir, packet) : packet;
    if (bytes === undefined) return;
    const link = this.link;
    if (this.rand() < link.loss) return;
    const copies = this.rand() < link.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = link.delayMs + this.rand() * link.jitterMs;
      if (this.rand() < link.reorder) delay += this.rand() * link.reorderMs;
      this.flight.push({ at: this.now + delay, seq: this.seq++, dir, bytes });
    }
  }

  private step(): boolean {
    let acted = false;
    this.flight.sort((a, b) => a.at - b.at || a.seq - b.seq);
    while (this.flight.length > 0 && (this.flight[0] as InFlight).at <= this.now) {
      const p = this.flight.shift() as InFlight;
      acted = true;
      if (p.dir === 's2c') this.onClient(this.client.receive(p.bytes, this.now));
      else this.toGateway(p.bytes);
    }
    if (this.pendingAuth !== undefined && this.pendingAuth.at <= this.now && this.server) {
      const { request } = this.pendingAuth;
      this.pendingAuth = undefined;
      const decision = this.options.decide(request);
      if ('accept' in decision) this.onServer(this.server.accept(decision.accept, this.now));
      else this.onServer(this.server.reject(decision.reject, this.now));
      acted = true;
    }
    const c = this.client.nextDeadline();
    if (c !== undefined && c <= this.now) {
      this.onClient(this.client.handleTimeout(this.now));
      acted = acted || this.client.nextDeadline() !== c;
    }
    const s = this.server?.nextDeadline();
    if (this.server && s !== undefined && s <= this.now) {
      this.onServer(this.server.handleTimeout(this.now));
      acted = acted || this.server.nextDeadline() !== s;
    }
    return acted;
  }

  private wakeUp(): boolean {
    let acted = false;
    if (this.clientWoken) {
      this.clientWoken = false;
      this.onClient(this.client.handleTlsEvents(this.now));
      acted = true;
    }
    if (this.serverWoken && this.server) {
      this.serverWoken = false;
      this.onServer(this.server.handleTlsEvents(this.now));
      acted = true;
    }
    return acted;
  }

  private toGateway(bytes: Uint8Array): void {
    if (this.server !== undefined && !this.server.closed) {
      this.onServer(this.server.receive(bytes, this.now));
      return;
    }
    const verdict = handleFirstContact(this.options.firstContact, bytes, CLIENT_ADDRESS, this.now);
    const key = verdict.kind === 'drop' ? `drop:${verdict.reason}` : verdict.kind;
    this.listener.set(key, (this.listener.get(key) ?? 0) + 1);
    if (verdict.kind === 'reply') this.transmit('s2c', verdict.packet);
    if (verdict.kind === 'open' && this.server === undefined) {
      this.server = new ServerSession({
        ...this.options.server,
        start: verdict.start,
        now: this.now,
        random: (n) => new Uint8Array(randomBytes(n)),
        wake: () => {
          this.serverWoken = true;
        },
      });
      this.onServer(this.server.receive(bytes, this.now));
    }
  }

  private nextEvent(): number | undefined {
    const times = this.flight.map((p) => p.at);
    const c = this.client.nextDeadline();
    if (c !== undefined) times.push(c);
    const s = this.server?.nextDeadline();
    if (s !== undefined) times.push(s);
    if (this.pendingAuth !== undefined) times.push(this.pendingAuth.at);
    return times.length === 0 ? undefined : Math.min(...times);
  }
}
