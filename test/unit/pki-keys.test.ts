// Keys and serial numbers: PEM that openssl reads and writes, and serials that stay positive.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  normalizeSerial,
  randomSerial,
} from '../../src/control/pki/index.js';

function openssl(args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('private keys', () => {
  it('exports PKCS#8 PEM that openssl checks, and imports it back', async () => {
    const pair = await generateKeyPair('ecdsa-p256');
    const pem = await exportPrivateKeyPem(pair.privateKey);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const r = openssl(['pkey', '-check', '-noout'], pem);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /Key is valid/);
    const back = await importPrivateKeyPem(pem);
    assert.equal(back.type, 'ecdsa-p256');
    assert.equal(await exportPrivateKeyPem(back.privateKey), pem);
  });

  it('imports the SEC1 EC key openssl ecparam writes', async () => {
    const sec1 = openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout']).out;
    assert.match(sec1, /BEGIN EC PRIVATE KEY/);
    assert.equal((await importPrivateKeyPem(sec1)).type, 'ecdsa-p256');
  });

  it('refuses key types Postern does not issue, and text that is no key', async () => {
    const ed = openssl(['genpkey', '-algorithm', 'ed25519']).out;
    await assert.rejects(importPrivateKeyPem(ed), { code: 'PKI_BAD_KEY' });
    const p384 = openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    await assert.rejects(importPrivateKeyPem(p384.out), { code: 'PKI_BAD_KEY' });
    await assert.rejects(importPrivateKeyPem('not a key'), { code: 'PKI_BAD_KEY' });
  });
});

describe('serial numbers', () => {
  it('are 16 random octets, positive, with no leading zero octet', () => {
    assert.equal(
      randomSerial(() => new Uint8Array(16).fill(0xff)),
      `7f${'ff'.repeat(15)}`,
    );
    assert.equal(
      randomSerial(() => new Uint8Array(16)),
      `01${'00'.repeat(15)}`,
    );
    const seen = new Set(Array.from({ length: 64 }, () => randomSerial()));
    assert.equal(seen.size, 64);
    for (const s of seen) assert.match(s, /^[0-7][0-9a-f]{31}$/);
    assert.throws(() => randomSerial(() => new Uint8Array(8)), { code: 'PKI_BAD_RANDOM' });
  });

  it('normalize to lowercase hex without leading zero octets', () => {
    assert.equal(normalizeSerial('0A1B'), '0a1b');
    assert.equal(normalizeSerial('000A1B'), '0a1b');
    assert.equal(normalizeSerial(' ABC '), '0abc');
    for (const bad of ['', '0', 'xyz', '12:34', '../ab', 'ab'.repeat(21)]) {
      assert.throws(() => normalizeSerial(bad), { code: 'PKI_BAD_SERIAL' }, bad);
    }
  });
});
