// Who the gateway refuses, and that each refusal is an audit record: a client with only a
// non-AEAD cipher, a certificate from another CA, a revoked certificate; and that revoking a
// connected user ends its session within a second.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postern, tempDir } from '../helpers/postern-cli.js';
import { keepRemotes, labWithGateway, startOpenvpnClient } from '../helpers/lab-gateway.js';

const root = process.getuid?.() === 0;

interface AuditRecord {
  event: string;
  user: string | null;
  result: string;
  reason: string | null;
}

function block(text: string, tag: string): string {
  const m = new RegExp(`<${tag}>\\n([\\s\\S]*?)</${tag}>`).exec(text);
  assert.ok(m, `profile has <${tag}>`);
  return m[1] ?? '';
}

describe('the gateway refuses, and audits', { skip: root ? false : 'needs root' }, () => {
  const env = labWithGateway();
  const tmp = tempDir();
  after(() => tmp.remove());

  async function audit(): Promise<AuditRecord[]> {
    const r = await env.gw.cli(['audit', '--json']);
    return JSON.parse(r.stdout) as AuditRecord[];
  }

  async function waitAudit(pred: (a: AuditRecord) => boolean, ms = 15_000): Promise<AuditRecord> {
    const until = Date.now() + ms;
    for (;;) {
      const hit = (await audit()).find(pred);
      if (hit) return hit;
      if (Date.now() > until)
        throw new Error(`no such audit record; have: ${JSON.stringify(await audit())}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  it('a client offering only a non-AEAD cipher gets AUTH_FAILED', async () => {
    const profile = await env.gw.addUser('cbc-user');
    keepRemotes(profile, 'udp');
    const client = startOpenvpnClient(env.lab, 'laptop', profile, [
      '--data-ciphers',
      'AES-256-CBC',
      '--data-ciphers-fallback',
      'AES-256-CBC',
    ]);
    try {
      await client.log.waitFor(/AUTH_FAILED/, 30_000);
      const rec = await waitAudit(
        (a) => a.event === 'auth' && a.result === 'fail' && a.user === 'cbc-user',
      );
      assert.match(rec.reason ?? '', /cipher/i);
    } finally {
      await client.stop();
    }
  });

  it('a certificate from another CA is refused in TLS', async () => {
    const profile = await env.gw.addUser('borrower');
    keepRemotes(profile, 'udp');
    const other = join(tmp.path, 'other');
    assert.equal(
      (await postern(['init', '--dir', other, '--endpoint', env.lab.addr.gw.outside.v4])).code,
      0,
    );
    assert.equal((await postern(['user', 'add', 'mallory', '--dir', other])).code, 0);
    const foreign = await postern(['profile', 'mallory', '--dir', other, '--format', 'ovpn']);
    let text = readFileSync(profile, 'utf8');
    text = text
      .replace(block(text, 'cert'), block(foreign.stdout, 'cert'))
      .replace(block(text, 'key'), block(foreign.stdout, 'key'));
    writeFileSync(profile, text);
    const client = startOpenvpnClient(env.lab, 'laptop', profile);
    try {
      const rec = await waitAudit(
        (a) => a.event === 'auth' && a.result === 'fail' && a.user === 'mallory',
      );
      assert.match(rec.reason ?? '', /certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
      // The client is told (AUTH_FAILED) instead of being left to time out.
      await client.log.waitFor(/AUTH_FAILED/, 15_000);
      assert.doesNotMatch(client.log.lines.join('\n'), /Initialization Sequence Completed/);
    } finally {
      await client.stop();
    }
  });

  it('a revoked certificate is refused', async () => {
    const profile = await env.gw.addUser('leaver');
    keepRemotes(profile, 'udp');
    assert.equal((await env.gw.cli(['user', 'revoke', 'leaver'])).code, 0);
    const client = startOpenvpnClient(env.lab, 'laptop', profile);
    try {
      const rec = await waitAudit(
        (a) => a.event === 'auth' && a.result === 'fail' && /revoked/i.test(a.reason ?? ''),
      );
      assert.ok(rec);
      assert.doesNotMatch(client.log.lines.join('\n'), /Initialization Sequence Completed/);
    } finally {
      await client.stop();
    }
  });

  it('revoking a connected user ends its session within a second', async () => {
    const profile = await env.gw.addUser('bob');
    keepRemotes(profile, 'udp');
    const client = startOpenvpnClient(env.lab, 'laptop', profile);
    try {
      await client.log.waitFor(/Initialization Sequence Completed/, 45_000);
      assert.equal(
        (await env.lab.ping('laptop', env.lab.addr.office.v4, { count: 1, timeoutSec: 2 }))
          .received,
        1,
      );
      const rev = await env.gw.cli(['user', 'revoke', 'bob', '--json']);
      assert.equal(rev.code, 0, rev.stderr);
      // The gateway ends the session inside the revoke call itself: no timer, no polling.
      assert.equal((JSON.parse(rev.stdout) as { sessionsEnded: number }).sessionsEnded, 1);
      const sessions = JSON.parse((await env.gw.cli(['sessions', '--json'])).stdout) as {
        user: string;
      }[];
      assert.equal(sessions.filter((s) => s.user === 'bob').length, 0);
      const after = await env.lab.ping('laptop', env.lab.addr.office.v4, {
        count: 2,
        timeoutSec: 1,
      });
      assert.equal(after.received, 0, 'no traffic passes after revocation');
      await waitAudit((a) => a.event === 'session.stop' && a.user === 'bob');
    } finally {
      await client.stop();
    }
  });
});
