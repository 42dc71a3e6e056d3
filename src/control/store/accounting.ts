// Accounting records: one row per session, updated with interim totals and closed at stop.
import type { CompiledQuery } from 'kysely';
import type { Db } from './open.js';
import { perStore, prepare, type Arg } from './prepared.js';
import { iso } from './time.js';

export interface AccountingRecord {
  session: string;
  user: string;
  protocol: string;
  start: string;
  stop: string | null;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}

export interface Counters {
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}

export async function startAccounting(
  db: Db,
  s: { session: string; user: string; protocol: string },
  now: Date,
): Promise<void> {
  await db
    .insertInto('accounting')
    .values({
      session_id: s.session,
      user_name: s.user,
      protocol: s.protocol,
      start: iso(now),
      updated_at: iso(now),
      bytes_in: 0,
      bytes_out: 0,
      packets_in: 0,
      packets_out: 0,
    })
    .execute();
}

export async function updateAccounting(
  db: Db,
  session: string,
  c: Counters,
  now: Date,
  final: boolean,
): Promise<void> {
  await db.executeQuery(accountingUpdate(db, session, c, now, final));
}

/** The UPDATE that records a session's totals (and its stop, when final). */
export function accountingUpdate(
  db: Db,
  session: string,
  c: Counters,
  now: Date,
  final: boolean,
): CompiledQuery {
  const q = updateQueries(db);
  return (final ? q.final : q.interim).bound({ ...c, at: iso(now), session });
}

type UpdateArgs = Counters & { at: string; session: string };

/** Interim totals for 10,000 sessions at once: built once per transaction, not per row. */
const updateQueries = perStore((db: Db) => {
  const update = (arg: Arg<UpdateArgs>) =>
    db
      .updateTable('accounting')
      .set({
        bytes_in: arg('bytesIn'),
        bytes_out: arg('bytesOut'),
        packets_in: arg('packetsIn'),
        packets_out: arg('packetsOut'),
        updated_at: arg('at'),
      })
      .where('session_id', '=', arg('session'));
  return {
    interim: prepare(update),
    final: prepare((arg: Arg<UpdateArgs>) => update(arg).set({ stop: arg('at') })),
  };
});

export async function listAccounting(
  db: Db,
  opts: { since?: Date } = {},
): Promise<AccountingRecord[]> {
  let q = db.selectFrom('accounting').selectAll().orderBy('id', 'asc');
  if (opts.since)
    q = q.where((eb) => eb.or([eb('stop', 'is', null), eb('stop', '>=', iso(opts.since as Date))]));
  const rows = await q.execute();
  return rows.map((r) => ({
    session: r.session_id,
    user: r.user_name,
    protocol: r.protocol,
    start: r.start,
    stop: r.stop,
    bytesIn: r.bytes_in,
    bytesOut: r.bytes_out,
    packetsIn: r.packets_in,
    packetsOut: r.packets_out,
  }));
}
