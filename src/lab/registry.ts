// Every live lab in this process, so that its namespaces are removed however the process ends:
// a normal exit, an uncaught exception (both fire 'exit'), or SIGINT/SIGTERM/SIGHUP. The handlers
// are installed only while at least one lab is alive, so a process without a lab keeps Node's
// default signal behaviour. (SIGKILL cannot be caught: sweepStaleLabs() handles that case.)

export interface Cleanable {
  /** Synchronous, best-effort teardown: kill by pid, delete the namespaces. */
  cleanupSync(): void;
}

const live = new Set<Cleanable>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function cleanupAll(): void {
  for (const lab of [...live]) {
    try {
      lab.cleanupSync();
    } catch {
      // Keep going: one lab failing to clean up must not leave the others behind.
    }
  }
  live.clear();
}

function onExit(): void {
  cleanupAll();
}

function onSignal(signal: NodeJS.Signals): void {
  // When ours is the only listener, Node would have died of this signal: clean up, remove our
  // handlers and let the signal take its default course so the parent sees the real cause.
  const alone = process.listenerCount(signal) === 1;
  cleanupAll();
  uninstall();
  if (alone) process.kill(process.pid, signal);
}

function install(): void {
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

export function registerLab(lab: Cleanable): void {
  if (live.size === 0) install();
  live.add(lab);
}

export function unregisterLab(lab: Cleanable): void {
  if (!live.delete(lab)) return;
  if (live.size === 0) uninstall();
}

export function liveLabCount(): number {
  return live.size;
}
