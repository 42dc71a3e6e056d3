/*
 * Test hooks: the data path's own seal/open/replay code, callable one packet at a time so that
 * differential tests can hold its bytes against the TypeScript reference without sockets, and a
 * SOCK_SEQPACKET socket pair that stands in for a TUN device (one packet per read and write,
 * like /dev/net/tun) so the whole loop can run without root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "napi_util.h"
#include "ovpn_dp.h"
#include "ovpn_dp_internal.h"
#include "ovpn_offload.h"

#define HOOK_CIPHER_NAME_MAX 32
#define HOOK_PAIR_BUFFER_BYTES (4 << 20)

static int get_cipher(napi_env env, napi_value value) {
  char name[HOOK_CIPHER_NAME_MAX];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, name, sizeof name, &length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "cipher must be a string");
    return OVPN_CIPHER_NONE;
  }
  int cipher = ovpn_cipher_from_name(name);
  if (cipher == OVPN_CIPHER_NONE) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "unknown cipher");
  }
  return cipher;
}

/* Reads key and implicit IV arguments and keys an ovpn_aead; throws and returns 0 if bad. */
static int hook_aead(napi_env env, napi_value *argv, int encrypt, ovpn_aead *a) {
  int cipher = get_cipher(env, argv[0]);
  if (cipher == OVPN_CIPHER_NONE) return 0;
  uint8_t *key, *iv;
  size_t key_len, iv_len;
  if (!pst_get_bytes(env, argv[1], &key, &key_len) || key_len != ovpn_cipher_key_size(cipher) ||
      !pst_get_bytes(env, argv[2], &iv, &iv_len) || iv_len != OVPN_IMPLICIT_IV_SIZE) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "bad key or implicit IV size");
    return 0;
  }
  if (!ovpn_aead_init(a, cipher, key, iv, encrypt)) {
    napi_throw_error(env, "ERR_POSTERN_NATIVE", "OpenSSL could not key the cipher");
    return 0;
  }
  return 1;
}

/* ovpnSealForTest(cipher, key, implicitIv, keyId, peerId (-1: DATA_V1), packetId, payload):
 * Buffer */
static napi_value hook_seal(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected 7 arguments");
    return NULL;
  }
  uint32_t key_id = 0, packet_id = 0;
  int32_t peer_id = 0;
  uint8_t *payload;
  size_t payload_len;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &key_id));
  NAPI_CALL(env, napi_get_value_int32(env, argv[4], &peer_id));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[5], &packet_id));
  if (!pst_get_bytes(env, argv[6], &payload, &payload_len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "payload must be a Uint8Array");
    return NULL;
  }
  ovpn_aead a;
  if (!hook_aead(env, argv, 1, &a)) return NULL;
  size_t overhead = peer_id >= 0 ? OVPN_V2_OVERHEAD : OVPN_V1_OVERHEAD;
  uint8_t *packet = malloc(overhead + payload_len + 1);
  if (packet == NULL) {
    ovpn_aead_free(&a);
    return pst_throw_errno(env, "malloc", ENOMEM);
  }
  if (payload_len > 0) memcpy(packet + overhead, payload, payload_len);
  size_t length = ovpn_seal(&a, (uint8_t)key_id, peer_id, packet_id, packet, payload_len);
  ovpn_aead_free(&a);
  napi_value result;
  napi_status status = length == 0 ? napi_generic_failure
                                   : napi_create_buffer_copy(env, length, packet, NULL, &result);
  free(packet);
  if (status != napi_ok) {
    napi_throw_error(env, "ERR_POSTERN_NATIVE", "sealing failed");
    return NULL;
  }
  return result;
}

/* ovpnOpenForTest(cipher, key, implicitIv, keyId, packet): Buffer (the payload) or a string (the
 * drop reason). A fresh replay window per call; the packet is not modified. */
static napi_value hook_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected 5 arguments");
    return NULL;
  }
  uint32_t key_id = 0;
  uint8_t *input;
  size_t length;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &key_id));
  if (!pst_get_bytes(env, argv[4], &input, &length)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "packet must be a Uint8Array");
    return NULL;
  }
  ovpn_aead a;
  if (!hook_aead(env, argv, 0, &a)) return NULL;
  uint8_t *packet = malloc(length + 1);
  if (packet == NULL) {
    ovpn_aead_free(&a);
    return pst_throw_errno(env, "malloc", ENOMEM);
  }
  if (length > 0) memcpy(packet, input, length);

  ovpn_replay window = {0, 0};
  ovpn_data_header h;
  uint8_t *plain = NULL;
  size_t plain_len = 0;
  int reason = ovpn_parse_data(packet, length, &h);
  if (reason < 0 && (packet[0] & OVPN_KEY_ID_MASK) != key_id) reason = OVPN_DROP_WRONG_KEY_ID;
  if (reason < 0) reason = ovpn_open(&a, &window, packet, length, &h, &plain, &plain_len);
  ovpn_aead_free(&a);

  napi_value result;
  napi_status status =
      reason >= 0
          ? napi_create_string_utf8(env, ovpn_drop_names[reason], NAPI_AUTO_LENGTH, &result)
          : napi_create_buffer_copy(env, plain_len, plain, NULL, &result);
  OPENSSL_cleanse(packet, length);
  free(packet);
  NAPI_CALL(env, status);
  return result;
}

static const char *const REPLAY_VERDICTS[] = {
    [OVPN_REPLAY_OK] = "ok",
    [OVPN_REPLAY_TOO_OLD] = "too-old",
    [OVPN_REPLAY_DUPLICATE] = "duplicate",
    [OVPN_REPLAY_INVALID] = "invalid",
};

/* ovpnReplayForTest(ids: number[], authentic: boolean[]): string[]
 * Runs one window over the ids as the receive path does: check, and update only when the check
 * said ok and the packet is marked authentic. Ids must be 0..2^32-1 (wire packet ids). */
static napi_value hook_replay(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_array = false;
  if (argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "ids must be an array");
    return NULL;
  }
  uint32_t count = 0;
  NAPI_CALL(env, napi_get_array_length(env, argv[0], &count));
  napi_value result;
  NAPI_CALL(env, napi_create_array_with_length(env, count, &result));
  ovpn_replay window = {0, 0};
  for (uint32_t i = 0; i < count; i++) {
    napi_value id_value, flag_value, verdict_value;
    uint32_t id = 0;
    bool authentic = true;
    NAPI_CALL(env, napi_get_element(env, argv[0], i, &id_value));
    NAPI_CALL(env, napi_get_value_uint32(env, id_value, &id));
    if (napi_get_element(env, argv[1], i, &flag_value) == napi_ok) {
      napi_get_value_bool(env, flag_value, &authentic);
    }
    ovpn_replay_verdict verdict = ovpn_replay_check(&window, id);
    if (verdict == OVPN_REPLAY_OK && authentic) ovpn_replay_update(&window, id);
    NAPI_CALL(env, napi_create_string_utf8(env, REPLAY_VERDICTS[verdict], NAPI_AUTO_LENGTH,
                                           &verdict_value));
    NAPI_CALL(env, napi_set_element(env, result, i, verdict_value));
  }
  return result;
}

/* ovpnPacketPairForTest(): [fd, fd], a non-blocking SOCK_SEQPACKET pair: a TUN stand-in. */
static napi_value hook_packet_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
    return pst_throw_errno(env, "socketpair", errno);
  }
  /* A TUN device queues ~500 packets (txqueuelen) and never blocks a writer; a socket pair
   * holds only its send buffer's worth, so give it room for bursts. */
  int size = HOOK_PAIR_BUFFER_BYTES;
  for (int i = 0; i < 2; i++) {
    if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0) {
      setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
  }
  napi_value result, a, b;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok ||
      napi_create_int32(env, fds[0], &a) != napi_ok ||
      napi_create_int32(env, fds[1], &b) != napi_ok ||
      napi_set_element(env, result, 0, a) != napi_ok ||
      napi_set_element(env, result, 1, b) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    pst_throw_status(env, napi_generic_failure, "building the pair");
    return NULL;
  }
  return result;
}

#define HOOK_PACKETS_MAX 4096
#define HOOK_OUT_BYTES (1 << 21)

/* ovpnTsoForTest(frame: Uint8Array (virtio_net_hdr + packet), headroom: number):
 * Buffer[] | 'bad-offload'. What the TX thread does to a TUN read: a super-packet is cut into
 * segments (returned without the headroom), a plain one gets its partial checksum completed. */
static napi_value hook_tso(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *frame;
  size_t len;
  uint32_t headroom = 0;
  if (argc < 2 || !pst_get_bytes(env, argv[0], &frame, &len) ||
      napi_get_value_uint32(env, argv[1], &headroom) != napi_ok || headroom > 64) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (frame: Uint8Array, headroom)");
    return NULL;
  }
  napi_value result;
  if (len < OVPN_VNET_HDR_SIZE) {
    NAPI_CALL(env, napi_create_string_utf8(env, "bad-offload", NAPI_AUTO_LENGTH, &result));
    return result;
  }
  ovpn_vnet h;
  ovpn_vnet_read(frame, &h);
  uint8_t *packet = malloc(len + 1);
  uint8_t *out = malloc(HOOK_OUT_BYTES);
  ovpn_segment *segments = calloc(OVPN_TSO_SEGMENTS_MAX, sizeof *segments);
  if (packet == NULL || out == NULL || segments == NULL) {
    free(packet);
    free(out);
    free(segments);
    return pst_throw_errno(env, "malloc", ENOMEM);
  }
  size_t plen = len - OVPN_VNET_HDR_SIZE;
  if (plen > 0) memcpy(packet, frame + OVPN_VNET_HDR_SIZE, plen);
  int count;
  size_t stride = 0;
  unsigned gso = h.gso_type & (unsigned)~OVPN_VNET_GSO_ECN;
  if (gso == OVPN_VNET_GSO_NONE) {
    count = (h.flags & OVPN_VNET_F_NEEDS_CSUM) && !ovpn_csum_complete(packet, plen, &h) ? -1 : 1;
    if (count == 1) {
      if (plen > 0) memcpy(out + headroom, packet, plen);
      segments[0] = (ovpn_segment){headroom, plen};
    }
  } else {
    count = ovpn_tso_split(packet, plen, &h, out, HOOK_OUT_BYTES, headroom, segments,
                           OVPN_TSO_SEGMENTS_MAX, &stride);
  }
  napi_status status;
  if (count < 0) {
    status = napi_create_string_utf8(env, "bad-offload", NAPI_AUTO_LENGTH, &result);
  } else {
    status = napi_create_array_with_length(env, (size_t)count, &result);
    for (int k = 0; k < count && status == napi_ok; k++) {
      napi_value segment;
      status = napi_create_buffer_copy(env, segments[k].len, out + segments[k].offset, NULL,
                                       &segment);
      if (status == napi_ok) status = napi_set_element(env, result, (uint32_t)k, segment);
    }
  }
  free(packet);
  free(out);
  free(segments);
  NAPI_CALL(env, status);
  return result;
}

/* ovpnGroForTest(packets: Uint8Array[]): Buffer[]
 * Runs one RX batch of decrypted packets through the coalescer and returns what it wrote to
 * the TUN device, write by write (each a virtio_net_hdr and a packet). */
static napi_value hook_gro(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_array = false;
  uint32_t count = 0;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &count) != napi_ok || count > HOOK_PACKETS_MAX) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected up to 4096 packets");
    return NULL;
  }
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
    return pst_throw_errno(env, "socketpair", errno);
  }
  int size = HOOK_PAIR_BUFFER_BYTES;
  if (setsockopt(fds[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  ovpn_gro *g = ovpn_gro_new((int)count + 1);
  uint8_t **copies = calloc(count + 1, sizeof *copies);
  uint8_t *frame = malloc(OVPN_IP_PACKET_MAX + OVPN_VNET_HDR_SIZE + 1);
  napi_value result = NULL;
  bool ok = g != NULL && copies != NULL && frame != NULL;
  for (uint32_t i = 0; ok && i < count; i++) {
    napi_value element;
    uint8_t *data;
    size_t len;
    ok = napi_get_element(env, argv[0], i, &element) == napi_ok &&
         pst_get_bytes(env, element, &data, &len) && len <= OVPN_IP_PACKET_MAX;
    if (ok) ok = (copies[i] = malloc(len + OVPN_VNET_HDR_SIZE + 1)) != NULL;
    if (ok) {
      if (len > 0) memcpy(copies[i] + OVPN_VNET_HDR_SIZE, data, len);
      ok = ovpn_gro_add(g, copies[i] + OVPN_VNET_HDR_SIZE, len);
    }
  }
  if (ok) {
    uint32_t writes = 0;
    ovpn_gro_flush(g, fds[0], &writes);
    ok = napi_create_array_with_length(env, writes, &result) == napi_ok;
    for (uint32_t i = 0; ok && i < writes; i++) {
      ssize_t n = recv(fds[1], frame, OVPN_IP_PACKET_MAX + OVPN_VNET_HDR_SIZE + 1, MSG_DONTWAIT);
      napi_value written;
      ok = n >= 0 && napi_create_buffer_copy(env, (size_t)n, frame, NULL, &written) == napi_ok &&
           napi_set_element(env, result, i, written) == napi_ok;
    }
  }
  for (uint32_t i = 0; copies != NULL && i < count; i++) free(copies[i]);
  free(copies);
  free(frame);
  ovpn_gro_free(g);
  close(fds[0]);
  close(fds[1]);
  if (!ok) {
    pst_throw_status(env, napi_generic_failure, "ovpnGroForTest");
    return NULL;
  }
  return result;
}

napi_status ovpn_hooks_register(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"ovpnSealForTest", NULL, hook_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ovpnOpenForTest", NULL, hook_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ovpnReplayForTest", NULL, hook_replay, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ovpnPacketPairForTest", NULL, hook_packet_pair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ovpnTsoForTest", NULL, hook_tso, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ovpnGroForTest", NULL, hook_gro, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ovpnFirstContactForTest", NULL, dp_first_contact_for_test_js, NULL, NULL, NULL,
       napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
}
