// Byte equality of public values (addresses, session ids, fixed payloads). Secrets (tags, MACs)
// are compared with src/crypto/constant-time.ts instead.

/** True when `a` and `b` hold the same bytes. */
export function bytesEqual(a: Readonly<Uint8Array>, b: Readonly<Uint8Array>): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
