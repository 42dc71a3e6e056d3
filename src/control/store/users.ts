// Users and their group memberships.
import type { Db } from './open.js';
import { iso } from './time.js';

export interface UserRow {
  id: number;
  name: string;
  createdAt: string;
  groups: string[];
  hasPassword: boolean;
  hasTotp: boolean;
  disabled: boolean;
}

export interface NewUser {
  name: string;
  groups: string[];
  passwordHash?: string | null;
  totpSecret?: string | null;
}

export async function insertUser(db: Db, u: NewUser, now: Date): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .insertInto('users')
      .values({
        name: u.name,
        created_at: iso(now),
        password_hash: u.passwordHash ?? null,
        totp_secret: u.totpSecret ?? null,
        static_ipv4: null,
        static_ipv6: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    for (const g of new Set(u.groups)) {
      await tx.insertInto('user_groups').values({ user_id: row.id, group_name: g }).execute();
    }
    return row.id;
  });
}

export async function findUser(db: Db, name: string): Promise<UserRow | undefined> {
  return (await listUsers(db, name))[0];
}

export async function listUsers(db: Db, only?: string): Promise<UserRow[]> {
  let q = db.selectFrom('users').selectAll().orderBy('name');
  if (only !== undefined) q = q.where('name', '=', only);
  const users = await q.execute();
  const memberships = await db.selectFrom('user_groups').selectAll().execute();
  return users.map((u) => ({
    id: u.id,
    name: u.name,
    createdAt: u.created_at,
    groups: memberships
      .filter((m) => m.user_id === u.id)
      .map((m) => m.group_name)
      .sort(),
    hasPassword: u.password_hash !== null,
    hasTotp: u.totp_secret !== null,
    disabled: u.disabled !== 0,
  }));
}

export async function deleteUser(db: Db, name: string): Promise<boolean> {
  const r = await db.deleteFrom('users').where('name', '=', name).executeTakeFirst();
  return r.numDeletedRows > 0n;
}
