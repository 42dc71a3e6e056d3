// What the session cores need from a TLS implementation, as an interface the I/O layer fills
// (src/io/tls/tls-engine.ts wraps Node's TLSSocket around a byte pipe).
//
// OpenVPN carries TLS records inside its reliable control packets: the core hands the engine the
// ciphertext it received and takes the ciphertext the engine produced back into control packets.
// One engine serves one key state (one key id); a renegotiation starts a fresh engine.
//
// Engines work asynchronously. Whatever they produce (ciphertext, plaintext, the end of the
// handshake, an error) goes to the `emit` callback the core passed when it asked for the engine.
// The core only queues those events; it acts on them in its next call that carries `now`
// (usually `handleTlsEvents(now)`, which the driver calls after the core's `wake` callback).

/** The peer certificate and the TLS parameters, once the handshake is done. */
export interface TlsHandshakeInfo {
  /** The peer certificate's subject commonName; undefined when it has none (or no cert). */
  peerCommonName: string | undefined;
  /** The peer certificate's serial: lowercase hex, no leading zero octets. */
  peerSerial: string | undefined;
  /** SHA-256 of the peer certificate (DER), lowercase hex without separators. */
  peerFingerprint256: string | undefined;
  /** "TLSv1.2" or "TLSv1.3". */
  protocol: string;
  /** The standard (IANA) name of the cipher suite, e.g. "TLS_AES_256_GCM_SHA384". */
  cipher: string;
  /**
   * Server side: why the client certificate did not verify (e.g. "CERT_REVOKED"), or undefined
   * when it did. A session with this set must never produce keys; it only says AUTH_FAILED.
   */
  peerVerifyError?: string;
}

export type TlsEvent =
  /** TLS records to carry to the peer, in order. */
  | { kind: 'ciphertext'; bytes: Uint8Array }
  /** Decrypted application data from the peer, in order (usually one TLS record each). */
  | { kind: 'plaintext'; bytes: Uint8Array }
  | { kind: 'handshake-done'; info: TlsHandshakeInfo }
  /** The TLS session failed (bad certificate, alert, protocol error). No more events follow. */
  | { kind: 'error'; code: string; message: string };

/** One TLS session over a byte pipe. */
export interface TlsEngine {
  /** TLS bytes from the peer, in order, cut anywhere. */
  receiveCiphertext(bytes: Uint8Array): void;
  /** Application data to send; one call becomes one TLS record (OpenVPN relies on that). */
  sendPlaintext(bytes: Uint8Array): void;
  /** RFC 5705 exporter without context; only after `handshake-done`. */
  exportKeyingMaterial(length: number, label: string): Uint8Array;
  /**
   * Optional: gives back the memory an established session no longer needs (the OpenSSL engine
   * frees its SSL and carries on with its own TLS 1.3 record layer). Call it only once every
   * `exportKeyingMaterial` this session will need has been made: afterwards that throws
   * TLS_NOT_READY. Sending and receiving, and their events, go on as before. Returns false,
   * changing nothing, when the engine cannot (TLS 1.2, bytes in flight, a post-handshake
   * message seen); true once compacted.
   */
  compact?(): boolean;
  /**
   * Optional: a handshake step is running elsewhere (a thread pool) and will emit its output
   * when done. The key state holds a bare ACK meanwhile, so the output carries the acks.
   */
  readonly busy?: boolean;
  /** Ends the session; no events are emitted afterwards. */
  close(): void;
}

/**
 * Makes the engine of one key state. `emit` may be called at any time, even synchronously from
 * inside an engine method; the core only queues what it receives.
 */
export type TlsEngineFactory = (keyId: number, emit: (event: TlsEvent) => void) => TlsEngine;
