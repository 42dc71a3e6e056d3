import type { Command } from 'commander';
import { apiRequest } from '../../api/client.js';
import type { GatewayStatus } from '../../gateway/gateway.js';
import { printJson, resolveDir, apiSocket } from '../context.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('ask the running gateway how it is; exit 0 when it answers')
    .option('--dir <DIR>', 'data directory (default $POSTERN_DIR or /var/lib/postern)')
    .option('--json', 'print JSON')
    .action(async (opts: { dir?: string; json?: boolean }) => {
      const dir = resolveDir(opts);
      const s = await apiRequest<GatewayStatus>(apiSocket(dir), 'GET', '/v1/status');
      if (opts.json) return printJson(s);
      process.stdout.write(
        [
          `gateway ${s.name} (postern ${s.version}, pid ${s.pid}) up ${s.uptimeSeconds}s`,
          `config    ${s.configFile}`,
          `store     ${s.store}`,
          `sessions  ${s.sessions}`,
          ...s.listeners.map((l) => `listening ${l.kind} ${l.address}`),
          ...Object.entries(s.counters ?? {}).map(([k, v]) => `counter   ${k} ${v}`),
        ].join('\n') + '\n',
      );
    });
}
