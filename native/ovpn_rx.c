/*
 * The RX thread: recvmmsg (64 messages; with UDP GRO each may be a train of datagrams) ->
 * per datagram: DATA_V2 of a known peer with that key id -> replay check, AEAD open in place,
 * replay update, float, ping, inner source check -> the TUN device (coalesced TCP segments
 * with offloads). Other OpenVPN opcodes and unknown peer ids go to JS.
 */
#define _GNU_SOURCE
#include "ovpn_dp_internal.h"
#include "tls_crypt.h"

/* OpenVPN's keepalive payload (ping.c ping_string). */
const uint8_t OVPN_PING_MAGIC[OVPN_PING_SIZE] = {0x2a, 0x18, 0x7b, 0xf3, 0x64, 0x1e, 0xb4, 0xcb,
                                                 0x07, 0xed, 0x2d, 0x0a, 0x98, 0x1f, 0xc7, 0x48};
/* occ.c occ_magic: the prefix of every OCC message on the data channel. */
const uint8_t OVPN_OCC_MAGIC[OVPN_OCC_MAGIC_SIZE] = {0x28, 0x7f, 0x34, 0x6b, 0xd4, 0xef, 0x7a, 0x81,
                                                     0x2d, 0x56, 0xb8, 0xd3, 0xaf, 0xc5, 0x45, 0x9c};

typedef struct {
  uint8_t *slab;
  struct mmsghdr msgs[DP_BATCH];
  struct iovec iov[DP_BATCH];
  dp_sockaddr from[DP_BATCH];
  alignas(struct cmsghdr) uint8_t control[DP_BATCH][DP_CMSG_SPACE];
  dp_tun_queue tun; /* decrypted packets for the TUN device */
  uint64_t drops[OVPN_DROP_COUNT];
  dp_batch *control_batch;
  dp_batch *floats;
  /* The reset replies' window (src/proto/openvpn/reset-reply-limit.ts): when it opened, and
   * the replies sent in it. */
  uint64_t reset_window_start;
  uint32_t reset_replies;
} rx_state;

/* Queues one decrypted packet for the TUN write. */
static void rx_deliver(rx_state *s, uint8_t *plain, size_t len) {
  if (!dp_tun_queue_add(&s->tun, plain, len)) s->drops[OVPN_DROP_TUN_WRITE]++;
}

bool dp_rx_open(dp_peer *peer, uint8_t *p, size_t len, uint64_t *drops, uint8_t **plain,
                size_t *plain_len) {
  dp_key *key = peer->keys[p[0] & OVPN_KEY_ID_MASK];
  if (key == NULL) {
    drops[OVPN_DROP_NO_KEY]++;
    return false;
  }
  ovpn_data_header h;
  int reason = ovpn_parse_data(p, len, &h);
  if (reason < 0) reason = ovpn_open(&key->open, &key->replay, p, len, &h, plain, plain_len);
  if (reason >= 0) {
    drops[reason]++;
    return false;
  }
  return true;
}

bool dp_rx_accept(dp *d, dp_peer *peer, uint8_t *plain, size_t plain_len, uint64_t now,
                  uint64_t *drops) {
  owned_set(&peer->last_rx_ms, now);
  if (plain_len == OVPN_PING_SIZE && memcmp(plain, OVPN_PING_MAGIC, OVPN_PING_SIZE) == 0) {
    counter_add(&d->stats[STAT_RX_PINGS], 1);
    return false;
  }
  /* A client leaving without cc-exit says so here; the gateway's keepalive sweep reads it. */
  if (plain_len == OVPN_OCC_MAGIC_SIZE + 1 && plain[OVPN_OCC_MAGIC_SIZE] == OVPN_OCC_EXIT &&
      memcmp(plain, OVPN_OCC_MAGIC, OVPN_OCC_MAGIC_SIZE) == 0) {
    owned_add(&peer->exit_notices, 1);
    return false;
  }
  dp_inner source;
  if (!dp_packet_address(plain, plain_len, true, &source)) {
    drops[OVPN_DROP_NOT_IP]++;
    return false;
  }
  if (!peer->upstream && !dp_peer_owns(peer, &source)) {
    drops[OVPN_DROP_SPOOFED_SOURCE]++;
    return false;
  }
  if (peer->policy != NULL && !dp_policy_admits(peer, plain, plain_len)) return false;
  owned_add(&peer->bytes_in, plain_len);
  owned_add(&peer->packets_in, 1);
  return true;
}

/* A reply may go out now (and is counted), as ResetReplyLimit.admit decides in JS: a window
 * opens at the first reset after the last one closed; at most max replies in it. */
static bool rx_reply_admitted(dp *d, rx_state *s, uint64_t now) {
  uint32_t max = atomic_load_explicit(&d->reset_reply_max, memory_order_relaxed);
  if (max == 0) return true;
  uint64_t window = atomic_load_explicit(&d->reset_reply_window_ms, memory_order_relaxed);
  if (s->reset_replies == 0 || now < s->reset_window_start ||
      now - s->reset_window_start >= window) {
    s->reset_window_start = now;
    s->reset_replies = 0;
  }
  if (s->reset_replies >= max) return false;
  s->reset_replies++;
  return true;
}

/* A client's reset answered, or a forged one dropped, here (ovpn_first_contact.c) instead of in
 * JS; false if it is not one this thread takes. A reply the kernel refuses counts as a send
 * drop, like any other. */
static bool rx_first_contact(dp *d, rx_state *s, const uint8_t *p, size_t len,
                             const dp_sockaddr *from, const dp_sockaddr *local, uint64_t now) {
  uint8_t reply[DP_FIRST_CONTACT_REPLY_MAX];
  size_t n = 0;
  switch (dp_first_contact_answer(d->first_contact, p, len, from, now, reply, &n)) {
  case DP_FC_TO_JS:
    return false;
  case DP_FC_DROP_BAD_WKC:
    counter_add(&d->stats[STAT_FIRST_CONTACT_BAD_WKC], 1);
    return true;
  case DP_FC_DROP_AUTH_FAILED:
    counter_add(&d->stats[STAT_FIRST_CONTACT_AUTH_FAILED], 1);
    return true;
  case DP_FC_REPLY:
    break;
  }
  if (!rx_reply_admitted(d, s, now)) {
    counter_add(&d->stats[STAT_FIRST_CONTACT_RATE_LIMITED], 1);
    return true;
  }
  socklen_t from_len = from->sa.sa_family == AF_INET ? sizeof from->v4 : sizeof from->v6;
  if (dp_send_one(d, reply, n, from, from_len, local) < 0) s->drops[OVPN_DROP_UDP_SEND]++;
  else counter_add(&d->stats[STAT_FIRST_CONTACT_REPLIES], 1);
  return true;
}

/* One datagram (a whole message, or one piece of a UDP GRO message). */
static void rx_datagram(dp *d, rx_state *s, uint8_t *p, size_t len, const dp_sockaddr *from,
                        const dp_sockaddr *local, uint64_t now) {
  if (len < OVPN_OPCODE_SIZE) {
    s->drops[OVPN_DROP_TRUNCATED]++;
    return;
  }
  unsigned opcode = p[0] >> OVPN_OPCODE_SHIFT;
  if (opcode < OVPN_OP_FIRST || opcode > OVPN_OP_LAST) {
    s->drops[OVPN_DROP_BAD_OPCODE]++;
    return;
  }
  dp_peer *peer = NULL;
  if (opcode == OVPN_OP_DATA_V2 && len >= OVPN_OPCODE_SIZE + OVPN_PEER_ID_SIZE) {
    uint32_t peer_id = ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    peer = dp_find_peer(d, peer_id);
    /* A TCP peer's packets come on its stream only (ovpn_tcp.c owns its receive state). */
    if (peer != NULL && peer->tcp != NULL) peer = NULL;
  }
  if (peer == NULL) {
    if (d->first_contact != NULL && rx_first_contact(d, s, p, len, from, local, now)) return;
    /* Control channel, DATA_V1, or a peer id JS may know (TCP or reference-path peers). */
    if (dp_append_record(d, &s->control_batch, EVENT_CONTROL, 0, from, local, p, len)) {
      counter_add(&d->stats[STAT_TO_JS_CONTROL], 1);
    }
    return;
  }
  uint8_t *plain = NULL;
  size_t plain_len = 0;
  if (!dp_rx_open(peer, p, len, s->drops, &plain, &plain_len)) return;
  /* Authenticated and fresh: a new source address is the same peer, moved (NAT rebinding,
   * roaming). Only the RX thread writes the remote concurrently with TX reading it. */
  bool moved = !dp_sockaddr_equal(&peer->remote, from);
  if (moved || !dp_local_equal(&peer->local, local)) {
    pthread_spin_lock(&peer->remote_lock);
    peer->remote = *from;
    peer->remote_len = from->sa.sa_family == AF_INET ? sizeof from->v4 : sizeof from->v6;
    peer->local = *local;
    pthread_spin_unlock(&peer->remote_lock);
  }
  /* Only a new client address is a float JS hears of; a new local address alone (learnt
   * here when JS gave none) just changes where replies leave from. */
  if (moved) {
    dp_append_record(d, &s->floats, EVENT_FLOAT, peer->id, from, local, NULL, 0);
    counter_add(&d->stats[STAT_FLOATS], 1);
  }
  if (dp_rx_accept(d, peer, plain, plain_len, now, s->drops)) rx_deliver(s, plain, plain_len);
}

/* The segment size of a UDP GRO message, 0 if the kernel did not coalesce it. */
static size_t gro_segment_size(const struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size;
      memcpy(&size, CMSG_DATA(c), sizeof size);
      return size > 0 ? (size_t)size : 0;
    }
  }
  return 0;
}

static void free_rx_state(rx_state *s) {
  if (s == NULL) return;
  free(s->slab);
  dp_tun_queue_free(&s->tun);
  free(s);
}

/* Sleeps until a datagram comes, or the TUN device has a packet while this thread owns it
 * (which it then serves); false when the data plane is stopping. */
static bool rx_wait(dp *d) {
  bool tun = dp_rx_owns_tun(d);
  struct pollfd fds[4] = {{.fd = d->udp_fd, .events = POLLIN},
                          {.fd = d->wake_fd, .events = POLLIN},
                          {.fd = d->rx_kick_fd, .events = POLLIN},
                          {.fd = d->tun_fd, .events = POLLIN}};
  int r = poll(fds, tun ? 4 : 3, -1);
  if (atomic_load_explicit(&d->stopping, memory_order_relaxed)) return false;
  if (r > 0 && (fds[2].revents & POLLIN)) dp_drain(d->rx_kick_fd);
  if (tun && fds[3].revents != 0) dp_rx_serve_tun(d);
  return true;
}

void *dp_rx_main(void *arg) {
  dp *d = arg;
  rx_state *s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->slab = malloc((size_t)DP_BATCH * DP_RX_SLOT);
  }
  if (s == NULL || s->slab == NULL || !dp_tun_queue_init(&s->tun, DP_RX_PACKETS_MAX, d->offload)) {
    free_rx_state(s);
    dp_report_error(d, THREAD_RX, ENOMEM);
    return NULL;
  }
  uint8_t *slab = s->slab;
  while (!atomic_load_explicit(&d->stopping, memory_order_relaxed)) {
    for (int i = 0; i < DP_BATCH; i++) {
      s->iov[i].iov_base = slab + (size_t)i * DP_RX_SLOT;
      s->iov[i].iov_len = DP_RX_SLOT;
      memset(&s->msgs[i].msg_hdr, 0, sizeof s->msgs[i].msg_hdr);
      s->msgs[i].msg_hdr.msg_name = &s->from[i];
      s->msgs[i].msg_hdr.msg_namelen = sizeof s->from[i];
      s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
      s->msgs[i].msg_hdr.msg_iovlen = 1;
      s->msgs[i].msg_hdr.msg_control = s->control[i];
      s->msgs[i].msg_hdr.msg_controllen = sizeof s->control[i];
    }
    int n = recvmmsg(d->udp_fd, s->msgs, DP_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (!rx_wait(d)) break;
        continue;
      }
      if (err == EINTR || err == ECONNREFUSED || err == ENOMEM || err == ENOBUFS) continue;
      dp_report_error(d, THREAD_RX, err);
      break;
    }
    uint64_t now = dp_now_ms();
    uint64_t datagrams = 0, coalesced = 0;
    pthread_rwlock_rdlock(&d->lock);
    for (int i = 0; i < n; i++) {
      uint8_t *p = slab + (size_t)i * DP_RX_SLOT;
      size_t len = s->msgs[i].msg_len;
      if (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        s->drops[OVPN_DROP_UDP_TRUNCATED]++;
        continue;
      }
      dp_sockaddr local;
      dp_pktinfo_local(d, &s->msgs[i].msg_hdr, &local);
      size_t segment = gro_segment_size(&s->msgs[i].msg_hdr);
      if (segment == 0 || segment >= len) segment = len;
      else coalesced += (len + segment - 1) / segment;
      for (size_t at = 0; at < len || len == 0; at += segment) {
        size_t piece = len - at < segment ? len - at : segment;
        rx_datagram(d, s, p + at, piece, &s->from[i], &local, now);
        datagrams++;
        if (len == 0) break;
      }
    }
    pthread_rwlock_unlock(&d->lock);

    uint32_t added = s->tun.count, writes = 0;
    uint32_t written = dp_tun_queue_flush(&s->tun, d->tun_fd, &writes);
    s->drops[OVPN_DROP_TUN_WRITE] += added - written;
    dp_flush_batch(d, &s->control_batch);
    dp_flush_batch(d, &s->floats);
    flush_drops(d, s->drops);
    counter_add(&d->stats[STAT_RX_DATAGRAMS], datagrams);
    counter_add(&d->stats[STAT_RX_GRO_DATAGRAMS], coalesced);
    counter_add(&d->stats[STAT_RX_BATCHES], 1);
    counter_add(&d->stats[STAT_RX_DELIVERED], written);
    counter_add(&d->stats[STAT_RX_TUN_WRITES], writes);
    if (dp_rx_owns_tun(d)) dp_rx_serve_tun(d);
  }
  dp_flush_batch(d, &s->control_batch);
  dp_flush_batch(d, &s->floats);
  free_rx_state(s);
  tc_thread_release();
  return NULL;
}
