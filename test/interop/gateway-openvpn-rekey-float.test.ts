// Fresh keys at will and on a timer, with no packet lost; a client whose address changes keeps
// its session; a client behind an HTTP proxy gets in over TCP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from '../../src/lab/index.js';
import { tempDir } from '../helpers/postern-cli.js';
import {
  keepRemotes,
  startLabGateway,
  startOpenvpnClient,
  type LabGateway,
  type OpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;

interface Session {
  id: string;
  user: string;
  rekeys: number;
  remote: string;
  dataPath?: string;
}

describe('rekey, float and proxies', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway;
  before(async () => {
    lab = await createLab();
    // A short reneg-sec: the gateway renegotiates on its own every few seconds.
    gw = await startLabGateway(lab, {
      configure: (y) => y.replace(/reneg-sec: \d+/, 'reneg-sec: 4'),
    });
  });
  after(async () => {
    await gw?.stop();
    await lab?.destroy();
  });

  async function sessionOf(user: string): Promise<Session> {
    const list = JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as Session[];
    const s = list.find((x) => x.user === user);
    assert.ok(s, `a session of ${user}`);
    return s;
  }

  /** A stock openvpn client of a new user over one transport, connected for the block. */
  function connectedClient(user: string, proto: 'udp' | 'tcp'): void {
    let client: OpenvpnClient;
    before(async () => {
      const profile = await gw.addUser(user);
      keepRemotes(profile, proto);
      client = startOpenvpnClient(lab, 'laptop', profile);
      await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
    });
    after(async () => {
      await client?.stop();
    });
  }

  /**
   * Three `postern rekey` during a download (and the reneg-sec timer): the download arrives
   * intact, then `pings` pings all come back. Returns the session before and after.
   */
  async function rekeyDuringTransfer(
    user: string,
    o: { port: number; bytes: number; pings: number },
  ): Promise<{ before: Session; after: Session }> {
    const server = await lab.httpServer('office', { port: o.port, bytes: o.bytes });
    const download = lab.download('laptop', server.url(), { timeoutMs: 120_000 });
    const before = await sessionOf(user);
    let rekeys = before.rekeys;
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const r = await gw.cli(['rekey', before.id]);
      assert.equal(r.code, 0, r.stderr);
      // A rekey asked while one is under way is ignored: let this one finish before the next
      // (on a loaded machine a renegotiation can take longer than the pause above).
      const deadline = Date.now() + 15_000;
      while ((await sessionOf(user)).rekeys <= rekeys && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      rekeys = (await sessionOf(user)).rekeys;
    }
    const got = await download;
    await server.stop();
    assert.equal(got.sha256, server.sha256);
    const pinged = await lab.ping('laptop', lab.addr.office.v4, { count: o.pings, timeoutSec: 2 });
    assert.equal(pinged.received, o.pings, 'no packet lost across renegotiations');
    const after = await sessionOf(user);
    assert.equal(after.id, before.id, 'same session');
    assert.ok(after.rekeys >= 3, `rekeys ${after.rekeys}`);
    return { before, after };
  }

  describe('a UDP client', () => {
    connectedClient('carol', 'udp');

    it('postern rekey and the reneg-sec timer during a transfer: the transfer completes intact', async () => {
      await rekeyDuringTransfer('carol', { port: 8090, bytes: 48 << 20, pings: 25 });
    });

    it('float: the client moves to a new address and traffic continues in the same session', async () => {
      const before = await sessionOf('carol');
      await lab.exec('laptop', 'ip', ['addr', 'add', '198.51.100.3/24', 'dev', 'to-inet']);
      await lab.exec('laptop', 'ip', [
        'route',
        'change',
        'default',
        'via',
        lab.addr.inet.laptopSide.v4,
        'src',
        '198.51.100.3',
      ]);
      const p = await lab.ping('laptop', lab.addr.office.v4, { count: 5, timeoutSec: 2 });
      assert.ok(p.received >= 4, p.output);
      const after = await sessionOf('carol');
      assert.equal(after.id, before.id, 'same session');
      assert.match(after.remote, /^198\.51\.100\.3:/);
      await gw.log.waitFor(/"event":"float"/);
    });
  });

  describe('a TCP client (native data path)', () => {
    connectedClient('tess', 'tcp');

    it('postern rekey and the reneg-sec timer during a transfer: the transfer completes intact', async () => {
      const { before, after } = await rekeyDuringTransfer('tess', {
        port: 8091,
        bytes: 32 << 20,
        pings: 10,
      });
      assert.equal(before.dataPath, 'native', 'the stream was handed to the native path');
      assert.equal(after.dataPath, 'native');
    });
  });

  it('a TCP client through an HTTP proxy (tinyproxy on the inet router)', async () => {
    const tmp = tempDir();
    const conf = join(tmp.path, 'tinyproxy.conf');
    writeFileSync(
      conf,
      [
        `Port 8888`,
        `Listen ${lab.addr.inet.laptopSide.v4}`,
        'Timeout 600',
        'MaxClients 10',
        'Allow 198.51.100.0/24',
        'ConnectPort 443',
        'LogLevel Info',
      ].join('\n') + '\n',
    );
    const proxy = lab.spawn('inet', 'tinyproxy', ['-d', '-c', conf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const profile = await gw.addUser('dave');
    keepRemotes(profile, 'tcp');
    await new Promise((r) => setTimeout(r, 500));
    const client = startOpenvpnClient(lab, 'laptop', profile, [
      '--http-proxy',
      lab.addr.inet.laptopSide.v4,
      '8888',
    ]);
    try {
      await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
      assert.match(
        client.log.lines.join('\n'),
        /HTTP proxy|Attempting to establish TCP connection with \[AF_INET\]198\.51\.100\.1:8888/,
      );
      const p = await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 });
      assert.equal(p.received, 3);
      const s = await sessionOf('dave');
      assert.match(s.remote, /^203\.0\.113\.1:/, 'the gateway sees the proxy, not the laptop');
      assert.equal(s.dataPath, 'native', 'through a proxy too, the stream is handed over');
    } finally {
      await client.stop();
      proxy.kill('SIGTERM');
      tmp.remove();
    }
  });
});

describe('port-share on TCP 443', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway;
  before(async () => {
    lab = await createLab();
    gw = await startLabGateway(lab, {
      configure: (y) => y.replace('port-share: null', 'port-share: 127.0.0.1:8444'),
    });
  });
  after(async () => {
    await gw?.stop();
    await lab?.destroy();
  });

  it('one port serves the web server and VPN clients', async () => {
    const web = await lab.httpServer('gw', { port: 8444, bytes: 1 << 20 });
    const page = await lab.download('laptop', `http://${lab.addr.gw.outside.v4}:443/`, {
      timeoutMs: 30_000,
    });
    assert.equal(page.status, 200);
    assert.equal(page.sha256, web.sha256, 'a browser on 443 gets the web server');
    const profile = await gw.addUser('pat');
    keepRemotes(profile, 'tcp');
    const client = startOpenvpnClient(lab, 'laptop', profile);
    try {
      await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
      assert.equal(
        (await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 })).received,
        3,
      );
      const again = await lab.download('laptop', `http://${lab.addr.gw.outside.v4}:443/`, {
        timeoutMs: 30_000,
      });
      assert.equal(again.sha256, web.sha256, 'and still does while a VPN client is connected');
    } finally {
      await client.stop();
      await web.stop();
    }
  });
});

describe('reneg-bytes', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway;
  before(async () => {
    lab = await createLab();
    gw = await startLabGateway(lab, {
      configure: (y) => y.replace(/reneg-bytes: \d+/, `reneg-bytes: ${8 << 20}`),
    });
  });
  after(async () => {
    await gw?.stop();
    await lab?.destroy();
  });

  it('a key that carried reneg-bytes is replaced, and transfers complete intact', async () => {
    const profile = await gw.addUser('vera');
    keepRemotes(profile, 'udp');
    const client = startOpenvpnClient(lab, 'laptop', profile);
    try {
      await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
      const server = await lab.httpServer('office', { port: 8091, bytes: 12 << 20 });
      // Two transfers, each past the 8 MiB limit, with a pause: the gateway checks the count once
      // a second, so each crossing it sees gives one renegotiation.
      for (let i = 0; i < 2; i++) {
        const got = await lab.download('laptop', server.url(), { timeoutMs: 120_000 });
        assert.equal(got.sha256, server.sha256);
        await new Promise((r) => setTimeout(r, 2500));
      }
      await server.stop();
      const list = JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as Session[];
      const s = list.find((x) => x.user === 'vera');
      // None of these come from the hour-long timer.
      assert.ok((s?.rekeys ?? 0) >= 2, `rekeys ${s?.rekeys}`);
    } finally {
      await client.stop();
    }
  });
});
