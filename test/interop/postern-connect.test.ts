// `postern connect` as a user runs it: against a Postern gateway over UDP (on the native data
// path by default, on the TypeScript one when asked), across a gateway restart, over TCP through
// an HTTP proxy, refused with a non-zero exit when revoked. Against a stock `openvpn --server`:
// postern-connect-stock-server.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from '../../src/lab/index.js';
import { tempDir } from '../helpers/postern-cli.js';
import {
  keepRemotes,
  startLabGateway,
  startPosternClient,
  type LabGateway,
  type LineWatcher,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
// Short keepalive, so a client notices a vanished gateway within seconds (ping-restart).
const PING_SEC = 1;
const PING_RESTART_SEC = 5;
const CONNECT_MS = 45_000;
const RECONNECT_MS = 60_000;
const DOWNLOAD_BYTES = 4 << 20;
const REKEY_PINGS = 30;
const REKEYS = 3;

interface ConnectedLine {
  address4: string;
  address6: string;
  dataplane: string;
}

/** The `n`th (1-based) "connected" line of a client, waiting for it. */
async function nthConnected(
  log: LineWatcher,
  n: number,
  timeoutMs: number,
): Promise<ConnectedLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = log.lines.filter((l) => l.includes('"event":"connected"'));
    if (lines.length >= n) return JSON.parse(lines[n - 1]!) as ConnectedLine;
    if (Date.now() > deadline) {
      throw new Error(`no connected line #${n}; last lines:\n${log.lines.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('postern connect', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway;
  const tmp = tempDir();
  before(async () => {
    lab = await createLab();
    gw = await startLabGateway(lab, {
      configure: (yaml) =>
        yaml.replace(
          /keepalive: \{[^}]*\}/,
          `keepalive: { ping: ${PING_SEC}, restart: ${PING_RESTART_SEC} }`,
        ),
    });
  });
  after(async () => {
    await gw?.stop();
    await lab?.destroy();
    tmp.remove();
  });

  /** Pings to the office over IPv4 and IPv6 and a TCP download from it, through the tunnel. */
  async function reachOffice(): Promise<void> {
    assert.equal(
      (await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 })).received,
      3,
    );
    assert.equal(
      (await lab.ping('laptop', lab.addr.office.v6, { count: 3, timeoutSec: 2, v6: true }))
        .received,
      3,
    );
    const server = await lab.httpServer('office', { port: 8100, bytes: DOWNLOAD_BYTES });
    try {
      const got = await lab.download('laptop', server.url(), { timeoutMs: 60_000 });
      assert.equal(got.sha256, server.sha256);
    } finally {
      await server.stop();
    }
  }

  it('-> Postern over UDP: the native data path, logs "connected" with its addresses, reaches the office, exits 0 on SIGTERM', async () => {
    const profile = await gw.addUser('erin', { format: 'postern' });
    keepRemotes(profile, 'udp');
    const client = startPosternClient(lab, 'laptop', profile);
    try {
      const line = await nthConnected(client.log, 1, CONNECT_MS);
      assert.equal(line.dataplane, 'native');
      assert.match(line.address4, /^100\.64\.0\.\d+\/24$/);
      assert.match(line.address6, /^fd00:64::[0-9a-f]+\/64$/);
      // Pushed DNS is applied through systemd-resolved where it runs, and said either way.
      assert.ok(client.log.lines.some((l) => l.includes('"event":"dns"')));
      await reachOffice();
    } finally {
      assert.equal(await client.stop(), 0);
    }
    // The traffic the native path carried is in the log when the tunnel closes.
    const stopped = client.log.lines.find((l) => l.includes('"event":"stopped"'));
    assert.ok(stopped, client.log.lines.slice(-5).join('\n'));
    const traffic = JSON.parse(stopped) as { bytesIn: number; bytesOut: number };
    assert.ok(traffic.bytesIn > DOWNLOAD_BYTES, `bytesIn ${traffic.bytesIn}`);
    assert.ok(traffic.bytesOut > 0, `bytesOut ${traffic.bytesOut}`);
  });

  it('-> Postern over UDP with --dataplane reference: the TypeScript data path', async () => {
    const profile = await gw.addUser('ida', { format: 'postern' });
    keepRemotes(profile, 'udp');
    const client = startPosternClient(lab, 'laptop', profile, ['--dataplane', 'reference']);
    try {
      const line = await nthConnected(client.log, 1, CONNECT_MS);
      assert.equal(line.dataplane, 'reference');
      await reachOffice();
    } finally {
      assert.equal(await client.stop(), 0);
    }
  });

  it('-> Postern over TCP through an HTTP proxy', async () => {
    const conf = join(tmp.path, 'tinyproxy.conf');
    writeFileSync(
      conf,
      [
        `Port 8888`,
        `Listen ${lab.addr.inet.laptopSide.v4}`,
        'Timeout 600',
        'Allow 198.51.100.0/24',
        'ConnectPort 443',
      ].join('\n') + '\n',
    );
    const proxy = lab.spawn('inet', 'tinyproxy', ['-d', '-c', conf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise((r) => setTimeout(r, 500));
    const profile = await gw.addUser('frank', { format: 'postern' });
    keepRemotes(profile, 'tcp');
    const client = startPosternClient(lab, 'laptop', profile, [
      '--http-proxy',
      `${lab.addr.inet.laptopSide.v4}:8888`,
    ]);
    try {
      const line = await nthConnected(client.log, 1, CONNECT_MS);
      assert.equal(line.dataplane, 'reference', 'TCP stays on the TypeScript path');
      assert.equal(
        (await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 })).received,
        3,
      );
      const sessions = JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as {
        user: string;
        protocol: string;
        remote: string;
      }[];
      const s = sessions.find((x) => x.user === 'frank');
      assert.equal(s?.protocol, 'openvpn-tcp');
      assert.match(s?.remote ?? '', /^203\.0\.113\.1:/);
    } finally {
      await client.stop();
      proxy.kill('SIGTERM');
    }
  });

  it('a revoked user is refused: non-zero exit', async () => {
    const profile = await gw.addUser('gina', { format: 'postern' });
    keepRemotes(profile, 'udp');
    assert.equal((await gw.cli(['user', 'revoke', 'gina'])).code, 0);
    const client = startPosternClient(lab, 'laptop', profile);
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => resolve(-1), 40_000);
      client.proc.once('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    await client.stop();
    assert.equal(code, 1, `exit ${code}; log:\n${client.log.lines.join('\n')}`);
    assert.ok(client.log.lines.some((l) => /"event":"refused"/.test(l)));
    assert.ok(!client.log.lines.some((l) => l.includes('"event":"connected"')));
  });

  it('the native path through `postern rekey` x3: new keys installed, no ping lost, a download intact, no reconnect', async () => {
    const profile = await gw.addUser('kim', { format: 'postern' });
    keepRemotes(profile, 'udp');
    const client = startPosternClient(lab, 'laptop', profile);
    try {
      assert.equal((await nthConnected(client.log, 1, CONNECT_MS)).dataplane, 'native');
      const sessions = JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as {
        id: string;
        user: string;
        rekeys: number;
      }[];
      const session = sessions.find((x) => x.user === 'kim');
      assert.ok(session, 'a session of kim');
      // Pings every 0.2 s span the renegotiations: each is answered under whichever key is live.
      const pinging = lab.ping('laptop', lab.addr.office.v4, {
        count: REKEY_PINGS,
        timeoutSec: 2,
      });
      for (let i = 0; i < REKEYS; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const r = await gw.cli(['rekey', session.id]);
        assert.equal(r.code, 0, r.stderr);
      }
      const pinged = await pinging;
      assert.equal(pinged.received, REKEY_PINGS, pinged.output);
      const after = (
        JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as typeof sessions
      ).find((x) => x.id === session.id);
      assert.ok(after && after.rekeys >= REKEYS, `rekeys ${after?.rekeys}`);
      // The newest key carries bulk traffic both ways.
      const server = await lab.httpServer('office', { port: 8101, bytes: DOWNLOAD_BYTES });
      try {
        const got = await lab.download('laptop', server.url(), { timeoutMs: 60_000 });
        assert.equal(got.sha256, server.sha256);
      } finally {
        await server.stop();
      }
      const attempts = client.log.lines.filter((l) => l.includes('"event":"connecting"'));
      assert.equal(attempts.length, 1, client.log.lines.join('\n'));
    } finally {
      assert.equal(await client.stop(), 0);
    }
  });

  it('the native path reconnects after the gateway restarts: pings v4/v6 and a download go through again', async () => {
    const profile = await gw.addUser('jack', { format: 'postern' });
    keepRemotes(profile, 'udp');
    const client = startPosternClient(lab, 'laptop', profile);
    try {
      assert.equal((await nthConnected(client.log, 1, CONNECT_MS)).dataplane, 'native');
      await reachOffice();
      await gw.restart();
      const again = await nthConnected(client.log, 2, RECONNECT_MS);
      assert.equal(again.dataplane, 'native');
      assert.ok(client.log.lines.some((l) => l.includes('"event":"disconnected"')));
      await reachOffice();
    } finally {
      assert.equal(await client.stop(), 0);
    }
  });
});
