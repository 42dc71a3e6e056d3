// The output lines of a child process, kept, and waited for by pattern.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface LineWatcher {
  readonly lines: string[];
  /** Resolves with the first line (seen or to come) matching `re`; rejects after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
}

const TAIL_LINES = 30;

export function watchLines(proc: ChildProcess, what: string): LineWatcher {
  const lines: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  const feed = (line: string): void => {
    lines.push(line);
    for (const w of waiters) {
      if (w.re.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  if (proc.stdout) createInterface({ input: proc.stdout }).on('line', feed);
  if (proc.stderr) createInterface({ input: proc.stderr }).on('line', feed);
  return {
    lines,
    waitFor(re, timeoutMs) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          re,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const tail = lines.slice(-TAIL_LINES).join('\n');
          reject(new Error(`${what}: nothing matched ${re} within ${timeoutMs} ms:\n${tail}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}
