// The lab: five hosts, each a network namespace, joined by veth pairs.
//
//   laptop ── inet (router; the place to watch the wire) ── gw (the gateway) ── office (LAN)
//                                                            └── branch (second office)
//
// inet routes only the public ranges, so the office LAN is unreachable from the laptop until
// a VPN (or exposeOfficeViaInet(), for the plain-routing test) opens a way in. Everything the lab
// makes (namespaces, processes, temp files) is removed by destroy(), at process exit or on
// SIGINT/SIGTERM/SIGHUP, and by sweepStaleLabs() in a later run if the owner was SIGKILLed.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawn as spawnChild } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PosternError } from '../errors.js';
import type { HostName } from './addresses.js';
import { DEFAULT_CAPTURE_IFACE, HOSTS, LAB_ADDRESSES, LAB_IFACES } from './addresses.js';
import { PRIMARY_ADDRESS } from './addresses.js';
import type { CaptureResult } from './capture.js';
import { Capture } from './capture.js';
import { deterministicSha256 } from './deterministic-bytes.js';
import { LAB_PREFIX, RAND_DIGITS, isValidPrefix, makeLabId, namespaceName } from './names.js';
import {
  deleteNamespaces,
  deleteNamespacesSync,
  killNamespacePids,
  namespaceExists,
} from './namespaces.js';
import { registerLab, unregisterLab } from './registry.js';
import type { RunOptions, RunResult } from './run.js';
import { exited, killQuietly, run, waitForOutput } from './run.js';
import { TMP_DIR_PREFIX, sweepStaleLabs } from './sweep.js';
import type { Namespaces } from './topology.js';
import { planExposeOffice, planTopology } from './topology.js';

export type { CaptureResult };
export type { Capture };

export interface CreateLabOptions {
  /** Configure IPv6 too (default true). When false, IPv6 is disabled in every namespace. */
  ipv6?: boolean;
  /** Start of every name; must begin with "pst" (default "pst"), e.g. "pstdemo". */
  prefix?: string;
}

export type ExecOptions = RunOptions;
export type ExecResult = RunResult;

export interface CaptureOptions {
  /** Default 'inet', the router between the laptop and the gateway. */
  host?: HostName;
  /** Default: inet's `to-laptop` (what the laptop's ISP sees); for other hosts, their uplink. */
  iface?: string;
  /** A tcpdump filter expression, e.g. 'icmp or icmp6', 'udp port 1194'. */
  filter?: string;
}

export interface LinkCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

export interface PingOptions {
  /** Echo requests to send (default 3). */
  count?: number;
  /** Ping the IPv6 address when `to` is a host name (default false). */
  v6?: boolean;
  /** Seconds to wait for each reply (default 1). */
  timeoutSec?: number;
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** ping's exit status: 0 when any reply came, 1 when none did. */
  code: number;
  output: string;
}

export interface HttpServerOptions {
  /** Default 8080. 0 picks a free port (see `port` on the result). */
  port?: number;
  /** Size of the file every GET returns. */
  bytes: number;
}

export interface FileServer {
  readonly host: HostName;
  readonly port: number;
  readonly bytes: number;
  /** SHA-256 (hex) of the file, for comparing with what a client received. */
  readonly sha256: string;
  readonly pid: number;
  /** `http://<address>:<port>/`; the host's primary address (v4, or v6 with `{ v6: true }`). */
  url(opts?: { v6?: boolean; address?: string }): string;
  stop(): Promise<void>;
}

export interface DownloadResult {
  status: number;
  bytes: number;
  sha256: string;
  ms: number;
}

const KILL_GRACE_MS = 1_000;
const SERVER_START_TIMEOUT_MS = 5_000;
const DEFAULT_HTTP_PORT = 8080;
const PING_INTERVAL_SEC = '0.2';
const BASE = 36;
const MAX_ID_TRIES = 20;
/** Compiled helper scripts run as child processes, found next to this module. */
const SERVE_FILE_JS = fileURLToPath(new URL('./serve-file.js', import.meta.url));
const FETCH_HASH_JS = fileURLToPath(new URL('./fetch-hash.js', import.meta.url));

function pickLabId(prefix: string): string {
  for (let i = 0; i < MAX_ID_TRIES; i++) {
    let rand = '';
    for (let d = 0; d < RAND_DIGITS; d++) rand += randomInt(BASE).toString(BASE);
    const id = makeLabId(prefix, process.pid, rand);
    if (!HOSTS.some((h) => namespaceExists(namespaceName(id, h)))) return id;
  }
  throw new PosternError('LAB_SETUP_FAILED', 'could not find an unused lab name');
}

function setupError(what: string, r: RunResult): PosternError {
  return new PosternError('LAB_SETUP_FAILED', `${what}: ${r.stderr.trim() || `exit ${r.code}`}`);
}

export class Lab {
  readonly id: string;
  /** Namespace name of each host, for `ip netns exec` or `ip -n`. */
  readonly ns: Namespaces;
  readonly addr = LAB_ADDRESSES;
  readonly iface = LAB_IFACES;
  readonly ipv6: boolean;
  /** Private temp folder (captures), removed with the lab. */
  readonly tmpDir: string;
  private readonly tracked = new Set<ChildProcess>();
  private destroying: Promise<void> | undefined;
  private captures = 0;

  /** Use createLab(). */
  constructor(opts: { id: string; ipv6: boolean }) {
    this.id = opts.id;
    this.ipv6 = opts.ipv6;
    const ns = {} as Record<HostName, string>;
    for (const h of HOSTS) ns[h] = namespaceName(this.id, h);
    this.ns = ns;
    this.tmpDir = mkdtempSync(join(tmpdir(), `${TMP_DIR_PREFIX}${this.id}-`));
  }

  get destroyed(): boolean {
    return this.destroying !== undefined;
  }

  /** Builds the namespaces and links. createLab() calls it once. */
  async build(): Promise<void> {
    const plan = planTopology(this.ns, this.ipv6);
    await this.rootBatch('creating namespaces', plan.createNamespaces);
    await Promise.all(
      HOSTS.map(async (h) => {
        const r = await this.exec(h, 'sysctl', ['-q', '-w', ...plan.sysctls[h]]);
        if (r.code !== 0) throw setupError(`sysctl in ${h}`, r);
      }),
    );
    await this.rootBatch('creating links', plan.links);
    await Promise.all(
      HOSTS.map(async (h) => {
        const r = await run('ip', ['-n', this.ns[h], '-batch', '-'], {
          input: plan.config[h].join('\n') + '\n',
        });
        if (r.code !== 0) throw setupError(`configuring ${h}`, r);
      }),
    );
  }

  private async rootBatch(what: string, lines: readonly string[]): Promise<void> {
    const r = await run('ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
    if (r.code !== 0) throw setupError(what, r);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new PosternError('LAB_DESTROYED', `lab ${this.id} is destroyed`);
  }

  private track(child: ChildProcess): void {
    this.tracked.add(child);
    child.once('exit', () => this.tracked.delete(child));
  }

  /** Runs a command inside a host's namespace to completion; never rejects on exit status. */
  async exec(
    host: HostName,
    cmd: string,
    args: readonly string[],
    opts?: ExecOptions,
  ): Promise<ExecResult> {
    this.checkAlive();
    return run('ip', ['netns', 'exec', this.ns[host], cmd, ...args], opts, {
      onSpawn: (c) => this.track(c),
      onExit: (c) => this.tracked.delete(c),
    });
  }

  /** Starts a long-running command inside a host's namespace; killed by pid at destroy(). */
  spawn(
    host: HostName,
    cmd: string,
    args: readonly string[],
    opts: SpawnOptions = {},
  ): ChildProcess {
    this.checkAlive();
    // `ip netns exec` execs the command in place, so the child's pid is the command's own.
    const child = spawnChild('ip', ['netns', 'exec', this.ns[host], cmd, ...args], opts);
    this.track(child);
    return child;
  }

  /** Makes the office LAN routable from inet (plain-routing test only; normally a VPN is). */
  async exposeOfficeViaInet(): Promise<void> {
    this.checkAlive();
    const r = await run('ip', ['-n', this.ns.inet, '-batch', '-'], {
      input: planExposeOffice(this.ipv6).join('\n') + '\n',
    });
    if (r.code !== 0) throw setupError('adding office routes in inet', r);
  }

  /** Starts tcpdump; resolves once it is listening. */
  async capture(opts: CaptureOptions = {}): Promise<Capture> {
    this.checkAlive();
    const host = opts.host ?? 'inet';
    const iface = opts.iface ?? DEFAULT_CAPTURE_IFACE[host];
    const pcap = join(this.tmpDir, `capture-${++this.captures}-${host}-${iface}.pcap`);
    const spawnIn = (cmd: string, args: string[]) =>
      this.spawn(host, cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return Capture.start(spawnIn, iface, pcap, opts.filter);
  }

  /** The kernel's byte and packet counters of one interface of a host (exact, unlike a
   * capture, which drops packets when tcpdump falls behind). */
  async linkCounters(host: HostName, iface?: string): Promise<LinkCounters> {
    const dev = iface ?? DEFAULT_CAPTURE_IFACE[host];
    const r = await run('ip', ['-n', this.ns[host], '-s', '-j', 'link', 'show', 'dev', dev]);
    if (r.code !== 0) throw setupError(`reading the counters of ${dev} in ${host}`, r);
    const [link] = JSON.parse(r.stdout) as {
      stats64: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } };
    }[];
    if (!link) throw setupError(`reading the counters of ${dev} in ${host}`, r);
    const { rx, tx } = link.stats64;
    return { rxBytes: rx.bytes, rxPackets: rx.packets, txBytes: tx.bytes, txPackets: tx.packets };
  }

  /** Pings from a host to an address, or to a host's primary address. */
  async ping(from: HostName, to: HostName | string, opts: PingOptions = {}): Promise<PingResult> {
    const count = opts.count ?? 3;
    const target = (HOSTS as readonly string[]).includes(to)
      ? PRIMARY_ADDRESS[to as HostName][opts.v6 ? 'v6' : 'v4']
      : to;
    const family = target.includes(':') ? '-6' : '-4';
    const args = [family, '-n', '-c', String(count), '-i', PING_INTERVAL_SEC];
    args.push('-W', String(opts.timeoutSec ?? 1), target);
    const r = await this.exec(from, 'ping', args);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    return {
      transmitted: Number(m?.[1] ?? 0),
      received: Number(m?.[2] ?? 0),
      code: r.code,
      output: r.stdout + r.stderr,
    };
  }

  /** Starts a tiny HTTP server in a host that answers every GET with a deterministic file. */
  async httpServer(host: HostName, opts: HttpServerOptions): Promise<FileServer> {
    const requested = opts.port ?? DEFAULT_HTTP_PORT;
    const child = this.spawn(
      host,
      process.execPath,
      [SERVE_FILE_JS, String(requested), String(opts.bytes)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let port: number;
    try {
      const out = await waitForOutput(
        child,
        child.stdout,
        /listening \d+/,
        SERVER_START_TIMEOUT_MS,
      );
      port = Number(/listening (\d+)/.exec(out)?.[1]);
    } catch (e) {
      child.kill('SIGKILL');
      throw new PosternError(
        'LAB_SERVER_FAILED',
        `file server in ${host}: ${(e as Error).message}`,
      );
    }
    const primary = PRIMARY_ADDRESS[host];
    return {
      host,
      port,
      bytes: opts.bytes,
      sha256: deterministicSha256(opts.bytes),
      pid: child.pid ?? 0,
      url: (u = {}) => {
        const a = u.address ?? (u.v6 ? primary.v6 : primary.v4);
        return `http://${a.includes(':') ? `[${a}]` : a}:${port}/`;
      },
      stop: async () => {
        child.kill('SIGTERM');
        await exited(child);
      },
    };
  }

  /** GETs a URL from inside a host; returns what arrived (size, hash), not the body. */
  async download(
    host: HostName,
    url: string,
    opts: { timeoutMs?: number } = {},
  ): Promise<DownloadResult> {
    const args = [FETCH_HASH_JS, url];
    if (opts.timeoutMs !== undefined) args.push(String(opts.timeoutMs));
    const r = await this.exec(host, process.execPath, args);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    let parsed: Partial<DownloadResult> & { error?: string };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      parsed = { error: r.stderr.trim() || `exit ${r.code}` };
    }
    if (parsed.error !== undefined || r.code !== 0) {
      throw new PosternError('LAB_DOWNLOAD_FAILED', `GET ${url} from ${host}: ${parsed.error}`);
    }
    return parsed as DownloadResult;
  }

  /** Kills every process the lab started (by pid), deletes its namespaces. Idempotent. */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    const children = [...this.tracked];
    for (const c of children) if (c.pid !== undefined) killQuietly(c.pid, 'SIGTERM');
    const grace = new Promise((r) => setTimeout(r, KILL_GRACE_MS).unref());
    await Promise.race([Promise.all(children.map(exited)), grace]);
    for (const c of children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        killQuietly(c.pid, 'SIGKILL');
      }
    }
    // Whatever else runs inside our namespaces (e.g. a daemon that forked) was started by us too.
    const names = Object.values(this.ns);
    killNamespacePids(names);
    await deleteNamespaces(names);
    rmSync(this.tmpDir, { recursive: true, force: true });
    unregisterLab(this);
  }

  /** The exit/signal-handler teardown: synchronous, SIGKILL only. */
  cleanupSync(): void {
    this.destroying ??= Promise.resolve();
    for (const c of this.tracked) if (c.pid !== undefined) killQuietly(c.pid, 'SIGKILL');
    const names = Object.values(this.ns);
    killNamespacePids(names);
    deleteNamespacesSync(names);
    rmSync(this.tmpDir, { recursive: true, force: true });
    unregisterLab(this);
  }
}

/**
 * Builds a fresh lab with names unique to this run. Sweeps the leftovers of dead runs first.
 * Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN) and iproute2, tcpdump, iputils-ping.
 */
export async function createLab(opts: CreateLabOptions = {}): Promise<Lab> {
  if (process.getuid?.() !== 0) {
    throw new PosternError('LAB_NEEDS_ROOT', 'the lab creates network namespaces', 'run as root');
  }
  const prefix = opts.prefix ?? LAB_PREFIX;
  if (!isValidPrefix(prefix)) {
    throw new PosternError(
      'LAB_BAD_PREFIX',
      `lab prefix "${prefix}" must be "pst" and up to 8 more lower-case letters or digits`,
    );
  }
  await sweepStaleLabs();
  const lab = new Lab({ id: pickLabId(prefix), ipv6: opts.ipv6 ?? true });
  // Registered before anything exists, so an interrupt during the build still cleans up.
  registerLab(lab);
  try {
    await lab.build();
  } catch (e) {
    await lab.destroy();
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PosternError(
        'LAB_TOOL_MISSING',
        `a lab tool is missing: ${(e as Error).message}`,
        'install iproute2, tcpdump, iputils-ping: node scripts/ensure-debs.mjs',
      );
    }
    throw e;
  }
  return lab;
}
