// A user's compiled policy and the per-packet decision. Sans-I/O.
//
// The compiled form is an ordered list of rules per family, each a prefix with a protocol and a
// destination port range and a verdict; the first rule that matches decides, and a packet no
// rule matches is dropped. Users have a handful of rules, so a linear scan over a few dozen
// bytes per rule beats any tree here; the native path runs the same scan over the same table.
import type { AllowRule } from './allow-rule.js';
import type { Flow } from './flow.js';

export type Verdict = 'allow' | 'deny';

export interface PolicyRule extends AllowRule {
  verdict: Verdict;
}

export interface CompiledPolicy {
  /** Rules in the order they are tried, IPv4 and IPv6 mixed (each matches its family only). */
  rules: readonly PolicyRule[];
}

const BITS_PER_BYTE = 8;

/** Whether the first `prefixLength` bits of `address` equal those of `network`. */
export function prefixMatches(
  network: Uint8Array,
  prefixLength: number,
  address: Uint8Array,
): boolean {
  const whole = prefixLength >> 3;
  for (let i = 0; i < whole; i++) if (network[i] !== address[i]) return false;
  const rest = prefixLength & (BITS_PER_BYTE - 1);
  if (rest === 0) return true;
  const mask = (0xff << (BITS_PER_BYTE - rest)) & 0xff;
  return ((address[whole] ?? 0) & mask) === (network[whole] ?? 0);
}

export function ruleMatches(rule: AllowRule, flow: Flow): boolean {
  return (
    rule.family === flow.family &&
    (rule.proto === 0 || rule.proto === flow.proto) &&
    flow.dstPort >= rule.portLo &&
    flow.dstPort <= rule.portHi &&
    prefixMatches(rule.network, rule.prefixLength, flow.dst)
  );
}

/** The decision for one packet's flow: the first matching rule's verdict, else deny. */
export function decide(policy: CompiledPolicy, flow: Flow): Verdict {
  for (const rule of policy.rules) if (ruleMatches(rule, flow)) return rule.verdict;
  return 'deny';
}
