// postern.yaml's `radius:` section as the RADIUS client's settings, and the one call the
// gateway's authorisation makes: a password check that is skipped when RADIUS is off.
import type { Config } from '../config/index.js';
import { radiusAuthenticate, type RadiusSettings, type RadiusVerdict } from './authenticate.js';

export function radiusSettingsFrom(config: Config): RadiusSettings | undefined {
  const r = config.radius;
  if (!r.enabled) return undefined;
  return {
    servers: r.servers.map((s) => ({
      host: s.host,
      authPort: s['auth-port'],
      acctPort: s['acct-port'],
    })),
    secret: r.secret,
    nasIdentifier: r['nas-identifier'] ?? config.name,
    timeoutMs: r['timeout-ms'],
    tries: r.tries,
  };
}

/**
 * The RADIUS verdict on a user's password when postern.yaml enables RADIUS, `undefined` when it
 * does not. 'unreachable' means no server answered in time: the caller refuses the login.
 */
export async function radiusAuthenticateWith(
  config: Config,
  user: string,
  password: string,
  remote?: string,
): Promise<RadiusVerdict | undefined> {
  const settings = radiusSettingsFrom(config);
  if (!settings) return undefined;
  return radiusAuthenticate(settings, user, password, remote ? { callingStationId: remote } : {});
}
