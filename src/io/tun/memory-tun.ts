// The in-memory twin of a TUN device, for tests of the layers above: inject() plays the
// kernel routing packets into the device, and what the stack writes is recorded. Delivery is
// synchronous, so a test reads as a transcript: inject, then look at what was written.

import { IPV4_VERSION, IPV6_VERSION } from '../../wire/ip/constants.js';
import { ipVersionOf } from '../../wire/ip/packet.js';
import type { TunDevice, TunStats } from './tun-device.js';

export interface MemoryTunOptions {
  readonly name?: string;
  readonly mtu?: number;
}

const DEFAULT_NAME = 'memtun0';
const DEFAULT_MTU = 1420;

export class MemoryTun implements TunDevice {
  readonly name: string;
  readonly mtu: number;
  /** Every packet write() accepted, in order (copies). */
  readonly written: Uint8Array[] = [];
  #consumer: ((packets: Uint8Array[]) => void) | undefined;
  #writeListeners: ((packets: Uint8Array[]) => void)[] = [];
  #queued: Uint8Array[] = [];
  #closed = false;
  #packetsRead = 0;
  #batchesRead = 0;
  #packetsWritten = 0;
  #writeDropped = 0;

  constructor(options: MemoryTunOptions = {}) {
    this.name = options.name ?? DEFAULT_NAME;
    this.mtu = options.mtu ?? DEFAULT_MTU;
  }

  onPackets(cb: (packets: Uint8Array[]) => void): void {
    this.#consumer = cb;
    if (this.#queued.length > 0) {
      const queued = this.#queued;
      this.#queued = [];
      this.#deliver(queued);
    }
  }

  /**
   * Packets "from the kernel": copied, then handed to the onPackets consumer as one batch, or
   * queued until there is one (as the kernel queues before anyone reads). Ignored once closed.
   */
  inject(packets: readonly Uint8Array[]): void {
    if (this.#closed || packets.length === 0) return;
    const copies = packets.map((p) => Uint8Array.from(p));
    if (this.#consumer) this.#deliver(copies);
    else this.#queued.push(...copies);
  }

  #deliver(packets: Uint8Array[]): void {
    this.#packetsRead += packets.length;
    this.#batchesRead += 1;
    this.#consumer?.(packets);
  }

  /** Accepts what the kernel would: non-empty packets with version nibble 4 or 6. */
  write(packets: readonly Uint8Array[]): void {
    if (packets.length === 0) return;
    if (this.#closed) {
      this.#writeDropped += packets.length;
      return;
    }
    const accepted: Uint8Array[] = [];
    for (const packet of packets) {
      const version = ipVersionOf(packet);
      if (version === IPV4_VERSION || version === IPV6_VERSION) {
        accepted.push(Uint8Array.from(packet));
      } else {
        this.#writeDropped += 1;
      }
    }
    this.#packetsWritten += accepted.length;
    this.written.push(...accepted);
    if (accepted.length > 0) for (const listener of this.#writeListeners) listener(accepted);
  }

  /** Calls `listener` with the packets each write() accepted (e.g. to wire two stacks). */
  onWrite(listener: (packets: Uint8Array[]) => void): void {
    this.#writeListeners.push(listener);
  }

  /** Returns the packets written so far and forgets them. */
  takeWritten(): Uint8Array[] {
    return this.written.splice(0, this.written.length);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queued = [];
  }

  stats(): TunStats {
    return {
      packetsRead: this.#packetsRead,
      batchesRead: this.#batchesRead,
      readErrors: 0,
      packetsWritten: this.#packetsWritten,
      writeDropped: this.#writeDropped,
    };
  }
}
