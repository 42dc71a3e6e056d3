// A gateway killed with SIGKILL while a group had a full tunnel leaves its nftables table (the
// masquerade) behind. The next start, with no full-tunnel group, removes it: a gateway never
// masquerades for a configuration that does not ask for it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from '../../src/lab/index.js';
import { startLabGateway, type LabGateway } from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;

describe('nftables left by an earlier run', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  let gw: LabGateway | undefined;
  before(async () => {
    lab = await createLab();
  });
  after(async () => {
    await gw?.stop();
    await lab?.destroy();
  });

  it('a start without full tunnel removes the masquerade table a killed gateway left', async () => {
    const leftover = [
      'table inet postern {',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      '    ip saddr 100.64.0.0/16 masquerade',
      '  }',
      '}',
    ].join('\n');
    const add = await lab.exec('gw', 'nft', ['-f', '-'], { input: leftover });
    assert.equal(add.code, 0, add.stderr);
    assert.equal((await lab.exec('gw', 'nft', ['list', 'table', 'inet', 'postern'])).code, 0);
    gw = await startLabGateway(lab);
    const listed = await lab.exec('gw', 'nft', ['list', 'table', 'inet', 'postern']);
    assert.notEqual(listed.code, 0, `the table is still there:\n${listed.stdout}`);
    // Tables that are not the gateway's are never touched.
    const others = await lab.exec('gw', 'nft', ['list', 'tables']);
    assert.equal(others.code, 0, others.stderr);
  });
});
