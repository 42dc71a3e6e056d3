// Accounting end to end, with a stock openvpn client, a Postern gateway and a real FreeRADIUS
// (Debian) in the office: what the gateway counts agrees with what the client's TUN device
// carried (within 1%, both ways), interim updates arrive every 2 s in the store and at the
// RADIUS server (Start, Interim-Update, Stop), every line of the SIEM export is a JSON object,
// and a gateway killed with SIGKILL mid-session leaves its audit records and accounting intact.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLab, type Lab } from '../../src/lab/index.js';
import {
  freeradiusInstalled,
  startFreeradius,
  type FreeradiusServer,
} from '../helpers/freeradius.js';
import {
  startLabGateway,
  startOpenvpnClient,
  type LabGateway,
  type OpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root' : !freeradiusInstalled() ? 'needs the freeradius package' : false;
const SECRET = 'acct-lab-secret';
const INTERIM_SECONDS = 2;
const EXPORT_FILE = 'siem.jsonl';
const TRANSFER = 8 << 20;

interface AccountingRow {
  session: string;
  user: string;
  stop: string | null;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}

interface TunTotals {
  /** What the client sent into the tunnel: the gateway's bytes in. */
  tx: number;
  /** What came out of the tunnel at the client: the gateway's bytes out. */
  rx: number;
}

const within1pct = (got: number, truth: number, what: string): void => {
  assert.ok(
    Math.abs(got - truth) <= truth * 0.01,
    `${what}: counted ${got}, the client's TUN device carried ${truth}`,
  );
};

describe('accounting: store, RADIUS, SIEM export, SIGKILL', { skip }, () => {
  let lab: Lab;
  let gw: LabGateway;
  let radius: FreeradiusServer;
  const clients: OpenvpnClient[] = [];

  before(async () => {
    lab = await createLab();
    // The stock client decrypts in userspace and drops UDP when the native gateway outpaces it;
    // TCP then retransmits, and what the gateway sent is more than what the client received.
    // An office uplink of 40 Mbit/s keeps the path loss-free, so the two can be held to 1%.
    const shape = await lab.exec('office', 'tc', [
      'qdisc',
      'add',
      'dev',
      lab.iface.office.toGw,
      'root',
      'tbf',
      'rate',
      '40mbit',
      'burst',
      '64kb',
      'latency',
      '100ms',
    ]);
    assert.equal(shape.code, 0, shape.stderr);
    radius = await startFreeradius(lab, 'office', {
      clients: [{ address: lab.addr.gw.office.v4, secret: SECRET }],
      users: [
        { name: 'meter', password: 'meter-password' },
        { name: 'meter-tcp', password: 'meter-tcp-password' },
        { name: 'crash', password: 'crash-password' },
        { name: 'kicked', password: 'kicked-password' },
      ],
    });
    gw = await startLabGateway(lab, {
      configure: (y) =>
        y
          .replace(/interim-seconds: 30/, `interim-seconds: ${INTERIM_SECONDS}`)
          .replace(/export: null/, `export: ${EXPORT_FILE}`)
          .replace(/(radius:[^\n]*\n\s+)enabled: false/, '$1enabled: true')
          .replace(/servers: \[\]/, `servers: [{ host: ${lab.addr.office.v4} }]`)
          .replace(/secret: ""/, `secret: "${SECRET}"`)
          .replace(/timeout-ms: 3000/, 'timeout-ms: 1000'),
    });
  });
  after(async () => {
    for (const c of clients) await c.stop();
    await gw?.stop();
    await radius?.stop();
    await lab?.destroy();
  });

  async function connect(
    user: string,
    password: string,
    proto: 'udp' | 'tcp' = 'udp',
  ): Promise<{ tun: string }> {
    const profile = await gw.addUser(user, { password });
    writeFileSync(
      profile,
      readFileSync(profile, 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('remote ') || l.endsWith(` ${proto}`))
        .filter((l) => proto === 'udp' || !l.startsWith('explicit-exit-notify'))
        .join('\n'),
    );
    const creds = join(lab.tmpDir, `${user}.pass`);
    writeFileSync(creds, `${user}\n${password}\n`, { mode: 0o600 });
    const client = startOpenvpnClient(lab, 'laptop', profile, ['--auth-user-pass', creds]);
    clients.push(client);
    const opened = await client.log.waitFor(/TUN\/TAP device \S+ opened/, 45_000);
    await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
    return { tun: /TUN\/TAP device (\S+) opened/.exec(opened)?.[1] ?? 'tun0' };
  }

  async function tunTotals(tun: string): Promise<TunTotals> {
    const r = await lab.exec('laptop', 'ip', ['-j', '-s', 'link', 'show', 'dev', tun]);
    assert.equal(r.code, 0, r.stderr);
    const [link] = JSON.parse(r.stdout) as {
      stats64: { rx: { bytes: number }; tx: { bytes: number } };
    }[];
    assert.ok(link);
    return { rx: link.stats64.rx.bytes, tx: link.stats64.tx.bytes };
  }

  /** Traffic both ways: an 8 MiB download, and large pings that carry as much back as forth. */
  async function transfer(): Promise<void> {
    const server = await lab.httpServer('office', { port: 0, bytes: TRANSFER });
    try {
      const got = await lab.download('laptop', server.url(), { timeoutMs: 60_000 });
      assert.equal(got.sha256, server.sha256);
    } finally {
      await server.stop();
    }
    const ping = await lab.exec('laptop', 'ping', [
      '-4',
      '-n',
      '-q',
      '-c',
      '200',
      '-i',
      '0.005',
      '-s',
      '1300',
      lab.addr.office.v4,
    ]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  }

  async function accounting(args: string[] = []): Promise<AccountingRow[]> {
    const r = await gw.cli(['accounting', '--json', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as AccountingRow[];
  }

  async function sessionOf(user: string): Promise<string> {
    const r = await gw.cli(['sessions', '--json']);
    const s = (JSON.parse(r.stdout) as { id: string; user: string }[]).find((x) => x.user === user);
    assert.ok(s, r.stdout);
    return s.id;
  }

  async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(250);
    }
  }

  it('counts what a transfer moved, both ways, within 1%; RADIUS sees Start, Interim-Update, Stop', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const { tun } = await connect('meter', 'meter-password');
    const id = await sessionOf('meter');
    await transfer();
    const truth = await tunTotals(tun);
    assert.ok(truth.rx > TRANSFER, `the client received ${truth.rx} inner bytes`);

    // Interim updates reach the store while the session is live.
    const live = await until('an interim update with the transfer in it', async () => {
      const row = (await accounting()).find((r) => r.session === id);
      // Both directions: an interim taken before the last pings went out is not the one to check.
      return row && row.bytesOut >= truth.rx * 0.99 && row.bytesIn >= truth.tx * 0.99
        ? row
        : undefined;
    });
    assert.equal(live.stop, null);
    within1pct(live.bytesOut, truth.rx, 'interim bytes out');
    within1pct(live.bytesIn, truth.tx, 'interim bytes in');

    await clients.pop()?.stop();
    const final = await until('the final accounting record', async () => {
      const row = (await accounting(['--since', before])).find((r) => r.session === id);
      return row?.stop ? row : undefined;
    });
    assert.equal(final.user, 'meter');
    within1pct(final.bytesOut, truth.rx, 'final bytes out');
    within1pct(final.bytesIn, truth.tx, 'final bytes in');
    assert.ok(final.packetsOut > TRANSFER / 1500 && final.packetsIn > 200, JSON.stringify(final));

    const records = await until('the RADIUS Stop', async () => {
      const mine = radius.accounting().filter((a) => a['Acct-Session-Id'] === id);
      return mine.some((a) => a['Acct-Status-Type'] === 'Stop') ? mine : undefined;
    });
    const kinds = records.map((a) => a['Acct-Status-Type']);
    assert.equal(kinds[0], 'Start');
    assert.equal(kinds.at(-1), 'Stop');
    assert.ok(kinds.includes('Interim-Update'), kinds.join(', '));
    const stop = records.at(-1) ?? {};
    assert.equal(stop['User-Name'], 'meter');
    assert.match(stop['Framed-IP-Address'] ?? '', /^100\.64\.0\.\d+$/);
    const octets = (lo?: string, hi?: string): number =>
      Number(lo ?? 0) + Number(hi ?? 0) * 2 ** 32;
    within1pct(
      octets(stop['Acct-Output-Octets'], stop['Acct-Output-Gigawords']),
      truth.rx,
      'RADIUS output',
    );
    within1pct(
      octets(stop['Acct-Input-Octets'], stop['Acct-Input-Gigawords']),
      truth.tx,
      'RADIUS input',
    );
    assert.equal(stop['Acct-Terminate-Cause'], 'User-Request');
  });

  it('a TCP client on the native path: its bytes are counted within 1% too', async () => {
    for (const c of clients.splice(0)) await c.stop();
    const before = new Date(Date.now() - 1000).toISOString();
    const { tun } = await connect('meter-tcp', 'meter-tcp-password', 'tcp');
    const r = await gw.cli(['sessions', '--json']);
    const session = (
      JSON.parse(r.stdout) as { id: string; user: string; protocol: string; dataPath?: string }[]
    ).find((x) => x.user === 'meter-tcp');
    assert.ok(session, r.stdout);
    assert.equal(session.protocol, 'openvpn-tcp');
    assert.equal(session.dataPath, 'native');
    await transfer();
    const truth = await tunTotals(tun);
    assert.ok(truth.rx > TRANSFER, `the client received ${truth.rx} inner bytes`);
    const live = await until('an interim update with the transfer in it', async () => {
      const row = (await accounting()).find((x) => x.session === session.id);
      return row && row.bytesOut >= truth.rx * 0.99 && row.bytesIn >= truth.tx * 0.99
        ? row
        : undefined;
    });
    within1pct(live.bytesOut, truth.rx, 'interim bytes out');
    within1pct(live.bytesIn, truth.tx, 'interim bytes in');
    await clients.pop()?.stop();
    const final = await until('the final accounting record', async () => {
      const row = (await accounting(['--since', before])).find((x) => x.session === session.id);
      return row?.stop ? row : undefined;
    });
    within1pct(final.bytesOut, truth.rx, 'final bytes out');
    within1pct(final.bytesIn, truth.tx, 'final bytes in');
  });

  it('a kick is audited, closes the accounting record and tells RADIUS Admin-Reset', async () => {
    for (const c of clients.splice(0)) await c.stop();
    await connect('kicked', 'kicked-password');
    const id = await sessionOf('kicked');
    const kick = await gw.cli(['kick', id]);
    assert.equal(kick.code, 0, kick.stderr);
    const rec = await until('the kick audit record', async () => {
      const r = await gw.cli(['audit', '--json']);
      const list = JSON.parse(r.stdout) as {
        event: string;
        user: string | null;
        reason: string | null;
        detail?: { session?: string };
      }[];
      return list.find((e) => e.event === 'kick' && e.detail?.session === id);
    });
    assert.equal(rec.user, 'kicked');
    assert.equal(rec.reason, 'admin');
    const row = await until('the closed accounting record', async () => {
      const r = (await accounting()).find((x) => x.session === id);
      return r?.stop ? r : undefined;
    });
    assert.equal(row.user, 'kicked');
    const stop = await until('the RADIUS Stop', async () =>
      radius
        .accounting()
        .find((a) => a['Acct-Session-Id'] === id && a['Acct-Status-Type'] === 'Stop'),
    );
    assert.equal(stop['Acct-Terminate-Cause'], 'Admin-Reset');
  });

  it('after SIGKILL of the gateway mid-session, audit, accounting and the export are intact', async () => {
    for (const c of clients.splice(0)) await c.stop();
    const { tun } = await connect('crash', 'crash-password');
    const id = await sessionOf('crash');
    await transfer();
    const truth = await tunTotals(tun);
    // Two interim intervals: whatever the last one saw is the whole transfer.
    await sleep(2 * INTERIM_SECONDS * 1000 + 500);
    gw.proc.kill('SIGKILL');
    await new Promise((resolve) => gw.proc.once('exit', resolve));

    const audit = await gw.cli(['audit', '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    const events = JSON.parse(audit.stdout) as {
      event: string;
      user: string | null;
      result: string;
      detail?: { session?: string };
    }[];
    assert.ok(
      events.some((e) => e.event === 'auth' && e.user === 'crash' && e.result === 'ok'),
      'the successful login of crash is audited',
    );
    assert.ok(
      events.some((e) => e.event === 'session.start' && e.detail?.session === id),
      'the session start is audited',
    );
    assert.ok(
      !events.some((e) => e.event === 'session.stop' && e.detail?.session === id),
      'no stop was recorded for a session that never stopped',
    );

    const row = (await accounting()).find((r) => r.session === id);
    assert.ok(row, 'the session has an accounting record');
    assert.equal(row.stop, null, 'the gateway died before it could close it');
    within1pct(row.bytesOut, truth.rx, 'bytes out saved by the last interim update');
    within1pct(row.bytesIn, truth.tx, 'bytes in saved by the last interim update');

    const lines = readFileSync(join(gw.dir, EXPORT_FILE), 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the export ends with a whole line');
    const objects = lines.map((l, i) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      assert.equal(typeof o, 'object', `line ${i + 1}`);
      return o;
    });
    const ids = objects.filter((o) => o.type === 'audit').map((o) => o.id as number);
    assert.deepEqual(
      ids,
      [...new Set(ids)].sort((a, b) => a - b),
      'each audit record once, in order',
    );
    assert.ok(
      objects.some(
        (o) =>
          o.type === 'audit' &&
          o.event === 'session.start' &&
          (o.detail as { session?: string })?.session === id,
      ),
    );
    assert.ok(objects.some((o) => o.type === 'audit' && o.event === 'auth' && o.user === 'crash'));
    const acct = objects.filter((o) => o.type === 'accounting' && o.session === id);
    assert.equal(acct[0]?.status, 'start');
    assert.ok(
      acct.some((o) => o.status === 'interim' && (o.bytesOut as number) >= truth.rx * 0.99),
    );
    // The first session's whole life is there too.
    assert.ok(
      objects.some((o) => o.type === 'accounting' && o.user === 'meter' && o.status === 'stop'),
    );
  });
});
