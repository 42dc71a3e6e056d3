// Exporting a user's profile, as the CLI (and later the API) does it: gather, render, hand the
// text over, and leave an audit record either way, since a profile is a credential.
import { PosternError } from '../../errors.js';
import type { Config } from '../config/index.js';
import { writeAudit, type Db } from '../store/index.js';
import { gatherProfileMaterial } from './gather.js';
import type { ProfileFormat, ProfileMaterial } from './material.js';
import { renderOvpn } from './render-ovpn.js';
import { renderPosternProfile } from './render-postern.js';

export const AUDIT_REASON_PROFILE_EXPORT = 'profile.export';

export interface ExportContext {
  dir: string;
  config: Config;
  db: Db;
  now: Date;
  /** Who asked, for the audit record (e.g. "cli", "api"). */
  actor: string;
  randomBytes?: (length: number) => Uint8Array;
}

export interface ExportedProfile {
  user: string;
  format: ProfileFormat;
  serial: string;
  text: string;
}

export function renderProfile(material: ProfileMaterial, format: ProfileFormat): string {
  return format === 'ovpn' ? renderOvpn(material) : renderPosternProfile(material);
}

/**
 * Builds the profile and passes its text to `deliver` (write a file, print it, send it); the
 * audit record says `ok` only once delivery succeeded.
 */
export async function exportProfile(
  ctx: ExportContext,
  user: string,
  format: ProfileFormat,
  deliver: (text: string) => Promise<void>,
): Promise<ExportedProfile> {
  let exported: ExportedProfile;
  try {
    const material = await gatherProfileMaterial({
      dir: ctx.dir,
      config: ctx.config,
      db: ctx.db,
      user,
      now: ctx.now,
      ...(ctx.randomBytes ? { randomBytes: ctx.randomBytes } : {}),
    });
    exported = { user, format, serial: material.serial, text: renderProfile(material, format) };
    await deliver(exported.text);
  } catch (e) {
    await writeAudit(
      ctx.db,
      {
        event: 'admin',
        user,
        remote: ctx.actor,
        result: 'fail',
        reason: AUDIT_REASON_PROFILE_EXPORT,
        detail: { format, error: e instanceof PosternError ? e.code : 'ERROR' },
      },
      ctx.now,
    );
    throw e;
  }
  await writeAudit(
    ctx.db,
    {
      event: 'admin',
      user,
      remote: ctx.actor,
      result: 'ok',
      reason: AUDIT_REASON_PROFILE_EXPORT,
      detail: { format, serial: exported.serial },
    },
    ctx.now,
  );
  return exported;
}
