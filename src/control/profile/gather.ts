// Collects everything a user's profile needs: the OpenVPN listeners and crypto settings from
// postern.yaml, the user and its newest live certificate from the store, the CA and the user's
// key from the PKI, and the control-channel key (a fresh tls-crypt-v2 client key, or the shared
// tls-crypt key). Refuses a user who could not connect with it anyway.
import { randomBytes as nodeRandomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PosternError } from '../../errors.js';
import {
  formatClientKeyFile,
  generateClientKey,
  tlsCryptV2ServerKey,
} from '../../crypto/tls-crypt-v2.js';
import { TLS_CRYPT_V2_CLIENT_KEY_LEN } from '../../wire/openvpn/constants.js';
import { isIpAddress, type Config } from '../config/index.js';
import {
  formatStaticKey,
  pkiPaths,
  readCaCertPem,
  readClient,
  readTlsCryptKey,
  readTlsCryptV2ServerKey,
} from '../pki/index.js';
import { findUser, listCertificates, type CertificateRow, type Db } from '../store/index.js';
import { profileKeyMetadata } from './key-metadata.js';
import type { ControlChannelKey, ProfileMaterial, ProfileRemote } from './material.js';

/** A DNS name as clients resolve it: letters, digits, hyphens, dots. */
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const COMMON_NAME_ATTRIBUTE = /^CN=(.+)$/;

export interface GatherOptions {
  dir: string;
  config: Config;
  db: Db;
  user: string;
  now: Date;
  /** Randomness for the tls-crypt-v2 client key; node's CSPRNG unless a test passes its own. */
  randomBytes?: (length: number) => Uint8Array;
}

export async function gatherProfileMaterial(o: GatherOptions): Promise<ProfileMaterial> {
  const remotes = openvpnRemotes(o.config);
  const user = await findUser(o.db, o.user);
  if (!user) {
    throw new PosternError('NO_SUCH_USER', `no user "${o.user}"`, 'see `postern user list`');
  }
  if (user.disabled) {
    throw new PosternError(
      'USER_DISABLED',
      `user "${o.user}" is disabled; no profile was made`,
      'enable the user first',
    );
  }
  const cert = liveCertificate(o.user, await listCertificates(o.db, o.user), o.now);
  const client = await readClient(o.dir, cert.serial);
  const random = o.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));
  return {
    gatewayName: o.config.name,
    user: o.user,
    serial: cert.serial,
    remotes,
    caPem: await readCaCertPem(o.dir),
    certPem: client.certPem,
    keyPem: client.keyPem,
    tlsCrypt: await controlChannelKey(o, cert.serial, random),
    dataCiphers: [...o.config.openvpn['data-ciphers']],
    tlsMin: o.config.crypto['min-tls'],
    verifyName: await serverCommonName(o.dir),
    auth: { password: user.hasPassword, totp: user.hasTotp },
  };
}

/** One remote per OpenVPN listener, at the endpoint: UDP ones first, each in file order. */
export function openvpnRemotes(config: Config): ProfileRemote[] {
  const host = config.endpoint;
  if (!isIpAddress(host) && !HOST_NAME.test(host)) {
    throw new PosternError(
      'PROFILE_BAD_ENDPOINT',
      `endpoint "${host}" in postern.yaml is neither a host name nor an IP address`,
      'write the name or address clients connect to, e.g. endpoint: vpn.example.com',
    );
  }
  if (!config.openvpn.enabled || config.openvpn.listen.length === 0) {
    throw new PosternError(
      'PROFILE_NO_LISTENER',
      'postern.yaml has no OpenVPN listener (openvpn.enabled is false or openvpn.listen is empty)',
      'enable openvpn and list at least one listener, e.g. { proto: udp, port: 1194 }',
    );
  }
  const seen = new Set<string>();
  const remotes: ProfileRemote[] = [];
  for (const proto of ['udp', 'tcp'] as const) {
    for (const l of config.openvpn.listen) {
      // Two listeners on different local addresses but the same port are one remote to a client.
      const key = `${l.proto}/${l.port}`;
      if (l.proto !== proto || seen.has(key)) continue;
      seen.add(key);
      remotes.push({ proto, host, port: l.port });
    }
  }
  return remotes;
}

/** The newest client certificate that is neither revoked nor expired. */
function liveCertificate(user: string, certs: CertificateRow[], now: Date): CertificateRow {
  const clientCerts = certs.filter((c) => c.kind === 'client');
  const unrevoked = clientCerts.filter((c) => c.revokedAt === null);
  const live = unrevoked.filter((c) => new Date(c.notAfter) > now && new Date(c.notBefore) <= now);
  const newest = live.sort((a, b) => Date.parse(a.notBefore) - Date.parse(b.notBefore)).at(-1);
  if (newest) return newest;
  if (clientCerts.length > 0 && unrevoked.length === 0) {
    throw new PosternError(
      'USER_REVOKED',
      `user "${user}" is revoked; no profile was made`,
      'a revoked user gets no profile: `postern user del` it and add it again to start over',
    );
  }
  throw new PosternError(
    'USER_NO_CERTIFICATE',
    `user "${user}" has no valid certificate (none issued, or all expired); no profile was made`,
    '`postern user del` it and add it again to issue a new one',
  );
}

async function controlChannelKey(
  o: GatherOptions,
  serial: string,
  random: (length: number) => Uint8Array,
): Promise<ControlChannelKey> {
  if (o.config.openvpn['tls-crypt'] === 'v1') {
    const shared = await readTlsCryptKey(o.dir);
    const key = formatStaticKey(shared);
    shared.fill(0);
    return { version: 'v1', key };
  }
  const serverRaw = await readTlsCryptV2ServerKey(o.dir);
  const server = tlsCryptV2ServerKey(serverRaw);
  serverRaw.fill(0);
  const seed = random(TLS_CRYPT_V2_CLIENT_KEY_LEN);
  const { clientKey, wkc } = generateClientKey(
    server,
    seed,
    profileKeyMetadata({ user: o.user, serial }),
  );
  const key = formatClientKeyFile(clientKey, wkc);
  seed.fill(0);
  clientKey.fill(0);
  return { version: 'v2', key };
}

/** The commonName of the gateway's certificate: what `verify-x509-name … name` must match. */
async function serverCommonName(dir: string): Promise<string> {
  const path = pkiPaths(dir).serverCert;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(path));
  } catch (e) {
    throw new PosternError(
      'PKI_BAD_SERVER_CERT',
      `cannot read the gateway certificate ${path}: ${(e as Error).message}`,
      'run `postern init` to create the PKI',
    );
  }
  for (const line of cert.subject.split('\n')) {
    const cn = COMMON_NAME_ATTRIBUTE.exec(line)?.[1];
    if (cn) return cn;
  }
  throw new PosternError('PKI_BAD_SERVER_CERT', `${path} has no commonName in its subject`);
}
