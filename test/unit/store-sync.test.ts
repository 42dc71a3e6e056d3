// The store's synchronous side (store/sync.ts): a lease hand-out and the turn's audit rows run
// straight on SQLite, and never inside a transaction Kysely happens to have open on the same
// connection (whose rollback would take them along).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseStore } from '../../src/control/pool/leases.js';
import { insertUser, listAudit, openStore, writeAudit } from '../../src/control/store/index.js';
import { tempDir } from '../helpers/postern-cli.js';

const T0 = new Date('2026-11-27T12:00:00Z');

describe('store: synchronous writes', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  it("waits for Kysely's open transaction instead of joining it", async () => {
    const store = await openStore(tmp.path, 'sqlite:sync.db');
    try {
      await insertUser(store.db, { name: 'alice', groups: [] }, T0);
      const leases = new LeaseStore(store.db, { ipv4: '100.64.0.0/24', ipv6: 'fd00:64::/64' });
      let opened!: () => void;
      const isOpen = new Promise<void>((resolve) => (opened = resolve));
      const doomed = store.db.transaction().execute(async (tx) => {
        await tx.insertInto('meta').values({ key: 'doomed', value: 'x' }).execute();
        opened();
        await sleep(50);
        throw new Error('rolled back');
      });
      await isOpen;
      // Both start while the doomed transaction is open, and finish after it rolled back.
      const leased = leases.acquire('alice', 's1', T0);
      const audited = writeAudit(store.db, { event: 'auth', user: 'alice', result: 'ok' }, T0);
      await assert.rejects(doomed, /rolled back/);
      assert.deepEqual(await leased, { v4: '100.64.0.2', v6: 'fd00:64::2' });
      await audited;
      assert.deepEqual(
        (await leases.inUse(4)).map((l) => l.address),
        ['100.64.0.2'],
        'the lease outlived the rollback',
      );
      assert.equal((await listAudit(store.db)).length, 1, 'the audit row outlived the rollback');
      const meta = await store.db
        .selectFrom('meta')
        .selectAll()
        .where('key', '=', 'doomed')
        .execute();
      assert.deepEqual(meta, []);
    } finally {
      await store.close();
    }
  });
});
