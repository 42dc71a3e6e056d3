/*
 * Opening, writing and closing a Linux TUN device (layer 3, no packet-information prefix).
 * The fd is non-blocking: reads happen in tun_reader.c under uv_poll on the JS thread, never
 * in the libuv threadpool (which costs ~10 us a packet more).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "napi_util.h"
#include "tun.h"

static const char TUN_CLONE_DEVICE[] = "/dev/net/tun";

/* tunOpen(name: string): { fd: number, name: string }
 * An empty name lets the kernel choose (tun0, tun1, ...); a name with "%d" is a template. */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));

  char name[IFNAMSIZ];
  memset(name, 0, sizeof name);
  if (argc >= 1) {
    napi_valuetype type;
    NAPI_CALL(env, napi_typeof(env, argv[0], &type));
    if (type == napi_string) {
      size_t length = 0;
      NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &length));
      if (length >= IFNAMSIZ) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "interface name is longer than 15 bytes");
        return NULL;
      }
      NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &length));
    } else if (type != napi_undefined && type != napi_null) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "interface name must be a string");
      return NULL;
    }
  }

  int fd = open(TUN_CLONE_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return pst_throw_errno(env, "open /dev/net/tun", errno);

  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(request.ifr_name, name, sizeof name);
  if (ioctl(fd, TUNSETIFF, &request) < 0) {
    int err = errno;
    close(fd);
    return pst_throw_errno(env, "ioctl TUNSETIFF", err);
  }

  napi_value result, fd_value, name_value;
  request.ifr_name[IFNAMSIZ - 1] = '\0';
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_int32(env, fd, &fd_value) != napi_ok ||
      napi_create_string_utf8(env, request.ifr_name, NAPI_AUTO_LENGTH, &name_value) != napi_ok ||
      napi_set_named_property(env, result, "fd", fd_value) != napi_ok ||
      napi_set_named_property(env, result, "name", name_value) != napi_ok) {
    close(fd);
    pst_throw_status(env, napi_generic_failure, "building the tunOpen result");
    return NULL;
  }
  return result;
}

/* tunClose(fd: number): void. Stop any reader on the fd first. Closing a non-persistent TUN
 * fd makes the kernel delete the device, with its addresses and routes. */
static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (argc < 1 || !pst_get_fd(env, argv[0], &fd)) return NULL;
  /* Linux releases the fd even when close() reports EINTR: never retry. */
  if (close(fd) < 0 && errno != EINTR) return pst_throw_errno(env, "close", errno);
  return NULL;
}

/* tunWrite(fd: number, packets: Uint8Array[]): number
 * Writes each packet with its own write() (a TUN write is exactly one packet) and returns how
 * many the kernel accepted. Anything else is dropped, not thrown: an empty packet or a value
 * that is not a Uint8Array is skipped without a system call; a packet the kernel refuses
 * (EINVAL for a bad version nibble, EIO while the link is down, ...) is skipped. The caller
 * counts `packets.length - result` as dropped. */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (argc < 2 || !pst_get_fd(env, argv[0], &fd)) return NULL;
  bool is_array = false;
  NAPI_CALL(env, napi_is_array(env, argv[1], &is_array));
  if (!is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "packets must be an array");
    return NULL;
  }
  uint32_t count = 0;
  NAPI_CALL(env, napi_get_array_length(env, argv[1], &count));

  uint32_t written = 0;
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    NAPI_CALL(env, napi_get_element(env, argv[1], i, &element));
    uint8_t *data = NULL;
    size_t length = 0;
    if (!pst_get_bytes(env, element, &data, &length) || length == 0) continue;
    ssize_t n;
    do {
      n = write(fd, data, length);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)length) written++;
  }

  napi_value result;
  NAPI_CALL(env, napi_create_uint32(env, written, &result));
  return result;
}

napi_status tun_register(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunClose", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunWrite", NULL, tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
}
