// The TypeScript reference data path of the gateway (and of `postern connect`): OpenVPN DATA
// packets from the network <-> inner IP packets on the TUN device, per peer and key id. The native
// fast path does the same work for UDP peers; differential tests hold the two to the same bytes.
//
// Per packet it does only what it must: parse the header, pick the peer (by peer-id from the
// network, by inner destination address from the TUN), seal or open, count. Bad input is dropped
// and counted, never thrown.
import type { TunDevice } from '../../io/tun/tun-device.js';
import {
  KEY_ID_MASK,
  OCC_EXIT_MESSAGE,
  Opcode,
  OPCODE_SHIFT,
  PING_MAGIC,
} from '../../wire/openvpn/constants.js';
import { bytesEqual } from '../../wire/bytes-equal.js';
import { addressKey, packetAddressKey } from '../inner-address.js';
import { decide, type CompiledPolicy } from '../../control/policy/matcher.js';
import { readFlow } from '../../control/policy/flow.js';
import { droppedFlow, type DroppedFlow } from '../../control/policy/dropped-flow.js';
import {
  OpenvpnDataDecryptor,
  OpenvpnDataEncryptor,
  type DataChannelKeys,
} from './openvpn-data.js';

/** Where a peer's encrypted packets go: a UDP address, or a TCP connection's framing. */
export interface PeerTransport {
  send(packet: Uint8Array): void;
}

/**
 * Where each counter sits in the Float64Array of `countersInto` (the keepalive sweep reads every
 * peer every second; an object per peer per second was garbage enough to keep V8 from ever
 * seeing an idle gateway with 10,000 sessions as idle).
 */
export const PeerCounterSlot = {
  bytesIn: 0,
  bytesOut: 1,
  packetsIn: 2,
  packetsOut: 3,
  lastRxMs: 4,
  lastTxMs: 5,
  exitNotices: 6,
} as const;
export const PEER_COUNTER_SLOTS = Object.keys(PeerCounterSlot).length;

export interface PeerCounters {
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  /** Clock (ms) of the last authenticated packet from the peer, pings included. */
  lastRxMs: number;
  /** Clock (ms) of the last packet sent to the peer, pings included. */
  lastTxMs: number;
  /** OCC_EXIT messages received: explicit-exit-notify from a client without cc-exit. */
  exitNotices: number;
}

export interface PeerOptions {
  transport: PeerTransport;
  /** The peer's VPN addresses: packets to them go to this peer, and only they may be its sources. */
  addresses: string[];
  /** DATA_V2 peer-id this side sends with (the gateway echoes the client's; undefined = DATA_V1). */
  sendPeerId: number | undefined;
  /**
   * The client's view of its server: any inner source is accepted (hosts behind the gateway), and
   * every TUN packet without a more specific peer goes there. The gateway never sets this.
   */
  upstream?: boolean;
}

interface KeySlot {
  enc: OpenvpnDataEncryptor;
  dec: OpenvpnDataDecryptor;
}

interface Peer {
  id: number;
  transport: PeerTransport;
  addressKeys: string[];
  sendPeerId: number | undefined;
  upstream: boolean;
  keys: (KeySlot | undefined)[];
  primary: number;
  counters: PeerCounters;
  /** What the peer may send to; undefined: anything (the client side, tests). */
  policy: CompiledPolicy | undefined;
  policyDrops: number;
  /** The latest policy drops, for audit sampling; at most POLICY_SAMPLES_MAX, oldest first. */
  policySamples: DroppedFlow[];
}

/** Dropped flows a peer keeps between two drains (the native path keeps as many). */
export const POLICY_SAMPLES_MAX = 8;

/** 'filtered': authenticated, but the peer's policy does not let it through. */
/** 'exit': the peer said it is leaving (OCC_EXIT); counted in its `exitNotices`. */
export type NetworkVerdict =
  'delivered' | 'ping' | 'exit' | 'unknown-peer' | 'dropped' | 'filtered';

export type DropCounter =
  | 'not-data'
  | 'unknown-peer'
  | 'no-key'
  | 'decrypt'
  | 'spoofed-source'
  | 'not-ip'
  | 'no-route'
  | 'key-exhausted'
  | 'policy';

export class ReferenceOpenvpnDataPlane {
  readonly #tun: TunDevice;
  readonly #clock: () => number;
  readonly #peers = new Map<number, Peer>();
  readonly #byAddress = new Map<string, Peer>();
  #upstream: Peer | undefined;
  readonly drops = new Map<DropCounter, number>();

  constructor(tun: TunDevice, clock: () => number) {
    this.#tun = tun;
    this.#clock = clock;
  }

  addPeer(peerId: number, o: PeerOptions): void {
    this.removePeer(peerId);
    const now = this.#clock();
    const peer: Peer = {
      id: peerId,
      transport: o.transport,
      addressKeys: o.addresses
        .map((a) => addressKey(a))
        .filter((k): k is string => k !== undefined),
      sendPeerId: o.sendPeerId,
      upstream: o.upstream ?? false,
      keys: [],
      primary: -1,
      counters: {
        bytesIn: 0,
        bytesOut: 0,
        packetsIn: 0,
        packetsOut: 0,
        lastRxMs: now,
        lastTxMs: now,
        exitNotices: 0,
      },
      policy: undefined,
      policyDrops: 0,
      policySamples: [],
    };
    this.#peers.set(peerId, peer);
    for (const k of peer.addressKeys) this.#byAddress.set(k, peer);
    if (peer.upstream) this.#upstream = peer;
  }

  /** A floated UDP client: same session, new source address. */
  setTransport(peerId: number, transport: PeerTransport): void {
    const p = this.#peers.get(peerId);
    if (p) p.transport = transport;
  }

  /** Sets (or, with undefined, lifts) what the peer may send to; its drop count stays. */
  setPolicy(peerId: number, policy: CompiledPolicy | undefined): void {
    const p = this.#peers.get(peerId);
    if (p) p.policy = policy;
  }

  /** Packets of the peer its policy dropped. */
  policyDrops(peerId: number): number {
    return this.#peers.get(peerId)?.policyDrops ?? 0;
  }

  /** The dropped flows kept since the last call (empties the list). */
  takePolicySamples(peerId: number): DroppedFlow[] {
    const p = this.#peers.get(peerId);
    if (!p) return [];
    const out = p.policySamples;
    p.policySamples = [];
    return out;
  }

  /**
   * Installs a key id. With `sendNow` (the default) it becomes the one packets are sent with;
   * without, it only decrypts until `useKey` (a key the peer cannot open yet).
   */
  installKey(peerId: number, keyId: number, keys: DataChannelKeys, sendNow = true): void {
    const p = this.#peers.get(peerId);
    if (!p || keyId < 0 || keyId > KEY_ID_MASK) return;
    p.keys[keyId] = {
      enc: new OpenvpnDataEncryptor({ key: keys.send, keyId, peerId: p.sendPeerId }),
      dec: new OpenvpnDataDecryptor({ key: keys.receive, keyId }),
    };
    if (sendNow || p.primary < 0) p.primary = keyId;
  }

  /** Packets to the peer go out under this installed key from now. */
  useKey(peerId: number, keyId: number): void {
    const p = this.#peers.get(peerId);
    if (p?.keys[keyId]) p.primary = keyId;
  }

  /** The transition window of an old key ended: packets under it are no longer accepted. */
  retireKey(peerId: number, keyId: number): void {
    const p = this.#peers.get(peerId);
    if (!p || p.primary === keyId) return;
    p.keys[keyId] = undefined;
  }

  removePeer(peerId: number): void {
    const p = this.#peers.get(peerId);
    if (!p) return;
    this.#peers.delete(peerId);
    for (const k of p.addressKeys) if (this.#byAddress.get(k) === p) this.#byAddress.delete(k);
    if (this.#upstream === p) this.#upstream = undefined;
  }

  hasPeer(peerId: number): boolean {
    return this.#peers.has(peerId);
  }

  counters(peerId: number): PeerCounters | undefined {
    const c = this.#peers.get(peerId)?.counters;
    return c ? { ...c } : undefined;
  }

  /** The peer's counters into `out` (PeerCounterSlot order); false: no such peer. */
  countersInto(peerId: number, out: Float64Array): boolean {
    const c = this.#peers.get(peerId)?.counters;
    if (c === undefined) return false;
    out[PeerCounterSlot.bytesIn] = c.bytesIn;
    out[PeerCounterSlot.bytesOut] = c.bytesOut;
    out[PeerCounterSlot.packetsIn] = c.packetsIn;
    out[PeerCounterSlot.packetsOut] = c.packetsOut;
    out[PeerCounterSlot.lastRxMs] = c.lastRxMs;
    out[PeerCounterSlot.lastTxMs] = c.lastTxMs;
    out[PeerCounterSlot.exitNotices] = c.exitNotices;
    return true;
  }

  /**
   * One DATA packet from the network for `peerId` (the gateway resolves the peer from the DATA_V2
   * header or, for DATA_V1 on TCP, from the connection). Delivered packets go to the TUN device.
   */
  fromNetwork(peerId: number, packet: Uint8Array): NetworkVerdict {
    const p = this.#peers.get(peerId);
    if (!p) return this.#drop('unknown-peer', 'unknown-peer');
    const first = packet[0];
    if (first === undefined) return this.#drop('not-data');
    const op = first >> OPCODE_SHIFT;
    if (op !== Opcode.DATA_V2 && op !== Opcode.DATA_V1) return this.#drop('not-data');
    const slot = p.keys[first & KEY_ID_MASK];
    if (!slot) return this.#drop('no-key');
    const r = slot.dec.decrypt(packet);
    if (r.kind === 'drop') return this.#drop('decrypt');
    p.counters.lastRxMs = this.#clock();
    if (bytesEqual(r.data, PING_MAGIC)) return 'ping';
    if (bytesEqual(r.data, OCC_EXIT_MESSAGE)) {
      p.counters.exitNotices += 1;
      return 'exit';
    }
    const src = packetAddressKey(r.data, 'src');
    if (src === undefined) return this.#drop('not-ip');
    if (!p.upstream && !p.addressKeys.includes(src)) return this.#drop('spoofed-source');
    if (p.policy) {
      const flow = readFlow(r.data);
      if (!flow || decide(p.policy, flow) === 'deny') {
        p.policyDrops += 1;
        if (flow && p.policySamples.length < POLICY_SAMPLES_MAX) {
          p.policySamples.push(droppedFlow(flow));
        }
        return this.#drop('policy', 'filtered');
      }
    }
    p.counters.bytesIn += r.data.length;
    p.counters.packetsIn += 1;
    this.#tun.write([r.data]);
    return 'delivered';
  }

  /** Packets the kernel routed into the TUN device: each to the peer owning its destination. */
  fromTun(packets: readonly Uint8Array[]): void {
    for (const packet of packets) {
      const dst = packetAddressKey(packet, 'dst');
      if (dst === undefined) {
        this.#drop('not-ip');
        continue;
      }
      const p = this.#byAddress.get(dst) ?? this.#upstream;
      if (!p) {
        this.#drop('no-route');
        continue;
      }
      if (this.#seal(p, packet)) {
        p.counters.bytesOut += packet.length;
        p.counters.packetsOut += 1;
      }
    }
  }

  /** A keepalive ping to the peer (OpenVPN's 16-byte magic, encrypted like any data). */
  sendPing(peerId: number): void {
    const p = this.#peers.get(peerId);
    if (p) this.#seal(p, PING_MAGIC);
  }

  /** "We are leaving" as explicit-exit-notify says it to a peer without cc-exit (OCC_EXIT). */
  sendExitNotice(peerId: number): void {
    const p = this.#peers.get(peerId);
    if (p) this.#seal(p, OCC_EXIT_MESSAGE);
  }

  #seal(p: Peer, payload: Uint8Array): boolean {
    const slot = p.keys[p.primary];
    if (!slot) {
      this.#drop('no-key');
      return false;
    }
    const r = slot.enc.encrypt(payload);
    if (r.kind === 'exhausted') {
      this.#drop('key-exhausted');
      return false;
    }
    p.counters.lastTxMs = this.#clock();
    p.transport.send(r.packet);
    return true;
  }

  #drop<V extends NetworkVerdict>(what: DropCounter, verdict?: V): V {
    this.drops.set(what, (this.drops.get(what) ?? 0) + 1);
    return (verdict ?? 'dropped') as V;
  }
}
