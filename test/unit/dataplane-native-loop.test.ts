// The whole native data plane loop, in one process and without root: its "TUN device" is one end
// of a SOCK_SEQPACKET socket pair (one packet per read and write, as /dev/net/tun), the test
// plays the kernel on the other end, and the peer is the TypeScript reference data path over a
// real UDP socket on 127.0.0.1. Transcript: packets cross both ways (IPv4 and IPv6), spoofed
// sources, replays and garbage are dropped and counted, control packets and unknown peer ids
// reach JS with their source, packets for no native peer reach JS, a new source port floats
// the peer, a rekey keeps old in-flight packets until the old key is retired.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { UdpEndpoint, type UdpRemote } from '../../src/io/net/udp-endpoint.js';
import type { LinuxTun } from '../../src/io/tun/linux-tun.js';
import { MemoryTun } from '../../src/io/tun/memory-tun.js';
import { dataChannelKeys } from '../../src/dataplane/reference/openvpn-data.js';
import {
  PEER_COUNTER_SLOTS,
  PeerCounterSlot,
  ReferenceOpenvpnDataPlane,
  type NetworkVerdict,
} from '../../src/dataplane/reference/openvpn-peers.js';
import type { NativeOpenvpnDataPlane } from '../../src/dataplane/native/openvpn-native.js';
import { supportsNative, type ControlDatagram } from '../../src/dataplane/native/openvpn-native.js';
import { nativeGatewayOnPair } from '../fixtures/pair-gateway.js';
import {
  concat,
  readVnet,
  superFrame,
  TCP_ACK,
  TCP_PSH,
  tcpFields,
  tcpPacket,
  vnetHeader,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_HDR_SIZE,
  type Vnet,
} from '../fixtures/dataplane-packets.js';
import { udp6Packet, udpPacket } from '../fixtures/dataplane-packets.js';

const support = supportsNative();
const skip = support.ok ? false : support.reason;
const PEER = 7;
const LOCALHOST = '127.0.0.1';
const WAIT_MS = 5000;

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The reference client: its own UDP socket, an in-memory TUN, the gateway as upstream. */
class ReferenceClient {
  readonly tun = new MemoryTun();
  readonly dp = new ReferenceOpenvpnDataPlane(this.tun, () => Date.now());
  readonly verdicts: NetworkVerdict[] = [];
  /** Every datagram the client received, in order. */
  readonly received: Uint8Array[] = [];
  /** Every datagram the client sent, in order (to replay them). */
  readonly sent: Uint8Array[] = [];
  endpoint!: UdpEndpoint;
  hold = false;
  readonly held: Uint8Array[] = [];

  constructor(readonly gateway: UdpRemote) {
    this.dp.addPeer(0, {
      transport: {
        send: (b) => {
          if (this.hold) {
            this.held.push(b);
            return;
          }
          this.sent.push(b);
          this.endpoint.send(b, this.gateway);
        },
      },
      addresses: [],
      sendPeerId: PEER,
      upstream: true,
    });
    this.tun.onPackets((ps) => this.dp.fromTun(ps));
  }

  async bind(): Promise<void> {
    const next = await UdpEndpoint.bind(LOCALHOST, 0);
    next.onDatagram((bytes) => {
      this.received.push(Uint8Array.from(bytes));
      this.verdicts.push(this.dp.fromNetwork(0, bytes));
    });
    const previous = this.endpoint as UdpEndpoint | undefined;
    this.endpoint = next;
    if (previous) await previous.close();
  }
}

for (const offload of [false, true]) {
  describe(
    `native OpenVPN data plane loop (socket-pair TUN${offload ? ' with offloads' : ''}, reference peer over UDP)`,
    { skip },
    () => {
      let gw: NativeOpenvpnDataPlane;
      let kernel: LinuxTun;
      let client: ReferenceClient;
      const fromTun: Uint8Array[] = [];
      const control: ControlDatagram[] = [];
      const unrouted: Uint8Array[] = [];
      const floats: { peerId: number; remote: UdpRemote }[] = [];
      const frames: Vnet[] = [];
      let block = randomBytes(256);
      /** The kernel routing packets into the device (plain packets: a zero virtio_net_hdr). */
      const kernelWrite = (packets: Uint8Array[]): void =>
        kernel.write(offload ? packets.map((p) => concat([vnetHeader(), p])) : packets);

      before(async () => {
        ({ gw, kernel } = nativeGatewayOnPair({ offload }));
        gw.onControl((batch) => control.push(...batch));
        gw.onUnrouted((packets) => unrouted.push(...packets.map((p) => Uint8Array.from(p))));
        gw.onFloat((peerId, remote) => floats.push({ peerId, remote }));
        // With offloads every frame on the device starts with a virtio_net_hdr.
        kernel.onPackets((ps) => {
          for (const p of ps) {
            if (offload) frames.push(readVnet(p));
            fromTun.push(Uint8Array.from(offload ? p.subarray(VNET_HDR_SIZE) : p));
          }
        });
        client = new ReferenceClient({ address: LOCALHOST, port: gw.port });
        await client.bind();
        gw.addPeer(PEER, {
          remote: { address: LOCALHOST, port: client.endpoint.port },
          addresses: ['100.64.0.2', 'fd00:64::2'],
          sendPeerId: PEER,
        });
        assert.ok(gw.installKey(PEER, 0, dataChannelKeys(block, 'AES-256-GCM', 'server')));
        client.dp.installKey(0, 0, dataChannelKeys(block, 'AES-256-GCM', 'client'));
      });

      after(async () => {
        await gw?.close();
        await kernel?.close();
        await client?.endpoint.close();
      });

      it('carries IPv4 and IPv6 packets both ways, byte for byte, and counts them', async () => {
        const up4 = udpPacket([100, 64, 0, 2], [192, 0, 2, 10], 1000);
        const up6 = udp6Packet(2, 1, 300);
        client.tun.inject([up4, up6]);
        await waitFor('2 packets on the TUN', () => fromTun.length >= 2);
        assert.deepEqual(fromTun.splice(0), [up4, up6]);

        const down4 = udpPacket([192, 0, 2, 10], [100, 64, 0, 2], 1200);
        const down6 = udp6Packet(1, 2, 40);
        kernelWrite([down4, down6]);
        await waitFor('2 packets at the client', () => client.tun.written.length >= 2);
        assert.deepEqual(client.tun.written.splice(0), [down4, down6]);
        assert.deepEqual(client.verdicts.splice(0), ['delivered', 'delivered']);

        const c = gw.counters(PEER)!;
        assert.equal(c.packetsIn, 2);
        assert.equal(c.bytesIn, up4.length + up6.length);
        assert.equal(c.packetsOut, 2);
        assert.equal(c.bytesOut, down4.length + down6.length);
        assert.ok(Math.abs(c.lastRxMs - Date.now()) < WAIT_MS);

        // The keepalive sweep's allocation-free read gives the same counters, slot by slot.
        const slots = new Float64Array(PEER_COUNTER_SLOTS);
        assert.equal(gw.countersInto(PEER, slots), true);
        for (const [name, slot] of Object.entries(PeerCounterSlot)) {
          assert.equal(slots[slot], c[name as keyof typeof c], name);
        }
        assert.equal(gw.countersInto(PEER + 1, slots), false);
        assert.throws(() => gw.countersInto(PEER, new Float64Array(3)), /Float64Array/);
      });

      it('a burst of 500 packets arrives complete and in order', async () => {
        const burst = Array.from({ length: 500 }, (_, i) => {
          const p = udpPacket([100, 64, 0, 2], [192, 0, 2, 10], 100);
          new DataView(p.buffer).setUint32(24, i);
          return p;
        });
        client.tun.inject(burst);
        await waitFor('500 packets', () => fromTun.length >= 500);
        // Complete and in order. Whether they came in batches depends on who was faster, the
        // sender or the RX thread (on a busy machine each recvmmsg may find one): the lab's
        // 8 MB transfer (test/lab/dataplane-native.test.ts) asserts batching where it is sure.
        assert.deepEqual(fromTun.splice(0), burst);
      });

      it('drops a spoofed inner source, a replay, a forgery and garbage, and goes on', async () => {
        const before = gw.dropCounters();
        client.tun.inject([udpPacket([100, 64, 0, 3], [192, 0, 2, 10])]);
        client.tun.inject([udpPacket([100, 64, 0, 2], [192, 0, 2, 11])]);
        await waitFor('the genuine packet', () => fromTun.length >= 1);
        const genuine = client.sent.at(-1)!;
        // A fresh packet id (so the replay window lets it through) on a body it does not match.
        const forged = Uint8Array.from(genuine);
        new DataView(forged.buffer).setUint32(4, 1_000_000);
        client.endpoint.send(genuine, client.gateway);
        client.endpoint.send(forged, client.gateway);
        client.endpoint.send(Uint8Array.of(0xff, 1, 2, 3), client.gateway);
        client.endpoint.send(genuine.subarray(0, 20), client.gateway);
        client.tun.inject([udpPacket([100, 64, 0, 2], [192, 0, 2, 12])]);
        await waitFor('the packet after the garbage', () => fromTun.length >= 2);
        await waitFor('drops counted', () => gw.dropCounters().truncated > before.truncated);
        const now = gw.dropCounters();
        const delta = (k: keyof typeof now) => now[k] - before[k];
        assert.equal(delta('spoofed-source'), 1);
        assert.equal(delta('replay-duplicate'), 1);
        assert.equal(delta('auth-failed'), 1);
        assert.equal(delta('bad-opcode'), 1);
        assert.equal(delta('truncated'), 1);
        assert.deepEqual(
          fromTun.splice(0).map((p) => p[19]),
          [11, 12],
          'only the genuine packets reached the TUN',
        );
        assert.equal(gw.drops.get('spoofed-source'), 1, 'reference counter names too');
      });

      it('survives 3000 random datagrams, many with a valid peer id and key id, then carries traffic', async () => {
        const before = gw.stats().rxDatagrams;
        const junk = await UdpEndpoint.bind(LOCALHOST, 0);
        const JUNK = 3000;
        for (let i = 0; i < JUNK; i++) {
          const body = randomBytes(i % 97 === 0 ? 1400 : i % 60);
          if (i % 2 === 0 && body.length >= 4) {
            body[0] = (9 << 3) | (i % 3);
            body[1] = 0;
            body[2] = 0;
            body[3] = PEER;
          }
          junk.send(body, client.gateway);
          if (i % 200 === 0) await new Promise((r) => setImmediate(r));
        }
        // Control batches reach JS in the order the datagrams came: once the marker is in, all is.
        const marker = Uint8Array.of(4 << 3, ...randomBytes(32));
        junk.send(marker, client.gateway);
        const markerSeen = () => control.some((c) => Buffer.compare(c.packet, marker) === 0);
        await waitFor('the junk to be processed', markerSeen);
        await junk.close();
        assert.ok(gw.stats().rxDatagrams - before > JUNK / 2, 'the junk reached the data plane');
        control.splice(0);
        assert.equal(floats.length, 0, 'junk never floats the peer');
        const p = udpPacket([100, 64, 0, 2], [192, 0, 2, 33]);
        client.tun.inject([p]);
        await waitFor('traffic after the junk', () => fromTun.length >= 1);
        assert.deepEqual(fromTun.splice(0), [p]);
      });

      it('hands control packets and unknown peer ids to JS, with their source', async () => {
        const controlPacket = Uint8Array.of(4 << 3, ...randomBytes(40));
        const strangerData = Uint8Array.of(9 << 3, 0, 0, 99, ...randomBytes(40));
        const v1Data = Uint8Array.of(6 << 3, ...randomBytes(40));
        for (const p of [controlPacket, strangerData, v1Data])
          client.endpoint.send(p, client.gateway);
        await waitFor('3 control datagrams', () => control.length >= 3);
        const got = control.splice(0);
        assert.deepEqual(
          got.map((c) => c.packet),
          [controlPacket, strangerData, v1Data].map((p) => Buffer.from(p)),
        );
        for (const c of got)
          assert.deepEqual(
            { address: c.address, port: c.port },
            {
              address: LOCALHOST,
              port: client.endpoint.port,
            },
          );
        assert.ok(
          gw.sendControl(
            Uint8Array.of(5 << 3, 1, 2, 3),
            client.endpoint.port
              ? {
                  address: LOCALHOST,
                  port: client.endpoint.port,
                }
              : client.gateway,
          ),
        );
        await waitFor('the client to see it', () => client.verdicts.length >= 1);
        assert.deepEqual(
          client.verdicts.splice(0),
          ['dropped'],
          'an ACK is not data for the client',
        );
      });

      it('hands TUN packets for no native peer to JS', async () => {
        const elsewhere = udpPacket([192, 0, 2, 10], [100, 64, 0, 99]);
        const notIp = Uint8Array.of(0x10, 1, 2, 3);
        kernelWrite([elsewhere, notIp]);
        await waitFor('the unrouted packet', () => unrouted.length >= 1);
        assert.deepEqual(unrouted.splice(0), [elsewhere]);
        await waitFor('not-ip counted', () => gw.dropCounters()['not-ip'] >= 1);
      });

      it('pings keep the peer alive and are not counted as traffic', async () => {
        const before = gw.counters(PEER)!;
        assert.ok(gw.sendPing(PEER));
        await waitFor('the client to take the ping', () => client.verdicts.length >= 1);
        assert.deepEqual(client.verdicts.splice(0), ['ping']);
        client.dp.sendPing(0);
        await waitFor('the gateway to count it', () => gw.stats().rxPings >= 1);
        const now = gw.counters(PEER)!;
        assert.equal(now.packetsOut, before.packetsOut);
        assert.equal(now.packetsIn, before.packetsIn);
        assert.ok(now.lastRxMs >= before.lastRxMs);
        assert.equal(fromTun.length, 0);
      });

      it('counts an OCC_EXIT from the peer (explicit-exit-notify) and delivers nothing', async () => {
        const before = gw.counters(PEER)!;
        assert.equal(before.exitNotices, 0);
        client.dp.sendExitNotice(0);
        await waitFor('the gateway to count it', () => gw.counters(PEER)!.exitNotices === 1);
        assert.equal(gw.counters(PEER)!.packetsIn, before.packetsIn);
        assert.equal(fromTun.length, 0);
      });

      it('says OCC_EXIT itself (postern connect leaving a server without cc-exit)', async () => {
        const before = gw.counters(PEER)!;
        assert.ok(gw.sendExitNotice(PEER));
        await waitFor('the client to take it', () => client.verdicts.length >= 1);
        assert.deepEqual(client.verdicts.splice(0), ['exit']);
        assert.equal(gw.counters(PEER)!.packetsOut, before.packetsOut, 'not counted as traffic');
      });

      it('floats a peer to its new source port once a packet from there authenticates', async () => {
        const oldPort = client.endpoint.port;
        // A replay from a new port must not move the peer.
        const stranger = await UdpEndpoint.bind(LOCALHOST, 0);
        stranger.send(client.sent.at(-1)!, client.gateway);
        await waitFor('the replay to be dropped', () => gw.dropCounters()['replay-duplicate'] >= 2);
        await stranger.close();
        assert.equal(floats.length, 0);
        assert.equal(gw.remote(PEER)?.port, oldPort);

        await client.bind();
        client.tun.inject([udpPacket([100, 64, 0, 2], [192, 0, 2, 10])]);
        await waitFor('the float event', () => floats.length >= 1);
        assert.deepEqual(floats.splice(0), [
          { peerId: PEER, remote: { address: LOCALHOST, port: client.endpoint.port } },
        ]);
        assert.deepEqual(gw.remote(PEER), { address: LOCALHOST, port: client.endpoint.port });
        kernelWrite([udpPacket([192, 0, 2, 10], [100, 64, 0, 2])]);
        await waitFor('a reply at the new port', () => client.tun.written.length >= 1);
        client.tun.written.splice(0);
        client.verdicts.splice(0);
        fromTun.splice(0);
      });

      it('rekeys: key 1 takes over, key 0 packets in flight still count, retired key 0 does not', async () => {
        client.hold = true;
        client.tun.inject([
          udpPacket([100, 64, 0, 2], [192, 0, 2, 20]),
          udpPacket([100, 64, 0, 2], [192, 0, 2, 21]),
        ]);
        client.hold = false;
        const [inFlight, late] = client.held.splice(0);
        assert.equal(inFlight![0]! & 7, 0);

        block = randomBytes(256);
        assert.ok(gw.installKey(PEER, 1, dataChannelKeys(block, 'CHACHA20-POLY1305', 'server')));
        client.dp.installKey(0, 1, dataChannelKeys(block, 'CHACHA20-POLY1305', 'client'));
        kernelWrite([udpPacket([192, 0, 2, 10], [100, 64, 0, 2])]);
        await waitFor('a packet under key 1', () => client.tun.written.length >= 1);
        client.tun.written.splice(0);

        client.endpoint.send(inFlight!, client.gateway);
        await waitFor('the in-flight packet', () => fromTun.length >= 1);
        assert.equal(fromTun.splice(0)[0]![19], 20);

        assert.equal(gw.retireKey(PEER, 1), false, 'the primary key is never retired');
        assert.ok(gw.retireKey(PEER, 0));
        client.dp.retireKey(0, 0);
        const noKey = gw.dropCounters()['no-key'];
        client.endpoint.send(late!, client.gateway);
        await waitFor('the late packet dropped', () => gw.dropCounters()['no-key'] === noKey + 1);
        client.tun.inject([udpPacket([100, 64, 0, 2], [192, 0, 2, 22])]);
        await waitFor('key 1 traffic', () => fromTun.length >= 1);
        assert.equal(fromTun.splice(0)[0]![19], 22);
        assert.equal(client.sent.at(-1)![0]! & 7, 1, 'the client sends under key 1');
      });

      it('a key installed without sendNow decrypts at once and carries packets out after useKey', async () => {
        block = randomBytes(256);
        await new Promise((r) => setTimeout(r, 50));
        client.received.splice(0);
        assert.ok(gw.installKey(PEER, 2, dataChannelKeys(block, 'AES-256-GCM', 'server'), false));
        // Out: still under key 1, which the client may not have replaced yet.
        kernelWrite([udpPacket([192, 0, 2, 10], [100, 64, 0, 2])]);
        await waitFor('a packet to the client', () => client.received.length >= 1);
        const oldKey = client.received.splice(0).at(-1)![0]! & 7;
        assert.notEqual(oldKey, 2, 'sent under the old key');
        client.tun.written.splice(0);
        // In: the client already sends under key 2, and the gateway opens it.
        client.dp.installKey(0, 2, dataChannelKeys(block, 'AES-256-GCM', 'client'));
        client.tun.inject([udpPacket([100, 64, 0, 2], [192, 0, 2, 23])]);
        await waitFor('key 2 traffic in', () => fromTun.length >= 1);
        assert.equal(fromTun.splice(0)[0]![19], 23);
        assert.equal(gw.useKey(PEER, 2), true);
        assert.equal(gw.useKey(PEER, 5), false, 'no such key');
        client.received.splice(0);
        kernelWrite([udpPacket([192, 0, 2, 10], [100, 64, 0, 2])]);
        await waitFor('a packet under key 2', () => client.received.length >= 1);
        assert.equal(client.received.splice(0).at(-1)![0]! & 7, 2, 'sent under the new key');
        client.tun.written.splice(0);
        client.verdicts.splice(0);
      });

      it('writes packets JS decrypted itself to the TUN device', async () => {
        const p = udpPacket([100, 64, 0, 50], [192, 0, 2, 10]);
        assert.equal(gw.tunWrite([p, new Uint8Array(0)]), 1);
        await waitFor('the packet', () => fromTun.length >= 1);
        assert.deepEqual(fromTun.splice(0), [p]);
      });

      it(
        'cuts a TCP super-packet from the device into segments, for a peer and for JS',
        { skip: !offload },
        async () => {
          const payload = randomBytes(20_000);
          const toPeer = tcpPacket({
            src: [192, 0, 2, 10],
            dst: [100, 64, 0, 2],
            payload,
            flags: TCP_ACK | TCP_PSH,
          });
          kernel.write([superFrame(toPeer, 1200)]);
          await waitFor('17 segments at the client', () => client.tun.written.length >= 17);
          const segments = client.tun.written.splice(0);
          client.verdicts.splice(0);
          assert.equal(segments.length, 17);
          for (const s of segments)
            assert.ok(tcpFields(s).tcpChecksumOk && tcpFields(s).ipChecksumOk);
          assert.deepEqual(
            concat(segments.map((s) => tcpFields(s).payload)),
            new Uint8Array(payload),
          );
          assert.equal(gw.stats().txSuperPackets, 1);

          const toNobody = tcpPacket({ dst: [100, 64, 0, 99], payload: payload.subarray(0, 5000) });
          kernel.write([superFrame(toNobody, 1000)]);
          await waitFor('5 unrouted segments in JS', () => unrouted.length >= 5);
          const forJs = unrouted.splice(0);
          assert.equal(forJs.length, 5);
          assert.deepEqual(
            concat(forJs.map((s) => tcpFields(s).payload)),
            new Uint8Array(payload.subarray(0, 5000)),
          );
        },
      );

      it(
        'writes consecutive TCP segments from the peer to the device coalesced',
        { skip: !offload },
        async () => {
          const mss = 1000;
          const payload = randomBytes(30 * mss);
          const segments = Array.from({ length: 30 }, (_, i) =>
            tcpPacket({ seq: 77 + i * mss, payload: payload.subarray(i * mss, (i + 1) * mss) }),
          );
          frames.splice(0);
          const before = gw.stats();
          client.tun.inject(segments);
          await waitFor(
            'all the bytes',
            () => concat(fromTun.map((p) => tcpFields(p).payload)).length >= payload.length,
          );
          const packets = fromTun.splice(0);
          assert.deepEqual(
            concat(packets.map((p) => tcpFields(p).payload)),
            new Uint8Array(payload),
          );
          const now = gw.stats();
          assert.equal(now.rxDelivered - before.rxDelivered, 30);
          assert.equal(now.rxTunWrites - before.rxTunWrites, packets.length);
          frames.forEach((h, i) => {
            if (h.gsoType === VNET_GSO_NONE) return;
            assert.equal(h.gsoType, VNET_GSO_TCPV4);
            assert.equal(h.gsoSize, mss);
            assert.equal(
              tcpFields(packets[i]!).tcpChecksumField,
              tcpFields(packets[i]!).pseudoPartial,
            );
          });
        },
      );

      it('a removed peer is unknown: its packets go to JS, its inner address is unrouted', async () => {
        assert.ok(gw.removePeer(PEER));
        assert.equal(gw.hasPeer(PEER), false);
        assert.equal(gw.counters(PEER), undefined);
        client.tun.inject([udpPacket([100, 64, 0, 2], [192, 0, 2, 10])]);
        await waitFor('the datagram in JS', () => control.length >= 1);
        assert.equal(control.splice(0)[0]!.packet[3], PEER);
        kernelWrite([udpPacket([192, 0, 2, 10], [100, 64, 0, 2])]);
        await waitFor('the unrouted packet', () => unrouted.length >= 1);
        unrouted.splice(0);
      });

      it('refuses bad configuration with stable codes, and is closed for good after close()', async () => {
        assert.throws(
          () =>
            gw.addPeer(1, {
              remote: { address: LOCALHOST, port: 1 },
              addresses: ['nope'],
              sendPeerId: 1,
            }),
          { code: 'DATAPLANE_BAD_ADDRESS' },
        );
        assert.throws(
          () =>
            gw.addPeer(0xffffff, {
              remote: { address: LOCALHOST, port: 1 },
              addresses: [],
              sendPeerId: 1,
            }),
          { code: 'OPENVPN_BAD_PEER_ID' },
        );
        assert.throws(
          () =>
            gw.addPeer(1, { remote: { address: '::1', port: 1 }, addresses: [], sendPeerId: 1 }),
          { code: 'DATAPLANE_BAD_REMOTE' },
          'IPv6 remote on an IPv4 socket',
        );
        await gw.close();
        await gw.close();
        assert.throws(() => gw.stats(), { code: 'ERR_POSTERN_DATAPLANE_CLOSED' });
      });
    },
  );
}
