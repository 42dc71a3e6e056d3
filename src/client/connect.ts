// Composition root of `postern connect`: a Postern profile in, a working tunnel out. Tries the
// profile's remotes in order, reconnects with backoff, sets up the TUN device with the pushed
// addresses and routes, and stops with a non-zero exit when the server refuses us.
//
// Data path: over UDP, the native fast path (native-link.ts) unless the addon lacks it, the
// caller asks for the reference path, or the server pushes no peer-id (DATA_V1 only); over TCP
// (and through HTTP proxies), the TypeScript reference path. The TUN device is opened for one
// path and reopened if a later remote needs the other.
import { randomBytes } from 'node:crypto';
import { parseStaticKey } from '../crypto/static-key.js';
import { parseClientKeyFile } from '../crypto/tls-crypt-v2.js';
import { PosternError } from '../errors.js';
import { loadPosternProfile, type PosternProfile } from '../control/profile/postern-profile.js';
import { supportsNative } from '../dataplane/native/native-binding.js';
import {
  ReferenceOpenvpnDataPlane,
  type PeerCounters,
} from '../dataplane/reference/openvpn-peers.js';
import { createLogger, type Logger } from '../io/log.js';
import { applyInterfaceDns } from '../io/dns-config.js';
import { openTun, type LinuxTun } from '../io/tun/linux-tun.js';
import { clientTlsEngine } from '../io/tls/engine-choice.js';
import {
  ClientSession,
  type ClientControlWrap,
  type ClientOutput,
} from '../proto/openvpn/session/client-session.js';
import type { PushedConfig } from '../proto/openvpn/push-reply.js';
import { Opcode, OPCODE_SHIFT } from '../wire/openvpn/constants.js';
import { openLink, type Link } from './link.js';
import { NativeClientTun, openNativeLink, type NativeLink } from './native-link.js';

export type ClientDataplane = 'native' | 'reference';

export interface ConnectOptions {
  profilePath: string;
  httpProxy?: { host: string; port: number };
  /** For profiles with a password; else $POSTERN_PASSWORD. */
  password?: string;
  /** For profiles with one-time codes; else $POSTERN_OTP. */
  otp?: string;
  /** UDP remotes: 'native' (default, when the addon supports it) or 'reference'. */
  dataplane?: ClientDataplane;
}

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const KEEPALIVE_TICK_MS = 1000;
const GOODBYE_WAIT_MS = 2000;
// Certificate verdicts, theirs about us (TLS alerts) or ours about them: retrying cannot help.
const CERTIFICATE_ALERT =
  /certificate[ _](revoked|expired|unknown)|bad[ _]certificate|unknown[ _]ca|alert number 4[2-8]|TLS_SERVER_NAME_MISMATCH|TLS_SERVER_NOT_SERVER_CERT|UNABLE_TO_VERIFY|SELF_SIGNED|CERT_HAS_EXPIRED/i;

/** What the tunnel carried during one session (inner bytes and packets, pings excluded). */
type Traffic = Pick<PeerCounters, 'bytesIn' | 'bytesOut' | 'packetsIn' | 'packetsOut'>;

type AttemptEnd =
  | { kind: 'refused'; reason: string }
  | { kind: 'closed'; reason: string; traffic?: Traffic }
  | { kind: 'stopped'; traffic?: Traffic };

interface TunSettings {
  address4: string | null;
  address6: string | null;
  routes: string[];
  dns: string[];
}

function controlWrap(p: PosternProfile): ClientControlWrap {
  if (p.tlsCrypt.version === 'v2') {
    const k = parseClientKeyFile(p.tlsCrypt.key);
    if (!k.ok)
      throw new PosternError(
        'PROFILE_INVALID',
        `the profile's tls-crypt-v2 key is unreadable (${k.reason})`,
      );
    return { kind: 'tls-crypt-v2', clientKey: k.clientKey, wkc: k.wkc };
  }
  const k = parseStaticKey(p.tlsCrypt.key);
  if (!k.ok)
    throw new PosternError(
      'PROFILE_INVALID',
      `the profile's tls-crypt key is unreadable (${k.reason})`,
    );
  return { kind: 'tls-crypt', key: k.key };
}

function trafficOf(c: PeerCounters | undefined): Traffic | undefined {
  return c
    ? { bytesIn: c.bytesIn, bytesOut: c.bytesOut, packetsIn: c.packetsIn, packetsOut: c.packetsOut }
    : undefined;
}

function prefixOf(netmask: string): number {
  return netmask
    .split('.')
    .reduce((n, octet) => n + (Number(octet) >>> 0).toString(2).replace(/0/g, '').length, 0);
}

export class Connector {
  readonly #o: ConnectOptions;
  readonly #log: Logger;
  readonly #profile: PosternProfile;
  #tun: LinuxTun | undefined;
  #dp: ReferenceOpenvpnDataPlane | undefined;
  #nativeTun: NativeClientTun | undefined;
  #nativeTunConfigured = false;
  /** Why UDP runs on the reference path, once decided ('' while native may be used). */
  #nativeOff = '';
  #stopping = false;
  #stopCurrent: (() => void) | undefined;

  constructor(o: ConnectOptions) {
    this.#o = o;
    this.#log = createLogger('info', 'postern-connect');
    this.#profile = loadPosternProfile(o.profilePath);
  }

  /** Runs until stopped (resolves 0) or refused (resolves 1). */
  async run(): Promise<number> {
    let backoff = BACKOFF_FIRST_MS;
    for (let attempt = 0; !this.#stopping; attempt++) {
      const remote = this.#profile.remotes[attempt % this.#profile.remotes.length];
      if (!remote) throw new PosternError('PROFILE_INVALID', 'the profile names no remote');
      const end = await this.#attempt(remote).catch((e: unknown): AttemptEnd => ({
        kind: 'closed',
        reason: (e as Error).message,
      }));
      if (end.kind === 'stopped' || this.#stopping) {
        if (end.kind !== 'refused' && end.traffic)
          this.#log.info({ event: 'stopped', ...end.traffic }, 'tunnel closed');
        break;
      }
      if (end.kind === 'refused') {
        this.#log.error({ event: 'refused', reason: end.reason }, 'the server refused us');
        await this.#cleanup();
        return 1;
      }
      this.#log.warn(
        { event: 'disconnected', reason: end.reason, retryInMs: backoff, ...end.traffic },
        'link lost; reconnecting',
      );
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      if (end.reason === 'connected-then-lost') backoff = BACKOFF_FIRST_MS;
    }
    await this.#cleanup();
    return 0;
  }

  stop(): void {
    this.#stopping = true;
    this.#stopCurrent?.();
  }

  async #cleanup(): Promise<void> {
    await this.#closeReferenceTun();
    await this.#closeNativeTun();
  }

  async #closeReferenceTun(): Promise<void> {
    const tun = this.#tun;
    this.#tun = undefined;
    this.#dp = undefined;
    await tun?.close();
  }

  async #closeNativeTun(): Promise<void> {
    const tun = this.#nativeTun;
    this.#nativeTun = undefined;
    this.#nativeTunConfigured = false;
    await tun?.close();
  }

  /** Which data path carries a session to `remote`. */
  #dataplaneFor(remote: PosternProfile['remotes'][number]): ClientDataplane {
    if (remote.proto !== 'udp') return 'reference';
    if ((this.#o.dataplane ?? 'native') === 'reference') return 'reference';
    if (this.#nativeOff === '') {
      const support = supportsNative();
      if (support.ok) return 'native';
      this.#nativeOff = support.reason;
      this.#log.warn(
        { event: 'dataplane', dataplane: 'reference', reason: support.reason },
        'the native data path is unavailable; using the TypeScript one',
      );
    }
    return 'reference';
  }

  #credentials(): { username?: string; password?: string } {
    const { password: needsPassword, totp } = this.#profile.auth;
    if (!needsPassword && !totp) return {};
    const password = this.#o.password ?? process.env.POSTERN_PASSWORD ?? '';
    if (!totp) return { username: this.#profile.user, password };
    const otp = this.#o.otp ?? process.env.POSTERN_OTP ?? '';
    const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
    return { username: this.#profile.user, password: `SCRV1:${b64(password)}:${b64(otp)}` };
  }

  async #attempt(remote: PosternProfile['remotes'][number]): Promise<AttemptEnd> {
    let link: Link;
    let native: NativeLink | undefined;
    if (this.#dataplaneFor(remote) === 'native') {
      await this.#closeReferenceTun();
      this.#nativeTun ??= NativeClientTun.open();
      native = await openNativeLink(remote, this.#nativeTun);
      link = native;
    } else {
      await this.#closeNativeTun();
      link = await openLink(remote, remote.proto === 'tcp' ? this.#o.httpProxy : undefined);
    }
    return new Promise((resolve) => this.#runSession(link, native, resolve));
  }

  #runSession(
    link: Link,
    native: NativeLink | undefined,
    resolve: (end: AttemptEnd) => void,
  ): void {
    const p = this.#profile;
    const dataplane: ClientDataplane = native ? 'native' : 'reference';
    this.#log.info({ event: 'connecting', link: link.description, dataplane }, 'connecting');
    this.#dp?.removePeer(0); // the last session's keys die with it
    const counters = (): PeerCounters | undefined =>
      native ? native.counters() : this.#dp?.counters(0);
    let refused: string | undefined;
    let connected = false;
    let pushed: PushedConfig | undefined;
    let finished = false;
    let wakePending = false;
    let timer: NodeJS.Timeout | undefined;
    const core: ClientSession = new ClientSession({
      wrap: controlWrap(p),
      createTls: clientTlsEngine({
        ca: p.ca,
        cert: p.cert,
        key: p.key,
        minVersion: p.tlsMin === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
        serverCommonName: p.verifyName,
      }).factory,
      random: (n) => new Uint8Array(randomBytes(n)),
      now: Date.now(),
      dataCiphers: p.dataCiphers,
      transport: link.proto,
      ...this.#credentials(),
      wake: () => {
        if (wakePending || finished) return;
        wakePending = true;
        setImmediate(() => {
          wakePending = false;
          if (!finished) run(core.handleTlsEvents(Date.now()));
        });
      },
    });
    const finish = (end: AttemptEnd): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearInterval(keepalive);
      this.#stopCurrent = undefined;
      const traffic = connected ? trafficOf(counters()) : undefined;
      void link.close();
      resolve(end.kind === 'refused' || !traffic ? end : { ...end, traffic });
    };
    const run = (outputs: ClientOutput[]): void => {
      for (const out of outputs) {
        switch (out.kind) {
          case 'send':
            link.send(out.packet);
            break;
          case 'configured':
            pushed = out.pushed;
            break;
          case 'established': {
            if (native && out.peerId === undefined) {
              // DATA_V1 only: the native path takes DATA_V2; the next attempt runs in TypeScript.
              this.#nativeOff = 'the server pushed no peer-id';
              this.#log.warn(
                { event: 'dataplane', dataplane: 'reference', reason: this.#nativeOff },
                'reconnecting on the TypeScript data path',
              );
              return finish({ kind: 'closed', reason: this.#nativeOff });
            }
            const up =
              native && out.peerId !== undefined
                ? this.#bringUpNative(native, pushed, out.peerId)
                : this.#bringUp(link, pushed, out.peerId);
            void up.then(
              (settings) => {
                connected = true;
                this.#log.info(
                  {
                    event: 'connected',
                    link: link.description,
                    cipher: out.cipher,
                    dataplane,
                    ...(native ? { offload: this.#nativeTun?.offload ?? false } : {}),
                    ...settings,
                  },
                  'tunnel up',
                );
              },
              (e: unknown) => {
                this.#log.error(
                  { event: 'tun', error: (e as Error).message },
                  'cannot set up the TUN device',
                );
                finish({ kind: 'closed', reason: (e as Error).message });
                // A device half configured: the next attempt starts from a fresh one (after
                // finish, so no data plane thread still uses its fd).
                if (native && !this.#nativeTunConfigured) void this.#closeNativeTun();
              },
            );
            break;
          }
          case 'keys':
            this.#pendingKeys.push(out);
            this.#installKeys(native);
            break;
          case 'retireKey':
            if (native) native.retireKey(out.keyId);
            else this.#dp?.retireKey(0, out.keyId);
            break;
          case 'refused':
            refused = out.reason ?? 'AUTH_FAILED';
            break;
          case 'closed':
            if (refused !== undefined || out.reason === 'auth-failed')
              return finish({ kind: 'refused', reason: refused ?? out.detail ?? out.reason });
            // The server's TLS alert about our certificate (revoked, unknown CA, expired) is a
            // refusal too: retrying cannot help.
            if (out.reason === 'tls-error' && CERTIFICATE_ALERT.test(out.detail ?? ''))
              return finish({ kind: 'refused', reason: out.detail ?? out.reason });
            if (this.#stopping) return finish({ kind: 'stopped' });
            return finish({
              kind: 'closed',
              reason: connected
                ? 'connected-then-lost'
                : `${out.reason}${out.detail ? `: ${out.detail}` : ''}`,
            });
        }
      }
      clearTimeout(timer);
      const at = core.nextDeadline();
      if (at !== undefined && !finished)
        timer = setTimeout(() => run(core.handleTimeout(Date.now())), Math.max(0, at - Date.now()));
    };
    link.onPacket((bytes) => {
      if (finished) return;
      const op = (bytes[0] ?? 0) >> OPCODE_SHIFT;
      // Data packets reach JS on the native path only when no key or peer matches: dropped.
      if (op === Opcode.DATA_V2 || op === Opcode.DATA_V1) {
        if (!native) this.#dp?.fromNetwork(0, bytes);
      } else run(core.receive(bytes, Date.now()));
    });
    link.onClose((why) => {
      finish({ kind: 'closed', reason: connected ? 'connected-then-lost' : why });
      // Natively, a worker thread stopped (its data plane is closed now): the TUN device may be
      // gone, so the next attempt opens a fresh one.
      if (native) void this.#closeNativeTun();
    });
    const keepalive = setInterval(() => {
      const c = counters();
      if (!connected || !pushed || !c) return;
      const now = Date.now();
      if (pushed.pingRestart && now - c.lastRxMs > pushed.pingRestart * 1000) {
        run(core.close('ping-restart', now, `no packet for ${pushed.pingRestart}s`));
      } else if (pushed.ping && now - c.lastTxMs >= pushed.ping * 1000) {
        if (native) native.sendPing();
        else this.#dp?.sendPing(0);
      }
    }, KEEPALIVE_TICK_MS);
    this.#stopCurrent = () => {
      // A server without cc-exit (before 2.6) hears it on the data channel, as
      // explicit-exit-notify says it; over TCP the closed connection says it.
      if (connected && link.proto === 'udp' && !core.serverTakesExit) {
        if (native) native.sendExitNotice();
        else this.#dp?.sendExitNotice(0);
      }
      run(core.disconnect(Date.now()));
      setTimeout(() => finish({ kind: 'stopped' }), GOODBYE_WAIT_MS);
    };
    this.#pendingKeys = [];
    run(core.start(Date.now()));
  }

  #pendingKeys: Extract<ClientOutput, { kind: 'keys' }>[] = [];

  #installKeys(native?: NativeLink): void {
    if (native) {
      if (!native.attached) return;
      for (const k of this.#pendingKeys.splice(0)) native.installKey(k.keyId, k.keys);
      return;
    }
    if (!this.#dp || !this.#dp.hasPeer(0)) return;
    for (const k of this.#pendingKeys.splice(0)) this.#dp.installKey(0, k.keyId, k.keys);
  }

  /** The server as the native link's one peer; the first time, the TUN device configured. */
  async #bringUpNative(
    native: NativeLink,
    pushed: PushedConfig | undefined,
    peerId: number,
  ): Promise<TunSettings> {
    native.attachServer(peerId);
    this.#installKeys(native);
    const settings = tunSettings(pushed);
    const tun = this.#nativeTun;
    if (tun && !this.#nativeTunConfigured) {
      await tun.configure(
        [settings.address4, settings.address6].filter((a): a is string => a !== null),
        settings.routes,
      );
      this.#nativeTunConfigured = true;
      await this.#applyDns(tun.name, pushed);
    }
    return settings;
  }

  async #applyDns(tunName: string, pushed: PushedConfig | undefined): Promise<void> {
    const servers = pushed?.dns ?? [];
    const dns = await applyInterfaceDns(tunName, servers, pushed?.redirectGateway !== undefined);
    this.#log.info(
      { event: 'dns', servers, ...dns },
      dns.applied ? 'DNS servers set for the tunnel' : 'DNS servers not applied',
    );
  }

  /** First time: the TUN device with the pushed addresses and routes. Later: the new link. */
  async #bringUp(
    link: Link,
    pushed: PushedConfig | undefined,
    peerId: number | undefined,
  ): Promise<TunSettings> {
    const settings = tunSettings(pushed);
    const { address4, address6, routes } = settings;
    if (!this.#tun) {
      this.#tun = await openTun({
        addresses: [address4, address6].filter((a): a is string => a !== null),
        routes,
      });
      this.#dp = new ReferenceOpenvpnDataPlane(this.#tun, Date.now);
      const dp = this.#dp;
      this.#tun.onPackets((packets) => dp.fromTun(packets));
      await this.#applyDns(this.#tun.name, pushed);
    }
    this.#dp?.addPeer(0, { transport: link, addresses: [], sendPeerId: peerId, upstream: true });
    this.#installKeys();
    return settings;
  }
}

/** The TUN device's addresses and routes from what the server pushed. */
function tunSettings(pushed: PushedConfig | undefined): TunSettings {
  const address4 = pushed?.ifconfig
    ? `${pushed.ifconfig.local}/${prefixOf(pushed.ifconfig.netmask)}`
    : null;
  const address6 = pushed?.ifconfigIpv6
    ? `${pushed.ifconfigIpv6.address}/${pushed.ifconfigIpv6.prefixLength}`
    : null;
  const routes = [
    ...(pushed?.routes ?? []).map((r) => `${r.network}/${prefixOf(r.netmask)}`),
    ...(pushed?.routesIpv6 ?? []).map((r) => r.network),
    ...(pushed?.redirectGateway ? ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'] : []),
  ];
  return { address4, address6, routes, dns: pushed?.dns ?? [] };
}
