// Reference OpenVPN data channel for AEAD ciphers (crypto.c openvpn_encrypt_aead /
// openvpn_decrypt_aead, ssl.c tls_pre_decrypt), the bytes the native fast path must match.
//
//  DATA_V2:  +--------+---------------+-----------+---------+--------------------+
//            | op|kid | peer id (24)  | packet id | tag(16) | ciphertext         |
//            +--------+---------------+-----------+---------+--------------------+
//            |<---------- AAD: 8 bytes ---------->|
//
//  DATA_V1:  +--------+-----------+---------+------------+
//            | op|kid | packet id | tag(16) | ciphertext |
//            +--------+-----------+---------+------------+
//                     |<-- AAD -->|   (the opcode byte is not authenticated in V1)
//
//  nonce = packet id (4, big-endian) || implicit IV (8)
//
// Keys come from the 256-byte key2 block (EKM label EXPORTER-OpenVPN-datakeys, or the TLS 1.0
// PRF fallback), laid out as two `struct key`:
//
//    0..64   keys[0].cipher   client -> server cipher key (first 16 or 32 bytes used)
//   64..128  keys[0].hmac     client -> server: its first 8 bytes are the implicit IV
//  128..192  keys[1].cipher   server -> client cipher key
//  192..256  keys[1].hmac     server -> client implicit IV
//
// The client sends with keys[0] (KEY_DIRECTION_NORMAL), the server with keys[1] (INVERSE);
// captured keys and packets of OpenVPN 2.6 in test/vectors/openvpn/ confirm every offset.
//
// Packet ids start at 1 and may not wrap (a renegotiation must come first); id 0 is never valid.
import type { AeadAlgorithm } from '../../crypto/aead.js';
import { AEAD_KEY_SIZE, AeadKey } from '../../crypto/aead.js';
import { directionalKeys } from '../../crypto/static-key.js';
import { PosternError } from '../../errors.js';
import { ReplayWindow } from '../../proto/replay-window.js';
import {
  AEAD_IMPLICIT_IV_SIZE,
  AEAD_NONCE_SIZE,
  AEAD_TAG_SIZE,
  DATA_V1_HEADER_SIZE,
  DATA_V2_HEADER_SIZE,
  DEFAULT_REPLAY_WINDOW,
  KEY_ID_MASK,
  Opcode,
  OPCODE_SHIFT,
  OPCODE_SIZE,
  PACKET_ID_MAX,
  PACKET_ID_SIZE,
  PEER_ID_SIZE,
  PEER_ID_UNDEFINED,
} from '../../wire/openvpn/constants.js';

export type DataChannelRole = 'client' | 'server';

/** One direction's key: cipher key and implicit IV. */
export interface DataDirectionKey {
  cipher: AeadAlgorithm;
  key: Uint8Array;
  implicitIv: Uint8Array;
}

export interface DataChannelKeys {
  send: DataDirectionKey;
  receive: DataDirectionKey;
}

/** Picks this side's send and receive keys out of the 256-byte key block. */
export function dataChannelKeys(
  keyBlock: Uint8Array,
  cipher: AeadAlgorithm,
  role: DataChannelRole,
): DataChannelKeys {
  const { send, receive } = directionalKeys(keyBlock, role === 'client' ? 'normal' : 'inverse');
  const keySize = AEAD_KEY_SIZE[cipher];
  const pick = (halves: typeof send): DataDirectionKey => ({
    cipher,
    key: halves.cipher.slice(0, keySize),
    implicitIv: halves.hmac.slice(0, AEAD_IMPLICIT_IV_SIZE),
  });
  return { send: pick(send), receive: pick(receive) };
}

// Header parsing, without crypto.

export interface DataPacketParts {
  opcode: typeof Opcode.DATA_V1 | typeof Opcode.DATA_V2;
  keyId: number;
  /** DATA_V2 only. */
  peerId: number | undefined;
  packetId: number;
  aad: Uint8Array;
  tag: Uint8Array;
  ciphertext: Uint8Array;
}

export type DataParseError = 'truncated' | 'not-data-opcode' | 'empty-payload';

export type DataParseResult =
  { ok: true; parts: DataPacketParts } | { ok: false; reason: DataParseError };

/** Splits an AEAD data packet into its fields (views into `packet`). Never throws. */
export function parseDataPacket(packet: Uint8Array): DataParseResult {
  if (packet.length < OPCODE_SIZE) return { ok: false, reason: 'truncated' };
  const first = packet[0] ?? 0;
  const opcode = first >>> OPCODE_SHIFT;
  const keyId = first & KEY_ID_MASK;
  let headerSize: number;
  let aadStart: number;
  let peerId: number | undefined;
  if (opcode === Opcode.DATA_V2) {
    headerSize = DATA_V2_HEADER_SIZE;
    aadStart = 0;
  } else if (opcode === Opcode.DATA_V1) {
    headerSize = DATA_V1_HEADER_SIZE;
    aadStart = OPCODE_SIZE;
  } else {
    return { ok: false, reason: 'not-data-opcode' };
  }
  if (packet.length < headerSize + AEAD_TAG_SIZE) return { ok: false, reason: 'truncated' };
  // crypto.c: "missing payload"; OpenVPN never encrypts an empty buffer.
  if (packet.length === headerSize + AEAD_TAG_SIZE) return { ok: false, reason: 'empty-payload' };
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (opcode === Opcode.DATA_V2) {
    peerId = (view.getUint8(1) << 16) | view.getUint16(2);
  }
  return {
    ok: true,
    parts: {
      opcode,
      keyId,
      peerId,
      packetId: view.getUint32(headerSize - PACKET_ID_SIZE),
      aad: packet.subarray(aadStart, headerSize),
      tag: packet.subarray(headerSize, headerSize + AEAD_TAG_SIZE),
      ciphertext: packet.subarray(headerSize + AEAD_TAG_SIZE),
    },
  };
}

function nonceFor(packetId: number, implicitIv: Uint8Array): Uint8Array {
  const nonce = new Uint8Array(AEAD_NONCE_SIZE);
  new DataView(nonce.buffer).setUint32(0, packetId);
  nonce.set(implicitIv, PACKET_ID_SIZE);
  return nonce;
}

// Sending.

export interface EncryptorOptions {
  key: DataDirectionKey;
  keyId: number;
  /** DATA_V2 with this peer id; undefined sends DATA_V1. A client sends its pushed peer-id. */
  peerId: number | undefined;
  /** Id of the first packet; 1 unless resuming for a test. */
  firstPacketId?: number;
}

export type EncryptResult =
  | { kind: 'packet'; packet: Uint8Array; packetId: number }
  /** All 2^32 - 1 ids are used: this key must be replaced (renegotiate) before sending more. */
  | { kind: 'exhausted' };

export class OpenvpnDataEncryptor {
  private readonly aead: AeadKey;
  private readonly implicitIv: Uint8Array;
  private readonly header: Uint8Array;
  private next: number;

  constructor(options: EncryptorOptions) {
    checkDirectionKey(options.key);
    const { keyId, peerId } = options;
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > KEY_ID_MASK) {
      throw new PosternError('OPENVPN_BAD_KEY_ID', `key id ${keyId} is outside 0..${KEY_ID_MASK}`);
    }
    if (
      peerId !== undefined &&
      (!Number.isInteger(peerId) || peerId < 0 || peerId > PEER_ID_UNDEFINED)
    ) {
      throw new PosternError('OPENVPN_BAD_PEER_ID', `peer id ${peerId} is not a 24-bit value`);
    }
    const first = options.firstPacketId ?? 1;
    if (!Number.isInteger(first) || first < 1 || first > PACKET_ID_MAX) {
      throw new PosternError('OPENVPN_BAD_PACKET_ID', `first packet id ${first} must be 1..2^32-1`);
    }
    this.aead = new AeadKey(options.key.cipher, options.key.key);
    this.implicitIv = options.key.implicitIv.slice();
    if (peerId === undefined) {
      this.header = Uint8Array.of((Opcode.DATA_V1 << OPCODE_SHIFT) | keyId);
    } else {
      this.header = new Uint8Array(OPCODE_SIZE + PEER_ID_SIZE);
      this.header[0] = (Opcode.DATA_V2 << OPCODE_SHIFT) | keyId;
      this.header[1] = (peerId >>> 16) & 0xff;
      this.header[2] = (peerId >>> 8) & 0xff;
      this.header[3] = peerId & 0xff;
    }
    this.next = first;
  }

  /** The id the next packet will carry. */
  get nextPacketId(): number {
    return this.next;
  }

  /** Seals one payload (an IP packet, a ping, an OCC message). Throws only on an empty one. */
  encrypt(payload: Uint8Array): EncryptResult {
    if (payload.length === 0) {
      throw new PosternError('OPENVPN_EMPTY_DATA', 'OpenVPN never sends an empty data packet');
    }
    if (this.next > PACKET_ID_MAX) return { kind: 'exhausted' };
    const packetId = this.next;
    this.next += 1;
    const headerSize = this.header.length + PACKET_ID_SIZE;
    const packet = new Uint8Array(headerSize + AEAD_TAG_SIZE + payload.length);
    packet.set(this.header, 0);
    new DataView(packet.buffer).setUint32(this.header.length, packetId);
    // V2 authenticates the whole header, V1 only the packet id.
    const aadStart = this.header.length === OPCODE_SIZE ? OPCODE_SIZE : 0;
    const sealed = this.aead.seal(
      nonceFor(packetId, this.implicitIv),
      packet.subarray(aadStart, headerSize),
      payload,
    );
    packet.set(sealed.tag, headerSize);
    packet.set(sealed.ciphertext, headerSize + AEAD_TAG_SIZE);
    return { kind: 'packet', packet, packetId };
  }
}

// Receiving.

export type DropReason =
  | DataParseError
  | 'wrong-key-id'
  | 'invalid-packet-id'
  | 'replay-too-old'
  | 'replay-duplicate'
  | 'auth-failed';

export type DecryptResult =
  | { kind: 'packet'; data: Uint8Array; packetId: number; peerId: number | undefined }
  | { kind: 'drop'; reason: DropReason };

export interface DecryptorOptions {
  key: DataDirectionKey;
  keyId: number;
  /** `--replay-window`; 64 by default, as OpenVPN. */
  replayWindow?: number;
}

export class OpenvpnDataDecryptor {
  readonly keyId: number;
  private readonly aead: AeadKey;
  private readonly implicitIv: Uint8Array;
  private readonly replay: ReplayWindow;
  private readonly drops = new Map<DropReason, number>();

  constructor(options: DecryptorOptions) {
    checkDirectionKey(options.key);
    if (!Number.isInteger(options.keyId) || options.keyId < 0 || options.keyId > KEY_ID_MASK) {
      throw new PosternError('OPENVPN_BAD_KEY_ID', `key id ${options.keyId} is outside 0..7`);
    }
    this.keyId = options.keyId;
    this.aead = new AeadKey(options.key.cipher, options.key.key);
    this.implicitIv = options.key.implicitIv.slice();
    this.replay = new ReplayWindow(options.replayWindow ?? DEFAULT_REPLAY_WINDOW);
  }

  /** Counts of dropped packets by reason. */
  get dropCounts(): ReadonlyMap<DropReason, number> {
    return this.drops;
  }

  /** Opens one packet. Never throws; bad input is a counted drop. */
  decrypt(packet: Uint8Array): DecryptResult {
    const parsed = parseDataPacket(packet);
    if (!parsed.ok) return this.drop(parsed.reason);
    const p = parsed.parts;
    if (p.keyId !== this.keyId) return this.drop('wrong-key-id');
    const verdict = this.replay.check(p.packetId);
    if (verdict === 'invalid') return this.drop('invalid-packet-id');
    if (verdict === 'too-old') return this.drop('replay-too-old');
    if (verdict === 'duplicate') return this.drop('replay-duplicate');
    const data = this.aead.open(nonceFor(p.packetId, this.implicitIv), p.aad, p.ciphertext, p.tag);
    if (data === undefined) return this.drop('auth-failed');
    this.replay.update(p.packetId);
    return { kind: 'packet', data, packetId: p.packetId, peerId: p.peerId };
  }

  private drop(reason: DropReason): DecryptResult {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    return { kind: 'drop', reason };
  }
}

function checkDirectionKey(k: DataDirectionKey): void {
  if (k.implicitIv.length !== AEAD_IMPLICIT_IV_SIZE) {
    throw new PosternError(
      'OPENVPN_BAD_IMPLICIT_IV',
      `implicit IV must be ${AEAD_IMPLICIT_IV_SIZE} bytes, got ${k.implicitIv.length}`,
    );
  }
}
