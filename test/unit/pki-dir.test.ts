// The PKI on disk: who may read what, what is refused, and what a person is told when a file is
// missing.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  clientPaths,
  initPki,
  issueClient,
  loadCa,
  loadServer,
  parseStaticKey,
  readCaCertPem,
  readClient,
  readCrlNumber,
  readCrlPem,
  readTlsCryptKey,
  readTlsCryptV2ServerKey,
  writeCrl,
} from '../../src/control/pki/index.js';
import type { InitPkiResult, IssuedClient } from '../../src/control/pki/index.js';
import { PosternError } from '../../src/errors.js';

const NOW = new Date('2026-03-01T12:00:00Z');

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

let tmp: string;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'postern-pki-dir-'));
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('initPki and issueClient on disk', () => {
  let dataDir: string;
  let init: InitPkiResult;
  let alice: IssuedClient;

  before(async () => {
    dataDir = join(tmp, 'data');
    init = await initPki(dataDir, { endpoint: '198.51.100.10', now: NOW });
    alice = await issueClient(dataDir, 'alice', { now: NOW });
  });

  it('private keys and static keys are 0600, folders holding them 0700', () => {
    const p = init.paths;
    for (const secret of [p.caKey, p.serverKey, p.tlsCryptKey, p.tlsCryptV2ServerKey]) {
      assert.equal(mode(secret).toString(8), '600', secret);
    }
    assert.equal(mode(alice.paths.key).toString(8), '600');
    assert.equal(mode(p.root).toString(8), '700');
    assert.equal(mode(p.clientsDir).toString(8), '700');
    for (const pub of [p.caCert, p.serverCert, p.crl, alice.paths.cert]) {
      assert.equal(mode(pub) & 0o022, 0, `${pub} is writable by others`);
    }
  });

  it('writes exactly the documented files and leaves no staging folder behind', () => {
    assert.deepEqual(readdirSync(init.paths.root).sort(), [
      'ca.crt',
      'ca.key',
      'clients',
      'crl.pem',
      'server.crt',
      'server.key',
      'tls-crypt-v2-server.key',
      'tls-crypt.key',
    ]);
    assert.deepEqual(readdirSync(dataDir), ['pki']);
    assert.deepEqual(readdirSync(init.paths.clientsDir).sort(), [
      `${alice.serial}.crt`,
      `${alice.serial}.key`,
    ]);
  });

  it('the readers give back what was written', async () => {
    const ca = await loadCa(dataDir);
    assert.equal(ca.certPem, init.ca.certPem);
    assert.equal(ca.keyPem, init.ca.keyPem);
    assert.equal(ca.serial, init.ca.serial);
    assert.equal(ca.notAfter.getTime(), init.ca.notAfter.getTime());
    assert.equal(await readCaCertPem(dataDir), init.ca.certPem);
    assert.equal((await loadServer(dataDir)).serial, init.server.serial);
    assert.equal((await readTlsCryptKey(dataDir)).length, 256);
    assert.equal((await readTlsCryptV2ServerKey(dataDir)).length, 128);
    const back = await readClient(dataDir, alice.serial.toUpperCase());
    assert.equal(back.certPem, alice.certPem);
    assert.equal(back.keyPem, alice.keyPem);
    assert.match(await readCrlPem(dataDir), /^-----BEGIN X509 CRL-----\n/);
  });

  it('the two static keys are fresh random material, not equal to each other', async () => {
    const v1 = await readTlsCryptKey(dataDir);
    const v2 = await readTlsCryptV2ServerKey(dataDir);
    assert.notDeepEqual(v1.subarray(0, 128), v2);
    assert.ok(v1.some((b) => b !== 0));
    const other = await initPki(join(tmp, 'other'), { endpoint: 'gw.example', now: NOW });
    assert.notDeepEqual(parseStaticKey(readFileSync(other.paths.tlsCryptKey, 'utf8')), v1);
  });

  it('a second initPki on the same folder is refused and changes nothing', async () => {
    const before = await loadCa(dataDir);
    await assert.rejects(initPki(dataDir, { endpoint: 'gw.example', now: NOW }), (e) => {
      assert.ok(e instanceof PosternError);
      assert.equal(e.code, 'PKI_EXISTS');
      assert.ok(e.message.includes(init.paths.root));
      return true;
    });
    assert.equal((await loadCa(dataDir)).keyPem, before.keyPem);
  });

  it('writeCrl needs a CRL number above the current one', async () => {
    assert.equal(await readCrlNumber(dataDir), 0);
    await writeCrl(dataDir, [{ serial: alice.serial, revokedAt: NOW }], NOW, 1);
    assert.equal(await readCrlNumber(dataDir), 1);
    await assert.rejects(writeCrl(dataDir, [], NOW, 1), { code: 'PKI_BAD_CRL_NUMBER' });
    await writeCrl(dataDir, [], NOW, 300);
    assert.equal(await readCrlNumber(dataDir), 300);
    assert.equal(mode(init.paths.crl) & 0o022, 0);
    assert.deepEqual(
      readdirSync(init.paths.root).filter((n) => n.includes('tmp')),
      [],
    );
    const text = spawnSync('openssl', ['crl', '-noout', '-text', '-in', init.paths.crl], {
      encoding: 'utf8',
    }).stdout;
    assert.match(text, /CRL Number:\s+300\b/);
  });

  it('a client serial cannot name a path outside the clients folder', () => {
    assert.throws(() => clientPaths(dataDir, '../ca'), { code: 'PKI_BAD_SERIAL' });
    assert.throws(() => clientPaths(dataDir, ''), { code: 'PKI_BAD_SERIAL' });
    assert.equal(clientPaths(dataDir, '00AB').cert, join(init.paths.clientsDir, 'ab.crt'));
  });

  it('an unknown client serial is PKI_MISSING, naming the file', async () => {
    await assert.rejects(readClient(dataDir, 'abcdef'), (e) => {
      assert.ok(e instanceof PosternError);
      assert.equal(e.code, 'PKI_MISSING');
      assert.ok(e.message.includes(join(init.paths.clientsDir, 'abcdef.crt')));
      return true;
    });
  });

  it('a user name unfit for a certificate is refused before anything is written', async () => {
    const count = readdirSync(init.paths.clientsDir).length;
    await assert.rejects(issueClient(dataDir, '', { now: NOW }), { code: 'PKI_BAD_NAME' });
    await assert.rejects(issueClient(dataDir, 'a\nb', { now: NOW }), { code: 'PKI_BAD_NAME' });
    await assert.rejects(issueClient(dataDir, 'x'.repeat(65), { now: NOW }), {
      code: 'PKI_BAD_NAME',
    });
    assert.equal(readdirSync(init.paths.clientsDir).length, count);
  });
});

describe('a data directory without a PKI', () => {
  it('loadCa says which file is missing and to run postern init', async () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    await assert.rejects(loadCa(empty), (e) => {
      assert.ok(e instanceof PosternError);
      assert.equal(e.code, 'PKI_MISSING');
      assert.ok(e.message.includes(join(empty, 'pki', 'ca.crt')), e.message);
      assert.match(e.oneLine(), /postern init/);
      return true;
    });
    await assert.rejects(issueClient(empty, 'alice', { now: NOW }), { code: 'PKI_MISSING' });
    await assert.rejects(readTlsCryptKey(empty), { code: 'PKI_MISSING' });
    await assert.rejects(writeCrl(empty, [], NOW, 1), { code: 'PKI_MISSING' });
    assert.equal(existsSync(join(empty, 'pki')), false);
  });

  it('initPki creates a missing data directory as 0700', async () => {
    const fresh = join(tmp, 'fresh', 'nested');
    await initPki(fresh, { endpoint: 'gw.example', keyType: 'ecdsa-p256', now: NOW });
    assert.equal(mode(fresh).toString(8), '700');
  });

  it('a bad endpoint fails initPki without leaving files', async () => {
    const bad = join(tmp, 'bad');
    await assert.rejects(initPki(bad, { endpoint: 'no spaces allowed', now: NOW }), {
      code: 'PKI_BAD_ENDPOINT',
    });
    assert.equal(existsSync(join(bad, 'pki')), false);
  });
});
