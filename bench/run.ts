// `npm run bench`: every subject (Postern and the Debian references) measured one after
// another in the lab, each in a fresh lab per run; repeats interleave the subjects so that a
// burst of load elsewhere on the machine does not land on one subject only. Prints the medians
// as Markdown tables with ratios to OpenVPN 2.6 UDP and to plain veth; writes JSON on request.
// Needs root (network namespaces) and a build (`npx tsc`); progress goes to stderr.
//
//   node dist/bench/run.js [--quick] [--only a,b] [--json FILE] [--repeats N] [--seconds S]
//                          [--pings N] [--udp-bitrate RATE] [--sessions N] [--list]
import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import { FIGURES } from './figures/index.js';
import { formatHandshakeCeiling, handshakeCeiling } from './lib/handshake-ceiling.js';
import { describeMachine, formatMachine } from './lib/machine.js';
import { measureSubject } from './lib/measure-subject.js';
import type { SubjectResult } from './lib/report.js';
import { formatTables, summarize, type BenchReport } from './lib/report.js';
import { median } from './lib/stats.js';
import { measureTlsFloor } from './lib/tls-floor.js';
import type { MeasureOptions, Subject } from './lib/types.js';
import { CEILING_ID, DEFAULT_IDS, QUICK_IDS, REFERENCE_ID, SUBJECTS } from './subjects/index.js';

const FULL = { repeats: 3, seconds: 10, pings: 50, sessions: 1000 };
const QUICK = { repeats: 1, seconds: 2, pings: 10, sessions: 100 };
/** Programs every run needs, whatever the subject. */
const ALWAYS_NEEDED = ['ip', 'iperf3', 'ping'];
const EXIT_USAGE = 2;

const USAGE = `usage: node dist/bench/run.js [options]
  --quick              1 repeat, ${QUICK.seconds} s runs; subjects ${QUICK_IDS.join(',')} unless --only
  --only a,b,...       these subjects (see --list)
  --json FILE          also write every run and the medians as JSON
  --repeats N          runs of each subject, medians reported (default ${FULL.repeats})
  --seconds S          length of each iperf3 run (default ${FULL.seconds})
  --pings N            echo requests per latency figure (default ${FULL.pings})
  --udp-bitrate RATE   iperf3 UDP offered load, e.g. 500M (default 0: as fast as it goes)
  --sessions N         sessions the load generator opens (default ${FULL.sessions}, ${QUICK.sessions} with --quick)
  --list               print the subjects and exit`;

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(EXIT_USAGE);
}

function positive(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) usageError(`${what} must be a positive number`);
  return n;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'string' },
      repeats: { type: 'string' },
      seconds: { type: 'string' },
      pings: { type: 'string' },
      'udp-bitrate': { type: 'string', default: '0' },
      sessions: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.list) {
    for (const s of SUBJECTS) process.stdout.write(`${s.id.padEnd(28)} ${s.label}\n`);
    return 0;
  }
  const base = values.quick ? QUICK : FULL;
  const repeats = Math.round(positive(values.repeats, base.repeats, '--repeats'));
  const opts: MeasureOptions = {
    seconds: positive(values.seconds, base.seconds, '--seconds'),
    pings: Math.round(positive(values.pings, base.pings, '--pings')),
    udpBitrate: values['udp-bitrate'] ?? '0',
    sessions: Math.round(positive(values.sessions, base.sessions, '--sessions')),
  };
  const ids = values.only
    ? values.only
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : values.quick
      ? QUICK_IDS
      : DEFAULT_IDS;
  const subjects = ids.map(
    (id) => SUBJECTS.find((s) => s.id === id) ?? usageError(`no subject "${id}" (see --list)`),
  );
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (it builds network namespaces)\n');
    return 1;
  }
  const missingTools = ALWAYS_NEEDED.filter((c) => !onPath(c));
  if (missingTools.length > 0) {
    process.stderr.write(
      `bench: missing ${missingTools.join(', ')}: node scripts/ensure-debs.mjs\n`,
    );
    return 1;
  }

  const startedAt = new Date().toISOString();
  const machine = describeMachine();
  const results = new Map<string, Pick<SubjectResult, 'id' | 'label' | 'runs' | 'errors'>>();
  const runnable: Subject[] = [];
  for (const s of subjects) {
    const missing = s.needs.filter((c) => !onPath(c));
    const errors = missing.length ? [`needs ${missing.join(', ')} (not installed)`] : [];
    results.set(s.id, { id: s.id, label: s.label, runs: [], errors });
    if (missing.length === 0) runnable.push(s);
    else process.stderr.write(`bench: skipping ${s.id}: ${errors[0]}\n`);
  }

  for (let r = 1; r <= repeats; r++) {
    for (const s of runnable) {
      const result = results.get(s.id)!;
      const say = (what: string): void => {
        process.stderr.write(`bench: [${r}/${repeats}] ${s.id}: ${what}\n`);
      };
      try {
        const figures = await measureSubject(s, opts, say);
        result.runs.push(figures);
        const shown = FIGURES.filter((f) => figures[f.key] !== undefined).map(
          (f) => `${f.label} ${figures[f.key]!.toFixed(f.digits)} ${f.unit}`,
        );
        say(shown.join(', '));
      } catch (e) {
        result.errors.push(errorText(e));
        say(`FAILED: ${errorText(e)}`);
      }
    }
  }

  const summaries = summarize([...results.values()], REFERENCE_ID, CEILING_ID);
  const report: BenchReport = {
    bench: 'postern',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    loadAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
    options: { ...opts, quick: values.quick ?? false, repeats, subjects: [...ids] },
    figures: [...FIGURES],
    reference: REFERENCE_ID,
    ceiling: CEILING_ID,
    subjects: summaries,
  };
  const handshakeSubjects = summaries.filter((s) => s.median.handshakesPerSec !== undefined);
  if (handshakeSubjects.length > 0) {
    process.stderr.write("bench: OpenSSL's own cost of a handshake, for the ceiling\n");
    const reference = summaries.find((s) => s.id === REFERENCE_ID)?.median;
    report.handshakeCeiling = handshakeCeiling({
      cores: machine.cores,
      floor: await measureTlsFloor(),
      generatorMs: median(
        handshakeSubjects.flatMap((s) => s.median.generatorCpuMsPerHandshake ?? []),
      ),
      referencePerSec: reference?.handshakesPerSec,
      referenceCpuMs: reference?.cpuMsPerHandshake,
    });
  }
  const machineText = `${formatMachine(machine)}\nload average at the end ${report.loadAtEnd.join(' ')}`;
  const referenceLabel = summaries.find((s) => s.id === REFERENCE_ID)?.label ?? REFERENCE_ID;
  const ceilingText = report.handshakeCeiling
    ? '\n\n' + formatHandshakeCeiling(report.handshakeCeiling, referenceLabel)
    : '';
  process.stdout.write(machineText + '\n\n' + formatTables(report) + ceilingText + '\n');
  if (values.json) {
    writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
    process.stderr.write(`bench: wrote ${values.json}\n`);
  }
  const failed = report.subjects.filter((s) => s.errors.length > 0);
  for (const s of failed) process.stderr.write(`bench: ${s.id}: ${s.errors.join('; ')}\n`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${errorText(e)}\n`);
    process.exit(1);
  },
);
