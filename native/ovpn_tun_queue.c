/*
 * The decrypted packets of one batch on their way to the TUN device (ovpn_dp_internal.h):
 * one implementation for the UDP RX thread and the TCP thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "ovpn_dp_internal.h"

bool dp_tun_queue_init(dp_tun_queue *q, uint32_t max, bool offload) {
  q->max = max;
  q->count = 0;
  if (offload) {
    q->gro = ovpn_gro_new(max);
    return q->gro != NULL;
  }
  q->out = calloc(max, sizeof *q->out);
  q->out_len = calloc(max, sizeof *q->out_len);
  return q->out != NULL && q->out_len != NULL;
}

void dp_tun_queue_free(dp_tun_queue *q) {
  ovpn_gro_free(q->gro);
  free(q->out);
  free(q->out_len);
  q->gro = NULL;
  q->out = NULL;
  q->out_len = NULL;
}

bool dp_tun_queue_add(dp_tun_queue *q, uint8_t *plain, size_t len) {
  if (q->gro != NULL) {
    if (!ovpn_gro_add(q->gro, plain, len)) return false;
  } else {
    if (q->count >= q->max) return false;
    q->out[q->count] = plain;
    q->out_len[q->count] = len;
  }
  q->count++;
  return true;
}

uint32_t dp_tun_queue_flush(dp_tun_queue *q, int tun_fd, uint32_t *writes) {
  uint32_t written = 0;
  if (q->count == 0) return 0;
  if (q->gro != NULL) {
    written = ovpn_gro_flush(q->gro, tun_fd, writes);
  } else {
    for (uint32_t i = 0; i < q->count; i++) {
      ssize_t w;
      do {
        w = write(tun_fd, q->out[i], q->out_len[i]);
      } while (w < 0 && errno == EINTR);
      if (w == (ssize_t)q->out_len[i]) written++;
    }
    *writes += q->count;
  }
  q->count = 0;
  return written;
}
