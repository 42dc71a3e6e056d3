// What OpenSSL alone spends on one OpenVPN-style TLS handshake on this machine, each side: a
// TLS 1.3 handshake with client certificates (the bench's PKI: ECDSA P-256, as both the Postern
// and the stock OpenVPN subjects use), then the keying-material export OpenVPN's data keys come
// from. Both ends run in this process through the gateway's own TLS engine (OpenSSL via the
// addon), one handshake at a time so every step runs inline; the CPU of each side's calls is
// summed separately.
//
// No OpenVPN server can do a handshake for less than the server side of this, whatever its
// control plane is written in: it is the floor the handshake ceiling is built on
// (handshake-ceiling.ts).
import { createCa, issueClientCert, issueServerCert } from '../../src/control/pki/index.js';
import { clientTlsEngine, gatewayTlsEngine } from '../../src/io/tls/engine-choice.js';
import type {
  TlsEngine,
  TlsEngineFactory,
  TlsEvent,
} from '../../src/proto/openvpn/session/tls-engine.js';
import { median } from './stats.js';

export interface TlsFloor {
  /** OpenSSL's server side of one handshake, CPU ms (median of the batches). */
  serverMs: number;
  /** Its client side, CPU ms. */
  clientMs: number;
  handshakes: number;
}

/** A handshake that has not finished after this many exchanges has gone wrong. */
const MAX_EXCHANGES = 50;
/** Handshakes before the clock starts: OpenSSL's and V8's first-use costs are not the floor. */
const WARM_UP = 30;
const BATCHES = 3;
/** OpenVPN's data keys: 256 bytes exported under this label (key-method 2 with EKM). */
const EKM_LABEL = 'EXPORTER-OpenVPN-datakeys';
const EKM_LENGTH = 256;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** One side of the handshake: its engine, what it produced, and the CPU charged to it. */
class End {
  readonly out: Uint8Array[] = [];
  done = false;
  error: string | undefined;
  micros = 0;
  readonly engine: TlsEngine;

  constructor(factory: TlsEngineFactory) {
    this.engine = factory(0, (ev: TlsEvent) => {
      if (ev.kind === 'ciphertext') this.out.push(ev.bytes);
      else if (ev.kind === 'handshake-done') this.done = true;
      else if (ev.kind === 'error') this.error = `${ev.code}: ${ev.message}`;
    });
  }

  /** Runs `work` and charges its CPU to this side. */
  charge(work: () => void): void {
    const t0 = cpuMicros();
    work();
    this.micros += cpuMicros() - t0;
  }
}

/** A side's engine, made with its making charged (a client writes its ClientHello on a microtask). */
async function openEnd(factory: TlsEngineFactory): Promise<End> {
  const t0 = cpuMicros();
  const end = new End(factory);
  await Promise.resolve();
  end.micros += cpuMicros() - t0;
  return end;
}

/** Moves what `from` produced into `to`; false if there was nothing to move. */
function deliver(from: End, to: End): boolean {
  const bytes = from.out.splice(0);
  for (const b of bytes) to.charge(() => to.engine.receiveCiphertext(b));
  return bytes.length > 0;
}

export async function measureTlsFloor(handshakesPerBatch = 200): Promise<TlsFloor> {
  const now = new Date();
  const ca = await createCa({ commonName: 'floor CA', now });
  const server = await issueServerCert(ca, { commonName: 'gw', endpoint: 'gw', now });
  const client = await issueClientCert(ca, { commonName: 'floor', now });
  const serverTls = gatewayTlsEngine({ ca: ca.certPem, cert: server.certPem, key: server.keyPem });
  const clientTls = clientTlsEngine({ ca: ca.certPem, cert: client.certPem, key: client.keyPem });
  if (serverTls.kind !== 'native' || clientTls.kind !== 'native') {
    throw new Error('the TLS floor needs the native addon (npm run build)');
  }

  const once = async (): Promise<{ server: number; client: number }> => {
    const s = await openEnd(serverTls.factory);
    const c = await openEnd(clientTls.factory);
    for (let i = 0; i < MAX_EXCHANGES && !(s.done && c.done); i++) {
      // Every step must answer inline: a step sent to the thread pool would not be timed.
      const moved = deliver(c, s) || deliver(s, c);
      if (s.error || c.error) throw new Error(s.error ?? c.error);
      if (!moved && !(s.done && c.done)) {
        throw new Error('a TLS step did not answer inline');
      }
    }
    if (!(s.done && c.done)) throw new Error('the TLS handshake did not finish');
    s.charge(() => s.engine.exportKeyingMaterial(EKM_LENGTH, EKM_LABEL));
    c.charge(() => c.engine.exportKeyingMaterial(EKM_LENGTH, EKM_LABEL));
    s.charge(() => s.engine.close());
    c.charge(() => c.engine.close());
    return { server: s.micros, client: c.micros };
  };

  for (let i = 0; i < WARM_UP; i++) await once();
  const serverMs: number[] = [];
  const clientMs: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    let server = 0;
    let client = 0;
    for (let i = 0; i < handshakesPerBatch; i++) {
      const t = await once();
      server += t.server;
      client += t.client;
    }
    serverMs.push(server / 1000 / handshakesPerBatch);
    clientMs.push(client / 1000 / handshakesPerBatch);
  }
  return {
    serverMs: median(serverMs)!,
    clientMs: median(clientMs)!,
    handshakes: handshakesPerBatch * BATCHES,
  };
}
