// Accounting totals written in one transaction per turn: every session's row gets its own
// numbers, a stop is never undone by an interim of the same turn, and nothing waits longer than
// the turn.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AccountingUpdates,
  listAccounting,
  openStore,
  startAccounting,
} from '../../src/control/store/index.js';
import { tempDir } from '../helpers/postern-cli.js';

describe('accounting updates', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  it('writes a burst of interim totals, each to its own session, and keeps stops final', async () => {
    const store = await openStore(tmp.path, 'sqlite:postern.db');
    try {
      const t0 = new Date('2026-11-27T10:00:00Z');
      const t1 = new Date('2026-11-27T10:00:30Z');
      const sessions = Array.from({ length: 500 }, (_, i) => `s${i}`);
      for (const s of sessions) {
        await startAccounting(store.db, { session: s, user: 'u', protocol: 'openvpn-udp' }, t0);
      }
      const updates = new AccountingUpdates(store.db);
      const counters = (i: number) => ({
        bytesIn: i * 10,
        bytesOut: i * 20,
        packetsIn: i,
        packetsOut: i * 2,
      });
      const written = sessions.map((s, i) => updates.update(s, counters(i), t1, s === 's7'));
      // s7 stopped; an interim for it in the same turn must not reopen it.
      written.push(updates.update('s7', counters(999), t1, false));
      await Promise.all(written);
      const rows = new Map((await listAccounting(store.db)).map((r) => [r.session, r]));
      assert.equal(rows.size, 500);
      assert.equal(rows.get('s3')?.bytesOut, 60);
      assert.equal(rows.get('s499')?.packetsIn, 499);
      assert.equal(rows.get('s3')?.stop, null);
      assert.equal(rows.get('s7')?.stop, t1.toISOString(), 's7 stays stopped');
    } finally {
      await store.close();
    }
  });

  it("writes the starts of a turn in one go, before the same turn's totals", async () => {
    const store = await openStore(tmp.path, 'sqlite:starts.db');
    try {
      const t0 = new Date('2026-11-27T11:00:00Z');
      const updates = new AccountingUpdates(store.db);
      const sessions = Array.from({ length: 1200 }, (_, i) => `n${i}`);
      const written = sessions.map((s) =>
        updates.start({ session: s, user: 'bob', protocol: 'openvpn-tcp' }, t0),
      );
      const counters = { bytesIn: 5, bytesOut: 6, packetsIn: 1, packetsOut: 2 };
      written.push(updates.update('n42', counters, t0, true));
      await Promise.all(written);
      const rows = new Map((await listAccounting(store.db)).map((r) => [r.session, r]));
      assert.equal(rows.size, 1200);
      assert.equal(rows.get('n1199')?.user, 'bob');
      assert.equal(rows.get('n1199')?.start, t0.toISOString());
      assert.equal(rows.get('n42')?.bytesOut, 6, 'the update of the same turn found its row');
      assert.equal(rows.get('n42')?.stop, t0.toISOString());
      // A second start of the same session is refused by the store, and says so; the other
      // rows of that turn are written all the same.
      const again = updates.start({ session: 'n1', user: 'bob', protocol: 'x' }, t0);
      const fresh = updates.start({ session: 'n5000', user: 'eve', protocol: 'openvpn-udp' }, t0);
      await assert.rejects(again, /UNIQUE/);
      await assert.rejects(fresh, /UNIQUE/, 'the turn reports its failure to every waiter');
      const after = new Map((await listAccounting(store.db)).map((r) => [r.session, r]));
      assert.equal(after.get('n5000')?.user, 'eve');
      assert.equal(after.get('n1')?.protocol, 'openvpn-tcp', 'the first start stands');
    } finally {
      await store.close();
    }
  });
});
