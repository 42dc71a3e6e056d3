// One `allow` rule of a group in postern.yaml, parsed: "any", or "CIDR" optionally followed by a
// protocol ("tcp", "udp", "icmp", "icmpv6") and, for tcp and udp, a port or an inclusive range
// ("tcp/80", "udp/5000-5100"). The schema checks the shape; this also checks what a regular
// expression cannot: port numbers, ranges that run backwards, ICMP of the wrong family.
import { PosternError } from '../../errors.js';
import { parseCidr } from '../../wire/ip/cidr.js';

/** IP protocol numbers the rules name; 0 stands for "every protocol". */
export const IpProto = { ANY: 0, ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;
export type IpProto = (typeof IpProto)[keyof typeof IpProto];

export const PORT_MIN = 1;
export const PORT_MAX = 65535;

/** A destination prefix with the protocol and destination ports it admits. */
export interface AllowRule {
  family: 4 | 6;
  /** 4 or 16 bytes, host bits cleared. */
  network: Uint8Array;
  prefixLength: number;
  proto: IpProto;
  /** Inclusive destination port range; 0..65535 when the rule names no port. */
  portLo: number;
  portHi: number;
}

const PROTO_BY_NAME: Readonly<Record<string, IpProto>> = {
  tcp: IpProto.TCP,
  udp: IpProto.UDP,
  icmp: IpProto.ICMP,
  icmpv6: IpProto.ICMPV6,
};

const BITS_PER_BYTE = 8;

function refuse(text: string, why: string): PosternError {
  return new PosternError(
    'POLICY_INVALID',
    `allow rule ${JSON.stringify(text)}: ${why}`,
    'write "any" or "CIDR [tcp|udp[/PORT[-PORT]]|icmp|icmpv6]", e.g. "192.0.2.10/32 tcp/80"',
  );
}

/** Clears the host bits of an address under a prefix length. */
export function maskNetwork(address: Uint8Array, prefixLength: number): Uint8Array {
  const out = new Uint8Array(address);
  for (let bit = prefixLength; bit < out.length * BITS_PER_BYTE; bit++) {
    const i = Math.floor(bit / BITS_PER_BYTE);
    out[i] = (out[i] ?? 0) & ~(0x80 >> (bit % BITS_PER_BYTE));
  }
  return out;
}

function parsePort(text: string, rule: string): number {
  if (!/^\d{1,5}$/.test(text)) throw refuse(rule, `"${text}" is not a port number`);
  const n = Number(text);
  if (n < PORT_MIN || n > PORT_MAX) throw refuse(rule, `port ${n} is outside 1..65535`);
  return n;
}

/** Parses one rule; "any" becomes two rules, 0.0.0.0/0 and ::/0. Throws POLICY_INVALID. */
export function parseAllowRule(text: string): AllowRule[] {
  const parts = text.trim().split(/\s+/);
  if (parts.length === 1 && parts[0] === 'any') {
    return [
      {
        family: 4,
        network: new Uint8Array(4),
        prefixLength: 0,
        proto: 0,
        portLo: 0,
        portHi: PORT_MAX,
      },
      {
        family: 6,
        network: new Uint8Array(16),
        prefixLength: 0,
        proto: 0,
        portLo: 0,
        portHi: PORT_MAX,
      },
    ];
  }
  if (parts.length > 2) throw refuse(text, 'too many words');
  const cidr = parseCidr(parts[0] ?? '');
  if (!cidr) throw refuse(text, `"${parts[0] ?? ''}" is not a CIDR such as 192.0.2.0/24`);
  const rule: AllowRule = {
    family: cidr.version,
    network: maskNetwork(cidr.address, cidr.prefixLength),
    prefixLength: cidr.prefixLength,
    proto: IpProto.ANY,
    portLo: 0,
    portHi: PORT_MAX,
  };
  const protoText = parts[1];
  if (protoText === undefined) return [rule];
  const [name = '', ports, ...rest] = protoText.split('/');
  const proto = PROTO_BY_NAME[name];
  if (proto === undefined || rest.length > 0) {
    throw refuse(text, `"${protoText}" is not tcp, udp, icmp or icmpv6 (with /PORT for tcp, udp)`);
  }
  if (proto === IpProto.ICMP && cidr.version === 6)
    throw refuse(text, 'icmp on an IPv6 prefix: use icmpv6');
  if (proto === IpProto.ICMPV6 && cidr.version === 4)
    throw refuse(text, 'icmpv6 on an IPv4 prefix: use icmp');
  rule.proto = proto;
  if (ports === undefined) return [rule];
  if (proto !== IpProto.TCP && proto !== IpProto.UDP) throw refuse(text, `${name} has no ports`);
  const [lo = '', hi, ...more] = ports.split('-');
  if (more.length > 0) throw refuse(text, `"${ports}" is not PORT or PORT-PORT`);
  rule.portLo = parsePort(lo, text);
  rule.portHi = hi === undefined ? rule.portLo : parsePort(hi, text);
  if (rule.portHi < rule.portLo) throw refuse(text, `the range ${ports} runs backwards`);
  return [rule];
}
