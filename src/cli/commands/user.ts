import type { Command } from 'commander';
import qrcode from 'qrcode-terminal';
import { apiRequest } from '../../api/client.js';
import { addUser, deleteUser, revokeUser, type AdminContext } from '../../control/admin/users.js';
import type { Config } from '../../control/config/index.js';
import { checkStaticAddresses, setStaticAddresses } from '../../control/pool/leases.js';
import { listCertificates, listUsers, type Store } from '../../control/store/index.js';
import { isPosternError } from '../../errors.js';
import { printJson, printTable, resolveDir, apiSocket, UsageError, withStore } from '../context.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function adminContext(dir: string, config: Config, store: Store): AdminContext {
  return { dir, config, db: store.db, now: new Date(), actor: 'cli' };
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new UsageError('--password-stdin reads the password from standard input: pipe it in');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Tells a running gateway; when none runs there is no live session to end. */
async function tellGateway(dir: string, user: string): Promise<number> {
  try {
    const r = await apiRequest<{ sessionsEnded: number }>(
      apiSocket(dir),
      'POST',
      `/v1/users/${encodeURIComponent(user)}/revoked`,
    );
    return r.sessionsEnded;
  } catch (e) {
    if (isPosternError(e) && e.code === 'GATEWAY_DOWN') return 0;
    throw e;
  }
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage VPN users: add, list, revoke, del');

  user
    .command('add')
    .description('add a user with a client certificate; optionally a password and TOTP codes')
    .argument('<NAME>', 'user name')
    .option('--dir <DIR>', 'data directory')
    .option('--group <G>', 'a group from postern.yaml (repeatable; default: default)', collect, [])
    .option('--password-stdin', 'read a password from standard input')
    .option('--totp', 'enrol one-time codes: prints the otpauth URI and a QR code')
    .option('--ip4 <A>', 'a static IPv4 address from the pool, always given to this user')
    .option('--ip6 <B>', 'a static IPv6 address from the pool, always given to this user')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        o: {
          dir?: string;
          group: string[];
          passwordStdin?: boolean;
          totp?: boolean;
          ip4?: string;
          ip6?: string;
          json?: boolean;
        },
      ) => {
        const password = o.passwordStdin ? await readStdin() : undefined;
        const dir = resolveDir(o);
        const added = await withStore(dir, async (config, store) => {
          // Checked before the user exists, so a bad address leaves nothing half made.
          await checkStaticAddresses(store.db, config.pools, { v4: o.ip4, v6: o.ip6 });
          const made = await addUser(adminContext(dir, config, store), name, {
            groups: o.group,
            totp: Boolean(o.totp),
            ...(password !== undefined ? { password } : {}),
          });
          if (o.ip4 !== undefined || o.ip6 !== undefined) {
            await setStaticAddresses(store.db, name, config.pools, { v4: o.ip4, v6: o.ip6 });
          }
          return made;
        });
        if (o.json) return printJson(added);
        process.stdout.write(
          `added ${added.name} (groups: ${added.groups.join(', ')}; certificate ${added.serial}, valid until ${added.notAfter})\n`,
        );
        if (added.totp) {
          process.stdout.write(
            `scan this in an authenticator app, or enter the URI:\n${added.totp.uri}\n`,
          );
          qrcode.generate(added.totp.uri, { small: true }, (art) =>
            process.stdout.write(`${art}\n`),
          );
        }
      },
    );

  user
    .command('list')
    .description('list users, their groups and certificates')
    .option('--dir <DIR>', 'data directory')
    .option('--json', 'print JSON')
    .action(async (o: { dir?: string; json?: boolean }) => {
      const rows = await withStore(resolveDir(o), async (_c, store) => {
        const users = await listUsers(store.db);
        const certs = await listCertificates(store.db);
        return users.map((u) => {
          const mine = certs
            .filter((c) => c.user === u.name)
            .map((c) => ({ serial: c.serial, notAfter: c.notAfter, revokedAt: c.revokedAt }));
          const active = mine.some((c) => c.revokedAt === null);
          return {
            name: u.name,
            groups: u.groups,
            createdAt: u.createdAt,
            status: active ? 'active' : 'revoked',
            password: u.hasPassword,
            totp: u.hasTotp,
            certificates: mine,
          };
        });
      });
      if (o.json) return printJson(rows);
      if (rows.length === 0) {
        process.stdout.write('no users yet: postern user add NAME\n');
        return;
      }
      printTable(
        ['NAME', 'GROUPS', 'STATUS', 'PASSWORD', 'TOTP', 'CERTIFICATE VALID UNTIL'],
        rows.map((r) => [
          r.name,
          r.groups.join(','),
          r.status,
          r.password ? 'yes' : 'no',
          r.totp ? 'yes' : 'no',
          r.certificates.find((c) => !c.revokedAt)?.notAfter ?? '-',
        ]),
      );
    });

  // revoke and del differ only in what is done to the user; both end its live sessions.
  const ending = [
    {
      verb: 'revoke',
      act: revokeUser,
      says: "revoke the user's certificates now; its live sessions end at once",
      done: 'revoked',
    },
    {
      verb: 'del',
      act: deleteUser,
      says: 'delete a user (its certificates are revoked first)',
      done: 'deleted',
    },
  ] as const;
  for (const e of ending) {
    user
      .command(e.verb)
      .description(e.says)
      .argument('<NAME>', 'user name')
      .option('--dir <DIR>', 'data directory')
      .option('--json', 'print JSON')
      .action(async (name: string, o: { dir?: string; json?: boolean }) => {
        const dir = resolveDir(o);
        const r = await withStore(dir, async (config, store) => {
          const serials = await e.act(adminContext(dir, config, store), name);
          return { name, revoked: serials, sessionsEnded: await tellGateway(dir, name) };
        });
        if (o.json) return printJson(r);
        process.stdout.write(
          `${e.done} ${name}: revoked ${r.revoked.length} certificate(s); ended ${r.sessionsEnded} live session(s)\n`,
        );
      });
  }
}
