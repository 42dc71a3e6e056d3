// The native OpenVPN-over-UDP data plane (native/ovpn_dp.c), Postern's equivalent of OpenVPN's
// DCO: the addon owns the UDP socket and the TUN fd and moves DATA_V2 packets between them on
// two threads of its own (recvmmsg -> open -> TUN, TUN -> seal -> sendmmsg); TypeScript only
// configures peers and keys and handles what the native path hands up: control packets,
// unknown peer ids, packets for peers it does not own, float events. OpenVPN-over-TCP clients
// are handed over once their session has keys: the addon then reads and writes their stream
// (native/ovpn_tcp.c) and gives JS their control packets, tagged with the peer id.
//
// Same method names and meanings as ReferenceOpenvpnDataPlane where they overlap, so the
// gateway can drive either; a peer here is reached over this data plane's own UDP socket, so
// addPeer takes a UDP remote instead of a transport, and setRemote replaces setTransport.
import { close as closeFd } from 'node:fs';
import { isIP } from 'node:net';
import { PosternError } from '../../errors.js';
import type { UdpRemote } from '../../io/net/udp-endpoint.js';
import { checkInterfaceName, checkLinkConfig, configureLink } from '../../io/tun/link-config.js';
import { DEFAULT_TUN_MTU, type OpenTunOptions } from '../../io/tun/linux-tun.js';
import { parseIpAddress } from '../../wire/ip/address.js';
import { KEY_ID_MASK, PEER_ID_UNDEFINED } from '../../wire/openvpn/constants.js';
import type { DataChannelKeys } from '../reference/openvpn-data.js';
import { encodePolicyTable } from '../../control/policy/table.js';
import type { CompiledPolicy } from '../../control/policy/matcher.js';
import type { DroppedFlow } from '../../control/policy/dropped-flow.js';
import { formatIpAddress } from '../../wire/ip/address.js';
import type { DropCounter, PeerCounters } from '../reference/openvpn-peers.js';
import {
  decodeRecords,
  loadOvpnNative,
  NativeEventKind,
  type NativeDataplaneStats,
  type NativeDropReason,
  type NativeOvpnDataplane,
} from './native-binding.js';
import type { ResetReplyLimitSettings } from '../../proto/openvpn/reset-reply-limit.js';

export { supportsNative, type NativeSupport } from './native-binding.js';
export type { NativeDataplaneStats, NativeDropReason } from './native-binding.js';

/** Most inner addresses one peer may own (native/ovpn_dp.c DP_PEER_ADDRESSES_MAX). */
export const NATIVE_PEER_ADDRESSES_MAX = 16;

/**
 * A UDP peer as the native socket sees it: its address and port, and the gateway address it
 * sends to (`local`). Replies leave from `local`, so a multi-homed gateway answers from the
 * address the client expects (OpenVPN's --multihome); absent or '': the kernel picks.
 */
export interface NativeUdpRemote extends UdpRemote {
  local?: string;
}

/** What the RX thread needs to answer client resets (native/ovpn_first_contact.c). */
export interface FirstContactKeys {
  /** tls-crypt-v2 (key: the 128-byte server key) or tls-crypt (key: the 256-byte static key). */
  v2: boolean;
  key: Uint8Array;
  cookieKey: Uint8Array;
  /** The cookie's time slot, as hmac-cookie.ts's cookieSlotMs. */
  slotMs: number;
}

export interface NativePeerOptions {
  /** Where the peer's packets go (and from); updated by the native path when the peer floats. */
  remote: NativeUdpRemote;
  /** The peer's VPN addresses: packets to them go to this peer, and only they may be its sources. */
  addresses: string[];
  /** DATA_V2 peer id this side sends with (the gateway echoes the client's). */
  sendPeerId: number;
  /** The client's view of its server: any inner source, and the default for every TUN packet. */
  upstream?: boolean;
}

/** A datagram the native path did not take: control channel, DATA_V1, or an unknown peer id. */
export interface ControlDatagram {
  packet: Uint8Array;
  address: string;
  port: number;
  /** The gateway address it was sent to ('' when unknown): answer from it. */
  local: string;
}

/** A TCP peer: its stream's socket and, as for a UDP peer, its addresses and send peer id. */
export interface NativeTcpPeerOptions {
  /** The connected socket's descriptor; the data plane takes a duplicate of it. */
  fd: number;
  addresses: string[];
  sendPeerId: number;
}

/** Why a TCP peer's stream ended: 0 end of stream, else an errno (EPROTO: bad framing). */
export type TcpClosedCallback = (peerId: number, errno: number) => void;

/** Where a TCP peer's placeholder UDP remote points: never used, the stream carries it all. */
const TCP_PLACEHOLDER_REMOTE = { address: '127.0.0.1', port: 9 };
const THREAD_NAMES = ['rx', 'tx', 'tcp'] as const;

export interface NativeOpenvpnOptions {
  /** UDP address to bind ('::' is dual-stack: IPv4 peers appear as IPv4) and port (0: any). */
  bind: { address: string; port: number };
  /** An open TUN fd (IFF_TUN|IFF_NO_PI), or any fd with one packet per read and write. */
  tunFd: number;
  /** Name of the device, for callers' information. */
  tunName?: string;
  /** close() also closes the TUN fd (a non-persistent device then disappears). */
  ownsTun?: boolean;
  /**
   * The TUN fd was opened with IFF_VNET_HDR and TCP segmentation offload (ovpnTunOpen with
   * offload): the data plane cuts TCP super-packets itself, coalesces segments on write, and
   * uses UDP GSO/GRO. Must match how the fd was opened.
   */
  offload?: boolean;
}

export interface OpenNativeOpenvpnOptions {
  bind: { address: string; port: number };
  /** The TUN device to create and configure, as for openTun(). */
  tun: OpenTunOptions;
  /** TUN TSO + coalescing and UDP GSO/GRO (default true; off if the kernel refuses them). */
  offload?: boolean;
}

/** The reference data path's drop counters that the native reasons roll up into. */
const REFERENCE_DROP: Readonly<Partial<Record<NativeDropReason, DropCounter>>> = {
  truncated: 'decrypt',
  'empty-payload': 'decrypt',
  'invalid-packet-id': 'decrypt',
  'replay-too-old': 'decrypt',
  'replay-duplicate': 'decrypt',
  'auth-failed': 'decrypt',
  'wrong-key-id': 'decrypt',
  'no-key': 'no-key',
  'spoofed-source': 'spoofed-source',
  'not-ip': 'not-ip',
  'key-exhausted': 'key-exhausted',
  'bad-opcode': 'not-data',
};

/** The policy methods of the addon (native/ovpn_dp.c, ovpn_policy.c). */
interface NativePolicyMethods {
  setPolicy(peerId: number, table: Uint8Array | null): boolean;
  policyDrops(peerId: number): number | undefined;
  takePolicySamples(peerId: number): Buffer | undefined;
}

/** One dropped flow record of takePolicySamples (native/ovpn_policy.c dp_flow_encode). */
const SAMPLE_SIZE = 40;
const SAMPLE_SRC_AT = 8;
const SAMPLE_DST_AT = 24;
const IPV4_LENGTH = 4;
const IPV6_LENGTH = 16;

function decodeSamples(bytes: Buffer): DroppedFlow[] {
  const out: DroppedFlow[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + SAMPLE_SIZE <= bytes.length; at += SAMPLE_SIZE) {
    const length = bytes[at] === 4 ? IPV4_LENGTH : IPV6_LENGTH;
    out.push({
      proto: bytes[at + 1] ?? 0,
      srcPort: view.getUint16(at + 2, true),
      dstPort: view.getUint16(at + 4, true),
      src: formatIpAddress(bytes.subarray(at + SAMPLE_SRC_AT, at + SAMPLE_SRC_AT + length)),
      dst: formatIpAddress(bytes.subarray(at + SAMPLE_DST_AT, at + SAMPLE_DST_AT + length)),
    });
  }
  return out;
}

function misuse(code: string, message: string): PosternError {
  return new PosternError(code, message);
}

function checkPeerId(peerId: number, what: string): void {
  if (!Number.isInteger(peerId) || peerId < 0 || peerId >= PEER_ID_UNDEFINED) {
    throw misuse('OPENVPN_BAD_PEER_ID', `${what} ${peerId} is not a 24-bit peer id below 0xffffff`);
  }
}

function innerAddresses(addresses: readonly string[]): Uint8Array[] {
  if (addresses.length > NATIVE_PEER_ADDRESSES_MAX) {
    throw misuse(
      'DATAPLANE_TOO_MANY_ADDRESSES',
      `a native peer owns at most ${NATIVE_PEER_ADDRESSES_MAX} addresses, got ${addresses.length}`,
    );
  }
  return addresses.map((text) => {
    const bytes = parseIpAddress(text);
    if (!bytes) throw misuse('DATAPLANE_BAD_ADDRESS', `not an IP address: ${JSON.stringify(text)}`);
    return bytes;
  });
}

const PORT_MAX = 65535;

/** Throws unless `r` is an IP address and port this socket can send to (from `r.local`). */
function checkRemote(r: NativeUdpRemote, family: 4 | 6): void {
  if (r.local !== undefined && r.local !== '') {
    const localVersion = isIP(r.local);
    if (localVersion === 0 || (localVersion === 6 && family === 4)) {
      throw misuse('DATAPLANE_BAD_ADDRESS', `not a local address: ${JSON.stringify(r.local)}`);
    }
  }
  const version = isIP(r.address);
  if (version === 0) {
    throw misuse('DATAPLANE_BAD_ADDRESS', `not an IP address: ${JSON.stringify(r.address)}`);
  }
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > PORT_MAX) {
    throw misuse('DATAPLANE_BAD_PORT', `UDP port ${r.port} is not in 1..${PORT_MAX}`);
  }
  if (version === 6 && family === 4) {
    throw misuse('DATAPLANE_BAD_REMOTE', `an IPv4 socket cannot reach ${r.address}`);
  }
}

export class NativeOpenvpnDataPlane {
  /** The bound UDP port. */
  readonly port: number;
  /** 6 for a dual-stack or IPv6 socket, 4 for an IPv4 one. */
  readonly family: 4 | 6;
  readonly tunName: string | undefined;
  /** Whether TUN and UDP offloads are in use. */
  readonly offload: boolean;
  readonly #native: NativeOvpnDataplane;
  readonly #tunFd: number;
  readonly #ownsTun: boolean;
  #closed = false;
  #onControl: (batch: ControlDatagram[]) => void = () => undefined;
  #onUnrouted: (packets: Uint8Array[]) => void = () => undefined;
  #onFloat: (peerId: number, remote: UdpRemote, local: string) => void = () => undefined;
  #onError: (thread: 'rx' | 'tx' | 'tcp', errno: number) => void = () => undefined;
  #onTcpControl: (peerId: number, packet: Uint8Array) => void = () => undefined;
  #onTcpClosed: TcpClosedCallback = () => undefined;

  /** Starts the data plane on an open TUN fd; throws errno-coded errors if binding fails. */
  constructor(options: NativeOpenvpnOptions) {
    const addon = loadOvpnNative();
    this.#native = new addon.OvpnDataplane(
      options.tunFd,
      options.bind.address,
      options.bind.port,
      (kind, count, records) => this.#onEvent(kind, count, records),
      options.offload ?? false,
    );
    this.offload = options.offload ?? false;
    this.port = this.#native.port;
    this.family = this.#native.family;
    this.tunName = options.tunName;
    this.#tunFd = options.tunFd;
    this.#ownsTun = options.ownsTun ?? false;
  }

  /**
   * Creates and configures a TUN device (as openTun does) and starts the data plane on it; the
   * device goes away with close(). Throws TUN_CONFIG_INVALID, TUN_OPEN_FAILED, TUN_CONFIG_FAILED,
   * NATIVE_DATAPLANE_UNSUPPORTED, or the bind error (code EADDRINUSE, ...).
   */
  static async open(options: OpenNativeOpenvpnOptions): Promise<NativeOpenvpnDataPlane> {
    const tun = options.tun;
    const config = {
      mtu: tun.mtu ?? DEFAULT_TUN_MTU,
      addresses: tun.addresses,
      routes: tun.routes ?? [],
      ...(tun.ipCommand ? { ipCommand: tun.ipCommand } : {}),
    };
    if (tun.name !== undefined) checkInterfaceName(tun.name);
    checkLinkConfig(config);
    const addon = loadOvpnNative();
    let opened: { fd: number; name: string; offload: boolean };
    try {
      opened = addon.ovpnTunOpen(tun.name ?? '', options.offload ?? true);
    } catch (e) {
      throw new PosternError('TUN_OPEN_FAILED', `cannot open a TUN device: ${(e as Error).message}`);
    }
    const closeTun = (): Promise<void> => new Promise((resolve) => closeFd(opened.fd, () => resolve()));
    try {
      await configureLink(opened.name, config);
      return new NativeOpenvpnDataPlane({
        bind: options.bind,
        tunFd: opened.fd,
        tunName: opened.name,
        ownsTun: true,
        offload: opened.offload,
      });
    } catch (e) {
      await closeTun();
      throw e;
    }
  }

  addPeer(peerId: number, o: NativePeerOptions): void {
    checkPeerId(peerId, 'peer id');
    checkPeerId(o.sendPeerId, 'send peer id');
    checkRemote(o.remote, this.family);
    this.#native.addPeer(
      peerId,
      o.remote.address,
      o.remote.port,
      innerAddresses(o.addresses),
      o.sendPeerId,
      o.upstream ?? false,
      o.remote.local ?? '',
    );
  }

  /**
   * Adds a TCP peer whose stream the data plane reads and writes from now on (the caller must
   * neither read nor write the socket any more, and must have nothing of its own left to write).
   * Reading starts with startTcp(), after the bytes the caller read but did not use.
   */
  addTcpPeer(peerId: number, o: NativeTcpPeerOptions): void {
    checkPeerId(peerId, 'peer id');
    checkPeerId(o.sendPeerId, 'send peer id');
    if (!Number.isInteger(o.fd) || o.fd < 0) {
      throw misuse('DATAPLANE_BAD_FD', `not a file descriptor: ${o.fd}`);
    }
    const inner = innerAddresses(o.addresses);
    this.#native.tcpAttach(peerId, o.fd);
    try {
      this.#native.addPeer(
        peerId,
        TCP_PLACEHOLDER_REMOTE.address,
        TCP_PLACEHOLDER_REMOTE.port,
        inner,
        o.sendPeerId,
        false,
        '',
      );
    } catch (e) {
      this.#native.removePeer(peerId);
      throw e;
    }
  }

  /** Starts reading a TCP peer's stream; `unread`: whole frames or a part of one, handled first. */
  startTcp(peerId: number, unread: Uint8Array): boolean {
    return this.#native.tcpStart(peerId, unread);
  }

  /** One packet (control channel) into a TCP peer's stream; false if its buffer is full. */
  sendTcp(peerId: number, packet: Uint8Array): boolean {
    return this.#native.tcpSend(peerId, packet);
  }

  /** Wipes the peer's keys: no traffic either way; a TCP peer's stream stays open. */
  clearKeys(peerId: number): boolean {
    return this.#native.clearKeys(peerId);
  }

  /** Control packets (everything but data) from TCP peers' streams, in stream order. */
  onTcpControl(cb: (peerId: number, packet: Uint8Array) => void): void {
    this.#onTcpControl = cb;
  }

  /** A TCP peer's stream ended (EOF, reset, or bad framing); the peer stays until removed. */
  onTcpClosed(cb: TcpClosedCallback): void {
    this.#onTcpClosed = cb;
  }

  /** A floated UDP client, moved by the control plane (the native path also floats by itself). */
  setRemote(peerId: number, remote: NativeUdpRemote): boolean {
    checkRemote(remote, this.family);
    return this.#native.setRemote(peerId, remote.address, remote.port, remote.local ?? '');
  }

  /** Where the peer's packets go now. */
  remote(peerId: number): UdpRemote | undefined {
    return this.#native.remote(peerId) ?? undefined;
  }

  /**
   * Installs a key id. With `sendNow` (the default) it becomes the one packets are sent with;
   * without, it only decrypts until `useKey` (a key the peer cannot open yet).
   */
  installKey(peerId: number, keyId: number, keys: DataChannelKeys, sendNow = true): boolean {
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > KEY_ID_MASK) {
      throw misuse('OPENVPN_BAD_KEY_ID', `key id ${keyId} is outside 0..${KEY_ID_MASK}`);
    }
    if (keys.send.cipher !== keys.receive.cipher) {
      throw misuse('DATAPLANE_MIXED_CIPHERS', 'both directions of a key use one cipher');
    }
    return this.#native.installKey(
      peerId,
      keyId,
      keys.send.cipher,
      keys.send.key,
      keys.send.implicitIv,
      keys.receive.key,
      keys.receive.implicitIv,
      sendNow,
    );
  }

  /** Packets to the peer go out under this installed key from now. */
  useKey(peerId: number, keyId: number): boolean {
    return this.#native.useKey(peerId, keyId);
  }

  /** The transition window of an old key ended: packets under it are no longer accepted. */
  retireKey(peerId: number, keyId: number): boolean {
    return this.#native.retireKey(peerId, keyId);
  }

  /** Removes the peer; its keys are wiped in native memory. */
  removePeer(peerId: number): boolean {
    return this.#native.removePeer(peerId);
  }

  hasPeer(peerId: number): boolean {
    return this.#native.hasPeer(peerId);
  }

  /** Inner bytes and packets each way (pings excluded) and the Date.now() of the last ones. */
  counters(peerId: number): PeerCounters | undefined {
    return this.#native.counters(peerId) ?? undefined;
  }

  /** The peer's counters into `out` (PeerCounterSlot order), allocating nothing; false: no peer. */
  countersInto(peerId: number, out: Float64Array): boolean {
    return this.#native.countersInto(peerId, out);
  }

  /**
   * What the peer may send to, checked on the RX thread after decryption and the source check;
   * undefined lifts it. Takes effect from the next received batch. False if no such peer.
   */
  setPolicy(peerId: number, policy: CompiledPolicy | undefined): boolean {
    const native = this.#native as unknown as NativePolicyMethods;
    return native.setPolicy(peerId, policy ? encodePolicyTable(policy) : null);
  }

  /** Packets of the peer its policy dropped. */
  policyDrops(peerId: number): number {
    return (this.#native as unknown as NativePolicyMethods).policyDrops(peerId) ?? 0;
  }

  /** The first dropped flows since the last call (at most 8; the count has them all). */
  takePolicySamples(peerId: number): DroppedFlow[] {
    const bytes = (this.#native as unknown as NativePolicyMethods).takePolicySamples(peerId);
    return bytes ? decodeSamples(bytes) : [];
  }

  /** A keepalive ping (OpenVPN's 16-byte magic, sealed like data) to the peer. */
  sendPing(peerId: number): boolean {
    return this.#native.sendPing(peerId);
  }

  /** "We are leaving" as explicit-exit-notify says it to a peer without cc-exit (OCC_EXIT). */
  sendExitNotice(peerId: number): boolean {
    return this.#native.sendPing(peerId, true);
  }

  /** Native drop counts by fine-grained reason. */
  dropCounters(): Record<NativeDropReason, number> {
    return this.#native.dropCounters();
  }

  /** The same drops under the reference data path's counter names (non-zero ones only). */
  get drops(): Map<DropCounter, number> {
    const out = new Map<DropCounter, number>();
    for (const [reason, count] of Object.entries(this.dropCounters())) {
      const name = REFERENCE_DROP[reason as NativeDropReason];
      if (name && count > 0) out.set(name, (out.get(name) ?? 0) + count);
    }
    return out;
  }

  stats(): NativeDataplaneStats {
    return this.#native.stats();
  }

  /**
   * From now on the RX thread answers a client's reset by itself (the stateless reply of
   * first-contact.ts, byte for byte) when it can; undefined: every one goes to JS again.
   */
  answerFirstContact(keys: FirstContactKeys | undefined): void {
    if (this.#closed) return;
    if (keys === undefined) return this.#native.setFirstContact(null);
    this.#native.setFirstContact(keys.v2, keys.key, keys.cookieKey, keys.slotMs);
  }

  /** The RX thread's reset replies, like ResetReplyLimit's (reset-reply-limit.ts) in JS. */
  limitResetReplies(limit: ResetReplyLimitSettings): void {
    if (this.#closed) return;
    this.#native.setResetReplyLimit(limit.max, limit.windowMs);
  }

  /** Datagrams the native path did not take, a batch per call. */
  onControl(cb: (batch: ControlDatagram[]) => void): void {
    this.#onControl = cb;
  }

  /** TUN packets for no native peer (the JS side may own a TCP peer for them). */
  onUnrouted(cb: (packets: Uint8Array[]) => void): void {
    this.#onUnrouted = cb;
  }

  /**
   * An authenticated packet came from a new address: the peer's remote is now that, and
   * `local` ('' when unknown) the gateway address it was sent to.
   */
  onFloat(cb: (peerId: number, remote: UdpRemote, local: string) => void): void {
    this.#onFloat = cb;
  }

  /** A worker thread stopped on an error (e.g. the TUN device was deleted). */
  onError(cb: (thread: 'rx' | 'tx' | 'tcp', errno: number) => void): void {
    this.#onError = cb;
  }

  /**
   * Sends a control-channel datagram from the data plane's socket, from `to.local` when given
   * (the address the peer sent to); false if refused now.
   */
  sendControl(bytes: Uint8Array, to: NativeUdpRemote): boolean {
    checkRemote(to, this.family);
    return this.#native.sendControl(bytes, to.address, to.port, to.local ?? '');
  }

  /** Writes packets JS decrypted itself (TCP peers) to the TUN device; returns how many went. */
  tunWrite(packets: readonly Uint8Array[]): number {
    return this.#native.tunWrite(packets);
  }

  /** Stops both threads, closes the socket, wipes the keys, and closes the TUN fd if owned. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
    if (this.#ownsTun) {
      // The kernel unregisters the device inside close(): off the JS thread.
      await new Promise<void>((resolve) => closeFd(this.#tunFd, () => resolve()));
    }
  }

  #onEvent(kind: number, count: number, records: Buffer | null): void {
    if (!records) return;
    const decoded = decodeRecords(records, count);
    switch (kind) {
      case NativeEventKind.CONTROL:
        this.#onControl(
          decoded.map((r) => ({
            packet: r.bytes,
            address: r.address,
            port: r.port,
            local: r.local,
          })),
        );
        break;
      case NativeEventKind.UNROUTED:
        this.#onUnrouted(decoded.map((r) => r.bytes));
        break;
      case NativeEventKind.FLOAT:
        for (const r of decoded) {
          this.#onFloat(r.value, { address: r.address, port: r.port }, r.local);
        }
        break;
      case NativeEventKind.ERROR:
        for (const r of decoded) this.#onError(THREAD_NAMES[r.port] ?? 'tx', r.value);
        break;
      case NativeEventKind.TCP_CONTROL:
        for (const r of decoded) this.#onTcpControl(r.value, r.bytes);
        break;
      case NativeEventKind.TCP_CLOSED:
        for (const r of decoded) this.#onTcpClosed(r.value, r.port);
        break;
      default:
        break;
    }
  }
}
