import type { Command } from 'commander';
import { apiRequest } from '../../api/client.js';
import type { SessionInfo } from '../../gateway/sessions.js';
import { printJson, printTable, resolveDir, apiSocket } from '../context.js';

export function registerSessions(program: Command): void {
  program
    .command('sessions')
    .description('list the live sessions')
    .option('--dir <DIR>', 'data directory')
    .option('--json', 'print JSON')
    .action(async (opts: { dir?: string; json?: boolean }) => {
      const dir = resolveDir(opts);
      const list = await apiRequest<SessionInfo[]>(apiSocket(dir), 'GET', '/v1/sessions');
      if (opts.json) return printJson(list);
      if (list.length === 0) {
        process.stdout.write('no live sessions\n');
        return;
      }
      printTable(
        ['ID', 'USER', 'PROTOCOL', 'REMOTE', 'ADDRESS', 'CIPHER', 'IN', 'OUT', 'REKEYS', 'SINCE'],
        list.map((s) => [
          s.id,
          s.user,
          s.protocol,
          s.remote,
          [s.address4, s.address6].filter(Boolean).join(' '),
          s.cipher ?? '-',
          s.bytesIn,
          s.bytesOut,
          s.rekeys,
          s.connectedAt,
        ]),
      );
    });
}
