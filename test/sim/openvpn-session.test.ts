// ClientSession ↔ gateway (stateless first contact + ServerSession), with real TLS engines and a
// freshly made PKI, across a simulated link that loses, duplicates and reorders packets, on a
// virtual clock. Each test reads as the exchange it checks: who connects with what, what the
// gateway decides, what each side ends up with. Data keys are checked the way the data plane
// uses them: a packet sealed with one side's keys must open with the other side's.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  createCa,
  generateStaticKey,
  generateTlsCryptV2ServerKey,
  issueClientCert,
  issueServerCert,
} from '../../src/control/pki/index.js';
import type { Issued } from '../../src/control/pki/index.js';
import { generateClientKey, tlsCryptV2ServerKey } from '../../src/crypto/tls-crypt-v2.js';
import { tlsCryptKeys, tlsCryptUnwrap } from '../../src/crypto/tls-crypt.js';
import {
  OpenvpnDataDecryptor,
  OpenvpnDataEncryptor,
} from '../../src/dataplane/reference/openvpn-data.js';
import { clientTlsEngineFactory, serverTlsEngineFactory } from '../../src/io/tls/tls-engine.js';
import { decodeKeyMethod2 } from '../../src/proto/openvpn/key-method2.js';
import type { PushConfig } from '../../src/proto/openvpn/push-reply.js';
import type { ClientControlWrap } from '../../src/proto/openvpn/session/client-session.js';
import type { ServerControlWrap } from '../../src/proto/openvpn/session/first-contact.js';
import type { KeysOutput } from '../../src/proto/openvpn/session/session-core.js';
import type { TlsEngineFactory } from '../../src/proto/openvpn/session/tls-engine.js';
import { Opcode, OPCODE_SHIFT } from '../../src/wire/openvpn/constants.js';
import { CLEAN_LINK, LOSSY_LINK, SessionPair } from './openvpn-session-harness.js';
import type { AuthDecision, PairOptions } from './openvpn-session-harness.js';

/** What the stock 2.6 server pushed for --server 100.64.0.0/24 --topology subnet --keepalive 1 10. */
const STOCK_26_PUSH_REPLY =
  'route-gateway 100.64.0.1,topology subnet,ping 1,ping-restart 10,ifconfig 100.64.0.2 255.255.255.0,' +
  'peer-id 0,cipher AES-256-GCM,protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500';

const PUSH: PushConfig = {
  topology: 'subnet',
  routeGateway: '100.64.0.1',
  ping: 1,
  pingRestart: 10,
  ifconfig: { local: '100.64.0.2', netmask: '255.255.255.0' },
  tunMtu: 1500,
};

const PUSH_WITH_ROUTES: PushConfig = {
  ...PUSH,
  routes: [
    { network: '198.18.0.0', netmask: '255.254.0.0' },
    { network: '203.0.113.0', netmask: '255.255.255.0', metric: 5 },
  ],
  routesIpv6: [{ network: '2001:db8:1::/48' }],
  ifconfigIpv6: { address: 'fd00:64::2', prefixLength: 64, gateway: 'fd00:64::1' },
  dns: ['100.64.0.1'],
};

const SEEDS = [1, 2, 3, 4, 5];

let ca: Issued;
let serverCert: Issued;
let aliceCert: Issued;
let otherCa: Issued;
let strangerCert: Issued;

before(async () => {
  const now = new Date();
  ca = await createCa({ commonName: 'Postern Sim CA', now });
  serverCert = await issueServerCert(ca, { commonName: 'gw', endpoint: 'vpn.example.net', now });
  aliceCert = await issueClientCert(ca, { commonName: 'alice', now });
  otherCa = await createCa({ commonName: 'Someone Else CA', now });
  strangerCert = await issueClientCert(otherCa, { commonName: 'mallory', now });
});

function serverTls(): TlsEngineFactory {
  return serverTlsEngineFactory({
    ca: ca.certPem,
    cert: serverCert.certPem,
    key: serverCert.keyPem,
  });
}

function clientTls(cert: Issued = aliceCert): TlsEngineFactory {
  return clientTlsEngineFactory({ ca: ca.certPem, cert: cert.certPem, key: cert.keyPem });
}

/** Records every plaintext a side hands to TLS (control messages are printable and end in NUL). */
function recording(factory: TlsEngineFactory, log: string[]): TlsEngineFactory {
  return (keyId, emit) => {
    const engine = factory(keyId, emit);
    return {
      receiveCiphertext: (b) => engine.receiveCiphertext(b),
      sendPlaintext: (b) => {
        const text = Buffer.from(b).toString('latin1');
        if (/^[\x20-\x7e]+\0$/.test(text)) log.push(`${keyId}:${text.slice(0, -1)}`);
        engine.sendPlaintext(b);
      },
      exportKeyingMaterial: (n, label) => engine.exportKeyingMaterial(n, label),
      close: () => engine.close(),
    };
  };
}

/** Records the password in each client key method 2 message the server's TLS receives. */
function recordingKeyMethod2(factory: TlsEngineFactory, log: string[]): TlsEngineFactory {
  return (keyId, emit) =>
    factory(keyId, (event) => {
      if (event.kind === 'plaintext') {
        const decoded = decodeKeyMethod2(event.bytes, { from: 'client' });
        if (decoded.ok) log.push(`km2-password:${decoded.message.password ?? ''}`);
      }
      emit(event);
    });
}

interface Setup {
  seed?: number;
  link?: PairOptions['link'];
  serverWrap?: ServerControlWrap;
  clientWrap?: ClientControlWrap;
  client?: Partial<PairOptions['client']>;
  server?: Partial<PairOptions['server']>;
  decide?: (request: Parameters<PairOptions['decide']>[0]) => AuthDecision;
  authDelayMs?: number;
  tap?: PairOptions['tap'];
}

function pair(setup: Setup = {}): SessionPair {
  const key = generateStaticKey();
  return new SessionPair({
    seed: setup.seed ?? 1,
    link: setup.link ?? CLEAN_LINK,
    firstContact: {
      wrap: setup.serverWrap ?? { kind: 'tls-crypt', key },
      cookieKey: new Uint8Array(randomBytes(32)),
    },
    client: {
      wrap: setup.clientWrap ?? { kind: 'tls-crypt', key },
      createTls: clientTls(),
      username: 'alice',
      password: 'correct horse',
      ...setup.client,
    },
    server: { createTls: serverTls(), peerId: 0, ...setup.server },
    decide: setup.decide ?? (() => ({ accept: PUSH })),
    ...(setup.authDelayMs !== undefined ? { authDelayMs: setup.authDelayMs } : {}),
    ...(setup.tap !== undefined ? { tap: setup.tap } : {}),
  });
}

function bothEstablished(p: SessionPair): () => boolean {
  return () => p.of('established').length > 0 && p.ofServer('established').length > 0;
}

function keysOf(outputs: KeysOutput[], keyId: number): KeysOutput {
  const k = outputs.find((o) => o.keyId === keyId);
  assert.ok(k, `keys for key id ${keyId}`);
  return k;
}

/** A packet sealed with the sender's keys opens with the receiver's, both ways. */
function assertKeysWork(client: KeysOutput, server: KeysOutput): void {
  assert.equal(client.keyId, server.keyId);
  assert.equal(client.cipher, server.cipher);
  assert.deepEqual(client.keys.send, server.keys.receive);
  assert.deepEqual(client.keys.receive, server.keys.send);
  const payload = new Uint8Array(randomBytes(100));
  for (const [from, to] of [
    [client, server],
    [server, client],
  ] as const) {
    const sealed = new OpenvpnDataEncryptor({
      key: from.keys.send,
      keyId: from.keyId,
      peerId: client.peerId,
    }).encrypt(payload);
    assert.equal(sealed.kind, 'packet');
    if (sealed.kind !== 'packet') return;
    const opened = new OpenvpnDataDecryptor({ key: to.keys.receive, keyId: to.keyId }).decrypt(
      sealed.packet,
    );
    assert.equal(opened.kind, 'packet');
    if (opened.kind === 'packet') assert.deepEqual(opened.data, payload);
  }
}

function isDataPacket(b: Uint8Array): boolean {
  const op = (b[0] ?? 0) >>> OPCODE_SHIFT;
  return op === Opcode.DATA_V1 || op === Opcode.DATA_V2;
}

function opcodes(packets: Uint8Array[]): number[] {
  return packets.map((p) => (p[0] ?? 0) >>> OPCODE_SHIFT);
}

describe('OpenVPN session: handshake', () => {
  for (const seed of SEEDS) {
    it(`connects over a lossy, reordering link (seed ${seed}) and both sides hold the same keys`, async () => {
      const p = pair({ seed, link: LOSSY_LINK, decide: () => ({ accept: PUSH_WITH_ROUTES }) });
      assert.ok(await p.run(bothEstablished(p)), 'both sides established');
      const clientKeys = keysOf(p.of('keys'), 0);
      const serverKeys = keysOf(p.ofServer('keys'), 0);
      assertKeysWork(clientKeys, serverKeys);
      assert.equal(clientKeys.derivation, 'tls-ekm');
      assert.equal(clientKeys.peerId, 0);
      const pushed = p.of('configured')[0]?.pushed;
      assert.deepEqual(pushed?.ifconfig, PUSH_WITH_ROUTES.ifconfig);
      assert.deepEqual(pushed?.ifconfigIpv6, PUSH_WITH_ROUTES.ifconfigIpv6);
      assert.deepEqual(pushed?.routes, PUSH_WITH_ROUTES.routes);
      assert.deepEqual(pushed?.routesIpv6, PUSH_WITH_ROUTES.routesIpv6);
      assert.deepEqual(pushed?.dns, ['100.64.0.1']);
      assert.equal(pushed?.cipher, 'AES-256-GCM');
      assert.equal(pushed?.peerId, 0);
      assert.deepEqual(pushed?.unrecognized, []);
      // The gateway kept nothing for the first reset: one reply, then one session.
      assert.ok((p.listener.get('reply') ?? 0) >= 1);
      assert.equal(p.listener.get('open'), 1);
    });
  }

  it('pushes exactly what a stock 2.6 server pushes for the same configuration', async () => {
    const p = pair();
    assert.ok(await p.run(bothEstablished(p)));
    assert.equal(p.of('configured')[0]?.options.join(','), STOCK_26_PUSH_REPLY);
    assert.deepEqual(p.client.keepalive, { pingIntervalSec: 1, timeoutSec: 10 });
    assert.deepEqual(p.server?.keepalive, { pingIntervalSec: 1, timeoutSec: 20 });
  });

  it('hands the gateway the certificate name, the credentials and the peer-info to decide on', async () => {
    const p = pair({
      client: { peerInfo: { version: '2.6.0', platform: 'linux', guiVersion: 'sim' } },
    });
    assert.ok(await p.run(bothEstablished(p)));
    const [auth] = p.ofServer('authenticate');
    assert.ok(auth);
    assert.equal(auth.request.commonName, 'alice');
    assert.equal(auth.request.certSerial, aliceCert.serial);
    assert.match(auth.request.certFingerprint256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(auth.request.username, 'alice');
    assert.equal(auth.request.password, 'correct horse');
    assert.equal(auth.request.peerInfo.guiVersion, 'sim');
    assert.equal(auth.request.cipher, 'AES-256-GCM');
    assert.equal(auth.request.tls.protocol, 'TLSv1.3');
    assert.equal(p.server?.commonName, 'alice');
    assert.equal(p.of('established')[0]?.tls.peerCommonName, 'gw');
  });

  it('falls back to the TLS PRF, and to DATA_V1, for a client without EKM or DATA_V2', async () => {
    const p = pair({
      client: { peerInfo: { protoFlags: ['REQUEST_PUSH', 'CC_EXIT_NOTIFY'] } },
      server: { peerId: 9 },
    });
    assert.ok(await p.run(bothEstablished(p)));
    const c = keysOf(p.of('keys'), 0);
    const s = keysOf(p.ofServer('keys'), 0);
    assert.equal(c.derivation, 'tls-prf');
    assert.equal(s.derivation, 'tls-prf');
    assert.equal(c.peerId, undefined);
    assert.equal(s.peerId, undefined);
    assertKeysWork(c, s);
    const options = p.of('configured')[0]?.options ?? [];
    assert.ok(!options.some((o) => o.startsWith('peer-id')), options.join(','));
    assert.ok(options.includes('protocol-flags cc-exit'), options.join(','));
  });

  it('negotiates the first of the gateway ciphers the client offers', async () => {
    const p = pair({
      client: { dataCiphers: ['CHACHA20-POLY1305', 'AES-128-GCM'] },
      server: { dataCiphers: ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305'] },
    });
    assert.ok(await p.run(bothEstablished(p)));
    assertKeysWork(keysOf(p.of('keys'), 0), keysOf(p.ofServer('keys'), 0));
    assert.equal(p.of('established')[0]?.cipher, 'AES-128-GCM');
  });

  it('repeats PUSH_REQUEST every 5 s while the gateway has not decided, then configures', async () => {
    const sent: string[] = [];
    const p = pair({
      // Without IV_PROTO_REQUEST_PUSH the gateway only answers a PUSH_REQUEST.
      client: {
        createTls: recording(clientTls(), sent),
        peerInfo: { protoFlags: ['DATA_V2', 'TLS_KEY_EXPORT', 'CC_EXIT_NOTIFY'] },
      },
      authDelayMs: 12_000,
    });
    assert.ok(await p.run(bothEstablished(p)));
    const requests = sent.filter((t) => t === '0:PUSH_REQUEST');
    assert.ok(requests.length >= 3, `${requests.length} PUSH_REQUESTs in 12 s`);
    assert.equal(p.of('configured').length, 1);
  });
});

describe('OpenVPN session: refusals', () => {
  it('turns a gateway rejection into AUTH_FAILED at the client', async () => {
    const p = pair({ decide: () => ({ reject: 'wrong password' }) });
    await p.run(() => p.of('closed').length > 0 && p.ofServer('closed').length > 0);
    assert.deepEqual(p.of('refused'), [{ kind: 'refused', reason: 'wrong password' }]);
    assert.equal(p.of('closed')[0]?.reason, 'auth-failed');
    assert.equal(p.ofServer('closed')[0]?.reason, 'auth-failed');
    assert.equal(p.of('keys').length, 0);
    assert.equal(p.ofServer('keys').length, 0);
  });

  it('refuses a client with no shared cipher, in OpenVPN words, without asking the gateway', async () => {
    const p = pair({
      client: { dataCiphers: ['CHACHA20-POLY1305'] },
      server: { dataCiphers: ['AES-256-GCM'] },
    });
    await p.run(() => p.of('closed').length > 0 && p.ofServer('closed').length > 0);
    assert.deepEqual(p.of('refused'), [
      { kind: 'refused', reason: 'Data channel cipher negotiation failed (no shared cipher)' },
    ]);
    assert.equal(p.ofServer('authenticate').length, 0);
  });

  it('silently drops packets under a wrong tls-crypt key, and counts them', async () => {
    const p = pair({
      serverWrap: { kind: 'tls-crypt', key: generateStaticKey() },
      clientWrap: { kind: 'tls-crypt', key: generateStaticKey() },
    });
    await p.run(() => p.of('closed').length > 0, 120_000);
    assert.ok((p.listener.get('drop:auth-failed') ?? 0) >= 3, 'resets were retried and dropped');
    assert.equal(p.sent.s2c.length, 0, 'the gateway never answered');
    assert.equal(p.server, undefined);
    assert.equal(p.of('closed')[0]?.reason, 'handshake-timeout');
  });

  it('drops forged and replayed packets in a live session without disturbing it', async () => {
    const p = pair();
    assert.ok(await p.run(bothEstablished(p)));
    await p.advance(1000); // everything in flight has arrived
    const server = p.server;
    assert.ok(server);
    const genuine = p.sent.c2s[p.sent.c2s.length - 1] as Uint8Array;
    const forged = genuine.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x55;
    p.onServer(server.receive(forged, p.now));
    p.onServer(server.receive(genuine, p.now));
    assert.equal(server.dropCounts.get('auth-failed'), 1);
    assert.ok((server.dropCounts.get('replay') ?? 0) >= 1);
    assert.equal(p.ofServer('closed').length, 0);
    await p.advance(5000);
    assert.equal(p.ofServer('closed').length, 0);
  });

  it('refuses a client certificate from another CA: AUTH_FAILED, no keys, no questions', async () => {
    const p = pair({ client: { createTls: clientTls(strangerCert) } });
    await p.run(() => p.ofServer('closed').length > 0 && p.of('closed').length > 0, 30_000);
    assert.equal(p.ofServer('closed')[0]?.reason, 'auth-failed');
    assert.match(p.ofServer('closed')[0]?.detail ?? '', /client certificate refused/);
    assert.equal(p.ofServer('authenticate').length, 0);
    assert.equal(p.ofServer('keys').length, 0);
    assert.equal(p.of('refused').length, 1, 'the client is told');
  });

  it('gives up on a handshake that does not finish within hand-window', async () => {
    const p = pair({
      tap: (dir, bytes) => (dir === 's2c' && (bytes[0] ?? 0) >>> 3 === 4 ? undefined : bytes),
    });
    await p.run(() => p.of('closed').length > 0, 120_000);
    assert.equal(p.of('closed')[0]?.reason, 'handshake-timeout');
    assert.ok(p.now - 1_800_000_000_000 >= 60_000);
  });
});

describe('OpenVPN session: renegotiation', () => {
  for (const initiator of ['client', 'server'] as const) {
    it(`rekeys when the ${initiator} asks: key id 1, old key usable through the transition`, async () => {
      const key = generateStaticKey();
      const p = pair({
        link: LOSSY_LINK,
        seed: 7,
        serverWrap: { kind: 'tls-crypt', key },
        clientWrap: { kind: 'tls-crypt', key },
        client: { renegotiation: { tranWindowSec: 60 } },
        server: { renegotiation: { tranWindowSec: 60 } },
      });
      assert.ok(await p.run(bothEstablished(p)));
      if (initiator === 'client') p.onClient(p.client.rekey(p.now));
      else {
        p.onServer(p.server?.rekey(p.now) ?? []);
        // `postern rekey` reports this count: a second ask while one runs starts nothing.
        const started = p.server?.renegotiationCount;
        assert.equal(started, 1);
        p.onServer(p.server?.rekey(p.now) ?? []);
        assert.equal(p.server?.renegotiationCount, started);
      }
      assert.ok(
        await p.run(() => p.of('keys').length === 2 && p.ofServer('keys').length === 2),
        'key id 1 on both sides',
      );
      const c1 = keysOf(p.of('keys'), 1);
      const s1 = keysOf(p.ofServer('keys'), 1);
      assertKeysWork(c1, s1);
      // The server decrypts key 1 at once but sends with it only once the client acknowledged
      // the key method 2 that gave it key 1 (use-key): never a packet the client cannot open.
      assert.equal(keysOf(p.ofServer('keys'), 0).sendNow, true);
      assert.equal(s1.sendNow, false);
      assert.equal(c1.sendNow, true);
      let clientHadKey1 = false;
      assert.ok(
        await p.run(() => {
          const used = p.ofServer('use-key').length > 0;
          if (used) clientHadKey1 = p.of('keys').some((k) => k.keyId === 1);
          return used;
        }),
        'use-key for key 1',
      );
      assert.deepEqual(p.ofServer('use-key'), [{ kind: 'use-key', keyId: 1 }]);
      assert.ok(clientHadKey1, 'the client had key 1 when the server began sending with it');
      // Key 0 still works: both keys carry data during the transition.
      assertKeysWork(keysOf(p.of('keys'), 0), keysOf(p.ofServer('keys'), 0));
      assert.deepEqual(p.client.activeKeyIds().sort(), [0, 1]);
      assert.deepEqual(p.server?.activeKeyIds().sort(), [0, 1]);
      assert.notDeepEqual(c1.keys.send.key, keysOf(p.of('keys'), 0).keys.send.key);
      // The renegotiation ran under dynamic tls-crypt, as 2.6 does: key id 1 packets no longer
      // open with the static key, key id 0 packets still do.
      const original = tlsCryptKeys(key, 'server').receive;
      const reneg = p.sent.c2s.filter((b) => ((b[0] ?? 0) & 0x07) === 1 && !isDataPacket(b));
      assert.equal((reneg[0]?.[0] ?? 0) >>> OPCODE_SHIFT, Opcode.CONTROL_SOFT_RESET_V1);
      assert.ok(reneg.every((b) => !tlsCryptUnwrap(original, b).ok));
      assert.ok(tlsCryptUnwrap(original, p.sent.c2s[0] as Uint8Array).ok);
      // After tran-window, key 0 is retired on both sides.
      await p.advance(61_000);
      assert.deepEqual(p.of('retireKey'), [{ kind: 'retireKey', keyId: 0 }]);
      assert.deepEqual(p.ofServer('retireKey'), [{ kind: 'retireKey', keyId: 0 }]);
      assert.deepEqual(p.client.activeKeyIds(), [1]);
      assert.equal(p.of('closed').length + p.ofServer('closed').length, 0);
    });
  }

  it('re-authenticates renegotiations with the pushed auth-token instead of the password', async () => {
    const sent: string[] = [];
    const p = pair({
      decide: () => ({ accept: { ...PUSH, authToken: 'SESS_token123' } }),
      client: { createTls: recording(clientTls(), sent) },
      server: { createTls: recordingKeyMethod2(serverTls(), sent) },
    });
    assert.ok(await p.run(bothEstablished(p)));
    p.onClient(p.client.rekey(p.now));
    assert.ok(await p.run(() => p.ofServer('keys').length === 2));
    const passwords = sent.filter((t) => t.startsWith('km2-password:'));
    assert.deepEqual(passwords, ['km2-password:correct horse', 'km2-password:SESS_token123']);
  });

  it('survives both sides renegotiating at the same moment', async () => {
    const p = pair();
    assert.ok(await p.run(bothEstablished(p)));
    p.onClient(p.client.rekey(p.now));
    p.onServer(p.server?.rekey(p.now) ?? []);
    assert.ok(await p.run(() => p.of('keys').length === 2 && p.ofServer('keys').length === 2));
    assertKeysWork(keysOf(p.of('keys'), 1), keysOf(p.ofServer('keys'), 1));
  });

  it('renegotiates on its own after reneg-sec, again and again, retiring each old key', async () => {
    const p = pair({
      client: { renegotiation: { renegSec: 20, tranWindowSec: 5 } },
      server: { renegotiation: { renegSec: 3600, tranWindowSec: 5 } },
    });
    assert.ok(await p.run(bothEstablished(p)));
    await p.advance(70_000);
    const ids = p.of('keys').map((k) => k.keyId);
    assert.deepEqual(ids, [0, 1, 2, 3]);
    assertKeysWork(keysOf(p.of('keys'), 3), keysOf(p.ofServer('keys'), 3));
    assert.deepEqual(
      p.of('retireKey').map((r) => r.keyId),
      [0, 1, 2],
    );
    assert.deepEqual(
      p.ofServer('retireKey').map((r) => r.keyId),
      [0, 1, 2],
    );
  });

  it('cycles key ids 1..7 and never reuses 0', async () => {
    const p = pair({ client: { renegotiation: { tranWindowSec: 1 } } });
    assert.ok(await p.run(bothEstablished(p)));
    for (let i = 0; i < 8; i++) {
      const before = p.of('keys').length;
      p.onClient(p.client.rekey(p.now));
      assert.ok(
        await p.run(() => p.of('keys').length > before && p.ofServer('keys').length > before),
      );
    }
    assert.deepEqual(
      p.of('keys').map((k) => k.keyId),
      [0, 1, 2, 3, 4, 5, 6, 7, 1],
    );
    assertKeysWork(p.of('keys')[8] as KeysOutput, p.ofServer('keys')[8] as KeysOutput);
  });
});

describe('OpenVPN session: endings', () => {
  it('closes the gateway session on the client EXIT (cc-exit)', async () => {
    const p = pair();
    assert.ok(await p.run(bothEstablished(p)));
    p.onClient(p.client.disconnect(p.now));
    await p.run(() => p.ofServer('closed').length > 0 && p.of('closed').length > 0);
    assert.equal(p.ofServer('closed')[0]?.reason, 'exit');
    assert.equal(p.of('closed')[0]?.reason, 'exit');
  });

  it('holds an EXIT sent mid-renegotiation until the new key can carry it', async () => {
    const sent: string[] = [];
    const p = pair({ client: { createTls: recording(clientTls(), sent) } });
    assert.ok(await p.run(bothEstablished(p)));
    p.onServer(p.server?.rekey(p.now) ?? []);
    // The client learns of the renegotiation and says EXIT while key 1 is still negotiating.
    await p.run(() => p.client.renegotiationCount === 1);
    p.onClient(p.client.disconnect(p.now));
    await p.run(() => p.ofServer('closed').length > 0);
    assert.equal(p.ofServer('closed')[0]?.reason, 'exit');
    assert.deepEqual(
      sent.filter((t) => t.endsWith('EXIT')),
      ['1:EXIT'],
    );
  });

  for (const signal of ['restart', 'halt'] as const) {
    it(`kicks a client with ${signal.toUpperCase()}: the client is told why`, async () => {
      const p = pair();
      assert.ok(await p.run(bothEstablished(p)));
      p.onServer(p.server?.kick('maintenance', p.now, signal) ?? []);
      await p.run(() => p.ofServer('closed').length > 0 && p.of('closed').length > 0);
      assert.deepEqual(p.of('closed')[0], {
        kind: 'closed',
        reason: signal,
        detail: 'maintenance',
      });
      assert.equal(p.ofServer('closed')[0]?.reason, 'kicked');
    });
  }

  it('stops at once when the gateway closes it for ping-restart, and ignores later packets', async () => {
    const p = pair();
    assert.ok(await p.run(bothEstablished(p)));
    const server = p.server;
    assert.ok(server);
    const out = server.close('ping-restart', p.now);
    assert.deepEqual(out, [{ kind: 'closed', reason: 'ping-restart', detail: undefined }]);
    assert.deepEqual(server.receive(p.sent.c2s[0] as Uint8Array, p.now), []);
    assert.equal(server.nextDeadline(), undefined);
  });
});

describe('OpenVPN session: tls-crypt-v2', () => {
  function v2(earlyNegotiation: boolean): { server: ServerControlWrap; client: ClientControlWrap } {
    const serverKey = generateTlsCryptV2ServerKey();
    const { clientKey, wkc } = generateClientKey(
      tlsCryptV2ServerKey(serverKey),
      new Uint8Array(randomBytes(256)),
      { type: 'user', data: new TextEncoder().encode('alice') },
    );
    return {
      server: { kind: 'tls-crypt-v2', serverKey },
      client: { kind: 'tls-crypt-v2', clientKey, wkc, earlyNegotiation },
    };
  }

  it('starts statelessly: reset with WKc, resend-WKc TLV, CONTROL_WKC_V1, then a session', async () => {
    const keys = v2(true);
    const p = pair({ serverWrap: keys.server, clientWrap: keys.client, link: LOSSY_LINK, seed: 3 });
    assert.ok(await p.run(bothEstablished(p)));
    assertKeysWork(keysOf(p.of('keys'), 0), keysOf(p.ofServer('keys'), 0));
    const sent = opcodes(p.sent.c2s);
    assert.equal(sent[0], Opcode.CONTROL_HARD_RESET_CLIENT_V3);
    assert.ok(sent.includes(Opcode.CONTROL_WKC_V1));
    assert.ok((p.listener.get('reply') ?? 0) >= 1);
    const [auth] = p.ofServer('authenticate');
    assert.deepEqual(auth?.request.wkcMetadata, {
      type: 'user',
      data: new TextEncoder().encode('alice'),
    });
  });

  it('serves a v2 client without early negotiation statefully', async () => {
    const keys = v2(false);
    const p = pair({ serverWrap: keys.server, clientWrap: keys.client });
    assert.ok(await p.run(bothEstablished(p)));
    assertKeysWork(keysOf(p.of('keys'), 0), keysOf(p.ofServer('keys'), 0));
    assert.equal(p.listener.get('reply'), undefined);
    assert.equal(p.listener.get('open'), 1);
    assert.ok(!opcodes(p.sent.c2s).includes(Opcode.CONTROL_WKC_V1));
  });

  it('renegotiates a v2 session under dynamic tls-crypt', async () => {
    const keys = v2(true);
    const p = pair({ serverWrap: keys.server, clientWrap: keys.client });
    assert.ok(await p.run(bothEstablished(p)));
    p.onClient(p.client.rekey(p.now));
    assert.ok(await p.run(() => p.of('keys').length === 2 && p.ofServer('keys').length === 2));
    assertKeysWork(keysOf(p.of('keys'), 1), keysOf(p.ofServer('keys'), 1));
  });
});
