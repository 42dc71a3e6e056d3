// `postern connect`'s side of an OpenVPN 2.6 session, in pull mode (`--client`):
//
//   HARD_RESET_CLIENT_V2 (tls-crypt), or V3 with WKc (tls-crypt-v2; tls-crypt ids from
//   0x0f000001 to announce early negotiation, then CONTROL_WKC_V1 for the first TLS packet if
//   the server's reset asks for WKc again)
//   TLS with our certificate; the server's must chain to the CA and carry serverAuth
//   key method 2 with username/password and our peer-info
//   PUSH_REQUEST, repeated every 5 s until a PUSH_REPLY series is complete
//   PUSH_REPLY: cipher, peer-id, protocol-flags / key-derivation → data keys → `configured`,
//   `keys`, `established`
//   AUTH_FAILED → `refused` then `closed`; RESTART / HALT → `closed`
//   renegotiations send a pushed `auth-token` in place of the password, as OpenVPN does
//
// The server may renegotiate (SOFT_RESET_V1) at any time; we renegotiate after reneg-sec too.
import { parseAeadAlgorithm } from '../../../crypto/aead.js';
import type { AeadAlgorithm } from '../../../crypto/aead.js';
import {
  EARLY_NEG_FLAG_RESEND_WKC,
  EARLY_NEG_START,
  EKM_LABEL_DYNAMIC_TLS_CRYPT,
  KEY2_SIZE,
  Opcode,
} from '../../../wire/openvpn/constants.js';
import type { ControlPacket } from '../../../wire/openvpn/control-packet.js';
import type { MessageOpcode } from '../../../wire/openvpn/opcode.js';
import { earlyNegotiationFlags, parseTlvs } from '../../../wire/openvpn/early-negotiation.js';
import { PUSH_REQUEST_INTERVAL_SEC } from '../constants.js';
import { formatControlMessage, parseControlMessage } from '../control-messages.js';
import { PRE_MASTER_BYTES, RANDOM_BYTES } from '../key-method2.js';
import type { KeyMethod2Message } from '../key-method2.js';
import type { RenegotiationPolicy } from '../key-state-timers.js';
import { DEFAULT_DATA_CIPHERS, canonicalCipherName } from '../ncp.js';
import { buildPeerInfo, POSTERN_CLIENT_PROTO_FLAGS } from '../peer-info.js';
import type { ClientPeerInfoOptions, IvProtoFlag } from '../peer-info.js';
import { interpretPushOptions, PushReplyAssembler } from '../push-reply.js';
import type { PushedConfig } from '../push-reply.js';
import { newSessionId } from '../session-id.js';
import type { RandomBytes } from '../session-id.js';
import { ControlChannel } from './control-channel.js';
import type { KeyState, KeyStateEvent } from './key-state.js';
import { SessionCore, secondsToMs } from './session-core.js';
import type { CommonOutput, Transport } from './session-core.js';
import type { TlsEngineFactory, TlsHandshakeInfo } from './tls-engine.js';

/** How the client protects its control channel (from the profile). */
export type ClientControlWrap =
  | { kind: 'tls-crypt'; key: Uint8Array }
  | {
      kind: 'tls-crypt-v2';
      /** Kc, 256 bytes. */
      clientKey: Uint8Array;
      /** WKc as the key file holds it. */
      wkc: Uint8Array;
      /** Start tls-crypt ids at 0x0f000001 so a 2.6 server can stay stateless; default true. */
      earlyNegotiation?: boolean;
    }
  | { kind: 'none' };

export interface ClientConfigured {
  kind: 'configured';
  /** The pushed options, interpreted. */
  pushed: PushedConfig;
  /** The pushed options as received, continuation markers removed. */
  options: string[];
}

export interface ClientEstablished {
  kind: 'established';
  cipher: AeadAlgorithm;
  peerId: number | undefined;
  tls: TlsHandshakeInfo;
}

export type ClientOutput =
  | CommonOutput
  | ClientConfigured
  | ClientEstablished
  /** The server refused us (AUTH_FAILED); `closed` follows. */
  | { kind: 'refused'; reason: string | undefined };

export interface ClientSessionOptions {
  wrap: ClientControlWrap;
  createTls: TlsEngineFactory;
  random: RandomBytes;
  /** The caller's clock, ms since the Unix epoch. */
  now: number;
  /** `auth-user-pass`: sent in key method 2 when given. */
  username?: string;
  password?: string;
  /** What peer-info says about us; ciphers default to `dataCiphers`. */
  peerInfo?: Partial<ClientPeerInfoOptions>;
  /** `data-ciphers`: what we offer (IV_CIPHERS) and accept pushed. Default 2.6's list. */
  dataCiphers?: readonly string[];
  renegotiation?: RenegotiationPolicy;
  transport?: Transport;
  occOptions?: string;
  /** Seconds between PUSH_REQUESTs; 5 by default. */
  pushRequestIntervalSec?: number;
  /** Called when TLS events wait: call `handleTlsEvents(now)` soon (never synchronously). */
  wake?: () => void;
}

/** What a 2.6 client with `--dev tun` writes. */
export function clientOccOptions(transport: Transport): string {
  const proto = transport === 'udp' ? 'UDPv4' : 'TCPv4_CLIENT';
  return `V4,dev-type tun,link-mtu 1541,tun-mtu 1500,proto ${proto},auth SHA1,keysize 128,key-method 2,tls-client`;
}

/** IV_VER we announce: we speak the 2.6 protocol. */
const DEFAULT_PEER_VERSION = '2.6.0';
const DEFAULT_PLATFORM = 'linux';

type PullState = 'connecting' | 'pulling' | 'configured';

export class ClientSession extends SessionCore<
  ClientConfigured | ClientEstablished | { kind: 'refused'; reason: string | undefined }
> {
  private readonly wrapConfig: ClientControlWrap;
  private readonly dataCiphers: readonly string[];
  private readonly protoFlags: readonly IvProtoFlag[];
  private readonly peerInfoText: string;
  private readonly occOptions: string;
  private readonly username: string | undefined;
  private readonly password: string | undefined;
  private readonly pushIntervalMs: number;
  private readonly assembler = new PushReplyAssembler();
  private pull: PullState = 'connecting';
  private pushRetryAt: number | undefined;
  private resendWkc = false;
  private serverTls: TlsHandshakeInfo | undefined;
  private pushedConfig: PushedConfig | undefined;
  private ccExit = false;

  constructor(options: ClientSessionOptions) {
    const wrap = options.wrap;
    const earlyNegotiation = wrap.kind === 'tls-crypt-v2' && (wrap.earlyNegotiation ?? true);
    super({
      role: 'client',
      localSessionId: newSessionId(options.random),
      remoteSessionId: undefined,
      control: new ControlChannel({
        role: 'client',
        ...(wrap.kind === 'tls-crypt' ? { tlsCryptKey: wrap.key } : {}),
        ...(wrap.kind === 'tls-crypt-v2'
          ? { tlsCryptKey: wrap.clientKey, wrappedClientKey: wrap.wkc }
          : {}),
        firstSendPacketId: earlyNegotiation ? EARLY_NEG_START + 1 : 1,
        now: options.now,
      }),
      createTls: options.createTls,
      random: options.random,
      ...(options.renegotiation !== undefined ? { renegotiation: options.renegotiation } : {}),
      ...(options.wake !== undefined ? { wake: options.wake } : {}),
    });
    this.wrapConfig = wrap;
    this.dataCiphers = (options.dataCiphers ?? DEFAULT_DATA_CIPHERS).map(canonicalCipherName);
    this.protoFlags = [
      ...(options.peerInfo?.protoFlags ?? POSTERN_CLIENT_PROTO_FLAGS),
      ...(wrap.kind !== 'none' && options.peerInfo?.protoFlags === undefined
        ? (['DYN_TLS_CRYPT'] as const)
        : []),
    ];
    this.peerInfoText = buildPeerInfo({
      version: DEFAULT_PEER_VERSION,
      platform: DEFAULT_PLATFORM,
      ...options.peerInfo,
      ciphers: options.peerInfo?.ciphers ?? this.dataCiphers,
      protoFlags: this.protoFlags,
    });
    this.occOptions = options.occOptions ?? clientOccOptions(options.transport ?? 'udp');
    this.username = options.username;
    this.password = options.password;
    this.pushIntervalMs = secondsToMs(options.pushRequestIntervalSec ?? PUSH_REQUEST_INTERVAL_SEC);
    this.schedule.startFirstKey(options.now);
    this.primary = this.newKeyState(
      0,
      wrap.kind === 'tls-crypt-v2'
        ? Opcode.CONTROL_HARD_RESET_CLIENT_V3
        : Opcode.CONTROL_HARD_RESET_CLIENT_V2,
    );
  }

  /** The first packets: our HARD_RESET_CLIENT. */
  start(now: number): ClientOutput[] {
    return this.handleTimeout(now);
  }

  /**
   * Leaves: EXIT over the control channel when the server agreed to cc-exit (closed once it is
   * acknowledged), else closed at once (the data plane may still send OCC_EXIT, as
   * `explicit-exit-notify` does without cc-exit).
   */
  disconnect(now: number): ClientOutput[] {
    if (!this.isOpen) return [];
    if (this.ccExit) {
      const before = this.handleTlsEvents(now);
      this.sendFinalMessage(formatControlMessage({ kind: 'exit' }), 'exit', 'we said EXIT', now);
      return [...before, ...this.handleTlsEvents(now)];
    }
    return this.close('exit', now, 'disconnected');
  }

  /** The server agreed to cc-exit: `disconnect` says EXIT on the control channel. */
  get serverTakesExit(): boolean {
    return this.ccExit;
  }

  /** The pushed configuration, once complete. */
  get pushed(): PushedConfig | undefined {
    return this.pushedConfig;
  }

  /** The server certificate's details from the first handshake. */
  get serverCertificate(): TlsHandshakeInfo | undefined {
    return this.serverTls;
  }

  /** The peer-info text we send (IV_VER, IV_PROTO, IV_CIPHERS, ...). */
  get announcedPeerInfo(): string {
    return this.peerInfoText;
  }

  /** From the pushed ping / ping-restart: when to ping the server and when to give up. */
  get keepalive(): { pingIntervalSec: number; timeoutSec: number } | undefined {
    const p = this.pushedConfig;
    if (p?.ping === undefined || p.pingRestart === undefined) return undefined;
    return { pingIntervalSec: p.ping, timeoutSec: p.pingRestart };
  }

  // Session hooks.

  protected peerResetOpcodes(keyId: number): readonly Opcode[] {
    return keyId === 0 ? [Opcode.CONTROL_HARD_RESET_SERVER_V2] : [Opcode.CONTROL_SOFT_RESET_V1];
  }

  protected newLocalKeyMethod2(): KeyMethod2Message {
    const message: KeyMethod2Message = {
      preMaster: this.random(PRE_MASTER_BYTES),
      random1: this.random(RANDOM_BYTES),
      random2: this.random(RANDOM_BYTES),
      options: this.occOptions,
      peerInfo: this.peerInfoText,
    };
    if (this.username !== undefined || this.password !== undefined) {
      message.username = this.username ?? '';
      // A pushed auth-token stands in for the password from then on (auth-token, auth-nocache).
      message.password = this.pushedConfig?.authToken ?? this.password ?? '';
    }
    return message;
  }

  protected adoptsPeerSessionId(packet: ControlPacket): boolean {
    return (
      packet.opcode === Opcode.CONTROL_HARD_RESET_SERVER_V2 &&
      packet.keyId === 0 &&
      packet.acks.includes(0)
    );
  }

  protected override controlOpcode(state: KeyState, packetId: number): MessageOpcode {
    // The first TLS packet after the reset carries WKc again when the server asked for it.
    return this.resendWkc && state.keyId === 0 && packetId === 1
      ? Opcode.CONTROL_WKC_V1
      : Opcode.CONTROL_V1;
  }

  protected override onTimers(now: number): void {
    if (this.pull === 'pulling' && this.pushRetryAt !== undefined && now >= this.pushRetryAt) {
      this.sendPushRequest(now);
    }
  }

  protected override ownDeadline(): number | undefined {
    return this.pull === 'pulling' ? this.pushRetryAt : undefined;
  }

  protected onKeyEvent(state: KeyState, event: KeyStateEvent, now: number): void {
    switch (event.kind) {
      case 'peer-reset':
        if (state.keyId === 0 && this.wrapConfig.kind === 'tls-crypt-v2') {
          const tlvs = parseTlvs(event.payload);
          const flags = tlvs.ok ? earlyNegotiationFlags(tlvs.tlvs) : undefined;
          this.resendWkc = flags !== undefined && (flags & EARLY_NEG_FLAG_RESEND_WKC) !== 0;
        }
        return;
      case 'handshake-done':
        if (state.keyId === 0 && this.serverTls === undefined) {
          this.serverTls = event.info;
        } else if (event.info.peerCommonName !== this.serverTls?.peerCommonName) {
          this.closeNow('tls-error', 'the server certificate changed on renegotiation');
        }
        return;
      case 'key-method-2':
        if (state.keyId === 0 && this.pull === 'connecting') {
          this.pull = 'pulling';
          this.sendPushRequest(now);
        } else if (this.dataParams !== undefined) {
          this.activateKey(state, now);
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

  private sendPushRequest(now: number): void {
    this.sendControlMessage(formatControlMessage({ kind: 'push-request' }));
    this.pushRetryAt = now + this.pushIntervalMs;
  }

  private onControlMessage(text: string, now: number): void {
    const message = parseControlMessage(text);
    switch (message.kind) {
      case 'push-reply': {
        if (this.pull !== 'pulling') return; // 2.6 ignores a repeated PUSH_REPLY
        const assembly = this.assembler.add(message);
        if (assembly.complete) this.configure(assembly.options, now);
        return;
      }
      case 'auth-failed':
        this.emit({ kind: 'refused', reason: message.reason });
        this.closeNow('auth-failed', message.reason);
        return;
      case 'restart':
        this.closeNow('restart', message.text);
        return;
      case 'halt':
        this.closeNow('halt', message.text);
        return;
      default:
        this.countDrop(`ignored-${message.kind}`);
    }
  }

  private configure(options: string[], now: number): void {
    const key = this.primary;
    if (key === undefined || key.keyId !== 0 || key.phase !== 'key-exchanged') return;
    const pushed = interpretPushOptions(options);
    const offered = this.dataCiphers;
    const cipherName = pushed.cipher === undefined ? undefined : canonicalCipherName(pushed.cipher);
    const cipher = cipherName === undefined ? undefined : parseAeadAlgorithm(cipherName);
    if (cipher === undefined || cipherName === undefined || !offered.includes(cipherName)) {
      this.closeNow('protocol-error', `pushed cipher ${pushed.cipher ?? '(none)'} was not offered`);
      return;
    }
    const flags = pushed.protocolFlags ?? [];
    const ekm =
      this.protoFlags.includes('TLS_KEY_EXPORT') &&
      (pushed.keyDerivation === 'tls-ekm' || flags.includes('tls-ekm'));
    this.dataParams = {
      cipher,
      derivation: ekm ? 'tls-ekm' : 'tls-prf',
      peerId: this.protoFlags.includes('DATA_V2') ? pushed.peerId : undefined,
    };
    this.ccExit = flags.includes('cc-exit');
    if (
      flags.includes('dyn-tls-crypt') &&
      this.protoFlags.includes('DYN_TLS_CRYPT') &&
      this.control.wrapped
    ) {
      this.control.enableDynamicTlsCrypt(
        key.tls.exportKeyingMaterial(KEY2_SIZE, EKM_LABEL_DYNAMIC_TLS_CRYPT),
        now,
      );
    }
    this.pull = 'configured';
    this.pushRetryAt = undefined;
    this.pushedConfig = pushed;
    this.emit({ kind: 'configured', pushed, options });
    this.activateKey(key, now);
    if (this.serverTls !== undefined) {
      this.emit({
        kind: 'established',
        cipher,
        peerId: this.dataParams.peerId,
        tls: this.serverTls,
      });
    }
  }
}
