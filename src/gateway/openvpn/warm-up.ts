// Before the gateway takes its first client, it runs a few complete OpenVPN handshakes against
// itself in memory: Postern's client core against its server core, with the real TLS engines
// and control-channel wrap, over a throwaway PKI. Two reasons:
// - V8 compiles code on first use and optimizes it once it is hot; without this the first
//   clients after a start (or a restart with every client reconnecting at once) wait on the
//   compiler: ~50 ms to connect instead of ~20 (bench/README.md, "first connect");
// - it proves at start that this build's TLS engine and session cores complete a handshake,
//   instead of learning it from the first user's failure.
// Nothing touches the network, the store or the data plane: the server's `authenticate` is
// answered by `admit` (the gateway passes its admission path over a scratch store,
// admission-rehearsal.ts) or with a fixed PUSH_REPLY.
import { randomBytes } from 'node:crypto';
import {
  createCa,
  generateStaticKey,
  generateTlsCryptV2ServerKey,
  issueClientCert,
  issueServerCert,
} from '../../control/pki/index.js';
import { PosternError } from '../../errors.js';
import { profileKeyMetadata } from '../../control/profile/key-metadata.js';
import { generateClientKey, tlsCryptV2ServerKey } from '../../crypto/tls-crypt-v2.js';
import { TLS_CRYPT_V2_CLIENT_KEY_LEN } from '../../wire/openvpn/constants.js';
import { clientTlsEngine, gatewayTlsEngine } from '../../io/tls/engine-choice.js';
import type { PushConfig } from '../../proto/openvpn/push-reply.js';
import type { TlsEngineFactory } from '../../proto/openvpn/session/tls-engine.js';
import {
  ClientSession,
  type ClientControlWrap,
  type ClientOutput,
} from '../../proto/openvpn/session/client-session.js';
import {
  handleFirstContact,
  type ServerControlWrap,
} from '../../proto/openvpn/session/first-contact.js';
import {
  ServerSession,
  type AuthRequest,
  type ServerOutput,
} from '../../proto/openvpn/session/server-session.js';

export interface WarmUpOptions {
  /** Handshakes to run; each takes a few milliseconds once the code is warm. */
  rounds: number;
  /** The gateway's control-channel wrap kind and data ciphers, so the same code paths run. */
  tlsCrypt: 'v1' | 'v2';
  dataCiphers: readonly string[];
  minTls: '1.2' | '1.3';
  /** Answers the server core's `authenticate`; without it every client gets a fixed push. */
  admit?: (request: AuthRequest) => Promise<PushConfig>;
}

export interface WarmUpResult {
  handshakes: number;
  ms: number;
}

const WARM_UP_NAME = 'warm-up';
const CLIENT_ADDRESS = { ip: '192.0.2.1', port: 1 };
const WARM_UP_PUSH: PushConfig = {
  topology: 'subnet',
  routeGateway: '100.64.0.1',
  ping: 10,
  pingRestart: 60,
  ifconfig: { local: '100.64.0.2', netmask: '255.255.255.0' },
  tunMtu: 1500,
};
/** How long one in-memory handshake may take before it counts as stuck (a loaded machine). */
const HANDSHAKE_DEADLINE_MS = 10_000;
/** A turn with nothing to deliver waits this long for an engine at most, then looks again. */
const IDLE_TURN_MS = 20;

const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

/**
 * A throwaway CA with a server and a client certificate, and TLS engines over them: what the
 * warm-up's handshakes (and the start-up self-connect, self-connect.ts) authenticate with. The
 * CA key is dropped here, so nothing outside this process can ever present these certificates.
 */
export interface WarmUpPki {
  serverTls: TlsEngineFactory;
  clientTls: TlsEngineFactory;
  /** The client certificate's commonName and serial, as the server's AuthRequest carries them. */
  clientName: string;
  clientSerial: string;
}

export async function createWarmUpPki(minTls: '1.2' | '1.3'): Promise<WarmUpPki> {
  const now = new Date();
  const ca = await createCa({ commonName: 'Postern warm-up CA', now });
  const server = await issueServerCert(ca, {
    commonName: WARM_UP_NAME,
    endpoint: WARM_UP_NAME,
    now,
  });
  const client = await issueClientCert(ca, { commonName: WARM_UP_NAME, now });
  const minVersion = minTls === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
  return {
    serverTls: gatewayTlsEngine({
      ca: ca.certPem,
      cert: server.certPem,
      key: server.keyPem,
      minVersion,
    }).factory,
    clientTls: clientTlsEngine({
      ca: ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
      minVersion,
    }).factory,
    clientName: WARM_UP_NAME,
    clientSerial: client.serial,
  };
}

/**
 * The control-channel wrap a warm-up client uses against a server holding `server`: for
 * tls-crypt-v2 a client key minted from the server key (with the metadata an exported profile's
 * key carries, so the gateway reads it as it reads a user's), for tls-crypt the shared key.
 */
export function warmUpClientWrap(server: ServerControlWrap, pki: WarmUpPki): ClientControlWrap {
  if (server.kind === 'tls-crypt-v2') {
    const k = generateClientKey(
      tlsCryptV2ServerKey(server.serverKey),
      random(TLS_CRYPT_V2_CLIENT_KEY_LEN),
      profileKeyMetadata({ user: pki.clientName, serial: pki.clientSerial }),
    );
    return { kind: 'tls-crypt-v2', clientKey: k.clientKey, wkc: k.wkc };
  }
  return server;
}

/** Runs `rounds` in-memory handshakes; throws PosternError('WARM_UP_FAILED') if one fails. */
export async function warmUpSessionCores(o: WarmUpOptions): Promise<WarmUpResult> {
  const started = performance.now();
  const pki = await createWarmUpPki(o.minTls);
  const serverWrap: ServerControlWrap =
    o.tlsCrypt === 'v2'
      ? { kind: 'tls-crypt-v2', serverKey: generateTlsCryptV2ServerKey() }
      : { kind: 'tls-crypt', key: generateStaticKey() };
  const clientWrap = warmUpClientWrap(serverWrap, pki);
  const firstContact = { wrap: serverWrap, cookieKey: random(32) };
  for (let round = 0; round < o.rounds; round++) {
    await oneHandshake(firstContact, pki.serverTls, pki.clientTls, clientWrap, o);
  }
  return { handshakes: o.rounds, ms: performance.now() - started };
}

async function oneHandshake(
  firstContact: Parameters<typeof handleFirstContact>[0],
  serverTls: TlsEngineFactory,
  clientTls: TlsEngineFactory,
  clientWrap: ClientControlWrap,
  o: WarmUpOptions,
): Promise<void> {
  const { dataCiphers, admit } = o;
  const toServer: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  let configured = false;
  let failure: string | undefined;
  let serverSession: ServerSession | undefined;
  const onClient = (outs: ClientOutput[]): void => {
    for (const out of outs) {
      if (out.kind === 'send') toServer.push(out.packet);
      else if (out.kind === 'configured') configured = true;
      else if (out.kind === 'refused' || out.kind === 'closed') failure = out.kind;
    }
  };
  const onServer = (outs: ServerOutput[]): void => {
    for (const out of outs) {
      if (out.kind === 'send') toClient.push(out.packet);
      else if (out.kind === 'authenticate' && serverSession) {
        const session = serverSession;
        if (!admit) onServer(session.accept(WARM_UP_PUSH, Date.now()));
        else {
          admit(out.request).then(
            (push) => {
              onServer(session.accept(push, Date.now()));
              wake();
            },
            (e: unknown) => {
              failure = (e as Error).message;
              wake();
            },
          );
        }
      } else if (out.kind === 'closed') failure = `server ${out.kind}`;
    }
  };
  // The server's TLS engine works on another thread: a turn with nothing to deliver waits for
  // an engine to say it has something (the cores' wake), or a little while.
  let waiting: (() => void) | undefined;
  let woken = false;
  const wake = (): void => {
    woken = true;
    waiting?.();
  };
  const nextTurn = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        waiting = undefined;
        resolve();
      };
      const timer = setTimeout(done, IDLE_TURN_MS);
      waiting = done;
      if (woken || toServer.length > 0 || toClient.length > 0) setImmediate(done);
      woken = false;
    });
  const clientSession = new ClientSession({
    wrap: clientWrap,
    createTls: clientTls,
    random,
    now: Date.now(),
    dataCiphers,
    wake,
  });
  onClient(clientSession.start(Date.now()));
  try {
    const deadline = Date.now() + HANDSHAKE_DEADLINE_MS;
    while (!configured && failure === undefined && Date.now() < deadline) {
      for (const packet of toServer.splice(0)) {
        const t = Date.now();
        if (serverSession) {
          onServer(serverSession.receive(packet, t));
          continue;
        }
        const verdict = handleFirstContact(firstContact, packet, CLIENT_ADDRESS, t);
        if (verdict.kind === 'reply') toClient.push(verdict.packet);
        if (verdict.kind === 'open') {
          serverSession = new ServerSession({
            start: verdict.start,
            createTls: serverTls,
            random,
            now: t,
            dataCiphers,
            wake,
          });
          onServer(serverSession.receive(packet, t));
        }
      }
      for (const packet of toClient.splice(0)) onClient(clientSession.receive(packet, Date.now()));
      // TLS engines finish on a microtask or another thread; wait, then collect what they made.
      await nextTurn();
      onClient(clientSession.handleTlsEvents(Date.now()));
      if (serverSession) onServer(serverSession.handleTlsEvents(Date.now()));
    }
  } finally {
    clientSession.close('exit', Date.now());
    serverSession?.close('exit', Date.now());
  }
  if (!configured) {
    throw new PosternError(
      'WARM_UP_FAILED',
      `the start-up self-handshake did not complete (${failure ?? 'no PUSH_REPLY'})`,
      'this build cannot serve OpenVPN clients: rebuild (npm ci) and report it',
    );
  }
}
