#include "napi_util.h"

#include <stdio.h>

#include <uv.h>

void pst_throw_status(napi_env env, napi_status status, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  const char *detail = NULL;
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL) {
    detail = info->error_message;
  }
  char message[256];
  snprintf(message, sizeof message, "postern_native: %s failed (status %d%s%s)", what,
           (int)status, detail ? ": " : "", detail ? detail : "");
  napi_throw_error(env, "ERR_POSTERN_NATIVE", message);
}

napi_value pst_throw_errno(napi_env env, const char *syscall, int err) {
  /* libuv's error names are the errno names, negated on Unix. */
  const char *name = uv_err_name(-err);
  const char *text = uv_strerror(-err);
  char message[256];
  snprintf(message, sizeof message, "%s: %s (%s)", syscall, text, name);

  napi_value code_value, message_value, error, errno_value, syscall_value;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok ||
      napi_create_error(env, code_value, message_value, &error) != napi_ok) {
    napi_throw_error(env, name, message);
    return NULL;
  }
  if (napi_create_int32(env, err, &errno_value) == napi_ok) {
    napi_set_named_property(env, error, "errno", errno_value);
  }
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_value) == napi_ok) {
    napi_set_named_property(env, error, "syscall", syscall_value);
  }
  napi_throw(env, error);
  return NULL;
}

int pst_get_fd(napi_env env, napi_value value, int *fd) {
  napi_valuetype type;
  int32_t n = -1;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number ||
      napi_get_value_int32(env, value, &n) != napi_ok || n < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a file descriptor");
    return 0;
  }
  *fd = n;
  return 1;
}

int pst_get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed) {
    napi_typedarray_type type;
    void *base = NULL;
    size_t count = 0;
    if (napi_get_typedarray_info(env, value, &type, &count, &base, NULL, NULL) != napi_ok) {
      return 0;
    }
    if (type != napi_uint8_array && type != napi_uint8_clamped_array) return 0;
    *data = base;
    *length = count;
    return 1;
  }
  return 0;
}

napi_status pst_set_named_uint32(napi_env env, napi_value object, const char *name, uint32_t v) {
  napi_value value;
  NAPI_CHECK(napi_create_uint32(env, v, &value));
  return napi_set_named_property(env, object, name, value);
}

napi_status pst_export_functions(napi_env env, napi_value exports, const pst_export *functions,
                                 size_t count) {
  for (size_t i = 0; i < count; i++) {
    napi_value fn;
    NAPI_CHECK(
        napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    NAPI_CHECK(napi_set_named_property(env, exports, functions[i].name, fn));
  }
  return napi_ok;
}
