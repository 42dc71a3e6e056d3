// Stock openvpn 2.6 takes the .ovpn profile exactly as `postern profile` writes it. Each openvpn
// runs in a network namespace of this test's own, whose only interface is a down loopback, so
// the gateway address (203.0.113.2, a documentation range) is unreachable and nothing leaves the
// machine: the log shows the options parsed, the inline CA, certificate, key and tls-crypt-v2
// key loaded, and the remotes tried in the profile's order, UDP first, then TCP. Root only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postern, tempDir } from '../helpers/postern-cli.js';
import {
  deleteNamespacesSync,
  killNamespacePids,
  namespaceExists,
} from '../../src/lab/namespaces.js';
import { makeLabId, namespaceName } from '../../src/lab/names.js';

const ENDPOINT = '203.0.113.2';
const IS_ROOT = process.getuid?.() === 0;
const HAVE_OPENVPN = spawnSync('openvpn', ['--version']).error === undefined;
const SKIP = !IS_ROOT
  ? 'needs root for a network namespace'
  : !HAVE_OPENVPN
    ? 'openvpn is not installed (scripts/ensure-debs.mjs adds it)'
    : false;
const WAIT_MS = 8_000;
const POLL_MS = 50;

/** openvpn inside our namespace; its combined log is kept and it is killed by pid. */
class NamespacedOpenvpn {
  log = '';
  exited = false;
  private readonly child: ChildProcess;

  constructor(ns: string, args: string[]) {
    // `ip netns exec` execs openvpn in place, so the child's pid is openvpn's.
    this.child = spawn('ip', ['netns', 'exec', ns, 'openvpn', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer): void => {
      this.log += b.toString('utf8');
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('exit', () => {
      this.exited = true;
    });
  }

  /** Waits until the log matches every pattern, or openvpn exits, or time runs out. */
  async until(patterns: RegExp[], timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!patterns.every((p) => p.test(this.log)) && !this.exited && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async stop(): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    process.kill(this.child.pid, 'SIGTERM');
    await gone;
  }
}

describe('stock openvpn 2.6 accepts the ovpn profile as written', { skip: SKIP }, () => {
  const tmp = tempDir('postern-profile-interop-');
  const dir = join(tmp.path, 'gw');
  const ns = namespaceName(
    makeLabId('pstpf', process.pid, randomBytes(2).toString('hex').slice(0, 3)),
    'client',
  );
  const running: NamespacedOpenvpn[] = [];

  async function profile(user: string, file: string): Promise<string> {
    const path = join(tmp.path, file);
    const r = await postern(['profile', user, '--dir', dir, '--format', 'ovpn', '--out', path]);
    assert.equal(r.code, 0, r.stderr);
    return path;
  }

  function openvpn(args: string[]): NamespacedOpenvpn {
    const p = new NamespacedOpenvpn(ns, args);
    running.push(p);
    return p;
  }

  before(async () => {
    assert.equal((await postern(['init', '--dir', dir, '--endpoint', ENDPOINT])).code, 0);
    for (const [name, input] of [
      ['plain', undefined],
      ['other', undefined],
      ['otp', 'correct horse battery\n'],
    ] as const) {
      const flags = input ? ['--password-stdin', '--totp'] : [];
      const r = await postern(['user', 'add', name, '--dir', dir, ...flags], {
        ...(input ? { input } : {}),
      });
      assert.equal(r.code, 0, r.stderr);
    }
    const made = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
  });

  after(async () => {
    await Promise.all(running.map((p) => p.stop().catch(() => undefined)));
    if (namespaceExists(ns)) {
      killNamespacePids([ns]);
      deleteNamespacesSync([ns]);
    }
    tmp.remove();
  });

  it('parses it, loads the inline keys, and tries the remotes in order: UDP, then TCP', async () => {
    const file = await profile('plain', 'plain.ovpn');
    const udp = new RegExp(
      `UDPv4 link remote: \\[AF_INET\\]${ENDPOINT.replace(/\./g, '\\.')}:1194`,
    );
    const tcp = new RegExp(
      `Attempting to establish TCP connection with \\[AF_INET\\]${ENDPOINT.replace(/\./g, '\\.')}:443`,
    );
    // The profile as is, and once more with the option dump on (--verb 4 only adds logging).
    const asIs = openvpn(['--config', file]);
    const verbose = openvpn(['--config', file, '--verb', '4']);
    // Negative control: the same profile with another user's key must stop openvpn at start-up,
    // which shows openvpn really loads and checks the inline <key> against <cert>.
    const text = readFileSync(file, 'utf8');
    const otherKey = /<key>\n[\s\S]*?<\/key>/.exec(
      readFileSync(await profile('other', 'o.ovpn'), 'utf8'),
    )?.[0];
    assert.ok(otherKey);
    const wrongKeyFile = join(tmp.path, 'wrong-key.ovpn');
    writeFileSync(wrongKeyFile, text.replace(/<key>\n[\s\S]*?<\/key>/, otherKey), { mode: 0o600 });
    const wrongKey = openvpn(['--config', wrongKeyFile]);

    await Promise.all([
      asIs.until([udp, tcp]),
      verbose.until([udp, /Control Channel Encryption/]),
      wrongKey.until([/Exiting due to fatal error/]),
    ]);
    await Promise.all(running.map((p) => p.stop()));

    assert.doesNotMatch(asIs.log, /Options error|fatal error/i, asIs.log);
    assert.match(asIs.log, /OpenVPN 2\.6\./);
    assert.match(asIs.log, udp, asIs.log);
    assert.match(asIs.log, tcp, asIs.log);
    assert.ok(asIs.log.search(udp) < asIs.log.search(tcp), 'the UDP remote is tried first');

    for (const field of ['ca_file', 'cert_file', 'priv_key_file', 'tls_crypt_v2_file']) {
      assert.match(verbose.log, new RegExp(`${field} = '\\[INLINE\\]'`), `${field} is inline`);
    }
    assert.match(verbose.log, /remote_random = DISABLED/);
    assert.match(
      verbose.log,
      /Outgoing Control Channel Encryption: Cipher 'AES-256-CTR' initialized/,
    );
    assert.doesNotMatch(verbose.log, /Options error/);

    assert.ok(wrongKey.exited, 'openvpn refuses a key that is not the certificate’s');
    assert.match(wrongKey.log, /private key|Cannot load/i, wrongKey.log);
    assert.doesNotMatch(wrongKey.log, udp, 'and never gets to the network');
  });

  it("a TOTP user's profile parses too, and openvpn goes on to ask for the credentials", async () => {
    const file = await profile('otp', 'otp.ovpn');
    const p = openvpn(['--config', file]);
    await p.until([/Auth/]);
    await p.stop();
    assert.doesNotMatch(p.log, /Options error/, p.log);
    // With no terminal to ask on, openvpn stops at the user-name prompt: after every option
    // (static-challenge included) was accepted.
    assert.match(p.log, /Enter Auth Username/, p.log);
  });
});
