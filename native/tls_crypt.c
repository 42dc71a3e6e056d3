/*
 * tls-crypt's two primitives for the control channel (src/crypto/tls-crypt.ts has the format and
 * the reference in TypeScript): seal = HMAC-SHA256 tag over header || plaintext, then
 * AES-256-CTR with the tag's first 16 bytes as IV; open = the reverse, the tag compared in
 * constant time. Through node:crypto each packet built an Hmac and a Cipher object (~15-20 us);
 * here a thread keeps one MAC and one cipher context and re-keys them per packet (~2-4 us).
 *
 *   tlsCryptSeal(ke, ka, header, plaintext) -> Buffer  header || tag || ciphertext
 *   tlsCryptOpen(ke, ka, packet)            -> Buffer  plaintext, or null if not authentic
 *   tlsCryptOpenDetached(ke, ka, authenticated, tag, ciphertext)
 *                                           -> Buffer  the same open with the parts apart: the
 *                                              tag covers authenticated || plaintext (tls-crypt-v2
 *                                              WKc: its 2 length bytes, then Kc and metadata)
 *
 * Keys are 32 bytes each, the header is the 17 cleartext bytes (opcode, session id, packet id,
 * net time); lengths are checked here too, never trusted.
 */
#include <pthread.h>
#include <string.h>

#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "napi_util.h"
#include "tls_crypt.h"
#include "tls_engine.h"

static EVP_MAC *g_hmac;
static EVP_CIPHER *g_ctr;
static pthread_once_t g_fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void) {
  g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  g_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
}

/* One pair of contexts per thread: JS calls come from the main thread (or a worker's), first
 * contacts from the data plane's RX thread. */
static _Thread_local EVP_MAC_CTX *t_mac;
static _Thread_local EVP_CIPHER_CTX *t_cipher;

static int contexts_ready(void) {
  pthread_once(&g_fetch_once, fetch_algorithms);
  if (g_hmac == NULL || g_ctr == NULL) return 0;
  if (t_mac == NULL) {
    t_mac = EVP_MAC_CTX_new(g_hmac);
    if (t_mac == NULL) return 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_CTX_set_params(t_mac, params)) {
      EVP_MAC_CTX_free(t_mac);
      t_mac = NULL;
      return 0;
    }
  }
  if (t_cipher == NULL) t_cipher = EVP_CIPHER_CTX_new();
  return t_cipher != NULL;
}

void tc_thread_release(void) {
  EVP_MAC_CTX_free(t_mac);
  t_mac = NULL;
  EVP_CIPHER_CTX_free(t_cipher);
  t_cipher = NULL;
}

int tc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len,
                   const uint8_t *b, size_t b_len, uint8_t out[TC_TAG_LEN]) {
  size_t n = 0;
  return contexts_ready() && EVP_MAC_init(t_mac, key, key_len, NULL) &&
         EVP_MAC_update(t_mac, a, a_len) && EVP_MAC_update(t_mac, b, b_len) &&
         EVP_MAC_final(t_mac, out, &n, TC_TAG_LEN) && n == TC_TAG_LEN;
}

static int aes256_ctr(const uint8_t *key, const uint8_t *iv, const uint8_t *in, size_t len,
                      uint8_t *out) {
  int n = 0;
  if (len > INT32_MAX) return 0;
  if (!EVP_EncryptInit_ex2(t_cipher, g_ctr, key, iv, NULL)) return 0;
  if (len == 0) return 1;
  return EVP_EncryptUpdate(t_cipher, out, &n, in, (int)len) && (size_t)n == len;
}

int tc_seal(const uint8_t *ke, const uint8_t *ka, const uint8_t *header, const uint8_t *pt,
            size_t pt_len, uint8_t *out) {
  memcpy(out, header, TC_HEADER_LEN);
  return tc_hmac_sha256(ka, TC_KEY_LEN, header, TC_HEADER_LEN, pt, pt_len, out + TC_HEADER_LEN) &&
         aes256_ctr(ke, out + TC_HEADER_LEN, pt, pt_len, out + TC_OFF_CT);
}

tc_verdict tc_open(const uint8_t *ke, const uint8_t *ka, const uint8_t *authenticated,
                   size_t authenticated_len, const uint8_t *tag, const uint8_t *ct, size_t ct_len,
                   uint8_t *pt) {
  uint8_t expected[TC_TAG_LEN];
  if (!contexts_ready() || !aes256_ctr(ke, tag, ct, ct_len, pt) ||
      !tc_hmac_sha256(ka, TC_KEY_LEN, authenticated, authenticated_len, pt, ct_len, expected)) {
    return TC_OPENSSL_FAILED;
  }
  if (CRYPTO_memcmp(expected, tag, TC_TAG_LEN) != 0) {
    OPENSSL_cleanse(pt, ct_len);
    return TC_NOT_AUTHENTIC;
  }
  return TC_AUTHENTIC;
}

/* Reads `count` byte arguments; throws TypeError naming the first bad one. */
static int byte_args(napi_env env, napi_callback_info info, size_t count, uint8_t **data,
                     size_t *len) {
  napi_value argv[5];
  size_t argc = 5;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < count) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return 0;
  }
  for (size_t i = 0; i < count; i++) {
    if (!pst_get_bytes(env, argv[i], &data[i], &len[i])) {
      napi_throw_type_error(env, NULL, "expected a Uint8Array");
      return 0;
    }
  }
  if (len[0] != TC_KEY_LEN || len[1] != TC_KEY_LEN) {
    napi_throw_range_error(env, NULL, "tls-crypt keys are 32 bytes");
    return 0;
  }
  return 1;
}

static napi_value tls_crypt_seal(napi_env env, napi_callback_info info) {
  uint8_t *arg[4];
  size_t len[4];
  if (!byte_args(env, info, 4, arg, len)) return NULL;
  if (len[2] != TC_HEADER_LEN) {
    napi_throw_range_error(env, NULL, "a tls-crypt header is 17 bytes");
    return NULL;
  }
  void *raw = NULL;
  napi_value out;
  NAPI_CALL(env, napi_create_buffer(env, TC_OFF_CT + len[3], &raw, &out));
  if (!tc_seal(arg[0], arg[1], arg[2], arg[3], len[3], raw)) {
    napi_throw_error(env, "TLS_CRYPT_NATIVE", "tls-crypt seal failed in OpenSSL");
    return NULL;
  }
  return out;
}

/* The plaintext of `ct` if `tag` is HMAC-SHA256(ka, authenticated || plaintext); null if not. */
static napi_value open_parts(napi_env env, const uint8_t *ke, const uint8_t *ka,
                             const uint8_t *authenticated, size_t authenticated_len,
                             const uint8_t *tag, const uint8_t *ct, size_t ct_len) {
  void *raw = NULL;
  napi_value out;
  NAPI_CALL(env, napi_create_buffer(env, ct_len, &raw, &out));
  switch (tc_open(ke, ka, authenticated, authenticated_len, tag, ct, ct_len, raw)) {
    case TC_AUTHENTIC:
      return out;
    case TC_NOT_AUTHENTIC:
      NAPI_CALL(env, napi_get_null(env, &out));
      return out;
    default:
      napi_throw_error(env, "TLS_CRYPT_NATIVE", "tls-crypt open failed in OpenSSL");
      return NULL;
  }
}

static napi_value tls_crypt_open(napi_env env, napi_callback_info info) {
  uint8_t *arg[3];
  size_t len[3];
  if (!byte_args(env, info, 3, arg, len)) return NULL;
  const uint8_t *packet = arg[2];
  size_t packet_len = len[2];
  if (packet_len < TC_OFF_CT) {
    napi_value null_value;
    NAPI_CALL(env, napi_get_null(env, &null_value));
    return null_value;
  }
  return open_parts(env, arg[0], arg[1], packet, TC_HEADER_LEN, packet + TC_HEADER_LEN,
                    packet + TC_OFF_CT, packet_len - TC_OFF_CT);
}

static napi_value tls_crypt_open_detached(napi_env env, napi_callback_info info) {
  uint8_t *arg[5];
  size_t len[5];
  if (!byte_args(env, info, 5, arg, len)) return NULL;
  if (len[3] != TC_TAG_LEN) {
    napi_throw_range_error(env, NULL, "a tls-crypt tag is 32 bytes");
    return NULL;
  }
  return open_parts(env, arg[0], arg[1], arg[2], len[2], arg[3], arg[4], len[4]);
}

napi_status tls_crypt_register(napi_env env, napi_value exports) {
  static const pst_export functions[] = {
      {"tlsCryptSeal", tls_crypt_seal},
      {"tlsCryptOpen", tls_crypt_open},
      {"tlsCryptOpenDetached", tls_crypt_open_detached},
  };
  return pst_export_functions(env, exports, functions, sizeof functions / sizeof functions[0]);
}
