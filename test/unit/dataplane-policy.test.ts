// Policy on both data paths, for packets from a client: the native fast path (its "TUN device"
// one end of a SOCK_SEQPACKET pair, the client the TypeScript reference over real UDP on
// 127.0.0.1) and the reference path (an in-memory TUN). Allowed packets reach the TUN byte for
// byte; the rest are dropped, counted per peer and kept as flows for audit sampling; a new
// policy applies to the live peer at once; the native decision equals the TypeScript one for
// random rules and packets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { configSchema } from '../../src/control/config/schema.js';
import {
  compilePolicy,
  decide,
  readFlow,
  type CompiledPolicy,
} from '../../src/control/policy/index.js';
import { UdpEndpoint, type UdpRemote } from '../../src/io/net/udp-endpoint.js';
import type { LinuxTun } from '../../src/io/tun/linux-tun.js';
import { MemoryTun } from '../../src/io/tun/memory-tun.js';
import { dataChannelKeys } from '../../src/dataplane/reference/openvpn-data.js';
import { ReferenceOpenvpnDataPlane } from '../../src/dataplane/reference/openvpn-peers.js';
import type { NativeOpenvpnDataPlane } from '../../src/dataplane/native/openvpn-native.js';
import { supportsNative } from '../../src/dataplane/native/openvpn-native.js';
import { nativeGatewayOnPair } from '../fixtures/pair-gateway.js';
import { parseIpAddress } from '../../src/wire/ip/address.js';

const support = supportsNative();
const skip = support.ok ? false : support.reason;
const PEER = 9;
const LOCALHOST = '127.0.0.1';
const WAIT_MS = 5000;
const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ME = '100.64.0.2';
const ME6 = 'fd00:64::2';

function packet(src: string, dst: string, proto: number, dport = 0, tag = 0): Uint8Array {
  const s = parseIpAddress(src)!;
  const d = parseIpAddress(dst)!;
  const v6 = s.length === 16;
  const header = v6 ? 40 : 20;
  const p = new Uint8Array(header + 24);
  const view = new DataView(p.buffer);
  if (v6) {
    p[0] = 0x60;
    view.setUint16(4, 24);
    p[6] = proto;
    p[7] = 64;
    p.set(s, 8);
    p.set(d, 24);
  } else {
    p[0] = 0x45;
    view.setUint16(2, p.length);
    p[8] = 64;
    p[9] = proto;
    p.set(s, 12);
    p.set(d, 16);
  }
  view.setUint16(header, 40000);
  view.setUint16(header + 2, dport);
  view.setUint32(header + 20, tag);
  return p;
}

const config = configSchema.parse({
  endpoint: 'vpn.example',
  groups: {
    contractors: { allow: ['192.0.2.10/32 tcp/80'] },
    wider: { allow: ['192.0.2.10/32 tcp/80-8080', '192.0.2.11/32'] },
    staff: { allow: ['192.0.2.0/24', '2001:db8:2::/64'] },
  },
});
const contractor = compilePolicy(config, ['contractors']);

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe(
  'policy on the native fast path (socket-pair TUN, reference client over UDP)',
  { skip },
  () => {
    let gw: NativeOpenvpnDataPlane;
    let kernel: LinuxTun;
    let endpoint: UdpEndpoint;
    const clientTun = new MemoryTun();
    const client = new ReferenceOpenvpnDataPlane(clientTun, () => Date.now());
    const fromTun: Uint8Array[] = [];
    /** Sends through the client; the last packet is always an allowed marker, so that once it is
     * on the TUN every packet before it was decided. */
    const marker = (n: number): Uint8Array => packet(ME, '192.0.2.10', TCP, 80, 0xfeed0000 + n);
    let markers = 0;
    async function send(packets: Uint8Array[]): Promise<Uint8Array[]> {
      const m = marker(markers++);
      clientTun.inject([...packets, m]);
      await waitFor('the marker', () => fromTun.some((p) => Buffer.from(p).equals(m)));
      return fromTun.splice(0).filter((p) => !Buffer.from(p).equals(m));
    }

    before(async () => {
      ({ gw, kernel } = nativeGatewayOnPair());
      kernel.onPackets((ps) => fromTun.push(...ps.map((p) => Uint8Array.from(p))));
      const gateway: UdpRemote = { address: LOCALHOST, port: gw.port };
      endpoint = await UdpEndpoint.bind(LOCALHOST, 0);
      endpoint.onDatagram((bytes) => client.fromNetwork(0, bytes));
      client.addPeer(0, {
        transport: { send: (b) => endpoint.send(b, gateway) },
        addresses: [],
        sendPeerId: PEER,
        upstream: true,
      });
      clientTun.onPackets((ps) => client.fromTun(ps));
      gw.addPeer(PEER, {
        remote: { address: LOCALHOST, port: endpoint.port },
        addresses: [ME, ME6],
        sendPeerId: PEER,
      });
      const block = randomBytes(256);
      assert.ok(gw.installKey(PEER, 0, dataChannelKeys(block, 'AES-256-GCM', 'server')));
      client.installKey(0, 0, dataChannelKeys(block, 'AES-256-GCM', 'client'));
    });

    after(async () => {
      await gw?.close();
      await kernel?.close();
      await endpoint?.close();
    });

    it('without a policy every packet from the peer passes', async () => {
      const p = packet(ME, '198.51.100.7', UDP, 9);
      assert.deepEqual(await send([p]), [p]);
      assert.equal(gw.policyDrops(PEER), 0);
    });

    it('a contractor: tcp/80 on 192.0.2.10 passes; other ports, hosts, ping, IPv6 are dropped and counted', async () => {
      assert.ok(gw.setPolicy(PEER, contractor));
      const ok = packet(ME, '192.0.2.10', TCP, 80, 1);
      const refused = [
        packet(ME, '192.0.2.10', TCP, 8080),
        packet(ME, '192.0.2.11', TCP, 80),
        packet(ME, '192.0.2.10', ICMP),
        packet(ME6, '2001:db8:2::10', TCP, 80),
        packet(ME, '100.64.0.3', TCP, 22),
      ];
      assert.deepEqual(await send([refused[0]!, ok, ...refused.slice(1)]), [ok]);
      assert.equal(gw.policyDrops(PEER), refused.length);
      const samples = gw.takePolicySamples(PEER);
      assert.deepEqual(samples[0], {
        proto: TCP,
        src: ME,
        dst: '192.0.2.10',
        srcPort: 40000,
        dstPort: 8080,
      });
      assert.deepEqual(
        samples.map((s) => s.dst),
        ['192.0.2.10', '192.0.2.11', '192.0.2.10', '2001:db8:2::10', '100.64.0.3'],
      );
      assert.deepEqual(gw.takePolicySamples(PEER), [], 'taking empties the list');
      assert.equal(
        gw.counters(PEER)?.packetsIn,
        1 + 1 + markers,
        'dropped packets are not counted as delivered',
      );
    });

    it('keeps at most 8 samples between drains, but counts every drop', async () => {
      const before = gw.policyDrops(PEER);
      const refused = Array.from({ length: 20 }, (_, i) => packet(ME, '192.0.2.10', TCP, 1000 + i));
      assert.deepEqual(await send(refused), []);
      assert.equal(gw.policyDrops(PEER) - before, 20);
      const samples = gw.takePolicySamples(PEER);
      assert.equal(samples.length, 8);
      assert.equal(samples[0]?.dstPort, 1000);
    });

    it('a new policy reaches the live peer at once (a reload)', async () => {
      const p8080 = packet(ME, '192.0.2.10', TCP, 8080);
      assert.deepEqual(await send([p8080]), []);
      gw.setPolicy(PEER, compilePolicy(config, ['wider']));
      assert.deepEqual(await send([p8080]), [p8080]);
      gw.setPolicy(PEER, contractor);
      assert.deepEqual(await send([p8080]), []);
    });

    it('decides like the TypeScript matcher for random rules and packets', async () => {
      const cases = fc.sample(
        fc.record({
          rules: fc.array(
            fc.record({
              last: fc.integer({ min: 0, max: 3 }),
              prefix: fc.integer({ min: 22, max: 32 }),
              proto: fc.constantFrom('', ' tcp', ' udp/50-60', ' tcp/53', ' icmp'),
            }),
            { minLength: 1, maxLength: 6 },
          ),
          packets: fc.array(
            fc.record({
              host: fc.integer({ min: 0, max: 3 }),
              proto: fc.constantFrom(TCP, UDP, ICMP),
              dport: fc.integer({ min: 45, max: 65 }),
            }),
            { minLength: 1, maxLength: 30 },
          ),
        }),
        20,
      );
      for (const c of cases) {
        const allow = c.rules.map((r) => `198.18.${r.last}.0/${r.prefix}${r.proto}`);
        const policy: CompiledPolicy = compilePolicy(
          configSchema.parse({ endpoint: 'x', groups: { g: { allow } } }),
          ['g'],
        );
        gw.setPolicy(PEER, { rules: [...policy.rules, ...contractor.rules] });
        const packets = c.packets.map((p, i) =>
          packet(ME, `198.18.${p.host}.${p.host * 7}`, p.proto, p.dport, i),
        );
        const expected = packets.filter((p) => decide(policy, readFlow(p)!) === 'allow');
        assert.deepEqual(await send(packets), expected, JSON.stringify(allow));
      }
      gw.setPolicy(PEER, undefined);
    });
  },
);

describe('policy on the reference path (in-memory TUN)', () => {
  it('delivers the allowed, filters and counts the rest, samples them, follows a new policy', () => {
    const tun = new MemoryTun();
    const dp = new ReferenceOpenvpnDataPlane(tun, () => 0);
    const clientTun = new MemoryTun();
    const cl = new ReferenceOpenvpnDataPlane(clientTun, () => 0);
    const wire: Uint8Array[] = [];
    dp.addPeer(PEER, {
      transport: { send: () => undefined },
      addresses: [ME, ME6],
      sendPeerId: PEER,
    });
    cl.addPeer(0, {
      transport: { send: (b) => wire.push(b) },
      addresses: [],
      sendPeerId: PEER,
      upstream: true,
    });
    const block = randomBytes(256);
    dp.installKey(PEER, 0, dataChannelKeys(block, 'CHACHA20-POLY1305', 'server'));
    cl.installKey(0, 0, dataChannelKeys(block, 'CHACHA20-POLY1305', 'client'));
    dp.setPolicy(PEER, contractor);
    const through = (p: Uint8Array): string => {
      cl.fromTun([p]);
      return dp.fromNetwork(PEER, wire.shift()!);
    };
    const ok = packet(ME, '192.0.2.10', TCP, 80);
    assert.equal(through(ok), 'delivered');
    assert.equal(through(packet(ME, '192.0.2.10', TCP, 8080)), 'filtered');
    assert.equal(through(packet(ME6, '2001:db8:2::1', UDP, 53)), 'filtered');
    assert.deepEqual(tun.written, [ok]);
    assert.equal(dp.policyDrops(PEER), 2);
    assert.equal(dp.drops.get('policy'), 2);
    assert.deepEqual(
      dp.takePolicySamples(PEER).map((s) => `${s.dst}:${s.dstPort}`),
      ['192.0.2.10:8080', '2001:db8:2::1:53'],
    );
    assert.deepEqual(dp.takePolicySamples(PEER), []);
    dp.setPolicy(PEER, compilePolicy(config, ['staff']));
    assert.equal(through(packet(ME6, '2001:db8:2::1', UDP, 53)), 'delivered');
    assert.equal(through(packet(ME, '192.0.2.77', ICMP)), 'delivered');
    assert.equal(through(packet(ME, '192.0.3.1', ICMP)), 'filtered');
    assert.equal(dp.policyDrops(PEER), 3);
  });
});
