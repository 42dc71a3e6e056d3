// A description of the machine and the software versions, printed above the table and kept in
// the JSON, so figures are never read apart from where they were measured.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  openssl: string;
  /** Load average (1, 5, 15 min) when the bench started: the machine may be shared. */
  loadAtStart: number[];
  tools: Record<string, string>;
}

const BYTES_PER_GIB = 1024 ** 3;

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return 'not installed';
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

function debVersion(pkg: string): string {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout ? r.stdout : 'not installed';
}

export function describeMachine(): Machine {
  return {
    cpu: cpuModel(),
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / BYTES_PER_GIB) * 10) / 10,
    kernel: release(),
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    loadAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    tools: {
      openvpn: firstLine('openvpn', ['--version']),
      iperf3: firstLine('iperf3', ['--version']),
      'wireguard-go': debVersion('wireguard-go'),
    },
  };
}

export function formatMachine(m: Machine): string {
  return [
    `CPU: ${m.cpu}, ${m.cores} cores; ${m.memoryGiB} GiB; Linux ${m.kernel}`,
    `Node ${m.node} (OpenSSL ${m.openssl}); load average at start ${m.loadAtStart.join(' ')}`,
    ...Object.entries(m.tools).map(([k, v]) => `${k}: ${v}`),
  ].join('\n');
}
