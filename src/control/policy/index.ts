export { IpProto, parseAllowRule, PORT_MAX, type AllowRule } from './allow-rule.js';
export { readFlow, type Flow } from './flow.js';
export {
  decide,
  ruleMatches,
  type CompiledPolicy,
  type PolicyRule,
  type Verdict,
} from './matcher.js';
export { tunnelRules, type TunnelAddressing } from './client-to-client.js';
export { compilePolicy, effectiveGroups, wantsFullTunnel, DEFAULT_GROUP } from './compile.js';
export { checkPolicy } from './check.js';
export {
  DropSampler,
  POLICY_DROP_AUDITS_PER_WINDOW,
  POLICY_DROP_WINDOW_MS,
} from './drop-sampler.js';
export { encodePolicyTable, POLICY_RULE_SIZE } from './table.js';
export { droppedFlow, formatFlow, type DroppedFlow } from './dropped-flow.js';
