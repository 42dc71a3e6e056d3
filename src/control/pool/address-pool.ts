// A pool network's layout: the first host address is the gateway's own (its TUN address); IPv4
// also keeps the network and broadcast addresses out; the rest are client addresses. Which
// client holds which address is the lease store's business (leases.ts, lease-cursor.ts).
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

  /** Whether `address` is one of the pool's client addresses. */
  isClientAddress(address: string): boolean {
    if (!contains(this.network, address)) return false;
    const v = addressToBigInt(address);
    return v >= this.first && v <= this.last;
  }

  /** How many client addresses the pool has. */
  get clientCount(): bigint {
    return this.last - this.first + 1n;
  }
}
