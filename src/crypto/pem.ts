// PEM armour (RFC 7468 textual encoding) for the raw key blobs OpenVPN stores this way, such
// as the tls-crypt-v2 keys. Writing matches OpenSSL's PEM_write: 64 base64 characters a line.
const LINE = 64;

export type PemDecodeResult =
  { ok: true; data: Uint8Array } | { ok: false; reason: 'no-header' | 'no-footer' | 'not-base64' };

/** Finds the first block with this label and decodes it. Never throws. */
export function decodePem(text: string, label: string): PemDecodeResult {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const start = text.indexOf(begin);
  if (start < 0) return { ok: false, reason: 'no-header' };
  const stop = text.indexOf(end, start + begin.length);
  if (stop < 0) return { ok: false, reason: 'no-footer' };
  const body = text.slice(start + begin.length, stop).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
    return { ok: false, reason: 'not-base64' };
  }
  return { ok: true, data: new Uint8Array(Buffer.from(body, 'base64')) };
}

export function encodePem(data: Uint8Array, label: string): string {
  const b64 = Buffer.from(data).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE) lines.push(b64.slice(i, i + LINE));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
