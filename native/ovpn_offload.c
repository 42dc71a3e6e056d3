/*
 * TCP segmentation (TSO in userspace, for packets read from the TUN device) and TCP segment
 * coalescing (GRO in userspace, for packets written to it), plus the Internet checksum they
 * need. Every length is checked before it is read: a malformed super-packet is refused (the
 * caller drops and counts it), a packet that cannot be merged is written as it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ovpn_offload.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the checksum code below assumes a little-endian host"
#endif

#define IPV4_HEADER_MIN 20
#define IPV6_HEADER_SIZE 40
#define TCP_HEADER_MIN 20
#define IP_PROTO_TCP 6
#define IPV4_FRAGMENT_MASK 0x3fff /* MF flag and fragment offset: DF alone is fine */
#define TCP_OFFSET_SEQ 4
#define TCP_OFFSET_ACK 8
#define TCP_OFFSET_DATA_OFFSET 12
#define TCP_OFFSET_FLAGS 13
#define TCP_OFFSET_CHECKSUM 16
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
/* GRO: flows looked up per batch, and segments one merged packet may hold. */
#define GRO_BUCKETS 256
#define GRO_SEGMENTS_MAX 64

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static uint32_t be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static void put_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

void ovpn_vnet_read(const uint8_t *p, ovpn_vnet *h) {
  h->flags = p[0];
  h->gso_type = p[1];
  h->hdr_len = le16(p + 2);
  h->gso_size = le16(p + 4);
  h->csum_start = le16(p + 6);
  h->csum_offset = le16(p + 8);
}

void ovpn_vnet_write(uint8_t *p, const ovpn_vnet *h) {
  p[0] = h->flags;
  p[1] = h->gso_type;
  put_le16(p + 2, h->hdr_len);
  put_le16(p + 4, h->gso_size);
  put_le16(p + 6, h->csum_start);
  put_le16(p + 8, h->csum_offset);
}

/*
 * One's-complement sum of 16-bit words, accumulated as little-endian 32-bit loads (the sum is
 * byte-order independent up to a final swap, and storing the folded value little-endian puts
 * the bytes where big-endian arithmetic would have).
 */
static uint64_t csum_add(const uint8_t *p, size_t len, uint64_t sum) {
  while (len >= 4) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    sum += v;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    sum += le16(p);
    p += 2;
    len -= 2;
  }
  if (len == 1) sum += p[0];
  return sum;
}

static uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* Stores a folded sum into a checksum field (complemented for a final checksum). */
static void csum_store(uint8_t *field, uint16_t folded_le, bool complement) {
  put_le16(field, complement ? (uint16_t)~folded_le : folded_le);
}

static uint64_t pseudo_header_sum(const uint8_t *ip, bool v6, uint32_t tcp_len) {
  uint8_t tail[4];
  put32(tail, v6 ? tcp_len : (IP_PROTO_TCP << 16) | tcp_len);
  uint64_t sum;
  if (v6) {
    sum = csum_add(ip + 8, 32, 0);
    sum = csum_add(tail, 4, sum);
    uint8_t next[4] = {0, 0, 0, IP_PROTO_TCP};
    return csum_add(next, 4, sum);
  }
  sum = csum_add(ip + 12, 8, 0);
  return csum_add(tail, 4, sum);
}

bool ovpn_csum_complete(uint8_t *packet, size_t len, const ovpn_vnet *h) {
  size_t start = h->csum_start;
  size_t field = start + h->csum_offset;
  if (start >= len || field + 2 > len) return false;
  csum_store(packet + field, csum_fold(csum_add(packet + start, len - start, 0)), true);
  return true;
}

/* The IP and TCP header lengths of a plain TCP packet (no IPv4 options allowed when `strict`,
 * no IPv6 extension headers, not a fragment, lengths consistent); false otherwise. */
static bool tcp_headers(const uint8_t *p, size_t len, bool *v6, size_t *iph, size_t *thl) {
  if (len < 1) return false;
  unsigned version = p[0] >> 4;
  if (version == 4) {
    if (len < IPV4_HEADER_MIN) return false;
    *iph = (size_t)(p[0] & 0x0f) * 4;
    if (*iph < IPV4_HEADER_MIN || *iph > len || p[9] != IP_PROTO_TCP) return false;
    if (be16(p + 2) != len || (be16(p + 6) & IPV4_FRAGMENT_MASK) != 0) return false;
    *v6 = false;
  } else if (version == 6) {
    if (len < IPV6_HEADER_SIZE || p[6] != IP_PROTO_TCP) return false;
    if ((size_t)be16(p + 4) + IPV6_HEADER_SIZE != len) return false;
    *iph = IPV6_HEADER_SIZE;
    *v6 = true;
  } else {
    return false;
  }
  if (len < *iph + TCP_HEADER_MIN) return false;
  *thl = (size_t)(p[*iph + TCP_OFFSET_DATA_OFFSET] >> 4) * 4;
  return *thl >= TCP_HEADER_MIN && *iph + *thl <= len;
}

int ovpn_tso_split(const uint8_t *packet, size_t len, const ovpn_vnet *h, uint8_t *out,
                   size_t out_cap, size_t headroom, ovpn_segment *segments, int max_segments,
                   size_t *stride_out) {
  bool v6;
  size_t iph, thl;
  unsigned gso = h->gso_type & (unsigned)~OVPN_VNET_GSO_ECN;
  size_t mss = h->gso_size;
  if (mss == 0 || !tcp_headers(packet, len, &v6, &iph, &thl)) return -1;
  if (gso != (v6 ? OVPN_VNET_GSO_TCPV6 : OVPN_VNET_GSO_TCPV4)) return -1;
  size_t hlen = iph + thl;
  size_t payload = len - hlen;
  size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (count > (size_t)max_segments) return -1;
  size_t stride = headroom + hlen + mss;
  size_t last_payload = payload - (count - 1) * mss;
  if ((count - 1) * stride + headroom + hlen + last_payload > out_cap) return -1;

  const uint8_t *tcp = packet + iph;
  uint32_t seq = be32(tcp + TCP_OFFSET_SEQ);
  uint16_t id = v6 ? 0 : be16(packet + 4);
  uint8_t flags = tcp[TCP_OFFSET_FLAGS];
  for (size_t k = 0; k < count; k++) {
    size_t chunk = k + 1 == count ? last_payload : mss;
    uint8_t *o = out + k * stride + headroom;
    memcpy(o, packet, hlen);
    if (chunk > 0) memcpy(o + hlen, packet + hlen + k * mss, chunk);
    size_t seg_len = hlen + chunk;
    if (v6) {
      put16(o + 4, (uint16_t)(seg_len - IPV6_HEADER_SIZE));
    } else {
      put16(o + 2, (uint16_t)seg_len);
      put16(o + 4, (uint16_t)(id + k));
      put16(o + 10, 0);
      csum_store(o + 10, csum_fold(csum_add(o, iph, 0)), true);
    }
    uint8_t *t = o + iph;
    put32(t + TCP_OFFSET_SEQ, seq + (uint32_t)(k * mss));
    uint8_t f = flags;
    if (k + 1 != count) f &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (k != 0) f &= (uint8_t)~TCP_CWR;
    t[TCP_OFFSET_FLAGS] = f;
    put16(t + TCP_OFFSET_CHECKSUM, 0);
    uint64_t sum = pseudo_header_sum(o, v6, (uint32_t)(seg_len - iph));
    csum_store(t + TCP_OFFSET_CHECKSUM, csum_fold(csum_add(t, seg_len - iph, sum)), true);
    segments[k].offset = k * stride + headroom;
    segments[k].len = seg_len;
  }
  *stride_out = stride;
  return (int)count;
}

/* ------------------------------------------------------------------ GRO */

typedef struct {
  uint8_t *packet;
  size_t len;
  int next; /* next packet merged into the same item, -1 at the end */
} gro_packet;

typedef struct {
  int first, last; /* gro_packet indices */
  size_t iph, hlen;
  bool v6;
  bool open; /* may take more segments */
  bool psh;
  uint16_t gso_size;
  uint16_t count;
  uint32_t next_seq;
  size_t total;
} gro_item;

struct ovpn_gro {
  int capacity;
  int packets_used;
  int items_used;
  gro_packet *packets;
  gro_item *items;
  struct iovec *iov;
  int16_t table[GRO_BUCKETS]; /* newest item of a flow hash, +1; 0 = none */
};

ovpn_gro *ovpn_gro_new(int capacity) {
  ovpn_gro *g = calloc(1, sizeof *g);
  if (g == NULL) return NULL;
  g->capacity = capacity;
  g->packets = calloc((size_t)capacity, sizeof *g->packets);
  g->items = calloc((size_t)capacity, sizeof *g->items);
  g->iov = calloc(GRO_SEGMENTS_MAX + 1, sizeof *g->iov);
  if (g->packets == NULL || g->items == NULL || g->iov == NULL) {
    ovpn_gro_free(g);
    return NULL;
  }
  return g;
}

void ovpn_gro_free(ovpn_gro *g) {
  if (g == NULL) return;
  free(g->packets);
  free(g->items);
  free(g->iov);
  free(g);
}

static bool tcp_checksums_valid(const uint8_t *p, size_t len, bool v6, size_t iph) {
  if (!v6 && csum_fold(csum_add(p, iph, 0)) != 0xffff) return false;
  uint64_t sum = pseudo_header_sum(p, v6, (uint32_t)(len - iph));
  return csum_fold(csum_add(p + iph, len - iph, sum)) == 0xffff;
}

static unsigned flow_hash(const uint8_t *p, bool v6, size_t iph) {
  uint64_t h = csum_add(p + (v6 ? 8 : 12), v6 ? 32 : 8, 0);
  h = csum_add(p + iph, 4, h * 0x9e3779b97f4a7c15ull);
  h ^= h >> 29;
  return (unsigned)(h * 0xbf58476d1ce4e5b9ull >> 56) % GRO_BUCKETS;
}

/* Same flow, same IP treatment and same TCP options as the item's first packet. */
static bool same_flow(const gro_item *it, const uint8_t *head, const uint8_t *p, bool v6,
                      size_t iph, size_t hlen) {
  if (it->v6 != v6 || it->iph != iph || it->hlen != hlen) return false;
  if (v6) {
    if (memcmp(head, p, 4) != 0 || head[7] != p[7] || memcmp(head + 8, p + 8, 32) != 0) {
      return false;
    }
  } else if (head[1] != p[1] || head[8] != p[8] || (head[6] & 0x40) != (p[6] & 0x40) ||
             memcmp(head + 12, p + 12, 8) != 0) {
    return false;
  }
  const uint8_t *a = head + iph, *b = p + iph;
  return memcmp(a, b, 4) == 0 && memcmp(a + TCP_OFFSET_ACK, b + TCP_OFFSET_ACK, 4) == 0 &&
         memcmp(a + TCP_HEADER_MIN, b + TCP_HEADER_MIN, hlen - iph - TCP_HEADER_MIN) == 0;
}

bool ovpn_gro_add(ovpn_gro *g, uint8_t *packet, size_t len) {
  if (g->packets_used >= g->capacity) return false;
  int index = g->packets_used++;
  g->packets[index] = (gro_packet){packet, len, -1};

  bool v6 = false;
  size_t iph = 0, thl = 0;
  bool tcp = tcp_headers(packet, len, &v6, &iph, &thl);
  uint8_t flags = tcp ? packet[iph + TCP_OFFSET_FLAGS] : 0;
  size_t hlen = iph + thl;
  size_t payload = len - hlen;
  /* Only data segments with ACK (and PSH on the last) merge; a bad checksum never hides in a
   * merged packet: such a packet goes to the kernel alone, which drops it. */
  bool mergeable = tcp && (flags & (uint8_t)~TCP_PSH) == TCP_ACK && payload > 0 &&
                   (v6 || iph == IPV4_HEADER_MIN) && tcp_checksums_valid(packet, len, v6, iph);
  unsigned bucket = mergeable ? flow_hash(packet, v6, iph) : 0;
  if (mergeable && g->table[bucket] != 0) {
    gro_item *it = &g->items[g->table[bucket] - 1];
    const uint8_t *head = g->packets[it->first].packet;
    if (it->open && be32(packet + iph + TCP_OFFSET_SEQ) == it->next_seq &&
        payload <= it->gso_size && it->total + payload <= OVPN_IP_PACKET_MAX &&
        it->count < GRO_SEGMENTS_MAX && same_flow(it, head, packet, v6, iph, hlen)) {
      g->packets[it->last].next = index;
      it->last = index;
      it->count++;
      it->total += payload;
      it->next_seq += (uint32_t)payload;
      if (flags & TCP_PSH) it->psh = true;
      if (payload < it->gso_size || it->psh) it->open = false;
      return true;
    }
  }
  gro_item *it = &g->items[g->items_used];
  *it = (gro_item){.first = index, .last = index, .iph = iph, .hlen = hlen, .v6 = v6,
                   .count = 1, .total = len};
  if (mergeable && payload <= UINT16_MAX) {
    it->gso_size = (uint16_t)payload;
    it->next_seq = be32(packet + iph + TCP_OFFSET_SEQ) + (uint32_t)payload;
    it->psh = (flags & TCP_PSH) != 0;
    it->open = !it->psh;
    g->table[bucket] = (int16_t)(g->items_used + 1);
  }
  g->items_used++;
  return true;
}

static bool write_all(int fd, const struct iovec *iov, int count, size_t expected) {
  ssize_t n;
  do {
    n = count == 1 ? write(fd, iov[0].iov_base, iov[0].iov_len) : writev(fd, iov, count);
  } while (n < 0 && errno == EINTR);
  return n == (ssize_t)expected;
}

/* Rewrites the first packet's headers to describe the merged packet and writes it. */
static bool write_merged(ovpn_gro *g, int fd, gro_item *it) {
  uint8_t *head = g->packets[it->first].packet;
  size_t head_len = g->packets[it->first].len;
  if (it->v6) {
    put16(head + 4, (uint16_t)(it->total - IPV6_HEADER_SIZE));
  } else {
    put16(head + 2, (uint16_t)it->total);
    put16(head + 10, 0);
    csum_store(head + 10, csum_fold(csum_add(head, it->iph, 0)), true);
  }
  uint8_t *tcp = head + it->iph;
  if (it->psh) tcp[TCP_OFFSET_FLAGS] |= TCP_PSH;
  /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not complemented. */
  uint64_t pseudo = pseudo_header_sum(head, it->v6, (uint32_t)(it->total - it->iph));
  csum_store(tcp + TCP_OFFSET_CHECKSUM, csum_fold(pseudo), false);
  uint8_t vnet[OVPN_VNET_HDR_SIZE];
  ovpn_vnet h = {
      .flags = OVPN_VNET_F_NEEDS_CSUM,
      .gso_type = it->v6 ? OVPN_VNET_GSO_TCPV6 : OVPN_VNET_GSO_TCPV4,
      .hdr_len = (uint16_t)it->hlen,
      .gso_size = it->gso_size,
      .csum_start = (uint16_t)it->iph,
      .csum_offset = TCP_OFFSET_CHECKSUM,
  };
  ovpn_vnet_write(vnet, &h);
  int n = 0;
  g->iov[n++] = (struct iovec){vnet, sizeof vnet};
  g->iov[n++] = (struct iovec){head, head_len};
  for (int i = g->packets[it->first].next; i >= 0; i = g->packets[i].next) {
    g->iov[n++] = (struct iovec){g->packets[i].packet + it->hlen, g->packets[i].len - it->hlen};
  }
  return write_all(fd, g->iov, n, sizeof vnet + it->total);
}

uint32_t ovpn_gro_flush(ovpn_gro *g, int fd, uint32_t *writes) {
  uint32_t accepted = 0;
  for (int i = 0; i < g->items_used; i++) {
    gro_item *it = &g->items[i];
    bool ok;
    if (it->count > 1) {
      ok = write_merged(g, fd, it);
    } else {
      /* Alone: a zeroed header in the bytes in front of the packet, one write. */
      gro_packet *p = &g->packets[it->first];
      uint8_t *start = p->packet - OVPN_VNET_HDR_SIZE;
      memset(start, 0, OVPN_VNET_HDR_SIZE);
      struct iovec one = {start, p->len + OVPN_VNET_HDR_SIZE};
      ok = write_all(fd, &one, 1, one.iov_len);
    }
    (*writes)++;
    if (ok) accepted += it->count;
  }
  g->packets_used = 0;
  g->items_used = 0;
  memset(g->table, 0, sizeof g->table);
  return accepted;
}
