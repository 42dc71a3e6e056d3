// Builds the native addon (binding.gyp -> build/Release/postern_native.node) with node-gyp
// against the installed Node's headers. This is package.json's "install" script, so `npm ci`
// runs it; run it by hand with `node scripts/build-native.mjs`. On failure it says, in one
// paragraph, what is missing and how to install it, and exits non-zero.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const addonPath = join(root, 'build', 'Release', 'postern_native.node');
const debianHint =
  'On Debian/Ubuntu: apt-get install -y build-essential python3 (and nodejs headers: the ' +
  'libnode-dev package, or a Node install that ships include/node).';

function fail(why) {
  console.error(
    `\npostern: building the native addon (build/Release/postern_native.node) failed: ${why} ` +
      `Postern needs it for its TUN device and fast data path. ${debianHint} ` +
      'Then run `node scripts/build-native.mjs` (or `npm ci` again).\n',
  );
  process.exit(1);
}

function onPath(cmd) {
  return (
    spawnSync('/bin/sh', ['-c', `command -v "$1"`, 'sh', cmd], { stdio: 'ignore' }).status === 0
  );
}

// Node's headers: npm's `nodedir` setting (npm sets npm_config_nodedir from .npmrc), else the
// include/node next to the running node binary, else /usr. Never download them.
function findNodeDir() {
  const candidates = [
    process.env.npm_config_nodedir,
    join(dirname(process.execPath), '..'),
    '/usr',
    '/usr/local',
  ].filter((d) => typeof d === 'string' && d.length > 0);
  return candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
}

// node-gyp: the one npm hands lifecycle scripts, else the one bundled inside npm (found next
// to the node binary, or under `npm root -g`), else a local install, else npx.
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const bundled = 'npm/node_modules/node-gyp/bin/node-gyp.js';
  const globalRoots = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules'),
    join(dirname(process.execPath), 'node_modules'),
  ];
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  if (npmRoot.status === 0 && npmRoot.stdout.trim()) globalRoots.push(npmRoot.stdout.trim());
  for (const dir of globalRoots) {
    const p = join(dir, bundled);
    if (existsSync(p)) return [process.execPath, p];
  }
  const local = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(local)) return [process.execPath, local];
  if (onPath('npx')) return ['npx', '--yes', 'node-gyp'];
  return undefined;
}

const compiler = process.env.CC ?? 'cc';
if (!onPath(compiler) && !onPath('gcc')) fail(`no C compiler was found (${compiler} or gcc).`);
if (!onPath('make')) fail('`make` was not found.');
if (!onPath('python3') && !process.env.npm_config_python) {
  fail('python3 (which node-gyp needs) was not found.');
}
const nodeDir = findNodeDir();
if (!nodeDir) {
  fail(
    `Node's C headers (include/node/node_api.h) were not found next to ${process.execPath}, ` +
      'in /usr or /usr/local, and npm has no nodedir setting.',
  );
}
const nodeGyp = findNodeGyp();
if (!nodeGyp) fail('node-gyp was not found (it normally comes bundled with npm).');

const [cmd, ...prefix] = nodeGyp;
const args = [...prefix, 'rebuild', `--nodedir=${nodeDir}`];
console.log(`# native: ${[cmd, ...args].join(' ')}`);
const build = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
if (build.error) fail(`node-gyp could not be started (${build.error.message}).`);
if (build.status !== 0) {
  fail(`node-gyp exited with status ${build.status}; its output above shows the first error.`);
}
if (!existsSync(addonPath)) fail('node-gyp finished but the addon file is missing.');

// Load it once, so a link or ABI problem shows up now, not at the first TUN open.
try {
  createRequire(import.meta.url)(addonPath);
} catch (e) {
  fail(`the built addon does not load in this Node (${e.message.split('\n')[0]}).`);
}
console.log(`# native: built ${addonPath}`);
