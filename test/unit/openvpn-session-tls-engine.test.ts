// The TLS engine the session cores run on, in both implementations: Node TLS over an in-memory
// pipe, and OpenSSL over memory BIOs (native/tls_engine.c). Two engines are
// joined directly (ciphertext cut into 100-byte pieces, as control packets cut it) and must agree
// on who the peer is and on the RFC 5705 export; every certificate check OpenVPN makes
// (the client's certificate against the CA and CRL, `remote-cert-tls server`, a pinned server
// name) must refuse what it should.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { Issued } from '../../src/control/pki/index.js';
import type { PeerCertificate } from 'node:tls';
import {
  checkServerCertificate,
  clientTlsEngineFactory,
  serverTlsEngineFactory,
} from '../../src/io/tls/tls-engine.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/io/tls/tls-engine.js';
import {
  nativeClientTlsEngineFactory,
  nativeServerTlsEngineFactory,
} from '../../src/io/tls/native-tls-engine.js';
import type {
  TlsEngine,
  TlsEngineFactory,
  TlsEvent,
} from '../../src/proto/openvpn/session/tls-engine.js';
import { EKM_LABEL_DATA_KEYS } from '../../src/wire/openvpn/constants.js';
import { makeTlsTestPki } from '../fixtures/tls-test-pki.js';

const PIECE = 100;

let ca: Issued;
let server: Issued;
let alice: Issued;
let bob: Issued;
let otherCa: Issued;
let stranger: Issued;
let crlRevokingBob: string;

before(async () => {
  ({ ca, server, alice, bob, otherCa, stranger, crlRevokingBob } =
    await makeTlsTestPki('Engine CA'));
});

interface Side {
  engine: TlsEngine;
  events: TlsEvent[];
}

interface Implementation {
  name: string;
  server: (config: TlsServerConfig) => TlsEngineFactory;
  client: (config: TlsClientConfig) => TlsEngineFactory;
}

const IMPLEMENTATIONS: readonly Implementation[] = [
  { name: 'Node', server: serverTlsEngineFactory, client: clientTlsEngineFactory },
  { name: 'native', server: nativeServerTlsEngineFactory, client: nativeClientTlsEngineFactory },
];

for (const impl of IMPLEMENTATIONS) {
  /** Joins a server and a client engine; resolves once both finished or one failed. */
  async function connect(
    serverConfig: TlsServerConfig,
    clientConfig: TlsClientConfig,
  ): Promise<{ server: Side; client: Side }> {
    const s: Side = { engine: undefined as unknown as TlsEngine, events: [] };
    const c: Side = { engine: undefined as unknown as TlsEngine, events: [] };
    let settle: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const check = (): void => {
      const finished = (x: Side) => x.events.some((e) => e.kind === 'handshake-done');
      const failed = (x: Side) => x.events.some((e) => e.kind === 'error');
      if ((finished(s) && finished(c)) || failed(s) || failed(c)) setTimeout(settle, 50);
    };
    const pipe = (to: () => TlsEngine, log: TlsEvent[]) => (event: TlsEvent) => {
      log.push(event);
      if (event.kind === 'ciphertext') {
        for (let i = 0; i < event.bytes.length; i += PIECE) {
          to().receiveCiphertext(event.bytes.subarray(i, i + PIECE));
        }
      }
      check();
    };
    s.engine = impl.server(serverConfig)(
      0,
      pipe(() => c.engine, s.events),
    );
    c.engine = impl.client(clientConfig)(
      0,
      pipe(() => s.engine, c.events),
    );
    const timeout = setTimeout(settle, 5000);
    await done;
    clearTimeout(timeout);
    return { server: s, client: c };
  }

  function serverConfig(extra: Partial<TlsServerConfig> = {}): TlsServerConfig {
    return { cert: server.certPem, key: server.keyPem, ca: ca.certPem, ...extra };
  }

  function clientConfig(
    who: Issued = alice,
    extra: Partial<TlsClientConfig> = {},
  ): TlsClientConfig {
    return { ca: ca.certPem, cert: who.certPem, key: who.keyPem, ...extra };
  }

  function done(side: Side) {
    const e = side.events.find((x) => x.kind === 'handshake-done');
    return e?.kind === 'handshake-done' ? e.info : undefined;
  }

  function error(side: Side) {
    const e = side.events.find((x) => x.kind === 'error');
    return e?.kind === 'error' ? e : undefined;
  }

  function fingerprint(cert: Issued): string {
    return new X509Certificate(cert.certPem).fingerprint256.replace(/:/g, '').toLowerCase();
  }

  function closeAll(...sides: Side[]): void {
    for (const s of sides) s.engine.close();
  }

  describe(`TLS engine (${impl.name})`, () => {
    it('identifies both peers, agrees on the exported key block, and carries records', async () => {
      const { server: s, client: c } = await connect(serverConfig(), clientConfig());
      const atServer = done(s);
      const atClient = done(c);
      assert.ok(atServer && atClient);
      assert.equal(atServer.peerCommonName, 'alice');
      assert.equal(atServer.peerSerial, alice.serial);
      assert.equal(atServer.peerFingerprint256, fingerprint(alice));
      assert.equal(atClient.peerCommonName, 'gw');
      assert.equal(atClient.peerFingerprint256, fingerprint(server));
      assert.equal(atServer.protocol, 'TLSv1.3');
      assert.match(
        atServer.cipher,
        /^TLS_(AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256|AES_128_GCM_SHA256)$/,
      );
      const fromServer = s.engine.exportKeyingMaterial(256, EKM_LABEL_DATA_KEYS);
      const fromClient = c.engine.exportKeyingMaterial(256, EKM_LABEL_DATA_KEYS);
      assert.equal(fromServer.length, 256);
      assert.deepEqual(fromServer, fromClient);
      assert.notDeepEqual(fromServer, s.engine.exportKeyingMaterial(256, 'EXPORTER-other'));

      // One sendPlaintext, one record: the peer gets each message whole, in order.
      c.engine.sendPlaintext(new TextEncoder().encode('PUSH_REQUEST\0'));
      s.engine.sendPlaintext(new TextEncoder().encode('PUSH_REPLY,ping 10\0'));
      await new Promise((r) => setTimeout(r, 50));
      const text = (side: Side) =>
        side.events.flatMap((e) =>
          e.kind === 'plaintext' ? [new TextDecoder().decode(e.bytes)] : [],
        );
      assert.deepEqual(text(s), ['PUSH_REQUEST\0']);
      assert.deepEqual(text(c), ['PUSH_REPLY,ping 10\0']);

      // After close, nothing more comes out.
      closeAll(s, c);
      const before = s.events.length;
      s.engine.receiveCiphertext(new Uint8Array(50));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(s.events.length, before);
      assert.throws(() => s.engine.exportKeyingMaterial(16, EKM_LABEL_DATA_KEYS));
    });

    it('speaks TLS 1.2 with an ECDHE suite when the client goes no higher', async () => {
      const { server: s, client: c } = await connect(
        serverConfig(),
        clientConfig(alice, { maxVersion: 'TLSv1.2' }),
      );
      const info = done(s);
      assert.equal(info?.protocol, 'TLSv1.2');
      assert.match(info?.cipher ?? '', /^TLS_ECDHE_(ECDSA|RSA)_WITH_/);
      assert.deepEqual(
        s.engine.exportKeyingMaterial(256, EKM_LABEL_DATA_KEYS),
        c.engine.exportKeyingMaterial(256, EKM_LABEL_DATA_KEYS),
      );
      closeAll(s, c);
      const refused = await connect(
        serverConfig({ minVersion: 'TLSv1.3' }),
        clientConfig(alice, { maxVersion: 'TLSv1.2' }),
      );
      assert.equal(done(refused.server), undefined);
      assert.ok(error(refused.server) ?? error(refused.client));
      closeAll(refused.server, refused.client);
    });

    it('refuses a client certificate from another CA, even with the right name', async () => {
      const { server: s, client: c } = await connect(serverConfig(), clientConfig(stranger));
      // The verdict travels with handshake-done, so the session can answer AUTH_FAILED.
      assert.equal(done(s)?.peerVerifyError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      closeAll(s, c);
    });

    it('refuses a revoked client certificate and keeps serving the others', async () => {
      const withCrl = serverConfig({ crl: crlRevokingBob });
      const revoked = await connect(withCrl, clientConfig(bob));
      assert.equal(done(revoked.server)?.peerVerifyError, 'CERT_REVOKED');
      const fine = await connect(withCrl, clientConfig(alice));
      assert.equal(done(fine.server)?.peerCommonName, 'alice');
      assert.equal(done(fine.server)?.peerVerifyError, undefined);
      closeAll(revoked.server, revoked.client, fine.server, fine.client);
    });

    it('refuses a client that has no certificate', async () => {
      const { server: s, client: c } = await connect(serverConfig(), { ca: ca.certPem });
      assert.ok(done(s)?.peerVerifyError ?? error(s) ?? error(c));
      closeAll(s, c);
    });

    it('refuses, as remote-cert-tls server, a "server" holding a client certificate', async () => {
      const impostor = serverConfig({ cert: bob.certPem, key: bob.keyPem });
      const { server: s, client: c } = await connect(impostor, clientConfig());
      assert.equal(done(c), undefined);
      // OpenSSL's purpose check gets there first; our own EKU check stands behind it.
      assert.ok(['INVALID_PURPOSE', 'TLS_SERVER_NOT_SERVER_CERT'].includes(error(c)?.code ?? ''));
      closeAll(s, c);
      const asClient = { subject: { CN: 'bob' }, ext_key_usage: ['1.3.6.1.5.5.7.3.2'] };
      const asServer = { subject: { CN: 'gw' }, ext_key_usage: ['1.3.6.1.5.5.7.3.1'] };
      const check = (cert: object, pin?: string) =>
        checkServerCertificate(
          cert as PeerCertificate,
          pin === undefined ? {} : { serverCommonName: pin },
        );
      assert.equal(
        (check(asClient) as { code?: string } | undefined)?.code,
        'TLS_SERVER_NOT_SERVER_CERT',
      );
      assert.equal(check(asServer), undefined);
      assert.equal(
        (check(asServer, 'gw2') as { code?: string } | undefined)?.code,
        'TLS_SERVER_NAME_MISMATCH',
      );
    });

    it('refuses a server from another CA, and one with the wrong pinned name', async () => {
      const foreign = await connect(serverConfig(), { ...clientConfig(), ca: otherCa.certPem });
      assert.equal(done(foreign.client), undefined);
      assert.ok(error(foreign.client));
      const pinned = await connect(
        serverConfig(),
        clientConfig(alice, { serverCommonName: 'gw2' }),
      );
      assert.equal(error(pinned.client)?.code, 'TLS_SERVER_NAME_MISMATCH');
      const right = await connect(serverConfig(), clientConfig(alice, { serverCommonName: 'gw' }));
      assert.equal(done(right.client)?.peerCommonName, 'gw');
      closeAll(
        foreign.server,
        foreign.client,
        pinned.server,
        pinned.client,
        right.server,
        right.client,
      );
    });

    it('fails at set-up, not at the first client, on a key that does not parse', () => {
      assert.throws(
        () => impl.server({ ...serverConfig(), key: 'not a key' }),
        (e: Error & { code?: string }) => e.code === 'TLS_BAD_CONFIG',
      );
    });
  });
}
