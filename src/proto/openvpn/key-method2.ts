// The key method 2 message: the first plaintext each side writes into the TLS tunnel.
//
//   uint32   0                      literal zero (a relic of key method 1)
//   uint8    key method | flags     low 4 bits = 2
//   [48]     pre_master             client only
//   [32]     random1
//   [32]     random2
//   string   options                the OCC options string ("V4,dev-type tun,...")
//   string   username               optional at the end
//   string   password               optional at the end
//   string   peer_info              optional at the end ("IV_VER=...\nIV_PROTO=...\n")
//
// A string is a uint16 big-endian length that counts a trailing NUL, then that many bytes; length
// 0 means "no string" (ssl.c write_string / write_empty_string / read_string). The random values
// feed the TLS-PRF key derivation when TLS-EKM is not negotiated.
//
// The message has no length of its own: OpenVPN relies on it arriving as one TLS read. A decode
// that runs out of bytes says 'truncated', so a caller can wait for more TLS plaintext.

import { KEY_METHOD_2, KEY_METHOD_MASK, TLS_OPTIONS_LEN } from './constants.js';
import { PosternError } from '../../errors.js';

const PREFIX_BYTES = 4;
const KEY_METHOD_BYTES = 1;
export const PRE_MASTER_BYTES = 48;
export const RANDOM_BYTES = 32;
const STRING_LENGTH_BYTES = 2;
const MAX_STRING_LENGTH = 0xffff;

export type KeyMethod2Sender = 'client' | 'server';

export interface KeyMethod2Message {
  /** 48 bytes, present when the client sent the message. */
  preMaster?: Uint8Array;
  random1: Uint8Array;
  random2: Uint8Array;
  /** OCC options string, e.g. "V4,dev-type tun,link-mtu 1559,...". */
  options: string;
  username?: string;
  password?: string;
  /** Newline-separated IV_/UV_ variables; see peer-info.ts. */
  peerInfo?: string;
}

export type KeyMethod2Failure =
  | 'truncated' // ran out of bytes inside a field
  | 'bad-prefix' // the leading uint32 is not zero
  | 'bad-key-method' // low 4 bits of the method byte are not 2
  | 'options-too-long' // longer than OpenVPN's TLS_OPTIONS_LEN
  | 'bad-utf8'; // username or password is not valid UTF-8

export type KeyMethod2Decoded =
  | {
      ok: true;
      message: KeyMethod2Message;
      /** Upper bits of the key method byte (no flags are defined in 2.6). */
      keyMethodFlags: number;
      /** Bytes after peer_info; OpenVPN ignores them. */
      trailingBytes: number;
    }
  | { ok: false; reason: KeyMethod2Failure; detail: string };

export interface KeyMethod2DecodeOptions {
  /** Who wrote the message: only a client's carries pre_master. */
  from: KeyMethod2Sender;
  /** Longest accepted options string, NUL included. Default 512 (`TLS_OPTIONS_LEN`). */
  maxOptionsBytes?: number;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

function stringField(name: string, value: string | undefined): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (value.includes('\0')) {
    throw new PosternError('OVPN_KM2_BAD_FIELD', `key method 2 ${name} must not contain NUL`);
  }
  const bytes = utf8.encode(value);
  if (bytes.length + 1 > MAX_STRING_LENGTH) {
    throw new PosternError('OVPN_KM2_BAD_FIELD', `key method 2 ${name} is too long`);
  }
  return bytes;
}

function fixedField(name: string, value: Uint8Array | undefined, size: number): Uint8Array {
  if (value === undefined || value.length !== size) {
    throw new PosternError('OVPN_KM2_BAD_FIELD', `key method 2 ${name} must be ${size} bytes`);
  }
  return value;
}

/** Serializes a key method 2 message as `sender` writes it. Throws on our own bad input. */
export function encodeKeyMethod2(message: KeyMethod2Message, sender: KeyMethod2Sender): Uint8Array {
  const preMaster =
    sender === 'client' ? fixedField('pre_master', message.preMaster, PRE_MASTER_BYTES) : undefined;
  if (sender === 'server' && message.preMaster !== undefined) {
    throw new PosternError('OVPN_KM2_BAD_FIELD', 'a server key method 2 message has no pre_master');
  }
  const random1 = fixedField('random1', message.random1, RANDOM_BYTES);
  const random2 = fixedField('random2', message.random2, RANDOM_BYTES);
  const options = stringField('options', message.options);
  if (options.length + 1 > TLS_OPTIONS_LEN) {
    throw new PosternError(
      'OVPN_KM2_BAD_FIELD',
      `key method 2 options string exceeds ${TLS_OPTIONS_LEN - 1} bytes`,
    );
  }
  const strings = [
    options,
    stringField('username', message.username),
    stringField('password', message.password),
    stringField('peer_info', message.peerInfo),
  ];
  const present = [
    true,
    message.username !== undefined,
    message.password !== undefined,
    message.peerInfo !== undefined,
  ];

  let size = PREFIX_BYTES + KEY_METHOD_BYTES + (preMaster?.length ?? 0) + 2 * RANDOM_BYTES;
  strings.forEach((s, i) => {
    size += STRING_LENGTH_BYTES + (present[i] ? s.length + 1 : 0);
  });
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  view.setUint32(off, 0);
  off += PREFIX_BYTES;
  view.setUint8(off, KEY_METHOD_2);
  off += KEY_METHOD_BYTES;
  for (const fixed of [preMaster, random1, random2]) {
    if (fixed === undefined) continue;
    out.set(fixed, off);
    off += fixed.length;
  }
  strings.forEach((s, i) => {
    if (!present[i]) {
      view.setUint16(off, 0);
      off += STRING_LENGTH_BYTES;
      return;
    }
    view.setUint16(off, s.length + 1);
    off += STRING_LENGTH_BYTES;
    out.set(s, off);
    off += s.length + 1; // the NUL is already zero
  });
  return out;
}

type StringRead =
  { ok: true; bytes: Uint8Array | undefined; next: number } | { ok: false; detail: string };

/** Reads a length-prefixed string; at the very end of input it is absent. */
function readString(view: DataView, bytes: Uint8Array, off: number, name: string): StringRead {
  if (off === bytes.length) return { ok: true, bytes: undefined, next: off };
  if (off + STRING_LENGTH_BYTES > bytes.length) {
    return { ok: false, detail: `${name}: length cut short` };
  }
  const len = view.getUint16(off);
  off += STRING_LENGTH_BYTES;
  if (len === 0) return { ok: true, bytes: undefined, next: off };
  if (off + len > bytes.length) {
    return { ok: false, detail: `${name}: ${len} bytes declared, ${bytes.length - off} present` };
  }
  // The last byte is the terminator; like the C reader, the value ends at the first NUL.
  const body = bytes.subarray(off, off + len - 1);
  const nul = body.indexOf(0);
  return { ok: true, bytes: nul >= 0 ? body.subarray(0, nul) : body, next: off + len };
}

/** Parses a key method 2 message. Never throws: bad input yields `{ ok: false, reason }`. */
export function decodeKeyMethod2(
  bytes: Uint8Array,
  options: KeyMethod2DecodeOptions,
): KeyMethod2Decoded {
  const maxOptionsBytes = options.maxOptionsBytes ?? TLS_OPTIONS_LEN;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fixedLength =
    PREFIX_BYTES +
    KEY_METHOD_BYTES +
    (options.from === 'client' ? PRE_MASTER_BYTES : 0) +
    2 * RANDOM_BYTES;

  if (bytes.length < PREFIX_BYTES + KEY_METHOD_BYTES) {
    return { ok: false, reason: 'truncated', detail: `${bytes.length} bytes, header needs 5` };
  }
  if (view.getUint32(0) !== 0) {
    return { ok: false, reason: 'bad-prefix', detail: 'leading uint32 is not 0' };
  }
  const methodByte = view.getUint8(PREFIX_BYTES);
  if ((methodByte & KEY_METHOD_MASK) !== KEY_METHOD_2) {
    return {
      ok: false,
      reason: 'bad-key-method',
      detail: `key method ${methodByte & KEY_METHOD_MASK}, expected ${KEY_METHOD_2}`,
    };
  }
  if (bytes.length < fixedLength) {
    return {
      ok: false,
      reason: 'truncated',
      detail: `${bytes.length} bytes, key material needs ${fixedLength}`,
    };
  }
  let off = PREFIX_BYTES + KEY_METHOD_BYTES;
  let preMaster: Uint8Array | undefined;
  if (options.from === 'client') {
    preMaster = bytes.slice(off, off + PRE_MASTER_BYTES);
    off += PRE_MASTER_BYTES;
  }
  const random1 = bytes.slice(off, off + RANDOM_BYTES);
  off += RANDOM_BYTES;
  const random2 = bytes.slice(off, off + RANDOM_BYTES);
  off += RANDOM_BYTES;

  if (off === bytes.length) {
    return { ok: false, reason: 'truncated', detail: 'options string missing' };
  }
  if (off + STRING_LENGTH_BYTES <= bytes.length && view.getUint16(off) > maxOptionsBytes) {
    return {
      ok: false,
      reason: 'options-too-long',
      detail: `options string of ${view.getUint16(off)} bytes, limit ${maxOptionsBytes}`,
    };
  }
  const fields: (Uint8Array | undefined)[] = [];
  for (const name of ['options', 'username', 'password', 'peer_info']) {
    const read = readString(view, bytes, off, name);
    if (!read.ok) return { ok: false, reason: 'truncated', detail: read.detail };
    fields.push(read.bytes);
    off = read.next;
  }
  const [optionBytes, usernameBytes, passwordBytes, peerInfoBytes] = fields;

  const message: KeyMethod2Message = {
    random1,
    random2,
    options: optionBytes === undefined ? '' : lenientUtf8.decode(optionBytes),
  };
  if (preMaster !== undefined) message.preMaster = preMaster;
  try {
    if (usernameBytes !== undefined) message.username = strictUtf8.decode(usernameBytes);
    if (passwordBytes !== undefined) message.password = strictUtf8.decode(passwordBytes);
  } catch {
    return { ok: false, reason: 'bad-utf8', detail: 'username or password is not UTF-8' };
  }
  if (peerInfoBytes !== undefined) message.peerInfo = lenientUtf8.decode(peerInfoBytes);
  return {
    ok: true,
    message,
    keyMethodFlags: methodByte & ~KEY_METHOD_MASK,
    trailingBytes: bytes.length - off,
  };
}
