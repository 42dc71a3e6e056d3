/*
 * A TLS engine for the OpenVPN control channel: one OpenSSL SSL per key state over two memory
 * BIOs, driven synchronously from JavaScript (src/io/tls/native-tls-engine.ts). OpenVPN carries
 * TLS records inside its own reliable packets, so TLS never sees a socket: ciphertext from the
 * peer is written into the read BIO, and whatever OpenSSL writes into the write BIO is taken
 * back out and handed to the session core.
 *
 * One SSL_CTX per factory holds the certificate, key, CA store and CRLs, parsed once; each
 * engine is only an SSL and its two BIOs. OpenVPN never resumes a TLS session, so there is no
 * session cache and there are no tickets, and idle record buffers are released.
 *
 * Every function clears OpenSSL's error queue on entry and on exit: the queue is per thread and
 * Node's own crypto reads it too.
 *
 * The symbols resolve against the node binary, which carries OpenSSL and exports libssl.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "napi_util.h"
#include "tls_crl.h"
#include "tls_engine.h"

/* The largest plaintext one TLS record carries (RFC 8446 5.1, RFC 5246 6.2.1). */
#define TLS_RECORD_PLAINTEXT_MAX 16384
/* Ciphertext queued in the read BIO and not yet consumed; OpenVPN's reliable window keeps it
 * far below this, so more means a misbehaving caller. */
#define TLS_PENDING_INPUT_MAX (1u << 20)
/* PEM inputs (a CRL can be large) and exporter arguments. */
#define TLS_PEM_MAX (16u << 20)
#define TLS_POLICY_STRING_MAX 4096
#define TLS_EXPORT_LABEL_MAX 256
#define TLS_EXPORT_LENGTH_MAX 4096
#define TLS_OID_TEXT_MAX 128
#define TLS_ERROR_TEXT_MAX 256

/* What drive/read report to JavaScript. */
enum tls_step {
  TLS_STEP_WANT_INPUT = 0,
  TLS_STEP_HANDSHAKE_DONE = 1,
  TLS_STEP_FAILED = -1,
  TLS_STEP_PEER_CLOSED = -2,
};

/* Tags that stop JavaScript from handing one kind of external where the other is expected. */
static const napi_type_tag TLS_CTX_TAG = {0x7f3c1a92d84e4b61ULL, 0x9a0e55c2b1d7f3a8ULL};
static const napi_type_tag TLS_SESSION_TAG = {0x2b8e6d4f10a97c35ULL, 0xc61f08e4a3d5b297ULL};

typedef struct {
  SSL_CTX *ctx;
  bool server;
} tls_ctx;

typedef struct {
  SSL *ssl; /* NULL once freed */
  BIO *rbio; /* both owned by ssl */
  BIO *wbio;
  bool established;
  bool failed;
  bool bios_renewed; /* the handshake-sized BIO buffers were given back */
  /* A handshake step runs on a worker thread (tlsDriveAsync): nothing else may touch the SSL
   * until it completes; a free asked meanwhile happens then. */
  bool busy;
  bool free_when_done;
  /* Its JS object was collected (or the environment torn down) during a step: the step's end
   * frees the rest. */
  bool orphaned;
  /* Why it failed: our own reason, else the first OpenSSL error, else SSL_get_error's. */
  const char *own_code;
  const char *own_message;
  unsigned long ssl_err;
  int ssl_error;
  long verify_result;
  /* What tlsDetach needs to hand the record layer over; NULL once freed. */
  struct tls13_capture *capture;
} tls_session;

/* ---------------------------------------------------------------- TLS 1.3 hand-over state
 *
 * An established OpenVPN control channel carries a few small application-data records more, and
 * never renegotiates inside TLS, never gets tickets (num_tickets 0), never sees a KeyUpdate. So
 * once the session is up, its record protection can continue outside OpenSSL (see
 * src/crypto/tls13-record.ts) and the SSL, ~25 KiB with its peer chain, can go.
 *
 * What that takes, for TLS 1.3 only: both application traffic secrets (from the keylog
 * callback, which OpenSSL calls as it derives them), and how many records each direction has
 * already protected with them (the next sequence numbers). The message callback sees every
 * protected record (SSL3_RT_INNER_CONTENT_TYPE, after its tag verified on the read side) and
 * every handshake message; the application keys take over in a direction right after the
 * Finished message of that direction, so every protected record after it is counted. Anything
 * else than application data under those keys (a KeyUpdate, a ticket, an alert) makes the
 * counts something this engine will not vouch for, and the session then stays on OpenSSL. */

#define TLS13_SECRET_MAX EVP_MAX_MD_SIZE
/* Keylog labels of the application traffic secrets (NSS key log format). */
static const char KEYLOG_CLIENT_TRAFFIC[] = "CLIENT_TRAFFIC_SECRET_0 ";
static const char KEYLOG_SERVER_TRAFFIC[] = "SERVER_TRAFFIC_SECRET_0 ";

struct tls13_capture {
  unsigned char client_secret[TLS13_SECRET_MAX];
  unsigned char server_secret[TLS13_SECRET_MAX];
  size_t client_secret_length;
  size_t server_secret_length;
  /* Records protected with the application keys, per direction. */
  uint64_t read_records;
  uint64_t write_records;
  /* The application keys are in use in that direction (its Finished went through). */
  bool read_app_keys;
  bool write_app_keys;
  /* Something other than application data went through the application keys. */
  bool unsure;
};

static void wipe_capture(tls_session *s) {
  if (s->capture != NULL) {
    OPENSSL_cleanse(s->capture, sizeof *s->capture);
    free(s->capture);
    s->capture = NULL;
  }
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "<label> <client_random hex> <secret hex>": decodes the secret into out; 0 if malformed. */
static size_t parse_keylog_secret(const char *rest, unsigned char *out) {
  const char *space = strchr(rest, ' ');
  if (space == NULL) return 0;
  const char *hex = space + 1;
  size_t digits = strlen(hex);
  if (digits == 0 || digits % 2 != 0 || digits / 2 > TLS13_SECRET_MAX) return 0;
  for (size_t i = 0; i < digits / 2; i++) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(out, TLS13_SECRET_MAX);
      return 0;
    }
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return digits / 2;
}

/* Keeps the two application traffic secrets of the session; every other line is ignored. */
static void on_keylog(const SSL *ssl, const char *line) {
  tls_session *s = SSL_get_app_data(ssl);
  if (s == NULL || s->capture == NULL || line == NULL) return;
  struct tls13_capture *c = s->capture;
  size_t client_label = sizeof KEYLOG_CLIENT_TRAFFIC - 1;
  size_t server_label = sizeof KEYLOG_SERVER_TRAFFIC - 1;
  if (strncmp(line, KEYLOG_CLIENT_TRAFFIC, client_label) == 0) {
    c->client_secret_length = parse_keylog_secret(line + client_label, c->client_secret);
  } else if (strncmp(line, KEYLOG_SERVER_TRAFFIC, server_label) == 0) {
    c->server_secret_length = parse_keylog_secret(line + server_label, c->server_secret);
  }
}

/* Counts the records protected with the application keys (see tls13_capture). */
static void on_tls_message(int write_p, int version, int content_type, const void *buf,
                           size_t len, SSL *ssl, void *arg) {
  (void)version;
  (void)ssl;
  tls_session *s = arg;
  if (s == NULL || s->capture == NULL) return;
  struct tls13_capture *c = s->capture;
  const unsigned char *bytes = buf;
  if (content_type == SSL3_RT_INNER_CONTENT_TYPE) {
    if (!(write_p ? c->write_app_keys : c->read_app_keys)) return;
    if (len != 1 || bytes[0] != SSL3_RT_APPLICATION_DATA) c->unsure = true;
    if (write_p) {
      c->write_records++;
    } else {
      c->read_records++;
    }
  } else if (content_type == SSL3_RT_HANDSHAKE && len >= 1) {
    bool *app_keys = write_p ? &c->write_app_keys : &c->read_app_keys;
    if (*app_keys) {
      c->unsure = true; /* a post-handshake message: KeyUpdate, ticket, ... */
    } else if (bytes[0] == SSL3_MT_FINISHED) {
      *app_keys = true;
    }
  }
}

/* ---------------------------------------------------------------- verify error names */

/* The names Node gives X509 verify errors (tls.TLSSocket#authorizationError, error.code), so
 * both engines report the same strings. */
static const char *verify_error_name(long code) {
  switch (code) {
#define NAME(x)                                                                                \
  case X509_V_ERR_##x:                                                                         \
    return #x;
    NAME(UNABLE_TO_GET_ISSUER_CERT)
    NAME(UNABLE_TO_GET_CRL)
    NAME(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    NAME(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    NAME(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    NAME(CERT_SIGNATURE_FAILURE)
    NAME(CRL_SIGNATURE_FAILURE)
    NAME(CERT_NOT_YET_VALID)
    NAME(CERT_HAS_EXPIRED)
    NAME(CRL_NOT_YET_VALID)
    NAME(CRL_HAS_EXPIRED)
    NAME(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    NAME(ERROR_IN_CERT_NOT_AFTER_FIELD)
    NAME(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    NAME(ERROR_IN_CRL_NEXT_UPDATE_FIELD)
    NAME(OUT_OF_MEM)
    NAME(DEPTH_ZERO_SELF_SIGNED_CERT)
    NAME(SELF_SIGNED_CERT_IN_CHAIN)
    NAME(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    NAME(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    NAME(CERT_CHAIN_TOO_LONG)
    NAME(CERT_REVOKED)
    NAME(INVALID_CA)
    NAME(PATH_LENGTH_EXCEEDED)
    NAME(INVALID_PURPOSE)
    NAME(CERT_UNTRUSTED)
    NAME(CERT_REJECTED)
    NAME(HOSTNAME_MISMATCH)
#undef NAME
    default:
      return NULL;
  }
}

/* ---------------------------------------------------------------- small helpers */

static void throw_config_error(napi_env env, const char *what) {
  char message[TLS_ERROR_TEXT_MAX * 2];
  unsigned long e = ERR_peek_last_error();
  if (e != 0) {
    char detail[TLS_ERROR_TEXT_MAX];
    ERR_error_string_n(e, detail, sizeof detail);
    snprintf(message, sizeof message, "%s (%s)", what, detail);
  } else {
    snprintf(message, sizeof message, "%s", what);
  }
  ERR_clear_error();
  napi_throw_error(env, "TLS_BAD_CONFIG", message);
}

/* Never prompt on a terminal for a passphrase: an encrypted key is a configuration error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}

/* Reads a string property into malloc'd memory; *out stays NULL when it is absent. Returns 0
 * with an exception pending on failure. */
static int get_string_property(napi_env env, napi_value object, const char *name, size_t max,
                               char **out) {
  *out = NULL;
  napi_value value;
  napi_valuetype type;
  if (napi_get_named_property(env, object, name, &value) != napi_ok ||
      napi_typeof(env, value, &type) != napi_ok) {
    pst_throw_status(env, napi_generic_failure, name);
    return 0;
  }
  if (type == napi_undefined || type == napi_null) return 1;
  size_t length = 0;
  if (type != napi_string ||
      napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", name);
    return 0;
  }
  if (length > max) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", name);
    return 0;
  }
  char *text = malloc(length + 1);
  if (text == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return 0;
  }
  if (napi_get_value_string_utf8(env, value, text, length + 1, &length) != napi_ok) {
    free(text);
    pst_throw_status(env, napi_generic_failure, name);
    return 0;
  }
  *out = text;
  return 1;
}

static int get_int_property(napi_env env, napi_value object, const char *name, int32_t *out) {
  napi_value value;
  if (napi_get_named_property(env, object, name, &value) != napi_ok ||
      napi_get_value_int32(env, value, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", name);
    return 0;
  }
  return 1;
}

static int get_bool_property(napi_env env, napi_value object, const char *name, bool *out) {
  napi_value value;
  if (napi_get_named_property(env, object, name, &value) != napi_ok ||
      napi_get_value_bool(env, value, out) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", name);
    return 0;
  }
  return 1;
}

/* A PEM loop ends with "no start line" when the input is used up; anything else is a
 * certificate or CRL that did not parse. */
static bool pem_ended_cleanly(void) {
  unsigned long e = ERR_peek_last_error();
  if (e == 0) return true;
  if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return true;
  }
  return false;
}

/* ---------------------------------------------------------------- context set-up */

static int load_certificate_chain(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (bio == NULL) return 0;
  int ok = 0;
  X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
  if (leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1) {
    ok = 1;
    X509 *extra;
    while (ok && (extra = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
      if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
        X509_free(extra);
        ok = 0;
      }
    }
    if (ok) ok = pem_ended_cleanly();
  }
  X509_free(leaf);
  BIO_free(bio);
  return ok;
}

static int load_private_key(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (bio == NULL) return 0;
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  int ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  BIO_free(bio);
  return ok;
}

/* Adds every CA certificate in `pem` to the store (and, on a server, to the CA names sent in
 * CertificateRequest, as Node does). Returns how many, or -1 on a parse error. */
static int load_ca_certificates(SSL_CTX *ctx, const char *pem, bool server) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (bio == NULL) return -1;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int count = 0;
  X509 *cert;
  while ((cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
    int ok = X509_STORE_add_cert(store, cert) == 1 &&
             (!server || SSL_CTX_add_client_CA(ctx, cert) == 1);
    X509_free(cert);
    if (!ok) {
      count = -1;
      break;
    }
    count++;
  }
  BIO_free(bio);
  if (count >= 0 && !pem_ended_cleanly()) count = -1;
  return count;
}

/* Adds the CRLs, each verified against its CA now (tls_crl.c): NULL, or why they are refused. */
static const char *load_crls(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (bio == NULL) return "out of memory";
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int count = 0;
  const char *why = NULL;
  X509_CRL *crl;
  while (why == NULL && (crl = PEM_read_bio_X509_CRL(bio, NULL, no_passphrase, NULL)) != NULL) {
    why = tls_crl_verify_once(store, crl);
    if (why == NULL && X509_STORE_add_crl(store, crl) != 1) why = "the CRL cannot be added";
    X509_CRL_free(crl);
    count++;
  }
  BIO_free(bio);
  if (why == NULL && (count == 0 || !pem_ended_cleanly())) why = "the CRL does not parse";
  ERR_clear_error();
  if (why == NULL) tls_crl_install(store);
  return why;
}

/* The server hears every chain out: the verdict (SSL_get_verify_result) goes to the session
 * in handshake-done, so a refused client still learns AUTH_FAILED over the finished channel. */
static int accept_any_chain(int preverify_ok, X509_STORE_CTX *store) {
  (void)preverify_ok;
  (void)store;
  return 1;
}

typedef struct {
  char *cert, *key, *ca, *crl, *cipher_list, *cipher_suites, *groups;
} ctx_strings;

static void free_ctx_strings(ctx_strings *s) {
  free(s->cert);
  free(s->key);
  free(s->ca);
  free(s->crl);
  free(s->cipher_list);
  free(s->cipher_suites);
  free(s->groups);
}

/* Builds the SSL_CTX; on failure throws TLS_BAD_CONFIG and returns NULL. */
static SSL_CTX *build_ctx(napi_env env, bool server, int32_t min_version, int32_t max_version,
                          const ctx_strings *s) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (ctx == NULL) {
    throw_config_error(env, "cannot create a TLS context");
    return NULL;
  }
  const char *why = NULL;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, max_version) != 1) {
    why = "unsupported TLS version";
  } else if (s->cipher_list[0] != '\0' && SSL_CTX_set_cipher_list(ctx, s->cipher_list) != 1) {
    why = "no usable TLS 1.2 cipher";
  } else if (SSL_CTX_set_ciphersuites(ctx, s->cipher_suites) != 1) {
    why = "no usable TLS 1.3 cipher suite";
  } else if (SSL_CTX_set1_groups_list(ctx, s->groups) != 1) {
    why = "no usable key exchange group";
  } else if (s->cert != NULL && !load_certificate_chain(ctx, s->cert)) {
    why = "the certificate does not parse";
  } else if (s->key != NULL && !load_private_key(ctx, s->key)) {
    why = "the private key does not parse (or is encrypted)";
  } else if (s->cert != NULL && s->key != NULL && SSL_CTX_check_private_key(ctx) != 1) {
    why = "the private key does not match the certificate";
  } else if (load_ca_certificates(ctx, s->ca, server) <= 0) {
    why = "the CA certificate does not parse";
  } else if (s->crl != NULL) {
    why = load_crls(ctx, s->crl);
  }
  if (why != NULL) {
    throw_config_error(env, why);
    SSL_CTX_free(ctx);
    return NULL;
  }
  /* No compression, no renegotiation inside TLS (OpenVPN renegotiates with a new session), no
   * resumption: no cache, no tickets. Record buffers are freed whenever they are empty. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, server ? accept_any_chain : NULL);
  /* The secrets go no further than the session's own memory (tls13_capture). */
  SSL_CTX_set_keylog_callback(ctx, on_keylog);
  return ctx;
}

static void finalize_ctx(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tls_ctx *c = data;
  SSL_CTX_free(c->ctx);
  free(c);
}

/* tlsContextNew({ server, cert?, key?, ca, crl?, minVersion, maxVersion, cipherList,
 *                 cipherSuites, groups }) -> external */
static napi_value tls_context_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected TLS context options");
    return NULL;
  }
  napi_value options = argv[0];
  bool server = false;
  int32_t min_version = 0, max_version = 0;
  ctx_strings s = {0};
  napi_value result = NULL;
  if (!get_bool_property(env, options, "server", &server) ||
      !get_int_property(env, options, "minVersion", &min_version) ||
      !get_int_property(env, options, "maxVersion", &max_version) ||
      !get_string_property(env, options, "cert", TLS_PEM_MAX, &s.cert) ||
      !get_string_property(env, options, "key", TLS_PEM_MAX, &s.key) ||
      !get_string_property(env, options, "ca", TLS_PEM_MAX, &s.ca) ||
      !get_string_property(env, options, "crl", TLS_PEM_MAX, &s.crl) ||
      !get_string_property(env, options, "cipherList", TLS_POLICY_STRING_MAX, &s.cipher_list) ||
      !get_string_property(env, options, "cipherSuites", TLS_POLICY_STRING_MAX,
                           &s.cipher_suites) ||
      !get_string_property(env, options, "groups", TLS_POLICY_STRING_MAX, &s.groups)) {
    goto out;
  }
  if (s.ca == NULL || s.cipher_list == NULL || s.cipher_suites == NULL || s.groups == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "ca, cipherList, cipherSuites and groups are required");
    goto out;
  }
  ERR_clear_error();
  SSL_CTX *ctx = build_ctx(env, server, min_version, max_version, &s);
  if (ctx == NULL) goto out;
  tls_ctx *c = malloc(sizeof *c);
  if (c == NULL) {
    SSL_CTX_free(ctx);
    napi_throw_error(env, "ENOMEM", "out of memory");
    goto out;
  }
  c->ctx = ctx;
  c->server = server;
  if (napi_create_external(env, c, finalize_ctx, NULL, &result) != napi_ok) {
    finalize_ctx(env, c, NULL);
    pst_throw_status(env, napi_generic_failure, "napi_create_external");
    result = NULL;
  } else if (napi_type_tag_object(env, result, &TLS_CTX_TAG) != napi_ok) {
    pst_throw_status(env, napi_generic_failure, "napi_type_tag_object");
    result = NULL;
  }
out:
  free_ctx_strings(&s);
  ERR_clear_error();
  return result;
}

/* ---------------------------------------------------------------- sessions */

static void free_ssl(tls_session *s) {
  wipe_capture(s);
  if (s->ssl != NULL) {
    SSL_free(s->ssl); /* frees both BIOs */
    s->ssl = NULL;
    s->rbio = s->wbio = NULL;
  }
}

static void finalize_session(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tls_session *s = data;
  if (s->busy) {
    /* A worker still holds the SSL (only at teardown: a step keeps its object alive). */
    s->orphaned = true;
    return;
  }
  free_ssl(s);
  free(s);
}

static void *unwrap_tagged(napi_env env, napi_value value, const napi_type_tag *tag,
                           const char *what) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, value, tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
    return NULL;
  }
  return data;
}

/* Unwraps argv[0] as a session; throws on anything else. */
static tls_session *any_session_arg(napi_env env, napi_callback_info info, size_t want,
                                    napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "missing arguments");
    return NULL;
  }
  return unwrap_tagged(env, argv[0], &TLS_SESSION_TAG, "expected a TLS session");
}

/* The session argument, refused while a worker thread drives it (the caller's bug). */
static tls_session *session_arg(napi_env env, napi_callback_info info, size_t want,
                                napi_value *argv) {
  tls_session *s = any_session_arg(env, info, want, argv);
  if (s != NULL && s->busy) {
    napi_throw_error(env, "TLS_BUSY", "the TLS session is being driven on another thread");
    return NULL;
  }
  return s;
}

static napi_value make_int(napi_env env, int32_t v) {
  napi_value out;
  NAPI_CALL(env, napi_create_int32(env, v, &out));
  return out;
}

static napi_value make_null(napi_env env) {
  napi_value out;
  NAPI_CALL(env, napi_get_null(env, &out));
  return out;
}

static napi_value make_bool(napi_env env, bool v) {
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, v, &out));
  return out;
}

/* Records why the session failed, from SSL_get_error and the error queue. */
static void fail_session(tls_session *s, int ssl_error) {
  s->failed = true;
  s->ssl_error = ssl_error;
  s->ssl_err = ERR_peek_error();
  s->verify_result = s->ssl != NULL ? SSL_get_verify_result(s->ssl) : X509_V_OK;
  ERR_clear_error();
}

static void fail_own(tls_session *s, const char *code, const char *message) {
  s->failed = true;
  s->own_code = code;
  s->own_message = message;
  ERR_clear_error();
}

static bool usable(const tls_session *s) { return s->ssl != NULL && !s->failed; }

/* tlsSessionNew(context) -> external */
static napi_value tls_session_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a TLS context");
    return NULL;
  }
  tls_ctx *c = unwrap_tagged(env, argv[0], &TLS_CTX_TAG, "expected a TLS context");
  if (c == NULL) return NULL;
  ERR_clear_error();
  tls_session *s = calloc(1, sizeof *s);
  struct tls13_capture *capture = s != NULL ? calloc(1, sizeof *capture) : NULL;
  SSL *ssl = capture != NULL ? SSL_new(c->ctx) : NULL;
  BIO *rbio = ssl != NULL ? BIO_new(BIO_s_mem()) : NULL;
  BIO *wbio = rbio != NULL ? BIO_new(BIO_s_mem()) : NULL;
  if (wbio == NULL) {
    BIO_free(rbio);
    SSL_free(ssl);
    free(capture);
    free(s);
    ERR_clear_error();
    napi_throw_error(env, "ENOMEM", "cannot create a TLS session");
    return NULL;
  }
  /* An empty BIO means "wait for more", never end of stream. */
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl, rbio, wbio);
  if (c->server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  s->ssl = ssl;
  s->rbio = rbio;
  s->wbio = wbio;
  s->verify_result = X509_V_OK;
  s->capture = capture;
  SSL_set_app_data(ssl, s);
  SSL_set_msg_callback(ssl, on_tls_message);
  SSL_set_msg_callback_arg(ssl, s);
  napi_value result;
  if (napi_create_external(env, s, finalize_session, NULL, &result) != napi_ok) {
    finalize_session(env, s, NULL);
    pst_throw_status(env, napi_generic_failure, "napi_create_external");
    return NULL;
  }
  NAPI_CALL(env, napi_type_tag_object(env, result, &TLS_SESSION_TAG));
  return result;
}

/* tlsPut(session, bytes) -> boolean: queues ciphertext from the peer (false once unusable). */
static napi_value tls_put(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tls_session *s = session_arg(env, info, 2, argv);
  if (s == NULL) return NULL;
  uint8_t *data = NULL;
  size_t length = 0;
  if (!pst_get_bytes(env, argv[1], &data, &length)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a Uint8Array");
    return NULL;
  }
  if (!usable(s)) return make_bool(env, false);
  if (length == 0) return make_bool(env, true);
  size_t pending = BIO_ctrl_pending(s->rbio);
  if (length > TLS_PENDING_INPUT_MAX || pending > TLS_PENDING_INPUT_MAX - length) {
    fail_own(s, "TLS_INPUT_OVERFLOW", "too much TLS input queued without progress");
    return make_bool(env, false);
  }
  ERR_clear_error();
  if (BIO_write(s->rbio, data, (int)length) != (int)length) {
    fail_own(s, "TLS_ERROR", "cannot queue TLS input");
    return make_bool(env, false);
  }
  return make_bool(env, true);
}

/* One handshake step with what was queued; safe on any thread that owns the session. */
static int handshake_step(tls_session *s) {
  if (!usable(s)) return TLS_STEP_FAILED;
  if (s->established) return TLS_STEP_WANT_INPUT;
  ERR_clear_error();
  int r = SSL_do_handshake(s->ssl);
  if (r == 1) {
    s->established = true;
    ERR_clear_error();
    return TLS_STEP_HANDSHAKE_DONE;
  }
  int e = SSL_get_error(s->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return TLS_STEP_WANT_INPUT;
  }
  fail_session(s, e);
  return TLS_STEP_FAILED;
}

/* tlsDrive(session) -> step: advances the handshake with what was queued. */
static napi_value tls_drive(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tls_session *s = session_arg(env, info, 1, argv);
  if (s == NULL) return NULL;
  return make_int(env, handshake_step(s));
}

/* The handshake's public-key work (~1 ms of a server's CPU per client) on libuv's thread pool,
 * so that the gateway's JavaScript thread goes on serving while OpenSSL computes. The session
 * is busy until the callback; the error queue used is the worker's own. */
typedef struct {
  napi_async_work work;
  napi_ref session;
  napi_ref callback;
  tls_session *s;
  int step;
} drive_job;

static void drive_execute(napi_env env, void *data) {
  (void)env;
  drive_job *job = data;
  job->step = handshake_step(job->s);
  ERR_clear_error();
}

static void free_job(napi_env env, drive_job *job) {
  napi_delete_reference(env, job->callback);
  napi_delete_reference(env, job->session);
  napi_delete_async_work(env, job->work);
  free(job);
}

static void drive_complete(napi_env env, napi_status status, void *data) {
  drive_job *job = data;
  tls_session *s = job->s;
  s->busy = false;
  if (s->orphaned) {
    free_ssl(s);
    free(s);
    free_job(env, job);
    return;
  }
  if (status != napi_ok && !s->failed) fail_own(s, "TLS_ERROR", "the TLS step did not run");
  if (s->free_when_done) free_ssl(s);
  napi_value callback, recv, step;
  if (napi_get_reference_value(env, job->callback, &callback) == napi_ok &&
      napi_get_undefined(env, &recv) == napi_ok &&
      napi_create_int32(env, status == napi_ok ? job->step : TLS_STEP_FAILED, &step) == napi_ok) {
    /* The callback never throws (native-tls-engine.ts catches); if it did, Node reports it. */
    napi_call_function(env, recv, callback, 1, &step, NULL);
  }
  free_job(env, job);
}

/* tlsDriveAsync(session, callback(step)) -> boolean: false (nothing queued) if not usable. */
static napi_value tls_drive_async(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tls_session *s = session_arg(env, info, 2, argv);
  if (s == NULL) return NULL;
  napi_valuetype type;
  NAPI_CALL(env, napi_typeof(env, argv[1], &type));
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a callback");
    return NULL;
  }
  if (!usable(s) || s->established) return make_bool(env, false);
  drive_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "cannot queue a TLS step");
    return NULL;
  }
  job->s = s;
  napi_value name;
  if (napi_create_reference(env, argv[0], 1, &job->session) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &job->callback) != napi_ok ||
      napi_create_string_utf8(env, "postern:tls-step", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, drive_execute, drive_complete, job, &job->work) !=
          napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->work != NULL) napi_delete_async_work(env, job->work);
    if (job->callback != NULL) napi_delete_reference(env, job->callback);
    if (job->session != NULL) napi_delete_reference(env, job->session);
    free(job);
    pst_throw_status(env, napi_generic_failure, "napi_queue_async_work");
    return NULL;
  }
  s->busy = true;
  return make_bool(env, true);
}

/* tlsRead(session) -> Buffer (one record's plaintext) | step (no more for now, or failure) */
static napi_value tls_read(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tls_session *s = session_arg(env, info, 1, argv);
  if (s == NULL) return NULL;
  if (!usable(s)) return make_int(env, TLS_STEP_FAILED);
  if (!s->established) return make_int(env, TLS_STEP_WANT_INPUT);
  uint8_t plaintext[TLS_RECORD_PLAINTEXT_MAX];
  ERR_clear_error();
  int r = SSL_read(s->ssl, plaintext, (int)sizeof plaintext);
  if (r > 0) {
    napi_value out;
    void *copy;
    NAPI_CALL(env, napi_create_buffer_copy(env, (size_t)r, plaintext, &copy, &out));
    return out;
  }
  int e = SSL_get_error(s->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ERR_clear_error();
    return make_int(env, TLS_STEP_WANT_INPUT);
  }
  if (e == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    return make_int(env, TLS_STEP_PEER_CLOSED);
  }
  fail_session(s, e);
  return make_int(env, TLS_STEP_FAILED);
}

/* tlsWrite(session, bytes) -> boolean: one TLS record (up to 16 KiB) into the write BIO. */
static napi_value tls_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tls_session *s = session_arg(env, info, 2, argv);
  if (s == NULL) return NULL;
  uint8_t *data = NULL;
  size_t length = 0;
  if (!pst_get_bytes(env, argv[1], &data, &length)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a Uint8Array");
    return NULL;
  }
  if (!usable(s) || !s->established) return make_bool(env, false);
  if (length == 0) return make_bool(env, true);
  if (length > INT_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "plaintext too long");
    return NULL;
  }
  ERR_clear_error();
  int r = SSL_write(s->ssl, data, (int)length);
  if (r != (int)length) {
    fail_session(s, SSL_get_error(s->ssl, r));
    return make_bool(env, false);
  }
  ERR_clear_error();
  return make_bool(env, true);
}

/* A memory BIO keeps the largest buffer it ever held: a handshake flight with certificates.
 * Once the handshake is over and both are empty, swap in fresh ones; established traffic
 * (small control messages) never grows them that far again. */
static void renew_bios(tls_session *s) {
  if (s->bios_renewed || !s->established || s->ssl == NULL ||
      BIO_ctrl_pending(s->rbio) != 0 || BIO_ctrl_pending(s->wbio) != 0) {
    return;
  }
  BIO *rbio = BIO_new(BIO_s_mem());
  BIO *wbio = rbio != NULL ? BIO_new(BIO_s_mem()) : NULL;
  if (wbio == NULL) {
    BIO_free(rbio);
    ERR_clear_error();
    return; /* keep the old ones; only memory is lost */
  }
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(s->ssl, rbio, wbio); /* frees the old pair */
  s->rbio = rbio;
  s->wbio = wbio;
  s->bios_renewed = true;
}

/* tlsTake(session) -> Buffer | null: everything OpenSSL wrote for the peer so far. */
static napi_value tls_take(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tls_session *s = session_arg(env, info, 1, argv);
  if (s == NULL) return NULL;
  if (s->ssl == NULL) return make_null(env);
  size_t pending = BIO_ctrl_pending(s->wbio);
  if (pending == 0) {
    renew_bios(s);
    return make_null(env);
  }
  if (pending > INT_MAX) pending = INT_MAX;
  napi_value out;
  void *data;
  NAPI_CALL(env, napi_create_buffer(env, pending, &data, &out));
  int got = BIO_read(s->wbio, data, (int)pending);
  ERR_clear_error();
  if (got != (int)pending) {
    napi_throw_error(env, "TLS_ERROR", "short read from the TLS write buffer");
    return NULL;
  }
  renew_bios(s);
  return out;
}

/* ---------------------------------------------------------------- handshake info */

static napi_status set_string(napi_env env, napi_value object, const char *name,
                              const char *text) {
  napi_value value;
  NAPI_CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value));
  return napi_set_named_property(env, object, name, value);
}

/* The subject's first commonName, as UTF-8; NULL when there is none. */
static char *common_name_of(X509 *cert) {
  X509_NAME *subject = X509_get_subject_name(cert);
  int index = subject != NULL ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (index < 0) return NULL;
  X509_NAME_ENTRY *entry = X509_NAME_get_entry(subject, index);
  ASN1_STRING *data = entry != NULL ? X509_NAME_ENTRY_get_data(entry) : NULL;
  unsigned char *utf8 = NULL;
  if (data == NULL || ASN1_STRING_to_UTF8(&utf8, data) < 0) return NULL;
  return (char *)utf8; /* OPENSSL_free */
}

static napi_status set_peer_certificate(napi_env env, napi_value object, X509 *cert) {
  char *cn = common_name_of(cert);
  if (cn != NULL) {
    napi_status st = set_string(env, object, "commonName", cn);
    OPENSSL_free(cn);
    NAPI_CHECK(st);
  }
  BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  char *serial_hex = serial != NULL ? BN_bn2hex(serial) : NULL;
  BN_free(serial);
  if (serial_hex != NULL) {
    napi_status st = set_string(env, object, "serialNumber", serial_hex);
    OPENSSL_free(serial_hex);
    NAPI_CHECK(st);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_length = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_length) == 1) {
    static const char digits[] = "0123456789abcdef";
    char hex[EVP_MAX_MD_SIZE * 2 + 1];
    for (unsigned int i = 0; i < md_length; i++) {
      hex[2 * i] = digits[md[i] >> 4];
      hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
    hex[2 * md_length] = '\0';
    NAPI_CHECK(set_string(env, object, "fingerprint256", hex));
  }
  /* Extended key usages as dotted OIDs, like Node's ext_key_usage; absent without the
   * extension. */
  EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
  if (eku != NULL) {
    napi_value list;
    napi_status st = napi_create_array(env, &list);
    int count = sk_ASN1_OBJECT_num(eku);
    for (int i = 0; st == napi_ok && i < count; i++) {
      char oid[TLS_OID_TEXT_MAX];
      int n = OBJ_obj2txt(oid, sizeof oid, sk_ASN1_OBJECT_value(eku, i), 1);
      if (n <= 0 || (size_t)n >= sizeof oid) continue;
      napi_value text;
      st = napi_create_string_utf8(env, oid, NAPI_AUTO_LENGTH, &text);
      if (st == napi_ok) st = napi_set_element(env, list, (uint32_t)i, text);
    }
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    NAPI_CHECK(st);
    NAPI_CHECK(napi_set_named_property(env, object, "extKeyUsage", list));
  }
  return napi_ok;
}

/* tlsInfo(session) -> { protocol, cipher, hasPeerCertificate, verifyError?, commonName?,
 *                       serialNumber?, fingerprint256?, extKeyUsage? } */
static napi_value tls_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tls_session *s = session_arg(env, info, 1, argv);
  if (s == NULL) return NULL;
  if (!usable(s) || !s->established) {
    napi_throw_error(env, "TLS_NOT_READY", "the TLS handshake has not finished");
    return NULL;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, set_string(env, out, "protocol", SSL_get_version(s->ssl)));
  const SSL_CIPHER *cipher = SSL_get_current_cipher(s->ssl);
  const char *cipher_name = cipher != NULL ? SSL_CIPHER_standard_name(cipher) : NULL;
  if (cipher_name == NULL && cipher != NULL) cipher_name = SSL_CIPHER_get_name(cipher);
  NAPI_CALL(env, set_string(env, out, "cipher", cipher_name != NULL ? cipher_name : "unknown"));
  X509 *peer = SSL_get0_peer_certificate(s->ssl);
  napi_value has_cert;
  NAPI_CALL(env, napi_get_boolean(env, peer != NULL, &has_cert));
  NAPI_CALL(env, napi_set_named_property(env, out, "hasPeerCertificate", has_cert));
  if (peer != NULL) {
    long result = SSL_get_verify_result(s->ssl);
    if (result != X509_V_OK) {
      const char *name = verify_error_name(result);
      NAPI_CALL(env, set_string(env, out, "verifyError",
                                name != NULL ? name : X509_verify_cert_error_string(result)));
    }
    napi_status st = set_peer_certificate(env, out, peer);
    ERR_clear_error();
    NAPI_CALL(env, st);
  }
  return out;
}

/* tlsError(session) -> { code, message } | null */
static napi_value tls_error(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tls_session *s = session_arg(env, info, 1, argv);
  if (s == NULL) return NULL;
  if (!s->failed) return make_null(env);
  char code[TLS_ERROR_TEXT_MAX];
  char message[TLS_ERROR_TEXT_MAX * 2];
  unsigned long e = s->ssl_err;
  if (s->own_code != NULL) {
    snprintf(code, sizeof code, "%s", s->own_code);
    snprintf(message, sizeof message, "%s", s->own_message);
  } else if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
             ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
             s->verify_result != X509_V_OK) {
    /* Our side refused the peer's chain: name the reason as Node does. */
    const char *name = verify_error_name(s->verify_result);
    snprintf(code, sizeof code, "%s", name != NULL ? name : "CERT_VERIFY_FAILED");
    snprintf(message, sizeof message, "certificate verify failed: %s",
             X509_verify_cert_error_string(s->verify_result));
  } else if (e != 0) {
    /* Node's convention: ERR_SSL_<REASON> for libssl, ERR_OSSL_<REASON> otherwise. */
    const char *reason = ERR_reason_error_string(e);
    snprintf(code, sizeof code, "%s", ERR_GET_LIB(e) == ERR_LIB_SSL ? "ERR_SSL_" : "ERR_OSSL_");
    if (reason == NULL) reason = "UNKNOWN";
    size_t n = strlen(code);
    for (const char *p = reason; *p != '\0' && n + 1 < sizeof code; p++) {
      char ch = *p;
      if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
      if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) ch = '_';
      code[n++] = ch;
    }
    code[n] = '\0';
    ERR_error_string_n(e, message, sizeof message);
  } else {
    snprintf(code, sizeof code, "TLS_ERROR");
    snprintf(message, sizeof message, "TLS failed (SSL_get_error %d)", s->ssl_error);
  }
  napi_value out;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, set_string(env, out, "code", code));
  NAPI_CALL(env, set_string(env, out, "message", message));
  return out;
}

/* tlsExport(session, length, label) -> Buffer: RFC 5705 without a context (use_context = 0),
 * as OpenVPN's key-derivation tls-ekm. */
static napi_value tls_export(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tls_session *s = session_arg(env, info, 3, argv);
  if (s == NULL) return NULL;
  uint32_t length = 0;
  if (napi_get_value_uint32(env, argv[1], &length) != napi_ok || length == 0 ||
      length > TLS_EXPORT_LENGTH_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "keying material length out of range");
    return NULL;
  }
  char label[TLS_EXPORT_LABEL_MAX + 1];
  size_t label_length = 0;
  napi_valuetype type;
  if (napi_typeof(env, argv[2], &type) != napi_ok || type != napi_string ||
      napi_get_value_string_utf8(env, argv[2], NULL, 0, &label_length) != napi_ok ||
      label_length > TLS_EXPORT_LABEL_MAX ||
      napi_get_value_string_utf8(env, argv[2], label, sizeof label, &label_length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an exporter label");
    return NULL;
  }
  if (!usable(s) || !s->established) {
    napi_throw_error(env, "TLS_NOT_READY", "keying material asked of an unfinished TLS session");
    return NULL;
  }
  napi_value out;
  void *data;
  NAPI_CALL(env, napi_create_buffer(env, length, &data, &out));
  ERR_clear_error();
  int ok = SSL_export_keying_material(s->ssl, data, length, label, label_length, NULL, 0, 0);
  ERR_clear_error();
  if (ok != 1) {
    napi_throw_error(env, "TLS_ERROR", "the TLS exporter failed");
    return NULL;
  }
  return out;
}

/* The TLS 1.3 suites the TypeScript record layer continues with (RFC 8446 B.4). */
static const char *tls13_suite_name(const SSL_CIPHER *cipher) {
  switch (cipher != NULL ? SSL_CIPHER_get_id(cipher) & 0xffff : 0) {
    case 0x1301:
      return "TLS_AES_128_GCM_SHA256";
    case 0x1302:
      return "TLS_AES_256_GCM_SHA384";
    case 0x1303:
      return "TLS_CHACHA20_POLY1305_SHA256";
    default:
      return NULL;
  }
}

/* Sequence numbers as JavaScript numbers: exact below 2^53, which a control channel never
 * reaches. */
#define TLS_SEQUENCE_EXACT_MAX ((uint64_t)1 << 53)

static napi_status set_bytes(napi_env env, napi_value object, const char *name,
                             const unsigned char *bytes, size_t length) {
  napi_value value;
  void *copy;
  NAPI_CHECK(napi_create_buffer_copy(env, length, bytes, &copy, &value));
  return napi_set_named_property(env, object, name, value);
}

static napi_status set_number(napi_env env, napi_value object, const char *name, uint64_t v) {
  napi_value value;
  NAPI_CHECK(napi_create_double(env, (double)v, &value));
  return napi_set_named_property(env, object, name, value);
}

/* tlsDetach(session) -> { suite, readSecret, writeSecret, readSeq, writeSeq } | null
 * Hands an established TLS 1.3 session's record protection over and frees the SSL; the
 * secrets are wiped from native memory. null, with the session untouched, when that cannot be
 * done exactly: not TLS 1.3, bytes still queued either way, a record half read, a shutdown
 * begun, or anything but application data under the application keys. */
static napi_value tls_detach(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tls_session *s = session_arg(env, info, 1, argv);
  if (s == NULL) return NULL;
  if (!usable(s) || !s->established || s->capture == NULL) return make_null(env);
  const struct tls13_capture *c = s->capture;
  SSL *ssl = s->ssl;
  const char *suite = tls13_suite_name(SSL_get_current_cipher(ssl));
  const EVP_MD *md = SSL_CIPHER_get_handshake_digest(SSL_get_current_cipher(ssl));
  size_t secret_length = md != NULL ? (size_t)EVP_MD_get_size(md) : 0;
  bool server = SSL_is_server(ssl) == 1;
  if (SSL_version(ssl) != TLS1_3_VERSION || suite == NULL || secret_length == 0 ||
      c->unsure || !c->read_app_keys || !c->write_app_keys ||
      c->client_secret_length != secret_length || c->server_secret_length != secret_length ||
      c->read_records >= TLS_SEQUENCE_EXACT_MAX || c->write_records >= TLS_SEQUENCE_EXACT_MAX ||
      SSL_get_shutdown(ssl) != 0 || SSL_has_pending(ssl) != 0 ||
      BIO_ctrl_pending(s->rbio) != 0 || BIO_ctrl_pending(s->wbio) != 0) {
    ERR_clear_error();
    return make_null(env);
  }
  napi_value out;
  NAPI_CALL(env, napi_create_object(env, &out));
  NAPI_CALL(env, set_string(env, out, "suite", suite));
  NAPI_CALL(env, set_bytes(env, out, "readSecret", server ? c->client_secret : c->server_secret,
                           secret_length));
  NAPI_CALL(env, set_bytes(env, out, "writeSecret", server ? c->server_secret : c->client_secret,
                           secret_length));
  NAPI_CALL(env, set_number(env, out, "readSeq", c->read_records));
  NAPI_CALL(env, set_number(env, out, "writeSeq", c->write_records));
  free_ssl(s); /* wipes the capture too */
  ERR_clear_error();
  return out;
}

/* tlsFree(session): frees the SSL now; the external itself goes with garbage collection. */
static napi_value tls_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tls_session *s = any_session_arg(env, info, 1, argv);
  if (s == NULL) return NULL;
  if (s->busy) {
    s->free_when_done = true;
    return NULL;
  }
  free_ssl(s);
  ERR_clear_error();
  return NULL;
}

napi_status tls_engine_register(napi_env env, napi_value exports) {
  static const pst_export functions[] = {
      {"tlsContextNew", tls_context_new}, {"tlsSessionNew", tls_session_new},
      {"tlsPut", tls_put},                {"tlsDrive", tls_drive},
      {"tlsDriveAsync", tls_drive_async},
      {"tlsRead", tls_read},              {"tlsWrite", tls_write},
      {"tlsTake", tls_take},              {"tlsInfo", tls_info},
      {"tlsError", tls_error},            {"tlsExport", tls_export},
      {"tlsFree", tls_free},              {"tlsDetach", tls_detach},
  };
  return pst_export_functions(env, exports, functions, sizeof functions / sizeof functions[0]);
}
