// `postern demo` is the README's first command: it must work from nothing and leave nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { postern } from '../helpers/postern-cli.js';

const root = process.getuid?.() === 0;

describe('postern demo', { skip: root ? false : 'needs root for network namespaces' }, () => {
  it('runs every step, exits 0, and leaves no namespace or process behind', async () => {
    const before = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const r = await postern(['demo'], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /every step worked/);
    assert.doesNotMatch(r.stdout, /^\s+FAILED:/m);
    const after = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    const demoNs = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('pstdemo'));
    assert.deepEqual(demoNs(after), demoNs(before));
  });
});
