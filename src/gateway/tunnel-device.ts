// The gateway's side of every tunnel: one TUN device holding the first address of each pool,
// and IP forwarding on, so clients' packets continue to the LANs behind the gateway.
import { writeFileSync } from 'node:fs';
import type { Config } from '../control/config/index.js';
import { AddressPool } from '../control/pool/index.js';
import { openTun, type LinuxTun } from '../io/tun/linux-tun.js';
import type { Logger } from '../io/log.js';

export const GATEWAY_TUN_NAME = 'postern0';

/** The gateway's own tunnel addresses: the first host of each pool, with the pool's prefix. */
export function gatewayTunAddresses(config: Config): string[] {
  return [config.pools.ipv4, config.pools.ipv6].map((cidr) => {
    const pool = new AddressPool(cidr);
    return `${pool.gateway}/${pool.prefix}`;
  });
}

export async function openGatewayTun(config: Config, log: Logger): Promise<LinuxTun> {
  const tun = await openTun({ name: GATEWAY_TUN_NAME, addresses: gatewayTunAddresses(config) });
  enableForwarding(log);
  return tun;
}

/** A gateway forwards: clients' packets continue to the LANs behind it. */
export function enableForwarding(log: Logger): void {
  for (const [path, what] of [
    ['/proc/sys/net/ipv4/ip_forward', 'IPv4'],
    ['/proc/sys/net/ipv6/conf/all/forwarding', 'IPv6'],
  ] as const) {
    try {
      writeFileSync(path, '1');
    } catch (e) {
      log.warn(
        { event: 'forwarding', family: what, error: (e as Error).message },
        `cannot turn on ${what} forwarding; clients will reach only the gateway itself`,
      );
    }
  }
}
