// Hands out client addresses from a pool network. The first host address is the gateway's own
// (its TUN address); IPv4 also keeps the network and broadcast addresses out. Lowest free first,
// and a user gets back the address it had last time when that one is still free.
import { PosternError } from '../../errors.js';
import {
  addressToBigInt,
  bigIntToAddress,
  contains,
  parseNetwork,
  type Network,
} from './ip-math.js';

export class AddressPool {
  readonly network: Network;
  readonly gateway: string;
  readonly prefix: number;
  /** The lowest and highest client address. */
  readonly first: bigint;
  readonly last: bigint;
  readonly #taken = new Set<bigint>();

  constructor(cidr: string) {
    this.network = parseNetwork(cidr);
    const { base, size, family } = this.network;
    if (size < 4n)
      throw new PosternError(
        'POOL_TOO_SMALL',
        `pool ${cidr} is too small: use at most a /30 (IPv4) or /126 (IPv6)`,
      );
    this.prefix = this.network.prefix;
    this.gateway = bigIntToAddress(base + 1n, family);
    this.first = base + 2n;
    this.last = family === 4 ? base + size - 2n : base + size - 1n;
  }

  get family(): 4 | 6 {
    return this.network.family;
  }

  /** Marks an address used (e.g. a lease restored from the store); false if it is not ours or taken. */
  take(address: string): boolean {
    const v = this.#valueIfInside(address);
    if (v === undefined || this.#taken.has(v)) return false;
    this.#taken.add(v);
    return true;
  }

  /** The preferred address when free, else the lowest free one; undefined when exhausted. */
  allocate(preferred?: string): string | undefined {
    if (preferred !== undefined && this.take(preferred)) return preferred;
    // Linear from the bottom: pools are at most a few thousand live leases in practice.
    for (let v = this.first; v <= this.last; v++) {
      if (!this.#taken.has(v)) {
        this.#taken.add(v);
        return bigIntToAddress(v, this.network.family);
      }
      if (v - this.first > 1_000_000n) break;
    }
    return undefined;
  }

  release(address: string): void {
    const v = this.#valueIfInside(address);
    if (v !== undefined) this.#taken.delete(v);
  }

  /** Whether `address` is one of the pool's client addresses. */
  isClientAddress(address: string): boolean {
    return this.#valueIfInside(address) !== undefined;
  }

  /** How many client addresses the pool has. */
  get clientCount(): bigint {
    return this.last - this.first + 1n;
  }

  get used(): number {
    return this.#taken.size;
  }

  #valueIfInside(address: string): bigint | undefined {
    if (!contains(this.network, address)) return undefined;
    const v = addressToBigInt(address);
    return v >= this.first && v <= this.last ? v : undefined;
  }
}
