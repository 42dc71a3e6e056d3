// Where a session's records and counters go: the store it is authorised against, the pool its
// addresses come from, the session table `postern sessions` reads, the accounting listeners,
// the log, the brute-force brake. Every client's are the gateway's own. The start-up
// self-connect's session (self-connect.ts) gets a scratch one, so that the same service code
// runs for it without a trace in the gateway's audit, accounting, leases or session list.
import { randomBytes } from 'node:crypto';
import type { Config } from '../../control/config/index.js';
import { AuthLimiter, ChallengeBook } from '../../control/auth/index.js';
import type { LeaseStore } from '../../control/pool/leases.js';
import type { Store } from '../../control/store/index.js';
import { createLogger, type Logger } from '../../io/log.js';
import { SessionTable } from '../sessions.js';
import { startSessionListeners, type SessionListeners } from '../session-listeners.js';
import { AdmissionRehearsal } from './admission-rehearsal.js';

export interface SessionWorld {
  readonly db: Store['db'];
  readonly leases: LeaseStore;
  readonly sessions: SessionTable;
  readonly listeners: SessionListeners | undefined;
  readonly log: Logger;
  readonly limiter: AuthLimiter;
  readonly challenges: ChallengeBook;
  readonly tokenSecret: Uint8Array | undefined;
  /** Password checks may go to the RADIUS server. */
  readonly radius: boolean;
}

/** A scratch world and how to end it. */
export interface ScratchWorld {
  readonly world: SessionWorld;
  /** A user in every configured group, with this certificate, for the scratch store. */
  enrol(user: string, certSerial: string): Promise<void>;
  /** After its session has closed: its last writes are committed, then the store is gone. */
  close(): Promise<void>;
}

/**
 * An in-memory store with the gateway's pools and groups, the accounting store's listener over
 * it (no RADIUS, no export file), a silent log, its own brake and token secret.
 */
export async function openScratchWorld(config: Config, dir: string): Promise<ScratchWorld> {
  const scratch = await AdmissionRehearsal.open(config);
  const log = createLogger('silent', 'self-connect');
  const listeners = startSessionListeners(
    {
      db: scratch.db,
      config: {
        ...config,
        radius: { ...config.radius, enabled: false, accounting: false },
        accounting: { ...config.accounting, export: null },
      },
      dir,
    },
    log,
  );
  return {
    world: {
      db: scratch.db,
      leases: scratch.leases,
      sessions: new SessionTable(),
      listeners,
      log,
      limiter: new AuthLimiter(),
      challenges: new ChallengeBook(),
      tokenSecret: randomBytes(32),
      radius: false,
    },
    enrol: (user, certSerial) => scratch.enrol(user, certSerial),
    close: async () => {
      // The session's last writes (audit, lease release) commit at the end of this turn.
      await new Promise((resolve) => setImmediate(resolve));
      await listeners.close().catch(() => undefined);
      await scratch.close().catch(() => undefined);
    },
  };
}
