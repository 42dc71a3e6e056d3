// Peer info: what stock clients announce, read into named flags, and what we announce.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildPeerInfo,
  IV_PROTO,
  ivProtoFlags,
  ivProtoValue,
  parsePeerInfo,
  peerSupports,
} from '../../src/proto/openvpn/peer-info.js';

// As OpenVPN 2.6.12 on Linux writes it in pull mode.
const OPENVPN_26_LINUX =
  'IV_VER=2.6.12\nIV_PLAT=linux\nIV_TCPNL=1\nIV_MTU=1600\nIV_NCP=2\n' +
  'IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\nIV_PROTO=990\n' +
  'IV_LZO_STUB=1\nIV_COMP_STUB=1\nIV_COMP_STUBv2=1\nIV_SSO=openurl,webauth,crtext\n';

test('IV_PROTO bits match OpenVPN ssl.h', () => {
  assert.deepEqual(IV_PROTO, {
    DATA_V2: 2,
    REQUEST_PUSH: 4,
    TLS_KEY_EXPORT: 8,
    AUTH_PENDING_KW: 16,
    NCP_P2P: 32,
    DNS_OPTION: 64,
    CC_EXIT_NOTIFY: 128,
    AUTH_FAIL_TEMP: 256,
    DYN_TLS_CRYPT: 512,
    DATA_EPOCH: 1024,
    DNS_OPTION_V2: 2048,
    PUSH_UPDATE: 4096,
  });
});

test('an OpenVPN 2.6 client: version, platform, ciphers and IV_PROTO=990 as flags', () => {
  const info = parsePeerInfo(OPENVPN_26_LINUX);
  assert.equal(info.version, '2.6.12');
  assert.equal(info.platform, 'linux');
  assert.equal(info.mtu, 1600);
  assert.equal(info.ncp, 2);
  assert.equal(info.tcpNonLinear, true);
  assert.deepEqual(info.ciphers, ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']);
  assert.deepEqual(info.sso, ['openurl', 'webauth', 'crtext']);
  assert.equal(info.proto, 990);
  assert.deepEqual(info.protoFlags, {
    DATA_V2: true,
    REQUEST_PUSH: true,
    TLS_KEY_EXPORT: true,
    AUTH_PENDING_KW: true,
    NCP_P2P: false,
    DNS_OPTION: true,
    CC_EXIT_NOTIFY: true,
    AUTH_FAIL_TEMP: true,
    DYN_TLS_CRYPT: true,
    DATA_EPOCH: false,
    DNS_OPTION_V2: false,
    PUSH_UPDATE: false,
  });
  assert.equal(peerSupports(info, 'TLS_KEY_EXPORT'), true);
  assert.equal(info.vars.get('IV_COMP_STUBv2'), '1');
});

test('an OpenVPN 2.4 client: IV_NCP=2, IV_PROTO=2, no IV_CIPHERS', () => {
  const info = parsePeerInfo('IV_VER=2.4.7\nIV_PLAT=win\nIV_PROTO=2\nIV_NCP=2\nIV_LZ4=1\n');
  assert.equal(info.ciphers, undefined);
  assert.equal(info.ncp, 2);
  assert.equal(info.protoFlags.DATA_V2, true);
  assert.equal(info.protoFlags.TLS_KEY_EXPORT, false);
});

test('odd input: CRLF, lines without "=", duplicates (first wins), junk numbers, nothing at all', () => {
  const info = parsePeerInfo('IV_VER=1\r\nnonsense\n=x\nIV_PROTO=12abc\nIV_PROTO=4\nIV_MTU=big\n');
  assert.equal(info.version, '1');
  assert.equal(info.proto, 12, 'read like sscanf %d: the leading digits of the first IV_PROTO');
  assert.equal(info.mtu, undefined);
  assert.equal(info.entries.length, 4);
  const empty = parsePeerInfo(undefined);
  assert.equal(empty.proto, 0);
  assert.equal(empty.version, undefined);
  assert.deepEqual(empty.sso, []);
  assert.equal(parsePeerInfo('IV_PROTO=-1\n').proto, 0);
});

test('ivProtoValue and ivProtoFlags are inverse', () => {
  assert.equal(ivProtoValue(['DATA_V2', 'TLS_KEY_EXPORT', 'CC_EXIT_NOTIFY']), 2 + 8 + 128);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0x1fff }), (v) => {
      const even = v & ~1; // bit 0 is reserved and has no name
      const flags = ivProtoFlags(even);
      const names = (Object.keys(flags) as (keyof typeof flags)[]).filter((k) => flags[k]);
      assert.equal(ivProtoValue(names), even);
    }),
  );
});

test('our own peer info for postern connect', () => {
  const text = buildPeerInfo({
    version: '2.6.12',
    platform: 'linux',
    ciphers: ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305'],
    sso: ['openurl'],
    guiVersion: 'postern_0.1.0',
  });
  assert.equal(
    text,
    'IV_VER=2.6.12\nIV_PLAT=linux\nIV_TCPNL=1\nIV_MTU=1600\nIV_NCP=2\n' +
      'IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\nIV_PROTO=414\n' +
      'IV_SSO=openurl\nIV_GUI_VER=postern_0.1.0\n',
  );
  const back = parsePeerInfo(text);
  assert.equal(back.protoFlags.DATA_V2 && back.protoFlags.TLS_KEY_EXPORT, true);
  assert.equal(back.protoFlags.DYN_TLS_CRYPT, false, 'opt-in only');
  const chachaOnly = buildPeerInfo({
    version: 'x',
    platform: 'linux',
    ciphers: ['CHACHA20-POLY1305'],
  });
  assert.equal(parsePeerInfo(chachaOnly).ncp, undefined, 'IV_NCP=2 promises both AES-GCM sizes');
  assert.throws(() => buildPeerInfo({ version: '1\nIV_PROTO=0', platform: 'linux', ciphers: [] }), {
    code: 'OVPN_PEER_INFO_BAD_VALUE',
  });
  assert.throws(
    () => buildPeerInfo({ version: '1', platform: 'linux', ciphers: [], userVars: { IV_X: '1' } }),
    { code: 'OVPN_PEER_INFO_BAD_VALUE' },
  );
});

test('property: any text parses without throwing; IV_PROTO is never negative', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      const info = parsePeerInfo(s);
      assert.ok(info.proto >= 0);
    }),
    { numRuns: 300 },
  );
});
