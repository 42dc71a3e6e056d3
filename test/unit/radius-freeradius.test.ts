// Postern's RADIUS client against a real FreeRADIUS 3 (Debian) in the lab's office host, the
// client running in the gw host: PAP accept and reject, a wrong shared secret, failover past a
// dead server, a bounded 'unreachable', and accounting Start / Interim-Update / Stop as the
// server wrote them to its detail file (with octet counts past 4 GiB in Gigawords).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RadiusSettings } from '../../src/control/radius/index.js';
import { createLab, type Lab } from '../../src/lab/index.js';
import {
  freeradiusInstalled,
  startFreeradius,
  type FreeradiusServer,
} from '../helpers/freeradius.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root' : !freeradiusInstalled() ? 'needs the freeradius package' : false;
const PROBE = fileURLToPath(new URL('../fixtures/radius-probe.js', import.meta.url));
const SECRET = 'lab-secret-4711';
/** An office address nobody holds: requests to it vanish. */
const DEAD = '192.0.2.99';

describe('RADIUS client -> FreeRADIUS', { skip }, () => {
  let lab: Lab;
  let radius: FreeradiusServer;
  const settings = (over: Partial<RadiusSettings> = {}): RadiusSettings => ({
    servers: [{ host: lab.addr.office.v4, authPort: 1812, acctPort: 1813 }],
    secret: SECRET,
    nasIdentifier: 'postern-test',
    timeoutMs: 1000,
    tries: 2,
    ...over,
  });
  const probe = async (req: object): Promise<Record<string, unknown>> => {
    const r = await lab.exec('gw', process.execPath, [PROBE, JSON.stringify(req)], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  };

  before(async () => {
    lab = await createLab({ ipv6: false });
    radius = await startFreeradius(lab, 'office', {
      clients: [{ address: lab.addr.gw.office.v4, secret: SECRET }],
      users: [{ name: 'carol', password: 'correct horse' }],
    });
  });
  after(async () => {
    await radius?.stop();
    await lab?.destroy();
  });

  it('accepts the right password and rejects a wrong one', async () => {
    const ok = await probe({
      op: 'auth',
      settings: settings(),
      user: 'carol',
      password: 'correct horse',
    });
    assert.equal(ok.verdict, 'accept');
    const bad = await probe({
      op: 'auth',
      settings: settings(),
      user: 'carol',
      password: 'battery',
    });
    assert.equal(bad.verdict, 'reject');
    const nobody = await probe({
      op: 'auth',
      settings: settings(),
      user: 'mallory',
      password: 'x',
    });
    assert.equal(nobody.verdict, 'reject');
    await radius.log.waitFor(/Sent Access-Accept/, 5000);
    await radius.log.waitFor(/Sent Access-Reject/, 5000);
  });

  it('never takes an answer signed with another secret for an accept', async () => {
    const r = await probe({
      op: 'auth',
      settings: settings({ secret: 'not-the-secret', timeoutMs: 300, tries: 1 }),
      user: 'carol',
      password: 'correct horse',
    });
    assert.notEqual(r.verdict, 'accept');
  });

  it('fails over past a dead server to a live one', async () => {
    const r = await probe({
      op: 'auth',
      settings: settings({
        servers: [
          { host: DEAD, authPort: 1812, acctPort: 1813 },
          { host: lab.addr.office.v4, authPort: 1812, acctPort: 1813 },
        ],
        timeoutMs: 300,
      }),
      user: 'carol',
      password: 'correct horse',
    });
    assert.equal(r.verdict, 'accept');
  });

  it("answers 'unreachable' in bounded time when no server answers", async () => {
    const r = await probe({
      op: 'auth',
      settings: settings({
        servers: [
          { host: DEAD, authPort: 1812, acctPort: 1813 },
          { host: lab.addr.office.v4, authPort: 1999, acctPort: 1999 },
        ],
        timeoutMs: 300,
        tries: 2,
      }),
      user: 'carol',
      password: 'correct horse',
    });
    assert.equal(r.verdict, 'unreachable');
    // 2 servers x 2 tries x 300 ms, plus process start-up.
    assert.ok((r.ms as number) >= 1100 && (r.ms as number) < 3000, `took ${String(r.ms)} ms`);
  });

  it('sends accounting Start, Interim-Update and Stop that the server records', async () => {
    const bytesOut = 5 * 2 ** 32 + 1234;
    const r = await probe({
      op: 'accounting',
      settings: settings(),
      user: 'carol',
      session: { id: 'feedc0de', address4: '100.64.0.7', seconds: 42 },
      counters: { bytesIn: 777_000, bytesOut, packetsIn: 900, packetsOut: 5000 },
    });
    assert.deepEqual(r.outcomes, ['acknowledged', 'acknowledged', 'acknowledged']);
    const mine = radius.accounting().filter((a) => a['Acct-Session-Id'] === 'feedc0de');
    assert.deepEqual(
      mine.map((a) => a['Acct-Status-Type']),
      ['Start', 'Interim-Update', 'Stop'],
    );
    const stop = mine[2] ?? {};
    assert.equal(stop['User-Name'], 'carol');
    assert.equal(stop['Framed-IP-Address'], '100.64.0.7');
    assert.equal(stop['NAS-Identifier'], 'postern-test');
    assert.equal(stop['Acct-Input-Octets'], '777000');
    assert.equal(stop['Acct-Output-Octets'], '1234');
    assert.equal(stop['Acct-Output-Gigawords'], '5');
    assert.equal(stop['Acct-Output-Packets'], '5000');
    assert.equal(stop['Acct-Terminate-Cause'], 'User-Request');
    assert.ok(Number(stop['Acct-Session-Time']) >= 42, stop['Acct-Session-Time']);
  });
});
