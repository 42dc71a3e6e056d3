// A client that dies without a word (power cut, SIGKILL) and starts again from the same address
// and port (`lport` in its profile, or a NAT that keeps ports) before the gateway noticed: it
// must connect at once, not wait out ping-restart while the old session swallows its packets.
// The old session gives way (session.stop says replaced), and only the new one is listed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  keepRemotes,
  clientsStoppedAfter,
  labWithGateway,
  startOpenvpnClient,
} from '../helpers/lab-gateway.js';
import type { OpenvpnClient } from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const CLIENT_PORT = '41194';

describe(
  'a client restarting from the same address and port',
  { skip: root ? false : 'needs root' },
  () => {
    const env = labWithGateway();
    const clients = clientsStoppedAfter();

    it('connects at once, and replaces its old session', async () => {
      const profile = await env.gw.addUser('phoenix');
      keepRemotes(profile, 'udp');
      // A fixed source port, as a user who set one would write it.
      const text = readFileSync(profile, 'utf8').replace(/^nobind$/m, `lport ${CLIENT_PORT}`);
      assert.match(text, /^lport /m);
      writeFileSync(profile, text);
      const start = (): OpenvpnClient => {
        const c = startOpenvpnClient(env.lab, 'laptop', profile);
        clients.push(c);
        return c;
      };
      const first = start();
      await first.log.waitFor(/Initialization Sequence Completed/, 45_000);
      const sessions = async () => (await env.gw.sessions()).filter((s) => s.user === 'phoenix');
      const [old] = await sessions();
      assert.ok(old, 'the first session is listed');
      assert.match(old.remote, new RegExp(`:${CLIENT_PORT}$`));

      first.proc.kill('SIGKILL'); // no exit notice: the gateway still holds the session
      await new Promise((resolve) => first.proc.once('exit', resolve));
      const second = start();
      // Well inside ping-restart (60 s here): only a new session from first contact gets there.
      await second.log.waitFor(/Initialization Sequence Completed/, 20_000);
      const ping = await env.lab.ping('laptop', env.lab.addr.office.v4, {
        count: 3,
        timeoutSec: 2,
      });
      assert.equal(ping.received, 3, ping.output);

      const now = await sessions();
      assert.equal(now.length, 1, JSON.stringify(now));
      assert.notEqual(now[0]?.id, old.id, 'a new session, not the old one resumed');
      const audit = await env.gw.audit();
      const stop = audit.find((a) => a.event === 'session.stop' && a.detail?.session === old.id);
      assert.ok(stop, JSON.stringify(audit.slice(-5)));
      assert.match(stop.reason ?? '', /replaced/);
    });
  },
);
