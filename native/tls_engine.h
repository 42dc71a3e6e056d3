/*
 * A TLS engine over memory BIOs for the OpenVPN control channel (see tls_engine.c).
 */
#ifndef POSTERN_TLS_ENGINE_H
#define POSTERN_TLS_ENGINE_H

#include <node_api.h>

napi_status tls_engine_register(napi_env env, napi_value exports);

#endif
