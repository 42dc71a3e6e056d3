// Group policy from postern.yaml as the gateway enforces it: allow rules parsed and refused with
// a reason, the compiled decision for packets (CIDR, protocol, port ranges, IPv4 and IPv6), the
// union of a user's groups, client-to-client off unless a group turns it on, the gateway's own
// tunnel address always reachable, broken rules refused with file and line, and the audit
// sampler's rate limit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { configSchema, type Config } from '../../src/control/config/schema.js';
import {
  checkPolicy,
  compilePolicy,
  decide,
  DropSampler,
  parseAllowRule,
  readFlow,
  formatFlow,
  droppedFlow,
  wantsFullTunnel,
  type CompiledPolicy,
} from '../../src/control/policy/index.js';
import { parseIpAddress } from '../../src/wire/ip/address.js';
import { isPosternError } from '../../src/errors.js';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;

/** A minimal IPv4 or IPv6 packet with a transport header's ports (checksums are not looked at). */
function packet(src: string, dst: string, proto: number, dport = 0, sport = 40000): Uint8Array {
  const s = parseIpAddress(src)!;
  const d = parseIpAddress(dst)!;
  const v6 = s.length === 16;
  const header = v6 ? 40 : 20;
  const p = new Uint8Array(header + 20);
  const view = new DataView(p.buffer);
  if (v6) {
    p[0] = 0x60;
    view.setUint16(4, 20);
    p[6] = proto;
    p[7] = 64;
    p.set(s, 8);
    p.set(d, 24);
  } else {
    p[0] = 0x45;
    view.setUint16(2, p.length);
    p[8] = 64;
    p[9] = proto;
    p.set(s, 12);
    p.set(d, 16);
  }
  view.setUint16(header, sport);
  view.setUint16(header + 2, dport);
  return p;
}

function config(groups: Record<string, unknown>): Config {
  return configSchema.parse({ endpoint: 'vpn.example', groups });
}

function allows(policy: CompiledPolicy, p: Uint8Array): boolean {
  const flow = readFlow(p);
  assert.ok(flow);
  return decide(policy, flow) === 'allow';
}

const ME = '100.64.0.2';
const ME6 = 'fd00:64::2';
const office = {
  staff: { routes: ['192.0.2.0/24'], allow: ['192.0.2.0/24', '2001:db8:2::/64'] },
  contractors: { routes: ['192.0.2.10/32'], allow: ['192.0.2.10/32 tcp/80'] },
  dns: { allow: ['198.51.100.53/32 udp/53', '198.51.100.53/32 tcp/53'] },
  ops: { allow: ['203.0.113.0/24 udp/5000-5100', '2001:db8:9::/48 icmpv6', '203.0.113.7/32 icmp'] },
  lab: { allow: ['any'], 'client-to-client': true },
  roam: { allow: ['any'], 'full-tunnel': true },
};

describe('allow rules', () => {
  it('parses "any", CIDRs, protocols, ports and ranges', () => {
    assert.equal(parseAllowRule('any').length, 2);
    const [r] = parseAllowRule(' 192.0.2.10/24   tcp/80 ');
    assert.equal(r?.family, 4);
    assert.deepEqual([...(r?.network ?? [])], [192, 0, 2, 0], 'host bits cleared');
    assert.deepEqual([r?.proto, r?.portLo, r?.portHi], [TCP, 80, 80]);
    const [u] = parseAllowRule('2001:db8::/32 udp/1000-2000');
    assert.deepEqual([u?.family, u?.proto, u?.portLo, u?.portHi], [6, UDP, 1000, 2000]);
    const [i] = parseAllowRule('192.0.2.0/24 icmp');
    assert.deepEqual([i?.proto, i?.portLo, i?.portHi], [ICMP, 0, 65535]);
  });

  for (const bad of [
    '192.0.2.0/24 tcp/0',
    '192.0.2.0/24 tcp/70000',
    '192.0.2.0/24 udp/90-80',
    '2001:db8::/32 icmp',
    '192.0.2.0/24 icmpv6',
    '192.0.2.0/24 icmp/7',
    '192.0.2.0/24 sctp',
    '192.0.2.0/33',
    'office',
    '192.0.2.0/24 tcp 80',
  ]) {
    it(`refuses ${JSON.stringify(bad)} with POLICY_INVALID`, () => {
      assert.throws(
        () => parseAllowRule(bad),
        (e) => isPosternError(e) && e.code === 'POLICY_INVALID' && e.message.includes(bad),
      );
    });
  }
});

describe('compiled policy decisions', () => {
  const cfg = config(office);

  it('a contractor reaches exactly 192.0.2.10 tcp/80', () => {
    const p = compilePolicy(cfg, ['contractors']);
    assert.ok(allows(p, packet(ME, '192.0.2.10', TCP, 80)));
    assert.ok(!allows(p, packet(ME, '192.0.2.10', TCP, 8080)));
    assert.ok(!allows(p, packet(ME, '192.0.2.10', UDP, 80)));
    assert.ok(!allows(p, packet(ME, '192.0.2.10', ICMP)));
    assert.ok(!allows(p, packet(ME, '192.0.2.11', TCP, 80)));
    assert.ok(!allows(p, packet(ME6, '2001:db8:2::10', TCP, 80)));
  });

  it('staff reach the whole office over IPv4 and IPv6, nothing else', () => {
    const p = compilePolicy(cfg, ['staff']);
    for (const dst of ['192.0.2.1', '192.0.2.10', '192.0.2.254'])
      for (const proto of [TCP, UDP, ICMP]) assert.ok(allows(p, packet(ME, dst, proto, 443)));
    assert.ok(allows(p, packet(ME6, '2001:db8:2::1', ICMPV6)));
    assert.ok(!allows(p, packet(ME, '192.0.3.1', TCP, 443)));
    assert.ok(!allows(p, packet(ME6, '2001:db8:3::1', TCP, 443)));
  });

  it('a user in several groups gets the union of their rules', () => {
    const p = compilePolicy(cfg, ['contractors', 'dns']);
    assert.ok(allows(p, packet(ME, '192.0.2.10', TCP, 80)));
    assert.ok(allows(p, packet(ME, '198.51.100.53', UDP, 53)));
    assert.ok(allows(p, packet(ME, '198.51.100.53', TCP, 53)));
    assert.ok(!allows(p, packet(ME, '198.51.100.53', TCP, 80)));
  });

  it('port ranges are inclusive at both ends; ICMP rules name their family', () => {
    const p = compilePolicy(cfg, ['ops']);
    assert.ok(!allows(p, packet(ME, '203.0.113.9', UDP, 4999)));
    assert.ok(allows(p, packet(ME, '203.0.113.9', UDP, 5000)));
    assert.ok(allows(p, packet(ME, '203.0.113.9', UDP, 5100)));
    assert.ok(!allows(p, packet(ME, '203.0.113.9', UDP, 5101)));
    assert.ok(!allows(p, packet(ME, '203.0.113.9', TCP, 5050)));
    assert.ok(allows(p, packet(ME, '203.0.113.7', ICMP)));
    assert.ok(!allows(p, packet(ME, '203.0.113.8', ICMP)));
    assert.ok(allows(p, packet(ME6, '2001:db8:9:1::1', ICMPV6)));
    assert.ok(!allows(p, packet(ME6, '2001:db8:9:1::1', UDP, 5000)));
  });

  it('a non-first IPv4 fragment matches no port rule', () => {
    const p = compilePolicy(cfg, ['contractors']);
    const frag = packet(ME, '192.0.2.10', TCP, 80);
    new DataView(frag.buffer).setUint16(6, 100); // fragment offset 100 * 8
    assert.equal(readFlow(frag)?.dstPort, 0);
    assert.ok(!allows(p, frag));
  });

  it('client-to-client is refused by default, even under "any", and allowed by a group', () => {
    const any = compilePolicy(cfg, ['roam']);
    assert.ok(allows(any, packet(ME, '203.0.113.1', TCP, 443)), 'any reaches the Internet');
    assert.ok(!allows(any, packet(ME, '100.64.0.3', ICMP)));
    assert.ok(!allows(any, packet(ME6, 'fd00:64::3', ICMPV6)));
    const c2c = compilePolicy(cfg, ['lab']);
    assert.ok(allows(c2c, packet(ME, '100.64.0.3', ICMP)));
    assert.ok(allows(c2c, packet(ME6, 'fd00:64::3', ICMPV6)));
    const mixed = compilePolicy(cfg, ['contractors', 'lab']);
    assert.ok(allows(mixed, packet(ME, '100.64.0.3', TCP, 22)));
  });

  it("the gateway's own tunnel addresses answer every client", () => {
    const p = compilePolicy(cfg, ['contractors']);
    assert.ok(allows(p, packet(ME, '100.64.0.1', ICMP)));
    assert.ok(allows(p, packet(ME, '100.64.0.1', UDP, 53)));
    assert.ok(allows(p, packet(ME6, 'fd00:64::1', ICMPV6)));
  });

  it('a user in no group gets the default group; an unknown group adds nothing', () => {
    const cfg2 = config({ default: { routes: ['192.0.2.0/24'], allow: ['192.0.2.0/24'] } });
    assert.ok(allows(compilePolicy(cfg2, []), packet(ME, '192.0.2.5', TCP, 22)));
    assert.ok(!allows(compilePolicy(cfg2, ['nonesuch']), packet(ME, '192.0.2.5', TCP, 22)));
    assert.ok(wantsFullTunnel(cfg, ['contractors', 'roam']));
    assert.ok(!wantsFullTunnel(cfg, ['contractors']));
  });

  it('agrees with a plain reading of the rule for random packets (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 32 }),
        fc.constantFrom(TCP, UDP, ICMP),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(TCP, UDP, ICMP),
        fc.integer({ min: 1, max: 65535 }),
        (last, prefix, proto, a, b, dst, pproto, dport) => {
          const lo = Math.min(a, b);
          const hi = Math.max(a, b);
          const net = `198.18.${last}.0/${prefix}`;
          const spec =
            proto === ICMP ? `${net} icmp` : `${net} ${proto === TCP ? 'tcp' : 'udp'}/${lo}-${hi}`;
          const p = compilePolicy(config({ g: { allow: [spec] } }), ['g']);
          const dstText = [dst >>> 24, (dst >>> 16) & 255, (dst >>> 8) & 255, dst & 255].join('.');
          const base = ((198 << 24) | (18 << 16) | (last << 8)) >>> 0;
          const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
          const inPool = (dst & 0xffffff00) >>> 0 === 0x64400000; // 100.64.0.0/24 is the pool
          const expected =
            !inPool &&
            (dst & mask) >>> 0 === (base & mask) >>> 0 &&
            pproto === proto &&
            (proto === ICMP || (dport >= lo && dport <= hi));
          assert.equal(allows(p, packet(ME, dstText, pproto, dport)), expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('formats a dropped flow for the audit log', () => {
    const f = readFlow(packet(ME, '192.0.2.10', TCP, 8080, 41000))!;
    assert.equal(formatFlow(droppedFlow(f)), 'tcp 100.64.0.2:41000 -> 192.0.2.10:8080');
    const g = readFlow(packet(ME6, '2001:db8:2::1', ICMPV6))!;
    assert.equal(formatFlow(droppedFlow(g)), 'icmpv6 fd00:64::2 -> 2001:db8:2::1');
  });
});

describe('a broken policy in postern.yaml', () => {
  it('is refused with the file and the line of the rule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-policy-'));
    try {
      const file = join(dir, 'postern.yaml');
      const text = [
        'endpoint: vpn.example',
        'groups:',
        '  staff:',
        '    allow:',
        '      - 192.0.2.0/24',
        '      - "192.0.2.10/32 tcp/90-80"',
        '',
      ].join('\n');
      writeFileSync(file, text);
      const cfg = configSchema.parse({
        endpoint: 'vpn.example',
        groups: { staff: { allow: ['192.0.2.0/24', '192.0.2.10/32 tcp/90-80'] } },
      });
      assert.throws(
        () => checkPolicy(cfg, file),
        (e) =>
          isPosternError(e) &&
          e.code === 'CONFIG_INVALID' &&
          e.message.startsWith(`${file}:6: groups.staff.allow[1]:`) &&
          e.message.includes('runs backwards'),
      );
      checkPolicy(config(office), file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('policy.drop audit sampling', () => {
  it('records at most N per session per minute, then again in the next minute', () => {
    const s = new DropSampler(3, 60_000);
    assert.deepEqual(s.take('a', [1, 2], 0), [1, 2]);
    assert.deepEqual(s.take('a', [3, 4, 5], 1000), [3]);
    assert.deepEqual(s.take('a', [6], 59_000), []);
    assert.deepEqual(s.take('b', [7, 8, 9, 10], 59_000), [7, 8, 9], 'each session has its own');
    assert.deepEqual(s.take('a', [11, 12, 13, 14], 60_000), [11, 12, 13]);
    s.forget('a');
    assert.deepEqual(s.take('a', [15], 60_001), [15]);
  });
});
