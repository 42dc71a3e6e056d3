// The gateway's OpenVPN data path: the native fast path for UDP peers (DATA_V2 on the native
// listener) and for TCP peers (their stream handed over once the session has keys), the
// TypeScript reference path for the rest (DATA_V1 clients, a stream that could not be handed
// over, or every peer when the native path is off). The service sees one object; each peer
// lives in exactly one.
import type {
  NativeOpenvpnDataPlane,
  NativeUdpRemote,
} from '../../dataplane/native/openvpn-native.js';
import type {
  NetworkVerdict,
  PeerCounters,
  PeerTransport,
  ReferenceOpenvpnDataPlane,
} from '../../dataplane/reference/openvpn-peers.js';
import type { DataChannelKeys } from '../../dataplane/reference/openvpn-data.js';
import type { CompiledPolicy } from '../../control/policy/matcher.js';
import type { DroppedFlow } from '../../control/policy/dropped-flow.js';
import type { TcpPacketStream } from '../../io/net/tcp-packets.js';

export interface DataPeer {
  transport: PeerTransport;
  /**
   * Set for a UDP peer on the native listener: the native path then carries its packets (from
   * `local`, the gateway address the client sent to, when known).
   */
  nativeRemote: NativeUdpRemote | undefined;
  addresses: string[];
  sendPeerId: number | undefined;
  /** A TCP peer's stream: handed to the native path when it can take TCP peers. */
  tcp?: TcpPacketStream;
}

export interface GatewayDataPathOptions {
  /** TCP peers on the native path too (default true when there is one). */
  nativeTcp?: boolean;
}

export class GatewayDataPath {
  readonly reference: ReferenceOpenvpnDataPlane;
  readonly native: NativeOpenvpnDataPlane | undefined;
  readonly nativeTcp: boolean;
  readonly #inNative = new Set<number>();
  /** TCP peers whose stream the native path reads and writes. */
  readonly #tcp = new Map<number, TcpPacketStream>();
  /** TCP control packets the native path could not queue (the peer's buffer was full). */
  tcpSendDrops = 0;

  constructor(
    reference: ReferenceOpenvpnDataPlane,
    native?: NativeOpenvpnDataPlane,
    options: GatewayDataPathOptions = {},
  ) {
    this.reference = reference;
    this.native = native;
    this.nativeTcp = native !== undefined && (options.nativeTcp ?? true);
    if (native && this.nativeTcp) {
      native.onTcpControl((peerId, packet) => this.#tcp.get(peerId)?.inject(packet));
      native.onTcpClosed((peerId, errno) =>
        this.#tcp.get(peerId)?.ended(errno === 0 ? 'closed by peer' : `stream error ${errno}`),
      );
    }
  }

  addPeer(peerId: number, p: DataPeer): void {
    this.removePeer(peerId);
    if (p.tcp && this.#addNativeTcp(peerId, p, p.tcp)) return;
    if (this.native && p.nativeRemote && p.sendPeerId !== undefined) {
      this.native.addPeer(peerId, {
        remote: p.nativeRemote,
        addresses: p.addresses,
        sendPeerId: p.sendPeerId,
      });
      this.#inNative.add(peerId);
    } else {
      this.reference.addPeer(peerId, {
        transport: p.transport,
        addresses: p.addresses,
        sendPeerId: p.sendPeerId,
      });
    }
  }

  /** Hands a TCP peer's stream to the native path; false if it stays on the reference path. */
  #addNativeTcp(peerId: number, p: DataPeer, stream: TcpPacketStream): boolean {
    const native = this.native;
    if (!native || !this.nativeTcp || p.sendPeerId === undefined) return false;
    const fd = stream.handoverFd();
    if (fd === undefined) return false;
    try {
      native.addTcpPeer(peerId, { fd, addresses: p.addresses, sendPeerId: p.sendPeerId });
    } catch {
      return false;
    }
    this.#inNative.add(peerId);
    this.#tcp.set(peerId, stream);
    stream.handOver({
      send: (packet) => {
        if (!native.sendTcp(peerId, packet)) this.tcpSendDrops += 1;
      },
      start: (unread) => {
        if (!native.startTcp(peerId, unread)) stream.ended('hand-over to the native path failed');
      },
    });
    return true;
  }

  /**
   * The gateway ended the session (a kick): no traffic from now on. A native TCP peer keeps its
   * stream, which still carries the goodbye; removePeer closes it when the session ends.
   */
  stopTraffic(peerId: number): void {
    if (this.#tcp.has(peerId)) this.native?.clearKeys(peerId);
    else this.removePeer(peerId);
  }

  /** A floated UDP peer. The native path has already moved its own peers; the reference learns here. */
  moved(peerId: number, transport: PeerTransport): void {
    if (!this.#inNative.has(peerId)) this.reference.setTransport(peerId, transport);
  }

  hasPeer(peerId: number): boolean {
    return this.#inNative.has(peerId) || this.reference.hasPeer(peerId);
  }

  installKey(peerId: number, keyId: number, keys: DataChannelKeys, sendNow = true): void {
    if (this.#inNative.has(peerId)) this.native?.installKey(peerId, keyId, keys, sendNow);
    else this.reference.installKey(peerId, keyId, keys, sendNow);
  }

  /** Sends with an installed key from now (see installKey's `sendNow`). */
  useKey(peerId: number, keyId: number): void {
    if (this.#inNative.has(peerId)) this.native?.useKey(peerId, keyId);
    else this.reference.useKey(peerId, keyId);
  }

  retireKey(peerId: number, keyId: number): void {
    if (this.#inNative.has(peerId)) this.native?.retireKey(peerId, keyId);
    else this.reference.retireKey(peerId, keyId);
  }

  removePeer(peerId: number): void {
    this.#tcp.delete(peerId);
    if (this.#inNative.delete(peerId)) this.native?.removePeer(peerId);
    else this.reference.removePeer(peerId);
  }

  counters(peerId: number): PeerCounters | undefined {
    return this.#inNative.has(peerId)
      ? this.native?.counters(peerId)
      : this.reference.counters(peerId);
  }

  /** The peer's counters into `out` (PeerCounterSlot order), allocating nothing; false: no peer. */
  countersInto(peerId: number, out: Float64Array): boolean {
    return this.#inNative.has(peerId)
      ? (this.native?.countersInto(peerId, out) ?? false)
      : this.reference.countersInto(peerId, out);
  }

  sendPing(peerId: number): void {
    if (this.#inNative.has(peerId)) this.native?.sendPing(peerId);
    else this.reference.sendPing(peerId);
  }

  /** DATA packets that reached JS: peers on the reference path. */
  fromNetwork(peerId: number, packet: Uint8Array): NetworkVerdict {
    return this.reference.fromNetwork(peerId, packet);
  }

  /** What the peer may send to, on whichever path carries it (after addPeer). */
  setPolicy(peerId: number, policy: CompiledPolicy | undefined): void {
    if (this.#inNative.has(peerId)) this.native?.setPolicy(peerId, policy);
    else this.reference.setPolicy(peerId, policy);
  }

  policyDrops(peerId: number): number {
    return this.#inNative.has(peerId)
      ? (this.native?.policyDrops(peerId) ?? 0)
      : this.reference.policyDrops(peerId);
  }

  takePolicySamples(peerId: number): DroppedFlow[] {
    return this.#inNative.has(peerId)
      ? (this.native?.takePolicySamples(peerId) ?? [])
      : this.reference.takePolicySamples(peerId);
  }

  isNative(peerId: number): boolean {
    return this.#inNative.has(peerId);
  }
}
