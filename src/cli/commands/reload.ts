import type { Command } from 'commander';
import { apiRequest } from '../../api/client.js';
import { resolveDir, apiSocket } from '../context.js';

export function registerReload(program: Command): void {
  program
    .command('reload')
    .description('re-read postern.yaml without dropping sessions (same as SIGHUP)')
    .option('--dir <DIR>', 'data directory')
    .action(async (opts: { dir?: string }) => {
      const dir = resolveDir(opts);
      await apiRequest(apiSocket(dir), 'POST', '/v1/reload');
      process.stdout.write('configuration reloaded\n');
    });
}
