// Who may connect: the gateway's answer to a session's `authenticate` request. The certificate
// already passed TLS (our CA, not in the CRL); here the store has the last word: the user must
// exist, be enabled, and the certificate must be one of its live ones. A password and a one-time
// code are checked when the user has them. Every answer becomes an audit record.
import otplib from 'otplib';
import { verifyPassword } from '../../control/admin/secrets.js';
import type { Db } from '../../control/store/index.js';
import { listCertificates } from '../../control/store/index.js';
import { readProfileKeyOwner } from '../../control/profile/key-metadata.js';
import type { AuthRequest } from '../../proto/openvpn/session/server-session.js';

export type AuthDecision =
  | { ok: true; user: string; groups: string[] }
  | { ok: false; user: string | undefined; reason: string; clientReason?: string };

interface UserRecord {
  name: string;
  disabled: number;
  password_hash: string | null;
  totp_secret: string | null;
}

/** OpenVPN's static-challenge answer: "SCRV1:<base64 password>:<base64 response>". */
function splitStaticChallenge(password: string): { password: string; code: string } | undefined {
  if (!password.startsWith('SCRV1:')) return undefined;
  const [, pw, code] = password.split(':');
  if (pw === undefined || code === undefined) return undefined;
  return {
    password: Buffer.from(pw, 'base64').toString('utf8'),
    code: Buffer.from(code, 'base64').toString('utf8'),
  };
}

export async function authorize(db: Db, req: AuthRequest): Promise<AuthDecision> {
  const user = req.commonName;
  if (req.tls.peerVerifyError !== undefined) {
    return { ok: false, user, reason: `client certificate refused: ${req.tls.peerVerifyError}` };
  }
  if (!user) return { ok: false, user, reason: 'client certificate has no commonName' };
  if (req.username !== undefined && req.username !== '' && req.username !== user) {
    return {
      ok: false,
      user,
      reason: `username "${req.username}" does not match the certificate of ${user}`,
    };
  }
  if (req.wkcMetadata) {
    const owner = readProfileKeyOwner(req.wkcMetadata);
    if (owner && (owner.user !== user || owner.serial !== req.certSerial)) {
      return { ok: false, user, reason: 'the profile key belongs to another certificate' };
    }
  }
  const row = (await db
    .selectFrom('users')
    .select(['name', 'disabled', 'password_hash', 'totp_secret'])
    .where('name', '=', user)
    .executeTakeFirst()) as UserRecord | undefined;
  if (!row) return { ok: false, user, reason: 'no such user' };
  if (row.disabled) return { ok: false, user, reason: 'user disabled' };
  const certs = await listCertificates(db, user);
  const cert = certs.find((c) => c.serial === req.certSerial);
  if (!cert) return { ok: false, user, reason: 'certificate not issued to this user' };
  if (cert.revokedAt) return { ok: false, user, reason: 'certificate revoked' };

  let password = req.password ?? '';
  if (row.totp_secret) {
    const scr = splitStaticChallenge(password);
    if (!scr) return { ok: false, user, reason: 'one-time code missing' };
    password = scr.password;
    if (!otplib.authenticator.check(scr.code.trim(), row.totp_secret)) {
      return { ok: false, user, reason: 'wrong one-time code' };
    }
  }
  if (row.password_hash && !(await verifyPassword(row.password_hash, password))) {
    return { ok: false, user, reason: 'wrong password' };
  }
  const groups = await db
    .selectFrom('user_groups')
    .innerJoin('users', 'users.id', 'user_groups.user_id')
    .select('group_name')
    .where('users.name', '=', user)
    .execute();
  return { ok: true, user, groups: groups.map((g) => g.group_name) };
}
