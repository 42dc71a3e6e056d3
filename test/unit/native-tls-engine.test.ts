// The OpenSSL TLS engine (native/tls_engine.c behind src/io/tls/native-tls-engine.ts) against
// itself and against Node's TLS stack, an independent implementation: both directions, TLS 1.2
// and 1.3, the same exported key block on both ends, each record delivered whole, certificate
// verdicts under Node's names, the alert going out before the error, configuration errors at
// set-up, garbage from the network, and no memory kept after close.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import {
  buildCrl,
  createCa,
  exportPrivateKeyPem,
  generateKeyPair,
} from '../../src/control/pki/index.js';
import {
  KeyUsageFlags,
  KeyUsagesExtension,
  webCrypto,
  X509CertificateGenerator,
} from '../../src/control/pki/x509.js';
import type { Issued } from '../../src/control/pki/index.js';
import { clientTlsEngineFactory, serverTlsEngineFactory } from '../../src/io/tls/tls-engine.js';
import type { TlsClientConfig, TlsServerConfig } from '../../src/io/tls/tls-engine.js';
import {
  nativeClientTlsEngineFactory,
  nativeServerTlsEngineFactory,
} from '../../src/io/tls/native-tls-engine.js';
import type {
  TlsEngine,
  TlsEngineFactory,
  TlsEvent,
  TlsHandshakeInfo,
} from '../../src/proto/openvpn/session/tls-engine.js';
import { EKM_LABEL_DATA_KEYS } from '../../src/wire/openvpn/constants.js';
import { makeTlsTestPki } from '../fixtures/tls-test-pki.js';

/** OpenVPN's key block: 2 x (cipher key + HMAC key) x 2 directions. */
const KEY_BLOCK_LENGTH = 256;
/** How control packets cut TLS records. */
const PIECE = 100;
const ENCODER = new TextEncoder();

let ca: Issued;
let server: Issued;
let alice: Issued;
let bob: Issued;
let otherCa: Issued;
let stranger: Issued;
let crlRevokingBob: string;
/** A self-signed server certificate without extendedKeyUsage: OpenSSL's purpose check passes it. */
let noEku: { certPem: string; keyPem: string };

before(async () => {
  const now = new Date();
  ({ ca, server, alice, bob, otherCa, stranger, crlRevokingBob } =
    await makeTlsTestPki('Native CA'));
  const keys = await generateKeyPair('ecdsa-p256');
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=gw',
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + 86_400_000),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true)],
    },
    webCrypto,
  );
  noEku = { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) };
});

function serverConfig(extra: Partial<TlsServerConfig> = {}): TlsServerConfig {
  return { cert: server.certPem, key: server.keyPem, ca: ca.certPem, ...extra };
}

function clientConfig(who: Issued = alice, extra: Partial<TlsClientConfig> = {}): TlsClientConfig {
  return { ca: ca.certPem, cert: who.certPem, key: who.keyPem, ...extra };
}

interface Side {
  engine: TlsEngine;
  events: TlsEvent[];
}

const finished = (side: Side): TlsHandshakeInfo | undefined => {
  const e = side.events.find((x) => x.kind === 'handshake-done');
  return e?.kind === 'handshake-done' ? e.info : undefined;
};

const failure = (side: Side) => {
  const e = side.events.find((x) => x.kind === 'error');
  return e?.kind === 'error' ? e : undefined;
};

const texts = (side: Side): string[] =>
  side.events.flatMap((e) => (e.kind === 'plaintext' ? [new TextDecoder().decode(e.bytes)] : []));

/**
 * Joins two engines, ciphertext cut into control-packet pieces. Delivery is synchronous, so two
 * native engines finish inside the factory calls' microtask; with a Node engine on either side
 * the caller waits with `settled`.
 */
function join(serverFactory: TlsEngineFactory, clientFactory: TlsEngineFactory) {
  const s: Side = { engine: undefined as unknown as TlsEngine, events: [] };
  const c: Side = { engine: undefined as unknown as TlsEngine, events: [] };
  // Node's client writes its hello while being created, and a native server answers at once:
  // hold what arrives for an engine that does not exist yet.
  const early: { to: Side; bytes: Uint8Array }[] = [];
  const feed = (to: Side, bytes: Uint8Array) => {
    if (to.engine === undefined) early.push({ to, bytes });
    else to.engine.receiveCiphertext(bytes);
  };
  const pipe = (to: Side, log: TlsEvent[]) => (event: TlsEvent) => {
    log.push(event);
    if (event.kind !== 'ciphertext') return;
    for (let i = 0; i < event.bytes.length; i += PIECE) {
      feed(to, event.bytes.subarray(i, i + PIECE));
    }
  };
  s.engine = serverFactory(0, pipe(c, s.events));
  c.engine = clientFactory(0, pipe(s, c.events));
  for (const { to, bytes } of early.splice(0)) to.engine.receiveCiphertext(bytes);
  return { server: s, client: c };
}

/** Waits until both sides finished or one failed (or two seconds passed). */
async function settled(...sides: Side[]): Promise<void> {
  const deadline = Date.now() + 2000;
  const over = () =>
    sides.every((x) => finished(x) !== undefined) || sides.some((x) => failure(x) !== undefined);
  while (!over() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
}

function fingerprint(cert: Issued): string {
  return new X509Certificate(cert.certPem).fingerprint256.replace(/:/g, '').toLowerCase();
}

/** The gateway's engines: handshake steps inline for a lone client, on libuv's pool when busy. */
function offloading(config: Parameters<typeof nativeServerTlsEngineFactory>[0]) {
  return nativeServerTlsEngineFactory(config, { offloadHandshake: true });
}

const PAIRINGS = [
  {
    name: 'native server, Node client',
    server: nativeServerTlsEngineFactory,
    client: clientTlsEngineFactory,
  },
  {
    name: 'Node server, native client',
    server: serverTlsEngineFactory,
    client: nativeClientTlsEngineFactory,
  },
  {
    name: 'native server, native client',
    server: nativeServerTlsEngineFactory,
    client: nativeClientTlsEngineFactory,
  },
  {
    name: "the gateway's native server (pool when busy), Node client",
    server: offloading,
    client: clientTlsEngineFactory,
  },
  {
    name: "the gateway's native server (pool when busy), native client",
    server: offloading,
    client: nativeClientTlsEngineFactory,
  },
] as const;

describe('native TLS engine: interoperation', () => {
  for (const pairing of PAIRINGS) {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      it(`${pairing.name}, ${version}: same peers, same key block, records whole`, async () => {
        const { server: s, client: c } = join(
          pairing.server(serverConfig()),
          pairing.client(clientConfig(alice, { maxVersion: version })),
        );
        await settled(s, c);
        const atServer = finished(s);
        const atClient = finished(c);
        assert.ok(atServer && atClient, JSON.stringify([failure(s), failure(c)]));
        assert.equal(atServer.peerCommonName, 'alice');
        assert.equal(atServer.peerSerial, alice.serial);
        assert.equal(atServer.peerFingerprint256, fingerprint(alice));
        assert.equal(atServer.peerVerifyError, undefined);
        assert.equal(atClient.peerCommonName, 'gw');
        assert.equal(atClient.peerFingerprint256, fingerprint(server));
        for (const info of [atServer, atClient]) {
          assert.equal(info.protocol, version);
          assert.match(
            info.cipher,
            version === 'TLSv1.3'
              ? /^TLS_(AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256|AES_128_GCM_SHA256)$/
              : /^TLS_ECDHE_(ECDSA|RSA)_WITH_/,
          );
        }
        assert.equal(atServer.cipher, atClient.cipher);
        const fromServer = s.engine.exportKeyingMaterial(KEY_BLOCK_LENGTH, EKM_LABEL_DATA_KEYS);
        const fromClient = c.engine.exportKeyingMaterial(KEY_BLOCK_LENGTH, EKM_LABEL_DATA_KEYS);
        assert.equal(fromServer.length, KEY_BLOCK_LENGTH);
        assert.deepEqual(fromServer, fromClient);
        assert.notDeepEqual(
          fromServer,
          s.engine.exportKeyingMaterial(KEY_BLOCK_LENGTH, 'EXPORTER-other'),
        );

        c.engine.sendPlaintext(ENCODER.encode('PUSH_REQUEST\0'));
        c.engine.sendPlaintext(ENCODER.encode('second\0'));
        s.engine.sendPlaintext(ENCODER.encode('PUSH_REPLY,ping 10\0'));
        await new Promise((r) => setTimeout(r, 30));
        assert.deepEqual(texts(s), ['PUSH_REQUEST\0', 'second\0']);
        assert.deepEqual(texts(c), ['PUSH_REPLY,ping 10\0']);
        assert.equal(failure(s), undefined);
        assert.equal(failure(c), undefined);
        s.engine.close();
        c.engine.close();
      });
    }
  }

  it('the gateway runs a lone handshake inline, and uses the pool once another is under way', async () => {
    const factory = offloading(serverConfig());
    const client = nativeClientTlsEngineFactory(clientConfig());
    // Nobody else connecting: no thread hop, finished before the event loop turns.
    const lone = join(factory, client);
    await Promise.resolve();
    assert.ok(finished(lone.server) && finished(lone.client));
    // Another client has started its handshake: this one's steps go to the thread pool.
    const other = factory(0, () => undefined);
    const busy = join(factory, client);
    await Promise.resolve();
    assert.equal(finished(busy.server), undefined, 'not finished without the event loop');
    await settled(busy.server, busy.client);
    assert.ok(finished(busy.server) && finished(busy.client), JSON.stringify(failure(busy.server)));
    // Established or closed, a handshake no longer counts: alone again, inline again.
    other.close();
    const again = join(factory, client);
    await Promise.resolve();
    assert.ok(finished(again.server) && finished(again.client));
    for (const side of [lone, busy, again]) {
      side.server.engine.close();
      side.client.engine.close();
    }
  });

  it('is synchronous: two native engines finish without the event loop turning', async () => {
    const { server: s, client: c } = join(
      nativeServerTlsEngineFactory(serverConfig()),
      nativeClientTlsEngineFactory(clientConfig()),
    );
    // The client says hello from a microtask, so that the factory can return first.
    assert.equal(c.events.length, 0);
    await Promise.resolve();
    assert.ok(finished(s) && finished(c));
    // Plaintext queued before the handshake is sent right after it, in order.
    c.engine.sendPlaintext(ENCODER.encode('one'));
    c.engine.sendPlaintext(ENCODER.encode('two'));
    assert.deepEqual(texts(s), ['one', 'two']);
    s.engine.close();
    c.engine.close();
  });

  it('sends plaintext handed over before the handshake once it is done', async () => {
    const { server: s, client: c } = join(
      nativeServerTlsEngineFactory(serverConfig()),
      nativeClientTlsEngineFactory(clientConfig()),
    );
    c.engine.sendPlaintext(ENCODER.encode('early'));
    assert.throws(
      () => c.engine.exportKeyingMaterial(16, EKM_LABEL_DATA_KEYS),
      (e: Error & { code?: string }) => e.code === 'TLS_NOT_READY',
    );
    await Promise.resolve();
    assert.deepEqual(texts(s), ['early']);
    const order = c.events.map((e) => e.kind);
    assert.ok(order.indexOf('handshake-done') < order.lastIndexOf('ciphertext'));
    s.engine.close();
    c.engine.close();
  });
});

describe('native TLS engine: certificate verdicts', () => {
  // The gateway's offloading server: the verdicts are made on a worker thread.
  for (const client of [
    { name: 'Node client', factory: clientTlsEngineFactory },
    { name: 'native client', factory: nativeClientTlsEngineFactory },
  ]) {
    it(`names a revoked and an unknown-CA certificate as Node does (${client.name})`, async () => {
      const withCrl = offloading(serverConfig({ crl: crlRevokingBob }));
      const revoked = join(withCrl, client.factory(clientConfig(bob)));
      const foreign = join(withCrl, client.factory(clientConfig(stranger)));
      const fine = join(withCrl, client.factory(clientConfig(alice)));
      await settled(revoked.server, revoked.client, foreign.server, foreign.client);
      await settled(fine.server, fine.client);
      assert.equal(finished(revoked.server)?.peerVerifyError, 'CERT_REVOKED');
      assert.equal(finished(revoked.server)?.peerCommonName, 'bob');
      assert.equal(finished(foreign.server)?.peerVerifyError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      assert.equal(finished(fine.server)?.peerVerifyError, undefined);
      assert.equal(finished(fine.server)?.peerCommonName, 'alice');
      for (const x of [revoked, foreign, fine]) {
        x.server.engine.close();
        x.client.engine.close();
      }
    });
  }

  it('checks the chain against the newest CRL in force, verified once at set-up', async () => {
    const now = new Date();
    const dayAgo = new Date(now.getTime() - 86_400_000);
    const older = await buildCrl(ca, [], { now: dayAgo, crlNumber: 1 });
    const expired = await buildCrl(ca, [], {
      now: new Date(now.getTime() - 3 * 86_400_000),
      crlNumber: 1,
      nextUpdateDays: 1,
    });
    const verdict = async (crl: string[], who: Issued) => {
      const x = join(
        offloading(serverConfig({ crl })),
        nativeClientTlsEngineFactory(clientConfig(who)),
      );
      await settled(x.server, x.client);
      const info = finished(x.server);
      x.server.engine.close();
      x.client.engine.close();
      return info?.peerVerifyError ?? 'ok';
    };
    // Two CRLs of one CA: the newer one (revoking bob) decides, in either order.
    assert.equal(await verdict([older, crlRevokingBob], bob), 'CERT_REVOKED');
    assert.equal(await verdict([crlRevokingBob, older], bob), 'CERT_REVOKED');
    assert.equal(await verdict([older], bob), 'ok');
    // A CRL past its nextUpdate refuses everyone, as OpenSSL's own check does.
    assert.equal(await verdict([expired], alice), 'CRL_HAS_EXPIRED');
  });

  it('says "no client certificate" when the client has none', async () => {
    const { server: s, client: c } = join(
      nativeServerTlsEngineFactory(serverConfig()),
      nativeClientTlsEngineFactory({ ca: ca.certPem }),
    );
    await settled(s, c);
    assert.equal(finished(s)?.peerVerifyError, 'no client certificate');
    assert.equal(finished(s)?.peerCommonName, undefined);
    s.engine.close();
    c.engine.close();
  });

  it('refuses a server from another CA with an alert, before the error, then goes quiet', async () => {
    const { server: s, client: c } = join(
      nativeServerTlsEngineFactory(serverConfig()),
      nativeClientTlsEngineFactory({ ...clientConfig(), ca: otherCa.certPem }),
    );
    // Node's client, on the same chain, names the same reason.
    const byNode = join(
      nativeServerTlsEngineFactory(serverConfig()),
      clientTlsEngineFactory({ ...clientConfig(), ca: otherCa.certPem }),
    );
    await settled(s, c);
    await settled(byNode.client);
    assert.equal(finished(c), undefined);
    assert.ok(failure(byNode.client)?.code);
    assert.equal(failure(c)?.code, failure(byNode.client)?.code);
    const kinds = c.events.map((e) => e.kind);
    // The alert (ciphertext) precedes the error, and the error is the last event.
    assert.equal(kinds.at(-1), 'error');
    assert.equal(kinds.at(-2), 'ciphertext');
    // The server learned why from that alert.
    assert.equal(failure(s)?.code, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    const count = c.events.length;
    c.engine.receiveCiphertext(new Uint8Array(64));
    c.engine.sendPlaintext(ENCODER.encode('x'));
    c.engine.close();
    assert.equal(c.events.length, count);
    s.engine.close();
    byNode.server.engine.close();
    byNode.client.engine.close();
  });

  it('refuses, as remote-cert-tls server, a client certificate and a wrong pinned name', async () => {
    const impostor = join(
      nativeServerTlsEngineFactory(serverConfig({ cert: bob.certPem, key: bob.keyPem })),
      nativeClientTlsEngineFactory(clientConfig()),
    );
    // OpenSSL's purpose check (sslserver) refuses it during the handshake.
    await settled(impostor.server, impostor.client);
    assert.equal(failure(impostor.client)?.code, 'INVALID_PURPOSE');
    // Without serverAuth in its EKU our own check refuses it, though OpenSSL's passes it.
    const noUsage = join(
      nativeServerTlsEngineFactory(serverConfig({ cert: noEku.certPem, key: noEku.keyPem })),
      nativeClientTlsEngineFactory(clientConfig(alice, { ca: noEku.certPem })),
    );
    await settled(noUsage.server, noUsage.client);
    assert.equal(failure(noUsage.client)?.code, 'TLS_SERVER_NOT_SERVER_CERT');
    assert.equal(finished(noUsage.client), undefined);
    // ... unless told not to check (requireServerAuthUsage: false).
    const allowed = join(
      nativeServerTlsEngineFactory(serverConfig({ cert: noEku.certPem, key: noEku.keyPem })),
      nativeClientTlsEngineFactory(
        clientConfig(alice, { ca: noEku.certPem, requireServerAuthUsage: false }),
      ),
    );
    await settled(allowed.server, allowed.client);
    assert.equal(finished(allowed.client)?.peerCommonName, 'gw');
    const pinned = join(
      nativeServerTlsEngineFactory(serverConfig()),
      nativeClientTlsEngineFactory(clientConfig(alice, { serverCommonName: 'gw2' })),
    );
    await settled(pinned.server, pinned.client);
    assert.equal(failure(pinned.client)?.code, 'TLS_SERVER_NAME_MISMATCH');
    assert.equal(finished(pinned.client), undefined);
    for (const x of [impostor, noUsage, allowed, pinned]) {
      x.server.engine.close();
      x.client.engine.close();
    }
  });

  it('refuses a TLS 1.2-only client when the server wants 1.3', async () => {
    const { server: s, client: c } = join(
      nativeServerTlsEngineFactory(serverConfig({ minVersion: 'TLSv1.3' })),
      clientTlsEngineFactory(clientConfig(alice, { maxVersion: 'TLSv1.2' })),
    );
    await settled(s, c);
    assert.equal(finished(s), undefined);
    assert.match(failure(s)?.code ?? '', /^ERR_SSL_/);
    s.engine.close();
    c.engine.close();
  });
});

describe('native TLS engine: set-up errors', () => {
  const refused = (make: () => unknown) =>
    assert.throws(make, (e: Error & { code?: string; hint?: string }) => {
      return e.code === 'TLS_BAD_CONFIG' && typeof e.hint === 'string';
    });

  it('refuses at set-up a CRL that is not from one of its CAs, or whose signature is forged', async () => {
    const now = new Date();
    const foreign = await buildCrl(otherCa, [], { now, crlNumber: 1 });
    // Same issuer name as the gateway's CA, another key: only the signature tells them apart.
    const impostor = await createCa({ commonName: 'Native CA', now });
    const forged = await buildCrl(impostor, [], { now, crlNumber: 1 });
    const message = (crl: string) => {
      try {
        nativeServerTlsEngineFactory(serverConfig({ crl }));
      } catch (e) {
        return (e as Error & { code?: string }).code + ': ' + (e as Error).message;
      }
      return 'accepted';
    };
    assert.match(message(foreign), /^TLS_BAD_CONFIG: .*issuer is not one of the CA/);
    assert.match(message(forged), /^TLS_BAD_CONFIG: .*signature does not verify/);
    assert.equal(message(crlRevokingBob), 'accepted');
  });

  it('fails at factory creation on a bad key, certificate, CA or CRL', () => {
    refused(() => nativeServerTlsEngineFactory(serverConfig({ key: 'not a key' })));
    refused(() => nativeServerTlsEngineFactory(serverConfig({ cert: 'not a cert' })));
    refused(() => nativeServerTlsEngineFactory(serverConfig({ key: alice.keyPem })));
    refused(() => nativeServerTlsEngineFactory(serverConfig({ ca: 'not a CA' })));
    refused(() => nativeServerTlsEngineFactory(serverConfig({ crl: 'not a CRL' })));
    const broken = server.certPem.replace(/[A-Za-z]{8}\n/, 'AAAAAAAA\n');
    refused(() => nativeServerTlsEngineFactory(serverConfig({ cert: broken })));
    refused(() => nativeClientTlsEngineFactory({ ca: 'garbage' }));
    assert.doesNotThrow(() => nativeServerTlsEngineFactory(serverConfig({ ca: [ca.certPem] })));
  });
});

describe('native TLS engine: handshake steps on the thread pool', () => {
  it('goes quiet when closed during a step, and many handshakes at once all finish', async () => {
    const factory = offloading(serverConfig());
    // Closed while the worker holds its SSL: no event afterwards, nothing freed twice.
    const dropped = join(factory, nativeClientTlsEngineFactory(clientConfig(alice)));
    await new Promise((r) => setImmediate(r));
    dropped.server.engine.close();
    const seen = dropped.server.events.length;
    const many = Array.from({ length: 24 }, () =>
      join(factory, nativeClientTlsEngineFactory(clientConfig(alice))),
    );
    await settled(...many.flatMap((m) => [m.server, m.client]));
    assert.equal(dropped.server.events.length, seen);
    for (const m of many) {
      assert.equal(finished(m.server)?.peerCommonName, 'alice', JSON.stringify(failure(m.server)));
      assert.equal(failure(m.client), undefined);
      m.server.engine.close();
      m.client.engine.close();
    }
    dropped.client.engine.close();
  });

  it('lets the process exit while steps are still running on the pool', () => {
    // A gateway stopped in the middle of handshakes: the exit must be clean, not a crash in a
    // worker that still holds an SSL the exit freed.
    const engine = new URL('../../src/io/tls/native-tls-engine.js', import.meta.url).href;
    const script = `
      const { nativeServerTlsEngineFactory: s, nativeClientTlsEngineFactory: c } = await import(${JSON.stringify(engine)});
      const { server, client } = JSON.parse(process.env.CONFIGS);
      const sf = s(server, { offloadHandshake: true });
      const cf = c(client);
      for (let i = 0; i < 40; i++) {
        let srv;
        const cli = cf(0, (e) => { if (e.kind === 'ciphertext') srv.receiveCiphertext(e.bytes); });
        srv = sf(0, (e) => { if (e.kind === 'ciphertext') cli.receiveCiphertext(e.bytes); });
      }
      setTimeout(() => process.exit(0), 1);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        ...process.env,
        CONFIGS: JSON.stringify({ server: serverConfig(), client: clientConfig() }),
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
  });

  it('answers random bytes with at most an alert and one error, never a crash', async () => {
    const factory = offloading(serverConfig());
    const runs = fc.sample(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { minLength: 1, maxLength: 6 }),
      60,
    );
    const all = runs.map((chunks) => {
      const events: TlsEvent[] = [];
      const engine = factory(0, (e) => events.push(e));
      for (const chunk of chunks) engine.receiveCiphertext(chunk);
      return { engine, events };
    });
    await new Promise((r) => setTimeout(r, 300));
    for (const { engine, events } of all) {
      engine.close();
      const kinds = events.map((e) => e.kind);
      assert.ok(kinds.every((k) => k === 'ciphertext' || k === 'error'));
      assert.ok(kinds.filter((k) => k === 'error').length <= 1);
      if (kinds.includes('error')) assert.equal(kinds.at(-1), 'error');
    }
  });
});

describe('native TLS engine: garbage from the network', () => {
  it('answers random bytes with at most an alert and one error, never a crash', () => {
    const factory = nativeServerTlsEngineFactory(serverConfig());
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }), { minLength: 1, maxLength: 6 }),
        (chunks) => {
          const events: TlsEvent[] = [];
          const engine = factory(0, (e) => events.push(e));
          for (const chunk of chunks) engine.receiveCiphertext(chunk);
          engine.close();
          const kinds = events.map((e) => e.kind);
          assert.ok(kinds.every((k) => k === 'ciphertext' || k === 'error'));
          assert.ok(kinds.filter((k) => k === 'error').length <= 1);
          if (kinds.includes('error')) assert.equal(kinds.at(-1), 'error');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fails an established session on corrupted records, alert first', async () => {
    const { server: s, client: c } = join(
      nativeServerTlsEngineFactory(serverConfig()),
      nativeClientTlsEngineFactory(clientConfig()),
    );
    await Promise.resolve();
    assert.ok(finished(s));
    // A well-formed application-data header with a body that does not authenticate.
    const record = new Uint8Array(5 + 40);
    record.set([0x17, 0x03, 0x03, 0x00, 40]);
    record.fill(0xaa, 5);
    const before = s.events.length;
    s.engine.receiveCiphertext(record);
    const kinds = s.events.slice(before).map((e) => e.kind);
    assert.deepEqual(kinds.slice(-1), ['error']);
    assert.equal(failure(s)?.code, 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC');
    assert.throws(() => s.engine.exportKeyingMaterial(16, EKM_LABEL_DATA_KEYS));
    s.engine.close();
    c.engine.close();
  });
});

describe('native TLS engine: memory', () => {
  function handshakeAndClose(
    serverFactory: TlsEngineFactory,
    clientFactory: TlsEngineFactory,
    close: boolean,
  ): Promise<void> {
    const { server: s, client: c } = join(serverFactory, clientFactory);
    return Promise.resolve().then(() => {
      assert.ok(finished(s) && finished(c));
      if (close) {
        s.engine.close();
        c.engine.close();
      }
    });
  }

  function collectGarbage(): void {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    gc();
  }

  it('keeps RSS flat over thousands of handshakes, closed or just dropped', async () => {
    const serverFactory = nativeServerTlsEngineFactory(serverConfig());
    const clientFactory = nativeClientTlsEngineFactory(clientConfig());
    // Collected every 250 so that dropped engines do not pile up before their finalizers run.
    const round = async (count: number, close: boolean) => {
      for (let i = 0; i < count; i++) {
        await handshakeAndClose(serverFactory, clientFactory, close);
        if (i % 250 === 249) {
          collectGarbage();
          await new Promise((r) => setImmediate(r));
        }
      }
      collectGarbage();
      await new Promise((r) => setImmediate(r));
      collectGarbage();
    };
    await round(300, true);
    await round(300, false);
    const start = process.memoryUsage().rss;
    await round(1000, true);
    // Dropped without close(): the finalizers free the SSLs.
    await round(1000, false);
    const growth = process.memoryUsage().rss - start;
    // A leaked SSL with its peer certificate is ~20 KiB: 2,000 of them would show (40 MiB).
    assert.ok(growth < 12 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
  });
});

describe('native TLS engine: compact() hands TLS 1.3 over to our own record layer', () => {
  const CLIENTS = [
    { name: 'Node client', factory: clientTlsEngineFactory },
    { name: 'native client', factory: nativeClientTlsEngineFactory },
  ] as const;
  /** Sizes from one byte to beyond one record (20 KiB): the last is split in two records. */
  const SIZES = [1, 2, 17, 100, 1000, 4096, 16383, 16384, 16385, 20480, 3, 1];

  const messageOf = (tag: number, size: number): Uint8Array =>
    Uint8Array.from({ length: size }, (_, i) => (tag * 31 + i * 7) & 0xff);

  /** Plaintext events joined: Node's engine may cut a message where TLS records end. */
  const received = (side: Side): Uint8Array => {
    const parts = side.events.flatMap((e) => (e.kind === 'plaintext' ? [e.bytes] : []));
    return new Uint8Array(Buffer.concat(parts));
  };

  const joined = (messages: readonly Uint8Array[]): Uint8Array =>
    new Uint8Array(Buffer.concat(messages));

  async function waitUntil(done: () => boolean): Promise<void> {
    const deadline = Date.now() + 3000;
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  for (const client of CLIENTS) {
    it(`native server, ${client.name}: traffic both ways before and after compact()`, async () => {
      const { server: s, client: c } = join(
        nativeServerTlsEngineFactory(serverConfig()),
        client.factory(clientConfig()),
      );
      await settled(s, c);
      assert.equal(finished(s)?.protocol, 'TLSv1.3');
      // Before: a few records each way, so that both sequence numbers have moved.
      const early = {
        up: [messageOf(1, 300), messageOf(2, 5), messageOf(3, 70)],
        down: [messageOf(4, 200), messageOf(5, 9)],
      };
      for (const m of early.up) c.engine.sendPlaintext(m);
      for (const m of early.down) s.engine.sendPlaintext(m);
      await waitUntil(
        () =>
          received(s).length === joined(early.up).length &&
          received(c).length === joined(early.down).length,
      );
      const keys = s.engine.exportKeyingMaterial(KEY_BLOCK_LENGTH, EKM_LABEL_DATA_KEYS);
      assert.deepEqual(keys, c.engine.exportKeyingMaterial(KEY_BLOCK_LENGTH, EKM_LABEL_DATA_KEYS));

      assert.equal(s.engine.compact?.(), true);
      assert.equal(s.engine.compact?.(), true, 'compacting twice is harmless');
      assert.throws(
        () => s.engine.exportKeyingMaterial(KEY_BLOCK_LENGTH, EKM_LABEL_DATA_KEYS),
        (e: Error & { code?: string }) => e.code === 'TLS_NOT_READY',
      );

      // After: many more of varied sizes, interleaved both ways.
      const up: Uint8Array[] = [...early.up];
      const down: Uint8Array[] = [...early.down];
      for (const [i, size] of SIZES.entries()) {
        const toServer = messageOf(10 + i, size);
        const toClient = messageOf(50 + i, SIZES[SIZES.length - 1 - i] as number);
        up.push(toServer);
        down.push(toClient);
        c.engine.sendPlaintext(toServer);
        s.engine.sendPlaintext(toClient);
      }
      await waitUntil(
        () => received(s).length >= joined(up).length && received(c).length >= joined(down).length,
      );
      assert.deepEqual(received(s), joined(up));
      assert.deepEqual(received(c), joined(down));
      // A message that fits a record is still delivered as one plaintext event by our layer.
      const atServer = s.events.filter((e) => e.kind === 'plaintext');
      if (client.name === 'native client') {
        assert.equal(
          atServer.length,
          early.up.length + SIZES.length + SIZES.filter((n) => n > 16384).length,
        );
      }
      assert.equal(failure(s), undefined);
      assert.equal(failure(c), undefined);
      s.engine.close();
      c.engine.close();
    });

    it(`native server, ${client.name}: a corrupted record after compact() is an error event, alert first`, async () => {
      const { server: s, client: c } = join(
        nativeServerTlsEngineFactory(serverConfig()),
        client.factory(clientConfig()),
      );
      await settled(s, c);
      c.engine.sendPlaintext(ENCODER.encode('before'));
      await waitUntil(() => texts(s).length === 1);
      assert.equal(s.engine.compact?.(), true);
      const record = new Uint8Array(5 + 40);
      record.set([0x17, 0x03, 0x03, 0x00, 40]);
      record.fill(0xaa, 5);
      const before = s.events.length;
      assert.doesNotThrow(() => s.engine.receiveCiphertext(record));
      const kinds = s.events.slice(before).map((e) => e.kind);
      assert.deepEqual(kinds, ['ciphertext', 'error']);
      assert.equal(failure(s)?.code, 'TLS_BAD_RECORD_MAC');
      // The client reads that alert as the end of the session.
      await waitUntil(() => failure(c) !== undefined);
      assert.ok(failure(c), 'the client learned of the failure from the alert');
      // Quiet afterwards.
      const count = s.events.length;
      s.engine.receiveCiphertext(record);
      s.engine.sendPlaintext(ENCODER.encode('x'));
      s.engine.close();
      assert.equal(s.events.length, count);
      c.engine.close();
    });
  }

  it('takes a close_notify after compact() quietly, and reads nothing after it', async () => {
    const { server: s, client: c } = join(
      nativeServerTlsEngineFactory(serverConfig()),
      clientTlsEngineFactory(clientConfig()),
    );
    await settled(s, c);
    assert.equal(s.engine.compact?.(), true);
    c.engine.sendPlaintext(ENCODER.encode('last words'));
    // Node's TLSSocket inside the engine sends close_notify when ended: the only way to make a
    // stock stack say it; the engine itself never does.
    (c.engine as unknown as { socket: { end(): void } }).socket.end();
    await waitUntil(() => texts(s).length === 1);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(texts(s), ['last words']);
    const count = s.events.length;
    s.engine.receiveCiphertext(new Uint8Array(64).fill(0x17));
    assert.equal(s.events.length, count, 'no error, no plaintext after close_notify');
    assert.equal(failure(s), undefined);
    s.engine.close();
    c.engine.close();
  });

  it('refuses while a record is half received, and compacts once it is whole', async () => {
    // Two native engines wired by hand, so that the client's next record can be held back.
    let holding = false;
    const held: Uint8Array[] = [];
    const s: Side = { engine: undefined as unknown as TlsEngine, events: [] };
    const c: Side = { engine: undefined as unknown as TlsEngine, events: [] };
    s.engine = nativeServerTlsEngineFactory(serverConfig())(0, (e) => {
      s.events.push(e);
      if (e.kind === 'ciphertext') c.engine.receiveCiphertext(e.bytes);
    });
    c.engine = nativeClientTlsEngineFactory(clientConfig())(0, (e) => {
      c.events.push(e);
      if (e.kind !== 'ciphertext') return;
      if (holding) held.push(e.bytes);
      else s.engine.receiveCiphertext(e.bytes);
    });
    await Promise.resolve();
    assert.ok(finished(s) && finished(c));
    holding = true;
    c.engine.sendPlaintext(ENCODER.encode('split in two'));
    const record = Buffer.concat(held);
    s.engine.receiveCiphertext(record.subarray(0, 10));
    assert.equal(s.engine.compact?.(), false, 'half a record is inside OpenSSL');
    s.engine.receiveCiphertext(record.subarray(10));
    assert.deepEqual(texts(s), ['split in two']);
    assert.equal(s.engine.compact?.(), true);
    holding = false;
    c.engine.sendPlaintext(ENCODER.encode('after'));
    s.engine.sendPlaintext(ENCODER.encode('back'));
    assert.deepEqual(texts(s), ['split in two', 'after']);
    assert.deepEqual(texts(c), ['back']);
    s.engine.close();
    c.engine.close();
  });

  it('refuses TLS 1.2 and keeps working', async () => {
    for (const factory of [clientTlsEngineFactory, nativeClientTlsEngineFactory]) {
      const { server: s, client: c } = join(
        nativeServerTlsEngineFactory(serverConfig()),
        factory(clientConfig(alice, { maxVersion: 'TLSv1.2' })),
      );
      await settled(s, c);
      assert.equal(finished(s)?.protocol, 'TLSv1.2');
      assert.equal(s.engine.compact?.(), false);
      c.engine.sendPlaintext(ENCODER.encode('still here'));
      s.engine.sendPlaintext(ENCODER.encode('me too'));
      await waitUntil(() => texts(s).length === 1 && texts(c).length === 1);
      assert.deepEqual(texts(s), ['still here']);
      assert.deepEqual(texts(c), ['me too']);
      // The exporter still works: nothing was handed over.
      assert.equal(s.engine.exportKeyingMaterial(16, EKM_LABEL_DATA_KEYS).length, 16);
      s.engine.close();
      c.engine.close();
    }
  });

  it('refuses before the handshake is done and after close', () => {
    const s = nativeServerTlsEngineFactory(serverConfig())(0, () => undefined);
    assert.equal(s.compact?.(), false);
    s.close();
    assert.equal(s.compact?.(), false);
  });
});
