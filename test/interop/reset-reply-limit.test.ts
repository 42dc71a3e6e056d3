// openvpn.connect-freq-initial (OpenVPN 2.6's --connect-freq-initial): a burst of valid client
// resets, as a replayed capture from forged sources would be, gets only the configured number
// of stateless replies; the rest are dropped and counted, on the native RX thread or in JS
// with the TypeScript data path; and once the window has passed a real client connects.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from '../../src/lab/index.js';
import { parseClientKeyFile } from '../../src/crypto/tls-crypt-v2.js';
import { loadPosternProfile } from '../../src/control/profile/postern-profile.js';
import { randomBytesPooled } from '../../src/io/random.js';
import { clientTlsEngine } from '../../src/io/tls/engine-choice.js';
import { ClientSession } from '../../src/proto/openvpn/session/client-session.js';
import {
  assertClientReachesOffice,
  keepRemotes,
  startLabGateway,
  type LabGateway,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const MAX = 5;
const WINDOW_S = 3;
const RESETS = 20;
/** Longer than a window: the one the start-up self-connect's reply opened has closed. */
const PAST_A_WINDOW_MS = WINDOW_S * 1000 + 300;
const REPLY_WAIT_MS = 1500;

/** `count` HARD_RESET_CLIENT_V3 packets a real client of this profile would send first. */
function clientResets(profilePath: string, count: number): Uint8Array[] {
  const p = loadPosternProfile(profilePath);
  const k = parseClientKeyFile(p.tlsCrypt.key);
  if (!k.ok) throw new Error(`profile key: ${k.reason}`);
  const tls = clientTlsEngine({ ca: p.ca, cert: p.cert, key: p.key }).factory;
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const s = new ClientSession({
      wrap: { kind: 'tls-crypt-v2', clientKey: k.clientKey, wkc: k.wkc },
      createTls: tls,
      random: randomBytesPooled,
      now: Date.now(),
    });
    const first = s.start(Date.now()).find((o) => o.kind === 'send');
    if (first?.kind !== 'send') throw new Error('the client session sent nothing first');
    out.push(first.packet);
  }
  return out;
}

/** Sends the packets back to back from laptop; the number of datagrams that came back. */
async function burst(lab: Lab, packets: Uint8Array[]): Promise<number> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const packets = process.argv.slice(1).map((h) => Buffer.from(h, 'hex'));
    let replies = 0;
    s.on('message', () => replies++);
    s.bind(0, () => {
      for (const p of packets) s.send(p, 1194, '${lab.addr.gw.outside.v4}');
      setTimeout(() => { console.log('replies ' + replies); s.close(); }, ${REPLY_WAIT_MS});
    });`;
  const hex = packets.map((p) => Buffer.from(p).toString('hex'));
  const proc = lab.spawn('laptop', process.execPath, ['-e', script, ...hex], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise((resolve) => proc.once('exit', resolve));
  const m = /replies (\d+)/.exec(out);
  if (!m) throw new Error(`no count from the burst: ${out}`);
  return Number(m[1]);
}

async function counters(gw: LabGateway): Promise<Record<string, number>> {
  const r = await gw.cli(['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { counters: Record<string, number> }).counters;
}

describe('reset reply limit (connect-freq-initial)', { skip: root ? false : 'needs root' }, () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab();
  });
  after(async () => {
    await lab?.destroy();
  });

  for (const dataplane of ['native', 'reference'] as const) {
    it(`${dataplane} data path: ${MAX} replies to ${RESETS} resets in a window, the rest counted`, async () => {
      let gw: LabGateway | undefined;
      try {
        gw = await startLabGateway(lab, {
          configure: (y) => {
            const limited = y
              .replace(
                'connect-freq-initial: { max: 1000, seconds: 1 }',
                `connect-freq-initial: { max: ${MAX}, seconds: ${WINDOW_S} }`,
              )
              .replace('dataplane: native', `dataplane: ${dataplane}`);
            assert.match(limited, new RegExp(`max: ${MAX}, seconds: ${WINDOW_S}`));
            return limited;
          },
        });
        const resets = clientResets(await gw.addUser('mallory', { format: 'postern' }), RESETS);
        const profile = await gw.addUser('alice');
        keepRemotes(profile, 'udp');
        await new Promise((r) => setTimeout(r, PAST_A_WINDOW_MS));
        const before = await counters(gw);

        const replies = await burst(lab, resets);
        assert.equal(replies, MAX, `${replies} replies to ${RESETS} resets`);
        const after = await counters(gw);
        const grew = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
        assert.equal(grew('openvpn.reset-replies'), MAX, JSON.stringify(after));
        assert.equal(grew('openvpn.drop.first-contact-rate-limited'), RESETS - MAX);
        if (dataplane === 'native') {
          // On the RX thread: none of them reached the event loop.
          assert.equal(grew('openvpn.reset-replies.native'), MAX);
          assert.equal(grew('openvpn.drop.first-contact-rate-limited.native'), RESETS - MAX);
        } else {
          assert.equal(after['openvpn.drop.first-contact-rate-limited.native'], undefined);
        }

        // The next window: a real client is answered and gets through.
        await new Promise((r) => setTimeout(r, PAST_A_WINDOW_MS));
        await assertClientReachesOffice(lab, profile);
      } finally {
        await gw?.stop();
      }
    });
  }
});
