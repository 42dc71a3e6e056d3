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
});
