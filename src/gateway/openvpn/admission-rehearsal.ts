// The start-up warm-up's answer to its clients' `authenticate`: the gateway's own admission path
// (authorise against the store, lease addresses, compile the groups' policy, build the
// PUSH_REPLY, write the audit record, release the lease) run against a scratch store in memory.
// V8 compiles code on first use: without this, admitting a fresh gateway's first client took
// 2.4-3.5 ms of its connect, 1.1-1.4 ms with it (~0.7 ms once many clients had warmed it). The
// real store is not touched (its statements are prepared by rehearseAuthorize and
// LeaseStore.rehearse), nor is the data plane.
import type { Config } from '../../control/config/index.js';
import { compilePolicy } from '../../control/policy/compile.js';
import { LeaseStore } from '../../control/pool/leases.js';
import {
  findUser,
  insertCertificate,
  insertUser,
  openScratchStore,
  writeAudit,
  type Store,
} from '../../control/store/index.js';
import { PosternError } from '../../errors.js';
import type { PushConfig } from '../../proto/openvpn/push-reply.js';
import type { AuthRequest } from '../../proto/openvpn/session/server-session.js';
import { authorize, newAuthContext } from './authorize.js';
import { pushConfigFor } from './push-config.js';

export class AdmissionRehearsal {
  readonly #config: Config;
  readonly #store: Store;
  readonly #leases: LeaseStore;
  readonly #auth = newAuthContext(new Date());
  /** Users already written to the scratch store, by certificate serial. */
  readonly #known = new Set<string>();
  #sessions = 0;

  private constructor(config: Config, store: Store) {
    this.#config = config;
    this.#store = store;
    this.#leases = new LeaseStore(store.db, config.pools);
  }

  /** A scratch store with the gateway's pools and groups; close() when done. */
  static async open(config: Config): Promise<AdmissionRehearsal> {
    return new AdmissionRehearsal(config, await openScratchStore());
  }

  /** The scratch store and its leases (the start-up self-connect's sessions use them). */
  get db(): Store['db'] {
    return this.#store.db;
  }

  get leases(): LeaseStore {
    return this.#leases;
  }

  /** Admits the warm-up client as #authenticate admits a real one; throws if it would refuse. */
  async admit(req: AuthRequest): Promise<PushConfig> {
    const now = new Date();
    if (req.commonName !== undefined && req.certSerial !== undefined) {
      await this.enrol(req.commonName, req.certSerial);
    }
    const decision = await authorize(this.#store.db, req, { ...this.#auth, now });
    if (!decision.ok) {
      throw new PosternError('WARM_UP_FAILED', `the rehearsal was refused: ${decision.reason}`);
    }
    const session = `rehearsal-${this.#sessions++}`;
    const { v4, v6 } = await this.#leases.acquire(decision.user, session, now);
    compilePolicy(this.#config, decision.groups);
    await writeAudit(
      this.#store.db,
      {
        event: 'auth',
        user: decision.user,
        remote: 'rehearsal',
        result: 'ok',
        reason: decision.method,
        detail: { groups: decision.groups, method: decision.method },
      },
      now,
    );
    const push = pushConfigFor(this.#config, decision.groups, { v4, v6 });
    await this.#leases.release(session, now);
    return push;
  }

  close(): Promise<void> {
    return this.#store.close();
  }

  /** A user (in every configured group) and its certificate, once per certificate. */
  async enrol(name: string, serial: string): Promise<void> {
    if (this.#known.has(serial)) return;
    this.#known.add(serial);
    const now = new Date();
    const db = this.#store.db;
    if ((await findUser(db, name)) === undefined) {
      await insertUser(db, { name, groups: Object.keys(this.#config.groups) }, now);
    }
    const at = now.toISOString();
    await insertCertificate(db, {
      serial,
      user: name,
      kind: 'client',
      subject: `CN=${name}`,
      notBefore: at,
      notAfter: at,
    });
  }
}
