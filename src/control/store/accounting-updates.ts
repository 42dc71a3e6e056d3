// Accounting rows, written once per turn of the event loop with the turn's other store writes
// (turn-writes.ts): session starts, then interim and final totals. A gateway with 10,000 sessions reports every one of them each
// `interim-seconds` (and stops them all at shutdown, or starts them all after a restart): one
// commit per row made that a burst of seconds of CPU; one commit per burst makes it a few hundred
// milliseconds. A row waits at most one turn of the loop.
import type { CompiledQuery } from 'kysely';
import { accountingUpdate, type Counters } from './accounting.js';
import type { Db } from './open.js';
import { writeAtTurnEnd, type TurnWrite } from './turn-writes.js';
import { iso } from './time.js';

interface PendingUpdate {
  counters: Counters;
  at: Date;
  final: boolean;
}

export interface AccountingStart {
  session: string;
  user: string;
  protocol: string;
}

interface QueuedStart {
  start: AccountingStart;
  at: Date;
}

/** Rows per INSERT: 9 bound values each, well under SQLite's limit on bound parameters. */
const STARTS_PER_INSERT = 500;

export class AccountingUpdates {
  readonly #db: Db;
  #starts: QueuedStart[] = [];
  #pending = new Map<string, PendingUpdate>();
  #written: Promise<void> | undefined;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Queues a session's row; resolves once it is committed (with the rest of the turn). */
  start(start: AccountingStart, at: Date): Promise<void> {
    this.#starts.push({ start, at });
    return this.#schedule();
  }

  /** Queues the session's totals; resolves once they are committed (with the rest of the turn). */
  update(session: string, counters: Counters, at: Date, final: boolean): Promise<void> {
    const earlier = this.#pending.get(session);
    // A stop is never undone by a later interim of the same turn.
    this.#pending.set(session, { counters, at, final: final || (earlier?.final ?? false) });
    return this.#schedule();
  }

  #schedule(): Promise<void> {
    this.#written ??= writeAtTurnEnd(this.#db, this.#turnWrite());
    return this.#written;
  }

  /** This turn's rows as queries; they are taken from the queues when the turn ends. */
  #turnWrite(): TurnWrite {
    let taken: { starts: QueuedStart[]; batch: Map<string, PendingUpdate> } | undefined;
    const take = () => (taken ??= this.#take());
    const updates = () =>
      [...take().batch].map(([session, u]) =>
        accountingUpdate(this.#db, session, u.counters, u.at, u.final),
      );
    return {
      queries: () => {
        // Starts first: an update of the same turn finds its row.
        const { starts } = take();
        const inserts: CompiledQuery[] = [];
        for (let at = 0; at < starts.length; at += STARTS_PER_INSERT) {
          inserts.push(insertStarts(this.#db, starts.slice(at, at + STARTS_PER_INSERT)));
        }
        return [...inserts, ...updates()];
      },
      // One bad row (a duplicate session id) must not cost the turn's other rows.
      oneByOne: () => [...take().starts.map((s) => insertStarts(this.#db, [s])), ...updates()],
    };
  }

  /** The turn's rows, moved out of the queues that take the next turn's. */
  #take(): { starts: QueuedStart[]; batch: Map<string, PendingUpdate> } {
    const taken = { starts: this.#starts, batch: this.#pending };
    this.#starts = [];
    this.#pending = new Map();
    this.#written = undefined;
    return taken;
  }
}

function insertStarts(db: Db, starts: QueuedStart[]): CompiledQuery {
  return db
    .insertInto('accounting')
    .values(
      starts.map(({ start, at }) => ({
        session_id: start.session,
        user_name: start.user,
        protocol: start.protocol,
        start: iso(at),
        updated_at: iso(at),
        bytes_in: 0,
        bytes_out: 0,
        packets_in: 0,
        packets_out: 0,
      })),
    )
    .compile();
}
