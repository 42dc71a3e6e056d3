// The gateway's state as the management plane sees it: configuration, store, live sessions.
// Protocol listeners hang off this object; the API calls into it.
import { join } from 'node:path';
import { loadConfigFile, CONFIG_FILE, type Config } from '../control/config/index.js';
import { openStore, writeAudit, type Store } from '../control/store/index.js';
import { checkPolicy } from '../control/policy/check.js';
import { FullTunnelNat } from './nat.js';
import type { Logger } from '../io/log.js';
import { SessionTable, type SessionInfo } from './sessions.js';

export interface ListenerInfo {
  kind: string;
  address: string;
}

export interface GatewayStatus {
  name: string;
  version: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  configFile: string;
  store: string;
  listeners: ListenerInfo[];
  sessions: number;
  /** Each service's counters ("openvpn.reset-replies", "openvpn.drop.<why>", ...). */
  counters: Record<string, number>;
}

export { VERSION } from '../version.js';
import { VERSION } from '../version.js';

/** A protocol service the gateway runs (OpenVPN now, IKEv2 later). */
export interface GatewayService {
  /** The CA, CRL or keys on disk changed (a revocation): new handshakes must see it. */
  refreshCredentials(): Promise<void>;
  /** postern.yaml was reloaded: live sessions follow its policy from now on. */
  configChanged?(): void;
  /** Counters for `postern status`, names prefixed with the service. */
  counters?(): Record<string, number>;
  close(): Promise<void>;
}

export class Gateway {
  readonly dir: string;
  readonly configFile: string;
  readonly store: Store;
  readonly sessions = new SessionTable();
  readonly listeners: ListenerInfo[] = [];
  readonly services: GatewayService[] = [];
  /** Per-session policy drop counts, one lookup per protocol service. */
  readonly policyCounters: ((sessionId: string) => number | undefined)[] = [];
  readonly startedAt: Date;
  readonly #log: Logger;
  readonly #nat: FullTunnelNat;
  #config: Config;

  private constructor(dir: string, config: Config, store: Store, log: Logger, now: Date) {
    this.dir = dir;
    this.configFile = join(dir, CONFIG_FILE);
    this.#config = config;
    this.store = store;
    this.#log = log;
    this.startedAt = now;
    this.#nat = new FullTunnelNat(log);
  }

  static async open(dir: string, log: Logger, now = new Date()): Promise<Gateway> {
    const config = loadConfigFile(join(dir, CONFIG_FILE));
    checkPolicy(config, join(dir, CONFIG_FILE));
    const store = await openStore(dir, config.store.url);
    const gw = new Gateway(dir, config, store, log, now);
    await gw.#nat.apply(config);
    return gw;
  }

  get config(): Config {
    return this.#config;
  }

  /** Re-reads postern.yaml; a broken file throws and the running configuration stays. */
  async reload(): Promise<void> {
    try {
      const config = loadConfigFile(this.configFile);
      checkPolicy(config, this.configFile);
      this.#config = config;
    } catch (e) {
      this.#log.error(
        { event: 'reload', result: 'fail', error: (e as Error).message },
        'configuration refused; keeping the running one',
      );
      throw e;
    }
    this.#log.level = this.#config.log.level;
    for (const s of this.services) s.configChanged?.();
    await this.#nat.apply(this.#config);
    this.#log.info({ event: 'reload', result: 'ok' }, 'configuration reloaded');
    await writeAudit(
      this.store.db,
      { event: 'admin', result: 'ok', reason: 'reload', remote: 'api' },
      new Date(),
    );
  }

  status(now = new Date()): GatewayStatus {
    return {
      name: this.#config.name,
      version: VERSION,
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      uptimeSeconds: Math.floor((now.getTime() - this.startedAt.getTime()) / 1000),
      configFile: this.configFile,
      store: this.store.description,
      listeners: [...this.listeners],
      sessions: this.sessions.size,
      counters: Object.fromEntries(
        this.services.flatMap((s) => Object.entries(s.counters?.() ?? {})),
      ),
    };
  }

  listSessions(): SessionInfo[] {
    return this.sessions.all().map((s) => ({
      ...s.info(),
      policyDrops: this.policyCounters.reduce((n, f) => n + (f(s.id) ?? 0), 0),
    }));
  }

  /** A user's certificates were revoked or the user deleted: end their sessions now. */
  async userRevoked(user: string): Promise<number> {
    for (const s of this.services) await s.refreshCredentials();
    const live = this.sessions.ofUser(user);
    for (const s of live) s.kick('revoked');
    if (live.length)
      this.#log.info(
        { event: 'revoke', user, sessions: live.length },
        'ended the sessions of a revoked user',
      );
    return live.length;
  }

  async close(): Promise<void> {
    for (const s of this.services) await s.close();
    await this.#nat.remove();
    await this.store.close();
  }
}
