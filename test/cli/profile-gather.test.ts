// Which certificate a profile carries: the newest one that is neither revoked nor expired; and
// a user whose certificates all expired gets no profile.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { postern, tempDir } from '../helpers/postern-cli.js';
import { loadConfigFile } from '../../src/control/config/index.js';
import { issueClient } from '../../src/control/pki/index.js';
import { insertCertificate, openStore, type Store } from '../../src/control/store/index.js';
import { gatherProfileMaterial } from '../../src/control/profile/index.js';

const DAY_MS = 86_400_000;

describe('profile material: the certificate it carries', () => {
  const tmp = tempDir('postern-profile-gather-');
  const dir = join(tmp.path, 'gw');
  let store: Store;
  let firstSerial = '';

  before(async () => {
    assert.equal((await postern(['init', '--dir', dir, '--endpoint', '198.51.100.7'])).code, 0);
    const add = await postern(['user', 'add', 'dana', '--dir', dir, '--json']);
    assert.equal(add.code, 0, add.stderr);
    firstSerial = (JSON.parse(add.stdout) as { serial: string }).serial;
    store = await openStore(dir, 'sqlite:postern.db');
  });

  after(async () => {
    await store.close();
    tmp.remove();
  });

  const gather = (now: Date) =>
    gatherProfileMaterial({
      dir,
      config: loadConfigFile(join(dir, 'postern.yaml')),
      db: store.db,
      user: 'dana',
      now,
    });

  it('takes the newest live certificate, and falls back when that one is revoked', async () => {
    const later = new Date(Date.now() + DAY_MS);
    const renewed = await issueClient(dir, 'dana', { now: later });
    await insertCertificate(store.db, {
      serial: renewed.serial,
      user: 'dana',
      kind: 'client',
      subject: 'CN=dana',
      notBefore: later.toISOString(),
      notAfter: renewed.notAfter.toISOString(),
    });
    const inTwoDays = new Date(Date.now() + 2 * DAY_MS);
    const m = await gather(inTwoDays);
    assert.equal(m.serial, renewed.serial);
    assert.equal(m.certPem, renewed.certPem);
    assert.equal(m.keyPem, renewed.keyPem);
    assert.equal(m.verifyName, '198.51.100.7', "the gateway certificate's CN");

    await store.db
      .updateTable('certificates')
      .set({ revoked_at: inTwoDays.toISOString() })
      .where('serial', '=', renewed.serial)
      .execute();
    assert.equal((await gather(inTwoDays)).serial, firstSerial);
  });

  it('refuses a user whose certificates have all expired', async () => {
    const farFuture = new Date(Date.now() + 20 * 365 * DAY_MS);
    await assert.rejects(gather(farFuture), { code: 'USER_NO_CERTIFICATE' });
  });
});
