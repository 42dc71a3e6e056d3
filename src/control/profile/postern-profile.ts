// The Postern profile: one JSON document that `postern profile NAME --format postern` writes
// and `postern connect` reads. It carries everything the client needs and nothing it must look
// up elsewhere. Readers accept fields they do not know (later versions may add some), and refuse
// a document whose `postern` format number is not theirs.
//
//   { "postern": 1, "name", "user", "remotes": [{ "proto", "host", "port" }], "ca", "cert",
//     "key", "tlsCrypt": { "version": "v2"|"v1", "key" }, "dataCiphers", "tlsMin",
//     "verifyName", "auth": { "password", "totp" } }
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PosternError } from '../../errors.js';
import { parseClientKeyFile } from '../../crypto/tls-crypt-v2.js';
import { parseStaticKey } from '../../crypto/static-key.js';
import type { DataCipher } from './material.js';

/** The format number this code writes and reads. */
export const POSTERN_PROFILE_VERSION = 1;

/** The data-channel ciphers postern.yaml may name (the same list as its schema). */
export const PROFILE_DATA_CIPHERS = [
  'AES-256-GCM',
  'AES-128-GCM',
  'CHACHA20-POLY1305',
] as const satisfies readonly DataCipher[];

const PEM_CERTIFICATE =
  /^-----BEGIN CERTIFICATE-----\r?\n[\s\S]+\r?\n-----END CERTIFICATE-----\s*$/;
const PEM_PRIVATE_KEY =
  /^-----BEGIN (?:EC |RSA )?PRIVATE KEY-----\r?\n[\s\S]+\r?\n-----END (?:EC |RSA )?PRIVATE KEY-----\s*$/;

const certificatePem = z
  .string()
  .regex(PEM_CERTIFICATE, {
    message: 'expected one PEM certificate (-----BEGIN CERTIFICATE-----)',
    abort: true,
  })
  .refine((pem) => parseCertificate(pem) !== undefined, { message: 'not a readable certificate' });

const privateKeyPem = z
  .string()
  .regex(PEM_PRIVATE_KEY, {
    message: 'expected a PEM private key (-----BEGIN PRIVATE KEY-----)',
    abort: true,
  })
  .refine((pem) => parsePrivateKey(pem) !== undefined, { message: 'not a readable private key' });

const tlsCryptV2Key = z.string().refine((text) => parseClientKeyFile(text).ok, {
  message: 'not an OpenVPN tls-crypt-v2 client key',
});

const tlsCryptV1Key = z.string().refine(
  (text) => {
    try {
      parseStaticKey(text);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an OpenVPN static key (tls-crypt)' },
);

const remoteSchema = z.object({
  proto: z.enum(['udp', 'tcp']),
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
});

export const posternProfileSchema = z
  .object({
    postern: z.literal(POSTERN_PROFILE_VERSION),
    /** The gateway's name. */
    name: z.string().min(1),
    user: z.string().min(1),
    remotes: z.array(remoteSchema).min(1, { message: 'at least one remote is needed' }),
    ca: certificatePem,
    cert: certificatePem,
    key: privateKeyPem,
    tlsCrypt: z.discriminatedUnion('version', [
      z.object({ version: z.literal('v2'), key: tlsCryptV2Key }),
      z.object({ version: z.literal('v1'), key: tlsCryptV1Key }),
    ]),
    dataCiphers: z.array(z.enum(PROFILE_DATA_CIPHERS)).min(1),
    tlsMin: z.enum(['1.2', '1.3']),
    /** The gateway certificate's commonName; the client refuses any other server. */
    verifyName: z.string().min(1),
    auth: z.object({ password: z.boolean(), totp: z.boolean() }),
  })
  .superRefine((p, ctx) => {
    // Each PEM parsed above; here they must also belong together.
    const ca = parseCertificate(p.ca);
    const cert = parseCertificate(p.cert);
    const key = parsePrivateKey(p.key);
    if (!ca || !cert || !key) return;
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
      ctx.addIssue({ code: 'custom', path: ['cert'], message: "not signed by the profile's CA" });
    }
    if (!cert.checkPrivateKey(key)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'does not match the certificate' });
    }
  });

export type PosternProfile = z.infer<typeof posternProfileSchema>;

function parseCertificate(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function parsePrivateKey(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

const HINT_REEXPORT = 'export it again: postern profile NAME --dir DIR --format postern';

/** Reads and checks a Postern profile; every error names the file and what is wrong. */
export function loadPosternProfile(path: string): PosternProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PosternError(
      code === 'ENOENT' ? 'PROFILE_MISSING' : 'PROFILE_UNREADABLE',
      `${path}: cannot read the profile (${code ?? (e as Error).message})`,
      code === 'ENOENT' ? 'check the path; profiles come from `postern profile`' : undefined,
    );
  }
  return parsePosternProfile(text, path);
}

/** Checks a Postern profile's text; `file` names it in errors. */
export function parsePosternProfile(text: string, file: string): PosternProfile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new PosternError(
      'PROFILE_INVALID',
      `${file}: not a Postern profile: not JSON (${(e as Error).message})`,
      `a Postern profile is the JSON document \`postern profile NAME --format postern\` writes; .ovpn files are for openvpn`,
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !('postern' in doc)) {
    throw new PosternError(
      'PROFILE_INVALID',
      `${file}: not a Postern profile: no "postern" format number`,
      HINT_REEXPORT,
    );
  }
  const version = (doc as { postern: unknown }).postern;
  if (typeof version === 'number' && version > POSTERN_PROFILE_VERSION) {
    throw new PosternError(
      'PROFILE_TOO_NEW',
      `${file}: profile format ${version} is newer than this Postern reads (${POSTERN_PROFILE_VERSION})`,
      'upgrade postern on this machine',
    );
  }
  const result = posternProfileSchema.safeParse(doc);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? issue.path.map(String).join('.') : '(top level)';
  const more =
    result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : '';
  throw new PosternError(
    'PROFILE_INVALID',
    `${file}: ${where}: ${issue ? describe(issue) : 'invalid'}${more}`,
    HINT_REEXPORT,
  );
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return 'missing';
  return issue.message;
}
