// A long-running program in a lab host whose output lines are watched, stopped by pid.
import type { ChildProcess } from 'node:child_process';
import type { HostName, Lab } from '../../src/lab/index.js';
import { exited } from '../../src/lab/run.js';
import type { LineWatcher } from './lines.js';
import { watchLines } from './lines.js';

const STOP_GRACE_MS = 3_000;

export interface Watched {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly log: LineWatcher;
  /** Rejects when the program exits before `re` shows up in its output. */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL if it is still there after a grace period. */
  stop(): Promise<void>;
}

export function spawnWatched(
  lab: Lab,
  host: HostName,
  what: string,
  cmd: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): Watched {
  const proc = lab.spawn(host, cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  const log = watchLines(proc, what);
  const running = (): boolean => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    pid: proc.pid ?? 0,
    log,
    waitFor(re, timeoutMs) {
      const died = exited(proc).then(() => {
        throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}):\n` + tail(log));
      });
      died.catch(() => undefined);
      return Promise.race([log.waitFor(re, timeoutMs), died]);
    },
    async stop() {
      if (!running()) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => running() && proc.kill('SIGKILL'), STOP_GRACE_MS);
      await exited(proc);
      clearTimeout(timer);
    },
  };
}

export function tail(log: LineWatcher, lines = 20): string {
  return log.lines.slice(-lines).join('\n');
}
