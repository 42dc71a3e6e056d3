// The SQLite store, synchronously: the gateway's per-handshake writes (a lease hand-out, the
// turn's audit and accounting rows) run straight on better-sqlite3 instead of through Kysely's
// asynchronous executor. better-sqlite3 is synchronous underneath anyway, and for these short
// statements Kysely's connection mutex, result handling and a promise per step cost about what
// SQLite itself spends. Queries are still built (once) with Kysely (store/prepared.ts), so their
// shape stays typed against the schema.
//
// A transaction here is one synchronous call: nothing else runs in the middle of it. One that
// Kysely has open (its steps are awaited, so other code runs between them) would swallow ours,
// so ours waits for the next turn of the event loop while one is open.
import type Sqlite from 'better-sqlite3';
import type { CompiledQuery } from 'kysely';
import type { Db } from './open.js';

export class SyncSqlite {
  readonly #sqlite: Sqlite.Database;

  constructor(sqlite: Sqlite.Database) {
    this.#sqlite = sqlite;
  }

  /** A transaction (ours or Kysely's) is open on the connection. */
  get busy(): boolean {
    return this.#sqlite.inTransaction;
  }

  get<Row>(query: CompiledQuery, parameters = query.parameters): Row | undefined {
    return this.#sqlite.prepare(query.sql).get(parameters) as Row | undefined;
  }

  /** For INSERT, UPDATE and DELETE: rows changed. */
  run(query: CompiledQuery, parameters = query.parameters): number {
    return this.#sqlite.prepare(query.sql).run(parameters).changes;
  }

  /** Rows of a statement that returns some, else the rows it changed: what Kysely reports. */
  execute<Row>(
    query: CompiledQuery,
    parameters = query.parameters,
  ): { rows: Row[]; changes?: number } {
    const statement = this.#sqlite.prepare(query.sql);
    if (statement.reader) return { rows: statement.all(parameters) as Row[] };
    return { rows: [], changes: statement.run(parameters).changes };
  }

  /**
   * Runs `work` in one transaction, committed when it returns and rolled back when it throws,
   * as soon as no other transaction is open (at once, usually).
   */
  async transaction<T>(work: () => T): Promise<T> {
    while (this.#sqlite.inTransaction) await new Promise((resolve) => setImmediate(resolve));
    return this.#sqlite.transaction(work)();
  }
}

const attached = new WeakMap<Db, SyncSqlite>();

/** Called by openStore: `db`'s connection, for synchronous use. */
export function attachSync(db: Db, sync: SyncSqlite): void {
  attached.set(db, sync);
}

/** The synchronous side of a store openStore opened; undefined for a transaction's Db. */
export function syncOf(db: Db): SyncSqlite | undefined {
  return attached.get(db);
}

/** Runs `queries` in order in one transaction: synchronously on a store's own connection. */
export async function runInOneTransaction(
  db: Db,
  queries: readonly CompiledQuery[],
): Promise<void> {
  const sql = syncOf(db);
  if (sql !== undefined) {
    await sql.transaction(() => queries.forEach((query) => sql.run(query)));
    return;
  }
  await db.transaction().execute(async (tx) => {
    for (const query of queries) await tx.executeQuery(query);
  });
}
