// `postern demo`: builds the lab, runs a real gateway in it and shows what exists, step by
// step; tears everything down and exits 0 only if every step worked. Each protocol adds its
// chapter here as it lands.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createLab, type Lab } from '../lab/index.js';
import { PosternError } from '../errors.js';
import { Narrator } from './narrator.js';

const BIN = fileURLToPath(new URL('../../../bin/postern.js', import.meta.url));

export async function runDemo(): Promise<number> {
  if (process.getuid?.() !== 0) {
    throw new PosternError(
      'DEMO_NEEDS_ROOT',
      'the demo builds network namespaces and needs root',
      'run it as root (sudo npm run demo)',
    );
  }
  const n = new Narrator();
  const work = mkdtempSync(join(tmpdir(), 'postern-demo-'));
  let lab: Lab | undefined;
  try {
    n.title('Postern demo');
    n.step('Build a small Internet on this machine (network namespaces and veth links)');
    lab = await createLab({ prefix: 'pstdemo' });
    n.say(
      [
        'laptop 198.51.100.2 -- inet (router) -- 203.0.113.2 gw (the gateway) -- office 192.0.2.10 (LAN)',
        '                                                   `-- branch 198.18.0.2',
      ].join('\n'),
    );
    const inetPing = await lab.ping('laptop', lab.addr.gw.outside.v4, { count: 1 });
    n.check(
      inetPing.received === 1,
      'the laptop reaches the gateway across "the Internet"',
      'the laptop cannot reach the gateway',
    );

    n.step('The office LAN is private: the laptop cannot reach it without a VPN');
    const officePing = await lab.ping('laptop', lab.addr.office.v4, { count: 1 });
    n.check(
      officePing.received === 0,
      `ping laptop -> office ${lab.addr.office.v4}: no answer (as on the real Internet)`,
      'the office is reachable without a VPN: the lab leaks',
    );

    const dir = join(work, 'gw');
    n.step('Initialise a gateway: CA, gateway certificate, keys, store, postern.yaml');
    const init = await lab.exec('gw', process.execPath, [
      BIN,
      'init',
      '--dir',
      dir,
      '--endpoint',
      lab.addr.gw.outside.v4,
      '--route',
      '192.0.2.0/24',
      '--name',
      'demo',
    ]);
    n.say(
      `$ postern init --dir ${dir} --endpoint ${lab.addr.gw.outside.v4} --route 192.0.2.0/24\n${init.stdout}`,
    );
    n.check(init.code === 0, 'initialised', `init failed: ${init.stderr}`);

    n.step('Start the gateway inside the gw namespace');
    const server = lab.spawn('gw', process.execPath, [BIN, 'server', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = await waitForEvent(server.stdout, 'ready', 20_000);
    n.check(
      ready !== undefined,
      `gateway logged ${JSON.stringify({ event: 'ready' })}`,
      'the gateway did not become ready',
    );

    const status = await lab.exec('gw', process.execPath, [BIN, 'status', '--dir', dir]);
    n.say(`$ postern status\n${status.stdout}`);
    n.check(
      status.code === 0,
      'the CLI talks to the gateway over its private unix socket',
      `status failed: ${status.stderr}`,
    );

    n.step('Add a user: a client certificate from the built-in CA, every action audited');
    const add = await lab.exec('gw', process.execPath, [BIN, 'user', 'add', 'alice', '--dir', dir]);
    n.say(`$ postern user add alice\n${add.stdout}`);
    n.check(add.code === 0, 'alice added', `user add failed: ${add.stderr}`);
    const audit = await lab.exec('gw', process.execPath, [BIN, 'audit', '--dir', dir]);
    n.say(`$ postern audit\n${audit.stdout}`);
    n.check(
      audit.code === 0 && audit.stdout.includes('user.add'),
      'the audit log has the admin actions',
      'audit is missing the admin actions',
    );

    n.step('Stop the gateway (SIGTERM) and tear the lab down');
    server.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      server.on('exit', (c) => resolve(c)),
    );
    n.check(code === 0, 'the gateway stopped cleanly', `the gateway exited with ${code}`);
  } catch (e) {
    n.fail(e instanceof PosternError ? e.oneLine() : (e as Error).message);
  } finally {
    await lab?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(
    n.failures.length === 0
      ? '\ndemo: every step worked; nothing is left behind.\n'
      : `\ndemo: ${n.failures.length} step(s) failed.\n`,
  );
  return n.failures.length === 0 ? 0 : 1;
}

function waitForEvent(
  stream: NodeJS.ReadableStream | null,
  event: string,
  timeoutMs: number,
): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    if (!stream) return resolve(undefined);
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    createInterface({ input: stream }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (line.event === event) {
          clearTimeout(timer);
          resolve(line);
        }
      } catch {
        // not a JSON line; the gateway only logs JSON, so ignore noise
      }
    });
  });
}
