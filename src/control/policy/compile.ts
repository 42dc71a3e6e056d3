// A user's effective policy from postern.yaml: the union of the allow rules of the user's groups
// (the `default` group for a user in none), behind the tunnel rules (client-to-client.ts).
// A group that names no allow rule lets nothing through; `full-tunnel` changes what is routed to
// the gateway, not what it lets through ("any" does that).
import type { Config } from '../config/index.js';
import { AddressPool } from '../pool/index.js';
import { parseAllowRule } from './allow-rule.js';
import { tunnelRules } from './client-to-client.js';
import type { CompiledPolicy, PolicyRule } from './matcher.js';

export const DEFAULT_GROUP = 'default';

/** The group names a user's policy comes from. */
export function effectiveGroups(groups: readonly string[]): string[] {
  return groups.length ? [...groups] : [DEFAULT_GROUP];
}

/** Compiles the policy of a user in `groups`; throws POLICY_INVALID on a bad rule. */
export function compilePolicy(config: Config, groups: readonly string[]): CompiledPolicy {
  const members = effectiveGroups(groups)
    .map((g) => config.groups[g])
    .filter((g) => g !== undefined);
  const clientToClient = members.some((g) => g['client-to-client']);
  const p4 = new AddressPool(config.pools.ipv4);
  const p6 = new AddressPool(config.pools.ipv6);
  const rules: PolicyRule[] = tunnelRules(
    { pools: [config.pools.ipv4, config.pools.ipv6], gatewayAddresses: [p4.gateway, p6.gateway] },
    clientToClient,
  );
  const seen = new Set<string>();
  for (const g of members) {
    for (const text of g.allow) {
      if (seen.has(text)) continue;
      seen.add(text);
      for (const r of parseAllowRule(text)) rules.push({ ...r, verdict: 'allow' });
    }
  }
  return { rules };
}

/** Whether any of the groups asks for a full tunnel. */
export function wantsFullTunnel(config: Config, groups: readonly string[]): boolean {
  return effectiveGroups(groups).some((g) => config.groups[g]?.['full-tunnel'] === true);
}
