/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS termination for client connections on HTTPS ports, and the contexts
 * l4 terminates TLSRoute connections with (TLS listeners in Terminate mode).
 *
 * Per published snapshot (px_tls_build, on the publishing thread): one
 * SSL_CTX per distinct (certificate, key, client CA, fallback) bundle,
 * shared read-only by the workers and freed with the snapshot (each SSL
 * also holds its own reference on its SSL_CTX, so a handshake outliving
 * the snapshot stays safe). A listener whose PEM does not load is left
 * out and reported; the connection that selects it fails its handshake.
 *
 * Per connection: OpenSSL moves its records through the loop's owned I/O
 * (a BIO over gw_io_recv / gw_io_send: batched on io_uring). The
 * server name callback picks the listener the way the router does (most
 * specific hostname; no SNI or an unknown one: the listener without
 * hostname, else a handshake failure) and switches the connection to that
 * listener's SSL_CTX and client-certificate policy. ALPN offers h2 and
 * http/1.1; TLS 1.2 is the minimum; resumption through stateless tickets
 * (keys per snapshot, so a reload forgets them).
 *
 * Terminate TLS listeners get contexts of their own, without the server
 * name callback and without ALPN (l4 picks the listener from the peeked
 * SNI before the handshake starts, and the stream is opaque bytes); l4
 * finds them by listener through px_l4_tls_ctx.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "proxy/internal.h"

#include "base/banned.h"

struct tls_ctx {
    const struct gw_ir_cert *cert;
    const struct gw_ir_listener_tls *lt; /* client CA policy */
    bool http;                           /* HTTPS: ALPN and the SNI callback */
    SSL_CTX *ctx;
};

/* A Terminate TLS listener on an l4 port and its context. */
struct tls_l4 {
    const struct gw_ir_listener *l;
    SSL_CTX *ctx; /* borrowed from tls->ctxs; NULL: its PEM did not load */
};

struct tls_listener {
    const struct gw_ir_listener *l;
    SSL_CTX *ctx; /* borrowed from tls->ctxs; NULL: its PEM did not load */
};

struct px_tls_port {
    const struct gw_ir_port *port;
    struct tls_listener *ls;
    size_t nls;
    SSL_CTX *initial; /* what SSL_new starts with; NULL: no usable listener */
};

struct px_tls {
    const struct gw_router *router;
    struct tls_ctx *ctxs;
    size_t nctxs;
    struct px_tls_port *ports;
    size_t nports;
    struct tls_l4 *l4;
    size_t nl4;
};

/* ------------------------------------------------------------------------ */
/* Building                                                                 */

static bool
same_bytes(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    return an == bn && (an == 0 || a == b || memcmp(a, b, an) == 0);
}

static const unsigned char alpn_protos[] = "\x02h2\x08http/1.1";

static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
/* "DEFAULT" with the two AES-128-GCM suites moved to the front. */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ALL:!COMPLEMENTOFDEFAULT:!eNULL";

static int
select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    /* Our preference first: h2, then http/1.1. */
    for (const unsigned char *p = alpn_protos; *p; p += 1 + *p) {
        for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
            if (in[i] == *p && i + 1u + in[i] <= inlen && !memcmp(in + i + 1, p + 1, *p)) {
                *out = in + i + 1;
                *outlen = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK; /* no overlap: HTTP/1.1 without ALPN */
}

static int
verify_fallback(int preverify, X509_STORE_CTX *x)
{
    /* AllowInsecureFallback: ask for a certificate, accept any answer. */
    (void)preverify;
    (void)x;
    return 1;
}

static int servername_cb(SSL *ssl, int *alert, void *arg);

static void
ssl_error(struct gw_buf *errs, const struct gw_ir_port *pt, const struct gw_ir_listener *l,
          const char *what, const char *secret)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    gw_buf_appendf(errs, "%s:%u: listener %s: %s %s: %s\n", pt->address ? pt->address : "",
                   pt->port, l->name ? l->name : "", what, secret ? secret : "",
                   e ? buf : "invalid");
}

static X509 *
next_x509(BIO *bio)
{
    return PEM_read_bio_X509(bio, NULL, NULL, NULL);
}

/* The certificate chain from PEM: the first is the leaf. 0 or GW_ETLS. */
static int
use_chain(SSL_CTX *ctx, const struct gw_ir_cert *c)
{
    BIO *bio = BIO_new_mem_buf(c->cert_pem, (int)c->cert_len);
    if (!bio)
        return GW_ETLS;
    int rc = GW_ETLS;
    X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1)
        goto out;
    SSL_CTX_clear_chain_certs(ctx);
    X509 *x;
    while ((x = next_x509(bio)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
            X509_free(x);
            goto out;
        }
    }
    ERR_clear_error(); /* the end of the PEM stream */
    rc = 0;
out:
    X509_free(leaf);
    BIO_free(bio);
    return rc;
}

static int
use_key(SSL_CTX *ctx, const struct gw_ir_cert *c)
{
    BIO *bio = BIO_new_mem_buf(c->key_pem, (int)c->key_len);
    if (!bio)
        return GW_ETLS;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    int rc = k && SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1
                 ? 0
                 : GW_ETLS;
    EVP_PKEY_free(k);
    return rc;
}

/* Client CA bundle into the verify store and the CertificateRequest list. */
static int
use_client_ca(SSL_CTX *ctx, const struct gw_ir_listener_tls *lt)
{
    BIO *bio = BIO_new_mem_buf(lt->client_ca_pem, (int)lt->client_ca_len);
    if (!bio)
        return GW_ETLS;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    int n = 0;
    X509 *x;
    while ((x = next_x509(bio)) != NULL) {
        X509_STORE_add_cert(store, x);
        X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
        if (nm && names)
            sk_X509_NAME_push(names, nm);
        else
            X509_NAME_free(nm);
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return GW_ETLS;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    if (lt->client_insecure_fallback)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_fallback);
    else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

static SSL_CTX *
ctx_new(const struct gw_ir_port *pt, const struct gw_ir_listener *l, const struct gw_ir_cert *c,
        bool http, struct gw_buf *errs)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error(errs, pt, l, "SSL_CTX_new", "");
        return NULL;
    }
    /* bench/loadgen/tlsfloor.c (scenario 12's libssl floor) repeats the
     * settings below: a change here belongs there too. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* HTTPS: one recv takes whatever the socket holds (several records),
     * not a record header and then its body; px_tls_recv drains them. l4
     * reads with SSL_pending, which does not see read-ahead bytes. */
    if (http)
        SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* OpenSSL's default suites, AES-128-GCM first (as Mozilla's
     * intermediate profile orders them): SHA-256 for the transcript and
     * the key schedule, and 10 AES rounds instead of 14 per block, for
     * the same security level. */
    SSL_CTX_set_ciphersuites(ctx, tls13_suites);
    SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
    /* Tickets only: nothing kept per session on the server. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    static const unsigned char sid[] = "gatehouse";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    if (http) {
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
        SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    }
    if (use_chain(ctx, c) < 0) {
        ssl_error(errs, pt, l, "certificate", c->secret);
        goto fail;
    }
    if (use_key(ctx, c) < 0) {
        ssl_error(errs, pt, l, "private key", c->secret);
        goto fail;
    }
    const struct gw_ir_listener_tls *lt = l->tls;
    if (lt->client_ca_pem && lt->client_ca_len && use_client_ca(ctx, lt) < 0) {
        ssl_error(errs, pt, l, "client CA bundle", "");
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static SSL_CTX *
ctx_for(struct px_tls *t, const struct gw_ir_port *pt, const struct gw_ir_listener *l, bool http,
        struct gw_buf *errs)
{
    const struct gw_ir_listener_tls *lt = l->tls;
    if (!lt || lt->passthrough || lt->ncerts == 0)
        return NULL;
    const struct gw_ir_cert *c = &lt->certs[0];
    for (size_t i = 0; i < t->nctxs; i++) {
        const struct tls_ctx *x = &t->ctxs[i];
        if (same_bytes(x->cert->cert_pem, x->cert->cert_len, c->cert_pem, c->cert_len) &&
            same_bytes(x->cert->key_pem, x->cert->key_len, c->key_pem, c->key_len) &&
            same_bytes(x->lt->client_ca_pem, x->lt->client_ca_len, lt->client_ca_pem,
                       lt->client_ca_len) &&
            x->lt->client_insecure_fallback == lt->client_insecure_fallback && x->http == http)
            return x->ctx;
    }
    SSL_CTX *ctx = ctx_new(pt, l, c, http, errs);
    if (!ctx)
        return NULL;
    t->ctxs = gw_xrealloc(t->ctxs, (t->nctxs + 1) * sizeof(*t->ctxs));
    t->ctxs[t->nctxs++] = (struct tls_ctx){.cert = c, .lt = lt, .http = http, .ctx = ctx};
    return ctx;
}

static void
l4_port_build(struct px_tls *t, const struct gw_ir_port *pt, struct gw_buf *errs)
{
    for (size_t j = 0; j < pt->nlisteners; j++) {
        const struct gw_ir_listener *l = &pt->listeners[j];
        if (l->proto != GW_IR_TLS || !l->tls || l->tls->passthrough)
            continue;
        SSL_CTX *ctx = ctx_for(t, pt, l, false, errs);
        t->l4 = gw_xrealloc(t->l4, (t->nl4 + 1) * sizeof(*t->l4));
        t->l4[t->nl4++] = (struct tls_l4){.l = l, .ctx = ctx};
    }
}

int
px_tls_build(const struct gw_ir *ir, const struct gw_router *router, struct px_tls **out,
             struct gw_buf *errs)
{
    *out = NULL;
    struct px_tls *t = gw_xcalloc(1, sizeof(*t));
    t->router = router;
    for (size_t i = 0; ir && i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (!pt->udp && gw_l4_port_is_served(pt)) {
            l4_port_build(t, pt, errs);
            continue;
        }
        if (!px_port_is_https(pt))
            continue;
        t->ports = gw_xrealloc(t->ports, (t->nports + 1) * sizeof(*t->ports));
        struct px_tls_port *tp = &t->ports[t->nports++];
        *tp = (struct px_tls_port){.port = pt};
        tp->ls = gw_xcalloc(pt->nlisteners ? pt->nlisteners : 1, sizeof(*tp->ls));
        for (size_t j = 0; j < pt->nlisteners; j++) {
            const struct gw_ir_listener *l = &pt->listeners[j];
            if (l->proto != GW_IR_HTTPS)
                continue;
            SSL_CTX *ctx = ctx_for(t, pt, l, true, errs);
            tp->ls[tp->nls++] = (struct tls_listener){.l = l, .ctx = ctx};
            /* Without SNI the catch-all listener answers; any usable
             * context starts the handshake (the callback switches). */
            if (ctx && (!tp->initial || !l->hostname))
                tp->initial = ctx;
        }
    }
    *out = t;
    return 0;
}

void
px_tls_free(struct px_tls *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nctxs; i++)
        SSL_CTX_free(t->ctxs[i].ctx);
    for (size_t i = 0; i < t->nports; i++)
        free(t->ports[i].ls);
    free(t->ctxs);
    free(t->ports);
    free(t->l4);
    free(t);
}

struct ssl_ctx_st *
px_l4_tls_ctx(void *pin, const struct gw_ir_listener *l)
{
    const struct px_wsnap *ws = pin;
    const struct px_tls *t = ws ? ws->s->tls : NULL;
    for (size_t i = 0; t && i < t->nl4; i++)
        if (t->l4[i].l == l)
            return t->l4[i].ctx;
    return NULL;
}

bool
px_port_is_https(const struct gw_ir_port *pt)
{
    if (pt->udp)
        return false;
    for (size_t i = 0; i < pt->nlisteners; i++)
        if (pt->listeners[i].proto == GW_IR_HTTPS)
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */

static const struct tls_listener *
listener_for(const struct px_tls *t, const struct px_tls_port *tp, const char *name)
{
    const struct gw_ir_listener *l = NULL;
    if (name && *name)
        l = gw_router_listener_select(t->router, tp->port, gw_str_from(name));
    if (!l) {
        for (size_t i = 0; i < tp->nls; i++)
            if (!tp->ls[i].l->hostname)
                return &tp->ls[i];
        return NULL;
    }
    for (size_t i = 0; i < tp->nls; i++)
        if (tp->ls[i].l == l)
            return &tp->ls[i];
    return NULL;
}

static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    struct px_dconn *d = SSL_get_app_data(ssl);
    if (!d || !d->tls_port || !d->hs_snap)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    const struct px_tls *t = d->hs_snap->s->tls;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const struct tls_listener *tl = listener_for(t, d->tls_port, name);
    if (!tl || !tl->ctx) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (name)
        snprintf(d->sni, sizeof(d->sni), "%s", name);
    if (SSL_get_SSL_CTX(ssl) != tl->ctx)
        SSL_set_SSL_CTX(ssl, tl->ctx);
    /* SSL_set_SSL_CTX keeps the old verify mode: take the listener's. */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(tl->ctx), SSL_CTX_get_verify_callback(tl->ctx));
    return SSL_TLSEXT_ERR_OK;
}

/* ------------------------------------------------------------------------ */
/* The connection's bytes                                                   */

/* OpenSSL reads and writes the connection through the loop's owned I/O
 * (gw_io_recv / gw_io_send on d->io), not the socket: on an io_uring loop
 * its records then go out with the turn's other sends in one
 * io_uring_enter and come from the receive the loop keeps armed, instead
 * of a read, a write and a poll of their own per record batch. On an epoll
 * loop these are the plain recv and send a socket BIO would make. */
static BIO_METHOD *io_method;
static pthread_once_t io_method_once = PTHREAD_ONCE_INIT;

/* gw_io_recv / gw_io_send's result as a BIO's: EAGAIN asks for a retry of
 * the read or write (flag). */
static int
bio_io_result(BIO *b, ssize_t r, int flag)
{
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            BIO_set_flags(b, BIO_FLAGS_SHOULD_RETRY | flag);
        return -1;
    }
    if (r == 0 && flag == BIO_FLAGS_READ)
        BIO_set_flags(b, BIO_FLAGS_IN_EOF); /* BIO_eof, as a socket BIO says */
    return (int)r;
}

static int
bio_io_write(BIO *b, const char *buf, int n)
{
    BIO_clear_retry_flags(b);
    return bio_io_result(b, gw_io_send(BIO_get_data(b), buf, (size_t)n), BIO_FLAGS_WRITE);
}

static int
bio_io_read(BIO *b, char *buf, int n)
{
    BIO_clear_retry_flags(b);
    return bio_io_result(b, gw_io_recv(BIO_get_data(b), buf, (size_t)n), BIO_FLAGS_READ);
}

static long
bio_io_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* gw_io_send took the bytes */
    case BIO_CTRL_EOF:
        return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    default:
        return 0;
    }
}

static int
bio_io_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void
io_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gatehouse io");
    if (m &&
        (BIO_meth_set_write(m, bio_io_write) != 1 || BIO_meth_set_read(m, bio_io_read) != 1 ||
         BIO_meth_set_ctrl(m, bio_io_ctrl) != 1 || BIO_meth_set_create(m, bio_io_create) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    io_method = m;
}

int
px_tls_accept(struct px_dconn *d)
{
    struct px_wsnap *ws = d->w->snap;
    const struct px_tls *t = ws ? ws->s->tls : NULL;
    const struct px_tls_port *tp = NULL;
    for (size_t i = 0; t && i < t->nports; i++) {
        const struct gw_ir_port *pt = t->ports[i].port;
        if (pt->port == d->port && strcmp(pt->address ? pt->address : "", d->address) == 0) {
            tp = &t->ports[i];
            break;
        }
    }
    if (!tp || !tp->initial)
        return GW_ETLS;
    pthread_once(&io_method_once, io_method_new);
    if (!io_method)
        return GW_ETLS;
    SSL *ssl = SSL_new(tp->initial);
    if (!ssl)
        return GW_ETLS;
    BIO *bio = BIO_new(io_method);
    if (!bio) {
        SSL_free(ssl);
        return GW_ETLS;
    }
    BIO_set_data(bio, &d->io);
    SSL_set_bio(ssl, bio, bio); /* ssl owns bio */
    SSL_set_accept_state(ssl);
    SSL_set_app_data(ssl, d);
    d->ssl = ssl;
    d->tls_port = tp;
    d->hs_snap = px_wsnap_ref(ws);
    d->hs = true;
    return 0;
}

/* Maps an OpenSSL result to a recv/send-like one. */
static ssize_t
io_result(struct px_dconn *d, int n)
{
    int e = SSL_get_error(d->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        d->tls_want = GW_LOOP_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        d->tls_want = GW_LOOP_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        errno = ECONNRESET;
        return -1;
    }
}

int
px_tls_handshake(struct px_dconn *d)
{
    ERR_clear_error();
    int r = SSL_do_handshake(d->ssl);
    if (r == 1) {
        d->hs = false;
        d->tls_want = 0;
        px_wsnap_unref(d->hs_snap);
        d->hs_snap = NULL;
        d->tls_port = NULL;
        const unsigned char *p = NULL;
        unsigned len = 0;
        SSL_get0_alpn_selected(d->ssl, &p, &len);
        d->alpn_h2 = len == 2 && memcmp(p, "h2", 2) == 0;
        return 1;
    }
    ssize_t x = io_result(d, r);
    if (x < 0 && errno == EAGAIN)
        return 0;
    return GW_ETLS;
}

ssize_t
px_tls_recv(struct px_dconn *d, void *buf, size_t n)
{
    d->tls_want = 0;
    ERR_clear_error();
    /* SSL_read gives one record at a time: take every record the last
     * recv (read-ahead) brought in, so that one socket read is one pass. */
    size_t got = 0;
    while (got < n) {
        int r = SSL_read(d->ssl, (char *)buf + got, (int)GW_MIN(n - got, (size_t)INT32_MAX));
        if (r <= 0) {
            if (got == 0)
                return io_result(d, r);
            /* Sets tls_want (a partial record waits for the socket); an
             * error shows again on the next call. */
            (void)io_result(d, r);
            break;
        }
        got += (size_t)r;
        if (!SSL_has_pending(d->ssl))
            break;
    }
    return (ssize_t)got;
}

ssize_t
px_tls_send(struct px_dconn *d, const void *buf, size_t n)
{
    ERR_clear_error();
    int r = SSL_write(d->ssl, buf, (int)GW_MIN(n, (size_t)INT32_MAX));
    if (r > 0)
        return r;
    ssize_t x = io_result(d, r);
    if (x == 0) {
        errno = EPIPE;
        return -1;
    }
    return x;
}

bool
px_tls_has_pending(const struct px_dconn *d)
{
    /* Read-ahead: buffered records not yet decrypted count too, unless
     * the last read found them incomplete (the socket says when more
     * comes; a timer would spin). */
    return d->ssl && !d->hs &&
           (SSL_pending(d->ssl) > 0 || (SSL_has_pending(d->ssl) && d->tls_want != GW_LOOP_READ));
}

void
px_tls_keep_buffers(struct px_dconn *d, bool keep)
{
    /* SSL_MODE_RELEASE_BUFFERS frees and allocates both record buffers
     * (17 KiB each, past malloc's caches) around every read that empties
     * the socket and every write: per loop turn on a busy connection. */
    if (!d->ssl || d->hs || d->tls_keep == keep)
        return;
    d->tls_keep = keep;
    if (keep) {
        SSL_clear_mode(d->ssl, SSL_MODE_RELEASE_BUFFERS);
    } else {
        SSL_set_mode(d->ssl, SSL_MODE_RELEASE_BUFFERS);
        SSL_free_buffers(d->ssl); /* refused while a record is partial: freed once empty */
    }
}

void
px_tls_shutdown(struct px_dconn *d)
{
    if (d->ssl && !d->hs) {
        ERR_clear_error();
        SSL_shutdown(d->ssl); /* close_notify, best effort */
        ERR_clear_error();
    }
}

void
px_tls_release(struct px_dconn *d)
{
    if (d->ssl) {
        SSL_free(d->ssl);
        d->ssl = NULL;
    }
    px_wsnap_unref(d->hs_snap);
    d->hs_snap = NULL;
    d->tls_port = NULL;
}
