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
import type { TlsEngine, TlsEvent } from '../../src/proto/openvpn/session/tls-engine.js';
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

interface End {
  engine: TlsEngine;
  out: Uint8Array[];
  done: boolean;
  error?: string;
  micros: number;
}

function end(): { end: End; emit: (e: TlsEvent) => void } {
  const e: End = { engine: undefined as unknown as TlsEngine, out: [], done: false, micros: 0 };
  const emit = (ev: TlsEvent): void => {
    if (ev.kind === 'ciphertext') e.out.push(ev.bytes);
    else if (ev.kind === 'handshake-done') e.done = true;
    else if (ev.kind === 'error') e.error = `${ev.code}: ${ev.message}`;
  };
  return { end: e, emit };
}

/** Runs `work` and charges its CPU to `to`. */
function charged(to: End, work: () => void): void {
  const t0 = cpuMicros();
  work();
  to.micros += cpuMicros() - t0;
}

/** Moves what `from` produced into `to`; false if there was nothing to move. */
function deliver(from: End, to: End): boolean {
  const bytes = from.out.splice(0);
  for (const b of bytes) charged(to, () => to.engine.receiveCiphertext(b));
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
    const s = end();
    const c = end();
    charged(s.end, () => (s.end.engine = serverTls.factory(0, s.emit)));
    // A client engine writes its ClientHello on a microtask: charged once that has run.
    const started = cpuMicros();
    c.end.engine = clientTls.factory(0, c.emit);
    await Promise.resolve();
    c.end.micros += cpuMicros() - started;
    for (let i = 0; i < MAX_EXCHANGES && !(s.end.done && c.end.done); i++) {
      // Every step must answer inline: a step sent to the thread pool would not be timed.
      const moved = deliver(c.end, s.end) || deliver(s.end, c.end);
      if (s.end.error || c.end.error) throw new Error(s.end.error ?? c.end.error);
      if (!moved && !(s.end.done && c.end.done)) {
        throw new Error('a TLS step did not answer inline');
      }
    }
    if (!(s.end.done && c.end.done)) throw new Error('the TLS handshake did not finish');
    charged(s.end, () => s.end.engine.exportKeyingMaterial(EKM_LENGTH, EKM_LABEL));
    charged(c.end, () => c.end.engine.exportKeyingMaterial(EKM_LENGTH, EKM_LABEL));
    charged(s.end, () => s.end.engine.close());
    charged(c.end, () => c.end.engine.close());
    return { server: s.end.micros, client: c.end.micros };
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
