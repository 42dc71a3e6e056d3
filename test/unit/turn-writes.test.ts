// The store's writes of one turn of the event loop (store/turn-writes.ts): audit records,
// accounting rows and lease releases share one commit, and when that commit fails each
// module's writes are retried on their own, so one bad row costs only its own module's waiters.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseStore } from '../../src/control/pool/leases.js';
import {
  AccountingUpdates,
  insertUser,
  listAccounting,
  listAudit,
  openStore,
  writeAudit,
} from '../../src/control/store/index.js';
import { syncOf } from '../../src/control/store/sync.js';
import { tempDir } from '../helpers/postern-cli.js';

const T0 = new Date('2026-11-27T13:00:00Z');
const POOLS = { ipv4: '100.64.0.0/24', ipv6: 'fd00:64::/64' };

describe('store: one commit per turn', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  it("commits a turn's audit, accounting and lease writes together; a bad row fails only its own", async () => {
    const store = await openStore(tmp.path, 'sqlite:turn.db');
    try {
      await insertUser(store.db, { name: 'alice', groups: [] }, T0);
      const leases = new LeaseStore(store.db, POOLS);
      const accounting = new AccountingUpdates(store.db);
      await leases.acquire('alice', 's1', T0);
      await accounting.start({ session: 's1', user: 'alice', protocol: 'openvpn-udp' }, T0);

      // Count the transactions the synchronous side runs from here on.
      const sql = syncOf(store.db);
      assert.ok(sql);
      const transaction = sql.transaction.bind(sql);
      let commits = 0;
      sql.transaction = <T>(work: () => T): Promise<T> => {
        commits += 1;
        return transaction(work);
      };

      // A session's end: its audit record, its final totals and its lease release, one turn.
      const counters = { bytesIn: 1, bytesOut: 2, packetsIn: 3, packetsOut: 4 };
      await Promise.all([
        writeAudit(store.db, { event: 'session.stop', user: 'alice', result: 'ok' }, T0),
        accounting.update('s1', counters, T0, true),
        leases.release('s1', T0),
      ]);
      assert.equal(commits, 1, 'one commit for the three modules');
      assert.equal((await listAccounting(store.db))[0]?.bytesOut, 2);
      assert.deepEqual(await leases.inUse(4), []);

      // A turn with a bad accounting row (a second start of s1): the audit record and the
      // good accounting row are committed all the same; only accounting's waiters hear of it.
      commits = 0;
      const audited = writeAudit(store.db, { event: 'auth', user: 'alice', result: 'ok' }, T0);
      const again = accounting.start({ session: 's1', user: 'alice', protocol: 'x' }, T0);
      const fresh = accounting.start({ session: 's2', user: 'alice', protocol: 'openvpn-tcp' }, T0);
      await audited;
      await assert.rejects(again, /UNIQUE/);
      await assert.rejects(fresh, /UNIQUE/, "the module's waiters share its first error");
      assert.deepEqual(
        (await listAudit(store.db)).map((r) => r.event),
        ['session.stop', 'auth'],
      );
      const rows = await listAccounting(store.db);
      assert.deepEqual(
        rows.map((r) => [r.session, r.protocol]),
        [
          ['s1', 'openvpn-udp'],
          ['s2', 'openvpn-tcp'],
        ],
      );
      assert.ok(commits >= 2, 'the failed turn was retried module by module');
    } finally {
      await store.close();
    }
  });
});
