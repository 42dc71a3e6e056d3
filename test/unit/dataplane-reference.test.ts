// The reference data path between a gateway and a client, over memory: packets cross both
// ways, pings are not delivered, spoofed sources and replays are dropped and counted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryTun } from '../../src/io/tun/memory-tun.js';
import { dataChannelKeys } from '../../src/dataplane/reference/openvpn-data.js';
import { ReferenceOpenvpnDataPlane } from '../../src/dataplane/reference/openvpn-peers.js';

function ipv4(src: number[], dst: number[], payload = 20): Uint8Array {
  const p = new Uint8Array(20 + payload);
  p[0] = 0x45;
  new DataView(p.buffer).setUint16(2, p.length);
  p[8] = 64;
  p[9] = 17;
  p.set(src, 12);
  p.set(dst, 16);
  return p;
}

function setup() {
  let now = 1000;
  const clock = () => now;
  const gwTun = new MemoryTun();
  const clTun = new MemoryTun();
  const gw = new ReferenceOpenvpnDataPlane(gwTun, clock);
  const cl = new ReferenceOpenvpnDataPlane(clTun, clock);
  const wire: { toGw: Uint8Array[]; toClient: Uint8Array[] } = { toGw: [], toClient: [] };
  gw.addPeer(7, {
    transport: { send: (b) => wire.toClient.push(b) },
    addresses: ['100.64.0.2', 'fd00:64::2'],
    sendPeerId: 7,
  });
  cl.addPeer(0, {
    transport: { send: (b) => wire.toGw.push(b) },
    addresses: [],
    sendPeerId: 7,
    upstream: true,
  });
  const block = randomBytes(256);
  gw.installKey(7, 0, dataChannelKeys(block, 'AES-256-GCM', 'server'));
  cl.installKey(0, 0, dataChannelKeys(block, 'AES-256-GCM', 'client'));
  gwTun.onPackets((ps) => gw.fromTun(ps));
  clTun.onPackets((ps) => cl.fromTun(ps));
  return { gw, cl, gwTun, clTun, wire, tick: (ms: number) => (now += ms), block };
}

describe('reference OpenVPN data path', () => {
  it('carries inner packets both ways and counts them', () => {
    const s = setup();
    const up = ipv4([100, 64, 0, 2], [192, 0, 2, 10]);
    s.clTun.inject([up]);
    assert.equal(s.wire.toGw.length, 1);
    assert.equal(s.wire.toGw[0]?.[0], (9 << 3) | 0, 'DATA_V2, key id 0');
    assert.equal(s.gw.fromNetwork(7, s.wire.toGw[0]!), 'delivered');
    assert.deepEqual(s.gwTun.written, [up]);

    const down = ipv4([192, 0, 2, 10], [100, 64, 0, 2], 1000);
    s.gwTun.inject([down]);
    assert.equal(s.cl.fromNetwork(0, s.wire.toClient[0]!), 'delivered');
    assert.deepEqual(s.clTun.written, [down]);
    assert.deepEqual(
      { ...s.gw.counters(7), lastRxMs: 0, lastTxMs: 0 },
      {
        bytesIn: up.length,
        bytesOut: down.length,
        packetsIn: 1,
        packetsOut: 1,
        lastRxMs: 0,
        lastTxMs: 0,
        exitNotices: 0,
      },
    );
  });

  it('a replayed or flipped packet is dropped, and the session goes on', () => {
    const s = setup();
    s.clTun.inject([ipv4([100, 64, 0, 2], [192, 0, 2, 10])]);
    const pkt = s.wire.toGw[0]!;
    assert.equal(s.gw.fromNetwork(7, pkt), 'delivered');
    assert.equal(s.gw.fromNetwork(7, pkt), 'dropped');
    s.clTun.inject([ipv4([100, 64, 0, 2], [192, 0, 2, 10])]);
    const flipped = Uint8Array.from(s.wire.toGw[1]!);
    flipped[flipped.length - 1]! ^= 1;
    assert.equal(s.gw.fromNetwork(7, flipped), 'dropped');
    assert.equal(
      s.gw.fromNetwork(7, s.wire.toGw[1]!),
      'delivered',
      'the genuine packet still gets in',
    );
    assert.equal(s.gw.drops.get('decrypt'), 2);
  });

  it('a client cannot send with another source address than its own', () => {
    const s = setup();
    s.clTun.inject([ipv4([100, 64, 0, 3], [192, 0, 2, 10])]);
    assert.equal(s.gw.fromNetwork(7, s.wire.toGw[0]!), 'dropped');
    assert.equal(s.gw.drops.get('spoofed-source'), 1);
    assert.equal(s.gwTun.written.length, 0);
  });

  it('pings keep the peer alive but are not delivered', () => {
    const s = setup();
    s.tick(5000);
    s.cl.sendPing(0);
    assert.equal(s.gw.fromNetwork(7, s.wire.toGw[0]!), 'ping');
    assert.equal(s.gwTun.written.length, 0);
    assert.equal(s.gw.counters(7)?.lastRxMs, 6000);
    assert.equal(s.gw.counters(7)?.packetsIn, 0);
  });

  it('an OCC_EXIT (explicit-exit-notify without cc-exit) is counted, not delivered', () => {
    const s = setup();
    s.cl.sendExitNotice(0);
    assert.equal(s.gw.fromNetwork(7, s.wire.toGw[0]!), 'exit');
    assert.equal(s.gw.counters(7)?.exitNotices, 1);
    assert.equal(s.gw.counters(7)?.packetsIn, 0);
    assert.equal(s.gwTun.written.length, 0);
    assert.equal(
      [...s.gw.drops.values()].reduce((a, b) => a + b, 0),
      0,
      'not a drop',
    );
  });

  it('a key installed without sendNow decrypts at once and carries packets out after useKey', () => {
    const s = setup();
    const block = randomBytes(256);
    s.gw.installKey(7, 1, dataChannelKeys(block, 'AES-256-GCM', 'server'), false);
    s.gwTun.inject([ipv4([192, 0, 2, 10], [100, 64, 0, 2])]);
    assert.equal((s.wire.toClient.at(-1)?.[0] ?? 0) & 7, 0, 'still sent under key 0');
    s.cl.installKey(0, 1, dataChannelKeys(block, 'AES-256-GCM', 'client'));
    s.clTun.inject([ipv4([100, 64, 0, 2], [192, 0, 2, 10])]);
    assert.equal(s.gw.fromNetwork(7, s.wire.toGw.at(-1)!), 'delivered', 'key 1 opens at once');
    s.gw.useKey(7, 1);
    s.gwTun.inject([ipv4([192, 0, 2, 10], [100, 64, 0, 2])]);
    assert.equal((s.wire.toClient.at(-1)?.[0] ?? 0) & 7, 1, 'sent under key 1');
  });

  it('a new key takes over sending while the old one still decrypts; retired keys do not', () => {
    const s = setup();
    s.clTun.inject([ipv4([100, 64, 0, 2], [192, 0, 2, 10])]);
    const oldKeyPacket = s.wire.toGw[0]!;
    const block1 = randomBytes(256);
    s.gw.installKey(7, 1, dataChannelKeys(block1, 'AES-256-GCM', 'server'));
    s.cl.installKey(0, 1, dataChannelKeys(block1, 'AES-256-GCM', 'client'));
    s.clTun.inject([ipv4([100, 64, 0, 2], [192, 0, 2, 10])]);
    assert.equal(s.wire.toGw[1]![0]! & 7, 1, 'sent under key id 1');
    assert.equal(s.gw.fromNetwork(7, s.wire.toGw[1]!), 'delivered');
    assert.equal(
      s.gw.fromNetwork(7, oldKeyPacket),
      'delivered',
      'in flight under the old key: not lost',
    );
    s.gw.retireKey(7, 0);
    s.clTun.inject([ipv4([100, 64, 0, 2], [192, 0, 2, 10])]);
    assert.equal(s.gw.fromNetwork(7, s.wire.toGw[2]!), 'delivered');
  });

  it('garbage from the network never throws', () => {
    const s = setup();
    for (let i = 0; i < 2000; i++) {
      const junk = randomBytes(i % 80);
      const v = s.gw.fromNetwork(i % 2 ? 7 : 99, junk);
      assert.ok(v === 'dropped' || v === 'unknown-peer');
    }
    s.gwTun.inject([randomBytes(3), new Uint8Array(0)].filter((p) => p.length));
  });
});
