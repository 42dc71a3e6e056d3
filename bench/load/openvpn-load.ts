// A load generator speaking the real OpenVPN protocol: many client sessions in one process, each
// Postern's own ClientSession core over its own UDP socket. It counts sessions that reach
// `configured` (PUSH_REPLY received) and keeps them alive with keepalive pings on the data
// channel, so a server holds them as idle clients for as long as the generator runs.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { parseStaticKey } from '../../src/crypto/static-key.js';
import { parseClientKeyFile } from '../../src/crypto/tls-crypt-v2.js';
import { OpenvpnDataEncryptor } from '../../src/dataplane/reference/openvpn-data.js';
import { clientTlsEngine } from '../../src/io/tls/engine-choice.js';
import type { TlsEngineFactory } from '../../src/proto/openvpn/session/tls-engine.js';
import {
  ClientSession,
  type ClientControlWrap,
  type ClientOutput,
} from '../../src/proto/openvpn/session/client-session.js';
import {
  OCC_EXIT_MESSAGE,
  Opcode,
  OPCODE_SHIFT,
  PING_MAGIC,
} from '../../src/wire/openvpn/constants.js';

/** Where and how to connect: the parts of a Postern profile the handshake needs. */
export interface LoadTarget {
  host: string;
  port: number;
  ca: string;
  cert: string;
  key: string;
  tlsCrypt: { version: 'v1' | 'v2'; key: string };
  dataCiphers: string[];
  tlsMin?: '1.2' | '1.3';
  /** Required commonName of the server certificate, when given. */
  verifyName?: string;
}

export interface LoadOptions {
  /** Sessions to open. */
  count: number;
  /** Handshakes in flight at once. */
  concurrency: number;
  /** Gives up on a session that is not configured after this long. */
  handshakeTimeoutMs: number;
  /** Seconds between keepalive pings each configured session sends. */
  pingIntervalSec: number;
}

export interface LoadResult {
  configured: number;
  failed: number;
  /** From the first session's start to the last one's end (configured or failed). */
  seconds: number;
  /**
   * The generator's own CPU seconds over the same span (every thread of its process): it runs
   * on the server's machine, so this is CPU the server under test did not get.
   */
  cpuSeconds: number;
  /** The first few failure reasons, for the log. */
  failures: string[];
}

const MAX_FAILURE_REASONS = 5;

function controlWrap(t: LoadTarget): ClientControlWrap {
  if (t.tlsCrypt.version === 'v2') {
    const k = parseClientKeyFile(t.tlsCrypt.key);
    if (!k.ok) throw new Error(`unreadable tls-crypt-v2 key (${k.reason})`);
    return { kind: 'tls-crypt-v2', clientKey: k.clientKey, wkc: k.wkc };
  }
  const k = parseStaticKey(t.tlsCrypt.key);
  if (!k.ok) throw new Error(`unreadable tls-crypt key (${k.reason})`);
  return { kind: 'tls-crypt', key: k.key };
}

/** One client session: handshake to `configured`, then idle with pings until closed. */
class LoadSession {
  readonly #socket: Socket;
  readonly #core: ClientSession;
  #timer: NodeJS.Timeout | undefined;
  #pinger: NodeJS.Timeout | undefined;
  #wakePending = false;
  #finished = false;
  #encryptor: OpenvpnDataEncryptor | undefined;
  readonly #done: (error: string | undefined) => void;

  constructor(
    target: LoadTarget,
    wrap: ClientControlWrap,
    createTls: TlsEngineFactory,
    pingIntervalSec: number,
    done: (error: string | undefined) => void,
  ) {
    this.#done = done;
    this.#socket = createSocket('udp4');
    this.#core = new ClientSession({
      wrap,
      createTls,
      random: (n) => new Uint8Array(randomBytes(n)),
      now: Date.now(),
      dataCiphers: target.dataCiphers,
      transport: 'udp',
      wake: () => {
        if (this.#wakePending || this.#finished) return;
        this.#wakePending = true;
        setImmediate(() => {
          this.#wakePending = false;
          if (!this.#finished) this.#run(this.#core.handleTlsEvents(Date.now()));
        });
      },
    });
    this.#socket.on('message', (bytes: Buffer) => {
      if (this.#finished) return;
      const op = (bytes[0] ?? 0) >> OPCODE_SHIFT;
      // Data packets (the server's pings) are not read: only sending keeps us alive.
      if (op === Opcode.DATA_V2 || op === Opcode.DATA_V1) return;
      this.#run(this.#core.receive(new Uint8Array(bytes), Date.now()));
    });
    this.#socket.on('error', (e) => this.#fail(e.message));
    this.#pinger = setInterval(() => this.#ping(), pingIntervalSec * 1000);
    this.#socket.connect(target.port, target.host, () => this.#run(this.#core.start(Date.now())));
  }

  #ping(): void {
    this.#sendData(PING_MAGIC);
  }

  /** Leaves as explicit-exit-notify does without cc-exit: OCC_EXIT on the data channel. */
  notifyExit(): void {
    if (!this.#finished) this.#sendData(OCC_EXIT_MESSAGE);
  }

  #sendData(payload: Uint8Array): void {
    const r = this.#encryptor?.encrypt(payload);
    if (r?.kind === 'packet') this.#socket.send(r.packet);
  }

  #fail(reason: string): void {
    if (this.#finished) return;
    this.close();
    this.#done(reason);
  }

  #run(outputs: ClientOutput[]): void {
    for (const out of outputs) {
      if (this.#finished) return;
      switch (out.kind) {
        case 'send':
          this.#socket.send(out.packet);
          break;
        case 'keys':
          this.#encryptor = new OpenvpnDataEncryptor({
            key: out.keys.send,
            keyId: out.keyId,
            peerId: out.peerId,
          });
          break;
        case 'configured':
          this.#done(undefined);
          break;
        case 'refused':
          this.#fail(`refused: ${out.reason ?? 'AUTH_FAILED'}`);
          return;
        case 'closed':
          this.#fail(`closed: ${out.reason}${out.detail ? ` (${out.detail})` : ''}`);
          return;
      }
    }
    clearTimeout(this.#timer);
    const at = this.#core.nextDeadline();
    if (at !== undefined && !this.#finished) {
      this.#timer = setTimeout(
        () => this.#run(this.#core.handleTimeout(Date.now())),
        Math.max(0, at - Date.now()),
      );
    }
  }

  close(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    clearInterval(this.#pinger);
    this.#socket.close();
  }
}

/** A set of open sessions: what `openSessions` leaves running until `close`. */
export interface LoadRun {
  result: LoadResult;
  /** Every open session says OCC_EXIT (and stays open until `close`). */
  notifyExit(): void;
  close(): void;
}

/**
 * Opens `count` sessions, `concurrency` handshakes at a time, and resolves once each one is
 * configured or failed. Configured sessions stay up (pinging) until `close`.
 */
export function openSessions(
  target: LoadTarget,
  o: LoadOptions,
  onProgress: (configured: number, failed: number) => void = () => {},
): Promise<LoadRun> {
  const wrap = controlWrap(target);
  // The native engine when built: the generator shares the cores with the server it measures.
  const { factory: createTls } = clientTlsEngine({
    ca: target.ca,
    cert: target.cert,
    key: target.key,
    minVersion: target.tlsMin === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    ...(target.verifyName ? { serverCommonName: target.verifyName } : {}),
  });
  const sessions: LoadSession[] = [];
  const failures: string[] = [];
  let started = 0;
  let configured = 0;
  let failed = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const close = (): void => sessions.forEach((s) => s.close());
  return new Promise((resolve) => {
    const finishOne = (session: LoadSession, timeout: NodeJS.Timeout, error?: string): void => {
      clearTimeout(timeout);
      if (error === undefined) configured++;
      else {
        failed++;
        if (failures.length < MAX_FAILURE_REASONS) failures.push(error);
        session.close();
      }
      onProgress(configured, failed);
      if (configured + failed === o.count) {
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const cpuSeconds = (cpu.user + cpu.system) / 1e6;
        const notifyExit = (): void => sessions.forEach((s) => s.notifyExit());
        resolve({
          result: { configured, failed, seconds, cpuSeconds, failures },
          notifyExit,
          close,
        });
      } else startNext();
    };
    const startNext = (): void => {
      if (started >= o.count) return;
      started++;
      let settled = false;
      let session: LoadSession | undefined = undefined;
      const settle = (error?: string): void => {
        if (settled) return;
        settled = true;
        // The constructor may report synchronously (a socket error) before it returns.
        queueMicrotask(() => finishOne(session!, timeout, error));
      };
      const timeout = setTimeout(() => settle('no PUSH_REPLY in time'), o.handshakeTimeoutMs);
      session = new LoadSession(target, wrap, createTls, o.pingIntervalSec, settle);
      sessions.push(session);
    };
    for (let i = 0; i < Math.min(o.concurrency, o.count); i++) startNext();
  });
}
