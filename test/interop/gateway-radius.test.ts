// RADIUS authentication end to end: a gateway with `radius.enabled` asks FreeRADIUS (in the
// office) for every password; the certificate still comes from the gateway's own CA.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from '../../src/lab/index.js';
import { tempDir } from '../helpers/postern-cli.js';
import {
  freeradiusInstalled,
  startFreeradius,
  type FreeradiusServer,
} from '../helpers/freeradius.js';
import {
  keepRemotes,
  startLabGateway,
  startOpenvpnClient,
  type LabGateway,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root' : !freeradiusInstalled() ? 'needs the freeradius package' : false;
const SECRET = 'radius-shared-secret';

interface AuditRecord {
  event: string;
  user: string | null;
  result: string;
  reason: string | null;
  detail?: Record<string, unknown>;
}

describe('RADIUS authentication against FreeRADIUS', { skip }, () => {
  let lab: Lab;
  let gw: LabGateway;
  let radius: FreeradiusServer;
  let profile: string;
  const tmp = tempDir();
  before(async () => {
    lab = await createLab();
    radius = await startFreeradius(lab, 'office', {
      clients: [{ address: lab.addr.gw.office.v4, secret: SECRET }],
      users: [{ name: 'rad', password: 'the-radius-password' }],
    });
    gw = await startLabGateway(lab, {
      configure: (y) =>
        y
          .replace(/(radius:[^\n]*\n\s+)enabled: false/, '$1enabled: true')
          .replace(/servers: \[\]/, `servers: [{ host: ${lab.addr.office.v4} }]`)
          .replace(/secret: ""/, `secret: "${SECRET}"`)
          .replace(/timeout-ms: 3000/, 'timeout-ms: 1000'),
    });
    // A certificate from the gateway's CA, and no local password: RADIUS judges passwords.
    profile = await gw.addUser('rad');
    keepRemotes(profile, 'udp');
  });
  after(async () => {
    await gw?.stop();
    await radius?.stop();
    await lab?.destroy();
    tmp.remove();
  });

  async function attempt(password: string, expect: RegExp): Promise<AuditRecord> {
    const cred = join(tmp.path, `cred-${password.length}`);
    writeFileSync(cred, `rad\n${password}\n`, { mode: 0o600 });
    const client = startOpenvpnClient(lab, 'laptop', profile, ['--auth-user-pass', cred]);
    try {
      await client.log.waitFor(expect, 45_000);
    } finally {
      await client.stop();
    }
    const records = JSON.parse((await gw.cli(['audit', '--json'])).stdout) as AuditRecord[];
    const last = records.filter((r) => r.event === 'auth' && r.user === 'rad').at(-1);
    assert.ok(last, 'an auth audit record');
    return last;
  }

  it('a wrong password is refused by RADIUS, and audited', async () => {
    const rec = await attempt('not-it', /AUTH_FAILED/);
    assert.equal(rec.result, 'fail');
    assert.match(rec.reason ?? '', /RADIUS rejected/);
  });

  it('the right password gets in; the local store has no password for the user', async () => {
    const rec = await attempt('the-radius-password', /Initialization Sequence Completed/);
    assert.equal(rec.result, 'ok');
    assert.match(JSON.stringify(rec), /radius/);
  });
});
