// Many clients at once, through the load generator (bench/load/) in laptop speaking the real
// OpenVPN protocol, in three rounds:
// - a reconnect storm against a freshly started server: N sessions opened with 128 handshakes
//   in flight, then held (their generator keeps them up); memory per idle session is VmRSS
//   after minus before (read after 30 s of idleness), over the sessions held, 2 s and 30 s
//   after the last one opened;
// - steady beside the storm: while those N stay connected, min(N, 1,000) more with 16 in
//   flight, new clients arriving at a gateway that already serves N (the figure a gateway "at
//   10,000 sessions" is about);
// - steady on an idle server: min(N, 1,000) sessions with 16 in flight against another freshly
//   started server, the pace a server keeps when its socket is not flooded and nobody else is
//   connected.
// CPU per handshake is the server's CPU seconds (/proc/<pid>/stat) over a steady round's
// sessions; beside the storm it includes keeping the N held sessions alive meanwhile. The
// generator reports its own CPU over the steady round too: what it takes of the machine bounds
// what any server can reach on it (bench/lib/handshake-ceiling.ts).
// A rate is sessions that reached PUSH_REPLY over the generator's wall time. The generator runs
// on the same cores as the server: every figure is for a shared machine.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../src/lab/index.js';
import type { LoadTarget } from '../load/openvpn-load.js';
import { processCpuSeconds } from '../lib/cpu.js';
import { spawnWatched, tail, type Watched } from '../lib/process.js';
import type { FigureKey, Figures, FigureSpec } from '../lib/types.js';

/** Handshakes the generator keeps in flight: a server's own pace... */
const STEADY_CONCURRENCY = 16;
/** ...and clients all coming back at once (after a gateway restart or a network outage). */
const STORM_CONCURRENCY = 128;
/** The steady round's sessions: enough for a rate, fewer than a 10,000-session storm. */
export const STEADY_SESSIONS_MAX = 1_000;

const handshakeRate = (key: FigureKey, inFlight: number): FigureSpec => ({
  key,
  label: `handshakes, ${inFlight} in flight`,
  unit: '/s',
  better: 'higher',
  digits: 1,
});
export const HANDSHAKE_RATE = handshakeRate('handshakesPerSec', STEADY_CONCURRENCY);
export const STORM_HANDSHAKE_RATE = handshakeRate('stormHandshakesPerSec', STORM_CONCURRENCY);
export const HANDSHAKE_CPU: FigureSpec = {
  key: 'cpuMsPerHandshake',
  label: 'CPU/handshake',
  unit: 'ms',
  better: 'lower',
  digits: 2,
};
export const GENERATOR_HANDSHAKE_CPU: FigureSpec = {
  key: 'generatorCpuMsPerHandshake',
  label: 'load generator CPU/handshake',
  unit: 'ms',
  better: 'lower',
  digits: 2,
};
export const HELD_HANDSHAKE_RATE: FigureSpec = {
  ...handshakeRate('heldHandshakesPerSec', STEADY_CONCURRENCY),
  label: `handshakes, ${STEADY_CONCURRENCY} in flight, storm held`,
};
export const HELD_HANDSHAKE_CPU: FigureSpec = {
  ...HANDSHAKE_CPU,
  key: 'heldCpuMsPerHandshake',
  label: 'CPU/handshake, storm held',
};
export const IDLE_SESSION_MEMORY_SETTLED: FigureSpec = {
  key: 'kibPerIdleSessionSettled',
  label: 'RSS/idle session, 30 s on',
  unit: 'KiB',
  better: 'lower',
  digits: 1,
};
export const IDLE_SESSION_MEMORY: FigureSpec = {
  key: 'kibPerIdleSession',
  label: 'RSS/idle session',
  unit: 'KiB',
  better: 'lower',
  digits: 1,
};

const LOAD_CLIENT_JS = fileURLToPath(new URL('../load/load-client.js', import.meta.url));
/** Per session, on top of a fixed allowance: the generator's own pace on a loaded machine. */
const OPEN_TIMEOUT_BASE_MS = 60_000;
const OPEN_TIMEOUT_PER_SESSION_MS = 200;
/** Lets the server finish its bookkeeping for the last sessions before RSS is read. */
const SETTLE_MS = 2_000;
/**
 * ...and, read again this long after the last session opened, once the server has been idle
 * for a while: V8's memory reducer collects the storm's garbage after some seconds of low
 * allocation (2 s after the storm Postern's figure moves by a third with when its last major GC
 * ran; 30 s on it has run). A C server's figure does not move.
 */
const IDLE_SETTLE_MS = 30_000;
/**
 * The server sits idle this long before the storm's baseline RSS is read: a Node gateway holds
 * ~30 MB of start-up garbage until V8's memory reducer runs (10-15 s of idleness after start),
 * which, read before it, made the sessions look cheaper by that much (negative 30 s figures at
 * 1,000 sessions). A C server's RSS does not move.
 */
const BASELINE_SETTLE_MS = 30_000;
const KIB = 1024;
const OPENED_RE = /"event":"opened"/;

interface Opened {
  configured: number;
  failed: number;
  seconds: number;
  cpuSeconds: number;
  failures: string[];
}

/** VmRSS of a process, bytes. */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib) * KIB;
}

interface Round {
  opened: Opened;
  /** The server's CPU seconds over the round. */
  cpuSeconds: number;
  /** The generator, still holding the round's sessions. */
  client: Watched;
}

/** One generator run: `count` sessions with `concurrency` in flight; all of them must succeed. */
async function openRound(
  lab: Lab,
  target: LoadTarget,
  serverPid: number,
  count: number,
  concurrency: number,
): Promise<Round> {
  const targetPath = join(lab.tmpDir, 'load-target.json');
  writeFileSync(targetPath, JSON.stringify(target), { mode: 0o600 });
  const cpuBefore = processCpuSeconds(serverPid);
  const client = spawnWatched(lab, 'laptop', 'load generator', process.execPath, [
    ...[LOAD_CLIENT_JS, targetPath, String(count), String(concurrency)],
  ]);
  try {
    const line = await client.waitFor(
      OPENED_RE,
      OPEN_TIMEOUT_BASE_MS + count * OPEN_TIMEOUT_PER_SESSION_MS,
    );
    const cpuSeconds = processCpuSeconds(serverPid) - cpuBefore;
    const opened = JSON.parse(line.slice(line.indexOf('{'))) as Opened;
    if (opened.failed > 0) {
      throw new Error(
        `${opened.failed} of ${count} sessions failed (${concurrency} in flight): ` +
          `${opened.failures.join('; ')}\n${tail(client.log)}`,
      );
    }
    return { opened, cpuSeconds, client };
  } catch (e) {
    await client.stop();
    throw e;
  }
}

/**
 * The storm round against the server in gw: its rate, and the memory the sessions hold; then,
 * while they are still held, `beside` (the steady round beside the storm).
 */
export async function measureStorm(
  lab: Lab,
  target: LoadTarget,
  serverPid: number,
  count: number,
  beside?: () => Promise<Figures>,
): Promise<Figures> {
  await new Promise((r) => setTimeout(r, BASELINE_SETTLE_MS));
  const rssBefore = residentBytes(serverPid);
  const round = await openRound(lab, target, serverPid, count, STORM_CONCURRENCY);
  const openedAt = Date.now();
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const perSession = () => (residentBytes(serverPid) - rssBefore) / KIB / round.opened.configured;
    const soon = perSession();
    await new Promise((r) => setTimeout(r, Math.max(0, openedAt + IDLE_SETTLE_MS - Date.now())));
    return {
      stormHandshakesPerSec: round.opened.configured / round.opened.seconds,
      kibPerIdleSession: soon,
      kibPerIdleSessionSettled: perSession(),
      ...(beside ? await beside() : {}),
    };
  } finally {
    await round.client.stop();
  }
}

/** A steady round against a server that holds a storm's sessions: the "held" figures. */
export async function measureSteadyBesideStorm(
  lab: Lab,
  target: LoadTarget,
  serverPid: number,
  count: number,
): Promise<Figures> {
  const steady = await measureSteady(lab, target, serverPid, count);
  return {
    heldHandshakesPerSec: steady.handshakesPerSec,
    heldCpuMsPerHandshake: steady.cpuMsPerHandshake,
  };
}

/** The steady round against the server in gw: its rate, and its CPU per handshake. */
export async function measureSteady(
  lab: Lab,
  target: LoadTarget,
  serverPid: number,
  count: number,
): Promise<Figures> {
  const round = await openRound(lab, target, serverPid, count, STEADY_CONCURRENCY);
  await round.client.stop();
  return {
    handshakesPerSec: round.opened.configured / round.opened.seconds,
    cpuMsPerHandshake: (round.cpuSeconds * 1000) / round.opened.configured,
    generatorCpuMsPerHandshake: (round.opened.cpuSeconds * 1000) / round.opened.configured,
  };
}
