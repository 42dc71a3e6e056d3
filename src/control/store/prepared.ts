// A query Kysely builds and compiles once and the store runs many times with new values. A
// handshake runs the same dozen query shapes; building each one's operation tree and compiling
// it to SQL again every time cost more CPU than SQLite running it (~0.4 ms per handshake).
//
//   const idle = prepare((arg: Arg<{ user: string }>) =>
//     db.selectFrom('leases').select('address').where('user_name', '=', arg('user')));
//   const rows = await idle.execute(txOrDb, { user: 'alice' });
//
// Each `arg(name)` becomes a bound parameter; everything else the builder bound (constants)
// stays as compiled. The compiled query runs on whatever Db or transaction it is given: inside a
// Kysely transaction through Kysely's executor as any other query (same connection, same
// transaction, same order); on a store's own Db with no transaction open, straight on SQLite
// (store/sync.ts); and synchronously (`get`, `run`) inside a SyncSqlite transaction.
import type { Compilable, CompiledQuery, QueryResult } from 'kysely';
import { PosternError } from '../../errors.js';
import type { Db } from './open.js';
import { syncOf, type SyncSqlite } from './sync.js';

/** Stands for an argument while the query is built; never reaches SQLite. */
const ARG_MARK = '\u0000postern-arg:';

/** What the builder gets: `arg('name')` in place of each value given at execution. */
export type Arg<Args> = <K extends keyof Args & string>(name: K) => Args[K];

export interface PreparedQuery<Args, Row> {
  execute(db: Db, args: Args): Promise<Row[]>;
  executeTakeFirst(db: Db, args: Args): Promise<Row | undefined>;
  /** For INSERT, UPDATE and DELETE: rows changed. */
  executeChanges(db: Db, args: Args): Promise<bigint>;
  /** The query with these values, to run later (runInOneTransaction). */
  bound(args: Args): CompiledQuery<Row>;
  /** The same, synchronously on SQLite (inside a SyncSqlite transaction). */
  get(sql: SyncSqlite, args: Args): Row | undefined;
  run(sql: SyncSqlite, args: Args): number;
}

export function prepare<Args extends object, Row>(
  build: (arg: Arg<Args>) => Compilable<Row>,
): PreparedQuery<Args, Row> {
  const compiled = build(((name: string) => ARG_MARK + name) as Arg<Args>).compile();
  const slots = compiled.parameters.map((p) =>
    typeof p === 'string' && p.startsWith(ARG_MARK) ? p.slice(ARG_MARK.length) : undefined,
  );
  const bind = (args: Args): unknown[] =>
    compiled.parameters.map((p, i) => {
      const name = slots[i];
      if (name === undefined) return p;
      const value = (args as Record<string, unknown>)[name];
      if (value === undefined) {
        throw new PosternError('STORE_QUERY_ARG', `prepared query: no value for "${name}"`);
      }
      return value;
    });
  const run = async (db: Db, args: Args): Promise<QueryResult<Row>> => {
    // Outside any transaction, a store's own connection answers at once (store/sync.ts).
    const sync = syncOf(db);
    if (sync !== undefined && !sync.busy) {
      const { rows, changes } = sync.execute<Row>(compiled, bind(args));
      return { rows, numAffectedRows: changes === undefined ? undefined : BigInt(changes) };
    }
    return db.executeQuery<Row>({ ...compiled, parameters: bind(args) });
  };
  return {
    async execute(db, args) {
      return (await run(db, args)).rows;
    },
    async executeTakeFirst(db, args) {
      return (await run(db, args)).rows[0];
    },
    async executeChanges(db, args) {
      return (await run(db, args)).numAffectedRows ?? 0n;
    },
    bound: (args) => ({ ...compiled, parameters: bind(args) }),
    get: (sql, args) => sql.get<Row>(compiled, bind(args)),
    run: (sql, args) => sql.run(compiled, bind(args)),
  };
}

/**
 * `build` run once per Db (or transaction) it is asked for: a module's prepared queries for
 * the store its caller holds, without threading them through every call.
 */
export function perStore<T>(build: (db: Db) => T): (db: Db) => T {
  const built = new WeakMap<Db, T>();
  return (db) => {
    let t = built.get(db);
    if (t === undefined) {
      t = build(db);
      built.set(db, t);
    }
    return t;
  };
}
