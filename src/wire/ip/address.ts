// IP addresses as bytes (4 or 16) and as text. Parsing is strict: dotted-quad IPv4 without
// leading zeros (no octal surprises), RFC 4291 IPv6 text with at most one "::" and an optional
// trailing dotted quad, no zone index. Formatting IPv6 follows RFC 5952 (lower case, the
// longest run of two or more zero groups shortened to "::", the first one on a tie).

import { bytesEqual } from '../bytes-equal.js';
import { IPV4_ADDRESS_LENGTH, IPV6_ADDRESS_LENGTH } from './constants.js';

const IPV6_GROUPS = 8;
const IPV6_GROUP_MAX_DIGITS = 4;
const IPV4_PARTS = 4;
const OCTET_MAX = 255;
const DECIMAL_PART = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export function parseIpv4Address(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== IPV4_PARTS) return undefined;
  const out = new Uint8Array(IPV4_ADDRESS_LENGTH);
  for (let i = 0; i < IPV4_PARTS; i++) {
    const part = parts[i] ?? '';
    if (!DECIMAL_PART.test(part)) return undefined;
    const value = Number(part);
    if (value > OCTET_MAX) return undefined;
    out[i] = value;
  }
  return out;
}

/** Parses a list of ':'-separated groups; a dotted quad is allowed as the last item. */
function parseGroups(text: string, allowTrailingIpv4: boolean): number[] | undefined {
  if (text === '') return [];
  const items = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i] ?? '';
    if (allowTrailingIpv4 && i === items.length - 1 && item.includes('.')) {
      const v4 = parseIpv4Address(item);
      if (!v4) return undefined;
      const view = new DataView(v4.buffer);
      groups.push(view.getUint16(0), view.getUint16(2));
    } else {
      if (item.length > IPV6_GROUP_MAX_DIGITS || !HEX_GROUP.test(item)) return undefined;
      groups.push(Number.parseInt(item, 16));
    }
  }
  return groups;
}

export function parseIpv6Address(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0] ?? '', false);
    const tail = parseGroups(halves[1] ?? '', true);
    if (!head || !tail) return undefined;
    const missing = IPV6_GROUPS - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (!all || all.length !== IPV6_GROUPS) return undefined;
    groups = all;
  }
  const out = new Uint8Array(IPV6_ADDRESS_LENGTH);
  const view = new DataView(out.buffer);
  groups.forEach((g, i) => view.setUint16(i * 2, g));
  return out;
}

/** Parses IPv4 or IPv6 text into 4 or 16 bytes; undefined if it is neither. */
export function parseIpAddress(text: string): Uint8Array | undefined {
  return text.includes(':') ? parseIpv6Address(text) : parseIpv4Address(text);
}

function formatIpv6(bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const groups: number[] = [];
  for (let i = 0; i < IPV6_GROUPS; i++) groups.push(view.getUint16(i * 2));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never shortened
  for (let i = 0; i < IPV6_GROUPS;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < IPV6_GROUPS && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** Text form of a 4- or 16-byte address; anything else is shown as hex in brackets. */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.byteLength === IPV4_ADDRESS_LENGTH) return Array.from(bytes).join('.');
  if (bytes.byteLength === IPV6_ADDRESS_LENGTH) return formatIpv6(bytes);
  return `[${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}]`;
}

export const ipAddressEquals: (a: Uint8Array, b: Uint8Array) => boolean = bytesEqual;
