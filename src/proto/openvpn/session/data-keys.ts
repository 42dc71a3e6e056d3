// The data-channel keys of one key state, once key method 2 is done (ssl.c
// generate_key_expansion). With TLS-EKM (both sides announce IV_PROTO_TLS_KEY_EXPORT; the server
// confirms with `protocol-flags ... tls-ekm` or `key-derivation tls-ekm`) the 256-byte key block
// is the RFC 5705 export "EXPORTER-OpenVPN-datakeys" of this key state's TLS session; otherwise
// it comes from the TLS 1.0 PRF over the randoms both sides sent in key method 2 and the two
// session ids. Either way the block is laid out as dataplane/reference/openvpn-data.ts describes.
import type { AeadAlgorithm } from '../../../crypto/aead.js';
import { openvpnPrfKeyBlock } from '../../../crypto/tls-prf.js';
import { dataChannelKeys } from '../../../dataplane/reference/openvpn-data.js';
import type {
  DataChannelKeys,
  DataChannelRole,
} from '../../../dataplane/reference/openvpn-data.js';
import { EKM_LABEL_DATA_KEYS, KEY2_SIZE } from '../../../wire/openvpn/constants.js';
import { PosternError } from '../../../errors.js';
import type { KeyMethod2Message } from '../key-method2.js';
import type { TlsEngine } from './tls-engine.js';

export type KeyDerivation = 'tls-ekm' | 'tls-prf';

export interface DataKeyInput {
  derivation: KeyDerivation;
  /** The TLS session of this key state (for TLS-EKM). */
  tls: TlsEngine;
  role: DataChannelRole;
  cipher: AeadAlgorithm;
  /** Both key method 2 messages (for the PRF). */
  clientKeyMethod2: KeyMethod2Message;
  serverKeyMethod2: KeyMethod2Message;
  clientSessionId: Uint8Array;
  serverSessionId: Uint8Array;
}

/** This side's send and receive keys. The intermediate key block is wiped. */
export function deriveDataKeys(input: DataKeyInput): DataChannelKeys {
  const block = keyBlock(input);
  try {
    return dataChannelKeys(block, input.cipher, input.role);
  } finally {
    block.fill(0);
  }
}

function keyBlock(input: DataKeyInput): Uint8Array {
  if (input.derivation === 'tls-ekm') {
    return input.tls.exportKeyingMaterial(KEY2_SIZE, EKM_LABEL_DATA_KEYS);
  }
  const client = input.clientKeyMethod2;
  const server = input.serverKeyMethod2;
  if (client.preMaster === undefined) {
    throw new PosternError('OVPN_KM2_NO_PRE_MASTER', 'the client key method 2 has no pre_master');
  }
  return openvpnPrfKeyBlock({
    clientPreMaster: client.preMaster,
    clientRandom1: client.random1,
    clientRandom2: client.random2,
    serverRandom1: server.random1,
    serverRandom2: server.random2,
    clientSessionId: input.clientSessionId,
    serverSessionId: input.serverSessionId,
  });
}
