// The certificate revocation list: the CA's signed word that certain serials are no longer good.
import { AuthorityKeyIdentifierExtension, Extension, X509CrlGenerator } from './x509.js';
import { PosternError } from '../../errors.js';
import { openCa } from './ca.js';
import type { Issued } from './ca.js';
import { signingAlgorithm } from './keys.js';
import { PEM_CRL, toPem } from './pem.js';
import { webCrypto } from './x509.js';
import { normalizeSerial } from './serial.js';
import { checkDays, checkNow, MS_PER_DAY, wholeSeconds } from './validity.js';

export const DEFAULT_CRL_NEXT_UPDATE_DAYS = 30;
const OID_CRL_NUMBER = '2.5.29.20';
const DER_TAG_INTEGER = 0x02;
const DER_MAX_SHORT_LENGTH = 0x7f;
const HIGH_BIT = 0x80;

export interface RevokedSerial {
  serial: string;
  revokedAt: Date;
}

export interface CrlOptions {
  now: Date;
  nextUpdateDays?: number;
  /** Strictly increasing across the CRLs one CA issues (RFC 5280 5.2.3). */
  crlNumber: number;
}

/** DER INTEGER for a non-negative safe integer: minimal big-endian octets, 0x00 pad if needed. */
function derUnsignedInteger(value: number): Uint8Array {
  const octets: number[] = [];
  let rest = value;
  do {
    octets.unshift(rest % 256);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  if ((octets[0] ?? 0) & HIGH_BIT) octets.unshift(0);
  // Safe integers need at most 8 content octets, so the short length form always fits.
  if (octets.length > DER_MAX_SHORT_LENGTH) throw new RangeError('integer too long');
  return new Uint8Array([DER_TAG_INTEGER, octets.length, ...octets]);
}

/** Signs a v2 CRL listing `revoked`, with the CRL number and authority key identifier. */
export async function buildCrl(
  ca: Issued,
  revoked: readonly RevokedSerial[],
  options: CrlOptions,
): Promise<string> {
  if (!Number.isSafeInteger(options.crlNumber) || options.crlNumber < 0) {
    throw new PosternError('PKI_BAD_CRL_NUMBER', 'crlNumber must be a non-negative whole number');
  }
  const now = checkNow(options.now);
  const nextUpdateDays = checkDays(
    options.nextUpdateDays ?? DEFAULT_CRL_NEXT_UPDATE_DAYS,
    'nextUpdateDays',
  );
  const opened = await openCa(ca);
  // One entry per serial: a serial revoked twice keeps its first revocation date.
  const entries = new Map<string, Date>();
  for (const r of revoked) {
    const serial = normalizeSerial(r.serial);
    const at = checkNow(r.revokedAt);
    const seen = entries.get(serial);
    if (!seen || at < seen) entries.set(serial, at);
  }
  const crl = await X509CrlGenerator.create(
    {
      issuer: opened.cert.subjectName,
      thisUpdate: wholeSeconds(now),
      nextUpdate: wholeSeconds(new Date(now.getTime() + nextUpdateDays * MS_PER_DAY)),
      signingKey: opened.signingKey,
      signingAlgorithm: signingAlgorithm(opened.keyType),
      extensions: [
        new Extension(OID_CRL_NUMBER, false, derUnsignedInteger(options.crlNumber)),
        new AuthorityKeyIdentifierExtension(opened.keyId, false),
      ],
      entries: [...entries].map(([serialNumber, at]) => ({
        serialNumber,
        revocationDate: wholeSeconds(at),
      })),
    },
    webCrypto,
  );
  return toPem(PEM_CRL, crl.rawData);
}
