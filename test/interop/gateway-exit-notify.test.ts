// A client that leaves with explicit-exit-notify but without cc-exit (older OpenVPN clients):
// OCC_EXIT on the data channel. The gateway ends its session within its keepalive sweep, not
// after ping-restart: the session is gone from `postern sessions`, and session.stop says exit.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { keepRemotes, labWithGateway, watchLines } from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const CLIENT_JS = fileURLToPath(new URL('../fixtures/occ-exit-client.js', import.meta.url));

describe('explicit-exit-notify without cc-exit', { skip: root ? false : 'needs root' }, () => {
  const env = labWithGateway();
  const stops: (() => void)[] = [];
  after(() => stops.forEach((stop) => stop()));

  async function sessionsOf(user: string) {
    return (await env.gw.sessions()).filter((s) => s.user === user);
  }

  it('ends the session on OCC_EXIT at once, while the client stays reachable', async () => {
    const profile = await env.gw.addUser('leaver', { format: 'postern' });
    keepRemotes(profile, 'udp');
    const proc = env.lab.spawn('laptop', process.execPath, [CLIENT_JS, profile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    stops.push(() => proc.kill('SIGTERM'));
    const log = watchLines(proc, 'occ-exit client');
    await log.waitFor(/"event":"configured"/, 30_000);
    await log.waitFor(/"event":"exit-sent"/, 5_000);
    // Without the OCC_EXIT only ping-restart (60 s here) would end it; the sweep runs every second.
    const deadline = Date.now() + 5_000;
    let left = await sessionsOf('leaver');
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      left = await sessionsOf('leaver');
    }
    assert.deepEqual(left, [], 'the session is gone within 5 s');
    const audit = await env.gw.audit();
    const stop = audit.find((a) => a.event === 'session.stop' && a.user === 'leaver');
    assert.ok(stop, JSON.stringify(audit.slice(-5)));
    assert.match(stop.reason ?? '', /exit/);
    assert.equal(proc.exitCode, null, 'the client did not go away: the gateway ended it');
  });
});
