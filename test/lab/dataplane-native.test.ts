// The native OpenVPN data plane over real devices (needs root): two network namespaces joined by
// a veth, one tunnel end in each, each a child Node process with the same key block and peer id.
//   1. NATIVE gateway (with offloads) <-> REFERENCE client (ReferenceOpenvpnDataPlane,
//      node:dgram, Linux TUN): if pings and TCP cross both ways, the two implementations agree
//      on every byte of the data channel; then float, garbage, rekey and keepalive.
//   2. NATIVE <-> NATIVE, with offloads and without: pings and TCP transfers intact both ways;
//      with offloads, super-packets are cut on one side and segments coalesced on the other.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  DataplaneLab,
  LAB,
  tunnelEndArgs,
  type LabChild,
  type Message,
} from '../fixtures/dataplane-lab.js';
import { supportsNative } from '../../src/dataplane/native/openvpn-native.js';

const isRoot = process.getuid?.() === 0;
const support = supportsNative();
const skip = !isRoot
  ? 'needs root (network namespaces and TUN devices)'
  : support.ok
    ? false
    : support.reason;
const SUITE_TIMEOUT_MS = 120_000;
const TRANSFER_TIMEOUT_MS = 60_000;
const TRANSFER_BYTES = 4 << 20;
const BIG_TRANSFER_BYTES = 16 << 20;
const TCP_PORT = 5001;
const THREE_OF_THREE = /3 packets transmitted, 3 received/;

interface Stats extends Message {
  counters: { bytesIn: number; packetsIn: number; packetsOut: number; bytesOut: number };
  drops: Record<string, number>;
  native: Record<string, number>;
  remote: { address: string; port: number };
  controls: number;
}

async function stats(end: LabChild): Promise<Stats> {
  return (await end.command('stats', 'stats')) as Stats;
}

async function ping(lab: DataplaneLab, fromNs: string, target: string, count = 3): Promise<string> {
  const family = target.includes(':') ? '-6' : '-4';
  const args = [family, '-n', '-c', String(count), '-i', '0.2', '-W', '2', target];
  return (await lab.exec(fromNs, 'ping', ...args)).stdout;
}

/** A TCP transfer with a SHA-256 of what was sent and of what arrived. */
async function transfer(
  lab: DataplaneLab,
  serverNs: string,
  clientNs: string,
  address: string,
  bytes: number,
  extra: string[] = [],
): Promise<{ sent: Message; received: Message }> {
  const where = ['--address', address, '--port', String(TCP_PORT)];
  const sink = lab.node(serverNs, 'tcp-sink', 'dataplane-tcp.js', ['serve', ...where]);
  await sink.next('listening');
  const source = lab.node(clientNs, 'tcp-source', 'dataplane-tcp.js', [
    ...['send', ...where, '--bytes', String(bytes)],
    ...extra,
  ]);
  const [sent, received] = await Promise.all([
    source.next('sent', TRANSFER_TIMEOUT_MS),
    sink.next('received', TRANSFER_TIMEOUT_MS),
  ]);
  return { sent, received };
}

async function assertIntact(
  lab: DataplaneLab,
  serverNs: string,
  clientNs: string,
  address: string,
  bytes: number,
): Promise<void> {
  const { sent, received } = await transfer(lab, serverNs, clientNs, address, bytes);
  assert.equal(received.bytes, bytes, `${bytes} bytes to ${address}`);
  assert.equal(received.sha256, sent.sha256, `the bytes to ${address} are intact`);
}

/** Starts both ends and waits until they are ready. */
async function startEnds(
  lab: DataplaneLab,
  gatewayFixture: string,
  clientFixture: string,
  offload: boolean,
): Promise<{ gateway: LabChild; client: LabChild }> {
  const key = randomBytes(256).toString('hex');
  const client = lab.node(
    lab.cl,
    'client',
    clientFixture,
    tunnelEndArgs('client', { key, offload }),
  );
  const gateway = lab.node(
    lab.gw,
    'gateway',
    gatewayFixture,
    tunnelEndArgs('gateway', { key, offload }),
  );
  await client.next('ready');
  const ready = await gateway.next('ready');
  assert.equal(ready.port, LAB.port);
  return { gateway, client };
}

async function teardown(
  lab: DataplaneLab | undefined,
  ends: (LabChild | undefined)[],
): Promise<void> {
  if (!lab) return;
  await lab.destroy(ends.filter((e): e is LabChild => e !== undefined));
  const left = await lab.namespaces();
  assert.ok(!left.includes(lab.gw) && !left.includes(lab.cl), 'both namespaces are gone');
}

describe(
  'native gateway <-> reference client in namespaces',
  { skip, timeout: SUITE_TIMEOUT_MS },
  () => {
    let lab: DataplaneLab | undefined;
    let gateway: LabChild;
    let client: LabChild;

    before(async () => {
      lab = await DataplaneLab.create('pst-dpn');
      ({ gateway, client } = await startEnds(
        lab,
        'dataplane-native-node.js',
        'dataplane-reference-node.js',
        true,
      ));
    });

    after(() => teardown(lab, [gateway, client]));

    it('pings cross the tunnel both ways over inner IPv4 and IPv6', async () => {
      assert.match(await ping(lab!, lab!.cl, LAB.gwInner4), THREE_OF_THREE);
      assert.match(await ping(lab!, lab!.gw, LAB.clInner4), THREE_OF_THREE);
      assert.match(await ping(lab!, lab!.cl, LAB.gwInner6), THREE_OF_THREE);
      assert.match(await ping(lab!, lab!.gw, LAB.clInner6), THREE_OF_THREE);
      const s = await stats(gateway);
      assert.ok(
        s.counters.packetsIn >= 12 && s.counters.packetsOut >= 12,
        JSON.stringify(s.counters),
      );
      // Every packet the reference sealed opened natively. (Some spoofed-source drops are right:
      // the client's kernel sends link-local IPv6, router solicitations, into its TUN.)
      for (const reason of [
        'auth-failed',
        'replay-duplicate',
        'replay-too-old',
        'truncated',
        'no-key',
      ]) {
        assert.equal(s.drops[reason], 0, reason);
      }
    });

    it(`a ${TRANSFER_BYTES >> 20} MB TCP transfer arrives intact each way`, async () => {
      await assertIntact(lab!, lab!.gw, lab!.cl, LAB.gwInner4, TRANSFER_BYTES);
      await assertIntact(lab!, lab!.cl, lab!.gw, LAB.clInner6, TRANSFER_BYTES);
      const s = await stats(gateway);
      assert.ok(s.counters.bytesIn > TRANSFER_BYTES, 'inner bytes in counted');
      assert.ok(s.counters.bytesOut > TRANSFER_BYTES, 'inner bytes out counted');
      assert.ok(s.native.rxBatches! < s.native.rxDatagrams!, 'datagrams arrive in batches');
      assert.ok(s.native.txSuperPackets! > 0, 'the gateway cut TCP super-packets for the client');
    });

    it('the client moves to a new source port mid-transfer: the gateway floats, the data is intact', async () => {
      const before = await stats(gateway);
      // 8 MB in 64 KiB pieces every 20 ms: about 2.5 s, so the move lands in the middle.
      const moving = transfer(lab!, lab!.gw, lab!.cl, LAB.gwInner4, 8 << 20, ['--delay-ms', '20']);
      await new Promise((r) => setTimeout(r, 700));
      const rebound = await client.command('rebind 4', 'rebound');
      const float = await gateway.next('float');
      const { sent, received } = await moving;
      assert.equal(received.sha256, sent.sha256);
      assert.equal(received.bytes, 8 << 20);
      assert.deepEqual(
        { peerId: float.peerId, address: float.address, port: float.port },
        { peerId: LAB.peerId, address: LAB.clOuter4, port: rebound.port },
      );
      const s = await stats(gateway);
      assert.deepEqual(s.remote, { address: LAB.clOuter4, port: rebound.port });
      assert.equal(s.native.floats! - before.native.floats!, 1);
    });

    it('the client moves to IPv6 outer addressing: the dual-stack gateway floats to it', async () => {
      const rebound = await client.command('rebind 6', 'rebound');
      assert.match(await ping(lab!, lab!.cl, LAB.gwInner4), THREE_OF_THREE);
      const float = await gateway.next('float');
      assert.deepEqual(
        { address: float.address, port: float.port },
        { address: LAB.clOuter6, port: rebound.port },
      );
      assert.match(await ping(lab!, lab!.gw, LAB.clInner6), THREE_OF_THREE);
    });

    it('garbage to the UDP port is dropped and counted while traffic continues', async () => {
      const before = await stats(gateway);
      const pinging = ping(lab!, lab!.cl, LAB.gwInner4, 10);
      const sent = await client.command('garbage 0', 'garbage');
      assert.match(await pinging, /10 packets transmitted, 10 received/);
      const s = await stats(gateway);
      const delta = (k: string): number => (s.drops[k] ?? 0) - (before.drops[k] ?? 0);
      assert.equal(delta('bad-opcode'), sent.badOpcode);
      assert.equal(delta('auth-failed'), sent.forged);
      assert.equal(delta('truncated'), sent.truncated);
      assert.equal(delta('replay-duplicate'), sent.replays);
      assert.deepEqual(s.remote, before.remote, 'junk from another port floated nothing');
      assert.equal(gateway.take('float').length, 0);
    });

    it('rekey: key 1 takes over, key 0 packets in flight still count, then key 0 is retired', async () => {
      await client.command('probe 2', 'probed');
      const block = randomBytes(256).toString('hex');
      const installed = await gateway.command(`install 1 CHACHA20-POLY1305 ${block}`, 'installed');
      assert.equal(installed.ok, true);
      await client.command(`install 1 CHACHA20-POLY1305 ${block}`, 'installed');
      assert.match(await ping(lab!, lab!.cl, LAB.gwInner4), THREE_OF_THREE);
      assert.match(await ping(lab!, lab!.gw, LAB.clInner6), THREE_OF_THREE);
      const clientStats = await client.command('stats', 'stats');
      assert.equal(clientStats.lastKeyId, 1, 'the client sends under key 1');

      const before = await stats(gateway);
      await client.command('release 0', 'released');
      await new Promise((r) => setTimeout(r, 300));
      const afterInFlight = await stats(gateway);
      assert.equal(
        afterInFlight.counters.packetsIn - before.counters.packetsIn,
        1,
        'old-key packet taken',
      );
      assert.equal(afterInFlight.drops['no-key'], before.drops['no-key']);

      assert.equal((await gateway.command('retire 0', 'retired')).ok, true);
      await client.command('retire 0', 'retired');
      await client.command('release 1', 'released');
      await new Promise((r) => setTimeout(r, 300));
      const retired = await stats(gateway);
      assert.equal(retired.drops['no-key']! - before.drops['no-key']!, 1, 'retired key: dropped');
      assert.equal(retired.counters.packetsIn, afterInFlight.counters.packetsIn);
      assert.match(await ping(lab!, lab!.cl, LAB.gwInner6), THREE_OF_THREE);
    });

    it('keepalive pings from either side are taken and not delivered as traffic', async () => {
      const before = await stats(gateway);
      await client.command('ping', 'pinged');
      assert.equal((await gateway.command('ping', 'pinged')).ok, true);
      await new Promise((r) => setTimeout(r, 300));
      const s = await stats(gateway);
      assert.equal(s.native.rxPings! - before.native.rxPings!, 1);
      assert.equal(s.counters.packetsIn, before.counters.packetsIn);
      const c = await client.command('stats', 'stats');
      assert.ok(((c.verdicts as Record<string, number>).ping ?? 0) >= 1);
    });
  },
);

for (const offload of [true, false]) {
  describe(
    `native gateway <-> native client in namespaces, offloads ${offload ? 'on' : 'off'}`,
    { skip, timeout: SUITE_TIMEOUT_MS },
    () => {
      let lab: DataplaneLab | undefined;
      let gateway: LabChild;
      let client: LabChild;

      before(async () => {
        lab = await DataplaneLab.create('pst-dpn');
        ({ gateway, client } = await startEnds(
          lab,
          'dataplane-native-node.js',
          'dataplane-native-node.js',
          offload,
        ));
      });

      after(() => teardown(lab, [gateway, client]));

      it('pings cross both ways over inner IPv4 and IPv6', async () => {
        const before = await stats(gateway);
        assert.match(await ping(lab!, lab!.cl, LAB.gwInner4), THREE_OF_THREE);
        assert.match(await ping(lab!, lab!.gw, LAB.clInner4), THREE_OF_THREE);
        assert.match(await ping(lab!, lab!.cl, LAB.gwInner6), THREE_OF_THREE);
        assert.match(await ping(lab!, lab!.gw, LAB.clInner6), THREE_OF_THREE);
        // Light traffic: the gateway's RX thread owns the TUN device, so the echo replies its
        // kernel wrote there were sent by the thread that wrote the requests (no second wake-up).
        const after = await stats(gateway);
        assert.ok(
          after.native.txByRx! - before.native.txByRx! >= 6,
          'replies sent by the RX thread',
        );
      });

      it(`${BIG_TRANSFER_BYTES >> 20} MB TCP transfers arrive intact each way, IPv4 and IPv6`, async () => {
        await assertIntact(lab!, lab!.gw, lab!.cl, LAB.gwInner4, BIG_TRANSFER_BYTES);
        await assertIntact(lab!, lab!.cl, lab!.gw, LAB.clInner4, BIG_TRANSFER_BYTES);
        await assertIntact(lab!, lab!.gw, lab!.cl, LAB.gwInner6, BIG_TRANSFER_BYTES);
        const [g, c] = [await stats(gateway), await stats(client)];
        for (const s of [g, c]) {
          for (const reason of [
            'auth-failed',
            'replay-duplicate',
            'bad-offload',
            'tun-write',
            'udp-send',
          ]) {
            assert.equal(s.drops[reason], 0, reason);
          }
        }
        if (offload) {
          assert.ok(c.native.txSuperPackets! > 0, 'the client cut super-packets');
          assert.ok(c.native.txSegments! > c.native.txSuperPackets!, 'into several segments each');
          assert.ok(g.native.rxGroDatagrams! > 0, 'the gateway got UDP GRO trains');
          assert.ok(g.native.rxTunWrites! < g.native.rxDelivered!, 'and wrote coalesced segments');
        } else {
          assert.equal(c.native.txSuperPackets, 0);
          assert.equal(g.native.rxTunWrites, g.native.rxDelivered);
        }
      });
    },
  );
}
