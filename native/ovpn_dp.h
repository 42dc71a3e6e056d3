/*
 * The OpenVPN data channel fast path (Postern's equivalent of OpenVPN's DCO). Shared between
 * ovpn_crypto.c (AEAD seal/open and the replay window: the bytes the TypeScript reference in
 * src/dataplane/reference/openvpn-data.ts defines), ovpn_dp.c (the UDP <-> TUN loop: peers,
 * worker threads, hand-off to JS) and ovpn_hooks.c (test hooks for differential tests).
 *
 *  DATA_V2:  | op|kid (1) | peer id (3) | packet id (4) | tag (16) | ciphertext |
 *            |<------------------ AAD (8) ------------->|
 *  DATA_V1:  | op|kid (1) | packet id (4) | tag (16) | ciphertext |   AAD = packet id only
 *  nonce   = packet id (4, big-endian) || implicit IV (8)
 */
#ifndef POSTERN_OVPN_DP_H
#define POSTERN_OVPN_DP_H

#include <node_api.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define OVPN_OPCODE_SHIFT 3
#define OVPN_KEY_ID_MASK 0x07
#define OVPN_KEY_IDS 8
#define OVPN_OP_DATA_V1 6
#define OVPN_OP_DATA_V2 9
#define OVPN_OPCODE_SIZE 1
#define OVPN_PEER_ID_SIZE 3
#define OVPN_PACKET_ID_SIZE 4
#define OVPN_TAG_SIZE 16
#define OVPN_IMPLICIT_IV_SIZE 8
#define OVPN_NONCE_SIZE 12
#define OVPN_V1_HEADER_SIZE (OVPN_OPCODE_SIZE + OVPN_PACKET_ID_SIZE)
#define OVPN_V2_HEADER_SIZE (OVPN_OPCODE_SIZE + OVPN_PEER_ID_SIZE + OVPN_PACKET_ID_SIZE)
/* Bytes a sealed DATA_V2 packet adds in front of the payload. */
#define OVPN_V2_OVERHEAD (OVPN_V2_HEADER_SIZE + OVPN_TAG_SIZE)
#define OVPN_V1_OVERHEAD (OVPN_V1_HEADER_SIZE + OVPN_TAG_SIZE)
/* MAX_PEER_ID: "no peer id assigned"; never a valid peer. */
#define OVPN_PEER_ID_UNDEFINED 0xffffffu
#define OVPN_PACKET_ID_MAX 0xffffffffu
/* --replay-window default; the reference ReplayWindow uses the same width. */
#define OVPN_REPLAY_WINDOW 64
#define OVPN_MAX_KEY_SIZE 32

typedef enum {
  OVPN_CIPHER_NONE = 0,
  OVPN_AES_128_GCM,
  OVPN_AES_256_GCM,
  OVPN_CHACHA20_POLY1305,
} ovpn_cipher;

/* Why a packet was dropped. The names (ovpn_drop_names) are what JS sees. */
typedef enum {
  OVPN_DROP_TRUNCATED,        /* shorter than header + tag */
  OVPN_DROP_EMPTY_PAYLOAD,    /* header + tag and nothing else: OpenVPN never sends that */
  OVPN_DROP_WRONG_KEY_ID,     /* test hook only: the packet's key id is not the key's */
  OVPN_DROP_INVALID_PACKET_ID,/* packet id 0 */
  OVPN_DROP_REPLAY_TOO_OLD,   /* behind the 64-wide window */
  OVPN_DROP_REPLAY_DUPLICATE, /* inside the window, seen before */
  OVPN_DROP_AUTH_FAILED,      /* the AEAD tag did not verify */
  OVPN_DROP_NO_KEY,           /* known peer, key id not installed (or no primary key to send) */
  OVPN_DROP_SPOOFED_SOURCE,   /* inner source address is not one of the peer's */
  OVPN_DROP_NOT_IP,           /* payload (or TUN packet) is neither IPv4 nor IPv6 */
  OVPN_DROP_KEY_EXHAUSTED,    /* all 2^32 - 1 packet ids of the send key are used */
  OVPN_DROP_BAD_OPCODE,       /* first byte is no OpenVPN opcode: never handed to JS */
  OVPN_DROP_UDP_TRUNCATED,    /* datagram larger than the receive slot */
  OVPN_DROP_TUN_WRITE,        /* the kernel refused a decrypted packet */
  OVPN_DROP_UDP_SEND,         /* sendmmsg/sendto refused a packet */
  OVPN_DROP_JS_QUEUE_FULL,    /* JS is not keeping up: control/unrouted packets dropped */
  OVPN_DROP_BAD_OFFLOAD,      /* a TUN read with a malformed or unsupported virtio_net_hdr */
  OVPN_DROP_TCP_OVERFLOW,     /* a TCP peer's output buffer is full (the peer reads too slowly) */
  OVPN_DROP_TCP_FRAMING,      /* a TCP stream's length prefix is 0 or too long: stream closed */
  OVPN_DROP_TCP_SEND,         /* the kernel refused a TCP peer's stream (reset, closed) */
  OVPN_DROP_COUNT
} ovpn_drop;

extern const char *const ovpn_drop_names[OVPN_DROP_COUNT];

int ovpn_cipher_from_name(const char *name);
size_t ovpn_cipher_key_size(int cipher);

/* The replay window of one receive key: bit i of `seen` is packet id `top - i`. */
typedef struct {
  uint64_t top;
  uint64_t seen;
} ovpn_replay;

typedef enum {
  OVPN_REPLAY_OK,
  OVPN_REPLAY_TOO_OLD,
  OVPN_REPLAY_DUPLICATE,
  OVPN_REPLAY_INVALID
} ovpn_replay_verdict;

ovpn_replay_verdict ovpn_replay_check(const ovpn_replay *w, uint64_t id);
/* Marks `id` seen; only after check() said OK and the packet authenticated. */
void ovpn_replay_update(ovpn_replay *w, uint64_t id);

/* One direction of one key: an OpenSSL context keyed once; per packet only the nonce is set. */
typedef struct {
  EVP_CIPHER_CTX *ctx;
  uint8_t implicit_iv[OVPN_IMPLICIT_IV_SIZE];
} ovpn_aead;

/* Fetches the ciphers from OpenSSL (once per process; ~0.1 ms the first time): done when a data
 * plane opens, so that the first client's keys do not wait for it. */
void ovpn_crypto_prepare(void);

/* Returns 1 on success. `key` must be ovpn_cipher_key_size(cipher) bytes. */
int ovpn_aead_init(ovpn_aead *a, int cipher, const uint8_t *key, const uint8_t *implicit_iv,
                   int encrypt);
/* Frees the context (OpenSSL clears its key schedule) and wipes the implicit IV. */
void ovpn_aead_free(ovpn_aead *a);

/*
 * Seals in place. `packet` has room for the header and tag in front of the payload, which is
 * already at packet + header size + OVPN_TAG_SIZE (header size: V2 if peer_id >= 0, else V1).
 * Returns the packet length, 0 if OpenSSL failed.
 */
size_t ovpn_seal(ovpn_aead *a, uint8_t key_id, int32_t peer_id, uint32_t packet_id,
                 uint8_t *packet, size_t payload_len);

/* Header fields of a data packet, after ovpn_parse_data succeeded. */
typedef struct {
  size_t header_size; /* 5 (V1) or 8 (V2) */
  size_t aad_start;   /* 1 (V1) or 0 (V2) */
  uint32_t packet_id;
} ovpn_data_header;

/* Length checks and header fields; returns -1 when fine, else the drop reason. */
int ovpn_parse_data(const uint8_t *packet, size_t length, ovpn_data_header *h);

/*
 * Opens a parsed packet in place, checking and then updating the replay window. On success
 * returns -1 and sets *plain / *plain_len (inside `packet`); else the drop reason. The window
 * moves only for packets that authenticated.
 */
int ovpn_open(ovpn_aead *a, ovpn_replay *w, uint8_t *packet, size_t length,
              const ovpn_data_header *h, uint8_t **plain, size_t *plain_len);

/* N-API registration of the data plane class (ovpn_dp.c) and the test hooks (ovpn_hooks.c). */
napi_status ovpn_dp_register(napi_env env, napi_value exports);
napi_status ovpn_hooks_register(napi_env env, napi_value exports);
napi_status ovpn_tun_register(napi_env env, napi_value exports);

#endif
