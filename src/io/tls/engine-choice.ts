// Which TLS engine a gateway or client runs: OpenSSL through the native addon when it is built
// (a handshake costs a third of the CPU and an established session a third of the memory of
// Node's TLSSocket), Node's own TLS otherwise. Both speak the same TLS; tests hold them equal.
// With the native engine, tls-crypt on the control channel runs in the addon too.
import { PosternError } from '../../errors.js';
import type { TlsEngineFactory } from '../../proto/openvpn/session/tls-engine.js';
import { nativeClientTlsEngineFactory, nativeServerTlsEngineFactory } from './native-tls-engine.js';
import { useNativeTlsCrypt } from './native-tls-crypt.js';
import {
  clientTlsEngineFactory,
  serverTlsEngineFactory,
  type TlsClientConfig,
  type TlsServerConfig,
} from './tls-engine.js';

export type TlsEngineKind = 'native' | 'node';

export interface ChosenTlsEngine {
  kind: TlsEngineKind;
  factory: TlsEngineFactory;
  /** Why the Node engine runs instead of the native one, when it does. */
  fallbackReason?: string;
}

function choose(native: () => TlsEngineFactory, node: () => TlsEngineFactory): ChosenTlsEngine {
  if (process.env.POSTERN_TLS_ENGINE === 'node') {
    return { kind: 'node', factory: node(), fallbackReason: 'POSTERN_TLS_ENGINE=node' };
  }
  try {
    const factory = native();
    // The control channel's tls-crypt goes to the same addon: ~5x less CPU per control packet.
    useNativeTlsCrypt();
    return { kind: 'native', factory };
  } catch (e) {
    // A bad certificate or key is the administrator's to fix, whichever engine runs.
    if (!(e instanceof PosternError) || !e.code.startsWith('NATIVE_ADDON')) throw e;
    return { kind: 'node', factory: node(), fallbackReason: e.message };
  }
}

export function gatewayTlsEngine(config: TlsServerConfig): ChosenTlsEngine {
  // Handshake steps on the thread pool, unless POSTERN_TLS_OFFLOAD=0 keeps them on the event
  // loop (to tell the two apart when something goes wrong).
  const offloadHandshake = process.env.POSTERN_TLS_OFFLOAD !== '0';
  return choose(
    () => nativeServerTlsEngineFactory(config, { offloadHandshake }),
    () => serverTlsEngineFactory(config),
  );
}

export function clientTlsEngine(config: TlsClientConfig): ChosenTlsEngine {
  return choose(
    () => nativeClientTlsEngineFactory(config),
    () => clientTlsEngineFactory(config),
  );
}
