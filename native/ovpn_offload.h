/*
 * TUN offloads for the data plane (ovpn_offload.c). With IFF_VNET_HDR and TSO enabled on the TUN
 * device, the kernel hands us TCP "super-packets" of up to 64 KiB with a virtio_net_hdr in
 * front, and accepts them from us the same way: one read or write instead of ~45. Sending, we
 * cut them into MSS-sized segments ourselves (then seal each and send them with one UDP GSO
 * sendmsg); receiving, we glue consecutive segments of a TCP flow back together before the
 * TUN write, as the kernel's GRO would.
 *
 *  virtio_net_hdr (10 bytes, little-endian):
 *   0 flags | 1 gso_type | 2 hdr_len | 4 gso_size | 6 csum_start | 8 csum_offset
 */
#ifndef POSTERN_OVPN_OFFLOAD_H
#define POSTERN_OVPN_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define OVPN_VNET_HDR_SIZE 10
#define OVPN_VNET_F_NEEDS_CSUM 1
#define OVPN_VNET_GSO_NONE 0
#define OVPN_VNET_GSO_TCPV4 1
#define OVPN_VNET_GSO_TCPV6 4
#define OVPN_VNET_GSO_ECN 0x80
/* Most segments one super-packet may be cut into (more is refused as malformed). */
#define OVPN_TSO_SEGMENTS_MAX 128
/* Largest IP packet a TUN write may carry. */
#define OVPN_IP_PACKET_MAX 65535

typedef struct {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} ovpn_vnet;

void ovpn_vnet_read(const uint8_t *p, ovpn_vnet *h);
void ovpn_vnet_write(uint8_t *p, const ovpn_vnet *h);

/* Fills in a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM); false if the
 * offsets do not fit the packet. */
bool ovpn_csum_complete(uint8_t *packet, size_t len, const ovpn_vnet *h);

/* One segment of a cut super-packet: `len` bytes at out + offset. */
typedef struct {
  size_t offset;
  size_t len;
} ovpn_segment;

/*
 * Cuts a TCP super-packet (IPv4 or IPv6, gso_type TCPV4/TCPV6) into segments of gso_size
 * payload bytes, each with its own IP and TCP header and full checksums. Segment k starts at
 * out + k * stride + headroom, stride = headroom + headers + gso_size, so that once each is
 * sealed in place (headroom bytes of header in front) the datagrams lie back to back, as UDP
 * GSO wants them. Returns the number of segments, or -1 if the packet is malformed, is not
 * plain TCP, or would not fit `out_cap` / `max_segments`.
 */
int ovpn_tso_split(const uint8_t *packet, size_t len, const ovpn_vnet *h, uint8_t *out,
                   size_t out_cap, size_t headroom, ovpn_segment *segments, int max_segments,
                   size_t *stride);

/* Coalescing decrypted TCP segments into super-packets before the TUN write (userspace GRO). */
typedef struct ovpn_gro ovpn_gro;

/* `capacity`: most packets one batch holds. NULL on ENOMEM. */
ovpn_gro *ovpn_gro_new(int capacity);
void ovpn_gro_free(ovpn_gro *g);
/*
 * Adds one inner IP packet. At least OVPN_VNET_HDR_SIZE bytes in front of `packet` must be
 * writable (the single-packet write puts its header there). False when the batch is full.
 */
bool ovpn_gro_add(ovpn_gro *g, uint8_t *packet, size_t len);
/* Writes the batch to the TUN fd (merged where possible) and empties it. Returns how many of
 * the added packets the kernel accepted; *writes counts the write system calls. */
uint32_t ovpn_gro_flush(ovpn_gro *g, int fd, uint32_t *writes);

#endif
