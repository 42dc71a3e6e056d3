// `postern connect` -> a stock `openvpn --server` (OpenVPN 2.6, Debian), in the lab:
//
//   laptop (postern connect) ── inet ── gw (openvpn --server, tun) ── office (192.0.2.10)
//
// The PKI comes from Postern's own PKI module; the tunnel is tls-crypt-v2 with a client key
// wrapped by our code and unwrapped by openvpn. The stock server hands out an address from its
// pool (100.64.0.0/24, fd00:65::/64) and pushes routes to the office; gw forwards between its
// tun and the office LAN. A user would check exactly this: "connected", pings and a download to
// the office, and on Ctrl-C a clean exit that the server takes as the client leaving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createCa,
  formatTlsCryptV2ServerKey,
  generateTlsCryptV2ServerKey,
  issueClientCert,
  issueServerCert,
} from '../../src/control/pki/index.js';
import type { Issued } from '../../src/control/pki/index.js';
import { parsePosternProfile } from '../../src/control/profile/postern-profile.js';
import {
  formatClientKeyFile,
  generateClientKey,
  tlsCryptV2ServerKey,
} from '../../src/crypto/tls-crypt-v2.js';
import { createLab, type Lab } from '../../src/lab/index.js';
import { killQuietly } from '../../src/lab/run.js';
import { tempDir } from '../helpers/postern-cli.js';
import { startPosternClient, watchLines, type LineWatcher } from '../helpers/lab-gateway.js';

const PORT = 1194;
const SERVER_NAME = 'gw';
const USER = 'alice';
const TLS_CRYPT_V2_CLIENT_KEY_BYTES = 256;
const DOWNLOAD_BYTES = 2 << 20;
const HTTP_PORT = 8101;
const SERVER_START_MS = 10_000;
const CONNECT_MS = 20_000;
const EXIT_MS = 8_000;

const root = process.getuid?.() === 0;
const hasOpenvpn = spawnSync('openvpn', ['--version']).error === undefined;
const skip = !root ? 'needs root (network namespaces)' : !hasOpenvpn ? 'needs openvpn' : false;

interface StockServer {
  log: LineWatcher;
  stop(): Promise<void>;
}

interface ConnectedLine {
  cipher: string;
  link: string;
  dataplane: string;
  address4: string | null;
  address6: string | null;
  routes: string[];
}

describe('postern connect -> stock openvpn --server', { skip }, () => {
  let lab: Lab;
  const tmp = tempDir('postern-stocksrv-');
  let ca: Issued;
  let client: Issued;
  const file = (name: string): string => join(tmp.path, name);

  before(async () => {
    lab = await createLab();
    const now = new Date();
    ca = await createCa({ commonName: 'Postern Stock-Server Interop CA', now });
    const server = await issueServerCert(ca, {
      commonName: SERVER_NAME,
      endpoint: lab.addr.gw.outside.v4,
      now,
    });
    client = await issueClientCert(ca, { commonName: USER, now });
    const v2ServerKey = generateTlsCryptV2ServerKey();
    const kc = generateClientKey(
      tlsCryptV2ServerKey(v2ServerKey),
      new Uint8Array(randomBytes(TLS_CRYPT_V2_CLIENT_KEY_BYTES)),
      { type: 'user', data: new TextEncoder().encode(USER) },
    );
    const files: Record<string, string> = {
      'ca.crt': ca.certPem,
      'server.crt': server.certPem,
      'server.key': server.keyPem,
      'tls-crypt-v2-server.key': formatTlsCryptV2ServerKey(v2ServerKey),
      'tls-crypt-v2-client.key': formatClientKeyFile(kc.clientKey, kc.wkc),
    };
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(file(name), text, { mode: 0o600 });
    }
  });

  after(async () => {
    await lab?.destroy();
    tmp.remove();
  });

  /** `openvpn --server` in gw; resolves once it serves. */
  async function startStockServer(
    proto: 'udp' | 'tcp-server',
    ciphers: string,
  ): Promise<StockServer> {
    // One option per line, as in an openvpn config file.
    // prettier-ignore
    const args = [
      '--server', '100.64.0.0', '255.255.255.0',
      '--server-ipv6', 'fd00:65::/64',
      '--topology', 'subnet',
      '--dev', 'tun',
      '--proto', proto,
      '--port', String(PORT),
      '--push', `route ${lab.addr.net.office.v4.replace('/24', '')} 255.255.255.0`,
      '--push', `route-ipv6 ${lab.addr.net.office.v6}`,
      '--keepalive', '2', '10',
      '--data-ciphers', ciphers,
      '--ca', file('ca.crt'),
      '--cert', file('server.crt'),
      '--key', file('server.key'),
      '--dh', 'none',
      '--tls-crypt-v2', file('tls-crypt-v2-server.key'),
      '--verify-client-cert', 'require',
      '--remote-cert-tls', 'client',
      '--verb', '4',
    ];
    const proc = lab.spawn('gw', 'openvpn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = watchLines(proc, `openvpn --server (${proto})`);
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const stop = async (): Promise<void> => {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      killQuietly(proc.pid, 'SIGTERM');
      await exited;
    };
    try {
      await Promise.race([
        log.waitFor(/Initialization Sequence Completed/, SERVER_START_MS),
        exited.then((code) => {
          throw new Error(`openvpn exited (${code}):\n${log.lines.join('\n')}`);
        }),
      ]);
    } catch (e) {
      await stop();
      throw e;
    }
    return { log, stop };
  }

  /** The Postern profile a user would be given for this server, checked by Postern's reader. */
  function writeProfile(proto: 'udp' | 'tcp', name: string): string {
    const profile = {
      postern: 1,
      name: 'stock-openvpn',
      user: USER,
      remotes: [{ proto, host: lab.addr.gw.outside.v4, port: PORT }],
      ca: ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
      tlsCrypt: { version: 'v2', key: readFileSync(file('tls-crypt-v2-client.key'), 'utf8') },
      dataCiphers: ['AES-256-GCM', 'CHACHA20-POLY1305'],
      tlsMin: '1.2',
      verifyName: SERVER_NAME,
      auth: { password: false, totp: false },
    };
    const text = JSON.stringify(profile, null, 2);
    parsePosternProfile(text, name); // throws, naming the field, if the document is not valid
    const path = file(name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  /** Connects, checks what a user would check, then Ctrl-C; returns the "connected" line. */
  async function connectAndUse(
    server: StockServer,
    proto: 'udp' | 'tcp',
    download: boolean,
  ): Promise<ConnectedLine> {
    const client = startPosternClient(lab, 'laptop', writeProfile(proto, `${proto}.json`));
    let stopped = false;
    try {
      const connected = JSON.parse(
        await client.log.waitFor(/"event":"connected"/, CONNECT_MS),
      ) as ConnectedLine;
      assert.equal(connected.link, `${proto}:${lab.addr.gw.outside.v4}:${PORT}`);
      // UDP runs on the native data path (DATA_V2 with the peer id openvpn pushed), TCP in TS.
      assert.equal(connected.dataplane, proto === 'udp' ? 'native' : 'reference');
      assert.match(connected.address4 ?? '', /^100\.64\.0\.\d+\/24$/);
      assert.match(connected.address6 ?? '', /^fd00:65::[0-9a-f:]+\/64$/);
      assert.ok(connected.routes.includes(lab.addr.net.office.v4), connected.routes.join(','));
      assert.ok(connected.routes.includes(lab.addr.net.office.v6), connected.routes.join(','));
      // The server checked our certificate and leased us the very addresses we configured.
      await server.log.waitFor(new RegExp(`\\[${USER}\\] Peer Connection Initiated`), 5000);
      const lease = await server.log.waitFor(/MULTI_sva: pool returned/, 5000);
      const [address4, address6] = [connected.address4, connected.address6].map(
        (a) => a?.split('/')[0]?.replace(/[.]/g, '\\.') ?? 'none',
      );
      assert.match(lease, new RegExp(`^.*${USER}/.* IPv4=${address4}, IPv6=${address6}$`));

      // The office LAN is not routed on the Internet (inet has no route to it), so these go
      // through the tunnel or not at all.
      const ping4 = await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 });
      assert.equal(ping4.received, 3, ping4.output);
      const ping6 = await lab.ping('laptop', lab.addr.office.v6, { count: 3, timeoutSec: 2 });
      assert.equal(ping6.received, 3, ping6.output);

      if (download) {
        const files = await lab.httpServer('office', { port: HTTP_PORT, bytes: DOWNLOAD_BYTES });
        try {
          const got = await lab.download('laptop', files.url(), { timeoutMs: 20_000 });
          assert.equal(got.status, 200);
          assert.equal(got.bytes, DOWNLOAD_BYTES);
          assert.equal(got.sha256, files.sha256);
        } finally {
          await files.stop();
        }
      }

      const code = await client.stop();
      stopped = true;
      assert.equal(code, 0, `exit ${code}; log:\n${client.log.lines.join('\n')}`);
      assert.ok(
        client.log.lines.every((l) => !/"level":(50|60)/.test(l)),
        `postern connect logged an error:\n${client.log.lines.join('\n')}`,
      );
      const attempts = client.log.lines.filter((l) => l.includes('"event":"connecting"'));
      assert.equal(attempts.length, 1, `reconnected:\n${client.log.lines.join('\n')}`);
      return connected;
    } finally {
      if (!stopped) await client.stop();
    }
  }

  it('over UDP: gets pool addresses, reaches the office v4 and v6, downloads, says EXIT on SIGTERM', async () => {
    const server = await startStockServer('udp', 'AES-256-GCM:CHACHA20-POLY1305');
    try {
      const connected = await connectAndUse(server, 'udp', true);
      assert.equal(connected.cipher, 'AES-256-GCM');
      // Our EXIT (cc-exit, on the control channel) reached the server, which ends the client
      // instance after its usual grace period instead of waiting out ping-restart.
      await server.log.waitFor(
        new RegExp(`${USER}/.* CC-EEN exit message received by peer`),
        EXIT_MS,
      );
      await server.log.waitFor(
        new RegExp(`${USER}/.* SIGTERM\\[soft,delayed-exit\\] received, client-instance exiting`),
        EXIT_MS,
      );
      assert.ok(
        !server.log.lines.some((l) =>
          /AEAD Decrypt error|Authenticate\/Decrypt packet error/.test(l),
        ),
        'the server never failed to decrypt our packets',
      );
    } finally {
      await server.stop();
    }
  });

  it('over TCP (--proto tcp-server, CHACHA20-POLY1305): connects, reaches the office, leaves cleanly', async () => {
    const server = await startStockServer('tcp-server', 'CHACHA20-POLY1305:AES-256-GCM');
    try {
      const connected = await connectAndUse(server, 'tcp', false);
      assert.equal(connected.cipher, 'CHACHA20-POLY1305');
      // The EXIT, then the TCP connection closing: the server drops the client instance.
      await server.log.waitFor(
        new RegExp(`${USER}/.* CC-EEN exit message received by peer`),
        EXIT_MS,
      );
      await server.log.waitFor(
        new RegExp(
          `${USER}/.* SIGUSR1\\[soft,connection-reset\\] received, client-instance restarting`,
        ),
        EXIT_MS,
      );
    } finally {
      await server.stop();
    }
  });
});
