// OpenVPN's shared-key files: the tls-crypt key ("OpenVPN Static key V1", what `openvpn --genkey
// secret` writes) and the tls-crypt-v2 server key (what `openvpn --genkey tls-crypt-v2-server`
// writes). Both hold OpenVPN's `struct key` layout: for each key, 64 cipher bytes then 64 HMAC bytes.
import { PosternError } from '../../errors.js';
import { randomBytes } from './x509.js';

/** Two directions x (64 cipher + 64 HMAC bytes): 2048 bits. */
export const STATIC_KEY_BYTES = 256;
/** One key: Ke (64 bytes) then Ka (64 bytes). */
export const TLS_CRYPT_V2_SERVER_KEY_BYTES = 128;

const STATIC_KEY_LABEL = 'OpenVPN Static key V1';
const TLS_CRYPT_V2_SERVER_LABEL = 'OpenVPN tls-crypt-v2 server key';
const STATIC_KEY_HEX_PER_LINE = 32;
const PEM_BASE64_PER_LINE = 64;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;
const HEX_BODY = /^[0-9a-fA-F]*$/;

const STATIC_KEY_CODE = 'PKI_BAD_STATIC_KEY';
const TLS_CRYPT_V2_CODE = 'PKI_BAD_TLS_CRYPT_V2_KEY';

function beginLine(label: string): string {
  return `-----BEGIN ${label}-----`;
}

function endLine(label: string): string {
  return `-----END ${label}-----`;
}

function checkLength(bytes: Uint8Array, expected: number, code: string, what: string): void {
  if (bytes.length !== expected) {
    throw new PosternError(code, `${what} must be ${expected} bytes, got ${bytes.length}`);
  }
}

function chunk(text: string, width: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width));
  return lines;
}

/**
 * The lines between the BEGIN and END markers of `label`. Before BEGIN only blank lines and
 * '#' comments may stand (OpenVPN writes a comment header); after END only blank lines.
 */
function armoredBody(text: string, label: string, code: string, what: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const begin = lines.indexOf(beginLine(label));
  const end = lines.indexOf(endLine(label));
  if (begin < 0 || end < 0 || end < begin) {
    throw new PosternError(
      code,
      `not a ${what}: expected a "${beginLine(label)}" ... "${endLine(label)}" block`,
    );
  }
  const stray = [
    ...lines.slice(0, begin).filter((l) => l !== '' && !l.startsWith('#')),
    ...lines.slice(end + 1).filter((l) => l !== ''),
  ];
  if (stray.length > 0) {
    throw new PosternError(code, `${what} has unexpected text outside the key block`);
  }
  return lines.slice(begin + 1, end).filter((l) => l !== '');
}

export function formatStaticKey(bytes: Uint8Array): string {
  checkLength(bytes, STATIC_KEY_BYTES, STATIC_KEY_CODE, 'an OpenVPN static key');
  const hex = Buffer.from(bytes).toString('hex');
  return [
    '# 2048 bit OpenVPN static key (tls-crypt), written by Postern',
    beginLine(STATIC_KEY_LABEL),
    ...chunk(hex, STATIC_KEY_HEX_PER_LINE),
    endLine(STATIC_KEY_LABEL),
    '',
  ].join('\n');
}

/** Reads a static key V1 file; hex may be wrapped at any width, as OpenVPN also accepts. */
export function parseStaticKey(text: string): Uint8Array {
  const what = 'OpenVPN static key';
  const hex = armoredBody(text, STATIC_KEY_LABEL, STATIC_KEY_CODE, what).join('');
  if (!HEX_BODY.test(hex)) {
    throw new PosternError(STATIC_KEY_CODE, `${what} contains characters that are not hex digits`);
  }
  if (hex.length !== STATIC_KEY_BYTES * 2) {
    throw new PosternError(
      STATIC_KEY_CODE,
      `${what} must hold ${STATIC_KEY_BYTES} bytes (${STATIC_KEY_BYTES * 2} hex digits), found ${hex.length} hex digits`,
      'generate a new one with `postern init` or `openvpn --genkey secret`',
    );
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function formatTlsCryptV2ServerKey(bytes: Uint8Array): string {
  checkLength(bytes, TLS_CRYPT_V2_SERVER_KEY_BYTES, TLS_CRYPT_V2_CODE, 'a tls-crypt-v2 server key');
  const b64 = Buffer.from(bytes).toString('base64');
  return [
    beginLine(TLS_CRYPT_V2_SERVER_LABEL),
    ...chunk(b64, PEM_BASE64_PER_LINE),
    endLine(TLS_CRYPT_V2_SERVER_LABEL),
    '',
  ].join('\n');
}

export function parseTlsCryptV2ServerKey(text: string): Uint8Array {
  const what = 'tls-crypt-v2 server key';
  const b64 = armoredBody(text, TLS_CRYPT_V2_SERVER_LABEL, TLS_CRYPT_V2_CODE, what).join('');
  // Buffer's decoder skips junk silently, so the alphabet and padding are checked first.
  if (!BASE64_BODY.test(b64) || b64.length % 4 !== 0) {
    throw new PosternError(TLS_CRYPT_V2_CODE, `${what} is not valid base64`);
  }
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  if (bytes.length !== TLS_CRYPT_V2_SERVER_KEY_BYTES) {
    throw new PosternError(
      TLS_CRYPT_V2_CODE,
      `${what} must hold ${TLS_CRYPT_V2_SERVER_KEY_BYTES} bytes, found ${bytes.length}`,
      'generate a new one with `postern init` or `openvpn --genkey tls-crypt-v2-server`',
    );
  }
  return bytes;
}

export function generateStaticKey(
  random: (length: number) => Uint8Array = randomBytes,
): Uint8Array {
  const bytes = random(STATIC_KEY_BYTES);
  checkLength(bytes, STATIC_KEY_BYTES, STATIC_KEY_CODE, 'random static key material');
  return bytes;
}

export function generateTlsCryptV2ServerKey(
  random: (length: number) => Uint8Array = randomBytes,
): Uint8Array {
  const bytes = random(TLS_CRYPT_V2_SERVER_KEY_BYTES);
  checkLength(bytes, TLS_CRYPT_V2_SERVER_KEY_BYTES, TLS_CRYPT_V2_CODE, 'random key material');
  return bytes;
}
