/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Active health checks (HealthCheckPolicy). One health state per (backend,
 * endpoint) lives in the proxy's registry, shared by every worker and
 * route, and outlives snapshots for as long as one names it: a reload
 * keeps it, an endpoint that leaves and comes back starts afresh. A new
 * state starts healthy, so that a reload or a scale-up never empties a
 * backend while its first checks run.
 *
 * The checks run on a thread of their own with its own gw_loop (the
 * "checker"): neither the workers' loops, whose latency they must not
 * touch, nor the control thread's, whose translations of a large store may
 * take longer than a check's timeout. Probes are non-blocking sockets (TCP
 * connect; HTTP/1.1 GET with Connection: close; gRPC
 * grpc.health.v1.Health/Check over h2c through nghttp2), at most
 * MAX_INFLIGHT at once, each bounded by its timeout.
 *
 * Sharing: the registry and p->hc_cur are under p->hc_mu (control thread
 * at publish and reclaim, the checker when it adopts a snapshot's view, the
 * admin thread for metrics); workers only read each state's `up` flag
 * (relaxed atomic) through the snapshot's px_hc, whose references keep the
 * states alive. The run counters belong to the checker thread.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h2/h2.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define MAX_INFLIGHT   64
#define NBUCKETS       1024
#define IDLE_RESCAN_MS 1000
#define OUT_MAX        (64 * 1024)
#define GRPC_MSG_MAX   256

/* Why the last check failed (px_hc_ep.last). */
enum hc_result { HC_OK, HC_CONNECT, HC_TIMEOUT, HC_STATUS, HC_NOT_SERVING, HC_PROTOCOL };

static const char *const result_names[] = {"ok",     "connect",     "timeout",
                                           "status", "not_serving", "protocol"};

struct px_checker {
    struct gw_proxy *p;
    pthread_t thread;
    struct gw_loop *loop;
    int evfd;
    struct gw_io evio;
    struct gw_timer tick;
    struct px_hc *cur; /* the view being checked (one reference) */
    struct probe *probes;
    unsigned ninflight;
    uint64_t rnd;
    atomic_bool stop;
};

struct probe {
    struct gw_io io;
    struct gw_timer timer;
    struct px_checker *c;
    struct px_hc *hc; /* a reference: keeps ep and cfg alive */
    struct px_hc_ep *ep;
    const struct gw_ir_healthcheck *cfg;
    struct probe *next, **pprev;
    bool connected, done;
    struct gw_buf out;
    size_t outoff;
    char in[256];
    size_t inlen;
    /* gRPC */
    nghttp2_session *h2;
    unsigned char req[GRPC_MSG_MAX + 16];
    size_t reqlen, reqoff;
    int h2status;
    int grpc_status; /* -1: none seen */
    unsigned char msg[GRPC_MSG_MAX];
    size_t msglen;
    bool closed;
};

/* ------------------------------------------------------------------------ */
/* The registry and the snapshots' views                                     */

static uint64_t
key_hash(const char *backend, const char *ip, uint16_t port)
{
    uint64_t h = 0xcbf29ce484222325ull ^ port;
    for (const char *s = backend; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h = (h ^ '|') * 0x100000001b3ull;
    for (const char *s = ip; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Finds or adds the state of backend's endpoint ip:port (p->hc_mu held). */
static struct px_hc_ep *
ep_get(struct gw_proxy *p, const char *backend, const char *ip, uint16_t port)
{
    if (!p->hc_buckets)
        p->hc_buckets = gw_xcalloc(NBUCKETS, sizeof(*p->hc_buckets));
    size_t b = (size_t)(key_hash(backend, ip, port) % NBUCKETS);
    for (struct px_hc_ep *e = p->hc_buckets[b]; e; e = e->next)
        if (e->port == port && !strcmp(e->ip, ip) && !strcmp(e->backend, backend))
            return e;
    struct px_hc_ep *e = gw_xcalloc(1, sizeof(*e));
    atomic_init(&e->up, true);
    e->backend = gw_xstrdup(backend);
    e->ip = gw_xstrdup(ip);
    e->port = port;
    e->next = p->hc_buckets[b];
    p->hc_buckets[b] = e;
    p->hc_count++;
    return e;
}

static void
ep_free(struct px_hc_ep *e)
{
    free(e->backend);
    free(e->ip);
    free(e);
}

/* Drops one reference of e (p->hc_mu held); the last one unlinks it. */
static void
ep_drop(struct gw_proxy *p, struct px_hc_ep *e)
{
    if (--e->refs)
        return;
    size_t b = (size_t)(key_hash(e->backend, e->ip, e->port) % NBUCKETS);
    struct px_hc_ep **pp = &p->hc_buckets[b];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    p->hc_count--;
    ep_free(e);
}

static void
visit(struct gw_proxy *p, struct px_hc *hc, const struct gw_ir_backend *b, size_t *cap)
{
    if (!b->health || b->invalid || !b->nendpoints || b->id >= hc->nb || hc->by_backend[b->id])
        return;
    struct px_hc_ep **v = gw_xcalloc(b->nendpoints, sizeof(*v));
    for (size_t i = 0; i < b->nendpoints; i++) {
        struct px_hc_ep *e = ep_get(p, b->name, b->endpoints[i].ip, b->endpoints[i].port);
        v[i] = e;
        if (e->mark == hc)
            continue;
        e->mark = hc;
        e->refs++;
        if (hc->ntargets == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            hc->targets = gw_xrealloc(hc->targets, *cap * sizeof(*hc->targets));
        }
        hc->targets[hc->ntargets].ep = e;
        hc->targets[hc->ntargets].cfg = b->health;
        hc->ntargets++;
    }
    hc->by_backend[b->id] = v;
}

struct px_hc *
px_hc_new(struct gw_proxy *p, struct gw_ir *ir)
{
    if (!ir->nbackend_ids)
        return NULL;
    struct px_hc *hc = gw_xcalloc(1, sizeof(*hc));
    atomic_init(&hc->refs, 1);
    hc->p = p;
    hc->nb = ir->nbackend_ids;
    hc->by_backend = gw_xcalloc(hc->nb, sizeof(*hc->by_backend));
    size_t cap = 0;
    pthread_mutex_lock(&p->hc_mu);
    for (size_t pi = 0; pi < ir->nports; pi++)
        for (size_t li = 0; li < ir->ports[pi].nlisteners; li++) {
            const struct gw_ir_listener *l = &ir->ports[pi].listeners[li];
            for (size_t v = 0; v < l->nvhosts; v++)
                for (size_t r = 0; r < l->vhosts[v].nroutes; r++) {
                    const struct gw_ir_route *rt = &l->vhosts[v].routes[r];
                    for (size_t k = 0; k < rt->nbackends; k++)
                        visit(p, hc, &rt->backends[k], &cap);
                    for (size_t f = 0; f < rt->nfilters; f++)
                        if (rt->filters[f].mirror)
                            visit(p, hc, rt->filters[f].mirror, &cap);
                }
        }
    for (size_t i = 0; i < hc->ntargets; i++)
        hc->targets[i].ep->mark = NULL;
    pthread_mutex_unlock(&p->hc_mu);
    if (!hc->ntargets) {
        free(hc->by_backend);
        free(hc);
        return NULL;
    }
    hc->ir = gw_ir_ref(ir);
    return hc;
}

void
px_hc_unref(struct px_hc *hc)
{
    if (!hc || atomic_fetch_sub_explicit(&hc->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct gw_proxy *p = hc->p;
    pthread_mutex_lock(&p->hc_mu);
    for (size_t i = 0; i < hc->ntargets; i++)
        ep_drop(p, hc->targets[i].ep);
    pthread_mutex_unlock(&p->hc_mu);
    for (size_t i = 0; i < hc->nb; i++)
        free(hc->by_backend[i]);
    free(hc->by_backend);
    free(hc->targets);
    gw_ir_unref(hc->ir);
    free(hc);
}

static void
poke_checker(struct px_checker *c)
{
    uint64_t one = 1;
    if (write(c->evfd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is full, the checker will wake anyway. */
    }
}

void
px_hc_publish(struct gw_proxy *p, struct px_hc *hc)
{
    if (hc)
        atomic_fetch_add_explicit(&hc->refs, 1, memory_order_relaxed);
    pthread_mutex_lock(&p->hc_mu);
    struct px_hc *old = p->hc_cur;
    p->hc_cur = hc;
    pthread_mutex_unlock(&p->hc_mu);
    px_hc_unref(old);
    if (p->checker)
        poke_checker(p->checker);
}

/* ------------------------------------------------------------------------ */
/* Probes                                                                    */

static void schedule(struct px_checker *c);

static void
probe_closed(struct gw_io *io)
{
    struct probe *pr = io->data;
    if (pr->h2)
        nghttp2_session_del(pr->h2);
    gw_buf_release(&pr->out);
    px_hc_unref(pr->hc);
    free(pr);
}

static void
verdict(struct px_hc_ep *e, const struct gw_ir_healthcheck *cfg, enum hc_result r, int code)
{
    atomic_fetch_add_explicit(&e->checks, 1, memory_order_relaxed);
    atomic_store_explicit(&e->last, (unsigned)r, memory_order_relaxed);
    atomic_store_explicit(&e->last_code, code, memory_order_relaxed);
    bool up = atomic_load_explicit(&e->up, memory_order_relaxed);
    if (r == HC_OK) {
        e->fail_run = 0;
        if (e->ok_run < UINT32_MAX)
            e->ok_run++;
        if (!up && e->ok_run >= cfg->healthy_threshold) {
            atomic_store_explicit(&e->up, true, memory_order_relaxed);
            atomic_fetch_add_explicit(&e->transitions, 1, memory_order_relaxed);
            gw_log_info("health: %s endpoint %s:%u is healthy (%u checks passed)", e->backend,
                        e->ip, e->port, e->ok_run);
        }
        return;
    }
    atomic_fetch_add_explicit(&e->failures, 1, memory_order_relaxed);
    e->ok_run = 0;
    if (e->fail_run < UINT32_MAX)
        e->fail_run++;
    if (up && e->fail_run >= cfg->unhealthy_threshold) {
        atomic_store_explicit(&e->up, false, memory_order_relaxed);
        atomic_fetch_add_explicit(&e->transitions, 1, memory_order_relaxed);
        gw_log_info("health: %s endpoint %s:%u is unhealthy (%u checks failed, last: %s %d)",
                    e->backend, e->ip, e->port, e->fail_run, result_names[r], code);
    }
}

static void
finish(struct probe *pr, enum hc_result r, int code)
{
    if (pr->done)
        return;
    pr->done = true;
    struct px_checker *c = pr->c;
    verdict(pr->ep, pr->cfg, r, code);
    pr->ep->busy = false;
    gw_timer_stop(&pr->timer);
    *pr->pprev = pr->next;
    if (pr->next)
        pr->next->pprev = pr->pprev;
    c->ninflight--;
    gw_io_close(&pr->io, probe_closed);
    schedule(c);
}

/* Writes what waits in pr->out. 0, or -1 when the connection failed. */
static int
flush(struct probe *pr)
{
    while (pr->outoff < pr->out.len) {
        ssize_t n = send(pr->io.fd, pr->out.p + pr->outoff, pr->out.len - pr->outoff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return gw_io_set(&pr->io, GW_LOOP_READ | GW_LOOP_WRITE) < 0 ? -1 : 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        pr->outoff += (size_t)n;
    }
    gw_buf_reset(&pr->out);
    pr->outoff = 0;
    return gw_io_set(&pr->io, GW_LOOP_READ) < 0 ? -1 : 0;
}

static void
authority(const struct px_hc_ep *e, char *out, size_t cap)
{
    if (strchr(e->ip, ':'))
        snprintf(out, cap, "[%s]:%u", e->ip, e->port);
    else
        snprintf(out, cap, "%s:%u", e->ip, e->port);
}

/* HTTP: the status line decides; the rest of the answer is not read. */
static void
http_read(struct probe *pr)
{
    for (;;) {
        if (pr->inlen >= 12) {
            const char *s = pr->in;
            bool ok = !memcmp(s, "HTTP/1.", 7) && s[8] == ' ' && s[9] >= '1' && s[9] <= '5' &&
                      s[10] >= '0' && s[10] <= '9' && s[11] >= '0' && s[11] <= '9';
            if (!ok) {
                finish(pr, HC_PROTOCOL, 0);
                return;
            }
            int code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
            for (size_t i = 0; i < pr->cfg->nstatuses; i++)
                if (code >= pr->cfg->statuses[i].start && code <= pr->cfg->statuses[i].end) {
                    finish(pr, HC_OK, code);
                    return;
                }
            finish(pr, HC_STATUS, code);
            return;
        }
        ssize_t n = recv(pr->io.fd, pr->in + pr->inlen, sizeof(pr->in) - pr->inlen, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            finish(pr, n == 0 ? HC_PROTOCOL : HC_CONNECT, 0);
            return;
        }
        pr->inlen += (size_t)n;
    }
}

static int
http_start(struct probe *pr)
{
    char host[128];
    if (pr->cfg->host)
        snprintf(host, sizeof(host), "%s", pr->cfg->host);
    else
        authority(pr->ep, host, sizeof(host));
    return gw_buf_appendf(&pr->out,
                          "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatehouse-health-check\r\n"
                          "Accept: */*\r\nConnection: close\r\n\r\n",
                          pr->cfg->path, host) < 0
               ? -1
               : flush(pr);
}

/* gRPC over nghttp2: the session writes into pr->out, flush() sends it. */
static ssize_t
h2_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)s;
    (void)flags;
    struct probe *pr = user;
    if (gw_buf_append(&pr->out, data, len) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static int
h2_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    (void)s;
    (void)f;
    (void)flags;
    struct probe *pr = user;
    if (namelen == 7 && !memcmp(name, ":status", 7) && valuelen == 3)
        pr->h2status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    else if (namelen == 11 && !memcmp(name, "grpc-status", 11) && valuelen >= 1 && valuelen <= 3) {
        int v = 0;
        for (size_t i = 0; i < valuelen; i++)
            v = v * 10 + (value[i] >= '0' && value[i] <= '9' ? value[i] - '0' : 100);
        pr->grpc_status = v;
    }
    return 0;
}

static int
h2_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *user)
{
    (void)s;
    (void)flags;
    (void)sid;
    struct probe *pr = user;
    size_t n = GW_MIN(len, sizeof(pr->msg) - pr->msglen);
    memcpy(pr->msg + pr->msglen, data, n);
    pr->msglen += n;
    return 0;
}

static int
h2_closed(nghttp2_session *s, int32_t sid, uint32_t err, void *user)
{
    (void)s;
    (void)sid;
    (void)err;
    ((struct probe *)user)->closed = true;
    return 0;
}

static ssize_t
h2_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
        nghttp2_data_source *src, void *user)
{
    (void)s;
    (void)sid;
    (void)src;
    struct probe *pr = user;
    size_t n = GW_MIN(len, pr->reqlen - pr->reqoff);
    memcpy(buf, pr->req + pr->reqoff, n);
    pr->reqoff += n;
    if (pr->reqoff == pr->reqlen)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static size_t
put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* HealthCheckResponse.status (field 1, varint) of the one gRPC message,
 * 0 (UNKNOWN) when absent or unreadable. */
static uint64_t
serving_status(const unsigned char *m, size_t n)
{
    if (n < 5 || m[0] != 0)
        return 0;
    size_t len = (size_t)m[1] << 24 | (size_t)m[2] << 16 | (size_t)m[3] << 8 | m[4];
    if (len > n - 5)
        return 0;
    const unsigned char *p = m + 5, *e = p + len;
    uint64_t status = 0;
    while (p < e) {
        uint64_t tag = 0, v = 0;
        for (unsigned sh = 0; p < e && sh < 64; sh += 7) {
            tag |= (uint64_t)(*p & 0x7f) << sh;
            if (!(*p++ & 0x80))
                break;
        }
        unsigned wt = (unsigned)(tag & 7);
        if (wt == 0 || wt == 2) {
            for (unsigned sh = 0; p < e && sh < 64; sh += 7) {
                v |= (uint64_t)(*p & 0x7f) << sh;
                if (!(*p++ & 0x80))
                    break;
            }
            if (wt == 2) {
                if (v > (uint64_t)(e - p))
                    return 0;
                p += v;
                continue;
            }
            if (tag >> 3 == 1)
                status = v;
        } else {
            return 0; /* no other wire type in this message */
        }
    }
    return status;
}

static void
grpc_done(struct probe *pr)
{
    if (pr->h2status != 200 || pr->grpc_status != 0)
        finish(pr, HC_STATUS, pr->grpc_status >= 0 ? pr->grpc_status : pr->h2status);
    else if (serving_status(pr->msg, pr->msglen) != 1)
        finish(pr, HC_NOT_SERVING, (int)serving_status(pr->msg, pr->msglen));
    else
        finish(pr, HC_OK, 0);
}

static int
grpc_start(struct probe *pr)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -1;
    nghttp2_session_callbacks_set_send_callback(cb, h2_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_closed);
    int rc = nghttp2_session_client_new3(&pr->h2, cb, pr, NULL, gw_h2_mem());
    nghttp2_session_callbacks_del(cb);
    if (rc != 0)
        return -1;
    /* HealthCheckRequest{service = 1}, behind the 5-byte gRPC prefix. */
    const char *svc = pr->cfg->grpc_service ? pr->cfg->grpc_service : "";
    size_t sl = GW_MIN(strlen(svc), (size_t)GRPC_MSG_MAX);
    unsigned char pb[GRPC_MSG_MAX + 8];
    size_t n = 0;
    if (sl) {
        pb[n++] = 0x0a;
        n += put_varint(pb + n, sl);
        memcpy(pb + n, svc, sl);
        n += sl;
    }
    pr->req[0] = 0;
    pr->req[1] = (unsigned char)(n >> 24);
    pr->req[2] = (unsigned char)(n >> 16);
    pr->req[3] = (unsigned char)(n >> 8);
    pr->req[4] = (unsigned char)n;
    memcpy(pr->req + 5, pb, n);
    pr->reqlen = n + 5;
    char auth[128];
    authority(pr->ep, auth, sizeof(auth));
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[] = {
        NV(":method", "POST"),
        NV(":scheme", "http"),
        NV(":path", "/grpc.health.v1.Health/Check"),
        NV(":authority", auth),
        NV("content-type", "application/grpc"),
        NV("te", "trailers"),
        NV("user-agent", "gatehouse-health-check"),
    };
#undef NV
    nghttp2_data_provider dp = {.read_callback = h2_body};
    if (nghttp2_submit_settings(pr->h2, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
        nghttp2_submit_request(pr->h2, NULL, nva, GW_ARRAY_LEN(nva), &dp, NULL) < 0 ||
        nghttp2_session_send(pr->h2) != 0)
        return -1;
    return flush(pr);
}

static void
grpc_read(struct probe *pr)
{
    unsigned char buf[4096];
    for (;;) {
        ssize_t n = recv(pr->io.fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            finish(pr, n == 0 ? HC_PROTOCOL : HC_CONNECT, 0);
            return;
        }
        if (nghttp2_session_mem_recv(pr->h2, buf, (size_t)n) < 0) {
            finish(pr, HC_PROTOCOL, 0);
            return;
        }
        if (pr->closed) {
            grpc_done(pr);
            return;
        }
    }
    if (nghttp2_session_send(pr->h2) != 0 || flush(pr) < 0)
        finish(pr, HC_PROTOCOL, 0);
}

static void
on_probe_io(struct gw_io *io, unsigned ev)
{
    struct probe *pr = io->data;
    if (!pr->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            finish(pr, HC_CONNECT, err);
            return;
        }
        if (!(ev & (GW_LOOP_WRITE | GW_LOOP_ERROR)))
            return;
        pr->connected = true;
        int rc = 0;
        switch (pr->cfg->type) {
        case GW_IR_HC_TCP:
            finish(pr, HC_OK, 0);
            return;
        case GW_IR_HC_HTTP:
            rc = http_start(pr);
            break;
        case GW_IR_HC_GRPC:
            rc = grpc_start(pr);
            break;
        }
        if (rc < 0)
            finish(pr, HC_CONNECT, 0);
        return;
    }
    if ((ev & GW_LOOP_WRITE) && flush(pr) < 0) {
        finish(pr, HC_CONNECT, 0);
        return;
    }
    if (!(ev & (GW_LOOP_READ | GW_LOOP_ERROR)))
        return;
    if (pr->cfg->type == GW_IR_HC_GRPC)
        grpc_read(pr);
    else
        http_read(pr);
}

static void
on_probe_timeout(struct gw_timer *t)
{
    finish(t->data, HC_TIMEOUT, 0);
}

static void
probe_start(struct px_checker *c, const struct px_hc_target *x)
{
    struct px_hc_ep *e = x->ep;
    struct sockaddr_storage ss;
    socklen_t sl;
    enum hc_result fail = HC_CONNECT;
    int fd = -1, err = 0;
    if (gw_sock_addr_parse(e->ip, e->port, &ss, &sl) < 0) {
        err = EINVAL;
        goto failed;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        goto failed;
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        err = errno;
        close(fd);
        goto failed;
    }
    struct probe *pr = gw_xcalloc(1, sizeof(*pr));
    pr->c = c;
    pr->hc = c->cur;
    atomic_fetch_add_explicit(&c->cur->refs, 1, memory_order_relaxed);
    pr->ep = e;
    pr->cfg = x->cfg;
    pr->grpc_status = -1;
    gw_buf_init(&pr->out, OUT_MAX);
    gw_io_init(c->loop, &pr->io, fd, on_probe_io, pr);
    gw_timer_init(c->loop, &pr->timer, on_probe_timeout, pr);
    pr->next = c->probes;
    if (pr->next)
        pr->next->pprev = &pr->next;
    pr->pprev = &c->probes;
    c->probes = pr;
    c->ninflight++;
    e->busy = true;
    gw_timer_start(&pr->timer, (uint64_t)x->cfg->timeout_ms);
    if (gw_io_set(&pr->io, GW_LOOP_WRITE) < 0)
        finish(pr, HC_CONNECT, 0);
    return;
failed:
    /* No socket, no probe: the attempt counts as failed at once. */
    verdict(e, x->cfg, fail, err);
}

static uint64_t
next_rand(struct px_checker *c)
{
    c->rnd ^= c->rnd << 13;
    c->rnd ^= c->rnd >> 7;
    c->rnd ^= c->rnd << 17;
    return c->rnd;
}

/* Starts the checks that are due (bounded), then sleeps until the next. */
static void
schedule(struct px_checker *c)
{
    if (atomic_load(&c->stop))
        return;
    uint64_t now = gw_loop_now(c->loop);
    uint64_t next = now + IDLE_RESCAN_MS;
    struct px_hc *hc = c->cur;
    for (size_t i = 0; hc && i < hc->ntargets; i++) {
        struct px_hc_target *x = &hc->targets[i];
        struct px_hc_ep *e = x->ep;
        if (e->busy)
            continue;
        if (e->due > now) {
            next = GW_MIN(next, e->due);
            continue;
        }
        if (c->ninflight >= MAX_INFLIGHT) {
            next = GW_MIN(next, now + 10); /* a finishing probe reschedules sooner */
            continue;
        }
        uint64_t jitter =
            x->cfg->jitter_ms > 0 ? next_rand(c) % (uint64_t)(x->cfg->jitter_ms + 1) : 0;
        e->due = now + (uint64_t)x->cfg->interval_ms + jitter;
        probe_start(c, x);
        if (!e->busy)
            next = GW_MIN(next, e->due);
    }
    gw_timer_start(&c->tick, next > now ? next - now : 1);
}

static void
on_tick(struct gw_timer *t)
{
    schedule(t->data);
}

static void
on_wake(struct gw_io *io, unsigned ev)
{
    (void)ev;
    struct px_checker *c = io->data;
    uint64_t v;
    if (read(c->evfd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing pending; a stop or a view may still be new. */
    }
    if (atomic_load(&c->stop)) {
        gw_loop_stop(c->loop);
        return;
    }
    struct gw_proxy *p = c->p;
    pthread_mutex_lock(&p->hc_mu);
    struct px_hc *hc = p->hc_cur;
    if (hc)
        atomic_fetch_add_explicit(&hc->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->hc_mu);
    struct px_hc *old = c->cur;
    c->cur = hc;
    px_hc_unref(old);
    schedule(c);
}

static void *
checker_main(void *arg)
{
    struct px_checker *c = arg;
    gw_loop_update_time(c->loop);
    on_wake(&c->evio, GW_LOOP_READ);
    gw_loop_run(c->loop);
    return NULL;
}

int
px_hc_checker_start(struct gw_proxy *p)
{
    struct px_checker *c = gw_xcalloc(1, sizeof(*c));
    c->p = p;
    c->evfd = -1;
    atomic_init(&c->stop, false);
    c->rnd = 0x2545f4914f6cdd1dull ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c;
    int rc = gw_loop_new_epoll(&c->loop);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->evfd < 0) {
        rc = -errno;
        gw_loop_free(c->loop);
        free(c);
        return rc;
    }
    gw_io_init(c->loop, &c->evio, c->evfd, on_wake, c);
    gw_io_set(&c->evio, GW_LOOP_READ);
    gw_timer_init(c->loop, &c->tick, on_tick, c);
    /* No signal of the process's for this thread: they belong to the
     * control thread's signalfd. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&c->thread, NULL, checker_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        gw_io_close(&c->evio, NULL);
        gw_loop_free(c->loop);
        free(c);
        return GW_ENOMEM;
    }
    p->checker = c;
    return 0;
}

void
px_hc_checker_stop(struct gw_proxy *p)
{
    struct px_checker *c = p->checker;
    if (!c)
        return;
    p->checker = NULL;
    atomic_store(&c->stop, true);
    poke_checker(c);
    pthread_join(c->thread, NULL);
    /* The loop is ours now: close what is left on it. */
    while (c->probes) {
        struct probe *pr = c->probes;
        pr->done = true;
        pr->ep->busy = false;
        c->probes = pr->next;
        gw_timer_stop(&pr->timer);
        gw_io_close(&pr->io, probe_closed);
    }
    gw_timer_stop(&c->tick);
    gw_io_close(&c->evio, NULL); /* closes evfd */
    gw_loop_free(c->loop);
    px_hc_unref(c->cur);
    free(c);
}

void
px_hc_registry_free(struct gw_proxy *p)
{
    struct px_hc *hc = p->hc_cur;
    p->hc_cur = NULL;
    px_hc_unref(hc);
    for (size_t b = 0; p->hc_buckets && b < NBUCKETS; b++)
        while (p->hc_buckets[b]) {
            struct px_hc_ep *e = p->hc_buckets[b];
            p->hc_buckets[b] = e->next;
            ep_free(e);
        }
    free(p->hc_buckets);
    p->hc_buckets = NULL;
}

/* ------------------------------------------------------------------------ */
/* What the admin server shows                                               */

static int
ep_cmp(const void *a, const void *b)
{
    const struct px_hc_ep *x = *(const struct px_hc_ep *const *)a;
    const struct px_hc_ep *y = *(const struct px_hc_ep *const *)b;
    int c = strcmp(x->backend, y->backend);
    if (!c)
        c = strcmp(x->ip, y->ip);
    return c ? c : (int)x->port - (int)y->port;
}

/* The states, sorted (p->hc_mu held); the caller frees the array. */
static struct px_hc_ep **
sorted(struct gw_proxy *p, size_t *n)
{
    *n = p->hc_count;
    if (!*n)
        return NULL;
    struct px_hc_ep **v = gw_xcalloc(*n, sizeof(*v));
    size_t k = 0;
    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct px_hc_ep *e = p->hc_buckets[b]; e && k < *n; e = e->next)
            v[k++] = e;
    qsort(v, k, sizeof(*v), ep_cmp);
    *n = k;
    return v;
}

int
px_hc_metrics_format(const struct gw_proxy *cp, struct gw_buf *out)
{
    struct gw_proxy *p = (struct gw_proxy *)cp;
    pthread_mutex_lock(&p->hc_mu);
    size_t n;
    struct px_hc_ep **v = sorted(p, &n);
    int rc = 0;
    if (n) {
        rc |= gw_buf_append_cstr(out, "# HELP gatehouse_endpoint_health Whether an endpoint "
                                      "passes its active health check (1) or not (0).\n"
                                      "# TYPE gatehouse_endpoint_health gauge\n");
        for (size_t i = 0; i < n; i++) {
            char ep[96];
            authority(v[i], ep, sizeof(ep));
            rc |= gw_buf_appendf(out,
                                 "gatehouse_endpoint_health{backend=\"%s\",endpoint=\"%s\"} %d\n",
                                 v[i]->backend, ep, atomic_load(&v[i]->up) ? 1 : 0);
        }
        rc |=
            gw_buf_append_cstr(out, "# HELP gatehouse_endpoint_health_transitions_total Changes "
                                    "of an endpoint's health (either way).\n"
                                    "# TYPE gatehouse_endpoint_health_transitions_total counter\n");
        for (size_t i = 0; i < n; i++) {
            char ep[96];
            authority(v[i], ep, sizeof(ep));
            rc |= gw_buf_appendf(out,
                                 "gatehouse_endpoint_health_transitions_total{backend=\"%s\","
                                 "endpoint=\"%s\"} %llu\n",
                                 v[i]->backend, ep,
                                 (unsigned long long)atomic_load(&v[i]->transitions));
        }
        rc |= gw_buf_append_cstr(out, "# HELP gatehouse_health_checks_total Active health checks "
                                      "run, by outcome.\n"
                                      "# TYPE gatehouse_health_checks_total counter\n");
        for (size_t i = 0; i < n; i++) {
            char ep[96];
            authority(v[i], ep, sizeof(ep));
            uint64_t all = atomic_load(&v[i]->checks), bad = atomic_load(&v[i]->failures);
            rc |= gw_buf_appendf(out,
                                 "gatehouse_health_checks_total{backend=\"%s\",endpoint=\"%s\","
                                 "result=\"success\"} %llu\n"
                                 "gatehouse_health_checks_total{backend=\"%s\",endpoint=\"%s\","
                                 "result=\"failure\"} %llu\n",
                                 v[i]->backend, ep, (unsigned long long)(all - bad), v[i]->backend,
                                 ep, (unsigned long long)bad);
        }
    }
    pthread_mutex_unlock(&p->hc_mu);
    free(v);
    return rc < 0 ? GW_ELIMIT : 0;
}

int
gw_proxy_health_format(const struct gw_proxy *cp, struct gw_buf *out)
{
    struct gw_proxy *p = (struct gw_proxy *)cp;
    pthread_mutex_lock(&p->hc_mu);
    size_t n;
    struct px_hc_ep **v = sorted(p, &n);
    int rc = gw_buf_append_cstr(out, "{\"endpoints\":[");
    for (size_t i = 0; i < n; i++) {
        const struct px_hc_ep *e = v[i];
        char ep[96];
        authority(e, ep, sizeof(ep));
        unsigned last = atomic_load(&e->last);
        rc |= gw_buf_append_cstr(out, i ? ",{\"backend\":" : "{\"backend\":");
        rc |= gw_buf_append_json_str(out, e->backend, strlen(e->backend));
        rc |= gw_buf_append_cstr(out, ",\"endpoint\":");
        rc |= gw_buf_append_json_str(out, ep, strlen(ep));
        rc |= gw_buf_appendf(
            out,
            ",\"healthy\":%s,\"checks\":%llu,\"failures\":%llu,"
            "\"transitions\":%llu,\"last\":\"%s\",\"lastCode\":%d}",
            atomic_load(&e->up) ? "true" : "false", (unsigned long long)atomic_load(&e->checks),
            (unsigned long long)atomic_load(&e->failures),
            (unsigned long long)atomic_load(&e->transitions),
            atomic_load(&e->checks) ? result_names[last] : "none", atomic_load(&e->last_code));
    }
    rc |= gw_buf_append_cstr(out, "]}\n");
    pthread_mutex_unlock(&p->hc_mu);
    free(v);
    return rc < 0 ? GW_ELIMIT : 0;
}
