// Certificates issued by the built-in CA, and which of them are revoked (the CRL's source).
import type { Db } from './open.js';
import { iso } from './time.js';

export interface CertificateRow {
  serial: string;
  user: string | null;
  kind: 'ca' | 'server' | 'client';
  subject: string;
  notBefore: string;
  notAfter: string;
  revokedAt: string | null;
}

export async function insertCertificate(
  db: Db,
  c: Omit<CertificateRow, 'revokedAt'>,
): Promise<void> {
  await db
    .insertInto('certificates')
    .values({
      serial: c.serial,
      user_name: c.user,
      kind: c.kind,
      subject: c.subject,
      not_before: c.notBefore,
      not_after: c.notAfter,
      revoked_at: null,
    })
    .execute();
}

export async function listCertificates(db: Db, user?: string): Promise<CertificateRow[]> {
  let q = db.selectFrom('certificates').selectAll().orderBy('not_before');
  if (user !== undefined) q = q.where('user_name', '=', user);
  const rows = await q.execute();
  return rows.map((r) => ({
    serial: r.serial,
    user: r.user_name,
    kind: r.kind,
    subject: r.subject,
    notBefore: r.not_before,
    notAfter: r.not_after,
    revokedAt: r.revoked_at,
  }));
}

/** Revokes every live certificate of a user; returns the serials revoked now. */
export async function revokeUserCertificates(db: Db, user: string, now: Date): Promise<string[]> {
  const live = await db
    .selectFrom('certificates')
    .select('serial')
    .where('user_name', '=', user)
    .where('revoked_at', 'is', null)
    .execute();
  if (live.length === 0) return [];
  await db
    .updateTable('certificates')
    .set({ revoked_at: iso(now) })
    .where('user_name', '=', user)
    .where('revoked_at', 'is', null)
    .execute();
  return live.map((r) => r.serial);
}

export async function revokedCertificates(db: Db): Promise<{ serial: string; revokedAt: Date }[]> {
  const rows = await db
    .selectFrom('certificates')
    .select(['serial', 'revoked_at'])
    .where('revoked_at', 'is not', null)
    .execute();
  return rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at as string) }));
}
