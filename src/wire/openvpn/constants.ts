// OpenVPN 2.6 wire constants, in one place. Each names the OpenVPN source symbol it mirrors
// (ssl_pkt.h, reliable.h, session_id.h, packet_id.h, crypto.h, tls_crypt.h, ping.c, occ.h,
// ssl_backend.h) so a reader can check it against the sources; every value was also seen on
// the wire in the captures under test/vectors/openvpn/.
//
// Every packet starts with one byte: the opcode in the high 5 bits, the key id in the low 3.
//
//   7 6 5 4 3 2 1 0
//  +-+-+-+-+-+-+-+-+
//  |  opcode | kid |
//  +-+-+-+-+-+-+-+-+

/** Opcodes (`P_*` in ssl_pkt.h). 1 and 2 were key-method 1 resets, gone since 2.5. */
export const Opcode = {
  CONTROL_SOFT_RESET_V1: 3,
  CONTROL_V1: 4,
  ACK_V1: 5,
  DATA_V1: 6,
  CONTROL_HARD_RESET_CLIENT_V2: 7,
  CONTROL_HARD_RESET_SERVER_V2: 8,
  DATA_V2: 9,
  CONTROL_HARD_RESET_CLIENT_V3: 10,
  CONTROL_WKC_V1: 11,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** The name OpenVPN prints for each opcode in its logs (`packet_opcode_name`). */
export const OPCODE_NAMES: Readonly<Record<Opcode, string>> = {
  [Opcode.CONTROL_SOFT_RESET_V1]: 'P_CONTROL_SOFT_RESET_V1',
  [Opcode.CONTROL_V1]: 'P_CONTROL_V1',
  [Opcode.ACK_V1]: 'P_ACK_V1',
  [Opcode.DATA_V1]: 'P_DATA_V1',
  [Opcode.CONTROL_HARD_RESET_CLIENT_V2]: 'P_CONTROL_HARD_RESET_CLIENT_V2',
  [Opcode.CONTROL_HARD_RESET_SERVER_V2]: 'P_CONTROL_HARD_RESET_SERVER_V2',
  [Opcode.DATA_V2]: 'P_DATA_V2',
  [Opcode.CONTROL_HARD_RESET_CLIENT_V3]: 'P_CONTROL_HARD_RESET_CLIENT_V3',
  [Opcode.CONTROL_WKC_V1]: 'P_CONTROL_WKC_V1',
};

/** `P_OPCODE_SHIFT`: the opcode sits above the 3-bit key id. */
export const OPCODE_SHIFT = 3;
/** `P_KEY_ID_MASK`: key id 0 for the first key, then 1..7 cycling on renegotiation. */
export const KEY_ID_MASK = 0x07;
/** Largest opcode value the 5 bits can hold; anything above `P_LAST_OPCODE` is garbage. */
export const LAST_OPCODE = Opcode.CONTROL_WKC_V1;

// Sizes in bytes.
/** `SID_SIZE`: a control-channel session id. */
export const SESSION_ID_SIZE = 8;
/** `sizeof(packet_id_type)`: packet ids on the wire are 32-bit big-endian. */
export const PACKET_ID_SIZE = 4;
/** `sizeof(net_time_t)`: the time half of a long-form packet id (tls-auth, tls-crypt). */
export const NET_TIME_SIZE = 4;
/** A long-form packet id: id then time (`packet_id_size(true)`). */
export const LONG_PACKET_ID_SIZE = PACKET_ID_SIZE + NET_TIME_SIZE;
/** The first byte: opcode and key id. */
export const OPCODE_SIZE = 1;
/** DATA_V2 peer id, 24 bits after the opcode byte. */
export const PEER_ID_SIZE = 3;
/** `MAX_PEER_ID`: the peer id that means "none assigned". */
export const PEER_ID_UNDEFINED = 0xffffff;
/** Ack count prefix of the ack array. */
export const ACK_COUNT_SIZE = 1;
/** `RELIABLE_ACK_SIZE`: most acks one packet may carry; a packet with more is rejected. */
export const MAX_ACKS_PER_PACKET = 8;
/** `CONTROL_SEND_ACK_MAX`: acks OpenVPN piggy-backs on a packet that also carries a message. */
export const MAX_ACKS_PER_CONTROL_PACKET = 4;
/** Largest packet id, after which a short-form id may not wrap (`PACKET_ID_MAX`). */
export const PACKET_ID_MAX = 0xffffffff;

// tls-crypt (tls_crypt.h).
/** HMAC-SHA256 tag, also the source of the AES-256-CTR IV. */
export const TLS_CRYPT_TAG_SIZE = 32;
/** AES block: the IV is the first 128 bits of the tag. */
export const TLS_CRYPT_IV_SIZE = 16;
/** Where the packet id starts (`TLS_CRYPT_OFF_PID`). */
export const TLS_CRYPT_OFF_PID = OPCODE_SIZE + SESSION_ID_SIZE;
/** Where the tag starts (`TLS_CRYPT_OFF_TAG`). */
export const TLS_CRYPT_OFF_TAG = TLS_CRYPT_OFF_PID + LONG_PACKET_ID_SIZE;
/** Where the ciphertext starts (`TLS_CRYPT_OFF_CT`). */
export const TLS_CRYPT_OFF_CT = TLS_CRYPT_OFF_TAG + TLS_CRYPT_TAG_SIZE;
/** AES-256-CTR and HMAC-SHA256 keys are 256 bits. */
export const TLS_CRYPT_KEY_SIZE = 32;

// tls-crypt-v2 (tls_crypt.h, doc/tls-crypt-v2.txt).
/** `TLS_CRYPT_V2_MAX_WKC_LEN`: a wrapped client key may not be longer. */
export const TLS_CRYPT_V2_MAX_WKC_LEN = 1024;
/** `TLS_CRYPT_V2_CLIENT_KEY_LEN`: Kc is a full 2048-bit key2 block. */
export const TLS_CRYPT_V2_CLIENT_KEY_LEN = 256;
/** `TLS_CRYPT_V2_SERVER_KEY_LEN`: one `struct key` (cipher 64 + hmac 64). */
export const TLS_CRYPT_V2_SERVER_KEY_LEN = 128;
/** The 16-bit length that closes WKc. */
export const TLS_CRYPT_V2_LENGTH_SIZE = 2;
/** `TLS_CRYPT_V2_MAX_METADATA_LEN`: metadata, its type byte included. */
export const TLS_CRYPT_V2_MAX_METADATA_LEN =
  TLS_CRYPT_V2_MAX_WKC_LEN -
  (TLS_CRYPT_V2_CLIENT_KEY_LEN + TLS_CRYPT_TAG_SIZE + TLS_CRYPT_V2_LENGTH_SIZE);
/** Metadata type bytes (`TLS_CRYPT_METADATA_TYPE_*`). */
export const TLS_CRYPT_V2_METADATA_USER = 0x00;
export const TLS_CRYPT_V2_METADATA_TIMESTAMP = 0x01;
/** PEM labels of the key files `openvpn --genkey` writes. */
export const TLS_CRYPT_V2_CLIENT_PEM_LABEL = 'OpenVPN tls-crypt-v2 client key';
export const TLS_CRYPT_V2_SERVER_PEM_LABEL = 'OpenVPN tls-crypt-v2 server key';

// Early negotiation (ssl_pkt.h), 2.6: a tls-crypt-v2 client starts its tls-crypt packet ids at
// EARLY_NEG_START so the server knows it can resend WKc; the server's reset then carries TLVs.
export const EARLY_NEG_START = 0x0f000000;
export const EARLY_NEG_MASK = 0xff000000;
export const TLV_TYPE_EARLY_NEG_FLAGS = 0x0001;
export const EARLY_NEG_FLAG_RESEND_WKC = 0x0001;
/** TLV header: type (16) then length (16). */
export const TLV_HEADER_SIZE = 4;

// Key material (crypto.h `struct key`, `struct key2`).
/** `MAX_CIPHER_KEY_LENGTH`: the cipher half of one `struct key`. */
export const KEY_CIPHER_PART_SIZE = 64;
/** `MAX_HMAC_KEY_LENGTH`: the hmac half of one `struct key`. */
export const KEY_HMAC_PART_SIZE = 64;
/** One `struct key`: cipher then hmac. */
export const KEY_SIZE = KEY_CIPHER_PART_SIZE + KEY_HMAC_PART_SIZE;
/** `struct key2`: two keys, 256 bytes, as a static key file or the data-channel key block. */
export const KEY2_SIZE = 2 * KEY_SIZE;
/** `EXPORT_KEY_DATA_LABEL`: RFC 5705 label for the data-channel key block (no context). */
export const EKM_LABEL_DATA_KEYS = 'EXPORTER-OpenVPN-datakeys';
/** `EXPORT_DYNAMIC_TLS_CRYPT_LABEL`: label for the renegotiation tls-crypt key (2.6.1+). */
export const EKM_LABEL_DYNAMIC_TLS_CRYPT = 'EXPORTER-OpenVPN-dynamic-tls-crypt';
/** `KEY_EXPANSION_ID`: prefix of the TLS 1.0 PRF labels when EKM is not available. */
export const KEY_EXPANSION_ID = 'OpenVPN';

// Data channel, AEAD (crypto.c openvpn_encrypt_aead).
/** `OPENVPN_AEAD_TAG_LENGTH`. */
export const AEAD_TAG_SIZE = 16;
/** 96-bit nonce: packet id (4) then the implicit IV (8). */
export const AEAD_NONCE_SIZE = 12;
/** Implicit IV: the first 8 bytes of the direction's hmac key half. */
export const AEAD_IMPLICIT_IV_SIZE = AEAD_NONCE_SIZE - PACKET_ID_SIZE;
/** DATA_V2 header: opcode, peer id, packet id. All of it is the AEAD additional data. */
export const DATA_V2_HEADER_SIZE = OPCODE_SIZE + PEER_ID_SIZE + PACKET_ID_SIZE;
/** DATA_V1 header: opcode, packet id. Only the packet id is additional data. */
export const DATA_V1_HEADER_SIZE = OPCODE_SIZE + PACKET_ID_SIZE;

// Messages carried inside the data channel.
/** `ping_string` (ping.c): a keepalive is this exact payload. */
// prettier-ignore
export const PING_MAGIC: Readonly<Uint8Array> = Uint8Array.of(
  0x2a, 0x18, 0x7b, 0xf3, 0x64, 0x1e, 0xb4, 0xcb, 0x07, 0xed, 0x2d, 0x0a, 0x98, 0x1f, 0xc7, 0x48,
);
/** `occ_magic` (occ.c): prefix of options-consistency messages. */
// prettier-ignore
export const OCC_MAGIC: Readonly<Uint8Array> = Uint8Array.of(
  0x28, 0x7f, 0x34, 0x6b, 0xd4, 0xef, 0x7a, 0x81, 0x2d, 0x56, 0xb8, 0xd3, 0xaf, 0xc5, 0x45, 0x9c,
);
/** `OCC_EXIT`: the OCC message type of an explicit-exit-notify without cc-exit. */
export const OCC_EXIT = 6;
/** The whole explicit-exit-notify data payload: OCC magic then OCC_EXIT. */
export const OCC_EXIT_MESSAGE: Readonly<Uint8Array> = Uint8Array.of(...OCC_MAGIC, OCC_EXIT);

// TCP (ps.c / socket.c stream_buf): each packet is prefixed by its length, 16-bit big-endian.
export const TCP_LENGTH_PREFIX_SIZE = 2;
export const TCP_MAX_PACKET_SIZE = 0xffff;

// Defaults (options.c init_options, man page).
export const DEFAULT_PORT = 1194;
/** `--replay-window n`: packets accepted out of order behind the highest seen. */
export const DEFAULT_REPLAY_WINDOW = 64;
/** `--replay-window n t`: seconds a packet may arrive late (time_backtrack). */
export const DEFAULT_REPLAY_TIME_SEC = 15;
/** `--data-ciphers` default in 2.6. */
export const DEFAULT_DATA_CIPHERS = ['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305'] as const;
