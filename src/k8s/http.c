/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API client: libcurl's multi-socket interface driven by a gw_loop.
 * curl tells us which sockets to watch (one gw_io each) and when to wake
 * it (one gw_timer); we tell curl what happened with
 * curl_multi_socket_action. HTTP/2 is used where the server offers it,
 * every request multiplexed on one connection; HTTP/1.1 connections are
 * kept alive. TLS always verifies, against the configured CA only, with a
 * CA that is itself a leaf or an intermediate accepted (Go's semantics,
 * X509_V_FLAG_PARTIAL_CHAIN). A token file is re-read as it rotates.
 *
 * Re-entrancy: curl refuses most calls from inside its callbacks, and the
 * only user code curl itself calls is on_data. So requests started or
 * cancelled while curl is on the stack are only marked, and carried out
 * once curl_multi_socket_action returns; finished transfers are first
 * taken out of curl, then their done callbacks run from a plain loop
 * callback, where starting or cancelling requests is safe.
 */
#include <sys/stat.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "k8s/internal.h"
#include "libcurl/libcurl.h"

#include "base/banned.h"

#define LC gw_libcurl

#define DEFAULT_MAX_BODY   ((size_t)64 << 20)
#define TOKEN_MAX_BYTES    ((size_t)64 << 10)
#define TOKEN_CHECK_MS     1000
#define CONNECT_TIMEOUT_MS 10000L

struct sock {
    struct gw_io io;
    struct gw_k8s_http *h;
    struct sock *prev, *next;
};

struct gw_k8s_req {
    struct gw_k8s_http *h;
    struct gw_k8s_req *prev, *next; /* every live request of h */
    struct gw_k8s_req *done_next;   /* in h's done queue */
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    gw_k8s_data_fn on_data;
    gw_k8s_done_fn on_done;
    void *data;
    struct gw_buf buf;
    long code;
    int64_t retry_after;
    int err;         /* ours: setup failure, GW_ELIMIT, on_data's code */
    CURLcode result; /* curl's, once finished */
    bool added;      /* in the multi handle */
    bool pending_add;
    bool queued; /* finished, in the done queue */
    bool in_done;
    bool cancelled;
};

struct gw_k8s_http {
    struct gw_loop *loop;
    CURLM *multi;
    struct gw_k8s_config cfg;
    struct gw_timer timer; /* curl's timeout */
    struct gw_timer kick;  /* done callbacks of requests that never started */
    struct gw_k8s_req *reqs;
    struct gw_k8s_req *done_head, *done_tail;
    struct sock *socks;
    struct gw_k8s_http_stats stats;
    bool partial_chain; /* the TLS backend is OpenSSL */
    /* The bearer token now in use and what it was read from. */
    char *token;
    uint64_t token_checked;
    struct stat token_st;
    int busy;        /* loop callbacks of h on the stack */
    bool in_curl;    /* inside curl_multi_socket_action */
    bool need_sweep; /* marked requests to add or drop after curl */
    bool doomed;     /* freed from inside a callback: really freed on unwind */
    bool freeing;
};

/* ------------------------------------------------------------------------ */
/* Requests: bookkeeping                                                    */

static void
req_free(struct gw_k8s_req *r)
{
    struct gw_k8s_http *h = r->h;
    if (r->added) {
        LC.multi_remove_handle(h->multi, r->easy);
        r->added = false;
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->easy)
        LC.easy_cleanup(r->easy);
    LC.slist_free_all(r->headers);
    gw_buf_release(&r->buf);
    free(r->url);
    free(r->body);
    free(r);
}

static void
enqueue_done(struct gw_k8s_http *h, struct gw_k8s_req *r)
{
    r->queued = true;
    r->done_next = NULL;
    if (h->done_tail)
        h->done_tail->done_next = r;
    else
        h->done_head = r;
    h->done_tail = r;
}

static int
map_curl_error(const struct gw_k8s_req *r)
{
    switch (r->result) {
    case CURLE_OK:
        return 0;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return r->err < 0 ? r->err : GW_EPROTO;
    case CURLE_OPERATION_TIMEDOUT:
        return GW_ETIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return GW_ENOTFOUND;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return GW_ECLOSED;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return GW_ETLS;
    case CURLE_OUT_OF_MEMORY:
        return GW_ENOMEM;
    default:
        return r->err < 0 ? r->err : GW_EPROTO;
    }
}

/* Runs the done callbacks queued; from loop callbacks only. */
static void
dispatch(struct gw_k8s_http *h)
{
    struct gw_k8s_req *r;
    while ((r = h->done_head) != NULL) {
        h->done_head = r->done_next;
        if (!h->done_head)
            h->done_tail = NULL;
        r->queued = false;
        if (!r->cancelled && !h->doomed) {
            struct gw_k8s_resp resp = {
                .code = r->code,
                .err = r->err < 0 ? r->err : map_curl_error(r),
                .body = r->buf.p ? r->buf.p : "",
                .len = r->buf.len,
                .retry_after_s = r->retry_after,
            };
            if (resp.err < 0 && resp.code == 0)
                resp.body = "", resp.len = 0;
            long idx = (resp.err == 0 && resp.code > 0 && resp.code < 600) ? resp.code : 0;
            h->stats.by_code[idx]++;
            h->stats.in_flight--;
            r->in_done = true;
            r->on_done(r->data, &resp);
            r->in_done = false;
        }
        req_free(r);
    }
}

/* Takes finished transfers out of curl into the done queue. */
static void
collect(struct gw_k8s_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = LC.multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        char *priv = NULL;
        LC.easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        struct gw_k8s_req *r = (struct gw_k8s_req *)(void *)priv;
        GW_ASSERT(r != NULL);
        if (r->code == 0)
            LC.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->code);
        LC.multi_remove_handle(h->multi, e);
        r->added = false;
        r->result = res;
        if (r->cancelled) {
            req_free(r);
            continue;
        }
        if (res != CURLE_OK && r->err == 0) {
            int err = map_curl_error(r);
            if (err == GW_ETLS)
                gw_log_warn("k8s: %s: TLS: %s", r->url, LC.easy_strerror(res));
            else
                gw_log_debug("k8s: %s: %s", r->url, LC.easy_strerror(res));
        }
        enqueue_done(h, r);
    }
}

/* Carries out what was marked while curl was on the stack. */
static void
sweep(struct gw_k8s_http *h)
{
    if (!h->need_sweep)
        return;
    h->need_sweep = false;
    struct gw_k8s_req *r = h->reqs, *next;
    for (; r; r = next) {
        next = r->next;
        if (r->cancelled && !r->queued && !r->in_done) {
            req_free(r);
        } else if (r->pending_add) {
            r->pending_add = false;
            CURLMcode mc = LC.multi_add_handle(h->multi, r->easy);
            if (mc != CURLM_OK) {
                r->err = GW_EPROTO;
                enqueue_done(h, r);
                gw_timer_start(&h->kick, 0);
            } else {
                r->added = true;
            }
        }
    }
}

static void really_free(struct gw_k8s_http *h);

/* The tail of every loop callback of h. */
static void
unwind(struct gw_k8s_http *h)
{
    sweep(h);
    collect(h);
    dispatch(h);
    sweep(h);
    h->busy--;
    if (h->busy == 0 && h->doomed)
        really_free(h);
}

static void
drive(struct gw_k8s_http *h, curl_socket_t fd, int mask)
{
    int running = 0;
    h->busy++;
    h->in_curl = true;
    LC.multi_socket_action(h->multi, fd, mask, &running);
    h->in_curl = false;
    unwind(h);
}

/* ------------------------------------------------------------------------ */
/* curl <-> loop                                                            */

static void
on_io(struct gw_io *io, unsigned events)
{
    struct sock *s = io->data;
    int mask = 0;
    if (events & GW_LOOP_READ)
        mask |= CURL_CSELECT_IN;
    if (events & GW_LOOP_WRITE)
        mask |= CURL_CSELECT_OUT;
    if (events & GW_LOOP_ERROR)
        mask |= CURL_CSELECT_ERR;
    drive(s->h, io->fd, mask);
}

static void
on_timer(struct gw_timer *t)
{
    drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void
on_kick(struct gw_timer *t)
{
    struct gw_k8s_http *h = t->data;
    h->busy++;
    unwind(h);
}

static void
sock_closed(struct gw_io *io)
{
    free(io->data);
}

static void
sock_drop(struct gw_k8s_http *h, struct sock *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    /* The fd is curl's to close: only leave the epoll set. */
    gw_io_set(&s->io, 0);
    s->io.fd = -1;
    gw_io_close(&s->io, sock_closed);
}

static int
on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct gw_k8s_http *h = userp;
    struct sock *s = socketp;
    (void)e;
    if (h->freeing)
        return 0;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            LC.multi_assign(h->multi, fd, NULL);
            sock_drop(h, s);
        }
        return 0;
    }
    if (!s) {
        s = gw_xcalloc(1, sizeof(*s));
        s->h = h;
        gw_io_init(h->loop, &s->io, fd, on_io, s);
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        LC.multi_assign(h->multi, fd, s);
    }
    unsigned ev = 0;
    if (what & CURL_POLL_IN)
        ev |= GW_LOOP_READ;
    if (what & CURL_POLL_OUT)
        ev |= GW_LOOP_WRITE;
    int rc = gw_io_set(&s->io, ev);
    if (rc < 0) {
        gw_log_warn("k8s: watching socket %d: %s", (int)fd, gw_strerror(rc));
        return -1;
    }
    return 0;
}

static int
on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct gw_k8s_http *h = userp;
    (void)m;
    if (h->freeing)
        return 0;
    if (timeout_ms < 0)
        gw_timer_stop(&h->timer);
    else
        gw_timer_start(&h->timer, (uint64_t)timeout_ms);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Per-transfer callbacks                                                   */

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct gw_k8s_req *r = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response (after a 1xx): forget the previous one's. */
        r->retry_after = -1;
        gw_buf_reset(&r->buf);
        r->code = 0;
    } else if (n > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        struct gw_str v = gw_str_trim((struct gw_str){p + 12, n - 12});
        while (v.len > 0 && (v.p[v.len - 1] == '\r' || v.p[v.len - 1] == '\n'))
            v.len--;
        uint64_t s;
        if (gw_str_to_u64(gw_str_trim(v), INT32_MAX, &s) == 0)
            r->retry_after = (int64_t)s;
    }
    return n;
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct gw_k8s_req *r = ud;
    size_t n = size * nmemb;
    if (r->cancelled || r->h->doomed)
        return 0;
    if (r->code == 0)
        LC.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->code);
    if (r->on_data && r->code >= 200 && r->code < 300) {
        int rc = r->on_data(r->data, p, n);
        if (rc < 0) {
            r->err = rc;
            return 0;
        }
        return r->cancelled ? 0 : n;
    }
    if (gw_buf_append(&r->buf, p, n) < 0) {
        r->err = GW_ELIMIT;
        return 0;
    }
    return n;
}

static CURLcode
on_ssl_ctx(CURL *e, void *sslctx, void *parm)
{
    (void)e;
    (void)parm;
    X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
    if (st)
        X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
    return CURLE_OK;
}

/* ------------------------------------------------------------------------ */
/* The bearer token                                                         */

static char *
read_token(const char *path, int *rc)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *rc = -errno;
        return NULL;
    }
    struct gw_buf b;
    char chunk[4096];
    size_t n;
    gw_buf_init(&b, TOKEN_MAX_BYTES);
    *rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (gw_buf_append(&b, chunk, n) < 0) {
            *rc = GW_ELIMIT;
            break;
        }
    }
    fclose(f);
    struct gw_str t = gw_str_trim((struct gw_str){b.p ? b.p : "", b.len});
    while (t.len > 0 && (t.p[t.len - 1] == '\n' || t.p[t.len - 1] == '\r'))
        t.len--;
    while (t.len > 0 && (t.p[0] == '\n' || t.p[0] == '\r'))
        t.p++, t.len--;
    char *tok = NULL;
    if (*rc == 0 && t.len == 0)
        *rc = GW_EINVAL;
    else if (*rc == 0)
        tok = gw_xstrndup(t.p, t.len);
    gw_buf_release(&b);
    return tok;
}

/* Re-reads the token file when it changed (at most once a second). A
 * failed re-read keeps the token we had. */
static int
token_refresh(struct gw_k8s_http *h)
{
    if (!h->cfg.token_file)
        return 0;
    uint64_t now = gw_loop_now(h->loop);
    if (h->token && now - h->token_checked < TOKEN_CHECK_MS)
        return 0;
    h->token_checked = now;
    struct stat st;
    if (stat(h->cfg.token_file, &st) < 0) {
        int rc = -errno;
        if (h->token)
            return 0;
        gw_log_warn("k8s: token file %s: %s", h->cfg.token_file, gw_strerror(rc));
        return rc;
    }
    if (h->token && st.st_ino == h->token_st.st_ino && st.st_size == h->token_st.st_size &&
        st.st_mtim.tv_sec == h->token_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == h->token_st.st_mtim.tv_nsec)
        return 0;
    int rc;
    char *tok = read_token(h->cfg.token_file, &rc);
    if (!tok) {
        if (h->token)
            return 0;
        gw_log_warn("k8s: token file %s: %s", h->cfg.token_file,
                    rc == GW_EINVAL ? "empty" : gw_strerror(rc));
        return rc;
    }
    h->token_st = st;
    if (h->token && strcmp(h->token, tok) == 0) {
        free(tok);
        return 0;
    }
    if (h->token)
        gw_log_info("k8s: token file %s changed: using the new token", h->cfg.token_file);
    free(h->token);
    h->token = tok;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static int
req_setup(struct gw_k8s_http *h, struct gw_k8s_req *r, const struct gw_k8s_req_opts *o)
{
    const struct gw_k8s_config *c = &h->cfg;
    int rc = token_refresh(h);
    if (rc < 0)
        return rc;
    CURL *e = r->easy = LC.easy_init();
    if (!e)
        return GW_ENOMEM;
    r->url = gw_xasprintf("%s%s", c->server, o->path ? o->path : "/");

    struct curl_slist *hd = NULL;
    char *accept = gw_xasprintf("Accept: %s", o->accept ? o->accept : "application/json");
    hd = LC.slist_append(hd, accept);
    free(accept);
    hd = LC.slist_append(hd, "Expect:");
    if (h->token) {
        char *a = gw_xasprintf("Authorization: Bearer %s", h->token);
        hd = LC.slist_append(hd, a);
        free(a);
    }
    if (o->body) {
        char *ct = gw_xasprintf("Content-Type: %s",
                                o->content_type ? o->content_type : "application/json");
        hd = LC.slist_append(hd, ct);
        free(ct);
    }
    if (!hd)
        return GW_ENOMEM;
    r->headers = hd;

    CURLcode cc = CURLE_OK;
#define SET(opt, val)                             \
    do {                                          \
        if (cc == CURLE_OK)                       \
            cc = LC.easy_setopt(e, (opt), (val)); \
    } while (0)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PRIVATE, (char *)r);
    SET(CURLOPT_HTTPHEADER, r->headers);
    SET(CURLOPT_USERAGENT, "gatehouse/" GW_VERSION);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SET(CURLOPT_PIPEWAIT, 1L);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, 30L);
    SET(CURLOPT_TCP_KEEPINTVL, 10L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    if (o->timeout_ms)
        SET(CURLOPT_TIMEOUT_MS, (long)GW_MIN(o->timeout_ms, (uint64_t)INT32_MAX));
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)r);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_FOLLOWLOCATION, 0L);

    /* TLS: verify always, against our CA only. */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_CAPATH, (char *)NULL);
    if (c->ca_data) {
        struct curl_blob blob = {
            .data = c->ca_data, .len = strlen(c->ca_data), .flags = CURL_BLOB_COPY};
        SET(CURLOPT_CAINFO, (char *)NULL);
        SET(CURLOPT_CAINFO_BLOB, &blob);
    } else if (c->ca_file) {
        SET(CURLOPT_CAINFO, c->ca_file);
    }
    if (h->partial_chain)
        SET(CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    if (c->cert_data) {
        struct curl_blob blob = {
            .data = c->cert_data, .len = strlen(c->cert_data), .flags = CURL_BLOB_COPY};
        SET(CURLOPT_SSLCERTTYPE, "PEM");
        SET(CURLOPT_SSLCERT_BLOB, &blob);
    } else if (c->cert_file) {
        SET(CURLOPT_SSLCERTTYPE, "PEM");
        SET(CURLOPT_SSLCERT, c->cert_file);
    }
    if (c->key_data) {
        struct curl_blob blob = {
            .data = c->key_data, .len = strlen(c->key_data), .flags = CURL_BLOB_COPY};
        SET(CURLOPT_SSLKEYTYPE, "PEM");
        SET(CURLOPT_SSLKEY_BLOB, &blob);
    } else if (c->key_file) {
        SET(CURLOPT_SSLKEYTYPE, "PEM");
        SET(CURLOPT_SSLKEY, c->key_file);
    }

    const char *method = o->method ? o->method : "GET";
    if (o->body) {
        r->body = gw_xmalloc(o->body_len + 1);
        memcpy(r->body, o->body, o->body_len);
        r->body[o->body_len] = '\0';
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        SET(CURLOPT_POSTFIELDS, r->body);
        if (strcmp(method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") == 0) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            SET(CURLOPT_POSTFIELDS, "");
        }
        SET(CURLOPT_CUSTOMREQUEST, method);
    }
#undef SET
    if (cc != CURLE_OK) {
        gw_log_warn("k8s: %s: %s", r->url, LC.easy_strerror(cc));
        return GW_EINVAL;
    }
    return 0;
}

struct gw_k8s_req *
gw_k8s_http_request(struct gw_k8s_http *h, const struct gw_k8s_req_opts *o)
{
    GW_ASSERT(o->on_done != NULL);
    struct gw_k8s_req *r = gw_xcalloc(1, sizeof(*r));
    r->h = h;
    r->on_data = o->on_data;
    r->on_done = o->on_done;
    r->data = o->data;
    r->retry_after = -1;
    gw_buf_init(&r->buf, o->max_body ? o->max_body : DEFAULT_MAX_BODY);
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    h->stats.in_flight++;

    int rc = req_setup(h, r, o);
    if (rc < 0) {
        r->err = rc;
        enqueue_done(h, r);
        gw_timer_start(&h->kick, 0);
        return r;
    }
    if (h->in_curl) {
        r->pending_add = true;
        h->need_sweep = true;
        return r;
    }
    CURLMcode mc = LC.multi_add_handle(h->multi, r->easy);
    if (mc != CURLM_OK) {
        gw_log_warn("k8s: %s: %s", r->url, LC.multi_strerror(mc));
        r->err = GW_EPROTO;
        enqueue_done(h, r);
        gw_timer_start(&h->kick, 0);
        return r;
    }
    r->added = true;
    return r;
}

void
gw_k8s_req_cancel(struct gw_k8s_req *r)
{
    if (!r || r->cancelled)
        return;
    struct gw_k8s_http *h = r->h;
    r->cancelled = true;
    h->stats.in_flight--;
    /* Queued or running its done: the dispatcher frees it. */
    if (r->queued || r->in_done)
        return;
    if (h->in_curl) {
        h->need_sweep = true;
        return;
    }
    req_free(r);
}

const struct gw_k8s_http_stats *
gw_k8s_http_stats(const struct gw_k8s_http *h)
{
    return &h->stats;
}

/* ------------------------------------------------------------------------ */
/* The client                                                               */

static char *
dup_or_null(const char *s)
{
    return s ? gw_xstrdup(s) : NULL;
}

int
gw_k8s_http_new(struct gw_loop *loop, const struct gw_k8s_config *cfg, struct gw_k8s_http **out)
{
    *out = NULL;
    if (!cfg->server)
        return GW_EINVAL;
    const char *why;
    int rc = gw_libcurl_load(&why);
    if (rc < 0) {
        gw_log_error("k8s: the API client needs libcurl: %s", why);
        return rc;
    }
    struct gw_k8s_http *h = gw_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->cfg.server = dup_or_null(cfg->server);
    h->cfg.namespace = dup_or_null(cfg->namespace);
    h->cfg.ca_file = dup_or_null(cfg->ca_file);
    h->cfg.ca_data = dup_or_null(cfg->ca_data);
    h->cfg.token = dup_or_null(cfg->token);
    h->cfg.token_file = dup_or_null(cfg->token_file);
    h->cfg.cert_file = dup_or_null(cfg->cert_file);
    h->cfg.key_file = dup_or_null(cfg->key_file);
    h->cfg.cert_data = dup_or_null(cfg->cert_data);
    h->cfg.key_data = dup_or_null(cfg->key_data);
    if (!h->cfg.token_file)
        h->token = dup_or_null(cfg->token);

    const curl_version_info_data *vi = LC.version_info(CURLVERSION_NOW);
    h->partial_chain = vi && vi->ssl_version && strncmp(vi->ssl_version, "OpenSSL", 7) == 0;
    if (!h->partial_chain)
        gw_log_warn("k8s: libcurl's TLS backend is not OpenSSL (%s): a CA that is not "
                    "self-signed will not be accepted as a trust anchor",
                    vi && vi->ssl_version ? vi->ssl_version : "none");

    h->multi = LC.multi_init();
    if (!h->multi) {
        gw_k8s_config_release(&h->cfg);
        free(h->token);
        free(h);
        return GW_ENOMEM;
    }
    gw_timer_init(loop, &h->timer, on_timer, h);
    gw_timer_init(loop, &h->kick, on_kick, h);
    LC.multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    LC.multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    LC.multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    LC.multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    LC.multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = h;
    return 0;
}

static void
really_free(struct gw_k8s_http *h)
{
    h->freeing = true;
    while (h->reqs) {
        h->reqs->queued = false;
        req_free(h->reqs);
    }
    h->done_head = h->done_tail = NULL;
    while (h->socks)
        sock_drop(h, h->socks);
    LC.multi_cleanup(h->multi);
    gw_timer_stop(&h->timer);
    gw_timer_stop(&h->kick);
    gw_k8s_config_release(&h->cfg);
    free(h->token);
    free(h);
}

/* Whether a buffered (not streamed) request is still live. */
static bool
has_buffered(const struct gw_k8s_http *h)
{
    for (const struct gw_k8s_req *r = h->reqs; r; r = r->next)
        if (!r->on_data && !r->cancelled)
            return true;
    return false;
}

#define FLUSH_FDS 64

int
gw_k8s_http_flush(struct gw_k8s_http *h, uint64_t timeout_ms)
{
    GW_ASSERT(h->busy == 0);
    uint64_t deadline = (gw_clock_mono_us() / 1000u) + timeout_ms;
    while (has_buffered(h)) {
        uint64_t now = (gw_clock_mono_us() / 1000u);
        if (now >= deadline)
            return GW_ETIMEOUT;
        struct pollfd fds[FLUSH_FDS];
        nfds_t n = 0;
        for (const struct sock *k = h->socks; k && n < FLUSH_FDS; k = k->next) {
            short ev = (short)((k->io.interest & GW_LOOP_READ ? POLLIN : 0) |
                               (k->io.interest & GW_LOOP_WRITE ? POLLOUT : 0));
            if (ev && k->io.fd >= 0)
                fds[n++] = (struct pollfd){.fd = k->io.fd, .events = ev};
        }
        if (poll(fds, n, (int)GW_MIN(deadline - now, (uint64_t)20)) < 0 && errno != EINTR)
            return -errno;
        /* By fd, not by sock: driving curl may drop socks. */
        for (nfds_t i = 0; i < n; i++) {
            int mask = (fds[i].revents & POLLIN ? CURL_CSELECT_IN : 0) |
                       (fds[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
                       (fds[i].revents & (POLLERR | POLLHUP) ? CURL_CSELECT_ERR : 0);
            if (mask)
                drive(h, fds[i].fd, mask);
        }
        drive(h, CURL_SOCKET_TIMEOUT, 0);
    }
    return 0;
}

void
gw_k8s_http_free(struct gw_k8s_http *h)
{
    if (!h)
        return;
    if (h->busy > 0) {
        h->doomed = true;
        return;
    }
    really_free(h);
}

int
gw_k8s_client_describe(char *out, size_t cap)
{
    const char *err;
    int rc = gw_libcurl_load(&err);
    if (rc < 0) {
        snprintf(out, cap, "unavailable (%s)", err);
        return rc;
    }
    const curl_version_info_data *vi = gw_libcurl.version_info(CURLVERSION_NOW);
    snprintf(out, cap, "libcurl %s (%s%s)", vi && vi->version ? vi->version : "?",
             vi && vi->ssl_version ? vi->ssl_version : "no TLS",
             vi && (vi->features & CURL_VERSION_HTTP2) ? ", HTTP/2" : "");
    return 0;
}
