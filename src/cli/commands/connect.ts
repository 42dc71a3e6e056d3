import { Option, type Command } from 'commander';
import { Connector, type ClientDataplane } from '../../client/connect.js';
import { parseHostPort } from '../../io/net/host-port.js';
import { UsageError } from '../usage-error.js';

function hostPort(text: string): { host: string; port: number } {
  const hp = parseHostPort(text);
  if (!hp) throw new UsageError(`--http-proxy "${text}" is not HOST:PORT`);
  return hp;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .description('connect to a gateway with a Postern profile; foreground, logs JSON lines')
    .argument('<PROFILE>', 'profile file from `postern profile NAME --format postern`')
    .option('--http-proxy <HOST:PORT>', 'reach TCP remotes through this HTTP proxy')
    .option('--password-stdin', 'read the password from standard input')
    .option('--otp <CODE>', 'the current one-time code, for TOTP users')
    .addOption(
      new Option('--dataplane <PATH>', 'data path for UDP remotes (TCP always uses reference)')
        .choices(['native', 'reference'])
        .default('native'),
    )
    .action(
      async (
        profile: string,
        o: {
          httpProxy?: string;
          passwordStdin?: boolean;
          otp?: string;
          dataplane: ClientDataplane;
        },
      ) => {
        const connector = new Connector({
          profilePath: profile,
          dataplane: o.dataplane,
          ...(o.httpProxy ? { httpProxy: hostPort(o.httpProxy) } : {}),
          ...(o.passwordStdin ? { password: await readStdin() } : {}),
          ...(o.otp ? { otp: o.otp } : {}),
        });
        process.on('SIGINT', () => connector.stop());
        process.on('SIGTERM', () => connector.stop());
        const code = await connector.run();
        if (code !== 0)
          process.stderr.write(
            'postern: the server refused the connection (see the "refused" log line)\n',
          );
        process.exit(code);
      },
    );
}
