/*
 * The OpenVPN-over-UDP data plane in native code: one UDP socket and one TUN fd, two worker
 * threads, configured from JS. Postern's equivalent of OpenVPN's DCO. This file: its life
 * cycle and the N-API class JS drives it with; the parts are listed in ovpn_dp_internal.h.
 *
 *   RX thread (ovpn_rx.c): recvmmsg (64) -> per datagram: DATA_V2 of a known peer with that
 *              key id -> replay check, AEAD open in place, replay update, float, ping, inner
 *              source check -> write to TUN. Other OpenVPN opcodes and unknown peer ids -> JS.
 *   TX thread (ovpn_tx.c): read TUN (up to 64) -> inner destination -> peer -> AEAD seal in
 *              place with the primary key -> sendmmsg. Packets for no native peer -> JS.
 *              While traffic is light the RX thread polls the TUN device instead and runs
 *              this same step itself (the reply to what it just wrote is often there before it
 *              would sleep: one thread woken per round trip, as in OpenVPN, instead of two); a
 *              batch of 8 or a super-packet hands the device to the TX thread, 10 ms of quiet
 *              hands it back. `tx_claimed` lets one thread at a time run the step.
 *   TCP thread (ovpn_tcp.c, started with the first TCP peer): OpenVPN-over-TCP streams JS
 *              handed over; the same open/accept as RX; TX frames a TCP peer's packets into
 *              its stream's buffer instead of a datagram.
 *
 * Offloads (optional, on by default from TypeScript): the TUN fd has IFF_VNET_HDR and TSO, so
 * TX reads TCP super-packets of up to 64 KiB, cuts them itself and sends each as one UDP GSO
 * train; the socket has UDP GRO, so RX receives trains in one message and writes consecutive
 * TCP segments to the TUN device as one coalesced packet (ovpn_offload.c). That turns ~45
 * system calls and stack traversals per 64 KiB into ~1 on each side.
 *
 * Locking. The peer tables, keys and peers change only on the JS thread, under `lock` taken
 * for writing (a pthread rwlock preferring writers). Each worker takes it for reading once per
 * batch, around the crypto and routing of the whole batch, and never while blocked in a system
 * call, so the fast path pays one uncontended atomic pair per 64 packets and JS waits at most
 * one batch. Per-peer state is split by writer: the RX thread owns the receive key halves, the
 * replay windows and the *_in counters; the TX step owns the send key halves, packet id
 * counters and *_out counters (whichever thread holds `tx_claimed` runs it; JS touches them
 * only under the write lock: sendPing). The one
 * field two threads write concurrently is the peer's remote address (RX floats it, TX reads
 * it): a per-peer spinlock. Counters are relaxed atomics so JS can read them at any time
 * without the lock (peers are freed only on the JS thread, so a peer JS can see is alive).
 *
 * JS hand-off. Workers append records to a batch (one malloc'd block), push it onto a
 * mutex-protected queue and uv_async_send; the JS thread turns each batch into ONE external
 * Buffer (no copy) and makes ONE call. Record layout, little-endian:
 *   0 u32 length | 4 u32 value (float: peer id; error: errno) | 8 u16 port (error: thread)
 *   10 u16 family (4, 6 or 0) | 12 address[16] (IPv4 in the first 4)
 *   28 u16 local family (4, 6 or 0: the gateway address the datagram was sent to) | 30 u16 0
 *   32 local address[16] | 48 bytes[length]
 * Control and unrouted batches are dropped (and counted) once DP_JS_QUEUE_MAX_BYTES are pending.
 */

#define _GNU_SOURCE
#include "ovpn_dp_internal.h"

static const char *const STAT_NAMES[STAT_COUNT] = {
    [STAT_RX_DATAGRAMS] = "rxDatagrams",     [STAT_RX_BATCHES] = "rxBatches",
    [STAT_RX_DELIVERED] = "rxDelivered",     [STAT_RX_PINGS] = "rxPings",
    [STAT_TX_PACKETS] = "txPackets",         [STAT_TX_BATCHES] = "txBatches",
    [STAT_TX_SENT] = "txSent",               [STAT_TX_SENDMMSG_CALLS] = "txSendmmsgCalls",
    [STAT_TO_JS_CONTROL] = "toJsControl",    [STAT_TO_JS_UNROUTED] = "toJsUnrouted",
    [STAT_FLOATS] = "floats",
    [STAT_RX_GRO_DATAGRAMS] = "rxGroDatagrams", [STAT_RX_TUN_WRITES] = "rxTunWrites",
    [STAT_TX_SUPER_PACKETS] = "txSuperPackets", [STAT_TX_SEGMENTS] = "txSegments",
    [STAT_TCP_RX_PACKETS] = "tcpRxPackets",     [STAT_TCP_READS] = "tcpReads",
    [STAT_TCP_TX_PACKETS] = "tcpTxPackets",     [STAT_TCP_WRITES] = "tcpWrites",
    [STAT_TX_BY_RX] = "txByRx",                 [STAT_FIRST_CONTACT_REPLIES] = "firstContactReplies",
    [STAT_FIRST_CONTACT_BAD_WKC] = "firstContactBadWkc",
    [STAT_FIRST_CONTACT_AUTH_FAILED] = "firstContactAuthFailed",
    [STAT_FIRST_CONTACT_RATE_LIMITED] = "firstContactRateLimited",
};

/* ---------------------------------------------------------------- life cycle */

static void free_dp(dp *d) {
  pthread_rwlock_destroy(&d->lock);
  pthread_mutex_destroy(&d->queue_lock);
  pthread_mutex_destroy(&d->tcp_lock);
  free(d);
}

static void on_async_closed(uv_handle_t *handle) {
  dp *d = handle->data;
  d->async_open = false;
  if (d->wrapper_gone) free_dp(d);
}

/* Stops the threads and releases everything but the struct itself. No JS runs here, so it is
 * safe from the environment's cleanup hook too. The TUN fd belongs to the caller. */
static void shutdown_dp(dp *d) {
  if (d->closed) return;
  d->closed = true;
  atomic_store(&d->stopping, true);
  if (d->wake_fd >= 0) dp_kick(d->wake_fd);
  if (d->rx_started) pthread_join(d->rx_thread, NULL);
  if (d->tx_started) pthread_join(d->tx_thread, NULL);
  d->rx_started = d->tx_started = false;
  dp_tcp_shutdown(d);
  if (d->udp_fd >= 0) close(d->udp_fd);
  if (d->wake_fd >= 0) close(d->wake_fd);
  if (d->rx_kick_fd >= 0) close(d->rx_kick_fd);
  if (d->tx_kick_fd >= 0) close(d->tx_kick_fd);
  d->udp_fd = d->wake_fd = d->rx_kick_fd = d->tx_kick_fd = -1;
  pthread_rwlock_wrlock(&d->lock);
  dp_free_tables(d);
  pthread_rwlock_unlock(&d->lock);
  pthread_mutex_lock(&d->queue_lock);
  dp_free_batches(d->queue_head);
  d->queue_head = d->queue_tail = NULL;
  d->queue_bytes = 0;
  pthread_mutex_unlock(&d->queue_lock);
  if (d->async_open) uv_close((uv_handle_t *)&d->async, on_async_closed);
}

static void on_env_cleanup(void *arg) {
  dp *d = arg;
  d->cleanup_hook = false;
  shutdown_dp(d);
}

/* Releases the JS-side references; JS thread only, with the environment alive. */
static void release_js(dp *d) {
  if (d->cleanup_hook) {
    napi_remove_env_cleanup_hook(d->env, on_env_cleanup, d);
    d->cleanup_hook = false;
  }
  if (d->callback != NULL) napi_delete_reference(d->env, d->callback);
  if (d->self != NULL) napi_delete_reference(d->env, d->self);
  if (d->async_context != NULL) napi_async_destroy(d->env, d->async_context);
  d->callback = d->self = NULL;
  d->async_context = NULL;
}

static void on_wrapper_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  dp *d = data;
  d->wrapper_gone = true;
  shutdown_dp(d);
  if (!d->async_open) free_dp(d);
}

/* ---------------------------------------------------------------- N-API methods */

#define DP_ARGS_MAX 8

/* Unwraps `this`; throws if the data plane was closed. */
static dp *get_dp(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok ||
      napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not an OvpnDataplane");
    return NULL;
  }
  dp *d = data;
  if (d->closed) {
    napi_throw_error(env, "ERR_POSTERN_DATAPLANE_CLOSED", "the data plane is closed");
    return NULL;
  }
  return d;
}

dp *dp_from_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  return get_dp(env, info, argc, argv);
}

static bool get_u32(napi_env env, napi_value v, uint32_t max, uint32_t *out, const char *what) {
  napi_valuetype type;
  double n = -1;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_number ||
      napi_get_value_double(env, v, &n) != napi_ok || n < 0 || n > max ||
      n != (double)(uint32_t)n) {
    char message[96];
    snprintf(message, sizeof message, "%s must be an integer in 0..%u", what, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = (uint32_t)n;
  return true;
}

bool dp_get_u32(napi_env env, napi_value v, uint32_t max, uint32_t *out, const char *what) {
  return get_u32(env, v, max, out, what);
}

dp *dp_peer_call(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                 size_t want, uint32_t *id) {
  dp *d = get_dp(env, info, argc, argv);
  if (d == NULL || *argc < want || !get_u32(env, argv[0], UINT32_MAX, id, "peerId")) return NULL;
  return d;
}

#define DP_ADDRESS_TEXT_MAX 64

static bool get_remote(napi_env env, const dp *d, napi_value address, napi_value port,
                       dp_sockaddr *out, socklen_t *len) {
  char text[DP_ADDRESS_TEXT_MAX];
  size_t n = 0;
  uint32_t port_number = 0;
  if (napi_get_value_string_utf8(env, address, text, sizeof text, &n) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "address must be a string");
    return false;
  }
  if (!get_u32(env, port, 65535, &port_number, "port")) return false;
  if (!dp_parse_remote(d, text, port_number, out, len)) {
    napi_throw_range_error(env, "ERR_INVALID_ADDRESS",
                           "not an IP address (or port 0, or IPv6 on an IPv4 socket)");
    return false;
  }
  return true;
}

/* An optional local address argument: undefined, null or "" is unknown. */
static bool get_local(napi_env env, const dp *d, size_t argc, size_t index, napi_value *argv,
                      dp_sockaddr *out) {
  memset(out, 0, sizeof *out);
  if (argc <= index) return true;
  napi_valuetype type;
  if (napi_typeof(env, argv[index], &type) != napi_ok) return false;
  if (type == napi_undefined || type == napi_null) return true;
  char text[DP_ADDRESS_TEXT_MAX];
  size_t n = 0;
  if (type != napi_string ||
      napi_get_value_string_utf8(env, argv[index], text, sizeof text, &n) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "localAddress must be a string");
    return false;
  }
  if (!dp_parse_local(d, text, out)) {
    napi_throw_range_error(env, "ERR_INVALID_ADDRESS",
                           "localAddress: not an IP address (or IPv6 on an IPv4 socket)");
    return false;
  }
  return true;
}

static napi_value make_bool(napi_env env, bool v) {
  napi_value result;
  napi_get_boolean(env, v, &result);
  return result;
}

/* addPeer(peerId, address, port, inner: Uint8Array[] (4 or 16 bytes), sendPeerId, upstream,
 *         localAddress?: the gateway address the peer sends to, replies leave from it) */
static napi_value dp_add_peer(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  dp *d = get_dp(env, info, &argc, argv);
  if (d == NULL) return NULL;
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "addPeer takes 6 arguments");
    return NULL;
  }
  uint32_t id, send_id, count = 0;
  bool upstream = false, is_array = false;
  if (!get_u32(env, argv[0], OVPN_PEER_ID_UNDEFINED - 1, &id, "peerId") ||
      !get_u32(env, argv[4], OVPN_PEER_ID_UNDEFINED - 1, &send_id, "sendPeerId")) {
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_bool(env, argv[5], &upstream));
  NAPI_CALL(env, napi_is_array(env, argv[3], &is_array));
  if (is_array) NAPI_CALL(env, napi_get_array_length(env, argv[3], &count));
  if (!is_array || count > DP_PEER_ADDRESSES_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "inner addresses: an array of at most 16");
    return NULL;
  }
  /* Aligned so that the RX and TX counter groups sit on cache lines of their own. */
  dp_peer *p = NULL;
  if (posix_memalign((void **)&p, DP_CACHE_LINE, sizeof *p) != 0) {
    return pst_throw_errno(env, "posix_memalign", ENOMEM);
  }
  memset(p, 0, sizeof *p);
  pthread_spin_init(&p->remote_lock, PTHREAD_PROCESS_PRIVATE);
  if (!get_remote(env, d, argv[1], argv[2], &p->remote, &p->remote_len) ||
      !get_local(env, d, argc, 6, argv, &p->local)) {
    dp_free_peer(p);
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    uint8_t *bytes;
    size_t len;
    if (napi_get_element(env, argv[3], i, &element) != napi_ok ||
        !pst_get_bytes(env, element, &bytes, &len) || (len != 4 && len != 16)) {
      dp_free_peer(p);
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                            "inner addresses are 4- or 16-byte Uint8Arrays");
      return NULL;
    }
    p->inner[i].family = len == 4 ? 4 : 6;
    memcpy(p->inner[i].bytes, bytes, len);
  }
  p->inner_count = count;
  p->id = id;
  p->send_peer_id = (int32_t)send_id;
  p->upstream = upstream;
  p->primary = -1;
  uint64_t now = dp_now_ms();
  owned_set(&p->last_rx_ms, now);
  owned_set(&p->last_tx_ms, now);

  pthread_rwlock_wrlock(&d->lock);
  dp_peer *old = dp_unlink_peer(d, id);
  /* A stream attached under this id (tcpAttach) makes it a TCP peer (the remote is unused);
   * a peer added again keeps its stream unless a new one was attached. */
  dp_tcp *replaced = NULL;
  p->tcp = dp_tcp_claim(d, id);
  if (old != NULL) {
    if (p->tcp == NULL) p->tcp = old->tcp;
    else replaced = old->tcp;
    old->tcp = NULL;
  }
  bool routed = dp_insert_peer(d, p);
  pthread_rwlock_unlock(&d->lock);
  if (replaced != NULL) dp_tcp_retire(d, replaced);
  if (old != NULL) dp_free_peer(old);
  if (!routed) return pst_throw_errno(env, "malloc", ENOMEM);
  return NULL;
}

/* removePeer(peerId): boolean. Its keys are wiped. */
static napi_value dp_remove_peer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_unlink_peer(d, id);
  /* Its stream (or one attached but never made a peer's) is closed by the TCP thread. */
  dp_tcp *stream = p != NULL ? p->tcp : dp_tcp_claim(d, id);
  if (p != NULL) p->tcp = NULL;
  pthread_rwlock_unlock(&d->lock);
  if (stream != NULL) dp_tcp_retire(d, stream);
  if (p != NULL) dp_free_peer(p);
  return make_bool(env, p != NULL);
}

#define DP_CIPHER_NAME_MAX 32

/* installKey(peerId, keyId, cipher, sendKey, sendImplicitIv, recvKey, recvImplicitIv): boolean.
 * The newest installed key becomes primary; a key already under that id is replaced. */
static napi_value dp_install_key(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  uint32_t id, key_id;
  dp *d = dp_peer_call(env, info, &argc, argv, 7, &id);
  if (d == NULL || !get_u32(env, argv[1], OVPN_KEY_ID_MASK, &key_id, "keyId")) return NULL;
  char name[DP_CIPHER_NAME_MAX];
  size_t name_len = 0;
  if (napi_get_value_string_utf8(env, argv[2], name, sizeof name, &name_len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "cipher must be a string");
    return NULL;
  }
  int cipher = ovpn_cipher_from_name(name);
  size_t key_size = ovpn_cipher_key_size(cipher);
  uint8_t *send_key, *send_iv, *recv_key, *recv_iv;
  size_t send_key_len, send_iv_len, recv_key_len, recv_iv_len;
  if (key_size == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "unknown cipher");
    return NULL;
  }
  if (!pst_get_bytes(env, argv[3], &send_key, &send_key_len) || send_key_len != key_size ||
      !pst_get_bytes(env, argv[4], &send_iv, &send_iv_len) ||
      send_iv_len != OVPN_IMPLICIT_IV_SIZE ||
      !pst_get_bytes(env, argv[5], &recv_key, &recv_key_len) || recv_key_len != key_size ||
      !pst_get_bytes(env, argv[6], &recv_iv, &recv_iv_len) ||
      recv_iv_len != OVPN_IMPLICIT_IV_SIZE) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "bad key or implicit IV size");
    return NULL;
  }
  dp_key *k = calloc(1, sizeof *k);
  if (k == NULL) return pst_throw_errno(env, "calloc", ENOMEM);
  if (!ovpn_aead_init(&k->seal, cipher, send_key, send_iv, 1) ||
      !ovpn_aead_init(&k->open, cipher, recv_key, recv_iv, 0)) {
    dp_free_key(k);
    napi_throw_error(env, "ERR_POSTERN_NATIVE", "OpenSSL could not key the cipher");
    return NULL;
  }
  k->next_packet_id = 1;
  /* 8th argument false: decrypt with it now, send with it after useKey (a renegotiated key the
   * peer cannot open yet). */
  bool send_now = true;
  napi_valuetype send_type = napi_undefined;
  if (argc >= 8 && napi_typeof(env, argv[7], &send_type) == napi_ok && send_type == napi_boolean) {
    napi_get_value_bool(env, argv[7], &send_now);
  }

  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  dp_key *old = NULL;
  if (p != NULL) {
    old = p->keys[key_id];
    p->keys[key_id] = k;
    if (send_now || p->primary < 0) p->primary = (int)key_id;
  }
  pthread_rwlock_unlock(&d->lock);
  dp_free_key(old);
  if (p == NULL) dp_free_key(k);
  return make_bool(env, p != NULL);
}

/* The (peerId, keyId) arguments of retireKey and useKey; NULL (thrown) when not valid. */
static dp *peer_key_args(napi_env env, napi_callback_info info, uint32_t *id, uint32_t *key_id) {
  size_t argc = 2;
  napi_value argv[2];
  dp *d = dp_peer_call(env, info, &argc, argv, 2, id);
  if (d == NULL || !get_u32(env, argv[1], OVPN_KEY_ID_MASK, key_id, "keyId")) return NULL;
  return d;
}

/* retireKey(peerId, keyId): boolean. The primary key is never retired (as in the reference). */
static napi_value dp_retire_key(napi_env env, napi_callback_info info) {
  uint32_t id, key_id;
  dp *d = peer_key_args(env, info, &id, &key_id);
  if (d == NULL) return NULL;
  dp_key *old = NULL;
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  if (p != NULL && p->primary != (int)key_id) {
    old = p->keys[key_id];
    p->keys[key_id] = NULL;
  }
  pthread_rwlock_unlock(&d->lock);
  dp_free_key(old);
  return make_bool(env, old != NULL);
}

/* setRemote(peerId, address, port, localAddress?): boolean */
static napi_value dp_set_remote(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 3, &id);
  dp_sockaddr remote, local;
  socklen_t len;
  if (d == NULL || !get_remote(env, d, argv[1], argv[2], &remote, &len) ||
      !get_local(env, d, argc, 3, argv, &local)) {
    return NULL;
  }
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  if (p != NULL) {
    pthread_spin_lock(&p->remote_lock);
    p->remote = remote;
    p->remote_len = len;
    p->local = local;
    pthread_spin_unlock(&p->remote_lock);
  }
  pthread_rwlock_unlock(&d->lock);
  return make_bool(env, p != NULL);
}

static napi_value address_object(napi_env env, const dp_sockaddr *s) {
  uint16_t port, family;
  uint8_t bytes[16];
  dp_sockaddr_fields(s, &port, &family, bytes);
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text) == NULL) return NULL;
  napi_value result, address, port_value;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address) != napi_ok ||
      napi_create_uint32(env, port, &port_value) != napi_ok ||
      napi_set_named_property(env, result, "address", address) != napi_ok ||
      napi_set_named_property(env, result, "port", port_value) != napi_ok) {
    return NULL;
  }
  return result;
}

/* remote(peerId): { address, port } | undefined */
static napi_value dp_remote(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  /* Peers change only on this thread: no lock to find it; the spinlock against a float. */
  dp_peer *p = dp_find_peer(d, id);
  if (p == NULL) return NULL;
  pthread_spin_lock(&p->remote_lock);
  dp_sockaddr remote = p->remote;
  pthread_spin_unlock(&p->remote_lock);
  return address_object(env, &remote);
}

/* hasPeer(peerId): boolean */
static napi_value dp_has_peer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  return make_bool(env, dp_find_peer(d, id) != NULL);
}

/* useKey(peerId, keyId): boolean. Packets to the peer go out under this installed key from now. */
static napi_value dp_use_key(napi_env env, napi_callback_info info) {
  uint32_t id, key_id;
  dp *d = peer_key_args(env, info, &id, &key_id);
  if (d == NULL) return NULL;
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  bool ok = p != NULL && p->keys[key_id] != NULL;
  if (ok) p->primary = (int)key_id;
  pthread_rwlock_unlock(&d->lock);
  return make_bool(env, ok);
}

/* sendPing(peerId, exit?): boolean. Seals OpenVPN's ping magic (or, with exit true, OCC_EXIT:
 * "I am leaving", as explicit-exit-notify says it to a peer without cc-exit) with the primary
 * key and sends it. The write lock keeps the TX thread off the send key meanwhile; both are
 * rare. */
static napi_value dp_send_ping(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  bool exit_notice = false;
  if (argc >= 2 && napi_get_value_bool(env, argv[1], &exit_notice) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "exit must be a boolean");
    return NULL;
  }
  uint8_t payload[OVPN_PING_SIZE + 1];
  size_t payload_len = OVPN_PING_SIZE;
  if (exit_notice) {
    memcpy(payload, OVPN_OCC_MAGIC, OVPN_OCC_MAGIC_SIZE);
    payload[OVPN_OCC_MAGIC_SIZE] = OVPN_OCC_EXIT;
    payload_len = OVPN_OCC_MAGIC_SIZE + 1;
  } else {
    memcpy(payload, OVPN_PING_MAGIC, OVPN_PING_SIZE);
  }
  uint8_t packet[OVPN_V2_OVERHEAD + OVPN_PING_SIZE + 1];
  size_t total = 0;
  dp_sockaddr to, local;
  socklen_t to_len = 0;
  int drop = -1;
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  dp_key *k = p != NULL && p->primary >= 0 ? p->keys[p->primary] : NULL;
  if (p != NULL && k == NULL) drop = OVPN_DROP_NO_KEY;
  if (k != NULL && k->next_packet_id > OVPN_PACKET_ID_MAX) drop = OVPN_DROP_KEY_EXHAUSTED;
  if (k != NULL && drop < 0) {
    size_t overhead = p->send_peer_id >= 0 ? OVPN_V2_OVERHEAD : OVPN_V1_OVERHEAD;
    memcpy(packet + overhead, payload, payload_len);
    total = ovpn_seal(&k->seal, (uint8_t)p->primary, p->send_peer_id,
                      (uint32_t)k->next_packet_id, packet, payload_len);
    if (total > 0 && p->tcp != NULL) {
      k->next_packet_id++;
      owned_set(&p->last_tx_ms, dp_now_ms());
      bool sent = dp_tcp_send_packet(d, p->tcp, packet, total);
      pthread_rwlock_unlock(&d->lock);
      return make_bool(env, sent);
    }
    if (total > 0) {
      k->next_packet_id++;
      to = p->remote;
      to_len = p->remote_len;
      local = p->local;
      owned_set(&p->last_tx_ms, dp_now_ms());
    }
  }
  pthread_rwlock_unlock(&d->lock);
  if (drop >= 0) counter_add(&d->drops[drop], 1);
  if (total == 0) return make_bool(env, false);
  ssize_t r = dp_send_one(d, packet, total, &to, to_len, &local);
  if (r != (ssize_t)total) counter_add(&d->drops[OVPN_DROP_UDP_SEND], 1);
  return make_bool(env, r == (ssize_t)total);
}

static napi_status set_number(napi_env env, napi_value object, const char *name, double v) {
  napi_value value;
  NAPI_CHECK(napi_create_double(env, v, &value));
  return napi_set_named_property(env, object, name, value);
}

/* A peer's counters, in the order of counters()'s names and of countersInto's slots. */
#define DP_COUNTER_SLOTS 7
static const char *const DP_COUNTER_NAMES[DP_COUNTER_SLOTS] = {
    "bytesIn", "bytesOut", "packetsIn", "packetsOut", "lastRxMs", "lastTxMs", "exitNotices"};

static void peer_counters(dp_peer *p, double out[DP_COUNTER_SLOTS]) {
  out[0] = (double)counter_get(&p->bytes_in);
  out[1] = (double)counter_get(&p->bytes_out);
  out[2] = (double)counter_get(&p->packets_in);
  out[3] = (double)counter_get(&p->packets_out);
  out[4] = (double)counter_get(&p->last_rx_ms);
  out[5] = (double)counter_get(&p->last_tx_ms);
  out[6] = (double)counter_get(&p->exit_notices);
}

/* counters(peerId): { bytesIn, bytesOut, packetsIn, packetsOut, lastRxMs, lastTxMs, exitNotices }
 * | undefined */
static napi_value dp_counters(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  dp_peer *p = dp_find_peer(d, id);
  if (p == NULL) return NULL;
  double values[DP_COUNTER_SLOTS];
  peer_counters(p, values);
  napi_value result;
  NAPI_CALL(env, napi_create_object(env, &result));
  for (int i = 0; i < DP_COUNTER_SLOTS; i++) {
    NAPI_CALL(env, set_number(env, result, DP_COUNTER_NAMES[i], values[i]));
  }
  return result;
}

/* countersInto(peerId, out: Float64Array): boolean. The counters of counters(), in that order,
 * written into `out` (at least 7 slots) instead of a new object: the gateway's keepalive sweep
 * reads every peer every second, and 10,000 objects a second kept V8 from ever seeing the
 * gateway idle (its memory reducer waits for a low allocation rate). False: no such peer. */
static napi_value dp_counters_into(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 2, &id);
  if (d == NULL) return NULL;
  bool is_typed = false;
  napi_typedarray_type type;
  size_t count = 0;
  void *base = NULL;
  if (napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[1], &type, &count, &base, NULL, NULL) != napi_ok ||
      type != napi_float64_array || count < DP_COUNTER_SLOTS) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "out must be a Float64Array of 7 or more");
    return NULL;
  }
  dp_peer *p = dp_find_peer(d, id);
  napi_value result;
  if (p != NULL) peer_counters(p, base);
  NAPI_CALL(env, napi_get_boolean(env, p != NULL, &result));
  return result;
}

/* setPolicy(peerId, table: Uint8Array | null): boolean. A table of rule records (see
 * ovpn_policy.c); null lifts the policy. Swapped under the write lock: the next batch sees it. */
static napi_value dp_set_policy(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 2, &id);
  if (d == NULL) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  dp_policy *pol = NULL;
  if (type != napi_null && type != napi_undefined) {
    uint8_t *table;
    size_t len;
    if (!pst_get_bytes(env, argv[1], &table, &len) ||
        (pol = dp_policy_decode(table, len)) == NULL) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "policy: a table of 24-byte rule records");
      return NULL;
    }
  }
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  dp_policy *old = pol;
  if (p != NULL) {
    old = p->policy;
    p->policy = pol;
  }
  pthread_rwlock_unlock(&d->lock);
  free(old);
  return make_bool(env, p != NULL);
}

/* policyDrops(peerId): number | undefined */
static napi_value dp_policy_drops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  dp_peer *p = dp_find_peer(d, id);
  if (p == NULL) return NULL;
  napi_value result;
  NAPI_CALL(env, napi_create_double(env, (double)counter_get(&p->policy_drops), &result));
  return result;
}

/* takePolicySamples(peerId): Buffer (40-byte flow records) | undefined. Empties the peer's list. */
static napi_value dp_take_policy_samples(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  uint8_t out[DP_POLICY_SAMPLES * DP_POLICY_SAMPLE_SIZE];
  uint32_t count = 0;
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  if (p != NULL) {
    count = p->sample_count;
    for (uint32_t i = 0; i < count; i++) {
      dp_flow_encode(&p->samples[i], out + (size_t)i * DP_POLICY_SAMPLE_SIZE);
    }
    p->sample_count = 0;
  }
  pthread_rwlock_unlock(&d->lock);
  if (p == NULL) return NULL;
  napi_value result;
  NAPI_CALL(env, napi_create_buffer_copy(env, (size_t)count * DP_POLICY_SAMPLE_SIZE, out, NULL,
                                         &result));
  return result;
}

/* { names[i]: counters[i] } for i < count; NULL with an exception pending on failure. */
static napi_value counters_object(napi_env env, const char *const *names,
                                  _Atomic uint64_t *counters, int count) {
  napi_value result;
  NAPI_CALL(env, napi_create_object(env, &result));
  for (int i = 0; i < count; i++) {
    NAPI_CALL(env, set_number(env, result, names[i], (double)counter_get(&counters[i])));
  }
  return result;
}

/* dropCounters(): { [reason]: number } */
static napi_value dp_drop_counters(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  dp *d = get_dp(env, info, &argc, NULL);
  if (d == NULL) return NULL;
  return counters_object(env, ovpn_drop_names, d->drops, OVPN_DROP_COUNT);
}

/* stats(): { rxDatagrams, rxBatches, ... , peers } */
static napi_value dp_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  dp *d = get_dp(env, info, &argc, NULL);
  if (d == NULL) return NULL;
  napi_value result = counters_object(env, STAT_NAMES, d->stats, STAT_COUNT);
  if (result == NULL) return NULL;
  NAPI_CALL(env, set_number(env, result, "peers", d->peer_count));
  return result;
}

/* sendControl(bytes, address, port, localAddress?): boolean (false if the kernel refused it
 * now). With localAddress the datagram leaves from it (the address the peer sent to). */
static napi_value dp_send_control(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  dp *d = get_dp(env, info, &argc, argv);
  if (d == NULL) return NULL;
  uint8_t *bytes;
  size_t len;
  dp_sockaddr to, local;
  socklen_t to_len;
  if (argc < 3 || !pst_get_bytes(env, argv[0], &bytes, &len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "bytes must be a Uint8Array");
    return NULL;
  }
  if (!get_remote(env, d, argv[1], argv[2], &to, &to_len) ||
      !get_local(env, d, argc, 3, argv, &local)) {
    return NULL;
  }
  ssize_t r = dp_send_one(d, bytes, len, &to, to_len, &local);
  return make_bool(env, r == (ssize_t)len);
}

/* tunWrite(packets: Uint8Array[]): number accepted (for packets JS decrypted itself). */
static napi_value dp_tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  dp *d = get_dp(env, info, &argc, argv);
  if (d == NULL) return NULL;
  bool is_array = false;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "packets must be an array");
    return NULL;
  }
  uint32_t count = 0, written = 0;
  NAPI_CALL(env, napi_get_array_length(env, argv[0], &count));
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    uint8_t *data;
    size_t len;
    NAPI_CALL(env, napi_get_element(env, argv[0], i, &element));
    if (!pst_get_bytes(env, element, &data, &len) || len == 0) continue;
    /* With offloads every write starts with a virtio_net_hdr: zero means "a plain packet". */
    uint8_t vnet[OVPN_VNET_HDR_SIZE] = {0};
    struct iovec iov[2] = {{vnet, sizeof vnet}, {data, len}};
    size_t expected = len + (d->offload ? sizeof vnet : 0);
    ssize_t w;
    do {
      w = d->offload ? writev(d->tun_fd, iov, 2) : write(d->tun_fd, data, len);
    } while (w < 0 && errno == EINTR);
    if (w == (ssize_t)expected) written++;
  }
  napi_value result;
  NAPI_CALL(env, napi_create_uint32(env, written, &result));
  return result;
}

/* close(): joins the threads, closes the UDP socket, wipes every key. Idempotent. The TUN fd
 * is the caller's to close (closing it deletes the device, which can take milliseconds). */
static napi_value dp_close(napi_env env, napi_callback_info info) {
  napi_value self;
  void *data = NULL;
  NAPI_CALL(env, napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) return NULL;
  dp *d = data;
  if (d->closed) return NULL;
  shutdown_dp(d);
  release_js(d);
  return NULL;
}

static int open_socket(napi_env env, const char *address, uint32_t port, bool offload,
                       int *family_out, uint32_t *bound_port) {
  dp_sockaddr local;
  socklen_t len;
  memset(&local, 0, sizeof local);
  int family;
  if (inet_pton(AF_INET6, address, &local.v6.sin6_addr) == 1) {
    family = AF_INET6;
    local.v6.sin6_family = AF_INET6;
    local.v6.sin6_port = htons((uint16_t)port);
    len = sizeof local.v6;
  } else if (inet_pton(AF_INET, address, &local.v4.sin_addr) == 1) {
    family = AF_INET;
    local.v4.sin_family = AF_INET;
    local.v4.sin_port = htons((uint16_t)port);
    len = sizeof local.v4;
  } else {
    napi_throw_range_error(env, "ERR_INVALID_ADDRESS", "bind address is not an IP address");
    return -1;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    pst_throw_errno(env, "socket", errno);
    return -1;
  }
  int off = 0, size = DP_SOCKET_BUFFER_BYTES;
  /* Dual stack on "::": IPv4 clients arrive as IPv4-mapped addresses. */
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  /* Bigger buffers absorb bursts; *FORCE passes net.core.*mem_max with CAP_NET_ADMIN. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  /* UDP GRO: the kernel may hand us a train of equal-sized datagrams from one source in one
   * message (with their size in a control message). Kernels without it ignore nothing: the
   * option fails and every datagram comes alone. */
  int on = 1;
  if (offload) setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
  /* Multihome (OpenVPN's --multihome): learn the address each datagram was sent to, so the
   * reply leaves from it rather than from the kernel's pick for the route back; a client
   * drops replies from any other address. On "::" IPv4 arrives as a v4-mapped IPV6_PKTINFO. */
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
  else setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  if (bind(fd, &local.sa, len) < 0) {
    int err = errno;
    close(fd);
    pst_throw_errno(env, "bind", err);
    return -1;
  }
  len = sizeof local;
  if (getsockname(fd, &local.sa, &len) < 0) {
    int err = errno;
    close(fd);
    pst_throw_errno(env, "getsockname", err);
    return -1;
  }
  *bound_port = ntohs(family == AF_INET6 ? local.v6.sin6_port : local.v4.sin_port);
  *family_out = family;
  return fd;
}

/* Worker threads block every signal: Node's signal handling stays on its own threads. */
static int start_thread(pthread_t *thread, void *(*main)(void *), dp *d) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int err = pthread_create(thread, NULL, main, d);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  return err;
}

/* new OvpnDataplane(tunFd, bindAddress, bindPort, onEvent(kind, count, records: Buffer | null),
 *                   offload: boolean)
 * `offload`: the TUN fd was opened with IFF_VNET_HDR and TSO (ovpnTunOpen); use UDP GSO/GRO.
 * Sets `port` (the bound UDP port) and `family` (4 or 6) on the new object. */
static napi_value dp_construct(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], self;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int tun_fd;
  uint32_t port;
  char address[DP_ADDRESS_TEXT_MAX];
  size_t address_len = 0;
  napi_valuetype type;
  if (argc < 4 || !pst_get_fd(env, argv[0], &tun_fd)) {
    if (argc < 4) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected 4 arguments");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, argv[1], address, sizeof address, &address_len) !=
      napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "bind address must be a string");
    return NULL;
  }
  if (!get_u32(env, argv[2], 65535, &port, "bind port")) return NULL;
  NAPI_CALL(env, napi_typeof(env, argv[3], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onEvent must be a function");
    return NULL;
  }
  bool offload = false;
  if (argc >= 5) NAPI_CALL(env, napi_get_value_bool(env, argv[4], &offload));
  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));

  ovpn_crypto_prepare();
  dp *d = calloc(1, sizeof *d);
  if (d == NULL) return pst_throw_errno(env, "calloc", ENOMEM);
  d->env = env;
  d->tun_fd = tun_fd;
  d->offload = offload;
  d->wake_fd = d->rx_kick_fd = d->tx_kick_fd = -1;
  d->peers = calloc(DP_TABLE_MIN_BUCKETS, sizeof *d->peers);
  d->routes = calloc(DP_TABLE_MIN_BUCKETS, sizeof *d->routes);
  d->peer_mask = d->route_mask = DP_TABLE_MIN_BUCKETS - 1;
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  /* Writers (JS configuring) must not starve behind two readers that alternate forever. */
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&d->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  pthread_mutex_init(&d->queue_lock, NULL);
  dp_tcp_init(d);
  uint32_t bound_port = 0;
  d->udp_fd = d->peers && d->routes
                  ? open_socket(env, address, port, offload, &d->family, &bound_port)
                  : -1;
  if (d->udp_fd < 0) {
    if (!d->peers || !d->routes) pst_throw_errno(env, "calloc", ENOMEM);
    dp_free_tables(d);
    free_dp(d);
    return NULL;
  }
  d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  d->rx_kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  d->tx_kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  bool fds_ok = d->wake_fd >= 0 && d->rx_kick_fd >= 0 && d->tx_kick_fd >= 0;
  int uv_status = !fds_ok ? -errno : uv_async_init(loop, &d->async, dp_on_async);
  if (uv_status != 0) {
    const char *what = !fds_ok ? "eventfd" : "uv_async_init";
    close(d->udp_fd);
    if (d->wake_fd >= 0) close(d->wake_fd);
    if (d->rx_kick_fd >= 0) close(d->rx_kick_fd);
    if (d->tx_kick_fd >= 0) close(d->tx_kick_fd);
    dp_free_tables(d);
    free_dp(d);
    return pst_throw_errno(env, what, -uv_status);
  }
  d->async.data = d;
  d->async_open = true;

  napi_value name, port_value, family_value;
  if (napi_create_reference(env, self, 1, &d->self) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &d->callback) != napi_ok ||
      napi_create_string_utf8(env, "PosternOvpnDataplane", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, self, name, &d->async_context) != napi_ok ||
      napi_create_uint32(env, bound_port, &port_value) != napi_ok ||
      napi_create_uint32(env, d->family == AF_INET6 ? 6 : 4, &family_value) != napi_ok ||
      napi_set_named_property(env, self, "port", port_value) != napi_ok ||
      napi_set_named_property(env, self, "family", family_value) != napi_ok ||
      napi_wrap(env, self, d, on_wrapper_finalized, NULL, NULL) != napi_ok) {
    shutdown_dp(d);
    release_js(d);
    d->wrapper_gone = true; /* never wrapped: on_async_closed frees it */
    pst_throw_status(env, napi_generic_failure, "creating the data plane");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, on_env_cleanup, d);
  d->cleanup_hook = true;
  int err = start_thread(&d->rx_thread, dp_rx_main, d);
  if (err == 0) {
    d->rx_started = true;
    err = start_thread(&d->tx_thread, dp_tx_main, d);
    if (err == 0) d->tx_started = true;
  }
  if (err != 0) {
    shutdown_dp(d);
    release_js(d);
    return pst_throw_errno(env, "pthread_create", err);
  }
  return self;
}

napi_status ovpn_dp_register(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"addPeer", NULL, dp_add_peer, NULL, NULL, NULL, napi_default_method, NULL},
      {"removePeer", NULL, dp_remove_peer, NULL, NULL, NULL, napi_default_method, NULL},
      {"hasPeer", NULL, dp_has_peer, NULL, NULL, NULL, napi_default_method, NULL},
      {"installKey", NULL, dp_install_key, NULL, NULL, NULL, napi_default_method, NULL},
      {"useKey", NULL, dp_use_key, NULL, NULL, NULL, napi_default_method, NULL},
      {"retireKey", NULL, dp_retire_key, NULL, NULL, NULL, napi_default_method, NULL},
      {"setRemote", NULL, dp_set_remote, NULL, NULL, NULL, napi_default_method, NULL},
      {"remote", NULL, dp_remote, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendPing", NULL, dp_send_ping, NULL, NULL, NULL, napi_default_method, NULL},
      {"counters", NULL, dp_counters, NULL, NULL, NULL, napi_default_method, NULL},
      {"countersInto", NULL, dp_counters_into, NULL, NULL, NULL, napi_default_method, NULL},
      {"dropCounters", NULL, dp_drop_counters, NULL, NULL, NULL, napi_default_method, NULL},
      {"setPolicy", NULL, dp_set_policy, NULL, NULL, NULL, napi_default_method, NULL},
      {"policyDrops", NULL, dp_policy_drops, NULL, NULL, NULL, napi_default_method, NULL},
      {"takePolicySamples", NULL, dp_take_policy_samples, NULL, NULL, NULL, napi_default_method,
       NULL},
      {"stats", NULL, dp_stats, NULL, NULL, NULL, napi_default_method, NULL},
      {"sendControl", NULL, dp_send_control, NULL, NULL, NULL, napi_default_method, NULL},
      {"tunWrite", NULL, dp_tun_write, NULL, NULL, NULL, napi_default_method, NULL},
      {"tcpAttach", NULL, dp_tcp_attach_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"tcpStart", NULL, dp_tcp_start_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"tcpSend", NULL, dp_tcp_send_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"clearKeys", NULL, dp_clear_keys_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"setFirstContact", NULL, dp_set_first_contact_js, NULL, NULL, NULL, napi_default_method,
       NULL},
      {"setResetReplyLimit", NULL, dp_set_reset_reply_limit_js, NULL, NULL, NULL,
       napi_default_method, NULL},
      {"close", NULL, dp_close, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value constructor;
  NAPI_CHECK(napi_define_class(env, "OvpnDataplane", NAPI_AUTO_LENGTH, dp_construct, NULL,
                               sizeof methods / sizeof methods[0], methods, &constructor));
  NAPI_CHECK(napi_set_named_property(env, exports, "OvpnDataplane", constructor));
  napi_value names, name;
  NAPI_CHECK(napi_create_array_with_length(env, OVPN_DROP_COUNT, &names));
  for (uint32_t i = 0; i < OVPN_DROP_COUNT; i++) {
    NAPI_CHECK(napi_create_string_utf8(env, ovpn_drop_names[i], NAPI_AUTO_LENGTH, &name));
    NAPI_CHECK(napi_set_element(env, names, i, name));
  }
  NAPI_CHECK(napi_set_named_property(env, exports, "OVPN_DROP_REASONS", names));
  NAPI_CHECK(pst_set_named_uint32(env, exports, "OVPN_BATCH_MAX", DP_BATCH));
  return ovpn_tun_register(env, exports);
}
