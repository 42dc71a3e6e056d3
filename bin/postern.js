#!/usr/bin/env node
// The `postern` command: the compiled CLI (npm ci builds it; `npm run build` after edits).
import { existsSync } from 'node:fs';
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('postern: not built yet: run `npm run build` in the postern folder\n');
  process.exit(1);
}
await import(main.href);
