// What every command shares: where the data directory is, its config and store, the API
// socket, and how results are printed (human text, or JSON with --json).
import { isAbsolute, join, resolve } from 'node:path';
import {
  CONFIG_FILE,
  loadConfigFile,
  readSocketSetting,
  type Config,
} from '../control/config/index.js';
import { openStore, type Store } from '../control/store/index.js';
import { UsageError } from './usage-error.js';

// Kept in a file of its own so commands that need no store do not load one to report it.
export { UsageError };

export const DEFAULT_DIR = '/var/lib/postern';

export interface DirOption {
  dir?: string;
}

export function resolveDir(opts: DirOption): string {
  return resolve(opts.dir ?? process.env.POSTERN_DIR ?? DEFAULT_DIR);
}

export function loadConfig(dir: string): Config {
  return loadConfigFile(join(dir, CONFIG_FILE));
}

/** Where the running gateway's API listens; found even when postern.yaml has an error elsewhere. */
export function apiSocket(dir: string): string {
  const name = readSocketSetting(join(dir, CONFIG_FILE)) ?? 'postern.sock';
  return isAbsolute(name) ? name : join(dir, name);
}

/** Opens config + store for a command, and closes the store when the command is done. */
export async function withStore<T>(
  dir: string,
  fn: (config: Config, store: Store) => Promise<T>,
): Promise<T> {
  const config = loadConfig(dir);
  const store = await openStore(dir, config.store.url);
  try {
    return await fn(config, store);
  } finally {
    await store.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A plain text table: columns padded to their widest cell. */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const r of cells) {
    process.stdout.write(
      `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}\n`,
    );
  }
}

export function parseSince(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) {
    throw new UsageError(`--since "${text}" is not an ISO-8601 time (e.g. 2026-11-27T10:00:00Z)`);
  }
  return d;
}
