// The one door to @peculiar/x509 and WebCrypto; PKI modules import the library only from here.
// The library resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill
// loaded before it, and it has no default crypto provider under Node, so Node's own is set here.
import 'reflect-metadata';
import { cryptoProvider } from '@peculiar/x509';
import type { webcrypto } from 'node:crypto';

export * from '@peculiar/x509';

export type CryptoKey = webcrypto.CryptoKey;

export const webCrypto: webcrypto.Crypto = globalThis.crypto;
cryptoProvider.set(webCrypto);

/** Fresh random bytes: the control plane may read the OS generator directly. */
export function randomBytes(length: number): Uint8Array {
  return webCrypto.getRandomValues(new Uint8Array(length));
}
