// The OpenVPN 2.6 session layer: sans-I/O cores for the gateway (first contact + ServerSession)
// and for `postern connect` (ClientSession), over an injected TLS engine (src/io/tls).
export type { TlsEngine, TlsEngineFactory, TlsEvent, TlsHandshakeInfo } from './tls-engine.js';
export { ControlChannel, LongPacketIdReplay, CONTROL_REPLAY_WINDOW } from './control-channel.js';
export type {
  ControlChannelOptions,
  ControlRole,
  ControlUnwrapError,
  ControlUnwrapResult,
} from './control-channel.js';
export { deriveDataKeys } from './data-keys.js';
export type { DataKeyInput, KeyDerivation } from './data-keys.js';
export { KeyState } from './key-state.js';
export type { KeyPhase, KeyStateEvent, KeyStateOptions } from './key-state.js';
export { CLOSE_LINGER_MS, SessionCore } from './session-core.js';
export type {
  CloseReason,
  CommonOutput,
  DataChannelParams,
  KeysOutput,
  Transport,
} from './session-core.js';
export { handleFirstContact } from './first-contact.js';
export type {
  FirstContactConfig,
  FirstContactDrop,
  FirstContactVerdict,
  ServerControlWrap,
  ServerSessionStart,
} from './first-contact.js';
export { PUSH_REPLY_REPEAT_GUARD_SEC, ServerSession, serverOccOptions } from './server-session.js';
export type {
  AuthRequest,
  ServerEstablished,
  ServerOutput,
  ServerSessionOptions,
} from './server-session.js';
export { ClientSession, clientOccOptions } from './client-session.js';
export type {
  ClientConfigured,
  ClientControlWrap,
  ClientEstablished,
  ClientOutput,
  ClientSessionOptions,
} from './client-session.js';
