import type { Command } from 'commander';
import { runServer } from '../../gateway/run-server.js';
import { resolveDir } from '../context.js';

export function registerServer(program: Command): void {
  program
    .command('server')
    .description('run the gateway in the foreground until SIGINT/SIGTERM; logs JSON lines')
    .option('--dir <DIR>', 'data directory')
    .action(async (opts: { dir?: string }) => {
      await runServer(resolveDir(opts));
    });
}
