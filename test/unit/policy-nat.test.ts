// The full-tunnel masquerade table: present only when a group asks for a full tunnel, one rule
// per pool family that spares the tunnel device and the LANs groups route, and accepted by nft
// itself (check mode: nothing is installed).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { configSchema } from '../../src/control/config/schema.js';
import { natRuleset } from '../../src/gateway/nat.js';

const config = (groups: Record<string, unknown>) =>
  configSchema.parse({ endpoint: 'vpn.example', groups });

const nft = spawnSync('nft', ['--version']).status === 0 && process.getuid?.() === 0;

describe('full-tunnel masquerade ruleset', () => {
  it('is absent without a full-tunnel group', () => {
    assert.equal(natRuleset(config({ staff: { routes: ['192.0.2.0/24'] } })), undefined);
  });

  const cfg = config({
    staff: { routes: ['192.0.2.0/24', '2001:db8:2::/64'] },
    roam: { allow: ['any'], 'full-tunnel': true },
  });

  it('masquerades both pools towards anything but the tunnel and the routed LANs', () => {
    const text = natRuleset(cfg, 'postern0') ?? '';
    assert.match(text, /table inet postern \{/);
    assert.match(text, /type nat hook postrouting priority srcnat/);
    assert.match(
      text,
      /ip saddr 100\.64\.0\.0\/24 oifname != "postern0" ip daddr != \{ 192\.0\.2\.0\/24 \} masquerade/,
    );
    assert.match(
      text,
      /ip6 saddr fd00:64::\/64 oifname != "postern0" ip6 daddr != \{ 2001:db8:2::\/64 \} masquerade/,
    );
    assert.match(text, /^delete table inet postern$/m, 'replaced as a whole');
  });

  it('is a ruleset nft accepts', { skip: nft ? false : 'needs nft and root' }, () => {
    const r = spawnSync('nft', ['-c', '-f', '-'], { input: natRuleset(cfg), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
