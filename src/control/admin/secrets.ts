// Password hashes (argon2id) and TOTP secrets for users. Passwords are never stored, logged or
// put in a profile; only the hash is kept.
import { hash, verify } from '@node-rs/argon2';
import otplib from 'otplib';

// @node-rs/argon2's Algorithm is a const enum, which isolated modules cannot read: 2 is Argon2id.
const ARGON2ID = 2;

export async function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 });
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

export interface TotpEnrolment {
  secret: string;
  uri: string;
}

export function newTotp(user: string, issuer: string): TotpEnrolment {
  const secret = otplib.authenticator.generateSecret(20);
  return { secret, uri: otplib.authenticator.keyuri(user, issuer, secret) };
}
