/*
 * postern_native: the native side of Postern's data plane. Each module registers its functions
 * here; today the TUN device, later the per-packet fast path (AEAD with Node's own OpenSSL,
 * recvmmsg/sendmmsg). Node-API only, so one build works across Node versions.
 */
#include <node_api.h>

#include "tun.h"

NAPI_MODULE_INIT() {
  if (tun_register(env, exports) != napi_ok) return NULL;
  if (tun_reader_register(env, exports) != napi_ok) return NULL;
  return exports;
}
