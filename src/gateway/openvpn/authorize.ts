// Who may connect: the gateway's answer to a session's `authenticate` request. The certificate
// already passed TLS (our CA, not in the CRL); here the store has the last word: the user must
// exist, be enabled, and the certificate must be one of its live ones. Then the secrets, in one
// of four shapes: an auth-token the gateway pushed after an earlier full login; a CRV1 answer to
// the one-time-code challenge; OpenVPN's static-challenge "SCRV1:<b64 password>:<b64 code>"; or
// a plain password. The password is checked before the code, so a wrong password never burns a
// one-time code. Before any secret is looked at, the brute-force brake may refuse outright.
// Every answer becomes an audit record (the caller writes it, with `reason`).
import { verifyPassword } from '../../control/admin/secrets.js';
import {
  AuthLimiter,
  ChallengeBook,
  DEFAULT_AUTH_TOKEN_LIFETIME_SEC,
  checkTotp,
  crv1Challenge,
  looksLikeAuthToken,
  mintAuthToken,
  parseCrv1Response,
  verifyAuthToken,
} from '../../control/auth/index.js';
import type { Db } from '../../control/store/index.js';
import { perStore, prepare, type Arg } from '../../control/store/prepared.js';
import { readProfileKeyOwner } from '../../control/profile/key-metadata.js';
import type { AuthRequest } from '../../proto/openvpn/session/server-session.js';

const MS_PER_SECOND = 1000;

/** How the user proved who it is, for the audit record. */
export type AuthMethod =
  | 'certificate'
  | 'password'
  | 'password+totp'
  | 'password+totp (CRV1)'
  | 'auth-token'
  | 'radius'
  | 'radius+totp';

export type AuthDecision =
  | {
      ok: true;
      user: string;
      groups: string[];
      method: AuthMethod;
      /** Pushed as `auth-token`: the client's password from now on, for re-keys and reconnects. */
      authToken?: string;
    }
  | {
      ok: false;
      user: string | undefined;
      reason: string;
      /** Sent to the client after AUTH_FAILED (e.g. a CRV1 challenge). */
      clientReason?: string;
    };

/** What authorize needs besides the store: the clock, the brake, and the gateway's secrets. */
export interface AuthContext {
  now: Date;
  /** The client's address without port: the brake counts failures per source too. */
  source?: string | undefined;
  limiter: AuthLimiter;
  challenges: ChallengeBook;
  /** Signs auth-tokens; without it no token is minted or accepted. */
  tokenSecret?: Uint8Array | undefined;
  tokenLifetimeSec?: number;
  /** When RADIUS is on, it judges passwords instead of the local hashes (one-time codes stay local). */
  radius?:
    | ((user: string, password: string) => Promise<'accept' | 'reject' | 'unreachable' | undefined>)
    | undefined;
}

/** A context with fresh, default state: for tools and tests. */
export function newAuthContext(now: Date, tokenSecret?: Uint8Array): AuthContext {
  return { now, limiter: new AuthLimiter(), challenges: new ChallengeBook(), tokenSecret };
}

interface UserRecord {
  name: string;
  disabled: number;
  password_hash: string | null;
  totp_secret: string | null;
}

/** What every authorisation reads, built once per store (store/prepared.ts). */
const queriesOf = perStore((db: Db) => ({
  user: prepare((arg: Arg<{ user: string }>) =>
    db
      .selectFrom('users')
      .select(['name', 'disabled', 'password_hash', 'totp_secret'])
      .where('name', '=', arg('user')),
  ),
  certificate: prepare((arg: Arg<{ user: string; serial: string }>) =>
    db
      .selectFrom('certificates')
      .select(['serial', 'revoked_at'])
      .where('serial', '=', arg('serial'))
      .where('user_name', '=', arg('user')),
  ),
  groups: prepare((arg: Arg<{ user: string }>) =>
    db
      .selectFrom('user_groups')
      .innerJoin('users', 'users.id', 'user_groups.user_id')
      .select('group_name')
      .where('users.name', '=', arg('user')),
  ),
}));

/** Runs the authorisation's queries once for nobody (no user is named ""): warm before a client. */
export async function rehearseAuthorize(db: Db): Promise<void> {
  const q = queriesOf(db);
  await q.user.executeTakeFirst(db, { user: '' });
  await q.certificate.executeTakeFirst(db, { user: '', serial: '' });
  await q.groups.execute(db, { user: '' });
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

const TOTP_REFUSAL = {
  wrong: 'wrong one-time code',
  replayed: 'one-time code already used',
} as const;

export async function authorize(db: Db, req: AuthRequest, ctx: AuthContext): Promise<AuthDecision> {
  const user = req.commonName;
  if (req.tls.peerVerifyError !== undefined) {
    return { ok: false, user, reason: `client certificate refused: ${req.tls.peerVerifyError}` };
  }
  if (!user) return { ok: false, user, reason: 'client certificate has no commonName' };
  const keys = { user, source: ctx.source };
  const nowMs = ctx.now.getTime();
  const limit = ctx.limiter.check(keys, nowMs);
  if (limit.limited) {
    const wait = Math.ceil(limit.retryAfterMs / MS_PER_SECOND);
    return {
      ok: false,
      user,
      reason: `rate-limited: too many failed attempts for this ${limit.key}; retry in ${wait}s`,
    };
  }
  const refuse = (reason: string): AuthDecision => {
    ctx.limiter.failure(keys, nowMs);
    return { ok: false, user, reason };
  };

  if (req.username !== undefined && req.username !== '' && req.username !== user) {
    return refuse(`username "${req.username}" does not match the certificate of ${user}`);
  }
  if (req.wkcMetadata) {
    const owner = readProfileKeyOwner(req.wkcMetadata);
    if (owner && (owner.user !== user || owner.serial !== req.certSerial)) {
      return refuse('the profile key belongs to another certificate');
    }
  }
  const q = queriesOf(db);
  const row: UserRecord | undefined = await q.user.executeTakeFirst(db, { user });
  if (!row) return refuse('no such user');
  if (row.disabled) return refuse('user disabled');
  const cert =
    req.certSerial === undefined
      ? undefined
      : await q.certificate.executeTakeFirst(db, { user, serial: req.certSerial });
  if (!cert) return refuse('certificate not issued to this user');
  if (cert.revoked_at) return refuse('certificate revoked');
  const binding = { user, serial: cert.serial };

  const accept = async (method: AuthMethod, token?: string): Promise<AuthDecision> => {
    ctx.limiter.success(keys);
    const groups = await q.groups.execute(db, { user });
    const authToken =
      token ??
      (ctx.tokenSecret && (row.password_hash || row.totp_secret || ctx.radius)
        ? mintAuthToken(
            ctx.tokenSecret,
            binding,
            ctx.now,
            ctx.tokenLifetimeSec ?? DEFAULT_AUTH_TOKEN_LIFETIME_SEC,
          )
        : undefined);
    return {
      ok: true,
      user,
      groups: groups.map((g) => g.group_name),
      method,
      ...(authToken !== undefined ? { authToken } : {}),
    };
  };

  const given = req.password ?? '';
  if (!row.password_hash && !row.totp_secret && !ctx.radius) return accept('certificate');

  // A token stands in for password and code alike; it dies with the certificate it names.
  if (ctx.tokenSecret && looksLikeAuthToken(given)) {
    const verdict = verifyAuthToken(ctx.tokenSecret, given, binding, ctx.now);
    if (!verdict.ok) return refuse(verdict.reason);
    return accept('auth-token', given);
  }

  if (ctx.radius) {
    const scr = splitStaticChallenge(given);
    const verdict = await ctx.radius(user, scr ? scr.password : given);
    if (verdict === 'reject') return refuse('RADIUS rejected the password');
    if (verdict === 'unreachable') return refuse('no RADIUS server answered');
    if (verdict === 'accept') {
      if (!row.totp_secret) return accept('radius');
      if (!scr) return refuse('one-time code missing');
      const totp = await checkTotp(db, user, row.totp_secret, scr.code, ctx.now);
      if (totp !== 'ok') return refuse(TOTP_REFUSAL[totp]);
      return accept('radius+totp');
    }
  }

  if (row.totp_secret) {
    const crv1 = parseCrv1Response(given);
    if (crv1) {
      if (!ctx.challenges.take(crv1.stateId, user, cert.serial, nowMs)) {
        return refuse('one-time code challenge unknown or expired');
      }
      const totp = await checkTotp(db, user, row.totp_secret, crv1.response, ctx.now);
      if (totp !== 'ok') return refuse(TOTP_REFUSAL[totp]);
      return accept('password+totp (CRV1)');
    }
    const scr = splitStaticChallenge(given);
    const password = scr ? scr.password : given;
    if (row.password_hash && !(await verifyPassword(row.password_hash, password))) {
      return refuse('wrong password');
    }
    if (!scr) {
      // The profile had no static-challenge: ask for the code as a dynamic challenge.
      const stateId = ctx.challenges.issue(user, cert.serial, nowMs);
      return {
        ok: false,
        user,
        reason: 'one-time code missing: CRV1 challenge sent',
        clientReason: crv1Challenge(stateId, user),
      };
    }
    const totp = await checkTotp(db, user, row.totp_secret, scr.code, ctx.now);
    if (totp !== 'ok') return refuse(TOTP_REFUSAL[totp]);
    return accept('password+totp');
  }

  if (row.password_hash && !(await verifyPassword(row.password_hash, given))) {
    return refuse('wrong password');
  }
  return accept('password');
}
