// The one-file profile for stock OpenVPN clients (openvpn 2.6, OpenVPN Connect, Tunnelblick,
// NetworkManager): options first, then the CA, the user's certificate and key and the
// control-channel key as inline blocks, so there is nothing else to copy.
//
// Remotes are plain `remote` lines, tried in order (no remote-random): UDP first, then TCP.
// explicit-exit-notify is a per-connection option; openvpn 2.6 applies it to the UDP remotes
// and ignores it, with a notice, for TCP ones, so a plain profile needs no <connection> blocks.
import { PosternError } from '../../errors.js';
import type { ProfileMaterial } from './material.js';

/** What the client shows next to the one-time-code prompt (static-challenge). */
export const TOTP_PROMPT = 'One-time code';
/** Characters OpenVPN's config parser takes literally in an unquoted argument. */
const BARE_ARGUMENT = /^[A-Za-z0-9._:@/+=-]+$/;

export function renderOvpn(m: ProfileMaterial): string {
  const asksPassword = m.auth.password || m.auth.totp;
  const lines = [
    `# OpenVPN profile for ${m.user} on the Postern gateway ${m.gatewayName}.`,
    `# It holds ${m.user}'s private key: keep it private, never send it in the clear.`,
    'client',
    'dev tun',
    'nobind',
    'persist-key',
    'persist-tun',
    '# remotes are tried in this order',
    ...m.remotes.map((r) => `remote ${arg(r.host)} ${r.port} ${r.proto}`),
    'resolv-retry infinite',
    'remote-cert-tls server',
    `verify-x509-name ${arg(m.verifyName)} name`,
    `tls-version-min ${m.tlsMin}`,
    `data-ciphers ${m.dataCiphers.join(':')}`,
    // A TOTP code travels in the password field (SCRV1), so a TOTP user is asked for one too.
    ...(asksPassword ? ['auth-user-pass'] : []),
    ...(m.auth.totp ? [`static-challenge ${arg(TOTP_PROMPT)} 1`] : []),
    'auth-nocache',
    ...(m.remotes.some((r) => r.proto === 'udp') ? ['explicit-exit-notify 1'] : []),
    'verb 3',
    inline('ca', m.caPem),
    inline('cert', m.certPem),
    inline('key', m.keyPem),
    inline(m.tlsCrypt.version === 'v2' ? 'tls-crypt-v2' : 'tls-crypt', m.tlsCrypt.key),
  ];
  return `${lines.join('\n')}\n`;
}

/** An option argument, quoted when OpenVPN would otherwise split or misread it. */
function arg(value: string): string {
  if (BARE_ARGUMENT.test(value)) return value;
  if (/[\r\n]/.test(value)) {
    throw new PosternError('PROFILE_BAD_VALUE', `"${value}" cannot stand in an OpenVPN profile`);
  }
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function inline(tag: string, body: string): string {
  const text = body.trim();
  if (text.includes(`</${tag}>`)) {
    throw new PosternError('PROFILE_BAD_VALUE', `the <${tag}> material contains its own end tag`);
  }
  return `<${tag}>\n${text}\n</${tag}>`;
}
