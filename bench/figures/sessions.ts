// Many clients at once, through the load generator (bench/load/) in laptop speaking the real
// OpenVPN protocol: N sessions opened as fast as the generator goes (a fixed number of
// handshakes in flight), then held idle. From the gateway process alone:
// - handshakes per second: sessions that reached PUSH_REPLY, over the generator's wall time;
// - CPU per handshake: the server's CPU seconds (/proc/<pid>/stat) while they were opened;
// - memory per idle session: VmRSS after minus before, over the sessions held.
// The generator runs on the same cores as the server: both figures are for a shared machine.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../src/lab/index.js';
import type { LoadTarget } from '../load/openvpn-load.js';
import { processCpuSeconds } from '../lib/cpu.js';
import { spawnWatched, tail } from '../lib/process.js';
import type { Figures, FigureSpec } from '../lib/types.js';

export const HANDSHAKE_RATE: FigureSpec = {
  key: 'handshakesPerSec',
  label: 'handshakes',
  unit: '/s',
  better: 'higher',
  digits: 1,
};
export const HANDSHAKE_CPU: FigureSpec = {
  key: 'cpuMsPerHandshake',
  label: 'CPU/handshake',
  unit: 'ms',
  better: 'lower',
  digits: 2,
};
export const IDLE_SESSION_MEMORY: FigureSpec = {
  key: 'kibPerIdleSession',
  label: 'RSS/idle session',
  unit: 'KiB',
  better: 'lower',
  digits: 1,
};

const LOAD_CLIENT_JS = fileURLToPath(new URL('../load/load-client.js', import.meta.url));
/** Handshakes the generator keeps in flight. */
const CONCURRENCY = 64;
/** Per session, on top of a fixed allowance: the generator's own pace on a loaded machine. */
const OPEN_TIMEOUT_BASE_MS = 60_000;
const OPEN_TIMEOUT_PER_SESSION_MS = 200;
/** Lets the server finish its bookkeeping for the last sessions before RSS is read. */
const SETTLE_MS = 2_000;
const KIB = 1024;
const OPENED_RE = /"event":"opened"/;

interface Opened {
  configured: number;
  failed: number;
  seconds: number;
  failures: string[];
}

/** VmRSS of a process, bytes. */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib) * KIB;
}

/** Opens `count` sessions against the server in gw and measures it; all of them must succeed. */
export async function measureSessions(
  lab: Lab,
  target: LoadTarget,
  serverPid: number,
  count: number,
): Promise<Figures> {
  const targetPath = join(lab.tmpDir, 'load-target.json');
  writeFileSync(targetPath, JSON.stringify(target), { mode: 0o600 });
  const rssBefore = residentBytes(serverPid);
  const cpuBefore = processCpuSeconds(serverPid);
  const client = spawnWatched(lab, 'laptop', 'load generator', process.execPath, [
    ...[LOAD_CLIENT_JS, targetPath, String(count), String(CONCURRENCY)],
  ]);
  try {
    const line = await client.waitFor(
      OPENED_RE,
      OPEN_TIMEOUT_BASE_MS + count * OPEN_TIMEOUT_PER_SESSION_MS,
    );
    const cpu = processCpuSeconds(serverPid) - cpuBefore;
    const opened = JSON.parse(line.slice(line.indexOf('{'))) as Opened;
    if (opened.failed > 0) {
      throw new Error(
        `${opened.failed} of ${count} sessions failed: ${opened.failures.join('; ')}\n` +
          tail(client.log),
      );
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const grown = residentBytes(serverPid) - rssBefore;
    return {
      handshakesPerSec: opened.configured / opened.seconds,
      cpuMsPerHandshake: (cpu * 1000) / opened.configured,
      kibPerIdleSession: grown / KIB / opened.configured,
    };
  } finally {
    await client.stop();
  }
}
