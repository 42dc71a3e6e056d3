// The PKI on disk, under the data directory:
//
//   DIR/pki/                      0700
//     ca.crt  server.crt  crl.pem                     0644 (public, but inside the 0700 folder)
//     ca.key  server.key  tls-crypt.key  tls-crypt-v2-server.key   0600
//     clients/                    0700
//       <serial>.crt 0644   <serial>.key 0600
//
// Secret files are created with their final mode (never chmod-ed later), so there is no moment
// when they are readable by others. Nothing here overwrites a key: creation uses O_EXCL.
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Crl } from './x509.js';
import { PosternError } from '../../errors.js';
import { createCa, issuedFromPem } from './ca.js';
import type { Issued } from './ca.js';
import { issueClientCert, issueServerCert } from './certificates.js';
import { buildCrl } from './crl.js';
import type { RevokedSerial } from './crl.js';
import type { KeyType } from './keys.js';
import { randomBytes } from './x509.js';
import { normalizeSerial } from './serial.js';
import {
  formatStaticKey,
  formatTlsCryptV2ServerKey,
  generateStaticKey,
  generateTlsCryptV2ServerKey,
  parseStaticKey,
  parseTlsCryptV2ServerKey,
} from './static-key.js';

export const PRIVATE_DIR_MODE = 0o700;
export const SECRET_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;
const OID_CRL_NUMBER = '2.5.29.20';
const DER_TAG_INTEGER = 0x02;
const DER_INTEGER_HEADER_BYTES = 2;
/** Every safe integer (what buildCrl accepts) fits in 7 octets. */
const MAX_CRL_NUMBER_OCTETS = 7;
/** The CRL written by initPki; the first CRL after a revocation is number 1. */
const INITIAL_CRL_NUMBER = 0;
const DEFAULT_CA_NAME = 'Postern CA';
const INIT_HINT = 'run `postern init` to create the PKI';

export interface PkiPaths {
  root: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  crl: string;
  tlsCryptKey: string;
  tlsCryptV2ServerKey: string;
  clientsDir: string;
}

export interface ClientPaths {
  cert: string;
  key: string;
}

function pathsUnder(root: string): PkiPaths {
  return {
    root,
    caCert: join(root, 'ca.crt'),
    caKey: join(root, 'ca.key'),
    serverCert: join(root, 'server.crt'),
    serverKey: join(root, 'server.key'),
    crl: join(root, 'crl.pem'),
    tlsCryptKey: join(root, 'tls-crypt.key'),
    tlsCryptV2ServerKey: join(root, 'tls-crypt-v2-server.key'),
    clientsDir: join(root, 'clients'),
  };
}

export function pkiPaths(dataDir: string): PkiPaths {
  return pathsUnder(join(dataDir, 'pki'));
}

/** Paths of one client's files; the serial is normalized, so it cannot escape the folder. */
export function clientPaths(dataDir: string, serial: string): ClientPaths {
  const s = normalizeSerial(serial);
  const dir = pkiPaths(dataDir).clientsDir;
  return { cert: join(dir, `${s}.crt`), key: join(dir, `${s}.key`) };
}

/** Creates a file that must not exist yet, with its final mode from the first byte on. */
async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}

/** Replaces a public file atomically: readers see the old or the new content, never half. */
async function replaceFile(path: string, text: string, mode: number): Promise<void> {
  const temp = `${path}.tmp-${Buffer.from(randomBytes(6)).toString('hex')}`;
  try {
    await writeNewFile(temp, text, mode);
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

async function readPkiFile(path: string, hint: string = INIT_HINT): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') {
      throw new PosternError('PKI_MISSING', `${path} is missing`, hint);
    }
    throw new PosternError('PKI_UNREADABLE', `cannot read ${path}: ${(e as Error).message}`);
  }
}

async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
}

export interface InitPkiOptions {
  /** Host name or IP literal clients connect to: the server certificate's subjectAltName. */
  endpoint: string;
  caName?: string;
  keyType?: KeyType;
  now: Date;
  /** Server certificate commonName, for `verify-x509-name`; the endpoint when omitted. */
  serverName?: string;
}

export interface InitPkiResult {
  paths: PkiPaths;
  ca: Issued;
  server: Issued;
}

async function pkiDirInUse(root: string): Promise<boolean> {
  try {
    return (await readdir(root)).length > 0;
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Creates the whole PKI: CA, server certificate, tls-crypt and tls-crypt-v2 keys and an empty
 * CRL. Everything is written into a private staging folder that is renamed into place last, so
 * a failure leaves no half-made PKI behind. Refuses to touch an existing PKI.
 */
export async function initPki(dataDir: string, options: InitPkiOptions): Promise<InitPkiResult> {
  const paths = pkiPaths(dataDir);
  if (await pkiDirInUse(paths.root)) {
    throw new PosternError(
      'PKI_EXISTS',
      `${paths.root} already holds a PKI; it was left as it is`,
      'remove it first to start over: every issued certificate stops working',
    );
  }
  const keyType = options.keyType ?? 'ecdsa-p256';
  const ca = await createCa({
    commonName: options.caName ?? DEFAULT_CA_NAME,
    keyType,
    now: options.now,
  });
  const server = await issueServerCert(ca, {
    commonName: options.serverName ?? options.endpoint,
    endpoint: options.endpoint,
    keyType,
    now: options.now,
  });
  const crl = await buildCrl(ca, [], { now: options.now, crlNumber: INITIAL_CRL_NUMBER });

  await ensurePrivateDir(dataDir);
  const staging = pathsUnder(
    join(dataDir, `.pki-staging-${Buffer.from(randomBytes(6)).toString('hex')}`),
  );
  try {
    await mkdir(staging.root, { mode: PRIVATE_DIR_MODE });
    await mkdir(staging.clientsDir, { mode: PRIVATE_DIR_MODE });
    await writeNewFile(staging.caKey, ca.keyPem, SECRET_FILE_MODE);
    await writeNewFile(staging.serverKey, server.keyPem, SECRET_FILE_MODE);
    await writeNewFile(staging.tlsCryptKey, formatStaticKey(generateStaticKey()), SECRET_FILE_MODE);
    await writeNewFile(
      staging.tlsCryptV2ServerKey,
      formatTlsCryptV2ServerKey(generateTlsCryptV2ServerKey()),
      SECRET_FILE_MODE,
    );
    await writeNewFile(staging.caCert, ca.certPem, PUBLIC_FILE_MODE);
    await writeNewFile(staging.serverCert, server.certPem, PUBLIC_FILE_MODE);
    await writeNewFile(staging.crl, crl, PUBLIC_FILE_MODE);
    // rename() replaces an empty folder but fails on a non-empty one, so a PKI made meanwhile
    // by another process is never overwritten.
    await rename(staging.root, paths.root);
  } catch (e) {
    if (errnoCode(e) === 'ENOTEMPTY' || errnoCode(e) === 'EEXIST') {
      throw new PosternError('PKI_EXISTS', `${paths.root} already holds a PKI`);
    }
    throw e;
  } finally {
    await rm(staging.root, { recursive: true, force: true });
  }
  return { paths, ca, server };
}

export interface IssueClientOptions {
  now: Date;
  keyType?: KeyType;
  validDays?: number;
}

export interface IssuedClient {
  serial: string;
  certPem: string;
  keyPem: string;
  notAfter: Date;
  paths: ClientPaths;
}

/** Issues a certificate for `user` (its commonName) and stores it under clients/<serial>. */
export async function issueClient(
  dataDir: string,
  user: string,
  options: IssueClientOptions,
): Promise<IssuedClient> {
  const ca = await loadCa(dataDir);
  const issued = await issueClientCert(ca, {
    commonName: user,
    keyType: options.keyType,
    now: options.now,
    validDays: options.validDays,
  });
  const paths = clientPaths(dataDir, issued.serial);
  const clientsDir = pkiPaths(dataDir).clientsDir;
  await ensurePrivateDir(clientsDir);
  await writeNewFile(paths.key, issued.keyPem, SECRET_FILE_MODE);
  await writeNewFile(paths.cert, issued.certPem, PUBLIC_FILE_MODE);
  return {
    serial: issued.serial,
    certPem: issued.certPem,
    keyPem: issued.keyPem,
    notAfter: issued.notAfter,
    paths,
  };
}

/** The CRL number of the CRL on disk, so the next one can be numbered above it. */
export async function readCrlNumber(dataDir: string): Promise<number> {
  const path = pkiPaths(dataDir).crl;
  const pem = await readCrlPem(dataDir);
  let value: Uint8Array | undefined;
  try {
    const ext = new X509Crl(pem).getExtension(OID_CRL_NUMBER);
    value = ext ? new Uint8Array(ext.value) : undefined;
  } catch (e) {
    throw new PosternError('PKI_BAD_CRL', `${path} is not a readable CRL: ${(e as Error).message}`);
  }
  if (!value) return INITIAL_CRL_NUMBER;
  // The extension holds a DER INTEGER: tag, short-form length, big-endian octets.
  const length = value[1] ?? 0;
  if (
    value[0] !== DER_TAG_INTEGER ||
    value.length !== DER_INTEGER_HEADER_BYTES + length ||
    length < 1 ||
    length > MAX_CRL_NUMBER_OCTETS
  ) {
    throw new PosternError('PKI_BAD_CRL', `${path} has a CRL number Postern cannot read`);
  }
  return value.subarray(DER_INTEGER_HEADER_BYTES).reduce((n, b) => n * 256 + b, 0);
}

/**
 * Signs and installs a new CRL. Its number must exceed the one on disk: relying parties that
 * cache CRLs (strongSwan does) keep the higher-numbered one, so a lower number would hide a
 * revocation.
 */
export async function writeCrl(
  dataDir: string,
  revoked: readonly RevokedSerial[],
  now: Date,
  crlNumber: number,
): Promise<string> {
  const ca = await loadCa(dataDir);
  const current = await readCrlNumber(dataDir).catch((e: unknown) => {
    if (e instanceof PosternError && e.code === 'PKI_MISSING') return -1;
    throw e;
  });
  if (crlNumber <= current) {
    throw new PosternError(
      'PKI_BAD_CRL_NUMBER',
      `CRL number ${crlNumber} is not above the current CRL's number ${current}`,
      `use ${current + 1} or more`,
    );
  }
  const pem = await buildCrl(ca, revoked, { now, crlNumber });
  await replaceFile(pkiPaths(dataDir).crl, pem, PUBLIC_FILE_MODE);
  return pem;
}

export async function loadCa(dataDir: string): Promise<Issued> {
  const paths = pkiPaths(dataDir);
  return issuedFromPem(await readPkiFile(paths.caCert), await readPkiFile(paths.caKey));
}

export async function loadServer(dataDir: string): Promise<Issued> {
  const paths = pkiPaths(dataDir);
  return issuedFromPem(await readPkiFile(paths.serverCert), await readPkiFile(paths.serverKey));
}

export async function readCaCertPem(dataDir: string): Promise<string> {
  return readPkiFile(pkiPaths(dataDir).caCert);
}

export async function readCrlPem(dataDir: string): Promise<string> {
  return readPkiFile(pkiPaths(dataDir).crl);
}

export async function readTlsCryptKey(dataDir: string): Promise<Uint8Array> {
  return parseStaticKey(await readPkiFile(pkiPaths(dataDir).tlsCryptKey));
}

export async function readTlsCryptV2ServerKey(dataDir: string): Promise<Uint8Array> {
  return parseTlsCryptV2ServerKey(await readPkiFile(pkiPaths(dataDir).tlsCryptV2ServerKey));
}

export async function readClient(dataDir: string, serial: string): Promise<Issued> {
  const paths = clientPaths(dataDir, serial);
  const hint = `no certificate with serial ${normalizeSerial(serial)} was issued in ${dataDir}`;
  return issuedFromPem(await readPkiFile(paths.cert, hint), await readPkiFile(paths.key, hint));
}
