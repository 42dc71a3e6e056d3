// PEM labels the PKI writes; the armour itself is src/crypto/pem.ts.
import { encodePem } from '../../crypto/pem.js';

export const PEM_CERTIFICATE = 'CERTIFICATE';
/** openssl reads CRLs only under this label (RFC 7468 section 6), not the bare "CRL". */
export const PEM_CRL = 'X509 CRL';
export const PEM_PRIVATE_KEY = 'PRIVATE KEY';

export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  return encodePem(der instanceof Uint8Array ? der : new Uint8Array(der), label);
}
