// The start-up self-connect in the configurations users run besides the default: tls-crypt v1,
// the TypeScript data path, a UDP listener bound to one address, TCP only. Each gateway says
// it connected to itself (with no UDP listener it does not try) and keeps no session from it;
// then a stock client still connects and reaches the office.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from '../../src/lab/index.js';
import {
  assertClientReachesOffice,
  keepRemotes,
  startLabGateway,
  type LabGateway,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const UDP_ANY = '{ proto: udp, address: "::", port: 1194 }';

interface Case {
  name: string;
  /** The gateway has a UDP listener to connect to. */
  udp: boolean;
  configure(yaml: string, outside: string): string;
}

const CASES: Case[] = [
  {
    name: 'tls-crypt v1',
    udp: true,
    configure: (y) => y.replace(/^ {2}tls-crypt: v2 /m, '  tls-crypt: v1 '),
  },
  {
    name: 'the TypeScript data path',
    udp: true,
    configure: (y) => y.replace('dataplane: native', 'dataplane: reference'),
  },
  {
    name: 'UDP bound to the outside address',
    udp: true,
    configure: (y, outside) =>
      y.replace(UDP_ANY, `{ proto: udp, address: "${outside}", port: 1194 }`),
  },
  { name: 'TCP only', udp: false, configure: (y) => y.replace(`    - ${UDP_ANY}\n`, '') },
];

describe(
  'start-up self-connect, other configurations',
  { skip: root ? false : 'needs root' },
  () => {
    let lab: Lab;
    before(async () => {
      lab = await createLab();
    });
    after(async () => {
      await lab?.destroy();
    });

    for (const c of CASES) {
      const what = c.udp ? 'connects to itself once' : 'has nothing to connect to';
      it(`${c.name}: ${what}, then serves a client`, async () => {
        let gw: LabGateway | undefined;
        try {
          gw = await startLabGateway(lab, {
            configure: (y) => {
              const changed = c.configure(y, lab.addr.gw.outside.v4);
              assert.notEqual(changed, y, 'the configuration changed');
              return changed;
            },
          });
          const lines = gw.log.lines.filter((l) => l.includes('"event":"self-connect"'));
          if (c.udp) {
            assert.equal(lines.length, 1, gw.log.lines.join('\n'));
            assert.doesNotMatch(lines[0] ?? '', /"error"/, lines[0]);
          } else {
            assert.deepEqual(lines, []);
          }
          assert.deepEqual(await gw.sessions(), []);
          const profile = await gw.addUser('carol');
          keepRemotes(profile, c.udp ? 'udp' : 'tcp');
          await assertClientReachesOffice(lab, profile);
        } finally {
          await gw?.stop();
        }
      });
    }
  },
);
