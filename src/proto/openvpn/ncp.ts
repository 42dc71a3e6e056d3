// Data-channel cipher negotiation (NCP) as an OpenVPN 2.6 server does it (ssl_ncp.c
// ncp_get_best_cipher, multi.c multi_client_set_protocol_options).
//
// The server walks its own `data-ciphers` list in order and takes the first cipher the client
// can use. What the client can use is its IV_CIPHERS list; an older client with only IV_NCP=2
// is known to take AES-256-GCM and AES-128-GCM; a client without IV_CIPHERS may also name its
// `cipher` in the OCC options string. Only when the client told us nothing at all may the
// server's `data-ciphers-fallback` apply. Otherwise the client is refused with the reason below,
// which a stock client logs as "AUTH_FAILED,Data channel cipher negotiation failed (no shared
// cipher)".
//
// OpenVPN compares canonical names case-sensitively after normalising its own list; we compare
// case-insensitively and answer with the server's canonical spelling. Postern has no cipher-less
// mode, so "none" is never chosen whatever the lists say.

import type { PeerInfo } from './peer-info.js';
import { parsePeerInfo } from './peer-info.js';

/** OpenVPN 2.6's default `data-ciphers`. */
export const DEFAULT_DATA_CIPHERS: readonly string[] = [
  'AES-256-GCM',
  'AES-128-GCM',
  'CHACHA20-POLY1305',
];

/** What an IV_NCP=2 client without IV_CIPHERS accepts (tls_peer_ncp_list). */
export const IV_NCP2_CIPHERS: readonly string[] = ['AES-256-GCM', 'AES-128-GCM'];

/** The client-visible reason OpenVPN gives when no cipher is shared. */
export const NO_SHARED_CIPHER_REASON = 'Data channel cipher negotiation failed (no shared cipher)';

/** The whole control message a refused client receives. */
export const NO_SHARED_CIPHER_AUTH_FAILED = `AUTH_FAILED,${NO_SHARED_CIPHER_REASON}`;

const NULL_CIPHER = 'none';
const OCC_NULL_CIPHER = '[null-cipher]';

/**
 * Canonical spelling of a cipher name: OpenVPN's names are upper case ("AES-256-GCM",
 * "CHACHA20-POLY1305", "BF-CBC"); "none" stays lower case. A leading '?' (optional entry in a
 * data-ciphers list) is dropped.
 */
export function canonicalCipherName(name: string): string {
  const bare = (name.startsWith('?') ? name.slice(1) : name).trim();
  return bare.toLowerCase() === NULL_CIPHER ? NULL_CIPHER : bare.toUpperCase();
}

/** Splits a colon-separated cipher list into canonical names, dropping empty entries. */
export function parseCipherList(list: string): string[] {
  return list
    .split(':')
    .map(canonicalCipherName)
    .filter((c) => c !== '');
}

/** The ciphers a client can take, from its peer info (tls_peer_ncp_list). */
export function peerCipherList(peer: PeerInfo): string[] {
  if (peer.ciphers !== undefined) return peer.ciphers.map(canonicalCipherName);
  if ((peer.ncp ?? 0) >= 2) return [...IV_NCP2_CIPHERS];
  return [];
}

/**
 * The `cipher` named in an OCC options string ("V4,dev-type tun,...,cipher AES-256-CBC,..."),
 * canonicalised; OCC's "[null-cipher]" reads as "none".
 */
export function occCipher(options: string): string | undefined {
  for (const item of options.split(',')) {
    const [key, value] = item.trim().split(/\s+/, 2);
    if (key === 'cipher' && value !== undefined && value !== '') {
      return value === OCC_NULL_CIPHER ? NULL_CIPHER : canonicalCipherName(value);
    }
  }
  return undefined;
}

export interface CipherNegotiationInput {
  /** The server's `data-ciphers`, in preference order. */
  serverCiphers: readonly string[];
  /** The client's peer info, parsed or as text. */
  peerInfo: PeerInfo | string | undefined;
  /** The client's OCC options string from key method 2, if any. */
  occOptions?: string;
  /** `data-ciphers-fallback`, used only for a client that announced no cipher at all. */
  fallbackCipher?: string;
}

export type CipherNegotiation =
  | {
      ok: true;
      cipher: string;
      /** How the client told us it can use the cipher. */
      via: 'iv-ciphers' | 'iv-ncp' | 'occ-cipher' | 'fallback';
    }
  | {
      ok: false;
      /** Reason for the client ("AUTH_FAILED,<reason>"). */
      clientReason: string;
      /** The full AUTH_FAILED control message to send. */
      authFailed: string;
      /** For our log: what the client offered. */
      clientCiphers: string[];
      clientOccCipher: string | undefined;
    };

/** Picks the data-channel cipher for a client, or says why the client must be refused. */
export function negotiateCipher(input: CipherNegotiationInput): CipherNegotiation {
  const peer = typeof input.peerInfo === 'object' ? input.peerInfo : parsePeerInfo(input.peerInfo);
  const clientCiphers = peerCipherList(peer);
  const occ = input.occOptions === undefined ? undefined : occCipher(input.occOptions);
  // A client that sends IV_CIPHERS does not necessarily accept its OCC cipher.
  const usableOcc = peer.ciphers === undefined ? occ : undefined;

  for (const raw of input.serverCiphers) {
    const cipher = canonicalCipherName(raw);
    if (cipher === '' || cipher === NULL_CIPHER) continue;
    if (clientCiphers.includes(cipher)) {
      return { ok: true, cipher, via: peer.ciphers !== undefined ? 'iv-ciphers' : 'iv-ncp' };
    }
    if (usableOcc === cipher) return { ok: true, cipher, via: 'occ-cipher' };
  }

  const fallback =
    input.fallbackCipher === undefined ? undefined : canonicalCipherName(input.fallbackCipher);
  if (
    clientCiphers.length === 0 &&
    occ === undefined &&
    fallback !== undefined &&
    fallback !== '' &&
    fallback !== NULL_CIPHER
  ) {
    return { ok: true, cipher: fallback, via: 'fallback' };
  }
  return {
    ok: false,
    clientReason: NO_SHARED_CIPHER_REASON,
    authFailed: NO_SHARED_CIPHER_AUTH_FAILED,
    clientCiphers,
    clientOccCipher: occ,
  };
}
