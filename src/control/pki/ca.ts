// The certificate authority: a self-signed root that signs the server, the clients and the CRL.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import {
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from './x509.js';
import { PosternError } from '../../errors.js';
import {
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  signingAlgorithm,
} from './keys.js';
import type { KeyType } from './keys.js';
import { checkCommonName } from './names.js';
import { PEM_CERTIFICATE, toPem } from './pem.js';
import { webCrypto } from './x509.js';
import type { CryptoKey } from './x509.js';
import { randomSerial } from './serial.js';
import { validityPeriod } from './validity.js';

export const DEFAULT_CA_VALID_DAYS = 3650;

/** A certificate with its private key, as Postern keeps and passes them around. */
export interface Issued {
  certPem: string;
  keyPem: string;
  /** Lowercase hex, no leading zeros: the form used in file names and CRLs. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CreateCaOptions {
  commonName: string;
  keyType?: KeyType;
  now: Date;
  validDays?: number;
  /** Source of the serial's randomness; WebCrypto when omitted. */
  random?: (length: number) => Uint8Array;
}

/** A CA ready to sign: its parsed certificate, its key and the key identifier leaves point to. */
export interface OpenedCa {
  cert: X509Certificate;
  signingKey: CryptoKey;
  keyType: KeyType;
  keyId: string;
}

export function certToPem(cert: X509Certificate): string {
  return toPem(PEM_CERTIFICATE, cert.rawData);
}

export function parseCertPem(certPem: string): X509Certificate {
  try {
    return new X509Certificate(certPem);
  } catch (e) {
    throw new PosternError('PKI_BAD_CERT', `not a readable certificate: ${(e as Error).message}`);
  }
}

/** Builds an Issued from PEM text, reading serial and dates from the certificate itself. */
export function issuedFromPem(certPem: string, keyPem: string): Issued {
  const cert = parseCertPem(certPem);
  return {
    certPem,
    keyPem,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

export async function createCa(options: CreateCaOptions): Promise<Issued> {
  const keyType = options.keyType ?? 'ecdsa-p256';
  const { notBefore, notAfter } = validityPeriod(
    options.now,
    options.validDays ?? DEFAULT_CA_VALID_DAYS,
  );
  const keys = await generateKeyPair(keyType);
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(options.random),
      name: [{ CN: [checkCommonName(options.commonName)] }],
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: signingAlgorithm(keyType),
      extensions: [
        // pathLen 0: this CA signs end entities only, never another CA.
        new BasicConstraintsExtension(true, 0, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
        await SubjectKeyIdentifierExtension.create(keys.publicKey, false, webCrypto),
      ],
    },
    webCrypto,
  );
  return issuedFromPem(certToPem(cert), await exportPrivateKeyPem(keys.privateKey));
}

function sameKey(cert: X509Certificate, keyPem: string): boolean {
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return Buffer.from(cert.publicKey.rawData).equals(fromKey);
}

/** Checks that `ca` is a CA whose key matches its certificate, and readies it for signing. */
export async function openCa(ca: Issued): Promise<OpenedCa> {
  const cert = parseCertPem(ca.certPem);
  const constraints = cert.getExtension(BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new PosternError('PKI_NOT_CA', `certificate ${cert.subject} is not a CA certificate`);
  }
  const { type, privateKey } = await importPrivateKeyPem(ca.keyPem);
  if (!sameKey(cert, ca.keyPem)) {
    throw new PosternError(
      'PKI_KEY_MISMATCH',
      `the CA private key does not belong to the CA certificate ${cert.subject}`,
    );
  }
  const ski = cert.getExtension(SubjectKeyIdentifierExtension);
  const keyId = ski
    ? ski.keyId
    : (await SubjectKeyIdentifierExtension.create(cert.publicKey, false, webCrypto)).keyId;
  return { cert, signingKey: privateKey, keyType: type, keyId };
}
