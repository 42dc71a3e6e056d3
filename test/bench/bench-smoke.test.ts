// The bench's own harness, smoke-tested (benchmarks are not tests: no figure is judged here, only
// that the runner measures, summarizes and reports). One short run of the ceiling and one real
// protocol: `run.js --quick --only veth,postern-openvpn-udp --json FILE`, as root in the lab.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNNER = fileURLToPath(new URL('../../bench/run.js', import.meta.url));
const root = process.getuid?.() === 0;
const RUN_TIMEOUT_MS = 240_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // SIGINT: the runner's labs clean up their namespaces on it.
    const timer = setTimeout(() => child.kill('SIGINT'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

type Figures = Record<string, number | undefined>;
interface SubjectJson {
  id: string;
  label: string;
  runs: Figures[];
  errors: string[];
  median: Figures;
  vsReference: Record<string, number | null>;
  vsCeiling: Record<string, number | null>;
}
interface ReportJson {
  machine: { cpu: string; cores: number; kernel: string };
  options: { quick: boolean; repeats: number; subjects: string[] };
  figures: { key: string; unit: string }[];
  reference: string;
  ceiling: string;
  subjects: SubjectJson[];
  handshakeCeiling?: {
    cores: number;
    serverFloorMs: number;
    clientFloorMs: number;
    generatorMs?: number;
    withThisGenerator?: { perSec: number; vsReference: number | null };
    withLeanestGenerator: { perSec: number; referencePerSec?: number; vsReference: number | null };
  };
}

describe('npm run bench --quick', { skip: root ? false : 'needs root (the lab)' }, () => {
  it('measures veth and Postern OpenVPN-UDP, prints the table and writes the JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-bench-smoke-'));
    try {
      const file = join(dir, 'bench.json');
      const r = await runBench(['--quick', '--only', 'veth,postern-openvpn-udp', '--json', file]);
      assert.equal(r.code, 0, `bench exited ${r.code}:\n${r.stderr}`);
      const report = JSON.parse(readFileSync(file, 'utf8')) as ReportJson;

      assert.equal(report.options.quick, true);
      assert.equal(report.options.repeats, 1);
      assert.deepEqual(report.options.subjects, ['veth', 'postern-openvpn-udp']);
      assert.ok(report.machine.cores > 0 && report.machine.kernel.length > 0);
      assert.equal(report.reference, 'openvpn-udp');
      assert.equal(report.ceiling, 'veth');
      assert.deepEqual(
        report.subjects.map((s) => s.id),
        ['veth', 'postern-openvpn-udp'],
      );
      const [veth, postern] = report.subjects as [SubjectJson, SubjectJson];
      for (const s of report.subjects) {
        assert.deepEqual(s.errors, [], s.id);
        assert.equal(s.runs.length, 1, s.id);
        for (const key of [
          'tcp1Gbps',
          'tcp4Gbps',
          'udpGbps',
          'udpCleanGbps',
          'rttMs',
          'cpuSystemSecPerGB',
        ]) {
          assert.ok((s.median[key] ?? 0) > 0, `${s.id} ${key} = ${s.median[key]}`);
        }
        const loss = s.median.udpLossPct ?? -1;
        assert.ok(loss >= 0 && loss <= 100, `${s.id} udpLossPct = ${loss}`);
        // The reference (OpenVPN 2.6 UDP) was not run: no ratio to it is made up.
        assert.deepEqual(
          Object.values(s.vsReference).filter((v) => v !== null),
          [],
        );
      }
      // Only a tunnel has a connect time and processes of its own.
      assert.equal(veth.median.connectMs, undefined);
      assert.equal(veth.median.cpuTunnelSecPerGB, undefined);
      assert.ok((postern.median.connectMs ?? 0) > 0, `connectMs ${postern.median.connectMs}`);
      assert.ok(
        (postern.median.firstConnectMs ?? 0) > 0,
        `firstConnectMs ${postern.median.firstConnectMs}`,
      );
      assert.ok((postern.median.cpuTunnelSecPerGB ?? 0) > 0);
      assert.ok((postern.median.addedLatencyMs ?? 0) > 0);
      // The load generator's sessions reached the gateway, and only a gateway is measured.
      assert.ok((postern.median.handshakesPerSec ?? 0) > 0, 'handshakesPerSec');
      assert.ok((postern.median.stormHandshakesPerSec ?? 0) > 0, 'stormHandshakesPerSec');
      assert.ok((postern.median.cpuMsPerHandshake ?? 0) > 0, 'cpuMsPerHandshake');
      assert.ok((postern.median.generatorCpuMsPerHandshake ?? 0) > 0, 'generatorCpuMsPerHandshake');
      assert.ok((postern.median.heldHandshakesPerSec ?? 0) > 0, 'heldHandshakesPerSec');
      assert.ok((postern.median.heldCpuMsPerHandshake ?? 0) > 0, 'heldCpuMsPerHandshake');
      assert.ok(Number.isFinite(postern.median.kibPerIdleSession), 'kibPerIdleSession');
      assert.ok(
        Number.isFinite(postern.median.kibPerIdleSessionSettled),
        'kibPerIdleSessionSettled',
      );
      assert.equal(veth.median.handshakesPerSec, undefined);
      // Ratios to the ceiling: veth to itself is 1; an encrypting tunnel is slower than none.
      assert.equal(veth.vsCeiling.tcp1Gbps, 1);
      const vs = postern.vsCeiling.tcp1Gbps ?? NaN;
      assert.ok(vs > 0 && vs < 1, `Postern / veth TCP = ${vs}`);

      assert.match(r.stdout, /^\| subject \| TCP x1 \(Gbit\/s\) \|/m);
      assert.match(r.stdout, /^\| Postern OpenVPN-UDP AES-256-GCM \| \d+\.\d\d \|/m);
      assert.match(r.stdout, /Ratio to plain veth/);

      // Handshakes were measured, so the ceiling is too: OpenSSL's own cost of each side, and
      // what a server doing only that could reach beside this run's generator. Without the
      // reference in the run there is no ratio to it.
      const hc = report.handshakeCeiling;
      assert.ok(hc !== undefined, 'handshakeCeiling');
      assert.equal(hc.cores, report.machine.cores);
      assert.ok(hc.serverFloorMs > 0.05 && hc.serverFloorMs < 50, `server ${hc.serverFloorMs}`);
      assert.ok(hc.clientFloorMs > 0.05 && hc.clientFloorMs < 50, `client ${hc.clientFloorMs}`);
      assert.equal(hc.generatorMs, postern.median.generatorCpuMsPerHandshake);
      const expected = (hc.cores * 1000) / (hc.serverFloorMs + hc.generatorMs!);
      assert.ok(Math.abs(hc.withThisGenerator!.perSec - expected) < 1e-6 * expected);
      assert.equal(hc.withThisGenerator!.vsReference, null);
      assert.equal(hc.withLeanestGenerator.vsReference, null);
      // The gateway cannot have beaten a server that does nothing but the TLS handshake.
      assert.ok(
        postern.median.handshakesPerSec! <= hc.withThisGenerator!.perSec * 1.1,
        `${postern.median.handshakesPerSec}/s above the ceiling ${hc.withThisGenerator!.perSec}`,
      );
      assert.match(r.stdout, /^Handshake ceiling on this machine \(\d+ cores/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
