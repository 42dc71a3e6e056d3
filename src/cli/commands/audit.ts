import type { Command } from 'commander';
import { listAudit } from '../../control/store/index.js';
import { parseSince, printJson, printTable, resolveDir, withStore } from '../context.js';

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description(
      'show the audit records: authentications, sessions, rekeys, policy drops, admin actions',
    )
    .option('--dir <DIR>', 'data directory')
    .option('--since <ISO8601>', 'only records at or after this time')
    .option('--json', 'print JSON')
    .action(async (opts: { dir?: string; since?: string; json?: boolean }) => {
      const since = parseSince(opts.since);
      const records = await withStore(resolveDir(opts), (_c, store) =>
        listAudit(store.db, since ? { since } : {}),
      );
      if (opts.json) return printJson(records);
      printTable(
        ['TIME', 'EVENT', 'USER', 'REMOTE', 'RESULT', 'REASON'],
        records.map((r) => [
          r.time,
          r.event,
          r.user ?? '-',
          r.remote ?? '-',
          r.result,
          r.reason ?? '',
        ]),
      );
    });
}
