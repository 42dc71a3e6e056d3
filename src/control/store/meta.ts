// Small named values the gateway keeps across restarts (e.g. the CRL number, which must grow).
import type { Db } from './open.js';

export async function getMeta(db: Db, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function setMeta(db: Db, key: string, value: string): Promise<void> {
  await db
    .insertInto('meta')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}

/** Returns the next value of a counter that only ever grows. */
export async function nextCounter(db: Db, key: string): Promise<number> {
  return db.transaction().execute(async (tx) => {
    const current = Number((await getMeta(tx, key)) ?? '0');
    await setMeta(tx, key, String(current + 1));
    return current + 1;
  });
}
