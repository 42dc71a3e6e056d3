// Configures a network interface with iproute2: MTU, addresses, link up, routes. One `ip -batch`
// process for all of it, run asynchronously, in the network namespace this process runs in.
// Set-up only: never on the per-packet path.

import { execFile } from 'node:child_process';
import { PosternError } from '../../errors.js';
import { formatCidr, parseCidr, type Cidr } from '../../wire/ip/cidr.js';

/** The smallest MTU an IPv6 link may have (RFC 8200 section 5); below it Linux drops IPv6. */
export const IPV6_MIN_MTU = 1280;
/** The smallest MTU every IPv4 host must accept (RFC 791). */
export const IPV4_MIN_MTU = 68;
export const TUN_MAX_MTU = 65535;
const IFNAME_MAX_LENGTH = 15;
const IFNAME_PATTERN = /^[A-Za-z0-9_.%-]+$/;
const IP_TIMEOUT_MS = 30_000;

export interface LinkConfig {
  readonly mtu: number;
  /** 'address/prefix-length', IPv4 or IPv6; the prefix becomes a connected route. */
  readonly addresses: readonly string[];
  /** Extra prefixes routed into the interface. */
  readonly routes?: readonly string[];
  /** The iproute2 binary; 'ip' from PATH unless set. */
  readonly ipCommand?: string;
}

function invalid(message: string, hint?: string): PosternError {
  return new PosternError('TUN_CONFIG_INVALID', message, hint);
}

/** Throws TUN_CONFIG_INVALID unless `name` can name an interface ('%d' templates allowed). */
export function checkInterfaceName(name: string): void {
  if (name.length > IFNAME_MAX_LENGTH || !IFNAME_PATTERN.test(name)) {
    throw invalid(
      `bad interface name ${JSON.stringify(name)}`,
      `use at most ${IFNAME_MAX_LENGTH} letters, digits, '_', '-', '.'`,
    );
  }
}

function parseAll(texts: readonly string[], what: string): Cidr[] {
  return texts.map((text) => {
    const cidr = parseCidr(text);
    if (!cidr) {
      throw invalid(
        `bad ${what} ${JSON.stringify(text)}`,
        "write it as 'address/prefix-length', e.g. 100.64.0.1/24 or fd00:64::1/64",
      );
    }
    return cidr;
  });
}

interface CheckedConfig {
  readonly addresses: Cidr[];
  readonly routes: Cidr[];
}

/** Throws TUN_CONFIG_INVALID unless MTU, addresses and routes make sense together. */
export function checkLinkConfig(config: LinkConfig): CheckedConfig {
  const { mtu } = config;
  if (!Number.isInteger(mtu) || mtu < IPV4_MIN_MTU || mtu > TUN_MAX_MTU) {
    throw invalid(`bad MTU ${mtu}`, `use an integer from ${IPV4_MIN_MTU} to ${TUN_MAX_MTU}`);
  }
  const addresses = parseAll(config.addresses, 'address');
  const routes = parseAll(config.routes ?? [], 'route');
  if (mtu < IPV6_MIN_MTU && [...addresses, ...routes].some((c) => c.version === 6)) {
    throw invalid(`MTU ${mtu} is too small for IPv6`, `use at least ${IPV6_MIN_MTU}`);
  }
  return { addresses, routes };
}

/** The iproute2 batch commands for `config` (validated; throws TUN_CONFIG_INVALID). */
export function linkConfigCommands(name: string, config: LinkConfig): string[] {
  checkInterfaceName(name);
  const { mtu } = config;
  const { addresses, routes } = checkLinkConfig(config);
  return [
    `link set dev ${name} mtu ${mtu}`,
    // A TUN link has no neighbours to ask, so duplicate address detection would only delay.
    ...addresses.map(
      (a) => `address add ${formatCidr(a)} dev ${name}${a.version === 6 ? ' nodad' : ''}`,
    ),
    `link set dev ${name} up`,
    ...routes.map((r) => `route add ${formatCidr(r)} dev ${name}`),
  ];
}

function failureHint(code: unknown, stderr: string): string | undefined {
  if (code === 'ENOENT') return 'install iproute2 (apt-get install -y iproute2)';
  if (/Operation not permitted/.test(stderr)) return 'this needs CAP_NET_ADMIN (run as root)';
  if (/File exists/.test(stderr)) return 'that address or route is already there';
  return undefined;
}

function runIpBatch(ipCommand: string, commands: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      ipCommand,
      ['-batch', '-'],
      { timeout: IP_TIMEOUT_MS, encoding: 'utf8' },
      (error, _stdout, stderr) => {
        if (!error) {
          resolve();
          return;
        }
        // ip names the failing line as "Command failed -:N".
        const line = /Command failed -:(\d+)/.exec(stderr)?.[1];
        const command = line ? commands[Number(line) - 1] : undefined;
        const detail = stderr.trim().split('\n')[0] || error.message;
        reject(
          new PosternError(
            'TUN_CONFIG_FAILED',
            `ip ${command ?? commands.join('; ')}: ${detail}`,
            failureHint((error as NodeJS.ErrnoException).code, stderr),
          ),
        );
      },
    );
    child.stdin?.end(`${commands.join('\n')}\n`);
  });
}

/** Applies MTU, addresses, link up and routes to interface `name`. */
export async function configureLink(name: string, config: LinkConfig): Promise<void> {
  await runIpBatch(config.ipCommand ?? 'ip', linkConfigCommands(name, config));
}
