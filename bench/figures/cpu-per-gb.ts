// CPU seconds per gigabyte moved, measured around the single-stream TCP run (see lib/cpu.ts for
// how CPU time is read): the tunnel's own processes (both ends), and the whole machine.
import type { CpuSample } from '../lib/cpu.js';
import { cpuBetween, sampleCpu } from '../lib/cpu.js';
import type { FigureSpec, Figures } from '../lib/types.js';

export const CPU_TUNNEL: FigureSpec = {
  key: 'cpuTunnelSecPerGB',
  label: 'CPU tunnel',
  unit: 's/GB',
  better: 'lower',
  digits: 2,
};
export const CPU_SYSTEM: FigureSpec = {
  key: 'cpuSystemSecPerGB',
  label: 'CPU machine',
  unit: 's/GB',
  better: 'lower',
  digits: 2,
};

const BYTES_PER_GB = 1e9;

/** Runs `transfer` (which returns the bytes it moved) and charges the CPU used to those bytes. */
export async function measureCpuPerGb<T extends { bytes: number }>(
  pids: readonly number[],
  transfer: () => Promise<T>,
): Promise<{ result: T; figures: Figures }> {
  const before: CpuSample = sampleCpu(pids);
  const result = await transfer();
  const used = cpuBetween(before, sampleCpu(pids));
  const gb = result.bytes / BYTES_PER_GB;
  if (!(gb > 0)) return { result, figures: {} };
  const figures: Figures = { cpuSystemSecPerGB: used.system / gb };
  // No tunnel processes (veth): no tunnel figure, rather than a misleading zero.
  if (pids.length > 0) figures.cpuTunnelSecPerGB = used.processes / gb;
  return { result, figures };
}
