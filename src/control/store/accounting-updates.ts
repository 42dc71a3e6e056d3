// Interim and final accounting totals, written in one transaction per turn of the event loop.
// A gateway with 10,000 sessions reports every one of them each `interim-seconds` (and stops
// them all at shutdown): one commit per row made that a burst of seconds of CPU; one commit per
// burst makes it a few hundred milliseconds. A row waits at most one turn of the loop.
import { updateAccounting, type Counters } from './accounting.js';
import type { Db } from './open.js';

interface PendingUpdate {
  counters: Counters;
  at: Date;
  final: boolean;
}

export class AccountingUpdates {
  readonly #db: Db;
  #pending = new Map<string, PendingUpdate>();
  #written: Promise<void> | undefined;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Queues the session's totals; resolves once they are committed (with the rest of the turn). */
  update(session: string, counters: Counters, at: Date, final: boolean): Promise<void> {
    const earlier = this.#pending.get(session);
    // A stop is never undone by a later interim of the same turn.
    this.#pending.set(session, { counters, at, final: final || (earlier?.final ?? false) });
    this.#written ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.#pending;
        this.#pending = new Map();
        this.#written = undefined;
        this.#write(batch).then(resolve, reject);
      });
    });
    return this.#written;
  }

  async #write(batch: Map<string, PendingUpdate>): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      for (const [session, u] of batch) {
        await updateAccounting(tx, session, u.counters, u.at, u.final);
      }
    });
  }
}
