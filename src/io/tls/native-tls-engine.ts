// The TLS engine of the OpenVPN session cores on OpenSSL directly (native/tls_engine.c): one
// SSL_CTX per factory, parsed once, and per key state one SSL over two memory BIOs. By default
// everything runs synchronously inside the engine's methods: ciphertext goes in, and the
// ciphertext, plaintext, handshake-done and error events it causes come out through `emit`, in
// order, before the method returns. The gateway's engines hand handshake steps to libuv's
// thread pool instead while more than one client is connecting (HandshakePool); their events then
// come later, from the step's completion, still in order.
//
// Same configuration, same TLS policy and same verdicts as the Node engine (tls-engine.ts):
// the server requests a client certificate, lets the handshake finish and reports the verdict
// in handshake-done (peerVerifyError, with Node's names); the client refuses a server chain
// that does not verify, then applies `remote-cert-tls server` and the optional name pin.
//
// `compact()` hands an established TLS 1.3 session over to our own record layer
// (src/crypto/tls13-record.ts) and frees the SSL: what an idle session keeps is then two AEAD
// keys, two ivs and two sequence numbers.
import type { PeerCertificate } from 'node:tls';
import { isTls13Suite, Tls13RecordLayer } from '../../crypto/tls13-record.js';
import { PosternError } from '../../errors.js';
import type {
  TlsEngine,
  TlsEngineFactory,
  TlsEvent,
  TlsHandshakeInfo,
} from '../../proto/openvpn/session/tls-engine.js';
import { loadNative } from '../tun/native.js';
import {
  checkServerCertificate,
  ECDH_CURVES,
  normalizeSerialHex,
  TLS_CIPHERS,
} from './tls-engine.js';
import type { TlsClientConfig, TlsServerConfig, TlsVersion } from './tls-engine.js';

/** Protocol version numbers (RFC 8446 4.2.1). */
const TLS_VERSION_NUMBER: Record<TlsVersion, number> = {
  'TLSv1.2': 0x0303,
  'TLSv1.3': 0x0304,
};

/** TLS 1.3 suites are named TLS_*; OpenSSL configures them apart from the TLS 1.2 list. */
const TLS13_SUITE_PREFIX = 'TLS_';

/** What tlsDrive / tlsRead report (native/tls_engine.c `tls_step`). */
const STEP_WANT_INPUT = 0;
const STEP_HANDSHAKE_DONE = 1;
/** -1: failed (tlsError says why). */
const STEP_PEER_CLOSED = -2;

/** Ciphertext held while a handshake step runs on a worker, as the native side bounds its own. */
const HELD_INPUT_MAX = 1 << 20;

/** Server side: the verdict when the client sent no certificate, or one without a name. */
const NO_CLIENT_CERTIFICATE = 'no client certificate';

declare const nativeHandle: unique symbol;
/** An opaque native object (a type-tagged napi external). */
type Handle<Kind extends string> = { readonly [nativeHandle]: Kind };
type NativeTlsContext = Handle<'tls-context'>;
type NativeTlsSession = Handle<'tls-session'>;

interface NativeTlsContextOptions {
  server: boolean;
  cert: string | undefined;
  key: string | undefined;
  ca: string;
  crl: string | undefined;
  minVersion: number;
  maxVersion: number;
  cipherList: string;
  cipherSuites: string;
  groups: string;
}

/** The peer as native/tls_engine.c `tls_info` describes it. */
interface NativeHandshakeInfo {
  protocol: string;
  cipher: string;
  hasPeerCertificate: boolean;
  /** Set when the peer's chain did not verify (Node's name for the X509 error). */
  verifyError?: string;
  commonName?: string;
  /** BN_bn2hex of the serial. */
  serialNumber?: string;
  fingerprint256?: string;
  /** Dotted OIDs; absent when the certificate has no extendedKeyUsage extension. */
  extKeyUsage?: string[];
}

/** What native/tls_engine.c `tls_detach` hands over: the record state of a TLS 1.3 session. */
interface NativeDetachedState {
  suite: string;
  readSecret: Buffer;
  writeSecret: Buffer;
  readSeq: number;
  writeSeq: number;
}

interface NativeTlsAddon {
  tlsContextNew(options: NativeTlsContextOptions): NativeTlsContext;
  tlsSessionNew(context: NativeTlsContext): NativeTlsSession;
  tlsPut(session: NativeTlsSession, bytes: Uint8Array): boolean;
  tlsDrive(session: NativeTlsSession): number;
  /** Runs one tlsDrive on libuv's thread pool; the session is busy until `done`. */
  tlsDriveAsync(session: NativeTlsSession, done: (step: number) => void): boolean;
  tlsRead(session: NativeTlsSession): Buffer | number;
  tlsWrite(session: NativeTlsSession, bytes: Uint8Array): boolean;
  tlsTake(session: NativeTlsSession): Buffer | null;
  tlsInfo(session: NativeTlsSession): NativeHandshakeInfo;
  tlsError(session: NativeTlsSession): { code: string; message: string } | null;
  tlsExport(session: NativeTlsSession, length: number, label: string): Buffer;
  tlsFree(session: NativeTlsSession): void;
  /** Frees the SSL and returns its record state, or null (session untouched) when it cannot. */
  tlsDetach(session: NativeTlsSession): NativeDetachedState | null;
}

function tlsAddon(): NativeTlsAddon {
  const addon = loadNative() as unknown as Partial<NativeTlsAddon>;
  if (typeof addon.tlsContextNew !== 'function' || typeof addon.tlsDetach !== 'function') {
    throw new PosternError(
      'NATIVE_ADDON_OUTDATED',
      'the native addon has no TLS engine',
      'rebuild it with `node scripts/build-native.mjs`',
    );
  }
  return addon as NativeTlsAddon;
}

/**
 * A view on the Buffer's bytes as a plain Uint8Array, as the Node engine and the reference
 * tls-crypt hand them out (Buffer's slice() is a view, Uint8Array's a copy).
 */
export function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function pem(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join('\n');
}

interface ContextConfig {
  cert?: string | undefined;
  key?: string | undefined;
  ca: string | readonly string[];
  crl?: string | readonly string[] | undefined;
  minVersion?: TlsVersion | undefined;
  maxVersion?: TlsVersion | undefined;
}

function createContext(
  addon: NativeTlsAddon,
  server: boolean,
  config: ContextConfig,
): NativeTlsContext {
  const suites = TLS_CIPHERS.split(':');
  try {
    return addon.tlsContextNew({
      server,
      cert: config.cert,
      key: config.key,
      ca: pem(config.ca) ?? '',
      crl: pem(config.crl),
      minVersion: TLS_VERSION_NUMBER[config.minVersion ?? 'TLSv1.2'],
      maxVersion: TLS_VERSION_NUMBER[config.maxVersion ?? 'TLSv1.3'],
      cipherList: suites.filter((s) => !s.startsWith(TLS13_SUITE_PREFIX)).join(':'),
      cipherSuites: suites.filter((s) => s.startsWith(TLS13_SUITE_PREFIX)).join(':'),
      groups: ECDH_CURVES,
    });
  } catch (e) {
    throw new PosternError(
      'TLS_BAD_CONFIG',
      `cannot set up TLS: ${(e as Error).message}`,
      'check the certificate, key, CA and CRL files',
    );
  }
}

/** The fields `checkServerCertificate` reads, in the shape Node's PeerCertificate has. */
function asPeerCertificate(info: NativeHandshakeInfo): PeerCertificate {
  return {
    subject: info.commonName === undefined ? {} : { CN: info.commonName },
    ext_key_usage: info.extKeyUsage,
  } as unknown as PeerCertificate;
}

type Side =
  | { kind: 'server' }
  | {
      kind: 'client';
      config: Pick<TlsClientConfig, 'serverCommonName' | 'requireServerAuthUsage'>;
    };

/** One TLS session (one key state) on OpenSSL, driven synchronously. */
class NativeTlsEngine implements TlsEngine {
  /** Undefined once closed, failed or compacted. */
  private session: NativeTlsSession | undefined;
  /** Set once compacted: the session goes on here, without OpenSSL. */
  private records: Tls13RecordLayer | undefined;
  private established = false;
  /** Plaintext handed over before the handshake finished, sent right after it. */
  private pendingPlaintext: Uint8Array[] = [];
  /** Compacted: ciphertext that arrived while the previous arrival was still being delivered. */
  private inbox: Uint8Array[] = [];
  /** Guards against re-entry: `emit` may feed the peer, which may feed us back at once. */
  private pumping = false;
  private pumpAgain = false;
  /** A handshake step is running on a worker thread (offload): the SSL is not ours meanwhile. */
  private driving = false;
  /** Ciphertext that arrived while driving, in order, and its size. */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  /** This engine counts in its HandshakePool's `handshaking` (until established or closed). */
  private countedHandshake = false;

  constructor(
    private readonly addon: NativeTlsAddon,
    context: NativeTlsContext,
    private readonly side: Side,
    private readonly emit: (event: TlsEvent) => void,
    /** The gateway's engines share this: handshake steps on libuv's thread pool when busy. */
    private readonly offload: HandshakePool | undefined = undefined,
  ) {
    this.session = addon.tlsSessionNew(context);
    if (offload !== undefined) {
      offload.handshaking++;
      this.countedHandshake = true;
    }
    // The client speaks first, but not before the factory has returned: whoever holds the
    // engine must be able to feed it the server's answer, which may come back synchronously.
    if (side.kind === 'client') queueMicrotask(() => this.pump());
  }

  receiveCiphertext(bytes: Uint8Array): void {
    if (this.records !== undefined) {
      if (bytes.length > 0) this.receiveCompacted(bytes);
      return;
    }
    const session = this.session;
    if (session === undefined || bytes.length === 0) return;
    if (this.driving) {
      this.heldBytes += bytes.length;
      if (this.heldBytes > HELD_INPUT_MAX) {
        this.fail({ code: 'TLS_INPUT_OVERFLOW', message: 'too much TLS input queued' });
        return;
      }
      this.held.push(bytes.slice());
      return;
    }
    if (!this.addon.tlsPut(session, bytes)) {
      this.fail();
      return;
    }
    this.pump();
  }

  sendPlaintext(bytes: Uint8Array): void {
    if (this.records !== undefined) {
      if (bytes.length > 0) this.sendCompacted(this.records, bytes);
      return;
    }
    const session = this.session;
    if (session === undefined || bytes.length === 0) return;
    if (!this.established) {
      this.pendingPlaintext.push(new Uint8Array(bytes));
      return;
    }
    if (!this.addon.tlsWrite(session, bytes)) {
      this.flushCiphertext();
      this.fail();
      return;
    }
    this.pump();
  }

  exportKeyingMaterial(length: number, label: string): Uint8Array {
    const session = this.session;
    if (this.records !== undefined) {
      // The exporter secret went with the SSL.
      throw new PosternError('TLS_NOT_READY', 'keying material asked after compact()');
    }
    if (session === undefined || !this.established) {
      throw new PosternError('TLS_NOT_READY', 'keying material asked of an unfinished TLS session');
    }
    return bytesOf(this.addon.tlsExport(session, length, label));
  }

  /**
   * Frees OpenSSL's state of an established TLS 1.3 session and carries on with our own record
   * layer. False, with nothing changed, when that cannot be done exactly (TLS 1.2, bytes queued,
   * a post-handshake message seen, or called from inside one of this engine's events).
   */
  compact(): boolean {
    if (this.records !== undefined) return true;
    const session = this.session;
    if (session === undefined || !this.established || this.pumping || this.driving) return false;
    this.flushCiphertext();
    const state = this.addon.tlsDetach(session);
    if (state === null) return false;
    this.session = undefined;
    if (!isTls13Suite(state.suite)) {
      // The addon only detaches suites the record layer knows; anything else is our bug.
      state.readSecret.fill(0);
      state.writeSecret.fill(0);
      this.close();
      this.emit({ kind: 'error', code: 'TLS_ERROR', message: `cannot go on with ${state.suite}` });
      return false;
    }
    this.records = new Tls13RecordLayer({
      suite: state.suite,
      readSecret: state.readSecret,
      writeSecret: state.writeSecret,
      readSeq: state.readSeq,
      writeSeq: state.writeSeq,
    });
    return true;
  }

  close(): void {
    this.handshakeOver();
    this.records = undefined;
    this.inbox = [];
    this.held = [];
    const session = this.session;
    if (session === undefined) return;
    this.session = undefined;
    this.pendingPlaintext = [];
    this.addon.tlsFree(session);
  }

  private get alive(): boolean {
    return this.session !== undefined || this.records !== undefined;
  }

  private sendCompacted(records: Tls13RecordLayer, bytes: Uint8Array): void {
    let sealed: Uint8Array;
    try {
      sealed = records.seal(bytes);
    } catch (e) {
      this.fail({ code: 'TLS_ERROR', message: (e as Error).message });
      return;
    }
    this.deliver({ kind: 'ciphertext', bytes: sealed });
  }

  /** Opens records in arrival order, even when delivering one feeds us more. */
  private receiveCompacted(bytes: Uint8Array): void {
    this.inbox.push(bytes);
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let next = this.inbox.shift(); next !== undefined; next = this.inbox.shift()) {
        const records = this.records;
        if (records === undefined) return;
        const result = records.open(next);
        for (const plaintext of result.plaintext)
          this.deliver({ kind: 'plaintext', bytes: plaintext });
        // A close_notify ends nothing on its own, as before compaction.
        if (result.kind === 'error') {
          if (result.alert !== undefined && this.records !== undefined) {
            this.deliver({ kind: 'ciphertext', bytes: this.records.sealAlert(result.alert) });
          }
          this.fail({ code: result.code, message: result.message });
          return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.step();
      } while (this.pumpAgain && this.session !== undefined);
    } finally {
      this.pumping = false;
    }
  }

  /** Advances the handshake, then reads every whole record queued; emits as it goes. */
  private step(): void {
    if (!this.established) {
      const session = this.session;
      if (session === undefined) return;
      const pool = this.offload;
      if (pool !== undefined && !pool.idle()) {
        this.startDrive(session, pool);
        return;
      }
      if (!this.afterDrive(session, this.addon.tlsDrive(session))) return;
    }
    this.readRecords();
  }

  /** What a handshake step leads to; true once the session is established. */
  private afterDrive(session: NativeTlsSession, step: number): boolean {
    // Ciphertext first, even when failing: it carries the alert that tells the peer why.
    this.flushCiphertext();
    if (step === STEP_WANT_INPUT) return false;
    if (step !== STEP_HANDSHAKE_DONE) {
      this.fail();
      return false;
    }
    if (this.session === undefined) return false;
    this.established = true;
    this.handshakeOver();
    this.handshakeDone(session);
    return true;
  }

  private handshakeOver(): void {
    if (!this.countedHandshake || this.offload === undefined) return;
    this.countedHandshake = false;
    this.offload.handshaking--;
  }

  get busy(): boolean {
    return this.driving;
  }

  private startDrive(session: NativeTlsSession, pool: HandshakePool): void {
    if (this.driving) return;
    this.driving = true;
    pool.inFlight++;
    const done = (step: number) => {
      pool.inFlight--;
      this.driven(session, step);
    };
    if (!this.addon.tlsDriveAsync(session, done)) {
      pool.inFlight--;
      this.driving = false;
      this.fail();
    }
  }

  /** A worker finished a handshake step: carry on as the synchronous path would have. */
  private driven(session: NativeTlsSession, step: number): void {
    this.driving = false;
    // Closed (or failed) meanwhile: the native side freed the SSL when the step ended.
    if (this.session !== session) return;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    this.pumping = true;
    try {
      const established = this.afterDrive(session, step);
      for (const bytes of held) {
        if (this.session !== session) return;
        if (!this.addon.tlsPut(session, bytes)) {
          this.fail();
          return;
        }
      }
      if (established) this.readRecords();
      else if (held.length > 0 && this.session === session) this.pumpAgain = true;
    } catch (e) {
      // Called from libuv: a throw here would be an uncaught exception in the gateway.
      this.fail({ code: 'TLS_ERROR', message: (e as Error).message });
    } finally {
      this.pumping = false;
    }
    if (this.pumpAgain && this.session !== undefined) this.pump();
  }

  private readRecords(): void {
    for (;;) {
      const session = this.session;
      if (session === undefined) return;
      const record = this.addon.tlsRead(session);
      if (typeof record === 'number') {
        this.flushCiphertext();
        // A close_notify from the peer ends nothing on its own, as with the Node engine: the
        // session core decides what a silent peer means.
        if (record !== STEP_WANT_INPUT && record !== STEP_PEER_CLOSED) this.fail();
        return;
      }
      this.deliver({ kind: 'plaintext', bytes: bytesOf(record) });
    }
  }

  private handshakeDone(session: NativeTlsSession): void {
    const raw = this.addon.tlsInfo(session);
    const info: TlsHandshakeInfo = {
      peerCommonName: raw.commonName,
      peerSerial: normalizeSerialHex(raw.serialNumber),
      peerFingerprint256: raw.fingerprint256,
      protocol: raw.protocol,
      cipher: raw.cipher,
    };
    if (this.side.kind === 'server') {
      if (!raw.hasPeerCertificate) info.peerVerifyError = NO_CLIENT_CERTIFICATE;
      else if (raw.verifyError !== undefined) info.peerVerifyError = raw.verifyError;
      else if (raw.commonName === undefined) info.peerVerifyError = NO_CLIENT_CERTIFICATE;
    } else {
      const refused = checkServerCertificate(asPeerCertificate(raw), this.side.config);
      if (refused !== undefined) {
        const code = (refused as { code?: unknown }).code;
        this.fail({
          code: typeof code === 'string' ? code : 'TLS_ERROR',
          message: refused.message,
        });
        return;
      }
    }
    this.deliver({ kind: 'handshake-done', info });
    const pending = this.pendingPlaintext;
    this.pendingPlaintext = [];
    for (const bytes of pending) this.sendPlaintext(bytes);
  }

  private flushCiphertext(): void {
    for (;;) {
      const session = this.session;
      if (session === undefined) return;
      const bytes = this.addon.tlsTake(session);
      if (bytes === null) return;
      this.deliver({ kind: 'ciphertext', bytes: bytesOf(bytes) });
    }
  }

  private deliver(event: TlsEvent): void {
    if (this.alive) this.emit(event);
  }

  /** Emits the error (OpenSSL's reason unless given one), frees the SSL, and goes quiet. */
  private fail(why?: { code: string; message: string }): void {
    if (!this.alive) return;
    const session = this.session;
    const reason = why ??
      (session !== undefined ? this.addon.tlsError(session) : null) ?? {
        code: 'TLS_ERROR',
        message: 'the TLS session failed',
      };
    this.close();
    this.emit({ kind: 'error', code: reason.code, message: reason.message });
  }
}

/**
 * Where the gateway's handshake steps run. A step (the public-key work, 0.3-1 ms of CPU) on
 * libuv's thread pool leaves the gateway's thread free for everyone else, but costs two thread
 * wake-ups (~0.1 ms each on a VM) on the client's connect. So a lone client's steps run inline;
 * as soon as another handshake is under way, or a step is on the pool, they go to the pool. An
 * engine dropped without close() would leave `handshaking` high: the pool then, as before.
 */
class HandshakePool {
  handshaking = 0;
  inFlight = 0;

  idle(): boolean {
    return this.inFlight === 0 && this.handshaking <= 1;
  }
}

/**
 * Engines for the gateway on OpenSSL directly: client certificates required and verified. With
 * `offloadHandshake`, handshake steps (the public-key work, ~1 ms of CPU per client) run on
 * libuv's thread pool while more than one client is connecting, and their events come from
 * there: the gateway's thread goes on serving (HandshakePool says when).
 */
export function nativeServerTlsEngineFactory(
  config: TlsServerConfig,
  o: { offloadHandshake?: boolean } = {},
): TlsEngineFactory {
  const addon = tlsAddon();
  const context = createContext(addon, true, config);
  const side: Side = { kind: 'server' };
  const pool = o.offloadHandshake === true ? new HandshakePool() : undefined;
  return (_keyId, emit) => new NativeTlsEngine(addon, context, side, emit, pool);
}

/** Engines for `postern connect` on OpenSSL directly, sharing one context. */
export function nativeClientTlsEngineFactory(config: TlsClientConfig): TlsEngineFactory {
  const addon = tlsAddon();
  const context = createContext(addon, false, config);
  const side: Side = {
    kind: 'client',
    config: {
      serverCommonName: config.serverCommonName,
      requireServerAuthUsage: config.requireServerAuthUsage,
    },
  };
  return (_keyId, emit) => new NativeTlsEngine(addon, context, side, emit);
}
