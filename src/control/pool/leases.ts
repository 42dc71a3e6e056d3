// Persisted address leases. An address, once given to a user, stays that user's (so a reconnect,
// even after a gateway restart, gets the same address) until the pool runs short and the least
// recently used idle lease is taken back. A user with a static address always gets it when it is
// free. The store's primary key on the address is the last word: no address is held twice, even
// with many sessions connecting at once; each hand-out is one transaction.
import { PosternError } from '../../errors.js';
import type { ExpressionBuilder } from 'kysely';
import type { Db } from '../store/index.js';
import type { Database } from '../store/schema.js';
import { iso } from '../store/time.js';
import { AddressPool } from './address-pool.js';
import { addressToBigInt, bigIntToAddress } from './ip-math.js';
import { LeaseCursor } from './lease-cursor.js';

export interface LeasePools {
  ipv4: string;
  ipv6: string;
}

export interface LeasedAddresses {
  v4?: string;
  v6?: string;
}

type Family = 4 | 6;

const FAMILIES: readonly Family[] = [4, 6];
/** Session ids per UPDATE: well under SQLite's limit on bound parameters. */
const RELEASES_PER_UPDATE = 500;

/** One spelling per address (IPv6 has many), so the primary key means what it should. */
export function canonicalAddress(address: string): string {
  const family: Family = address.includes(':') ? 6 : 4;
  return bigIntToAddress(addressToBigInt(address), family);
}

/** Checks a static address for a pool: inside it, and not the network, gateway or broadcast. */
export function checkStaticAddress(cidr: string, address: string): string {
  const family: Family = address.includes(':') ? 6 : 4;
  const pool = new AddressPool(cidr);
  let canonical: string;
  try {
    canonical = canonicalAddress(address);
  } catch {
    throw new PosternError('BAD_STATIC_ADDRESS', `"${address}" is not an IPv${family} address`);
  }
  if (pool.family !== family || !pool.isClientAddress(canonical)) {
    throw new PosternError(
      'BAD_STATIC_ADDRESS',
      `${address} is not a client address of the pool ${cidr}`,
      `pick one inside ${cidr} other than its first two addresses${family === 4 ? ' and its broadcast' : ''}`,
    );
  }
  return canonical;
}

/**
 * Checks static addresses before they are given: each inside its pool and nobody else's static
 * address. Returns them in canonical form.
 */
export async function checkStaticAddresses(
  db: Db,
  pools: LeasePools,
  addresses: LeasedAddresses,
  forUser?: string,
): Promise<LeasedAddresses> {
  const v4 = addresses.v4 === undefined ? undefined : checkStaticAddress(pools.ipv4, addresses.v4);
  const v6 = addresses.v6 === undefined ? undefined : checkStaticAddress(pools.ipv6, addresses.v6);
  for (const [column, value] of [
    ['static_ipv4', v4],
    ['static_ipv6', v6],
  ] as const) {
    if (value === undefined) continue;
    let q = db.selectFrom('users').select('name').where(column, '=', value);
    if (forUser !== undefined) q = q.where('name', '!=', forUser);
    const other = await q.executeTakeFirst();
    if (other) {
      throw new PosternError(
        'STATIC_ADDRESS_TAKEN',
        `${value} is already the static address of ${other.name}`,
      );
    }
  }
  return { ...(v4 !== undefined ? { v4 } : {}), ...(v6 !== undefined ? { v6 } : {}) };
}

/** Gives a user static addresses (validated against the pools; unique among users). */
export async function setStaticAddresses(
  db: Db,
  user: string,
  pools: LeasePools,
  addresses: LeasedAddresses,
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const { v4, v6 } = await checkStaticAddresses(tx, pools, addresses, user);
    for (const [column, value] of [
      ['static_ipv4', v4],
      ['static_ipv6', v6],
    ] as const) {
      if (value === undefined) continue;
      const r = await tx
        .updateTable('users')
        .set({ [column]: value })
        .where('name', '=', user)
        .executeTakeFirst();
      if (r.numUpdatedRows === 0n) {
        throw new PosternError('NO_SUCH_USER', `no user "${user}"`, 'see `postern user list`');
      }
    }
  });
}

export class LeaseStore {
  readonly #db: Db;
  readonly #pools: Record<Family, LeaseCursor>;
  #releasing: { sessions: string[]; done: Promise<void> } | undefined;

  constructor(db: Db, pools: LeasePools) {
    this.#db = db;
    this.#pools = { 4: new LeaseCursor(pools.ipv4), 6: new LeaseCursor(pools.ipv6) };
  }

  /** At gateway start no session is alive: every lease goes idle (and stays its user's). */
  async releaseAll(now: Date): Promise<void> {
    await this.#db
      .updateTable('leases')
      .set({ session_id: null, updated_at: iso(now) })
      .where('session_id', 'is not', null)
      .execute();
  }

  /** An address of each family for a session of `user`; a family is absent when exhausted. */
  async acquire(user: string, session: string, now: Date): Promise<LeasedAddresses> {
    // One transaction for both families: one commit per hand-out.
    return this.#db.transaction().execute(async (tx) => {
      const statics = await tx
        .selectFrom('users')
        .select(['static_ipv4', 'static_ipv6'])
        .where('name', '=', user)
        .executeTakeFirst();
      const out: LeasedAddresses = {};
      for (const family of FAMILIES) {
        const own = family === 4 ? statics?.static_ipv4 : statics?.static_ipv6;
        const address = await this.#acquireOne(tx, family, user, session, now, {
          own: own ? canonicalAddress(own) : undefined,
        });
        if (address !== undefined) out[family === 4 ? 'v4' : 'v6'] = address;
      }
      return out;
    });
  }

  /**
   * The session ended: its addresses go idle, still remembered as its user's. Releases of the
   * same turn of the event loop share one statement (a gateway stopping 10,000 sessions).
   */
  release(session: string, now: Date): Promise<void> {
    if (this.#releasing) {
      this.#releasing.sessions.push(session);
      return this.#releasing.done;
    }
    const batch = {
      sessions: [session],
      done: new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.#releasing = undefined;
          this.#releaseAll(batch.sessions, now).then(resolve, reject);
        });
      }),
    };
    this.#releasing = batch;
    return batch.done;
  }

  async #releaseAll(sessions: string[], now: Date): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      for (let at = 0; at < sessions.length; at += RELEASES_PER_UPDATE) {
        await tx
          .updateTable('leases')
          .set({ session_id: null, updated_at: iso(now) })
          .where('session_id', 'in', sessions.slice(at, at + RELEASES_PER_UPDATE))
          .execute();
      }
    });
  }

  /** Addresses held by live sessions, for a family. */
  async inUse(family: Family): Promise<{ address: string; user: string; session: string }[]> {
    const rows = await this.#db
      .selectFrom('leases')
      .select(['address', 'user_name', 'session_id'])
      .where('family', '=', family)
      .where('session_id', 'is not', null)
      .execute();
    return rows.map((r) => ({
      address: r.address,
      user: r.user_name,
      session: r.session_id ?? '',
    }));
  }

  async #acquireOne(
    tx: Db,
    family: Family,
    user: string,
    session: string,
    now: Date,
    mine: { own: string | undefined },
  ): Promise<string | undefined> {
    const staticColumn = family === 4 ? 'static_ipv4' : 'static_ipv6';
    const pool = this.#pools[family];
    // Every step is an indexed lookup: the cost of a hand-out must not grow with the leases
    // already held (10,000 sessions is a normal day).
    const claim = async (address: string, exists: boolean): Promise<string> => {
      const values = { user_name: user, session_id: session, updated_at: iso(now) };
      if (exists) {
        await tx.updateTable('leases').set(values).where('address', '=', address).execute();
      } else {
        await tx
          .insertInto('leases')
          .values({ address, family, ...values })
          .execute();
      }
      return address;
    };

    // A static address: the user's own, whenever no live session holds it.
    if (mine.own !== undefined && pool.contains(mine.own)) {
      const held = await tx
        .selectFrom('leases')
        .select('session_id')
        .where('address', '=', mine.own)
        .executeTakeFirst();
      if (!held?.session_id) return claim(mine.own, held !== undefined);
    }
    // The user's idle lease of this family used most recently, unless it became someone's
    // static address. (family, user, session) is one index: a user with thousands of live
    // sessions costs no more than one with none.
    const idle = await idleLease(tx, family, { user, newest: true });
    if (idle) return claim(idle.address, true);
    // A fresh address nobody leases and nobody has as static address, from the cursor up. The
    // count is only needed once the first candidate is taken: is there anything left at all?
    let counted = false;
    for (const candidate of pool.candidates()) {
      const taken = await tx
        .selectFrom('leases')
        .select((eb) => eb.val(1).as('taken'))
        .where('address', '=', candidate)
        .unionAll(
          tx
            .selectFrom('users')
            .select((eb) => eb.val(1).as('taken'))
            .where(staticColumn, '=', candidate),
        )
        .executeTakeFirst();
      if (taken === undefined) {
        pool.advancePast(candidate);
        return claim(candidate, false);
      }
      if (!counted) {
        counted = true;
        const leased = await tx
          .selectFrom('leases')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('family', '=', family)
          .executeTakeFirstOrThrow();
        if (Number(leased.n) >= pool.size) break;
      }
    }
    // The pool is short: take back the idle lease unused the longest.
    const oldest = await idleLease(tx, family, { newest: false });
    if (oldest) return claim(oldest.address, true);
    return undefined;
  }
}

/** An idle lease of a family (of one user, if given) that is nobody's static address. */
function idleLease(
  tx: Db,
  family: Family,
  o: { user?: string; newest: boolean },
): Promise<{ address: string } | undefined> {
  let q = tx
    .selectFrom('leases')
    .select('address')
    .where('family', '=', family)
    .where('session_id', 'is', null)
    .where((eb) =>
      eb.not(eb.exists(staticHolderOf(eb, family === 4 ? 'static_ipv4' : 'static_ipv6'))),
    );
  if (o.user !== undefined) q = q.where('user_name', '=', o.user);
  return q
    .orderBy('updated_at', o.newest ? 'desc' : 'asc')
    .limit(1)
    .executeTakeFirst();
}

/** "Some user has this lease's address as static address", for NOT EXISTS. */
function staticHolderOf(
  eb: ExpressionBuilder<Database, 'leases'>,
  column: 'static_ipv4' | 'static_ipv6',
) {
  return eb
    .selectFrom('users')
    .select('users.name')
    .whereRef(`users.${column}`, '=', 'leases.address');
}
