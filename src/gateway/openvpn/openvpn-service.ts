// The gateway's OpenVPN side: UDP and TCP listeners, the stateless first contact, one
// SessionDriver per client, authorisation, addresses, data keys into the data path, keepalive,
// and the records (audit, accounting) each session leaves.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import type { Config } from '../../control/config/index.js';
import {
  AuthLimiter,
  ChallengeBook,
  authTokenSecret,
  limitsFromEnv,
  sourceAddress,
} from '../../control/auth/index.js';
import { LeaseStore } from '../../control/pool/leases.js';
import {
  readCaCertPem,
  readCrlPem,
  readTlsCryptKey,
  readTlsCryptV2ServerKey,
  loadServer,
} from '../../control/pki/index.js';
import { writeAudit } from '../../control/store/index.js';
import { setMeta } from '../../control/store/meta.js';
import { TcpPacketStream } from '../../io/net/tcp-packets.js';
import { randomBytesPooled } from '../../io/random.js';
import { UdpEndpoint, remoteText, type UdpRemote } from '../../io/net/udp-endpoint.js';
import type { FirstContactKeys, NativeUdpRemote } from '../../dataplane/native/openvpn-native.js';
import { cookieSlotMs } from '../../proto/openvpn/hmac-cookie.js';
import {
  ResetReplyLimit,
  type ResetReplyLimitSettings,
} from '../../proto/openvpn/reset-reply-limit.js';
import type { Logger } from '../../io/log.js';
import { gatewayTlsEngine, type TlsEngineKind } from '../../io/tls/engine-choice.js';
import { createWarmUpPki, warmUpClientWrap, warmUpSessionCores } from './warm-up.js';
import { selfConnect, type SelfConnection } from './self-connect.js';
import { openScratchWorld, type ScratchWorld, type SessionWorld } from './session-world.js';
import { AdmissionRehearsal } from './admission-rehearsal.js';
import {
  handleFirstContact,
  type FirstContactConfig,
  type ServerControlWrap,
  type ServerSessionStart,
} from '../../proto/openvpn/session/first-contact.js';
import { senderSessionId } from '../../proto/openvpn/session-id.js';
import { ServerSession } from '../../proto/openvpn/session/server-session.js';
import type { TlsEngineFactory } from '../../proto/openvpn/session/tls-engine.js';
import { Opcode, OPCODE_SHIFT } from '../../wire/openvpn/constants.js';
import type { Gateway } from '../gateway.js';
import type { SessionFacts } from '../session-events.js';
import { startSessionListeners, type SessionListeners } from '../session-listeners.js';
import { authorize, rehearseAuthorize } from './authorize.js';
import type { GatewayDataPath } from './data-path.js';
import { PEER_COUNTER_SLOTS, PeerCounterSlot } from '../../dataplane/reference/openvpn-peers.js';
import { parseHostPort } from '../../io/net/host-port.js';
import { looksLikeOpenvpn, relay, sniff } from './port-share.js';
import { radiusAuthenticateWith } from '../../control/radius/settings.js';
import { pushConfigFor } from './push-config.js';
import { SessionDriver, type DriverHooks } from './session-driver.js';
import { SessionPolicies } from './session-policy.js';

const PEER_ID_LIMIT = 0xffffff;
const KEEPALIVE_SWEEP_MS = 1000;
/**
 * In-memory handshakes at start (~0.3 s): V8 compiles the handshake path to baseline code. 40
 * rather than 12 took ~0.5-1 ms of main-thread CPU off each of a fresh gateway's first connects
 * (4.4 -> 3.9 ms for the second client); 100 cost 0.6 s of start-up for little more.
 */
const WARM_UP_HANDSHAKES = 40;
/** Sessions whose accounting interim is reported per turn of the event loop. */
const INTERIM_SLICE = 500;
/** The store's record of when the gateway last started (meta table). */
const LAST_START_META_KEY = 'gateway-last-start';
/** How long a new TCP connection may take to show its first bytes. */
const SNIFF_TIMEOUT_MS = 10_000;

/** At stop, how long connected clients get to acknowledge the RESTART that sends them back. */
const GOODBYE_WAIT_MS = 2_000;
const GOODBYE_POLL_MS = 25;
const MS_PER_SECOND = 1000;
const udpKey = (r: UdpRemote): string => `${r.address}|${r.port}`;

/** What the session listeners depend on, comparable across reloads. */
const listenerSettings = (c: Config): string =>
  JSON.stringify({ accounting: c.accounting, radius: c.radius });

/** The keys the native first contact needs to give the replies `config` gives. */
function nativeFirstContactKeys(config: FirstContactConfig): FirstContactKeys | undefined {
  const wrap = config.wrap;
  if (wrap.kind === 'none') return undefined;
  return {
    v2: wrap.kind === 'tls-crypt-v2',
    key: wrap.kind === 'tls-crypt-v2' ? wrap.serverKey : wrap.key,
    cookieKey: config.cookieKey,
    slotMs: config.cookie?.slotMs ?? cookieSlotMs(),
  };
}

/** A control packet whose sender is not the peer this session talks to. */
function startsAnotherSession(d: SessionDriver, packet: Uint8Array): boolean {
  const sid = senderSessionId(packet);
  return sid !== undefined && d.core.isAnotherPeer(sid);
}

/**
 * Where UDP control packets are answered from: a Node socket, or the native path's socket.
 * A datagram's `local` (the gateway address it was sent to) is the reply's source on the
 * native socket (pktinfo); Node's dgram cannot set it, so that listener ignores it.
 */
interface DatagramPort {
  send(bytes: Uint8Array, to: NativeUdpRemote): void;
  readonly native: boolean;
}

/** The start-up self-connect's session: the client's address, its server TLS, its world. */
interface Rehearsal {
  client: UdpRemote;
  tls: TlsEngineFactory;
  world: SessionWorld;
  driver?: SessionDriver;
}

const unmapped = (a: string): string => (a.startsWith('::ffff:') ? a.slice(7) : a);
const sameRemote = (a: UdpRemote, b: UdpRemote): boolean =>
  a.port === b.port && unmapped(a.address) === unmapped(b.address);

/**
 * How long the start-up self-connect may take before the gateway serves without it (~70 ms on a
 * loaded 2-core machine; a firewall dropping loopback UDP would otherwise hold `ready` back).
 */
const SELF_CONNECT_TIMEOUT_MS = 2_000;
/** How long its EXIT may take to reach the gateway (loopback: well under a millisecond). */
const SELF_CONNECT_EXIT_POLLS = 100;
const SELF_CONNECT_EXIT_POLL_MS = 5;

export class OpenvpnService {
  readonly #gw: Gateway;
  readonly #log: Logger;
  readonly #dp: GatewayDataPath;
  readonly #nativeListener: { address: string; port: number } | undefined;
  readonly #udp: UdpEndpoint[] = [];
  readonly #tcp: Server[] = [];
  readonly #byUdpRemote = new Map<string, SessionDriver>();
  readonly #byPeerId = new Map<number, SessionDriver>();
  readonly #cookieKey = randomBytes(32);
  readonly #leases: LeaseStore;
  readonly #limiter: AuthLimiter;
  readonly #challenges = new ChallengeBook();
  #tokenSecret: Uint8Array | undefined;
  #wrap!: ServerControlWrap;
  #tls!: TlsEngineFactory;
  #tlsKind: TlsEngineKind | undefined;
  #nextPeerId = 0;
  #sweep: NodeJS.Timeout | undefined;
  #interim: NodeJS.Timeout | undefined;
  /** Accounting store, RADIUS accounting, SIEM export: subscribers to session start/interim/stop. */
  #listeners: SessionListeners | undefined;
  /** The accounting and RADIUS settings the listeners were started with (listenerSettings). */
  #listenersFor = '';
  #listenersRestart: Promise<void> = Promise.resolve();
  /** close() has begun: no new session is opened. */
  #stopping = false;
  /** The native listener is bound: its RX thread answers client resets too. */
  #nativeBound = false;
  /** Stateless reset replies this service sent itself (the native ones are the RX thread's). */
  #resetReplies = 0;
  /** The limit on the reset replies #onUdp sends (the native RX thread keeps its own count). */
  readonly #resetReplyLimit = new ResetReplyLimit();
  readonly drops = new Map<string, number>();
  /** The keepalive sweep's view of one peer's counters, reused for every peer. */
  readonly #sweepCounters = new Float64Array(PEER_COUNTER_SLOTS);
  readonly #policies: SessionPolicies;
  /** The gateway's own records (SessionWorld). */
  readonly #world: SessionWorld;
  /** Sessions whose records go elsewhere: the start-up self-connect's. */
  readonly #scratchWorlds = new WeakMap<SessionDriver, SessionWorld>();
  #rehearsal: Rehearsal | undefined;
  /** The first UDP listener, where the start-up self-connect goes. */
  #selfConnectTo: UdpRemote | undefined;

  constructor(
    gw: Gateway,
    log: Logger,
    dp: GatewayDataPath,
    nativeListener?: { address: string; port: number },
  ) {
    this.#gw = gw;
    this.#log = log;
    this.#dp = dp;
    this.#nativeListener = nativeListener;
    const a = gw.config.auth;
    // postern.yaml sets the brake; the environment may override it (tests shorten it).
    this.#limiter = new AuthLimiter({
      maxFailures: a['max-failures'],
      backoffMs: a['backoff-seconds'] * 1000,
      maxBackoffMs: a['max-backoff-seconds'] * 1000,
      ...limitsFromEnv(process.env),
    });
    this.#policies = new SessionPolicies(gw, dp, log);
    this.#leases = new LeaseStore(gw.store.db, gw.config.pools);
    // What changes after construction (listeners on reload, the token secret at start, RADIUS
    // on reload) is read when used.
    const listeners = (): SessionListeners | undefined => this.#listeners;
    const tokenSecret = (): Uint8Array | undefined => this.#tokenSecret;
    const radius = (): boolean => this.config.radius.enabled;
    this.#world = {
      db: gw.store.db,
      leases: this.#leases,
      sessions: gw.sessions,
      get listeners() {
        return listeners();
      },
      log,
      limiter: this.#limiter,
      challenges: this.#challenges,
      get tokenSecret() {
        return tokenSecret();
      },
      get radius() {
        return radius();
      },
    };
  }

  #worldOf(d: SessionDriver): SessionWorld {
    return this.#scratchWorlds.get(d) ?? this.#world;
  }

  get config(): Config {
    return this.#gw.config;
  }

  async start(): Promise<{ kind: string; address: string }[]> {
    await this.refreshCredentials();
    await this.#warmUp();
    // No session outlives a restart: leases go idle (still their users'), tokens stay valid.
    await this.#leases.releaseAll(new Date());
    this.#tokenSecret = await authTokenSecret(this.#gw.store.db);
    const bound: { kind: string; address: string }[] = [];
    const native = this.#dp.native;
    for (const l of this.config.openvpn.listen) {
      if (
        l.proto === 'udp' &&
        native &&
        this.#nativeListener &&
        l.address === this.#nativeListener.address &&
        l.port === this.#nativeListener.port
      ) {
        // The native path owns this socket: DATA stays there; the rest comes here in batches.
        const port: DatagramPort = {
          send: (b, to) => void native.sendControl(b, to),
          native: true,
        };
        native.onControl((batch) => {
          for (const d of batch) {
            this.#onUdp(port, d.packet, { address: d.address, port: d.port, local: d.local });
          }
        });
        native.onFloat((peerId, remote, local) => {
          const d = this.#byPeerId.get(peerId);
          if (d) this.#float(d, port, { ...remote, local });
        });
        bound.push({ kind: 'openvpn-udp', address: `${l.address}:${native.port} (native)` });
        this.#selfConnectTo ??= { address: l.address, port: native.port };
        this.#nativeBound = true;
        this.#shareFirstContact();
      } else if (l.proto === 'udp') {
        const ep = await UdpEndpoint.bind(l.address, l.port);
        // Only with the native path off: replies leave from the kernel's choice of source.
        const port: DatagramPort = { send: (b, to) => ep.send(b, to), native: false };
        ep.onDatagram((bytes, from) => this.#onUdp(port, bytes, from));
        this.#udp.push(ep);
        bound.push({ kind: 'openvpn-udp', address: `${l.address}:${ep.port}` });
        this.#selfConnectTo ??= { address: l.address, port: ep.port };
      } else {
        const server = createServer((socket) => this.#onTcp(socket));
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: l.address, port: l.port, ipv6Only: false }, () => resolve());
        });
        this.#tcp.push(server);
        const port = (server.address() as { port: number }).port;
        // Sessions' data moves to the native path once they have keys.
        const path = this.#dp.nativeTcp ? ' (native)' : '';
        bound.push({ kind: 'openvpn-tcp', address: `${l.address}:${port}${path}` });
      }
    }
    this.#sweep = setInterval(() => this.#keepalive(), KEEPALIVE_SWEEP_MS);
    this.#startListeners();
    await this.#selfConnect();
    return bound;
  }

  /** Accounting (store, RADIUS, SIEM export) and its interim timer, as postern.yaml says now. */
  #startListeners(): void {
    const config = this.config;
    this.#listenersFor = listenerSettings(config);
    this.#listeners = startSessionListeners(
      { db: this.#gw.store.db, config, dir: this.#gw.dir },
      this.#log,
    );
    const live = [...this.#byPeerId.values()].filter((d) => d.connectedAt && !d.isClosed);
    this.#listeners.events.adopt(live.map((d) => d.id));
    clearInterval(this.#interim);
    this.#interim = setInterval(
      () => this.#accountingInterim(false),
      config.accounting['interim-seconds'] * 1000,
    );
  }

  /** After a reload that changed accounting or RADIUS: the current listeners finish what they
   * were writing or sending (events keep reaching them meanwhile), then new ones take over. One
   * at a time: the export file must not have two writers. */
  #restartListeners(): void {
    this.#listenersRestart = this.#listenersRestart.then(async () => {
      const old = this.#listeners;
      if (old === undefined || listenerSettings(this.config) === this.#listenersFor) return;
      await old
        .close()
        .catch((e: unknown) =>
          this.#log.error(
            { event: 'listener.error', error: (e as Error).message },
            'the previous accounting listeners did not finish cleanly',
          ),
        );
      this.#startListeners();
      this.#log.info({ event: 'reload', scope: 'accounting' }, 'accounting settings applied');
    });
  }

  /** In-memory handshakes before the first client (warm-up.ts says why); never fatal. */
  async #warmUp(): Promise<void> {
    let admission: AdmissionRehearsal | undefined;
    try {
      const rehearsal = (admission = await AdmissionRehearsal.open(this.config));
      const r = await warmUpSessionCores({
        rounds: WARM_UP_HANDSHAKES,
        tlsCrypt: this.config.openvpn['tls-crypt'],
        dataCiphers: this.config.openvpn['data-ciphers'],
        minTls: this.config.crypto['min-tls'],
        admit: (req) => rehearsal.admit(req),
      });
      // The store's side of a handshake too, without changing anything in it.
      await rehearseAuthorize(this.#gw.store.db);
      await this.#leases.rehearse();
      // A process's first commit sets up SQLite's write-ahead log for writing (~1.5 ms, which
      // the first client's lease used to pay): this one, the start time, costs nobody a wait.
      await setMeta(this.#gw.store.db, LAST_START_META_KEY, new Date().toISOString());
      this.#policies.prepare();
      this.#log.info(
        { event: 'warm-up', handshakes: r.handshakes, ms: Math.round(r.ms) },
        'session cores warmed up',
      );
    } catch (e) {
      this.#log.error(
        { event: 'warm-up', error: (e as Error).message },
        'the start-up self-handshake failed; serving anyway',
      );
    } finally {
      await admission?.close().catch(() => undefined);
    }
  }

  /**
   * One client of our own over the first UDP listener, once its hooks are in place
   * (self-connect.ts says why); its session's records go to a scratch store. Never fatal.
   */
  async #selfConnect(): Promise<void> {
    const listen = this.#selfConnectTo;
    if (listen === undefined) return;
    const started = performance.now();
    let scratch: ScratchWorld | undefined;
    let connection: SelfConnection | undefined;
    try {
      const { world } = (scratch = await openScratchWorld(this.config, this.#gw.dir));
      const pki = await createWarmUpPki(this.config.crypto['min-tls']);
      await scratch.enrol(pki.clientName, pki.clientSerial);
      connection = await selfConnect({
        listen,
        wrap: warmUpClientWrap(this.#wrap, pki),
        tls: pki.clientTls,
        dataCiphers: this.config.openvpn['data-ciphers'],
        timeoutMs: SELF_CONNECT_TIMEOUT_MS,
        onBound: (client) => {
          this.#rehearsal = { client, tls: pki.serverTls, world };
        },
      });
      this.#log.info(
        { event: 'self-connect', ms: Math.round(performance.now() - started) },
        'start-up self-connect done',
      );
    } catch (e) {
      this.#log.warn(
        { event: 'self-connect', error: (e as Error).message },
        'the start-up self-connect failed; serving anyway',
      );
    } finally {
      // The client hangs up as a real one does (EXIT), so the gateway hears nothing after its
      // session ends; one that did not answer is closed here.
      const driver = this.#rehearsal?.driver;
      connection?.hangUp();
      for (let i = 0; driver && !driver.isClosed && i < SELF_CONNECT_EXIT_POLLS; i++) {
        await new Promise((resolve) => setTimeout(resolve, SELF_CONNECT_EXIT_POLL_MS));
      }
      driver?.close('exit', 'start-up self-connect done');
      this.#rehearsal = undefined;
      await connection?.close();
      await scratch?.close();
    }
  }

  /** postern.yaml was reloaded: live sessions follow their groups' new allow rules now. */
  configChanged(): void {
    this.#policies.refresh();
    this.#shareFirstContact();
    this.#restartListeners();
  }

  /** Re-reads the server certificate, CA, CRL and control-channel key (after a revocation). */
  async refreshCredentials(): Promise<void> {
    const dir = this.#gw.dir;
    const server = await loadServer(dir);
    const tls = gatewayTlsEngine({
      cert: server.certPem,
      key: server.keyPem,
      ca: await readCaCertPem(dir),
      crl: await readCrlPem(dir),
      minVersion: this.config.crypto['min-tls'] === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    });
    if (tls.fallbackReason !== undefined && this.#tlsKind !== tls.kind) {
      this.#log.warn({ event: 'tls.engine', engine: tls.kind, reason: tls.fallbackReason });
    }
    this.#tls = tls.factory;
    this.#tlsKind = tls.kind;
    this.#wrap =
      this.config.openvpn['tls-crypt'] === 'v2'
        ? { kind: 'tls-crypt-v2', serverKey: await readTlsCryptV2ServerKey(dir) }
        : { kind: 'tls-crypt', key: await readTlsCryptKey(dir) };
    this.#shareFirstContact();
  }

  /** UDP's reset replies per window (openvpn.connect-freq-initial), read as postern.yaml says now. */
  #resetReplyLimitSettings(): ResetReplyLimitSettings {
    const limit = this.config.openvpn['connect-freq-initial'];
    return { max: limit.max, windowMs: limit.seconds * MS_PER_SECOND };
  }

  /**
   * The native RX thread answers client resets with the same keys as #onUdp (or stops), and
   * under the same limit.
   */
  #shareFirstContact(): void {
    if (!this.#nativeBound) return;
    this.#dp.native?.limitResetReplies(this.#resetReplyLimitSettings());
    this.#dp.native?.answerFirstContact(
      this.#stopping ? undefined : nativeFirstContactKeys(this.#firstContactConfig()),
    );
  }

  /**
   * What `postern status` shows of this service: reset replies and what was dropped, here or on
   * the native RX thread (its first contact drops forged resets under the reasons this one uses;
   * ".native" says how many of them it dropped itself).
   */
  counters(): Record<string, number> {
    const stats = this.#nativeBound ? this.#dp.native?.stats() : undefined;
    const native = stats?.firstContactReplies ?? 0;
    const out: Record<string, number> = {
      'openvpn.reset-replies': this.#resetReplies + native,
      'openvpn.reset-replies.native': native,
    };
    const drops = new Map(this.drops);
    for (const [what, n] of [
      ['first-contact-bad-wkc', stats?.firstContactBadWkc ?? 0],
      ['first-contact-auth-failed', stats?.firstContactAuthFailed ?? 0],
      ['first-contact-rate-limited', stats?.firstContactRateLimited ?? 0],
    ] as const) {
      if (n === 0) continue;
      drops.set(what, (drops.get(what) ?? 0) + n);
      drops.set(`${what}.native`, n);
    }
    for (const [what, n] of [...drops].sort()) out[`openvpn.drop.${what}`] = n;
    return out;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#stopping = true;
    this.#shareFirstContact();
    await this.#sayGoodbye();
    await this.#listenersRestart;
    clearInterval(this.#interim);
    for (const d of [...this.#byPeerId.values()]) d.close('shutdown');
    this.#accountingInterim(true);
    const listeners = this.#listeners;
    this.#listeners = undefined;
    await listeners?.close();
    await Promise.all(this.#udp.map((u) => u.close()));
    await Promise.all(
      this.#tcp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
  }

  /** Tells every connected client to reconnect, and gives them a moment to acknowledge. */
  async #sayGoodbye(): Promise<void> {
    const live = [...this.#byPeerId.values()];
    for (const d of live) {
      if (d.connectedAt) d.goodbye();
      else d.close('shutdown', 'the gateway is stopping');
    }
    const deadline = Date.now() + GOODBYE_WAIT_MS;
    while (live.some((d) => !d.isClosed) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, GOODBYE_POLL_MS));
    }
  }

  #count(what: string): void {
    this.drops.set(what, (this.drops.get(what) ?? 0) + 1);
  }

  #firstContactConfig(): FirstContactConfig {
    return { wrap: this.#wrap, cookieKey: this.#cookieKey };
  }

  // UDP: DATA to the data path by peer-id (a float when the address changed), control to the
  // session of that address, anything else to the stateless first contact.
  #onUdp(ep: DatagramPort, bytes: Uint8Array, from: NativeUdpRemote): void {
    const op = (bytes[0] ?? 0) >> OPCODE_SHIFT;
    if (op === Opcode.DATA_V2 && bytes.length >= 4) {
      const peerId = ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
      const d = this.#byPeerId.get(peerId);
      if (!d) return this.#count('udp-unknown-peer');
      const verdict = this.#dp.fromNetwork(peerId, bytes);
      if ((verdict === 'delivered' || verdict === 'ping') && d.protocol === 'openvpn-udp') {
        const key = udpKey(from);
        if (this.#byUdpRemote.get(key) !== d) this.#float(d, ep, from);
      }
      return;
    }
    const d = this.#byUdpRemote.get(udpKey(from));
    if (op === Opcode.DATA_V1) {
      if (d) this.#dp.fromNetwork(d.peerId, bytes);
      else this.#count('udp-unknown-peer');
      return;
    }
    // A control packet from a known address under another session id is a client that started
    // over from the same address and port (restarted with --lport, or a NAT that keeps ports)
    // before this session timed out: it goes through first contact like any new client.
    if (d && !startsAnotherSession(d, bytes)) return d.receive(bytes);
    if (this.#stopping) return this.#count('udp-stopping');
    const now = Date.now();
    const verdict = handleFirstContact(
      this.#firstContactConfig(),
      bytes,
      { ip: from.address, port: from.port },
      now,
    );
    if (verdict.kind === 'drop') return this.#count(`first-contact-${verdict.reason}`);
    if (verdict.kind === 'reply') {
      if (!this.#resetReplyLimit.admit(now, this.#resetReplyLimitSettings())) {
        return this.#count('first-contact-rate-limited');
      }
      this.#resetReplies++;
      return ep.send(verdict.packet, from);
    }
    // The newcomer passed first contact (an HMAC cookie echoed from that address, or a valid
    // tls-crypt-v2 client key): the old session gives way to it, as OpenVPN does.
    d?.close('replaced', 'the client started a new session from the same address');
    const transport = { send: (p: Uint8Array) => ep.send(p, from) };
    const r = this.#rehearsal;
    const rehearsal = r !== undefined && sameRemote(r.client, from) ? r : undefined;
    const driver = this.#open('openvpn-udp', verdict.start, transport, remoteText(from), rehearsal);
    if (ep.native) driver.nativeRemote = from;
    this.#rememberUdp(driver, udpKey(from));
    driver.receive(bytes);
  }

  /** Files a UDP session under its client's address (and no longer under an earlier one). */
  #rememberUdp(d: SessionDriver, key: string | undefined): void {
    if (d.udpKey !== undefined && this.#byUdpRemote.get(d.udpKey) === d) {
      this.#byUdpRemote.delete(d.udpKey);
    }
    d.udpKey = key;
    if (key !== undefined) this.#byUdpRemote.set(key, d);
  }

  #float(d: SessionDriver, ep: DatagramPort, to: NativeUdpRemote): void {
    this.#rememberUdp(d, udpKey(to));
    d.transport = { send: (p: Uint8Array) => ep.send(p, to) };
    if (d.nativeRemote) d.nativeRemote = to;
    this.#dp.moved(d.peerId, d.transport);
    this.#log.info(
      { event: 'float', session: d.id, user: d.user, from: d.remote, to: remoteText(to) },
      'client address changed',
    );
    d.remote = remoteText(to);
  }

  // TCP: the same first contact over one connection; every packet after it belongs to it.
  #onTcp(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    sniff(socket, SNIFF_TIMEOUT_MS, (first) => {
      if (!first) return void socket.destroy();
      if (looksLikeOpenvpn(first)) return this.#onOpenvpnTcp(socket, first);
      const backend = parseHostPort(this.config.openvpn['port-share'] ?? '');
      if (!backend) {
        this.#count('tcp-not-openvpn');
        return void socket.destroy();
      }
      this.#count('tcp-port-shared');
      relay(socket, first, backend);
      socket.resume();
    });
  }

  #onOpenvpnTcp(socket: Socket, first: Uint8Array): void {
    const remote = socket.remoteAddress ?? '?';
    const from = { ip: remote.replace(/^::ffff:/, ''), port: socket.remotePort ?? 0 };
    const stream = new TcpPacketStream(socket, first);
    socket.resume();
    let driver: SessionDriver | undefined;
    stream.onPacket((bytes) => {
      const op = (bytes[0] ?? 0) >> OPCODE_SHIFT;
      if (driver) {
        if (op === Opcode.DATA_V2 || op === Opcode.DATA_V1)
          this.#dp.fromNetwork(driver.peerId, bytes);
        else driver.receive(bytes);
        return;
      }
      const verdict = handleFirstContact(this.#firstContactConfig(), bytes, from, Date.now());
      if (verdict.kind === 'drop') {
        this.#count(`first-contact-${verdict.reason}`);
        stream.close('bad first packet');
        return;
      }
      if (verdict.kind === 'reply') {
        this.#resetReplies++;
        return stream.send(verdict.packet);
      }
      driver = this.#open(
        'openvpn-tcp',
        verdict.start,
        stream,
        isIPv6(from.ip) ? `[${from.ip}]:${from.port}` : `${from.ip}:${from.port}`,
      );
      driver.receive(bytes);
    });
    stream.onClose(() => driver?.close('exit', 'connection closed'));
  }

  #allocatePeerId(): number {
    for (let i = 0; i < PEER_ID_LIMIT; i++) {
      const id = this.#nextPeerId;
      this.#nextPeerId = (this.#nextPeerId + 1) % PEER_ID_LIMIT;
      if (!this.#byPeerId.has(id)) return id;
    }
    throw new Error('no free peer id');
  }

  #open(
    protocol: 'openvpn-udp' | 'openvpn-tcp',
    start: ServerSessionStart,
    transport: { send(p: Uint8Array): void },
    remote: string,
    rehearsal?: Rehearsal,
  ): SessionDriver {
    const peerId = this.#allocatePeerId();
    const driver = new SessionDriver({ protocol, peerId, transport, remote, hooks: this.#hooks });
    if (rehearsal) {
      rehearsal.driver = driver;
      this.#scratchWorlds.set(driver, rehearsal.world);
    }
    driver.core = new ServerSession({
      start,
      createTls: rehearsal?.tls ?? this.#tls,
      random: randomBytesPooled,
      now: Date.now(),
      dataCiphers: this.config.openvpn['data-ciphers'],
      peerId,
      renegotiation: {
        renegSec: this.config.openvpn['reneg-sec'],
        ...(this.config.openvpn['reneg-bytes'] > 0
          ? { renegBytes: this.config.openvpn['reneg-bytes'] }
          : {}),
      },
      transport: protocol === 'openvpn-udp' ? 'udp' : 'tcp',
      wake: driver.wake,
    });
    this.#byPeerId.set(peerId, driver);
    return driver;
  }

  readonly #hooks: DriverHooks = {
    authenticate: (d, out) => {
      void this.#authenticate(d, out.request);
    },
    keys: (d, out) => {
      if (!this.#dp.hasPeer(d.peerId)) {
        this.#dp.addPeer(d.peerId, {
          transport: d.transport,
          nativeRemote: d.nativeRemote,
          // The self-connect's addresses come from a scratch pool: a real client may hold them.
          addresses: this.#scratchWorlds.has(d)
            ? []
            : [d.address4, d.address6].filter((a): a is string => a !== null),
          sendPeerId: out.peerId,
          ...(d.transport instanceof TcpPacketStream ? { tcp: d.transport } : {}),
        });
        this.#policies.peerAdded(d.peerId);
      }
      this.#dp.installKey(d.peerId, out.keyId, out.keys, out.sendNow);
      if (d.keyCount > 1) {
        const w = this.#worldOf(d);
        this.#audit(
          w,
          {
            event: 'rekey',
            user: d.user,
            remote: d.remote,
            result: 'ok',
            reason: `key id ${out.keyId}`,
            detail: { session: d.id },
          },
          new Date(),
        );
        w.log.info(
          { event: 'rekey', session: d.id, user: d.user, keyId: out.keyId },
          'new data keys',
        );
      }
    },
    useKey: (d, keyId) => this.#dp.useKey(d.peerId, keyId),
    retireKey: (d, keyId) => this.#dp.retireKey(d.peerId, keyId),
    established: (d, out) => {
      const w = this.#worldOf(d);
      d.cipher = out.cipher;
      d.connectedAt = new Date();
      w.sessions.add(d);
      const now = new Date();
      this.#audit(
        w,
        {
          event: 'session.start',
          user: d.user,
          remote: d.remote,
          result: 'ok',
          reason: null,
          detail: {
            session: d.id,
            protocol: d.protocol,
            cipher: out.cipher,
            address4: d.address4,
            address6: d.address6,
            tls: out.tls.protocol,
          },
        },
        now,
      );
      w.listeners?.events.emit({ kind: 'start', session: this.#facts(d), at: now });
      w.log.info(
        {
          event: 'session.start',
          session: d.id,
          user: d.user,
          protocol: d.protocol,
          remote: d.remote,
          address4: d.address4,
          address6: d.address6,
          cipher: out.cipher,
        },
        'client connected',
      );
    },
    closed: (d, reason, detail) => this.#closed(d, reason, detail),
    kicked: (d) => {
      d.finalCounters = this.#dp.counters(d.peerId);
      this.#dp.stopTraffic(d.peerId);
      this.#worldOf(d).sessions.remove(d.id);
    },
    counters: (d) => {
      const c = d.finalCounters ?? this.#dp.counters(d.peerId);
      return { bytesIn: c?.bytesIn ?? 0, bytesOut: c?.bytesOut ?? 0 };
    },
    dataPath: (d) => {
      if (!this.#dp.hasPeer(d.peerId)) return undefined;
      return this.#dp.isNative(d.peerId) ? 'native' : 'reference';
    },
  };

  async #authenticate(d: SessionDriver, req: Parameters<typeof authorize>[1]): Promise<void> {
    const now = new Date();
    const w = this.#worldOf(d);
    let decision;
    try {
      decision = await authorize(w.db, req, {
        now,
        source: sourceAddress(d.remote),
        limiter: w.limiter,
        challenges: w.challenges,
        tokenSecret: w.tokenSecret,
        tokenLifetimeSec: this.config.auth['token-lifetime-seconds'],
        radius: w.radius
          ? (u, p) => radiusAuthenticateWith(this.config, u, p, d.remote)
          : undefined,
      });
    } catch (e) {
      decision = {
        ok: false as const,
        user: req.commonName,
        reason: `internal error: ${(e as Error).message}`,
      };
    }
    if (d.isClosed) return;
    d.user = decision.user ?? '';
    d.authAudited = true;
    if (!decision.ok) {
      await writeAudit(
        w.db,
        {
          event: 'auth',
          user: decision.user ?? null,
          remote: d.remote,
          result: 'fail',
          reason: decision.reason,
          detail: { protocol: d.protocol },
        },
        now,
      );
      w.log.warn(
        {
          event: 'auth',
          result: 'fail',
          user: decision.user,
          remote: d.remote,
          reason: decision.reason,
        },
        'client refused',
      );
      d.run(d.core.reject(decision.clientReason, Date.now()));
      return;
    }
    // A store error leaves the session without addresses: refused below as exhausted.
    const { v4, v6 } = await w.leases.acquire(decision.user, d.id, now).catch((e: unknown) => {
      this.#leaseFailed(d, e);
      return { v4: undefined, v6: undefined };
    });
    if (d.isClosed) return this.#releaseLeases(d);
    if (!v4 && !v6) {
      await writeAudit(
        w.db,
        {
          event: 'auth',
          user: decision.user,
          remote: d.remote,
          result: 'fail',
          reason: 'address pool exhausted',
        },
        now,
      );
      d.run(d.core.reject('address pool exhausted', Date.now()));
      return;
    }
    d.address4 = v4 ?? null;
    d.address6 = v6 ?? null;
    this.#policies.assign(d, decision.groups);
    // Committed within this turn of the event loop; the PUSH_REPLY need not wait for it.
    this.#audit(
      w,
      {
        event: 'auth',
        user: decision.user,
        remote: d.remote,
        result: 'ok',
        reason: decision.method,
        detail: {
          protocol: d.protocol,
          cipher: req.cipher,
          groups: decision.groups,
          method: decision.method,
        },
      },
      now,
    );
    if (d.isClosed) return;
    const push = pushConfigFor(this.config, decision.groups, { v4, v6 });
    if (decision.authToken !== undefined) {
      push.authToken = decision.authToken;
      push.authTokenUser = decision.user;
    }
    d.run(d.core.accept(push, Date.now()));
  }

  /** An audit record that nothing waits for; a store failure is logged, never thrown. */
  #audit(w: SessionWorld, rec: Parameters<typeof writeAudit>[1], now: Date): void {
    writeAudit(w.db, rec, now).catch((e: unknown) =>
      w.log.error(
        { event: 'audit.error', audit: rec.event, error: (e as Error).message },
        'audit record not written',
      ),
    );
  }

  #releaseLeases(d: SessionDriver): void {
    const w = this.#worldOf(d);
    w.leases.release(d.id, new Date()).catch((e: unknown) => this.#leaseFailed(d, e));
  }

  #leaseFailed(d: SessionDriver, e: unknown): void {
    this.#worldOf(d).log.error(
      { event: 'lease', session: d.id, user: d.user, error: (e as Error).message },
      'address lease store failed',
    );
  }

  #closed(d: SessionDriver, reason: string, detail: string | undefined): void {
    this.#policies.forget(d.peerId);
    const counters = d.finalCounters ?? this.#dp.counters(d.peerId);
    this.#dp.removePeer(d.peerId);
    this.#byPeerId.delete(d.peerId);
    this.#rememberUdp(d, undefined);
    if (d.address4 || d.address6) this.#releaseLeases(d);
    if (d.transport instanceof TcpPacketStream) d.transport.close(reason);
    const now = new Date();
    const w = this.#worldOf(d);
    if (d.connectedAt) {
      w.sessions.remove(d.id);
      this.#audit(
        w,
        {
          event: 'session.stop',
          user: d.user,
          remote: d.remote,
          result: 'ok',
          reason: detail ? `${reason}: ${detail}` : reason,
          detail: {
            session: d.id,
            bytesIn: counters?.bytesIn ?? 0,
            bytesOut: counters?.bytesOut ?? 0,
          },
        },
        now,
      );
      w.listeners?.events.emit({
        kind: 'stop',
        session: this.#facts(d),
        counters: counters ?? { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 },
        at: now,
        reason,
        detail,
      });
      w.log.info(
        { event: 'session.stop', session: d.id, user: d.user, reason, detail },
        'client disconnected',
      );
    } else if (
      !d.authAudited &&
      (reason === 'tls-error' ||
        reason === 'auth-failed' ||
        reason === 'protocol-error' ||
        reason === 'handshake-timeout')
    ) {
      this.#audit(
        w,
        {
          event: 'auth',
          user: d.core.commonName ?? null,
          remote: d.remote,
          result: 'fail',
          reason: detail ? `${reason}: ${detail}` : reason,
          detail: { protocol: d.protocol },
        },
        now,
      );
      w.log.warn(
        { event: 'auth', result: 'fail', remote: d.remote, reason, detail },
        'client refused',
      );
    }
  }

  #keepalive(): void {
    const now = Date.now();
    this.#policies.sweep(now);
    const c = this.#sweepCounters;
    for (const d of this.#byPeerId.values()) {
      const ka = d.core.keepalive;
      const known = this.#dp.countersInto(d.peerId, c);
      // explicit-exit-notify from a client without cc-exit (OCC_EXIT on the data channel).
      if (known && c[PeerCounterSlot.exitNotices]! > 0) {
        d.close('exit', 'the client said OCC_EXIT (explicit-exit-notify)');
        continue;
      }
      if (!ka || !known || !d.connectedAt) continue;
      if (now - c[PeerCounterSlot.lastRxMs]! > ka.timeoutSec * 1000) {
        d.close('ping-restart', `no packet for ${ka.timeoutSec}s`);
        continue;
      }
      if (now - c[PeerCounterSlot.lastTxMs]! >= ka.pingIntervalSec * 1000) {
        this.#dp.sendPing(d.peerId);
      }
      // reneg-bytes: the data path counts; the core decides when a key has carried enough.
      const total = c[PeerCounterSlot.bytesIn]! + c[PeerCounterSlot.bytesOut]!;
      if (this.config.openvpn['reneg-bytes'] > 0 && total > d.countedBytes) {
        d.core.countTraffic(d.currentKeyId, total - d.countedBytes, 0);
        d.countedBytes = total;
        d.run(d.core.handleTimeout(now));
      }
    }
  }

  /** Interim totals of every live session; at shutdown, the stop of those still open. */
  #accountingInterim(final: boolean): void {
    const at = new Date();
    const report = (d: SessionDriver): void => {
      const counters = d.finalCounters ?? this.#dp.counters(d.peerId);
      if (!counters || !d.connectedAt || d.isClosed) return;
      const session = this.#facts(d);
      this.#worldOf(d).listeners?.events.emit(
        final
          ? { kind: 'stop', session, counters, at, reason: 'shutdown', detail: undefined }
          : { kind: 'interim', session, counters, at },
      );
    };
    const sessions = [...this.#byPeerId.values()];
    if (final) {
      for (const d of sessions) report(d);
      return;
    }
    // A slice per turn of the event loop, each committed before the next is built: 10,000
    // sessions' events, promises and rows at once all lived until one commit, and V8 grew its
    // young generation (RSS) for them every interval.
    const slice = (from: number): void => {
      const to = Math.min(from + INTERIM_SLICE, sessions.length);
      for (let i = from; i < to; i++) report(sessions[i] as SessionDriver);
      if (to < sessions.length) setImmediate(() => slice(to));
    };
    slice(0);
  }

  #facts(d: SessionDriver): SessionFacts {
    return {
      id: d.id,
      user: d.user,
      protocol: d.protocol,
      remote: d.remote,
      address4: d.address4,
      address6: d.address6,
      startedAt: d.connectedAt ?? new Date(),
    };
  }
}
