// The start-up self-connect's client side: where it goes, and that a listener which never
// answers ends it with a clear error in time instead of hanging the gateway's start.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UdpEndpoint } from '../../src/io/net/udp-endpoint.js';
import { createWarmUpPki, warmUpClientWrap } from '../../src/gateway/openvpn/warm-up.js';
import { sameHostAddress, selfConnect } from '../../src/gateway/openvpn/self-connect.js';
import { generateTlsCryptV2ServerKey } from '../../src/control/pki/index.js';

describe('start-up self-connect', () => {
  it('reaches a wildcard listener over loopback and a bound address directly', () => {
    assert.equal(sameHostAddress('0.0.0.0'), '127.0.0.1');
    assert.equal(sameHostAddress(''), '127.0.0.1');
    assert.equal(sameHostAddress('::'), '::1');
    assert.equal(sameHostAddress('192.0.2.7'), '192.0.2.7');
    assert.equal(sameHostAddress('2001:db8::7'), '2001:db8::7');
  });

  it('gives up with SELF_CONNECT_FAILED when the listener never answers', async () => {
    const silent = await UdpEndpoint.bind('127.0.0.1', 0);
    let heard = 0;
    silent.onDatagram(() => heard++);
    const pki = await createWarmUpPki('1.3');
    let bound: { address: string; port: number } | undefined;
    const started = Date.now();
    try {
      await assert.rejects(
        selfConnect({
          listen: { address: '0.0.0.0', port: silent.port },
          wrap: warmUpClientWrap(
            { kind: 'tls-crypt-v2', serverKey: generateTlsCryptV2ServerKey() },
            pki,
          ),
          tls: pki.clientTls,
          dataCiphers: ['AES-256-GCM'],
          onBound: (client) => (bound = client),
          timeoutMs: 300,
        }),
        (e: Error & { code?: string }) => e.code === 'SELF_CONNECT_FAILED',
      );
    } finally {
      await silent.close();
    }
    assert.ok(Date.now() - started < 5_000);
    assert.equal(bound?.address, '127.0.0.1');
    assert.ok(heard >= 1, 'its reset reached the listener');
  });
});
