import type { Command } from 'commander';
import { listAccounting } from '../../control/store/index.js';
import { parseSince, printJson, printTable, resolveDir, withStore } from '../context.js';

export function registerAccounting(program: Command): void {
  program
    .command('accounting')
    .description('show accounting records: bytes and packets each way per session')
    .option('--dir <DIR>', 'data directory')
    .option('--since <ISO8601>', 'only sessions still open or stopped at or after this time')
    .option('--json', 'print JSON')
    .action(async (opts: { dir?: string; since?: string; json?: boolean }) => {
      const since = parseSince(opts.since);
      const records = await withStore(resolveDir(opts), (_c, store) =>
        listAccounting(store.db, since ? { since } : {}),
      );
      if (opts.json) return printJson(records);
      printTable(
        [
          'SESSION',
          'USER',
          'PROTOCOL',
          'START',
          'STOP',
          'BYTES IN',
          'BYTES OUT',
          'PKTS IN',
          'PKTS OUT',
        ],
        records.map((r) => [
          r.session,
          r.user,
          r.protocol,
          r.start,
          r.stop ?? '(live)',
          r.bytesIn,
          r.bytesOut,
          r.packetsIn,
          r.packetsOut,
        ]),
      );
    });
}
