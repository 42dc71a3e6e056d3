/*
 * tls-crypt's primitives in C (tls_crypt.c), for the N-API functions there and for the RX
 * thread's first contact (ovpn_first_contact.c). Each thread keeps its own OpenSSL contexts.
 */
#ifndef POSTERN_TLS_CRYPT_H
#define POSTERN_TLS_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#define TC_KEY_LEN 32
#define TC_HEADER_LEN 17
#define TC_TAG_LEN 32
#define TC_OFF_CT (TC_HEADER_LEN + TC_TAG_LEN)

typedef enum { TC_AUTHENTIC = 1, TC_NOT_AUTHENTIC = 0, TC_OPENSSL_FAILED = -1 } tc_verdict;

/* HMAC-SHA256 of a || b under a key of `key_len` bytes; 0 if OpenSSL failed. */
int tc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len,
                   const uint8_t *b, size_t b_len, uint8_t out[TC_TAG_LEN]);

/* Writes header (17) || tag || ciphertext at `out` (TC_OFF_CT + pt_len bytes); 0 on failure. */
int tc_seal(const uint8_t *ke, const uint8_t *ka, const uint8_t *header, const uint8_t *pt,
            size_t pt_len, uint8_t *out);

/* Decrypts `ct` into `pt` and checks that `tag` is HMAC-SHA256(ka, authenticated || pt); `pt`
 * is wiped when it is not. */
tc_verdict tc_open(const uint8_t *ke, const uint8_t *ka, const uint8_t *authenticated,
                   size_t authenticated_len, const uint8_t *tag, const uint8_t *ct, size_t ct_len,
                   uint8_t *pt);

/* Frees the calling thread's contexts (a worker thread, before it ends). */
void tc_thread_release(void);

#endif
