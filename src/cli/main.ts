// The `postern` command line. Exit 0 on success, 1 on failure, 2 on a usage error; errors are
// one line on stderr; --json prints JSON on stdout.
import { Command, CommanderError } from 'commander';
import { isPosternError } from '../errors.js';
import { VERSION } from '../gateway/gateway.js';
import { UsageError } from './context.js';
import { registerInit } from './commands/init.js';
import { registerServer } from './commands/server.js';
import { registerStatus } from './commands/status.js';
import { registerReload } from './commands/reload.js';
import { registerUser } from './commands/user.js';
import { registerAudit } from './commands/audit.js';
import { registerAccounting } from './commands/accounting.js';
import { registerSessions } from './commands/sessions.js';
import { registerRekey } from './commands/rekey.js';
import { registerKick } from './commands/kick.js';
import { registerDemo } from './commands/demo.js';
import { registerConnect } from './commands/connect.js';
import { registerProfile } from './commands/profile.js';

const program = new Command('postern')
  .description(
    'Postern: a self-hosted Secure VPN gateway (OpenVPN 2.6-compatible SSL VPN; IKEv2 to come)',
  )
  .version(VERSION)
  .exitOverride()
  .configureOutput({
    outputError: (text, write) => write(`postern: ${text.replace(/^error: /, '').trim()}\n`),
  })
  .showSuggestionAfterError(true);

for (const register of [
  registerInit,
  registerServer,
  registerStatus,
  registerReload,
  registerUser,
  registerProfile,
  registerSessions,
  registerRekey,
  registerKick,
  registerAudit,
  registerAccounting,
  registerConnect,
  registerDemo,
]) {
  register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = exitCodeFor(e);
}

function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) {
    return e.exitCode === 0 ? 0 : 2; // help and --version exit 0; every parse error is usage
  }
  if (e instanceof UsageError) {
    process.stderr.write(`postern: ${e.message}\n`);
    return 2;
  }
  if (isPosternError(e)) {
    process.stderr.write(`postern: ${e.oneLine()}\n`);
    return 1;
  }
  const err = e as Error;
  process.stderr.write(`postern: ${err?.message ?? String(e)}\n`);
  if (process.env.POSTERN_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  return 1;
}
