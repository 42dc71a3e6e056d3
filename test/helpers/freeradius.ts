// A real FreeRADIUS 3 server (Debian's `freeradius`) inside a lab host, for RADIUS tests: its
// own copy of /etc/freeradius/3.0 with one site (PAP from the `files` users, accounting to a
// detail file), the test's clients and users, started in the foreground and killed by pid.
import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostName, Lab } from '../../src/lab/index.js';
import { watchLines, type LineWatcher } from './lab-gateway.js';
import { tempDir } from './postern-cli.js';

const SYSTEM_CONF = '/etc/freeradius/3.0';
const READY_TIMEOUT_MS = 20_000;

export interface RadiusClientEntry {
  /** Address or CIDR the requests come from. */
  address: string;
  secret: string;
}

export interface RadiusUser {
  name: string;
  password: string;
}

export interface FreeradiusServer {
  proc: ChildProcess;
  log: LineWatcher;
  /** Every accounting record the server wrote, as attribute maps, in arrival order. */
  accounting(): Record<string, string>[];
  stop(): Promise<void>;
}

export const freeradiusInstalled = (): boolean => existsSync(SYSTEM_CONF);

const SITE = `server postern {
  listen {
    type = auth
    ipaddr = *
    port = 1812
  }
  listen {
    type = acct
    ipaddr = *
    port = 1813
  }
  authorize {
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
  preacct {
  }
  accounting {
    detail
  }
  post-auth {
  }
}
`;

export async function startFreeradius(
  lab: Lab,
  host: HostName,
  opts: { clients: RadiusClientEntry[]; users: RadiusUser[] },
): Promise<FreeradiusServer> {
  const tmp = tempDir('postern-freeradius-');
  const conf = join(tmp.path, 'raddb');
  const logdir = join(tmp.path, 'log');
  const acctdir = join(logdir, 'radacct');
  cpSync(SYSTEM_CONF, conf, { recursive: true, verbatimSymlinks: true });
  // No system paths, no privilege drop (the temp dir is root's), our site only.
  const radiusd = readFileSync(join(conf, 'radiusd.conf'), 'utf8')
    .replace(/^logdir = .*$/m, `logdir = ${logdir}`)
    .replace(/^run_dir = .*$/m, `run_dir = ${tmp.path}`)
    .replace(/^\s*user = freerad$/m, '')
    .replace(/^\s*group = freerad$/m, '');
  writeFileSync(join(conf, 'radiusd.conf'), radiusd);
  // The EAP module needs certificates Debian leaves to the admin: not needed for PAP.
  rmSync(join(conf, 'mods-enabled', 'eap'), { force: true });
  for (const f of readdirSync(join(conf, 'sites-enabled'))) {
    rmSync(join(conf, 'sites-enabled', f), { force: true });
  }
  writeFileSync(join(conf, 'sites-enabled', 'postern'), SITE);
  writeFileSync(
    join(conf, 'clients.conf'),
    opts.clients
      .map(
        (c, i) =>
          `client c${i} {\n  ipaddr = ${c.address}\n  secret = ${c.secret}\n  require_message_authenticator = no\n}\n`,
      )
      .join(''),
  );
  writeFileSync(
    join(conf, 'mods-config', 'files', 'authorize'),
    opts.users.map((u) => `${u.name} Cleartext-Password := "${u.password}"\n`).join(''),
  );
  const proc = lab.spawn(host, 'freeradius', ['-X', '-d', conf, '-l', 'stdout'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = watchLines(proc, `freeradius in ${host}`);
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) =>
      reject(new Error(`freeradius exited (${code}):\n${log.lines.slice(-40).join('\n')}`)),
    ),
  );
  try {
    await Promise.race([log.waitFor(/Ready to process requests/, READY_TIMEOUT_MS), exited]);
  } catch (e) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    tmp.remove();
    throw e;
  }
  exited.catch(() => undefined);
  return {
    proc,
    log,
    accounting: () => readDetail(acctdir),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await new Promise((resolve) => proc.once('exit', resolve));
      }
      tmp.remove();
    },
  };
}

/** The detail files: records separated by blank lines, each a date line then `Attr = value`. */
function readDetail(dir: string): Record<string, string>[] {
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const client of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, client))) files.push(join(dir, client, f));
  }
  const records: Record<string, string>[] = [];
  for (const file of files.sort()) {
    for (const block of readFileSync(file, 'utf8').split(/\n\s*\n/)) {
      const rec: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const m = /^\s+([A-Za-z0-9-]+) = (.*)$/.exec(line);
        if (m?.[1] !== undefined && m[2] !== undefined) rec[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
      }
      if (Object.keys(rec).length > 0) records.push(rec);
    }
  }
  return records;
}
