// Profiles hold a private key, so a profile file is mode 0600 from its first byte: it is written
// under a temporary name created with that mode, then renamed over the target. An existing file
// is replaced whole (whatever its old mode), and a reader never sees half a profile.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PosternError } from '../../errors.js';

export const PROFILE_FILE_MODE = 0o600;
const TEMP_SUFFIX_BYTES = 6;

export async function writePrivateFile(path: string, text: string): Promise<void> {
  const target = resolve(path);
  const temp = join(
    dirname(target),
    `.${basename(target)}.tmp-${randomBytes(TEMP_SUFFIX_BYTES).toString('hex')}`,
  );
  try {
    const handle = await open(temp, 'wx', PROFILE_FILE_MODE);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EISDIR'
        ? 'it is a directory'
        : code === 'ENOENT'
          ? 'its folder does not exist'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : (e as Error).message;
    throw new PosternError(
      'PROFILE_WRITE',
      `cannot write ${path}: ${why}`,
      'pick another --out FILE',
    );
  } finally {
    await rm(temp, { force: true });
  }
}
