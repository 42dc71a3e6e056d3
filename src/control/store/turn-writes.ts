// Writes that wait for the end of the current turn of the event loop and share one commit: the
// audit records, accounting rows and lease releases of a turn. A handshake makes an audit record
// and an accounting row, a session's end an audit record, its totals and a lease release; each
// commit is ~50 us of the gateway's main thread, and a gateway stopping 10,000 sessions writes
// them all in one go. A write waits at most one turn.
//
// Each module keeps its own queue and says, once per turn, how to turn it into queries; they are
// built when the turn ends, so rows queued until then are in them. If the turn's transaction
// fails, each module's writes are retried on their own (and, if it says how, one row at a
// time), so one bad row costs only itself and its own module's waiters learn why.
import type { CompiledQuery } from 'kysely';
import type { Db } from './open.js';
import { runInOneTransaction } from './sync.js';

export interface TurnWrite {
  /** The module's queries for this turn, in order. */
  queries(): CompiledQuery[];
  /** After a failed turn: the same writes as queries that each stand alone. */
  oneByOne?(): CompiledQuery[];
}

interface Part {
  write: TurnWrite;
  resolve(): void;
  reject(e: unknown): void;
}

const turns = new WeakMap<Db, Part[]>();

/** Queues a module's writes for the end of this turn; resolves once they are committed. */
export function writeAtTurnEnd(db: Db, write: TurnWrite): Promise<void> {
  let parts = turns.get(db);
  if (parts === undefined) {
    const queued: Part[] = [];
    parts = queued;
    turns.set(db, queued);
    setImmediate(() => {
      turns.delete(db);
      void commitTurn(db, queued);
    });
  }
  const own = parts;
  return new Promise<void>((resolve, reject) => own.push({ write, resolve, reject }));
}

async function commitTurn(db: Db, parts: Part[]): Promise<void> {
  const built: { part: Part; queries: CompiledQuery[] }[] = [];
  for (const part of parts) {
    try {
      built.push({ part, queries: part.write.queries() });
    } catch (e) {
      part.reject(e);
    }
  }
  try {
    await runInOneTransaction(
      db,
      built.flatMap((b) => b.queries),
    );
    for (const b of built) b.part.resolve();
  } catch {
    for (const { part, queries } of built) await retryAlone(db, part, queries);
  }
}

async function retryAlone(db: Db, part: Part, queries: CompiledQuery[]): Promise<void> {
  const single = part.write.oneByOne;
  if (single === undefined) {
    await runInOneTransaction(db, queries).then(part.resolve, part.reject);
    return;
  }
  const errors: unknown[] = [];
  for (const query of single.call(part.write)) {
    await runInOneTransaction(db, [query]).catch((e: unknown) => errors.push(e));
  }
  if (errors.length > 0) part.reject(errors[0]);
  else part.resolve();
}
