// `postern connect` as a user runs it: against a Postern gateway over UDP, over TCP through an
// HTTP proxy, refused with a non-zero exit when revoked. Against a stock `openvpn --server`:
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
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;

describe('postern connect', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway;
  const tmp = tempDir();
  before(async () => {
    lab = await createLab();
    gw = await startLabGateway(lab);
  });
  after(async () => {
    await gw?.stop();
    await lab?.destroy();
    tmp.remove();
  });

  it('-> Postern over UDP: logs "connected" with its addresses, reaches the office, exits 0 on SIGTERM', async () => {
    const profile = await gw.addUser('erin', { format: 'postern' });
    keepRemotes(profile, 'udp');
    const client = startPosternClient(lab, 'laptop', profile);
    try {
      const line = JSON.parse(await client.log.waitFor(/"event":"connected"/, 45_000)) as {
        address4: string;
        address6: string;
      };
      assert.match(line.address4, /^100\.64\.0\.\d+\/24$/);
      assert.match(line.address6, /^fd00:64::[0-9a-f]+\/64$/);
      // Pushed DNS is applied through systemd-resolved where it runs, and said either way.
      assert.ok(client.log.lines.some((l) => l.includes('"event":"dns"')));
      assert.equal(
        (await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 })).received,
        3,
      );
      assert.equal(
        (await lab.ping('laptop', lab.addr.office.v6, { count: 3, timeoutSec: 2, v6: true }))
          .received,
        3,
      );
      const server = await lab.httpServer('office', { port: 8100, bytes: 4 << 20 });
      const got = await lab.download('laptop', server.url(), { timeoutMs: 60_000 });
      await server.stop();
      assert.equal(got.sha256, server.sha256);
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
      await client.log.waitFor(/"event":"connected"/, 45_000);
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
});
