/*
 * Handing work from the worker threads to JS: records appended to a batch, batches queued
 * under a mutex, one uv_async_send; on the JS thread each batch becomes one external Buffer and
 * one call (record layout in ovpn_dp.c). Control and unrouted batches are bounded: past
 * DP_JS_QUEUE_MAX_BYTES pending they are dropped and counted.
 */
#define _GNU_SOURCE
#include "ovpn_dp_internal.h"

void dp_free_batches(dp_batch *b) {
  while (b != NULL) {
    dp_batch *next = b->next;
    free(b);
    b = next;
  }
}

void dp_push_batch(dp *d, dp_batch *b) {
  bool bounded = b->kind == EVENT_CONTROL || b->kind == EVENT_UNROUTED;
  pthread_mutex_lock(&d->queue_lock);
  if (bounded && d->queue_bytes + b->used > DP_JS_QUEUE_MAX_BYTES) {
    pthread_mutex_unlock(&d->queue_lock);
    counter_add(&d->drops[OVPN_DROP_JS_QUEUE_FULL], b->count);
    free(b);
    return;
  }
  b->next = NULL;
  if (d->queue_tail != NULL) d->queue_tail->next = b;
  else d->queue_head = b;
  d->queue_tail = b;
  d->queue_bytes += b->used;
  pthread_mutex_unlock(&d->queue_lock);
  uv_async_send(&d->async);
}

void dp_flush_batch(dp *d, dp_batch **builder) {
  if (*builder == NULL) return;
  dp_push_batch(d, *builder);
  *builder = NULL;
}

/* Appends one record to a worker's batch under construction, starting a new batch when full.
 * Returns false (and counts a drop) only when memory runs out. */
bool dp_append_record(dp *d, dp_batch **builder, uint32_t kind, uint32_t value,
                      const dp_sockaddr *from, const dp_sockaddr *local, const uint8_t *bytes,
                      size_t length) {
  size_t need = DP_RECORD_HEADER + length;
  if (*builder != NULL && (*builder)->capacity - (*builder)->used < need) {
    dp_flush_batch(d, builder);
  }
  if (*builder == NULL) {
    size_t capacity = need > DP_BATCH_TYPICAL_BYTES ? need : DP_BATCH_TYPICAL_BYTES;
    dp_batch *b = malloc(sizeof *b + capacity);
    if (b == NULL) {
      counter_add(&d->drops[OVPN_DROP_JS_QUEUE_FULL], 1);
      return false;
    }
    b->next = NULL;
    b->kind = kind;
    b->count = 0;
    b->used = 0;
    b->capacity = capacity;
    *builder = b;
  }
  dp_batch *b = *builder;
  uint8_t *r = b->data + b->used;
  uint32_t len32 = (uint32_t)length;
  uint16_t port = 0, family = 0;
  uint8_t address[16] = {0};
  if (from != NULL) dp_sockaddr_fields(from, &port, &family, address);
  uint16_t local_port = 0, local_family = 0, pad = 0;
  uint8_t local_address[16] = {0};
  if (local != NULL) dp_sockaddr_fields(local, &local_port, &local_family, local_address);
  memcpy(r, &len32, 4);
  memcpy(r + 4, &value, 4);
  memcpy(r + 8, &port, 2);
  memcpy(r + 10, &family, 2);
  memcpy(r + 12, address, 16);
  memcpy(r + 28, &local_family, 2);
  memcpy(r + 30, &pad, 2);
  memcpy(r + 32, local_address, 16);
  if (length > 0) memcpy(r + DP_RECORD_HEADER, bytes, length);
  b->used += need;
  b->count++;
  return true;
}

/* A worker stopped on an error: one record, value = errno, port = which thread. */
void dp_report_error(dp *d, int thread, int err) {
  dp_batch *b = NULL;
  if (dp_append_record(d, &b, EVENT_ERROR, (uint32_t)err, NULL, NULL, NULL, 0)) {
    uint16_t which = (uint16_t)thread;
    memcpy(b->data + 8, &which, 2);
    dp_push_batch(d, b);
  }
}

static void finalize_batch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  free(hint);
}

static void call_js(dp *d, dp_batch *b) {
  napi_env env = d->env;
  napi_value callback, recv, argv[3], result;
  if (napi_get_reference_value(env, d->callback, &callback) != napi_ok ||
      napi_get_reference_value(env, d->self, &recv) != napi_ok ||
      napi_create_uint32(env, b->kind, &argv[0]) != napi_ok ||
      napi_create_uint32(env, b->count, &argv[1]) != napi_ok) {
    free(b);
    return;
  }
  if (b->used == 0) {
    napi_get_null(env, &argv[2]);
    free(b);
  } else if (napi_create_external_buffer(env, b->used, b->data, finalize_batch, b, &argv[2]) !=
             napi_ok) {
    free(b);
    return;
  }
  napi_status status =
      napi_make_callback(env, d->async_context, recv, callback, 3, argv, &result);
  if (status == napi_pending_exception) {
    napi_value exception;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
      napi_fatal_exception(env, exception);
    }
  }
}

void dp_on_async(uv_async_t *handle) {
  dp *d = handle->data;
  pthread_mutex_lock(&d->queue_lock);
  dp_batch *list = d->queue_head;
  d->queue_head = d->queue_tail = NULL;
  d->queue_bytes = 0;
  pthread_mutex_unlock(&d->queue_lock);
  if (d->closed) {
    dp_free_batches(list);
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(d->env, &scope) != napi_ok) {
    dp_free_batches(list);
    return;
  }
  while (list != NULL) {
    dp_batch *b = list;
    list = b->next;
    if (d->closed) {
      free(b);
      continue;
    }
    call_js(d, b);
  }
  napi_close_handle_scope(d->env, scope);
}
