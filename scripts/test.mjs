// `npm test`: Debian packages the suites need, lint + format check, type-check + build, then
// every suite under Node's test runner. Pass file or folder names to run only those.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackages } from './ensure-debs.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const args = process.argv.slice(2);
const quick = args.length > 0;

function step(name, cmd, argv) {
  console.log(`# ${name}: ${cmd} ${argv.join(' ')}`);
  execFileSync(cmd, argv, { stdio: 'inherit' });
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

try {
  ensureDebianPackages();
  if (!quick) {
    step('lint', 'npx', ['eslint', '.']);
    step('format', 'npx', ['prettier', '--check', '.']);
  }
  step('build', 'npx', ['tsc', '-p', 'tsconfig.json']);
} catch (e) {
  console.error(`npm test: ${e.message.split('\n')[0]}`);
  process.exit(1);
}

const wanted = args.length
  ? args.map((a) => join('dist', a.replace(/\.ts$/, '.js')))
  : ['dist/test'];
const files = wanted.flatMap((w) => (w.endsWith('.js') ? [w] : findTests(w)));
if (files.length === 0) {
  console.error('npm test: no test files found');
  process.exit(1);
}
console.log(`# running ${files.length} test files`);
const r = spawnSync(
  process.execPath,
  [
    '--enable-source-maps',
    '--test',
    '--test-concurrency=2',
    '--test-reporter=spec',
    ...files.map((f) => relative(root, f)),
  ],
  { stdio: 'inherit', env: { ...process.env, POSTERN_ROOT: root } },
);
process.exit(r.status ?? 1);
