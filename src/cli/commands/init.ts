import type { Command } from 'commander';
import { initDataDir } from '../../control/admin/init-dir.js';
import { isCidr, isIpAddress } from '../../control/config/index.js';
import { isKeyType, type KeyType } from '../../control/pki/index.js';
import { printJson, resolveDir, UsageError } from '../context.js';

interface InitFlags {
  dir?: string;
  endpoint: string;
  name: string;
  route: string[];
  dns: string[];
  pool4: string;
  pool6: string;
  keyType: string;
  force?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'create a data directory: postern.yaml, the CA and gateway certificate, keys, the store',
    )
    .option('--dir <DIR>', 'data directory to create (default $POSTERN_DIR or /var/lib/postern)')
    .requiredOption('--endpoint <HOST>', 'host name or address clients connect to')
    .option('--name <NAME>', 'name of this gateway', 'postern')
    .option('--route <CIDR>', 'a LAN pushed to every client (repeatable)', collect, [])
    .option('--dns <IP>', 'a DNS server pushed to clients (repeatable)', collect, [])
    .option('--pool4 <CIDR>', 'IPv4 addresses for clients', '100.64.0.0/24')
    .option('--pool6 <CIDR>', 'IPv6 addresses for clients', 'fd00:64::/64')
    .option('--key-type <TYPE>', 'ecdsa-p256, or rsa-3072 for old clients', 'ecdsa-p256')
    .option('--force', 'initialise over an existing directory (every issued profile stops working)')
    .option('--json', 'print JSON')
    .action(async (f: InitFlags) => {
      for (const r of f.route)
        if (!isCidr(r)) throw new UsageError(`--route "${r}" is not a CIDR (e.g. 192.0.2.0/24)`);
      for (const d of f.dns)
        if (!isIpAddress(d)) throw new UsageError(`--dns "${d}" is not an IP address`);
      if (!isKeyType(f.keyType))
        throw new UsageError(`--key-type must be ecdsa-p256 or rsa-3072, not "${f.keyType}"`);
      const r = await initDataDir({
        dir: resolveDir(f),
        force: Boolean(f.force),
        endpoint: f.endpoint,
        name: f.name,
        routes: f.route,
        dns: f.dns,
        pool4: f.pool4,
        pool6: f.pool6,
        keyType: f.keyType as KeyType,
        now: new Date(),
      });
      if (f.json) return printJson(r);
      process.stdout.write(
        `initialised ${r.dir}\n` +
          `  configuration  ${r.configFile} (every setting commented; edit, then \`postern reload\`)\n` +
          `  CA             ${r.dir}/pki/ca.crt (serial ${r.caSerial})\n` +
          `  next           postern user add NAME --dir ${r.dir}; postern server --dir ${r.dir}\n`,
      );
    });
}
