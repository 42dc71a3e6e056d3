/*
 * LD_PRELOAD shim used by capture.sh, never by Postern itself.
 *
 * OpenVPN 2.6 derives its data-channel keys (and the dynamic tls-crypt key) with the RFC 5705
 * exporter and never logs the whole 256-byte block. This shim sits in front of OpenSSL's
 * SSL_export_keying_material, calls the real one, and prints label and output to stderr, so the
 * captured packets can be checked against the exact key material that protected them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

typedef struct ssl_st SSL;
typedef int (*export_fn)(SSL *, unsigned char *, size_t, const char *, size_t,
                         const unsigned char *, size_t, int);

int SSL_export_keying_material(SSL *s, unsigned char *out, size_t olen, const char *label,
                               size_t llen, const unsigned char *context, size_t contextlen,
                               int use_context)
{
    export_fn real = (export_fn)dlsym(RTLD_NEXT, "SSL_export_keying_material");
    if (real == NULL)
    {
        return 0;
    }
    int ret = real(s, out, olen, label, llen, context, contextlen, use_context);
    fprintf(stderr, "POSTERN-EKM label=%.*s ret=%d out=", (int)llen, label, ret);
    for (size_t i = 0; i < olen; i++)
    {
        fprintf(stderr, "%02x", out[i]);
    }
    fprintf(stderr, "\n");
    fflush(stderr);
    return ret;
}
