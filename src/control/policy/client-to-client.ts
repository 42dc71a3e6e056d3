// Traffic between clients, and to the gateway itself. Client addresses come from the pools, so
// a packet whose destination lies in a pool is client-to-client traffic: dropped unless one of
// the sender's groups says `client-to-client: true`, even under an "any" rule (the rules come
// first in the compiled order for that reason). The gateway's own tunnel addresses (the first
// of each pool) stay reachable for every client, so ping to the gateway and a DNS forwarder on
// it work whatever the groups say. The sender's groups decide; a reply travels back to its
// client's own address, which no ingress rule looks at.
import { parseCidr } from '../../wire/ip/cidr.js';
import { IpProto, maskNetwork, PORT_MAX } from './allow-rule.js';
import type { PolicyRule } from './matcher.js';

export interface TunnelAddressing {
  /** The pools, e.g. "100.64.0.0/24" and "fd00:64::/64". */
  pools: string[];
  /** The gateway's own address in each pool, e.g. "100.64.0.1". */
  gatewayAddresses: string[];
}

function wholeRule(
  address: Uint8Array,
  prefixLength: number,
  verdict: 'allow' | 'deny',
): PolicyRule {
  return {
    family: address.length === 4 ? 4 : 6,
    network: maskNetwork(address, prefixLength),
    prefixLength,
    proto: IpProto.ANY,
    portLo: 0,
    portHi: PORT_MAX,
    verdict,
  };
}

/** The rules that go before a user's own: the gateway allowed, the pools by `allowed`. */
export function tunnelRules(t: TunnelAddressing, allowed: boolean): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const text of t.gatewayAddresses) {
    const cidr = parseCidr(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
    if (cidr) out.push(wholeRule(cidr.address, cidr.address.length * 8, 'allow'));
  }
  for (const text of t.pools) {
    const cidr = parseCidr(text);
    if (cidr) out.push(wholeRule(cidr.address, cidr.prefixLength, allowed ? 'allow' : 'deny'));
  }
  return out;
}
