// Audit records: who did what, from where, with what result. Written once, never updated.
import type { Db } from './open.js';
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

export async function writeAudit(db: Db, rec: NewAudit, now: Date): Promise<void> {
  await db
    .insertInto('audit')
    .values({
      time: iso(now),
      event: rec.event,
      user_name: rec.user ?? null,
      remote: rec.remote ?? null,
      result: rec.result,
      reason: rec.reason ?? null,
      detail: rec.detail ? JSON.stringify(rec.detail) : null,
    })
    .execute();
}

export async function listAudit(
  db: Db,
  opts: { since?: Date; limit?: number } = {},
): Promise<AuditRecord[]> {
  let q = db.selectFrom('audit').selectAll().orderBy('id', 'asc');
  if (opts.since) q = q.where('time', '>=', iso(opts.since));
  if (opts.limit) q = q.limit(opts.limit);
  const rows = await q.execute();
  return rows.map((r) => ({
    time: r.time,
    event: r.event,
    user: r.user_name,
    remote: r.remote,
    result: r.result,
    reason: r.reason,
    ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
  }));
}
