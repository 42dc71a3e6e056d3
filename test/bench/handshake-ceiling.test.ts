// The handshake ceiling's arithmetic (bench/lib/handshake-ceiling.ts), with numbers worked by
// hand, and the TLS floor it rests on measured for real (OpenSSL through the native engine).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatHandshakeCeiling, handshakeCeiling } from '../../bench/lib/handshake-ceiling.js';
import { measureTlsFloor } from '../../bench/lib/tls-floor.js';

const floor = { serverMs: 0.8, clientMs: 0.8, handshakes: 600 };

describe('handshake ceiling', () => {
  it('bounds an ideal server by the cores over generator + OpenSSL server side', () => {
    const c = handshakeCeiling({
      cores: 2,
      floor,
      generatorMs: 2.2,
      referencePerSec: 400,
      referenceCpuMs: 1.6,
    });
    // 2,000 ms of CPU per second / (2.2 + 0.8) ms = 666.7/s, 1.67x the reference's 400/s.
    assert.ok(Math.abs(c.withThisGenerator!.perSec - 2000 / 3) < 1e-9);
    assert.ok(Math.abs(c.withThisGenerator!.vsReference! - 2000 / 3 / 400) < 1e-9);
    // A generator as lean as OpenSSL's client side: 2,000 / 1.6 = 1,250/s; the reference on one
    // thread at 1.6 ms manages 625/s (its share of the machine, 2,000 / 2.4 = 833, is larger).
    assert.equal(c.withLeanestGenerator.perSec, 1250);
    assert.equal(c.withLeanestGenerator.referencePerSec, 625);
    assert.equal(c.withLeanestGenerator.vsReference, 2);
  });

  it("takes the reference's share of the machine when that is below one core", () => {
    const c = handshakeCeiling({
      cores: 1,
      floor,
      generatorMs: undefined,
      referencePerSec: undefined,
      referenceCpuMs: 1.2,
    });
    // One core: 1,000 / (1.2 + 0.8) = 500/s for the reference, 1,000 / 1.6 = 625/s at best.
    assert.equal(c.withLeanestGenerator.referencePerSec, 500);
    assert.equal(c.withLeanestGenerator.vsReference, 1.25);
    assert.equal(c.withThisGenerator, undefined);
    assert.equal(c.generatorMs, undefined);
  });

  it('says so in words, without a ratio when the reference did not run', () => {
    const text = formatHandshakeCeiling(
      handshakeCeiling({
        cores: 2,
        floor,
        generatorMs: 2.2,
        referencePerSec: undefined,
        referenceCpuMs: undefined,
      }),
      'OpenVPN 2.6 UDP',
    );
    assert.match(text, /^Handshake ceiling on this machine \(2 cores/);
    assert.match(text, /server side 0\.80 ms, client side 0\.80 ms/);
    assert.match(text, /tops out at 667\/s\./);
    assert.doesNotMatch(text, /x the reference/);
  });

  it("measures OpenSSL's two sides of a real handshake", async () => {
    const f = await measureTlsFloor(20);
    assert.equal(f.handshakes, 60);
    // A P-256 handshake is tens of microseconds at the very least and well under 50 ms here.
    for (const ms of [f.serverMs, f.clientMs]) assert.ok(ms > 0.02 && ms < 50, String(ms));
  });
});
