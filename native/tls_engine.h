/*
 * A TLS engine over memory BIOs for the OpenVPN control channel (see tls_engine.c).
 */
#ifndef POSTERN_TLS_ENGINE_H
#define POSTERN_TLS_ENGINE_H

#include <node_api.h>

napi_status tls_engine_register(napi_env env, napi_value exports);

/* tls_crypt.c: tls-crypt's seal and open for the control channel. */
napi_status tls_crypt_register(napi_env env, napi_value exports);

#endif
