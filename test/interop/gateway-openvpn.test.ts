// A stock OpenVPN 2.6 client against a real Postern gateway, in the lab: laptop -> inet -> gw
// -> office. What a user checks: it connects, the office answers over IPv4 and IPv6, a large
// download arrives intact, the wire on the inet link carries only ciphertext, and
// `postern sessions` shows the session with its bytes and cipher.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createLab, type Lab } from '../../src/lab/index.js';
import { exited } from '../../src/lab/run.js';
import {
  keepRemotes,
  startLabGateway,
  startOpenvpnClient,
  type LabGateway,
  type OpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
/** Forged client resets sent to the gateway's UDP port in one test. */
const FORGED_RESETS = 50;

describe('stock openvpn client -> Postern gateway', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway;
  before(async () => {
    lab = await createLab();
    gw = await startLabGateway(lab);
  });
  after(async () => {
    await gw?.stop();
    await lab?.destroy();
  });

  it('warmed up at start through its own admission path, without an error', () => {
    const warmUp = gw.log.lines.filter((l) => l.includes('"event":"warm-up"'));
    assert.equal(warmUp.length, 1, warmUp.join('\n'));
    assert.match(warmUp[0] ?? '', /"handshakes":40\b/);
  });

  it('connected to itself once at start, leaving no session, record or lease behind', async () => {
    const lines = gw.log.lines.filter((l) => l.includes('"event":"self-connect"'));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.doesNotMatch(lines[0] ?? '', /"error"/, lines[0]);
    const status = JSON.parse((await gw.cli(['status', '--json'])).stdout) as {
      sessions: number;
      counters: Record<string, number>;
    };
    assert.equal(status.sessions, 0);
    // Through the real listener: its reset was answered by the native path; nothing dropped.
    assert.equal(status.counters['openvpn.reset-replies.native'], 1, JSON.stringify(status));
    assert.deepEqual(
      Object.keys(status.counters).filter((k) => k.startsWith('openvpn.drop.')),
      [],
      JSON.stringify(status.counters),
    );
    assert.deepEqual(JSON.parse((await gw.cli(['sessions', '--json'])).stdout), []);
    const audit = JSON.parse((await gw.cli(['audit', '--json'])).stdout) as { event: string }[];
    assert.deepEqual(
      audit.filter((r) => r.event !== 'admin'),
      [],
      'no auth or session record from the self-connect',
    );
    assert.deepEqual(JSON.parse((await gw.cli(['accounting', '--json'])).stdout), []);
  });

  for (const proto of ['udp', 'tcp'] as const) {
    describe(`over ${proto.toUpperCase()}`, () => {
      let client: OpenvpnClient;
      const user = `alice-${proto}`;
      before(async () => {
        const profile = await gw.addUser(user);
        keepRemotes(profile, proto);
        assert.match(readFileSync(profile, 'utf8'), new RegExp(`^remote \\S+ \\d+ ${proto}$`, 'm'));
        client = startOpenvpnClient(lab, 'laptop', profile);
        await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
      });
      after(async () => {
        await client?.stop();
      });

      it('reaches the office over IPv4 and IPv6', async () => {
        const v4 = await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 });
        assert.equal(v4.received, 3, v4.output);
        const v6 = await lab.ping('laptop', lab.addr.office.v6, {
          count: 3,
          timeoutSec: 2,
          v6: true,
        });
        assert.equal(v6.received, 3, v6.output);
      });

      it('downloads a large file intact, and the inet link carries no plaintext', async () => {
        const server = await lab.httpServer('office', {
          port: proto === 'udp' ? 8080 : 8081,
          bytes: 8 << 20,
        });
        const capture = await lab.capture({
          host: 'inet',
          filter: proto === 'udp' ? 'udp port 1194' : 'tcp port 443',
        });
        const before = await lab.linkCounters('inet');
        const got = await lab.download('laptop', server.url(), { timeoutMs: 60_000 });
        const afterDl = await lab.linkCounters('inet');
        const seen = await capture.stop();
        await server.stop();
        assert.equal(got.status, 200);
        assert.equal(got.bytes, 8 << 20);
        assert.equal(got.sha256, server.sha256);
        // The download went laptop <- inet <- gw: the kernel's counters of inet's link to the
        // laptop are exact (a capture may lose packets when tcpdump falls behind).
        const toLaptop = afterDl.txBytes - before.txBytes;
        assert.ok(toLaptop > 8 << 20, `the transfer crossed the inet link (${toLaptop} bytes)`);
        // Payload bytes the capture holds (the native TCP path writes big segments: count bytes);
        // with no packet dropped by the kernel it holds the whole transfer.
        const wireBytes = [
          ...seen.text.matchAll(/^\d{2}:\d{2}:\d{2}\.\d+ .*length (\d+)/gm),
        ].reduce((n, m) => n + Number(m[1]), 0);
        assert.ok(
          seen.packets > 100 && (wireBytes > 8 << 20 || seen.droppedByKernel > 0),
          `the capture holds the transfer (${seen.packets} packets, ${wireBytes} bytes, ` +
            `${seen.droppedByKernel} dropped by the kernel)`,
        );
        assert.doesNotMatch(
          seen.text,
          /HTTP\/1\.1|GET \//,
          'no HTTP header crosses the wire in clear',
        );
      });

      if (proto === 'tcp') {
        it('TCP data goes through the native fast path', async () => {
          const status = JSON.parse((await gw.cli(['status', '--json'])).stdout) as {
            listeners: { kind: string; address: string }[];
          };
          assert.ok(
            status.listeners.some(
              (l) => l.kind === 'openvpn-tcp' && l.address.endsWith('(native)'),
            ),
            JSON.stringify(status.listeners),
          );
        });
      }

      if (proto === 'udp') {
        it('UDP data goes through the native fast path', async () => {
          const status = JSON.parse((await gw.cli(['status', '--json'])).stdout) as {
            listeners: { kind: string; address: string }[];
          };
          assert.ok(
            status.listeners.some(
              (l) => l.kind === 'openvpn-udp' && l.address.endsWith('(native)'),
            ),
            JSON.stringify(status.listeners),
          );
        });

        it("the client's reset was answered by the native path, and status counts it", async () => {
          const status = JSON.parse((await gw.cli(['status', '--json'])).stdout) as {
            counters: Record<string, number>;
          };
          const c = status.counters;
          // One is the start-up self-connect's; the rest are this client's.
          assert.ok((c['openvpn.reset-replies.native'] ?? 0) >= 2, JSON.stringify(c));
          assert.ok((c['openvpn.reset-replies'] ?? 0) >= c['openvpn.reset-replies.native']!);
          const text = (await gw.cli(['status'])).stdout;
          assert.match(text, /^counter\s+openvpn\.reset-replies\.native [1-9]\d*$/m);
        });

        it('forged resets are dropped on the RX thread and counted, and the client carries on', async () => {
          const counters = async () =>
            (
              JSON.parse((await gw.cli(['status', '--json'])).stdout) as {
                counters: Record<string, number>;
              }
            ).counters;
          const badWkc = async () => (await counters())['openvpn.drop.first-contact-bad-wkc'] ?? 0;
          const before = await badWkc();
          const nativeBefore = (await counters())['openvpn.drop.first-contact-bad-wkc.native'] ?? 0;
          // HARD_RESET_CLIENT_V3 opcodes with random bodies: no WKc of this server's opens.
          const script = `
            const s = require('node:dgram').createSocket('udp4');
            const { randomBytes } = require('node:crypto');
            let left = ${FORGED_RESETS};
            const next = () => {
              if (left-- === 0) return s.close();
              const b = randomBytes(300); b[0] = 0x50;
              s.send(b, 1194, '${lab.addr.gw.outside.v4}', next);
            };
            next();`;
          await exited(lab.spawn('laptop', process.execPath, ['-e', script]));
          let counted = 0;
          for (const until = Date.now() + 10_000; Date.now() < until;) {
            counted = (await badWkc()) - before;
            if (counted >= FORGED_RESETS) break;
            await new Promise((r) => setTimeout(r, 200));
          }
          assert.equal(counted, FORGED_RESETS, 'every forged reset counted as a bad WKc');
          // On the RX thread: none of them reached the event loop.
          const native = (await counters())['openvpn.drop.first-contact-bad-wkc.native'] ?? 0;
          assert.equal(native - nativeBefore, FORGED_RESETS);
          const v4 = await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 });
          assert.equal(v4.received, 3, v4.output);
        });
      }

      it('postern sessions shows the session with its user, cipher and bytes', async () => {
        const r = await gw.cli(['sessions', '--json']);
        assert.equal(r.code, 0, r.stderr);
        const list = JSON.parse(r.stdout) as {
          id: string;
          user: string;
          protocol: string;
          cipher: string;
          bytesIn: number;
          bytesOut: number;
          address4: string;
          address6: string;
          dataPath: string;
        }[];
        const mine = list.find((s) => s.user === user);
        assert.ok(mine, r.stdout);
        assert.equal(mine.protocol, `openvpn-${proto}`);
        // UDP and TCP alike: the session's packets are on the native fast path.
        assert.equal(mine.dataPath, 'native');
        assert.equal(mine.cipher, 'AES-256-GCM');
        assert.match(mine.address4, /^100\.64\.0\.\d+$/);
        assert.match(mine.address6, /^fd00:64::/);
        assert.ok(mine.bytesOut > 8 << 20, `bytes out ${mine.bytesOut}`);
      });

      if (proto === 'tcp') {
        it('postern kick reaches the client over the handed-over stream', async () => {
          const list = JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as {
            id: string;
            user: string;
            dataPath?: string;
          }[];
          const s = list.find((x) => x.user === user);
          assert.ok(s);
          const kick = await gw.cli(['kick', s.id]);
          assert.equal(kick.code, 0, kick.stderr);
          // RESTART: the client says why, reconnects, and is a new session on the native path.
          await client.log.waitFor(/server-pushed-connection-reset/, 15_000);
          const deadline = Date.now() + 45_000;
          let again: { id: string; dataPath?: string } | undefined;
          while (Date.now() < deadline && !again?.dataPath) {
            await new Promise((r) => setTimeout(r, 500));
            const now = JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as typeof list;
            again = now.find((x) => x.user === user && x.id !== s.id);
          }
          assert.ok(again, 'the client came back as a new session');
          assert.equal(again.dataPath, 'native');
        });
      }
    });
  }
});

describe(
  'stock openvpn client -> Postern gateway on the TypeScript data path',
  { skip: root ? false : 'needs root' },
  () => {
    let lab: Lab;
    let gw: LabGateway;
    let client: OpenvpnClient;
    before(async () => {
      lab = await createLab();
      gw = await startLabGateway(lab, {
        configure: (y) => y.replace('dataplane: native', 'dataplane: reference'),
      });
      const profile = await gw.addUser('rita');
      keepRemotes(profile, 'udp');
      client = startOpenvpnClient(lab, 'laptop', profile);
      await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
    });
    after(async () => {
      await client?.stop();
      await gw?.stop();
      await lab?.destroy();
    });

    it('carries the same traffic: pings both families, a download intact', async () => {
      const status = JSON.parse((await gw.cli(['status', '--json'])).stdout) as {
        listeners: { kind: string; address: string }[];
      };
      assert.ok(
        status.listeners.some((l) => l.kind === 'openvpn-udp' && !l.address.includes('native')),
      );
      assert.equal(
        (await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 })).received,
        3,
      );
      assert.equal(
        (await lab.ping('laptop', lab.addr.office.v6, { count: 3, timeoutSec: 2, v6: true }))
          .received,
        3,
      );
      const server = await lab.httpServer('office', { port: 8080, bytes: 4 << 20 });
      const got = await lab.download('laptop', server.url(), { timeoutMs: 60_000 });
      await server.stop();
      assert.equal(got.sha256, server.sha256);
    });
  },
);

describe(
  'stock openvpn client -> Postern gateway over IPv6 outside',
  { skip: root ? false : 'needs root' },
  () => {
    let lab: Lab;
    let gw: LabGateway;
    before(async () => {
      lab = await createLab();
      gw = await startLabGateway(lab);
    });
    after(async () => {
      await gw?.stop();
      await lab?.destroy();
    });

    for (const proto of ['udp6', 'tcp6-client'] as const) {
      it(`connects to the gateway's IPv6 address (${proto}) and carries both families inside`, async () => {
        const profile = await gw.addUser(`ipv6-${proto}`);
        const lines = readFileSync(profile, 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith('remote ') && !l.startsWith('explicit-exit-notify'));
        lines.push(`remote ${lab.addr.gw.outside.v6} ${proto === 'udp6' ? 1194 : 443} ${proto}`);
        writeFileSync(profile, lines.join('\n'));
        const client = startOpenvpnClient(lab, 'laptop', profile);
        try {
          await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
          assert.equal(
            (await lab.ping('laptop', lab.addr.office.v4, { count: 2, timeoutSec: 2 })).received,
            2,
          );
          assert.equal(
            (await lab.ping('laptop', lab.addr.office.v6, { count: 2, timeoutSec: 2, v6: true }))
              .received,
            2,
          );
          const sessions = JSON.parse((await gw.cli(['sessions', '--json'])).stdout) as {
            user: string;
            remote: string;
          }[];
          assert.match(
            sessions.find((s) => s.user === `ipv6-${proto}`)?.remote ?? '',
            /^\[2001:db8:51::2\]:\d+$/,
          );
        } finally {
          await client.stop();
        }
      });
    }
  },
);
