// The compiled policy as the native data path reads it (native/ovpn_policy.c): one fixed-size
// record per rule, in order. Little-endian:
//   0 u8 family (4|6) | 1 u8 prefix length | 2 u8 protocol (0 = any) | 3 u8 verdict (1 allow)
//   4 u16 lowest port | 6 u16 highest port | 8 network[16] (IPv4 in the first 4)
import type { CompiledPolicy } from './matcher.js';

export const POLICY_RULE_SIZE = 24;
const NETWORK_AT = 8;

export function encodePolicyTable(policy: CompiledPolicy): Uint8Array {
  const out = new Uint8Array(policy.rules.length * POLICY_RULE_SIZE);
  const view = new DataView(out.buffer);
  policy.rules.forEach((r, i) => {
    const at = i * POLICY_RULE_SIZE;
    out[at] = r.family;
    out[at + 1] = r.prefixLength;
    out[at + 2] = r.proto;
    out[at + 3] = r.verdict === 'allow' ? 1 : 0;
    view.setUint16(at + 4, r.portLo, true);
    view.setUint16(at + 6, r.portHi, true);
    out.set(r.network, at + NETWORK_AT);
  });
  return out;
}
