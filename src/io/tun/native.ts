// Loads build/Release/postern_native.node (built by scripts/build-native.mjs, npm's install
// script) and describes what it exports. Loaded lazily, on first use, so importing modules that
// could use it costs nothing where it is not built.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PosternError } from '../../errors.js';

/** Called once per batch of packets read; `lengths[0..count)` is valid only during the call. */
export type NativeTunBatchCallback = (slab: Buffer | null, count: number, errno: number) => void;

export interface NativeTunReader {
  /** Lengths of the packets of the current batch, back to back in `slab`. */
  readonly lengths: Uint32Array;
  /** Running counters, indexed by NativeAddon.TUN_READER_COUNTER. */
  readonly counters: Float64Array;
}

export interface NativeAddon {
  /** Opens /dev/net/tun as IFF_TUN|IFF_NO_PI, non-blocking. '' lets the kernel pick a name. */
  tunOpen(name: string): { fd: number; name: string };
  tunClose(fd: number): void;
  /** Writes each packet; returns how many the kernel accepted (the rest are dropped). */
  tunWrite(fd: number, packets: readonly Uint8Array[]): number;
  tunReaderStart(fd: number, onBatch: NativeTunBatchCallback): NativeTunReader;
  tunReaderStop(reader: NativeTunReader): void;
  readonly TUN_READ_BATCH_MAX: number;
  readonly TUN_READER_COUNTER: {
    readonly packets: number;
    readonly batches: number;
    readonly readErrors: number;
    readonly truncated: number;
    readonly lastErrno: number;
  };
}

const ADDON_RELATIVE_PATH = join('build', 'Release', 'postern_native.node');

/** Set it to load the addon from elsewhere (e.g. a debug build). */
export const NATIVE_ADDON_ENV = 'POSTERN_NATIVE_ADDON';

/**
 * Where the addon is: $POSTERN_NATIVE_ADDON, else the nearest build/Release/ found walking up
 * from this file (dist/src/io/tun/ when compiled, src/io/tun/ under a TS loader). If there is
 * none, the path it should have in the package root (first directory with a package.json).
 */
export function nativeAddonPath(): string {
  const override = process.env[NATIVE_ADDON_ENV];
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  let packageRoot: string | undefined;
  for (;;) {
    const candidate = join(dir, ADDON_RELATIVE_PATH);
    if (existsSync(candidate)) return candidate;
    if (!packageRoot && existsSync(join(dir, 'package.json'))) packageRoot = dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return packageRoot
    ? join(packageRoot, ADDON_RELATIVE_PATH)
    : fileURLToPath(new URL(`../../../../${ADDON_RELATIVE_PATH}`, import.meta.url));
}

let loaded: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (loaded) return loaded;
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    throw new PosternError(
      'NATIVE_ADDON_MISSING',
      `the native addon is not built (${path} does not exist)`,
      'run `npm run build:native` (node scripts/build-native.mjs) or `npm ci`',
    );
  }
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    throw new PosternError(
      'NATIVE_ADDON_LOAD_FAILED',
      `the native addon ${path} does not load: ${(e as Error).message.split('\n')[0]}`,
      'rebuild it for this Node with `npm run build:native` (node scripts/build-native.mjs) or `npm ci`',
    );
  }
  return loaded;
}
