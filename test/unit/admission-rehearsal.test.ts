// The start-up warm-up answered by the gateway's own admission path over a scratch store in
// memory: every round's client is authorised, leased addresses from the configured pools, given
// its groups' routes, and nothing is written anywhere but memory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/control/config/index.js';
import { openScratchStore, openStore } from '../../src/control/store/index.js';
import { AdmissionRehearsal } from '../../src/gateway/openvpn/admission-rehearsal.js';
import { warmUpSessionCores } from '../../src/gateway/openvpn/warm-up.js';
import type { PushConfig } from '../../src/proto/openvpn/push-reply.js';

const CONFIG = `
endpoint: vpn.example.net
pools:
  ipv4: 100.72.0.0/24
  ipv6: fd00:72::/64
groups:
  office:
    routes: [10.20.0.0/16]
`;

describe('admission rehearsal', () => {
  it('admits the warm-up clients as the gateway admits a user: addresses, routes, one at a time', async () => {
    const rehearsal = await AdmissionRehearsal.open(parseConfig(CONFIG, 'postern.yaml'));
    const pushes: PushConfig[] = [];
    try {
      await warmUpSessionCores({
        rounds: 3,
        tlsCrypt: 'v2',
        dataCiphers: ['AES-256-GCM'],
        minTls: '1.3',
        admit: async (req) => {
          const push = await rehearsal.admit(req);
          pushes.push(push);
          return push;
        },
      });
    } finally {
      await rehearsal.close();
    }
    assert.equal(pushes.length, 3);
    for (const push of pushes) {
      // Each round's lease was released: the same first address every time.
      assert.deepEqual(push.ifconfig, { local: '100.72.0.2', netmask: '255.255.255.0' });
      assert.equal(push.ifconfigIpv6?.address, 'fd00:72::2');
      assert.deepEqual(push.routes, [{ network: '10.20.0.0', netmask: '255.255.0.0' }]);
    }
  });

  it('a refusal fails the warm-up with its reason', async () => {
    await assert.rejects(
      warmUpSessionCores({
        rounds: 1,
        tlsCrypt: 'v1',
        dataCiphers: ['AES-256-GCM'],
        minTls: '1.2',
        admit: () => Promise.reject(new Error('rehearsal refused: no such user')),
      }),
      (e: Error & { code?: string }) =>
        e.code === 'WARM_UP_FAILED' && e.message.includes('no such user'),
    );
  });

  it('a scratch store keeps nothing on disk, and postern.yaml cannot name one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-mem-'));
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      const scratch = await openScratchStore();
      await scratch.db.insertInto('meta').values({ key: 'k', value: 'v' }).execute();
      await scratch.close();
      assert.deepEqual(readdirSync(dir), []);
      // `sqlite::memory:` in postern.yaml is a file of that name in the data directory.
      const named = await openStore(dir, 'sqlite::memory:');
      await named.close();
      assert.ok(readdirSync(dir).includes(':memory:'));
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
