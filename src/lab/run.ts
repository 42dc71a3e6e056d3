// Running a command to completion and collecting what it printed. Used for `ip`, for commands
// inside a namespace (`ip netns exec`) and for reading captures back.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit status; when the process died of a signal, 128 + the signal number, as a shell says. */
  code: number;
  signal: NodeJS.Signals | null;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process (SIGKILL, by pid) after this many milliseconds. */
  timeoutMs?: number;
}

const SIGNAL_EXIT_BASE = 128;

/**
 * Runs `cmd args` and resolves when it exits, whatever its exit status; rejects only when it
 * cannot be started. `onSpawn`/`onExit` let a caller track the child (to kill it on teardown).
 */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
  track?: { onSpawn(child: ChildProcess): void; onExit(child: ChildProcess): void },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'] };
    if (opts.env) spawnOpts.env = opts.env;
    if (opts.cwd) spawnOpts.cwd = opts.cwd;
    const child = spawn(cmd, args, spawnOpts);
    track?.onSpawn(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    // A child that exits without reading its stdin makes our write fail with EPIPE: harmless.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (child.pid !== undefined) killQuietly(child.pid, 'SIGKILL');
          }, opts.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      track?.onExit(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      track?.onExit(child);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? SIGNAL_EXIT_BASE + (signal ? constants.signals[signal] : 0),
        signal,
      });
    });
  });
}

/** Sends a signal to one process by pid; a process that is already gone is not an error. */
export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: it exited already.
  }
}

/** True while the process runs; a zombie (dead, not yet reaped by its parent) counts as dead. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else; still alive.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return processState(pid) !== 'Z';
}

/** The state letter from /proc/<pid>/stat (R, S, Z, ...), or undefined if it cannot be read. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses, so split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the text once `stream` has printed something matching `pattern`; rejects if the
 * child exits first or nothing matches within `timeoutMs`. Used to know a server is listening.
 */
export function waitForOutput(
  child: ChildProcess,
  stream: NodeJS.ReadableStream | null,
  pattern: RegExp,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!stream) {
      reject(new Error('the stream to watch is not piped'));
      return;
    }
    let seen = '';
    const done = (err?: Error): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(seen);
    };
    const onData = (b: Buffer | string): void => {
      seen += b.toString();
      if (pattern.test(seen)) done();
    };
    const onExit = (code: number | null, signal: string | null): void =>
      done(new Error(`exited (${signal ?? code}) before printing ${pattern}: ${seen.trim()}`));
    const timer = setTimeout(
      () => done(new Error(`no ${pattern} within ${timeoutMs} ms: ${seen.trim()}`)),
      timeoutMs,
    );
    stream.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
