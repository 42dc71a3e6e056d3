// Removing what a dead run left behind. A lab whose process was SIGKILLed (or lost power) had
// no chance to clean up; its namespaces and temp folder carry the owner's pid in their names,
// so any later run can see that the owner is gone and remove them.
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAB_PREFIX, parseLabId, parseNamespaceName } from './names.js';
import {
  deleteNamespaces,
  killNamespacePids,
  listNamespaces,
  pidsInNamespaces,
} from './namespaces.js';
import { isAlive } from './run.js';

/** A lab's temp folder is `<tmpdir>/postern-lab-<id>-XXXXXX`. */
export const TMP_DIR_PREFIX = 'postern-lab-';
const TMP_DIR_RE = /^postern-lab-([a-z0-9]+)-/;

export interface SweepOptions {
  /**
   * Also SIGKILL (by pid) processes still running inside a stale namespace, e.g. a daemon a
   * killed test left behind. Off by default: such processes are only reported.
   */
  killOrphans?: boolean;
}

export interface SweepReport {
  /** Namespaces deleted. */
  removed: string[];
  /** Processes found inside the deleted namespaces (killed only with `killOrphans`). */
  orphanPids: number[];
  /** Temp folders deleted. */
  tmpDirs: string[];
}

/** Deletes `pst*` namespaces (and temp folders) whose owning process is no longer alive. */
export async function sweepStaleLabs(opts: SweepOptions = {}): Promise<SweepReport> {
  const removed = listNamespaces().filter((name) => {
    if (!name.startsWith(LAB_PREFIX)) return false;
    const owner = parseNamespaceName(name);
    return owner !== undefined && owner.pid !== process.pid && !isAlive(owner.pid);
  });
  const orphanPids = opts.killOrphans ? killNamespacePids(removed) : pidsInNamespaces(removed);
  await deleteNamespaces(removed);
  return { removed, orphanPids, tmpDirs: sweepTmpDirs() };
}

function sweepTmpDirs(): string[] {
  const root = tmpdir();
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  const gone: string[] = [];
  for (const entry of entries) {
    const id = TMP_DIR_RE.exec(entry)?.[1];
    const owner = id === undefined ? undefined : parseLabId(id);
    if (!owner || owner.pid === process.pid || isAlive(owner.pid)) continue;
    const path = join(root, entry);
    rmSync(path, { recursive: true, force: true });
    gone.push(path);
  }
  return gone;
}
