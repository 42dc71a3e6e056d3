// OpenVPN's key files: the tls-crypt static key V1 and the tls-crypt-v2 server key, in the exact
// text form `openvpn --genkey` writes and reads.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formatStaticKey,
  formatTlsCryptV2ServerKey,
  parseStaticKey,
  parseTlsCryptV2ServerKey,
} from '../../src/control/pki/index.js';
import { PosternError } from '../../src/errors.js';

// Written by `openvpn --genkey secret` (OpenVPN 2.6.14); a throwaway key, used for nothing.
const OPENVPN_STATIC_KEY = `#
# 2048 bit OpenVPN static key
#
-----BEGIN OpenVPN Static key V1-----
56f6a61ea4e4dca07ebceec4ad056fba
7fed464612b99dab0b98112dace7afdf
78c67be7abf049d8b7b6d3af7f68d5aa
42118605c3e544efcf8c512068baee8f
7c123e9e09ea7e1673f8c64287ce2410
2311036d5ae355a2092e5f56c0949529
2ce4589a9a38e0a377b9541fbce3b6ad
7d5da7232bfe2dbcebab28822eb2b6d5
754ce0c2067a0e9afef98e9567dc4a2f
d7daa61904a4f71363565ae61a7c0944
9dd0507c40c3da9942376bfb802a426c
d927afa1fb6a7a449be7d544714bfd91
9c443893c949a7b2f394cbaddc0cd667
caae20a98ef778bb472373d17c0f6ed9
f314f7183dd2f57df214ac8289d2b260
d7e35c6e4a3c3d8948d064ba637534d0
-----END OpenVPN Static key V1-----
`;

// Written by `openvpn --genkey tls-crypt-v2-server` (OpenVPN 2.6.14); a throwaway key.
const OPENVPN_V2_SERVER_KEY = `-----BEGIN OpenVPN tls-crypt-v2 server key-----
s9zoz/TytDH9ICYR5WeJ/CPPMsU7bI+013R0HcT/LmU8BkEUcr4ofsjoNpEIeLLK
6gimD3reBw+APfOtjwgSOhnWgoJUhTCoPJW1rrBKT25foGf8QKW4ksw9QD8SIw5P
7KwxtGwLCprsOzVpvsM04ylzeLBGT4nOFZXglzrArpY=
-----END OpenVPN tls-crypt-v2 server key-----
`;

function counting(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i);
}

function bodyLines(text: string): string[] {
  const lines = text.split('\n');
  const begin = lines.findIndex((l) => l.startsWith('-----BEGIN'));
  const end = lines.findIndex((l) => l.startsWith('-----END'));
  return lines.slice(begin + 1, end);
}

function isStableError(code: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof PosternError, String(e));
    assert.equal(e.code, code);
    return true;
  };
}

describe('tls-crypt static key V1', () => {
  it('reads the file openvpn --genkey secret wrote, comment header included', () => {
    const key = parseStaticKey(OPENVPN_STATIC_KEY);
    assert.equal(key.length, 256);
    assert.equal(Buffer.from(key.subarray(0, 4)).toString('hex'), '56f6a61e');
    assert.equal(Buffer.from(key.subarray(252)).toString('hex'), '637534d0');
  });

  it('writes the markers and 16 lines of 32 hex digits, as openvpn does', () => {
    const text = formatStaticKey(counting(256));
    const lines = text.split('\n');
    assert.match(lines[0] ?? '', /^#/);
    assert.ok(lines.includes('-----BEGIN OpenVPN Static key V1-----'));
    assert.ok(lines.includes('-----END OpenVPN Static key V1-----'));
    const body = bodyLines(text);
    assert.equal(body.length, 16);
    for (const line of body) assert.match(line, /^[0-9a-f]{32}$/);
    assert.equal(body[0], '000102030405060708090a0b0c0d0e0f');
    assert.ok(text.endsWith('-----END OpenVPN Static key V1-----\n'));
  });

  it('round-trips any 256 bytes, and openvpn output re-formats to the same body', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), (bytes) => {
        assert.deepEqual(parseStaticKey(formatStaticKey(bytes)), bytes);
      }),
    );
    const reformatted = formatStaticKey(parseStaticKey(OPENVPN_STATIC_KEY));
    assert.deepEqual(bodyLines(reformatted), bodyLines(OPENVPN_STATIC_KEY));
  });

  it('accepts CRLF line ends and upper-case hex', () => {
    const crlf = OPENVPN_STATIC_KEY.replace(/\n/g, '\r\n')
      .toUpperCase()
      .replace(/OPENVPN STATIC KEY V1/g, 'OpenVPN Static key V1');
    assert.deepEqual(parseStaticKey(crlf), parseStaticKey(OPENVPN_STATIC_KEY));
  });

  it('rejects garbage and damaged files with PKI_BAD_STATIC_KEY and a clear message', () => {
    const bad = isStableError('PKI_BAD_STATIC_KEY');
    assert.throws(() => parseStaticKey('garbage\n'), bad);
    assert.throws(() => parseStaticKey(''), bad);
    assert.throws(() => parseStaticKey(OPENVPN_V2_SERVER_KEY), bad);
    // one hex digit short
    assert.throws(
      () => parseStaticKey(OPENVPN_STATIC_KEY.replace('56f6a61e', '56f6a61')),
      (e) => {
        assert.ok(e instanceof PosternError);
        assert.match(e.message, /256 bytes \(512 hex digits\)/);
        return true;
      },
    );
    // a non-hex character inside the body
    assert.throws(() => parseStaticKey(OPENVPN_STATIC_KEY.replace('56f6a61e', '56f6a61g')), bad);
    // the END marker cut off
    assert.throws(() => parseStaticKey(OPENVPN_STATIC_KEY.split('-----END')[0] ?? ''), bad);
    // text that is not a comment before the key, or anything after it
    assert.throws(() => parseStaticKey(`hello\n${OPENVPN_STATIC_KEY}`), bad);
    assert.throws(() => parseStaticKey(`${OPENVPN_STATIC_KEY}trailing\n`), bad);
    // the wrong size on the way out
    assert.throws(() => formatStaticKey(new Uint8Array(255)), bad);
  });

  it('any text either parses to 256 bytes or fails with the stable code', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.nat({ max: OPENVPN_STATIC_KEY.length }),
        fc.string({ maxLength: 4 }),
        (junk, at, insert) => {
          for (const text of [
            junk,
            OPENVPN_STATIC_KEY.slice(0, at) + insert + OPENVPN_STATIC_KEY.slice(at),
          ]) {
            try {
              assert.equal(parseStaticKey(text).length, 256);
            } catch (e) {
              assert.ok(e instanceof PosternError && e.code === 'PKI_BAD_STATIC_KEY', String(e));
            }
          }
        },
      ),
    );
  });
});

describe('tls-crypt-v2 server key', () => {
  it('reads the file openvpn --genkey tls-crypt-v2-server wrote', () => {
    const key = parseTlsCryptV2ServerKey(OPENVPN_V2_SERVER_KEY);
    assert.equal(key.length, 128);
    assert.deepEqual(formatTlsCryptV2ServerKey(key), OPENVPN_V2_SERVER_KEY);
  });

  it('writes base64 in 64-character lines between the markers', () => {
    const text = formatTlsCryptV2ServerKey(counting(128));
    assert.ok(text.startsWith('-----BEGIN OpenVPN tls-crypt-v2 server key-----\n'));
    assert.ok(text.endsWith('-----END OpenVPN tls-crypt-v2 server key-----\n'));
    assert.deepEqual(
      bodyLines(text).map((l) => l.length),
      [64, 64, 44],
    );
  });

  it('round-trips any 128 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 128, maxLength: 128 }), (bytes) => {
        assert.deepEqual(parseTlsCryptV2ServerKey(formatTlsCryptV2ServerKey(bytes)), bytes);
      }),
    );
  });

  it('rejects wrong sizes, bad base64 and other key files with a stable code', () => {
    const bad = isStableError('PKI_BAD_TLS_CRYPT_V2_KEY');
    assert.throws(() => parseTlsCryptV2ServerKey('garbage'), bad);
    assert.throws(() => parseTlsCryptV2ServerKey(OPENVPN_STATIC_KEY), bad);
    assert.throws(
      () => parseTlsCryptV2ServerKey(OPENVPN_V2_SERVER_KEY.replace('s9zoz', 's9z*z')),
      bad,
    );
    // 80 bytes instead of 128: a whole line dropped
    const short = OPENVPN_V2_SERVER_KEY.split('\n')
      .filter((_, i) => i !== 1)
      .join('\n');
    assert.throws(
      () => parseTlsCryptV2ServerKey(short),
      (e) => {
        assert.ok(e instanceof PosternError);
        assert.match(e.message, /must hold 128 bytes/);
        return true;
      },
    );
    const clientLabel = OPENVPN_V2_SERVER_KEY.replace(/server key/g, 'client key');
    assert.throws(() => parseTlsCryptV2ServerKey(clientLabel), bad);
    assert.throws(() => formatTlsCryptV2ServerKey(new Uint8Array(64)), bad);
  });
});
