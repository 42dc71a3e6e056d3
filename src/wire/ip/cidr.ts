// Address/prefix-length pairs, as written on interfaces ("100.64.0.1/24": the host bits may be
// set, they name the interface's own address) and in routes ("100.64.0.0/10").

import { formatIpAddress, parseIpAddress } from './address.js';
import { IPV4_ADDRESS_LENGTH } from './constants.js';

const BITS_PER_BYTE = 8;
const PREFIX_LENGTH = /^(0|[1-9][0-9]{0,2})$/;

export interface Cidr {
  readonly version: 4 | 6;
  /** 4 or 16 bytes, as written (host bits kept). */
  readonly address: Uint8Array;
  readonly prefixLength: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseIpAddress(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (!address || !PREFIX_LENGTH.test(lengthText)) return undefined;
  const prefixLength = Number(lengthText);
  if (prefixLength > address.byteLength * BITS_PER_BYTE) return undefined;
  const version = address.byteLength === IPV4_ADDRESS_LENGTH ? 4 : 6;
  return { version, address, prefixLength };
}

/** Whether `address` (4 or 16 bytes) lies inside the prefix. */
export function cidrContains(cidr: Cidr, address: Uint8Array): boolean {
  if (address.byteLength !== cidr.address.byteLength) return false;
  const fullBytes = Math.floor(cidr.prefixLength / BITS_PER_BYTE);
  for (let i = 0; i < fullBytes; i++) if (address[i] !== cidr.address[i]) return false;
  const restBits = cidr.prefixLength % BITS_PER_BYTE;
  if (restBits === 0) return true;
  const mask = (0xff << (BITS_PER_BYTE - restBits)) & 0xff;
  return ((address[fullBytes] ?? 0) & mask) === ((cidr.address[fullBytes] ?? 0) & mask);
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpAddress(cidr.address)}/${cidr.prefixLength}`;
}
