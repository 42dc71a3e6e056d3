/*
 * The batched TUN reader. uv_poll watches the non-blocking fd on the JS thread's loop; when it
 * is readable we read() until EAGAIN or a full batch, packing the packets back to back into
 * one slab, then make ONE call into JS with a single Buffer copy of the used part of the slab
 * and the packet count. The packet lengths are written into a Uint32Array that JS received
 * once, at start, so a batch costs one allocation (the Buffer) however many packets it holds.
 *
 * Why one Buffer and not an array of Buffers: each napi_create_buffer_copy is a separate
 * backing-store allocation plus a call across Node-API; one copy of up to ~90 KB is a few
 * microseconds for the whole batch, and JS slices it with subarray (views, no copies).
 * Why copy at all: JS may keep a packet past the callback (queues, async crypto), so the bytes
 * it sees must not be overwritten by the next read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "napi_util.h"
#include "tun.h"

/* Most packets delivered to JS in one callback. */
#define READER_BATCH_MAX 64
/* The largest packet a TUN read can return: the device MTU is at most 65535. */
#define READER_PACKET_MAX 65535
/* Room for a full batch of ordinary (<= 2 KiB) packets, and always room for one maximal packet
 * at the next read position, so a read is never truncated. */
#define READER_TYPICAL_PACKET 2048
#define READER_SLAB_BYTES (READER_BATCH_MAX * READER_TYPICAL_PACKET + READER_PACKET_MAX)

/* Slots of the counters Float64Array shared with JS (names exported as TUN_READER_COUNTER). */
enum {
  COUNTER_PACKETS,    /* packets delivered to JS */
  COUNTER_BATCHES,    /* JS callbacks made */
  COUNTER_READ_ERRORS,/* read() failures other than EAGAIN/EINTR; the reader stops */
  COUNTER_TRUNCATED,  /* packets longer than the read buffer (dropped; should never happen) */
  COUNTER_LAST_ERRNO, /* errno of the last read or poll failure, 0 if none */
  COUNTER_SLOTS
};

typedef struct tun_reader {
  uv_poll_t poll;
  napi_env env;
  int fd;
  int stopped;
  napi_ref self;     /* the JS handle object; also the async resource */
  napi_ref callback; /* onBatch(slab: Buffer, count: number, errno: number) */
  napi_ref lengths_ref;
  napi_ref counters_ref;
  napi_async_context async_context;
  uint32_t *lengths; /* READER_BATCH_MAX slots, backing store of a JS Uint32Array */
  double *counters;  /* COUNTER_SLOTS slots, backing store of a JS Float64Array */
  uint8_t slab[READER_SLAB_BYTES];
} tun_reader;

static void reader_on_closed(uv_handle_t *handle) { free(handle->data); }

/* Stops polling and schedules the memory to be freed once libuv is done with the handle.
 * Safe to call from inside the JS callback (the struct lives until uv_close completes). */
static void reader_stop_polling(tun_reader *reader) {
  if (reader->stopped) return;
  reader->stopped = 1;
  uv_poll_stop(&reader->poll);
  uv_close((uv_handle_t *)&reader->poll, reader_on_closed);
}

static void reader_release_js(tun_reader *reader) {
  napi_env env = reader->env;
  napi_delete_reference(env, reader->callback);
  napi_delete_reference(env, reader->lengths_ref);
  napi_delete_reference(env, reader->counters_ref);
  napi_delete_reference(env, reader->self);
  napi_async_destroy(env, reader->async_context);
}

/* The environment is going away (process exit, worker termination) while still reading. No JS
 * may run here; just let libuv close the handle. */
static void reader_on_env_cleanup(void *arg) { reader_stop_polling(arg); }

static void reader_call_js(tun_reader *reader, size_t used, uint32_t count, int err) {
  napi_env env = reader->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  napi_value callback, recv, argv[3], result;
  int ok = napi_get_reference_value(env, reader->callback, &callback) == napi_ok &&
           napi_get_reference_value(env, reader->self, &recv) == napi_ok &&
           napi_create_uint32(env, count, &argv[1]) == napi_ok &&
           napi_create_int32(env, err, &argv[2]) == napi_ok;
  if (ok) {
    if (used > 0) {
      void *copy = NULL;
      ok = napi_create_buffer_copy(env, used, reader->slab, &copy, &argv[0]) == napi_ok;
    } else {
      ok = napi_get_null(env, &argv[0]) == napi_ok;
    }
  }
  if (ok) {
    /* make_callback (not call_function): runs process.nextTick and promise jobs afterwards and
     * keeps async_hooks context, as for any other I/O callback. */
    napi_status status =
        napi_make_callback(env, reader->async_context, recv, callback, 3, argv, &result);
    if (status == napi_pending_exception) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
        napi_fatal_exception(env, exception); /* -> process 'uncaughtException' */
      }
    }
  }
  napi_close_handle_scope(env, scope);
}

static void reader_on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  tun_reader *reader = handle->data;
  if (reader->stopped) return;
  if (status < 0) {
    /* libuv has already stopped this handle (POLLERR: the device went away). */
    reader->counters[COUNTER_READ_ERRORS] += 1;
    reader->counters[COUNTER_LAST_ERRNO] = -status;
    reader_call_js(reader, 0, 0, -status);
    return;
  }

  size_t used = 0;
  uint32_t count = 0;
  int failure = 0;
  while (count < READER_BATCH_MAX && READER_SLAB_BYTES - used >= READER_PACKET_MAX) {
    ssize_t n = read(reader->fd, reader->slab + used, READER_PACKET_MAX);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) failure = errno;
      break;
    }
    if (n == 0) break;
    if (n > READER_PACKET_MAX) {
      /* The kernel reports the full length of a packet it cut short. */
      reader->counters[COUNTER_TRUNCATED] += 1;
      continue;
    }
    reader->lengths[count++] = (uint32_t)n;
    used += (size_t)n;
  }

  if (failure != 0) {
    /* EBADFD/EIO: the device was deleted under us. Polling on would spin, so stop and say so. */
    reader->counters[COUNTER_READ_ERRORS] += 1;
    reader->counters[COUNTER_LAST_ERRNO] = failure;
    uv_poll_stop(&reader->poll);
  }
  if (count > 0) {
    reader->counters[COUNTER_PACKETS] += count;
    reader->counters[COUNTER_BATCHES] += 1;
  }
  if (count > 0 || failure != 0) reader_call_js(reader, used, count, failure);
  /* Level-triggered: if a full batch left packets queued, the poll fires again next loop turn,
   * so other I/O gets its share in between. */
}

static napi_status create_shared_array(napi_env env, napi_typedarray_type type, size_t length,
                                       size_t element_size, void **data, napi_value *array) {
  napi_value buffer;
  NAPI_CHECK(napi_create_arraybuffer(env, length * element_size, data, &buffer));
  memset(*data, 0, length * element_size);
  return napi_create_typedarray(env, type, length, buffer, 0, array);
}

/* tunReaderStart(fd: number, onBatch: (slab: Buffer | null, count: number, errno: number) =>
 * void): { lengths: Uint32Array, counters: Float64Array }
 * `lengths[i]` is valid only during the callback. `slab` is null and errno non-zero when the
 * reader stopped on an error. */
static napi_value tun_reader_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (argc < 2 || !pst_get_fd(env, argv[0], &fd)) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onBatch must be a function");
    return NULL;
  }

  uv_loop_t *loop = NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));

  tun_reader *reader = calloc(1, sizeof *reader);
  if (reader == NULL) return pst_throw_errno(env, "calloc", ENOMEM);
  reader->env = env;
  reader->fd = fd;
  reader->poll.data = reader;

  napi_value handle, lengths, counters, name;
  void *lengths_data = NULL, *counters_data = NULL;
  int uv_status = 0;
  if (napi_create_object(env, &handle) != napi_ok ||
      create_shared_array(env, napi_uint32_array, READER_BATCH_MAX, sizeof(uint32_t),
                          &lengths_data, &lengths) != napi_ok ||
      create_shared_array(env, napi_float64_array, COUNTER_SLOTS, sizeof(double), &counters_data,
                          &counters) != napi_ok ||
      napi_set_named_property(env, handle, "lengths", lengths) != napi_ok ||
      napi_set_named_property(env, handle, "counters", counters) != napi_ok ||
      napi_create_string_utf8(env, "PosternTunReader", NAPI_AUTO_LENGTH, &name) != napi_ok) {
    free(reader);
    pst_throw_status(env, napi_generic_failure, "creating the reader handle");
    return NULL;
  }
  reader->lengths = lengths_data;
  reader->counters = counters_data;

  uv_status = uv_poll_init(loop, &reader->poll, fd);
  if (uv_status != 0) {
    free(reader);
    return pst_throw_errno(env, "uv_poll_init", -uv_status);
  }
  /* From here on the handle is registered with the loop: release it with uv_close only. */
  if (napi_create_reference(env, handle, 1, &reader->self) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &reader->callback) != napi_ok ||
      napi_create_reference(env, lengths, 1, &reader->lengths_ref) != napi_ok ||
      napi_create_reference(env, counters, 1, &reader->counters_ref) != napi_ok ||
      napi_async_init(env, handle, name, &reader->async_context) != napi_ok ||
      napi_wrap(env, handle, reader, NULL, NULL, NULL) != napi_ok) {
    reader->stopped = 1;
    uv_close((uv_handle_t *)&reader->poll, reader_on_closed);
    pst_throw_status(env, napi_generic_failure, "registering the reader");
    return NULL;
  }
  uv_status = uv_poll_start(&reader->poll, UV_READABLE, reader_on_readable);
  if (uv_status != 0) {
    void *unwrapped;
    napi_remove_wrap(env, handle, &unwrapped);
    reader_release_js(reader);
    reader_stop_polling(reader);
    return pst_throw_errno(env, "uv_poll_start", -uv_status);
  }
  napi_add_env_cleanup_hook(env, reader_on_env_cleanup, reader);
  return handle;
}

/* tunReaderStop(handle): void. Idempotent; callable from inside onBatch. The fd stays open. */
static napi_value tun_reader_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a reader handle");
    return NULL;
  }
  void *data = NULL;
  if (napi_remove_wrap(env, argv[0], &data) != napi_ok || data == NULL) {
    /* Already stopped (or not a reader): nothing to do. */
    bool pending = false;
    napi_value ignored;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return NULL;
  }
  tun_reader *reader = data;
  napi_remove_env_cleanup_hook(env, reader_on_env_cleanup, reader);
  reader_release_js(reader);
  reader_stop_polling(reader);
  return NULL;
}

static napi_status define_counter_names(napi_env env, napi_value exports) {
  napi_value names;
  NAPI_CHECK(napi_create_object(env, &names));
  NAPI_CHECK(pst_set_named_uint32(env, names, "packets", COUNTER_PACKETS));
  NAPI_CHECK(pst_set_named_uint32(env, names, "batches", COUNTER_BATCHES));
  NAPI_CHECK(pst_set_named_uint32(env, names, "readErrors", COUNTER_READ_ERRORS));
  NAPI_CHECK(pst_set_named_uint32(env, names, "truncated", COUNTER_TRUNCATED));
  NAPI_CHECK(pst_set_named_uint32(env, names, "lastErrno", COUNTER_LAST_ERRNO));
  NAPI_CHECK(napi_object_freeze(env, names));
  return napi_set_named_property(env, exports, "TUN_READER_COUNTER", names);
}

napi_status tun_reader_register(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"tunReaderStart", NULL, tun_reader_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunReaderStop", NULL, tun_reader_stop, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  NAPI_CHECK(
      napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  NAPI_CHECK(pst_set_named_uint32(env, exports, "TUN_READ_BATCH_MAX", READER_BATCH_MAX));
  return define_counter_names(env, exports);
}
