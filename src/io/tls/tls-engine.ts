// The TLS engine of the OpenVPN session cores: Node's TLSSocket wrapped around an in-memory
// Duplex, so TLS records go wherever the core puts them (inside OpenVPN control packets) instead
// of a socket. Ciphertext the peer sent is pushed into the Duplex; what TLS writes to the Duplex
// comes back out as `ciphertext` events.
//
// Server side (the gateway): certificate authentication is mandatory (requestCert +
// rejectUnauthorized against our CA and CRL), the client certificate's commonName is the user.
// Client side (`postern connect`): the server certificate must chain to the CA, carry the
// serverAuth extended key usage (what `remote-cert-tls server` checks), and optionally have a
// given commonName (`verify-x509-name <name> name`). Both sides: TLS 1.2 or newer, ECDHE only.
import { createHash, constants as cryptoConstants } from 'node:crypto';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, createSecureContext, Server as TlsServer } from 'node:tls';
import type { PeerCertificate, SecureContext, TlsOptions, TLSSocket } from 'node:tls';
import { PosternError } from '../../errors.js';
import type {
  TlsEngine,
  TlsEngineFactory,
  TlsEvent,
  TlsHandshakeInfo,
} from '../../proto/openvpn/session/tls-engine.js';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * ECDHE suites only. TLS 1.3 suites always use (EC)DHE, and `ECDH_CURVES` keeps the groups to
 * elliptic curves; the TLS 1.2 list names ECDHE with AEAD ciphers and nothing else.
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export const ECDH_CURVES = 'X25519:P-256:P-384:P-521';

/** id-kp-serverAuth (RFC 5280 4.2.1.12). */
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

export interface TlsServerConfig {
  /** Our certificate (PEM, chain allowed) and key. */
  cert: string;
  key: string;
  /** CA certificate(s) client certificates must chain to. */
  ca: string | readonly string[];
  /** Revocation list(s); with one, every client certificate is checked against it. */
  crl?: string | readonly string[];
  /** Oldest TLS version accepted; 1.2 by default. */
  minVersion?: TlsVersion;
  /** Newest TLS version offered (`--tls-version-max`); 1.3 by default. */
  maxVersion?: TlsVersion;
}

export interface TlsClientConfig {
  /** CA certificate(s) the server certificate must chain to. */
  ca: string | readonly string[];
  /** Our certificate and key, when the server asks for one (Postern always does). */
  cert?: string;
  key?: string;
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  /** Require this commonName on the server certificate. */
  serverCommonName?: string;
  /** Require the serverAuth extended key usage; true by default. */
  requireServerAuthUsage?: boolean;
}

function list(value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? [value] : [...value];
}

interface ContextConfig {
  cert?: string;
  key?: string;
  ca: string | readonly string[];
  crl?: string | readonly string[];
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
}

type TlsServerOptions = TlsOptions;

function contextOptions(config: ContextConfig): TlsOptions {
  return {
    ...(config.cert !== undefined ? { cert: config.cert } : {}),
    ...(config.key !== undefined ? { key: config.key } : {}),
    ca: list(config.ca),
    ...(config.crl !== undefined ? { crl: list(config.crl) } : {}),
    minVersion: config.minVersion ?? 'TLSv1.2',
    maxVersion: config.maxVersion ?? 'TLSv1.3',
    ciphers: TLS_CIPHERS,
    ecdhCurve: ECDH_CURVES,
    honorCipherOrder: true,
    // No compression and no renegotiation inside TLS: OpenVPN renegotiates with a new session.
    secureOptions: cryptoConstants.SSL_OP_NO_COMPRESSION | cryptoConstants.SSL_OP_NO_RENEGOTIATION,
  };
}

function serverOptions(config: TlsServerConfig): TlsServerOptions {
  // The verdict on the client certificate is carried in handshake-done (peerVerifyError) so
  // the session can say AUTH_FAILED; see NodeTlsEngine.server.
  return { ...contextOptions(config), requestCert: true, rejectUnauthorized: false };
}

function secureContext(config: ContextConfig): SecureContext {
  try {
    return createSecureContext(contextOptions(config));
  } catch (e) {
    throw new PosternError(
      'TLS_BAD_CONFIG',
      `cannot set up TLS: ${(e as Error).message}`,
      'check the certificate, key, CA and CRL files',
    );
  }
}

function commonNameOf(cert: PeerCertificate): string | undefined {
  const cn: unknown = cert.subject?.CN;
  if (typeof cn === 'string') return cn;
  if (Array.isArray(cn) && typeof cn[0] === 'string') return cn[0];
  return undefined;
}

function handshakeInfo(socket: TLSSocket): TlsHandshakeInfo {
  const cert = socket.getPeerCertificate();
  const hasCert = cert !== undefined && Object.keys(cert).length > 0;
  const cipher = socket.getCipher();
  return {
    peerCommonName: hasCert ? commonNameOf(cert) : undefined,
    peerSerial: hasCert ? normalizeSerialHex(cert.serialNumber) : undefined,
    peerFingerprint256:
      hasCert && cert.raw ? createHash('sha256').update(cert.raw).digest('hex') : undefined,
    protocol: socket.getProtocol() ?? 'unknown',
    cipher: cipher.standardName ?? cipher.name,
  };
}

/** A certificate serial as hex: lowercase, no separators, no leading zero octets. */
export function normalizeSerialHex(serial: string | undefined): string | undefined {
  if (serial === undefined) return undefined;
  let hex = serial
    .toLowerCase()
    .replace(/[^0-9a-f]/g, '')
    .replace(/^0+/, '');
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return hex === '' ? '00' : hex;
}

function errorEvent(e: unknown): TlsEvent {
  const err = e as { code?: unknown; message?: unknown };
  return {
    kind: 'error',
    code: typeof err.code === 'string' ? err.code : 'TLS_ERROR',
    message: typeof err.message === 'string' ? err.message : String(e),
  };
}

/** One TLS session over an in-memory pipe. */
export class NodeTlsEngine implements TlsEngine {
  private readonly pipe: Duplex;
  /** The TLS socket; on the server side it is only known once the handshake succeeded. */
  private socket: TLSSocket | undefined;
  private pendingPlaintext: Buffer[] = [];
  private closed = false;
  private failed = false;
  /** Failed, but the last records TLS wrote (its alert) are still on their way out. */
  private failing = false;

  private constructor(private readonly emit: (event: TlsEvent) => void) {
    this.pipe = new Duplex({
      read() {
        // Ciphertext is pushed in receiveCiphertext; nothing to fetch on demand.
      },
      write: (chunk: Buffer, _encoding, callback) => {
        this.deliver({ kind: 'ciphertext', bytes: new Uint8Array(chunk) });
        callback();
      },
      final(callback) {
        callback();
      },
    });
    this.pipe.on('error', (e: unknown) => this.fail(e));
  }

  /**
   * The gateway's side of one key state. A standalone server TLSSocket never looks at the
   * client certificate's verification result (only tls.Server does, before it announces the
   * connection), so each engine hands its pipe to a tls.Server of its own and reports the
   * verdict in `handshake-done` (peerVerifyError): a client whose certificate does not verify
   * gets AUTH_FAILED from the session and never any key.
   */
  static server(options: TlsServerOptions, emit: (event: TlsEvent) => void): NodeTlsEngine {
    const engine = new NodeTlsEngine(emit);
    const server = new TlsServer(options);
    server.on('secureConnection', (socket: TLSSocket) => {
      engine.attach(socket);
      const info = handshakeInfo(socket);
      if (!socket.authorized || info.peerCommonName === undefined) {
        // The session stays up only to carry AUTH_FAILED (the core derives no keys for it):
        // with TLS 1.3 the client has finished before we judge its certificate, and closing
        // now would leave it waiting out hand-window instead of learning it is refused.
        info.peerVerifyError = String(socket.authorizationError ?? 'no client certificate');
      }
      engine.deliver({ kind: 'handshake-done', info });
    });
    server.on('tlsClientError', (e: Error, socket: TLSSocket) => {
      const why = socket.authorizationError;
      engine.fail(
        why
          ? new PosternError(
              'TLS_CLIENT_CERT_REFUSED',
              `client certificate refused: ${String(why)}`,
            )
          : e,
      );
    });
    server.emit('connection', engine.pipe);
    return engine;
  }

  /** `postern connect`'s side of one key state. */
  static client(
    context: SecureContext,
    config: TlsClientConfig,
    emit: (event: TlsEvent) => void,
  ): NodeTlsEngine {
    const engine = new NodeTlsEngine(emit);
    const socket = tlsConnect({
      socket: engine.pipe,
      secureContext: context,
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => checkServerCertificate(cert, config),
    });
    engine.attach(socket);
    socket.on('secureConnect', () => {
      engine.deliver({ kind: 'handshake-done', info: handshakeInfo(socket) });
    });
    return engine;
  }

  receiveCiphertext(bytes: Uint8Array): void {
    if (this.closed || this.failed || this.failing || bytes.length === 0) return;
    this.pipe.push(Buffer.from(bytes));
  }

  sendPlaintext(bytes: Uint8Array): void {
    if (this.closed || this.failed || this.failing || bytes.length === 0) return;
    if (this.socket === undefined) this.pendingPlaintext.push(Buffer.from(bytes));
    else this.socket.write(Buffer.from(bytes));
  }

  exportKeyingMaterial(length: number, label: string): Uint8Array {
    const socket = this.socket;
    if (this.closed || this.failed || socket === undefined) {
      throw new PosternError('TLS_NOT_READY', 'keying material asked of an unfinished TLS session');
    }
    // OpenVPN exports without a context; @types/node makes the argument look mandatory, but
    // passing even an empty one would change the TLS 1.2 output (RFC 5705 section 4).
    const exportWithoutContext = socket.exportKeyingMaterial.bind(socket) as (
      length: number,
      label: string,
    ) => Buffer;
    return new Uint8Array(exportWithoutContext(length, label));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pendingPlaintext = [];
    this.socket?.destroy();
    this.pipe.destroy();
  }

  private attach(socket: TLSSocket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.deliver({ kind: 'plaintext', bytes: new Uint8Array(chunk) });
    });
    socket.on('error', (e: unknown) => this.fail(e));
    for (const bytes of this.pendingPlaintext) socket.write(bytes);
    this.pendingPlaintext = [];
  }

  private deliver(event: TlsEvent): void {
    if (this.closed || this.failed) return;
    this.emit(event);
  }

  private fail(e: unknown): void {
    if (this.closed || this.failed || this.failing) return;
    // OpenSSL writes its alert (e.g. "certificate revoked") as it fails; let that reach the
    // peer as ciphertext before the error, so the peer learns why instead of timing out.
    this.failing = true;
    setImmediate(() => {
      if (this.closed) return;
      this.failed = true;
      this.emit(errorEvent(e));
      this.socket?.destroy();
      this.pipe.destroy();
    });
  }
}

/** `remote-cert-tls server` (EKU serverAuth) and the optional commonName pin. */
export function checkServerCertificate(
  cert: PeerCertificate,
  config: Pick<TlsClientConfig, 'serverCommonName' | 'requireServerAuthUsage'>,
): Error | undefined {
  if (config.requireServerAuthUsage ?? true) {
    const usages = (cert as PeerCertificate & { ext_key_usage?: string[] }).ext_key_usage;
    if (!usages?.includes(OID_SERVER_AUTH)) {
      return new PosternError(
        'TLS_SERVER_NOT_SERVER_CERT',
        'the server certificate lacks the serverAuth extended key usage',
        'issue the gateway a server certificate (postern init does)',
      );
    }
  }
  if (config.serverCommonName !== undefined) {
    const cn = commonNameOf(cert);
    if (cn !== config.serverCommonName) {
      return new PosternError(
        'TLS_SERVER_NAME_MISMATCH',
        `the server certificate is for "${cn ?? ''}", expected "${config.serverCommonName}"`,
      );
    }
  }
  return undefined;
}

/** Engines for the gateway: client certificates required and verified. */
export function serverTlsEngineFactory(config: TlsServerConfig): TlsEngineFactory {
  const options = serverOptions(config);
  secureContext(config); // fail now, not at the first client, on a bad certificate or key
  return (_keyId, emit) => NodeTlsEngine.server(options, emit);
}

/** Engines for `postern connect`, sharing one secure context. */
export function clientTlsEngineFactory(config: TlsClientConfig): TlsEngineFactory {
  const context = secureContext(config);
  return (_keyId, emit) => NodeTlsEngine.client(context, config, emit);
}
