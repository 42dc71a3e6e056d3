// OpenVPN's shared-key files as the PKI handles them: the tls-crypt key ("OpenVPN Static key
// V1", what `openvpn --genkey secret` writes) and the tls-crypt-v2 server key (what `openvpn
// --genkey tls-crypt-v2-server` writes). The byte formats live in src/crypto; here they get
// generation and errors an admin can act on.
import {
  formatStaticKey as formatStaticKeyFile,
  parseStaticKey as parseStaticKeyFile,
} from '../../crypto/static-key.js';
import { formatServerKeyFile, parseServerKeyFile } from '../../crypto/tls-crypt-v2.js';
import { PosternError } from '../../errors.js';
import { randomBytes } from './x509.js';

/** Two directions x (64 cipher + 64 HMAC bytes): 2048 bits. */
export const STATIC_KEY_BYTES = 256;
/** One key: Ke (64 bytes) then Ka (64 bytes). */
export const TLS_CRYPT_V2_SERVER_KEY_BYTES = 128;

const STATIC_KEY_CODE = 'PKI_BAD_STATIC_KEY';
const TLS_CRYPT_V2_CODE = 'PKI_BAD_TLS_CRYPT_V2_KEY';

const REASONS: Record<string, string> = {
  'no-header': 'the BEGIN line is missing',
  'no-footer': 'the END line is missing',
  'not-hex': 'it contains characters that are not hex digits',
  'not-base64': 'it is not valid base64',
};

function checkLength(bytes: Uint8Array, expected: number, code: string, what: string): void {
  if (bytes.length !== expected) {
    throw new PosternError(code, `${what} must be ${expected} bytes, got ${bytes.length}`);
  }
}

export function formatStaticKey(bytes: Uint8Array): string {
  checkLength(bytes, STATIC_KEY_BYTES, STATIC_KEY_CODE, 'an OpenVPN static key');
  return formatStaticKeyFile(bytes);
}

/**
 * Outside its BEGIN/END block a key file may hold only blank lines and '#' comments: anything
 * else means the file is not what the admin thinks it is (two keys pasted together, say).
 */
function onlyCommentsAround(text: string, code: string, what: string): void {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const begin = lines.findIndex((l) => l.startsWith('-----BEGIN '));
  const end = lines.findIndex((l) => l.startsWith('-----END '));
  if (begin < 0 || end < begin) return; // the codec reports the missing marker
  const stray = [...lines.slice(0, begin), ...lines.slice(end + 1)].some(
    (l) => l !== '' && !l.startsWith('#'),
  );
  if (stray) throw new PosternError(code, `${what} has unexpected text outside the key block`);
}

export function parseStaticKey(text: string): Uint8Array {
  onlyCommentsAround(text, STATIC_KEY_CODE, 'OpenVPN static key');
  const r = parseStaticKeyFile(text);
  if (r.ok) return r.key;
  throw new PosternError(
    STATIC_KEY_CODE,
    r.reason === 'wrong-length'
      ? `not a valid OpenVPN static key: it must hold ${STATIC_KEY_BYTES} bytes (${STATIC_KEY_BYTES * 2} hex digits)`
      : `not a valid OpenVPN static key: ${REASONS[r.reason] ?? r.reason}`,
    'generate a new one with `postern init` or `openvpn --genkey secret`',
  );
}

export function formatTlsCryptV2ServerKey(bytes: Uint8Array): string {
  checkLength(bytes, TLS_CRYPT_V2_SERVER_KEY_BYTES, TLS_CRYPT_V2_CODE, 'a tls-crypt-v2 server key');
  return formatServerKeyFile(bytes);
}

export function parseTlsCryptV2ServerKey(text: string): Uint8Array {
  onlyCommentsAround(text, TLS_CRYPT_V2_CODE, 'tls-crypt-v2 server key');
  const r = parseServerKeyFile(text);
  if (r.ok) return r.key;
  throw new PosternError(
    TLS_CRYPT_V2_CODE,
    r.reason === 'wrong-length'
      ? `not a valid tls-crypt-v2 server key: it must hold ${TLS_CRYPT_V2_SERVER_KEY_BYTES} bytes`
      : `not a valid tls-crypt-v2 server key: ${REASONS[r.reason] ?? r.reason}`,
    'generate a new one with `postern init` or `openvpn --genkey tls-crypt-v2-server`',
  );
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
