// postern.yaml: what init writes is valid and complete; what an admin breaks is named by file,
// line and fix.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema, parseConfig, renderConfig } from '../../src/control/config/index.js';
import { isPosternError } from '../../src/errors.js';

const settings = {
  name: 'hq',
  endpoint: 'vpn.example.com',
  routes: ['192.0.2.0/24', '2001:db8:2::/64'],
  dns: ['192.0.2.53'],
  pool4: '100.64.0.0/24',
  pool6: 'fd00:64::/64',
};
const text = renderConfig(settings);

function errorOf(yaml: string): string {
  try {
    parseConfig(yaml, '/etc/postern/postern.yaml');
  } catch (e) {
    assert.ok(isPosternError(e));
    assert.equal(e.code, 'CONFIG_INVALID');
    return e.oneLine();
  }
  assert.fail('expected the configuration to be refused');
}

function lineOf(yaml: string, needle: string): number {
  return yaml.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

describe('postern.yaml', () => {
  it('the file init writes spells out every default: it equals the schema defaults', () => {
    const parsed = parseConfig(text, 'postern.yaml');
    const defaults = configSchema.parse({
      name: 'hq',
      endpoint: 'vpn.example.com',
      dns: ['192.0.2.53'],
      groups: { default: { routes: settings.routes, allow: settings.routes } },
    });
    assert.deepEqual(parsed, defaults);
    assert.deepEqual(parsed.groups.default?.routes, settings.routes);
    assert.equal(parsed.openvpn.listen.length, 2);
  });

  it('every top-level setting carries a comment', () => {
    for (const line of text.split('\n').filter((l) => /^[a-z]/.test(l) && !l.includes(':\n'))) {
      const key = line.split(':')[0] ?? '';
      const idx = text.split('\n').indexOf(line);
      const commented = line.includes('#') || (text.split('\n')[idx - 1] ?? '').startsWith('#');
      assert.ok(commented, `${key} has a comment`);
    }
  });

  it('names the line of a value out of range', () => {
    const bad = text.replace('port: 1194', 'port: 70000');
    assert.match(
      errorOf(bad),
      new RegExp(
        `^/etc/postern/postern.yaml:${lineOf(bad, '70000')}: openvpn\\.listen\\.0\\.port: .*65535`,
      ),
    );
  });

  it('names the line of an unknown key and says how to fix it', () => {
    const bad = text.replace('  reneg-sec: 3600', '  reneg-seconds: 3600');
    const msg = errorOf(bad);
    assert.match(
      msg,
      new RegExp(`:${lineOf(bad, 'reneg-seconds')}: openvpn\\.reneg-seconds: unknown key`),
    );
    assert.match(msg, /check its spelling/);
  });

  it('names the line of a YAML syntax error', () => {
    const bad = text.replace('dns: [192.0.2.53]', 'dns: [192.0.2.53');
    assert.match(errorOf(bad), /postern\.yaml:\d+: YAML syntax error/);
  });

  it('refuses malformed policy rules and CIDRs', () => {
    assert.match(
      errorOf(text.replace('allow: [192.0.2.0/24', 'allow: ["192.0.2.0/24 tcp/http"')),
      /groups\.default\.allow\.0: expected "any" or "CIDR/,
    );
    assert.match(
      errorOf(text.replace('ipv4: 100.64.0.0/24', 'ipv4: 100.64.0.0/33')),
      /pools\.ipv4/,
    );
    assert.match(
      errorOf(text.replace('ipv6: fd00:64::/64', 'ipv6: 100.64.0.0/24')),
      /pools\.ipv6: expected an IPv6 CIDR/,
    );
    assert.match(
      errorOf(text.replace('data-ciphers: [AES-256-GCM', 'data-ciphers: [BF-CBC')),
      /use one of: AES-256-GCM/,
    );
  });

  it('a missing required key is reported as missing, with the fix', () => {
    assert.match(errorOf('name: x\n'), /:1: endpoint: missing \(add it\)/);
  });

  it('accepts the policy rule forms of the contract', () => {
    const yaml = `${text.replace(/\ngroups:[\s\S]*$/, '\n')}groups:\n  contractors:\n    routes: [192.0.2.10/32]\n    allow: ["192.0.2.10/32 tcp/80", "192.0.2.0/24 udp/1000-2000", "2001:db8:2::/64 icmpv6", any]\n`;
    const cfg = parseConfig(yaml, 'p.yaml');
    assert.equal(cfg.groups.contractors?.allow.length, 4);
  });
});
