import { Option, type Command } from 'commander';
import {
  exportProfile,
  PROFILE_FILE_MODE,
  PROFILE_FORMATS,
  writePrivateFile,
  type ProfileFormat,
} from '../../control/profile/index.js';
import { resolveDir, withStore } from '../context.js';

interface ProfileFlags {
  dir?: string;
  format: ProfileFormat;
  out?: string;
}

export function registerProfile(program: Command): void {
  program
    .command('profile')
    .description(
      "export a user's client profile: ovpn for stock OpenVPN clients, postern for `postern connect`",
    )
    .argument('<NAME>', 'user name')
    .option('--dir <DIR>', 'data directory')
    .addOption(
      new Option('--format <FORMAT>', 'ovpn: one file for any OpenVPN client; postern: JSON')
        .choices(PROFILE_FORMATS)
        .makeOptionMandatory(),
    )
    .option('--out <FILE>', 'write the profile to FILE (mode 0600) instead of standard output')
    .action(async (name: string, f: ProfileFlags) => {
      const dir = resolveDir(f);
      const out = f.out;
      const deliver = out
        ? (text: string) => writePrivateFile(out, text)
        : (text: string) => writeStdout(text);
      const r = await withStore(dir, (config, store) =>
        exportProfile(
          { dir, config, db: store.db, now: new Date(), actor: 'cli' },
          name,
          f.format,
          deliver,
        ),
      );
      if (out) {
        process.stdout.write(
          `wrote the ${r.format} profile of ${r.user} to ${out} (mode ${PROFILE_FILE_MODE.toString(8).padStart(4, '0')}; it holds ${r.user}'s private key)\n`,
        );
      }
    });
}

function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (e) => (e ? reject(e) : resolve()));
  });
}
