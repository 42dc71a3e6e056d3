// End-entity certificates signed by the CA: one server certificate, one per client.
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
} from './x509.js';
import type { Extension } from './x509.js';
import { PosternError } from '../../errors.js';
import { certToPem, issuedFromPem, openCa } from './ca.js';
import type { Issued } from './ca.js';
import { exportPrivateKeyPem, generateKeyPair, signingAlgorithm } from './keys.js';
import type { KeyType } from './keys.js';
import { checkCommonName, endpointName } from './names.js';
import { webCrypto } from './x509.js';
import { randomSerial } from './serial.js';
import { validityPeriod } from './validity.js';

/** 825 days: the longest TLS server lifetime Apple clients accept. */
export const DEFAULT_LEAF_VALID_DAYS = 825;

export interface LeafOptions {
  commonName: string;
  keyType?: KeyType;
  now: Date;
  validDays?: number;
  random?: (length: number) => Uint8Array;
}

export interface ServerCertOptions extends LeafOptions {
  /** Host name or IPv4/IPv6 literal clients connect to; goes into subjectAltName. */
  endpoint: string;
}

interface LeafProfile {
  usage: ExtendedKeyUsage;
  keyUsage: KeyUsageFlags;
  extra: Extension[];
}

async function issueLeaf(ca: Issued, options: LeafOptions, profile: LeafProfile): Promise<Issued> {
  const opened = await openCa(ca);
  const keyType = options.keyType ?? 'ecdsa-p256';
  const period = validityPeriod(options.now, options.validDays ?? DEFAULT_LEAF_VALID_DAYS);
  if (period.notBefore >= opened.cert.notAfter) {
    throw new PosternError(
      'PKI_CA_EXPIRED',
      `the CA ${opened.cert.subject} expired on ${opened.cert.notAfter.toISOString()}`,
      'create a new CA and reissue every certificate',
    );
  }
  // A leaf outliving its CA would only fail later, at verification; end it with the CA instead.
  const notAfter = period.notAfter > opened.cert.notAfter ? opened.cert.notAfter : period.notAfter;
  const keys = await generateKeyPair(keyType);
  const cert = await X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(options.random),
      subject: [{ CN: [checkCommonName(options.commonName)] }],
      // The issuer is copied from the CA certificate so the bytes match exactly, as chain
      // building and CRL lookup compare them.
      issuer: opened.cert.subjectName,
      notBefore: period.notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: opened.signingKey,
      signingAlgorithm: signingAlgorithm(opened.keyType),
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(profile.keyUsage, true),
        new ExtendedKeyUsageExtension([profile.usage], false),
        await SubjectKeyIdentifierExtension.create(keys.publicKey, false, webCrypto),
        new AuthorityKeyIdentifierExtension(opened.keyId, false),
        ...profile.extra,
      ],
    },
    webCrypto,
  );
  return issuedFromPem(certToPem(cert), await exportPrivateKeyPem(keys.privateKey));
}

/**
 * The gateway's certificate. Stock OpenVPN clients check it with `remote-cert-tls server` (EKU
 * serverAuth, keyUsage present) and `verify-x509-name <commonName> name`; IKEv2 clients match the
 * endpoint against subjectAltName.
 */
export async function issueServerCert(ca: Issued, options: ServerCertOptions): Promise<Issued> {
  const san = endpointName(options.endpoint);
  return issueLeaf(ca, options, {
    usage: ExtendedKeyUsage.serverAuth,
    keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment,
    extra: [new SubjectAlternativeNameExtension([san], false)],
  });
}

/** A user's certificate; its commonName is the user name, checked by `remote-cert-tls client`. */
export async function issueClientCert(ca: Issued, options: LeafOptions): Promise<Issued> {
  return issueLeaf(ca, options, {
    usage: ExtendedKeyUsage.clientAuth,
    keyUsage: KeyUsageFlags.digitalSignature,
    extra: [],
  });
}
