// A multi-homed gateway: the branch client sends to the gateway's public address 203.0.113.2
// but its packets arrive on gw's branch-side interface (198.18.0.1), the address the kernel
// would pick as the source of a reply. A stock openvpn client accepts replies only from the
// address it sent to, so the gateway must answer from the address each datagram came to
// (OpenVPN's --multihome). The laptop, reaching the same address the direct way, keeps working.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  keepRemotes,
  labWithGateway,
  startOpenvpnClient,
  type OpenvpnClient,
} from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;
const GATEWAY_PUBLIC_V4 = '203.0.113.2';
const GATEWAY_BRANCH_SIDE_V4 = '198.18.0.1';
const OFFICE_V4 = '192.0.2.10';
const CONNECT_TIMEOUT_MS = 45_000;

/** The client's tunnel device, from its log ("TUN/TAP device tun0 opened"). */
async function tunDevice(client: OpenvpnClient): Promise<string> {
  const line = await client.log.waitFor(/TUN\/TAP device \S+ opened/, 5_000);
  const m = /TUN\/TAP device (\S+) opened/.exec(line);
  assert.ok(m?.[1], line);
  return m[1];
}

describe(
  'multi-homed gateway answers from the address it was reached at',
  { skip: root ? false : 'needs root' },
  () => {
    const env = labWithGateway();
    let branch: OpenvpnClient;
    let laptop: OpenvpnClient;

    before(async () => {
      // The premise: branch reaches the public address through gw's branch-side interface.
      const route = await env.lab.exec('branch', 'ip', ['-4', 'route', 'get', GATEWAY_PUBLIC_V4]);
      assert.match(
        route.stdout,
        new RegExp(`via ${GATEWAY_BRANCH_SIDE_V4.replaceAll('.', '\\.')}`),
      );

      const branchProfile = await env.gw.addUser('branch-office');
      keepRemotes(branchProfile, 'udp');
      assert.match(
        readFileSync(branchProfile, 'utf8'),
        new RegExp(`^remote ${GATEWAY_PUBLIC_V4.replaceAll('.', '\\.')} \\d+ udp$`, 'm'),
      );
      const laptopProfile = await env.gw.addUser('laptop-user');
      keepRemotes(laptopProfile, 'udp');
      branch = startOpenvpnClient(env.lab, 'branch', branchProfile);
      laptop = startOpenvpnClient(env.lab, 'laptop', laptopProfile);
      await Promise.all([
        branch.log.waitFor(/Initialization Sequence Completed/, CONNECT_TIMEOUT_MS),
        laptop.log.waitFor(/Initialization Sequence Completed/, CONNECT_TIMEOUT_MS),
      ]);
    });
    after(async () => {
      await branch?.stop();
      await laptop?.stop();
    });

    it('the branch client connects with no reply rejected, and reaches the office through the tunnel', async () => {
      const dev = await tunDevice(branch);
      const r = await env.lab.exec('branch', 'ping', [
        '-4',
        '-n',
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '2',
        '-I',
        dev,
        OFFICE_V4,
      ]);
      assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
      assert.equal(
        branch.log.lines.filter((l) => /Incoming packet rejected/.test(l)).length,
        0,
        'no reply came from an address the client did not send to',
      );
    });

    it('the UDP listener is the native fast path (where the multihome answer is made)', async () => {
      const status = JSON.parse((await env.gw.cli(['status', '--json'])).stdout) as {
        listeners: { kind: string; address: string }[];
      };
      assert.ok(
        status.listeners.some((l) => l.kind === 'openvpn-udp' && l.address.endsWith('(native)')),
        JSON.stringify(status.listeners),
      );
    });

    it('the laptop client works at the same time', async () => {
      const dev = await tunDevice(laptop);
      const r = await env.lab.exec('laptop', 'ping', [
        '-4',
        '-n',
        '-c',
        '3',
        '-i',
        '0.2',
        '-W',
        '2',
        '-I',
        dev,
        OFFICE_V4,
      ]);
      assert.match(r.stdout, /3 packets transmitted, 3 received/, r.stdout + r.stderr);
    });
  },
);
