/*
 * Revocation checking against CRLs whose signatures were verified once, when the TLS context was
 * built. OpenSSL's own CRL check verifies the CRL's signature again on every handshake: with an
 * ECDSA CA that is a signature verification per client (~0.15 ms of a ~1.5 ms handshake), for a
 * CRL that only changes when the gateway reloads it.
 *
 * The check keeps OpenSSL's semantics for X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL:
 * every certificate of the chain needs a CRL from its issuer that is in force (not before its
 * lastUpdate, not after its nextUpdate), and a certificate listed in it is revoked. Errors go
 * through the context's verify callback with the depth and certificate set, as OpenSSL's do.
 */
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls_crl.h"

/* The CA certificate in the store whose subject is `name`, or NULL. */
static X509 *store_ca_named(X509_STORE *store, const X509_NAME *name) {
  STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
    X509_OBJECT *o = sk_X509_OBJECT_value(objects, i);
    if (X509_OBJECT_get_type(o) != X509_LU_X509) continue;
    X509 *ca = X509_OBJECT_get0_X509(o);
    if (X509_NAME_cmp(X509_get_subject_name(ca), name) == 0) return ca;
  }
  return NULL;
}

/* The store's newest CRL issued by `issuer`, or NULL. The store's objects do not change after
 * the context is built, but OpenSSL sorts their stack the first time a lookup needs it (under
 * the store's lock), possibly on another worker thread: the walk holds the lock too. */
static X509_CRL *store_crl_of(X509_STORE *store, const X509_NAME *issuer) {
  if (!X509_STORE_lock(store)) return NULL;
  STACK_OF(X509_OBJECT) *objects = X509_STORE_get0_objects(store);
  X509_CRL *newest = NULL;
  for (int i = 0; i < sk_X509_OBJECT_num(objects); i++) {
    X509_OBJECT *o = sk_X509_OBJECT_value(objects, i);
    if (X509_OBJECT_get_type(o) != X509_LU_CRL) continue;
    X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), issuer) != 0) continue;
    if (newest == NULL || ASN1_TIME_compare(X509_CRL_get0_lastUpdate(crl),
                                            X509_CRL_get0_lastUpdate(newest)) > 0) {
      newest = crl;
    }
  }
  X509_STORE_unlock(store);
  return newest;
}

const char *tls_crl_verify_once(X509_STORE *store, X509_CRL *crl) {
  X509 *ca = store_ca_named(store, X509_CRL_get_issuer(crl));
  if (ca == NULL) return "the CRL's issuer is not one of the CA certificates";
  EVP_PKEY *key = X509_get0_pubkey(ca);
  if (key == NULL || X509_CRL_verify(crl, key) != 1) {
    return "the CRL's signature does not verify against its CA certificate";
  }
  return NULL;
}

/* Reports `error` for the chain's certificate at `depth`; returns the verify callback's say. */
static int report(X509_STORE_CTX *ctx, int depth, X509 *cert, int error) {
  X509_STORE_CTX_set_error_depth(ctx, depth);
  X509_STORE_CTX_set_current_cert(ctx, cert);
  X509_STORE_CTX_set_error(ctx, error);
  X509_STORE_CTX_verify_cb cb = X509_STORE_CTX_get_verify_cb(ctx);
  return cb != NULL ? cb(0, ctx) : 0;
}

/* The CRL's error for now, or X509_V_OK. */
static int crl_time_error(const X509_CRL *crl) {
  const ASN1_TIME *last = X509_CRL_get0_lastUpdate(crl);
  const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
  if (last == NULL) return X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD;
  int c = X509_cmp_current_time(last);
  if (c == 0) return X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD;
  if (c > 0) return X509_V_ERR_CRL_NOT_YET_VALID;
  if (next != NULL) {
    c = X509_cmp_current_time(next);
    if (c == 0) return X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD;
    if (c < 0) return X509_V_ERR_CRL_HAS_EXPIRED;
  }
  return X509_V_OK;
}

static int check_revocation_with_verified_crls(X509_STORE_CTX *ctx) {
  X509_STORE *store = X509_STORE_CTX_get0_store(ctx);
  STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
  int n = sk_X509_num(chain);
  for (int depth = 0; depth < n; depth++) {
    X509 *cert = sk_X509_value(chain, depth);
    X509_CRL *crl = store_crl_of(store, X509_get_issuer_name(cert));
    int error = X509_V_OK;
    X509_REVOKED *entry = NULL;
    if (crl == NULL) {
      error = X509_V_ERR_UNABLE_TO_GET_CRL;
    } else if ((error = crl_time_error(crl)) == X509_V_OK &&
               X509_CRL_get0_by_cert(crl, &entry, cert) == 1) {
      /* 2 would be an entry with reason removeFromCRL: not revoked. */
      error = X509_V_ERR_CERT_REVOKED;
    }
    if (error != X509_V_OK && !report(ctx, depth, cert, error)) return 0;
  }
  return 1;
}

void tls_crl_install(X509_STORE *store) {
  X509_STORE_set_check_revocation(store, check_revocation_with_verified_crls);
}
