// iperf3 between laptop (client, sender) and office (server, receiver): each measurement is one
// `iperf3 -c ... -J` against a server started for it, whose JSON report is read back.
import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../src/lab/index.js';
import { exited, waitForOutput } from '../../src/lab/run.js';

// Each measurement gets a fresh one-off server (`-1`) on its own port: a server still finishing
// the previous test (slow through a TCP tunnel after a flood) would refuse the next one.
const FIRST_PORT = 5201;
const PORTS = 100;
const SERVER_START_TIMEOUT_MS = 5_000;
const SERVER_EXIT_GRACE_MS = 2_000;
/** Past the test's own duration: connecting, the final exchange of results. */
const CLIENT_GRACE_MS = 20_000;
const CONNECT_TIMEOUT_MS = 5_000;
const BITS_PER_BYTE = 8;
const GIGA = 1e9;

let nextPort = 0;

async function startOneOffServer(lab: Lab, port: number): Promise<ChildProcess> {
  const child = lab.spawn(
    'office',
    'iperf3',
    ['-s', '-1', '--forceflush', '-B', lab.addr.office.v4, '-p', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForOutput(child, child.stdout, /Server listening/, SERVER_START_TIMEOUT_MS);
  // Keep reading what it prints (a report a second): a full pipe would stall the server.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  const timer = setTimeout(() => child.kill('SIGKILL'), SERVER_EXIT_GRACE_MS);
  await exited(child);
  clearTimeout(timer);
}

export interface IperfResult {
  /** What the receiver got, Gbit/s. */
  gbps: number;
  /** Bytes the receiver got. */
  bytes: number;
  /** UDP only: datagrams lost, percent of those sent. */
  lossPct?: number;
  /** UDP only: datagrams the receiver got, a second. */
  pps?: number;
}

interface Sum {
  bytes: number;
  seconds: number;
  bits_per_second: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
}

interface Report {
  error?: string;
  end?: { sum_received?: Sum; sum?: Sum };
}

export type IperfMode =
  | { kind: 'tcp'; streams: number }
  /** `payload`: UDP payload bytes; `bitrate`: iperf3's `-b` ("0": unlimited). */
  | { kind: 'udp'; payload: number; bitrate: string };

/** One iperf3 run from laptop to office, `seconds` long. */
export async function runIperf(lab: Lab, mode: IperfMode, seconds: number): Promise<IperfResult> {
  const port = FIRST_PORT + (nextPort++ % PORTS);
  const server = await startOneOffServer(lab, port);
  const args = ['-c', lab.addr.office.v4, '-p', String(port), '-t', String(seconds), '-J'];
  args.push('--connect-timeout', String(CONNECT_TIMEOUT_MS));
  if (mode.kind === 'tcp') args.push('-P', String(mode.streams));
  else args.push('-u', '-l', String(mode.payload), '-b', mode.bitrate);
  const r = await lab.exec('laptop', 'iperf3', args, {
    timeoutMs: seconds * 1000 + CLIENT_GRACE_MS,
  });
  await stopServer(server);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`iperf3 ${args.join(' ')}: no report (exit ${r.code}) ${r.stderr.trim()}`);
  }
  if (report.error !== undefined) throw new Error(`iperf3 ${args.join(' ')}: ${report.error}`);
  // TCP: sum_received is what the server counted. UDP (iperf3 3.12): sum_received carries the
  // receiver's bytes and loss too.
  const got = report.end?.sum_received ?? report.end?.sum;
  if (!got || !(got.seconds > 0)) throw new Error(`iperf3 ${args.join(' ')}: no end summary`);
  const out: IperfResult = {
    gbps: (got.bytes * BITS_PER_BYTE) / got.seconds / GIGA,
    bytes: got.bytes,
  };
  if (mode.kind === 'udp') {
    out.lossPct = got.lost_percent ?? 0;
    if (got.packets !== undefined) {
      out.pps = Math.max(0, got.packets - (got.lost_packets ?? 0)) / got.seconds;
    }
  }
  return out;
}
