/*
 * Addresses and the peer tables of the native data plane. The tables change only on the JS
 * thread, under the data plane's write lock; the worker threads look up under the read lock.
 * Peers by peer id, and inner (VPN) addresses to peers: chained hash tables that double when
 * they hold more entries than buckets.
 */
#define _GNU_SOURCE
#include "ovpn_dp_internal.h"

/* ---------------------------------------------------------------- addresses */

uint64_t dp_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

static uint32_t hash_inner(const dp_inner *a) {
  uint64_t lo, hi;
  memcpy(&lo, a->bytes, sizeof lo);
  memcpy(&hi, a->bytes + sizeof lo, sizeof hi);
  uint64_t h = (lo * 0x9e3779b97f4a7c15ull) ^ (hi * 0xc2b2ae3d27d4eb4full) ^ a->family;
  h ^= h >> 32;
  return mix32((uint32_t)h);
}

static bool inner_equal(const dp_inner *a, const dp_inner *b) {
  return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* The source or destination address of an inner IP packet; false if it is not IP. */
bool dp_packet_address(const uint8_t *p, size_t len, bool source, dp_inner *out) {
  if (len < 1) return false;
  unsigned version = p[0] >> 4;
  if (version == 4 && len >= DP_IPV4_HEADER_MIN) {
    out->family = 4;
    memcpy(out->bytes, p + (source ? 12 : 16), 4);
    memset(out->bytes + 4, 0, sizeof out->bytes - 4);
    return true;
  }
  if (version == 6 && len >= DP_IPV6_HEADER) {
    out->family = 6;
    memcpy(out->bytes, p + (source ? 8 : 24), 16);
    return true;
  }
  return false;
}

bool dp_sockaddr_equal(const dp_sockaddr *a, const dp_sockaddr *b) {
  if (a->sa.sa_family != b->sa.sa_family) return false;
  if (a->sa.sa_family == AF_INET) {
    return a->v4.sin_port == b->v4.sin_port && a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
  }
  return a->v6.sin6_port == b->v6.sin6_port &&
         memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, sizeof a->v6.sin6_addr) == 0;
}

/* A socket address as the record fields JS reads: IPv4-mapped IPv6 becomes IPv4. */
void dp_sockaddr_fields(const dp_sockaddr *s, uint16_t *port, uint16_t *family,
                            uint8_t address[16]) {
  memset(address, 0, 16);
  if (s->sa.sa_family == AF_INET) {
    *family = 4;
    *port = ntohs(s->v4.sin_port);
    memcpy(address, &s->v4.sin_addr, 4);
  } else if (s->sa.sa_family == AF_INET6) {
    *port = ntohs(s->v6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&s->v6.sin6_addr)) {
      *family = 4;
      memcpy(address, s->v6.sin6_addr.s6_addr + 12, 4);
    } else {
      *family = 6;
      memcpy(address, s->v6.sin6_addr.s6_addr, 16);
    }
  } else {
    *family = 0;
    *port = 0;
  }
}

/* A local address from JS: the same forms as a remote, without a port. "" is unknown. */
bool dp_parse_local(const dp *d, const char *text, dp_sockaddr *out) {
  memset(out, 0, sizeof *out);
  if (text[0] == '\0') return true;
  socklen_t len;
  if (!dp_parse_remote(d, text, 1, out, &len)) return false;
  if (out->sa.sa_family == AF_INET) out->v4.sin_port = 0;
  else out->v6.sin6_port = 0;
  return true;
}

bool dp_local_equal(const dp_sockaddr *a, const dp_sockaddr *b) {
  if (a->sa.sa_family != b->sa.sa_family) return false;
  if (a->sa.sa_family == 0) return true;
  return dp_sockaddr_equal(a, b);
}

void dp_pktinfo_local(const dp *d, struct msghdr *m, dp_sockaddr *out) {
  memset(out, 0, sizeof *out);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
    if (d->family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
      struct in6_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      out->v6.sin6_family = AF_INET6;
      out->v6.sin6_addr = info.ipi6_addr;
      return;
    }
    if (d->family == AF_INET && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
      struct in_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof info);
      out->v4.sin_family = AF_INET;
      out->v4.sin_addr = info.ipi_addr;
      return;
    }
  }
}

size_t dp_pktinfo_cmsg(const dp *d, const dp_sockaddr *local, uint8_t *buf) {
  /* Interface index 0: the route decides the way out, only the source address is pinned (a
   * v4-mapped address on the dual-stack socket sets the IPv4 source). */
  struct cmsghdr *c = (struct cmsghdr *)buf;
  if (d->family == AF_INET6 && local->sa.sa_family == AF_INET6) {
    struct in6_pktinfo info = {.ipi6_addr = local->v6.sin6_addr, .ipi6_ifindex = 0};
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    memcpy(CMSG_DATA(c), &info, sizeof info);
    return CMSG_SPACE(sizeof info);
  }
  if (d->family == AF_INET && local->sa.sa_family == AF_INET) {
    struct in_pktinfo info = {.ipi_ifindex = 0, .ipi_spec_dst = local->v4.sin_addr};
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    memcpy(CMSG_DATA(c), &info, sizeof info);
    return CMSG_SPACE(sizeof info);
  }
  return 0;
}

ssize_t dp_send_one(const dp *d, const uint8_t *bytes, size_t len, const dp_sockaddr *to,
                    socklen_t to_len, const dp_sockaddr *local) {
  alignas(struct cmsghdr) uint8_t control[CMSG_SPACE(sizeof(struct in6_pktinfo))];
  memset(control, 0, sizeof control);
  struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
  struct msghdr h = {.msg_name = (void *)to, .msg_namelen = to_len, .msg_iov = &iov,
                     .msg_iovlen = 1};
  size_t space = local != NULL ? dp_pktinfo_cmsg(d, local, control) : 0;
  if (space > 0) {
    h.msg_control = control;
    h.msg_controllen = space;
  }
  ssize_t r;
  do {
    r = sendmsg(d->udp_fd, &h, MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  return r;
}

/* Parses "a.b.c.d" or an IPv6 address for this socket's family; v4 on a v6 socket is mapped. */
bool dp_parse_remote(const dp *d, const char *text, uint32_t port, dp_sockaddr *out,
                         socklen_t *len) {
  if (port == 0 || port > 65535) return false;
  memset(out, 0, sizeof *out);
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, text, &v4) == 1) {
    if (d->family == AF_INET) {
      out->v4.sin_family = AF_INET;
      out->v4.sin_port = htons((uint16_t)port);
      out->v4.sin_addr = v4;
      *len = sizeof out->v4;
      return true;
    }
    out->v6.sin6_family = AF_INET6;
    out->v6.sin6_port = htons((uint16_t)port);
    out->v6.sin6_addr.s6_addr[10] = 0xff;
    out->v6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(out->v6.sin6_addr.s6_addr + 12, &v4, 4);
    *len = sizeof out->v6;
    return true;
  }
  if (d->family == AF_INET6 && inet_pton(AF_INET6, text, &v6) == 1) {
    out->v6.sin6_family = AF_INET6;
    out->v6.sin6_port = htons((uint16_t)port);
    out->v6.sin6_addr = v6;
    *len = sizeof out->v6;
    return true;
  }
  return false;
}

/* ---------------------------------------------------------------- peer tables (JS writes) */

dp_peer *dp_find_peer(const dp *d, uint32_t id) {
  for (dp_peer *p = d->peers[mix32(id) & d->peer_mask]; p != NULL; p = p->next) {
    if (p->id == id) return p;
  }
  return NULL;
}

dp_peer *dp_find_route(const dp *d, const dp_inner *a) {
  for (dp_route *r = d->routes[hash_inner(a) & d->route_mask]; r != NULL; r = r->next) {
    if (inner_equal(&r->address, a)) return r->peer;
  }
  return NULL;
}

bool dp_peer_owns(const dp_peer *p, const dp_inner *a) {
  for (uint32_t i = 0; i < p->inner_count; i++) {
    if (inner_equal(&p->inner[i], a)) return true;
  }
  return false;
}

/* Doubles a chained table once it holds more entries than buckets; false on ENOMEM (the old
 * table stays, just fuller). */
static bool grow_peers(dp *d) {
  uint32_t buckets = (d->peer_mask + 1) * 2;
  dp_peer **table = calloc(buckets, sizeof *table);
  if (table == NULL) return false;
  for (uint32_t i = 0; i <= d->peer_mask; i++) {
    for (dp_peer *p = d->peers[i], *next; p != NULL; p = next) {
      next = p->next;
      uint32_t b = mix32(p->id) & (buckets - 1);
      p->next = table[b];
      table[b] = p;
    }
  }
  free(d->peers);
  d->peers = table;
  d->peer_mask = buckets - 1;
  return true;
}

static bool grow_routes(dp *d) {
  uint32_t buckets = (d->route_mask + 1) * 2;
  dp_route **table = calloc(buckets, sizeof *table);
  if (table == NULL) return false;
  for (uint32_t i = 0; i <= d->route_mask; i++) {
    for (dp_route *r = d->routes[i], *next; r != NULL; r = next) {
      next = r->next;
      uint32_t b = hash_inner(&r->address) & (buckets - 1);
      r->next = table[b];
      table[b] = r;
    }
  }
  free(d->routes);
  d->routes = table;
  d->route_mask = buckets - 1;
  return true;
}

/* Points `a` at `p` (a later peer claiming an address takes it over, as in the reference). */
bool dp_set_route(dp *d, const dp_inner *a, dp_peer *p) {
  dp_route **bucket = &d->routes[hash_inner(a) & d->route_mask];
  for (dp_route *r = *bucket; r != NULL; r = r->next) {
    if (inner_equal(&r->address, a)) {
      r->peer = p;
      return true;
    }
  }
  dp_route *r = malloc(sizeof *r);
  if (r == NULL) return false;
  r->address = *a;
  r->peer = p;
  r->next = *bucket;
  *bucket = r;
  if (++d->route_count > d->route_mask + 1) grow_routes(d);
  return true;
}

static void drop_route_if(dp *d, const dp_inner *a, const dp_peer *p) {
  dp_route **link = &d->routes[hash_inner(a) & d->route_mask];
  for (dp_route *r = *link; r != NULL; link = &r->next, r = r->next) {
    if (inner_equal(&r->address, a)) {
      if (r->peer != p) return;
      *link = r->next;
      free(r);
      d->route_count--;
      return;
    }
  }
}

void dp_free_key(dp_key *k) {
  if (k == NULL) return;
  ovpn_aead_free(&k->seal);
  ovpn_aead_free(&k->open);
  OPENSSL_cleanse(k, sizeof *k);
  free(k);
}

void dp_free_peer(dp_peer *p) {
  /* Only with the threads stopped does a peer still hold its stream (dp_tcp_retire otherwise). */
  if (p->tcp != NULL) dp_tcp_free(p->tcp);
  for (int i = 0; i < OVPN_KEY_IDS; i++) dp_free_key(p->keys[i]);
  free(p->policy);
  pthread_spin_destroy(&p->remote_lock);
  OPENSSL_cleanse(p, sizeof *p);
  free(p);
}

/* Links a new peer into both tables (its inner addresses now route to it; upstream: every
 * other address too). The caller holds the write lock. False if a route could not be added. */
bool dp_insert_peer(dp *d, dp_peer *p) {
  uint32_t bucket = mix32(p->id) & d->peer_mask;
  p->next = d->peers[bucket];
  d->peers[bucket] = p;
  if (++d->peer_count > d->peer_mask + 1) grow_peers(d);
  bool routed = true;
  for (uint32_t i = 0; i < p->inner_count; i++) routed = dp_set_route(d, &p->inner[i], p) && routed;
  if (p->upstream) d->upstream = p;
  return routed;
}

/* Unlinks a peer from both tables; the caller holds the write lock and frees it after. */
dp_peer *dp_unlink_peer(dp *d, uint32_t id) {
  dp_peer **link = &d->peers[mix32(id) & d->peer_mask];
  for (dp_peer *p = *link; p != NULL; link = &p->next, p = p->next) {
    if (p->id != id) continue;
    *link = p->next;
    d->peer_count--;
    for (uint32_t i = 0; i < p->inner_count; i++) drop_route_if(d, &p->inner[i], p);
    if (d->upstream == p) d->upstream = NULL;
    return p;
  }
  return NULL;
}

void dp_free_tables(dp *d) {
  if (d->peers != NULL) {
    for (uint32_t i = 0; i <= d->peer_mask; i++) {
      for (dp_peer *p = d->peers[i], *next; p != NULL; p = next) {
        next = p->next;
        dp_free_peer(p);
      }
    }
  }
  if (d->routes != NULL) {
    for (uint32_t i = 0; i <= d->route_mask; i++) {
      for (dp_route *r = d->routes[i], *next; r != NULL; r = next) {
        next = r->next;
        free(r);
      }
    }
  }
  free(d->peers);
  free(d->routes);
  d->peers = NULL;
  d->routes = NULL;
  d->upstream = NULL;
  d->peer_count = d->route_count = 0;
  dp_first_contact_free(d->first_contact);
  d->first_contact = NULL;
}
