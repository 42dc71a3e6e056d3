// One client on the gateway, from the packet that proved its HMAC cookie (first-contact.ts) to
// its end, as an OpenVPN 2.6 server runs it (ssl.c, multi.c, push.c):
//
//   TLS handshake (client certificate required; its commonName is the user)
//   key method 2: read the client's username, password and peer-info, answer with ours
//   NCP: the first of our data-ciphers the client lists; none → AUTH_FAILED, close
//   `authenticate` output → the gateway answers accept(pushConfig) or reject(reason)
//   accept: data keys (TLS-EKM when the client can, else the TLS PRF), `keys`, `established`,
//           PUSH_REPLY right away if the client announced IV_PROTO_REQUEST_PUSH, else on its
//           PUSH_REQUEST (a repeated request within 30 s is ignored, as push.c does)
//   reject: AUTH_FAILED[,reason], then closed once it is acknowledged
//
// PUSH_REPLY carries the gateway's PushConfig plus what this session negotiated, in the order a
// 2.6 server writes them: `peer-id` (DATA_V2 clients), `cipher`, then `protocol-flags cc-exit
// tls-ekm dyn-tls-crypt` for clients with IV_PROTO_CC_EXIT_NOTIFY, or `key-derivation tls-ekm`
// for older EKM-capable ones. Against `--server 100.64.0.0 255.255.255.0 --topology subnet
// --keepalive 1 10`, a stock 2.6 server sent a 2.6 client exactly:
//   PUSH_REPLY,route-gateway 100.64.0.1,topology subnet,ping 1,ping-restart 10,
//   ifconfig 100.64.0.2 255.255.255.0,peer-id 0,cipher AES-256-GCM,
//   protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500
//
// Renegotiations keep the same user: a new TLS session must present a certificate with the same
// commonName and the same username, or the session ends.
import { parseAeadAlgorithm } from '../../../crypto/aead.js';
import type { AeadAlgorithm } from '../../../crypto/aead.js';
import { PosternError } from '../../../errors.js';
import { EKM_LABEL_DYNAMIC_TLS_CRYPT, KEY2_SIZE, Opcode } from '../../../wire/openvpn/constants.js';
import type { ControlPacket } from '../../../wire/openvpn/control-packet.js';
import { formatControlMessage, parseControlMessage } from '../control-messages.js';
import { RANDOM_BYTES } from '../key-method2.js';
import type { KeyMethod2Message } from '../key-method2.js';
import type { RenegotiationPolicy } from '../key-state-timers.js';
import {
  DEFAULT_DATA_CIPHERS,
  NO_SHARED_CIPHER_AUTH_FAILED,
  NO_SHARED_CIPHER_REASON,
  negotiateCipher,
} from '../ncp.js';
import { parsePeerInfo, peerSupports } from '../peer-info.js';
import type { PeerInfo } from '../peer-info.js';
import { buildPushReplies } from '../push-reply.js';
import type { ProtocolFlag, PushConfig } from '../push-reply.js';
import { newSessionId } from '../session-id.js';
import type { RandomBytes } from '../session-id.js';
import { ControlChannel } from './control-channel.js';
import type { TlsCryptV2Metadata } from '../../../crypto/tls-crypt-v2.js';
import type { ServerSessionStart } from './first-contact.js';
import type { KeyState, KeyStateEvent } from './key-state.js';
import { SessionCore, secondsToMs } from './session-core.js';
import type { CommonOutput, Transport } from './session-core.js';
import type { TlsEngineFactory, TlsHandshakeInfo } from './tls-engine.js';

/** push.c: a PUSH_REQUEST this soon after a PUSH_REPLY is not answered again. */
export const PUSH_REPLY_REPEAT_GUARD_SEC = 30;
/** multi.c: the server's own ping-restart is twice what it pushes (`keepalive` expansion). */
const SERVER_PING_RESTART_FACTOR = 2;

/** What the gateway decides on: who is asking, with what. */
export interface AuthRequest {
  /** The client certificate's commonName: the user name. */
  commonName: string | undefined;
  certSerial: string | undefined;
  certFingerprint256: string | undefined;
  /** From key method 2 (`auth-user-pass`); undefined when the client sent none. */
  username: string | undefined;
  password: string | undefined;
  peerInfo: PeerInfo;
  /** The raw peer-info text. */
  peerInfoText: string | undefined;
  /** tls-crypt-v2: the metadata in the client's WKc. */
  wkcMetadata: TlsCryptV2Metadata | undefined;
  /** The data-channel cipher NCP chose. */
  cipher: AeadAlgorithm;
  tls: TlsHandshakeInfo;
}

export interface ServerEstablished {
  kind: 'established';
  commonName: string | undefined;
  username: string | undefined;
  cipher: AeadAlgorithm;
  peerId: number | undefined;
  tls: TlsHandshakeInfo;
}

export type ServerOutput =
  CommonOutput | { kind: 'authenticate'; request: AuthRequest } | ServerEstablished;

export interface ServerSessionOptions {
  /** From handleFirstContact's `open` verdict. */
  start: ServerSessionStart;
  createTls: TlsEngineFactory;
  random: RandomBytes;
  /** The caller's clock, ms since the Unix epoch. */
  now: number;
  /** `data-ciphers`, in preference order; AEAD ciphers only. Default 2.6's list. */
  dataCiphers?: readonly string[];
  /** The DATA_V2 peer id this client gets (pushed only to clients that announce DATA_V2). */
  peerId?: number;
  renegotiation?: RenegotiationPolicy;
  transport?: Transport;
  /** The OCC options string in our key method 2; a 2.6 server's by default. */
  occOptions?: string;
  /** Called when TLS events wait: call `handleTlsEvents(now)` soon (never synchronously). */
  wake?: () => void;
}

/** What a 2.6 server with `--dev tun`, no `cipher`, writes (the client only compares it). */
export function serverOccOptions(transport: Transport): string {
  const proto = transport === 'udp' ? 'UDPv4' : 'TCPv4_SERVER';
  return `V4,dev-type tun,link-mtu 1541,tun-mtu 1500,proto ${proto},auth SHA1,keysize 128,key-method 2,tls-server`;
}

/** Built once: every session refers to the same strings instead of holding its own copy. */
const DEFAULT_OCC_OPTIONS: Readonly<Record<Transport, string>> = {
  udp: serverOccOptions('udp'),
  tcp: serverOccOptions('tcp'),
};

/** The opcodes a peer's message 0 may carry, one shared list per opcode (not one per key). */
const CLIENT_RESET_OPCODES: Readonly<
  Record<ServerSessionStart['clientResetOpcode'], readonly Opcode[]>
> = {
  [Opcode.CONTROL_HARD_RESET_CLIENT_V2]: [Opcode.CONTROL_HARD_RESET_CLIENT_V2],
  [Opcode.CONTROL_HARD_RESET_CLIENT_V3]: [Opcode.CONTROL_HARD_RESET_CLIENT_V3],
};
const SOFT_RESET_OPCODES: readonly Opcode[] = [Opcode.CONTROL_SOFT_RESET_V1];

type AuthState =
  | { kind: 'waiting' }
  | { kind: 'pending' }
  | {
      kind: 'accepted';
      /** The config, until the first PUSH_REPLY is built from it. */
      pushConfig: PushConfig | undefined;
      /**
       * The PUSH_REPLY messages once built: what this session negotiated no longer changes, and
       * a few strings are much smaller to keep than the config's objects and arrays.
       */
      replies: readonly string[] | undefined;
      ping: number | undefined;
      pingRestart: number | undefined;
    }
  | { kind: 'rejected' };

export class ServerSession extends SessionCore<
  { kind: 'authenticate'; request: AuthRequest } | ServerEstablished
> {
  // An established session lives long and idle, so it keeps only what it still uses: what the
  // start, the first handshake and the first key method 2 brought is reduced to a few fields
  // once it has served (see accept()).
  private readonly clientResetOpcodes: readonly Opcode[];
  /** Until the authenticate request carries it away. */
  private wkcMetadata: TlsCryptV2Metadata | undefined;
  /** The configured list as given (shared between sessions); filtered when NCP runs. */
  private readonly dataCiphers: readonly string[];
  private readonly assignedPeerId: number | undefined;
  private readonly occOptions: string;
  private auth: AuthState = { kind: 'waiting' };
  /** The first handshake's details, until the `established` output has carried them away. */
  private firstTls: TlsHandshakeInfo | undefined;
  private firstHandshakeDone = false;
  private firstCommonName: string | undefined;
  private firstKeyMethod2Done = false;
  private firstUsername: string | undefined;
  /** The client's peer-info, until accept(); then only what PUSH_REPLY needs of it. */
  private peer: PeerInfo | undefined;
  private peerCcExitNotify = false;
  private peerMtu: number | undefined;
  private pushRequested = false;
  private lastPushAt: number | undefined;
  /** A key to compact at the next packet or timer (after its PUSH_REPLY has left). */
  private compactDue: KeyState | undefined;

  constructor(options: ServerSessionOptions) {
    const start = options.start;
    super({
      role: 'server',
      localSessionId: start.serverSessionId ?? newSessionId(options.random),
      remoteSessionId: start.clientSessionId,
      control: new ControlChannel({
        role: 'server',
        ...(start.tlsCryptKey !== undefined ? { tlsCryptKey: start.tlsCryptKey } : {}),
        expectWrappedClientKey: start.expectWrappedClientKey,
        firstSendPacketId: start.firstWrapPacketId,
        now: options.now,
      }),
      createTls: options.createTls,
      random: options.random,
      ...(options.renegotiation !== undefined ? { renegotiation: options.renegotiation } : {}),
      ...(options.wake !== undefined ? { wake: options.wake } : {}),
    });
    this.clientResetOpcodes = CLIENT_RESET_OPCODES[start.clientResetOpcode];
    this.wkcMetadata = start.wkcMetadata;
    this.dataCiphers = options.dataCiphers ?? DEFAULT_DATA_CIPHERS;
    this.assignedPeerId = options.peerId;
    this.occOptions = options.occOptions ?? DEFAULT_OCC_OPTIONS[options.transport ?? 'udp'];
    this.schedule.startFirstKey(options.now);
    this.primary = this.newKeyState(
      0,
      start.mode === 'cookie' ? undefined : Opcode.CONTROL_HARD_RESET_SERVER_V2,
    );
  }

  // What the gateway asks.

  /** The client certificate's commonName (the user), once the first handshake is done. */
  get commonName(): string | undefined {
    return this.firstCommonName;
  }

  get username(): string | undefined {
    return this.firstUsername;
  }

  get cipher(): AeadAlgorithm | undefined {
    return this.dataParams?.cipher;
  }

  /** The DATA_V2 peer id in use; undefined for a DATA_V1 client or before `accept`. */
  get peerId(): number | undefined {
    return this.dataParams?.peerId;
  }

  /**
   * What the gateway's keepalive runs on, from the accepted push config: send a ping after
   * `pingIntervalSec` without sending, drop the client after `timeoutSec` without hearing from
   * it (twice the pushed ping-restart, as `--keepalive` makes a server do).
   */
  get keepalive(): { pingIntervalSec: number; timeoutSec: number } | undefined {
    if (this.auth.kind !== 'accepted') return undefined;
    const { ping, pingRestart } = this.auth;
    if (ping === undefined || pingRestart === undefined) return undefined;
    return { pingIntervalSec: ping, timeoutSec: pingRestart * SERVER_PING_RESTART_FACTOR };
  }

  /** The gateway's yes to `authenticate`: install keys and push `pushConfig`. */
  accept(pushConfig: PushConfig, now: number): ServerOutput[] {
    if (this.closed) return []; // the client left while the gateway was deciding
    if (this.auth.kind !== 'pending') {
      throw new PosternError('OVPN_SESSION_STATE', 'accept() without a pending authenticate');
    }
    return this.run(now, () => {
      const key = this.primary;
      if (key === undefined || key.keyId !== 0 || key.phase !== 'key-exchanged') return;
      this.auth = {
        kind: 'accepted',
        pushConfig,
        replies: undefined,
        ping: pushConfig.ping,
        pingRestart: pushConfig.pingRestart,
      };
      const peer = this.peer as PeerInfo;
      this.peer = undefined;
      this.peerCcExitNotify = peerSupports(peer, 'CC_EXIT_NOTIFY');
      this.peerMtu = peer.mtu;
      if (this.control.wrapped && peerSupports(peer, 'DYN_TLS_CRYPT')) {
        this.control.enableDynamicTlsCrypt(
          key.tls.exportKeyingMaterial(KEY2_SIZE, EKM_LABEL_DYNAMIC_TLS_CRYPT),
          now,
        );
      }
      this.activateKey(key, now);
      const params = this.dataParams;
      const tls = this.firstTls;
      if (params === undefined || tls === undefined) return;
      this.firstTls = undefined;
      this.emit({
        kind: 'established',
        commonName: this.commonName,
        username: this.username,
        cipher: params.cipher,
        peerId: params.peerId,
        tls,
      });
      if (this.pushRequested || peerSupports(peer, 'REQUEST_PUSH')) this.sendPushReply(now);
    });
  }

  /** The gateway's no: AUTH_FAILED (with `reason`, if given), then the session closes. */
  reject(reason: string | undefined, now: number): ServerOutput[] {
    if (this.closed) return [];
    if (this.auth.kind !== 'pending') {
      throw new PosternError('OVPN_SESSION_STATE', 'reject() without a pending authenticate');
    }
    return this.run(now, () => {
      this.auth = { kind: 'rejected' };
      const text = formatControlMessage(
        reason === undefined ? { kind: 'auth-failed' } : { kind: 'auth-failed', reason },
      );
      this.sendFinalMessage(text, 'auth-failed', reason, now);
    });
  }

  /**
   * Ends the session as OpenVPN's management `kill` does: RESTART (the client reconnects) or
   * HALT (it stops), with `reason` for its log, then closed once acknowledged or after 5 s.
   */
  kick(
    reason: string | undefined,
    now: number,
    signal: 'restart' | 'halt' = 'restart',
  ): ServerOutput[] {
    return this.run(now, () => {
      const text = formatControlMessage(
        reason === undefined ? { kind: signal } : { kind: signal, text: reason },
      );
      this.sendFinalMessage(text, 'kicked', reason, now);
    });
  }

  /**
   * The gateway is stopping: RESTART, so the client reconnects at once (to this gateway when it
   * is back, or to its next remote) instead of after ping-restart, as OpenVPN's server does with
   * explicit-exit-notify. Closed (reason shutdown) once acknowledged or after the linger.
   */
  goodbye(now: number): ServerOutput[] {
    return this.run(now, () => {
      const text = formatControlMessage({ kind: 'restart' });
      this.sendFinalMessage(text, 'shutdown', 'the gateway is stopping', now);
    });
  }

  // Session hooks.

  protected peerResetOpcodes(keyId: number): readonly Opcode[] {
    return keyId === 0 ? this.clientResetOpcodes : SOFT_RESET_OPCODES;
  }

  protected newLocalKeyMethod2(): KeyMethod2Message {
    return {
      random1: this.random(RANDOM_BYTES),
      random2: this.random(RANDOM_BYTES),
      options: this.occOptions,
    };
  }

  protected adoptsPeerSessionId(_packet: ControlPacket): boolean {
    return false; // the start already names the client
  }

  protected onKeyEvent(state: KeyState, event: KeyStateEvent, now: number): void {
    switch (event.kind) {
      case 'handshake-done':
        if (state.keyId === 0 && !this.firstHandshakeDone) {
          this.firstHandshakeDone = true;
          this.firstTls = event.info;
          this.firstCommonName = event.info.peerCommonName;
        } else if (event.info.peerVerifyError !== undefined) {
          this.closeNow(
            'tls-error',
            `client certificate refused on renegotiation: ${event.info.peerVerifyError}`,
          );
        } else if (event.info.peerCommonName !== this.firstCommonName) {
          this.closeNow('tls-error', 'the certificate commonName changed on renegotiation');
        }
        return;
      case 'key-method-2':
        if (!this.firstKeyMethod2Done && state.keyId === 0) {
          this.firstKeyExchanged(event.message, now);
        } else if (event.message.username !== this.firstUsername) {
          this.closeNow('tls-error', 'the username changed on renegotiation');
        } else if (this.dataParams !== undefined) {
          this.activateKey(state, now);
          // A renegotiated key exports nothing more once its data keys are out (see above).
          state.tls.compact?.();
        }
        return;
      case 'control-message':
        this.onControlMessage(event.text, now);
        return;
      default:
        return;
    }
  }

  // Internals.

  private run(now: number, action: () => void): ServerOutput[] {
    const before = this.handleTlsEvents(now);
    action();
    return [...before, ...this.handleTlsEvents(now)];
  }

  private firstKeyExchanged(message: KeyMethod2Message, now: number): void {
    this.firstKeyMethod2Done = true;
    this.firstUsername = message.username;
    // TLS finished with a certificate that did not verify (revoked, another CA, expired): no
    // keys, no questions to the gateway; AUTH_FAILED tells the client why it need not retry.
    const verifyError = this.firstTls?.peerVerifyError;
    if (verifyError !== undefined) {
      this.sendFinalMessage(
        formatControlMessage({ kind: 'auth-failed' }),
        'auth-failed',
        `client certificate refused: ${verifyError}`,
        now,
      );
      return;
    }
    const peer = parsePeerInfo(message.peerInfo);
    this.peer = peer;
    const ncp = negotiateCipher({
      serverCiphers: this.dataCiphers.filter(
        (c) => parseAeadAlgorithm(c.replace(/^\?/, '')) !== undefined,
      ),
      peerInfo: peer,
      occOptions: message.options,
    });
    // dataCiphers holds AEAD ciphers only, so a chosen cipher always parses.
    const cipher = ncp.ok ? parseAeadAlgorithm(ncp.cipher) : undefined;
    if (cipher === undefined) {
      this.sendFinalMessage(
        NO_SHARED_CIPHER_AUTH_FAILED,
        'auth-failed',
        NO_SHARED_CIPHER_REASON,
        now,
      );
      return;
    }
    this.dataParams = {
      cipher,
      derivation: peerSupports(peer, 'TLS_KEY_EXPORT') ? 'tls-ekm' : 'tls-prf',
      peerId: peerSupports(peer, 'DATA_V2') ? this.assignedPeerId : undefined,
    };
    this.auth = { kind: 'pending' };
    const tls = this.firstTls as TlsHandshakeInfo;
    const wkcMetadata = this.wkcMetadata;
    this.wkcMetadata = undefined;
    this.emit({
      kind: 'authenticate',
      request: {
        commonName: tls.peerCommonName,
        certSerial: tls.peerSerial,
        certFingerprint256: tls.peerFingerprint256,
        username: message.username,
        password: message.password,
        peerInfo: peer,
        peerInfoText: message.peerInfo,
        wkcMetadata,
        cipher,
        tls,
      },
    });
  }

  private onControlMessage(text: string, now: number): void {
    const message = parseControlMessage(text);
    switch (message.kind) {
      case 'push-request':
        if (!this.isOpen) return;
        if (this.auth.kind !== 'accepted') {
          this.pushRequested = true;
          return;
        }
        if (
          this.lastPushAt !== undefined &&
          now - this.lastPushAt < secondsToMs(PUSH_REPLY_REPEAT_GUARD_SEC)
        ) {
          return;
        }
        this.sendPushReply(now);
        return;
      case 'exit':
        this.closeNow('exit', 'the client said EXIT');
        return;
      default:
        this.countDrop(`ignored-${message.kind}`);
    }
  }

  private sendPushReply(now: number): void {
    const auth = this.auth;
    if (auth.kind !== 'accepted' || this.dataParams === undefined) return;
    let replies = auth.replies;
    if (replies === undefined) {
      // slice(): an exact-size copy, not the builder's grown array.
      replies = buildPushReplies(this.pushOptions(auth.pushConfig as PushConfig)).slice();
      auth.replies = replies;
      auth.pushConfig = undefined;
    }
    for (const text of replies) this.sendControlMessage(text);
    this.lastPushAt = now;
    // Once a key is active its data keys (and, for key 0, the dynamic tls-crypt key) have been
    // exported, and what remains on its TLS session is a few small control messages: let the
    // engine free what it no longer needs (an idle session's biggest cost). A PUSH_REPLY held
    // by a key still negotiating must not: its data keys are yet to be exported. Done at the
    // next packet (the client's ACK of this reply) or timer, not before the reply leaves: it
    // was ~0.2 ms of each connect.
    const key = this.controlKey();
    if (key?.phase === 'active') this.compactDue = key;
  }

  protected override deferredWork(): void {
    const key = this.compactDue;
    if (key === undefined) return;
    this.compactDue = undefined;
    key.tls.compact?.();
  }

  /** The gateway's config plus what this session negotiated (push.c prepare_push_reply). */
  private pushOptions(base: PushConfig): PushConfig {
    const params = this.dataParams as NonNullable<typeof this.dataParams>;
    const config: PushConfig = { ...base, cipher: params.cipher };
    delete config.protocolFlags;
    delete config.keyDerivation;
    if (params.peerId !== undefined) config.peerId = params.peerId;
    else delete config.peerId;
    const ekm = params.derivation === 'tls-ekm';
    if (this.peerCcExitNotify) {
      const flags: ProtocolFlag[] = ['cc-exit'];
      if (ekm) flags.push('tls-ekm');
      if (this.control.dynamicTlsCrypt) flags.push('dyn-tls-crypt');
      config.protocolFlags = flags;
    } else if (ekm) {
      config.keyDerivation = 'tls-ekm';
    }
    // A client takes a pushed tun-mtu only up to the IV_MTU it announced.
    const mtu = this.peerMtu;
    if (config.tunMtu !== undefined && (mtu === undefined || mtu < config.tunMtu)) {
      delete config.tunMtu;
    }
    return config;
  }
}
