// `postern profile`: what an admin hands a user. The .ovpn file carries every inline block a
// stock OpenVPN client needs, follows the listeners in postern.yaml, asks for a password or a
// one-time code only when the user has one, and is mode 0600; its certificate verifies against
// the CA with openssl, and its tls-crypt-v2 key opens with the gateway's server key and names
// the user. The Postern JSON profile loads with the loader `postern connect` uses; a mangled one
// is refused with the file and the fault named.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postern, tempDir } from '../helpers/postern-cli.js';
import {
  parseClientKeyFile,
  tlsCryptV2ServerKey,
  unwrapClientKey,
} from '../../src/crypto/tls-crypt-v2.js';
import { readTlsCryptKey, readTlsCryptV2ServerKey } from '../../src/control/pki/index.js';
import {
  loadPosternProfile,
  parsePosternProfile,
  readProfileKeyOwner,
  type PosternProfile,
} from '../../src/control/profile/index.js';
import { parseStaticKey } from '../../src/control/pki/index.js';

const ENDPOINT = 'vpn.example.com';
const PASSWORD = 'correct horse battery\n';

function oneLineError(stderr: string): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0] ?? '', /^postern: /);
}

/** The body of an inline <tag>…</tag> block of an .ovpn file. */
function block(ovpn: string, tag: string): string {
  const m = new RegExp(`^<${tag}>\\n([\\s\\S]*?)\\n</${tag}>$`, 'm').exec(ovpn);
  assert.ok(m?.[1], `the profile has an inline <${tag}> block`);
  return `${m[1]}\n`;
}

function options(ovpn: string): string[] {
  const head = ovpn.slice(0, ovpn.indexOf('\n<'));
  return head.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

function openssl(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('postern profile', () => {
  const tmp = tempDir('postern-profile-');
  const dir = join(tmp.path, 'gw');
  const yamlPath = join(dir, 'postern.yaml');
  let yaml = '';
  const serials = new Map<string, string>();

  async function ovpn(user: string): Promise<string> {
    const r = await postern(['profile', user, '--dir', dir, '--format', 'ovpn']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }

  before(async () => {
    const init = await postern(['init', '--dir', dir, '--endpoint', ENDPOINT]);
    assert.equal(init.code, 0, init.stderr);
    yaml = readFileSync(yamlPath, 'utf8');
    const users: [string, string[], string | undefined][] = [
      ['plain', [], undefined],
      ['pw', ['--password-stdin'], PASSWORD],
      ['otp', ['--password-stdin', '--totp'], PASSWORD],
      ['otponly', ['--totp'], undefined],
      ['gone', [], undefined],
    ];
    for (const [name, flags, input] of users) {
      const r = await postern(['user', 'add', name, '--dir', dir, '--json', ...flags], {
        ...(input ? { input } : {}),
      });
      assert.equal(r.code, 0, r.stderr);
      serials.set(name, (JSON.parse(r.stdout) as { serial: string }).serial);
    }
    assert.equal((await postern(['user', 'revoke', 'gone', '--dir', dir])).code, 0);
  });

  after(() => tmp.remove());

  it('the ovpn profile is a complete client config with every key inline', async () => {
    const text = await ovpn('plain');
    const opts = options(text);
    for (const o of [
      'client',
      'dev tun',
      'nobind',
      'persist-tun',
      'resolv-retry infinite',
      'remote-cert-tls server',
      `verify-x509-name ${ENDPOINT} name`,
      'data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305',
      'auth-nocache',
      'explicit-exit-notify 1',
      'verb 3',
    ]) {
      assert.ok(opts.includes(o), `has "${o}"`);
    }
    assert.deepEqual(
      opts.filter((o) => o.startsWith('remote ')),
      [`remote ${ENDPOINT} 1194 udp`, `remote ${ENDPOINT} 443 tcp`],
      'one remote per default listener, UDP first',
    );
    assert.ok(!opts.some((o) => o.startsWith('remote-random')), 'remotes are tried in order');
    assert.ok(!opts.includes('auth-user-pass'), 'no password prompt for a certificate-only user');
    assert.ok(!opts.some((o) => o.startsWith('static-challenge')));
    assert.match(block(text, 'ca'), /^-----BEGIN CERTIFICATE-----/);
    assert.match(block(text, 'cert'), /^-----BEGIN CERTIFICATE-----/);
    assert.match(block(text, 'key'), /^-----BEGIN PRIVATE KEY-----/);
    assert.match(block(text, 'tls-crypt-v2'), /^-----BEGIN OpenVPN tls-crypt-v2 client key-----/);
    assert.doesNotMatch(text, /<tls-crypt>/);
  });

  it('the inline certificate is the user’s newest, and verifies against the CA', async () => {
    const text = await ovpn('plain');
    writeFileSync(join(tmp.path, 'ca.pem'), block(text, 'ca'));
    writeFileSync(join(tmp.path, 'cert.pem'), block(text, 'cert'));
    writeFileSync(join(tmp.path, 'key.pem'), block(text, 'key'));
    const verify = openssl(['verify', '-CAfile', 'ca.pem', 'cert.pem'], tmp.path);
    assert.equal(verify.status, 0, verify.out);
    assert.match(verify.out, /cert\.pem: OK/);
    const subject = openssl(['x509', '-in', 'cert.pem', '-noout', '-subject', '-serial'], tmp.path);
    assert.match(subject.out, /CN\s*=\s*plain/);
    assert.equal(
      /serial=([0-9A-F]+)/
        .exec(subject.out)?.[1]
        ?.replace(/^(00)+/, '')
        .toLowerCase(),
      serials.get('plain'),
    );
    // The key is the certificate's: their public keys are the same.
    const fromCert = openssl(['x509', '-in', 'cert.pem', '-noout', '-pubkey'], tmp.path).out;
    const fromKey = openssl(['pkey', '-in', 'key.pem', '-pubout'], tmp.path).out;
    assert.equal(fromKey, fromCert);
  });

  it('the tls-crypt-v2 key opens with the gateway’s server key and names user and serial', async () => {
    const first = block(await ovpn('plain'), 'tls-crypt-v2');
    const second = block(await ovpn('plain'), 'tls-crypt-v2');
    assert.notEqual(first, second, 'every export gets a fresh client key');
    const server = tlsCryptV2ServerKey(await readTlsCryptV2ServerKey(dir));
    const file = parseClientKeyFile(first);
    assert.ok(file.ok);
    const opened = unwrapClientKey(server, file.wkc);
    assert.ok(opened.ok, 'WKc authenticates under the server key');
    assert.deepEqual(opened.clientKey, file.clientKey, 'and holds the same Kc as the file');
    assert.equal(opened.decoded.type, 'user');
    assert.deepEqual(readProfileKeyOwner(opened.decoded), {
      user: 'plain',
      serial: serials.get('plain'),
    });
    const bytes = file.wkc.slice();
    bytes[40] = (bytes[40] ?? 0) ^ 1;
    assert.equal(unwrapClientKey(server, bytes).ok, false, 'a flipped bit is refused');
  });

  it('asks for a password only for password users, and for a one-time code only for TOTP users', async () => {
    const pw = options(await ovpn('pw'));
    assert.ok(pw.includes('auth-user-pass'));
    assert.ok(!pw.some((o) => o.startsWith('static-challenge')));
    const otp = options(await ovpn('otp'));
    assert.ok(otp.includes('auth-user-pass'));
    assert.ok(otp.includes('static-challenge "One-time code" 1'));
    const otpOnly = options(await ovpn('otponly'));
    assert.ok(otpOnly.includes('auth-user-pass'), 'the code travels in the password field');
    assert.ok(otpOnly.includes('static-challenge "One-time code" 1'));
  });

  it('--out writes the profile with mode 0600, replacing a more open file', async () => {
    const out = join(tmp.path, 'pw.ovpn');
    writeFileSync(out, 'old');
    chmodSync(out, 0o644);
    const r = await postern(['profile', 'pw', '--dir', dir, '--format', 'ovpn', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.match(readFileSync(out, 'utf8'), /^client$/m);
    assert.doesNotMatch(r.stdout, /PRIVATE KEY/, 'nothing secret on stdout with --out');
  });

  it('the remotes follow the OpenVPN listeners in postern.yaml', async () => {
    const listeners =
      / {4}- \{ proto: udp, address: "::", port: 1194 \}\n {4}- \{ proto: tcp, address: "::", port: 443 \}\n/;
    assert.match(yaml, listeners);
    try {
      writeFileSync(
        yamlPath,
        yaml.replace(
          listeners,
          [
            '    - { proto: tcp, address: "::", port: 8443 }',
            '    - { proto: udp, address: "::", port: 1195 }',
            '    - { proto: udp, address: "0.0.0.0", port: 53 }',
            '',
          ].join('\n'),
        ),
      );
      const remotes = options(await ovpn('plain')).filter((o) => o.startsWith('remote '));
      assert.deepEqual(remotes, [
        `remote ${ENDPOINT} 1195 udp`,
        `remote ${ENDPOINT} 53 udp`,
        `remote ${ENDPOINT} 8443 tcp`,
      ]);

      writeFileSync(
        yamlPath,
        yaml.replace(listeners, '    - { proto: tcp, address: "::", port: 443 }\n'),
      );
      const tcpOnly = options(await ovpn('plain'));
      assert.deepEqual(
        tcpOnly.filter((o) => o.startsWith('remote ')),
        [`remote ${ENDPOINT} 443 tcp`],
      );
      assert.ok(!tcpOnly.includes('explicit-exit-notify 1'), 'only meaningful over UDP');

      writeFileSync(yamlPath, yaml.replace(`  listen:\n`, '  listen: []\n').replace(listeners, ''));
      const none = await postern(['profile', 'plain', '--dir', dir, '--format', 'ovpn']);
      assert.equal(none.code, 1);
      oneLineError(none.stderr);
      assert.match(none.stderr, /no OpenVPN listener/);
    } finally {
      writeFileSync(yamlPath, yaml);
    }
  });

  it('with tls-crypt: v1 the shared key is inline as <tls-crypt>', async () => {
    try {
      writeFileSync(yamlPath, yaml.replace(/^ {2}tls-crypt: v2 /m, '  tls-crypt: v1 '));
      const text = await ovpn('plain');
      assert.doesNotMatch(text, /<tls-crypt-v2>/);
      assert.deepEqual(parseStaticKey(block(text, 'tls-crypt')), await readTlsCryptKey(dir));
    } finally {
      writeFileSync(yamlPath, yaml);
    }
  });

  it('a revoked or unknown user gets no profile: exit 1, one line, no file', async () => {
    const out = join(tmp.path, 'gone.ovpn');
    const gone = await postern(['profile', 'gone', '--dir', dir, '--format', 'ovpn', '--out', out]);
    assert.equal(gone.code, 1);
    oneLineError(gone.stderr);
    assert.match(gone.stderr, /user "gone" is revoked/);
    assert.throws(() => statSync(out), /ENOENT/);
    assert.equal(gone.stdout, '');

    const nobody = await postern(['profile', 'nobody', '--dir', dir, '--format', 'postern']);
    assert.equal(nobody.code, 1);
    oneLineError(nobody.stderr);
    assert.match(nobody.stderr, /no user "nobody"/);

    const usage = await postern(['profile', 'plain', '--dir', dir, '--format', 'pem']);
    assert.equal(usage.code, 2);
    oneLineError(usage.stderr);
  });

  it('the postern profile loads with the client’s loader and carries everything', async () => {
    const out = join(tmp.path, 'otp.json');
    const r = await postern(['profile', 'otp', '--dir', dir, '--format', 'postern', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const p = loadPosternProfile(out);
    assert.equal(p.postern, 1);
    assert.equal(p.user, 'otp');
    assert.equal(p.name, 'postern');
    assert.deepEqual(p.remotes, [
      { proto: 'udp', host: ENDPOINT, port: 1194 },
      { proto: 'tcp', host: ENDPOINT, port: 443 },
    ]);
    assert.equal(p.verifyName, ENDPOINT);
    assert.deepEqual(p.dataCiphers, ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']);
    assert.deepEqual(p.auth, { password: true, totp: true });
    assert.equal(p.tlsCrypt.version, 'v2');
    const server = tlsCryptV2ServerKey(await readTlsCryptV2ServerKey(dir));
    const file = parseClientKeyFile(p.tlsCrypt.key);
    assert.ok(file.ok);
    const opened = unwrapClientKey(server, file.wkc);
    assert.ok(opened.ok);
    assert.equal(readProfileKeyOwner(opened.decoded)?.user, 'otp');

    const stdout = await postern(['profile', 'plain', '--dir', dir, '--format', 'postern']);
    assert.equal(stdout.code, 0, stdout.stderr);
    assert.deepEqual(parsePosternProfile(stdout.stdout, '-').auth, {
      password: false,
      totp: false,
    });
  });

  it('a mangled postern profile is refused, naming the file and what is wrong', async () => {
    const path = join(tmp.path, 'mangled.json');
    const good = (await postern(['profile', 'pw', '--dir', dir, '--format', 'postern'])).stdout;
    const other = JSON.parse(
      (await postern(['profile', 'plain', '--dir', dir, '--format', 'postern'])).stdout,
    ) as PosternProfile;
    const cases: [string, (p: Record<string, unknown>) => unknown, RegExp][] = [
      ['missing CA', ({ ca: _ca, ...rest }) => rest, /: ca: missing/],
      ['someone else’s key', (p) => ({ ...p, key: other.key }), /: key: does not match/],
      [
        'a flipped byte in the certificate',
        (p) => ({ ...p, cert: flip(p.cert as string) }),
        /: cert: /,
      ],
      ['no remotes', (p) => ({ ...p, remotes: [] }), /: remotes: at least one remote/],
      [
        'a bad port',
        (p) => ({ ...p, remotes: [{ proto: 'udp', host: 'h', port: 0 }] }),
        /remotes\.0\.port/,
      ],
      [
        'a bad tls-crypt key',
        (p) => ({ ...p, tlsCrypt: { version: 'v2', key: 'x' } }),
        /tlsCrypt\.key: not an OpenVPN tls-crypt-v2/,
      ],
      ['a newer format', (p) => ({ ...p, postern: 2 }), /format 2 is newer/],
      ['no format number', ({ postern: _v, ...rest }) => rest, /not a Postern profile/],
    ];
    for (const [what, mangle, expected] of cases) {
      writeFileSync(path, JSON.stringify(mangle(JSON.parse(good) as Record<string, unknown>)));
      assert.throws(
        () => loadPosternProfile(path),
        (e: Error) => {
          assert.ok(e.message.startsWith(`${path}: `), `${what}: names the file: ${e.message}`);
          assert.match(e.message, expected, what);
          return true;
        },
      );
    }
    writeFileSync(path, '# not json\nclient\n');
    assert.throws(() => loadPosternProfile(path), /not JSON/);
    assert.throws(() => loadPosternProfile(join(tmp.path, 'absent.json')), /cannot read/);
  });

  it('every export is an audit record', async () => {
    const r = await postern(['audit', '--dir', dir, '--json']);
    const records = JSON.parse(r.stdout) as {
      event: string;
      user: string | null;
      result: string;
      reason: string | null;
      detail?: { format?: string };
    }[];
    const exports = records.filter((x) => x.reason === 'profile.export');
    assert.ok(
      exports.some(
        (x) =>
          x.event === 'admin' &&
          x.user === 'otp' &&
          x.result === 'ok' &&
          x.detail?.format === 'postern',
      ),
    );
    assert.ok(exports.some((x) => x.user === 'gone' && x.result === 'fail'));
  });
});

/** The PEM with one base64 character inside its body changed. */
function flip(pem: string): string {
  const i = pem.indexOf('\n') + 30;
  const c = pem[i] === 'A' ? 'B' : 'A';
  return pem.slice(0, i) + c + pem.slice(i + 1);
}
