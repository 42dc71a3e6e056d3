// The crypto policy is the floor: a client that offers less (an older TLS, a cipher outside
// data-ciphers) is refused and audited, whatever it sends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { keepRemotes, labWithGateway, startOpenvpnClient } from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;

interface AuditRecord {
  event: string;
  user: string | null;
  result: string;
  reason: string | null;
}

describe('downgrade protection', { skip: root ? false : 'needs root' }, () => {
  const env = labWithGateway({
    configure: (y) =>
      y
        .replace(/min-tls: "1\.2"/, 'min-tls: "1.3"')
        .replace(/data-ciphers: \[[^\]]*\]/, 'data-ciphers: [AES-256-GCM]'),
  });

  async function lastAuth(user: string): Promise<AuditRecord | undefined> {
    for (let i = 0; i < 40; i++) {
      const recs = JSON.parse((await env.gw.cli(['audit', '--json'])).stdout) as AuditRecord[];
      const hit = recs.filter((r) => r.event === 'auth' && r.user === user).at(-1);
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 500));
    }
    return undefined;
  }

  it('a client limited to TLS 1.2 is refused when the floor is 1.3, and audited', async () => {
    const profile = await env.gw.addUser('old-tls');
    keepRemotes(profile, 'udp');
    // An older client's own profile: it never asks for more than TLS 1.2.
    writeFileSync(profile, readFileSync(profile, 'utf8').replace(/^tls-version-min .*$/m, ''));
    const client = startOpenvpnClient(env.lab, 'laptop', profile, ['--tls-version-max', '1.2']);
    try {
      await client.log.waitFor(
        /TLS error|TLS handshake failed|tls_process|SSL alert|protocol version/i,
        45_000,
      );
      assert.doesNotMatch(client.log.lines.join('\n'), /Initialization Sequence Completed/);
    } finally {
      await client.stop();
    }
    // TLS fails before a certificate is seen, so the record names the address, not the user.
    let fail: AuditRecord | undefined;
    for (let i = 0; i < 40 && !fail; i++) {
      const recs = JSON.parse((await env.gw.cli(['audit', '--json'])).stdout) as AuditRecord[];
      fail = recs.find(
        (r) => r.event === 'auth' && r.result === 'fail' && /tls|version/i.test(r.reason ?? ''),
      );
      if (!fail) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(fail, 'a failed auth record naming the TLS refusal');
    assert.match(fail.reason ?? '', /version|protocol/i);
  });

  it('a cipher the policy leaves out is refused even though the client and OpenVPN both know it', async () => {
    const profile = await env.gw.addUser('chacha-only');
    keepRemotes(profile, 'udp');
    const client = startOpenvpnClient(env.lab, 'laptop', profile, [
      '--data-ciphers',
      'CHACHA20-POLY1305',
    ]);
    try {
      await client.log.waitFor(/AUTH_FAILED/, 45_000);
    } finally {
      await client.stop();
    }
    const rec = await lastAuth('chacha-only');
    assert.equal(rec?.result, 'fail');
    assert.match(rec?.reason ?? '', /no shared cipher/);
  });

  it('a client within the policy connects with TLS 1.3 and the allowed cipher', async () => {
    const profile = await env.gw.addUser('modern');
    keepRemotes(profile, 'udp');
    const client = startOpenvpnClient(env.lab, 'laptop', profile);
    try {
      await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
      assert.match(client.log.lines.join('\n'), /TLSv1\.3/);
      const sessions = JSON.parse((await env.gw.cli(['sessions', '--json'])).stdout) as {
        user: string;
        cipher: string;
      }[];
      assert.equal(sessions.find((s) => s.user === 'modern')?.cipher, 'AES-256-GCM');
    } finally {
      await client.stop();
    }
  });
});
