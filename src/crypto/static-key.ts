// OpenVPN static key files ("OpenVPN Static key V1"): the 2048-bit `struct key2` that tls-auth
// and tls-crypt share between peers, written by `openvpn --genkey tls-crypt` as 16 lines of hex
// between PEM-like markers. Inline `<tls-crypt>` blocks in .ovpn profiles hold the same text.
//
// The 256 bytes are two `struct key`, each a 64-byte cipher half then a 64-byte hmac half:
//   keys[0].cipher | keys[0].hmac | keys[1].cipher | keys[1].hmac
import { PosternError } from '../errors.js';
import { KEY2_SIZE, KEY_CIPHER_PART_SIZE, KEY_SIZE } from '../wire/openvpn/constants.js';

const BEGIN = '-----BEGIN OpenVPN Static key V1-----';
const END = '-----END OpenVPN Static key V1-----';
const HEX_PER_LINE = 32;

export type StaticKeyParseResult =
  | { ok: true; key: Uint8Array }
  | { ok: false; reason: 'no-header' | 'no-footer' | 'not-hex' | 'wrong-length' };

/** Reads the key out of a key file or an inline block. Never throws. */
export function parseStaticKey(text: string): StaticKeyParseResult {
  const begin = text.indexOf(BEGIN);
  if (begin < 0) return { ok: false, reason: 'no-header' };
  const end = text.indexOf(END, begin + BEGIN.length);
  if (end < 0) return { ok: false, reason: 'no-footer' };
  const hex = text.slice(begin + BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[0-9a-fA-F]*$/.test(hex)) return { ok: false, reason: 'not-hex' };
  if (hex.length !== KEY2_SIZE * 2) return { ok: false, reason: 'wrong-length' };
  return { ok: true, key: new Uint8Array(Buffer.from(hex, 'hex')) };
}

/** Writes a key the way `openvpn --genkey` does, byte for byte. */
export function formatStaticKey(key: Uint8Array): string {
  checkKey2(key);
  const hex = Buffer.from(key).toString('hex');
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += HEX_PER_LINE) lines.push(hex.slice(i, i + HEX_PER_LINE));
  return `#\n# 2048 bit OpenVPN static key\n#\n${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** One `struct key`: the cipher and hmac halves. */
export interface KeyHalves {
  cipher: Uint8Array;
  hmac: Uint8Array;
}

/** Splits a 256-byte key2 block into keys[0] and keys[1] (views, not copies). */
export function splitKey2(key2: Uint8Array): readonly [KeyHalves, KeyHalves] {
  return [keyHalvesAt(key2, 0), keyHalvesAt(key2, 1)];
}

/** keys[index] of a 256-byte key2 block (views, not copies). */
export function keyHalvesAt(key2: Uint8Array, index: 0 | 1): KeyHalves {
  checkKey2(key2);
  return {
    cipher: key2.subarray(index * KEY_SIZE, index * KEY_SIZE + KEY_CIPHER_PART_SIZE),
    hmac: key2.subarray(index * KEY_SIZE + KEY_CIPHER_PART_SIZE, (index + 1) * KEY_SIZE),
  };
}

/** Which of keys[0] and keys[1] a side with `direction` sends (or receives) with. */
export function keyIndexFor(direction: KeyDirection, use: 'send' | 'receive'): 0 | 1 {
  return (direction === 'normal') === (use === 'send') ? 0 : 1;
}

/**
 * Which of the two keys each side sends with (crypto.c key_direction_state_init). OpenVPN picks
 * KEY_DIRECTION_NORMAL (send with keys[0], receive with keys[1]) for a tls-crypt server and for
 * a data-channel client, and KEY_DIRECTION_INVERSE for the other side of each.
 */
export type KeyDirection = 'normal' | 'inverse';

export function directionalKeys(
  key2: Uint8Array,
  direction: KeyDirection,
): { send: KeyHalves; receive: KeyHalves } {
  return {
    send: keyHalvesAt(key2, keyIndexFor(direction, 'send')),
    receive: keyHalvesAt(key2, keyIndexFor(direction, 'receive')),
  };
}

function checkKey2(key: Uint8Array): void {
  if (key.length !== KEY2_SIZE) {
    throw new PosternError(
      'CRYPTO_BAD_KEY_SIZE',
      `an OpenVPN key2 block is ${KEY2_SIZE} bytes, got ${key.length}`,
    );
  }
}
