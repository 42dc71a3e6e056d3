// Named network namespaces as the `ip netns` tool keeps them: bind mounts under /run/netns. Both
// async and sync forms of deletion exist because a process 'exit' handler cannot await.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { killQuietly, run } from './run.js';
import { planTeardown } from './topology.js';

export const NETNS_DIR = '/run/netns';
const PROC_DIR = '/proc';
const PID_RE = /^\d+$/;

export function listNamespaces(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return []; // no /run/netns yet: no named namespaces at all
  }
}

export function namespaceExists(name: string): boolean {
  try {
    statSync(join(NETNS_DIR, name));
    return true;
  } catch {
    return false;
  }
}

/** The namespace's identity (device and inode of its nsfs file), or undefined if it is gone. */
function namespaceKey(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The processes living in each of the named namespaces (what `ip netns pids` tells, for many
 * namespaces in one pass over /proc). A process in one of our namespaces was started, directly or
 * not, by whoever owns the lab, so the lab may kill it at teardown.
 */
export function pidsInNamespaces(names: readonly string[]): number[] {
  const wanted = new Set<string>();
  for (const name of names) {
    const key = namespaceKey(join(NETNS_DIR, name));
    if (key !== undefined) wanted.add(key);
  }
  if (wanted.size === 0) return [];
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(PROC_DIR);
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!PID_RE.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const key = namespaceKey(join(PROC_DIR, entry, 'ns', 'net'));
    if (key !== undefined && wanted.has(key)) pids.push(pid);
  }
  return pids;
}

export function killNamespacePids(names: readonly string[]): number[] {
  const pids = pidsInNamespaces(names);
  for (const pid of pids) killQuietly(pid, 'SIGKILL');
  return pids;
}

/** Deletes the namespaces, ignoring any that are already gone. */
export async function deleteNamespaces(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await run('ip', ['-force', '-batch', '-'], { input: planTeardown(names).join('\n') + '\n' });
}

export function deleteNamespacesSync(names: readonly string[]): void {
  if (names.length === 0) return;
  try {
    execFileSync('ip', ['-force', '-batch', '-'], {
      input: planTeardown(names).join('\n') + '\n',
      stdio: ['pipe', 'ignore', 'ignore'],
    });
  } catch {
    // `-force` reports the names that were already gone with a non-zero status: nothing to do.
  }
}
