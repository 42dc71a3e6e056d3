// Opens the store named by postern.yaml's `store.url` and brings its schema up to date.
import { closeSync, openSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { PosternError } from '../../errors.js';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';
import { attachSync, SyncSqlite } from './sync.js';

export type Db = Kysely<Database>;

export interface Store {
  readonly db: Db;
  readonly description: string;
  close(): Promise<void>;
}

export async function openStore(dir: string, url: string): Promise<Store> {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    throw new PosternError(
      'STORE_UNSUPPORTED',
      'the PostgreSQL store is not available in this version',
      'use store.url: sqlite:postern.db in postern.yaml',
    );
  }
  if (!url.startsWith('sqlite:')) {
    throw new PosternError(
      'STORE_BAD_URL',
      `store.url "${url}" is neither sqlite:FILE nor postgres://…`,
      'write store.url: sqlite:postern.db',
    );
  }
  const file = url.slice('sqlite:'.length);
  const path = isAbsolute(file) ? file : join(dir, file);
  let sqlite: Sqlite.Database;
  try {
    // Password hashes and TOTP secrets live here: the file (and SQLite's -wal/-shm, which copy
    // its mode) is private from the first byte.
    closeSync(openSync(path, 'a', 0o600));
    sqlite = new Sqlite(path);
  } catch (e) {
    throw new PosternError('STORE_OPEN', `cannot open the store ${path}: ${(e as Error).message}`);
  }
  // WAL lets the CLI read and write while the gateway runs; a committed row survives SIGKILL.
  sqlite.pragma('journal_mode = WAL');
  return storeOn(sqlite, path);
}

/**
 * A store in memory that lives and dies with the process, for the gateway's start-up rehearsal:
 * nothing else can open it (no file, no WAL), and postern.yaml cannot name it.
 */
export function openScratchStore(): Promise<Store> {
  return storeOn(new Sqlite(MEMORY), MEMORY);
}

async function storeOn(sqlite: Sqlite.Database, path: string): Promise<Store> {
  // In WAL mode NORMAL still keeps every commit through a crash of the process (SIGKILL) and
  // never corrupts the file; only a power cut may lose the last commits. FULL would fsync on
  // every commit: a millisecond per handshake that buys nothing a gateway needs.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const cached = withStatementCache(sqlite);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cached }) });
  attachSync(db, new SyncSqlite(cached));
  await migrate(db, path);
  return {
    db,
    description: `sqlite:${path}`,
    close: () => db.destroy(),
  };
}

/** SQLite's name for a database in memory. */
const MEMORY = ':memory:';

/** Most statements a gateway keeps prepared; its queries are a few dozen shapes. */
const STATEMENT_CACHE_MAX = 256;

/**
 * Kysely prepares every query afresh; a gateway runs the same few dozen shapes on every
 * handshake, so each SQL text is prepared once and reused (Kysely never streams from ours, so a
 * statement is never in use twice at once).
 */
function withStatementCache(sqlite: Sqlite.Database): Sqlite.Database {
  const cache = new Map<string, Sqlite.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') return Reflect.get(target, property, receiver) as unknown;
      return (source: string): Sqlite.Statement => {
        let statement = cache.get(source);
        if (statement === undefined) {
          if (cache.size >= STATEMENT_CACHE_MAX) cache.clear();
          statement = prepare(source);
          cache.set(source, statement);
        }
        return statement;
      };
    },
  });
}

async function migrate(db: Db, where: string): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new PosternError(
      'STORE_MIGRATION',
      `migration ${failed} failed on ${where}: ${String(error)}`,
    );
  }
}
