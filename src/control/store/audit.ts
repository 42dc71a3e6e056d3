// Audit records: who did what, from where, with what result. Written once, never updated.
import type { CompiledQuery, Insertable, Selectable } from 'kysely';
import type { Db } from './open.js';
import type { AuditTable } from './schema.js';
import { writeAtTurnEnd } from './turn-writes.js';
import { iso } from './time.js';

export type AuditEvent =
  'auth' | 'session.start' | 'session.stop' | 'rekey' | 'kick' | 'revoke' | 'policy.drop' | 'admin';

export interface AuditRecord {
  time: string;
  event: AuditEvent | string;
  user: string | null;
  remote: string | null;
  result: string;
  reason: string | null;
  detail?: Record<string, unknown>;
}

export interface NewAudit {
  event: AuditEvent;
  user?: string | null;
  remote?: string | null;
  result: 'ok' | 'fail' | string;
  reason?: string | null;
  detail?: Record<string, unknown>;
}

type AuditRow = Insertable<AuditTable>;

/** Rows per INSERT: 7 parameters each, well under SQLite's limit on bound parameters. */
const AUDIT_ROWS_PER_INSERT = 500;

interface AuditQueue {
  rows: AuditRow[];
  written: Promise<void>;
}

/** Records waiting for the end of the current turn of the event loop, per store. */
const queues = new WeakMap<Db, AuditQueue>();

function auditRow(rec: NewAudit, now: Date): AuditRow {
  return {
    time: iso(now),
    event: rec.event,
    user_name: rec.user ?? null,
    remote: rec.remote ?? null,
    result: rec.result,
    reason: rec.reason ?? null,
    detail: rec.detail ? JSON.stringify(rec.detail) : null,
  };
}

/**
 * Appends an audit record; resolves once it is committed. Records written in the same turn of
 * the event loop share one transaction with the turn's other store writes (turn-writes.ts; a
 * gateway stopping 10,000 sessions writes 10,000 at once), in the order they were written.
 * Inside a caller's transaction the record is part of it.
 */
export function writeAudit(db: Db, rec: NewAudit, now: Date): Promise<void> {
  const row = auditRow(rec, now);
  if (db.isTransaction) {
    return db
      .insertInto('audit')
      .values(row)
      .execute()
      .then(() => undefined);
  }
  const queued = queues.get(db);
  if (queued) {
    queued.rows.push(row);
    return queued.written;
  }
  const rows = [row];
  const written = writeAtTurnEnd(db, {
    queries: () => {
      queues.delete(db);
      return auditInserts(db, rows);
    },
  });
  queues.set(db, { rows, written });
  return written;
}

function auditInserts(db: Db, rows: AuditRow[]): CompiledQuery[] {
  const inserts: CompiledQuery[] = [];
  for (let at = 0; at < rows.length; at += AUDIT_ROWS_PER_INSERT) {
    inserts.push(
      db
        .insertInto('audit')
        .values(rows.slice(at, at + AUDIT_ROWS_PER_INSERT))
        .compile(),
    );
  }
  return inserts;
}

export async function listAudit(
  db: Db,
  opts: { since?: Date; limit?: number } = {},
): Promise<AuditRecord[]> {
  let q = db.selectFrom('audit').selectAll().orderBy('id', 'asc');
  if (opts.since) q = q.where('time', '>=', iso(opts.since));
  if (opts.limit) q = q.limit(opts.limit);
  const rows = await q.execute();
  return rows.map(auditRecordOf);
}

/** A stored audit row as the record the CLI, the API and the SIEM export show. */
export function auditRecordOf(r: Selectable<AuditTable>): AuditRecord {
  return {
    time: r.time,
    event: r.event,
    user: r.user_name,
    remote: r.remote,
    result: r.result,
    reason: r.reason,
    ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
  };
}
