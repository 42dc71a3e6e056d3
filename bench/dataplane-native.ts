// Throughput of the OpenVPN data plane through a tunnel between two network namespaces (needs
// root): iperf3, one TCP stream, client namespace -> gateway namespace, median of N runs of S
// seconds, for
//   veth       no tunnel: the veth alone (the ceiling of this lab)
//   native     native gateway <-> native client (both ends native/ovpn_dp.c)
//   mixed      native gateway <-> reference client
//   reference  reference gateway <-> reference client (TypeScript, node:dgram, Linux TUN)
// Usage: node dist/bench/dataplane-native.js [--seconds 5] [--runs 3] [--mtu 1420]
//        [--cipher AES-256-GCM] [--modes native,reference] [--reverse] [--no-offload] [--json]
// --no-offload runs the native ends without TUN TSO/coalescing and UDP GSO/GRO.
// Both tunnel ends and iperf3 share the machine's cores, as in the OpenVPN reference numbers.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DataplaneLab, LAB, tunnelEndArgs, type LabChild } from '../test/fixtures/dataplane-lab.js';

type Mode = 'veth' | 'native' | 'mixed' | 'reference';
const ALL_MODES: Mode[] = ['veth', 'native', 'mixed', 'reference'];
const IPERF_PORT = 5201;
const SERVER_START_MS = 400;
const GBIT = 1e9;

interface RunResult {
  gbps: number;
  retransmits: number;
  senderCpu: number;
  receiverCpu: number;
}

interface ModeResult {
  mode: Mode;
  runs: RunResult[];
  medianGbps: number;
  native?: Record<string, unknown>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function iperf(
  lab: DataplaneLab,
  target: string,
  seconds: number,
  reverse: boolean,
): Promise<RunResult> {
  const args = [
    '-c',
    target,
    '-p',
    String(IPERF_PORT),
    '-t',
    String(seconds),
    '-J',
    ...(reverse ? ['-R'] : []),
  ];
  const { stdout } = await lab.exec(lab.cl, 'iperf3', ...args);
  const report = JSON.parse(stdout) as {
    end: {
      sum_received: { bits_per_second: number };
      sum_sent: { retransmits?: number };
      cpu_utilization_percent: { host_total: number; remote_total: number };
    };
  };
  const cpu = report.end.cpu_utilization_percent;
  return {
    gbps: report.end.sum_received.bits_per_second / GBIT,
    retransmits: report.end.sum_sent.retransmits ?? 0,
    senderCpu: reverse ? cpu.remote_total : cpu.host_total,
    receiverCpu: reverse ? cpu.host_total : cpu.remote_total,
  };
}

async function runMode(
  lab: DataplaneLab,
  mode: Mode,
  o: {
    seconds: number;
    runs: number;
    mtu: number;
    cipher: string;
    reverse: boolean;
    offload: boolean;
  },
): Promise<ModeResult> {
  const ends: LabChild[] = [];
  const key = randomBytes(256).toString('hex');
  if (mode !== 'veth') {
    const gwFixture =
      mode === 'reference' ? 'dataplane-reference-node.js' : 'dataplane-native-node.js';
    const clFixture =
      mode === 'native' ? 'dataplane-native-node.js' : 'dataplane-reference-node.js';
    const end = { key, cipher: o.cipher, mtu: o.mtu, offload: o.offload };
    ends.push(lab.node(lab.gw, `${mode} gateway`, gwFixture, tunnelEndArgs('gateway', end)));
    ends.push(lab.node(lab.cl, `${mode} client`, clFixture, tunnelEndArgs('client', end)));
    await Promise.all(ends.map((e) => e.next('ready')));
  }
  const target = mode === 'veth' ? LAB.gwOuter4 : LAB.gwInner4;
  const server = lab.spawn(lab.gw, 'iperf3', ['-s', '-B', target, '-p', String(IPERF_PORT)]);
  await new Promise((r) => setTimeout(r, SERVER_START_MS));
  const runs: RunResult[] = [];
  try {
    for (let i = 0; i < o.runs; i++) runs.push(await iperf(lab, target, o.seconds, o.reverse));
  } finally {
    server.kill('SIGTERM');
  }
  let native: Record<string, unknown> | undefined;
  if (mode === 'native' || mode === 'mixed') {
    const stats = await ends[0]!.command('stats', 'stats');
    native = { gateway: stats.native, drops: nonZero(stats.drops as Record<string, number>) };
  }
  await Promise.all(ends.map((e) => e.stop()));
  return { mode, runs, medianGbps: median(runs.map((r) => r.gbps)), ...(native ? { native } : {}) };
}

function nonZero(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, v]) => v > 0));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      runs: { type: 'string', default: '3' },
      mtu: { type: 'string', default: '1420' },
      cipher: { type: 'string', default: 'AES-256-GCM' },
      modes: { type: 'string', default: ALL_MODES.join(',') },
      reverse: { type: 'boolean', default: false },
      'no-offload': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces)');
  const modes = values.modes!.split(',').filter((m): m is Mode => ALL_MODES.includes(m as Mode));
  const o = {
    seconds: Number(values.seconds),
    runs: Number(values.runs),
    mtu: Number(values.mtu),
    cipher: values.cipher!,
    reverse: values.reverse!,
    offload: !values['no-offload'],
  };
  const lab = await DataplaneLab.create('pst-dpb');
  const results: ModeResult[] = [];
  try {
    for (const mode of modes) {
      const r = await runMode(lab, mode, o);
      results.push(r);
      if (!values.json) {
        const each = r.runs.map((x) => x.gbps.toFixed(2)).join(' ');
        const cpu = r.runs
          .map((x) => `${x.senderCpu.toFixed(0)}/${x.receiverCpu.toFixed(0)}`)
          .join(' ');
        console.log(
          `${mode.padEnd(10)} median ${r.medianGbps.toFixed(2)} Gbit/s  runs ${each}  ` +
            `iperf3 cpu% snd/rcv ${cpu}${r.native ? `  ${JSON.stringify(r.native)}` : ''}`,
        );
      }
    }
  } finally {
    await lab.destroy();
  }
  if (values.json) console.log(JSON.stringify({ ...o, results }, null, 2));
}

main().catch((e: unknown) => {
  console.error(`dataplane bench: ${(e as Error).message}`);
  process.exit(1);
});
