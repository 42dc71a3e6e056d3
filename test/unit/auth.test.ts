// Logins beyond the certificate: auth-tokens, one-time codes and their replay, the brute-force
// brake, the CRV1 dynamic challenge, and the gateway's decision that ties them together.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import otplib from 'otplib';
import { hashPassword } from '../../src/control/admin/secrets.js';
import {
  AuthLimiter,
  ChallengeBook,
  checkTotp,
  crv1Challenge,
  mintAuthToken,
  parseCrv1Response,
  sourceAddress,
  verifyAuthToken,
  authTokenSecret,
  limitsFromEnv,
} from '../../src/control/auth/index.js';
import {
  insertCertificate,
  insertUser,
  openStore,
  revokeUserCertificates,
  type Store,
} from '../../src/control/store/index.js';
import {
  authorize,
  type AuthContext,
  type AuthDecision,
} from '../../src/gateway/openvpn/authorize.js';
import type { AuthRequest } from '../../src/proto/openvpn/session/server-session.js';
import { tempDir } from '../helpers/postern-cli.js';

const T0 = new Date('2026-03-01T12:00:05Z');
const STEP_MS = 30_000;
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const codeAt = (secret: string, when: Date): string =>
  otplib.authenticator.clone({ epoch: when.getTime() }).generate(secret);
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const scrv1 = (pw: string, code: string): string => `SCRV1:${b64(pw)}:${b64(code)}`;

describe('auth-tokens', () => {
  const secret = new Uint8Array(32).fill(7);
  const who = { user: 'alice', serial: '0a1b' };

  it('verify for the user and certificate they were minted for, until they expire', () => {
    const token = mintAuthToken(secret, who, T0, 60);
    assert.ok(token.length < 128, `short enough for any OpenVPN client (${token.length})`);
    assert.match(token, /^[A-Za-z0-9_-]+$/, 'one word, safe in a push reply');
    const ok = verifyAuthToken(secret, token, who, at(59_000));
    assert.equal(ok.ok, true);
    assert.deepEqual(verifyAuthToken(secret, token, who, at(60_000)), {
      ok: false,
      reason: 'auth-token expired',
    });
  });

  it('refuse another user, another certificate, another key, and tampering', () => {
    const token = mintAuthToken(secret, who, T0, 60);
    const invalid = { ok: false, reason: 'auth-token invalid' };
    assert.deepEqual(verifyAuthToken(secret, token, { ...who, user: 'bob' }, T0), invalid);
    assert.deepEqual(verifyAuthToken(secret, token, { ...who, serial: '0a1c' }, T0), invalid);
    assert.deepEqual(verifyAuthToken(new Uint8Array(32), token, who, T0), invalid);
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const tampered = token.slice(0, -2) + last + token.slice(-1);
    assert.equal(verifyAuthToken(secret, tampered, who, T0).ok, false);
    assert.equal(verifyAuthToken(secret, 'PT1short', who, T0).ok, false);
    assert.equal(verifyAuthToken(secret, 'hunter22', who, T0).ok, false);
  });
});

describe('brute-force brake', () => {
  it('locks a user after maxFailures, with a doubling backoff, and a success clears it', () => {
    const l = new AuthLimiter({ maxFailures: 3, backoffMs: 1000, maxBackoffMs: 3000 });
    const keys = { user: 'alice', source: '198.51.100.7' };
    for (let i = 0; i < 3; i++) {
      assert.equal(l.check(keys, i).limited, false);
      l.failure(keys, i);
    }
    assert.deepEqual(l.check(keys, 3), { limited: true, key: 'user', retryAfterMs: 999 });
    assert.equal(l.check(keys, 1002).limited, false, 'the backoff passes');
    l.failure(keys, 1002);
    const v = l.check(keys, 1003);
    assert.ok(v.limited && v.retryAfterMs === 1999, 'the next lockout is twice as long');
    l.failure(keys, 3100);
    l.failure(keys, 3200);
    const capped = l.check(keys, 3201);
    assert.ok(capped.limited && capped.retryAfterMs <= 3000, 'capped at maxBackoffMs');
    l.success(keys);
    const after = l.check(keys, 3202);
    assert.ok(after.limited && after.key === 'source', 'the source stays braked');
    assert.equal(l.check({ user: 'alice', source: '198.51.100.8' }, 3202).limited, false);
  });

  it('counts a source across users', () => {
    const l = new AuthLimiter({ maxFailures: 2, backoffMs: 500 });
    l.failure({ user: 'a', source: '203.0.113.9' }, 0);
    l.failure({ user: 'b', source: '203.0.113.9' }, 0);
    const v = l.check({ user: 'c', source: '203.0.113.9' }, 1);
    assert.ok(v.limited && v.key === 'source');
  });

  it('reads its limits from the environment and keys sources without the port', () => {
    assert.deepEqual(
      limitsFromEnv({ POSTERN_AUTH_MAX_FAILURES: '5', POSTERN_AUTH_BACKOFF_MS: '2000' }),
      { maxFailures: 5, backoffMs: 2000 },
    );
    assert.deepEqual(limitsFromEnv({ POSTERN_AUTH_BACKOFF_MS: 'soon' }), {});
    assert.equal(sourceAddress('198.51.100.7:1194'), '198.51.100.7');
    assert.equal(sourceAddress('[2001:db8::7]:1194'), '2001:db8::7');
  });
});

describe('CRV1 dynamic challenge', () => {
  it('has the management-interface shape, and its state answers once', () => {
    assert.equal(crv1Challenge('abc123', 'alice'), `CRV1:R,E:abc123:${b64('alice')}:One-time code`);
    assert.deepEqual(parseCrv1Response('CRV1::abc123::654321'), {
      stateId: 'abc123',
      response: '654321',
    });
    assert.equal(parseCrv1Response('SCRV1:eA==:eQ=='), undefined);
    const book = new ChallengeBook(1000);
    const id = book.issue('alice', '0a', 0);
    assert.equal(book.take(id, 'bob', '0a', 1), false, 'another user');
    const id2 = book.issue('alice', '0a', 0);
    assert.equal(book.take(id2, 'alice', '0a', 1), true);
    assert.equal(book.take(id2, 'alice', '0a', 2), false, 'only once');
    const id3 = book.issue('alice', '0a', 0);
    assert.equal(book.take(id3, 'alice', '0a', 1000), false, 'expired');
  });
});

describe('one-time codes and the gateway decision', () => {
  const tmp = tempDir();
  let store: Store;
  const totpSecret = otplib.authenticator.generateSecret(20);
  after(async () => {
    await store?.close();
    tmp.remove();
  });

  async function addUser(name: string, password: string | null, totp: string | null) {
    await insertUser(
      store.db,
      {
        name,
        groups: ['default'],
        passwordHash: password === null ? null : await hashPassword(password),
        totpSecret: totp,
      },
      T0,
    );
    await insertCertificate(store.db, {
      serial: `${name}01`,
      user: name,
      kind: 'client',
      subject: `CN=${name}`,
      notBefore: T0.toISOString(),
      notAfter: at(86_400_000).toISOString(),
    });
  }

  function request(user: string, password: string | undefined): AuthRequest {
    return {
      commonName: user,
      certSerial: `${user}01`,
      certFingerprint256: undefined,
      username: password === undefined ? undefined : user,
      password,
      peerInfo: {},
      peerInfoText: undefined,
      wkcMetadata: undefined,
      cipher: 'AES-256-GCM',
      tls: { peerVerifyError: undefined } as unknown as AuthRequest['tls'],
    } as AuthRequest;
  }

  let ctx: AuthContext;
  const decide = (user: string, password: string | undefined, now: Date): Promise<AuthDecision> =>
    authorize(store.db, request(user, password), { ...ctx, now, source: '198.51.100.7' });

  it('sets up a store', async () => {
    store = await openStore(tmp.path, 'sqlite:auth.db');
    ctx = {
      now: T0,
      limiter: new AuthLimiter({ maxFailures: 100 }),
      challenges: new ChallengeBook(),
      tokenSecret: await authTokenSecret(store.db),
    };
    assert.deepEqual(await authTokenSecret(store.db), ctx.tokenSecret, 'one key per gateway');
    await addUser('alice', 'correct horse', totpSecret);
    await addUser('paula', 'only a password', null);
  });

  it('accepts a code once per time-step, and never an older one', async () => {
    await addUser('tess', null, totpSecret);
    const code = codeAt(totpSecret, T0);
    assert.equal(await checkTotp(store.db, 'tess', totpSecret, code, T0), 'ok');
    assert.equal(await checkTotp(store.db, 'tess', totpSecret, code, at(1000)), 'replayed');
    const wrong = code === '000000' ? '111111' : '000000';
    assert.equal(await checkTotp(store.db, 'tess', totpSecret, wrong, at(STEP_MS)), 'wrong');
    const next = codeAt(totpSecret, at(STEP_MS));
    assert.equal(await checkTotp(store.db, 'tess', totpSecret, next, at(STEP_MS)), 'ok');
    assert.equal(
      await checkTotp(store.db, 'tess', totpSecret, code, at(STEP_MS)),
      'replayed',
      'the previous step is inside the drift window, but already behind us',
    );
    assert.equal(await checkTotp(store.db, 'tess', totpSecret, 'abc', at(STEP_MS)), 'wrong');
  });

  it('refuses a wrong password and a wrong code; lets the right pair in with a token', async () => {
    const now = at(10 * STEP_MS);
    const code = codeAt(totpSecret, now);
    const badPw = await decide('alice', scrv1('wrong horse', code), now);
    assert.deepEqual(badPw, { ok: false, user: 'alice', reason: 'wrong password' });
    const wrong = code === '000000' ? '111111' : '000000';
    const badCode = await decide('alice', scrv1('correct horse', wrong), now);
    assert.deepEqual(badCode, { ok: false, user: 'alice', reason: 'wrong one-time code' });
    const ok = await decide('alice', scrv1('correct horse', code), now);
    assert.ok(ok.ok && ok.method === 'password+totp' && ok.authToken, JSON.stringify(ok));
    const replay = await decide('alice', scrv1('correct horse', code), at(10 * STEP_MS + 5000));
    assert.deepEqual(replay, { ok: false, user: 'alice', reason: 'one-time code already used' });
  });

  it('a reconnect with the auth-token needs no password or code; revocation kills it', async () => {
    const now = at(20 * STEP_MS);
    const first = await decide('alice', scrv1('correct horse', codeAt(totpSecret, now)), now);
    assert.ok(first.ok && first.authToken);
    const again = await decide('alice', first.authToken, at(21 * STEP_MS));
    assert.ok(again.ok, JSON.stringify(again));
    assert.equal(again.method, 'auth-token');
    assert.equal(again.authToken, first.authToken, 'the same token is pushed back');
    const other = first.authToken.endsWith('x') ? 'y' : 'x'; // a different last character, always
    const forged = await decide('alice', `${first.authToken.slice(0, -1)}${other}`, now);
    assert.equal(forged.ok, false);
    await revokeUserCertificates(store.db, 'alice', at(22 * STEP_MS));
    const dead = await decide('alice', first.authToken, at(22 * STEP_MS));
    assert.deepEqual(dead, { ok: false, user: 'alice', reason: 'certificate revoked' });
  });

  it('asks a client without static-challenge for the code with CRV1, and takes the answer', async () => {
    await addUser('carol', 'carols password', totpSecret);
    const now = at(30 * STEP_MS);
    const asked = await decide('carol', 'carols password', now);
    assert.equal(asked.ok, false);
    assert.ok(!asked.ok);
    const m = /^CRV1:R,E:([0-9a-f]+):([^:]+):One-time code$/.exec(asked.clientReason ?? '');
    assert.ok(m, asked.clientReason);
    assert.equal(Buffer.from(m[2] ?? '', 'base64').toString(), 'carol');
    const wrongPw = await decide('carol', 'not carols', now);
    assert.deepEqual(wrongPw, { ok: false, user: 'carol', reason: 'wrong password' });
    const answer = `CRV1::${m[1]}::${codeAt(totpSecret, now)}`;
    const ok = await decide('carol', answer, at(30 * STEP_MS + 2000));
    assert.ok(ok.ok && ok.method === 'password+totp (CRV1)', JSON.stringify(ok));
    const again = await decide('carol', answer, at(30 * STEP_MS + 3000));
    assert.deepEqual(again, {
      ok: false,
      user: 'carol',
      reason: 'one-time code challenge unknown or expired',
    });
  });

  it('brakes: after maxFailures the right password is refused unchecked, until backoff', async () => {
    const brake: AuthContext = {
      ...ctx,
      limiter: new AuthLimiter({ maxFailures: 5, backoffMs: 10_000 }),
    };
    const now = at(40 * STEP_MS);
    const run = (pw: string, when: Date) =>
      authorize(store.db, request('paula', pw), { ...brake, now: when, source: '192.0.2.50' });
    for (let i = 0; i < 5; i++) {
      assert.equal((await run('guess', now)).ok, false);
    }
    const limited = await run('only a password', at(40 * STEP_MS + 1000));
    assert.ok(!limited.ok && /^rate-limited/.test(limited.reason), JSON.stringify(limited));
    const later = await run('only a password', at(40 * STEP_MS + 11_000));
    assert.ok(later.ok && later.method === 'password', JSON.stringify(later));
  });
});
