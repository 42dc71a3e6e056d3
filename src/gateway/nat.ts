// Full tunnel: members of a `full-tunnel` group send everything to the gateway, which forwards
// it to its uplink with the source rewritten to its own address (masquerade), so replies find
// their way back without the world knowing the pools. One nftables table of our own, `inet
// postern`, replaced as a whole (atomically) on every change and deleted on stop; nothing else
// in the ruleset is touched. Traffic to the routes groups push (the LANs behind the gateway) and
// back into the tunnel keeps its client source address.
import { spawn } from 'node:child_process';
import type { Config } from '../control/config/index.js';
import { parseCidr } from '../wire/ip/cidr.js';
import type { Logger } from '../io/log.js';
import { GATEWAY_TUN_NAME } from './tunnel-device.js';

export const NAT_TABLE = 'postern';
const NFT = 'nft';

function run(script: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(NFT, ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (e) => resolve({ code: -1, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr: stderr.trim() }));
    child.stdin.end(script);
  });
}

/** The table for a configuration, or undefined when no group asks for a full tunnel. */
export function natRuleset(config: Config, tunName = GATEWAY_TUN_NAME): string | undefined {
  const groups = Object.values(config.groups);
  if (!groups.some((g) => g['full-tunnel'])) return undefined;
  const lans = { 4: new Set<string>(), 6: new Set<string>() };
  for (const g of groups) {
    for (const r of g.routes) {
      const c = parseCidr(r);
      if (c) lans[c.version].add(r);
    }
  }
  const rule = (family: 'ip' | 'ip6', pool: string, routes: Set<string>): string =>
    `    ${family} saddr ${pool} oifname != "${tunName}"` +
    (routes.size ? ` ${family} daddr != { ${[...routes].join(', ')} }` : '') +
    ' masquerade';
  return [
    `table inet ${NAT_TABLE}`,
    `delete table inet ${NAT_TABLE}`,
    `table inet ${NAT_TABLE} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    rule('ip', config.pools.ipv4, lans[4]),
    rule('ip6', config.pools.ipv6, lans[6]),
    '  }',
    '}',
    '',
  ].join('\n');
}

export class FullTunnelNat {
  readonly #log: Logger;
  /**
   * Unknown at start: a gateway killed with SIGKILL left its table behind, and a start whose
   * configuration has no full tunnel must not keep masquerading.
   */
  #installed: boolean | 'unknown' = 'unknown';

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Installs, replaces or removes the table to match the configuration. Never throws. */
  async apply(config: Config): Promise<void> {
    const ruleset = natRuleset(config);
    if (!ruleset) return this.remove();
    const r = await run(ruleset);
    if (r.code === 0) {
      this.#installed = true;
      this.#log.info(
        { event: 'nat', pools: [config.pools.ipv4, config.pools.ipv6] },
        'full-tunnel masquerade on',
      );
    } else {
      this.#log.error(
        { event: 'nat', error: r.stderr },
        'cannot install the full-tunnel masquerade (is nftables installed?); full-tunnel clients will not reach the Internet',
      );
    }
  }

  async remove(): Promise<void> {
    if (this.#installed === false) return;
    const leftover = this.#installed === 'unknown';
    this.#installed = false;
    const r = await run(`table inet ${NAT_TABLE}\ndelete table inet ${NAT_TABLE}\n`);
    // Looking for a leftover on a machine without nftables is not worth a warning.
    if (r.code !== 0 && !leftover) {
      this.#log.warn({ event: 'nat', error: r.stderr }, 'cannot remove the masquerade table');
    } else if (r.code === 0 && leftover) {
      this.#log.debug({ event: 'nat' }, 'any masquerade table left by an earlier run is gone');
    }
  }
}
