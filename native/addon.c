/*
 * postern_native: the native side of Postern's data plane. Each module registers its functions
 * here: the TUN device (tun.c, tun_reader.c) and the OpenVPN data channel fast path (ovpn_*.c:
 * AEAD with Node's own OpenSSL, recvmmsg/sendmmsg, TUN and UDP offloads). Node-API only, so one
 * build works across Node versions.
 */
#include <node_api.h>

#include "ovpn_dp.h"
#include "tls_engine.h"
#include "tun.h"

NAPI_MODULE_INIT() {
  if (tun_register(env, exports) != napi_ok) return NULL;
  if (tun_reader_register(env, exports) != napi_ok) return NULL;
  if (ovpn_dp_register(env, exports) != napi_ok) return NULL;
  if (ovpn_hooks_register(env, exports) != napi_ok) return NULL;
  if (tls_engine_register(env, exports) != napi_ok) return NULL;
  if (tls_crypt_register(env, exports) != napi_ok) return NULL;
  return exports;
}
