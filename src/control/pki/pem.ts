// PEM armour (RFC 7468): base64 of DER between BEGIN/END lines, wrapped at 64 characters.
const PEM_LINE_CHARS = 64;

export const PEM_CERTIFICATE = 'CERTIFICATE';
/** openssl reads CRLs only under this label (RFC 7468 section 6), not the bare "CRL". */
export const PEM_CRL = 'X509 CRL';
export const PEM_PRIVATE_KEY = 'PRIVATE KEY';

export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += PEM_LINE_CHARS) lines.push(b64.slice(i, i + PEM_LINE_CHARS));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
