/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS to backends (BackendTLSPolicy): per worker, one SSL_CTX for each
 * distinct configuration (CA bundle or the system store, the Gateway's
 * client certificate, ALPN h2 or http/1.1), found by content so that a new
 * snapshot carrying the same policy keeps the context and the pooled
 * connections made with it. A small table remembers, per snapshot
 * generation, which configuration a policy pointer maps to, so the request
 * path hashes nothing in the common case.
 *
 * Verification: the chain against the policy's CA bundle (or the system
 * store), TLS 1.2 or later, SNI = validation.hostname, and the name: with no
 * subjectAltNames the certificate must match the hostname (OpenSSL's host
 * check during the handshake); with subjectAltNames it must carry one of
 * them (a DNS name, wildcards as RFC 6125 allows, or an exact URI), checked
 * once the handshake is done. Failures are logged (rate-limited) with the
 * backend and the reason, and fail the attempt (502).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "proxy/internal.h"

#include "base/banned.h"

#define RECENT      32 /* policy pointers remembered per worker */
#define KEEP_CFGS   16 /* unused configurations kept across snapshots */
#define LOG_PER_SEC 10

struct px_utls_cfg {
    struct px_utls_cfg *next;
    unsigned refs; /* the cache's own, plus one per connection */
    uint64_t fp;
    char *blob; /* the content it was built from */
    size_t bloblen;
    uint64_t last_gen;
    SSL_CTX *ctx;
    char *policy; /* ns/name, for log lines */
    char *sni;    /* NULL: none */
    char **sans;  /* "DNS:x" / "URI:y" */
    size_t nsans;
    char *error; /* why nothing can verify (no CA loaded); NULL if fine */
};

struct recent {
    const void *tls, *cert;
    bool h2;
    uint64_t gen;
    struct px_utls_cfg *cfg;
};

struct px_utls_cache {
    struct px_utls_cfg *cfgs;
    size_t n;
    struct recent recent[RECENT];
};

/* ------------------------------------------------------------------------ */
/* Log lines: a backend failing every handshake must not flood the log.     */

static _Thread_local uint64_t log_second;
static _Thread_local unsigned log_count;

static bool
log_allowed(struct px_worker *w)
{
    uint64_t s = gw_loop_now(w->loop) / 1000;
    if (s != log_second) {
        log_second = s;
        log_count = 0;
    }
    return log_count++ < LOG_PER_SEC;
}

/* ------------------------------------------------------------------------ */
/* Configurations                                                            */

static void
blob_field(struct gw_buf *b, const void *p, size_t n)
{
    uint64_t len = p ? n : UINT64_MAX;
    gw_buf_append(b, &len, sizeof(len));
    if (p && n)
        gw_buf_append(b, p, n);
}

static void
blob_str(struct gw_buf *b, const char *s)
{
    blob_field(b, s, s ? strlen(s) : 0);
}

static uint64_t
fnv1a(const char *p, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

static char *
ssl_reason(void)
{
    char buf[256];
    unsigned long e = ERR_peek_last_error();
    if (!e)
        return gw_xstrdup("unknown error");
    ERR_error_string_n(e, buf, sizeof(buf));
    return gw_xstrdup(buf);
}

static size_t
load_ca(SSL_CTX *ctx, const unsigned char *pem, size_t len)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    BIO *bio = BIO_new_mem_buf(pem, (int)GW_MIN(len, (size_t)INT_MAX));
    size_t n = 0;
    if (!bio)
        return 0;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    return n;
}

/* 0, or GW_ETLS with *why set (heap). */
static int
load_client_cert(SSL_CTX *ctx, const struct gw_ir_cert *c, char **why)
{
    int rc = GW_ETLS;
    BIO *cb = BIO_new_mem_buf(c->cert_pem, (int)GW_MIN(c->cert_len, (size_t)INT_MAX));
    BIO *kb = BIO_new_mem_buf(c->key_pem, (int)GW_MIN(c->key_len, (size_t)INT_MAX));
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL;
    if (!cb || !kb)
        goto out;
    leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1)
        goto out;
    for (;;) {
        X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
        if (!x)
            break;
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
            X509_free(x);
            goto out;
        }
    }
    ERR_clear_error();
    key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        *why = ssl_reason();
    ERR_clear_error();
    X509_free(leaf);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

static struct px_utls_cfg *
cfg_build(struct px_worker *w, const struct gw_ir_backend_tls *t, const struct gw_ir_cert *client,
          bool h2, struct gw_buf *blob, uint64_t fp)
{
    static const unsigned char alpn_h1[] = "\x08http/1.1";
    static const unsigned char alpn_h2[] = "\x02h2";
    struct px_utls_cfg *c = gw_xcalloc(1, sizeof(*c));
    c->refs = 1;
    c->fp = fp;
    c->bloblen = blob->len;
    c->blob = gw_buf_steal(blob);
    c->policy = gw_xstrdup(t->policy ? t->policy : "-");
    c->sni = t->sni && *t->sni ? gw_xstrdup(t->sni) : NULL;
    c->sans = gw_xcalloc(t->nsans ? t->nsans : 1, sizeof(*c->sans));
    for (size_t i = 0; i < t->nsans; i++)
        if (t->sans[i])
            c->sans[c->nsans++] = gw_xstrdup(t->sans[i]);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        c->error = gw_xstrdup("SSL_CTX_new failed");
        return c;
    }
    c->ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    size_t ncas = 0;
    if (t->ca_pem && t->ca_len)
        ncas = load_ca(ctx, t->ca_pem, t->ca_len);
    if (t->system_ca && SSL_CTX_set_default_verify_paths(ctx) == 1)
        ncas++;
    ERR_clear_error();
    if (ncas == 0)
        c->error = gw_xstrdup("no CA certificate could be loaded");
    const unsigned char *alpn = h2 ? alpn_h2 : alpn_h1;
    SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)strlen((const char *)alpn));
    if (client) {
        char *why = NULL;
        if (load_client_cert(ctx, client, &why) < 0) {
            /* Carry on without one: the backend decides whether it needs it. */
            if (log_allowed(w))
                gw_log_warn("proxy: client certificate %s for backend TLS not usable: %s",
                            client->secret ? client->secret : "-", why);
            free(why);
        }
    }
    (void)w;
    return c;
}

static void
cfg_free(struct px_utls_cfg *c)
{
    SSL_CTX_free(c->ctx);
    for (size_t i = 0; i < c->nsans; i++)
        free(c->sans[i]);
    free(c->sans);
    free(c->sni);
    free(c->policy);
    free(c->error);
    free(c->blob);
    free(c);
}

void
px_utls_cfg_ref(struct px_utls_cfg *c)
{
    if (c)
        c->refs++;
}

void
px_utls_cfg_unref(struct px_utls_cfg *c)
{
    if (c && --c->refs == 0)
        cfg_free(c);
}

/* Drops configurations nobody uses that older snapshots left behind. */
static void
cache_trim(struct px_utls_cache *k, uint64_t gen)
{
    if (k->n <= KEEP_CFGS)
        return;
    struct px_utls_cfg **pp = &k->cfgs;
    while (*pp) {
        struct px_utls_cfg *c = *pp;
        if (c->refs == 1 && c->last_gen < gen) {
            *pp = c->next;
            k->n--;
            cfg_free(c);
        } else {
            pp = &c->next;
        }
    }
    memset(k->recent, 0, sizeof(k->recent));
}

struct px_utls_cfg *
px_utls_cfg_get(struct px_worker *w, uint64_t gen, const struct gw_ir_backend_tls *t,
                const struct gw_ir_cert *client, bool h2)
{
    if (!w->utls)
        w->utls = gw_xcalloc(1, sizeof(*w->utls));
    struct px_utls_cache *k = w->utls;
    uintptr_t hk = ((uintptr_t)t >> 4) ^ ((uintptr_t)client >> 3) ^ (uintptr_t)h2;
    struct recent *r = &k->recent[hk % RECENT];
    if (r->cfg && r->tls == t && r->cert == client && r->h2 == h2 && r->gen == gen) {
        r->cfg->refs++;
        return r->cfg;
    }
    struct gw_buf blob;
    gw_buf_init(&blob, SIZE_MAX / 2);
    blob_str(&blob, h2 ? "h2" : "http/1.1");
    blob_field(&blob, &t->system_ca, sizeof(t->system_ca));
    blob_field(&blob, t->ca_pem, t->ca_len);
    blob_str(&blob, t->sni);
    blob_str(&blob, t->policy);
    for (size_t i = 0; i < t->nsans; i++)
        blob_str(&blob, t->sans[i]);
    blob_field(&blob, client ? client->cert_pem : NULL, client ? client->cert_len : 0);
    blob_field(&blob, client ? client->key_pem : NULL, client ? client->key_len : 0);
    uint64_t fp = fnv1a(blob.p, blob.len);
    struct px_utls_cfg *c = k->cfgs;
    while (c && !(c->fp == fp && c->bloblen == blob.len && !memcmp(c->blob, blob.p, blob.len)))
        c = c->next;
    if (c) {
        gw_buf_release(&blob);
    } else {
        cache_trim(k, gen);
        c = cfg_build(w, t, client, h2, &blob, fp);
        c->next = k->cfgs;
        k->cfgs = c;
        k->n++;
    }
    c->last_gen = gen;
    *r = (struct recent){.tls = t, .cert = client, .h2 = h2, .gen = gen, .cfg = c};
    c->refs++;
    return c;
}

void
px_utls_worker_release(struct px_worker *w)
{
    struct px_utls_cache *k = w->utls;
    if (!k)
        return;
    while (k->cfgs) {
        struct px_utls_cfg *c = k->cfgs;
        k->cfgs = c->next;
        px_utls_cfg_unref(c); /* connections still holding it free it last */
    }
    free(k);
    w->utls = NULL;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

int
px_utls_start(struct px_uconn *u, struct px_utls_cfg *cfg)
{
    u->tcfg = cfg;
    if (!cfg->ctx)
        return GW_ETLS;
    SSL *ssl = SSL_new(cfg->ctx);
    if (!ssl)
        return GW_ETLS;
    u->ssl = ssl;
    if (SSL_set_fd(ssl, u->io.fd) != 1)
        return GW_ETLS;
    SSL_set_connect_state(ssl);
    if (cfg->sni) {
        SSL_set_tlsext_host_name(ssl, cfg->sni);
        if (cfg->nsans == 0) {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(ssl, cfg->sni) != 1)
                return GW_ETLS;
        }
    }
    u->tls_want = GW_LOOP_WRITE;
    return 0;
}

static bool
uri_san_match(X509 *x, const char *want)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    bool ok = false;
    size_t wl = strlen(want);
    for (int i = 0; names && !ok && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        ok = n >= 0 && (size_t)n == wl && memcmp(p, want, wl) == 0;
    }
    GENERAL_NAMES_free(names);
    return ok;
}

/* The policy's subjectAltNames: the certificate must carry one of them. */
static bool
sans_match(const struct px_utls_cfg *c, X509 *x)
{
    for (size_t i = 0; i < c->nsans; i++) {
        const char *s = c->sans[i];
        if (!strncmp(s, "DNS:", 4)) {
            unsigned flags =
                X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
            if (X509_check_host(x, s + 4, strlen(s + 4), flags, NULL) == 1)
                return true;
        } else if (!strncmp(s, "URI:", 4)) {
            if (uri_san_match(x, s + 4))
                return true;
        }
    }
    return false;
}

static void
log_failure(struct px_uconn *u, const char *backend, const char *reason)
{
    if (!log_allowed(u->w))
        return;
    gw_log_warn("proxy: backend %s: TLS to %s:%u (policy %s, hostname %s) failed: %s",
                backend && *backend ? backend : "-", u->ep->base.ip, (unsigned)u->ep->base.port,
                u->tcfg ? u->tcfg->policy : "-", u->tcfg && u->tcfg->sni ? u->tcfg->sni : "-",
                reason);
}

int
px_utls_handshake(struct px_uconn *u, const char *backend)
{
    if (!u->ssl) {
        log_failure(u, backend,
                    u->tcfg && u->tcfg->error ? u->tcfg->error : "no TLS context available");
        return GW_ETLS;
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(u->ssl);
    if (r == 1) {
        u->tls_want = 0;
        X509 *peer = SSL_get0_peer_certificate(u->ssl);
        if (u->tcfg->nsans && (!peer || !sans_match(u->tcfg, peer))) {
            log_failure(u, backend, "certificate matches none of the policy's subjectAltNames");
            return GW_ETLS;
        }
        return 1;
    }
    int e = SSL_get_error(u->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        u->tls_want = GW_LOOP_READ;
        return 0;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        u->tls_want = GW_LOOP_WRITE;
        return 0;
    }
    long vr = SSL_get_verify_result(u->ssl);
    char *why = NULL;
    if (vr != X509_V_OK) {
        const char *s = X509_verify_cert_error_string(vr);
        if (u->tcfg->error && vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
            why = gw_xasprintf("%s (%s)", s, u->tcfg->error);
        else
            why = gw_xstrdup(s);
    } else if (e == SSL_ERROR_SYSCALL && !ERR_peek_error()) {
        why = errno ? gw_xasprintf("%s during the handshake", strerror(errno))
                    : gw_xstrdup("connection closed during the handshake");
    } else {
        why = ssl_reason();
    }
    log_failure(u, backend, why);
    free(why);
    ERR_clear_error();
    return GW_ETLS;
}

ssize_t
px_utls_recv(struct px_uconn *u, void *buf, size_t n)
{
    ERR_clear_error();
    int r = SSL_read(u->ssl, buf, (int)GW_MIN(n, (size_t)INT_MAX));
    if (r > 0) {
        u->tls_want = 0;
        return r;
    }
    int e = SSL_get_error(u->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        u->tls_want = GW_LOOP_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        u->tls_want = GW_LOOP_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (!ERR_peek_error() && (errno == 0 || r == 0)) {
            ERR_clear_error();
            return 0; /* EOF without close_notify */
        }
        break;
    default:
        break;
    }
    ERR_clear_error();
    if (e != SSL_ERROR_SYSCALL || errno == 0)
        errno = EPROTO;
    return -1;
}

ssize_t
px_utls_send(struct px_uconn *u, const void *buf, size_t n)
{
    ERR_clear_error();
    int r = SSL_write(u->ssl, buf, (int)GW_MIN(n, (size_t)INT_MAX));
    if (r > 0) {
        u->tls_want = 0;
        return r;
    }
    int e = SSL_get_error(u->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        u->tls_want = e == SSL_ERROR_WANT_READ ? GW_LOOP_READ : GW_LOOP_WRITE;
        errno = EAGAIN;
        return -1;
    }
    ERR_clear_error();
    if (e != SSL_ERROR_SYSCALL || errno == 0)
        errno = EPIPE;
    return -1;
}

bool
px_utls_has_pending(const struct px_uconn *u)
{
    return u->ssl && SSL_pending(u->ssl) > 0;
}

void
px_utls_release(struct px_uconn *u)
{
    if (u->ssl) {
        if (!u->handshaking && SSL_is_init_finished(u->ssl) && !u->failed) {
            SSL_set_quiet_shutdown(u->ssl, 0);
            ERR_clear_error();
            SSL_shutdown(u->ssl); /* best effort: the socket may be gone */
        }
        ERR_clear_error();
        SSL_free(u->ssl);
        u->ssl = NULL;
    }
    px_utls_cfg_unref(u->tcfg);
    u->tcfg = NULL;
}
