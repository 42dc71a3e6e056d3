// A layer-3 virtual interface as the data plane sees it: IP packets out of the kernel's routing
// (onPackets) and IP packets into it (write). Implemented by the Linux TUN device and by an
// in-memory twin for tests.

export interface TunStats {
  /** Packets read from the device and handed to onPackets. */
  readonly packetsRead: number;
  /** onPackets calls (each with one or more packets). */
  readonly batchesRead: number;
  /** Read failures; after one the device no longer delivers packets. */
  readonly readErrors: number;
  /** Packets accepted by write(). */
  readonly packetsWritten: number;
  /** Packets write() dropped: empty, not IPv4/IPv6, refused by the kernel, or device closed. */
  readonly writeDropped: number;
}

export interface TunDevice {
  /** Interface name as the kernel knows it (e.g. "pst0"). */
  readonly name: string;
  readonly mtu: number;
  /**
   * Registers THE consumer of packets read from the device (a later call replaces it). Each
   * call gets a fresh array of packets; the consumer owns them and may keep or modify them.
   */
  onPackets(cb: (packets: Uint8Array[]) => void): void;
  /**
   * Hands IP packets to the kernel, as if they had arrived on this interface. Never throws
   * for bad packets: they are dropped and counted in stats().writeDropped.
   */
  write(packets: readonly Uint8Array[]): void;
  /** Stops reading and removes the device. Idempotent. */
  close(): Promise<void>;
  stats(): TunStats;
}
