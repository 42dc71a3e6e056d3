// Postern at both ends: the gateway as in postern-openvpn-udp (native fast path), and
// `postern connect` in laptop with the exported Postern profile kept to its UDP remote. The
// client runs the native data path too (native/ovpn_dp.c with TUN offload; its default for UDP);
// verify() checks that its "connected" line says so.
import { readFileSync, writeFileSync } from 'node:fs';
import { POSTERN_BIN, startPosternGateway } from '../lib/postern-gateway.js';
import { spawnWatched } from '../lib/process.js';
import type { Subject } from '../lib/types.js';

const USER = 'bench';
const CIPHER = 'AES-256-GCM';
const CONNECTED_TIMEOUT_MS = 15_000;

interface ConnectedLine {
  event?: string;
  cipher?: string;
  dataplane?: string;
}

export const posternConnectUdp: Subject = {
  id: 'postern-connect-udp',
  label: 'Postern gateway + postern connect, UDP AES-256-GCM',
  needs: [],
  async startServer(lab) {
    const gw = await startPosternGateway(lab);
    try {
      const profile = await gw.addUser(USER, 'postern');
      const p = JSON.parse(readFileSync(profile, 'utf8')) as { remotes: { proto: string }[] };
      p.remotes = p.remotes.filter((r) => r.proto === 'udp');
      writeFileSync(profile, JSON.stringify(p));
      return {
        pids: [gw.pid],
        startClient() {
          const client = spawnWatched(lab, 'laptop', 'postern connect', process.execPath, [
            ...[POSTERN_BIN, 'connect', profile],
          ]);
          return Promise.resolve({
            pids: [client.pid],
            async verify() {
              const line = await client.waitFor(/"event":"connected"/, CONNECTED_TIMEOUT_MS);
              const connected = JSON.parse(line) as ConnectedLine;
              if (connected.cipher !== CIPHER) {
                throw new Error(`postern connect negotiated ${connected.cipher}, not ${CIPHER}`);
              }
              if (connected.dataplane !== 'native') {
                throw new Error(`postern connect runs the ${connected.dataplane} data path`);
              }
            },
            stop: () => client.stop(),
          });
        },
        stop: () => gw.stop(),
      };
    } catch (e) {
      await gw.stop();
      throw e;
    }
  },
};
