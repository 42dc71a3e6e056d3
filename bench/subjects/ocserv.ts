// ocserv 1.1.6 (Debian) in gw and openconnect 9.01 (Debian) in laptop: the AnyConnect protocol, a
// TLS control channel over TCP and the data over DTLS on the same UDP port. Certificate
// authentication from a throwaway CA (the user is the client certificate's commonName), the
// office LAN pushed as a split-include route. Otherwise both ends' defaults, so the DTLS cipher
// is the one they negotiate on their own; the label names it and verify() checks it.
// ocserv runs in the foreground with its config, pid file and sockets in the lab's temp folder;
// openconnect configures its tun through our own small script (addresses and the pushed routes
// in laptop only: no DNS, nothing outside the namespace) instead of vpnc-script.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueClientCert, issueServerCert } from '../../src/control/pki/index.js';
import type { Lab } from '../../src/lab/index.js';
import { spawnWatched } from '../lib/process.js';
import type { Subject } from '../lib/types.js';

const PORT = 443;
/** Its own /24 of the shared-address range, apart from the other subjects' pools. */
const POOL = '100.64.4.0/24';
const CLIENT_TUN = 'oc0';
/** The client certificate's commonName: the user ocserv sees. */
const USER = 'bench';
const SERVER_READY_MS = 15_000;
const DTLS_READY_MS = 15_000;
/**
 * What both ends settle on by default: DTLS 1.2 keyed from the TLS session (PSK), AES-256-GCM.
 * openconnect says so in a line like "Established DTLS connection (using GnuTLS). Ciphersuite
 * (DTLS1.2)-(PSK)-(AES-256-GCM)."
 */
const DTLS_VERSION = 'DTLS1.2';
const DTLS_CIPHER = 'AES-256-GCM';
const DTLS_RE = /Established DTLS connection.*Ciphersuite (\S+?)\.?$/;
/** Field of /proc/<pid>/stat after "(comm) " that holds the parent pid, counted from 0. */
const STAT_PPID = 1;
/** The object identifier of a commonName: the user name is read from it. */
const OID_COMMON_NAME = '2.5.4.3';

interface OcservPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

async function writePki(dir: string, endpoint: string): Promise<OcservPki> {
  const now = new Date();
  const ca = await createCa({ commonName: 'bench CA', now });
  const server = await issueServerCert(ca, { commonName: 'gw', endpoint, now });
  const client = await issueClientCert(ca, { commonName: USER, now });
  const files: [keyof OcservPki, string, string][] = [
    ['ca', 'oc-ca.crt', ca.certPem],
    ['serverCert', 'oc-server.crt', server.certPem],
    ['serverKey', 'oc-server.key', server.keyPem],
    ['clientCert', 'oc-client.crt', client.certPem],
    ['clientKey', 'oc-client.key', client.keyPem],
  ];
  const out = {} as OcservPki;
  for (const [key, name, text] of files) {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    out[key] = path;
  }
  return out;
}

/**
 * `root` and every process below it. ocserv forks a security module and, per client, a worker
 * that carries the data: the worker's CPU time is the tunnel's, and it only exists once the
 * client connected.
 */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[STAT_PPID]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const todo = [root];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

function ocservConf(lab: Lab, pki: OcservPki): string {
  const tmp = lab.tmpDir;
  return [
    'auth = "certificate"',
    `cert-user-oid = ${OID_COMMON_NAME}`,
    `server-cert = ${pki.serverCert}`,
    `server-key = ${pki.serverKey}`,
    `ca-cert = ${pki.ca}`,
    `listen-host = ${lab.addr.gw.outside.v4}`,
    `tcp-port = ${PORT}`,
    `udp-port = ${PORT}`,
    `socket-file = ${join(tmp, 'ocserv.sock')}`,
    `pid-file = ${join(tmp, 'ocserv.pid')}`,
    // No occtl: its default socket is in /run, shared with every other lab.
    'use-occtl = false',
    'isolate-workers = true',
    'max-clients = 0',
    'max-same-clients = 0',
    'try-mtu-discovery = false',
    'device = vpns',
    `ipv4-network = ${POOL}`,
    `route = ${lab.addr.net.office.v4}`,
    'ping-leases = false',
    '',
  ].join('\n');
}

/**
 * Run by openconnect in laptop for each change of state (`reason`); on connect it brings the tun
 * up with the given address and MTU and adds the split-include routes ocserv pushed.
 */
const CLIENT_SCRIPT = `#!/bin/sh
set -e
[ "$reason" = connect ] || exit 0
ip link set dev "$TUNDEV" up mtu "$INTERNAL_IP4_MTU"
ip addr add "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV"
i=0
while [ "$i" -lt "\${CISCO_SPLIT_INC:-0}" ]; do
  eval "net=\\$CISCO_SPLIT_INC_\${i}_ADDR len=\\$CISCO_SPLIT_INC_\${i}_MASKLEN"
  ip route replace "$net/$len" dev "$TUNDEV"
  i=$((i + 1))
done
`;

export const ocserv: Subject = {
  id: 'ocserv',
  label: `ocserv 1.1.6 + openconnect 9.01 DTLS 1.2 ${DTLS_CIPHER}`,
  needs: ['ocserv', 'openconnect'],
  async startServer(lab) {
    const endpoint = lab.addr.gw.outside.v4;
    const pki = await writePki(lab.tmpDir, endpoint);
    const conf = join(lab.tmpDir, 'ocserv.conf');
    writeFileSync(conf, ocservConf(lab, pki));
    const script = join(lab.tmpDir, 'openconnect-script.sh');
    writeFileSync(script, CLIENT_SCRIPT, { mode: 0o700 });
    const server = spawnWatched(lab, 'gw', 'ocserv', 'ocserv', ['-f', '-c', conf]);
    try {
      await server.waitFor(/listening \(TCP\)/, SERVER_READY_MS);
      await server.waitFor(/listening \(UDP\)/, SERVER_READY_MS);
    } catch (e) {
      await server.stop();
      throw e;
    }
    return {
      // Read when the figures are taken, after the client connected: the worker is there then.
      get pids() {
        return processTree(server.pid);
      },
      startClient() {
        const client = spawnWatched(lab, 'laptop', 'openconnect', 'openconnect', [
          ...['--protocol', 'anyconnect', '--non-inter', '--cafile', pki.ca],
          ...['--certificate', pki.clientCert, '--sslkey', pki.clientKey],
          ...['--interface', CLIENT_TUN, '--script', script],
          `https://${endpoint}:${PORT}/`,
        ]);
        return Promise.resolve({
          pids: [client.pid],
          // openconnect 9.01 tries DTLS before it configures the tun, but would fall back to the
          // TLS channel: the figures are only taken once DTLS is up, with the named cipher.
          async verify() {
            const line = await client.waitFor(DTLS_RE, DTLS_READY_MS);
            const suite = DTLS_RE.exec(line)?.[1] ?? '';
            if (!suite.includes(`(${DTLS_VERSION})`) || !suite.includes(`(${DTLS_CIPHER})`)) {
              throw new Error(
                `openconnect negotiated ${suite}, not ${DTLS_VERSION} ${DTLS_CIPHER}`,
              );
            }
          },
          stop: () => client.stop(),
        });
      },
      stop: () => server.stop(),
    };
  },
};
