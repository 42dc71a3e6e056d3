// tls-crypt on the native addon (native/tls_crypt.c) against the node:crypto reference
// (src/crypto/tls-crypt.ts): the same bytes for any key, header and body; the same verdict on
// any damaged packet or wrong key; and then every golden test of the OpenVPN 2.6 captures once
// more, with the native primitives installed for the whole process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hmacSha256 } from '../../src/crypto/hmac.js';
import {
  aes256Ctr,
  referenceTlsCryptPrimitives,
  type TlsCryptKey,
} from '../../src/crypto/tls-crypt.js';
import { nativeTlsCryptPrimitives, useNativeTlsCrypt } from '../../src/io/tls/native-tls-crypt.js';

const HEADER = 17;
const TAG = 32;

const keyArb = fc
  .tuple(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
  )
  .map(([encryptionKey, authenticationKey]): TlsCryptKey => ({ encryptionKey, authenticationKey }));
const headerArb = fc.uint8Array({ minLength: HEADER, maxLength: HEADER });
const bodyArb = fc.uint8Array({ minLength: 0, maxLength: 2048 });

const hexOf = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : Buffer.from(b).toString('hex');

describe('native tls-crypt against the node:crypto reference', () => {
  const native = nativeTlsCryptPrimitives();
  const reference = referenceTlsCryptPrimitives;

  it('seals any body into the same bytes, and both open it back', () => {
    fc.assert(
      fc.property(keyArb, headerArb, bodyArb, (key, header, body) => {
        const sealed = native.seal(key, header, body);
        assert.equal(hexOf(sealed), hexOf(reference.seal(key, header, body)));
        assert.equal(sealed.length, HEADER + TAG + body.length);
        assert.equal(hexOf(native.open(key, sealed)), hexOf(body));
        assert.equal(hexOf(reference.open(key, sealed)), hexOf(body));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a packet with any bit flipped, or under the other key, as the reference does', () => {
    fc.assert(
      fc.property(
        keyArb,
        keyArb,
        headerArb,
        bodyArb,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (key, other, header, body, at, bit) => {
          const sealed = reference.seal(key, header, body);
          const bad = sealed.slice();
          const i = at % bad.length;
          bad[i] = (bad[i] ?? 0) ^ (1 << bit);
          assert.equal(native.open(key, bad), undefined, `flip at byte ${i}`);
          assert.equal(reference.open(key, bad), undefined);
          assert.equal(native.open(other, sealed), undefined, 'another key');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('opens detached parts (how WKc is sealed) as the reference does, and refuses the same damage', () => {
    fc.assert(
      fc.property(
        keyArb,
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        bodyArb,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (key, authenticated, body, at, bit) => {
          // Sealed by hand as tls-crypt-v2 seals WKc: the tag covers authenticated || body.
          const tag = hmacSha256(key.authenticationKey, authenticated, body);
          const ct = aes256Ctr(key.encryptionKey, tag.subarray(0, 16), body);
          assert.equal(hexOf(native.openDetached(key, authenticated, tag, ct)), hexOf(body));
          assert.equal(hexOf(reference.openDetached(key, authenticated, tag, ct)), hexOf(body));
          const parts = [authenticated.slice(), tag.slice(), ct.slice()];
          const sizes = parts.map((p) => p.length);
          let i = at % (sizes[0]! + sizes[1]! + sizes[2]!);
          const part = parts.findIndex((p) => (i < p.length ? true : ((i -= p.length), false)));
          parts[part]![i] = (parts[part]![i] ?? 0) ^ (1 << bit);
          const [a, t, c] = parts as [Uint8Array, Uint8Array, Uint8Array];
          assert.equal(native.openDetached(key, a, t, c), undefined, `flip in part ${part}`);
          assert.equal(reference.openDetached(key, a, t, c), undefined);
        },
      ),
      { numRuns: 300 },
    );
    const key: TlsCryptKey = {
      encryptionKey: new Uint8Array(32),
      authenticationKey: new Uint8Array(32),
    };
    assert.throws(
      () => native.openDetached(key, new Uint8Array(2), new Uint8Array(31), new Uint8Array(4)),
      RangeError,
    );
  });

  it('opens nothing shorter than header and tag, and refuses keys and headers of the wrong size', () => {
    const key: TlsCryptKey = {
      encryptionKey: new Uint8Array(32),
      authenticationKey: new Uint8Array(32),
    };
    for (const n of [0, 1, HEADER, HEADER + TAG - 1])
      assert.equal(native.open(key, new Uint8Array(n)), undefined);
    const short: TlsCryptKey = {
      encryptionKey: new Uint8Array(31),
      authenticationKey: new Uint8Array(32),
    };
    assert.throws(() => native.seal(short, new Uint8Array(HEADER), new Uint8Array(4)), RangeError);
    assert.throws(
      () => native.seal(key, new Uint8Array(HEADER + 1), new Uint8Array(4)),
      RangeError,
    );
  });
});

// The captured OpenVPN 2.6 sessions (handshakes, renegotiations, tls-crypt-v2) once more, with
// every wrap and unwrap of this process on the native primitives.
useNativeTlsCrypt();
await import('./openvpn-wire-golden.test.js');
