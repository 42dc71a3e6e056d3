// Stock OpenVPN 2.6 from Debian at both ends, in userspace (`--disable-dco`): the reference the
// table's ratios are taken against. Server in gw, client in laptop, certificates (ECDSA P-256)
// from a throwaway CA, one data cipher, the office LAN pushed as routes. What Postern gives every
// client by default, the reference gives too, so both do the same work per connect: tls-crypt-v2
// (keys made by `openvpn --genkey`), an IPv6 address from fd00:64::/64 beside the IPv4 one, and
// routes to both families of the office LAN.
// Otherwise OpenVPN's defaults, but for what the load generator's many clients need (one shared
// client certificate and client key, a /18 pool, no cap on clients or on the rate of new ones).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueClientCert, issueServerCert } from '../../src/control/pki/index.js';
import type { Lab } from '../../src/lab/index.js';
import { spawnWatched, type Watched } from '../lib/process.js';
import type { ClientEnd, Subject } from '../lib/types.js';

const PORT = 1194;
/** Tunnel addresses: a /18, room for the load generator's sessions. */
const TUNNEL_NET = '100.64.0.0';
const TUNNEL_MASK = '255.255.192.0';
/** Above the largest `--sessions`: the default (1024) would refuse the load generator. */
const MAX_CLIENTS = '20000';
/**
 * 2.6 answers at most 100 new clients per 10 s by default (a flood guard); the handshake figure
 * measures how fast the server completes handshakes, not that guard.
 */
const CONNECT_FREQ_INITIAL = ['1000000', '1'];
/** Postern's default IPv6 pool (postern init). */
const TUNNEL_NET6 = 'fd00:64::/64';
const OFFICE_MASK = '255.255.255.0';
const SERVER_READY_MS = 15_000;
const CIPHER_RE = /Data Channel: cipher '([^']+)'/;

export type OpenvpnProto = 'udp' | 'tcp';

export interface OpenvpnPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** tls-crypt-v2: the server's key, and the one client key every client here shows. */
  tlsCryptServer: string;
  tlsCryptClient: string;
}

/** Writes a fresh CA, server and client certificates and tls-crypt-v2 keys into `dir`. */
export async function writeOpenvpnPki(dir: string, endpoint: string): Promise<OpenvpnPki> {
  const now = new Date();
  const ca = await createCa({ commonName: 'bench CA', now });
  const server = await issueServerCert(ca, { commonName: 'gw', endpoint, now });
  const client = await issueClientCert(ca, { commonName: 'bench', now });
  const files: [keyof OpenvpnPki, string, string][] = [
    ['ca', 'ca.crt', ca.certPem],
    ['serverCert', 'server.crt', server.certPem],
    ['serverKey', 'server.key', server.keyPem],
    ['clientCert', 'client.crt', client.certPem],
    ['clientKey', 'client.key', client.keyPem],
  ];
  const out = {} as OpenvpnPki;
  for (const [key, name, text] of files) {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    out[key] = path;
  }
  // Made as an OpenVPN administrator makes them (no network: key files only).
  out.tlsCryptServer = join(dir, 'tls-crypt-v2-server.key');
  out.tlsCryptClient = join(dir, 'tls-crypt-v2-client.key');
  execFileSync('openvpn', ['--genkey', 'tls-crypt-v2-server', out.tlsCryptServer]);
  execFileSync('openvpn', [
    ...['--tls-crypt-v2', out.tlsCryptServer],
    ...['--genkey', 'tls-crypt-v2-client', out.tlsCryptClient],
  ]);
  return out;
}

/** A stock `openvpn` client in laptop, checked to have negotiated `cipher`. */
export function openvpnClientEnd(client: Watched, cipher: string): ClientEnd {
  return {
    pids: [client.pid],
    async verify() {
      const line = await client.waitFor(CIPHER_RE, SERVER_READY_MS);
      const got = CIPHER_RE.exec(line)?.[1];
      if (got !== cipher) throw new Error(`openvpn client negotiated ${got}, not ${cipher}`);
    },
    stop: () => client.stop(),
  };
}

export function stockOpenvpn(o: {
  id: string;
  label: string;
  proto: OpenvpnProto;
  cipher: string;
  /** Serves the load generator too (the session figures). */
  loadTest?: boolean;
}): Subject {
  return {
    id: o.id,
    label: o.label,
    needs: ['openvpn'],
    async startServer(lab: Lab) {
      const endpoint = lab.addr.gw.outside.v4;
      const pki = await writeOpenvpnPki(lab.tmpDir, endpoint);
      const common = ['--dev', 'tun', '--disable-dco', '--data-ciphers', o.cipher];
      common.push('--ca', pki.ca, '--verb', '3');
      const server = spawnWatched(lab, 'gw', 'openvpn server', 'openvpn', [
        ...common,
        ...['--tls-crypt-v2', pki.tlsCryptServer],
        ...['--server', TUNNEL_NET, TUNNEL_MASK, '--topology', 'subnet'],
        ...['--server-ipv6', TUNNEL_NET6],
        ...['--proto', o.proto === 'udp' ? 'udp' : 'tcp-server'],
        ...['--local', endpoint, '--port', String(PORT)],
        ...['--cert', pki.serverCert, '--key', pki.serverKey, '--dh', 'none'],
        ...['--push', `route ${lab.addr.net.office.v4.split('/')[0]} ${OFFICE_MASK}`],
        // Both families of the office LAN, as Postern pushes them: the clients do the same work.
        ...['--push', `route-ipv6 ${lab.addr.net.office.v6}`],
        ...['--keepalive', '10', '60'],
        // Every load generator session shows the same client certificate.
        ...['--duplicate-cn', '--max-clients', MAX_CLIENTS],
        ...['--connect-freq-initial', ...CONNECT_FREQ_INITIAL],
      ]);
      await server.waitFor(/Initialization Sequence Completed/, SERVER_READY_MS);
      const read = (path: string): string => readFileSync(path, 'utf8');
      return {
        pids: [server.pid],
        ...(o.loadTest && o.proto === 'udp'
          ? {
              loadTarget: {
                host: endpoint,
                port: PORT,
                ...{ ca: read(pki.ca), cert: read(pki.clientCert), key: read(pki.clientKey) },
                tlsCrypt: { version: 'v2' as const, key: read(pki.tlsCryptClient) },
                dataCiphers: [o.cipher],
                verifyName: 'gw',
              },
            }
          : {}),
        startClient() {
          const client = spawnWatched(lab, 'laptop', 'openvpn client', 'openvpn', [
            ...common,
            ...['--tls-crypt-v2', pki.tlsCryptClient],
            '--client',
            ...['--proto', o.proto === 'udp' ? 'udp' : 'tcp-client'],
            ...['--remote', endpoint, String(PORT), '--nobind'],
            ...['--cert', pki.clientCert, '--key', pki.clientKey, '--remote-cert-tls', 'server'],
          ]);
          return Promise.resolve(openvpnClientEnd(client, o.cipher));
        },
        stop: () => server.stop(),
      };
    },
  };
}
