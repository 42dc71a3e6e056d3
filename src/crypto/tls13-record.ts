// TLS 1.3 record protection (RFC 8446 5.2-5.3, keys from 7.3) for an established session whose
// handshake was done elsewhere: given the two application traffic secrets and the sequence
// numbers reached so far, this seals application data for the peer and opens the peer's records.
// The gateway uses it to carry on an OpenVPN control channel after freeing OpenSSL's per-session
// state; such a channel only ever carries a few small application-data records more.
//
// Only what a finished, ticketless, KeyUpdate-free session needs is here: application data both
// ways, and alerts from the peer (close_notify ends the stream quietly, any other is fatal). A
// post-handshake handshake message (KeyUpdate, NewSessionTicket, CertificateRequest) cannot be
// followed without the handshake state, so it ends the session with TLS_POST_HANDSHAKE_UNSUPPORTED.
//
//   TLSCiphertext: opaque_type (23) | legacy_record_version (0x0303) | length (uint16)
//                  | encrypted_record[length]
//   TLSInnerPlaintext: content | ContentType type | uint8 zeros[padding]
//   nonce = iv XOR (64-bit sequence number, left-padded to the iv length); AAD = the 5-byte header
import { createHmac } from 'node:crypto';
import { PosternError } from '../errors.js';
import { AEAD_NONCE_SIZE, AEAD_TAG_SIZE, aeadOpen, aeadSeal } from './aead.js';
import type { AeadAlgorithm } from './aead.js';

export type Tls13Suite =
  'TLS_AES_128_GCM_SHA256' | 'TLS_AES_256_GCM_SHA384' | 'TLS_CHACHA20_POLY1305_SHA256';

interface SuiteParams {
  aead: AeadAlgorithm;
  hash: 'sha256' | 'sha384';
  hashSize: number;
  keySize: number;
}

const SUITES: Readonly<Record<Tls13Suite, SuiteParams>> = {
  TLS_AES_128_GCM_SHA256: { aead: 'AES-128-GCM', hash: 'sha256', hashSize: 32, keySize: 16 },
  TLS_AES_256_GCM_SHA384: { aead: 'AES-256-GCM', hash: 'sha384', hashSize: 48, keySize: 32 },
  TLS_CHACHA20_POLY1305_SHA256: {
    aead: 'CHACHA20-POLY1305',
    hash: 'sha256',
    hashSize: 32,
    keySize: 32,
  },
};

export function isTls13Suite(name: string): name is Tls13Suite {
  return Object.prototype.hasOwnProperty.call(SUITES, name);
}

/** RFC 8446 5.1: ContentType. */
const CONTENT_CHANGE_CIPHER_SPEC = 20;
const CONTENT_ALERT = 21;
const CONTENT_HANDSHAKE = 22;
const CONTENT_APPLICATION_DATA = 23;
/** legacy_record_version of every TLS 1.3 record after the ClientHello. */
const LEGACY_RECORD_VERSION = 0x0303;
/** type (1) + legacy_record_version (2) + length (2). */
export const TLS_RECORD_HEADER_SIZE = 5;
const HEADER_TYPE_OFFSET = 0;
const HEADER_VERSION_OFFSET = 1;
const HEADER_LENGTH_OFFSET = 3;
/** 2^14: the most plaintext one record carries. */
export const TLS_MAX_PLAINTEXT = 16384;
/** 2^14 + 256: the most an encrypted_record may hold (RFC 8446 5.2). */
const MAX_CIPHERTEXT = TLS_MAX_PLAINTEXT + 256;
/** An encrypted_record holds at least the inner content type and the tag. */
const MIN_CIPHERTEXT = 1 + AEAD_TAG_SIZE;
/** The sequence number occupies the last 8 bytes of the nonce. */
const SEQUENCE_SIZE = 8;
const SEQUENCE_OFFSET = AEAD_NONCE_SIZE - SEQUENCE_SIZE;
const TWO_POW_32 = 0x1_0000_0000;
/** Alert: level (1) + description (1). */
const ALERT_SIZE = 2;
const ALERT_LEVEL_FATAL = 2;
/** RFC 8446 6: AlertDescription values we send or treat specially. */
export const TlsAlert = {
  closeNotify: 0,
  unexpectedMessage: 10,
  badRecordMac: 20,
  recordOverflow: 22,
  decodeError: 50,
  internalError: 80,
  userCanceled: 90,
} as const;

const HKDF_LABEL_PREFIX = 'tls13 ';
const UINT16_MAX = 0xffff;
const UINT8_MAX = 0xff;

/**
 * HKDF-Expand-Label(secret, label, context, length) of RFC 8446 7.1: HKDF-Expand (RFC 5869 2.3)
 * with the info `uint16 length | opaque label<7..255> = "tls13 " + label | opaque context<0..255>`.
 */
export function hkdfExpandLabel(
  hash: 'sha256' | 'sha384',
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const fullLabel = new TextEncoder().encode(HKDF_LABEL_PREFIX + label);
  if (length > UINT16_MAX || fullLabel.length > UINT8_MAX || context.length > UINT8_MAX) {
    throw new PosternError('CRYPTO_BAD_ARGUMENT', 'HKDF-Expand-Label argument out of range');
  }
  const info = new Uint8Array(2 + 1 + fullLabel.length + 1 + context.length);
  const view = new DataView(info.buffer);
  view.setUint16(0, length);
  info[2] = fullLabel.length;
  info.set(fullLabel, 3);
  info[3 + fullLabel.length] = context.length;
  info.set(context, 4 + fullLabel.length);
  // HKDF-Expand: T(i) = HMAC(PRK, T(i-1) | info | i), output = T(1) | T(2) | ... truncated.
  const out = new Uint8Array(length);
  let previous = new Uint8Array(0);
  for (let filled = 0, counter = 1; filled < length; counter++) {
    const block = createHmac(hash, secret)
      .update(previous)
      .update(info)
      .update(Uint8Array.of(counter))
      .digest();
    previous = new Uint8Array(block);
    out.set(previous.subarray(0, Math.min(previous.length, length - filled)), filled);
    filled += previous.length;
  }
  previous.fill(0);
  return out;
}

/** Bytes held for nothing: a shared empty buffer, so that each session does not hold its own. */
const NO_BYTES = new Uint8Array(0);

/**
 * One direction's traffic key: the AEAD key and the static iv, in one buffer, and the next
 * sequence number. The key stays raw bytes (a cipher is built per record): an idle session
 * exchanges a record now and then, and raw bytes cost far less memory than a KeyObject.
 */
class TrafficKey {
  private readonly aead: AeadAlgorithm;
  /** key || iv. */
  private readonly material: Uint8Array;
  private readonly keySize: number;
  private sequence: number;

  constructor(params: SuiteParams, secret: Uint8Array, sequence: number) {
    if (secret.length !== params.hashSize) {
      throw new PosternError(
        'CRYPTO_BAD_KEY_SIZE',
        `a traffic secret of this suite is ${params.hashSize} bytes, got ${secret.length}`,
      );
    }
    if (!Number.isSafeInteger(sequence) || sequence < 0) {
      throw new PosternError('CRYPTO_BAD_ARGUMENT', `bad record sequence number ${sequence}`);
    }
    const key = hkdfExpandLabel(params.hash, secret, 'key', NO_BYTES, params.keySize);
    const iv = hkdfExpandLabel(params.hash, secret, 'iv', NO_BYTES, AEAD_NONCE_SIZE);
    this.aead = params.aead;
    this.keySize = params.keySize;
    this.material = new Uint8Array(params.keySize + AEAD_NONCE_SIZE);
    this.material.set(key, 0);
    this.material.set(iv, params.keySize);
    key.fill(0);
    iv.fill(0);
    this.sequence = sequence;
  }

  /** The nonce of the next record, and the sequence number moves on; undefined once spent. */
  private nextNonce(): Uint8Array | undefined {
    const sequence = this.sequence;
    // 2^53 records will never be sent on a control channel; stopping there keeps this exact.
    if (!Number.isSafeInteger(sequence + 1)) return undefined;
    this.sequence = sequence + 1;
    const nonce = this.material.slice(this.keySize);
    const view = new DataView(nonce.buffer);
    const high = Math.floor(sequence / TWO_POW_32);
    const low = sequence % TWO_POW_32;
    view.setUint32(SEQUENCE_OFFSET, view.getUint32(SEQUENCE_OFFSET) ^ high);
    view.setUint32(SEQUENCE_OFFSET + 4, view.getUint32(SEQUENCE_OFFSET + 4) ^ low);
    return nonce;
  }

  seal(header: Uint8Array, inner: Uint8Array): Uint8Array | undefined {
    const nonce = this.nextNonce();
    if (nonce === undefined) return undefined;
    const sealed = aeadSeal(this.aead, this.key(), nonce, header, inner);
    const record = new Uint8Array(header.length + sealed.ciphertext.length + AEAD_TAG_SIZE);
    record.set(header, 0);
    record.set(sealed.ciphertext, header.length);
    record.set(sealed.tag, header.length + sealed.ciphertext.length);
    return record;
  }

  open(header: Uint8Array, encrypted: Uint8Array): Uint8Array | undefined {
    const nonce = this.nextNonce();
    if (nonce === undefined) return undefined;
    const split = encrypted.length - AEAD_TAG_SIZE;
    const ciphertext = encrypted.subarray(0, split);
    return aeadOpen(this.aead, this.key(), nonce, header, ciphertext, encrypted.subarray(split));
  }

  private key(): Uint8Array {
    return this.material.subarray(0, this.keySize);
  }
}

/** Where a session stands when its record protection is taken over. */
export interface Tls13RecordState {
  suite: Tls13Suite;
  /** The peer's application traffic secret (what we read with). Zeroed by the constructor. */
  readSecret: Uint8Array;
  /** Our application traffic secret (what we write with). Zeroed by the constructor. */
  writeSecret: Uint8Array;
  /** Records already read with readSecret's key: the next record's sequence number. */
  readSeq: number;
  /** Records already written with writeSecret's key. */
  writeSeq: number;
}

export interface Tls13Failure {
  code: string;
  message: string;
  /** The alert to send the peer, if any (sealAlert), before giving up. */
  alert: number | undefined;
}

export type Tls13OpenResult =
  /** `plaintext`: application data in order, one entry per record that carried any. */
  | { kind: 'ok'; plaintext: Uint8Array[]; peerClosed: boolean }
  /** The records before the bad one still count: their plaintext comes with the error. */
  | ({ kind: 'error'; plaintext: Uint8Array[] } & Tls13Failure);

/**
 * The record layer of one established TLS 1.3 session. `open` parses a byte stream: records may
 * be cut anywhere or arrive several at once. After an error or the peer's close_notify, `open`
 * returns nothing more.
 */
export class Tls13RecordLayer {
  private readonly reader: TrafficKey;
  private readonly writer: TrafficKey;
  /** Bytes of a record not yet complete (never more than one record). */
  private partial: Uint8Array = NO_BYTES;
  private readDone = false;

  constructor(state: Tls13RecordState) {
    const params = SUITES[state.suite];
    if (params === undefined) {
      throw new PosternError('CRYPTO_BAD_ALGORITHM', `unsupported TLS 1.3 suite ${state.suite}`);
    }
    try {
      this.reader = new TrafficKey(params, state.readSecret, state.readSeq);
      this.writer = new TrafficKey(params, state.writeSecret, state.writeSeq);
    } finally {
      state.readSecret.fill(0);
      state.writeSecret.fill(0);
    }
  }

  /**
   * `plaintext` as application-data records, one per 2^14 bytes (one record for OpenVPN's small
   * control messages); no padding. Throws only once the sequence numbers are spent.
   */
  seal(plaintext: Uint8Array): Uint8Array {
    const records: Uint8Array[] = [];
    for (let offset = 0; offset < plaintext.length; offset += TLS_MAX_PLAINTEXT) {
      const content = plaintext.subarray(offset, offset + TLS_MAX_PLAINTEXT);
      records.push(this.sealRecord(CONTENT_APPLICATION_DATA, content));
    }
    return concat(records);
  }

  /** A fatal alert record (an encrypted alert, as RFC 8446 6 requires after the handshake). */
  sealAlert(description: number): Uint8Array {
    const level = description === TlsAlert.closeNotify ? 1 : ALERT_LEVEL_FATAL;
    return this.sealRecord(CONTENT_ALERT, Uint8Array.of(level, description));
  }

  /** Bytes from the peer, in order, cut anywhere. */
  open(bytes: Uint8Array): Tls13OpenResult {
    const plaintext: Uint8Array[] = [];
    if (this.readDone) return { kind: 'ok', plaintext, peerClosed: true };
    let input = this.partial.length === 0 ? bytes : concat([this.partial, bytes]);
    this.partial = NO_BYTES;
    while (input.length >= TLS_RECORD_HEADER_SIZE) {
      const view = new DataView(input.buffer, input.byteOffset, input.length);
      const type = view.getUint8(HEADER_TYPE_OFFSET);
      const version = view.getUint16(HEADER_VERSION_OFFSET);
      const length = view.getUint16(HEADER_LENGTH_OFFSET);
      const failure = checkHeader(type, version, length);
      if (failure !== undefined) return this.fail(plaintext, failure);
      if (input.length < TLS_RECORD_HEADER_SIZE + length) break;
      const header = input.subarray(0, TLS_RECORD_HEADER_SIZE);
      const encrypted = input.subarray(TLS_RECORD_HEADER_SIZE, TLS_RECORD_HEADER_SIZE + length);
      input = input.subarray(TLS_RECORD_HEADER_SIZE + length);
      const inner = this.reader.open(header, encrypted);
      if (inner === undefined) {
        return this.fail(plaintext, {
          code: 'TLS_BAD_RECORD_MAC',
          message: 'a TLS record did not authenticate',
          alert: TlsAlert.badRecordMac,
        });
      }
      const outcome = readInnerPlaintext(inner);
      if (outcome.kind === 'failure') return this.fail(plaintext, outcome);
      if (outcome.kind === 'data') {
        if (outcome.content.length > 0) plaintext.push(outcome.content);
      } else if (outcome.kind === 'close') {
        this.readDone = true;
        return { kind: 'ok', plaintext, peerClosed: true };
      }
    }
    // Keep the tail in its own buffer, so that the caller's bytes are not held.
    if (input.length > 0) this.partial = new Uint8Array(input);
    return { kind: 'ok', plaintext, peerClosed: false };
  }

  private sealRecord(type: number, content: Uint8Array): Uint8Array {
    const inner = new Uint8Array(content.length + 1);
    inner.set(content, 0);
    inner[content.length] = type;
    const header = new Uint8Array(TLS_RECORD_HEADER_SIZE);
    const view = new DataView(header.buffer);
    view.setUint8(HEADER_TYPE_OFFSET, CONTENT_APPLICATION_DATA);
    view.setUint16(HEADER_VERSION_OFFSET, LEGACY_RECORD_VERSION);
    view.setUint16(HEADER_LENGTH_OFFSET, inner.length + AEAD_TAG_SIZE);
    const record = this.writer.seal(header, inner);
    if (record === undefined) {
      throw new PosternError('TLS_SEQUENCE_EXHAUSTED', 'the TLS write sequence numbers are spent');
    }
    return record;
  }

  private fail(plaintext: Uint8Array[], failure: Tls13Failure): Tls13OpenResult {
    this.readDone = true;
    this.partial = NO_BYTES;
    return {
      kind: 'error',
      plaintext,
      code: failure.code,
      message: failure.message,
      alert: failure.alert,
    };
  }
}

function checkHeader(type: number, version: number, length: number): Tls13Failure | undefined {
  if (type !== CONTENT_APPLICATION_DATA) {
    return {
      code: 'TLS_UNEXPECTED_RECORD',
      message: `a TLS record of type ${type} after the handshake`,
      alert: TlsAlert.unexpectedMessage,
    };
  }
  if (version !== LEGACY_RECORD_VERSION) {
    return {
      code: 'TLS_BAD_RECORD_VERSION',
      message: `a TLS record with version 0x${version.toString(16)}`,
      alert: TlsAlert.decodeError,
    };
  }
  if (length > MAX_CIPHERTEXT) {
    return {
      code: 'TLS_RECORD_OVERFLOW',
      message: `a TLS record of ${length} bytes`,
      alert: TlsAlert.recordOverflow,
    };
  }
  if (length < MIN_CIPHERTEXT) {
    return {
      code: 'TLS_BAD_RECORD_LENGTH',
      message: `a TLS record of ${length} bytes cannot hold a content type and a tag`,
      alert: TlsAlert.decodeError,
    };
  }
  return undefined;
}

type InnerOutcome =
  | { kind: 'data'; content: Uint8Array }
  | { kind: 'close' }
  | { kind: 'ignored' }
  | ({ kind: 'failure' } & Tls13Failure);

/** Strips the zero padding, then acts on the content type (RFC 8446 5.4). */
function readInnerPlaintext(inner: Uint8Array): InnerOutcome {
  let end = inner.length;
  while (end > 0 && inner[end - 1] === 0) end--;
  if (end === 0) {
    return {
      kind: 'failure',
      code: 'TLS_UNEXPECTED_RECORD',
      message: 'a TLS record of padding only',
      alert: TlsAlert.unexpectedMessage,
    };
  }
  const type = inner[end - 1] as number;
  const content = inner.subarray(0, end - 1);
  if (content.length > TLS_MAX_PLAINTEXT) {
    return {
      kind: 'failure',
      code: 'TLS_RECORD_OVERFLOW',
      message: `a TLS record with ${content.length} bytes of plaintext`,
      alert: TlsAlert.recordOverflow,
    };
  }
  switch (type) {
    case CONTENT_APPLICATION_DATA:
      return { kind: 'data', content };
    case CONTENT_ALERT:
      return readAlert(content);
    case CONTENT_HANDSHAKE:
      return {
        kind: 'failure',
        code: 'TLS_POST_HANDSHAKE_UNSUPPORTED',
        message: `a post-handshake TLS message (type ${content[0] ?? 'none'}) is not supported`,
        alert: TlsAlert.unexpectedMessage,
      };
    case CONTENT_CHANGE_CIPHER_SPEC:
    default:
      return {
        kind: 'failure',
        code: 'TLS_UNEXPECTED_RECORD',
        message: `a protected TLS record of content type ${type}`,
        alert: TlsAlert.unexpectedMessage,
      };
  }
}

function readAlert(content: Uint8Array): InnerOutcome {
  if (content.length !== ALERT_SIZE) {
    return {
      kind: 'failure',
      code: 'TLS_BAD_ALERT',
      message: `a TLS alert of ${content.length} bytes`,
      alert: TlsAlert.decodeError,
    };
  }
  const description = content[1] as number;
  if (description === TlsAlert.closeNotify) return { kind: 'close' };
  // user_canceled is a warning that a close_notify follows (RFC 8446 6.1).
  if (description === TlsAlert.userCanceled) return { kind: 'ignored' };
  // The peer is gone: answering its alert would only be noise.
  return {
    kind: 'failure',
    code: 'TLS_PEER_ALERT',
    message: `the peer sent TLS alert ${description}`,
    alert: undefined,
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
