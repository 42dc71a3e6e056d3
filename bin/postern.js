#!/usr/bin/env node
// The `postern` command: the compiled CLI (npm ci builds it; `npm run build` after edits).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
// The gateway's TLS handshake steps run on libuv's thread pool (4 threads unless told): on a
// bigger machine, as many as there are cores. Read once, at the pool's first use, so set here.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('postern: not built yet: run `npm run build` in the postern folder\n');
  process.exit(1);
}
await import(main.href);
