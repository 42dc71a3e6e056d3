// The Linux TUN device: /dev/net/tun through the native addon (uv_poll on the JS thread,
// batched reads and writes), configured with iproute2. It lives in the network namespace of
// the process that opens it, and disappears when closed or when the process exits.

import { close as closeFd } from 'node:fs';
import { PosternError } from '../../errors.js';
import { checkInterfaceName, checkLinkConfig, configureLink } from './link-config.js';
import { loadNative, type NativeAddon, type NativeTunReader } from './native.js';
import type { TunDevice, TunStats } from './tun-device.js';

/** Leaves room for the outer IP + UDP + tunnel headers within a 1500-byte path. */
export const DEFAULT_TUN_MTU = 1420;

export interface OpenTunOptions {
  /** Interface name, or a template such as 'pst%d'; the kernel picks one when absent. */
  readonly name?: string;
  readonly mtu?: number;
  /** Addresses of this end, 'address/prefix-length', IPv4 or IPv6. */
  readonly addresses: readonly string[];
  /** Extra prefixes to route into the device. */
  readonly routes?: readonly string[];
  /** The iproute2 binary ('ip' from PATH by default). */
  readonly ipCommand?: string;
}

const OPEN_HINTS: Readonly<Record<string, string>> = {
  EPERM: 'creating a TUN device needs CAP_NET_ADMIN (run as root)',
  EACCES: 'creating a TUN device needs CAP_NET_ADMIN (run as root)',
  ENOENT: '/dev/net/tun is missing: `modprobe tun`, or give the container --device /dev/net/tun',
  ENODEV: 'the kernel has no TUN support: `modprobe tun`',
  EBUSY: 'another process holds a TUN device with that name',
  EINVAL: 'that name is taken by an interface that is not a TUN device',
};

function openError(name: string | undefined, e: unknown): PosternError {
  const err = e as NodeJS.ErrnoException;
  const which = name ? ` ${name}` : '';
  return new PosternError(
    'TUN_OPEN_FAILED',
    `cannot open TUN device${which}: ${err.message}`,
    err.code ? OPEN_HINTS[err.code] : undefined,
  );
}

export class LinuxTun implements TunDevice {
  readonly name: string;
  readonly mtu: number;
  readonly #native: NativeAddon;
  readonly #fd: number;
  #reader: NativeTunReader | undefined;
  #consumer: ((packets: Uint8Array[]) => void) | undefined;
  #closed = false;
  #packetsWritten = 0;
  #writeDropped = 0;
  #readErrno = 0;

  /** Wraps an fd from NativeAddon.tunOpen; use openTun() to also configure the link. */
  constructor(native: NativeAddon, fd: number, name: string, mtu: number) {
    this.#native = native;
    this.#fd = fd;
    this.name = name;
    this.mtu = mtu;
  }

  onPackets(cb: (packets: Uint8Array[]) => void): void {
    this.#consumer = cb;
    // Reading starts with the first consumer; until then the kernel queues (txqueuelen).
    if (this.#reader || this.#closed) return;
    this.#reader = this.#native.tunReaderStart(this.#fd, (slab, count, errno) =>
      this.#onBatch(slab, count, errno),
    );
  }

  #onBatch(slab: Buffer | null, count: number, errno: number): void {
    if (errno !== 0) this.#readErrno = errno;
    const reader = this.#reader;
    if (!slab || !reader || count === 0) return;
    const { lengths } = reader;
    const packets = new Array<Uint8Array>(count);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const end = offset + (lengths[i] ?? 0);
      packets[i] = slab.subarray(offset, end);
      offset = end;
    }
    this.#consumer?.(packets);
  }

  write(packets: readonly Uint8Array[]): void {
    if (packets.length === 0) return;
    if (this.#closed) {
      this.#writeDropped += packets.length;
      return;
    }
    const accepted = this.#native.tunWrite(this.#fd, packets);
    this.#packetsWritten += accepted;
    this.#writeDropped += packets.length - accepted;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reader) this.#native.tunReaderStop(this.#reader);
    // The kernel unregisters the device inside close(); that can take milliseconds, so do it
    // off the JS thread.
    await new Promise<void>((resolve, reject) =>
      closeFd(this.#fd, (e) => (e ? reject(e) : resolve())),
    );
  }

  stats(): TunStats {
    const counters = this.#reader?.counters;
    const slot = this.#native.TUN_READER_COUNTER;
    return {
      packetsRead: counters?.[slot.packets] ?? 0,
      batchesRead: counters?.[slot.batches] ?? 0,
      readErrors: counters?.[slot.readErrors] ?? 0,
      packetsWritten: this.#packetsWritten,
      writeDropped: this.#writeDropped,
    };
  }

  /** errno of the read failure that stopped delivery (e.g. the device was deleted), or 0. */
  get readErrno(): number {
    return this.#readErrno;
  }
}

/**
 * Creates a TUN device in this process's network namespace and configures it: MTU, addresses,
 * link up, routes. Throws PosternError TUN_CONFIG_INVALID (before touching anything),
 * TUN_OPEN_FAILED, TUN_CONFIG_FAILED (the device is removed again), or NATIVE_ADDON_MISSING.
 */
export async function openTun(options: OpenTunOptions): Promise<LinuxTun> {
  const mtu = options.mtu ?? DEFAULT_TUN_MTU;
  const config = {
    mtu,
    addresses: options.addresses,
    routes: options.routes ?? [],
    ...(options.ipCommand ? { ipCommand: options.ipCommand } : {}),
  };
  if (options.name !== undefined) checkInterfaceName(options.name);
  checkLinkConfig(config);
  const native = loadNative();
  let opened: { fd: number; name: string };
  try {
    opened = native.tunOpen(options.name ?? '');
  } catch (e) {
    throw openError(options.name, e);
  }
  const tun = new LinuxTun(native, opened.fd, opened.name, mtu);
  try {
    await configureLink(opened.name, config);
  } catch (e) {
    await tun.close();
    throw e;
  }
  return tun;
}
