// Our TLS 1.3 record layer (src/crypto/tls13-record.ts): the keys, ivs and records of RFC 8448's
// "Simple 1-RTT Handshake" trace, byte for byte, both as client and as server; a byte stream cut
// anywhere or coalesced; every kind of bad input refused with its own code; and, for all three
// suites, records exchanged with Node's TLS stack (OpenSSL, an independent implementation) in a
// live session whose secrets come from Node's keylog.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { createCa, issueServerCert } from '../../src/control/pki/index.js';
import type { Issued } from '../../src/control/pki/index.js';
import { hkdfExpandLabel, Tls13RecordLayer } from '../../src/crypto/tls13-record.js';
import type { Tls13OpenResult, Tls13Suite } from '../../src/crypto/tls13-record.js';

const hex = (text: string): Uint8Array =>
  new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const EMPTY = new Uint8Array(0);

// RFC 8448 section 3.
const CLIENT_AP_SECRET = hex(`9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52
  87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5`);
const SERVER_AP_SECRET = hex(`a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32
  82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43`);
const CLIENT_AP_KEY = hex('17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51');
const CLIENT_AP_IV = hex('5b 78 92 3d ee 08 57 90 33 e5 23 d9');
const SERVER_AP_KEY = hex('9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56');
const SERVER_AP_IV = hex('cf 78 2b 88 dd 83 54 9a ad f1 e9 84');
/** The 50 bytes of application data each side sends: 00 01 02 ... 31. */
const PAYLOAD = Uint8Array.from({ length: 50 }, (_, i) => i);
/** {client} send application_data record: client key, sequence 0. */
const CLIENT_APP_RECORD = hex(`17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55
  cb ef ac ea 42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97
  4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4`);
/** {server} send application_data record: server key, sequence 1 (a ticket went first). */
const SERVER_APP_RECORD = hex(`17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4
  a4 69 32 fc 32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4
  9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d`);
/** {client} send alert record (close_notify): client key, sequence 1. */
const CLIENT_CLOSE_RECORD = hex(
  '17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3',
);
/** {server} send alert record (close_notify): server key, sequence 2. */
const SERVER_CLOSE_RECORD = hex(
  '17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9',
);

/** The RFC's client, right after its Finished: it has read the server's ticket (sequence 0). */
function rfcClient(): Tls13RecordLayer {
  return new Tls13RecordLayer({
    suite: 'TLS_AES_128_GCM_SHA256',
    readSecret: new Uint8Array(SERVER_AP_SECRET),
    writeSecret: new Uint8Array(CLIENT_AP_SECRET),
    readSeq: 1,
    writeSeq: 0,
  });
}

/** The RFC's server after it sent its ticket (sequence 0 of its application keys). */
function rfcServer(): Tls13RecordLayer {
  return new Tls13RecordLayer({
    suite: 'TLS_AES_128_GCM_SHA256',
    readSecret: new Uint8Array(CLIENT_AP_SECRET),
    writeSecret: new Uint8Array(SERVER_AP_SECRET),
    readSeq: 0,
    writeSeq: 1,
  });
}

function plaintextOf(result: Tls13OpenResult): Uint8Array[] {
  assert.equal(result.kind, 'ok', JSON.stringify(result));
  return result.plaintext;
}

function failureCode(result: Tls13OpenResult): string | undefined {
  return result.kind === 'error' ? result.code : undefined;
}

/** A record sealed by hand with the RFC's client keys: any inner content, any outer header. */
function handSealed(
  inner: Uint8Array,
  sequence: number,
  header?: { type?: number; version?: number },
): Uint8Array {
  const nonce = new Uint8Array(CLIENT_AP_IV);
  nonce[11] = (nonce[11] as number) ^ sequence;
  const aad = new Uint8Array(5);
  const view = new DataView(aad.buffer);
  view.setUint8(0, header?.type ?? 23);
  view.setUint16(1, header?.version ?? 0x0303);
  view.setUint16(3, inner.length + 16);
  const cipher = createCipheriv('aes-128-gcm', CLIENT_AP_KEY, nonce);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
  return new Uint8Array(Buffer.concat([aad, body]));
}

describe('TLS 1.3 record layer: RFC 8448 simple 1-RTT trace', () => {
  it('derives the application keys and ivs from the traffic secrets (HKDF-Expand-Label)', () => {
    assert.deepEqual(hkdfExpandLabel('sha256', CLIENT_AP_SECRET, 'key', EMPTY, 16), CLIENT_AP_KEY);
    assert.deepEqual(hkdfExpandLabel('sha256', CLIENT_AP_SECRET, 'iv', EMPTY, 12), CLIENT_AP_IV);
    assert.deepEqual(hkdfExpandLabel('sha256', SERVER_AP_SECRET, 'key', EMPTY, 16), SERVER_AP_KEY);
    assert.deepEqual(hkdfExpandLabel('sha256', SERVER_AP_SECRET, 'iv', EMPTY, 12), SERVER_AP_IV);
  });

  it('as the client: seals the RFC record exactly, opens the server record and close_notify', () => {
    const client = rfcClient();
    assert.deepEqual(client.seal(PAYLOAD), CLIENT_APP_RECORD);
    assert.deepEqual(plaintextOf(client.open(SERVER_APP_RECORD)), [PAYLOAD]);
    const closed = client.open(SERVER_CLOSE_RECORD);
    assert.deepEqual(closed, { kind: 'ok', plaintext: [], peerClosed: true });
    // After close_notify, nothing more is read, not even garbage.
    assert.deepEqual(client.open(new Uint8Array(40)), {
      kind: 'ok',
      plaintext: [],
      peerClosed: true,
    });
    // close_notify as a sealed alert: the RFC's client sends exactly this at sequence 1.
    assert.deepEqual(client.sealAlert(0), CLIENT_CLOSE_RECORD);
  });

  it('as the server: seals its record exactly and reads the client record', () => {
    const server = rfcServer();
    assert.deepEqual(plaintextOf(server.open(CLIENT_APP_RECORD)), [PAYLOAD]);
    assert.deepEqual(server.seal(PAYLOAD), SERVER_APP_RECORD);
    assert.equal(server.open(CLIENT_CLOSE_RECORD).kind, 'ok');
  });

  it('zeroes the secrets it was given', () => {
    const readSecret = new Uint8Array(CLIENT_AP_SECRET);
    const writeSecret = new Uint8Array(SERVER_AP_SECRET);
    new Tls13RecordLayer({
      suite: 'TLS_AES_128_GCM_SHA256',
      readSecret,
      writeSecret,
      readSeq: 0,
      writeSeq: 0,
    });
    assert.ok(readSecret.every((b) => b === 0) && writeSecret.every((b) => b === 0));
  });

  it('opens the same stream cut at any points, or several records at once', () => {
    const stream = new Uint8Array([...CLIENT_APP_RECORD, ...handSealed(Uint8Array.of(7, 23), 1)]);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 8 }),
        (cuts) => {
          const server = rfcServer();
          const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
          const got: Uint8Array[] = [];
          for (let i = 0; i + 1 < points.length; i++) {
            got.push(...plaintextOf(server.open(stream.subarray(points[i], points[i + 1]))));
          }
          assert.deepEqual(got, [PAYLOAD, Uint8Array.of(7)]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('strips zero padding and skips empty application data', () => {
    const server = rfcServer();
    const padded = handSealed(Uint8Array.of(0x41, 23, 0, 0, 0, 0), 0);
    const empty = handSealed(Uint8Array.of(23), 1);
    assert.deepEqual(plaintextOf(server.open(new Uint8Array([...padded, ...empty]))), [
      Uint8Array.of(0x41),
    ]);
  });
});

describe('TLS 1.3 record layer: refusals', () => {
  const refusals: {
    name: string;
    bytes: () => Uint8Array;
    code: string;
    alert: number | undefined;
  }[] = [
    {
      name: 'a flipped ciphertext byte',
      bytes: () => {
        const r = new Uint8Array(CLIENT_APP_RECORD);
        r[20] = (r[20] as number) ^ 1;
        return r;
      },
      code: 'TLS_BAD_RECORD_MAC',
      alert: 20,
    },
    {
      name: 'a flipped tag byte',
      bytes: () => {
        const r = new Uint8Array(CLIENT_APP_RECORD);
        r[r.length - 1] = (r[r.length - 1] as number) ^ 0x80;
        return r;
      },
      code: 'TLS_BAD_RECORD_MAC',
      alert: 20,
    },
    {
      name: 'a replayed record (wrong sequence)',
      bytes: () => handSealed(Uint8Array.of(1, 23), 5),
      code: 'TLS_BAD_RECORD_MAC',
      alert: 20,
    },
    {
      name: 'a KeyUpdate',
      bytes: () => handSealed(Uint8Array.of(24, 0, 0, 1, 0, 22), 0),
      code: 'TLS_POST_HANDSHAKE_UNSUPPORTED',
      alert: 10,
    },
    {
      name: 'a NewSessionTicket',
      bytes: () => handSealed(Uint8Array.of(4, 0, 0, 0, 22), 0),
      code: 'TLS_POST_HANDSHAKE_UNSUPPORTED',
      alert: 10,
    },
    {
      name: 'a fatal alert',
      bytes: () => handSealed(Uint8Array.of(2, 40, 21), 0),
      code: 'TLS_PEER_ALERT',
      alert: undefined,
    },
    {
      name: 'an alert of 3 bytes',
      bytes: () => handSealed(Uint8Array.of(2, 40, 0, 21), 0),
      code: 'TLS_BAD_ALERT',
      alert: 50,
    },
    {
      name: 'a protected change_cipher_spec',
      bytes: () => handSealed(Uint8Array.of(1, 20), 0),
      code: 'TLS_UNEXPECTED_RECORD',
      alert: 10,
    },
    {
      name: 'padding only',
      bytes: () => handSealed(Uint8Array.of(0, 0, 0), 0),
      code: 'TLS_UNEXPECTED_RECORD',
      alert: 10,
    },
    {
      name: 'an outer type other than application_data',
      bytes: () => handSealed(Uint8Array.of(1, 23), 0, { type: 22 }),
      code: 'TLS_UNEXPECTED_RECORD',
      alert: 10,
    },
    {
      name: 'another record version',
      bytes: () => handSealed(Uint8Array.of(1, 23), 0, { version: 0x0301 }),
      code: 'TLS_BAD_RECORD_VERSION',
      alert: 50,
    },
    {
      name: 'a length over 2^14 + 256 (header alone)',
      bytes: () => Uint8Array.of(23, 3, 3, 0x41, 0x01),
      code: 'TLS_RECORD_OVERFLOW',
      alert: 22,
    },
    {
      name: 'more than 2^14 bytes of plaintext',
      bytes: () => handSealed(new Uint8Array(16386).fill(1).fill(23, 16385), 0),
      code: 'TLS_RECORD_OVERFLOW',
      alert: 22,
    },
    {
      name: 'a record too short for a tag',
      bytes: () => Uint8Array.of(23, 3, 3, 0, 16, ...new Uint8Array(16)),
      code: 'TLS_BAD_RECORD_LENGTH',
      alert: 50,
    },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name} and reads nothing after it`, () => {
      const server = rfcServer();
      const result = server.open(refusal.bytes());
      assert.equal(failureCode(result), refusal.code, JSON.stringify(result));
      assert.equal(result.kind === 'error' ? result.alert : 'none', refusal.alert);
      assert.deepEqual(server.open(CLIENT_APP_RECORD), {
        kind: 'ok',
        plaintext: [],
        peerClosed: true,
      });
    });
  }

  it('hands over the records before the bad one with the error', () => {
    const server = rfcServer();
    const bad = handSealed(Uint8Array.of(24, 0, 0, 1, 0, 22), 1);
    const result = server.open(new Uint8Array([...CLIENT_APP_RECORD, ...bad]));
    assert.equal(result.kind, 'error');
    assert.deepEqual(result.plaintext, [PAYLOAD]);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 5 }), (chunks) => {
        const server = rfcServer();
        for (const chunk of chunks) server.open(chunk);
      }),
    );
  });

  it('refuses a secret of the wrong size for the suite', () => {
    assert.throws(
      () =>
        new Tls13RecordLayer({
          suite: 'TLS_AES_256_GCM_SHA384',
          readSecret: new Uint8Array(32),
          writeSecret: new Uint8Array(48),
          readSeq: 0,
          writeSeq: 0,
        }),
      (e: Error & { code?: string }) => e.code === 'CRYPTO_BAD_KEY_SIZE',
    );
  });
});

describe('TLS 1.3 record layer: against Node TLS, every suite', () => {
  let ca: Issued;
  let server: Issued;
  before(async () => {
    const now = new Date();
    ca = await createCa({ commonName: 'Record CA', now });
    server = await issueServerCert(ca, { commonName: 'gw', endpoint: 'vpn.example.net', now });
  });

  for (const suite of [
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'TLS_AES_128_GCM_SHA256',
  ] as const) {
    it(`${suite}: Node's server reads our records; we read Node's client records`, async () => {
      await exchangeWithNode(suite, ca, server);
    });
  }
});

/**
 * A Node TLS client and server on loopback, the client's bytes going through a tap that can
 * replace them. The client's first application record is sequence 0 of its application key: we
 * open it with the secret from Node's keylog. Then we seal records as the client, in its place,
 * and the server must read them.
 */
async function exchangeWithNode(suite: Tls13Suite, ca: Issued, issued: Issued): Promise<void> {
  const secrets = new Map<string, Uint8Array>();
  const serverGot: Buffer[] = [];
  const tlsServer = createTlsServer({
    cert: issued.certPem,
    key: issued.keyPem,
    ciphers: suite,
    minVersion: 'TLSv1.3',
  });
  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    socket.on('data', (d: Buffer) => serverGot.push(d));
    socket.on('error', () => undefined);
  });
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  const serverPort = (tlsServer.address() as AddressInfo).port;
  // The tap: client -> tap -> server. It records the client's bytes and forwards them, unless
  // told to swallow them (then we write our own records to the server instead).
  const fromClient: Buffer[] = [];
  let forward = true;
  let upstream: Socket | undefined;
  const tap = createServer((down) => {
    const up = new Socket();
    upstream = up;
    up.connect(serverPort, '127.0.0.1');
    down.on('data', (d: Buffer) => {
      fromClient.push(d);
      if (forward) up.write(d);
    });
    up.on('data', (d: Buffer) => down.write(d));
    up.on('error', () => undefined);
    down.on('error', () => undefined);
  });
  tap.listen(0, '127.0.0.1');
  await once(tap, 'listening');
  const client = tlsConnect({
    host: '127.0.0.1',
    port: (tap.address() as AddressInfo).port,
    ca: ca.certPem,
    servername: 'vpn.example.net',
    checkServerIdentity: () => undefined,
    ciphers: suite,
    minVersion: 'TLSv1.3',
  });
  client.on('keylog', (line: Buffer) => {
    const [label, , secret] = line.toString('latin1').trim().split(' ');
    if (label !== undefined && secret !== undefined) secrets.set(label, hex(secret));
  });
  client.on('error', () => undefined);
  try {
    await once(client, 'secureConnect');
    assert.equal(client.getCipher().standardName, suite);
    // Let the client's Finished through the tap before marking where its application data
    // starts.
    await new Promise((r) => setTimeout(r, 50));
    const mark = Buffer.concat(fromClient).length;
    client.write('hello from node');
    await waitFor(() => Buffer.concat(serverGot).toString() === 'hello from node', 2000);
    const clientSecret = secrets.get('CLIENT_TRAFFIC_SECRET_0');
    assert.ok(clientSecret !== undefined, 'keylog gave the client traffic secret');
    // We read the client's record as its server would (read key = the client's secret).
    const reader = new Tls13RecordLayer({
      suite,
      readSecret: new Uint8Array(clientSecret),
      writeSecret: new Uint8Array(clientSecret),
      readSeq: 0,
      writeSeq: 1,
    });
    const appBytes = new Uint8Array(Buffer.concat(fromClient).subarray(mark));
    const opened = reader.open(appBytes);
    assert.deepEqual(
      plaintextOf(opened).map((p) => Buffer.from(p).toString()),
      ['hello from node'],
    );
    // Now we are the client: record 1 onwards, written to the server in its place.
    forward = false;
    const sizes = [1, 100, 16384, 20000];
    const sent = sizes.map((n, i) => new Uint8Array(n).fill(0x41 + i));
    const before = Buffer.concat(serverGot).length;
    for (const bytes of sent) upstream?.write(reader.seal(bytes));
    const total = sizes.reduce((a, b) => a + b, 0);
    await waitFor(() => Buffer.concat(serverGot).length - before >= total, 3000);
    assert.deepEqual(
      new Uint8Array(Buffer.concat(serverGot).subarray(before)),
      new Uint8Array(Buffer.concat(sent.map((b) => Buffer.from(b)))),
    );
  } finally {
    client.destroy();
    upstream?.destroy();
    tap.close();
    tlsServer.close();
  }
}

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(done(), 'timed out');
}
