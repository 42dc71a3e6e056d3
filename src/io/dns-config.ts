// Points the system resolver at the VPN's DNS servers for one interface, the way NetworkManager
// and openvpn's update-systemd-resolved do: through systemd-resolved (`resolvectl`) when the
// machine has it. Without it nothing is changed and the caller says so: rewriting
// /etc/resolv.conf behind the admin's back is worse than not applying DNS.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type DnsResult = { applied: true; via: 'resolvectl' } | { applied: false; reason: string };

export async function applyInterfaceDns(
  iface: string,
  servers: string[],
  allDomains: boolean,
): Promise<DnsResult> {
  if (servers.length === 0) return { applied: false, reason: 'no DNS servers pushed' };
  try {
    await run('resolvectl', ['dns', iface, ...servers]);
    // Full tunnel: every name goes to the VPN's servers; split tunnel: only the link's own.
    if (allDomains) await run('resolvectl', ['domain', iface, '~.']);
    return { applied: true, via: 'resolvectl' };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    return {
      applied: false,
      reason:
        err.code === 'ENOENT'
          ? 'resolvectl not installed (systemd-resolved)'
          : (err.stderr ?? err.message).trim(),
    };
  }
}
