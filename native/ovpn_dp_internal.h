/*
 * The native data plane's shared insides: constants, the data plane and peer structures, and
 * the functions its parts call across files:
 *   ovpn_peers.c    addresses, peer and route tables (changed on the JS thread only)
 *   ovpn_handoff.c  batches of records for JS (control packets, unrouted packets, events)
 *   ovpn_rx.c       the RX thread: UDP -> open -> TUN
 *   ovpn_tx.c       the TX thread: TUN -> seal -> UDP
 *   ovpn_tcp.c      TCP peers: streams handed over by JS, a thread of their own (read -> open
 *                   -> TUN), framed per-peer output buffers the TX thread and JS write into
 *   ovpn_dp.c       life cycle and the N-API class JS configures it with
 * See ovpn_dp.c for the design (threads, locking, hand-off).
 */
#ifndef POSTERN_OVPN_DP_INTERNAL_H
#define POSTERN_OVPN_DP_INTERNAL_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/crypto.h>

#include "napi_util.h"
#include "ovpn_dp.h"
#include "ovpn_offload.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Datagrams per recvmmsg and TUN packets per TX batch. */
#define DP_BATCH 64
/* Any UDP payload fits a receive slot, so nothing is ever truncated. */
#define DP_RX_SLOT 65536
/* Decrypted packets one RX batch may hold: with UDP GRO a message carries up to 64 datagrams. */
#define DP_RX_PACKETS_MAX (DP_BATCH * 64)
/* TUN packets are read behind room for the DATA_V2 header and tag, then sealed in place. */
#define DP_TX_HEADROOM OVPN_V2_OVERHEAD
#define DP_TUN_PACKET_MAX 65535
/* TUN reads of one TX batch are packed into this much (at least one maximal read fits). */
#define DP_TX_SLAB_BYTES (1 << 20)
/* Room for the segments of one batch's super-packets: the reads plus, per super-packet, at
 * most OVPN_TSO_SEGMENTS_MAX copies of headers (<= 120 bytes) and sealing overhead. */
#define DP_TX_OUT_BYTES (DP_TX_SLAB_BYTES + DP_BATCH * OVPN_TSO_SEGMENTS_MAX * 160)
/* Datagrams or GSO trains one TX batch may send (every segment alone if GSO is off). */
#define DP_TX_MESSAGES_MAX (DP_BATCH * OVPN_TSO_SEGMENTS_MAX)
/* One UDP GSO train: the kernel takes at most 64 segments and 64 KiB of UDP payload. */
#define DP_GSO_SEGMENTS_MAX 64
#define DP_GSO_BYTES_MAX 60000
#define DP_ALIGN 16
/* A message's control data: a UDP GRO/GSO size and the local address (pktinfo), in that order. */
#define DP_CMSG_SEGMENT_SPACE CMSG_SPACE(sizeof(int))
#define DP_CMSG_SPACE (DP_CMSG_SEGMENT_SPACE + CMSG_SPACE(sizeof(struct in6_pktinfo)))
#define DP_PEER_ADDRESSES_MAX 16
#define DP_SOCKET_BUFFER_BYTES (4 << 20)
#define DP_JS_QUEUE_MAX_BYTES (8 << 20)
#define DP_RECORD_HEADER 48
#define DP_BATCH_TYPICAL_BYTES (DP_BATCH * (DP_RECORD_HEADER + 2048))
#define DP_TABLE_MIN_BUCKETS 64
#define DP_IPV4_HEADER_MIN 20
#define DP_IPV6_HEADER 40
#define DP_CACHE_LINE 64
/* A send that would block is retried after waiting this long at most for room. */
#define DP_SEND_WAIT_MS 100
/* The TUN device's owner (ovpn_tx.c): a batch of this many packets, or a super-packet, moves it
 * to the TX thread; this long without a packet moves it back to the RX thread. */
#define DP_TUN_OWNER_TX 0
#define DP_TUN_OWNER_RX 1
#define DP_TUN_HANDOVER_PACKETS 8
#define DP_TUN_HANDBACK_MS 10
/* OpenVPN's first and last valid opcodes (1 and 2, key method 1, are gone since 2.5). */
#define OVPN_OP_FIRST 3
#define OVPN_OP_LAST 11
#define OVPN_PING_SIZE 16
/* explicit-exit-notify from a client without cc-exit: OCC magic (16 bytes), then OCC_EXIT. */
#define OVPN_OCC_MAGIC_SIZE 16
#define OVPN_OCC_EXIT 6
_Static_assert(OVPN_OCC_MAGIC_SIZE == OVPN_PING_SIZE, "an OCC message fits where a ping does");

extern const uint8_t OVPN_PING_MAGIC[OVPN_PING_SIZE];
extern const uint8_t OVPN_OCC_MAGIC[OVPN_OCC_MAGIC_SIZE];

/* EVENT_TCP_CONTROL: a non-data packet from a TCP peer's stream (value: peer id);
 * EVENT_TCP_CLOSED: a TCP peer's stream ended (value: peer id, port: errno or 0 for EOF). */
enum {
  EVENT_CONTROL = 0,
  EVENT_UNROUTED = 1,
  EVENT_FLOAT = 2,
  EVENT_ERROR = 3,
  EVENT_TCP_CONTROL = 4,
  EVENT_TCP_CLOSED = 5
};
enum { THREAD_RX = 0, THREAD_TX = 1, THREAD_TCP = 2 };

enum {
  STAT_RX_DATAGRAMS,
  STAT_RX_BATCHES,
  STAT_RX_DELIVERED,
  STAT_RX_PINGS,
  STAT_TX_PACKETS,
  STAT_TX_BATCHES,
  STAT_TX_SENT,
  STAT_TX_SENDMMSG_CALLS,
  STAT_TO_JS_CONTROL,
  STAT_TO_JS_UNROUTED,
  STAT_FLOATS,
  STAT_RX_GRO_DATAGRAMS,
  STAT_RX_TUN_WRITES,
  STAT_TX_SUPER_PACKETS,
  STAT_TX_SEGMENTS,
  STAT_TCP_RX_PACKETS,
  STAT_TCP_READS,
  STAT_TCP_TX_PACKETS,
  STAT_TCP_WRITES,
  STAT_TX_BY_RX,
  STAT_FIRST_CONTACT_REPLIES,
  STAT_FIRST_CONTACT_BAD_WKC,
  STAT_FIRST_CONTACT_AUTH_FAILED,
  STAT_FIRST_CONTACT_RATE_LIMITED,
  STAT_COUNT
};

typedef union {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} dp_sockaddr;

/* An inner (VPN) address: family 4 or 6, IPv4 in bytes[0..4) and zeros after. */
typedef struct {
  uint8_t family;
  uint8_t bytes[16];
} dp_inner;

typedef struct {
  ovpn_aead seal;
  uint64_t next_packet_id; /* TX thread (and JS under the write lock) */
  ovpn_aead open;
  ovpn_replay replay; /* RX thread */
} dp_key;

/* A peer's policy (ovpn_policy.c): ordered rules, first match decides, no match drops. The
 * record layout JS writes is src/control/policy/table.ts. */
#define DP_POLICY_RULE_SIZE 24
#define DP_POLICY_RULES_MAX 4096
/* Dropped flows a peer keeps between two drains by JS (audit sampling), and their record size. */
#define DP_POLICY_SAMPLES 8
#define DP_POLICY_SAMPLE_SIZE 40

typedef struct {
  uint8_t family;
  uint8_t prefix;
  uint8_t proto; /* 0: any */
  uint8_t allow;
  uint16_t port_lo, port_hi;
  uint8_t network[16];
} dp_policy_rule;

typedef struct {
  uint32_t count;
  dp_policy_rule rules[];
} dp_policy;

/* The fields of an inner packet policy looks at; ports 0 when not readable. */
typedef struct {
  uint8_t family;
  uint8_t proto;
  uint16_t src_port, dst_port;
  uint8_t src[16];
  uint8_t dst[16];
} dp_flow;

typedef struct dp_tcp dp_tcp;

/* ovpn_first_contact.c: what the RX thread needs to answer a client's reset by itself. */
typedef struct dp_first_contact dp_first_contact;
/* The longest reply (a tls-crypt-v2 one: 72 bytes), and the longest reset body looked at. */
#define DP_FIRST_CONTACT_REPLY_MAX 80
#define DP_FIRST_CONTACT_BODY_MAX 2048
/* key: the tls-crypt-v2 server key (128 bytes) or the tls-crypt static key (256); NULL when a
 * size is wrong. */
dp_first_contact *dp_first_contact_new(bool v2, const uint8_t *key, size_t key_len,
                                       const uint8_t *cookie_key, size_t cookie_key_len,
                                       uint64_t slot_ms);
void dp_first_contact_free(dp_first_contact *fc);
/* What the RX thread does with a packet from an unknown address: hand it to JS; send the
 * reply written to `out`; or drop it, counted under the reason JS would give (first-contact.ts:
 * a WKc that does not open is "bad-wkc", a reset body that does not authenticate "auth-failed"). */
typedef enum {
  DP_FC_TO_JS = 0,
  DP_FC_REPLY,
  DP_FC_DROP_BAD_WKC,
  DP_FC_DROP_AUTH_FAILED,
} dp_fc_verdict;
/* The answer to the client reset `p` from that address (4 or 16 bytes) and port, at wall-clock
 * `now_ms`; a reply's length in *out_len. */
dp_fc_verdict dp_first_contact_reply(const dp_first_contact *fc, const uint8_t *p, size_t len,
                                     const uint8_t *address, size_t address_len, uint16_t port,
                                     uint64_t now_ms, uint8_t out[DP_FIRST_CONTACT_REPLY_MAX],
                                     size_t *out_len);
/* The same for a datagram from `from` (a v4-mapped IPv6 source counts as its IPv4 address). */
dp_fc_verdict dp_first_contact_answer(const dp_first_contact *fc, const uint8_t *p, size_t len,
                                      const dp_sockaddr *from, uint64_t now_ms,
                                      uint8_t out[DP_FIRST_CONTACT_REPLY_MAX], size_t *out_len);

typedef struct dp_peer {
  struct dp_peer *next; /* by-id hash chain */
  /* A TCP peer: its packets go to and come from this stream, never the UDP socket. Set when
   * the peer is added (from a stream attached before it), cleared under the write lock. */
  dp_tcp *tcp;
  uint32_t id;
  int32_t send_peer_id;
  bool upstream;
  int primary; /* key id sent with, -1 before the first key */
  dp_key *keys[OVPN_KEY_IDS];
  uint32_t inner_count;
  dp_inner inner[DP_PEER_ADDRESSES_MAX];
  pthread_spinlock_t remote_lock;
  dp_sockaddr remote;
  socklen_t remote_len;
  /* The gateway's address the peer sends to (port 0; family 0: unknown, the kernel picks the
   * source). Replies leave from it, so a multi-homed gateway answers from the address the
   * client expects. Under remote_lock with the remote. */
  dp_sockaddr local;
  dp_policy *policy; /* NULL: no policy (everything passes); swapped under the write lock */
  /* Written by the RX thread only. */
  alignas(DP_CACHE_LINE) _Atomic uint64_t bytes_in;
  _Atomic uint64_t packets_in;
  _Atomic uint64_t last_rx_ms;
  _Atomic uint64_t policy_drops;
  _Atomic uint64_t exit_notices; /* OCC_EXIT messages: the client is leaving */
  /* Dropped flows not yet drained: RX appends under the read lock, JS drains under the write. */
  uint32_t sample_count;
  dp_flow samples[DP_POLICY_SAMPLES];
  /* Written by the TX thread (or JS under the write lock) only. */
  alignas(DP_CACHE_LINE) _Atomic uint64_t bytes_out;
  _Atomic uint64_t packets_out;
  _Atomic uint64_t last_tx_ms;
} dp_peer;

typedef struct dp_route {
  struct dp_route *next;
  dp_inner address;
  dp_peer *peer;
} dp_route;

typedef struct dp_batch {
  struct dp_batch *next;
  uint32_t kind;
  uint32_t count;
  size_t used;
  size_t capacity;
  uint8_t data[];
} dp_batch;

typedef struct dp {
  napi_env env;
  napi_ref self; /* strong while open: a running data plane is not garbage */
  napi_ref callback;
  napi_async_context async_context;
  uv_async_t async;
  bool async_open;
  bool wrapper_gone;
  bool closed;
  bool cleanup_hook;

  int udp_fd;
  int tun_fd;
  int wake_fd;
  int family;
  /* The TUN fd carries virtio_net_hdr (TSO in, coalesced writes out); UDP GSO and GRO on. */
  bool offload;
  pthread_t rx_thread, tx_thread;
  bool rx_started, tx_started;
  atomic_bool stopping;
  /* The right to read the TUN device and send what it holds (ovpn_tx.c), taken by whichever
   * thread serves the device; tx_shared (the TX thread's state, NULL before it starts and after
   * it ends) is read and written only under it. tun_owner: which thread polls the device;
   * rx_kick_fd / tx_kick_fd wake a thread given it. */
  atomic_bool tx_claimed;
  struct tx_state *tx_shared;
  _Atomic int tun_owner;
  int rx_kick_fd, tx_kick_fd;

  pthread_rwlock_t lock;
  dp_peer **peers;
  uint32_t peer_mask;
  uint32_t peer_count;
  dp_route **routes;
  uint32_t route_mask;
  uint32_t route_count;
  dp_peer *upstream;
  /* Client resets the RX thread answers itself (NULL: all go to JS); under the lock. */
  dp_first_contact *first_contact;
  /* At most this many of those replies per window of this many ms (0: no limit); the RX
   * thread's count is its own (rx_state). Set from JS at any time (setResetReplyLimit). */
  _Atomic uint32_t reset_reply_max;
  _Atomic uint64_t reset_reply_window_ms;

  pthread_mutex_t queue_lock;
  dp_batch *queue_head, *queue_tail;
  size_t queue_bytes;

  /* TCP peers (ovpn_tcp.c): their thread, its epoll set and wake-up eventfd, and the streams
   * handed to it: attached (not yet a peer's), to start reading, and to close. */
  int tcp_epoll;
  int tcp_wake_fd;
  pthread_t tcp_thread;
  bool tcp_started;
  pthread_mutex_t tcp_lock;
  dp_tcp *tcp_attached; /* JS thread only */
  dp_tcp *tcp_starting; /* under tcp_lock */
  dp_tcp *tcp_dead;     /* under tcp_lock */

  _Atomic uint64_t drops[OVPN_DROP_COUNT];
  _Atomic uint64_t stats[STAT_COUNT];
} dp;

static inline void counter_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* For counters with a single writer: no locked instruction needed. */
static inline void owned_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

static inline void owned_set(_Atomic uint64_t *c, uint64_t v) {
  atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t counter_get(_Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

static inline void flush_drops(dp *d, uint64_t *drops) {
  for (int i = 0; i < OVPN_DROP_COUNT; i++) {
    if (drops[i] != 0) {
      counter_add(&d->drops[i], drops[i]);
      drops[i] = 0;
    }
  }
}

/* Wakes whoever polls the eventfd `fd`. */
static inline void dp_kick(int fd) {
  uint64_t one = 1;
  ssize_t ignored = write(fd, &one, sizeof one);
  (void)ignored;
}

/* Resets the eventfd `fd` after a wake-up. */
static inline void dp_drain(int fd) {
  uint64_t count;
  ssize_t ignored = read(fd, &count, sizeof count);
  (void)ignored;
}

/* Waits until `fd` is ready for `events` or the data plane is stopping; false when stopping. */
static inline bool wait_ready(dp *d, int fd, short events, int timeout_ms, short *revents) {
  struct pollfd fds[2] = {{.fd = fd, .events = events}, {.fd = d->wake_fd, .events = POLLIN}};
  int r = poll(fds, 2, timeout_ms);
  if (revents != NULL) *revents = r > 0 ? fds[0].revents : 0;
  return !atomic_load_explicit(&d->stopping, memory_order_relaxed);
}

/* ovpn_tx.c. Who polls the TUN device: the TX thread while it brings batches (both cores at
 * work), the RX thread while traffic is light, as a single-threaded server does: a reply that
 * comes back while the RX thread is awake (~20 us from a host on the gateway's side) is sent
 * without waking a second thread (~100 us on a VM). dp_rx_serve_tun: one batch from the device,
 * on the RX thread, which owns it; busy batches hand it to the TX thread, which hands it back
 * after DP_TUN_HANDBACK_MS of quiet. */
bool dp_rx_owns_tun(dp *d);
void dp_rx_serve_tun(dp *d);

/* ovpn_peers.c: addresses (Date.now()-style clock in ms, inner addresses, socket addresses). */
uint64_t dp_now_ms(void);
bool dp_packet_address(const uint8_t *p, size_t len, bool source, dp_inner *out);
bool dp_sockaddr_equal(const dp_sockaddr *a, const dp_sockaddr *b);
void dp_sockaddr_fields(const dp_sockaddr *s, uint16_t *port, uint16_t *family,
                        uint8_t address[16]);
bool dp_parse_remote(const dp *d, const char *text, uint32_t port, dp_sockaddr *out,
                     socklen_t *len);
bool dp_parse_local(const dp *d, const char *text, dp_sockaddr *out);
bool dp_local_equal(const dp_sockaddr *a, const dp_sockaddr *b);
/* The local address a received message was sent to (from its pktinfo); family 0 if none. */
void dp_pktinfo_local(const dp *d, struct msghdr *m, dp_sockaddr *out);
/* Writes a pktinfo control message choosing `local` as the source at `buf` (room for
 * CMSG_SPACE(struct in6_pktinfo)); returns its space, 0 (nothing written) if local is unknown. */
size_t dp_pktinfo_cmsg(const dp *d, const dp_sockaddr *local, uint8_t *buf);
/* One datagram to `to`, from `local` when known; bytes sent or -1 (errno). */
ssize_t dp_send_one(const dp *d, const uint8_t *bytes, size_t len, const dp_sockaddr *to,
                    socklen_t to_len, const dp_sockaddr *local);

/* ovpn_peers.c: the tables. Writers hold the write lock; readers the read lock (or are JS). */
dp_peer *dp_find_peer(const dp *d, uint32_t id);
dp_peer *dp_find_route(const dp *d, const dp_inner *a);
bool dp_peer_owns(const dp_peer *p, const dp_inner *a);
bool dp_set_route(dp *d, const dp_inner *a, dp_peer *p);
bool dp_insert_peer(dp *d, dp_peer *p);
dp_peer *dp_unlink_peer(dp *d, uint32_t id);
/* Wipe key material (OPENSSL_cleanse) before freeing. */
void dp_free_key(dp_key *k);
void dp_free_peer(dp_peer *p);
void dp_free_tables(dp *d);

/* ovpn_policy.c: the per-packet check (RX thread, read lock held) and the table JS sends. */
bool dp_policy_admits(dp_peer *p, const uint8_t *packet, size_t len);
dp_policy *dp_policy_decode(const uint8_t *table, size_t len);
void dp_flow_encode(const dp_flow *f, uint8_t out[DP_POLICY_SAMPLE_SIZE]);

/* ovpn_handoff.c */
void dp_free_batches(dp_batch *b);
void dp_push_batch(dp *d, dp_batch *b);
void dp_flush_batch(dp *d, dp_batch **builder);
bool dp_append_record(dp *d, dp_batch **builder, uint32_t kind, uint32_t value,
                      const dp_sockaddr *from, const dp_sockaddr *local, const uint8_t *bytes,
                      size_t length);
void dp_report_error(dp *d, int thread, int err);
void dp_on_async(uv_async_t *handle);

/* ovpn_rx.c, ovpn_tx.c: the worker threads' main functions (arg: the dp). */
void *dp_rx_main(void *arg);
void *dp_tx_main(void *arg);

/* ovpn_rx.c, shared with ovpn_tcp.c (read lock held): a data packet of a known peer. open:
 * key, header, replay, AEAD open in place; true with the plaintext when it authenticated.
 * accept: liveness, ping, inner source, policy, counters; true when it goes to the TUN device.
 * Drops are counted in `drops`. */
bool dp_rx_open(dp_peer *peer, uint8_t *p, size_t len, uint64_t *drops, uint8_t **plain,
                size_t *plain_len);
bool dp_rx_accept(dp *d, dp_peer *peer, uint8_t *plain, size_t plain_len, uint64_t now,
                  uint64_t *drops);

/* ovpn_tun_queue.c: the decrypted packets of one batch on their way to the TUN device, for the
 * UDP RX thread and the TCP thread alike: coalesced (GRO) when the device has offloads, else
 * kept as a list and written one by one. */
typedef struct {
  ovpn_gro *gro;
  uint8_t **out;
  size_t *out_len;
  uint32_t count;
  uint32_t max;
} dp_tun_queue;
bool dp_tun_queue_init(dp_tun_queue *q, uint32_t max, bool offload);
void dp_tun_queue_free(dp_tun_queue *q);
/* false (and nothing kept) when the batch is full. */
bool dp_tun_queue_add(dp_tun_queue *q, uint8_t *plain, size_t len);
/* Writes what was added and empties the queue; returns how many packets the kernel took and
 * adds the write system calls made to *writes. */
uint32_t dp_tun_queue_flush(dp_tun_queue *q, int tun_fd, uint32_t *writes);

/* ovpn_tcp.c. The TX thread's packets for TCP peers: queued by dp_tcp_queue (read lock held),
 * written by dp_tcp_flush_touched before the lock is released. */
#define DP_TCP_TOUCHED_MAX DP_BATCH
typedef struct {
  dp_tcp *touched[DP_TCP_TOUCHED_MAX];
  int count;
} dp_tcp_tx;
void dp_tcp_queue(dp *d, dp_tcp_tx *t, dp_tcp *c, const uint8_t *data, size_t len, size_t gso,
                  uint64_t *drops);
void dp_tcp_flush_touched(dp *d, dp_tcp_tx *t);
/* Seals are done by the caller; this frames one packet and sends it (JS thread, pings). */
bool dp_tcp_send_packet(dp *d, dp_tcp *c, const uint8_t *bytes, size_t len);
/* The peer's stream at addPeer (write lock held): the one attached under that id, if any. */
dp_tcp *dp_tcp_claim(dp *d, uint32_t peer_id);
/* The peer went away (write lock released): its stream is flushed and closed by the thread. */
void dp_tcp_retire(dp *d, dp_tcp *c);
/* Frees a stream at once (threads stopped). */
void dp_tcp_free(dp_tcp *c);
void dp_tcp_init(dp *d);
/* Joins the TCP thread and frees every stream not owned by a peer. */
void dp_tcp_shutdown(dp *d);
napi_value dp_tcp_attach_js(napi_env env, napi_callback_info info);
napi_value dp_tcp_start_js(napi_env env, napi_callback_info info);
napi_value dp_tcp_send_js(napi_env env, napi_callback_info info);
napi_value dp_clear_keys_js(napi_env env, napi_callback_info info);
/* ovpn_first_contact.c: the data plane's setFirstContact method and its test hook. */
napi_value dp_set_first_contact_js(napi_env env, napi_callback_info info);
napi_value dp_set_reset_reply_limit_js(napi_env env, napi_callback_info info);
napi_value dp_first_contact_for_test_js(napi_env env, napi_callback_info info);
/* ovpn_dp.c: `this` of a method, NULL (and a JS exception) if closed; a u32 argument. */
dp *dp_from_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv);
bool dp_get_u32(napi_env env, napi_value v, uint32_t max, uint32_t *out, const char *what);
/* `this` data plane, argv[0] a peer id and at least `want` arguments (*argc: room in argv, then
 * how many came); NULL when not (a bad value has thrown). */
dp *dp_peer_call(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv,
                 size_t want, uint32_t *id);

#endif
