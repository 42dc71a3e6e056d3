// Postern as a user runs it: `postern init`, `postern user add`, `postern profile --format ovpn`
// and `postern server` in gw (the native fast path serves UDP), and the stock OpenVPN 2.6 client
// (userspace) in laptop with the exported profile, kept to one remote. Against the stock
// OpenVPN subjects only the server differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadPosternProfile } from '../../src/control/profile/postern-profile.js';
import type { LoadTarget } from '../load/openvpn-load.js';
import type { Lab } from '../../src/lab/index.js';
import { startPosternGateway, type PosternGateway } from '../lib/postern-gateway.js';
import { spawnWatched } from '../lib/process.js';
import type { Subject } from '../lib/types.js';
import type { OpenvpnProto } from './stock-openvpn.js';
import { openvpnClientEnd } from './stock-openvpn.js';

const USER = 'bench';
const NATIVE_MARK = '(native)';

interface StatusJson {
  listeners?: { kind: string; address: string }[];
}

/** Keeps only the `proto` remote and offers only `cipher`, as a user editing the file would. */
function editProfile(path: string, proto: OpenvpnProto, cipher: string): void {
  const lines = readFileSync(path, 'utf8').split('\n');
  const kept = lines
    .filter((l) => !l.startsWith('remote ') || l.endsWith(` ${proto}`))
    // explicit-exit-notify is a UDP-only option: openvpn refuses it with a TCP remote.
    .filter((l) => proto === 'udp' || !l.startsWith('explicit-exit-notify'))
    .map((l) => (l.startsWith('data-ciphers ') ? `data-ciphers ${cipher}` : l));
  if (!kept.some((l) => l.startsWith('remote '))) {
    throw new Error(`the exported profile has no ${proto} remote`);
  }
  writeFileSync(path, kept.join('\n'));
}

/** The same user's Postern profile as the load generator's target (its UDP remote). */
async function posternLoadTarget(gw: PosternGateway): Promise<LoadTarget> {
  const p = loadPosternProfile(await gw.exportProfile(USER, 'postern'));
  const udp = p.remotes.find((r) => r.proto === 'udp');
  if (!udp) throw new Error('the Postern profile has no UDP remote');
  return {
    host: udp.host,
    port: udp.port,
    ...{ ca: p.ca, cert: p.cert, key: p.key, tlsCrypt: p.tlsCrypt },
    dataCiphers: [...p.dataCiphers],
    tlsMin: p.tlsMin,
    verifyName: p.verifyName,
  };
}

export function posternOpenvpn(o: {
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
      const gw = await startPosternGateway(lab);
      try {
        if (o.proto === 'udp') {
          const status = JSON.parse((await gw.cli(['status', '--json'])).stdout) as StatusJson;
          const udp = status.listeners?.find((l) => l.kind === 'openvpn-udp');
          if (!udp?.address.endsWith(NATIVE_MARK)) {
            throw new Error(`the UDP listener is not on the native path: ${JSON.stringify(udp)}`);
          }
        }
        const profile = await gw.addUser(USER, 'ovpn');
        editProfile(profile, o.proto, o.cipher);
        const loadTarget =
          o.loadTest && o.proto === 'udp' ? await posternLoadTarget(gw) : undefined;
        return {
          pids: [gw.pid],
          ...(loadTarget ? { loadTarget } : {}),
          startClient() {
            const client = spawnWatched(lab, 'laptop', 'openvpn client', 'openvpn', [
              ...['--config', profile, '--verb', '3', '--disable-dco'],
            ]);
            return Promise.resolve(openvpnClientEnd(client, o.cipher));
          },
          stop: () => gw.stop(),
        };
      } catch (e) {
        await gw.stop();
        throw e;
      }
    },
  };
}
