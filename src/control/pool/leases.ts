// Persisted address leases. An address, once given to a user, stays that user's (so a reconnect,
// even after a gateway restart, gets the same address) until the pool runs short and the least
// recently used idle lease is taken back. A user with a static address always gets it when it is
// free. The store's primary key on the address is the last word: no address is held twice, even
// with many sessions connecting at once; each hand-out is one transaction.
import { PosternError } from '../../errors.js';
import { sql as literal, type CompiledQuery, type ExpressionBuilder } from 'kysely';
import type { Db } from '../store/index.js';
import type { Database } from '../store/schema.js';
import { prepare, type Arg } from '../store/prepared.js';
import { syncOf, type SyncSqlite } from '../store/sync.js';
import { writeAtTurnEnd } from '../store/turn-writes.js';
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
  /** Each hand-out is one synchronous transaction (store/sync.ts). */
  readonly #sql: SyncSqlite;
  readonly #pools: Record<Family, LeaseCursor>;
  readonly #queries: ReturnType<typeof handOutQueries>;
  #releasing: { sessions: string[]; done: Promise<void> } | undefined;

  constructor(db: Db, pools: LeasePools) {
    this.#db = db;
    const sql = syncOf(db);
    if (sql === undefined) {
      throw new PosternError('STORE_UNSUPPORTED', 'address leases need the SQLite store');
    }
    this.#sql = sql;
    this.#queries = handOutQueries(db);
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
  acquire(user: string, session: string, now: Date): Promise<LeasedAddresses> {
    const q = this.#queries;
    const sql = this.#sql;
    // One transaction for both families: one commit per hand-out.
    return sql.transaction(() => {
      const statics = q.statics.get(sql, { user });
      const out: LeasedAddresses = {};
      for (const family of FAMILIES) {
        const own = family === 4 ? statics?.static_ipv4 : statics?.static_ipv6;
        const address = this.#acquireOne(family, user, session, now, {
          own: own ? canonicalAddress(own) : undefined,
        });
        if (address !== undefined) out[family === 4 ? 'v4' : 'v6'] = address;
      }
      return out;
    });
  }

  /**
   * Runs every query of a hand-out once, in a transaction that is rolled back: SQLite prepares
   * its statements and V8 compiles the path before the first client needs them (the first
   * connect after a start was 5-10 ms slower without). Changes nothing, not even the cursor.
   */
  async rehearse(): Promise<void> {
    const q = this.#queries;
    const sql = this.#sql;
    const rollback = new Error('rehearsal');
    const none = { user: '', address: '', session: '', at: '' };
    await sql
      .transaction(() => {
        q.statics.get(sql, none);
        q.holder.get(sql, none);
        for (const family of FAMILIES) {
          const fq = q[family];
          fq.idleOfUser.get(sql, none);
          fq.taken.get(sql, none);
          fq.count.get(sql, {});
          fq.oldestIdle.get(sql, {});
        }
        q.claimIdle.run(sql, none);
        q.claimFresh.run(sql, { ...none, address: 'rehearsal', family: 4 });
        throw rollback;
      })
      .catch((e: unknown) => {
        if (e !== rollback) throw e;
      });
  }

  /**
   * The session ended: its addresses go idle, still remembered as its user's. Releases of the
   * same turn of the event loop share one statement, committed with the turn's other store writes.
   */
  release(session: string, now: Date): Promise<void> {
    if (this.#releasing) {
      this.#releasing.sessions.push(session);
      return this.#releasing.done;
    }
    const sessions = [session];
    const done = writeAtTurnEnd(this.#db, {
      queries: () => {
        this.#releasing = undefined;
        const updates: CompiledQuery[] = [];
        for (let at = 0; at < sessions.length; at += RELEASES_PER_UPDATE) {
          const update = this.#db
            .updateTable('leases')
            .set({ session_id: null, updated_at: iso(now) })
            .where('session_id', 'in', sessions.slice(at, at + RELEASES_PER_UPDATE));
          updates.push(update.compile());
        }
        return updates;
      },
    });
    this.#releasing = { sessions, done };
    return done;
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

  #acquireOne(
    family: Family,
    user: string,
    session: string,
    now: Date,
    mine: { own: string | undefined },
  ): string | undefined {
    const q = this.#queries;
    const sql = this.#sql;
    const fq = q[family];
    const pool = this.#pools[family];
    // Every step is an indexed lookup: the cost of a hand-out must not grow with the leases
    // already held (10,000 sessions is a normal day).
    const claim = (address: string, exists: boolean): string => {
      const values = { address, user, session, at: iso(now) };
      if (exists) q.claimIdle.run(sql, values);
      else q.claimFresh.run(sql, { ...values, family });
      return address;
    };

    // A static address: the user's own, whenever no live session holds it.
    if (mine.own !== undefined && pool.contains(mine.own)) {
      const held = q.holder.get(sql, { address: mine.own });
      if (!held?.session_id) return claim(mine.own, held !== undefined);
    }
    // The user's idle lease of this family used most recently, unless it became someone's
    // static address. (family, user, session) is one index: a user with thousands of live
    // sessions costs no more than one with none.
    const idle = fq.idleOfUser.get(sql, { user });
    if (idle) return claim(idle.address, true);
    // A fresh address nobody leases and nobody has as static address, from the cursor up. The
    // count is only needed once the first candidate is taken: is there anything left at all?
    let counted = false;
    for (const candidate of pool.candidates()) {
      const taken = fq.taken.get(sql, { address: candidate });
      if (taken === undefined) {
        pool.advancePast(candidate);
        return claim(candidate, false);
      }
      if (!counted) {
        counted = true;
        const leased = fq.count.get(sql, {});
        if (Number(leased?.n ?? 0) >= pool.size) break;
      }
    }
    // The pool is short: take back the idle lease unused the longest.
    const oldest = fq.oldestIdle.get(sql, {});
    if (oldest) return claim(oldest.address, true);
    return undefined;
  }
}

/**
 * LIMIT 1 written into the SQL: SQLite (3.46 on) re-prepares a statement with a bound LIMIT
 * every time it is bound again, ~10-15 us per hand-out query.
 */
const ONE = literal.lit(1);

/** The hand-out's queries, built and compiled once per store (see store/prepared.ts). */
function handOutQueries(db: Db) {
  const perFamily = (family: Family) => {
    const column = family === 4 ? 'static_ipv4' : 'static_ipv6';
    const idle = db
      .selectFrom('leases')
      .select('address')
      .where('family', '=', family)
      .where('session_id', 'is', null)
      .where((eb) => eb.not(eb.exists(staticHolderOf(eb, column))));
    return {
      idleOfUser: prepare((arg: Arg<{ user: string }>) =>
        idle.where('user_name', '=', arg('user')).orderBy('updated_at', 'desc').limit(ONE),
      ),
      oldestIdle: prepare(() => idle.orderBy('updated_at', 'asc').limit(ONE)),
      taken: prepare((arg: Arg<{ address: string }>) =>
        db
          .selectFrom('leases')
          .select((eb) => eb.val(1).as('taken'))
          .where('address', '=', arg('address'))
          .unionAll(
            db
              .selectFrom('users')
              .select((eb) => eb.val(1).as('taken'))
              .where(column, '=', arg('address')),
          ),
      ),
      count: prepare(() =>
        db
          .selectFrom('leases')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('family', '=', family),
      ),
    };
  };
  type Claim = { address: string; user: string; session: string; at: string };
  return {
    statics: prepare((arg: Arg<{ user: string }>) =>
      db.selectFrom('users').select(['static_ipv4', 'static_ipv6']).where('name', '=', arg('user')),
    ),
    holder: prepare((arg: Arg<{ address: string }>) =>
      db.selectFrom('leases').select('session_id').where('address', '=', arg('address')),
    ),
    claimIdle: prepare((arg: Arg<Claim>) =>
      db
        .updateTable('leases')
        .set({ user_name: arg('user'), session_id: arg('session'), updated_at: arg('at') })
        .where('address', '=', arg('address')),
    ),
    claimFresh: prepare((arg: Arg<Claim & { family: Family }>) =>
      db.insertInto('leases').values({
        address: arg('address'),
        family: arg('family'),
        user_name: arg('user'),
        session_id: arg('session'),
        updated_at: arg('at'),
      }),
    ),
    4: perFamily(4),
    6: perFamily(6),
  };
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
