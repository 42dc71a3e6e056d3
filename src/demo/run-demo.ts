// `postern demo`: builds the lab, runs a real gateway in it, connects a stock OpenVPN client
// over UDP and `postern connect` over TCP, and shows, step by step, what a user and an
// eavesdropper see. Tears everything down and exits 0 only if every step worked. Each protocol
// adds its chapter here as it lands.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { createLab, type Lab } from '../lab/index.js';
import { PosternError } from '../errors.js';
import { Narrator } from './narrator.js';

const BIN = fileURLToPath(new URL('../../../bin/postern.js', import.meta.url));
const DOWNLOAD_BYTES = 16 << 20;

export async function runDemo(): Promise<number> {
  if (process.getuid?.() !== 0) {
    throw new PosternError(
      'DEMO_NEEDS_ROOT',
      'the demo builds network namespaces and needs root',
      'run it as root (sudo npm run demo)',
    );
  }
  for (const tool of ['openvpn', 'tcpdump', 'ip', 'ping']) {
    if (!onPath(tool)) {
      throw new PosternError(
        'DEMO_MISSING_TOOL',
        `the demo needs \`${tool}\`, which is not installed`,
        'run it as `npm run demo`, which installs the Debian packages it needs',
      );
    }
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
        'laptop 198.51.100.2 -- inet (router, where an eavesdropper sits) -- 203.0.113.2 gw -- office 192.0.2.10',
        'The office LAN (192.0.2.0/24, 2001:db8:2::/64) is private: the Internet has no route to it.',
      ].join('\n'),
    );
    const officePing = await lab.ping('laptop', lab.addr.office.v4, { count: 1 });
    n.check(
      officePing.received === 0,
      `ping laptop -> office ${lab.addr.office.v4}: no answer, as on the real Internet`,
      'the office is reachable without a VPN: the lab leaks',
    );

    const dir = join(work, 'gw');
    const cli = (args: string[]) => lab!.exec('gw', process.execPath, [BIN, ...args, '--dir', dir]);
    n.step('Initialise a gateway: CA, gateway certificate, keys, store, postern.yaml');
    const init = await cli([
      'init',
      '--endpoint',
      lab.addr.gw.outside.v4,
      '--route',
      '192.0.2.0/24',
      '--route',
      '2001:db8:2::/64',
      '--name',
      'demo',
    ]);
    n.say(
      `$ postern init --endpoint ${lab.addr.gw.outside.v4} --route 192.0.2.0/24 --route 2001:db8:2::/64`,
    );
    n.check(init.code === 0, 'initialised', `init failed: ${init.stderr}`);

    n.step('Start the gateway in the gw namespace (OpenVPN on UDP 1194 and TCP 443)');
    const server = lab.spawn('gw', process.execPath, [BIN, 'server', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = await waitForLine(server, /"event":"ready"/, 20_000);
    n.check(
      ready !== undefined,
      'the gateway logged {"event":"ready"}',
      'the gateway did not become ready',
    );

    n.step('Add two users and export their profiles');
    for (const user of ['alice', 'bob']) {
      const add = await cli(['user', 'add', user]);
      n.check(add.code === 0, `$ postern user add ${user}`, `user add failed: ${add.stderr}`);
    }
    const ovpn = join(work, 'alice.ovpn');
    const json = join(work, 'bob.json');
    const p1 = await cli(['profile', 'alice', '--format', 'ovpn', '--out', ovpn]);
    const p2 = await cli(['profile', 'bob', '--format', 'postern', '--out', json]);
    n.check(
      p1.code === 0 && p2.code === 0,
      `alice.ovpn for any stock OpenVPN client, bob.json for postern connect`,
      `profile export failed: ${p1.stderr}${p2.stderr}`,
    );
    // The demo drives each client over one transport: alice UDP, bob TCP.
    writeFileSync(
      ovpn,
      readFileSync(ovpn, 'utf8')
        .split('\n')
        .filter((l) => !(l.startsWith('remote ') && l.endsWith(' tcp')))
        .join('\n'),
    );
    const bobProfile = JSON.parse(readFileSync(json, 'utf8')) as { remotes: { proto: string }[] };
    bobProfile.remotes = bobProfile.remotes.filter((r) => r.proto === 'tcp');
    writeFileSync(json, JSON.stringify(bobProfile));

    n.step('alice connects from the laptop with the stock `openvpn` client, over UDP');
    const alice = lab.spawn('laptop', 'openvpn', ['--config', ovpn, '--verb', '3'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const up = await waitForLine(alice, /Initialization Sequence Completed/, 45_000);
    n.check(
      up !== undefined,
      'openvpn: "Initialization Sequence Completed"',
      'the stock openvpn client did not connect',
    );
    const v4 = await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 });
    const v6 = await lab.ping('laptop', lab.addr.office.v6, { count: 3, timeoutSec: 2, v6: true });
    n.check(
      v4.received === 3 && v6.received === 3,
      `ping office ${lab.addr.office.v4} and ${lab.addr.office.v6} through the tunnel: 3/3 each`,
      `pings through the tunnel failed (${v4.received}/3, ${v6.received}/3)`,
    );

    n.step('Download a 16 MiB file from the office, while watching the inet link');
    const files = await lab.httpServer('office', { port: 8080, bytes: DOWNLOAD_BYTES });
    const capture = await lab.capture({ host: 'inet', filter: 'udp port 1194 or tcp port 443' });
    const got = await lab.download('laptop', files.url(), { timeoutMs: 120_000 });
    const wire = await capture.stop();
    n.check(
      got.sha256 === files.sha256,
      `downloaded ${got.bytes} bytes in ${got.ms} ms, SHA-256 matches`,
      'the download was damaged',
    );
    const excerpt = wire.text.split('\n').slice(0, 8).join('\n');
    n.say(
      `What the eavesdropper on inet sees (tcpdump, ${wire.packets} packets):\n${excerpt}\n...`,
    );
    n.check(
      !/HTTP\/1\.1|GET \//.test(wire.text),
      'no HTTP header crossed the wire in clear: only OpenVPN ciphertext',
      'plaintext seen on the wire',
    );

    n.step('What the gateway knows');
    const sessions = await cli(['sessions']);
    n.say(`$ postern sessions\n${sessions.stdout}`);
    n.check(
      sessions.code === 0 && /alice .*openvpn-udp.*AES-256-GCM/.test(sessions.stdout),
      "alice's session listed, with cipher and bytes",
      'postern sessions did not list alice',
    );
    const rekey = await cli(['rekey', '--all']);
    n.check(
      rekey.code === 0,
      `$ postern rekey --all: ${rekey.stdout.trim()} (fresh keys, no packet lost)`,
      `rekey failed: ${rekey.stderr}`,
    );
    const after = await lab.ping('laptop', lab.addr.office.v4, { count: 3, timeoutSec: 2 });
    n.check(
      after.received === 3,
      'traffic continues under the new keys',
      'traffic stopped after the rekey',
    );

    n.step('Revoke alice: her session ends at once');
    const revoke = await cli(['user', 'revoke', 'alice']);
    n.say(`$ postern user revoke alice\n${revoke.stdout}`);
    n.check(
      revoke.code === 0 && /ended 1 live session/.test(revoke.stdout),
      'revoked; her live session ended',
      `revoke failed: ${revoke.stderr}${revoke.stdout}`,
    );
    const refused = await waitForLine(alice, /AUTH_FAILED/, 30_000);
    n.check(
      refused !== undefined,
      'her client reconnects and is told AUTH_FAILED: the certificate is revoked',
      'her client was not refused',
    );
    alice.kill('SIGTERM');
    await new Promise((resolve) =>
      alice.exitCode !== null ? resolve(null) : alice.once('exit', resolve),
    );

    n.step('bob connects from the laptop with `postern connect`, over TCP 443');
    const bob = lab.spawn('laptop', process.execPath, [BIN, 'connect', json], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const connected = await waitForLine(bob, /"event":"connected"/, 45_000);
    n.check(
      connected !== undefined,
      `postern connect logged ${connected ? summarize(connected) : 'nothing'}`,
      'postern connect did not connect',
    );
    const got2 = await lab.download('laptop', files.url({ v6: true }), { timeoutMs: 120_000 });
    n.check(
      got2.sha256 === files.sha256,
      `bob downloads the same file over IPv6: ${got2.bytes} bytes, SHA-256 matches`,
      'the second download was damaged',
    );
    await files.stop();
    const bobs = await cli(['sessions']);
    n.say(`$ postern sessions\n${bobs.stdout}`);
    const audit = await cli(['audit']);
    n.say(`$ postern audit (last lines)\n${audit.stdout.trim().split('\n').slice(-6).join('\n')}`);

    n.step('Stop everything');
    bob.kill('SIGTERM');
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

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, tool)));
}

function summarize(line: string): string {
  try {
    const j = JSON.parse(line) as {
      event: string;
      address4?: string;
      address6?: string;
      cipher?: string;
    };
    return JSON.stringify({
      event: j.event,
      address4: j.address4,
      address6: j.address6,
      cipher: j.cipher,
    });
  } catch {
    return line;
  }
}

function waitForLine(
  proc: ChildProcess,
  re: RegExp,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    const onLine = (text: string): void => {
      if (re.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    };
    if (proc.stdout) createInterface({ input: proc.stdout }).on('line', onLine);
    if (proc.stderr) createInterface({ input: proc.stderr }).on('line', onLine);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}
