// OpenVPN-over-TCP peers on the native data plane, in one process and without root. The "TUN
// device" is one end of a SOCK_SEQPACKET pair (the test plays the kernel on the other end); the
// client is the TypeScript reference data path behind the TypeScript TCP framing, over a real
// loopback TCP connection. Transcript: the gateway's JS reads the first bytes (control, half a
// frame), hands the stream over, and the native side finishes the frame; data crosses both ways
// byte for byte, and the native framing of sealed packets is the reference's, byte for byte;
// packets split at random places arrive whole; control packets reach JS tagged with the peer and
// go out in order with data; policy drops are counted; cleared keys stop traffic but not control;
// a stream cut mid-packet or with bad framing ends in an event (and no crash); removePeer sends
// what is queued, then FIN.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { LinuxTun } from '../../src/io/tun/linux-tun.js';
import { MemoryTun } from '../../src/io/tun/memory-tun.js';
import { TcpPacketStream } from '../../src/io/net/tcp-packets.js';
import { dataChannelKeys } from '../../src/dataplane/reference/openvpn-data.js';
import {
  ReferenceOpenvpnDataPlane,
  type NetworkVerdict,
} from '../../src/dataplane/reference/openvpn-peers.js';
import type { NativeOpenvpnDataPlane } from '../../src/dataplane/native/openvpn-native.js';
import { supportsNative } from '../../src/dataplane/native/openvpn-native.js';
import { nativeGatewayOnPair } from '../fixtures/pair-gateway.js';
import { frame, TcpDeframer } from '../../src/wire/openvpn/tcp-framing.js';
import type { CompiledPolicy } from '../../src/control/policy/matcher.js';
import {
  concat,
  readVnet,
  udp6Packet,
  udpPacket,
  vnetHeader,
  VNET_HDR_SIZE,
} from '../fixtures/dataplane-packets.js';

const support = supportsNative();
const skip = support.ok ? false : support.reason;
const LOCALHOST = '127.0.0.1';
const WAIT_MS = 5000;
const EPROTO = 71;
/** A control-channel packet: P_ACK_V1 (opcode 5, key id 0) and some body. */
const CONTROL_OPCODE_BYTE = 5 << 3;

function control(n: number, size = 40): Uint8Array {
  const p = new Uint8Array(size);
  p[0] = CONTROL_OPCODE_BYTE;
  p.fill(n & 0xff, 1);
  return p;
}

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `bytes` in pieces of random size, with a pause between some. */
async function writeSplit(socket: Socket, bytes: Uint8Array, maxPiece: number): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const n = 1 + Math.floor(Math.random() * maxPiece);
    socket.write(bytes.subarray(at, at + n));
    at += n;
    if (Math.random() < 0.2) await sleep(1);
  }
}

/** One TCP client: the reference data path and framing at the far end of a real connection. */
interface Client {
  socket: Socket;
  stream: TcpPacketStream;
  tun: MemoryTun;
  dp: ReferenceOpenvpnDataPlane;
  verdicts: NetworkVerdict[];
  control: Uint8Array[];
  /** Every byte the client received, raw. */
  raw: Uint8Array[];
  /** The client's sealed packets, unsent (for tests that write the stream themselves). */
  sealed: Uint8Array[];
  closed: boolean;
}

/** The gateway's end of one connection: its stream, and what reached JS through it. */
interface GatewaySide {
  stream: TcpPacketStream;
  packets: Uint8Array[];
  closedWhy: string | undefined;
}

for (const offload of [false, true]) {
  describe(`native data plane, OpenVPN over TCP${offload ? ' (offloads)' : ''}`, { skip }, () => {
    let gw: NativeOpenvpnDataPlane;
    let kernel: LinuxTun;
    let server: Server;
    const accepted: Socket[] = [];
    const fromTun: Uint8Array[] = [];
    const streams = new Map<number, GatewaySide>();
    const closedEvents: { peerId: number; errno: number }[] = [];
    let nextFuzzPeer = 100;
    const kernelWrite = (packets: Uint8Array[]): void =>
      kernel.write(offload ? packets.map((p) => concat([vnetHeader(), p])) : packets);

    before(async () => {
      ({ gw, kernel } = nativeGatewayOnPair({ offload }));
      gw.onTcpControl((peerId, packet) => streams.get(peerId)?.stream.inject(packet));
      gw.onTcpClosed((peerId, errno) => {
        closedEvents.push({ peerId, errno });
        streams.get(peerId)?.stream.ended(`errno ${errno}`);
      });
      kernel.onPackets((ps) => {
        for (const p of ps) {
          if (offload) assert.equal(readVnet(p).gsoType & 0x7f, 0);
          fromTun.push(Uint8Array.from(offload ? p.subarray(VNET_HDR_SIZE) : p));
        }
      });
      server = createServer((s) => accepted.push(s));
      await new Promise<void>((r) => server.listen(0, LOCALHOST, () => r()));
    });

    after(async () => {
      await gw?.close();
      await kernel?.close();
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    });

    /** Connects a client; the gateway's JS reads it until the test hands it over. */
    async function connectPeer(peerId: number, block: Uint8Array) {
      const before = accepted.length;
      const socket = connect((server.address() as { port: number }).port, LOCALHOST);
      await new Promise<void>((r) => socket.once('connect', () => r()));
      await waitFor('the accept', () => accepted.length > before);
      const gwSocket = accepted[accepted.length - 1]!;
      const side: GatewaySide = {
        stream: new TcpPacketStream(gwSocket),
        packets: [],
        closedWhy: undefined,
      };
      side.stream.onPacket((p) => side.packets.push(Uint8Array.from(p)));
      side.stream.onClose((why) => (side.closedWhy = why));
      streams.set(peerId, side);

      const tun = new MemoryTun();
      const client: Client = {
        socket,
        stream: new TcpPacketStream(socket),
        tun,
        dp: new ReferenceOpenvpnDataPlane(tun, () => Date.now()),
        verdicts: [],
        control: [],
        raw: [],
        sealed: [],
        closed: false,
      };
      socket.on('data', (chunk: Buffer) => client.raw.push(Uint8Array.from(chunk)));
      client.stream.onClose(() => (client.closed = true));
      client.stream.onPacket((p) => {
        const op = (p[0] ?? 0) >> 3;
        if (op === 9 || op === 6) client.verdicts.push(client.dp.fromNetwork(0, p));
        else client.control.push(Uint8Array.from(p));
      });
      client.dp.addPeer(0, {
        transport: { send: (b) => client.stream.send(b) },
        addresses: [],
        sendPeerId: peerId,
        upstream: true,
      });
      client.dp.installKey(0, 0, dataChannelKeys(block, 'AES-256-GCM', 'client'));
      tun.onPackets((ps) => client.dp.fromTun(ps));
      return { client, side };
    }

    /** Hands the gateway's stream to the native path, as GatewayDataPath does. */
    function handOver(peerId: number, side: GatewaySide, last: number, block: Uint8Array): void {
      const fd = side.stream.handoverFd();
      assert.ok(fd !== undefined, 'the stream can be handed over');
      gw.addTcpPeer(peerId, {
        fd,
        addresses: [`100.64.0.${last}`, `fd00:64::${last}`],
        sendPeerId: peerId,
      });
      assert.ok(gw.installKey(peerId, 0, dataChannelKeys(block, 'AES-256-GCM', 'server')));
      side.stream.handOver({
        send: (p) => assert.ok(gw.sendTcp(peerId, p)),
        start: (unread) => assert.ok(gw.startTcp(peerId, unread)),
      });
    }

    it('JS reads the first bytes, hands over mid-frame, and native finishes the frame', async () => {
      const block = randomBytes(256);
      const { client, side } = await connectPeer(11, block);
      const first = frame(control(1));
      const second = frame(control(2, 300));
      client.socket.write(concat([first, second.subarray(0, 100)]));
      await waitFor('JS got the first control packet', () => side.packets.length >= 1);
      handOver(11, side, 2, block);
      assert.ok(side.stream.handedOver);
      // A control packet from JS after the hand-over goes out through the native side.
      side.stream.send(control(3));
      await waitFor('the client got it', () => client.control.length >= 1);
      assert.deepEqual(client.control, [control(3)]);
      client.socket.write(second.subarray(100));
      await waitFor('the second packet, via native', () => side.packets.length >= 2);
      assert.deepEqual(side.packets, [control(1), control(2, 300)]);
      client.socket.destroy();
      await waitFor('the end reached JS', () => side.closedWhy !== undefined);
      gw.removePeer(11);
    });

    it('carries data both ways; native framing is the reference framing, byte for byte', async () => {
      const block = randomBytes(256);
      const { client, side } = await connectPeer(12, block);
      handOver(12, side, 3, block);
      const up4 = udpPacket([100, 64, 0, 3], [192, 0, 2, 10], 1000);
      const up6 = udp6Packet(3, 1, 300);
      client.tun.inject([up4, up6]);
      await waitFor('2 packets on the TUN', () => fromTun.length >= 2);
      assert.deepEqual(fromTun.splice(0), [up4, up6]);

      // Down: the reference gateway with the same key frames the same packets the same way.
      const shadow = new ReferenceOpenvpnDataPlane(new MemoryTun(), () => Date.now());
      const expected: Uint8Array[] = [];
      shadow.addPeer(12, {
        transport: { send: (b) => expected.push(frame(b)) },
        addresses: ['100.64.0.3', 'fd00:64::3'],
        sendPeerId: 12,
      });
      shadow.installKey(12, 0, dataChannelKeys(block, 'AES-256-GCM', 'server'));
      const down = [
        udpPacket([192, 0, 2, 10], [100, 64, 0, 3], 1200),
        udp6Packet(1, 3, 40),
        udpPacket([192, 0, 2, 10], [100, 64, 0, 3], 1),
      ];
      shadow.fromTun(down);
      client.raw.length = 0;
      kernelWrite(down);
      await waitFor('3 packets at the client', () => client.tun.written.length >= 3);
      assert.deepEqual(client.tun.written.splice(0), down);
      assert.deepEqual(client.verdicts.splice(0), ['delivered', 'delivered', 'delivered']);
      assert.deepEqual(Buffer.concat(client.raw), Buffer.concat(expected));

      const c = gw.counters(12)!;
      assert.equal(c.packetsIn, 2);
      assert.equal(c.bytesIn, up4.length + up6.length);
      assert.equal(c.packetsOut, 3);
      assert.equal(
        c.bytesOut,
        down.reduce((n, p) => n + p.length, 0),
      );
      // A ping goes down the stream too, and the client counts it as one.
      assert.ok(gw.sendPing(12));
      await waitFor('the ping', () => client.verdicts.includes('ping'));
      const stats = gw.stats();
      assert.ok(stats.tcpRxPackets >= 2 && stats.tcpTxPackets >= 4, JSON.stringify(stats));
      assert.equal(stats.rxDatagrams, 0, 'nothing came over UDP');
      client.socket.destroy();
      await waitFor('the end reached JS', () => side.closedWhy !== undefined);
      gw.removePeer(12);
    });

    it('500 packets split at random places arrive whole and in order, mixed with control', async () => {
      const block = randomBytes(256);
      const { client, side } = await connectPeer(13, block);
      handOver(13, side, 4, block);
      // Seal without sending: the test writes the stream itself, cut anywhere.
      client.dp.addPeer(0, {
        transport: { send: (b) => client.sealed.push(frame(b)) },
        addresses: [],
        sendPeerId: 13,
        upstream: true,
      });
      client.dp.installKey(0, 0, dataChannelKeys(block, 'AES-256-GCM', 'client'));
      const burst = Array.from({ length: 500 }, (_, i) =>
        udpPacket([100, 64, 0, 4], [192, 0, 2, 10], 40 + ((i * 37) % 1300), i),
      );
      client.dp.fromTun(burst);
      const frames = [...client.sealed];
      frames.splice(250, 0, frame(control(9)));
      await writeSplit(client.socket, Buffer.concat(frames), 3000);
      await waitFor('500 packets', () => fromTun.length >= 500);
      assert.deepEqual(fromTun.splice(0), burst);
      await waitFor('the control packet', () => side.packets.length >= 1);
      assert.deepEqual(side.packets, [control(9)]);
      assert.equal(gw.dropCounters()['tcp-framing'], 0);

      // Down: many packets and control from JS in between, all in order at the client.
      const down = Array.from({ length: 300 }, (_, i) =>
        udpPacket([192, 0, 2, 10], [100, 64, 0, 4], 1300, i),
      );
      kernelWrite(down.slice(0, 150));
      side.stream.send(control(10));
      kernelWrite(down.slice(150));
      await waitFor('300 packets at the client', () => client.tun.written.length >= 300);
      assert.deepEqual(client.tun.written.splice(0), down);
      assert.deepEqual(client.control, [control(10)]);
      client.socket.destroy();
      await waitFor('the end reached JS', () => side.closedWhy !== undefined);
      gw.removePeer(13);
    });

    it('policy drops are counted; cleared keys stop data, control still flows', async () => {
      const block = randomBytes(256);
      const { client, side } = await connectPeer(14, block);
      handOver(14, side, 5, block);
      const policy: CompiledPolicy = {
        rules: [
          {
            family: 4,
            network: Uint8Array.of(192, 0, 2, 0),
            prefixLength: 24,
            proto: 0,
            portLo: 0,
            portHi: 65535,
            verdict: 'allow',
          },
        ],
      };
      assert.ok(gw.setPolicy(14, policy));
      client.tun.inject([
        udpPacket([100, 64, 0, 5], [198, 51, 100, 7]),
        udpPacket([100, 64, 0, 5], [192, 0, 2, 10], 20, 1),
      ]);
      await waitFor('the allowed packet', () => fromTun.length >= 1);
      assert.deepEqual(fromTun.splice(0), [udpPacket([100, 64, 0, 5], [192, 0, 2, 10], 20, 1)]);
      assert.equal(gw.policyDrops(14), 1);
      assert.equal(gw.takePolicySamples(14)[0]?.dst, '198.51.100.7');

      assert.ok(gw.clearKeys(14));
      const before = gw.dropCounters()['no-key'];
      client.tun.inject([udpPacket([100, 64, 0, 5], [192, 0, 2, 10])]);
      kernelWrite([udpPacket([192, 0, 2, 10], [100, 64, 0, 5])]);
      await waitFor('both dropped', () => gw.dropCounters()['no-key'] >= before + 2);
      side.stream.send(control(20));
      client.socket.write(frame(control(21)));
      await waitFor(
        'control both ways',
        () => client.control.length >= 1 && side.packets.length >= 1,
      );
      assert.deepEqual(client.control, [control(20)]);
      assert.deepEqual(side.packets, [control(21)]);
      assert.equal(fromTun.length, 0);

      // removePeer: what is queued goes out, then the client sees the end.
      side.stream.send(control(22));
      gw.removePeer(14);
      side.stream.close('done');
      await waitFor('the client saw the end', () => client.closed);
      assert.deepEqual(client.control, [control(20), control(22)]);
    });

    it('a stream cut mid-packet, or badly framed, ends in an event, not a crash', async () => {
      const block = randomBytes(256);
      const cut = await connectPeer(15, block);
      handOver(15, cut.side, 6, block);
      await sleep(10);
      cut.client.socket.write(frame(control(30)).subarray(0, 10));
      await sleep(10);
      cut.client.socket.destroy();
      await waitFor('the end of stream', () => closedEvents.some((e) => e.peerId === 15));
      assert.equal(closedEvents.find((e) => e.peerId === 15)?.errno, 0);
      assert.equal(cut.side.packets.length, 0);
      gw.removePeer(15);

      const framingBefore = gw.dropCounters()['tcp-framing'];
      const bad = await connectPeer(16, block);
      handOver(16, bad.side, 7, block);
      bad.client.socket.write(concat([frame(control(31)), Uint8Array.of(0, 0, 1, 2, 3)]));
      await waitFor('the framing error', () => closedEvents.some((e) => e.peerId === 16));
      assert.equal(closedEvents.find((e) => e.peerId === 16)?.errno, EPROTO);
      assert.deepEqual(bad.side.packets, [control(31)]);
      assert.equal(gw.dropCounters()['tcp-framing'], framingBefore + 1);
      gw.removePeer(16);
      bad.side.stream.close('bad framing');
      await waitFor('the client saw the end', () => bad.client.closed);

      // Random bytes after a random handshake prefix, on a few streams: the data plane goes on.
      for (let round = 0; round < 5; round++) {
        const peerId = 20 + round;
        const r = await connectPeer(peerId, block);
        handOver(peerId, r.side, 10 + round, block);
        await writeSplit(r.client.socket, randomBytes(2000 + round * 1000), 700);
        r.client.socket.destroy();
        await waitFor('its end', () => closedEvents.some((e) => e.peerId === peerId));
        gw.removePeer(peerId);
      }
      // And the TCP thread still serves a fresh peer.
      const fresh = await connectPeer(30, block);
      handOver(30, fresh.side, 40, block);
      fresh.client.tun.inject([udpPacket([100, 64, 0, 40], [192, 0, 2, 10])]);
      await waitFor('a packet from the fresh peer', () => fromTun.length >= 1);
      fromTun.length = 0;
      fresh.client.socket.destroy();
      await waitFor('its end', () => closedEvents.some((e) => e.peerId === 30));
      gw.removePeer(30);
    });

    it('a peer that stops reading overflows its buffer (dropped, counted); others flow on', async () => {
      const block = randomBytes(256);
      const stuck = await connectPeer(40, block);
      handOver(40, stuck.side, 60, block);
      const live = await connectPeer(41, block);
      handOver(41, live.side, 61, block);
      stuck.client.socket.pause();
      const before = gw.dropCounters()['tcp-overflow'];
      const big = (last: number, i: number): Uint8Array =>
        udpPacket([192, 0, 2, 10], [100, 64, 0, last], 1400, i);
      // Far more than the kernel's socket buffers and the 1 MiB queue hold.
      for (let round = 0; round < 60 && gw.dropCounters()['tcp-overflow'] === before; round++) {
        kernelWrite(Array.from({ length: 100 }, (_, i) => big(60, round * 100 + i)));
        await sleep(2);
      }
      assert.ok(gw.dropCounters()['tcp-overflow'] > before, 'the stuck peer overflowed');
      const t0 = Date.now();
      kernelWrite([big(61, 1), big(61, 2)]);
      await waitFor('the live peer', () => live.client.tun.written.length >= 2);
      assert.ok(Date.now() - t0 < 1000, 'not held up by the stuck one');
      assert.deepEqual(live.client.tun.written.splice(0), [big(61, 1), big(61, 2)]);
      for (const r of [stuck, live]) r.client.socket.destroy();
      await waitFor('both ends', () =>
        [40, 41].every((id) => closedEvents.some((e) => e.peerId === id)),
      );
      gw.removePeer(40);
      gw.removePeer(41);
    });

    it('differential: random streams cut the same packets, and break at the same frame, as the TypeScript deframer', async () => {
      const block = randomBytes(256);
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              { weight: 20, arbitrary: fc.integer({ min: 1, max: 2048 }) },
              { weight: 1, arbitrary: fc.constantFrom(0, 2049, 65535) },
            ),
            { minLength: 1, maxLength: 12 },
          ),
          fc.integer({ min: 1, max: 4000 }),
          async (lengths, maxPiece) => {
            const peerId = nextFuzzPeer++;
            // Control opcodes only, so native hands every packet it cuts to JS.
            const stream = concat(
              lengths.map((n, i) => {
                const f = new Uint8Array(2 + n);
                new DataView(f.buffer).setUint16(0, n);
                if (n > 0) f[2] = CONTROL_OPCODE_BYTE;
                f.fill(i & 0xff, 3);
                return f;
              }),
            );
            const ts = new TcpDeframer();
            const expected = ts.push(stream);
            const broken = ts.state.kind === 'broken';
            const r = await connectPeer(peerId, block);
            handOver(peerId, r.side, 50, block);
            await writeSplit(r.client.socket, stream, maxPiece);
            if (broken) {
              await waitFor('the framing error', () =>
                closedEvents.some((e) => e.peerId === peerId),
              );
              assert.equal(closedEvents.find((e) => e.peerId === peerId)?.errno, EPROTO);
            }
            await waitFor('every packet', () => r.side.packets.length >= expected.length);
            await sleep(5);
            assert.deepEqual(r.side.packets, expected);
            r.client.socket.destroy();
            await waitFor('the end', () => closedEvents.some((e) => e.peerId === peerId));
            gw.removePeer(peerId);
          },
        ),
        { numRuns: 25 },
      );
    });
  });
}
