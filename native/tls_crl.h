/*
 * CRLs verified once when the TLS context is built, and the revocation check that uses them
 * (see tls_crl.c).
 */
#ifndef POSTERN_TLS_CRL_H
#define POSTERN_TLS_CRL_H

#include <openssl/x509.h>

/* NULL when `crl` is signed by a CA certificate already in `store`; else why not. */
const char *tls_crl_verify_once(X509_STORE *store, X509_CRL *crl);

/* Every chain verified against `store` from now on is checked against its verified CRLs. */
void tls_crl_install(X509_STORE *store);

#endif
