// Restarting the gateway (an upgrade, a changed listener) must not cost its users a minute: on
// SIGTERM it tells every connected client to reconnect (RESTART, as OpenVPN's server does with
// explicit-exit-notify), so stock clients over UDP and TCP are back as soon as the new process
// listens, not after ping-restart (120 s here).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  keepRemotes,
  clientsStoppedAfter,
  labWithGateway,
  startOpenvpnClient,
  type OpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const CONNECTED = /Initialization Sequence Completed/;

/** Resolves once `count` lines of the client's log match. */
async function lineCount(client: OpenvpnClient, re: RegExp, count: number, ms: number) {
  const deadline = Date.now() + ms;
  while (client.log.lines.filter((l) => re.test(l)).length < count) {
    if (Date.now() > deadline) {
      throw new Error(
        `${count} x ${re} not within ${ms} ms:\n${client.log.lines.slice(-15).join('\n')}`,
      );
    }
    await sleep(100);
  }
}

describe('restarting the gateway', { skip: root ? false : 'needs root' }, () => {
  const env = labWithGateway();
  const clients = clientsStoppedAfter();

  it('sends its clients away with RESTART, and they are back once it listens again', async () => {
    for (const proto of ['udp', 'tcp'] as const) {
      const profile = await env.gw.addUser(`commuter-${proto}`);
      keepRemotes(profile, proto);
      clients.push(startOpenvpnClient(env.lab, 'laptop', profile));
    }
    for (const c of clients) await c.log.waitFor(CONNECTED, 45_000);

    const t0 = Date.now();
    await env.gw.restart();
    for (const c of clients) {
      await c.log.waitFor(/SIGUSR1\[soft,server-pushed-connection-reset\]/, 5_000);
    }
    for (const c of clients) await lineCount(c, CONNECTED, 2, 30_000);
    const ping = await env.lab.ping('laptop', env.lab.addr.office.v4, { count: 3, timeoutSec: 2 });
    assert.equal(ping.received, 3, ping.output);
    const list = await env.gw.sessions();
    assert.deepEqual(list.map((s) => s.user).sort(), ['commuter-tcp', 'commuter-udp']);

    const audit = await env.gw.audit();
    const stops = audit.filter((a) => a.event === 'session.stop' && a.user?.startsWith('commuter'));
    assert.equal(stops.length, 2, JSON.stringify(stops));
    for (const s of stops) assert.match(s.reason ?? '', /^shutdown: the gateway is stopping/);
    assert.ok(Date.now() - t0 < 40_000);
  });
});
