// The PKI as the real `openvpn` 2.6 sees it: its key files are read by openvpn and openvpn's are
// read by us, and stock openvpn processes complete TLS handshakes over loopback (--dev null, no
// tunnel device) with the certificates, the tls-crypt keys and the CRL that initPki wrote.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  formatStaticKey,
  formatTlsCryptV2ServerKey,
  initPki,
  issueClient,
  parseStaticKey,
  parseTlsCryptV2ServerKey,
  writeCrl,
} from '../../src/control/pki/index.js';
import type { IssuedClient, PkiPaths } from '../../src/control/pki/index.js';

const HAVE_OPENVPN = spawnSync('openvpn', ['--version']).error === undefined;
const SKIP = HAVE_OPENVPN ? false : 'openvpn is not installed (scripts/ensure-debs.mjs adds it)';
const HANDSHAKE_TIMEOUT_MS = 15_000;
const SERVER_NAME = 'gw.example.net';

let tmp: string;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'postern-pki-ovpn-'));
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function openvpn(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openvpn', args, { encoding: 'utf8', timeout: HANDSHAKE_TIMEOUT_MS });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A running openvpn whose log is kept, so a test can wait for a line in it. */
class OpenvpnProcess {
  log = '';
  private readonly child: ChildProcess;
  private exited = false;

  constructor(args: string[]) {
    this.child = spawn('openvpn', ['--dev', 'null', '--proto', 'udp', '--verb', '3', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer): void => {
      this.log += chunk.toString('utf8');
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('exit', () => {
      this.exited = true;
    });
  }

  async waitFor(pattern: RegExp, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (pattern.test(this.log)) return true;
      if (this.exited) return pattern.test(this.log);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  }

  /** Ends this process (and only it, by its own handle) and waits until it is gone. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}

interface Handshake {
  server: OpenvpnProcess;
  client: OpenvpnProcess;
}

/**
 * Starts a p2p TLS server and a client on loopback, runs `check`, and stops both processes
 * whatever happens.
 */
async function handshake(
  serverArgs: string[],
  clientArgs: string[],
  check: (h: Handshake) => Promise<void>,
): Promise<void> {
  const port = await freeUdpPort();
  const server = new OpenvpnProcess([
    '--tls-server',
    '--dh',
    'none',
    '--local',
    '127.0.0.1',
    '--lport',
    String(port),
    '--remote-cert-tls',
    'client',
    ...serverArgs,
  ]);
  const client = new OpenvpnProcess([
    '--tls-client',
    '--nobind',
    '--remote',
    '127.0.0.1',
    String(port),
    '--remote-cert-tls',
    'server',
    ...clientArgs,
  ]);
  try {
    await check({ server, client });
  } finally {
    await Promise.all([client.stop(), server.stop()]);
  }
}

const CONNECTED = /Peer Connection Initiated/;

describe('key files and openvpn', { skip: SKIP }, () => {
  it('we read the files openvpn --genkey writes', () => {
    const secret = join(tmp, 'genkey-secret.key');
    const v2 = join(tmp, 'genkey-v2-server.key');
    assert.equal(openvpn('--genkey', 'secret', secret).status, 0);
    assert.equal(openvpn('--genkey', 'tls-crypt-v2-server', v2).status, 0);
    assert.equal(parseStaticKey(readFileSync(secret, 'utf8')).length, 256);
    assert.equal(parseTlsCryptV2ServerKey(readFileSync(v2, 'utf8')).length, 128);
  });

  it('openvpn reads the static key we write and runs its crypto self-test with it', () => {
    const ours = join(tmp, 'ours-secret.key');
    writeFileSync(ours, formatStaticKey(crypto.getRandomValues(new Uint8Array(256))));
    const r = openvpn('--test-crypto', '--secret', ours, '--cipher', 'AES-256-CBC', '--verb', '1');
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /self-test mode SUCCEEDED/);
    // The same check fails on a damaged file, so the success above means something.
    const damaged = join(tmp, 'damaged-secret.key');
    writeFileSync(damaged, readFileSync(ours, 'utf8').replace(/\n[0-9a-f]{32}\n/, '\n'));
    assert.notEqual(openvpn('--test-crypto', '--secret', damaged, '--verb', '1').status, 0);
  });

  it('openvpn wraps a client key with the tls-crypt-v2 server key we write', () => {
    const ours = join(tmp, 'ours-v2-server.key');
    const clientKey = join(tmp, 'ours-v2-client.key');
    writeFileSync(ours, formatTlsCryptV2ServerKey(crypto.getRandomValues(new Uint8Array(128))));
    const r = openvpn('--tls-crypt-v2', ours, '--genkey', 'tls-crypt-v2-client', clientKey);
    assert.equal(r.status, 0, r.out);
    assert.match(readFileSync(clientKey, 'utf8'), /BEGIN OpenVPN tls-crypt-v2 client key/);
  });
});

describe('openvpn handshakes with the PKI initPki wrote', { skip: SKIP }, () => {
  let dataDir: string;
  let paths: PkiPaths;
  let alice: IssuedClient;
  let bob: IssuedClient;
  let v2ClientKey: string;

  const serverPki = (): string[] => [
    '--ca',
    paths.caCert,
    '--cert',
    paths.serverCert,
    '--key',
    paths.serverKey,
    '--crl-verify',
    paths.crl,
  ];
  const clientPki = (who: IssuedClient, name = SERVER_NAME): string[] => [
    '--ca',
    paths.caCert,
    '--cert',
    who.paths.cert,
    '--key',
    who.paths.key,
    '--verify-x509-name',
    name,
    'name',
  ];

  before(async () => {
    dataDir = join(tmp, 'data');
    const now = new Date();
    ({ paths } = await initPki(dataDir, {
      endpoint: '203.0.113.1',
      serverName: SERVER_NAME,
      now,
    }));
    alice = await issueClient(dataDir, 'alice', { now });
    bob = await issueClient(dataDir, 'bob', { now, keyType: 'rsa-3072' });
    v2ClientKey = join(tmp, 'bob-v2-client.key');
    const r = openvpn(
      '--tls-crypt-v2',
      paths.tlsCryptV2ServerKey,
      '--genkey',
      'tls-crypt-v2-client',
      v2ClientKey,
    );
    assert.equal(r.status, 0, r.out);
  });

  it('a client connects with remote-cert-tls, verify-x509-name and tls-crypt', async () => {
    const tlsCrypt = ['--tls-crypt', paths.tlsCryptKey];
    await handshake(
      [...serverPki(), ...tlsCrypt],
      [...clientPki(alice), ...tlsCrypt],
      async (h) => {
        assert.ok(await h.client.waitFor(CONNECTED), h.client.log);
        assert.ok(await h.server.waitFor(CONNECTED), h.server.log);
        assert.match(h.client.log, /VERIFY EKU OK/);
        assert.match(h.client.log, new RegExp(`VERIFY X509NAME OK: CN=${SERVER_NAME}`));
        assert.match(h.server.log, /VERIFY OK: depth=0, CN=alice/);
      },
    );
  });

  it('an RSA client connects with tls-crypt-v2', async () => {
    await handshake(
      [...serverPki(), '--tls-crypt-v2', paths.tlsCryptV2ServerKey],
      [...clientPki(bob), '--tls-crypt-v2', v2ClientKey],
      async (h) => {
        assert.ok(await h.client.waitFor(CONNECTED), h.client.log);
        assert.ok(await h.server.waitFor(CONNECTED), h.server.log);
        assert.match(h.server.log, /VERIFY OK: depth=0, CN=bob/);
      },
    );
  });

  it('a client expecting another server name refuses the server', async () => {
    const tlsCrypt = ['--tls-crypt', paths.tlsCryptKey];
    await handshake(
      [...serverPki(), ...tlsCrypt],
      [...clientPki(alice, 'other.example.net'), ...tlsCrypt],
      async (h) => {
        assert.ok(await h.client.waitFor(/VERIFY X509NAME ERROR/), h.client.log);
        assert.doesNotMatch(h.client.log, CONNECTED);
      },
    );
  });

  it('after writeCrl revokes alice the server refuses her, and still takes bob', async () => {
    await writeCrl(dataDir, [{ serial: alice.serial, revokedAt: new Date() }], new Date(), 1);
    const tlsCrypt = ['--tls-crypt', paths.tlsCryptKey];
    await handshake(
      [...serverPki(), ...tlsCrypt],
      [...clientPki(alice), ...tlsCrypt],
      async (h) => {
        assert.ok(await h.server.waitFor(/certificate revoked: CN=alice/), h.server.log);
        assert.doesNotMatch(h.server.log, CONNECTED);
      },
    );
    await handshake([...serverPki(), ...tlsCrypt], [...clientPki(bob), ...tlsCrypt], async (h) => {
      assert.ok(await h.server.waitFor(CONNECTED), h.server.log);
    });
  });
});
