import type { Command } from 'commander';
import { apiRequest } from '../../api/client.js';
import { resolveDir, apiSocket } from '../context.js';

export function registerKick(program: Command): void {
  program
    .command('kick')
    .description('end a live session now')
    .argument('<SESSION_ID>', 'the session to end')
    .option('--dir <DIR>', 'data directory')
    .action(async (id: string, opts: { dir?: string }) => {
      const dir = resolveDir(opts);
      await apiRequest(apiSocket(dir), 'POST', `/v1/sessions/${encodeURIComponent(id)}/kick`);
      process.stdout.write(`session ${id} ended\n`);
    });
}
