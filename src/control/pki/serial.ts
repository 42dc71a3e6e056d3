// Certificate serial numbers: the lowercase hex form Postern stores, names files by and puts in CRLs.
import { PosternError } from '../../errors.js';
import { randomBytes } from './x509.js';

/** 128 bits: RFC 5280 allows up to 20 octets; CA/B asks for at least 64 random bits. */
export const SERIAL_BYTES = 16;
const MAX_SERIAL_BYTES = 20;
const SIGN_BIT_CLEAR = 0x7f;

/**
 * A random positive serial of exactly SERIAL_BYTES octets. The top bit is cleared so the DER
 * INTEGER is positive without a pad byte; a zero first octet is bumped to 1 so the hex form has no
 * leading zeros and reads back from the certificate unchanged.
 */
export function randomSerial(random: (length: number) => Uint8Array = randomBytes): string {
  const bytes = random(SERIAL_BYTES);
  if (bytes.length !== SERIAL_BYTES) {
    throw new PosternError('PKI_BAD_RANDOM', `random source gave ${bytes.length} bytes, not 16`);
  }
  bytes[0] = (bytes[0] ?? 0) & SIGN_BIT_CLEAR || 1;
  return Buffer.from(bytes).toString('hex');
}

/**
 * Canonical form of a serial given by a person, a database or openssl (which prints upper case):
 * lowercase hex, no leading zero octets, even length. Also what keeps serials safe in file names.
 */
export function normalizeSerial(serial: string): string {
  const hex = serial.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) {
    throw new PosternError('PKI_BAD_SERIAL', `serial ${JSON.stringify(serial)} is not hex`);
  }
  let stripped = hex.replace(/^0+/, '');
  if (stripped.length % 2 === 1) stripped = `0${stripped}`;
  if (stripped.length === 0 || stripped.length > MAX_SERIAL_BYTES * 2) {
    throw new PosternError(
      'PKI_BAD_SERIAL',
      `serial ${JSON.stringify(serial)} must be a positive number of at most 20 octets`,
    );
  }
  return stripped;
}
