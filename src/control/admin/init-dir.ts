// `postern init`: a data directory with a commented postern.yaml, the PKI and an empty store.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PosternError } from '../../errors.js';
import { CONFIG_FILE, parseConfig, renderConfig, type InitSettings } from '../config/index.js';
import { initPki, type KeyType } from '../pki/index.js';
import { insertCertificate, openStore, writeAudit } from '../store/index.js';

export interface InitOptions extends InitSettings {
  dir: string;
  force: boolean;
  keyType: KeyType;
  now: Date;
}

export interface InitResult {
  dir: string;
  configFile: string;
  caSerial: string;
  serverSerial: string;
}

/** What a previous `init` leaves in DIR; --force removes exactly these, nothing else. */
const OWNED = [
  CONFIG_FILE,
  'pki',
  'postern.db',
  'postern.db-wal',
  'postern.db-shm',
  'postern.sock',
];

export async function initDataDir(o: InitOptions): Promise<InitResult> {
  const configFile = join(o.dir, CONFIG_FILE);
  const text = renderConfig(o);
  parseConfig(text, configFile); // the settings given on the command line must make a valid file
  if (existsSync(o.dir) && readdirSync(o.dir).length > 0) {
    if (!o.force) {
      throw new PosternError(
        'DIR_NOT_EMPTY',
        `${o.dir} is not empty; refusing to initialise over it`,
        'pick an empty --dir, or add --force to start over; every profile issued from it then stops working',
      );
    }
    for (const name of OWNED) rmSync(join(o.dir, name), { recursive: true, force: true });
  }
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  writeFileSync(configFile, text, { mode: 0o600 });
  const pki = await initPki(o.dir, {
    endpoint: o.endpoint,
    caName: `${o.name} CA`,
    keyType: o.keyType,
    now: o.now,
  });
  const store = await openStore(o.dir, 'sqlite:postern.db');
  try {
    const made = [
      ['ca', pki.ca, `CN=${o.name} CA`],
      ['server', pki.server, `CN=${o.endpoint}`],
    ] as const;
    for (const [kind, issued, subject] of made) {
      await insertCertificate(store.db, {
        serial: issued.serial,
        user: null,
        kind,
        subject,
        notBefore: issued.notBefore.toISOString(),
        notAfter: issued.notAfter.toISOString(),
      });
    }
    await writeAudit(
      store.db,
      {
        event: 'admin',
        result: 'ok',
        reason: 'init',
        remote: 'cli',
        detail: { endpoint: o.endpoint },
      },
      o.now,
    );
  } finally {
    await store.close();
  }
  return { dir: o.dir, configFile, caSerial: pki.ca.serial, serverSerial: pki.server.serial };
}
