// tls-crypt's seal and open on OpenSSL through the native addon (native/tls_crypt.c): one MAC
// and one cipher context per thread, re-keyed per packet, instead of a node:crypto Hmac and
// Cipher object per packet. Same bytes as the reference in src/crypto/tls-crypt.ts
// (test/unit/tls-crypt-native.test.ts); installed wherever the native TLS engine runs.
import {
  useTlsCryptPrimitives,
  type TlsCryptKey,
  type TlsCryptPrimitives,
} from '../../crypto/tls-crypt.js';
import { PosternError } from '../../errors.js';
import { loadNative } from '../tun/native.js';
import { bytesOf } from './native-tls-engine.js';

interface NativeTlsCryptAddon {
  tlsCryptSeal(ke: Uint8Array, ka: Uint8Array, header: Uint8Array, plaintext: Uint8Array): Buffer;
  tlsCryptOpen(ke: Uint8Array, ka: Uint8Array, packet: Uint8Array): Buffer | null;
  tlsCryptOpenDetached(
    ke: Uint8Array,
    ka: Uint8Array,
    authenticated: Uint8Array,
    tag: Uint8Array,
    ciphertext: Uint8Array,
  ): Buffer | null;
}

/** The native primitives; throws NATIVE_ADDON_OUTDATED when the addon has none. */
export function nativeTlsCryptPrimitives(): TlsCryptPrimitives {
  const addon = loadNative() as unknown as Partial<NativeTlsCryptAddon>;
  const { tlsCryptSeal: seal, tlsCryptOpen: open, tlsCryptOpenDetached: openDetached } = addon;
  if (
    typeof seal !== 'function' ||
    typeof open !== 'function' ||
    typeof openDetached !== 'function'
  ) {
    throw new PosternError(
      'NATIVE_ADDON_OUTDATED',
      'the native addon has no tls-crypt',
      'rebuild it with `node scripts/build-native.mjs`',
    );
  }
  return {
    seal: (key: TlsCryptKey, header: Uint8Array, plaintext: Uint8Array) =>
      bytesOf(seal(key.encryptionKey, key.authenticationKey, header, plaintext)),
    open: (key: TlsCryptKey, packet: Uint8Array) => {
      const plaintext = open(key.encryptionKey, key.authenticationKey, packet);
      return plaintext === null ? undefined : bytesOf(plaintext);
    },
    openDetached: (key, authenticated, tag, ciphertext) => {
      const plaintext = openDetached(
        key.encryptionKey,
        key.authenticationKey,
        authenticated,
        tag,
        ciphertext,
      );
      return plaintext === null ? undefined : bytesOf(plaintext);
    },
  };
}

/** Installs the native primitives for this process. */
export function useNativeTlsCrypt(): void {
  useTlsCryptPrimitives(nativeTlsCryptPrimitives());
}
