// IPv4 and IPv6 addresses as BigInts, so one piece of arithmetic serves both families.
import { isIPv4, isIPv6 } from 'node:net';
import { PosternError } from '../../errors.js';
import { parseCidr } from '../config/cidr.js';

export type Family = 4 | 6;

export function addressToBigInt(address: string): bigint {
  if (isIPv4(address)) {
    return address.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
  }
  if (isIPv6(address)) {
    const [head = '', tail] = address.split('::');
    const parse = (s: string): string[] => (s === '' ? [] : s.split(':'));
    let headGroups = parse(head);
    let tailGroups = tail === undefined ? [] : parse(tail);
    // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
    const expand = (groups: string[]): string[] =>
      groups.flatMap((g) => {
        if (!g.includes('.')) return [g];
        const v = addressToBigInt(g);
        return [(v >> 16n).toString(16), (v & 0xffffn).toString(16)];
      });
    headGroups = expand(headGroups);
    tailGroups = expand(tailGroups);
    const missing = 8 - headGroups.length - tailGroups.length;
    const groups =
      tail === undefined
        ? headGroups
        : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
    return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
  }
  throw new PosternError('BAD_ADDRESS', `"${address}" is not an IP address`);
}

export function bigIntToAddress(value: bigint, family: Family): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  // Canonical form (RFC 5952): the longest run of zero groups (2 or more) becomes "::".
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

export interface Network {
  family: Family;
  base: bigint;
  prefix: number;
  size: bigint;
}

export function parseNetwork(cidr: string): Network {
  const c = parseCidr(cidr);
  if (!c) throw new PosternError('BAD_CIDR', `"${cidr}" is not a CIDR`);
  const bits = c.family === 4 ? 32 : 128;
  const size = 1n << BigInt(bits - c.prefix);
  const base = (addressToBigInt(c.address) / size) * size;
  return { family: c.family, base, prefix: c.prefix, size };
}

export function contains(net: Network, address: string): boolean {
  const fam = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (fam !== net.family) return false;
  const v = addressToBigInt(address);
  return v >= net.base && v < net.base + net.size;
}

/** A dotted netmask for an IPv4 prefix, as OpenVPN's `ifconfig` and `route` want it. */
export function netmask4(prefix: number): string {
  const mask = prefix === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n);
  return bigIntToAddress(mask, 4);
}
