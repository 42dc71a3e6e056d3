// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of the
// data taken as big-endian 16-bit words, an odd last byte padded with a zero byte.

const WORD = 0x10000;

/**
 * Adds `bytes` as 16-bit big-endian words to `sum` without folding. Sums of several pieces
 * (a pseudo-header, then a payload) chain through `sum`; every piece but the last must have an
 * even length. Exact for any realistic input (a JS number holds 2^53).
 */
export function onesComplementAdd(bytes: Uint8Array, sum = 0): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const evenLength = bytes.byteLength & ~1;
  let acc = sum;
  for (let i = 0; i < evenLength; i += 2) acc += view.getUint16(i);
  if (evenLength !== bytes.byteLength) acc += view.getUint8(evenLength) << 8;
  return acc;
}

/** Folds a running sum to 16 bits and complements it: the value for a checksum field. */
export function finishChecksum(sum: number): number {
  let folded = sum;
  while (folded >= WORD) folded = (folded % WORD) + Math.floor(folded / WORD);
  return ~folded & 0xffff;
}

/** The checksum of `bytes`. Over data that already holds a correct checksum it is 0. */
export function internetChecksum(bytes: Uint8Array, sum = 0): number {
  return finishChecksum(onesComplementAdd(bytes, sum));
}

/**
 * The running sum of the IPv6 pseudo-header (RFC 8200 section 8.1) for an upper-layer packet
 * of `upperLength` bytes: source, destination, 32-bit length, three zero bytes, next header.
 */
export function ipv6PseudoHeaderSum(
  src: Uint8Array,
  dst: Uint8Array,
  upperLength: number,
  nextHeader: number,
): number {
  let sum = onesComplementAdd(src);
  sum = onesComplementAdd(dst, sum);
  sum += Math.floor(upperLength / WORD) + (upperLength % WORD);
  return sum + nextHeader;
}
