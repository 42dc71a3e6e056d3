// CPU time, read from /proc without cgroups, two ways:
// - per process: utime + stime of /proc/<pid>/stat. For a process (thread group leader) the
//   kernel sums every thread, so a native data path's threads are counted with their process.
//   Kernel work done in softirq context (much of the receive path) is charged to whatever ran
//   on that CPU at the time, not necessarily to the tunnel: this figure is a lower bound.
// - whole machine: the first line of /proc/stat, user + nice + system + irq + softirq (steal and
//   idle excluded), over all CPUs. It includes iperf3, the kernel's forwarding and anything
//   else running on the machine at the time: an upper bound on a shared machine.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Fields of /proc/<pid>/stat after "(comm) ", counted from 0 at the state letter. */
const STAT_UTIME = 11;
const STAT_STIME = 12;
/** Columns of the "cpu" line of /proc/stat, counted from 0 after the label. */
const PROC_STAT_BUSY = { user: 0, nice: 1, system: 2, irq: 5, softirq: 6 } as const;
const DEFAULT_CLK_TCK = 100;

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      clkTck = DEFAULT_CLK_TCK;
    }
    if (!(clkTck > 0)) clkTck = DEFAULT_CLK_TCK;
  }
  return clkTck;
}

/** CPU seconds (user + system) a process has used so far; 0 if it is gone. */
export function processCpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[STAT_UTIME] ?? 0) + Number(fields[STAT_STIME] ?? 0);
  return ticks / ticksPerSecond();
}

/** Busy CPU seconds of the whole machine so far, all CPUs together. */
export function systemBusyCpuSeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const cols = line.trim().split(/\s+/).slice(1).map(Number);
  let ticks = 0;
  for (const i of Object.values(PROC_STAT_BUSY)) ticks += cols[i] ?? 0;
  return ticks / ticksPerSecond();
}

export interface CpuSample {
  processes: number;
  system: number;
}

export function sampleCpu(pids: readonly number[]): CpuSample {
  return {
    processes: pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0),
    system: systemBusyCpuSeconds(),
  };
}

/** CPU seconds used between two samples. */
export function cpuBetween(before: CpuSample, after: CpuSample): CpuSample {
  return { processes: after.processes - before.processes, system: after.system - before.system };
}
