/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client connection state machine. One request at a time per
 * connection: pipelined requests wait in the input buffer until the
 * response before them is complete, so responses leave in order.
 *
 *   HEAD    read until gw_h1_head_is_ready, parse, route, apply filters;
 *           answer locally (errors, redirects, CORS preflights) or build
 *           the upstream request head into `replay` and start an attempt
 *   PROXY   the request body streams client -> upstream (re-framed), the
 *           response streams upstream -> client (re-framed); each side
 *           stops reading while the other side's output is above PX_HIGH
 *   TUNNEL  after a 101: bytes both ways, snapshot and upstream kept
 *   LINGER  the last response is out: write side shut, input dropped
 *           until EOF or PX_LINGER_MS, so the peer reads the response
 *           before any reset
 *
 * Retries replay `replay` (the upstream request bytes sent so far; while it
 * fits PX_REPLAY_MAX) on a new connection: once on a stale pooled
 * connection for an idempotent request, and as the route's retry policy
 * says (connection errors and listed status codes, with backoff).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/internal.h"

#include "base/banned.h"

static const struct gw_h1_limits px_limits = GW_H1_LIMITS_INIT;

static void d_update(struct px_dconn *d);
static void d_flush(struct px_dconn *d);
static void head_loop(struct px_dconn *d);
static void start_attempt(struct px_dconn *d);
static void pump_request_body(struct px_dconn *d);
static void pump_response(struct px_dconn *d);
static void tunnel_pump(struct px_dconn *d);
static void on_dio(struct gw_io *io, unsigned events);
static bool splice_try(struct px_dconn *d);
static void splice_end(struct px_dconn *d, bool own_u);
static bool splice_begin(struct px_dconn *d, enum px_splice mode);
static bool splice_ok(const struct px_dconn *d, enum px_splice mode);
static void req_splice(struct px_dconn *d);
static void rsp_splice(struct px_dconn *d);
static void client_eof(struct px_dconn *d);
static bool early_finish(struct px_dconn *d);
static void early_abandon(struct px_dconn *d);

/* Bodies shorter than this are copied through the buffers (see "Bodies
 * spliced"). */
#define PX_SPLICE_MIN (64 * 1024)
/* The capacity asked for a body's pipe (see "Bodies spliced"). */
#define PX_PIPE_SIZE (256 * 1024)

static inline void
bump(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static inline void
drop(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - 1,
                          memory_order_relaxed);
}

/* The socket, through TLS when the connection has it. */
static inline ssize_t
d_recv(struct px_dconn *d, void *buf, size_t n)
{
    if (d->ssl)
        return px_tls_recv(d, buf, n);
    return gw_io_recv(&d->io, buf, n);
}

static inline ssize_t
d_send(struct px_dconn *d, const void *buf, size_t n)
{
    if (d->ssl)
        return px_tls_send(d, buf, n);
    return gw_io_send(&d->io, buf, n);
}

static void
d_shutdown_write(struct px_dconn *d)
{
    if (d->ssl)
        px_tls_shutdown(d);
    gw_io_shutdown_write(&d->io);
}

static uint64_t
now_ms(const struct px_dconn *d)
{
    return gw_loop_now(d->w->loop);
}

static const struct gw_proxy_opts *
opts(const struct px_dconn *d)
{
    return &d->w->p->o;
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                  */

#define STREAM_CACHE_MAX 1024u /* 2.6 MiB: 500 gRPC calls in flight kept missing 64 */

void
px_dconn_cache_free(struct px_worker *w)
{
    px_freelist_clear(&w->stream_cache);
}

static void
on_dclosed(struct gw_io *io)
{
    struct px_dconn *d = io->data;
    struct px_worker *w = d->w;
    if (d->stream) {
        px_buf_release(&d->in);
        px_buf_release(&d->out);
        px_buf_release(&d->replay);
        px_buf_release(&d->cors);
        px_buf_release(&d->ea_set);
        px_trace_dconn_free(d);
        px_freelist_put(&w->stream_cache, d, STREAM_CACHE_MAX);
        return;
    }
    px_h2_free(d);
    if (d->prev)
        d->prev->next = d->next;
    else
        w->conns = d->next;
    if (d->next)
        d->next->prev = d->prev;
    w->nconns--;
    drop(&w->m->conns_active[d->mport]);
    px_buf_release(&d->in);
    px_buf_release(&d->out);
    px_buf_release(&d->replay);
    px_buf_release(&d->cors);
    px_buf_release(&d->ea_set);
    px_tls_release(d);
    px_trace_dconn_free(d);
    if (d->pipe) {
        gw_pipe_release(d->pipe);
        free(d->pipe);
    }
    free(d);
    px_worker_conn_closed(w);
}

static void
release_request(struct px_dconn *d)
{
    splice_end(d, true);
    d->rsp_early = false;
    if (d->rlg_wait)
        px_rlg_cancel(d);
    if (d->ea_call)
        px_ea_cancel(d);
    d->ea_passed = false;
    gw_timer_stop(&d->ttimer);
    if (d->closing || d->stream) {
        gw_timer_stop(&d->btimer);
    } else {
        /* Muted, not stopped: the next request's attempt only moves its
         * deadline later, which touches neither its node nor its heap
         * entry (a stop and a start would touch both, cold lines with many
         * connections, per request). px_dconn_close stops it for good. */
        gw_timer_mute(&d->btimer);
    }
    for (unsigned i = 0; i < PX_MAX_MIRRORS; i++) {
        /* the mirror never got the whole body: it must not see a request */
        if (d->mirrors[i])
            px_uconn_close(d->mirrors[i]); /* clears the slot */
    }
    if (GW_UNLIKELY(d->zip)) {
        px_zip_free(d->zip);
        d->zip = NULL;
    }
    px_wsnap_unref(d->snap);
    d->snap = NULL;
    d->route = NULL;
    d->listener = NULL;
    d->iport = NULL;
    d->backend = NULL;
}

void
px_dconn_close(struct px_dconn *d)
{
    if (d->closing)
        return;
    d->closing = true;
    gw_timer_stop(&d->rtimer);
    gw_timer_stop(&d->wtimer);
    gw_timer_stop(&d->ktimer);
    if (d->u) {
        px_uconn_close(d->u);
        d->u = NULL;
    }
    release_request(d);
    if (d->h2s)
        px_h2_stream_detach(d);
    gw_io_close(&d->io, on_dclosed);
}

static void
linger_start(struct px_dconn *d)
{
    d->mode = PX_D_LINGER;
    d_shutdown_write(d);
    if (d->read_eof) {
        px_dconn_close(d);
        return;
    }
    px_buf_consume(&d->in, px_buf_avail(&d->in));
    gw_timer_start(&d->rtimer, PX_LINGER_MS);
    d_update(d);
}

/* The response is (or will be) complete: close once it is flushed. */
static void
close_after_flush(struct px_dconn *d)
{
    d->close_after = true;
    d->mode = PX_D_LINGER;
    gw_timer_stop(&d->rtimer);
    if (px_buf_avail(&d->out) == 0)
        linger_start(d);
    else
        d_flush(d);
}

void
px_dconn_drain(struct px_dconn *d)
{
    if (d->h2) {
        px_h2_drain(d);
        return;
    }
    if (d->mode == PX_D_HEAD && px_buf_avail(&d->in) == 0 && !d->snap)
        close_after_flush(d);
    else
        d->keep_alive = false; /* closes after the current response */
}

/* ------------------------------------------------------------------------ */
/* Output to the client                                                      */

static void
d_update(struct px_dconn *d)
{
    if (d->closing)
        return;
    if (d->stream) {
        px_h2_stream_update(d);
        return;
    }
    unsigned ev = 0;
    if (d->ssl && d->hs) {
        gw_io_set(&d->io, d->tls_want ? d->tls_want : GW_LOOP_READ);
        return;
    }
    size_t in = px_buf_avail(&d->in);
    if (d->h2 && d->mode != PX_D_LINGER) {
        ev = px_h2_interest(d);
    } else if (!d->read_eof) {
        switch (d->mode) {
        case PX_D_HEAD:
            if (in < PX_IN_MAX && px_buf_avail(&d->out) < PX_HIGH)
                ev |= GW_LOOP_READ;
            break;
        case PX_D_PROXY:
            if (!d->req_done ? in < PX_HIGH : in < PX_IN_MAX)
                ev |= GW_LOOP_READ;
            if (GW_UNLIKELY(d->spl == PX_SPL_REQ)) {
                /* the body comes through the pipe, while it has room */
                ev &= ~(unsigned)GW_LOOP_READ;
                if (d->qremain && !d->spl_full && d->pipe->len < d->pipe->cap)
                    ev |= GW_LOOP_READ;
            } else if (GW_UNLIKELY(d->spl_want == PX_SPL_REQ) && !gw_io_is_owned(&d->io) && d->u &&
                       gw_io_is_owned(&d->u->io)) {
                ev &= ~(unsigned)GW_LOOP_READ; /* the rest waits for the upstream's socket */
            }
            break;
        case PX_D_TUNNEL:
            if (in < PX_HIGH)
                ev |= GW_LOOP_READ;
            break;
        case PX_D_LINGER:
            ev |= GW_LOOP_READ;
            break;
        }
    }
    if (px_buf_avail(&d->out) || (GW_UNLIKELY(d->spl == PX_SPL_RSP) && d->pipe->len))
        ev |= GW_LOOP_WRITE;
    if (d->ssl && (ev & GW_LOOP_READ)) {
        /* A read that needs a write first; plaintext OpenSSL holds that no
         * socket event will announce. */
        if (d->tls_want == GW_LOOP_WRITE)
            ev |= GW_LOOP_WRITE;
        if (px_tls_has_pending(d) && !gw_timer_is_active(&d->ktimer))
            gw_timer_start(&d->ktimer, 0);
    }
    gw_io_set(&d->io, ev);
}

static void after_flush(struct px_dconn *d);

static void
d_flush(struct px_dconn *d)
{
    if (d->closing)
        return;
    if (d->stream) {
        /* The codec takes d->out as the peer's window allows and calls
         * px_dconn_after_flush when room is made. */
        px_h2_stream_out(d);
        if (px_buf_avail(&d->out) && !gw_timer_is_active(&d->wtimer)) {
            d->sent_in_window = 0;
            gw_timer_start(&d->wtimer, opts(d)->send_timeout_ms);
        }
        if (!d->closing)
            after_flush(d);
        return;
    }
    if (GW_UNLIKELY(d->spl == PX_SPL_RSP)) {
        rsp_splice(d); /* d->out is empty while the body goes through the pipe */
        return;
    }
    while (px_buf_avail(&d->out)) {
        ssize_t w = d_send(d, px_buf_data(&d->out), px_buf_avail(&d->out));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            px_dconn_close(d);
            return;
        }
        px_buf_consume(&d->out, (size_t)w);
        d->sent_in_window += (size_t)w;
    }
    if (px_buf_avail(&d->out) == 0) {
        gw_timer_stop(&d->wtimer);
        d->sent_in_window = 0;
        if (d->close_after && d->mode == PX_D_LINGER && !gw_timer_is_active(&d->rtimer)) {
            linger_start(d);
            return;
        }
    } else if (!gw_timer_is_active(&d->wtimer)) {
        d->sent_in_window = 0;
        gw_timer_start(&d->wtimer, opts(d)->send_timeout_ms);
    }
    if (d->h2 && d->mode != PX_D_LINGER) {
        px_h2_flushed(d);
        if (!d->closing)
            d_update(d);
        return;
    }
    after_flush(d);
}

/* What a flush makes possible: more response from the upstream, the next
 * pipelined request. */
static void
after_flush(struct px_dconn *d)
{
    if (GW_UNLIKELY(d->spl_want) && splice_try(d))
        return;
    if (d->stream && px_buf_avail(&d->out) == 0)
        gw_timer_stop(&d->wtimer);
    if (d->mode == PX_D_PROXY && d->u && d->u->read_paused && !d->pumping &&
        px_buf_avail(&d->out) < PX_HIGH) {
        d->u->read_paused = false;
        pump_response(d);
        return;
    }
    if (d->mode == PX_D_TUNNEL && !d->pumping) {
        tunnel_pump(d);
        return;
    }
    if (d->mode == PX_D_HEAD && !d->in_head_loop && px_buf_avail(&d->in) &&
        px_buf_avail(&d->out) < PX_HIGH) {
        head_loop(d);
        return;
    }
    d_update(d);
}

/* ------------------------------------------------------------------------ */
/* Ending a request                                                          */

static void
end_request(struct px_dconn *d, bool close)
{
    px_access_log(d);
    release_request(d);
    d->rsp_done = true;
    if (d->stream) {
        /* One request per stream: the codec ends it once d->out is out. */
        d->mode = PX_D_LINGER;
        gw_timer_stop(&d->rtimer);
        px_buf_consume(&d->in, px_buf_avail(&d->in));
        d_flush(d);
        return;
    }
    if (close || d->w->draining || d->read_eof) {
        close_after_flush(d);
        return;
    }
    d->mode = PX_D_HEAD;
    d->got_first_byte = px_buf_avail(&d->in) > 0;
    d->head_checked = 0;
    if (d->got_first_byte) {
        d->head_deadline = now_ms(d) + opts(d)->header_timeout_ms;
        d->idle_deadline = 0;
        gw_timer_start(&d->rtimer, opts(d)->header_timeout_ms);
    } else {
        /* Armed to the earlier of the two: the next request's first bytes
         * then only move the deadline later (the header timeout), which
         * costs no heap work, where an earlier one would re-key and sift
         * its entry, per request. An idle connection's timer fires early
         * once and is re-armed to the idle deadline (on_rtimer). */
        uint64_t idle = opts(d)->idle_timeout_ms;
        d->idle_deadline = now_ms(d) + idle;
        gw_timer_start(&d->rtimer, GW_MIN(idle, opts(d)->header_timeout_ms));
    }
    d_flush(d);
}

static void
local_reply(struct px_dconn *d, int status, struct gw_str extra, struct gw_str body,
            bool force_close)
{
    bool close = force_close || !d->keep_alive || !d->req_done || d->read_eof || d->w->draining;
    if (d->u) {
        px_uconn_close(d->u);
        d->u = NULL;
    }
    if (d->status_local_sent)
        return;
    d->status = status;
    d->local = true;
    size_t before = px_buf_avail(&d->out);
    if (px_local_response_format(&d->out, status, extra, body, close,
                                 d->method == GW_H1_METHOD_HEAD) < 0) {
        px_dconn_close(d);
        return;
    }
    d->bytes_out = px_buf_avail(&d->out) - before;
    px_metrics_response(d, status, true);
    end_request(d, close);
}

static void
error_reply(struct px_dconn *d, int status, bool close)
{
    const char *reason = gw_h1_status_reason(status);
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, reason);
    local_reply(d, status, GW_STR_NULL, (struct gw_str){body, (size_t)n}, close);
}

/* The response cannot be completed: the client connection is cut. */
static void
abort_request(struct px_dconn *d)
{
    if (d->u) {
        px_uconn_close(d->u);
        d->u = NULL;
    }
    if (!d->status)
        d->status = 502;
    px_trace_abort(d);
    px_access_log(d);
    /* A reset, so the client sees the truncation at once instead of
     * reading what is still queued and then a clean EOF. */
    if (!d->closing && !d->stream)
        gw_sock_set_reset_on_close(d->io.fd);
    px_dconn_close(d);
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */

static void
on_rtimer(struct gw_timer *t)
{
    struct px_dconn *d = t->data;
    if (d->h2 && d->mode != PX_D_LINGER) {
        px_h2_timeout(d);
        return;
    }
    switch (d->mode) {
    case PX_D_HEAD:
        if (px_buf_avail(&d->in) == 0 && !d->got_first_byte && d->idle_deadline > now_ms(d)) {
            gw_timer_start(&d->rtimer, d->idle_deadline - now_ms(d)); /* see end_request */
            return;
        }
        if (px_buf_avail(&d->in) > 0) {
            d->keep_alive = false;
            d->req_done = true;
            d->method = GW_H1_METHOD_OTHER;
            error_reply(d, 408, true);
        } else {
            px_dconn_close(d); /* idle keep-alive or silent connection */
        }
        return;
    case PX_D_PROXY:
        if (!d->req_done) {
            /* The body stalled (between reads, or past the whole-request
             * deadline). The upstream never sees the rest. */
            if (!d->rsp_started)
                error_reply(d, 408, true);
            else
                abort_request(d);
        }
        return;
    case PX_D_TUNNEL: {
        uint64_t due = d->tunnel_last + opts(d)->tunnel_idle_timeout_ms;
        if (due > now_ms(d)) {
            gw_timer_start(&d->rtimer, due - now_ms(d));
            return;
        }
        px_dconn_close(d); /* no byte either way for the tunnel idle timeout */
        return;
    }
    default:
        px_dconn_close(d);
        return;
    }
}

static void
on_wtimer(struct gw_timer *t)
{
    struct px_dconn *d = t->data;
    if (d->h2 && d->sent_in_window < PX_MIN_SEND) {
        px_dconn_close(d); /* the peer stopped reading frames */
        return;
    }
    /* A client that takes less than PX_MIN_SEND bytes per send timeout
     * (stopped reading, or reads a trickle: hostile
     * slow-read-large-response) is cut; the upstream with it. */
    if (d->sent_in_window >= PX_MIN_SEND &&
        (px_buf_avail(&d->out) || (d->spl == PX_SPL_RSP && d->pipe->len))) {
        d->sent_in_window = 0;
        gw_timer_start(&d->wtimer, opts(d)->send_timeout_ms);
        return;
    }
    abort_request(d);
}

static void
on_ttimer(struct gw_timer *t)
{
    struct px_dconn *d = t->data;
    /* HTTPRoute timeouts.request: the whole request, retries included. */
    if (d->mode != PX_D_PROXY)
        return;
    if (!d->rsp_started) {
        if (d->u && d->backend)
            px_ep_report(d->u->ep, true, opts(d)->eject_consecutive, opts(d)->eject_ms, now_ms(d));
        error_reply(d, 504, false);
    } else {
        abort_request(d);
    }
}

static void
body_timer(struct px_dconn *d)
{
    uint64_t now = now_ms(d);
    uint64_t t = opts(d)->body_timeout_ms;
    if (d->body_deadline) {
        uint64_t left = d->body_deadline > now ? d->body_deadline - now : 0;
        if (left < t)
            t = left;
    }
    gw_timer_start(&d->rtimer, t);
}

/* ------------------------------------------------------------------------ */
/* Attempts and retries                                                      */

static bool
is_idempotent(enum gw_h1_method m)
{
    switch (m) {
    case GW_H1_METHOD_GET:
    case GW_H1_METHOD_HEAD:
    case GW_H1_METHOD_PUT:
    case GW_H1_METHOD_DELETE:
    case GW_H1_METHOD_OPTIONS:
    case GW_H1_METHOD_TRACE:
        return true;
    default:
        return false;
    }
}

/* XBackendTrafficPolicy: whether the backend's retry budget lets this
 * retry be made (and counts it); a refusal is counted and marked: the
 * client then gets 503, as the spec has it ("additional retries to the
 * backend MUST return a 503 response to the client"). */
static __attribute__((noinline, cold)) bool
budget_admit(struct px_dconn *d)
{
    const struct px_rb *rb = d->snap->s->rb;
    const struct gw_ir_backend *b = d->backend;
    if (!rb || !b || b->id >= rb->n || !rb->v[b->id] || !b->retry_budget)
        return true;
    if (px_rb_retry_take(rb->v[b->id], b->retry_budget))
        return true;
    bump(&d->w->m->rb_refused);
    d->budget_refused = true;
    return false;
}

/* A request to a backend under a retry budget: what its percent is of. */
static __attribute__((noinline, cold)) void
budget_request(const struct px_dconn *d, const struct gw_ir_backend *b)
{
    const struct px_rb *rb = d->snap->s->rb;
    if (rb && b->id < rb->n && rb->v[b->id])
        px_rb_request(rb->v[b->id], b->retry_budget);
}

/* Whether the route's retry policy makes another attempt; true commits to
 * it (schedule_retry follows): a retry budget counts it. */
static bool
route_retry_left(struct px_dconn *d)
{
    return d->route && d->route->retry_attempts > 0 && d->attempts <= d->route->retry_attempts &&
           d->replay_ok && (GW_LIKELY(!d->backend || !d->backend->retry_budget) || budget_admit(d));
}

static void
schedule_retry(struct px_dconn *d)
{
    bump(&d->w->m->retries);
    int64_t b = d->route->retry_backoff_ms;
    if (b < 0)
        b = 25;
    d->in_backoff = true;
    gw_timer_start(&d->btimer, (uint64_t)b);
}

/* What went wrong with an attempt before any response byte reached the
 * client. */
enum fail_kind { FAIL_CONNECT, FAIL_IO, FAIL_TIMEOUT, FAIL_PROTO };

static void
attempt_failed(struct px_dconn *d, enum fail_kind kind)
{
    struct px_uconn *u = d->u;
    bool reused = u && u->reused, got = u && u->got_bytes;
    splice_end(d, false);
    if (u) {
        px_ep_report(u->ep, true, opts(d)->eject_consecutive, opts(d)->eject_ms, now_ms(d));
        px_uconn_close(u);
        d->u = NULL;
    }
    gw_timer_stop(&d->btimer);
    if (d->rsp_started) {
        abort_request(d);
        return;
    }
    if (kind != FAIL_TIMEOUT && kind != FAIL_PROTO && reused && !got && !d->stale_retry_used &&
        d->replay_ok && is_idempotent(d->method)) {
        /* A pooled connection the upstream had closed: try once more now. */
        d->stale_retry_used = true;
        d->attempts--;
        start_attempt(d);
        return;
    }
    if (kind != FAIL_PROTO && route_retry_left(d)) {
        schedule_retry(d);
        return;
    }
    int status = d->budget_refused      ? 503
                 : kind == FAIL_TIMEOUT ? 504
                 : kind == FAIL_CONNECT ? 503
                                        : 502;
    error_reply(d, status, false);
}

void
px_dconn_on_upstream_error(struct px_dconn *d, int err, bool timeout)
{
    (void)err;
    attempt_failed(d, timeout ? FAIL_TIMEOUT : FAIL_CONNECT);
}

static void
on_btimer(struct gw_timer *t)
{
    struct px_dconn *d = t->data;
    if (d->mode != PX_D_PROXY)
        return;
    if (d->in_backoff) {
        d->in_backoff = false;
        start_attempt(d);
        return;
    }
    /* HTTPRoute timeouts.backendRequest (or the response timeout): this
     * attempt took too long. */
    attempt_failed(d, FAIL_TIMEOUT);
}

/* An XBackend's endpoints: the resolver's answer as of now, copied when it
 * moved (under the name's lock, off the common path). */
static __attribute__((noinline, cold)) void
dns_state(struct px_worker *w, struct px_bstate *bs, struct px_dns_name *dn, uint16_t port,
          uint64_t gen)
{
    free(bs->eps);
    bs->eps = NULL;
    bs->one = NULL;
    pthread_mutex_lock(&dn->mu);
    bs->gen = px_bstate_dns_gen(gen, atomic_load_explicit(&dn->version, memory_order_relaxed));
    bs->n = (uint32_t)dn->n;
    if (bs->n > 1)
        bs->eps = gw_xcalloc(bs->n, sizeof(*bs->eps));
    for (size_t i = 0; i < bs->n; i++) {
        struct px_ep *ep = px_ep_table_get(&w->eps, dn->ips[i], port);
        if (bs->n == 1)
            bs->one = ep;
        else
            bs->eps[i] = ep;
    }
    pthread_mutex_unlock(&dn->mu);
    bs->cursor = 0;
}

static struct px_bstate *
backend_state(struct px_dconn *d, const struct gw_ir_backend *b)
{
    struct px_worker *w = d->w;
    struct px_bstate *bs = px_rr_table_slot(&w->rr, b->id);
    uint64_t gen = d->snap->s->gen;
    if (GW_UNLIKELY(b->dns_host != NULL)) {
        struct px_dns_name *dn = px_dns_of(d->snap->s->dns, b);
        if (!dn) {
            bs->n = 0;
            bs->gen = 0;
            return bs;
        }
        uint64_t want =
            px_bstate_dns_gen(gen, atomic_load_explicit(&dn->version, memory_order_acquire));
        if (bs->gen != want)
            dns_state(w, bs, dn, b->dns_port, gen);
        return bs;
    }
    if (bs->gen != gen) {
        free(bs->eps);
        bs->eps = NULL;
        bs->one = NULL;
        bs->n = (uint32_t)b->nendpoints;
        if (bs->n > 1)
            bs->eps = gw_xcalloc(bs->n, sizeof(*bs->eps));
        for (size_t i = 0; i < bs->n; i++) {
            struct px_ep *ep = px_ep_table_get(&w->eps, b->endpoints[i].ip, b->endpoints[i].port);
            if (bs->n == 1)
                bs->one = ep;
            else
                bs->eps[i] = ep;
        }
        bs->gen = gen;
    }
    return bs;
}

/* Session persistence: the backend of r the request's live token names an
 * endpoint of, that endpoint not ejected (d->sticky then holds it for the
 * first attempt); NULL for a request without one, whose response then
 * starts a session. Cold and apart: the requests of other routes pay one
 * test of r->session and nothing of this (not even its size in the
 * inlining of their path). */
static __attribute__((noinline, cold)) const struct gw_ir_backend *
session_backend(struct px_dconn *d, const struct gw_h1_request *req, const struct gw_ir_route *r)
{
    const struct px_sess *ss = d->snap->s->sess;
    uint64_t now = px_session_now_ms();
    d->sess_created = now;
    d->sess_tag = 0;
    if (!ss || r->session->id >= ss->nkeys || !ss->keys[r->session->id])
        return NULL;
    struct px_session_token tok;
    if (!px_session_request_token(r->session, ss->keys[r->session->id], req->headers, req->nheaders,
                                  now, &tok))
        return NULL;
    size_t ei;
    int bi = px_sess_find(ss, r, tok.tag, &ei);
    if (bi < 0)
        return NULL; /* an endpoint that is gone: a new one, a new session */
    const struct gw_ir_backend *b = &r->backends[bi];
    struct px_ep *ep = px_ep_table_get(&d->w->eps, b->endpoints[ei].ip, b->endpoints[ei].port);
    if (gw_l4_ep_is_ejected(&ep->base, now_ms(d)) ||
        px_hc_is_down(px_hc_states(d->snap->s->hc, b), ei))
        return NULL;
    d->sticky = ep;
    d->sess_created = tok.created_ms;
    d->sess_tag = tok.tag;
    return b;
}

/* Session persistence: px_response_head_format with the field carrying
 * the token of the endpoint that answered among ro's extra fields, unless
 * the token the client sent still says all of it (a cookie, no
 * idleTimeout to refresh). The field is this attempt's: d->cors is put
 * back after. */
static __attribute__((noinline, cold)) int
session_head_format(struct px_dconn *d, struct px_rsp_out *ro)
{
    size_t before = px_buf_avail(&d->cors);
    const struct gw_ir_session *s = d->route->session;
    const struct px_sess *ss = d->snap->s->sess;
    const struct gw_ir_backend *b = d->backend;
    uint64_t tag = 0;
    if (ss && s->id < ss->nkeys && ss->keys[s->id] && b && d->up_ep) {
        size_t i = 0;
        while (i < b->nendpoints && (b->endpoints[i].port != d->up_ep->base.port ||
                                     strcmp(b->endpoints[i].ip, d->up_ep->base.ip)))
            i++;
        tag = px_sess_tag_of(ss, b, i);
    }
    uint64_t now = px_session_now_ms();
    bool same = tag == d->sess_tag;
    if (tag && !(same && s->type == GW_IR_SESSION_COOKIE && s->idle_ms < 0)) {
        struct px_session_token tok = {
            .tag = tag,
            .created_ms = same ? d->sess_created : now,
            .used_ms = now,
        };
        char t[PX_SESSION_TOKEN_LEN];
        px_session_token_format(ss->keys[s->id], &tok, t);
        px_session_field_format(s, t, tok.created_ms, now, d->tls, &d->cors);
        ro->extra = (struct gw_str){px_buf_data(&d->cors), px_buf_avail(&d->cors)};
    }
    int rc = px_response_head_format(ro, &d->out);
    d->cors.len = d->cors.off + before;
    return rc;
}

/* A LoadBalancerPolicy's pick. Cold and apart, as session_backend. */
static __attribute__((noinline, cold)) int
pick_policy(struct px_dconn *d, const struct gw_ir_backend *b, struct px_bstate *bs,
            struct px_hc_ep *const *hs)
{
    const struct px_bpol *bp = d->snap->s->bpol;
    struct px_lb_req q = {
        .lb = b->lb,
        .mg = bp && b->id < bp->n ? bp->v[b->id] : NULL,
        /* The first attempt follows the key; a retry balances as usual. */
        .hashed = b == d->backend && d->lb_hashed && d->attempts <= 1,
        .hash = d->lb_hash,
        .hs = hs,
    };
    uint64_t rng = px_worker_rand(d->w);
    return px_lb_pick_policy(px_bstate_eps(bs), bs->n, &q, &bs->cursor, &rng, now_ms(d));
}

static struct px_ep *
pick_endpoint(struct px_dconn *d, const struct gw_ir_backend *b)
{
    struct px_bstate *bs = backend_state(d, b);
    struct px_ep *const *eps = px_bstate_eps(bs);
    struct px_hc_ep *const *hs = px_hc_states(d->snap->s->hc, b);
    int i = GW_LIKELY(!b->lb) ? px_lb_pick(eps, hs, bs->n, opts(d)->lb, &bs->cursor,
                                           px_worker_rand(d->w), now_ms(d))
                              : pick_policy(d, b, bs, hs);
    return i < 0 ? NULL : eps[i];
}

/* CircuitBreakerPolicy (and the in-flight counts LeastRequest reads):
 * counts the attempt on ep's shared state; false after answering 503 when
 * a limit is reached. *sh, *retry: what to give px_cb_put back. */
static __attribute__((noinline, cold)) bool
circuit_admit(struct px_dconn *d, const struct gw_ir_backend *b, struct px_ep *ep,
              struct px_shep **sh, bool *retry)
{
    bool r = d->attempts > 1;
    int lim = px_cb_take(ep->sh, b->circuit, r);
    if (lim >= 0) {
        bump(&d->w->m->cb_open[lim]);
        error_reply(d, 503, false);
        return false;
    }
    *sh = ep->sh;
    *retry = px_cb_counts_retry(b->circuit, r);
    return true;
}

/* Sends the whole request (replay) on u. A plain TCP connection that is
 * up sends straight from replay and buffers only what the socket did not
 * take, so u->out is not even touched per request: one copy and a few cold
 * cache lines less with hundreds of connections. 0, GW_ELIMIT (u->out is
 * full), or another negated errno (the attempt failed). */
static int
send_replay(struct px_dconn *d, struct px_uconn *u)
{
    const char *p = px_buf_data(&d->replay);
    size_t n = px_buf_avail(&d->replay);
    if (!u->ssl && !u->st && !u->h2 && !u->failed && !u->closing && u->state == PX_U_ACTIVE &&
        px_buf_avail(&u->out) == 0) {
        ssize_t w = px_uconn_send_span(u, p, n);
        if (w < 0)
            return (int)w;
        p += w;
        n -= (size_t)w;
        if (n == 0)
            return 0;
    }
    if (px_buf_append(&u->out, p, n) < 0)
        return GW_ELIMIT;
    return px_uconn_flush(u);
}

static void
start_attempt(struct px_dconn *d)
{
    d->attempts++;
    struct px_ep *ep = d->sticky;
    if (GW_LIKELY(!ep))
        ep = pick_endpoint(d, d->backend);
    else
        d->sticky = NULL; /* a retry balances as usual */
    d->up_ep = ep;
    if (!ep) {
        error_reply(d, 503, false);
        return;
    }
    const struct gw_ir_backend *b = d->backend;
    struct px_shep *sh = NULL;
    bool shretry = false;
    if (GW_UNLIKELY(b && (b->circuit || b->lb) && ep->sh) &&
        !circuit_admit(d, b, ep, &sh, &shretry))
        return;
    struct px_uconn *u = px_uconn_get(d->w, ep, d);
    if (u) {
        u->shreq = sh;
        u->shretry = shretry;
    } else if (sh) {
        px_cb_put(sh, shretry);
    }
    if (!u && d->w->up_refused) {
        /* A limit of ours (the endpoint's connections, the descriptors):
         * answered at once, the endpoint not blamed. */
        error_reply(d, 503, false);
        return;
    }
    if (!u) {
        px_ep_report(ep, true, opts(d)->eject_consecutive, opts(d)->eject_ms, now_ms(d));
        if (route_retry_left(d)) {
            schedule_retry(d);
            return;
        }
        error_reply(d, 503, false);
        return;
    }
    d->u = u;
    u->method = d->method;
    u->sent_at = now_ms(d);
    /* The common keep-alive GET has the whole request in replay: sent at
     * once below, it need not be copied into u->out first. */
    if (!d->req_done &&
        px_buf_append(&u->out, px_buf_data(&d->replay), px_buf_avail(&d->replay)) < 0) {
        error_reply(d, 500, true);
        return;
    }
    uint64_t t = opts(d)->response_timeout_ms;
    if (d->route && d->route->backend_timeout_ms > 0)
        t = (uint64_t)d->route->backend_timeout_ms;
    d->in_backoff = false;
    gw_timer_start(&d->btimer, t);
    if (d->req_done) {
        int rc = send_replay(d, u);
        if (rc == GW_ELIMIT)
            error_reply(d, 500, true);
        else if (rc < 0)
            attempt_failed(d, FAIL_IO);
        else
            px_uconn_update(u);
        return;
    }
    if (d->expect_continue && !d->sent_continue && !d->req_done) {
        /* RFC 9110 §10.1.1: the proxy asks for the body only now that it
         * forwards it. */
        d->sent_continue = true;
        px_buf_append_lit(&d->out, "HTTP/1.1 100 Continue\r\n\r\n");
        d_flush(d);
        if (d->closing)
            return;
    }
    pump_request_body(d);
}

/* ------------------------------------------------------------------------ */
/* Request body: client -> upstream                                          */

static void
emit_body(struct px_dconn *d, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (d->replay_ok && px_buf_append(&d->replay, p, n) < 0)
        d->replay_ok = false;
    struct px_uconn *u = d->u;
    size_t sent = 0;
    if (!u->ssl && !u->st && !u->h2 && !u->failed && !u->closing && u->state == PX_U_ACTIVE &&
        px_buf_avail(&u->out) == 0) {
        /* as send_replay: straight to the socket, only the rest queued (an
         * error is left for the flush that follows to report) */
        ssize_t w = px_uconn_send_span(u, p, n);
        sent = w > 0 ? (size_t)w : 0;
    }
    if (sent < n)
        px_buf_append(&u->out, p + sent, n - sent); /* bounded by the PX_HIGH check */
    for (unsigned i = 0; i < PX_MAX_MIRRORS; i++) {
        /* a mirror that cannot keep up is dropped, never slowing the request */
        if (d->mirrors[i] && px_buf_append(&d->mirrors[i]->out, p, n) < 0)
            px_uconn_close(d->mirrors[i]);
    }
}

static void
emit_chunk(struct px_dconn *d, struct gw_str data)
{
    if (data.len == 0)
        return;
    char h[GW_H1_CHUNK_HEADER_MAX];
    size_t hn = gw_h1_chunk_header_format(h, data.len);
    emit_body(d, h, hn);
    emit_body(d, data.p, data.len);
    emit_body(d, "\r\n", 2);
}

/* Opens the trailer section of a chunked request (the last chunk), once. */
static void
open_trailers(struct px_dconn *d)
{
    if (!d->qtrailers)
        emit_body(d, "0\r\n", 3);
    d->qtrailers = true;
}

/* One trailer field of a chunked request. */
static void
emit_trailer(struct px_dconn *d, struct gw_str name, struct gw_str value)
{
    if (!px_trailer_is_forwarded(name))
        return;
    open_trailers(d);
    emit_body(d, name.p, name.len);
    emit_body(d, ": ", 2);
    emit_body(d, value.p, value.len);
    emit_body(d, "\r\n", 2);
}

/* Ends a chunked request body: the last chunk (unless trailers opened the
 * trailer section already), the empty line. */
static void
emit_body_end(struct px_dconn *d)
{
    if (d->qtrailers)
        emit_body(d, "\r\n", 2);
    else
        emit_body(d, GW_H1_CHUNK_LAST, sizeof(GW_H1_CHUNK_LAST) - 1);
}

/* Starts the copy of the current request that mirror filter f asks for (if
 * its sample says so) in slot i: fire-and-forget, fed the body as it comes. */
static void
start_mirror(struct px_dconn *d, struct px_worker *w, const struct gw_ir_filter *f, unsigned i)
{
    const struct gw_ir_backend *b = f->mirror;
    if (!b || b->invalid || !(b->nendpoints || (b->dns_host && backend_state(d, b)->n)) ||
        !gw_route_mirror_sample(f->mirror_num, f->mirror_den, (uint32_t)px_worker_rand(w)))
        return;
    struct px_ep *ep = pick_endpoint(d, b);
    struct px_uconn *mu = ep ? px_mirror_start(w, ep) : NULL;
    if (!mu)
        return;
    mu->method = d->method;
    px_buf_append(&mu->out, px_buf_data(&d->replay), px_buf_avail(&d->replay));
    if (d->req_done) {
        px_mirror_finish_request(mu);
    } else {
        mu->feeder = d;
        mu->feeder_slot = i;
        d->mirrors[i] = mu;
    }
    if (px_uconn_flush(mu) < 0)
        px_uconn_close(mu);
    else
        px_uconn_update(mu);
}

static void
request_body_done(struct px_dconn *d)
{
    d->req_done = true;
    gw_timer_stop(&d->rtimer);
    for (unsigned i = 0; i < PX_MAX_MIRRORS; i++) {
        struct px_uconn *m = d->mirrors[i];
        if (!m)
            continue;
        px_mirror_finish_request(m); /* clears the slot */
        px_uconn_flush(m);
        px_uconn_update(m);
    }
}

static void
pump_request_body(struct px_dconn *d)
{
    if (GW_UNLIKELY(d->spl == PX_SPL_REQ)) {
        req_splice(d);
        return;
    }
    struct px_uconn *u = d->u;
    bool progressed = false;
    while (!d->req_done && u && px_buf_avail(&u->out) < PX_HIGH) {
        size_t len = px_buf_avail(&d->in);
        const char *p = px_buf_data(&d->in);
        if (d->stream && d->qbody == GW_H1_BODY_CHUNKED) {
            /* HTTP/2 DATA without content-length: raw in d->in, chunked
             * upstream, ended by END_STREAM. */
            size_t n = GW_MIN(len, (size_t)PX_HIGH);
            if (n) {
                emit_chunk(d, (struct gw_str){p, n});
                px_buf_consume(&d->in, n);
                progressed = true;
                continue;
            }
            if (d->in_end) {
                /* the stream's trailers, "name: value\r\n" lines */
                struct gw_str t = px_h2_stream_req_trailers(d);
                if (t.len) {
                    open_trailers(d);
                    emit_body(d, t.p, t.len);
                }
                emit_body_end(d);
                request_body_done(d);
            }
            break;
        }
        if (d->qbody == GW_H1_BODY_LENGTH) {
            size_t n = (size_t)GW_MIN((uint64_t)len, d->qremain);
            n = GW_MIN(n, (size_t)PX_HIGH);
            if (n == 0) {
                /* (flushed first: the head and what was read with it) */
                if (GW_UNLIKELY(d->qremain >= PX_SPLICE_MIN) && splice_ok(d, PX_SPL_REQ) &&
                    splice_begin(d, PX_SPL_REQ))
                    return;
                break;
            }
            emit_body(d, p, n);
            px_buf_consume(&d->in, n);
            d->qremain -= n;
            progressed = true;
            if (d->qremain == 0)
                request_body_done(d);
            continue;
        }
        if (len == 0)
            break;
        size_t used = 0;
        struct gw_str data = GW_STR_NULL;
        int r = gw_h1_chunked_decode(&d->qch, p, GW_MIN(len, (size_t)PX_HIGH), &used, &data);
        emit_chunk(d, data);
        px_buf_consume(&d->in, used);
        progressed = progressed || used > 0;
        if (r == GW_H1_CHUNKED_TRAILER) {
            emit_trailer(d, d->qch.trailer.name, d->qch.trailer.value);
        } else if (r == GW_H1_CHUNKED_DONE) {
            emit_body_end(d);
            request_body_done(d);
        } else if (r == GW_EAGAIN) {
            break;
        } else if (r < 0) {
            /* Invalid chunked framing: the upstream connection is cut
             * before it could see a complete request. */
            d->keep_alive = false;
            if (d->rsp_started) {
                abort_request(d);
            } else {
                d->req_done = true;
                error_reply(d, 400, true);
            }
            return;
        }
    }
    for (unsigned i = 0; i < PX_MAX_MIRRORS; i++) {
        struct px_uconn *m = d->mirrors[i];
        if (!m)
            continue;
        if (px_uconn_flush(m) < 0)
            px_uconn_close(m);
        else
            px_uconn_update(m);
    }
    if (progressed && !d->req_done)
        body_timer(d);
    if (u && !u->closing) {
        if (px_uconn_flush(u) < 0) {
            if (!u->got_bytes) {
                attempt_failed(d, FAIL_IO);
                return;
            }
            if (d->rsp_early) {
                early_abandon(d);
                return;
            }
            /* the upstream stopped reading but answered: keep the answer */
            px_buf_consume(&u->out, px_buf_avail(&u->out));
        }
        if (GW_UNLIKELY(d->spl_want) && splice_try(d))
            return; /* the buffers in between are empty now */
        if (GW_UNLIKELY(d->rsp_early) && early_finish(d))
            return;
        px_uconn_update(u);
    }
    d_update(d);
}

/* ------------------------------------------------------------------------ */
/* Response: upstream -> client                                              */

static void
response_complete(struct px_dconn *d)
{
    struct px_uconn *u = d->u;
    if (GW_UNLIKELY(!d->req_done) && !d->rd.client_close && !d->stream) {
        /* An early answer the upstream said it keeps the connection
         * after: the body goes on (see "Early responses"). */
        d->rsp_early = true;
        u->read_paused = false;
        gw_timer_stop(&d->btimer);
        return;
    }
    bool reusable =
        d->u_reusable && d->req_done && px_buf_avail(&u->in) == 0 && px_buf_avail(&u->out) == 0;
    d->u = NULL;
    px_uconn_release(u, reusable);
    end_request(d, d->rd.client_close || !d->keep_alive || !d->req_done);
}

/* ------------------------------------------------------------------------ */
/* Early responses                                                           */
/*
 * An upstream may answer before it has read the whole request body (nginx's
 * `return`, an error it decided on from the head). As its client, the proxy
 * stops sending the body only when the answer says the connection closes
 * (RFC 9112 §9.6); otherwise the upstream goes on reading it, and so does
 * the proxy: the body keeps flowing (buffered or spliced) after the
 * response is out, and the request ends when it is through, both
 * connections kept. Ending it at the response instead would leave the
 * rest of the body on the client connection, to be read as the next
 * request, so the proxy would have to close it (§9.3), and the upstream
 * connection with it: two new connections per such request. When the
 * upstream goes meanwhile (EOF, an error, bytes no request asked for) the
 * client connection closes after the response, as it does when the
 * upstream's answer says close or the body has no length it can finish.
 */

/* Whether the answer (just decided into d->rd) to a request whose body is
 * still coming lets that body go on: a connection the upstream keeps, a
 * response whose end is framed, an HTTP/1.1 client connection (a stream's
 * body ends with the stream, as before). */
static bool
early_may_continue(const struct px_dconn *d, const struct gw_h1_response *res)
{
    return !d->stream && res->keep_alive && !d->rd.client_close &&
           (d->rd.frame == PX_RF_NONE || d->rd.frame == PX_RF_LENGTH ||
            d->rd.frame == PX_RF_CHUNKED);
}

/* Ends an early-answered request once the body is all out to the upstream:
 * true when it ended (d may be in its next request, or closing). */
static bool
early_finish(struct px_dconn *d)
{
    struct px_uconn *u = d->u;
    if (!d->req_done || !u || px_buf_avail(&u->out))
        return false;
    d->rsp_early = false;
    response_complete(d);
    return true;
}

/* The upstream went while the body still came: the response is complete,
 * the rest of the body has nowhere to go, so both connections close (the
 * client's after its response, lingering). */
static void
early_abandon(struct px_dconn *d)
{
    d->rsp_early = false;
    d->u_reusable = false;
    d->rd.client_close = true;
    response_complete(d);
}

/* The upstream's socket is readable after its complete answer: anything
 * but "nothing yet" means it is done with this connection. */
static void
early_upstream_read(struct px_dconn *d)
{
    struct px_uconn *u = d->u;
    char b[1];
    ssize_t n = px_uconn_recv(u, b, sizeof(b));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        px_uconn_update(u);
        return;
    }
    early_abandon(d);
}

/* ------------------------------------------------------------------------ */
/* Bodies spliced                                                            */
/*
 * A Content-Length body with at least PX_SPLICE_MIN bytes to go, between
 * plaintext HTTP/1.1 sockets on both sides, that nothing reads or changes
 * (no compression, mirror, authorization call, HTTP/2 or TLS), goes socket
 * -> pipe -> socket with splice(2): its bytes never reach user space, where
 * copying them through the buffers is most of what a large body costs the
 * proxy. A request body spliced gives up its replay (a retry), as one past
 * PX_REPLAY_MAX does anyway. The pipe holds at most PX_PIPE_SIZE bytes
 * (its capacity: the kernel's default when it refuses more), a few times
 * what the buffers would, for a few times fewer splice calls and wakeups
 * per body: kernel memory, page references to the sockets' buffers, in a
 * pipe only a connection passing a large body has. The same backpressure
 * (a side is read only while the pipe has room) and the same timers (body,
 * response, send progress).
 *
 * Everything in between comes first: the buffered bytes (the head, what was
 * read with it) are passed on before the pipe takes over. On an io_uring
 * loop the sockets are then taken back from the loop (gw_io_disown), which
 * may take a turn or more (sends it still queues, bytes it received, which
 * the buffered path reads meanwhile): spl_want says so, and each event of
 * either side tries again. They go back to the loop when the body ends; the
 * pipe stays with the connection for its next large body.
 */

/* Ends splicing or the wait for it: the sockets go back to the loop (the
 * upstream's unless !own_u: it is about to close), a pipe still holding
 * bytes is closed (they are abandoned). */
static void
splice_end(struct px_dconn *d, bool own_u)
{
    if (!d->spl && !d->spl_want)
        return;
    d->spl = d->spl_want = PX_SPL_NONE;
    d->spl_full = false;
    if (d->pipe && d->pipe->len)
        gw_pipe_release(d->pipe);
    if (!d->closing)
        gw_io_own(&d->io);
    if (own_u && d->u && !d->u->closing)
        gw_io_own(&d->u->io);
}

/* Whether the current body (mode) may be spliced. */
static bool
splice_ok(const struct px_dconn *d, enum px_splice mode)
{
    const struct px_uconn *u = d->u;
    if (!u || d->closing || d->mode != PX_D_PROXY || d->ssl || d->h2 || d->stream || d->zip ||
        u->ssl || u->h2 || u->st || u->failed || u->closing || u->state != PX_U_ACTIVE)
        return false;
    if (mode == PX_SPL_RSP)
        return d->rsp_started && d->rd.frame == PX_RF_LENGTH && d->req_done &&
               d->rremain >= PX_SPLICE_MIN;
    /* (a response in progress reads and writes the sockets too; a complete
     * early one is out of the way) */
    if (d->qbody != GW_H1_BODY_LENGTH || d->req_done || (d->rsp_started && !d->rsp_early) ||
        d->ea_call || d->qremain < PX_SPLICE_MIN)
        return false;
    for (unsigned i = 0; i < PX_MAX_MIRRORS; i++)
        if (d->mirrors[i])
            return false; /* a mirror is fed the body from the buffers */
    return true;
}

/* Starts splicing d->spl_want once the sockets are the proxy's own and the
 * buffers in between are empty: true when it runs (a first round ran),
 * false to go on copying meanwhile. */
static bool
splice_try(struct px_dconn *d)
{
    enum px_splice mode = (enum px_splice)d->spl_want;
    if (!splice_ok(d, mode)) {
        splice_end(d, true);
        return false;
    }
    if (!d->pipe) {
        d->pipe = gw_xmalloc(sizeof(*d->pipe));
        gw_pipe_init(d->pipe);
    }
    if (!gw_pipe_is_open(d->pipe)) {
        if (gw_pipe_open(d->pipe) < 0) { /* out of descriptors: copy */
            splice_end(d, true);
            return false;
        }
        gw_pipe_resize(d->pipe, PX_PIPE_SIZE); /* (refused: the default) */
    }
    int a = gw_io_disown(&d->io), b = gw_io_disown(&d->u->io);
    if ((a < 0 && a != GW_EAGAIN) || (b < 0 && b != GW_EAGAIN)) {
        splice_end(d, true); /* the socket's error shows on the buffered path */
        return false;
    }
    bool flushed = mode == PX_SPL_RSP ? !px_buf_avail(&d->u->in) && !px_buf_avail(&d->out)
                                      : !px_buf_avail(&d->in) && !px_buf_avail(&d->u->out);
    if (a || b || !flushed)
        return false;
    d->spl = (uint8_t)mode;
    d->spl_want = PX_SPL_NONE;
    d->spl_full = false;
    if (mode == PX_SPL_REQ) {
        d->replay_ok = false;
        req_splice(d);
    } else {
        rsp_splice(d);
    }
    return true;
}

static bool
splice_begin(struct px_dconn *d, enum px_splice mode)
{
    d->spl_want = (uint8_t)mode;
    return splice_try(d);
}

unsigned
px_dconn_splice_up_interest(const struct px_dconn *d, unsigned ev)
{
    if (d->spl == PX_SPL_RSP) {
        ev &= ~(unsigned)GW_LOOP_READ;
        if (d->rremain && !d->spl_full && d->pipe->len < d->pipe->cap)
            ev |= GW_LOOP_READ;
    } else if (d->spl == PX_SPL_REQ) {
        if (d->pipe->len)
            ev |= GW_LOOP_WRITE;
    } else if (d->spl_want == PX_SPL_RSP && !gw_io_is_owned(&d->u->io) && gw_io_is_owned(&d->io)) {
        ev &= ~(unsigned)GW_LOOP_READ; /* the rest waits for the client's socket */
    }
    return ev;
}

/* What splice_move ended on. */
enum spm { SPM_WAIT, SPM_DONE, SPM_EOF, SPM_RERR, SPM_WERR };

/*
 * Moves what it can (a few rounds, so one body cannot starve the loop) of
 * *remain bytes from socket in through d's pipe to socket out; *got and
 * *put count the bytes that went into and out of the pipe. SPM_DONE once
 * *remain and the pipe are empty, SPM_EOF when in ended first, SPM_RERR /
 * SPM_WERR (errno set) for an error reading in / writing out, else
 * SPM_WAIT (the next event of either side says when to go on).
 */
static enum spm
splice_move(struct px_dconn *d, int in, int out, uint64_t *remain, size_t *got, size_t *put)
{
    struct gw_pipe *p = d->pipe;
    *got = *put = 0;
    for (int round = 0; round < 16; round++) {
        bool moved = false;
        if (p->len) {
            ssize_t n = gw_pipe_drain(p, out, p->len);
            if (n > 0) {
                *put += (size_t)n;
                d->spl_full = false;
                moved = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return SPM_WERR;
            }
        }
        if (*remain == 0 && p->len == 0)
            return SPM_DONE;
        if (*remain && !d->spl_full && p->len < p->cap) {
            ssize_t n = gw_pipe_fill(p, in, (size_t)GW_MIN(*remain, (uint64_t)(p->cap - p->len)));
            if (n > 0) {
                *remain -= (uint64_t)n;
                *got += (size_t)n;
                moved = true;
            } else if (n == 0) {
                return SPM_EOF;
            } else if (errno == EAGAIN) {
                /* drained, or the pipe has no slot left (each holds a
                 * segment): filled again after a drain, or it would spin */
                d->spl_full = p->len > 0;
            } else if (errno != EINTR) {
                return SPM_RERR;
            }
        }
        if (!moved)
            break;
    }
    return SPM_WAIT;
}

/* False (splicing ended) when the attempt went meanwhile. */
static bool
splice_has_upstream(struct px_dconn *d)
{
    if (d->u)
        return true;
    splice_end(d, false);
    d_update(d);
    return false;
}

/* Moves what it can of the request body: client -> pipe -> upstream. */
static void
req_splice(struct px_dconn *d)
{
    if (!splice_has_upstream(d))
        return;
    struct px_uconn *u = d->u;
    size_t got, put;
    switch (splice_move(d, d->io.fd, u->io.fd, &d->qremain, &got, &put)) {
    case SPM_WERR:
        if (!u->got_bytes) {
            attempt_failed(d, FAIL_IO);
            return;
        }
        if (d->rsp_early) {
            early_abandon(d);
            return;
        }
        /* The upstream answered and stopped reading: the rest of the body
         * is read and dropped by the buffered path. */
        splice_end(d, true);
        pump_request_body(d);
        return;
    case SPM_DONE:
        splice_end(d, true);
        request_body_done(d);
        if (GW_UNLIKELY(d->rsp_early) && early_finish(d))
            return;
        px_uconn_update(u);
        d_update(d);
        return;
    case SPM_EOF:
        splice_end(d, true);
        client_eof(d); /* mid-body: the request is cut */
        return;
    case SPM_RERR:
        px_dconn_close(d);
        return;
    case SPM_WAIT:
        break;
    }
    if (got)
        body_timer(d);
    d_update(d);
    px_uconn_update(u);
}

/* Moves what it can of the response body: upstream -> pipe -> client. */
static void
rsp_splice(struct px_dconn *d)
{
    if (!splice_has_upstream(d))
        return;
    struct px_uconn *u = d->u;
    size_t got, put;
    enum spm r = splice_move(d, u->io.fd, d->io.fd, &d->rremain, &got, &put);
    d->bytes_out += put;
    d->sent_in_window += put;
    switch (r) {
    case SPM_WERR:
        px_dconn_close(d); /* the client went (as d_flush) */
        return;
    case SPM_DONE:
        gw_timer_stop(&d->wtimer);
        d->sent_in_window = 0;
        splice_end(d, true);
        response_complete(d);
        return;
    case SPM_EOF: /* the upstream closed mid-body: truncated */
    case SPM_RERR:
        abort_request(d);
        return;
    case SPM_WAIT:
        break;
    }
    if (got)
        gw_timer_start(&d->btimer, opts(d)->response_timeout_ms);
    /* Send progress: the pipe's bytes count as queued output (on_wtimer). */
    if (d->pipe->len && !gw_timer_is_active(&d->wtimer)) {
        d->sent_in_window = 0;
        gw_timer_start(&d->wtimer, opts(d)->send_timeout_ms);
    } else if (!d->pipe->len) {
        gw_timer_stop(&d->wtimer);
        d->sent_in_window = 0;
    }
    d_update(d);
    px_uconn_update(u);
}

static void
out_chunk(struct px_dconn *d, struct gw_str data)
{
    if (data.len == 0)
        return;
    if (d->stream) {
        px_buf_append(&d->out, data.p, data.len); /* framed by the codec */
        d->bytes_out += data.len;
        return;
    }
    char h[GW_H1_CHUNK_HEADER_MAX];
    size_t hn = gw_h1_chunk_header_format(h, data.len);
    px_buf_append(&d->out, h, hn);
    px_buf_append(&d->out, data.p, data.len);
    px_buf_append(&d->out, "\r\n", 2);
    d->bytes_out += data.len;
}

static void
zip_emit(void *ctx, const char *p, size_t n)
{
    out_chunk(ctx, (struct gw_str){p, n});
}

/* The end of a coded body: the encoder's tail, then the last chunk. */
static int
zip_end(struct px_dconn *d)
{
    int rc = px_zip_write(d->zip, NULL, 0, true, zip_emit, d);
    if (!d->stream)
        px_buf_append_lit(&d->out, GW_H1_CHUNK_LAST);
    return rc;
}

/* A coded response (compress.c) in place of the plain head: the encoder,
 * its fields, and chunks (or DATA on a stream) instead of Content-Length.
 * d->rd keeps the upstream's framing, which pump_zipped reads. */
static __attribute__((noinline, cold)) void
zip_head(struct px_dconn *d, const struct gw_h1_response *res, struct px_rsp_out *ro)
{
    d->zip = px_zip_response(d->route->compress, d->zcoding, res);
    if (!d->zip)
        return;
    ro->mods[2] = px_zip_mod(d->zip);
    ro->d.frame = PX_RF_RECHUNK;
}

static void pump_zipped(struct px_dconn *d);

static void
pump_response(struct px_dconn *d)
{
    struct px_uconn *u = d->u;
    if (GW_UNLIKELY(d->zip)) {
        pump_zipped(d);
        return;
    }
    d->pumping = true;
    for (;;) {
        if (d->closing || d->u != u)
            goto done;
        if (px_buf_avail(&d->out) >= PX_HIGH) {
            d_flush(d);
            if (d->closing)
                goto done;
            if (px_buf_avail(&d->out) >= PX_HIGH) {
                u->read_paused = true;
                break;
            }
        }
        size_t len = px_buf_avail(&u->in);
        const char *p = px_buf_data(&u->in);
        size_t room = PX_HIGH;
        switch (d->rd.frame) {
        case PX_RF_NONE:
            response_complete(d);
            goto done;
        case PX_RF_LENGTH: {
            if (d->rremain == 0) {
                response_complete(d);
                goto done;
            }
            size_t n = (size_t)GW_MIN((uint64_t)GW_MIN(len, room), d->rremain);
            if (n == 0) {
                if (d->rremain >= PX_SPLICE_MIN && splice_ok(d, PX_SPL_RSP)) {
                    d->pumping = false;
                    if (splice_begin(d, PX_SPL_RSP))
                        return;
                    d->pumping = true;
                }
                goto wait;
            }
            if (!d->stream && !d->h2 && !px_buf_avail(&d->out)) {
                /* Nothing queued: straight from the upstream's buffer (one
                 * copy less per body byte); what the socket refuses is
                 * queued below as usual. */
                ssize_t w = d_send(d, p, n);
                if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    px_dconn_close(d);
                    goto done;
                }
                if (w > 0) {
                    px_buf_consume(&u->in, (size_t)w);
                    d->rremain -= (uint64_t)w;
                    d->bytes_out += (uint64_t)w;
                    d->sent_in_window += (size_t)w;
                    continue;
                }
            }
            px_buf_append(&d->out, p, n);
            px_buf_consume(&u->in, n);
            d->rremain -= n;
            d->bytes_out += n;
            continue;
        }
        case PX_RF_CHUNKED: {
            if (len == 0)
                goto wait;
            size_t used = 0;
            struct gw_str data = GW_STR_NULL;
            int r = gw_h1_chunked_decode(&d->rch, p, GW_MIN(len, room), &used, &data);
            out_chunk(d, data);
            if (r == GW_H1_CHUNKED_TRAILER && d->stream)
                px_h2_stream_trailer(d, d->rch.trailer.name, d->rch.trailer.value);
            px_buf_consume(&u->in, used);
            if (r == GW_H1_CHUNKED_DONE) {
                if (!d->stream)
                    px_buf_append_lit(&d->out, GW_H1_CHUNK_LAST);
                response_complete(d);
                goto done;
            }
            if (r == GW_EAGAIN)
                goto wait;
            if (r < 0) {
                abort_request(d);
                goto done;
            }
            continue;
        }
        case PX_RF_RECHUNK:
            if (len == 0)
                goto wait;
            out_chunk(d, (struct gw_str){p, GW_MIN(len, room)});
            px_buf_consume(&u->in, GW_MIN(len, room));
            continue;
        case PX_RF_CLOSE:
            if (len == 0)
                goto wait;
            px_buf_append(&d->out, p, GW_MIN(len, room));
            d->bytes_out += GW_MIN(len, room);
            px_buf_consume(&u->in, GW_MIN(len, room));
            continue;
        case PX_RF_TUNNEL:
            goto done;
        }
    }
wait:
    d->pumping = false;
    d_flush(d);
    if (!d->closing && d->u == u)
        px_uconn_update(u);
    return;
done:
    d->pumping = false;
    if (!d->closing)
        d_flush(d);
}

/* pump_response for a coded body: the upstream's framing read as there,
 * each read coded and flushed at once (so the client sees bytes as the
 * upstream sends them), the output framed by out_chunk. */
static __attribute__((noinline)) void
pump_zipped(struct px_dconn *d)
{
    struct px_uconn *u = d->u;
    d->pumping = true;
    for (;;) {
        if (d->closing || d->u != u)
            goto done;
        if (px_buf_avail(&d->out) >= PX_HIGH) {
            d_flush(d);
            if (d->closing)
                goto done;
            if (px_buf_avail(&d->out) >= PX_HIGH) {
                u->read_paused = true;
                break;
            }
        }
        size_t len = px_buf_avail(&u->in);
        const char *p = px_buf_data(&u->in);
        size_t room = PX_HIGH;
        switch (d->rd.frame) {
        case PX_RF_LENGTH: {
            size_t n = (size_t)GW_MIN((uint64_t)GW_MIN(len, room), d->rremain);
            if (n == 0 && d->rremain)
                goto wait;
            bool last = n == d->rremain;
            if (px_zip_write(d->zip, p, n, false, zip_emit, d) < 0) {
                abort_request(d);
                goto done;
            }
            px_buf_consume(&u->in, n);
            d->rremain -= n;
            if (last) {
                if (zip_end(d) < 0) {
                    abort_request(d);
                    goto done;
                }
                response_complete(d);
                goto done;
            }
            continue;
        }
        case PX_RF_CHUNKED: {
            if (len == 0)
                goto wait;
            size_t used = 0;
            struct gw_str data = GW_STR_NULL;
            int r = gw_h1_chunked_decode(&d->rch, p, GW_MIN(len, room), &used, &data);
            if (data.len && px_zip_write(d->zip, data.p, data.len, false, zip_emit, d) < 0) {
                abort_request(d);
                goto done;
            }
            if (r == GW_H1_CHUNKED_TRAILER && d->stream)
                px_h2_stream_trailer(d, d->rch.trailer.name, d->rch.trailer.value);
            px_buf_consume(&u->in, used);
            if (r == GW_H1_CHUNKED_DONE) {
                if (zip_end(d) < 0) {
                    abort_request(d);
                    goto done;
                }
                response_complete(d);
                goto done;
            }
            if (r == GW_EAGAIN)
                goto wait;
            if (r < 0) {
                abort_request(d);
                goto done;
            }
            continue;
        }
        case PX_RF_RECHUNK:
        case PX_RF_CLOSE:
            if (len == 0)
                goto wait;
            if (px_zip_write(d->zip, p, GW_MIN(len, room), false, zip_emit, d) < 0) {
                abort_request(d);
                goto done;
            }
            px_buf_consume(&u->in, GW_MIN(len, room));
            continue;
        case PX_RF_NONE:
        case PX_RF_TUNNEL:
            goto done;
        }
    }
wait:
    d->pumping = false;
    d_flush(d);
    if (!d->closing && d->u == u)
        px_uconn_update(u);
    return;
done:
    d->pumping = false;
    if (!d->closing)
        d_flush(d);
}

static bool
retry_code(const struct gw_ir_route *r, int status)
{
    for (size_t i = 0; i < r->nretry_codes; i++)
        if (r->retry_codes[i] == status)
            return true;
    return false;
}

static void
observe_latency(struct px_dconn *d, struct px_uconn *u)
{
    struct px_metrics *m = d->w->m;
    uint64_t ms = now_ms(d) - u->sent_at;
    int b = 0;
    while (b < PX_LAT_BUCKETS && ms > px_lat_bounds_ms[b])
        b++;
    bump(&m->lat_bucket[b]);
    bump(&m->lat_count);
    atomic_store_explicit(&m->lat_sum_us,
                          atomic_load_explicit(&m->lat_sum_us, memory_order_relaxed) + ms * 1000,
                          memory_order_relaxed);
}

static void
start_tunnel(struct px_dconn *d)
{
    d->mode = PX_D_TUNNEL;
    gw_timer_stop(&d->rtimer);
    gw_timer_stop(&d->ttimer);
    gw_timer_stop(&d->btimer);
    d->req_done = true;
    px_access_log(d);
    /* Idle tunnels would otherwise hold their slots forever. Activity only
     * stamps tunnel_last; on_rtimer re-arms to the true deadline. */
    d->tunnel_last = now_ms(d);
    if (opts(d)->tunnel_idle_timeout_ms)
        gw_timer_start(&d->rtimer, opts(d)->tunnel_idle_timeout_ms);
    tunnel_pump(d);
}

/* A response head is in u->in (maybe): parse and answer it. */
static void
response_head(struct px_dconn *d)
{
    struct px_uconn *u = d->u;
    for (;;) {
        struct gw_h1_response res = {.headers = d->w->hbuf, .max_headers = PX_MAX_HEADERS};
        int n = gw_h1_response_parse(px_buf_data(&u->in), px_buf_avail(&u->in), &res, &px_limits,
                                     d->method);
        if (n == GW_EAGAIN)
            return;
        if (n < 0) {
            attempt_failed(d, FAIL_PROTO);
            return;
        }
        if (res.status < 200 && res.status != 101) {
            /* 100 (the proxy answered Expect itself) and other interim
             * responses are dropped. */
            px_buf_consume(&u->in, (size_t)n);
            continue;
        }
        if (res.status == 101 && !d->upgrade) {
            attempt_failed(d, FAIL_PROTO);
            return;
        }
        px_ep_report(u->ep, res.status >= 500, opts(d)->eject_consecutive, opts(d)->eject_ms,
                     now_ms(d));
        observe_latency(d, u);
        if (d->route && retry_code(d->route, res.status) &&
            (route_retry_left(d) || d->budget_refused)) {
            px_uconn_close(u);
            d->u = NULL;
            gw_timer_stop(&d->btimer);
            if (d->budget_refused)
                error_reply(d, 503, false); /* the retry budget's answer */
            else
                schedule_retry(d);
            return;
        }
        bool keep = d->keep_alive && !d->w->draining && !d->read_eof;
        d->rd = px_response_decide(&res, d->minor, keep);
        if (!d->req_done && !early_may_continue(d, &res))
            d->rd.client_close = true;
        struct px_rsp_out ro = {
            .res = &res,
            .d = d->rd,
            .client_minor = d->minor,
            .mods = {d->rmods[0], d->rmods[1]},
            .extra = {px_buf_data(&d->cors), px_buf_avail(&d->cors)},
        };
        if (GW_UNLIKELY(d->zcoding))
            zip_head(d, &res, &ro);
        size_t before = px_buf_avail(&d->out);
        int frc = d->route && d->route->session ? session_head_format(d, &ro)
                                                : px_response_head_format(&ro, &d->out);
        if (frc < 0) {
            d->out.len = d->out.off + before;
            px_zip_free(d->zip);
            d->zip = NULL;
            attempt_failed(d, FAIL_PROTO);
            return;
        }
        px_buf_consume(&u->in, (size_t)n);
        d->rsp_started = true;
        d->status = res.status;
        d->u_reusable =
            res.keep_alive && (d->rd.frame == PX_RF_NONE || d->rd.frame == PX_RF_LENGTH ||
                               d->rd.frame == PX_RF_CHUNKED);
        d->rremain = res.content_length;
        if (d->rd.frame == PX_RF_CHUNKED)
            gw_h1_chunked_init(&d->rch, &px_limits);
        px_metrics_response(d, res.status, false);
        if (d->rd.frame == PX_RF_TUNNEL) {
            start_tunnel(d);
            return;
        }
        /* Body inactivity from here on. */
        gw_timer_start(&d->btimer, opts(d)->response_timeout_ms);
        pump_response(d);
        return;
    }
}

static void
upstream_eof(struct px_dconn *d)
{
    if (!d->rsp_started) {
        attempt_failed(d, FAIL_IO);
        return;
    }
    if (d->rd.frame == PX_RF_RECHUNK || d->rd.frame == PX_RF_CLOSE) {
        /* close-delimited body: EOF is its end */
        pump_response(d);
        if (d->closing || d->mode != PX_D_PROXY || !d->u)
            return;
        if (px_buf_avail(&d->u->in)) {
            /* the client is slow; finish once the rest is out */
            d->u_eof = true;
            return;
        }
        if (GW_UNLIKELY(d->zip)) {
            if (zip_end(d) < 0) {
                abort_request(d);
                return;
            }
        } else if (d->rd.frame == PX_RF_RECHUNK && !d->stream) {
            px_buf_append_lit(&d->out, GW_H1_CHUNK_LAST);
        }
        d->u_reusable = false;
        response_complete(d);
        return;
    }
    /* truncated response */
    abort_request(d);
}

void
px_dconn_on_upstream(struct px_dconn *d, unsigned events)
{
    struct px_uconn *u = d->u;
    if (GW_UNLIKELY(d->spl_want) && splice_try(d))
        return;
    if (GW_UNLIKELY(d->spl == PX_SPL_RSP)) {
        rsp_splice(d);
        return;
    }
    if (d->mode == PX_D_TUNNEL) {
        if (events & GW_LOOP_READ) {
            if (px_buf_reserve(&u->in, PX_READ_CHUNK) > 0) {
                ssize_t n = px_uconn_recv(u, u->in.p + u->in.len, u->in.cap - u->in.len);
                if (n == 0)
                    d->u_eof = true;
                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                    d->u_eof = d->u_err = true;
                else if (n > 0)
                    u->in.len += (size_t)n;
            }
        }
        if ((events & GW_LOOP_WRITE) && px_uconn_flush(u) < 0)
            d->u_err = true;
        tunnel_pump(d);
        return;
    }
    if (events & GW_LOOP_WRITE) {
        if (px_uconn_flush(u) < 0) {
            if (!u->got_bytes) {
                attempt_failed(d, FAIL_IO);
                return;
            }
            if (d->rsp_early) {
                early_abandon(d);
                return;
            }
            px_buf_consume(&u->out, px_buf_avail(&u->out));
        }
        if (!d->req_done) {
            pump_request_body(d);
            if (d->closing || d->u != u)
                return;
        } else if (GW_UNLIKELY(d->rsp_early) && early_finish(d)) {
            return;
        }
    }
    if (GW_UNLIKELY(d->rsp_early) && (events & GW_LOOP_READ)) {
        early_upstream_read(d);
        return;
    }
    if ((events & GW_LOOP_READ) && !u->read_paused) {
        if (d->u_eof) {
            upstream_eof(d);
            return;
        }
        if (px_buf_reserve(&u->in, PX_READ_CHUNK) == 0) {
            attempt_failed(d, FAIL_PROTO); /* a head past every limit */
            return;
        }
        ssize_t n = px_uconn_recv(u, u->in.p + u->in.len, u->in.cap - u->in.len);
        if (n == 0) {
            upstream_eof(d);
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                if (d->rsp_started)
                    abort_request(d);
                else
                    attempt_failed(d, FAIL_IO);
                return;
            }
        } else {
            u->in.len += (size_t)n;
            u->got_bytes = true;
            if (!d->rsp_started) {
                response_head(d);
            } else {
                gw_timer_start(&d->btimer, opts(d)->response_timeout_ms);
                pump_response(d);
            }
            return;
        }
    }
    if (!d->closing && d->u == u)
        px_uconn_update(u);
}

/* ------------------------------------------------------------------------ */
/* Tunnel                                                                    */

static void
tunnel_pump(struct px_dconn *d)
{
    struct px_uconn *u = d->u;
    if (d->closing)
        return;
    if (!u || d->u_err) {
        px_dconn_close(d);
        return;
    }
    d->pumping = true;
    /* client -> upstream */
    size_t n = GW_MIN(px_buf_avail(&d->in), (size_t)PX_HIGH);
    if (n && px_buf_avail(&u->out) < PX_HIGH &&
        px_buf_append(&u->out, px_buf_data(&d->in), n) == 0) {
        px_buf_consume(&d->in, n);
        d->tunnel_last = now_ms(d);
    }
    if (px_uconn_flush(u) < 0) {
        d->pumping = false;
        px_dconn_close(d);
        return;
    }
    /* upstream -> client */
    n = GW_MIN(px_buf_avail(&u->in), (size_t)PX_HIGH);
    if (n && px_buf_avail(&d->out) < PX_HIGH &&
        px_buf_append(&d->out, px_buf_data(&u->in), n) == 0) {
        px_buf_consume(&u->in, n);
        d->tunnel_last = now_ms(d);
    }
    d_flush(d);
    d->pumping = false;
    if (d->closing)
        return;
    if (d->read_eof && !px_buf_avail(&d->in) && !px_buf_avail(&u->out) && !d->u_shut) {
        gw_io_shutdown_write(&u->io);
        d->u_shut = true;
    }
    if (d->u_eof && !px_buf_avail(&u->in) && !px_buf_avail(&d->out) && !d->d_shut) {
        d_shutdown_write(d);
        d->d_shut = true;
    }
    if (d->u_shut && d->d_shut) {
        px_dconn_close(d);
        return;
    }
    u->read_paused =
        d->u_eof || px_buf_avail(&d->out) >= PX_HIGH || px_buf_avail(&u->in) >= PX_HIGH;
    px_uconn_update(u);
    d_update(d);
}

/* ------------------------------------------------------------------------ */
/* Request heads                                                             */

static const struct gw_ir_port *
find_port(const struct px_dconn *d)
{
    const struct gw_ir *ir = d->snap->s->ir;
    for (size_t i = 0; i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (!pt->udp && pt->port == d->port &&
            strcmp(pt->address ? pt->address : "", d->address) == 0)
            return pt;
    }
    return NULL;
}

static void
copy_trunc(char *dst, size_t cap, struct gw_str s)
{
    size_t n = GW_MIN(s.len, cap - 1);
    memcpy(dst, s.p, n);
    dst[n] = 0;
}

/* A head the parser refused is logged with its request line as received
 * (method, then the target up to the next space or the line's end), so what
 * a client tried stays visible: any byte but CR, LF and SP (a NUL ends the
 * copy). The log's writer escapes it (log.c). */
static void
log_refused_line(struct px_dconn *d, const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && p[n] != '\r' && p[n] != '\n')
        n++;
    const char *sp = memchr(p, ' ', n);
    size_t mlen = sp ? (size_t)(sp - p) : n;
    copy_trunc(d->logm, sizeof(d->logm), (struct gw_str){p, mlen});
    struct gw_str t = GW_STR_NULL;
    if (sp) {
        t = (struct gw_str){sp + 1, n - mlen - 1};
        const char *end = memchr(t.p, ' ', t.len);
        if (end)
            t.len = (size_t)(end - t.p);
    }
    copy_trunc(d->logp, sizeof(d->logp), t);
    d->logh[0] = 0;
}

static void
cors_save(struct px_dconn *d, const struct gw_route_cors *c)
{
    px_buf_consume(&d->cors, px_buf_avail(&d->cors));
    for (size_t i = 0; i < c->nheaders; i++) {
        px_buf_append_str(&d->cors, c->headers[i].name);
        px_buf_append(&d->cors, ": ", 2);
        px_buf_append_str(&d->cors, c->headers[i].value);
        px_buf_append(&d->cors, "\r\n", 2);
    }
}

/* A refusal of limit l: 429 at once, with RateLimit-Policy, RateLimit and
 * Retry-After. */
static void
ratelimit_refuse(struct px_dconn *d, const struct gw_ir_ratelimit *l, const struct px_rl_verdict *v)
{
    atomic_fetch_add_explicit(&d->w->m->ratelimited, 1, memory_order_relaxed);
    struct gw_buf extra;
    gw_buf_init(&extra, 1024);
    if (px_rl_fields_format(l, v, &extra) < 0)
        gw_buf_reset(&extra);
    static const char body[] = "429 Too Many Requests\n";
    local_reply(d, 429, (struct gw_str){extra.p, extra.len},
                (struct gw_str){body, sizeof(body) - 1}, false);
    gw_buf_release(&extra);
}

enum rl_result { RL_PASS, RL_REFUSED, RL_PARKED };

/*
 * The route's RateLimitPolicy limits, each a bucket to take a token from,
 * from d->rl_from on (a resumed request has passed those before it). A
 * local limit decides at once; a global one parks the request until
 * Redis's verdict (RL_PARKED: the head stays in d->in, see
 * px_dconn_rl_resume). Cold and apart: routes without limits pay one test
 * of r->nratelimits.
 */
static enum rl_result
ratelimit_pass(struct px_dconn *d, const struct gw_h1_request *req, const struct gw_ir_route *r)
{
    const struct px_rl *rl = d->snap->s->rl;
    for (size_t i = d->rl_from; rl && i < r->nratelimits; i++) {
        const struct gw_ir_ratelimit *l = &r->ratelimits[i];
        if (l->id >= rl->n || (!l->global && !rl->tables[l->id]))
            continue;
        struct gw_str key = GW_STR_NULL;
        if (l->key == GW_IR_RL_CLIENT) {
            key = gw_str_from(d->client_ip);
        } else if (l->key == GW_IR_RL_HEADER) {
            struct gw_str name = gw_str_from(l->header);
            bool found = false;
            for (size_t h = 0; h < req->nheaders && !found; h++)
                if (gw_str_caseeq(req->headers[h].name, name)) {
                    key = req->headers[h].value;
                    found = true;
                }
            if (!found)
                continue; /* a request without the header is not counted */
        }
        struct px_rl_verdict v;
        if (l->global) {
            if (px_rlg_check(d, l, key, (uint32_t)i, &v) > 0)
                return RL_PARKED;
            if (v.allowed)
                continue;
        } else if (px_rl_take(rl->tables[l->id], l, key, &v)) {
            continue;
        }
        ratelimit_refuse(d, l, &v);
        return RL_REFUSED;
    }
    return RL_PASS;
}

/*
 * The route's authentication policies (auth.c). A refusal answers at once
 * (401 with WWW-Authenticate, or 503 with Retry-After); true lets the
 * request go on with ao to release once the upstream head is written.
 */
static bool
auth_pass(struct px_dconn *d, struct gw_h1_request *req, struct gw_str query,
          const struct gw_ir_route *r, struct px_auth_out *ao)
{
    int status = px_auth_check(d->w, d->snap->s, req, query, r, ao);
    if (!status)
        return true;
    static const char body401[] = "401 Unauthorized\n";
    static const char body503[] = "503 Service Unavailable\n";
    static const char body500[] = "500 Internal Server Error\n";
    struct gw_str body = status == 401   ? GW_STR(body401)
                         : status == 503 ? GW_STR(body503)
                                         : GW_STR(body500);
    local_reply(d, status, (struct gw_str){ao->extra.p, ao->extra.len}, body, false);
    px_auth_out_release(ao);
    return false;
}

/* A request the ExtAuthPolicy check did not let through: the service's
 * own answer, or the gateway's (503 failureMode Closed, 500 Invalid, 413
 * body over includeBody.maxBytes). */
static void
extauth_refuse(struct px_dconn *d, const struct px_ea_verdict *v)
{
    switch (v->outcome) {
    case PX_EA_DENY:
        local_reply(d, v->status, v->fields, v->body, false);
        return;
    case PX_EA_TOO_LARGE:
        local_reply(d, 413, GW_STR_NULL, GW_STR("413 Content Too Large\n"), true);
        return;
    case PX_EA_INVALID:
        local_reply(d, 500, GW_STR_NULL, GW_STR("500 Internal Server Error\n"), false);
        return;
    default:
        local_reply(d, 503, GW_STR_NULL, GW_STR("503 Service Unavailable\n"), false);
        return;
    }
}

/* The fields the authorization service's answer had for the upstream
 * request (d->ea_set), as views into it. */
static size_t
extauth_fields(struct px_dconn *d, struct gw_h1_header *out, size_t max)
{
    size_t n = 0;
    const char *p = px_buf_data(&d->ea_set), *end = p + px_buf_avail(&d->ea_set);
    while (p < end && n < max) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!eol || !colon || colon > eol)
            break;
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        out[n].name = (struct gw_str){p, (size_t)(colon - p)};
        out[n].value = (struct gw_str){v, (size_t)(eol - v)};
        n++;
        p = eol + 2;
    }
    return n;
}

/* Routing, filters and the upstream head. Returns after answering locally
 * or after starting the first attempt. */
static void
start_request(struct px_dconn *d, struct gw_h1_request *req, size_t head_len)
{
    struct px_worker *w = d->w;
    /* again, after a global limit's or an ExtAuthPolicy's verdict */
    bool resumed = d->rl_from != 0 || d->ea_passed;
    if (!resumed) {
        d->start_ms = now_ms(d);
        d->served++;
        if (GW_UNLIKELY(w->tw != NULL))
            px_trace_start(d, req);
    }
    d->status = 0;
    d->local = false;
    d->status_local_sent = false;
    d->bytes_out = 0;
    d->rsp_started = d->rsp_done = false;
    d->attempts = 0;
    d->stale_retry_used = false;
    d->budget_refused = false;
    d->sent_continue = false;
    d->upgrade = false;
    d->rmods[0] = d->rmods[1] = NULL;
    d->zcoding = 0;
    d->route = NULL;
    d->listener = NULL;
    d->iport = NULL;
    d->up_ep = NULL;
    d->sticky = NULL;
    d->backend = NULL;
    d->in_backoff = false;
    d->u_eof = false;
    px_buf_consume(&d->cors, px_buf_avail(&d->cors));
    d->method = req->method_id;
    d->minor = req->minor_version;
    d->keep_alive = req->keep_alive && !w->draining;
    d->qbody = req->body;
    d->qremain = req->body == GW_H1_BODY_LENGTH ? req->content_length : 0;
    d->req_done = req->body == GW_H1_BODY_NONE ||
                  (req->body == GW_H1_BODY_LENGTH && req->content_length == 0);
    d->qtrailers = false;
    if (req->body == GW_H1_BODY_CHUNKED)
        gw_h1_chunked_init(&d->qch, &px_limits);
    d->expect_continue = req->expect_continue && !d->req_done && d->minor >= 1;
    if (w->p->o.access_log != GW_PROXY_LOG_OFF) {
        copy_trunc(d->logm, sizeof(d->logm), req->method);
        copy_trunc(d->logp, sizeof(d->logp), req->target);
        copy_trunc(d->logh, sizeof(d->logh), req->host);
    }
    d->mode = PX_D_PROXY;
    if (d->stream || d->h2) {
        gw_timer_stop(&d->rtimer);
    } else {
        /* Muted, not stopped: end_request then only moves its deadline
         * later (no node, no heap entry touched). px_dconn_close stops it
         * for good. */
        gw_timer_mute(&d->rtimer);
    }
    const char *in_head = px_buf_data(&d->in);
    (void)in_head;

    /* The head's views point into d->in: consume it only once the
     * upstream head is built (consuming never moves the bytes). */
    if (!w->snap && !resumed) {
        px_buf_consume(&d->in, head_len);
        error_reply(d, 503, true);
        return;
    }
    if (!resumed) /* a resumed request keeps its snapshot: its route, its limits */
        d->snap = px_wsnap_ref(w->snap);
    if (req->method_id == GW_H1_METHOD_CONNECT) {
        /* No tunnelling on an HTTP listener (hostile rl-connect-not-supported). */
        px_buf_consume(&d->in, head_len);
        d->keep_alive = false;
        local_reply(d, 405, GW_STR("Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n"),
                    GW_STR("405 Method Not Allowed\n"), true);
        return;
    }
    const struct gw_ir_port *port = find_port(d);
    d->iport = port;
    px_edge_client(d, NULL, req); /* the peer until the listener is known */
    struct gw_str target = req->path;
    struct gw_str rawpath = target, query = GW_STR_NULL;
    bool has_q = false;
    const char *qm = target.len ? memchr(target.p, '?', target.len) : NULL;
    if (qm) {
        rawpath.len = (size_t)(qm - target.p);
        query = (struct gw_str){qm + 1, target.len - rawpath.len - 1};
        has_q = true;
    }
    char nbuf[8192];
    struct gw_str npath;
    int rc = gw_route_path_normalize(rawpath, nbuf, sizeof(nbuf), &npath);
    if (rc == 0 && opts(d)->merge_slashes)
        rc = gw_route_path_merge_slashes(npath, nbuf, sizeof(nbuf), &npath);
    if (rc < 0 || !port || !d->snap->s->router) {
        px_buf_consume(&d->in, head_len);
        if (rc < 0)
            error_reply(d, rc == GW_ELIMIT ? 414 : 400, true);
        else
            error_reply(d, 404, false);
        return;
    }
    struct gw_route_req rq = {
        .method = req->method,
        .host = req->authority,
        .sni = d->tls ? gw_str_from(d->sni) : GW_STR_NULL,
        .path = npath,
        .query = query,
        .headers = req->headers,
        .nheaders = req->nheaders,
    };
    struct gw_route_result m;
    enum gw_route_status st = gw_router_match(d->snap->s->router, port, &rq, &m);
    if (st != GW_ROUTE_OK) {
        if (st == GW_ROUTE_NO_VHOST || st == GW_ROUTE_NO_ROUTE) {
            d->listener = m.listener; /* counted as the listener's route "" */
            px_edge_client(d, m.listener, req);
        }
        px_buf_consume(&d->in, head_len);
        switch (st) {
        case GW_ROUTE_BAD_REQUEST:
            error_reply(d, 400, true);
            break;
        case GW_ROUTE_MISDIRECTED:
            error_reply(d, 421, false);
            break;
        default:
            error_reply(d, 404, false);
            break;
        }
        return;
    }
    const struct gw_ir_route *r = m.route;
    d->route = r;
    /* HTTP/1.0 clients read no chunks: their responses go as they are. */
    if (GW_UNLIKELY(r->compress) && (d->minor >= 1 || d->stream) && !r->grpc)
        d->zcoding = px_zip_request(r->compress, req);
    d->listener = m.listener;
    px_edge_client(d, m.listener, req);
    if ((r->acl_gateway || r->acl_route) && !px_edge_allowed(d, r)) {
        /* 403 for gRPC too: gRPC maps HTTP 403 to PERMISSION_DENIED. */
        static const char body[] = "403 Forbidden\n";
        px_buf_consume(&d->in, head_len);
        local_reply(d, 403, GW_STR_NULL, (struct gw_str){body, sizeof(body) - 1}, false);
        return;
    }
    /* ExtAuthPolicy first: the request is parked until its service
     * answers (px_dconn_ea_resume), and comes back here with ea_passed. */
    if (r->extauth && !d->ea_passed) {
        struct px_ea_verdict v;
        if (px_ea_start(d, req, head_len, r->extauth, &v) > 0) {
            d->rl_head_len = head_len;
            return;
        }
        if (v.outcome != PX_EA_ALLOW) {
            px_buf_consume(&d->in, head_len);
            extauth_refuse(d, &v);
            return;
        }
    }
    /* Authentication before the rate limits: a limit counts only requests
     * that got through it (docs/policies.md). */
    struct px_auth_out *ao = NULL, ao_store;
    if (r->jwt || r->basic || r->apikey) {
        ao = &ao_store;
        if (!auth_pass(d, req, query, r, ao)) {
            px_buf_consume(&d->in, head_len);
            return;
        }
        if (ao->query_set) {
            query = ao->query;
            has_q = query.len > 0;
        }
    }
    if (r->nratelimits) {
        /* A global limit parks the request until Redis answers; the head
         * stays in d->in and start_request runs again (px_dconn_rl_resume):
         * the checks above are then made again, from the caches. */
        enum rl_result rl = ratelimit_pass(d, req, r);
        if (rl != RL_PASS && ao)
            px_auth_out_release(ao);
        if (rl == RL_PARKED) {
            d->rl_head_len = head_len;
            return;
        }
        if (rl == RL_REFUSED) {
            px_buf_consume(&d->in, head_len);
            return;
        }
    }

    /* Filters, in the order they act. */
    const struct gw_ir_header_mod *qmod = NULL;
    const struct gw_ir_filter *redirect = NULL, *rewrite = NULL;
    const struct gw_ir_filter *mirrors[PX_MAX_MIRRORS];
    unsigned nmirrors = 0;
    for (size_t i = 0; i < r->nfilters; i++) {
        const struct gw_ir_filter *f = &r->filters[i];
        switch (f->type) {
        case GW_IR_F_REQUEST_HEADERS:
            qmod = &f->headers;
            break;
        case GW_IR_F_RESPONSE_HEADERS:
            d->rmods[0] = &f->headers;
            break;
        case GW_IR_F_REDIRECT:
            redirect = f;
            break;
        case GW_IR_F_REWRITE:
            rewrite = f;
            break;
        case GW_IR_F_MIRROR:
            if (nmirrors < PX_MAX_MIRRORS)
                mirrors[nmirrors++] = f;
            break;
        case GW_IR_F_CORS: {
            char cbuf[2048];
            struct gw_route_cors c;
            if (gw_route_cors_eval(f, req->method, req->headers, req->nheaders, cbuf, sizeof(cbuf),
                                   &c) < 0)
                break;
            if (c.kind == GW_ROUTE_CORS_PREFLIGHT) {
                cors_save(d, &c);
                px_buf_consume(&d->in, head_len);
                struct gw_str extra = {px_buf_data(&d->cors), px_buf_avail(&d->cors)};
                local_reply(d, 204, extra, GW_STR_NULL, false);
                return;
            }
            if (c.kind == GW_ROUTE_CORS_ACTUAL)
                cors_save(d, &c);
            break;
        }
        }
    }
    if (redirect) {
        struct gw_buf loc;
        gw_buf_init(&loc, 16384);
        struct gw_route_url url = {
            .scheme = d->tls ? GW_STR("https") : GW_STR("http"),
            .host = req->authority,
            .port = d->port,
            .path = npath,
            .query = has_q ? query : GW_STR_NULL,
        };
        gw_buf_append_cstr(&loc, "Location: ");
        int code = redirect->status_code ? redirect->status_code : 302;
        if (gw_route_redirect_format(redirect, &m, &url, &loc) < 0 ||
            gw_buf_append_cstr(&loc, "\r\n") < 0) {
            gw_buf_release(&loc);
            px_buf_consume(&d->in, head_len);
            error_reply(d, 500, false);
            return;
        }
        px_buf_consume(&d->in, head_len);
        local_reply(d, code, (struct gw_str){loc.p, loc.len}, GW_STR_NULL, false);
        gw_buf_release(&loc);
        return;
    }
    const struct gw_ir_backend *b = r->session ? session_backend(d, req, r) : NULL;
    if (!b)
        b = gw_route_backend_pick(r, (uint32_t)px_worker_rand(w));
    if (!b || b->invalid) {
        px_buf_consume(&d->in, head_len);
        error_reply(d, 500, false);
        return;
    }
    if (b->nendpoints == 0 && (!b->dns_host || backend_state(d, b)->n == 0)) {
        px_buf_consume(&d->in, head_len);
        error_reply(d, 503, false);
        return;
    }
    d->backend = b;
    d->rmods[1] = b->response_headers;
    d->lb_hashed = GW_UNLIKELY(b->lb != NULL) && b->lb->type == GW_IR_LB_CONSISTENT_HASH &&
                   px_lb_key_hash(b->lb, req->headers, req->nheaders, d->peer_ip, &d->lb_hash);

    /* Path and Host after URLRewrite; the query is kept as received. */
    struct gw_str fpath = npath, host = req->authority;
    char rbuf[8192];
    if (rewrite) {
        if (gw_route_path_rewrite(rewrite, &m, npath, rbuf, sizeof(rbuf), &fpath) < 0) {
            px_buf_consume(&d->in, head_len);
            error_reply(d, 414, false);
            return;
        }
        host = gw_route_host_rewrite(rewrite, host);
    }
    char lbuf[16400];
    size_t ln = 0;
    if (fpath.len + 1 + query.len > sizeof(lbuf)) {
        px_buf_consume(&d->in, head_len);
        error_reply(d, 414, true);
        return;
    }
    memcpy(lbuf, fpath.p, fpath.len);
    ln = fpath.len;
    if (has_q) {
        lbuf[ln++] = '?';
        memcpy(lbuf + ln, query.p, query.len);
        ln += query.len;
    }
    d->upgrade = (req->connection & GW_H1_CONN_UPGRADE) && req->upgrade.len &&
                 !gw_h1_list_has(req->upgrade, GW_STR("h2c")) && d->minor >= 1;
    struct gw_h1_header eah[32];
    size_t neah = d->ea_passed ? extauth_fields(d, eah, GW_ARRAY_LEN(eah)) : 0;
    char tfields[PX_TRACE_FIELDS_MAX];
    size_t ntf = GW_UNLIKELY(w->tw != NULL) ? px_trace_fields(d, tfields, sizeof(tfields)) : 0;
    struct px_req_out ro = {
        .req = req,
        .path = {lbuf, ln},
        .host = host,
        .client_ip = gw_str_from(d->peer_ip),
        .tls = d->tls,
        .upgrade = d->upgrade,
        .strip_expect = req->expect_continue,
        .mods = {qmod, b->request_headers},
        .extra = ao ? ao->set : NULL,
        .nextra = ao ? ao->nset : 0,
        .drop = r->extauth ? r->extauth->from_auth : NULL,
        .ndrop = r->extauth ? r->extauth->nfrom_auth : 0,
        .extra2 = eah,
        .nextra2 = neah,
        .trace = {tfields, ntf},
    };
    px_buf_consume(&d->replay, px_buf_avail(&d->replay));
    rc = px_request_head_format(&ro, &d->replay);
    px_buf_consume(&d->in, head_len);
    if (rc < 0) {
        /* GW_EINVAL: a request target or Host the wire check refused (a
         * control character a rewrite put there): not the client's fault. */
        error_reply(d, rc == GW_EINVAL ? 502 : 431, true);
        return;
    }
    d->replay_ok = true;

    for (unsigned i = 0; i < nmirrors; i++)
        start_mirror(d, w, mirrors[i], i);

    if (!d->req_done) {
        d->body_deadline =
            opts(d)->request_read_timeout_ms ? d->start_ms + opts(d)->request_read_timeout_ms : 0;
        body_timer(d);
    }
    if (r->request_timeout_ms > 0)
        gw_timer_start(&d->ttimer, (uint64_t)r->request_timeout_ms);
    if (GW_UNLIKELY(b->retry_budget))
        budget_request(d, b);
    start_attempt(d);
}

static void
head_loop(struct px_dconn *d)
{
    d->in_head_loop = true;
    while (d->mode == PX_D_HEAD && !d->closing) {
        size_t len = px_buf_avail(&d->in);
        if (len == 0 || px_buf_avail(&d->out) >= PX_HIGH)
            break;
        const char *p = px_buf_data(&d->in);
        if (len <= px_limits.max_head_bytes && !gw_h1_head_is_ready(p, len, d->head_checked)) {
            d->head_checked = len;
            break;
        }
        struct gw_h1_request req = {.headers = d->w->hbuf, .max_headers = PX_MAX_HEADERS};
        int n = gw_h1_request_parse(p, len, &req, &px_limits);
        if (n == GW_EAGAIN) {
            d->head_checked = len;
            break;
        }
        d->head_checked = 0;
        if (n < 0) {
            /* RFC 9112 §6.3: answer the parser's status and close. */
            d->method = req.method_id;
            d->keep_alive = false;
            d->req_done = true;
            d->snap = NULL;
            d->mode = PX_D_PROXY;
            d->start_ms = now_ms(d);
            if (d->w->p->o.access_log != GW_PROXY_LOG_OFF)
                log_refused_line(d, p, len);
            error_reply(d, req.error_status ? req.error_status : 400, true);
            break;
        }
        start_request(d, &req, (size_t)n);
    }
    d->in_head_loop = false;
    if (!d->closing)
        d_update(d);
}

void
px_dconn_ea_resume(struct px_dconn *d, const struct px_ea_verdict *v)
{
    if (d->closing || !d->route || !d->route->extauth)
        return;
    bool in_loop = d->in_head_loop;
    d->in_head_loop = true;
    if (v->outcome != PX_EA_ALLOW) {
        px_buf_consume(&d->in, d->rl_head_len);
        extauth_refuse(d, v);
    } else {
        if (!d->ea_set.max)
            px_buf_init(&d->ea_set, 16384);
        px_buf_consume(&d->ea_set, px_buf_avail(&d->ea_set));
        if (px_buf_append_str(&d->ea_set, v->fields) < 0)
            px_buf_consume(&d->ea_set, px_buf_avail(&d->ea_set));
        struct gw_h1_request req = {.headers = d->w->hbuf, .max_headers = PX_MAX_HEADERS};
        int n;
        if (d->stream) {
            n = d->h2s ? px_h2_stream_request(d->h2s, &req) : GW_ECLOSED;
        } else {
            n = gw_h1_request_parse(px_buf_data(&d->in), px_buf_avail(&d->in), &req, &px_limits);
            if (n >= 0 && (size_t)n != d->rl_head_len)
                n = GW_EPARSE;
        }
        if (n < 0) {
            d->in_head_loop = in_loop;
            abort_request(d);
            return;
        }
        d->ea_passed = true;
        start_request(d, &req, (size_t)n);
    }
    d->in_head_loop = in_loop;
    if (d->closing)
        return;
    if (d->mode == PX_D_HEAD && !in_loop && px_buf_avail(&d->in))
        head_loop(d);
    else
        d_update(d);
}

void
px_dconn_rl_resume(struct px_dconn *d, uint32_t idx, const struct px_rl_verdict *v)
{
    if (d->closing || !d->route || idx >= d->route->nratelimits)
        return;
    /* As in head_loop: an answer given in here must not start the next
     * pipelined request before this one's head is consumed. */
    bool in_loop = d->in_head_loop;
    d->in_head_loop = true;
    if (!v->allowed) {
        px_buf_consume(&d->in, d->rl_head_len);
        ratelimit_refuse(d, &d->route->ratelimits[idx], v);
    } else {
        /* The head is parsed again where it waited (the parsed views of the
         * first pass are gone), and the request goes on from the limit
         * after this one, on the same snapshot and route. */
        struct gw_h1_request req = {.headers = d->w->hbuf, .max_headers = PX_MAX_HEADERS};
        int n;
        if (d->stream) {
            n = d->h2s ? px_h2_stream_request(d->h2s, &req) : GW_ECLOSED;
        } else {
            n = gw_h1_request_parse(px_buf_data(&d->in), px_buf_avail(&d->in), &req, &px_limits);
            if (n >= 0 && (size_t)n != d->rl_head_len)
                n = GW_EPARSE;
        }
        if (n < 0) {
            d->in_head_loop = in_loop;
            abort_request(d);
            return;
        }
        d->rl_from = idx + 1;
        start_request(d, &req, (size_t)n);
        d->rl_from = 0;
    }
    d->in_head_loop = in_loop;
    if (d->closing)
        return;
    if (d->mode == PX_D_HEAD && !in_loop && px_buf_avail(&d->in))
        head_loop(d);
    else
        d_update(d);
}

/* ------------------------------------------------------------------------ */
/* Client I/O                                                                */

static void
client_eof(struct px_dconn *d)
{
    d->read_eof = true;
    if (d->h2) {
        px_dconn_close(d);
        return;
    }
    switch (d->mode) {
    case PX_D_HEAD:
    case PX_D_LINGER:
        px_dconn_close(d);
        return;
    case PX_D_PROXY:
        if (!d->req_done) {
            abort_request(d);
            return;
        }
        d->keep_alive = false;
        d_update(d);
        return;
    case PX_D_TUNNEL:
        tunnel_pump(d);
        return;
    }
}

static void
d_read(struct px_dconn *d)
{
    if (GW_UNLIKELY(d->spl == PX_SPL_REQ)) {
        req_splice(d); /* the body's bytes go to the pipe, not to d->in */
        return;
    }
    if (d->mode == PX_D_LINGER) {
        char sink[4096];
        ssize_t n = d_recv(d, sink, sizeof(sink));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            px_dconn_close(d);
        return;
    }
    size_t space = px_buf_reserve(&d->in, PX_READ_CHUNK);
    if (space == 0) {
        d_update(d);
        return;
    }
    ssize_t n = d_recv(d, d->in.p + d->in.len, space);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            if (d->ssl)
                d_update(d); /* OpenSSL may wait on a write */
            return;
        }
        px_dconn_close(d);
        return;
    }
    if (n == 0) {
        client_eof(d);
        return;
    }
    d->in.len += (size_t)n;
    if (d->h2) {
        px_h2_input(d);
        return;
    }
    switch (d->mode) {
    case PX_D_HEAD:
        if (d->served == 0 && !d->tls && px_h2_preface_prefix(px_buf_data(&d->in), 4) &&
            px_buf_avail(&d->in) >= 4) {
            /* "PRI " first: prior-knowledge h2c, or a bad preface that
             * nghttp2 answers. Wait for the whole preface. */
            if (px_buf_avail(&d->in) < px_h2_preface_len() &&
                px_h2_preface_prefix(px_buf_data(&d->in), px_buf_avail(&d->in)))
                return;
            if (!d->got_first_byte) {
                d->got_first_byte = true;
            }
            if (px_h2_start(d) < 0)
                px_dconn_close(d);
            return;
        }
        if (!d->got_first_byte) {
            d->got_first_byte = true;
            d->head_deadline = now_ms(d) + opts(d)->header_timeout_ms;
            gw_timer_start(&d->rtimer, opts(d)->header_timeout_ms);
        }
        head_loop(d);
        return;
    case PX_D_PROXY:
        if (GW_UNLIKELY(d->ea_call != NULL)) {
            px_ea_input(d);
            if (d->closing)
                return;
        }
        if (!d->req_done && d->u && !d->in_backoff)
            pump_request_body(d);
        else
            d_update(d);
        return;
    case PX_D_TUNNEL:
        tunnel_pump(d);
        return;
    default:
        return;
    }
}

static void
handshake(struct px_dconn *d)
{
    int r = px_tls_handshake(d);
    if (r < 0) {
        px_dconn_close(d);
        return;
    }
    if (r == 0) {
        d_update(d);
        return;
    }
    if (d->alpn_h2) {
        if (px_h2_start(d) < 0)
            px_dconn_close(d);
        return;
    }
    /* The handshake counts against the header timeout, which goes on. */
    d_update(d);
}

static void
on_ktimer(struct gw_timer *t)
{
    struct px_dconn *d = t->data;
    if (!d->closing && !d->hs)
        d_read(d);
}

static void
on_dio(struct gw_io *io, unsigned events)
{
    struct px_dconn *d = io->data;
    if (d->hs) {
        handshake(d);
        return;
    }
    if (GW_UNLIKELY(d->spl_want) && splice_try(d))
        return;
    if (d->ssl && d->tls_want == GW_LOOP_WRITE && (events & GW_LOOP_WRITE))
        events |= GW_LOOP_READ; /* the read that waited on the socket */
    if (events & GW_LOOP_WRITE) {
        d_flush(d);
        if (d->closing)
            return;
    }
    if (events & GW_LOOP_READ)
        d_read(d);
}

static void
peer_ip(const struct sockaddr_storage *peer, char *out, size_t cap)
{
    char tmp[80];
    int n = gw_sock_addr_format((const struct sockaddr *)peer, tmp, sizeof(tmp));
    if (n <= 0) {
        snprintf(out, cap, "unknown");
        return;
    }
    /* "ip:port" or "[v6]:port" -> bare address for X-Forwarded-For */
    char *colon = strrchr(tmp, ':');
    if (colon)
        *colon = 0;
    char *s = tmp;
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s[len - 1] = 0;
        s++;
    }
    snprintf(out, cap, "%s", s);
}

void
px_dconn_accept(struct px_worker *w, struct px_listener *l, int fd,
                const struct sockaddr_storage *peer)
{
    struct px_dconn *d = gw_xcalloc(1, sizeof(*d));
    d->w = w;
    d->l = l;
    snprintf(d->address, sizeof(d->address), "%s", l->address);
    d->port = l->port;
    d->tls = l->tls;
    peer_ip(peer, d->peer_ip, sizeof(d->peer_ip));
    memcpy(d->client_ip, d->peer_ip, sizeof(d->client_ip));
    d->peer_sa = d->client_sa = *peer;
    px_buf_init(&d->in, PX_IN_MAX);
    px_buf_init(&d->out, PX_OUT_MAX);
    px_buf_init(&d->replay, PX_REPLAY_MAX);
    px_buf_init(&d->cors, 4096);
    gw_timer_init(w->loop, &d->rtimer, on_rtimer, d);
    gw_timer_init(w->loop, &d->wtimer, on_wtimer, d);
    gw_timer_init(w->loop, &d->ttimer, on_ttimer, d);
    gw_timer_init(w->loop, &d->btimer, on_btimer, d);
    gw_timer_init(w->loop, &d->ktimer, on_ktimer, d);
    gw_io_init(w->loop, &d->io, fd, on_dio, d);
    /* (TCP_NODELAY comes from the listener: gw_sock_listen) */
    d->mode = PX_D_HEAD;
    if (d->tls && px_tls_accept(d) < 0) {
        /* No usable certificate on this port: nothing to say to the peer. */
        close(fd);
        px_buf_release(&d->in);
        px_buf_release(&d->out);
        px_buf_release(&d->replay);
        px_buf_release(&d->cors);
        free(d);
        return;
    }
    gw_io_own(&d->io); /* the loop may do its I/O (io_uring); TLS too (its BIO) */
    d->next = w->conns;
    if (d->next)
        d->next->prev = d;
    w->conns = d;
    w->nconns++;
    d->mport = l->mport;
    bump(&w->m->conns_active[d->mport]);
    bump(&w->m->conns_total[d->mport]);
    /* A silent connection gets the header timeout (hostile silent-connection). */
    gw_timer_start(&d->rtimer, opts(d)->header_timeout_ms);
    d_update(d);
}

/* ------------------------------------------------------------------------ */
/* HTTP/2 streams (down_h2.c)                                                */

struct px_dconn *
px_dconn_stream_new(struct px_dconn *c, struct px_h2_stream *s)
{
    struct px_worker *w = c->w;
    struct px_dconn *d = px_freelist_take(&w->stream_cache, sizeof(*d));
    d->w = w;
    d->stream = true;
    d->h2s = s;
    memcpy(d->address, c->address, sizeof(d->address));
    d->port = c->port;
    d->tls = c->tls;
    memcpy(d->peer_ip, c->peer_ip, sizeof(d->peer_ip));
    memcpy(d->client_ip, c->peer_ip, sizeof(d->client_ip));
    d->peer_sa = d->client_sa = c->peer_sa;
    memcpy(d->sni, c->sni, sizeof(d->sni));
    px_buf_init(&d->in, PX_IN_MAX);
    px_buf_init(&d->out, PX_OUT_MAX);
    px_buf_init(&d->replay, PX_REPLAY_MAX);
    px_buf_init(&d->cors, 4096);
    gw_timer_init(w->loop, &d->rtimer, on_rtimer, d);
    gw_timer_init(w->loop, &d->wtimer, on_wtimer, d);
    gw_timer_init(w->loop, &d->ttimer, on_ttimer, d);
    gw_timer_init(w->loop, &d->btimer, on_btimer, d);
    gw_timer_init(w->loop, &d->ktimer, on_ktimer, d);
    gw_io_init(w->loop, &d->io, -1, on_dio, d);
    d->mode = PX_D_HEAD;
    return d;
}

void
px_dconn_stream_start(struct px_dconn *d, struct gw_h1_request *req)
{
    start_request(d, req, 0);
}

void
px_dconn_stream_input(struct px_dconn *d)
{
    if (d->closing || d->mode != PX_D_PROXY)
        return;
    if (GW_UNLIKELY(d->ea_call != NULL)) {
        px_ea_input(d);
        if (d->closing)
            return;
    }
    if (!d->req_done && d->u && !d->in_backoff)
        pump_request_body(d);
    else
        d_update(d);
}

void
px_dconn_after_flush(struct px_dconn *d)
{
    if (!d->closing)
        after_flush(d);
}

void
px_dconn_update(struct px_dconn *d)
{
    d_update(d);
}

void
px_dconn_flush(struct px_dconn *d)
{
    d_flush(d);
}

void
px_dconn_close_after_flush(struct px_dconn *d)
{
    close_after_flush(d);
}
