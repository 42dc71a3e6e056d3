// The store: migrations from empty, and the records the CLI and gateway read back.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import {
  insertCertificate,
  insertUser,
  listAccounting,
  listAudit,
  listUsers,
  openStore,
  revokedCertificates,
  revokeUserCertificates,
  startAccounting,
  updateAccounting,
  writeAudit,
} from '../../src/control/store/index.js';
import { migrationProvider } from '../../src/control/store/migrations/index.js';
import { tempDir } from '../helpers/postern-cli.js';

describe('store', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  it('migrates an empty database to the latest schema, once, privately', async () => {
    const store = await openStore(tmp.path, 'sqlite:postern.db');
    await store.close();
    const again = await openStore(tmp.path, 'sqlite:postern.db');
    await again.close();
    const raw = new Sqlite(join(tmp.path, 'postern.db'), { readonly: true });
    const tables = (
      raw.prepare("select name from sqlite_master where type = 'table' order by name").all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    const migrations = raw.prepare('select name from kysely_migration').all() as { name: string }[];
    raw.close();
    for (const t of [
      'users',
      'user_groups',
      'certificates',
      'sessions',
      'audit',
      'accounting',
      'meta',
    ])
      assert.ok(tables.includes(t), `table ${t}`);
    const known = Object.keys(await migrationProvider.getMigrations()).sort();
    assert.deepEqual(
      migrations.map((m) => m.name),
      known,
      'every migration applied, in order, once',
    );
    assert.equal(known[0], '001-initial');
    assert.equal(statSync(join(tmp.path, 'postern.db')).mode & 0o777, 0o600);
  });

  it('refuses a PostgreSQL URL clearly until that backend exists', async () => {
    await assert.rejects(openStore(tmp.path, 'postgres://u@h/db'), { code: 'STORE_UNSUPPORTED' });
    await assert.rejects(openStore(tmp.path, 'mysql://x'), { code: 'STORE_BAD_URL' });
  });

  it('keeps users with groups, revokes their certificates, and lists the revoked serials', async () => {
    const store = await openStore(tmp.path, 'sqlite:postern.db');
    const t0 = new Date('2026-01-01T00:00:00Z');
    await insertUser(store.db, { name: 'ann', groups: ['staff', 'admins', 'staff'] }, t0);
    await insertCertificate(store.db, {
      serial: 'aa01',
      user: 'ann',
      kind: 'client',
      subject: 'CN=ann',
      notBefore: t0.toISOString(),
      notAfter: '2028-01-01T00:00:00.000Z',
    });
    await insertCertificate(store.db, {
      serial: 'aa02',
      user: 'ann',
      kind: 'client',
      subject: 'CN=ann',
      notBefore: t0.toISOString(),
      notAfter: '2028-01-01T00:00:00.000Z',
    });
    const users = await listUsers(store.db);
    assert.deepEqual(
      users.map((u) => [u.name, u.groups]),
      [['ann', ['admins', 'staff']]],
    );
    const t1 = new Date('2026-02-01T00:00:00Z');
    assert.deepEqual((await revokeUserCertificates(store.db, 'ann', t1)).sort(), ['aa01', 'aa02']);
    assert.deepEqual(
      await revokeUserCertificates(store.db, 'ann', t1),
      [],
      'revoking twice revokes nothing more',
    );
    assert.deepEqual(
      (await revokedCertificates(store.db))
        .map((r) => [r.serial, r.revokedAt.toISOString()])
        .sort(),
      [
        ['aa01', t1.toISOString()],
        ['aa02', t1.toISOString()],
      ],
    );
    await assert.rejects(insertUser(store.db, { name: 'ann', groups: [] }, t0));
    await store.close();
  });

  it('audit records come back in order, filtered by --since', async () => {
    const store = await openStore(tmp.path, 'sqlite:postern.db');
    await writeAudit(
      store.db,
      {
        event: 'auth',
        user: 'ann',
        remote: '198.51.100.2:5000',
        result: 'fail',
        reason: 'bad password',
      },
      new Date('2026-03-01T10:00:00Z'),
    );
    await writeAudit(
      store.db,
      {
        event: 'auth',
        user: 'ann',
        remote: '198.51.100.2:5001',
        result: 'ok',
        reason: null,
        detail: { cipher: 'AES-256-GCM' },
      },
      new Date('2026-03-01T10:00:05Z'),
    );
    const all = await listAudit(store.db);
    assert.deepEqual(
      all.map((r) => r.result),
      ['fail', 'ok'],
    );
    assert.deepEqual(all[1], {
      time: '2026-03-01T10:00:05.000Z',
      event: 'auth',
      user: 'ann',
      remote: '198.51.100.2:5001',
      result: 'ok',
      reason: null,
      detail: { cipher: 'AES-256-GCM' },
    });
    assert.equal(
      (await listAudit(store.db, { since: new Date('2026-03-01T10:00:01Z') })).length,
      1,
    );
    await store.close();
  });

  it('accounting: start, interim, final', async () => {
    const store = await openStore(tmp.path, 'sqlite:postern.db');
    await startAccounting(
      store.db,
      { session: 's1', user: 'ann', protocol: 'openvpn-udp' },
      new Date('2026-03-01T10:00:00Z'),
    );
    await updateAccounting(
      store.db,
      's1',
      { bytesIn: 100, bytesOut: 200, packetsIn: 1, packetsOut: 2 },
      new Date('2026-03-01T10:01:00Z'),
      false,
    );
    let [rec] = await listAccounting(store.db);
    assert.equal(rec?.stop, null);
    assert.equal(rec?.bytesOut, 200);
    await updateAccounting(
      store.db,
      's1',
      { bytesIn: 1000, bytesOut: 2000, packetsIn: 10, packetsOut: 20 },
      new Date('2026-03-01T10:02:00Z'),
      true,
    );
    [rec] = await listAccounting(store.db);
    assert.deepEqual(rec, {
      session: 's1',
      user: 'ann',
      protocol: 'openvpn-udp',
      start: '2026-03-01T10:00:00.000Z',
      stop: '2026-03-01T10:02:00.000Z',
      bytesIn: 1000,
      bytesOut: 2000,
      packetsIn: 10,
      packetsOut: 20,
    });
    assert.equal(
      (await listAccounting(store.db, { since: new Date('2026-03-02T00:00:00Z') })).length,
      0,
    );
    await store.close();
  });
});
