// Group policy end to end: a real Postern gateway in the lab, stock OpenVPN clients in laptop
// and branch. A contractor reaches exactly 192.0.2.10 tcp/80 (other ports, hosts and ping are
// dropped, counted in `postern sessions` and sampled into `policy.drop` audit records), on the
// native UDP path and on the TCP (reference) path; staff reach the whole office over IPv4 and
// IPv6; clients reach each other only when a group allows it; a full-tunnel user reaches a host
// on the Internet side through the gateway's masquerade; `postern reload` changes what a live
// session may reach without reconnecting it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { createLab, type Lab } from '../../src/lab/index.js';
import type { FileServer } from '../../src/lab/index.js';
import {
  startLabGateway,
  startOpenvpnClient,
  type LabGateway,
  type OpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const CONNECT_MS = 45_000;
const REFUSED_MS = 3000;
const SMALL = 64 << 10;

interface Session {
  id: string;
  user: string;
  address4: string;
  policyDrops: number;
  dataPath?: string;
}

const GROUPS = {
  // Routes the whole office, allows one service: what the gateway lets through is the point.
  contractors: {
    routes: ['192.0.2.0/24', '2001:db8:2::/64'],
    allow: ['192.0.2.10/32 tcp/80'],
  },
  staff: {
    routes: ['192.0.2.0/24', '2001:db8:2::/64'],
    allow: ['192.0.2.0/24', '2001:db8:2::/64'],
  },
  peers: { routes: ['192.0.2.0/24'], allow: ['192.0.2.0/24'], 'client-to-client': true },
  roam: { allow: ['any'], 'full-tunnel': true },
};

function withGroups(yaml: string, groups: Record<string, unknown>): string {
  const doc = parseDocument(yaml);
  for (const [name, g] of Object.entries(groups)) doc.setIn(['groups', name], doc.createNode(g));
  return doc.toString();
}

/** Keeps only the profile's remote of one protocol. */
function onlyRemote(profile: string, proto: 'udp' | 'tcp'): void {
  const text = readFileSync(profile, 'utf8');
  writeFileSync(
    profile,
    text
      .split('\n')
      .filter((l) => !l.startsWith('remote ') || l.endsWith(` ${proto}`))
      .filter((l) => proto === 'udp' || !l.startsWith('explicit-exit-notify'))
      .join('\n'),
  );
}

describe('group policy at the gateway', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway;
  let web80: FileServer;
  let web8080: FileServer;

  const sessions = async (): Promise<Session[]> => {
    const r = await gw.cli(['sessions', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Session[];
  };
  const sessionOf = async (user: string): Promise<Session> => {
    const s = (await sessions()).find((x) => x.user === user);
    assert.ok(s, `no session of ${user}`);
    return s;
  };
  const reaches = async (url: string): Promise<boolean> => {
    try {
      const got = await lab.download('laptop', url, { timeoutMs: REFUSED_MS });
      return got.status === 200 && got.bytes === SMALL;
    } catch {
      return false;
    }
  };
  const connect = async (
    user: string,
    groups: string[],
    proto: 'udp' | 'tcp',
    host: 'laptop' | 'branch' = 'laptop',
  ): Promise<OpenvpnClient> => {
    const profile = await gw.addUser(user, { groups });
    onlyRemote(profile, proto);
    const client = startOpenvpnClient(lab, host, profile);
    try {
      await client.log.waitFor(/Initialization Sequence Completed/, CONNECT_MS);
    } catch (e) {
      await client.stop();
      throw e;
    }
    return client;
  };

  before(async () => {
    lab = await createLab();
    gw = await startLabGateway(lab, { configure: (y) => withGroups(y, GROUPS) });
    const add = await lab.exec('office', 'ip', ['addr', 'add', '192.0.2.11/24', 'dev', 'to-gw']);
    assert.equal(add.code, 0, add.stderr);
    web80 = await lab.httpServer('office', { port: 80, bytes: SMALL });
    web8080 = await lab.httpServer('office', { port: 8080, bytes: SMALL });
  });
  after(async () => {
    await web80?.stop();
    await web8080?.stop();
    await gw?.stop();
    await lab?.destroy();
  });

  for (const proto of ['udp', 'tcp'] as const) {
    describe(`a contractor over ${proto.toUpperCase()} (native path)`, () => {
      let client: OpenvpnClient;
      const user = `contractor-${proto}`;
      before(async () => {
        client = await connect(user, ['contractors'], proto);
      });
      after(async () => {
        await client?.stop();
      });

      it('reaches 192.0.2.10 tcp/80 and nothing else; drops are counted and audited', async () => {
        assert.ok(await reaches(web80.url({ address: '192.0.2.10' })), 'tcp/80 on 192.0.2.10');
        assert.equal((await sessionOf(user)).policyDrops, 0);
        assert.equal((await sessionOf(user)).dataPath, 'native', 'UDP and TCP alike');
        assert.ok(!(await reaches(web8080.url({ address: '192.0.2.10' }))), 'tcp/8080 dropped');
        assert.ok(!(await reaches(web80.url({ address: '192.0.2.11' }))), 'another host dropped');
        const ping = await lab.ping('laptop', '192.0.2.10', { count: 2, timeoutSec: 1 });
        assert.equal(ping.received, 0, 'ping dropped');
        const ping6 = await lab.ping('laptop', '2001:db8:2::10', { count: 1, timeoutSec: 1 });
        assert.equal(ping6.received, 0, 'IPv6 dropped');
        const s = await sessionOf(user);
        assert.ok(s.policyDrops >= 5, `policyDrops ${s.policyDrops}`);
        // Audit records are written from the keepalive sweep (every second).
        await new Promise((r) => setTimeout(r, 1500));
        const audit = await gw.cli(['audit', '--json']);
        assert.equal(audit.code, 0, audit.stderr);
        const drops = (
          JSON.parse(audit.stdout) as {
            event: string;
            user: string;
            detail?: { session?: string; dst?: string; dstPort?: number; proto?: number };
          }[]
        ).filter((a) => a.event === 'policy.drop' && a.user === user);
        assert.ok(drops.length > 0, 'policy.drop records');
        assert.ok(drops.length <= 5, `rate-limited: ${drops.length}`);
        assert.ok(drops.every((d) => d.detail?.session === s.id));
        assert.ok(
          drops.some(
            (d) =>
              d.detail?.dst === '192.0.2.10' && d.detail.dstPort === 8080 && d.detail.proto === 6,
          ),
          JSON.stringify(drops),
        );
      });

      if (proto === 'udp') {
        it('postern reload changes what the live session reaches, without reconnecting it', async () => {
          const before = await sessionOf(user);
          const file = join(gw.dir, 'postern.yaml');
          const original = readFileSync(file, 'utf8');
          const widened = withGroups(original, {
            contractors: { ...GROUPS.contractors, allow: ['192.0.2.10/32 tcp/80-8080'] },
          });
          writeFileSync(file, widened);
          let r = await gw.cli(['reload']);
          assert.equal(r.code, 0, r.stderr);
          assert.ok(await reaches(web8080.url({ address: '192.0.2.10' })), 'tcp/8080 after reload');

          // A broken policy is refused with the file and line; the running one stays.
          writeFileSync(
            file,
            withGroups(original, {
              contractors: { ...GROUPS.contractors, allow: ['192.0.2.10/32 tcp/90-80'] },
            }),
          );
          r = await gw.cli(['reload']);
          assert.notEqual(r.code, 0);
          assert.match(r.stderr, /postern\.yaml:\d+: groups\.contractors\.allow\[0\]/);
          assert.ok(await reaches(web8080.url({ address: '192.0.2.10' })), 'old policy in force');

          writeFileSync(file, original);
          r = await gw.cli(['reload']);
          assert.equal(r.code, 0, r.stderr);
          assert.ok(!(await reaches(web8080.url({ address: '192.0.2.10' }))), 'narrowed again');
          assert.ok(await reaches(web80.url({ address: '192.0.2.10' })));
          const after = await sessionOf(user);
          assert.equal(after.id, before.id, 'the same session throughout');
          assert.ok(!client.log.lines.some((l) => /SIGUSR1|Restart pause/.test(l)), 'no reconnect');
        });
      }
    });
  }

  describe('staff', () => {
    let client: OpenvpnClient;
    before(async () => {
      client = await connect('staffer', ['staff'], 'udp');
    });
    after(async () => {
      await client?.stop();
    });

    it('reach every office host and port over IPv4 and IPv6', async () => {
      for (const a of ['192.0.2.10', '192.0.2.11']) {
        const p = await lab.ping('laptop', a, { count: 2, timeoutSec: 2 });
        assert.equal(p.received, 2, p.output);
      }
      const p6 = await lab.ping('laptop', '2001:db8:2::10', { count: 2, timeoutSec: 2, v6: true });
      assert.equal(p6.received, 2, p6.output);
      assert.ok(await reaches(web8080.url({ address: '192.0.2.11' })));
      assert.ok(await reaches(web80.url({ v6: true })));
      assert.equal((await sessionOf('staffer')).policyDrops, 0);
    });
  });

  describe('client to client', () => {
    it('is refused by default and allowed by a group with client-to-client: true', async () => {
      for (const [group, allowed] of [
        ['staff', false],
        ['peers', true],
      ] as const) {
        const a = await connect(`c2c-a-${group}`, [group], 'udp', 'laptop');
        let b: OpenvpnClient | undefined;
        try {
          // Over TCP: the gateway's dual-stack UDP socket would answer branch from another address.
          b = await connect(`c2c-b-${group}`, [group], 'tcp', 'branch');
          const target = (await sessionOf(`c2c-b-${group}`)).address4;
          const p = await lab.ping('laptop', target, { count: 2, timeoutSec: 1 });
          assert.equal(p.received, allowed ? 2 : 0, `${group}: ${p.output}`);
          if (!allowed) assert.ok((await sessionOf(`c2c-a-${group}`)).policyDrops >= 2);
        } finally {
          await a.stop();
          await b?.stop();
        }
      }
    });
  });

  describe('full tunnel', () => {
    let client: OpenvpnClient;
    before(async () => {
      client = await connect('roamer', ['roam'], 'udp');
    });
    after(async () => {
      await client?.stop();
    });

    it("reaches a host on the Internet side through the gateway's masquerade", async () => {
      const inetHost = lab.addr.inet.gwSide.v4;
      const web = await lab.httpServer('inet', { port: 8088, bytes: SMALL });
      const capture = await lab.capture({ host: 'inet', iface: 'to-gw', filter: 'tcp port 8088' });
      try {
        const got = await lab.download('laptop', web.url({ address: inetHost }), {
          timeoutMs: 10_000,
        });
        assert.equal(got.bytes, SMALL);
      } finally {
        await web.stop();
      }
      const seen = await capture.stop();
      const outside = lab.addr.gw.outside.v4;
      assert.match(
        seen.text,
        new RegExp(
          `${outside.replace(/\./g, '\\.')}\\.\\d+ > ${inetHost.replace(/\./g, '\\.')}\\.8088`,
        ),
      );
      assert.doesNotMatch(
        seen.text,
        /100\.64\.0\.\d+\.\d+ >/,
        'the pool address never leaves the gateway',
      );
      const nft = await lab.exec('gw', 'nft', ['list', 'table', 'inet', 'postern']);
      assert.equal(nft.code, 0, nft.stderr);
      assert.match(nft.stdout, /masquerade/);
    });
  });
});
