// IPv4 and IPv6 addresses as BigInts, so one piece of arithmetic serves both families. Parsing
// and canonical text (RFC 5952) come from the IP codecs in src/wire/ip.
import { PosternError } from '../../errors.js';
import { formatIpAddress, parseIpAddress } from '../../wire/ip/address.js';
import { parseCidr } from '../../wire/ip/cidr.js';

export type Family = 4 | 6;

const bytesToBigInt = (bytes: Uint8Array): bigint =>
  bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);

export function addressToBigInt(address: string): bigint {
  const bytes = parseIpAddress(address);
  if (!bytes) throw new PosternError('BAD_ADDRESS', `"${address}" is not an IP address`);
  return bytesToBigInt(bytes);
}

export function bigIntToAddress(value: bigint, family: Family): string {
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = bytes.length - 1, v = value; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 0xffn);
  return formatIpAddress(bytes);
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
  const bits = c.version === 4 ? 32 : 128;
  const size = 1n << BigInt(bits - c.prefixLength);
  const base = (bytesToBigInt(c.address) / size) * size;
  return { family: c.version, base, prefix: c.prefixLength, size };
}

export function contains(net: Network, address: string): boolean {
  const bytes = parseIpAddress(address);
  if (!bytes || bytes.length !== (net.family === 4 ? 4 : 16)) return false;
  const v = bytesToBigInt(bytes);
  return v >= net.base && v < net.base + net.size;
}

/** A dotted netmask for an IPv4 prefix, as OpenVPN's `ifconfig` and `route` want it. */
export function netmask4(prefix: number): string {
  const mask = prefix === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n);
  return bigIntToAddress(mask, 4);
}
