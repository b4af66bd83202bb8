/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request tracing (W3C Trace Context, OTLP/HTTP JSON). A worker reads the
 * client's traceparent and tracestate when a request starts, makes its own
 * server span id (a new trace when there is no valid parent), decides
 * sampling (the parent's flag when there is one, else the ratio), and the
 * upstream head carries gatehouse's span as the parent. When a sampled
 * request ends, its span is copied into the worker's bounded queue (a
 * single-producer single-consumer ring; when full the span is dropped and
 * counted: a worker never waits). One exporter thread drains every queue
 * and POSTs batches (by size, or when the oldest span has waited the
 * interval) to the collector with a small blocking HTTP/1.1 client bounded
 * by timeouts: the only thread that ever waits on the collector. Plain
 * http:// only.
 */
#include "trace/trace.h"

#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/internal.h"

#include "base/banned.h"

#define RING_CAP      1024u /* spans per worker queue (a power of two) */
#define IO_TIMEOUT_MS 2000
#define BODY_MAX      (64u << 20)
#define TICK_MS       20

struct ring {
    _Alignas(64) atomic_size_t head; /* consumer */
    _Alignas(64) atomic_size_t tail; /* producer */
    struct gw_trace_span *v;
};

struct px_tracer {
    char host[256];
    char path[256];
    uint16_t port;
    char service[128];
    uint64_t threshold;
    unsigned batch;
    unsigned interval_ms;
    unsigned nrings;
    struct ring *rings;
    struct px_tw *tws;
    pthread_t thread;
    bool started;
    int stopfd;
    atomic_uint_fast64_t exported, dropped_queue, dropped_export, errors;
    struct gw_trace_span *pending;
    size_t npending;
    struct gw_buf body;
};

struct px_tw {
    struct gw_trace_rng rng;
    struct ring *ring;
    struct px_tracer *t;
};

/* What a traced request carries from its start to its end. */
struct px_dtrace {
    bool on;
    bool aborted;
    struct gw_trace_span span; /* ids, flags, start, and the request's fields */
    size_t state_len;
    char state[GW_TRACE_STATE_MAX];
};

int
px_tracer_new(struct gw_proxy *p)
{
    const struct gw_proxy_opts *o = &p->o;
    struct px_tracer *t = gw_xcalloc(1, sizeof(*t));
    if (gw_trace_endpoint_parse(o->otlp_endpoint, t->host, sizeof(t->host), &t->port, t->path,
                                sizeof(t->path)) < 0) {
        free(t);
        return GW_EINVAL;
    }
    const char *svc = o->service_name && o->service_name[0] ? o->service_name : "gatehouse";
    size_t sl = GW_MIN(strlen(svc), sizeof(t->service) - 1);
    memcpy(t->service, svc, sl);
    t->threshold = gw_trace_ratio_threshold(o->trace_sample_ratio);
    t->batch = o->otlp_batch ? GW_MIN(o->otlp_batch, RING_CAP) : 512;
    t->interval_ms = o->otlp_interval_ms ? o->otlp_interval_ms : 1000;
    t->nrings = p->nworkers;
    t->rings = gw_xcalloc(t->nrings, sizeof(*t->rings));
    t->tws = gw_xcalloc(t->nrings, sizeof(*t->tws));
    for (unsigned i = 0; i < t->nrings; i++) {
        t->rings[i].v = gw_xcalloc(RING_CAP, sizeof(struct gw_trace_span));
        t->tws[i].ring = &t->rings[i];
        t->tws[i].t = t;
        gw_trace_rng_init(&t->tws[i].rng);
    }
    t->pending = gw_xcalloc(t->batch, sizeof(*t->pending));
    gw_buf_init(&t->body, BODY_MAX);
    t->stopfd = -1;
    p->tracer = t;
    return 0;
}

struct px_tw *
px_tracer_worker(struct gw_proxy *p, unsigned i)
{
    return p->tracer ? &p->tracer->tws[i] : NULL;
}

static uint64_t
real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
copy_str(char *out, size_t cap, struct gw_str s)
{
    size_t n = GW_MIN(s.len, cap - 1);
    if (n)
        memcpy(out, s.p, n);
    out[n] = '\0';
}

static const struct gw_h1_header *
field(const struct gw_h1_request *req, const char *name)
{
    struct gw_str n = gw_str_from(name);
    for (size_t i = 0; i < req->nheaders; i++)
        if (gw_str_caseeq(req->headers[i].name, n))
            return &req->headers[i];
    return NULL;
}

void
px_trace_start(struct px_dconn *d, const struct gw_h1_request *req)
{
    struct px_tw *tw = d->w->tw;
    if (!d->tr)
        d->tr = gw_xmalloc(sizeof(*d->tr));
    struct px_dtrace *tr = d->tr;
    struct gw_trace_span *s = &tr->span;
    tr->on = true;
    tr->aborted = false;
    tr->state_len = 0;
    const struct gw_h1_header *tp = field(req, "traceparent");
    struct gw_trace_ctx parent;
    if (tp && gw_trace_ctx_parse(&parent, tp->value.p, tp->value.len) == 0) {
        memcpy(s->trace_id, parent.trace_id, 16);
        memcpy(s->parent_id, parent.span_id, 8);
        s->has_parent = true;
        s->flags = parent.flags & GW_TRACE_FLAG_SAMPLED; /* parent-based */
        /* tracestate belongs to a valid traceparent only (W3C 3.3.1). */
        const struct gw_h1_header *ts = field(req, "tracestate");
        if (ts && gw_trace_state_is_valid(ts->value.p, ts->value.len)) {
            memcpy(tr->state, ts->value.p, ts->value.len);
            tr->state_len = ts->value.len;
        }
    } else {
        gw_trace_rng_trace_id(&tw->rng, s->trace_id);
        memset(s->parent_id, 0, 8);
        s->has_parent = false;
        s->flags = gw_trace_rng_sample(&tw->rng, tw->t->threshold) ? GW_TRACE_FLAG_SAMPLED : 0;
    }
    gw_trace_rng_span_id(&tw->rng, s->span_id);
    if (!(s->flags & GW_TRACE_FLAG_SAMPLED))
        return;
    s->start_ns = real_ns();
    s->https = d->tls;
    s->proto = d->stream ? 20 : req->minor_version == 0 ? 10 : 11;
    s->server_port = d->port;
    copy_str(s->method, sizeof(s->method), req->method);
    struct gw_str path = req->path;
    const char *q = path.len ? memchr(path.p, '?', path.len) : NULL;
    if (q)
        path.len = (size_t)(q - path.p);
    copy_str(s->path, sizeof(s->path), path);
    struct gw_str host = req->authority.len ? req->authority : req->host;
    /* server.address without the port (a literal [v6] keeps its brackets) */
    for (size_t i = host.len; i-- > 0;) {
        if (host.p[i] == ']')
            break;
        if (host.p[i] == ':') {
            host.len = i;
            break;
        }
    }
    copy_str(s->host, sizeof(s->host), host);
    const struct gw_h1_header *ua = field(req, "user-agent");
    copy_str(s->user_agent, sizeof(s->user_agent), ua ? ua->value : GW_STR_NULL);
}

size_t
px_trace_fields(const struct px_dconn *d, char *out, size_t cap)
{
    const struct px_dtrace *tr = d->tr;
    if (!tr || !tr->on)
        return 0;
    struct gw_trace_ctx c;
    memcpy(c.trace_id, tr->span.trace_id, 16);
    memcpy(c.span_id, tr->span.span_id, 8);
    c.flags = tr->span.flags;
    char tp[GW_TRACE_PARENT_LEN + 1];
    gw_trace_ctx_format(&c, tp);
    int n = tr->state_len ? snprintf(out, cap, "traceparent: %s\r\ntracestate: %.*s\r\n", tp,
                                     (int)tr->state_len, tr->state)
                          : snprintf(out, cap, "traceparent: %s\r\n", tp);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void
px_trace_abort(struct px_dconn *d)
{
    if (d->tr)
        d->tr->aborted = true;
}

void
px_trace_finish(struct px_dconn *d)
{
    struct px_dtrace *tr = d->tr;
    if (!tr->on) /* already ended (a tunnel, then its close), or not traced */
        return;
    tr->on = false;
    struct gw_trace_span *s = &tr->span;
    if (!(s->flags & GW_TRACE_FLAG_SAMPLED))
        return;
    s->end_ns = real_ns();
    s->status = d->status;
    copy_str(s->client, sizeof(s->client), gw_str_from(d->client_ip));
    const char *route = d->route ? d->route->route : NULL;
    copy_str(s->route, sizeof(s->route), route ? gw_str_from(route) : GW_STR_NULL);
    if (tr->aborted)
        snprintf(s->error_type, sizeof(s->error_type), "aborted");
    else if (d->status >= 500)
        snprintf(s->error_type, sizeof(s->error_type), "%d", d->status);
    else
        s->error_type[0] = '\0';
    struct px_tw *tw = d->w->tw;
    struct ring *r = tw->ring;
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (tail - head >= RING_CAP) {
        atomic_fetch_add_explicit(&tw->t->dropped_queue, 1, memory_order_relaxed);
        return;
    }
    r->v[tail & (RING_CAP - 1)] = *s;
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

void
px_trace_dconn_free(struct px_dconn *d)
{
    free(d->tr);
    d->tr = NULL;
}

/* ------------------------------------------------------------------------ */
/* The exporter thread                                                       */

/* Waits for fd to be ready for events until deadline (mono ms). */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline)
            return GW_ETIMEOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)(deadline - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

/* One POST of t->body; 0 when the collector answered 2xx. */
static int
post(struct px_tracer *t)
{
    char port[8], head[768];
    snprintf(port, sizeof(port), "%u", t->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(t->host, port, &hints, &ai) != 0 || !ai)
        return GW_EINVAL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -errno : 0;
    uint64_t deadline = mono_ms() + IO_TIMEOUT_MS;
    if (rc == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        rc = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline) : -errno;
        int err = 0;
        socklen_t el = sizeof(err);
        if (rc == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err))
            rc = err ? -err : -errno;
    }
    freeaddrinfo(ai);
    if (rc < 0)
        goto out;
    int hn = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      t->path, t->host, t->port, t->body.len);
    const char *parts[2] = {head, t->body.p};
    size_t lens[2] = {(size_t)hn, t->body.len};
    for (int i = 0; i < 2 && rc == 0; i++) {
        size_t off = 0;
        while (off < lens[i] && rc == 0) {
            ssize_t w = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && (errno == EAGAIN || errno == EINTR))
                rc = wait_fd(fd, POLLOUT, deadline);
            else
                rc = w < 0 ? -errno : GW_ECLOSED;
        }
    }
    /* The status line decides ("HTTP/1.x 2xx"); the rest is read to the
     * collector's close (Connection: close), so that it is not reset
     * mid-answer, within the deadline and 64 KiB. */
    char resp[512];
    size_t got = 0, total = 0;
    while (rc == 0 && total < (64u << 10)) {
        ssize_t n = recv(fd, resp + got, sizeof(resp) - got, 0);
        if (n > 0) {
            total += (size_t)n;
            got = GW_MIN(got + (size_t)n, sizeof(resp) - 1);
            if (got == sizeof(resp) - 1)
                got = 16; /* keep the status line, reuse the rest */
        } else if (n == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            rc = wait_fd(fd, POLLIN, deadline);
        } else {
            rc = -errno;
        }
    }
    if (rc == 0 && (total < 12 || memcmp(resp, "HTTP/1.", 7) != 0 || resp[9] != '2'))
        rc = GW_EPROTO;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void
flush(struct px_tracer *t)
{
    if (!t->npending)
        return;
    t->body.len = 0;
    int rc = gw_trace_export_format(&t->body, t->service, t->pending, t->npending);
    if (rc == 0)
        rc = post(t);
    if (rc == 0) {
        atomic_fetch_add_explicit(&t->exported, t->npending, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&t->errors, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->dropped_export, t->npending, memory_order_relaxed);
    }
    t->npending = 0;
}

/* Moves queued spans into pending, up to a batch. */
static void
drain(struct px_tracer *t)
{
    for (unsigned i = 0; i < t->nrings && t->npending < t->batch; i++) {
        struct ring *r = &t->rings[i];
        size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        while (head != tail && t->npending < t->batch)
            t->pending[t->npending++] = r->v[head++ & (RING_CAP - 1)];
        atomic_store_explicit(&r->head, head, memory_order_release);
    }
}

static void *
exporter_main(void *arg)
{
    struct px_tracer *t = arg;
    uint64_t first_at = 0; /* when the oldest pending span was taken */
    for (;;) {
        struct pollfd pfd = {.fd = t->stopfd, .events = POLLIN};
        bool stop = poll(&pfd, 1, TICK_MS) > 0;
        size_t before = t->npending;
        drain(t);
        if (!before && t->npending)
            first_at = mono_ms();
        if (stop) {
            flush(t); /* one last batch, then what is still queued is lost */
            return NULL;
        }
        if (t->npending >= t->batch ||
            (t->npending && mono_ms() - first_at + TICK_MS >= t->interval_ms))
            flush(t);
    }
}

int
px_tracer_start(struct gw_proxy *p)
{
    struct px_tracer *t = p->tracer;
    if (!t)
        return 0;
    t->stopfd = eventfd(0, EFD_CLOEXEC);
    if (t->stopfd < 0)
        return -errno;
    if (pthread_create(&t->thread, NULL, exporter_main, t) != 0)
        return GW_ENOMEM;
    t->started = true;
    return 0;
}

void
px_tracer_stop(struct gw_proxy *p)
{
    struct px_tracer *t = p->tracer;
    if (!t || !t->started)
        return;
    uint64_t one = 1;
    ssize_t r = write(t->stopfd, &one, sizeof(one));
    (void)r;
    pthread_join(t->thread, NULL);
    t->started = false;
}

void
px_tracer_free(struct gw_proxy *p)
{
    struct px_tracer *t = p->tracer;
    if (!t)
        return;
    px_tracer_stop(p);
    if (t->stopfd >= 0)
        close(t->stopfd);
    for (unsigned i = 0; i < t->nrings; i++)
        free(t->rings[i].v);
    free(t->rings);
    free(t->tws);
    free(t->pending);
    gw_buf_release(&t->body);
    free(t);
    p->tracer = NULL;
}

int
px_tracer_metrics_format(const struct gw_proxy *p, struct gw_buf *out)
{
    const struct px_tracer *t = p->tracer;
#define TV(f) (unsigned long long)(t ? atomic_load_explicit(&t->f, memory_order_relaxed) : 0)
    return gw_buf_appendf(
        out,
        "# HELP gatehouse_trace_spans_exported_total Spans the OTLP collector accepted.\n"
        "# TYPE gatehouse_trace_spans_exported_total counter\n"
        "gatehouse_trace_spans_exported_total %llu\n"
        "# HELP gatehouse_trace_spans_dropped_total Sampled spans lost, by reason (a worker's "
        "queue was full, or their batch could not be exported).\n"
        "# TYPE gatehouse_trace_spans_dropped_total counter\n"
        "gatehouse_trace_spans_dropped_total{reason=\"queue_full\"} %llu\n"
        "gatehouse_trace_spans_dropped_total{reason=\"export_failed\"} %llu\n"
        "# HELP gatehouse_trace_export_errors_total Batches the collector did not accept "
        "(connect or I/O error, timeout, non-2xx answer).\n"
        "# TYPE gatehouse_trace_export_errors_total counter\n"
        "gatehouse_trace_export_errors_total %llu\n",
        TV(exported), TV(dropped_queue), TV(dropped_export), TV(errors));
#undef TV
}
