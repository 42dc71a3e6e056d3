// The lab's plan, read without building it (no root needed): names that parse back to their
// owner, nothing configured in the root namespace, and the office LAN unreachable by default.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOSTS, LAB_ADDRESSES, LAB_NETWORKS } from '../../src/lab/addresses.js';
import type { HostName } from '../../src/lab/addresses.js';
import { kernelDrops } from '../../src/lab/capture.js';
import { makeLabId, namespaceName, parseNamespaceName } from '../../src/lab/names.js';
import { planExposeOffice, planTopology } from '../../src/lab/topology.js';

const ns = Object.fromEntries(HOSTS.map((h) => [h, `pst00abcxyz-${h}`])) as Record<
  HostName,
  string
>;

describe('lab names', () => {
  it('carry the owner pid and parse back, whatever the prefix', () => {
    for (const [prefix, pid] of [
      ['pst', 1],
      ['pst', 4194304],
      ['pstdemo', 31337],
      ['pst9', 77],
    ] as const) {
      const name = namespaceName(makeLabId(prefix, pid, 'k3f'), 'office');
      assert.deepEqual(parseNamespaceName(name), {
        id: `${prefix}${pid.toString(36).padStart(5, '0')}k3f`,
        prefix,
        pid,
        host: 'office',
      });
      assert.ok(name.length <= 24, name);
    }
    for (const other of ['pst', 'pst-laptop', 'pstfoo-laptop', 'netns1', 'pst00abc-office']) {
      assert.equal(parseNamespaceName(other), undefined, other);
    }
  });
});

describe('lab topology plan', () => {
  const plan = planTopology(ns, true);

  it('creates every veth pair straight into two lab namespaces', () => {
    const names = new Set(Object.values(ns));
    assert.equal(plan.links.length, 5);
    for (const line of plan.links) {
      const m = /^link add \S+ netns (\S+) type veth peer name \S+ netns (\S+)$/.exec(line);
      assert.ok(names.has(m?.[1] ?? '') && names.has(m?.[2] ?? ''), line);
    }
  });

  it('forwards in inet and gw only, and disables DAD everywhere', () => {
    for (const h of HOSTS) {
      const forwards = plan.sysctls[h].includes('net.ipv4.ip_forward=1');
      assert.equal(forwards, h === 'inet' || h === 'gw', h);
      assert.ok(plan.sysctls[h].includes('net.ipv6.conf.default.accept_dad=0'), h);
    }
  });

  it('gives inet no route to the office LAN until exposeOfficeViaInet()', () => {
    const inet = plan.config.inet.join('\n');
    assert.doesNotMatch(inet, /route add/);
    assert.doesNotMatch(inet, /192\.0\.2\./);
    assert.deepEqual(planExposeOffice(true), [
      `route add ${LAB_NETWORKS.office.v4} via ${LAB_ADDRESSES.gw.outside.v4}`,
      `route add ${LAB_NETWORKS.office.v6} via ${LAB_ADDRESSES.gw.outside.v6}`,
    ]);
  });

  it('uses documentation and benchmark ranges only', () => {
    const allowed = /^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|198\.1[89]\.|2001:db8:)/;
    const text = Object.values(plan.config).flat().join('\n');
    const addrs = text.match(/(?<=(addr add|via) )\S+/g) ?? [];
    assert.ok(addrs.length > 20);
    for (const a of addrs) assert.match(a, allowed);
  });

  it('has no IPv6 lines when IPv6 is off', () => {
    const v4only = planTopology(ns, false);
    assert.doesNotMatch(Object.values(v4only.config).flat().join('\n'), /:/);
    assert.ok(v4only.sysctls.laptop.includes('net.ipv6.conf.all.disable_ipv6=1'));
  });
});

describe("tcpdump's exit summary", () => {
  it('gives the packets the kernel dropped, and refuses a summary without the count', () => {
    const summary = (n: number): string =>
      'tcpdump: listening on veth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n' +
      `1695 packets captured\n${1695 + n} packets received by filter\n${n} packets dropped by kernel\n`;
    assert.equal(kernelDrops(summary(0)), 0);
    assert.equal(kernelDrops(summary(105)), 105);
    assert.equal(kernelDrops(summary(1).replace('1 packets', '1 packet')), 1);
    assert.throws(() => kernelDrops('tcpdump: listening on veth0\n'), /no drop count/);
  });
});
