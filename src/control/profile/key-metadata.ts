// The tls-crypt-v2 metadata Postern puts in each profile's client key: who the key was issued to
// and with which certificate. The gateway reads it when it unwraps a client's key, before any
// TLS, and can refuse a revoked user's key right there.
import type { TlsCryptV2Metadata } from '../../crypto/tls-crypt-v2.js';

export interface ProfileKeyOwner {
  user: string;
  /** The client certificate serial the profile was exported with. */
  serial: string;
}

/** Metadata of type USER holding `{"user":NAME,"serial":SERIAL}` as UTF-8 JSON. */
export function profileKeyMetadata(owner: ProfileKeyOwner): TlsCryptV2Metadata {
  const json = JSON.stringify({ user: owner.user, serial: owner.serial });
  return { type: 'user', data: new Uint8Array(Buffer.from(json, 'utf8')) };
}

/** The owner named by a client key's metadata, or undefined when it is not Postern's form. */
export function readProfileKeyOwner(metadata: TlsCryptV2Metadata): ProfileKeyOwner | undefined {
  if (metadata.type !== 'user') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(metadata.data).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { user, serial } = value as Record<string, unknown>;
  if (typeof user !== 'string' || typeof serial !== 'string') return undefined;
  return { user, serial };
}
