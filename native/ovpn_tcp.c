/*
 * OpenVPN-over-TCP peers on the native data path. JS accepts the connection and runs the
 * control channel until the session has its first data keys; then it hands the stream over:
 *
 *   tcpAttach(peerId, fd)     dup()s the socket; the next addPeer(peerId) makes it a TCP peer
 *   tcpStart(peerId, bytes)   `bytes` JS read but did not use; then the thread reads the stream
 *   tcpSend(peerId, packet)   a control packet from JS, framed into the same output buffer
 *   removePeer(peerId)        the thread writes what is left (best effort) and closes its fd
 *
 * Stream format (socket.c stream_buf): each packet behind a 16-bit big-endian length.
 *
 * The TCP thread (one for all TCP peers; started with the first) waits in epoll on every
 * stream. Readable: read into the stream's input buffer, cut frames; DATA_V2/V1 -> the RX
 * path's own open/accept (replay, AEAD, source, policy, counters) -> TUN (coalesced with
 * offloads); anything else -> JS as EVENT_TCP_CONTROL tagged with the peer id. EOF, a reset or
 * bad framing -> EVENT_TCP_CLOSED, and the stream is read no more. Writable: flushes output.
 *
 * Output. The TX thread (data), JS (control, pings) append whole frames to the stream's
 * buffer under its mutex and write it out without blocking; what the kernel does not take
 * waits for EPOLLOUT (the TCP thread then writes it). A full buffer drops the frame (counted):
 * a slow TCP peer never blocks the others.
 *
 * Lifetime. A stream is linked from its peer (set and cleared under the write lock), so the TX
 * thread and JS use it under the read lock (or on the JS thread). Only the TCP thread frees a
 * retired stream, at the top of its loop, so it may hold stream pointers across the read lock.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/epoll.h>

#include "ovpn_dp_internal.h"

/* Largest packet a peer may send; the TypeScript deframer's default (DEFAULT_TCP_MAX_PACKET),
 * so both paths end a stream at the same byte. */
#define DP_TCP_PACKET_MAX 2048
#define DP_TCP_PREFIX 2
/* The thread's read buffer (one for all streams): many frames per read. A stream keeps only
 * the start of a frame between reads, so an idle TCP peer costs a few KiB. */
#define DP_TCP_IN_BYTES (256 * 1024)
#define DP_TCP_FRAME_MAX (DP_TCP_PREFIX + DP_TCP_PACKET_MAX)
/* Output buffer: starts small, grows to the cap; past it frames are dropped. A queue this long
 * already adds milliseconds at 1 Gbit/s: longer would only bloat the inner TCP's RTT. Drained,
 * a grown buffer shrinks back past DP_TCP_OUT_KEEP. */
#define DP_TCP_OUT_INITIAL (16 * 1024)
#define DP_TCP_OUT_KEEP (256 * 1024)
#define DP_TCP_OUT_MAX (1024 * 1024)
/* A batch's appends write out once the buffer holds this much, not only at the end. */
#define DP_TCP_FLUSH_AT (256 * 1024)
#define DP_TCP_EVENTS 64
/* Packets one read may yield (GRO batch size): DP_TCP_IN_BYTES / smallest data packet. */
#define DP_TCP_PACKETS_MAX \
  ((DP_TCP_FRAME_MAX + DP_TCP_IN_BYTES) / (OVPN_V1_OVERHEAD + DP_TCP_PREFIX + 1) + 1)

struct dp_tcp {
  dp_tcp *next;      /* d->tcp_attached, or the starting/dead lists */
  dp_tcp *next_dead; /* d->tcp_dead (a stream may be starting and dead at once) */
  int fd;
  uint32_t peer_id;
  bool starting, dead;
  /* TCP thread only (and JS before tcpStart). */
  uint8_t partial[DP_TCP_FRAME_MAX]; /* the start of a frame, between two reads */
  size_t partial_len;
  uint8_t *unread; /* what JS read and did not use (tcpStart), handled first */
  size_t unread_len;
  bool reading_done;
  /* Under out_lock. */
  pthread_mutex_t out_lock;
  uint8_t *out;
  size_t out_head, out_tail, out_cap;
  bool registered; /* in the epoll set */
  bool want_out;   /* EPOLLOUT asked for: the kernel buffer was full */
  bool in_closed;  /* no more reading: EPOLLIN off */
  bool broken;     /* writes failed for good: frames are dropped */
  bool touched;    /* TX thread: in its dp_tcp_tx list */
};

void dp_tcp_init(dp *d) {
  d->tcp_epoll = -1;
  d->tcp_wake_fd = -1;
  pthread_mutex_init(&d->tcp_lock, NULL);
}

void dp_tcp_free(dp_tcp *c) {
  if (c == NULL) return;
  if (c->fd >= 0) close(c->fd);
  pthread_mutex_destroy(&c->out_lock);
  free(c->unread);
  free(c->out);
  free(c);
}

/* epoll interest from the stream's state; out_lock held. */
static void update_interest(dp *d, dp_tcp *c) {
  if (!c->registered) return;
  struct epoll_event ev = {.events = (c->in_closed ? 0 : EPOLLIN) | (c->want_out ? EPOLLOUT : 0),
                           .data.ptr = c};
  epoll_ctl(d->tcp_epoll, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what the kernel takes now; out_lock held. Returns write calls made. */
static uint64_t flush_locked(dp *d, dp_tcp *c) {
  uint64_t calls = 0;
  while (c->out_head < c->out_tail && !c->broken) {
    ssize_t w = send(c->fd, c->out + c->out_head, c->out_tail - c->out_head,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    calls++;
    if (w > 0) {
      c->out_head += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->want_out) {
        c->want_out = true;
        update_interest(d, c);
      }
      return calls;
    }
    /* Reset or shut down: the reading side reports the end; nothing more goes out. */
    c->broken = true;
    counter_add(&d->drops[OVPN_DROP_TCP_SEND], 1);
  }
  c->out_head = c->out_tail = 0;
  if (c->out_cap > DP_TCP_OUT_KEEP) {
    uint8_t *smaller = realloc(c->out, DP_TCP_OUT_INITIAL);
    if (smaller != NULL) {
      c->out = smaller;
      c->out_cap = DP_TCP_OUT_INITIAL;
    }
  }
  if (c->want_out) {
    c->want_out = false;
    update_interest(d, c);
  }
  return calls;
}

/* Appends one frame; out_lock held. False (nothing appended) when the buffer is full. */
static bool append_locked(dp_tcp *c, const uint8_t *bytes, size_t len) {
  size_t need = DP_TCP_PREFIX + len;
  if (c->broken || len == 0 || len > UINT16_MAX) return false;
  if (c->out_cap - c->out_tail < need && c->out_head > 0) {
    memmove(c->out, c->out + c->out_head, c->out_tail - c->out_head);
    c->out_tail -= c->out_head;
    c->out_head = 0;
  }
  if (c->out_cap - c->out_tail < need) {
    size_t cap = c->out_cap;
    while (cap - c->out_tail < need && cap < DP_TCP_OUT_MAX) cap *= 2;
    if (cap > DP_TCP_OUT_MAX) cap = DP_TCP_OUT_MAX;
    if (cap - c->out_tail < need) return false;
    uint8_t *grown = realloc(c->out, cap);
    if (grown == NULL) return false;
    c->out = grown;
    c->out_cap = cap;
  }
  c->out[c->out_tail] = (uint8_t)(len >> 8);
  c->out[c->out_tail + 1] = (uint8_t)len;
  memcpy(c->out + c->out_tail + DP_TCP_PREFIX, bytes, len);
  c->out_tail += need;
  return true;
}

/* ---------------------------------------------------------------- TX thread side */

void dp_tcp_queue(dp *d, dp_tcp_tx *t, dp_tcp *c, const uint8_t *data, size_t len, size_t gso,
                  uint64_t *drops) {
  size_t step = gso > 0 ? gso : len;
  uint64_t queued = 0, calls = 0;
  pthread_mutex_lock(&c->out_lock);
  for (size_t at = 0; at < len; at += step) {
    size_t piece = len - at < step ? len - at : step;
    if (append_locked(c, data + at, piece)) queued++;
    else drops[c->broken ? OVPN_DROP_TCP_SEND : OVPN_DROP_TCP_OVERFLOW]++;
  }
  /* Waiting for EPOLLOUT: the TCP thread writes when the kernel has room again. */
  if (!c->want_out && c->out_tail - c->out_head >= DP_TCP_FLUSH_AT) calls = flush_locked(d, c);
  pthread_mutex_unlock(&c->out_lock);
  counter_add(&d->stats[STAT_TCP_TX_PACKETS], queued);
  if (calls > 0) counter_add(&d->stats[STAT_TCP_WRITES], calls);
  if (!c->touched) {
    if (t->count < DP_TCP_TOUCHED_MAX) {
      c->touched = true;
      t->touched[t->count++] = c;
    } else {
      pthread_mutex_lock(&c->out_lock);
      calls = c->want_out ? 0 : flush_locked(d, c);
      pthread_mutex_unlock(&c->out_lock);
      counter_add(&d->stats[STAT_TCP_WRITES], calls);
    }
  }
}

void dp_tcp_flush_touched(dp *d, dp_tcp_tx *t) {
  uint64_t calls = 0;
  for (int i = 0; i < t->count; i++) {
    dp_tcp *c = t->touched[i];
    c->touched = false;
    pthread_mutex_lock(&c->out_lock);
    if (!c->want_out) calls += flush_locked(d, c);
    pthread_mutex_unlock(&c->out_lock);
  }
  t->count = 0;
  if (calls > 0) counter_add(&d->stats[STAT_TCP_WRITES], calls);
}

bool dp_tcp_send_packet(dp *d, dp_tcp *c, const uint8_t *bytes, size_t len) {
  pthread_mutex_lock(&c->out_lock);
  bool ok = append_locked(c, bytes, len);
  uint64_t calls = ok && !c->want_out ? flush_locked(d, c) : 0;
  pthread_mutex_unlock(&c->out_lock);
  if (!ok) counter_add(&d->drops[c->broken ? OVPN_DROP_TCP_SEND : OVPN_DROP_TCP_OVERFLOW], 1);
  else counter_add(&d->stats[STAT_TCP_TX_PACKETS], 1);
  if (calls > 0) counter_add(&d->stats[STAT_TCP_WRITES], calls);
  return ok;
}

/* ---------------------------------------------------------------- the TCP thread */

typedef struct {
  uint8_t *slab; /* a stream's partial frame, then what one read brought */
  dp_tun_queue tun; /* decrypted packets for the TUN device */
  uint64_t drops[OVPN_DROP_COUNT];
  dp_batch *control;
  dp_batch *closed;
  uint64_t packets;
} tcp_state;

static void tcp_deliver(tcp_state *s, uint8_t *plain, size_t len) {
  if (!dp_tun_queue_add(&s->tun, plain, len)) s->drops[OVPN_DROP_TUN_WRITE]++;
}

static void tcp_write_tun(dp *d, tcp_state *s) {
  uint32_t added = s->tun.count, writes = 0;
  if (added == 0) return;
  uint32_t written = dp_tun_queue_flush(&s->tun, d->tun_fd, &writes);
  s->drops[OVPN_DROP_TUN_WRITE] += added - written;
  counter_add(&d->stats[STAT_RX_DELIVERED], written);
  counter_add(&d->stats[STAT_RX_TUN_WRITES], writes);
}

/* One packet cut from the stream; read lock held. */
static void tcp_packet(dp *d, tcp_state *s, dp_tcp *c, dp_peer *peer, uint8_t *p, size_t len,
                       uint64_t now) {
  unsigned opcode = p[0] >> OVPN_OPCODE_SHIFT;
  if (opcode < OVPN_OP_FIRST || opcode > OVPN_OP_LAST) {
    s->drops[OVPN_DROP_BAD_OPCODE]++;
    return;
  }
  s->packets++;
  if (opcode != OVPN_OP_DATA_V2 && opcode != OVPN_OP_DATA_V1) {
    if (dp_append_record(d, &s->control, EVENT_TCP_CONTROL, c->peer_id, NULL, NULL, p, len)) {
      counter_add(&d->stats[STAT_TO_JS_CONTROL], 1);
    }
    return;
  }
  /* The stream's own peer, whatever peer id the packet names (the AEAD covers it). */
  if (peer == NULL) {
    s->drops[OVPN_DROP_NO_KEY]++;
    return;
  }
  uint8_t *plain = NULL;
  size_t plain_len = 0;
  if (!dp_rx_open(peer, p, len, s->drops, &plain, &plain_len)) return;
  if (dp_rx_accept(d, peer, plain, plain_len, now, s->drops)) tcp_deliver(s, plain, plain_len);
}

static void tcp_report_closed(dp *d, tcp_state *s, dp_tcp *c, int err) {
  if (c->reading_done) return;
  c->reading_done = true;
  /* Out of the epoll set: a reset or hung-up socket would report itself forever. */
  pthread_mutex_lock(&c->out_lock);
  c->in_closed = true;
  if (c->registered) epoll_ctl(d->tcp_epoll, EPOLL_CTL_DEL, c->fd, NULL);
  c->registered = false;
  pthread_mutex_unlock(&c->out_lock);
  /* Control packets already cut go first: the batch order is the stream order. */
  dp_flush_batch(d, &s->control);
  if (dp_append_record(d, &s->closed, EVENT_TCP_CLOSED, c->peer_id, NULL, NULL, NULL, 0)) {
    uint16_t why = (uint16_t)err;
    memcpy(s->closed->data + s->closed->used - DP_RECORD_HEADER + 8, &why, 2);
  }
  dp_flush_batch(d, &s->closed);
}

/* Cuts and handles the whole frames of the stream's bytes in the slab (`used` of them); keeps
 * the start of a frame in the stream. */
static void tcp_consume(dp *d, tcp_state *s, dp_tcp *c, size_t used) {
  uint8_t *in = s->slab;
  uint64_t now = dp_now_ms();
  size_t at = 0;
  bool framing_error = false;
  pthread_rwlock_rdlock(&d->lock);
  dp_peer *peer = dp_find_peer(d, c->peer_id);
  if (peer != NULL && peer->tcp != c) peer = NULL;
  while (used - at >= DP_TCP_PREFIX) {
    size_t len = ((size_t)in[at] << 8) | in[at + 1];
    if (len == 0 || len > DP_TCP_PACKET_MAX) {
      framing_error = true;
      break;
    }
    if (used - at < DP_TCP_PREFIX + len) break;
    tcp_packet(d, s, c, peer, in + at + DP_TCP_PREFIX, len, now);
    at += DP_TCP_PREFIX + len;
  }
  pthread_rwlock_unlock(&d->lock);
  /* Plaintext lies in the slab: written out before the next read overwrites it. */
  tcp_write_tun(d, s);
  flush_drops(d, s->drops);
  counter_add(&d->stats[STAT_TCP_RX_PACKETS], s->packets);
  s->packets = 0;
  c->partial_len = 0;
  if (framing_error) {
    counter_add(&d->drops[OVPN_DROP_TCP_FRAMING], 1);
    tcp_report_closed(d, s, c, EPROTO);
    return;
  }
  /* Less than a whole frame is left (a frame's length was checked above). */
  c->partial_len = used - at;
  memcpy(c->partial, in + at, c->partial_len);
  dp_flush_batch(d, &s->control);
}

static void tcp_readable(dp *d, tcp_state *s, dp_tcp *c) {
  if (c->reading_done) return;
  memcpy(s->slab, c->partial, c->partial_len);
  ssize_t r;
  do {
    r = read(c->fd, s->slab + c->partial_len, DP_TCP_IN_BYTES);
  } while (r < 0 && errno == EINTR);
  counter_add(&d->stats[STAT_TCP_READS], 1);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (r <= 0) {
    tcp_report_closed(d, s, c, r == 0 ? 0 : errno);
    return;
  }
  tcp_consume(d, s, c, c->partial_len + (size_t)r);
}

static void tcp_writable(dp *d, dp_tcp *c) {
  pthread_mutex_lock(&c->out_lock);
  uint64_t calls = flush_locked(d, c);
  pthread_mutex_unlock(&c->out_lock);
  counter_add(&d->stats[STAT_TCP_WRITES], calls);
}

/* Streams JS started: into the epoll set, and the bytes JS handed over are handled first. */
static void tcp_take_starting(dp *d, tcp_state *s) {
  pthread_mutex_lock(&d->tcp_lock);
  dp_tcp *list = d->tcp_starting;
  d->tcp_starting = NULL;
  pthread_mutex_unlock(&d->tcp_lock);
  while (list != NULL) {
    dp_tcp *c = list;
    list = c->next;
    c->next = NULL;
    pthread_mutex_lock(&c->out_lock);
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
    c->registered = epoll_ctl(d->tcp_epoll, EPOLL_CTL_ADD, c->fd, &ev) == 0;
    int err = c->registered ? 0 : errno;
    pthread_mutex_unlock(&c->out_lock);
    if (err != 0) {
      tcp_report_closed(d, s, c, err);
      continue;
    }
    if (c->unread_len > 0) {
      size_t len = c->unread_len;
      memcpy(s->slab, c->unread, len);
      free(c->unread);
      c->unread = NULL;
      c->unread_len = 0;
      tcp_consume(d, s, c, len);
    }
  }
}

/* Streams whose peer went: what is still buffered goes out if the kernel takes it now. */
static void tcp_free_dead(dp *d) {
  pthread_mutex_lock(&d->tcp_lock);
  dp_tcp *list = d->tcp_dead;
  d->tcp_dead = NULL;
  pthread_mutex_unlock(&d->tcp_lock);
  while (list != NULL) {
    dp_tcp *c = list;
    list = c->next_dead;
    pthread_mutex_lock(&c->out_lock);
    flush_locked(d, c);
    bool drained = c->out_head == c->out_tail && !c->broken;
    if (c->registered) epoll_ctl(d->tcp_epoll, EPOLL_CTL_DEL, c->fd, NULL);
    c->registered = false;
    pthread_mutex_unlock(&c->out_lock);
    /* FIN after the last frame (JS closes its own descriptor of the socket without one). */
    if (drained) shutdown(c->fd, SHUT_WR);
    dp_tcp_free(c);
  }
}

static void free_tcp_state(tcp_state *s) {
  if (s == NULL) return;
  dp_tun_queue_free(&s->tun);
  free(s->slab);
  free(s);
}

static void *tcp_main(void *arg) {
  dp *d = arg;
  tcp_state *s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->slab = malloc(DP_TCP_FRAME_MAX + DP_TCP_IN_BYTES);
  }
  if (s == NULL || s->slab == NULL ||
      !dp_tun_queue_init(&s->tun, DP_TCP_PACKETS_MAX, d->offload)) {
    free_tcp_state(s);
    dp_report_error(d, THREAD_TCP, ENOMEM);
    return NULL;
  }
  struct epoll_event events[DP_TCP_EVENTS];
  while (!atomic_load_explicit(&d->stopping, memory_order_relaxed)) {
    tcp_take_starting(d, s);
    tcp_free_dead(d);
    int n = epoll_wait(d->tcp_epoll, events, DP_TCP_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      dp_report_error(d, THREAD_TCP, errno);
      break;
    }
    for (int i = 0; i < n; i++) {
      void *ptr = events[i].data.ptr;
      if (ptr == NULL) {
        /* The wake-up eventfd: new or dead streams (handled at the top), or stopping. */
        dp_drain(d->tcp_wake_fd);
        continue;
      }
      if (ptr == (void *)d) continue; /* d->wake_fd: stopping */
      dp_tcp *c = ptr;
      uint32_t e = events[i].events;
      if (e & EPOLLOUT) tcp_writable(d, c);
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) tcp_readable(d, s, c);
    }
  }
  dp_flush_batch(d, &s->control);
  dp_flush_batch(d, &s->closed);
  free_tcp_state(s);
  return NULL;
}

/* Starts the thread with the first TCP peer; JS thread. 0 or an errno. */
static int tcp_ensure_thread(dp *d) {
  if (d->tcp_started) return 0;
  if (d->tcp_epoll < 0) d->tcp_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (d->tcp_epoll < 0) return errno;
  if (d->tcp_wake_fd < 0) {
    d->tcp_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->tcp_wake_fd < 0) return errno;
    struct epoll_event wake = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event stop = {.events = EPOLLIN, .data.ptr = d};
    if (epoll_ctl(d->tcp_epoll, EPOLL_CTL_ADD, d->tcp_wake_fd, &wake) < 0 ||
        epoll_ctl(d->tcp_epoll, EPOLL_CTL_ADD, d->wake_fd, &stop) < 0) {
      return errno;
    }
  }
  /* Like the other workers: every signal blocked, Node's handling stays on its threads. */
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int err = pthread_create(&d->tcp_thread, NULL, tcp_main, d);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (err == 0) d->tcp_started = true;
  return err;
}

static void tcp_wake(dp *d) { dp_kick(d->tcp_wake_fd); }

dp_tcp *dp_tcp_claim(dp *d, uint32_t peer_id) {
  for (dp_tcp **at = &d->tcp_attached; *at != NULL; at = &(*at)->next) {
    if ((*at)->peer_id == peer_id) {
      dp_tcp *c = *at;
      *at = c->next;
      c->next = NULL;
      return c;
    }
  }
  return NULL;
}

void dp_tcp_retire(dp *d, dp_tcp *c) {
  if (!d->tcp_started) {
    dp_tcp_free(c);
    return;
  }
  pthread_mutex_lock(&d->tcp_lock);
  c->dead = true;
  c->next_dead = d->tcp_dead;
  d->tcp_dead = c;
  pthread_mutex_unlock(&d->tcp_lock);
  tcp_wake(d);
}

void dp_tcp_shutdown(dp *d) {
  if (d->tcp_started) pthread_join(d->tcp_thread, NULL);
  d->tcp_started = false;
  /* Streams the thread had not taken yet: those starting are still their peer's (freed with
   * it); dead ones and attached ones belong to no peer. */
  pthread_mutex_lock(&d->tcp_lock);
  dp_tcp *dead = d->tcp_dead;
  d->tcp_dead = d->tcp_starting = NULL;
  pthread_mutex_unlock(&d->tcp_lock);
  while (dead != NULL) {
    dp_tcp *next = dead->next_dead;
    dp_tcp_free(dead);
    dead = next;
  }
  while (d->tcp_attached != NULL) {
    dp_tcp *next = d->tcp_attached->next;
    dp_tcp_free(d->tcp_attached);
    d->tcp_attached = next;
  }
  if (d->tcp_epoll >= 0) close(d->tcp_epoll);
  if (d->tcp_wake_fd >= 0) close(d->tcp_wake_fd);
  d->tcp_epoll = d->tcp_wake_fd = -1;
}

/* ---------------------------------------------------------------- N-API methods */

/* tcpAttach(peerId, fd): the data plane takes a duplicate of the connected socket `fd` (JS
 * keeps its own, and must not read or write it any more). The next addPeer(peerId) makes the
 * peer a TCP one; reading starts with tcpStart. */
napi_value dp_tcp_attach_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  dp *d = dp_from_this(env, info, &argc, argv);
  uint32_t id, fd;
  if (d == NULL || argc < 2 ||
      !dp_get_u32(env, argv[0], OVPN_PEER_ID_UNDEFINED - 1, &id, "peerId") ||
      !dp_get_u32(env, argv[1], INT32_MAX, &fd, "fd")) {
    return NULL;
  }
  int err = tcp_ensure_thread(d);
  if (err != 0) return pst_throw_errno(env, "tcp thread", err);
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return pst_throw_errno(env, "dup", errno);
  int flags = fcntl(own, F_GETFL);
  if (flags < 0 || fcntl(own, F_SETFL, flags | O_NONBLOCK) < 0) {
    err = errno;
    close(own);
    return pst_throw_errno(env, "fcntl", err);
  }
  dp_tcp *c = calloc(1, sizeof *c);
  if (c != NULL) {
    c->fd = own;
    c->out = malloc(DP_TCP_OUT_INITIAL);
    c->out_cap = DP_TCP_OUT_INITIAL;
    pthread_mutex_init(&c->out_lock, NULL);
  }
  if (c == NULL || c->out == NULL) {
    if (c != NULL) dp_tcp_free(c);
    else close(own);
    return pst_throw_errno(env, "malloc", ENOMEM);
  }
  c->peer_id = id;
  pthread_rwlock_wrlock(&d->lock);
  dp_tcp *old = dp_tcp_claim(d, id);
  c->next = d->tcp_attached;
  d->tcp_attached = c;
  pthread_rwlock_unlock(&d->lock);
  dp_tcp_free(old);
  return NULL;
}

/* tcpStart(peerId, bytes): boolean. `bytes`: what JS read from the stream and did not use
 * (whole frames and the start of one), handled before anything read from then on. */
napi_value dp_tcp_start_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t id;
  uint8_t *bytes = NULL;
  size_t len = 0;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  if (argc >= 2) {
    napi_valuetype type;
    napi_typeof(env, argv[1], &type);
    if (type != napi_undefined && type != napi_null && !pst_get_bytes(env, argv[1], &bytes, &len)) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "bytes must be a Uint8Array");
      return NULL;
    }
  }
  napi_value result;
  dp_peer *p = dp_find_peer(d, id);
  dp_tcp *c = p != NULL ? p->tcp : NULL;
  if (c == NULL || c->starting || len > DP_TCP_IN_BYTES) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  /* Not yet in the epoll set: the TCP thread has never seen this stream. */
  if (len > 0) {
    c->unread = malloc(len);
    if (c->unread == NULL) return pst_throw_errno(env, "malloc", ENOMEM);
    memcpy(c->unread, bytes, len);
  }
  c->unread_len = len;
  c->starting = true;
  pthread_mutex_lock(&d->tcp_lock);
  c->next = d->tcp_starting;
  d->tcp_starting = c;
  pthread_mutex_unlock(&d->tcp_lock);
  tcp_wake(d);
  napi_get_boolean(env, true, &result);
  return result;
}

/* tcpSend(peerId, packet): boolean. One packet (a control packet) framed into the peer's
 * stream; false if no TCP peer or its buffer is full. */
napi_value dp_tcp_send_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t id;
  uint8_t *bytes;
  size_t len;
  dp *d = dp_peer_call(env, info, &argc, argv, 2, &id);
  if (d == NULL) return NULL;
  if (!pst_get_bytes(env, argv[1], &bytes, &len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "packet must be a Uint8Array");
    return NULL;
  }
  /* JS changes the peers: no lock to find one; the stream's mutex against the TX thread. */
  dp_peer *p = dp_find_peer(d, id);
  bool ok = p != NULL && p->tcp != NULL && dp_tcp_send_packet(d, p->tcp, bytes, len);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

/* clearKeys(peerId): boolean. Wipes every key of the peer: its traffic stops both ways while
 * its stream stays open for the control channel (a kick's goodbye). */
napi_value dp_clear_keys_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id;
  dp *d = dp_peer_call(env, info, &argc, argv, 1, &id);
  if (d == NULL) return NULL;
  dp_key *old[OVPN_KEY_IDS] = {0};
  pthread_rwlock_wrlock(&d->lock);
  dp_peer *p = dp_find_peer(d, id);
  if (p != NULL) {
    memcpy(old, p->keys, sizeof old);
    memset(p->keys, 0, sizeof p->keys);
    p->primary = -1;
  }
  pthread_rwlock_unlock(&d->lock);
  for (int i = 0; i < OVPN_KEY_IDS; i++) dp_free_key(old[i]);
  napi_value result;
  napi_get_boolean(env, p != NULL, &result);
  return result;
}
