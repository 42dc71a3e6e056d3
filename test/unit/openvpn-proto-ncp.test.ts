// Cipher negotiation: which data-channel cipher a 2.6 server picks, and how it refuses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalCipherName,
  DEFAULT_DATA_CIPHERS,
  negotiateCipher,
  NO_SHARED_CIPHER_AUTH_FAILED,
  occCipher,
  parseCipherList,
} from '../../src/proto/openvpn/ncp.js';

const peer = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

test('the server preference wins: first server cipher the client also offers', () => {
  const r = negotiateCipher({
    serverCiphers: ['CHACHA20-POLY1305', 'AES-256-GCM'],
    peerInfo: peer(['IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305']),
  });
  assert.deepEqual(r, { ok: true, cipher: 'CHACHA20-POLY1305', via: 'iv-ciphers' });
});

test('names match case-insensitively and come back in canonical spelling', () => {
  const r = negotiateCipher({
    serverCiphers: parseCipherList('?chacha20-poly1305:aes-128-gcm'),
    peerInfo: peer(['IV_CIPHERS=ChaCha20-Poly1305']),
  });
  assert.deepEqual(r, { ok: true, cipher: 'CHACHA20-POLY1305', via: 'iv-ciphers' });
  assert.equal(canonicalCipherName('aes-256-gcm'), 'AES-256-GCM');
  assert.equal(canonicalCipherName('NONE'), 'none');
});

test('an old client with only IV_NCP=2 is known to take AES-256-GCM and AES-128-GCM', () => {
  const r = negotiateCipher({
    serverCiphers: ['CHACHA20-POLY1305', 'AES-128-GCM', 'AES-256-GCM'],
    peerInfo: peer(['IV_VER=2.4.9', 'IV_NCP=2', 'IV_PROTO=2']),
  });
  assert.deepEqual(r, { ok: true, cipher: 'AES-128-GCM', via: 'iv-ncp' });
});

test('a client without IV_CIPHERS may name its cipher in the OCC options string', () => {
  const occ = 'V4,dev-type tun,link-mtu 1557,tun-mtu 1500,proto UDPv4,cipher AES-256-CBC,auth SHA1';
  assert.equal(occCipher(occ), 'AES-256-CBC');
  const r = negotiateCipher({
    serverCiphers: ['AES-256-GCM', 'AES-256-CBC'],
    peerInfo: peer(['IV_VER=2.3.18']),
    occOptions: occ,
  });
  assert.deepEqual(r, { ok: true, cipher: 'AES-256-CBC', via: 'occ-cipher' });
  // With IV_CIPHERS the OCC cipher is not taken as an offer.
  const modern = negotiateCipher({
    serverCiphers: ['AES-256-CBC'],
    peerInfo: peer(['IV_CIPHERS=AES-256-GCM']),
    occOptions: occ,
  });
  assert.equal(modern.ok, false);
});

test('data-ciphers-fallback only for a client that announced no cipher at all', () => {
  const silent = negotiateCipher({
    serverCiphers: DEFAULT_DATA_CIPHERS,
    peerInfo: undefined,
    fallbackCipher: 'aes-256-cbc',
  });
  assert.deepEqual(silent, { ok: true, cipher: 'AES-256-CBC', via: 'fallback' });
  const offered = negotiateCipher({
    serverCiphers: DEFAULT_DATA_CIPHERS,
    peerInfo: peer(['IV_CIPHERS=BF-CBC']),
    fallbackCipher: 'AES-256-CBC',
  });
  assert.equal(offered.ok, false, 'the client said what it takes; falling back would not help');
});

test('no shared cipher: the exact AUTH_FAILED text a stock client logs', () => {
  const r = negotiateCipher({
    serverCiphers: DEFAULT_DATA_CIPHERS,
    peerInfo: peer(['IV_CIPHERS=BF-CBC:AES-128-CBC']),
  });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(
      r.authFailed,
      'AUTH_FAILED,Data channel cipher negotiation failed (no shared cipher)',
    );
    assert.equal(r.authFailed, NO_SHARED_CIPHER_AUTH_FAILED);
    assert.equal(r.clientReason, 'Data channel cipher negotiation failed (no shared cipher)');
    assert.deepEqual(r.clientCiphers, ['BF-CBC', 'AES-128-CBC']);
  }
});

test('"none" is never negotiated, whatever both lists say', () => {
  const r = negotiateCipher({
    serverCiphers: ['none', 'AES-256-GCM'],
    peerInfo: peer(['IV_CIPHERS=none']),
    occOptions: 'V4,cipher [null-cipher]',
    fallbackCipher: 'none',
  });
  assert.equal(r.ok, false);
  assert.equal(occCipher('V4,cipher [null-cipher]'), 'none');
});
