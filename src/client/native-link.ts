// `postern connect` over UDP on the native data plane (native/ovpn_dp.c), as the gateway runs
// it: the addon owns the TUN fd and the UDP socket and moves DATA_V2 packets between them on its
// own threads; the control channel rides the same socket (sendControl out, CONTROL records in),
// so the server sees one source port for both. The server is the one peer, `upstream`, so every
// packet the TUN device hands over goes to it.
//
// The TUN device outlives links: it is opened once (with TSO offload when the kernel allows it)
// and each connection attempt starts a fresh data plane on it, which dies with the attempt
// (its keys wiped in native memory), so a reconnect starts from a clean socket and peer table.
import { close as closeFd } from 'node:fs';
import { isIP } from 'node:net';
import { PosternError } from '../errors.js';
import { loadOvpnNative } from '../dataplane/native/native-binding.js';
import { NativeOpenvpnDataPlane } from '../dataplane/native/openvpn-native.js';
import type { DataChannelKeys } from '../dataplane/reference/openvpn-data.js';
import type { PeerCounters } from '../dataplane/reference/openvpn-peers.js';
import { checkLinkConfig, configureLink } from '../io/tun/link-config.js';
import { DEFAULT_TUN_MTU } from '../io/tun/linux-tun.js';
import { parseIpAddress } from '../wire/ip/address.js';
import { resolveRemote, type Link, type Remote } from './link.js';

const ANY_IPV4 = '0.0.0.0';
const ANY_IPV6 = '::';
const EPHEMERAL_PORT = 0;

/** A TUN device opened for the native data plane (IFF_VNET_HDR when `offload`). */
export class NativeClientTun {
  readonly fd: number;
  readonly name: string;
  readonly offload: boolean;
  #closed = false;

  private constructor(opened: { fd: number; name: string; offload: boolean }) {
    this.fd = opened.fd;
    this.name = opened.name;
    this.offload = opened.offload;
  }

  /** Opens a TUN device (the kernel names it), with TSO offload unless the kernel refuses it. */
  static open(): NativeClientTun {
    const addon = loadOvpnNative();
    try {
      return new NativeClientTun(addon.ovpnTunOpen('', true));
    } catch (e) {
      throw new PosternError(
        'TUN_OPEN_FAILED',
        `cannot open a TUN device: ${(e as Error).message}`,
      );
    }
  }

  /** MTU, addresses, link up, routes (TUN_CONFIG_INVALID / TUN_CONFIG_FAILED on failure). */
  async configure(addresses: readonly string[], routes: readonly string[]): Promise<void> {
    const config = { mtu: DEFAULT_TUN_MTU, addresses, routes };
    checkLinkConfig(config);
    await configureLink(this.name, config);
  }

  /** Closes the fd: the device, its addresses and routes disappear. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The kernel unregisters the device inside close(): off the JS thread.
    await new Promise<void>((resolve) => closeFd(this.fd, () => resolve()));
  }
}

/** A UDP link whose data packets never reach JS: the native data plane carries them. */
export interface NativeLink extends Link {
  readonly proto: 'udp';
  /** Makes the server the one (upstream) peer under the peer id it pushed. */
  attachServer(peerId: number): void;
  /** Whether attachServer ran: keys can be installed. */
  readonly attached: boolean;
  installKey(keyId: number, keys: DataChannelKeys): void;
  retireKey(keyId: number): void;
  /** Inner traffic with the server and when it last moved; undefined before attachServer. */
  counters(): PeerCounters | undefined;
  sendPing(): void;
  /** OCC_EXIT to the server: leaving, said on the data channel (no cc-exit). */
  sendExitNotice(): void;
}

function sameAddress(a: string, b: string): boolean {
  const x = parseIpAddress(a);
  const y = parseIpAddress(b);
  return x !== undefined && y !== undefined && Buffer.compare(x, y) === 0;
}

/** Binds a native data plane on `tun` (ephemeral port, the remote's family) as a link to it. */
export async function openNativeLink(remote: Remote, tun: NativeClientTun): Promise<NativeLink> {
  const address = await resolveRemote(remote);
  const to = { address, port: remote.port };
  const dp = new NativeOpenvpnDataPlane({
    bind: { address: isIP(address) === 6 ? ANY_IPV6 : ANY_IPV4, port: EPHEMERAL_PORT },
    tunFd: tun.fd,
    tunName: tun.name,
    ownsTun: false,
    offload: tun.offload,
  });
  let onPacket: (p: Uint8Array) => void = () => undefined;
  let onClose: (why: string) => void = () => undefined;
  let peerId: number | undefined;
  dp.onControl((batch) => {
    for (const d of batch) {
      if (d.port === remote.port && sameAddress(d.address, address)) onPacket(d.packet);
    }
  });
  dp.onError((thread, errno) =>
    onClose(`the native data plane's ${thread} thread stopped (errno ${errno})`),
  );
  return {
    proto: 'udp',
    description: `udp:${address}:${remote.port}`,
    send: (p) => void dp.sendControl(p, to),
    onPacket: (cb) => (onPacket = cb),
    onClose: (cb) => (onClose = cb),
    close: () => dp.close(),
    get attached() {
      return peerId !== undefined;
    },
    attachServer(id) {
      if (peerId === id) return;
      if (peerId !== undefined) dp.removePeer(peerId);
      peerId = id;
      dp.addPeer(id, { remote: to, addresses: [], sendPeerId: id, upstream: true });
    },
    installKey(keyId, keys) {
      if (peerId !== undefined) dp.installKey(peerId, keyId, keys);
    },
    retireKey(keyId) {
      if (peerId !== undefined) dp.retireKey(peerId, keyId);
    },
    counters: () => (peerId === undefined ? undefined : dp.counters(peerId)),
    sendPing() {
      if (peerId !== undefined) dp.sendPing(peerId);
    },
    sendExitNotice() {
      if (peerId !== undefined) dp.sendExitNotice(peerId);
    },
  };
}
