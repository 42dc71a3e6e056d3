// The `postern` command line. Exit 0 on success, 1 on failure, 2 on a usage error; errors are
// one line on stderr; --json prints JSON on stdout.
import { Command, CommanderError } from 'commander';
import { isPosternError } from '../errors.js';
import { VERSION } from '../version.js';
import { UsageError } from './usage-error.js';

type Register = (program: Command) => void;

// Each command's module is loaded only when that command runs: the gateway's libraries (HTTP
// server, store, PKI) cost `postern connect` half a second of start-up it has no use for.
const COMMANDS: Record<string, () => Promise<Register>> = {
  init: async () => (await import('./commands/init.js')).registerInit,
  server: async () => (await import('./commands/server.js')).registerServer,
  status: async () => (await import('./commands/status.js')).registerStatus,
  reload: async () => (await import('./commands/reload.js')).registerReload,
  user: async () => (await import('./commands/user.js')).registerUser,
  profile: async () => (await import('./commands/profile.js')).registerProfile,
  sessions: async () => (await import('./commands/sessions.js')).registerSessions,
  rekey: async () => (await import('./commands/rekey.js')).registerRekey,
  kick: async () => (await import('./commands/kick.js')).registerKick,
  audit: async () => (await import('./commands/audit.js')).registerAudit,
  accounting: async () => (await import('./commands/accounting.js')).registerAccounting,
  connect: async () => (await import('./commands/connect.js')).registerConnect,
  demo: async () => (await import('./commands/demo.js')).registerDemo,
};

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

// The command named on the line, none for --version, else every command (for help,
// suggestions and usage errors).
const named = process.argv[2];
const wanted =
  named !== undefined && Object.hasOwn(COMMANDS, named)
    ? [named]
    : named === '--version' || named === '-V'
      ? []
      : Object.keys(COMMANDS);
for (const register of await Promise.all(wanted.map((name) => COMMANDS[name]!()))) {
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
