// The command-line contract (CONTRACT.md): exit codes 0/1/2, one-line errors without stack
// traces, --json shapes, and a gateway the CLI talks to over its unix socket.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postern, startGateway, tempDir, type RunningGateway } from '../helpers/postern-cli.js';

function oneLineError(stderr: string): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0] ?? '', /^postern: /);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('postern CLI contract', () => {
  const tmp = tempDir();
  const dir = join(tmp.path, 'gw');
  after(() => tmp.remove());

  it('init creates a data directory and says what to do next', async () => {
    const r = await postern([
      'init',
      '--dir',
      dir,
      '--endpoint',
      'vpn.example.com',
      '--route',
      '192.0.2.0/24',
      '--dns',
      '192.0.2.53',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /initialised/);
    const yaml = readFileSync(join(dir, 'postern.yaml'), 'utf8');
    assert.match(yaml, /^endpoint: vpn\.example\.com/m);
    assert.match(yaml, /routes: \[192\.0\.2\.0\/24\]/);
    assert.match(yaml, /dns: \[192\.0\.2\.53\]/);
    assert.match(yaml, /# .*/, 'the file is commented');
    assert.equal(statSync(join(dir, 'postern.db')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'pki', 'ca.key')).mode & 0o777, 0o600);
  });

  it('a second init into the same directory refuses with exit 1; --force starts over', async () => {
    const caBefore = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
    const r = await postern(['init', '--dir', dir, '--endpoint', 'vpn.example.com']);
    assert.equal(r.code, 1);
    oneLineError(r.stderr);
    assert.match(r.stderr, /not empty/);
    assert.equal(
      readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'),
      caBefore,
      'the old CA is untouched',
    );

    const other = join(tmp.path, 'forced');
    assert.equal((await postern(['init', '--dir', other, '--endpoint', 'a.example'])).code, 0);
    const caOld = readFileSync(join(other, 'pki', 'ca.crt'), 'utf8');
    const f = await postern(['init', '--dir', other, '--endpoint', 'b.example', '--force']);
    assert.equal(f.code, 0, f.stderr);
    assert.notEqual(readFileSync(join(other, 'pki', 'ca.crt'), 'utf8'), caOld);
    assert.match(readFileSync(join(other, 'postern.yaml'), 'utf8'), /^endpoint: b\.example/m);
  });

  it('usage errors exit 2 with one line', async () => {
    for (const args of [
      ['init', '--dir', join(tmp.path, 'x')],
      ['frobnicate'],
      ['user', 'add'],
      ['init', '--dir', join(tmp.path, 'y'), '--endpoint', 'e', '--route', 'not-a-cidr'],
      ['audit', '--dir', dir, '--since', 'yesterday-ish'],
      ['rekey', '--dir', dir],
    ]) {
      const r = await postern(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      oneLineError(r.stderr);
    }
  });

  it('user add / list / revoke / del, with --json shapes', async () => {
    const add = await postern(
      ['user', 'add', 'alice', '--dir', dir, '--password-stdin', '--totp', '--json'],
      { input: 'correct horse battery\n' },
    );
    assert.equal(add.code, 0, add.stderr);
    const added = JSON.parse(add.stdout) as {
      name: string;
      groups: string[];
      serial: string;
      totp: { uri: string };
    };
    assert.equal(added.name, 'alice');
    assert.deepEqual(added.groups, ['default']);
    assert.match(added.serial, /^[0-9a-f]+$/);
    assert.match(added.totp.uri, /^otpauth:\/\/totp\/.*alice\?secret=[A-Z2-7]+/);

    const human = await postern(['user', 'add', 'bob', '--dir', dir, '--totp']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /otpauth:\/\//);
    assert.match(human.stdout, /[█▀▄]/, 'a QR code is drawn in the terminal');

    const dup = await postern(['user', 'add', 'alice', '--dir', dir]);
    assert.equal(dup.code, 1);
    oneLineError(dup.stderr);
    const badGroup = await postern(['user', 'add', 'carol', '--dir', dir, '--group', 'nosuch']);
    assert.equal(badGroup.code, 1);
    assert.match(badGroup.stderr, /group "nosuch" is not defined/);
    const badName = await postern(['user', 'add', '../etc', '--dir', dir]);
    assert.equal(badName.code, 1);
    oneLineError(badName.stderr);

    const list = JSON.parse((await postern(['user', 'list', '--dir', dir, '--json'])).stdout) as {
      name: string;
      status: string;
      password: boolean;
      totp: boolean;
      certificates: unknown[];
    }[];
    assert.deepEqual(
      list.map((u) => [u.name, u.status, u.password, u.totp]),
      [
        ['alice', 'active', true, true],
        ['bob', 'active', false, true],
      ],
    );

    const rev = await postern(['user', 'revoke', 'bob', '--dir', dir, '--json']);
    assert.equal(rev.code, 0, rev.stderr);
    assert.equal((JSON.parse(rev.stdout) as { revoked: string[] }).revoked.length, 1);
    const after = JSON.parse((await postern(['user', 'list', '--dir', dir, '--json'])).stdout) as {
      name: string;
      status: string;
    }[];
    assert.equal(after.find((u) => u.name === 'bob')?.status, 'revoked');

    const del = await postern(['user', 'del', 'bob', '--dir', dir]);
    assert.equal(del.code, 0, del.stderr);
    const names = (
      JSON.parse((await postern(['user', 'list', '--dir', dir, '--json'])).stdout) as {
        name: string;
      }[]
    ).map((u) => u.name);
    assert.deepEqual(names, ['alice']);
    const gone = await postern(['user', 'revoke', 'bob', '--dir', dir]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no user "bob"/);
  });

  it('admin actions are audit records, with --json and --since', async () => {
    const r = await postern(['audit', '--dir', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const recs = JSON.parse(r.stdout) as {
      time: string;
      event: string;
      user: string | null;
      remote: string | null;
      result: string;
      reason: string | null;
    }[];
    for (const rec of recs)
      for (const k of ['time', 'event', 'user', 'remote', 'result', 'reason'])
        assert.ok(k in rec, `audit record has ${k}`);
    assert.deepEqual(
      recs.map((x) => `${x.event} ${x.user ?? '-'} ${x.reason}`),
      [
        'admin - init',
        'admin alice user.add',
        'admin bob user.add',
        'revoke bob user.revoke',
        'revoke bob user.revoke',
        'admin bob user.del',
      ],
    );
    const future = await postern([
      'audit',
      '--dir',
      dir,
      '--json',
      '--since',
      '2999-01-01T00:00:00Z',
    ]);
    assert.deepEqual(JSON.parse(future.stdout), []);
    const acct = await postern(['accounting', '--dir', dir, '--json']);
    assert.equal(acct.code, 0, acct.stderr);
    assert.deepEqual(JSON.parse(acct.stdout), []);
  });

  it('a command on a directory that was never initialised says so', async () => {
    const r = await postern(['user', 'list', '--dir', join(tmp.path, 'never')]);
    assert.equal(r.code, 1);
    oneLineError(r.stderr);
    assert.match(r.stderr, /postern init/);
  });

  describe('with a running gateway', () => {
    let gw: RunningGateway;
    before(async () => {
      // This gateway runs in the test's own namespace: no VPN listeners, so no TUN device and
      // no forwarding change here (the lab tests run full gateways in namespaces of their own).
      const file = join(dir, 'postern.yaml');
      const yaml = readFileSync(file, 'utf8').replace(
        /^openvpn:(.*)\n {2}enabled: true/m,
        'openvpn:$1\n  enabled: false',
      );
      assert.match(yaml, /^openvpn:.*\n {2}enabled: false/m);
      writeFileSync(file, yaml);
      gw = await startGateway(dir);
    });
    after(async () => {
      await gw.stop();
    });

    it('logs JSON lines with "event":"ready", and its socket is private', () => {
      const ready = gw.lines.find((l) => l.event === 'ready');
      assert.ok(ready);
      assert.equal(statSync(join(dir, 'postern.sock')).mode & 0o777, 0o600);
    });

    it('status answers (exit 0) with --json', async () => {
      const r = await postern(['status', '--dir', dir, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as {
        pid: number;
        sessions: number;
        listeners: { kind: string }[];
      };
      assert.equal(s.pid, gw.proc.pid);
      assert.equal(s.sessions, 0);
      assert.ok(s.listeners.some((l) => l.kind === 'api'));
      const sessions = await postern(['sessions', '--dir', dir, '--json']);
      assert.equal(sessions.code, 0, sessions.stderr);
      assert.deepEqual(JSON.parse(sessions.stdout), []);
      const kick = await postern(['kick', 'nosuch', '--dir', dir]);
      assert.equal(kick.code, 1);
      assert.match(kick.stderr, /no live session nosuch/);
    });

    it('a second gateway on the same directory refuses', async () => {
      const r = await postern(['server', '--dir', dir]);
      assert.equal(r.code, 1);
      oneLineError(r.stderr);
      assert.match(r.stderr, /already answers/);
    });

    it('reload applies a good file, and refuses a broken one naming the file and line', async () => {
      const file = join(dir, 'postern.yaml');
      const good = readFileSync(file, 'utf8');
      assert.equal((await postern(['reload', '--dir', dir])).code, 0);
      const lines = good.split('\n');
      const at = lines.findIndex((l) => l.includes('reneg-sec:'));
      lines[at] = '  reneg-sec: soon';
      writeFileSync(file, lines.join('\n'));
      const r = await postern(['reload', '--dir', dir]);
      assert.equal(r.code, 1);
      oneLineError(r.stderr);
      assert.ok(
        r.stderr.includes(`${file}:${at + 1}:`),
        `names file and line ${at + 1}: ${r.stderr}`,
      );
      assert.match(r.stderr, /reneg-sec/);

      gw.proc.kill('SIGHUP');
      await gw.waitFor((l) => l.event === 'reload' && l.result === 'fail');
      const still = await postern(['status', '--dir', dir]);
      assert.equal(still.code, 0, 'the gateway keeps running on the old configuration');
      writeFileSync(file, good);
      gw.proc.kill('SIGHUP');
      await gw.waitFor((l) => l.event === 'reload' && l.result === 'ok');
    });

    it('stops cleanly on SIGTERM, and status then fails with exit 1', async () => {
      assert.equal(await gw.stop('SIGTERM'), 0);
      assert.ok(gw.lines.some((l) => l.event === 'stopped'));
      const r = await postern(['status', '--dir', dir]);
      assert.equal(r.code, 1);
      oneLineError(r.stderr);
      assert.match(r.stderr, /no gateway answers/);
    });
  });

  it('a broken postern.yaml is named with its line when the server starts', async () => {
    const bad = join(tmp.path, 'bad');
    assert.equal((await postern(['init', '--dir', bad, '--endpoint', 'vpn.example.com'])).code, 0);
    const file = join(bad, 'postern.yaml');
    const lines = readFileSync(file, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.startsWith('openvpn:')) + 1;
    lines.splice(at, 0, '  colour: blue');
    writeFileSync(file, lines.join('\n'));
    const r = await postern(['server', '--dir', bad]);
    assert.equal(r.code, 1);
    oneLineError(r.stderr);
    assert.ok(
      r.stderr.includes(`${file}:${at + 1}: openvpn.colour: unknown key "colour"`),
      r.stderr,
    );
  });
});
