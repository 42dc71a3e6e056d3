// Accounting records: one row per session, updated with interim totals and closed at stop.
import type { Db } from './open.js';
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
  await db
    .updateTable('accounting')
    .set({
      bytes_in: c.bytesIn,
      bytes_out: c.bytesOut,
      packets_in: c.packetsIn,
      packets_out: c.packetsOut,
      updated_at: iso(now),
      ...(final ? { stop: iso(now) } : {}),
    })
    .where('session_id', '=', session)
    .execute();
}

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
