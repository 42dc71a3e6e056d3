/*
 * Small helpers shared by the native modules: checked Node-API calls and errors that carry the
 * errno name as `code`, as Node's own errors do, so TypeScript can match on them.
 */
#ifndef POSTERN_NAPI_UTIL_H
#define POSTERN_NAPI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

/* Evaluate a Node-API call; on failure throw (unless an exception is already pending) and
 * return NULL from the calling function. */
#define NAPI_CALL(env, call)                                                                   \
  do {                                                                                         \
    napi_status status_ = (call);                                                              \
    if (status_ != napi_ok) {                                                                  \
      pst_throw_status((env), status_, #call);                                                 \
      return NULL;                                                                             \
    }                                                                                          \
  } while (0)

/* Same for functions that return napi_status. */
#define NAPI_CHECK(call)                                                                       \
  do {                                                                                         \
    napi_status status_ = (call);                                                              \
    if (status_ != napi_ok) return status_;                                                    \
  } while (0)

void pst_throw_status(napi_env env, napi_status status, const char *what);

/* Throws an Error whose message names the system call, with `code` (e.g. "EPERM"), `errno`
 * (the positive number) and `syscall` properties. Returns NULL for `return pst_throw_errno(..)`. */
napi_value pst_throw_errno(napi_env env, const char *syscall, int err);

/* Reads a non-negative int32 argument (a file descriptor); throws TypeError if it is not one. */
int pst_get_fd(napi_env env, napi_value value, int *fd);

/* Borrows the bytes of a Uint8Array or Buffer. Returns 0 for anything else. */
int pst_get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length);

napi_status pst_set_named_uint32(napi_env env, napi_value object, const char *name, uint32_t v);

/* A function a module exports by name. */
typedef struct {
  const char *name;
  napi_callback fn;
} pst_export;

/* Sets each function as a property of `exports`. */
napi_status pst_export_functions(napi_env env, napi_value exports, const pst_export *functions,
                                 size_t count);

#endif
