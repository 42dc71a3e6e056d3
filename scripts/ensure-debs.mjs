// Installs the Debian packages the lab, interop and demo need, when they are missing.
// One list, one place: later suites add their packages here.
import { execFileSync, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export const DEBIAN_PACKAGES = [
  'iproute2',
  'iperf3',
  'tcpdump',
  'openssl',
  'iputils-ping',
  'procps',
  'tinyproxy',
  'openvpn',
  'nftables',
  'freeradius',
  'wireguard-go',
  'wireguard-tools',
  'strongswan-charon',
  'strongswan-swanctl',
  'libcharon-extra-plugins',
  'libstrongswan-standard-plugins',
  'ocserv',
  'openconnect',
];

function installed(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

export function ensureDebianPackages(pkgs = DEBIAN_PACKAGES) {
  const missing = pkgs.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing Debian packages ${missing.join(' ')}: run as root or apt-get install them`,
    );
  }
  console.log(`# installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const opts = { stdio: 'inherit', env };
  try {
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], opts);
  } catch {
    execFileSync('apt-get', ['update', '-q'], opts);
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], opts);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ensureDebianPackages(process.argv.length > 2 ? process.argv.slice(2) : DEBIAN_PACKAGES);
}
