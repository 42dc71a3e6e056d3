// The lab leaves nothing behind: after destroy(), when its process exits or is killed, and when
// a later run sweeps what a SIGKILLed one left.
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createLab, namespaceName, sweepStaleLabs } from '../../src/lab/index.js';
import { makeLabId } from '../../src/lab/names.js';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;
const LAB_MODULE = new URL('../../src/lab/index.js', import.meta.url).href;

function namespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** Gone, or a zombie nobody reaped: either way it runs no more. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitUntil(check: () => boolean, ms = 2000): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

// A process that builds a lab, starts a long-running process in it, prints what it made and,
// once told to go on (a line on stdin), ends the way LAB_MODE says, never calling destroy().
// The signal modes just wait for the signal.
const CHILD = `
const { createLab } = await import(process.env.LAB_MODULE);
const lab = await createLab();
const sleeper = lab.spawn('office', 'sleep', ['30'], { stdio: 'ignore' });
console.log(JSON.stringify({ ns: Object.values(lab.ns), sleeper: sleeper.pid }));
process.stdin.once('data', () => {
  if (process.env.LAB_MODE === 'exit') process.exit(0);
  if (process.env.LAB_MODE === 'throw') throw new Error('a test failed on purpose');
});
setInterval(() => {}, 1000);
`;

interface Made {
  child: ChildProcess;
  ns: string[];
  sleeper: number;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

async function childWithLab(mode: string): Promise<Made> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, LAB_MODULE, LAB_MODE: mode },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exit = exitOf(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    void exit.then(() => reject(new Error(`child ended before its lab was up: ${err}`)));
  });
  const made = JSON.parse(line) as { ns: string[]; sleeper: number };
  return { child, exit, ...made };
}

describe('lab cleanup', { skip }, () => {
  it('destroy() kills what the lab started, deletes every namespace, and is idempotent', async (t) => {
    let t0 = performance.now();
    const lab = await createLab({ ipv6: false, prefix: 'psttest' });
    const createMs = performance.now() - t0;
    const names = Object.values(lab.ns);
    assert.ok(names.every((n) => n.startsWith('psttest')));
    assert.deepEqual(
      names.filter((n) => namespaces().includes(n)),
      names,
    );
    assert.equal((await lab.ping('laptop', 'gw', { count: 1 })).received, 1);
    assert.equal((await lab.ping('laptop', 'gw', { count: 1, v6: true })).received, 0);

    const sleeper = lab.spawn('office', 'sleep', ['30'], { stdio: 'ignore' });
    // A daemon: its parent shell exits at once, so only its namespace ties it to the lab.
    const daemon = await lab.exec('office', 'sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!']);
    const daemonPid = Number(daemon.stdout.trim());
    assert.ok(daemonPid > 0 && !isGone(daemonPid));
    const sleeperExit = exitOf(sleeper);

    t0 = performance.now();
    await lab.destroy();
    const destroyMs = performance.now() - t0;
    t.diagnostic(`createLab ${createMs.toFixed(0)} ms, destroy ${destroyMs.toFixed(0)} ms`);

    assert.deepEqual(
      namespaces().filter((n) => names.includes(n)),
      [],
    );
    assert.ok((await sleeperExit).signal !== null);
    assert.ok(await waitUntil(() => isGone(daemonPid)), 'the daemon still runs');
    assert.equal(existsSync(lab.tmpDir), false);
    await lab.destroy();
    await assert.rejects(lab.exec('laptop', 'true', []), { code: 'LAB_DESTROYED' });
  });

  it('a failing test inside try/finally still removes its lab', async () => {
    let names: string[] = [];
    await assert.rejects(async () => {
      const lab = await createLab();
      try {
        names = Object.values(lab.ns);
        throw new Error('the test failed');
      } finally {
        await lab.destroy();
      }
    }, /the test failed/);
    assert.equal(names.length, 5);
    assert.deepEqual(
      namespaces().filter((n) => names.includes(n)),
      [],
    );
  });

  for (const [mode, how] of [
    ['exit', 'exits without destroy()'],
    ['throw', 'dies of an uncaught exception'],
    ['SIGTERM', 'is killed with SIGTERM'],
    ['SIGINT', 'is interrupted with SIGINT'],
  ] as const) {
    it(`a process that ${how} leaves no namespace and no process behind`, async () => {
      const made = await childWithLab(mode);
      assert.equal(made.ns.length, 5);
      assert.ok(
        made.ns.every((n) => namespaces().includes(n)),
        'the lab was not up',
      );
      if (mode === 'SIGTERM' || mode === 'SIGINT') made.child.kill(mode);
      else made.child.stdin?.write('go\n');
      const { code, signal } = await made.exit;
      if (mode === 'exit') assert.equal(code, 0);
      if (mode === 'throw') assert.equal(code, 1);
      // Our handler re-raises the signal, so the parent sees the real cause of death.
      if (mode === 'SIGTERM' || mode === 'SIGINT') assert.equal(signal, mode);
      assert.deepEqual(
        namespaces().filter((n) => made.ns.includes(n)),
        [],
      );
      assert.ok(await waitUntil(() => isGone(made.sleeper)), 'the lab process still runs');
    });
  }

  it('sweepStaleLabs() removes what a SIGKILLed process left', async () => {
    const made = await childWithLab('wait');
    made.child.kill('SIGKILL');
    await made.exit;
    // SIGKILL cannot be caught: the namespaces outlive their owner...
    const left = namespaces().filter((n) => made.ns.includes(n));
    const report = await sweepStaleLabs({ killOrphans: true });
    // ...unless another run's sweep (parallel tests) got there first.
    assert.ok(left.every((n) => report.removed.includes(n)) || left.length < made.ns.length);
    assert.deepEqual(
      namespaces().filter((n) => made.ns.includes(n)),
      [],
    );
    if (!isGone(made.sleeper)) process.kill(made.sleeper, 'SIGKILL'); // swept elsewhere
  });

  it('sweepStaleLabs() removes namespaces of a dead owner only, and their orphans on request', async () => {
    // Stand-in owners: our own children, so we choose the moment each one dies.
    const deadOwner = spawn('sleep', ['30'], { stdio: 'ignore' });
    const liveOwner = spawn('sleep', ['30'], { stdio: 'ignore' });
    const stale = namespaceName(makeLabId('pst', deadOwner.pid ?? 0, 'zzz'), 'laptop');
    const live = namespaceName(makeLabId('pst', liveOwner.pid ?? 0, 'zzz'), 'laptop');
    const notALab = `pst-not-a-lab-${process.pid}`;
    let orphan: ChildProcess | undefined;
    try {
      for (const n of [stale, live, notALab]) execFileSync('ip', ['netns', 'add', n]);
      orphan = spawn('ip', ['netns', 'exec', stale, 'sleep', '30'], { stdio: 'ignore' });
      const orphanExit = exitOf(orphan);
      assert.ok(await waitUntil(() => spawnSync('ip', ['netns', 'pids', stale]).stdout.length > 0));

      const ownerExit = exitOf(deadOwner);
      deadOwner.kill('SIGKILL');
      await ownerExit;
      const report = await sweepStaleLabs({ killOrphans: true });

      const now = namespaces();
      assert.equal(now.includes(stale), false, 'the dead owner namespace is still there');
      assert.equal(now.includes(live), true, 'a live owner namespace was swept');
      assert.equal(now.includes(notALab), true, 'a name that is not a lab was swept');
      assert.ok(report.removed.includes(stale) || report.removed.length === 0);
      assert.equal((await orphanExit).signal, 'SIGKILL');
    } finally {
      liveOwner.kill('SIGKILL');
      if (orphan && orphan.exitCode === null) orphan.kill('SIGKILL');
      spawnSync('ip', ['-force', '-batch', '-'], {
        input: [stale, live, notALab].map((n) => `netns del ${n}`).join('\n') + '\n',
      });
    }
  });
});
