// Prepared queries (src/control/store/prepared.ts): built and compiled once, run with new
// values each time; the rows are those of the same query built afresh, constants stay, a missing
// value is our bug and says so, and inside a transaction they are part of it.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { insertUser, openStore } from '../../src/control/store/index.js';
import { prepare, type Arg } from '../../src/control/store/prepared.js';
import { tempDir } from '../helpers/postern-cli.js';

describe('prepared queries', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  it('binds each run its own values, keeps built-in constants, and matches a fresh build', async () => {
    const store = await openStore(tmp.path, 'sqlite:prepared.db');
    try {
      const { db } = store;
      const now = new Date('2026-11-27T08:00:00Z');
      for (const name of ['ann', 'bob', 'cy']) {
        await insertUser(db, { name, groups: name === 'cy' ? [] : ['staff'] }, now);
      }
      await db.updateTable('users').set({ disabled: 1 }).where('name', '=', 'bob').execute();
      const enabled = prepare((arg: Arg<{ name: string }>) =>
        db
          .selectFrom('users')
          .select('name')
          .where('name', '=', arg('name'))
          .where('disabled', '=', 0),
      );
      assert.deepEqual(await enabled.execute(db, { name: 'ann' }), [{ name: 'ann' }]);
      assert.deepEqual(
        await enabled.execute(db, { name: 'bob' }),
        [],
        'the constant 0 stayed bound',
      );
      assert.equal((await enabled.executeTakeFirst(db, { name: 'cy' }))?.name, 'cy');
      const fresh = await db
        .selectFrom('users')
        .select('name')
        .where('name', '=', 'cy')
        .where('disabled', '=', 0)
        .execute();
      assert.deepEqual(await enabled.execute(db, { name: 'cy' }), fresh);
      // The same argument twice in one query.
      const either = prepare((arg: Arg<{ n: string }>) =>
        db
          .selectFrom('users')
          .select('name')
          .where((eb) => eb.or([eb('name', '=', arg('n')), eb('name', '=', arg('n'))])),
      );
      assert.deepEqual(await either.execute(db, { n: 'bob' }), [{ name: 'bob' }]);
      await assert.rejects(enabled.execute(db, {} as { name: string }), {
        code: 'STORE_QUERY_ARG',
      });
    } finally {
      await store.close();
    }
  });

  it('runs inside a transaction as part of it', async () => {
    const store = await openStore(tmp.path, 'sqlite:prepared-tx.db');
    try {
      const { db } = store;
      const add = prepare((arg: Arg<{ name: string; at: string }>) =>
        db.insertInto('users').values({ name: arg('name'), created_at: arg('at'), disabled: 0 }),
      );
      await assert.rejects(
        db.transaction().execute(async (tx) => {
          assert.equal(await add.executeChanges(tx, { name: 'dee', at: 'x' }), 1n);
          throw new Error('roll back');
        }),
        /roll back/,
      );
      assert.equal(
        await db.selectFrom('users').select('name').where('name', '=', 'dee').executeTakeFirst(),
        undefined,
      );
      assert.equal(await add.executeChanges(db, { name: 'dee', at: 'x' }), 1n);
    } finally {
      await store.close();
    }
  });
});
