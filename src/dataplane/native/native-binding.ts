// The OpenVPN data plane half of the native addon (native/ovpn_*.c): its exported shapes, the
// check that the loaded build has it, and the decoder of the event records it hands to JS.
//
// Events arrive as one Buffer per batch of records, little-endian:
//
//   0      4       8      10       12              28             30    32                48
//   +------+-------+------+--------+---------------+--------------+-----+-----------------+-------------+
//   | len  | value | port | family | address (16)  | local family | 0   | local addr (16) | bytes (len) |
//   +------+-------+------+--------+---------------+--------------+-----+-----------------+-------------+
//   value: the peer id of a float or a TCP peer's event, the errno of an error; port: the thread
//   of an error (0 rx, 1 tx, 2 tcp), the errno of a TCP stream's end (0: end of stream).
//   local: the gateway address a datagram was sent to (multihome), family 0 when unknown.
import { PosternError } from '../../errors.js';
import type { PeerCounters } from '../reference/openvpn-peers.js';
import { loadNative, type NativeAddon } from '../../io/tun/native.js';
import { formatIpAddress } from '../../wire/ip/address.js';

/** Why the native path dropped a packet (native/ovpn_dp.h `ovpn_drop`). */
export type NativeDropReason =
  | 'truncated'
  | 'empty-payload'
  | 'wrong-key-id'
  | 'invalid-packet-id'
  | 'replay-too-old'
  | 'replay-duplicate'
  | 'auth-failed'
  | 'no-key'
  | 'spoofed-source'
  | 'not-ip'
  | 'key-exhausted'
  | 'bad-opcode'
  | 'udp-truncated'
  | 'tun-write'
  | 'udp-send'
  | 'js-queue-full'
  | 'bad-offload'
  | 'tcp-overflow'
  | 'tcp-framing'
  | 'tcp-send';

export interface NativeDataplaneStats {
  rxDatagrams: number;
  rxBatches: number;
  rxDelivered: number;
  rxPings: number;
  txPackets: number;
  txBatches: number;
  txSent: number;
  txSendmmsgCalls: number;
  toJsControl: number;
  toJsUnrouted: number;
  floats: number;
  /** Datagrams that arrived in UDP GRO trains. */
  rxGroDatagrams: number;
  /** TUN write system calls (fewer than rxDelivered when segments were coalesced). */
  rxTunWrites: number;
  /** TCP super-packets read from the TUN device (offload), and the segments cut from them. */
  txSuperPackets: number;
  txSegments: number;
  /** TCP peers (native/ovpn_tcp.c): packets cut from streams, reads, packets framed, writes. */
  tcpRxPackets: number;
  tcpReads: number;
  tcpTxPackets: number;
  tcpWrites: number;
  /** Packets from the TUN device the RX thread sealed and sent itself: light traffic, while it
   * owned the device (native/ovpn_tx.c dp_rx_serve_tun). */
  txByRx: number;
  /** Client resets the RX thread answered itself (native/ovpn_first_contact.c)... */
  firstContactReplies: number;
  /** ...and forged ones it dropped: a WKc that did not open, a body that did not authenticate. */
  firstContactBadWkc: number;
  firstContactAuthFailed: number;
  /** ...and valid ones it did not answer: over the reset reply limit (setResetReplyLimit). */
  firstContactRateLimited: number;
  peers: number;
}

/** The same counters the reference data path keeps, read from the native peer. */
export type NativePeerCounters = PeerCounters;

/** The native object (native/ovpn_dp.c); NativeOpenvpnDataPlane is its typed front. */
export interface NativeOvpnDataplane {
  readonly port: number;
  readonly family: 4 | 6;
  addPeer(
    peerId: number,
    address: string,
    port: number,
    inner: readonly Uint8Array[],
    sendPeerId: number,
    upstream: boolean,
    localAddress?: string,
  ): void;
  removePeer(peerId: number): boolean;
  hasPeer(peerId: number): boolean;
  installKey(
    peerId: number,
    keyId: number,
    cipher: string,
    sendKey: Uint8Array,
    sendImplicitIv: Uint8Array,
    recvKey: Uint8Array,
    recvImplicitIv: Uint8Array,
    sendNow?: boolean,
  ): boolean;
  useKey(peerId: number, keyId: number): boolean;
  retireKey(peerId: number, keyId: number): boolean;
  setRemote(peerId: number, address: string, port: number, localAddress?: string): boolean;
  remote(peerId: number): { address: string; port: number } | undefined;
  /** OpenVPN's ping; with exit true, OCC_EXIT instead (explicit-exit-notify without cc-exit). */
  sendPing(peerId: number, exit?: boolean): boolean;
  counters(peerId: number): NativePeerCounters | undefined;
  /** The same counters into `out` (PeerCounterSlot order), allocating nothing; false: no peer. */
  countersInto(peerId: number, out: Float64Array): boolean;
  dropCounters(): Record<NativeDropReason, number>;
  stats(): NativeDataplaneStats;
  sendControl(bytes: Uint8Array, address: string, port: number, localAddress?: string): boolean;
  tunWrite(packets: readonly Uint8Array[]): number;
  /** A duplicate of the connected socket `fd` becomes the stream of the next addPeer(peerId). */
  tcpAttach(peerId: number, fd: number): void;
  /** Starts reading the peer's stream, after `bytes` JS read and did not use. */
  tcpStart(peerId: number, bytes: Uint8Array): boolean;
  /** One packet framed into the TCP peer's stream. */
  tcpSend(peerId: number, packet: Uint8Array): boolean;
  /** Wipes every key of the peer (its stream, if any, stays open). */
  clearKeys(peerId: number): boolean;
  /** The RX thread answers client resets itself (null: all go to JS); see FirstContactKeys. */
  setFirstContact(
    ...args: [v2: boolean, key: Uint8Array, cookieKey: Uint8Array, slotMs: number] | [null]
  ): void;
  /** At most `max` of the RX thread's reset replies per window (0: no limit). */
  setResetReplyLimit(max: number, windowMs: number): void;
  close(): void;
}

/** Kinds of event batches (native/ovpn_dp.c EVENT_*). */
export const NativeEventKind = {
  CONTROL: 0,
  UNROUTED: 1,
  FLOAT: 2,
  ERROR: 3,
  /** A non-data packet from a TCP peer's stream; value: the peer id. */
  TCP_CONTROL: 4,
  /** A TCP peer's stream ended; value: the peer id, port: errno (0: end of stream). */
  TCP_CLOSED: 5,
} as const;

export type NativeEventCallback = (kind: number, count: number, records: Buffer | null) => void;

export interface OvpnNativeExports {
  OvpnDataplane: new (
    tunFd: number,
    bindAddress: string,
    bindPort: number,
    onEvent: NativeEventCallback,
    offload: boolean,
  ) => NativeOvpnDataplane;
  /** Opens a TUN device; with offload, IFF_VNET_HDR + TSO (`offload` false if refused). */
  ovpnTunOpen(name: string, offload: boolean): { fd: number; name: string; offload: boolean };
  readonly OVPN_DROP_REASONS: readonly NativeDropReason[];
  readonly OVPN_BATCH_MAX: number;
  /** Test hooks: the data path's own seal/open/replay code, one packet at a time. */
  ovpnSealForTest(
    cipher: string,
    key: Uint8Array,
    implicitIv: Uint8Array,
    keyId: number,
    peerId: number,
    packetId: number,
    payload: Uint8Array,
  ): Buffer;
  ovpnOpenForTest(
    cipher: string,
    key: Uint8Array,
    implicitIv: Uint8Array,
    keyId: number,
    packet: Uint8Array,
  ): Buffer | NativeDropReason;
  ovpnReplayForTest(
    ids: readonly number[],
    authentic: readonly boolean[],
  ): ('ok' | 'too-old' | 'duplicate' | 'invalid')[];
  /** A non-blocking SOCK_SEQPACKET pair: one packet per read/write, a TUN stand-in. */
  ovpnPacketPairForTest(): [number, number];
  /** A TUN read with offloads (virtio_net_hdr + packet) as the TX thread cuts it. */
  ovpnTsoForTest(frame: Uint8Array, headroom: number): Buffer[] | 'bad-offload';
  /** One RX batch through the segment coalescer: the TUN writes it makes (header + packet). */
  ovpnGroForTest(packets: readonly Uint8Array[]): Buffer[];
  /** The RX thread's answer to a client's first packet, computed here: its reply, the reason it
   * drops it (the reference's), or null: left to JS. */
  ovpnFirstContactForTest(
    v2: boolean,
    key: Uint8Array,
    cookieKey: Uint8Array,
    slotMs: number,
    packet: Uint8Array,
    ip: string,
    port: number,
    nowMs: number,
  ): Buffer | 'bad-wkc' | 'auth-failed' | null;
}

export type NativeAddonWithOvpn = NativeAddon & OvpnNativeExports;

export type NativeSupport = { ok: true } | { ok: false; reason: string };

/** Whether the native OpenVPN data plane can run here, and if not, why. Never throws. */
export function supportsNative(): NativeSupport {
  if (process.platform !== 'linux') {
    return { ok: false, reason: `the native data plane needs Linux (this is ${process.platform})` };
  }
  let addon: Partial<NativeAddonWithOvpn>;
  try {
    addon = loadNative() as Partial<NativeAddonWithOvpn>;
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (
    typeof addon.OvpnDataplane !== 'function' ||
    typeof addon.ovpnTunOpen !== 'function' ||
    typeof addon.ovpnSealForTest !== 'function'
  ) {
    return {
      ok: false,
      reason:
        'the native addon was built without the OpenVPN data plane (native/ovpn_dp.c); ' +
        'rebuild it with `node scripts/build-native.mjs`',
    };
  }
  return { ok: true };
}

/** The addon with its OpenVPN exports; throws PosternError if it is missing or too old. */
export function loadOvpnNative(): NativeAddonWithOvpn {
  const addon = loadNative() as NativeAddonWithOvpn;
  const support = supportsNative();
  if (!support.ok) {
    throw new PosternError(
      'NATIVE_DATAPLANE_UNSUPPORTED',
      support.reason,
      'rebuild the addon with `node scripts/build-native.mjs`',
    );
  }
  return addon;
}

// Record decoding.

export const RECORD_HEADER_SIZE = 48;
const RECORD_OFFSET_VALUE = 4;
const RECORD_OFFSET_PORT = 8;
const RECORD_OFFSET_FAMILY = 10;
const RECORD_OFFSET_ADDRESS = 12;
const RECORD_OFFSET_LOCAL_FAMILY = 28;
const RECORD_OFFSET_LOCAL_ADDRESS = 32;
const IPV4_SIZE = 4;
const IPV6_SIZE = 16;

export interface NativeRecord {
  /** The datagram or packet (a view into the batch buffer). */
  bytes: Uint8Array;
  value: number;
  port: number;
  /** Text form of the address, '' when the record has none. */
  address: string;
  /** The gateway address the datagram was sent to, '' when unknown. */
  local: string;
}

function recordAddress(records: Buffer, family: number, start: number): string {
  if (family === 4) return formatIpAddress(records.subarray(start, start + IPV4_SIZE));
  if (family === 6) return formatIpAddress(records.subarray(start, start + IPV6_SIZE));
  return '';
}

/** Splits a batch into records; stops at the first record that does not fit (never throws). */
export function decodeRecords(records: Buffer, count: number): NativeRecord[] {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const out: NativeRecord[] = [];
  let at = 0;
  for (let i = 0; i < count && at + RECORD_HEADER_SIZE <= records.length; i++) {
    const length = view.getUint32(at, true);
    const end = at + RECORD_HEADER_SIZE + length;
    if (end > records.length) break;
    const family = view.getUint16(at + RECORD_OFFSET_FAMILY, true);
    const address = recordAddress(records, family, at + RECORD_OFFSET_ADDRESS);
    const localFamily = view.getUint16(at + RECORD_OFFSET_LOCAL_FAMILY, true);
    const local = recordAddress(records, localFamily, at + RECORD_OFFSET_LOCAL_ADDRESS);
    out.push({
      bytes: records.subarray(at + RECORD_HEADER_SIZE, end),
      value: view.getUint32(at + RECORD_OFFSET_VALUE, true),
      port: view.getUint16(at + RECORD_OFFSET_PORT, true),
      address,
      local,
    });
    at = end;
  }
  return out;
}
