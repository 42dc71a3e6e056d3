// Where the next fresh lease is looked for. Fresh addresses are handed out upward from the last
// one given, wrapping to the bottom of the pool, so finding one costs a lookup or two instead of
// a walk over every lease already held. The store stays the truth (its primary key on the
// address); the cursor only says where to start looking.
import { AddressPool } from './address-pool.js';
import { addressToBigInt, bigIntToAddress } from './ip-math.js';

export class LeaseCursor {
  readonly #pool: AddressPool;
  #next: bigint;

  constructor(cidr: string) {
    this.#pool = new AddressPool(cidr);
    this.#next = this.#pool.first;
  }

  /** Client addresses in the pool, as a number (IPv6 pools are far larger than any count). */
  get size(): number {
    return Number(this.#pool.clientCount);
  }

  contains(address: string): boolean {
    return this.#pool.isClientAddress(address);
  }

  /** Every client address once, from the cursor up, then from the bottom up to the cursor. */
  *candidates(): Generator<string> {
    const { first, last } = this.#pool;
    let v = this.#next;
    for (let seen = 0n; seen < this.#pool.clientCount; seen++) {
      yield bigIntToAddress(v, this.#pool.family);
      v = v === last ? first : v + 1n;
    }
  }

  /** `address` was handed out: the next search starts above it. */
  advancePast(address: string): void {
    const v = addressToBigInt(address);
    this.#next = v >= this.#pool.last ? this.#pool.first : v + 1n;
  }
}
