// wireguard-go (Debian's userspace WireGuard; this kernel has no wireguard module) at both ends,
// configured with `wg` and `ip` as its documentation shows. Its control socket lives in
// /var/run/wireguard/<ifname>.sock, shared by every namespace, so interface names carry the lab
// id to stay unique.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostName, Lab } from '../../src/lab/index.js';
import { run } from '../../src/lab/run.js';
import { spawnWatched, type Watched } from '../lib/process.js';
import type { Subject } from '../lib/types.js';

const PORT = 51820;
const SOCKET_DIR = '/var/run/wireguard';
const TUNNEL_PREFIX = '100.64.2';
const GW_TUNNEL_ADDR = `${TUNNEL_PREFIX}.1`;
const LAPTOP_TUNNEL_ADDR = `${TUNNEL_PREFIX}.2`;
const TUNNEL_PREFIX_LEN = 24;
const SOCKET_WAIT_MS = 5_000;
const SOCKET_POLL_MS = 2;
/** The pid and random part of a lab id: unique per lab, short enough for an interface name. */
const LAB_ID_TAIL = 8;

async function wgKeyPair(): Promise<{ priv: string; pub: string }> {
  const g = await run('wg', ['genkey']);
  if (g.code !== 0) throw new Error(`wg genkey: ${g.stderr.trim()}`);
  const priv = g.stdout.trim();
  const p = await run('wg', ['pubkey'], { input: priv + '\n' });
  if (p.code !== 0) throw new Error(`wg pubkey: ${p.stderr.trim()}`);
  return { priv, pub: p.stdout.trim() };
}

async function must(lab: Lab, host: HostName, cmd: string, args: string[]): Promise<void> {
  const r = await lab.exec(host, cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${host}: ${r.stderr.trim()}`);
}

/** Starts wireguard-go on a new interface and waits for its control socket. */
async function startDevice(lab: Lab, host: HostName, ifname: string): Promise<Watched> {
  const socket = join(SOCKET_DIR, `${ifname}.sock`);
  const dev = spawnWatched(lab, host, `wireguard-go in ${host}`, 'wireguard-go', ['-f', ifname], {
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
  });
  const until = performance.now() + SOCKET_WAIT_MS;
  while (!existsSync(socket)) {
    if (dev.proc.exitCode !== null || performance.now() > until) {
      await dev.stop();
      throw new Error(
        `wireguard-go ${ifname} did not open ${socket}:\n${dev.log.lines.join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, SOCKET_POLL_MS));
  }
  return {
    ...dev,
    async stop() {
      await dev.stop();
      rmSync(socket, { force: true });
    },
  };
}

export const wireguardGo: Subject = {
  id: 'wireguard-go',
  label: 'wireguard-go (Debian 0.0.20220316)',
  needs: ['wireguard-go', 'wg'],
  async startServer(lab) {
    const tag = lab.id.slice(-LAB_ID_TAIL);
    const gwIf = `wg${tag}g`;
    const laptopIf = `wg${tag}l`;
    const [gwKey, laptopKey] = await Promise.all([wgKeyPair(), wgKeyPair()]);
    const gwKeyFile = join(lab.tmpDir, 'wg-gw.key');
    const laptopKeyFile = join(lab.tmpDir, 'wg-laptop.key');
    writeFileSync(gwKeyFile, gwKey.priv + '\n', { mode: 0o600 });
    writeFileSync(laptopKeyFile, laptopKey.priv + '\n', { mode: 0o600 });

    const gw = await startDevice(lab, 'gw', gwIf);
    try {
      await must(lab, 'gw', 'wg', [
        ...['set', gwIf, 'listen-port', String(PORT), 'private-key', gwKeyFile],
        ...['peer', laptopKey.pub, 'allowed-ips', `${LAPTOP_TUNNEL_ADDR}/32`],
      ]);
      await must(lab, 'gw', 'ip', [
        ...['addr', 'add', `${GW_TUNNEL_ADDR}/${TUNNEL_PREFIX_LEN}`, 'dev', gwIf],
      ]);
      await must(lab, 'gw', 'ip', ['link', 'set', gwIf, 'up']);
    } catch (e) {
      await gw.stop();
      throw e;
    }
    return {
      pids: [gw.pid],
      async startClient() {
        const dev = await startDevice(lab, 'laptop', laptopIf);
        try {
          const endpoint = `${lab.addr.gw.outside.v4}:${PORT}`;
          const allowed = `${TUNNEL_PREFIX}.0/${TUNNEL_PREFIX_LEN},${lab.addr.net.office.v4}`;
          await must(lab, 'laptop', 'wg', [
            ...['set', laptopIf, 'private-key', laptopKeyFile],
            ...['peer', gwKey.pub, 'endpoint', endpoint, 'allowed-ips', allowed],
          ]);
          await must(lab, 'laptop', 'ip', [
            ...['addr', 'add', `${LAPTOP_TUNNEL_ADDR}/${TUNNEL_PREFIX_LEN}`, 'dev', laptopIf],
          ]);
          await must(lab, 'laptop', 'ip', ['link', 'set', laptopIf, 'up']);
          await must(lab, 'laptop', 'ip', [
            'route',
            'add',
            lab.addr.net.office.v4,
            'dev',
            laptopIf,
          ]);
        } catch (e) {
          await dev.stop();
          throw e;
        }
        return { pids: [dev.pid], stop: () => dev.stop() };
      },
      stop: () => gw.stop(),
    };
  },
};
