/*
 * The stateless reset reply of OpenVPN 2.6, answered on the RX thread: a client's first packet
 * goes out again as the gateway's HARD_RESET_SERVER_V2 without a trip through JS (~0.4 ms of
 * JavaScript per connect), and a forged reset is dropped and counted here, so neither, however
 * many, reaches the event loop. The reference, and the answer to everything this file does not
 * take, is src/proto/openvpn/session/first-contact.ts; a differential test holds the two
 * byte-equal, and every drop here one the reference makes for the same reason.
 *
 * Answered here (DP_FC_REPLY):
 *   tls-crypt-v2  HARD_RESET_CLIENT_V3, key id 0, whose WKc opens with the server key, whose
 *                 tls-crypt packet id announces early negotiation (0x0f......), and whose body
 *                 opens with Kc and is a reset with no acks and message packet id 0;
 *   tls-crypt     HARD_RESET_CLIENT_V2, key id 0, the same checks with the static key.
 * Dropped here: such a reset whose WKc does not open (DP_FC_DROP_BAD_WKC) or whose body does
 * not authenticate (DP_FC_DROP_AUTH_FAILED). Anything else goes to JS (DP_FC_TO_JS).
 * The reply: HARD_RESET_SERVER_V2, session id = the cookie, ack [0] to the client's session,
 * message packet id 0, payload the EARLY_NEG_FLAGS TLV asking for WKc again (v2) or nothing,
 * wrapped with the server's send key under tls-crypt packet id 1 and the current second.
 *
 * The cookie is hmac-cookie.ts's: HMAC-SHA256(cookie key, label || slot (4, BE) || address
 * length (1) || address (4, or 16; v4-mapped folded to 4) || port (2, BE) || client session
 * id), its first 8 bytes, an all-zero result's last byte set to 1.
 */
#include "ovpn_dp_internal.h"
#include "tls_crypt.h"

#define FC_OP_HARD_RESET_CLIENT_V2 7
#define FC_OP_HARD_RESET_SERVER_V2 8
#define FC_OP_HARD_RESET_CLIENT_V3 10
#define FC_SESSION_ID_LEN 8
#define FC_OFF_WRAP_PACKET_ID (OVPN_OPCODE_SIZE + FC_SESSION_ID_LEN)
#define FC_KEY2_LEN 256
#define FC_KEY_HALF_LEN 128
/* Within a 128-byte key: cipher (64) | hmac (64); tls-crypt takes 32 bytes of each. */
#define FC_HMAC_OFFSET 64
#define FC_V2_SERVER_KEY_LEN 128
#define FC_WKC_LEN_SIZE 2
#define FC_WKC_MAX 1024
#define FC_EARLY_NEG_MASK 0xff000000u
#define FC_EARLY_NEG_START 0x0f000000u
#define FC_COOKIE_KEY_MIN 16
#define FC_COOKIE_KEY_MAX 64
#define FC_RESET_REPLY_WRAP_ID 1
#define FC_MS_PER_SEC 1000
static const char FC_COOKIE_LABEL[] = "postern openvpn session cookie v2";
#define FC_COOKIE_LABEL_LEN (sizeof FC_COOKIE_LABEL - 1)
/* The reply's body: ack count, ack 0, the client's session id, packet id 0, then the TLV
 * (type 1, length 2, flags RESEND_WKC) with tls-crypt-v2. */
#define FC_BODY_FIXED (1 + 4 + FC_SESSION_ID_LEN + 4)
#define FC_TLV_LEN 6
/* The least a client reset's body holds: ack count 0, message packet id. */
#define FC_RESET_BODY_MIN 5
_Static_assert(TC_OFF_CT + FC_BODY_FIXED + FC_TLV_LEN <= DP_FIRST_CONTACT_REPLY_MAX,
               "the longest reply fits the caller's buffer");

struct dp_first_contact {
  bool v2;
  /* v2: the server key's Ke / Ka; tls-crypt: the static key's receive and send halves. */
  uint8_t server_ke[TC_KEY_LEN], server_ka[TC_KEY_LEN];
  uint8_t static_key[FC_KEY2_LEN];
  uint8_t cookie_key[FC_COOKIE_KEY_MAX];
  size_t cookie_key_len;
  uint64_t slot_ms;
};

dp_first_contact *dp_first_contact_new(bool v2, const uint8_t *key, size_t key_len,
                                       const uint8_t *cookie_key, size_t cookie_key_len,
                                       uint64_t slot_ms) {
  if (key_len != (v2 ? FC_V2_SERVER_KEY_LEN : FC_KEY2_LEN) || cookie_key_len < FC_COOKIE_KEY_MIN ||
      cookie_key_len > FC_COOKIE_KEY_MAX || slot_ms == 0) {
    return NULL;
  }
  dp_first_contact *fc = calloc(1, sizeof *fc);
  if (fc == NULL) return NULL;
  fc->v2 = v2;
  if (v2) {
    memcpy(fc->server_ke, key, TC_KEY_LEN);
    memcpy(fc->server_ka, key + FC_HMAC_OFFSET, TC_KEY_LEN);
  } else {
    memcpy(fc->static_key, key, FC_KEY2_LEN);
  }
  memcpy(fc->cookie_key, cookie_key, cookie_key_len);
  fc->cookie_key_len = cookie_key_len;
  fc->slot_ms = slot_ms;
  return fc;
}

void dp_first_contact_free(dp_first_contact *fc) {
  if (fc == NULL) return;
  OPENSSL_cleanse(fc, sizeof *fc);
  free(fc);
}

static uint32_t read_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void write_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Kc from the WKc at the end of `p` (tls_crypt.c tls_crypt_v2_extract_client_key); *body_len:
 * the packet without it. TC_NOT_AUTHENTIC for every WKc the reference refuses (a length it does
 * not take, too short to hold Kc, a tag that does not match: tls-crypt-v2.ts splitWrappedClientKey
 * and unwrapClientKey), TC_OPENSSL_FAILED when OpenSSL could not tell. */
static tc_verdict unwrap_client_key(const dp_first_contact *fc, const uint8_t *p, size_t len,
                                    uint8_t kc[FC_KEY2_LEN], size_t *body_len) {
  if (len < OVPN_OPCODE_SIZE + 1 + FC_WKC_LEN_SIZE) return TC_NOT_AUTHENTIC;
  size_t wkc_len = ((size_t)p[len - 2] << 8) | p[len - 1];
  if (wkc_len > len - OVPN_OPCODE_SIZE || wkc_len > FC_WKC_MAX ||
      wkc_len < TC_TAG_LEN + FC_WKC_LEN_SIZE + FC_KEY2_LEN) {
    return TC_NOT_AUTHENTIC;
  }
  const uint8_t *wkc = p + len - wkc_len;
  size_t ct_len = wkc_len - TC_TAG_LEN - FC_WKC_LEN_SIZE;
  uint8_t plain[FC_WKC_MAX];
  tc_verdict v = tc_open(fc->server_ke, fc->server_ka, p + len - FC_WKC_LEN_SIZE,
                         FC_WKC_LEN_SIZE, wkc, wkc + TC_TAG_LEN, ct_len, plain);
  if (v == TC_AUTHENTIC) memcpy(kc, plain, FC_KEY2_LEN);
  OPENSSL_cleanse(plain, ct_len);
  *body_len = len - wkc_len;
  return v;
}

/* 8 bytes of HMAC over the client's address, port and session id in the current slot. */
static bool make_cookie(const dp_first_contact *fc, const uint8_t *address, size_t address_len,
                        uint16_t port, const uint8_t *client_sid, uint64_t now_ms,
                        uint8_t cookie[FC_SESSION_ID_LEN]) {
  uint8_t fields[FC_COOKIE_LABEL_LEN + 4 + 1 + 16 + 2 + FC_SESSION_ID_LEN];
  size_t n = 0;
  memcpy(fields, FC_COOKIE_LABEL, FC_COOKIE_LABEL_LEN);
  n += FC_COOKIE_LABEL_LEN;
  write_be32(fields + n, (uint32_t)(now_ms / fc->slot_ms));
  n += 4;
  fields[n++] = (uint8_t)address_len;
  memcpy(fields + n, address, address_len);
  n += address_len;
  fields[n++] = (uint8_t)(port >> 8);
  fields[n++] = (uint8_t)port;
  uint8_t mac[TC_TAG_LEN];
  if (!tc_hmac_sha256(fc->cookie_key, fc->cookie_key_len, fields, n, client_sid,
                      FC_SESSION_ID_LEN, mac)) {
    return false;
  }
  memcpy(cookie, mac, FC_SESSION_ID_LEN);
  uint8_t any = 0;
  for (int i = 0; i < FC_SESSION_ID_LEN; i++) any |= cookie[i];
  if (any == 0) cookie[FC_SESSION_ID_LEN - 1] = 1;
  return true;
}

dp_fc_verdict dp_first_contact_reply(const dp_first_contact *fc, const uint8_t *p, size_t len,
                                     const uint8_t *address, size_t address_len, uint16_t port,
                                     uint64_t now_ms, uint8_t out[DP_FIRST_CONTACT_REPLY_MAX],
                                     size_t *out_len) {
  *out_len = 0;
  unsigned reset = fc->v2 ? FC_OP_HARD_RESET_CLIENT_V3 : FC_OP_HARD_RESET_CLIENT_V2;
  if (len < TC_OFF_CT || p[0] != (reset << OVPN_OPCODE_SHIFT)) return DP_FC_TO_JS;
  if (address_len != 4 && address_len != 16) return DP_FC_TO_JS;
  uint8_t kc[FC_KEY2_LEN];
  const uint8_t *key2 = fc->static_key;
  size_t body_len = len;
  if (fc->v2) {
    tc_verdict wkc = unwrap_client_key(fc, p, len, kc, &body_len);
    if (wkc != TC_AUTHENTIC) return wkc == TC_NOT_AUTHENTIC ? DP_FC_DROP_BAD_WKC : DP_FC_TO_JS;
    key2 = kc;
  }
  dp_fc_verdict verdict = DP_FC_TO_JS;
  uint8_t plain[DP_FIRST_CONTACT_BODY_MAX];
  size_t ct_len = body_len >= TC_OFF_CT ? body_len - TC_OFF_CT : 0;
  /* Server direction 'normal': receive with the second half, send with the first. */
  const uint8_t *rx = key2 + FC_KEY_HALF_LEN, *tx = key2;
  if (ct_len < FC_RESET_BODY_MIN || ct_len > sizeof plain) goto done;
  tc_verdict body = tc_open(rx, rx + FC_HMAC_OFFSET, p, TC_HEADER_LEN, p + TC_HEADER_LEN,
                            p + TC_OFF_CT, ct_len, plain);
  if (body != TC_AUTHENTIC) {
    /* The reference opens the same body the same way (tlsCryptUnwrap: "auth-failed"). */
    if (body == TC_NOT_AUTHENTIC) verdict = DP_FC_DROP_AUTH_FAILED;
    goto done;
  }
  /* A reset: no acks (so no remote session id), message packet id 0; the payload is not read. */
  uint32_t wrap_id = read_be32(p + FC_OFF_WRAP_PACKET_ID);
  if (plain[0] != 0 || read_be32(plain + 1) != 0) goto done;
  if (fc->v2 && (wrap_id & FC_EARLY_NEG_MASK) != FC_EARLY_NEG_START) goto done;

  const uint8_t *client_sid = p + OVPN_OPCODE_SIZE;
  uint8_t header[TC_HEADER_LEN];
  header[0] = FC_OP_HARD_RESET_SERVER_V2 << OVPN_OPCODE_SHIFT;
  if (!make_cookie(fc, address, address_len, port, client_sid, now_ms, header + 1)) goto done;
  write_be32(header + FC_OFF_WRAP_PACKET_ID, FC_RESET_REPLY_WRAP_ID);
  write_be32(header + FC_OFF_WRAP_PACKET_ID + 4, (uint32_t)(now_ms / FC_MS_PER_SEC));
  uint8_t reply_body[FC_BODY_FIXED + FC_TLV_LEN] = {1, 0, 0, 0, 0};
  memcpy(reply_body + 5, client_sid, FC_SESSION_ID_LEN);
  size_t n = FC_BODY_FIXED; /* message packet id 0 is already there */
  if (fc->v2) {
    static const uint8_t resend_wkc[FC_TLV_LEN] = {0, 1, 0, 2, 0, 1};
    memcpy(reply_body + n, resend_wkc, FC_TLV_LEN);
    n += FC_TLV_LEN;
  }
  if (tc_seal(tx, tx + FC_HMAC_OFFSET, header, reply_body, n, out)) {
    *out_len = TC_OFF_CT + n;
    verdict = DP_FC_REPLY;
  }
done:
  OPENSSL_cleanse(plain, sizeof plain);
  if (fc->v2) OPENSSL_cleanse(kc, sizeof kc);
  return verdict;
}

dp_fc_verdict dp_first_contact_answer(const dp_first_contact *fc, const uint8_t *p, size_t len,
                                      const dp_sockaddr *from, uint64_t now_ms,
                                      uint8_t out[DP_FIRST_CONTACT_REPLY_MAX], size_t *out_len) {
  static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  *out_len = 0;
  if (from->sa.sa_family == AF_INET) {
    return dp_first_contact_reply(fc, p, len, (const uint8_t *)&from->v4.sin_addr, 4,
                                  ntohs(from->v4.sin_port), now_ms, out, out_len);
  }
  if (from->sa.sa_family != AF_INET6) return DP_FC_TO_JS;
  const uint8_t *a = from->v6.sin6_addr.s6_addr;
  bool mapped = memcmp(a, v4_mapped, sizeof v4_mapped) == 0;
  return dp_first_contact_reply(fc, p, len, mapped ? a + sizeof v4_mapped : a, mapped ? 4 : 16,
                                ntohs(from->v6.sin6_port), now_ms, out, out_len);
}

/* ------------------------------------------------------------------------------- from JS */

/* (v2: boolean, key, cookieKey, slotMs) at argv; NULL and a JS exception when one is wrong. */
static dp_first_contact *first_contact_from_js(napi_env env, napi_value *argv) {
  bool v2 = false;
  uint8_t *key, *cookie_key;
  size_t key_len, cookie_key_len;
  double slot_ms = 0;
  if (napi_get_value_bool(env, argv[0], &v2) != napi_ok ||
      !pst_get_bytes(env, argv[1], &key, &key_len) ||
      !pst_get_bytes(env, argv[2], &cookie_key, &cookie_key_len) ||
      napi_get_value_double(env, argv[3], &slot_ms) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "first contact: (v2: boolean, key, cookieKey: Uint8Array, slotMs)");
    return NULL;
  }
  dp_first_contact *fc =
      slot_ms >= 1 && slot_ms <= UINT32_MAX
          ? dp_first_contact_new(v2, key, key_len, cookie_key, cookie_key_len, (uint64_t)slot_ms)
          : NULL;
  if (fc == NULL) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "first contact: a 128-byte tls-crypt-v2 server key or a 256-byte "
                           "tls-crypt key, a 16..64-byte cookie key, a slot of >= 1 ms");
  }
  return fc;
}

/* setFirstContact(v2, key, cookieKey, slotMs) | setFirstContact(null): the RX thread answers
 * client resets itself from the next batch on, or (null) hands them all to JS again. */
napi_value dp_set_first_contact_js(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  dp *d = dp_from_this(env, info, &argc, argv);
  if (d == NULL) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc > 0) NAPI_CALL(env, napi_typeof(env, argv[0], &type));
  dp_first_contact *fc = NULL;
  if (type != napi_null && type != napi_undefined) {
    if (argc < 4) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setFirstContact: 4 arguments or null");
      return NULL;
    }
    if ((fc = first_contact_from_js(env, argv)) == NULL) return NULL;
  }
  pthread_rwlock_wrlock(&d->lock);
  dp_first_contact *old = d->first_contact;
  d->first_contact = fc;
  pthread_rwlock_unlock(&d->lock);
  dp_first_contact_free(old);
  return NULL;
}

/* setResetReplyLimit(max, windowMs): at most max of the RX thread's reset replies per window
 * (--connect-freq-initial); max 0: no limit. */
napi_value dp_set_reset_reply_limit_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  dp *d = dp_from_this(env, info, &argc, argv);
  if (d == NULL) return NULL;
  uint32_t max = 0;
  double window_ms = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &max) != napi_ok ||
      napi_get_value_double(env, argv[1], &window_ms) != napi_ok || !(window_ms >= 1) ||
      window_ms > (double)UINT32_MAX * 1000) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "setResetReplyLimit(max: uint32, windowMs: >= 1)");
    return NULL;
  }
  atomic_store_explicit(&d->reset_reply_window_ms, (uint64_t)window_ms, memory_order_relaxed);
  atomic_store_explicit(&d->reset_reply_max, max, memory_order_relaxed);
  return NULL;
}

/* firstContactReplyForTest(v2, key, cookieKey, slotMs, packet, ip, port, nowMs): the RX thread's
 * answer computed on the calling thread (differential tests): the reply (a Buffer), the reason
 * of a drop ("bad-wkc", "auth-failed"), or null (left to JS). */
napi_value dp_first_contact_for_test_js(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *packet;
  size_t packet_len;
  char ip[INET6_ADDRSTRLEN];
  size_t ip_len = 0;
  uint32_t port = 0;
  double now_ms = 0;
  dp_sockaddr from;
  memset(&from, 0, sizeof from);
  if (argc < 8 || !pst_get_bytes(env, argv[4], &packet, &packet_len) ||
      napi_get_value_string_utf8(env, argv[5], ip, sizeof ip, &ip_len) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &port) != napi_ok || port > 65535 ||
      napi_get_value_double(env, argv[7], &now_ms) != napi_ok || !(now_ms >= 0)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "(v2, key, cookieKey, slotMs, packet, ip, port, nowMs)");
    return NULL;
  }
  if (inet_pton(AF_INET, ip, &from.v4.sin_addr) == 1) {
    from.v4.sin_family = AF_INET;
    from.v4.sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, ip, &from.v6.sin6_addr) == 1) {
    from.v6.sin6_family = AF_INET6;
    from.v6.sin6_port = htons((uint16_t)port);
  } else {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "ip: an IPv4 or IPv6 address");
    return NULL;
  }
  dp_first_contact *fc = first_contact_from_js(env, argv);
  if (fc == NULL) return NULL;
  uint8_t out[DP_FIRST_CONTACT_REPLY_MAX];
  size_t n = 0;
  dp_fc_verdict v = dp_first_contact_answer(fc, packet, packet_len, &from, (uint64_t)now_ms, out,
                                            &n);
  dp_first_contact_free(fc);
  napi_value result;
  switch (v) {
  case DP_FC_REPLY: {
    void *raw = NULL;
    NAPI_CALL(env, napi_create_buffer_copy(env, n, out, &raw, &result));
    return result;
  }
  case DP_FC_DROP_BAD_WKC:
    NAPI_CALL(env, napi_create_string_utf8(env, "bad-wkc", NAPI_AUTO_LENGTH, &result));
    return result;
  case DP_FC_DROP_AUTH_FAILED:
    NAPI_CALL(env, napi_create_string_utf8(env, "auth-failed", NAPI_AUTO_LENGTH, &result));
    return result;
  case DP_FC_TO_JS:
    break;
  }
  NAPI_CALL(env, napi_get_null(env, &result));
  return result;
}
