// Auth-tokens: after a full login the gateway pushes `auth-token`, and the client sends it as its
// password when it re-keys or reconnects, so the password need not stay in memory (auth-nocache).
// A token is short (OpenVPN clients cap passwords at 128 bytes without PKCS#11) and stateless:
// an expiry and a nonce, sealed with an HMAC over them plus the user and the certificate serial
// it was issued to. Revoking the certificate, or a new certificate, makes every old token useless.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../store/index.js';
import { getMeta } from '../store/index.js';

const TOKEN_PREFIX = 'PT1';
const EXPIRY_BYTES = 4;
const NONCE_BYTES = 8;
const MAC_BYTES = 16;
const BODY_BYTES = EXPIRY_BYTES + NONCE_BYTES;
const TOKEN_BYTES = BODY_BYTES + MAC_BYTES;
const SECRET_BYTES = 32;
const SECRET_META_KEY = 'auth-token-secret';
const MS_PER_SECOND = 1000;

/** How long a token is accepted after the login that minted it, unless told otherwise. */
export const DEFAULT_AUTH_TOKEN_LIFETIME_SEC = 8 * 3600;

export interface AuthTokenBinding {
  user: string;
  /** The serial of the client certificate the login used. */
  serial: string;
}

export type AuthTokenVerdict =
  | { ok: true; expiresAt: Date; nonce: string }
  | { ok: false; reason: 'auth-token malformed' | 'auth-token invalid' | 'auth-token expired' };

/** The per-gateway token key, created on first use and kept in the store's meta table. */
export async function authTokenSecret(db: Db): Promise<Uint8Array> {
  const fresh = randomBytes(SECRET_BYTES).toString('hex');
  // Two gateways racing on an empty store both insert-or-ignore, then read the one winner.
  await db
    .insertInto('meta')
    .values({ key: SECRET_META_KEY, value: fresh })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const stored = await getMeta(db, SECRET_META_KEY);
  return Buffer.from(stored ?? fresh, 'hex');
}

/** Whether a password looks like one of our tokens (and so must not be tried as a password). */
export function looksLikeAuthToken(password: string): boolean {
  return password.startsWith(TOKEN_PREFIX) && password.length > TOKEN_PREFIX.length;
}

function seal(secret: Uint8Array, body: Uint8Array, who: AuthTokenBinding): Buffer {
  const mac = createHmac('sha256', secret);
  mac.update(body);
  // Length-prefixed, so no user/serial pair can be re-split into another.
  for (const part of [who.user, who.serial]) {
    const bytes = Buffer.from(part, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    mac.update(len);
    mac.update(bytes);
  }
  return mac.digest().subarray(0, MAC_BYTES);
}

export function mintAuthToken(
  secret: Uint8Array,
  who: AuthTokenBinding,
  now: Date,
  lifetimeSec: number = DEFAULT_AUTH_TOKEN_LIFETIME_SEC,
): string {
  const body = Buffer.alloc(BODY_BYTES);
  body.writeUInt32BE(Math.floor(now.getTime() / MS_PER_SECOND) + lifetimeSec, 0);
  randomBytes(NONCE_BYTES).copy(body, EXPIRY_BYTES);
  const token = Buffer.concat([body, seal(secret, body, who)]);
  return TOKEN_PREFIX + token.toString('base64url');
}

export function verifyAuthToken(
  secret: Uint8Array,
  token: string,
  who: AuthTokenBinding,
  now: Date,
): AuthTokenVerdict {
  if (!looksLikeAuthToken(token)) return { ok: false, reason: 'auth-token malformed' };
  const text = token.slice(TOKEN_PREFIX.length);
  const bytes = Buffer.from(text, 'base64url');
  // Only the canonical spelling: base64's spare low bits in the last character must not give
  // one token several accepted forms.
  if (bytes.length !== TOKEN_BYTES || bytes.toString('base64url') !== text) {
    return { ok: false, reason: 'auth-token malformed' };
  }
  const body = bytes.subarray(0, BODY_BYTES);
  const mac = bytes.subarray(BODY_BYTES);
  if (!timingSafeEqual(mac, seal(secret, body, who))) {
    return { ok: false, reason: 'auth-token invalid' };
  }
  const expiresSec = body.readUInt32BE(0);
  if (now.getTime() >= expiresSec * MS_PER_SECOND) {
    return { ok: false, reason: 'auth-token expired' };
  }
  return {
    ok: true,
    expiresAt: new Date(expiresSec * MS_PER_SECOND),
    nonce: body.subarray(EXPIRY_BYTES).toString('hex'),
  };
}
