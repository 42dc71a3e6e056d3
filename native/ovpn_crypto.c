/*
 * AEAD seal/open of OpenVPN data packets and the replay window, with the OpenSSL that the node
 * binary carries (no extra library is linked: the symbols resolve against node at load time).
 *
 * Each direction of each key keeps one EVP_CIPHER_CTX keyed once; per packet only the nonce is
 * set (EVP_CipherInit_ex with NULL cipher and key), which is what makes native sealing ~7x
 * cheaper than Node's createCipheriv per packet. Encryption and decryption run in place.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ovpn_dp.h"

const char *const ovpn_drop_names[OVPN_DROP_COUNT] = {
    [OVPN_DROP_TRUNCATED] = "truncated",
    [OVPN_DROP_EMPTY_PAYLOAD] = "empty-payload",
    [OVPN_DROP_WRONG_KEY_ID] = "wrong-key-id",
    [OVPN_DROP_INVALID_PACKET_ID] = "invalid-packet-id",
    [OVPN_DROP_REPLAY_TOO_OLD] = "replay-too-old",
    [OVPN_DROP_REPLAY_DUPLICATE] = "replay-duplicate",
    [OVPN_DROP_AUTH_FAILED] = "auth-failed",
    [OVPN_DROP_NO_KEY] = "no-key",
    [OVPN_DROP_SPOOFED_SOURCE] = "spoofed-source",
    [OVPN_DROP_NOT_IP] = "not-ip",
    [OVPN_DROP_KEY_EXHAUSTED] = "key-exhausted",
    [OVPN_DROP_BAD_OPCODE] = "bad-opcode",
    [OVPN_DROP_UDP_TRUNCATED] = "udp-truncated",
    [OVPN_DROP_TUN_WRITE] = "tun-write",
    [OVPN_DROP_UDP_SEND] = "udp-send",
    [OVPN_DROP_JS_QUEUE_FULL] = "js-queue-full",
    [OVPN_DROP_BAD_OFFLOAD] = "bad-offload",
    [OVPN_DROP_TCP_OVERFLOW] = "tcp-overflow",
    [OVPN_DROP_TCP_FRAMING] = "tcp-framing",
    [OVPN_DROP_TCP_SEND] = "tcp-send",
};

/* Names as OpenVPN's --data-ciphers spells them; OpenSSL's fetch is case-insensitive. */
static const struct {
  const char *name;
  size_t key_size;
} CIPHERS[] = {
    [OVPN_CIPHER_NONE] = {NULL, 0},
    [OVPN_AES_128_GCM] = {"AES-128-GCM", 16},
    [OVPN_AES_256_GCM] = {"AES-256-GCM", 32},
    [OVPN_CHACHA20_POLY1305] = {"CHACHA20-POLY1305", 32},
};
#define CIPHER_COUNT (sizeof CIPHERS / sizeof CIPHERS[0])

/* Fetched once: an explicit fetch avoids OpenSSL's implicit fetch (a locked lookup) per key. */
static EVP_CIPHER *fetched[CIPHER_COUNT];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_ciphers(void) {
  for (size_t i = 1; i < CIPHER_COUNT; i++) {
    fetched[i] = EVP_CIPHER_fetch(NULL, CIPHERS[i].name, NULL);
  }
}

void ovpn_crypto_prepare(void) {
  pthread_once(&fetch_once, fetch_ciphers);
}

int ovpn_cipher_from_name(const char *name) {
  for (size_t i = 1; i < CIPHER_COUNT; i++) {
    if (strcmp(name, CIPHERS[i].name) == 0) return (int)i;
  }
  return OVPN_CIPHER_NONE;
}

size_t ovpn_cipher_key_size(int cipher) {
  if (cipher <= OVPN_CIPHER_NONE || (size_t)cipher >= CIPHER_COUNT) return 0;
  return CIPHERS[cipher].key_size;
}

ovpn_replay_verdict ovpn_replay_check(const ovpn_replay *w, uint64_t id) {
  if (id == 0) return OVPN_REPLAY_INVALID;
  if (id > w->top) return OVPN_REPLAY_OK;
  uint64_t behind = w->top - id;
  if (behind >= OVPN_REPLAY_WINDOW) return OVPN_REPLAY_TOO_OLD;
  return (w->seen >> behind) & 1u ? OVPN_REPLAY_DUPLICATE : OVPN_REPLAY_OK;
}

void ovpn_replay_update(ovpn_replay *w, uint64_t id) {
  if (ovpn_replay_check(w, id) != OVPN_REPLAY_OK) return;
  if (id > w->top) {
    uint64_t shift = id - w->top;
    w->seen = shift >= OVPN_REPLAY_WINDOW ? 0 : w->seen << shift;
    w->top = id;
  }
  w->seen |= (uint64_t)1 << (w->top - id);
}

int ovpn_aead_init(ovpn_aead *a, int cipher, const uint8_t *key, const uint8_t *implicit_iv,
                   int encrypt) {
  memset(a, 0, sizeof *a);
  if (ovpn_cipher_key_size(cipher) == 0) return 0;
  pthread_once(&fetch_once, fetch_ciphers);
  if (fetched[cipher] == NULL) return 0;
  a->ctx = EVP_CIPHER_CTX_new();
  if (a->ctx == NULL) return 0;
  /* All three take a 96-bit nonce by default; the key is set once, here. */
  if (EVP_CipherInit_ex(a->ctx, fetched[cipher], NULL, key, NULL, encrypt) != 1) {
    ovpn_aead_free(a);
    return 0;
  }
  memcpy(a->implicit_iv, implicit_iv, OVPN_IMPLICIT_IV_SIZE);
  return 1;
}

void ovpn_aead_free(ovpn_aead *a) {
  if (a->ctx != NULL) EVP_CIPHER_CTX_free(a->ctx);
  a->ctx = NULL;
  OPENSSL_cleanse(a->implicit_iv, sizeof a->implicit_iv);
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void make_nonce(uint8_t nonce[OVPN_NONCE_SIZE], uint32_t packet_id,
                       const uint8_t implicit_iv[OVPN_IMPLICIT_IV_SIZE]) {
  put_be32(nonce, packet_id);
  memcpy(nonce + OVPN_PACKET_ID_SIZE, implicit_iv, OVPN_IMPLICIT_IV_SIZE);
}

size_t ovpn_seal(ovpn_aead *a, uint8_t key_id, int32_t peer_id, uint32_t packet_id,
                 uint8_t *packet, size_t payload_len) {
  size_t header_size, aad_start;
  if (peer_id >= 0) {
    header_size = OVPN_V2_HEADER_SIZE;
    aad_start = 0;
    packet[0] = (uint8_t)((OVPN_OP_DATA_V2 << OVPN_OPCODE_SHIFT) | (key_id & OVPN_KEY_ID_MASK));
    packet[1] = (uint8_t)(peer_id >> 16);
    packet[2] = (uint8_t)(peer_id >> 8);
    packet[3] = (uint8_t)peer_id;
  } else {
    header_size = OVPN_V1_HEADER_SIZE;
    aad_start = OVPN_OPCODE_SIZE;
    packet[0] = (uint8_t)((OVPN_OP_DATA_V1 << OVPN_OPCODE_SHIFT) | (key_id & OVPN_KEY_ID_MASK));
  }
  put_be32(packet + header_size - OVPN_PACKET_ID_SIZE, packet_id);
  uint8_t *tag = packet + header_size;
  uint8_t *text = tag + OVPN_TAG_SIZE;
  if (payload_len > INT32_MAX) return 0;

  uint8_t nonce[OVPN_NONCE_SIZE];
  make_nonce(nonce, packet_id, a->implicit_iv);
  int n = 0, tail = 0;
  if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, 1) != 1 ||
      EVP_EncryptUpdate(a->ctx, NULL, &n, packet + aad_start, (int)(header_size - aad_start)) !=
          1 ||
      EVP_EncryptUpdate(a->ctx, text, &n, text, (int)payload_len) != 1 ||
      EVP_EncryptFinal_ex(a->ctx, text + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, OVPN_TAG_SIZE, tag) != 1) {
    return 0;
  }
  return header_size + OVPN_TAG_SIZE + payload_len;
}

int ovpn_parse_data(const uint8_t *packet, size_t length, ovpn_data_header *h) {
  if (length < OVPN_OPCODE_SIZE) return OVPN_DROP_TRUNCATED;
  int opcode = packet[0] >> OVPN_OPCODE_SHIFT;
  if (opcode == OVPN_OP_DATA_V2) {
    h->header_size = OVPN_V2_HEADER_SIZE;
    h->aad_start = 0;
  } else if (opcode == OVPN_OP_DATA_V1) {
    h->header_size = OVPN_V1_HEADER_SIZE;
    h->aad_start = OVPN_OPCODE_SIZE;
  } else {
    return OVPN_DROP_BAD_OPCODE;
  }
  if (length < h->header_size + OVPN_TAG_SIZE) return OVPN_DROP_TRUNCATED;
  if (length == h->header_size + OVPN_TAG_SIZE) return OVPN_DROP_EMPTY_PAYLOAD;
  h->packet_id = get_be32(packet + h->header_size - OVPN_PACKET_ID_SIZE);
  return -1;
}

int ovpn_open(ovpn_aead *a, ovpn_replay *w, uint8_t *packet, size_t length,
              const ovpn_data_header *h, uint8_t **plain, size_t *plain_len) {
  switch (ovpn_replay_check(w, h->packet_id)) {
    case OVPN_REPLAY_OK: break;
    case OVPN_REPLAY_TOO_OLD: return OVPN_DROP_REPLAY_TOO_OLD;
    case OVPN_REPLAY_DUPLICATE: return OVPN_DROP_REPLAY_DUPLICATE;
    default: return OVPN_DROP_INVALID_PACKET_ID;
  }
  uint8_t *tag = packet + h->header_size;
  uint8_t *text = tag + OVPN_TAG_SIZE;
  size_t text_len = length - h->header_size - OVPN_TAG_SIZE;
  if (text_len > INT32_MAX) return OVPN_DROP_TRUNCATED;

  uint8_t nonce[OVPN_NONCE_SIZE];
  make_nonce(nonce, h->packet_id, a->implicit_iv);
  int n = 0, tail = 0;
  if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, 0) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, OVPN_TAG_SIZE, tag) != 1 ||
      EVP_DecryptUpdate(a->ctx, NULL, &n, packet + h->aad_start,
                        (int)(h->header_size - h->aad_start)) != 1 ||
      EVP_DecryptUpdate(a->ctx, text, &n, text, (int)text_len) != 1 ||
      EVP_DecryptFinal_ex(a->ctx, text + n, &tail) != 1) {
    return OVPN_DROP_AUTH_FAILED;
  }
  ovpn_replay_update(w, h->packet_id);
  *plain = text;
  *plain_len = text_len;
  return -1;
}
