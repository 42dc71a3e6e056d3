// The PKI as openssl sees it: every certificate and CRL Postern writes is checked by the real
// `openssl` CLI (verify, x509, crl), from files in a temporary data directory.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildCrl,
  createCa,
  importPrivateKeyPem,
  initPki,
  issueClient,
  issueClientCert,
  issueServerCert,
  pkiPaths,
  writeCrl,
} from '../../src/control/pki/index.js';
import type { Issued, IssuedClient, PkiPaths } from '../../src/control/pki/index.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const DAY_MS = 86_400_000;

interface Run {
  status: number | null;
  out: string;
}

function openssl(...args: string[]): Run {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** `openssl verify` at a fixed time, so the test does not depend on the machine's clock. */
function verify(caFile: string, certFile: string, ...extra: string[]): Run {
  const attime = String(Math.floor(NOW.getTime() / 1000));
  return openssl('verify', '-attime', attime, '-CAfile', caFile, ...extra, certFile);
}

function assertVerified(run: Run, certFile: string): void {
  assert.equal(run.status, 0, run.out);
  assert.match(run.out, new RegExp(`${certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK`));
}

function x509Text(certFile: string): string {
  const r = openssl('x509', '-noout', '-text', '-in', certFile);
  assert.equal(r.status, 0, r.out);
  return r.out;
}

let tmp: string;

function writeTemp(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'postern-pki-'));
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('a PKI made by initPki, checked by openssl', () => {
  let paths: PkiPaths;
  let alice: IssuedClient;
  let bob: IssuedClient;
  let dataDir: string;

  before(async () => {
    dataDir = join(tmp, 'data');
    ({ paths } = await initPki(dataDir, {
      endpoint: 'vpn.example.com',
      caName: 'Example VPN CA',
      keyType: 'ecdsa-p256',
      now: NOW,
    }));
    alice = await issueClient(dataDir, 'alice', { now: NOW });
    bob = await issueClient(dataDir, 'bob', { now: NOW });
  });

  it('openssl verify accepts the server and both client certificates against ca.crt', () => {
    assertVerified(verify(paths.caCert, paths.serverCert), paths.serverCert);
    assertVerified(verify(paths.caCert, alice.paths.cert), alice.paths.cert);
    assertVerified(verify(paths.caCert, bob.paths.cert), bob.paths.cert);
  });

  it('the server certificate is fit for a TLS server only, the client one for a client only', () => {
    assertVerified(
      verify(paths.caCert, paths.serverCert, '-purpose', 'sslserver'),
      paths.serverCert,
    );
    assertVerified(
      verify(paths.caCert, alice.paths.cert, '-purpose', 'sslclient'),
      alice.paths.cert,
    );
    const crossedServer = verify(paths.caCert, paths.serverCert, '-purpose', 'sslclient');
    assert.notEqual(crossedServer.status, 0, crossedServer.out);
    assert.match(crossedServer.out, /unsuitable certificate purpose/);
    const crossedClient = verify(paths.caCert, alice.paths.cert, '-purpose', 'sslserver');
    assert.notEqual(crossedClient.status, 0, crossedClient.out);
    assert.match(crossedClient.out, /unsuitable certificate purpose/);
  });

  it('the server certificate names the endpoint as a DNS subjectAltName', () => {
    assert.match(x509Text(paths.serverCert), /DNS:vpn\.example\.com/);
    const good = verify(paths.caCert, paths.serverCert, '-verify_hostname', 'vpn.example.com');
    assertVerified(good, paths.serverCert);
    const wrong = verify(paths.caCert, paths.serverCert, '-verify_hostname', 'evil.example.com');
    assert.notEqual(wrong.status, 0, wrong.out);
    assert.match(wrong.out, /hostname mismatch/);
  });

  it('certificates carry the extensions the profile promises', () => {
    const ca = x509Text(paths.caCert);
    assert.match(ca, /Basic Constraints: critical\s+CA:TRUE/);
    assert.match(ca, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const caKeyId = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(ca)?.[1];
    assert.ok(caKeyId, ca);
    assert.match(ca, /Subject: CN = Example VPN CA/);

    const server = x509Text(paths.serverCert);
    assert.match(server, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(server, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(server, /Extended Key Usage:\s+TLS Web Server Authentication/);
    assert.match(server, new RegExp(`Authority Key Identifier:\\s+(keyid:)?${caKeyId}`));
    assert.match(server, /Issuer: CN = Example VPN CA/);
    assert.match(server, /Subject: CN = vpn\.example\.com/);

    const client = x509Text(alice.paths.cert);
    assert.match(client, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(client, /Extended Key Usage:\s+TLS Web Client Authentication/);
    assert.match(client, new RegExp(`Authority Key Identifier:\\s+(keyid:)?${caKeyId}`));
    assert.match(client, /Subject: CN = alice/);
    assert.doesNotMatch(client, /TLS Web Server Authentication/);
  });

  it('the serial openssl reads is the one returned and used as the file name', () => {
    const r = openssl('x509', '-noout', '-serial', '-in', alice.paths.cert);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out.trim(), `serial=${alice.serial.toUpperCase()}`);
    assert.match(alice.serial, /^[0-9a-f]{32}$/);
    assert.ok(alice.paths.cert.endsWith(join('clients', `${alice.serial}.crt`)));
    assert.notEqual(alice.serial, bob.serial);
  });

  it('each private key belongs to its certificate', async () => {
    for (const [cert, key] of [
      [paths.caCert, paths.caKey],
      [paths.serverCert, paths.serverKey],
      [alice.paths.cert, alice.paths.key],
    ] as const) {
      const fromCert = openssl('x509', '-noout', '-pubkey', '-in', cert);
      const fromKey = openssl('pkey', '-pubout', '-in', key);
      assert.equal(fromKey.status, 0, fromKey.out);
      assert.equal(fromCert.out, fromKey.out);
    }
    const imported = await importPrivateKeyPem(alice.keyPem);
    assert.equal(imported.type, 'ecdsa-p256');
  });

  it('revocation: -crl_check passes before, fails for the revoked client after a new CRL', async () => {
    const crlArgs = ['-crl_check', '-CRLfile', paths.crl];
    assertVerified(verify(paths.caCert, alice.paths.cert, ...crlArgs), alice.paths.cert);
    assertVerified(verify(paths.caCert, bob.paths.cert, ...crlArgs), bob.paths.cert);

    await writeCrl(dataDir, [{ serial: alice.serial, revokedAt: NOW }], NOW, 1);

    const revoked = verify(paths.caCert, alice.paths.cert, ...crlArgs);
    assert.notEqual(revoked.status, 0, revoked.out);
    assert.match(revoked.out, /certificate revoked/);
    assertVerified(verify(paths.caCert, bob.paths.cert, ...crlArgs), bob.paths.cert);
    assertVerified(verify(paths.caCert, paths.serverCert, ...crlArgs), paths.serverCert);

    const crl = openssl('crl', '-noout', '-text', '-in', paths.crl, '-CAfile', paths.caCert);
    assert.equal(crl.status, 0, crl.out);
    assert.match(crl.out, /verify OK/);
    assert.match(crl.out, /Version 2/);
    assert.match(crl.out, /CRL Number:\s+1\b/);
    assert.match(crl.out, /Authority Key Identifier/);
    assert.match(crl.out, new RegExp(`Serial Number: ${alice.serial.toUpperCase()}`));
    assert.doesNotMatch(crl.out, new RegExp(bob.serial.toUpperCase()));
  });
});

describe('certificates made directly from a CA', () => {
  let ca: Issued;
  let caFile: string;

  before(async () => {
    ca = await createCa({ commonName: 'Direct CA', now: NOW });
    caFile = writeTemp('direct-ca.crt', ca.certPem);
  });

  it('validity: CA 3650 days and leaves 825 days from now, notBefore not after now', async () => {
    const server = await issueServerCert(ca, {
      commonName: 'gw',
      endpoint: 'gw.example',
      now: NOW,
    });
    assert.equal(ca.notAfter.getTime(), NOW.getTime() + 3650 * DAY_MS);
    assert.equal(server.notAfter.getTime(), NOW.getTime() + 825 * DAY_MS);
    assert.ok(server.notBefore.getTime() <= NOW.getTime());
    const end = openssl('x509', '-noout', '-enddate', '-in', writeTemp('gw.crt', server.certPem));
    assert.equal(end.out.trim(), 'notAfter=Jun  3 12:00:00 2028 GMT');
  });

  it('an IPv4 endpoint goes into subjectAltName as an IP address', async () => {
    const server = await issueServerCert(ca, {
      commonName: 'gw4',
      endpoint: '203.0.113.7',
      now: NOW,
    });
    const file = writeTemp('gw4.crt', server.certPem);
    assert.match(x509Text(file), /IP Address:203\.0\.113\.7/);
    assertVerified(verify(caFile, file, '-verify_ip', '203.0.113.7'), file);
    const wrong = verify(caFile, file, '-verify_ip', '203.0.113.8');
    assert.notEqual(wrong.status, 0, wrong.out);
    assert.match(wrong.out, /IP address mismatch/);
  });

  it('an IPv6 endpoint goes into subjectAltName as an IP address', async () => {
    const server = await issueServerCert(ca, {
      commonName: 'gw6',
      endpoint: '2001:db8::1',
      now: NOW,
    });
    const file = writeTemp('gw6.crt', server.certPem);
    assert.match(x509Text(file), /IP Address:2001:DB8:0:0:0:0:0:1\b/);
    assertVerified(verify(caFile, file, '-verify_ip', '2001:db8::1'), file);
    const mapped = await issueServerCert(ca, {
      commonName: 'gw6m',
      endpoint: '[::ffff:192.0.2.1]',
      now: NOW,
    });
    const mappedFile = writeTemp('gw6m.crt', mapped.certPem);
    assert.match(x509Text(mappedFile), /IP Address:0:0:0:0:0:FFFF:C000:201\b/);
  });

  it('rejects an endpoint that is neither a host name nor an address', async () => {
    await assert.rejects(
      issueServerCert(ca, { commonName: 'x', endpoint: 'not a host', now: NOW }),
      { code: 'PKI_BAD_ENDPOINT' },
    );
    await assert.rejects(
      issueServerCert(ca, { commonName: 'x', endpoint: 'fe80::1%eth0', now: NOW }),
      { code: 'PKI_BAD_ENDPOINT' },
    );
  });

  it('an RSA-3072 CA signs certificates that verify, with sha256WithRSAEncryption', async () => {
    const rsa = await createCa({ commonName: 'RSA CA', keyType: 'rsa-3072', now: NOW });
    const rsaFile = writeTemp('rsa-ca.crt', rsa.certPem);
    const text = x509Text(rsaFile);
    assert.match(text, /Public-Key: \(3072 bit\)/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    const server = await issueServerCert(rsa, {
      commonName: 'gw',
      endpoint: 'gw.example',
      now: NOW,
    });
    const client = await issueClientCert(rsa, {
      commonName: 'carol',
      keyType: 'rsa-3072',
      now: NOW,
    });
    const serverFile = writeTemp('rsa-server.crt', server.certPem);
    const clientFile = writeTemp('rsa-client.crt', client.certPem);
    assertVerified(verify(rsaFile, serverFile, '-purpose', 'sslserver'), serverFile);
    assertVerified(verify(rsaFile, clientFile, '-purpose', 'sslclient'), clientFile);
    assert.equal((await importPrivateKeyPem(client.keyPem)).type, 'rsa-3072');

    const crlFile = writeTemp(
      'rsa.crl',
      await buildCrl(rsa, [{ serial: client.serial, revokedAt: NOW }], { now: NOW, crlNumber: 7 }),
    );
    const revoked = verify(rsaFile, clientFile, '-crl_check', '-CRLfile', crlFile);
    assert.notEqual(revoked.status, 0, revoked.out);
    assert.match(revoked.out, /certificate revoked/);
    assertVerified(verify(rsaFile, serverFile, '-crl_check', '-CRLfile', crlFile), serverFile);
  });

  it('a certificate from a second CA does not verify against the first', async () => {
    const other = await createCa({ commonName: 'Direct CA', now: NOW });
    const stranger = await issueClientCert(other, { commonName: 'mallory', now: NOW });
    const file = writeTemp('stranger.crt', stranger.certPem);
    const r = verify(caFile, file);
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /unable to get local issuer certificate|certificate signature failure/);
    assertVerified(verify(writeTemp('other-ca.crt', other.certPem), file), file);
  });

  it('a CRL signed by another CA does not pass for this CA', async () => {
    const other = await createCa({ commonName: 'Direct CA', now: NOW });
    const client = await issueClientCert(ca, { commonName: 'dave', now: NOW });
    const file = writeTemp('dave.crt', client.certPem);
    const foreignCrl = writeTemp(
      'foreign.crl',
      await buildCrl(other, [], { now: NOW, crlNumber: 1 }),
    );
    const r = verify(caFile, file, '-crl_check', '-CRLfile', foreignCrl);
    assert.notEqual(r.status, 0, r.out);
  });

  it('a client certificate ends with its CA rather than outlive it', async () => {
    const shortCa = await createCa({ commonName: 'Short CA', now: NOW, validDays: 30 });
    const client = await issueClientCert(shortCa, { commonName: 'erin', now: NOW });
    assert.equal(client.notAfter.getTime(), shortCa.notAfter.getTime());
  });

  it('refuses to sign with a key that is not the CA certificate key', async () => {
    const other = await createCa({ commonName: 'Other', now: NOW });
    const mixed: Issued = { ...ca, keyPem: other.keyPem };
    await assert.rejects(issueClientCert(mixed, { commonName: 'x', now: NOW }), {
      code: 'PKI_KEY_MISMATCH',
    });
  });

  it('refuses a leaf certificate as a CA', async () => {
    const leaf = await issueClientCert(ca, { commonName: 'frank', now: NOW });
    await assert.rejects(issueClientCert(leaf, { commonName: 'x', now: NOW }), {
      code: 'PKI_NOT_CA',
    });
  });

  it('pkiPaths lays the files out under DIR/pki', () => {
    const p = pkiPaths('/srv/postern');
    assert.equal(p.caCert, '/srv/postern/pki/ca.crt');
    assert.equal(p.tlsCryptV2ServerKey, '/srv/postern/pki/tls-crypt-v2-server.key');
    assert.equal(p.clientsDir, '/srv/postern/pki/clients');
  });
});
