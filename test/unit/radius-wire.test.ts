// The RADIUS codec: the RFC 2865 §7.1 exchange byte for byte, authenticators that a flipped
// byte breaks, and properties: decode never throws, encode/decode and hide/reveal round-trip.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AcctStatusType,
  Attr,
  checkMessageAuthenticator,
  Code,
  decodePacket,
  encodePacket,
  fillMessageAuthenticator,
  findAttr,
  hidePassword,
  integerAttr,
  ipv4Attr,
  messageAuthenticatorPlaceholder,
  readInteger,
  readText,
  revealPassword,
  signAccountingRequest,
  signResponse,
  textAttr,
  verifyAccountingRequest,
  verifyResponse,
} from '../../src/wire/radius/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

// RFC 2865 §7.1: user "nemo", password "arctangent", secret "xyzzy5461", NAS 192.168.1.16 port 3.
const SECRET = utf8('xyzzy5461');
const REQUEST = hex(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a
  01 06 6e 65 6d 6f 02 12 0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee
  04 06 c0 a8 01 10 05 06 00 00 00 03`);
const ACCEPT = hex(`02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2
  06 06 00 00 00 01 0f 06 00 00 00 00 0e 06 c0 a8 01 03`);

describe('RADIUS codec: RFC 2865 §7.1 Access-Request and Access-Accept', () => {
  it('decodes the request and reveals the password the NAS hid', () => {
    const r = decodePacket(REQUEST);
    assert.ok(r.ok);
    assert.equal(r.packet.code, Code.AccessRequest);
    assert.equal(readText(findAttr(r.packet, Attr.UserName)), 'nemo');
    assert.equal(readInteger(findAttr(r.packet, Attr.NasPort)), 3);
    const hidden = findAttr(r.packet, Attr.UserPassword);
    assert.ok(hidden);
    const password = revealPassword(hidden, SECRET, r.packet.authenticator);
    assert.equal(Buffer.from(password ?? []).toString(), 'arctangent');
  });

  it('hides the password to the same bytes and re-encodes the packet identically', () => {
    const r = decodePacket(REQUEST);
    assert.ok(r.ok);
    const hidden = hidePassword(utf8('arctangent'), SECRET, r.packet.authenticator);
    assert.deepEqual(hidden, findAttr(r.packet, Attr.UserPassword));
    assert.deepEqual(encodePacket(r.packet), REQUEST);
  });

  it("accepts the server's Response Authenticator, and refuses it after any flipped byte", () => {
    const requestAuth = REQUEST.subarray(4, 20);
    assert.ok(verifyResponse(ACCEPT, requestAuth, SECRET));
    assert.ok(!verifyResponse(ACCEPT, requestAuth, utf8('wrong-secret')));
    for (let i = 0; i < ACCEPT.length; i++) {
      const bad = ACCEPT.slice();
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      if (i === 2 || i === 3) continue; // a changed length is caught by decode, not the digest
      assert.ok(!verifyResponse(bad, requestAuth, SECRET), `byte ${i} flipped`);
    }
    const accept = decodePacket(ACCEPT);
    assert.ok(accept.ok);
    const resigned = signResponse(
      { code: accept.packet.code, identifier: 0, attributes: accept.packet.attributes },
      requestAuth,
      SECRET,
    );
    assert.deepEqual(resigned, ACCEPT);
  });
});

describe('RADIUS codec: accounting and Message-Authenticator', () => {
  it('signs an Accounting-Request that verifies, and fails after a changed counter', () => {
    const bytes = signAccountingRequest(
      {
        code: Code.AccountingRequest,
        identifier: 7,
        attributes: [
          integerAttr(Attr.AcctStatusType, AcctStatusType.Stop),
          textAttr(Attr.AcctSessionId, 'a1b2c3d4'),
          ipv4Attr(Attr.FramedIpAddress, '100.64.0.2'),
          integerAttr(Attr.AcctOutputOctets, 8_388_608),
        ],
      },
      SECRET,
    );
    assert.ok(verifyAccountingRequest(bytes, SECRET));
    const tampered = bytes.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x80;
    assert.ok(!verifyAccountingRequest(tampered, SECRET));
    const r = decodePacket(bytes);
    assert.ok(r.ok);
    assert.deepEqual([...(findAttr(r.packet, Attr.FramedIpAddress) ?? [])], [100, 64, 0, 2]);
  });

  it('fills a Message-Authenticator that checks, and notices a change', () => {
    const auth = new Uint8Array(16).fill(9);
    const bytes = encodePacket({
      code: Code.AccessRequest,
      identifier: 1,
      authenticator: auth,
      attributes: [messageAuthenticatorPlaceholder(), textAttr(Attr.UserName, 'nemo')],
    });
    assert.equal(checkMessageAuthenticator(bytes, auth, SECRET), 'invalid');
    assert.ok(fillMessageAuthenticator(bytes, auth, SECRET));
    assert.equal(checkMessageAuthenticator(bytes, auth, SECRET), 'valid');
    bytes[bytes.length - 1] = 0x41;
    assert.equal(checkMessageAuthenticator(bytes, auth, SECRET), 'invalid');
    assert.equal(checkMessageAuthenticator(ACCEPT, auth, SECRET), 'absent');
  });

  it('refuses packets whose lengths lie', () => {
    assert.equal(decodePacket(REQUEST.subarray(0, 19)).ok, false);
    assert.equal(decodePacket(REQUEST.subarray(0, REQUEST.length - 1)).ok, false);
    const zeroAttr = REQUEST.slice();
    zeroAttr[21] = 0;
    assert.equal(decodePacket(zeroAttr).ok, false);
    const overrun = REQUEST.slice();
    overrun[21] = 200;
    assert.equal(decodePacket(overrun).ok, false);
    const huge = REQUEST.slice();
    huge[2] = 0x10;
    huge[3] = 0x01;
    assert.equal(decodePacket(huge).ok, false);
    // Octets after Length are padding (RFC 2865 §3), not a reason to refuse.
    assert.equal(decodePacket(Uint8Array.from([...REQUEST, 0, 0, 0])).ok, true);
  });
});

describe('RADIUS codec: properties', () => {
  const RUNS = { numRuns: 1000 };
  const attribute = fc
    .tuple(fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 253 }))
    .map(([type, value]) => ({ type, value }));

  it('decode never throws, whatever it is fed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        decodePacket(b);
      }),
      RUNS,
    );
    // Bytes with a plausible header, so the attribute walk is exercised too.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (rest) => {
        const b = new Uint8Array(20 + rest.length);
        b.set(rest, 20);
        b[2] = (b.length >> 8) & 0xff;
        b[3] = b.length & 0xff;
        const r = decodePacket(b);
        if (r.ok) assert.deepEqual(encodePacket(r.packet), b);
      }),
      RUNS,
    );
  });

  it('encode then decode gives back the packet', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.array(attribute, { maxLength: 12 }),
        (code, identifier, authenticator, attributes) => {
          const p = { code, identifier, authenticator, attributes };
          const r = decodePacket(encodePacket(p));
          assert.ok(r.ok);
          assert.deepEqual(r.packet, p);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reveal undoes hide for every password without trailing NULs', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 128 }).filter((p) => p.length === 0 || p.at(-1) !== 0),
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (password, secret, auth) => {
          const hidden = hidePassword(password, secret, auth);
          assert.equal(hidden.length % 16, 0);
          assert.deepEqual(revealPassword(hidden, secret, auth), password);
        },
      ),
      { numRuns: 300 },
    );
  });
});
