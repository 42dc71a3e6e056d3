// The gateway's OpenVPN data path: the native fast path for UDP peers (DATA_V2 on the native
// listener), the TypeScript reference path for the rest (TCP peers, DATA_V1 clients, or every
// peer when the native path is off). The service sees one object; each peer lives in exactly one.
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

export interface DataPeer {
  transport: PeerTransport;
  /**
   * Set for a UDP peer on the native listener: the native path then carries its packets (from
   * `local`, the gateway address the client sent to, when known).
   */
  nativeRemote: NativeUdpRemote | undefined;
  addresses: string[];
  sendPeerId: number | undefined;
}

export class GatewayDataPath {
  readonly reference: ReferenceOpenvpnDataPlane;
  readonly native: NativeOpenvpnDataPlane | undefined;
  readonly #inNative = new Set<number>();

  constructor(reference: ReferenceOpenvpnDataPlane, native?: NativeOpenvpnDataPlane) {
    this.reference = reference;
    this.native = native;
  }

  addPeer(peerId: number, p: DataPeer): void {
    this.removePeer(peerId);
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

  /** A floated UDP peer. The native path has already moved its own peers; the reference learns here. */
  moved(peerId: number, transport: PeerTransport): void {
    if (!this.#inNative.has(peerId)) this.reference.setTransport(peerId, transport);
  }

  hasPeer(peerId: number): boolean {
    return this.#inNative.has(peerId) || this.reference.hasPeer(peerId);
  }

  installKey(peerId: number, keyId: number, keys: DataChannelKeys): void {
    if (this.#inNative.has(peerId)) this.native?.installKey(peerId, keyId, keys);
    else this.reference.installKey(peerId, keyId, keys);
  }

  retireKey(peerId: number, keyId: number): void {
    if (this.#inNative.has(peerId)) this.native?.retireKey(peerId, keyId);
    else this.reference.retireKey(peerId, keyId);
  }

  removePeer(peerId: number): void {
    if (this.#inNative.delete(peerId)) this.native?.removePeer(peerId);
    else this.reference.removePeer(peerId);
  }

  counters(peerId: number): PeerCounters | undefined {
    return this.#inNative.has(peerId)
      ? this.native?.counters(peerId)
      : this.reference.counters(peerId);
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
