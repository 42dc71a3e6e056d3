// strongSwan 5.9.8 (Debian) at both ends, IKEv2 with a pre-shared key and x25519, ESP
// AES-256-GCM, the data path in userspace through kernel-libipsec (this kernel has no ESP/XFRM
// support for it to use): responder in gw, initiator in laptop asking for a virtual IP, the
// office LAN as the gateway's traffic selector.
// Two charons on one machine: each runs in its own mount namespace with a private /run (charon
// writes /run/charon.pid), its own strongswan.conf (STRONGSWAN_CONF) and its own vici socket in
// the lab's temp folder, which swanctl is pointed at.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostName, Lab } from '../../src/lab/index.js';
import { spawnWatched, type Watched } from '../lib/process.js';
import type { Subject } from '../lib/types.js';

const CHARON = '/usr/lib/ipsec/charon';
const POOL = '100.64.3.0/24';
const IKE_PROPOSAL = 'aes256gcm16-prfsha256-x25519';
const ESP_PROPOSAL = 'aes256gcm16';
const CONN = 'bench';
const CHILD = 'office';
const PSK_BYTES = 32;
const SOCKET_WAIT_MS = 10_000;
const SOCKET_POLL_MS = 2;
const INITIATE_TIMEOUT_SEC = 20;
/** What charon and swanctl load: nothing from /etc, only what this subject needs. */
const CHARON_PLUGINS = [
  'random',
  'nonce',
  'openssl',
  'aes',
  'gcm',
  'sha2',
  'hmac',
  'kdf',
  'pem',
  'pkcs1',
  'x509',
  'pubkey',
  'attr',
  'kernel-libipsec',
  'kernel-netlink',
  'socket-default',
  'vici',
].join(' ');
const SWANCTL_PLUGINS = 'random openssl pem pkcs1 x509 pubkey';

type Side = 'gw' | 'laptop';

function strongswanConf(vici: string): string {
  return `charon {
  load = ${CHARON_PLUGINS}
  install_virtual_ip = yes
  plugins {
    vici {
      socket = unix://${vici}
    }
  }
  filelog {
    stderr {
      default = 1
      ike = 1
    }
  }
}
swanctl {
  load = ${SWANCTL_PLUGINS}
}
`;
}

function swanctlConf(side: Side, lab: Lab, psk: string): string {
  const office = lab.addr.net.office.v4;
  const gwAddr = lab.addr.gw.outside.v4;
  const me = side === 'gw' ? 'gw.bench' : 'laptop.bench';
  const peer = side === 'gw' ? 'laptop.bench' : 'gw.bench';
  const where =
    side === 'gw'
      ? `local_addrs = ${gwAddr}\n    pools = vips`
      : `remote_addrs = ${gwAddr}\n    vips = 0.0.0.0`;
  const ts = side === 'gw' ? `local_ts = ${office}` : `remote_ts = ${office}`;
  return `connections {
  ${CONN} {
    version = 2
    ${where}
    proposals = ${IKE_PROPOSAL}
    local {
      auth = psk
      id = ${me}
    }
    remote {
      auth = psk
      id = ${peer}
    }
    children {
      ${CHILD} {
        ${ts}
        esp_proposals = ${ESP_PROPOSAL}
      }
    }
  }
}
pools {
  vips {
    addrs = ${POOL}
  }
}
secrets {
  ike-bench {
    id-gw = gw.bench
    id-laptop = laptop.bench
    secret = 0x${psk}
  }
}
`;
}

interface Charon extends Watched {
  swanctl(args: readonly string[]): Promise<string>;
}

/** charon in a lab host, with a private /run, configured and loaded through swanctl. */
async function startCharon(lab: Lab, side: Side, psk: string): Promise<Charon> {
  const host: HostName = side;
  const vici = join(lab.tmpDir, `charon-${side}.vici`);
  const conf = join(lab.tmpDir, `strongswan-${side}.conf`);
  const swanctlFile = join(lab.tmpDir, `swanctl-${side}.conf`);
  writeFileSync(conf, strongswanConf(vici));
  // A charon started before in this lab (the second connect) leaves its socket file behind:
  // waiting for the file must mean waiting for this charon.
  rmSync(vici, { force: true });
  writeFileSync(swanctlFile, swanctlConf(side, lab, psk), { mode: 0o600 });
  const env = { STRONGSWAN_CONF: conf };
  // `ip netns exec` already gave the program its own mount namespace (mounts are slaves of the
  // root's, so nothing mounted here shows outside): a tmpfs on /run is private to this charon.
  const charon = spawnWatched(
    lab,
    host,
    `charon in ${host}`,
    'sh',
    ['-c', `mount -t tmpfs tmpfs /run && exec ${CHARON}`],
    env,
  );
  const until = performance.now() + SOCKET_WAIT_MS;
  while (!existsSync(vici)) {
    if (charon.proc.exitCode !== null || performance.now() > until) {
      await charon.stop();
      throw new Error(`charon in ${host} did not open ${vici}:\n${charon.log.lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, SOCKET_POLL_MS));
  }
  const swanctl = async (args: readonly string[]): Promise<string> => {
    const r = await lab.exec(host, 'swanctl', [...args, '--uri', `unix://${vici}`], {
      env: { ...process.env, ...env },
    });
    if (r.code !== 0) {
      throw new Error(`swanctl ${args.join(' ')} in ${host}: ${r.stdout}${r.stderr}`.trim());
    }
    return r.stdout;
  };
  try {
    await swanctl(['--load-all', '--noprompt', '--file', swanctlFile]);
  } catch (e) {
    await charon.stop();
    throw e;
  }
  return { ...charon, swanctl };
}

export const strongswan: Subject = {
  id: 'strongswan',
  label: 'strongSwan 5.9.8 IKEv2 ESP AES-256-GCM (kernel-libipsec)',
  needs: ['swanctl'],
  async startServer(lab) {
    const psk = randomBytes(PSK_BYTES).toString('hex');
    const gw = await startCharon(lab, 'gw', psk);
    return {
      pids: [gw.pid],
      async startClient() {
        const laptop = await startCharon(lab, 'laptop', psk);
        try {
          await laptop.swanctl([
            ...['--initiate', '--child', CHILD, '--timeout', String(INITIATE_TIMEOUT_SEC)],
          ]);
        } catch (e) {
          await laptop.stop();
          throw e;
        }
        return {
          pids: [laptop.pid],
          async verify() {
            const sas = await laptop.swanctl(['--list-sas']);
            if (!/AES_GCM_16-256/.test(sas)) throw new Error(`not AES-256-GCM:\n${sas}`);
          },
          stop: () => laptop.stop(),
        };
      },
      stop: () => gw.stop(),
    };
  },
};
