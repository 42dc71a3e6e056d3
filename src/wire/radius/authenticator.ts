// The RADIUS shared-secret arithmetic: User-Password hiding (RFC 2865 §5.2), the Response
// Authenticator (§3), the Accounting-Request Authenticator (RFC 2866 §3) and the
// Message-Authenticator HMAC (RFC 3579 §3.2). Pure functions of bytes and the secret.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { PosternError } from '../../errors.js';
import {
  Attr,
  AUTHENTICATOR_OFFSET,
  AUTHENTICATOR_SIZE,
  HEADER_SIZE,
  MAX_PASSWORD,
  MESSAGE_AUTHENTICATOR_SIZE,
  PASSWORD_BLOCK,
  ATTRIBUTE_HEADER_SIZE,
} from './constants.js';
import { encodePacket, type RadiusPacket } from './packet.js';

const md5 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

const equal = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && timingSafeEqual(a, b);

/** c(i) = p(i) xor MD5(S + c(i-1)), c(0) chained from the Request Authenticator. */
export function hidePassword(
  password: Uint8Array,
  secret: Uint8Array,
  requestAuthenticator: Uint8Array,
): Uint8Array {
  if (password.length > MAX_PASSWORD) {
    throw new PosternError('RADIUS_ENCODE', 'a RADIUS password is at most 128 octets');
  }
  const blocks = Math.max(1, Math.ceil(password.length / PASSWORD_BLOCK));
  const out = new Uint8Array(blocks * PASSWORD_BLOCK);
  out.set(password);
  let chain = requestAuthenticator;
  for (let i = 0; i < out.length; i += PASSWORD_BLOCK) {
    const pad = md5(secret, chain);
    for (let j = 0; j < PASSWORD_BLOCK; j++) out[i + j] = (out[i + j] ?? 0) ^ (pad[j] ?? 0);
    chain = out.slice(i, i + PASSWORD_BLOCK);
  }
  return out;
}

/** The inverse of hidePassword; trailing NUL padding is removed. */
export function revealPassword(
  hidden: Uint8Array,
  secret: Uint8Array,
  requestAuthenticator: Uint8Array,
): Uint8Array | undefined {
  if (hidden.length === 0 || hidden.length % PASSWORD_BLOCK !== 0) return undefined;
  const out = new Uint8Array(hidden.length);
  let chain = requestAuthenticator;
  for (let i = 0; i < hidden.length; i += PASSWORD_BLOCK) {
    const pad = md5(secret, chain);
    for (let j = 0; j < PASSWORD_BLOCK; j++) out[i + j] = (hidden[i + j] ?? 0) ^ (pad[j] ?? 0);
    chain = hidden.subarray(i, i + PASSWORD_BLOCK);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end);
}

/** MD5(Code + Identifier + Length + `authenticator` + Attributes + Secret) over encoded bytes. */
function digestWith(
  encoded: Uint8Array,
  authenticator: Uint8Array,
  secret: Uint8Array,
): Uint8Array {
  return md5(
    encoded.subarray(0, AUTHENTICATOR_OFFSET),
    authenticator,
    encoded.subarray(HEADER_SIZE),
    secret,
  );
}

/** Accounting-Request: the authenticator is the MD5 over the packet with 16 zero octets in it. */
export function signAccountingRequest(
  p: Omit<RadiusPacket, 'authenticator'>,
  secret: Uint8Array,
): Uint8Array {
  const zero = new Uint8Array(AUTHENTICATOR_SIZE);
  const draft = encodePacket({ ...p, authenticator: zero });
  draft.set(digestWith(draft, zero, secret), AUTHENTICATOR_OFFSET);
  return draft;
}

export function verifyAccountingRequest(encoded: Uint8Array, secret: Uint8Array): boolean {
  if (encoded.length < HEADER_SIZE) return false;
  const got = encoded.subarray(AUTHENTICATOR_OFFSET, AUTHENTICATOR_OFFSET + AUTHENTICATOR_SIZE);
  return equal(got, digestWith(encoded, new Uint8Array(AUTHENTICATOR_SIZE), secret));
}

/** A server's reply: its authenticator is the MD5 keyed with the request's authenticator. */
export function signResponse(
  p: Omit<RadiusPacket, 'authenticator'>,
  requestAuthenticator: Uint8Array,
  secret: Uint8Array,
): Uint8Array {
  const draft = encodePacket({ ...p, authenticator: requestAuthenticator });
  draft.set(digestWith(draft, requestAuthenticator, secret), AUTHENTICATOR_OFFSET);
  return draft;
}

export function verifyResponse(
  encoded: Uint8Array,
  requestAuthenticator: Uint8Array,
  secret: Uint8Array,
): boolean {
  if (encoded.length < HEADER_SIZE) return false;
  const got = encoded.subarray(AUTHENTICATOR_OFFSET, AUTHENTICATOR_OFFSET + AUTHENTICATOR_SIZE);
  return equal(got, digestWith(encoded, requestAuthenticator, secret));
}

/** Where the Message-Authenticator value sits in an encoded packet, if it has one. */
function messageAuthenticatorOffset(encoded: Uint8Array): number | undefined {
  let at = HEADER_SIZE;
  while (at + ATTRIBUTE_HEADER_SIZE <= encoded.length) {
    const type = encoded[at] ?? 0;
    const len = encoded[at + 1] ?? 0;
    if (len < ATTRIBUTE_HEADER_SIZE || at + len > encoded.length) return undefined;
    if (
      type === Attr.MessageAuthenticator &&
      len === ATTRIBUTE_HEADER_SIZE + MESSAGE_AUTHENTICATOR_SIZE
    ) {
      return at + ATTRIBUTE_HEADER_SIZE;
    }
    at += len;
  }
  return undefined;
}

/** A Message-Authenticator attribute of zeros, to be filled by fillMessageAuthenticator. */
export const messageAuthenticatorPlaceholder = () => ({
  type: Attr.MessageAuthenticator,
  value: new Uint8Array(MESSAGE_AUTHENTICATOR_SIZE),
});

/**
 * HMAC-MD5 over the packet with the Message-Authenticator zeroed and `authenticator` in the
 * header (the packet's own for a request, the request's for a reply). Fills it in place.
 */
export function fillMessageAuthenticator(
  encoded: Uint8Array,
  authenticator: Uint8Array,
  secret: Uint8Array,
): boolean {
  const at = messageAuthenticatorOffset(encoded);
  if (at === undefined) return false;
  encoded.set(messageAuthenticatorHmac(encoded, at, authenticator, secret), at);
  return true;
}

function messageAuthenticatorHmac(
  encoded: Uint8Array,
  at: number,
  authenticator: Uint8Array,
  secret: Uint8Array,
): Uint8Array {
  const copy = encoded.slice();
  copy.set(authenticator, AUTHENTICATOR_OFFSET);
  copy.fill(0, at, at + MESSAGE_AUTHENTICATOR_SIZE);
  return new Uint8Array(createHmac('md5', secret).update(copy).digest());
}

/** 'absent' when the packet carries none; otherwise whether it is right. */
export function checkMessageAuthenticator(
  encoded: Uint8Array,
  authenticator: Uint8Array,
  secret: Uint8Array,
): 'absent' | 'valid' | 'invalid' {
  const at = messageAuthenticatorOffset(encoded);
  if (at === undefined) return 'absent';
  const got = encoded.subarray(at, at + MESSAGE_AUTHENTICATOR_SIZE);
  return equal(got, messageAuthenticatorHmac(encoded, at, authenticator, secret))
    ? 'valid'
    : 'invalid';
}
