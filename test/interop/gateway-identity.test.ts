// Identity beyond the certificate, end to end with the stock openvpn client: passwords, one-time
// codes (static-challenge answers, as the client sends them), replay, the auth-token that spares
// the password on reconnect and dies with revocation, the brute-force brake, and addresses that
// stay with their users (static, and persisted across a gateway restart).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import otplib from 'otplib';
import { parse as parseYaml } from 'yaml';
import { createLab, type Lab } from '../../src/lab/index.js';
import { BIN, tempDir } from '../helpers/postern-cli.js';
import {
  startLabGateway,
  startOpenvpnClient,
  watchLines,
  type LabGateway,
  type OpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const MAX_FAILURES = 5;
const BACKOFF_MS = 8000;
const STEP_MS = 30_000;
const CONNECTED = /Initialization Sequence Completed/;

interface AuditRecord {
  event: string;
  user: string | null;
  result: string;
  reason: string | null;
  detail?: Record<string, unknown>;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe(
  'identity: passwords, one-time codes, tokens, brake, leases',
  {
    skip: root ? false : 'needs root',
  },
  () => {
    let lab: Lab;
    let gw: LabGateway;
    let restarted: ReturnType<Lab['spawn']> | undefined;
    const tmp = tempDir('postern-identity-');
    const clients: OpenvpnClient[] = [];
    const saved = {
      max: process.env.POSTERN_AUTH_MAX_FAILURES,
      backoff: process.env.POSTERN_AUTH_BACKOFF_MS,
    };

    before(async () => {
      // The gateway inherits these: a brake that trips and releases within a test's patience.
      process.env.POSTERN_AUTH_MAX_FAILURES = String(MAX_FAILURES);
      process.env.POSTERN_AUTH_BACKOFF_MS = String(BACKOFF_MS);
      lab = await createLab();
      gw = await startLabGateway(lab);
    });
    after(async () => {
      for (const c of clients) await c.stop();
      if (restarted && restarted.exitCode === null && restarted.signalCode === null) {
        restarted.kill('SIGTERM');
        await new Promise((r) => restarted?.once('exit', r));
      }
      await gw?.stop();
      await lab?.destroy();
      tmp.remove();
      for (const [k, v] of [
        ['POSTERN_AUTH_MAX_FAILURES', saved.max],
        ['POSTERN_AUTH_BACKOFF_MS', saved.backoff],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });

    async function audit(): Promise<AuditRecord[]> {
      const r = await gw.cli(['audit', '--json']);
      return JSON.parse(r.stdout) as AuditRecord[];
    }

    async function waitAudit(
      pred: (a: AuditRecord) => boolean,
      skip = 0,
      ms = 20_000,
    ): Promise<AuditRecord> {
      const until = Date.now() + ms;
      for (;;) {
        const hit = (await audit()).filter(pred)[skip];
        if (hit) return hit;
        if (Date.now() > until)
          throw new Error(`no such audit record; have: ${JSON.stringify(await audit())}`);
        await sleep(300);
      }
    }

    const authOf = (user: string, result: 'ok' | 'fail') => (a: AuditRecord) =>
      a.event === 'auth' && a.user === user && a.result === result;

    // One transport, no interactive prompt; the branch host uses TCP (UDP answers reach it from
    // another of the gateway's addresses, which the client rejects).
    async function profileFor(name: string, proto: 'udp' | 'tcp' = 'udp'): Promise<string> {
      const out = join(tmp.path, `${name}-${proto}.ovpn`);
      const prof = await gw.cli(['profile', name, '--format', 'ovpn', '--out', out]);
      assert.equal(prof.code, 0, prof.stderr);
      const text = readFileSync(out, 'utf8')
        .split('\n')
        .filter((l) => !(l.startsWith('remote ') && !l.endsWith(` ${proto}`)))
        // The answer goes into the password line in SCRV1 form, as the client would send it.
        .filter((l) => !l.startsWith('static-challenge'))
        .join('\n');
      writeFileSync(out, text);
      return out;
    }

    async function addUser(name: string, args: string[], password?: string): Promise<string> {
      const add = await gw.cli(
        ['user', 'add', name, ...args, ...(password !== undefined ? ['--password-stdin'] : [])],
        password,
      );
      assert.equal(add.code, 0, add.stderr);
      return add.stdout;
    }

    let credCount = 0;
    function connect(
      host: 'laptop' | 'branch',
      profile: string,
      user: string,
      password: string,
    ): OpenvpnClient {
      const file = join(tmp.path, `cred-${credCount++}`);
      writeFileSync(file, `${user}\n${password}\n`, { mode: 0o600 });
      const c = startOpenvpnClient(lab, host, profile, ['--auth-user-pass', file]);
      clients.push(c);
      return c;
    }

    /** Connects and expects AUTH_FAILED; returns the audited reason. */
    async function refused(
      host: 'laptop' | 'branch',
      profile: string,
      user: string,
      password: string,
    ): Promise<string> {
      const before = (await audit()).filter(authOf(user, 'fail')).length;
      const c = connect(host, profile, user, password);
      try {
        await c.log.waitFor(/AUTH_FAILED/, 30_000);
        const rec = await waitAudit(authOf(user, 'fail'), before);
        assert.doesNotMatch(c.log.lines.join('\n'), CONNECTED);
        return rec.reason ?? '';
      } finally {
        await c.stop();
      }
    }

    /** The current code, from a fresh time-step if this one is nearly over. */
    async function freshCode(secret: string): Promise<string> {
      const left = STEP_MS - (Date.now() % STEP_MS);
      if (left < 20_000) await sleep(left + 500);
      return otplib.authenticator.generate(secret);
    }

    let patProfile: string;

    it('a wrong password is refused and audited; the right one gets in', async () => {
      await addUser('pat', [], 'pat-password-1');
      patProfile = await profileFor('pat');
      assert.equal(
        await refused('laptop', patProfile, 'pat', 'not-the-password'),
        'wrong password',
      );
      const ok = connect('laptop', patProfile, 'pat', 'pat-password-1');
      await ok.log.waitFor(CONNECTED, 45_000);
      const rec = await waitAudit(authOf('pat', 'ok'));
      assert.equal(rec.reason, 'password');
    });

    it('a reconnect uses the pushed auth-token, not the password', async () => {
      const c = clients.at(-1);
      assert.ok(c);
      // auth-nocache: the client dropped the password after the first login; the token remains.
      c.proc.kill('SIGUSR1');
      const rec = await waitAudit(authOf('pat', 'ok'), 1, 45_000);
      assert.equal(rec.reason, 'auth-token');
      assert.equal(rec.detail?.method, 'auth-token');
      await waitAudit((a) => a.event === 'session.start' && a.user === 'pat', 1, 30_000);
      assert.equal((await audit()).filter(authOf('pat', 'fail')).length, 1, 'no new failures');
    });

    it("a revoked user's token is refused", async () => {
      const c = clients.at(-1);
      assert.ok(c);
      const before = (await audit()).filter(authOf('pat', 'fail')).length;
      assert.equal((await gw.cli(['user', 'revoke', 'pat'])).code, 0);
      // The gateway's RESTART sends the client back with its token; the certificate is dead.
      const rec = await waitAudit(authOf('pat', 'fail'), before, 45_000);
      assert.match(rec.reason ?? '', /revoked/i);
      await c.stop();
      const oks = (await audit()).filter(authOf('pat', 'ok')).length;
      assert.equal(oks, 2, 'no login after the revocation');
    });

    it('one-time codes: a wrong one is refused, the right one gets in once, a replay is refused', async () => {
      const out = await addUser('tina', ['--totp', '--json'], 'tina-password-1');
      const secret = (JSON.parse(out) as { totp: { secret: string } }).totp.secret;
      const profile = await profileFor('tina');
      const code = await freshCode(secret);
      const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      assert.equal(
        await refused('laptop', profile, 'tina', `SCRV1:${b64('tina-password-1')}:${b64(wrong)}`),
        'wrong one-time code',
      );
      assert.equal(
        await refused('laptop', profile, 'tina', `SCRV1:${b64('bad-password')}:${b64(code)}`),
        'wrong password',
        'a wrong password does not burn the code',
      );
      const answer = `SCRV1:${b64('tina-password-1')}:${b64(code)}`;
      const first = connect('laptop', profile, 'tina', answer);
      await first.log.waitFor(CONNECTED, 45_000);
      assert.equal((await waitAudit(authOf('tina', 'ok'))).reason, 'password+totp');
      await first.stop();
      assert.equal(await refused('laptop', profile, 'tina', answer), 'one-time code already used');
    });

    it('a client without static-challenge is asked with CRV1, and its CRV1 answer gets in', async () => {
      const out = await addUser('cara', ['--totp', '--json'], 'cara-password-1');
      const secret = (JSON.parse(out) as { totp: { secret: string } }).totp.secret;
      const profile = await profileFor('cara');
      assert.equal(
        await refused('laptop', profile, 'cara', 'cara-password-1'),
        'one-time code missing: CRV1 challenge sent',
      );
      const failed = clients.at(-1)?.log.lines.find((l) => l.includes('AUTH_FAILED,CRV1:'));
      const m = /AUTH_FAILED,CRV1:R,E:([^:]+):([^:]+):One-time code/.exec(failed ?? '');
      assert.ok(m, `the client saw the challenge: ${failed}`);
      assert.equal(Buffer.from(m[2] ?? '', 'base64').toString(), 'cara');
      // What the client sends once its user typed the code (auth-retry interact).
      const answer = `CRV1::${m[1]}::${await freshCode(secret)}`;
      const c = connect('laptop', profile, 'cara', answer);
      await c.log.waitFor(CONNECTED, 45_000);
      assert.equal((await waitAudit(authOf('cara', 'ok'))).reason, 'password+totp (CRV1)');
      await c.stop();
    });

    it(`${MAX_FAILURES} wrong passwords from one source: the right one waits out the backoff`, async () => {
      await addUser('bruno', [], 'bruno-password-1');
      const profile = await profileFor('bruno', 'tcp');
      for (let i = 0; i < MAX_FAILURES; i++) {
        assert.equal(await refused('branch', profile, 'bruno', `guess-${i}`), 'wrong password');
      }
      const lastFailure = Date.now();
      const limited = await refused('branch', profile, 'bruno', 'bruno-password-1');
      assert.match(limited, /^rate-limited/);
      await sleep(Math.max(0, lastFailure + BACKOFF_MS + 500 - Date.now()));
      const ok = connect('branch', profile, 'bruno', 'bruno-password-1');
      await ok.log.waitFor(CONNECTED, 45_000);
      assert.equal((await waitAudit(authOf('bruno', 'ok'))).reason, 'password');
      await ok.stop();
    });

    it('a static address user always gets theirs', async () => {
      const pool4 = (
        parseYaml(readFileSync(join(gw.dir, 'postern.yaml'), 'utf8')) as {
          pools: { ipv4: string };
        }
      ).pools.ipv4;
      const base = pool4.split('/')[0]?.split('.') ?? [];
      const staticIp = [...base.slice(0, 3), '77'].join('.');
      await addUser('stan', ['--ip4', staticIp], 'stan-password-1');
      const profile = await profileFor('stan');
      for (let i = 0; i < 2; i++) {
        const c = connect('laptop', profile, 'stan', 'stan-password-1');
        await c.log.waitFor(CONNECTED, 45_000);
        const start = await waitAudit((a) => a.event === 'session.start' && a.user === 'stan', i);
        assert.equal(start.detail?.address4, staticIp);
        await c.stop();
        await waitAudit((a) => a.event === 'session.stop' && a.user === 'stan', i);
      }
    });

    it('a reconnecting user gets the same address, also after a gateway restart', async () => {
      await addUser('rita', [], 'rita-password-1');
      await addUser('newbie', [], 'newbie-password-1');
      const rita = await profileFor('rita');
      const newbie = await profileFor('newbie', 'tcp');
      const c1 = connect('laptop', rita, 'rita', 'rita-password-1');
      await c1.log.waitFor(CONNECTED, 45_000);
      const first = await waitAudit((a) => a.event === 'session.start' && a.user === 'rita');
      await c1.stop();
      await waitAudit((a) => a.event === 'session.stop' && a.user === 'rita');

      gw.proc.kill('SIGTERM');
      await new Promise((r) => gw.proc.once('exit', r));
      restarted = lab.spawn(
        'gw',
        process.execPath,
        ['--enable-source-maps', BIN, 'server', '--dir', gw.dir],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      await watchLines(restarted, 'restarted gateway').waitFor(/"event":"ready"/, 30_000);

      // Someone else first: without persisted leases, they would get rita's old address.
      const c2 = connect('branch', newbie, 'newbie', 'newbie-password-1');
      await c2.log.waitFor(CONNECTED, 45_000);
      const other = await waitAudit((a) => a.event === 'session.start' && a.user === 'newbie');
      assert.notEqual(other.detail?.address4, first.detail?.address4);
      const c3 = connect('laptop', rita, 'rita', 'rita-password-1');
      await c3.log.waitFor(CONNECTED, 45_000);
      const again = await waitAudit((a) => a.event === 'session.start' && a.user === 'rita', 1);
      assert.equal(again.detail?.address4, first.detail?.address4);
      assert.equal(again.detail?.address6, first.detail?.address6);
      await c2.stop();
      await c3.stop();
    });
  },
);
