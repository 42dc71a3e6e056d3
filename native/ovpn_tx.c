/*
 * The TX thread: read the TUN device (up to 64 packets) -> inner destination -> peer -> AEAD
 * seal in place with the primary key -> sendmmsg. With offloads a read may be a TCP
 * super-packet: it is cut into segments laid out back to back, each sealed in place, and sent
 * as UDP GSO trains. Packets for no native peer go to JS.
 */
#define _GNU_SOURCE
#include "ovpn_dp_internal.h"

typedef struct tx_state {
  /* TUN reads, packed: each at start[i] with DP_TX_HEADROOM free bytes in front. */
  uint8_t *slab;
  size_t start[DP_BATCH];
  size_t len[DP_BATCH];
  /* Segments of super-packets, laid out for sealing in place and UDP GSO. */
  uint8_t *out;
  size_t out_used;
  ovpn_segment segments[OVPN_TSO_SEGMENTS_MAX];
  /* Datagrams (or GSO trains of them) to send. */
  struct mmsghdr *msgs;
  struct iovec *iov;
  dp_sockaddr *to;
  uint8_t (*control)[DP_CMSG_SPACE];
  uint16_t *segment; /* per message: the GSO segment size, 0 for a single datagram */
  int count;
  bool gso; /* UDP GSO works on this socket (turned off for good at its first refusal) */
  uint64_t drops[OVPN_DROP_COUNT];
  uint64_t super_packets, segments_made;
  dp_batch *unrouted;
  dp_tcp_tx tcp; /* TCP peers written to in this batch */
} tx_state;

/* Queues `len` bytes at `data` to the peer's current remote, from its local address when
 * known; with gso > 0 the kernel cuts them into datagrams of gso bytes (the last may be
 * shorter). Control data: the UDP_SEGMENT message (if any) first, then the pktinfo. */
static void tx_queue(dp *d, tx_state *s, dp_peer *peer, uint8_t *data, size_t len,
                     uint16_t gso) {
  if (peer->tcp != NULL) {
    /* A TCP peer: framed into its stream's buffer, written before the batch ends. */
    dp_tcp_queue(d, &s->tcp, peer->tcp, data, len, gso, s->drops);
    return;
  }
  int m = s->count++;
  pthread_spin_lock(&peer->remote_lock);
  s->to[m] = peer->remote;
  socklen_t to_len = peer->remote_len;
  dp_sockaddr local = peer->local;
  pthread_spin_unlock(&peer->remote_lock);
  s->iov[m].iov_base = data;
  s->iov[m].iov_len = len;
  s->segment[m] = gso;
  struct msghdr *h = &s->msgs[m].msg_hdr;
  memset(h, 0, sizeof *h);
  h->msg_name = &s->to[m];
  h->msg_namelen = to_len;
  h->msg_iov = &s->iov[m];
  h->msg_iovlen = 1;
  uint8_t *control = s->control[m];
  size_t used = 0;
  if (gso > 0) {
    struct cmsghdr *c = (struct cmsghdr *)control;
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &gso, sizeof gso);
    used = DP_CMSG_SEGMENT_SPACE;
  }
  used += dp_pktinfo_cmsg(d, &local, control + used);
  if (used > 0) {
    h->msg_control = control;
    h->msg_controllen = used;
  }
}

typedef enum { ROUTE_SEND, ROUTE_TO_JS, ROUTE_DROPPED } tx_route_result;

/* The peer a packet to `destination` goes to and its send key (with room for `ids_needed`
 * packet ids). ROUTE_TO_JS when no native peer has the address; ROUTE_DROPPED (counted) when
 * the peer cannot send. */
static tx_route_result tx_route(dp *d, tx_state *s, const dp_inner *destination,
                                uint64_t ids_needed, dp_peer **peer_out, dp_key **key_out) {
  dp_peer *peer = dp_find_route(d, destination);
  if (peer == NULL) peer = d->upstream;
  if (peer == NULL) return ROUTE_TO_JS;
  dp_key *key = peer->primary >= 0 ? peer->keys[peer->primary] : NULL;
  if (key == NULL) {
    s->drops[OVPN_DROP_NO_KEY]++;
    return ROUTE_DROPPED;
  }
  if (key->next_packet_id + ids_needed - 1 > OVPN_PACKET_ID_MAX) {
    s->drops[OVPN_DROP_KEY_EXHAUSTED]++;
    return ROUTE_DROPPED;
  }
  *peer_out = peer;
  *key_out = key;
  return ROUTE_SEND;
}

static size_t peer_overhead(const dp_peer *peer) {
  return peer->send_peer_id >= 0 ? OVPN_V2_OVERHEAD : OVPN_V1_OVERHEAD;
}

/* Seals the inner packet at `packet` in place (the header goes into the bytes in front);
 * returns the datagram length, 0 if OpenSSL failed (counted). */
static size_t tx_seal(tx_state *s, dp_peer *peer, dp_key *key, uint8_t *packet, size_t len,
                      uint64_t now) {
  size_t total = ovpn_seal(&key->seal, (uint8_t)peer->primary, peer->send_peer_id,
                           (uint32_t)key->next_packet_id, packet - peer_overhead(peer), len);
  if (total == 0) {
    s->drops[OVPN_DROP_UDP_SEND]++;
    return 0;
  }
  key->next_packet_id++;
  owned_add(&peer->bytes_out, len);
  owned_add(&peer->packets_out, 1);
  owned_set(&peer->last_tx_ms, now);
  return total;
}

static void tx_unrouted(dp *d, tx_state *s, const uint8_t *packet, size_t len) {
  if (dp_append_record(d, &s->unrouted, EVENT_UNROUTED, 0, NULL, NULL, packet, len)) {
    counter_add(&d->stats[STAT_TO_JS_UNROUTED], 1);
  }
}

/* One ordinary packet (not a super-packet), sealed where it was read. */
static void tx_single(dp *d, tx_state *s, uint8_t *packet, size_t len, uint64_t now) {
  dp_inner destination;
  if (!dp_packet_address(packet, len, false, &destination)) {
    s->drops[OVPN_DROP_NOT_IP]++;
    return;
  }
  dp_peer *peer = NULL;
  dp_key *key = NULL;
  tx_route_result route = tx_route(d, s, &destination, 1, &peer, &key);
  if (route == ROUTE_TO_JS) tx_unrouted(d, s, packet, len);
  if (route != ROUTE_SEND) return;
  size_t total = tx_seal(s, peer, key, packet, len, now);
  if (total > 0) tx_queue(d, s, peer, packet - peer_overhead(peer), total, 0);
}

/* A TCP super-packet from the TUN device: cut, sealed segment by segment, sent as GSO trains. */
static void tx_super(dp *d, tx_state *s, uint8_t *packet, size_t len, const ovpn_vnet *h,
                     uint64_t now) {
  dp_inner destination;
  if (!dp_packet_address(packet, len, false, &destination)) {
    s->drops[OVPN_DROP_NOT_IP]++;
    return;
  }
  s->super_packets++;
  size_t mss = h->gso_size > 0 ? h->gso_size : 1;
  uint64_t estimate = len / mss + 1;
  dp_peer *peer = NULL;
  dp_key *key = NULL;
  tx_route_result route = tx_route(d, s, &destination, estimate, &peer, &key);
  if (route == ROUTE_DROPPED) return;
  /* No native peer: JS gets the segments, as ordinary packets. */
  bool routed = route == ROUTE_SEND;
  size_t headroom = routed ? peer_overhead(peer) : 0;
  size_t stride = 0;
  uint8_t *base = s->out + s->out_used;
  int count = ovpn_tso_split(packet, len, h, base, DP_TX_OUT_BYTES - s->out_used, headroom,
                             s->segments, OVPN_TSO_SEGMENTS_MAX, &stride);
  if (count < 0) {
    s->drops[OVPN_DROP_BAD_OFFLOAD]++;
    return;
  }
  s->segments_made += (uint64_t)count;
  size_t used = s->segments[count - 1].offset + s->segments[count - 1].len;
  s->out_used += (used + DP_ALIGN - 1) & ~(size_t)(DP_ALIGN - 1);
  if (!routed) {
    for (int k = 0; k < count; k++) {
      tx_unrouted(d, s, base + s->segments[k].offset, s->segments[k].len);
    }
    return;
  }
  int sealed = 0;
  for (int k = 0; k < count; k++) {
    if (tx_seal(s, peer, key, base + s->segments[k].offset, s->segments[k].len, now) == 0) break;
    sealed++;
  }
  /* Trains of whole datagrams: every one but the last of a train is exactly `stride` long. */
  for (int k = 0; k < sealed;) {
    int take = sealed - k;
    if (take > DP_GSO_SEGMENTS_MAX) take = DP_GSO_SEGMENTS_MAX;
    if ((size_t)take * stride > DP_GSO_BYTES_MAX) take = (int)(DP_GSO_BYTES_MAX / stride);
    if (take < 1) take = 1;
    if (!s->gso) take = 1;
    uint8_t *first = base + s->segments[k].offset - headroom;
    size_t bytes = (size_t)(take - 1) * stride + headroom + s->segments[k + take - 1].len;
    tx_queue(d, s, peer, first, bytes, take > 1 ? (uint16_t)stride : 0);
    k += take;
  }
}

/* Sends one GSO train datagram by datagram (UDP GSO was refused), keeping its pktinfo. */
static int tx_send_train(dp *d, tx_state *s, int m) {
  struct msghdr *h = &s->msgs[m].msg_hdr;
  uint16_t gso = s->segment[m];
  uint8_t *data = s->iov[m].iov_base;
  size_t len = s->iov[m].iov_len;
  struct iovec iov;
  struct msghdr one = *h;
  one.msg_iov = &iov;
  one.msg_iovlen = 1;
  one.msg_flags = 0;
  if (h->msg_controllen > DP_CMSG_SEGMENT_SPACE) {
    one.msg_control = (uint8_t *)h->msg_control + DP_CMSG_SEGMENT_SPACE;
    one.msg_controllen = h->msg_controllen - DP_CMSG_SEGMENT_SPACE;
  } else {
    one.msg_control = NULL;
    one.msg_controllen = 0;
  }
  int sent = 0;
  for (size_t at = 0; at < len; at += gso) {
    size_t piece = len - at < gso ? len - at : gso;
    iov.iov_base = data + at;
    iov.iov_len = piece;
    ssize_t r;
    do {
      r = sendmsg(d->udp_fd, &one, 0);
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)piece) sent++;
    else s->drops[OVPN_DROP_UDP_SEND]++;
  }
  return sent;
}

static int train_datagrams(const tx_state *s, int m) {
  uint16_t gso = s->segment[m];
  if (gso == 0) return 1;
  return (int)((s->iov[m].iov_len + gso - 1) / gso);
}

/* Sends msgs[0..count); waits for room when the socket buffer is full. Returns datagrams sent. */
static int tx_send(dp *d, tx_state *s) {
  int done = 0, sent = 0;
  while (done < s->count) {
    int r = sendmmsg(d->udp_fd, s->msgs + done, (unsigned)(s->count - done), MSG_DONTWAIT);
    counter_add(&d->stats[STAT_TX_SENDMMSG_CALLS], 1);
    if (r > 0) {
      for (int i = done; i < done + r; i++) sent += train_datagrams(s, i);
      done += r;
      continue;
    }
    int err = r < 0 ? errno : EIO;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (!wait_ready(d, d->udp_fd, POLLOUT, DP_SEND_WAIT_MS, NULL)) break;
      continue;
    }
    if (s->segment[done] > 0 &&
        (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP)) {
      /* This kernel or route cannot segment UDP: send datagram by datagram from now on. */
      s->gso = false;
      sent += tx_send_train(d, s, done);
      done++;
      continue;
    }
    /* This one message is refused (unreachable, too big, filtered): drop it, send the rest. */
    s->drops[OVPN_DROP_UDP_SEND] += (uint64_t)train_datagrams(s, done);
    done++;
  }
  for (int i = done; i < s->count; i++) s->drops[OVPN_DROP_UDP_SEND] += train_datagrams(s, i);
  return sent;
}

static void free_tx_state(tx_state *s) {
  if (s == NULL) return;
  free(s->slab);
  free(s->out);
  free(s->msgs);
  free(s->iov);
  free(s->to);
  free(s->control);
  free(s->segment);
  free(s);
}

/* Reads what the TUN device holds (up to a batch), seals and sends it. Returns the packets
 * read; 0 when there were none, with *failure set if the read failed for another reason than
 * "nothing there". The caller holds tx_claimed. */
static int tx_batch(dp *d, tx_state *s, int *failure) {
  size_t header = d->offload ? OVPN_VNET_HDR_SIZE : 0;
  size_t read_max = header + DP_TUN_PACKET_MAX;
  int n = 0;
  size_t used = 0;
  *failure = 0;
  while (n < DP_BATCH && used + DP_TX_HEADROOM + read_max <= DP_TX_SLAB_BYTES) {
    uint8_t *at = s->slab + used + DP_TX_HEADROOM;
    ssize_t r = read(d->tun_fd, at, read_max);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *failure = errno;
      break;
    }
    if (r == 0) break;
    s->start[n] = used + DP_TX_HEADROOM;
    s->len[n++] = (size_t)r;
    used += (DP_TX_HEADROOM + (size_t)r + DP_ALIGN - 1) & ~(size_t)(DP_ALIGN - 1);
  }
  if (n == 0) return 0;
  uint64_t now = dp_now_ms();
  s->count = 0;
  s->out_used = 0;
  s->super_packets = s->segments_made = 0;
  pthread_rwlock_rdlock(&d->lock);
  for (int i = 0; i < n; i++) {
    uint8_t *packet = s->slab + s->start[i];
    size_t len = s->len[i];
    if (!d->offload) {
      tx_single(d, s, packet, len, now);
      continue;
    }
    ovpn_vnet h;
    if (len < OVPN_VNET_HDR_SIZE) {
      s->drops[OVPN_DROP_BAD_OFFLOAD]++;
      continue;
    }
    ovpn_vnet_read(packet, &h);
    packet += OVPN_VNET_HDR_SIZE;
    len -= OVPN_VNET_HDR_SIZE;
    unsigned gso = h.gso_type & (unsigned)~OVPN_VNET_GSO_ECN;
    if (gso == OVPN_VNET_GSO_NONE) {
      if ((h.flags & OVPN_VNET_F_NEEDS_CSUM) && !ovpn_csum_complete(packet, len, &h)) {
        s->drops[OVPN_DROP_BAD_OFFLOAD]++;
        continue;
      }
      tx_single(d, s, packet, len, now);
    } else if (gso == OVPN_VNET_GSO_TCPV4 || gso == OVPN_VNET_GSO_TCPV6) {
      tx_super(d, s, packet, len, &h, now);
    } else {
      s->drops[OVPN_DROP_BAD_OFFLOAD]++;
    }
  }
  /* TCP streams are written with the peers still locked in (they cannot go meanwhile). */
  dp_tcp_flush_touched(d, &s->tcp);
  pthread_rwlock_unlock(&d->lock);
  int sent = s->count > 0 ? tx_send(d, s) : 0;
  dp_flush_batch(d, &s->unrouted);
  flush_drops(d, s->drops);
  counter_add(&d->stats[STAT_TX_PACKETS], (uint64_t)n);
  counter_add(&d->stats[STAT_TX_BATCHES], 1);
  counter_add(&d->stats[STAT_TX_SENT], (uint64_t)sent);
  counter_add(&d->stats[STAT_TX_SUPER_PACKETS], s->super_packets);
  counter_add(&d->stats[STAT_TX_SEGMENTS], s->segments_made);
  return n;
}

static bool tx_try_claim(dp *d) {
  return !atomic_exchange_explicit(&d->tx_claimed, true, memory_order_acquire);
}

static void tx_unclaim(dp *d) { atomic_store_explicit(&d->tx_claimed, false, memory_order_release); }

/* Waits for the claim: the other thread holds it for one batch at most. */
static void tx_claim(dp *d) {
  while (!tx_try_claim(d)) sched_yield();
}

static void hand_tun_to(dp *d, int owner) {
  atomic_store_explicit(&d->tun_owner, owner, memory_order_release);
  dp_kick(owner == DP_TUN_OWNER_TX ? d->tx_kick_fd : d->rx_kick_fd);
}

bool dp_rx_owns_tun(dp *d) {
  return atomic_load_explicit(&d->tun_owner, memory_order_acquire) == DP_TUN_OWNER_RX;
}

void dp_rx_serve_tun(dp *d) {
  if (!tx_try_claim(d)) return;
  tx_state *s = d->tx_shared;
  if (s == NULL) {
    /* No TX thread (yet, or any more): the RX thread must not poll a device it cannot serve. */
    atomic_store_explicit(&d->tun_owner, DP_TUN_OWNER_TX, memory_order_release);
  } else {
    int failure = 0;
    int n = tx_batch(d, s, &failure);
    if (n > 0) counter_add(&d->stats[STAT_TX_BY_RX], (uint64_t)n);
    /* A busy device (a batch, a TCP super-packet) or a failing one (the TX thread reports it)
     * goes to the TX thread. */
    if (n >= DP_TUN_HANDOVER_PACKETS || s->super_packets > 0 || failure != 0) {
      hand_tun_to(d, DP_TUN_OWNER_TX);
    }
  }
  tx_unclaim(d);
}

void *dp_tx_main(void *arg) {
  dp *d = arg;
  tx_state *s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->slab = malloc(DP_TX_SLAB_BYTES);
    s->out = d->offload ? malloc(DP_TX_OUT_BYTES) : NULL;
    s->msgs = calloc(DP_TX_MESSAGES_MAX, sizeof *s->msgs);
    s->iov = calloc(DP_TX_MESSAGES_MAX, sizeof *s->iov);
    s->to = calloc(DP_TX_MESSAGES_MAX, sizeof *s->to);
    s->control = calloc(DP_TX_MESSAGES_MAX, sizeof *s->control);
    s->segment = calloc(DP_TX_MESSAGES_MAX, sizeof *s->segment);
    s->gso = d->offload;
  }
  if (s == NULL || s->slab == NULL || (d->offload && s->out == NULL) || s->msgs == NULL ||
      s->iov == NULL || s->to == NULL || s->control == NULL || s->segment == NULL) {
    free_tx_state(s);
    dp_report_error(d, THREAD_TX, ENOMEM);
    return NULL;
  }
  tx_claim(d);
  d->tx_shared = s;
  while (!atomic_load_explicit(&d->stopping, memory_order_relaxed)) {
    if (atomic_load_explicit(&d->tun_owner, memory_order_acquire) != DP_TUN_OWNER_TX) {
      /* The RX thread serves the TUN device; sleep until it hands it back. */
      tx_unclaim(d);
      struct pollfd fds[2] = {{.fd = d->tx_kick_fd, .events = POLLIN},
                              {.fd = d->wake_fd, .events = POLLIN}};
      int r = poll(fds, 2, -1);
      if (r > 0 && (fds[0].revents & POLLIN)) dp_drain(d->tx_kick_fd);
      tx_claim(d);
      continue;
    }
    int failure = 0;
    int n = tx_batch(d, s, &failure);
    if (n > 0) continue;
    if (failure != 0) {
      dp_report_error(d, THREAD_TX, failure);
      break;
    }
    /* Asleep, the claim is free for the RX thread. */
    tx_unclaim(d);
    short revents = 0;
    bool go_on = wait_ready(d, d->tun_fd, POLLIN, DP_TUN_HANDBACK_MS, &revents);
    tx_claim(d);
    if (!go_on) break;
    if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
      dp_report_error(d, THREAD_TX, revents & POLLNVAL ? EBADF : EIO);
      break;
    }
    /* Quiet for a while: light traffic is the RX thread's again. */
    if (revents == 0) hand_tun_to(d, DP_TUN_OWNER_RX);
  }
  atomic_store_explicit(&d->tun_owner, DP_TUN_OWNER_TX, memory_order_release);
  d->tx_shared = NULL;
  tx_unclaim(d);
  dp_flush_batch(d, &s->unrouted);
  free_tx_state(s);
  return NULL;
}
