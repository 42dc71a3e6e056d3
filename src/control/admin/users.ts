// User administration: add (with a client certificate, optional password and TOTP), revoke,
// delete. Each action is an audit record; revocation rewrites the CRL at once.
import { PosternError } from '../../errors.js';
import type { Config } from '../config/index.js';
import { issueClient, readCrlNumber, writeCrl } from '../pki/index.js';
import {
  deleteUser as deleteUserRow,
  findUser,
  insertCertificate,
  insertUser,
  revokedCertificates,
  revokeUserCertificates,
  writeAudit,
  type Db,
} from '../store/index.js';
import { checkUserName } from './names.js';
import { hashPassword, newTotp, type TotpEnrolment } from './secrets.js';

export interface AdminContext {
  dir: string;
  config: Config;
  db: Db;
  now: Date;
  /** Who acted, for the audit record (e.g. "cli", "api"). */
  actor: string;
}

export interface AddUserOptions {
  groups: string[];
  password?: string;
  totp: boolean;
}

export interface AddedUser {
  name: string;
  groups: string[];
  serial: string;
  notAfter: string;
  totp?: TotpEnrolment;
}

export async function addUser(
  ctx: AdminContext,
  name: string,
  o: AddUserOptions,
): Promise<AddedUser> {
  checkUserName(name);
  const groups = o.groups.length ? [...new Set(o.groups)] : ['default'];
  for (const g of groups) {
    if (!(g in ctx.config.groups)) {
      throw new PosternError(
        'NO_SUCH_GROUP',
        `group "${g}" is not defined in postern.yaml`,
        `add it under groups:, or pick one of: ${Object.keys(ctx.config.groups).join(', ') || '(none)'}`,
      );
    }
  }
  if (await findUser(ctx.db, name)) {
    throw new PosternError(
      'USER_EXISTS',
      `user "${name}" already exists`,
      'pick another name, or `postern user del` it first',
    );
  }
  if (o.password !== undefined && o.password.length < 8) {
    throw new PosternError('WEAK_PASSWORD', 'the password must be at least 8 characters long');
  }
  const totp = o.totp ? newTotp(name, ctx.config.name) : undefined;
  const passwordHash = o.password === undefined ? null : await hashPassword(o.password);
  const cert = await issueClient(ctx.dir, name, { now: ctx.now });
  await insertUser(
    ctx.db,
    { name, groups, passwordHash, totpSecret: totp?.secret ?? null },
    ctx.now,
  );
  await insertCertificate(ctx.db, {
    serial: cert.serial,
    user: name,
    kind: 'client',
    subject: `CN=${name}`,
    notBefore: ctx.now.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  });
  await writeAudit(
    ctx.db,
    {
      event: 'admin',
      user: name,
      remote: ctx.actor,
      result: 'ok',
      reason: 'user.add',
      detail: { groups, serial: cert.serial, password: o.password !== undefined, totp: o.totp },
    },
    ctx.now,
  );
  return {
    name,
    groups,
    serial: cert.serial,
    notAfter: cert.notAfter.toISOString(),
    ...(totp ? { totp } : {}),
  };
}

/** Revokes every live certificate of the user and publishes a fresh CRL; returns the serials. */
export async function revokeUser(ctx: AdminContext, name: string): Promise<string[]> {
  if (!(await findUser(ctx.db, name))) {
    throw new PosternError('NO_SUCH_USER', `no user "${name}"`, 'see `postern user list`');
  }
  const serials = await revokeUserCertificates(ctx.db, name, ctx.now);
  await publishCrl(ctx);
  await writeAudit(
    ctx.db,
    {
      event: 'revoke',
      user: name,
      remote: ctx.actor,
      result: 'ok',
      reason: 'user.revoke',
      detail: { serials },
    },
    ctx.now,
  );
  return serials;
}

/** Deletes a user; its certificates are revoked first so a copied profile stops working too. */
export async function deleteUser(ctx: AdminContext, name: string): Promise<string[]> {
  const serials = await revokeUser(ctx, name);
  await deleteUserRow(ctx.db, name);
  await writeAudit(
    ctx.db,
    { event: 'admin', user: name, remote: ctx.actor, result: 'ok', reason: 'user.del' },
    ctx.now,
  );
  return serials;
}

async function publishCrl(ctx: AdminContext): Promise<void> {
  const revoked = await revokedCertificates(ctx.db);
  await writeCrl(ctx.dir, revoked, ctx.now, (await readCrlNumber(ctx.dir)) + 1);
}
