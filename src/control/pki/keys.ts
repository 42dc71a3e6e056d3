// Key pairs for the CA, the server and the clients, and their PKCS#8 PEM form on disk.
import { createPrivateKey } from 'node:crypto';
import { PosternError } from '../../errors.js';
import { PEM_PRIVATE_KEY, toPem } from './pem.js';
import { webCrypto } from './x509.js';
import type { CryptoKey } from './x509.js';

export type KeyType = 'ecdsa-p256' | 'rsa-3072';
export const KEY_TYPES: readonly KeyType[] = ['ecdsa-p256', 'rsa-3072'];

export interface KeyPair {
  type: KeyType;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

const RSA_MODULUS_BITS = 3072;
const RSA_PUBLIC_EXPONENT = new Uint8Array([0x01, 0x00, 0x01]); // 65537

// PKCS#1 v1.5 rather than PSS for RSA certificate signatures: every OpenVPN and IKEv2 client
// accepts it, and the key itself stays a plain rsaEncryption key that TLS 1.3 may use with PSS.
const RSA_PARAMS = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const EC_PARAMS = { name: 'ECDSA', namedCurve: 'P-256' } as const;

function importParams(type: KeyType): typeof RSA_PARAMS | typeof EC_PARAMS {
  return type === 'rsa-3072' ? RSA_PARAMS : EC_PARAMS;
}

/** The algorithm a key of this type signs certificates and CRLs with. */
export function signingAlgorithm(type: KeyType): { name: string; hash: string } {
  return type === 'rsa-3072' ? RSA_PARAMS : { name: 'ECDSA', hash: 'SHA-256' };
}

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  const params =
    type === 'rsa-3072'
      ? { ...RSA_PARAMS, modulusLength: RSA_MODULUS_BITS, publicExponent: RSA_PUBLIC_EXPONENT }
      : EC_PARAMS;
  const pair = await webCrypto.subtle.generateKey(params, true, ['sign', 'verify']);
  return { type, publicKey: pair.publicKey, privateKey: pair.privateKey };
}

/** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form OpenVPN, strongSwan and openssl all read. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webCrypto.subtle.exportKey('pkcs8', key);
  return toPem(PEM_PRIVATE_KEY, der);
}

/**
 * Reads a private key PEM back: PKCS#8, and also the SEC1 / PKCS#1 forms openssl writes, so keys
 * made by other tools can be imported. Only the key types Postern issues are accepted.
 */
export async function importPrivateKeyPem(
  pem: string,
): Promise<{ type: KeyType; privateKey: CryptoKey }> {
  let keyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new PosternError(
      'PKI_BAD_KEY',
      `not a readable unencrypted private key PEM: ${(e as Error).message}`,
    );
  }
  const details = keyObject.asymmetricKeyDetails ?? {};
  let type: KeyType;
  if (keyObject.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') {
    type = 'ecdsa-p256';
  } else if (keyObject.asymmetricKeyType === 'rsa' && details.modulusLength === RSA_MODULUS_BITS) {
    type = 'rsa-3072';
  } else {
    const what = [keyObject.asymmetricKeyType, details.namedCurve ?? details.modulusLength]
      .filter((x) => x !== undefined)
      .join(' ');
    throw new PosternError(
      'PKI_BAD_KEY',
      `unsupported private key type ${what}`,
      `Postern uses ${KEY_TYPES.join(' or ')} keys`,
    );
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const privateKey = await webCrypto.subtle.importKey('pkcs8', der, importParams(type), true, [
    'sign',
  ]);
  return { type, privateKey };
}
