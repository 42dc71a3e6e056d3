// Persisted address leases: a user keeps its address across reconnects and gateway restarts,
// static addresses go only to their users, and no address is ever held twice, also when many
// sessions connect at once.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PosternError } from '../../src/errors.js';
import { bigIntToAddress, parseNetwork } from '../../src/control/pool/index.js';
import {
  LeaseStore,
  checkStaticAddress,
  type LeasePools,
  setStaticAddresses,
} from '../../src/control/pool/leases.js';
import { LeaseCursor } from '../../src/control/pool/lease-cursor.js';
import { insertUser, openStore, type Store } from '../../src/control/store/index.js';
import { postern, tempDir } from '../helpers/postern-cli.js';

const POOLS = { ipv4: '100.64.0.0/24', ipv6: 'fd00:64::/64' };
const T0 = new Date('2026-03-01T12:00:00Z');
const at = (s: number): Date => new Date(T0.getTime() + s * 1000);

describe('address leases', () => {
  const tmp = tempDir();
  let store: Store;
  after(async () => {
    await store?.close();
    tmp.remove();
  });

  async function users(...names: string[]): Promise<void> {
    for (const name of names) await insertUser(store.db, { name, groups: [] }, T0);
  }

  it('a reconnecting user gets its address back, also after a gateway restart', async () => {
    store = await openStore(tmp.path, 'sqlite:leases.db');
    await users('alice', 'bob');
    const leases = new LeaseStore(store.db, POOLS);
    // The start-up rehearsal leaves no trace: no row, and the first hand-out is still .2.
    await leases.rehearse();
    assert.deepEqual(await store.db.selectFrom('leases').selectAll().execute(), []);
    const a1 = await leases.acquire('alice', 's1', at(1));
    const b1 = await leases.acquire('bob', 's2', at(2));
    assert.deepEqual(a1, { v4: '100.64.0.2', v6: 'fd00:64::2' });
    assert.deepEqual(b1, { v4: '100.64.0.3', v6: 'fd00:64::3' });
    await leases.release('s1', at(3));
    const a2 = await leases.acquire('alice', 's3', at(4));
    assert.deepEqual(a2, a1);
    // A gateway killed without releasing: the next start reopens the store and resets.
    await store.close();
    store = await openStore(tmp.path, 'sqlite:leases.db');
    const restarted = new LeaseStore(store.db, POOLS);
    await restarted.releaseAll(at(5));
    assert.deepEqual(await restarted.inUse(4), []);
    const b2 = await restarted.acquire('bob', 's4', at(6));
    const a3 = await restarted.acquire('alice', 's5', at(7));
    assert.deepEqual(b2, b1, "bob's address survived the restart");
    assert.deepEqual(a3, a1, "alice's address survived the restart");
    const carol = await (async () => {
      await users('carol');
      return restarted.acquire('carol', 's6', at(8));
    })();
    assert.deepEqual(carol, { v4: '100.64.0.4', v6: 'fd00:64::4' }, 'idle leases are not reused');
  });

  it('a second session of the same user gets a different address', async () => {
    const leases = new LeaseStore(store.db, POOLS);
    const again = await leases.acquire('alice', 's7', at(9));
    assert.notEqual(again.v4, '100.64.0.2');
    await leases.release('s7', at(10));
  });

  it('a static address always goes to its user, and to nobody else', async () => {
    await users('sam', 'dave');
    await setStaticAddresses(store.db, 'sam', POOLS, { v4: '100.64.0.5', v6: 'fd00:64::0:5' });
    const leases = new LeaseStore(store.db, POOLS);
    const dave = await leases.acquire('dave', 's8', at(11));
    assert.notEqual(dave.v4, '100.64.0.5', 'the lowest free address is skipped: it is static');
    assert.notEqual(dave.v6, 'fd00:64::5');
    for (let i = 0; i < 3; i++) {
      const sam = await leases.acquire('sam', `sam-${i}`, at(12 + i));
      assert.deepEqual(sam, { v4: '100.64.0.5', v6: 'fd00:64::5' });
      await leases.release(`sam-${i}`, at(12 + i));
    }
    await assert.rejects(
      setStaticAddresses(store.db, 'dave', POOLS, { v4: '100.64.0.5' }),
      (e: unknown) => e instanceof PosternError && e.code === 'STATIC_ADDRESS_TAKEN',
    );
  });

  it('checks static addresses against the pool', () => {
    assert.equal(checkStaticAddress(POOLS.ipv6, 'FD00:64:0:0::10'), 'fd00:64::10');
    for (const bad of ['100.64.0.1', '100.64.0.0', '100.64.0.255', '10.0.0.9', 'fd00:64::9']) {
      assert.throws(
        () => checkStaticAddress(POOLS.ipv4, bad),
        (e: unknown) => e instanceof PosternError && e.code === 'BAD_STATIC_ADDRESS',
        bad,
      );
    }
    assert.throws(() => checkStaticAddress(POOLS.ipv4, 'not-an-ip'));
  });

  it('20 concurrent connects never share an address', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `crowd${i}`);
    await users(...names);
    const leases = new LeaseStore(store.db, POOLS);
    const got = await Promise.all(names.map((n, i) => leases.acquire(n, `c${i}`, at(100))));
    const live4 = (await leases.inUse(4)).map((l) => l.address);
    const live6 = (await leases.inUse(6)).map((l) => l.address);
    assert.equal(new Set(live4).size, live4.length, 'no IPv4 address held twice');
    assert.equal(new Set(live6).size, live6.length, 'no IPv6 address held twice');
    const v4s = got.map((g) => g.v4);
    assert.equal(new Set(v4s).size, 20);
    assert.ok(v4s.every((a) => a !== undefined && live4.includes(a)));
    assert.equal(new Set(got.map((g) => g.v6)).size, 20);
  });

  it('a full pool takes back the idle lease unused the longest, never a live one', async () => {
    const small = tempDir();
    const s = await openStore(small.path, 'sqlite:small.db');
    try {
      for (const n of ['u1', 'u2', 'u3', 'u4']) await insertUser(s.db, { name: n, groups: [] }, T0);
      // A /29 has five client addresses: .2 to .6.
      const leases = new LeaseStore(s.db, { ipv4: '198.18.0.0/29', ipv6: 'fd00:18::/125' });
      const first = await leases.acquire('u1', 'a', at(1));
      for (const [i, n] of ['u2', 'u3', 'u4'].entries()) await leases.acquire(n, `b${i}`, at(2));
      await leases.acquire('u2', 'b9', at(3));
      await leases.release('a', at(4));
      await insertUser(s.db, { name: 'u5', groups: [] }, T0);
      const fifth = await leases.acquire('u5', 'e', at(5));
      assert.equal(fifth.v4, first.v4, "u1's idle lease went to u5");
      const full = await leases.acquire('u1', 'f', at(6));
      assert.equal(full.v4, undefined, 'nothing left: every address is live');
    } finally {
      await s.close();
      small.remove();
    }
  });

  it('postern user add --ip4/--ip6 gives static addresses, and refuses bad or taken ones whole', async () => {
    const cli = tempDir();
    try {
      const dir = join(cli.path, 'gw');
      const init = await postern(['init', '--dir', dir, '--endpoint', '192.0.2.1']);
      assert.equal(init.code, 0, init.stderr);
      const pools = (
        parseYaml(readFileSync(join(dir, 'postern.yaml'), 'utf8')) as {
          pools: LeasePools;
        }
      ).pools;
      const v4 = bigIntToAddress(parseNetwork(pools.ipv4).base + 9n, 4);
      const v6 = bigIntToAddress(parseNetwork(pools.ipv6).base + 9n, 6);
      const ok = await postern(['user', 'add', 'sam', '--ip4', v4, '--ip6', v6, '--dir', dir]);
      assert.equal(ok.code, 0, ok.stderr);
      const taken = await postern(['user', 'add', 'tim', '--ip4', v4, '--dir', dir]);
      assert.notEqual(taken.code, 0);
      assert.match(taken.stderr, /already the static address of sam/);
      const outside = await postern(['user', 'add', 'ula', '--ip4', '203.0.113.9', '--dir', dir]);
      assert.notEqual(outside.code, 0);
      assert.match(outside.stderr, /not a client address of the pool/);
      const list = await postern(['user', 'list', '--json', '--dir', dir]);
      const names = (JSON.parse(list.stdout) as { name: string }[]).map((u) => u.name);
      assert.deepEqual(names, ['sam'], 'a refused add leaves no user behind');
      const s = await openStore(dir, 'sqlite:postern.db');
      try {
        const row = await s.db
          .selectFrom('users')
          .select(['static_ipv4', 'static_ipv6'])
          .where('name', '=', 'sam')
          .executeTakeFirstOrThrow();
        assert.deepEqual(row, { static_ipv4: v4, static_ipv6: v6 });
      } finally {
        await s.close();
      }
    } finally {
      cli.remove();
    }
  });
});

describe('lease cursor', () => {
  it('looks upward from the last hand-out and wraps to the bottom once', () => {
    const c = new LeaseCursor('198.51.100.0/29');
    assert.equal(c.size, 5, '.2 to .6: the network, gateway (.1) and broadcast are not clients');
    c.advancePast('198.51.100.5');
    assert.deepEqual(
      [...c.candidates()],
      ['198.51.100.6', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5'],
    );
    c.advancePast('198.51.100.6');
    assert.equal([...c.candidates()][0], '198.51.100.2');
    assert.equal(c.contains('198.51.100.1'), false);
    assert.equal(c.contains('198.51.100.7'), false);
  });
});
