// The worked policy example in the README is a policy the gateway accepts.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, renderConfig } from '../../src/control/config/index.js';
import { checkPolicy } from '../../src/control/policy/index.js';
import { ROOT } from '../helpers/postern-cli.js';

it("the README's groups example parses and passes the policy check", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = /```yaml\n(groups:\n[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, 'the README has a groups example');
  const base = renderConfig({
    name: 'x',
    endpoint: 'vpn.example.com',
    routes: [],
    dns: [],
    pool4: '100.64.0.0/24',
    pool6: 'fd00:64::/64',
  });
  const text = base.replace(/\ngroups:[\s\S]*$/, `\n${example}`);
  const config = parseConfig(text, 'README.md');
  assert.deepEqual(Object.keys(config.groups).sort(), [
    'contractors',
    'default',
    'helpdesk',
    'staff',
    'travellers',
  ]);
  checkPolicy(config, 'README.md');
});
