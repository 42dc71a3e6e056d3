/*
 * The Linux TUN device: open/close/write (tun.c) and the batched reader (tun_reader.c).
 * Each registers its functions on the addon's exports.
 */
#ifndef POSTERN_TUN_H
#define POSTERN_TUN_H

#include <node_api.h>

napi_status tun_register(napi_env env, napi_value exports);
napi_status tun_reader_register(napi_env env, napi_value exports);

#endif
