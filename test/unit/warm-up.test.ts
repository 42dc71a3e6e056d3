// The gateway's start-up self-handshake: Postern's client core against its server core over the
// real TLS engines, for both control-channel wraps, ends configured every time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { warmUpSessionCores } from '../../src/gateway/openvpn/warm-up.js';

describe('start-up warm-up', () => {
  for (const tlsCrypt of ['v1', 'v2'] as const) {
    it(`completes in-memory handshakes with tls-crypt ${tlsCrypt}`, async () => {
      const r = await warmUpSessionCores({
        rounds: 3,
        tlsCrypt,
        dataCiphers: ['AES-256-GCM', 'CHACHA20-POLY1305'],
        minTls: '1.3',
      });
      assert.equal(r.handshakes, 3);
      assert.ok(r.ms > 0);
    });
  }

  it('fails loudly when no cipher can be agreed (the handshake cannot complete)', async () => {
    await assert.rejects(
      warmUpSessionCores({ rounds: 1, tlsCrypt: 'v1', dataCiphers: ['BF-CBC'], minTls: '1.2' }),
      (e: Error & { code?: string }) => e.code === 'WARM_UP_FAILED',
    );
  });
});
