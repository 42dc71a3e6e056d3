/*
 * Opening a TUN device for the native data plane: like tunOpen (tun.c), and optionally with
 * IFF_VNET_HDR and the TCP offloads turned on, so that the kernel hands the data plane TCP
 * super-packets (TSO) and takes coalesced ones (see ovpn_offload.h).
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
#include "ovpn_dp.h"
#include "ovpn_offload.h"

static const char TUN_CLONE_DEVICE[] = "/dev/net/tun";

/* ovpnTunOpen(name: string, offload: boolean): { fd, name, offload }
 * With offload: IFF_VNET_HDR (10-byte header on every read and write) and TUN_F_CSUM |
 * TUN_F_TSO4 | TUN_F_TSO6. If the kernel refuses the offloads the device is reopened without
 * them and `offload` is false in the result. */
static napi_value tun_open_offload(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  memset(name, 0, sizeof name);
  size_t length = 0;
  bool offload = false;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &length) != napi_ok ||
      napi_get_value_bool(env, argv[1], &offload) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (name: string, offload: boolean)");
    return NULL;
  }
  if (length >= IFNAMSIZ) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "interface name is longer than 15 bytes");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &length));

  int fd = -1;
  for (int attempt = 0; attempt < 2; attempt++) {
    fd = open(TUN_CLONE_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return pst_throw_errno(env, "open /dev/net/tun", errno);
    struct ifreq request;
    memset(&request, 0, sizeof request);
    request.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
    memcpy(request.ifr_name, name, sizeof name);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
      int err = errno;
      close(fd);
      return pst_throw_errno(env, "ioctl TUNSETIFF", err);
    }
    memcpy(name, request.ifr_name, sizeof name);
    name[IFNAMSIZ - 1] = '\0';
    if (!offload) break;
    int header = OVPN_VNET_HDR_SIZE;
    unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (ioctl(fd, TUNSETVNETHDRSZ, &header) == 0 && ioctl(fd, TUNSETOFFLOAD, offloads) == 0) {
      break;
    }
    close(fd); /* not a persistent device: it goes away; open it again, plain */
    fd = -1;
    offload = false;
  }

  napi_value result, fd_value, name_value, offload_value;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_int32(env, fd, &fd_value) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &name_value) != napi_ok ||
      napi_get_boolean(env, offload, &offload_value) != napi_ok ||
      napi_set_named_property(env, result, "fd", fd_value) != napi_ok ||
      napi_set_named_property(env, result, "name", name_value) != napi_ok ||
      napi_set_named_property(env, result, "offload", offload_value) != napi_ok) {
    close(fd);
    pst_throw_status(env, napi_generic_failure, "building the ovpnTunOpen result");
    return NULL;
  }
  return result;
}

napi_status ovpn_tun_register(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"ovpnTunOpen", NULL, tun_open_offload, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, 1, functions);
}
