// The OpenVPN session cores against the real `openvpn` 2.6, in a network namespace of the test's
// own (loopback only). Our side runs in test/interop/fixtures/openvpn-core-harness.ts, a small
// UDP driver started inside the namespace; it reports what the cores did as JSON lines, and the
// real openvpn logs at verb 7 what it accepted ("RECEIVED PING PACKET" is printed only for a
// keepalive that decrypted and authenticated under our keys).
//
//   (a) our ServerSession ← real `openvpn --client` (tls-crypt), with a renegotiation started by
//       the client (--reneg-sec) and one started by us (rekey), then the client's EXIT
//   (b) our ClientSession → real `openvpn --server` (tun, topology subnet), with the server's
//       own renegotiation, then our EXIT
//   (c) (a) with tls-crypt-v2: WKc, early negotiation, CONTROL_WKC_V1, all statelessly started
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createCa,
  formatStaticKey,
  generateStaticKey,
  generateTlsCryptV2ServerKey,
  issueClientCert,
  issueServerCert,
} from '../../src/control/pki/index.js';
import type { Issued } from '../../src/control/pki/index.js';
import {
  formatClientKeyFile,
  formatServerKeyFile,
  generateClientKey,
  tlsCryptV2ServerKey,
} from '../../src/crypto/tls-crypt-v2.js';
import { makeLabId, namespaceName, RAND_DIGITS } from '../../src/lab/names.js';
import type { HarnessConfig } from './fixtures/openvpn-core-harness.js';

const HARNESS = fileURLToPath(new URL('./fixtures/openvpn-core-harness.js', import.meta.url));
const PORT = 1194;
const isRoot = process.getuid?.() === 0;
const hasOpenvpn = spawnSync('openvpn', ['--version']).error === undefined;
const skip = !isRoot ? 'needs root (network namespaces)' : !hasOpenvpn ? 'needs openvpn' : false;

// Everything started here, so it can be removed however the test ends.
const livePids = new Set<number>();
const liveNamespaces = new Set<string>();

function cleanupSync(): void {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  livePids.clear();
  for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'del', ns]);
  liveNamespaces.clear();
}
process.on('exit', cleanupSync);

function newNamespace(): string {
  // A lab-style name (prefix, owner pid, random): the lab's sweeper removes it should this
  // process be killed before its own cleanup runs.
  const rand = randomBytes(2)
    .readUInt16BE(0)
    .toString(36)
    .padStart(RAND_DIGITS, '0')
    .slice(-RAND_DIGITS);
  const ns = namespaceName(makeLabId('pstovc', process.pid, rand), 'core');
  const add = spawnSync('ip', ['netns', 'add', ns]);
  assert.equal(add.status, 0, `ip netns add ${ns}: ${String(add.stderr)}`);
  liveNamespaces.add(ns);
  const up = spawnSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  assert.equal(up.status, 0);
  return ns;
}

function deleteNamespace(ns: string): void {
  spawnSync('ip', ['netns', 'del', ns]);
  liveNamespaces.delete(ns);
}

/** A process in the namespace (`ip netns exec` execs, so the pid is the program's own). */
class Proc {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private partial = '';
  private readonly waiters: (() => void)[] = [];

  constructor(
    ns: string,
    argv: string[],
    private readonly name: string,
  ) {
    this.child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid !== undefined) livePids.add(this.child.pid);
    const onData = (chunk: Buffer): void => {
      const text = this.partial + chunk.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.child.on('exit', () => {
      if (this.child.pid !== undefined) livePids.delete(this.child.pid);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Waits until `match` finds something in the output; fails after `ms`. */
  async waitFor<T>(
    what: string,
    match: (lines: string[]) => T | undefined,
    ms: number,
  ): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const found = match(this.lines);
      if (found !== undefined) return found;
      const left = end - Date.now();
      if (left <= 0) {
        assert.fail(
          `timed out waiting for ${what}; last output:\n${this.lines.slice(-25).join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        // already gone
      }
    }
  }

  async stop(): Promise<void> {
    // OVCORE_LOG_DIR=/some/dir keeps every process's output for a look after the run.
    const keep = process.env.OVCORE_LOG_DIR;
    if (keep !== undefined) writeFileSync(join(keep, `${this.name}.log`), this.lines.join('\n'));
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

type HarnessEvent = Record<string, unknown> & { event: string };

function events(lines: string[]): HarnessEvent[] {
  return lines.flatMap((l) => {
    if (!l.startsWith('{')) return [];
    try {
      return [JSON.parse(l) as HarnessEvent];
    } catch {
      return [];
    }
  });
}

function findEvent(p: Proc, test: (e: HarnessEvent) => boolean): HarnessEvent | undefined {
  return events(p.lines).find(test);
}

function waitEvent(p: Proc, what: string, test: (e: HarnessEvent) => boolean, ms = 10_000) {
  return p.waitFor(what, () => findEvent(p, test), ms);
}

function waitLine(p: Proc, what: string, re: RegExp, ms = 10_000): Promise<string> {
  return p.waitFor(what, (lines) => lines.find((l) => re.test(l)), ms);
}

const pingOk = (keyId: number) => (e: HarnessEvent) =>
  e.event === 'data' && e.keyId === keyId && e.result === 'ok' && e.ping === true;

describe('OpenVPN session cores against openvpn 2.6', { skip }, () => {
  let dir: string;
  let ca: Issued;
  let server: Issued;
  let client: Issued;
  let tlsCrypt: Uint8Array;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-ovcore-'));
    const now = new Date();
    ca = await createCa({ commonName: 'Postern Interop CA', now });
    server = await issueServerCert(ca, { commonName: 'gw', endpoint: '127.0.0.1', now });
    client = await issueClientCert(ca, { commonName: 'alice', now });
    tlsCrypt = generateStaticKey();
    const files: Record<string, string> = {
      'ca.crt': ca.certPem,
      'server.crt': server.certPem,
      'server.key': server.keyPem,
      'client.crt': client.certPem,
      'client.key': client.keyPem,
      'tls-crypt.key': formatStaticKey(tlsCrypt),
    };
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(dir, name), text, { mode: 0o600 });
    }
  });

  after(() => {
    cleanupSync();
    rmSync(dir, { recursive: true, force: true });
  });

  function harness(ns: string, name: string, config: HarnessConfig): Proc {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    return new Proc(ns, [process.execPath, '--enable-source-maps', HARNESS, file], name);
  }

  function realClient(ns: string, name: string, extra: string[]): Proc {
    return new Proc(
      ns,
      [
        'openvpn',
        '--client',
        '--dev',
        'null',
        '--nobind',
        '--remote',
        '127.0.0.1',
        String(PORT),
        '--proto',
        'udp4',
        '--remote-cert-tls',
        'server',
        '--ca',
        join(dir, 'ca.crt'),
        '--cert',
        join(dir, 'client.crt'),
        '--key',
        join(dir, 'client.key'),
        '--ifconfig-noexec',
        '--route-noexec',
        '--explicit-exit-notify',
        '1',
        '--verb',
        '7',
        ...extra,
      ],
      name,
    );
  }

  function stockServer(ns: string, name: string, extra: string[]): Proc {
    return new Proc(
      ns,
      [
        'openvpn',
        '--server',
        '100.64.0.0',
        '255.255.255.0',
        '--topology',
        'subnet',
        '--dev',
        'tun',
        '--dh',
        'none',
        '--ca',
        join(dir, 'ca.crt'),
        '--cert',
        join(dir, 'server.crt'),
        '--key',
        join(dir, 'server.key'),
        '--tls-crypt',
        join(dir, 'tls-crypt.key'),
        '--data-ciphers',
        'AES-256-GCM',
        '--proto',
        'udp4',
        '--local',
        '127.0.0.1',
        '--port',
        String(PORT),
        '--keepalive',
        '1',
        '10',
        '--verb',
        '7',
        ...extra,
      ],
      name,
    );
  }

  const PUSH: HarnessConfig['push'] = {
    topology: 'subnet',
    routeGateway: '100.64.0.1',
    routes: [{ network: '198.18.0.0', netmask: '255.254.0.0' }],
    ping: 1,
    pingRestart: 10,
    ifconfig: { local: '100.64.0.2', netmask: '255.255.255.0' },
  };

  it('(a) our server: a stock client connects, pulls, renegotiates both ways and says EXIT', async () => {
    const ns = newNamespace();
    const procs: Proc[] = [];
    try {
      const ours = harness(ns, 'server-a', {
        mode: 'server',
        port: PORT,
        ca: ca.certPem,
        cert: server.certPem,
        key: server.keyPem,
        tlsCrypt: Buffer.from(tlsCrypt).toString('hex'),
        push: PUSH,
        peerId: 5,
        rekeyAfterMs: 6000,
      });
      procs.push(ours);
      await waitEvent(ours, 'listening', (e) => e.event === 'listening');
      const stock = realClient(ns, 'openvpn-client-a', [
        '--tls-crypt',
        join(dir, 'tls-crypt.key'),
        '--reneg-sec',
        '4',
      ]);
      procs.push(stock);

      await waitLine(stock, 'the client to complete', /Initialization Sequence Completed/);
      const pushLine = await waitLine(
        stock,
        'PUSH_REPLY',
        /PUSH: Received control message: 'PUSH_REPLY/,
      );
      assert.match(
        pushLine,
        /'PUSH_REPLY,route 198\.18\.0\.0 255\.254\.0\.0,route-gateway 100\.64\.0\.1,topology subnet,ping 1,ping-restart 10,ifconfig 100\.64\.0\.2 255\.255\.255\.0,peer-id 5,cipher AES-256-GCM,protocol-flags cc-exit tls-ekm dyn-tls-crypt'/,
      );

      // The stateless start: a reply, then a session only on the cookie-bearing packet.
      const contacts = events(ours.lines).filter((e) => e.event === 'first-contact');
      assert.deepEqual(
        contacts.map((e) => e.verdict),
        ['reply', 'open'],
      );
      const auth = findEvent(ours, (e) => e.event === 'authenticate');
      assert.equal(auth?.commonName, 'alice');
      assert.equal(auth?.cipher, 'AES-256-GCM');
      assert.match(String(auth?.ivVer), /^2\.6\./);
      const keys0 = findEvent(ours, (e) => e.event === 'keys' && e.keyId === 0);
      assert.equal(keys0?.derivation, 'tls-ekm');
      assert.equal(keys0?.peerId, 5);

      // Both directions of the data channel work under key 0.
      await waitEvent(ours, 'the client keepalive decrypting to the ping magic', pingOk(0));
      await waitLine(stock, 'the client accepting our ping', /RECEIVED PING PACKET/);

      // The client renegotiates at reneg-sec 4: key 1 (SOFT_RESET, dynamic tls-crypt).
      await waitEvent(
        ours,
        'keys for key id 1',
        (e) => e.event === 'keys' && e.keyId === 1,
        10_000,
      );
      await waitEvent(ours, 'a client ping under key 1', pingOk(1), 5000);
      // We renegotiate 6 s after establishing: key 2.
      await waitEvent(
        ours,
        'keys for key id 2',
        (e) => e.event === 'keys' && e.keyId === 2,
        10_000,
      );
      await waitEvent(ours, 'a client ping under key 2', pingOk(2), 5000);
      const pingsBefore = stock.lines.filter((l) => l.includes('RECEIVED PING PACKET')).length;
      await stock.waitFor(
        'the client accepting a ping under the newest key',
        (lines) =>
          lines.filter((l) => l.includes('RECEIVED PING PACKET')).length > pingsBefore
            ? true
            : undefined,
        5000,
      );
      assert.equal(
        stock.lines.filter((l) => /AEAD Decrypt error|Authenticate\/Decrypt packet error/.test(l))
          .length,
        0,
        'the client never failed to decrypt our packets',
      );

      // SIGTERM with explicit-exit-notify and cc-exit: an EXIT on the control channel.
      stock.signal('SIGTERM');
      const closed = await waitEvent(ours, 'the session to close', (e) => e.event === 'closed');
      assert.equal(closed.reason, 'exit');
    } finally {
      for (const p of procs) await p.stop();
      deleteNamespace(ns);
    }
  });

  it('(b) our client: a stock server configures us, renegotiates, and hears our EXIT', async () => {
    const ns = newNamespace();
    const procs: Proc[] = [];
    try {
      const stock = stockServer(ns, 'openvpn-server-b', ['--reneg-sec', '4']);
      procs.push(stock);
      await waitLine(stock, 'the server to start', /Initialization Sequence Completed/);
      const ours = harness(ns, 'client-b', {
        mode: 'client',
        port: PORT,
        ca: ca.certPem,
        cert: client.certPem,
        key: client.keyPem,
        tlsCrypt: Buffer.from(tlsCrypt).toString('hex'),
        disconnectAfterMs: 9000,
      });
      procs.push(ours);

      const configured = await waitEvent(ours, 'configured', (e) => e.event === 'configured');
      const options = configured.options as string[];
      assert.ok(options.includes('ifconfig 100.64.0.2 255.255.255.0'), options.join(','));
      assert.ok(options.includes('topology subnet'));
      assert.ok(options.includes('cipher AES-256-GCM'));
      assert.ok(options.includes('peer-id 0'));
      assert.ok(options.includes('protocol-flags cc-exit tls-ekm dyn-tls-crypt'));
      const keys0 = await waitEvent(ours, 'keys', (e) => e.event === 'keys' && e.keyId === 0);
      assert.equal(keys0.derivation, 'tls-ekm');
      assert.equal(keys0.peerId, 0);
      await waitLine(
        stock,
        'the server to see our certificate',
        /alice.*Peer Connection Initiated/,
      );

      await waitEvent(ours, 'the server keepalive decrypting to the ping magic', pingOk(0));
      await waitLine(stock, 'the server accepting our ping', /RECEIVED PING PACKET/);

      // The server renegotiates (reneg-sec 4, less its jitter): key 1 both ways.
      await waitEvent(
        ours,
        'keys for key id 1',
        (e) => e.event === 'keys' && e.keyId === 1,
        10_000,
      );
      await waitEvent(ours, 'a server ping under key 1', pingOk(1), 5000);

      // disconnectAfterMs: EXIT over the control channel (cc-exit was pushed).
      const closed = await waitEvent(
        ours,
        'our session to close',
        (e) => e.event === 'closed',
        12_000,
      );
      assert.equal(closed.reason, 'exit');
      await waitLine(
        stock,
        'the server to take our EXIT',
        /alice.*CC-EEN exit message received by peer/,
        5000,
      );
      assert.equal(
        stock.lines.filter((l) => /AEAD Decrypt error|Authenticate\/Decrypt packet error/.test(l))
          .length,
        0,
        'the server never failed to decrypt our packets',
      );
    } finally {
      for (const p of procs) await p.stop();
      deleteNamespace(ns);
    }
  });

  it('(c) our server with tls-crypt-v2: stateless start with WKc resent in CONTROL_WKC_V1', async () => {
    const ns = newNamespace();
    const procs: Proc[] = [];
    try {
      const serverKey = generateTlsCryptV2ServerKey();
      const kc = generateClientKey(
        tlsCryptV2ServerKey(serverKey),
        new Uint8Array(randomBytes(256)),
        {
          type: 'user',
          data: new TextEncoder().encode('alice'),
        },
      );
      writeFileSync(join(dir, 'v2-server.key'), formatServerKeyFile(serverKey), { mode: 0o600 });
      writeFileSync(join(dir, 'v2-client.key'), formatClientKeyFile(kc.clientKey, kc.wkc), {
        mode: 0o600,
      });
      const ours = harness(ns, 'server-c', {
        mode: 'server',
        port: PORT,
        ca: ca.certPem,
        cert: server.certPem,
        key: server.keyPem,
        tlsCryptV2Server: Buffer.from(serverKey).toString('hex'),
        push: PUSH,
        peerId: 1,
      });
      procs.push(ours);
      await waitEvent(ours, 'listening', (e) => e.event === 'listening');
      const stock = realClient(ns, 'openvpn-client-c', [
        '--tls-crypt-v2',
        join(dir, 'v2-client.key'),
        '--tls-version-max',
        '1.2',
      ]);
      procs.push(stock);

      await waitLine(stock, 'the client to complete', /Initialization Sequence Completed/);
      assert.deepEqual(
        events(ours.lines)
          .filter((e) => e.event === 'first-contact')
          .map((e) => e.verdict),
        ['reply', 'open'],
      );
      // TLS 1.2 this time: the exporter must agree with OpenVPN's there too.
      const auth = findEvent(ours, (e) => e.event === 'authenticate');
      assert.equal((auth?.tls as { protocol?: string } | undefined)?.protocol, 'TLSv1.2');
      await waitEvent(ours, 'the client keepalive decrypting to the ping magic', pingOk(0));
      await waitLine(stock, 'the client accepting our ping', /RECEIVED PING PACKET/);
      stock.signal('SIGTERM');
      const closed = await waitEvent(ours, 'the session to close', (e) => e.event === 'closed');
      assert.equal(closed.reason, 'exit');
    } finally {
      for (const p of procs) await p.stop();
      deleteNamespace(ns);
    }
  });

  it('(d) our client without TLS-EKM or DATA_V2: TLS-PRF keys and DATA_V1 with a stock server', async () => {
    const ns = newNamespace();
    const procs: Proc[] = [];
    try {
      const stock = stockServer(ns, 'openvpn-server-d', []);
      procs.push(stock);
      await waitLine(stock, 'the server to start', /Initialization Sequence Completed/);
      const ours = harness(ns, 'client-d', {
        mode: 'client',
        port: PORT,
        ca: ca.certPem,
        cert: client.certPem,
        key: client.keyPem,
        tlsCrypt: Buffer.from(tlsCrypt).toString('hex'),
        protoFlags: ['REQUEST_PUSH', 'CC_EXIT_NOTIFY'],
      });
      procs.push(ours);
      const configured = await waitEvent(ours, 'configured', (e) => e.event === 'configured');
      const options = configured.options as string[];
      assert.ok(!options.some((o) => o.startsWith('peer-id')), options.join(','));
      assert.ok(options.includes('protocol-flags cc-exit'), options.join(','));
      const keys0 = await waitEvent(ours, 'keys', (e) => e.event === 'keys' && e.keyId === 0);
      assert.equal(keys0.derivation, 'tls-prf');
      assert.equal(keys0.peerId, undefined);
      await waitEvent(ours, 'a DATA_V1 server keepalive decrypting to the ping magic', pingOk(0));
      await waitLine(stock, 'the server accepting our DATA_V1 ping', /RECEIVED PING PACKET/);
    } finally {
      for (const p of procs) await p.stop();
      deleteNamespace(ns);
    }
  });
});
