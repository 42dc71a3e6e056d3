// The Postern profile (postern-profile.ts) for `postern connect`, as JSON text.
import type { ProfileMaterial } from './material.js';
import { POSTERN_PROFILE_VERSION, type PosternProfile } from './postern-profile.js';

export function toPosternProfile(m: ProfileMaterial): PosternProfile {
  return {
    postern: POSTERN_PROFILE_VERSION,
    name: m.gatewayName,
    user: m.user,
    remotes: m.remotes.map((r) => ({ proto: r.proto, host: r.host, port: r.port })),
    ca: m.caPem,
    cert: m.certPem,
    key: m.keyPem,
    tlsCrypt: { version: m.tlsCrypt.version, key: m.tlsCrypt.key },
    dataCiphers: [...m.dataCiphers],
    tlsMin: m.tlsMin,
    verifyName: m.verifyName,
    auth: { password: m.auth.password, totp: m.auth.totp },
  };
}

export function renderPosternProfile(m: ProfileMaterial): string {
  return `${JSON.stringify(toPosternProfile(m), null, 2)}\n`;
}
