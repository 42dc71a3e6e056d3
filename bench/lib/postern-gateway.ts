// A Postern gateway as an administrator sets one up: `postern init`, `postern server` in gw,
// `postern user add` and `postern profile` for the client, all through the real CLI.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../src/lab/index.js';
import { spawnWatched } from './process.js';

/** The `postern` command, from dist/bench/lib/. */
export const POSTERN_BIN = fileURLToPath(new URL('../../../bin/postern.js', import.meta.url));
const CLI_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 30_000;
/** Client pools with room for the load generator's sessions (the default is a /24). */
const POOL4 = '100.64.0.0/18';
const POOL6 = 'fd00:64::/64';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `postern ARGS` to completion (in the root namespace: these commands touch no network). */
export function postern(args: readonly string[], input = ''): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [POSTERN_BIN, ...args], {
      env: { ...process.env, POSTERN_DIR: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

async function must(args: readonly string[]): Promise<CliResult> {
  const r = await postern(args);
  if (r.code !== 0) throw new Error(`postern ${args.join(' ')}: ${r.stderr.trim()}`);
  return r;
}

export interface PosternGateway {
  readonly dir: string;
  readonly pid: number;
  /** `postern ARGS --dir DIR`; throws on a non-zero exit. */
  cli(args: readonly string[]): Promise<CliResult>;
  /** Adds a user and exports its profile; returns the profile's path. */
  addUser(name: string, format: 'ovpn' | 'postern'): Promise<string>;
  /** Exports an existing user's profile; returns its path. */
  exportProfile(name: string, format: 'ovpn' | 'postern'): Promise<string>;
  stop(): Promise<void>;
}

/** Initializes a gateway whose clients reach the office LAN, and starts it in gw. */
export async function startPosternGateway(lab: Lab): Promise<PosternGateway> {
  const tmp = mkdtempSync(join(tmpdir(), 'postern-bench-gw-'));
  const remove = (): void => rmSync(tmp, { recursive: true, force: true });
  const dir = join(tmp, 'gw');
  try {
    const office = lab.addr.net.office;
    await must(
      ['init', '--dir', dir, '--endpoint', lab.addr.gw.outside.v4].concat([
        '--route',
        office.v4,
        '--route',
        office.v6,
        ...['--pool4', POOL4, '--pool6', POOL6],
      ]),
    );
    // The reset reply limit as high as the stock reference's (--connect-freq-initial 1000000 1):
    // the handshake figures are about completing handshakes, not about that flood guard.
    const yaml = join(dir, 'postern.yaml');
    const text = readFileSync(yaml, 'utf8');
    const unlimited = text.replace(
      /connect-freq-initial: \{ max: \d+, seconds: \d+ \}/,
      'connect-freq-initial: { max: 1000000, seconds: 1 }',
    );
    if (unlimited === text) throw new Error('postern.yaml has no connect-freq-initial line');
    writeFileSync(yaml, unlimited);
  } catch (e) {
    remove();
    throw e;
  }
  // POSTERN_BENCH_NODE_ARGS: extra node flags for the gateway alone, e.g. "--cpu-prof" to see
  // where its time goes under the load generator (NODE_OPTIONS refuses that flag).
  const nodeArgs = (process.env.POSTERN_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const server = spawnWatched(lab, 'gw', 'postern server', process.execPath, [
    ...[...nodeArgs, POSTERN_BIN, 'server', '--dir', dir],
  ]);
  try {
    await server.waitFor(/"event":"ready"/, READY_TIMEOUT_MS);
  } catch (e) {
    await server.stop();
    remove();
    throw e;
  }
  const cli = (args: readonly string[]): Promise<CliResult> => must([...args, '--dir', dir]);
  const exportProfile = async (name: string, format: 'ovpn' | 'postern'): Promise<string> => {
    const out = join(tmp, `${name}.${format === 'ovpn' ? 'ovpn' : 'json'}`);
    await cli(['profile', name, '--format', format, '--out', out]);
    return out;
  };
  return {
    dir,
    pid: server.pid,
    cli,
    async addUser(name, format) {
      await cli(['user', 'add', name]);
      return exportProfile(name, format);
    },
    exportProfile,
    async stop() {
      await server.stop();
      remove();
    },
  };
}
