// Postern's built-in PKI: keys, CA, server and client certificates, CRL, OpenVPN static keys,
// and their layout on disk.
export type { KeyPair, KeyType } from './keys.js';
export {
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  isKeyType,
  KEY_TYPES,
} from './keys.js';
export type { CreateCaOptions, Issued } from './ca.js';
export { createCa, DEFAULT_CA_VALID_DAYS, issuedFromPem } from './ca.js';
export type { LeafOptions, ServerCertOptions } from './certificates.js';
export { DEFAULT_LEAF_VALID_DAYS, issueClientCert, issueServerCert } from './certificates.js';
export type { CrlOptions, RevokedSerial } from './crl.js';
export { buildCrl, DEFAULT_CRL_NEXT_UPDATE_DAYS } from './crl.js';
export { normalizeSerial, randomSerial } from './serial.js';
export {
  formatStaticKey,
  formatTlsCryptV2ServerKey,
  generateStaticKey,
  generateTlsCryptV2ServerKey,
  parseStaticKey,
  parseTlsCryptV2ServerKey,
  STATIC_KEY_BYTES,
  TLS_CRYPT_V2_SERVER_KEY_BYTES,
} from './static-key.js';
export type {
  ClientPaths,
  InitPkiOptions,
  InitPkiResult,
  IssueClientOptions,
  IssuedClient,
  PkiPaths,
} from './pki-dir.js';
export {
  clientPaths,
  initPki,
  issueClient,
  loadCa,
  loadServer,
  pkiPaths,
  readCaCertPem,
  readClient,
  readCrlNumber,
  readCrlPem,
  readTlsCryptKey,
  readTlsCryptV2ServerKey,
  writeCrl,
} from './pki-dir.js';
