/*
 * Policy on the native RX path: after a packet from a peer decrypted and passed the source
 * check, its destination, protocol and destination port are matched against the peer's rules
 * (first match decides, no match drops). Dropped packets are counted per peer and the first
 * few since JS last looked are kept as flows for audit sampling. The same semantics as
 * src/control/policy/matcher.ts; the rule table is built there (table.ts).
 *
 * Cost per packet: a few header loads and one pass over a user's handful of rules, each a
 * family/protocol/port compare and at most a 16-byte prefix compare.
 */
#define _GNU_SOURCE
#include "ovpn_dp_internal.h"

#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define IPV4_PROTO_AT 9
#define IPV4_FRAGMENT_AT 6
#define IPV4_FRAGMENT_OFFSET_MASK 0x1fff
#define IPV4_SRC_AT 12
#define IPV4_DST_AT 16
#define IPV6_NEXT_HEADER_AT 6
#define IPV6_SRC_AT 8
#define IPV6_DST_AT 24
#define PORTS_SIZE 4
#define BITS_PER_BYTE 8

static uint16_t be16(const uint8_t *p) { return (uint16_t)(((unsigned)p[0] << 8) | p[1]); }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | ((unsigned)p[1] << 8)); }

static bool read_flow(const uint8_t *p, size_t len, dp_flow *f) {
  unsigned version = len > 0 ? p[0] >> 4 : 0;
  size_t transport;
  bool first_fragment = true;
  memset(f, 0, sizeof *f);
  if (version == 4 && len >= DP_IPV4_HEADER_MIN) {
    f->family = 4;
    f->proto = p[IPV4_PROTO_AT];
    memcpy(f->src, p + IPV4_SRC_AT, 4);
    memcpy(f->dst, p + IPV4_DST_AT, 4);
    transport = (size_t)(p[0] & 0x0f) * 4;
    first_fragment = (be16(p + IPV4_FRAGMENT_AT) & IPV4_FRAGMENT_OFFSET_MASK) == 0;
    if (transport < DP_IPV4_HEADER_MIN) return true;
  } else if (version == 6 && len >= DP_IPV6_HEADER) {
    f->family = 6;
    f->proto = p[IPV6_NEXT_HEADER_AT];
    memcpy(f->src, p + IPV6_SRC_AT, 16);
    memcpy(f->dst, p + IPV6_DST_AT, 16);
    transport = DP_IPV6_HEADER;
  } else {
    return false;
  }
  if (first_fragment && (f->proto == IP_PROTO_TCP || f->proto == IP_PROTO_UDP) &&
      len >= transport + PORTS_SIZE) {
    f->src_port = be16(p + transport);
    f->dst_port = be16(p + transport + 2);
  }
  return true;
}

static bool prefix_matches(const dp_policy_rule *r, const uint8_t *a) {
  unsigned whole = r->prefix / BITS_PER_BYTE, rest = r->prefix % BITS_PER_BYTE;
  if (memcmp(r->network, a, whole) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = (uint8_t)(0xff << (BITS_PER_BYTE - rest));
  return (a[whole] & mask) == r->network[whole];
}

static bool allowed(const dp_policy *pol, const dp_flow *f) {
  for (uint32_t i = 0; i < pol->count; i++) {
    const dp_policy_rule *r = &pol->rules[i];
    if (r->family == f->family && (r->proto == 0 || r->proto == f->proto) &&
        f->dst_port >= r->port_lo && f->dst_port <= r->port_hi && prefix_matches(r, f->dst)) {
      return r->allow != 0;
    }
  }
  return false;
}

bool dp_policy_admits(dp_peer *p, const uint8_t *packet, size_t len) {
  dp_flow f;
  bool parsed = read_flow(packet, len, &f);
  if (parsed && allowed(p->policy, &f)) return true;
  owned_add(&p->policy_drops, 1);
  if (parsed && p->sample_count < DP_POLICY_SAMPLES) p->samples[p->sample_count++] = f;
  return false;
}

/* The table JS built, checked: whole records, sane families and prefixes. NULL if malformed. */
dp_policy *dp_policy_decode(const uint8_t *table, size_t len) {
  if (len % DP_POLICY_RULE_SIZE != 0 || len / DP_POLICY_RULE_SIZE > DP_POLICY_RULES_MAX) {
    return NULL;
  }
  uint32_t count = (uint32_t)(len / DP_POLICY_RULE_SIZE);
  dp_policy *pol = malloc(sizeof *pol + (size_t)count * sizeof pol->rules[0]);
  if (pol == NULL) return NULL;
  pol->count = count;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *at = table + (size_t)i * DP_POLICY_RULE_SIZE;
    dp_policy_rule *r = &pol->rules[i];
    r->family = at[0];
    r->prefix = at[1];
    r->proto = at[2];
    r->allow = at[3];
    r->port_lo = le16(at + 4);
    r->port_hi = le16(at + 6);
    memcpy(r->network, at + 8, sizeof r->network);
    unsigned bits = r->family == 4 ? 32 : 128;
    if ((r->family != 4 && r->family != 6) || r->prefix > bits) {
      free(pol);
      return NULL;
    }
    /* The compare reads the byte after whole prefix bytes: keep it masked. */
    if (r->prefix % BITS_PER_BYTE != 0) {
      unsigned rest = r->prefix % BITS_PER_BYTE;
      r->network[r->prefix / BITS_PER_BYTE] &= (uint8_t)(0xff << (BITS_PER_BYTE - rest));
    }
  }
  return pol;
}

/* A sample record for JS, little-endian:
 *   0 u8 family | 1 u8 proto | 2 u16 src port | 4 u16 dst port | 6 pad[2]
 *   8 src[16] | 24 dst[16] */
void dp_flow_encode(const dp_flow *f, uint8_t out[DP_POLICY_SAMPLE_SIZE]) {
  memset(out, 0, DP_POLICY_SAMPLE_SIZE);
  out[0] = f->family;
  out[1] = f->proto;
  out[2] = (uint8_t)(f->src_port & 0xff);
  out[3] = (uint8_t)(f->src_port >> 8);
  out[4] = (uint8_t)(f->dst_port & 0xff);
  out[5] = (uint8_t)(f->dst_port >> 8);
  memcpy(out + 8, f->src, 16);
  memcpy(out + 24, f->dst, 16);
}
