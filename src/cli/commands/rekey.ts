import type { Command } from 'commander';
import { apiRequest } from '../../api/client.js';
import type { RekeyResult } from '../../api/routes.js';
import { printJson, resolveDir, apiSocket, UsageError } from '../context.js';

export function registerRekey(program: Command): void {
  program
    .command('rekey')
    .description('fresh keys now for one session or all, with no packet lost')
    .argument('[SESSION_ID]', 'the session to rekey')
    .option('--all', 'rekey every live session')
    .option('--dir <DIR>', 'data directory')
    .option('--json', 'print JSON')
    .action(
      async (id: string | undefined, opts: { dir?: string; all?: boolean; json?: boolean }) => {
        if (!id === !opts.all) throw new UsageError('name one SESSION_ID or --all');
        const dir = resolveDir(opts);
        const path = opts.all ? '/v1/rekey' : `/v1/sessions/${encodeURIComponent(id ?? '')}/rekey`;
        const r = await apiRequest<RekeyResult>(apiSocket(dir), 'POST', path);
        if (opts.json) return printJson(r);
        process.stdout.write(`rekeying ${r.rekeyed.length} session(s)\n`);
        const busy = r.alreadyRekeying ?? [];
        if (busy.length > 0) {
          process.stdout.write(
            `${busy.length} session(s) already renegotiating, left to finish: ${busy.join(' ')}\n`,
          );
        }
      },
    );
}
