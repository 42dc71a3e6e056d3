// A real Postern gateway in the lab's gw namespace, and real clients in the laptop namespace,
// for end-to-end tests.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before } from 'node:test';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AuditRecord } from '../../src/control/store/index.js';
import type { SessionInfo } from '../../src/gateway/sessions.js';
import { createLab, type Lab } from '../../src/lab/index.js';
import { BIN, postern, tempDir } from './postern-cli.js';

export interface LineWatcher {
  lines: string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

export function watchLines(proc: ChildProcess, what: string): LineWatcher {
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const feed = (line: string): void => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  if (proc.stdout) createInterface({ input: proc.stdout }).on('line', feed);
  if (proc.stderr) createInterface({ input: proc.stderr }).on('line', feed);
  return {
    lines,
    waitFor(re, timeoutMs = 30_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `${what}: no line matching ${re} within ${timeoutMs} ms; last lines:\n${lines.slice(-30).join('\n')}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}

export interface LabGateway {
  dir: string;
  proc: ChildProcess;
  log: LineWatcher;
  cli(args: string[], input?: string): ReturnType<typeof postern>;
  /** Adds a user and writes its profile; returns the profile's path. */
  addUser(
    name: string,
    opts?: { groups?: string[]; password?: string; format?: 'ovpn' | 'postern' },
  ): Promise<string>;
  /** `postern sessions --json`: the live sessions. */
  sessions(): Promise<SessionInfo[]>;
  /** `postern audit --json`: the audit records, oldest first. */
  audit(): Promise<AuditRecord[]>;
  /** SIGTERM, then the same directory served by a new process; resolves once it is ready. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startLabGateway(
  lab: Lab,
  opts: { routes?: string[]; configure?: (yaml: string) => string } = {},
): Promise<LabGateway> {
  const tmp = tempDir('postern-labgw-');
  const dir = join(tmp.path, 'gw');
  const routes = opts.routes ?? ['192.0.2.0/24', '2001:db8:2::/64'];
  const init = await postern([
    'init',
    '--dir',
    dir,
    '--endpoint',
    lab.addr.gw.outside.v4,
    ...routes.flatMap((r) => ['--route', r]),
  ]);
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  if (opts.configure) {
    const file = join(dir, 'postern.yaml');
    writeFileSync(file, opts.configure(readFileSync(file, 'utf8')));
  }
  const launch = async (): Promise<{ proc: ChildProcess; log: LineWatcher }> => {
    const proc = lab.spawn(
      'gw',
      process.execPath,
      ['--enable-source-maps', BIN, 'server', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const log = watchLines(proc, 'gateway');
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) =>
        reject(
          new Error(`the gateway exited (${code}) before it was ready:\n${log.lines.join('\n')}`),
        ),
      ),
    );
    await Promise.race([log.waitFor(/"event":"ready"/, 30_000), exited]);
    exited.catch(() => undefined);
    return { proc, log };
  };
  const stopProcess = async (proc: ChildProcess): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.once('exit', resolve));
    }
  };
  let running = await launch();
  const cli = (args: string[], input?: string) =>
    postern([...args, '--dir', dir], input === undefined ? {} : { input });
  const cliJson = async <T>(args: string[]): Promise<T> => {
    const r = await cli(args);
    if (r.code !== 0) throw new Error(`postern ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  return {
    dir,
    get proc() {
      return running.proc;
    },
    get log() {
      return running.log;
    },
    cli,
    sessions: () => cliJson<SessionInfo[]>(['sessions', '--json']),
    audit: () => cliJson<AuditRecord[]>(['audit', '--json']),
    async restart() {
      await stopProcess(running.proc);
      running = await launch();
    },
    async addUser(name, o = {}) {
      const add = await cli(
        [
          'user',
          'add',
          name,
          ...(o.groups ?? []).flatMap((g) => ['--group', g]),
          ...(o.password !== undefined ? ['--password-stdin'] : []),
        ],
        o.password,
      );
      if (add.code !== 0) throw new Error(`user add failed: ${add.stderr}`);
      const format = o.format ?? 'ovpn';
      const out = join(tmp.path, `${name}.${format === 'ovpn' ? 'ovpn' : 'json'}`);
      const prof = await cli(['profile', name, '--format', format, '--out', out]);
      if (prof.code !== 0) throw new Error(`profile failed: ${prof.stderr}`);
      return out;
    },
    async stop() {
      await stopProcess(running.proc);
      tmp.remove();
    },
  };
}

export interface OpenvpnClient {
  proc: ChildProcess;
  log: LineWatcher;
  stop(): Promise<void>;
}

/** Stock `openvpn --config PROFILE` in a lab host; resolves once it has started. */
export function startOpenvpnClient(
  lab: Lab,
  host: 'laptop' | 'branch',
  profile: string,
  extra: string[] = [],
): OpenvpnClient {
  const proc = lab.spawn(host, 'openvpn', ['--config', profile, '--verb', '3', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = watchLines(proc, `openvpn client in ${host}`);
  return {
    proc,
    log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await new Promise((resolve) => proc.once('exit', resolve));
      }
    },
  };
}

/** A stock client in laptop connects with `profile`, pings the office twice, and is stopped. */
export async function assertClientReachesOffice(lab: Lab, profile: string): Promise<void> {
  const client = startOpenvpnClient(lab, 'laptop', profile);
  try {
    await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
    const ping = await lab.ping('laptop', lab.addr.office.v4, { count: 2, timeoutSec: 2 });
    assert.equal(ping.received, 2, ping.output);
  } finally {
    await client.stop();
  }
}

/** A list for the stock clients a test block starts; each is stopped after the block. */
export function clientsStoppedAfter(): OpenvpnClient[] {
  const clients: OpenvpnClient[] = [];
  after(async () => {
    for (const c of clients.splice(0)) await c.stop();
  });
  return clients;
}

export interface PosternClient {
  proc: ChildProcess;
  log: LineWatcher;
  stop(): Promise<number | null>;
}

/** `postern connect PROFILE` in a lab host; its JSON log lines are watched. */
export function startPosternClient(
  lab: Lab,
  host: 'laptop' | 'branch',
  profile: string,
  extra: string[] = [],
): PosternClient {
  const proc = lab.spawn(
    host,
    process.execPath,
    ['--enable-source-maps', BIN, 'connect', profile, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = watchLines(proc, `postern connect in ${host}`);
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return {
    proc,
    log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Keeps only one transport's remotes in an exported profile (.ovpn or Postern JSON), so a test
 * drives exactly the path it means to (exported profiles list UDP first, then TCP).
 */
export function keepRemotes(profile: string, proto: 'udp' | 'tcp'): void {
  const text = readFileSync(profile, 'utf8');
  if (profile.endsWith('.json')) {
    const p = JSON.parse(text) as { remotes: { proto: string }[] };
    p.remotes = p.remotes.filter((r) => r.proto === proto);
    writeFileSync(profile, JSON.stringify(p));
    return;
  }
  const kept = text
    .split('\n')
    .filter((l) => !l.startsWith('remote ') || l.endsWith(` ${proto}`))
    .filter((l) => proto === 'udp' || !l.startsWith('explicit-exit-notify'));
  writeFileSync(profile, kept.join('\n'));
}

/** A lab with a running gateway for one describe block: built before, torn down after. */
export function labWithGateway(opts: Parameters<typeof startLabGateway>[1] = {}): {
  readonly lab: Lab;
  readonly gw: LabGateway;
} {
  const state: { lab?: Lab; gw?: LabGateway } = {};
  before(async () => {
    state.lab = await createLab();
    state.gw = await startLabGateway(state.lab, opts);
  });
  after(async () => {
    await state.gw?.stop();
    await state.lab?.destroy();
  });
  return {
    get lab(): Lab {
      if (!state.lab) throw new Error('the lab is not built yet (use it inside tests or hooks)');
      return state.lab;
    },
    get gw(): LabGateway {
      if (!state.gw)
        throw new Error('the gateway is not started yet (use it inside tests or hooks)');
      return state.gw;
    },
  };
}
