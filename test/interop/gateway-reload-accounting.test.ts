// `postern reload` applies accounting settings to a running gateway, as postern.yaml promises:
// turning the SIEM export on and shortening the interim interval take effect for the sessions
// already up, without a restart and without dropping them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  keepRemotes,
  clientsStoppedAfter,
  labWithGateway,
  startOpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const EXPORT_FILE = 'siem.jsonl';

interface ExportLine {
  type: string;
  status?: string;
  session?: string;
  event?: string;
}

describe('postern reload and accounting', { skip: root ? false : 'needs root' }, () => {
  const env = labWithGateway();
  const clients = clientsStoppedAfter();

  it('turns the SIEM export on and shortens the interim interval for live sessions', async () => {
    const profile = await env.gw.addUser('ledger');
    keepRemotes(profile, 'udp');
    const client = startOpenvpnClient(env.lab, 'laptop', profile);
    clients.push(client);
    await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
    const list = await env.gw.sessions();
    const session = list.find((s) => s.user === 'ledger');
    assert.ok(session, JSON.stringify(list));
    const exportPath = join(env.gw.dir, EXPORT_FILE);
    assert.equal(existsSync(exportPath), false, 'no export before the reload');

    const file = join(env.gw.dir, 'postern.yaml');
    const yaml = readFileSync(file, 'utf8')
      .replace(/^ {2}interim-seconds: \d+/m, '  interim-seconds: 1')
      .replace(/^ {2}export: null/m, `  export: ${EXPORT_FILE}`);
    assert.match(yaml, /interim-seconds: 1\b/);
    assert.match(yaml, /export: siem\.jsonl/);
    writeFileSync(file, yaml);
    const r = await env.gw.cli(['reload']);
    assert.equal(r.code, 0, r.stderr);

    // The default interval is 30 s: interim lines within a few seconds come from the new one.
    const deadline = Date.now() + 10_000;
    let interims: ExportLine[] = [];
    while (interims.length < 2 && Date.now() < deadline) {
      await sleep(250);
      if (!existsSync(exportPath)) continue;
      interims = readFileSync(exportPath, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as ExportLine)
        .filter((l) => l.type === 'accounting' && l.status === 'interim');
    }
    assert.ok(interims.length >= 2, `interim lines: ${JSON.stringify(interims)}`);
    assert.ok(interims.every((l) => l.session === session.id));
    const ping = await env.lab.ping('laptop', env.lab.addr.office.v4, { count: 2, timeoutSec: 2 });
    assert.equal(ping.received, 2, 'the session stayed up across the reload');
    const after = await env.gw.sessions();
    assert.ok(after.some((s) => s.id === session.id));
  });
});
