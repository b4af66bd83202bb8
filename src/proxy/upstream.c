/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream connections: non-blocking connect with a connect timeout, the
 * per-worker keep-alive pools (per endpoint, most recently used first, an
 * idle connection closed on any byte, EOF or timeout from its peer), and
 * detached mirror connections that send a copy of a request and drop the
 * response. Active connections hand their events to the client connection
 * that owns them (conn.c), which parses and streams the response.
 *
 * The transport follows the backend: plain TCP, TLS (up_tls.c: the
 * handshake runs while the connection is CONNECTING, under the connect
 * timeout), or an HTTP/2 session (up_h2.c) whose requests are virtual
 * connections without a socket. Pooled connections are keyed by TLS
 * configuration and protocol. Events a socket cannot announce (plaintext
 * OpenSSL already holds, HTTP/2 stream progress) are posted and delivered
 * at the end of the loop turn, never re-entrantly.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/internal.h"

#include "base/banned.h"

static void on_uio(struct gw_io *io, unsigned events);

static inline void
bump(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void
uconn_free(struct px_uconn *u)
{
    if (u->h2)
        px_uh2_carrier_free(u);
    px_buf_release(&u->in);
    px_buf_release(&u->out);
    if (u->st)
        px_uh2_stream_free(u); /* u and its stream are one block */
    else
        free(u);
}

static void
on_uclosed(struct gw_io *io)
{
    struct px_uconn *u = io->data;
    if (u->defer_armed) {
        u->free_pending = true; /* the posted events still reference it */
        return;
    }
    uconn_free(u);
}

static void
on_udefer(void *arg)
{
    struct px_uconn *u = arg;
    u->defer_armed = false;
    if (u->free_pending) {
        uconn_free(u);
        return;
    }
    unsigned ev = u->defer_ev;
    u->defer_ev = 0;
    if (u->closing || !ev)
        return;
    if (u->st) {
        if (u->d)
            px_dconn_on_upstream(u->d, ev);
        return;
    }
    on_uio(&u->io, ev);
}

void
px_uconn_post(struct px_uconn *u, unsigned events)
{
    u->defer_ev |= events;
    if (u->defer_armed)
        return;
    u->defer_armed = true;
    gw_loop_defer(u->w->loop, &u->defer, on_udefer, u);
}

static void
idle_unlink(struct px_uconn *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        u->ep->idle = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->next = u->prev = NULL;
    u->ep->nidle--;
}

static void
mirror_unlink(struct px_uconn *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        u->w->mirrors = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->next = u->prev = NULL;
}

/* The end of an attempt counted by a CircuitBreakerPolicy or a
 * LoadBalancerPolicy (px_cb_take). */
static void
shreq_put(struct px_uconn *u)
{
    if (u->shreq) {
        px_cb_put(u->shreq, u->shretry);
        u->shreq = NULL;
        u->shretry = false;
    }
}

void
px_uconn_close(struct px_uconn *u)
{
    if (u->closing)
        return;
    if (u->st) {
        px_uconn_release(u, false);
        return;
    }
    u->closing = true;
    px_ea_detach(u);
    gw_timer_stop(&u->timer);
    if (u->h2)
        px_uh2_carrier_release(u);
    if (u->state == PX_U_IDLE)
        idle_unlink(u);
    else if (u->mirror)
        mirror_unlink(u);
    if (u->feeder) {
        u->feeder->mirrors[u->feeder_slot] = NULL;
        u->feeder = NULL;
    }
    if (u->counted) {
        u->ep->active--;
        u->counted = false;
        shreq_put(u);
    }
    if (u->sock_counted) {
        if (u->ep->sh)
            atomic_fetch_sub_explicit(&u->ep->sh->conns, 1, memory_order_relaxed);
        u->ep->nsock--;
        u->w->nuconns--;
        u->sock_counted = false;
    }
    u->d = NULL;
    px_utls_release(u);
    gw_io_close(&u->io, on_uclosed);
}

static void
on_utimer(struct gw_timer *t)
{
    struct px_uconn *u = t->data;
    if (u->state == PX_U_CONNECTING && u->h2) {
        bump(&u->w->m->up_connect_fail);
        px_uh2_carrier_failed(u, GW_ETIMEDOUT);
        return;
    }
    if (u->state == PX_U_CONNECTING && u->ea) {
        bump(&u->w->m->up_connect_fail);
        px_ea_failed(u);
        return;
    }
    if (u->state == PX_U_CONNECTING && !u->mirror && u->d) {
        px_dconn_on_upstream_error(u->d, GW_ETIMEDOUT, false);
        return;
    }
    px_uconn_close(u);
}

void
px_uconn_update(struct px_uconn *u)
{
    if (u->closing)
        return;
    if (u->st) {
        px_uh2_stream_update(u);
        return;
    }
    unsigned ev = 0;
    switch (u->state) {
    case PX_U_CONNECTING:
        ev = u->handshaking ? (u->tls_want ? u->tls_want : GW_LOOP_READ) : GW_LOOP_WRITE;
        break;
    case PX_U_IDLE:
        ev = GW_LOOP_READ;
        if (u->h2 && px_buf_avail(&u->out))
            ev |= GW_LOOP_WRITE; /* a session may still owe frames */
        break;
    default:
        if (px_buf_avail(&u->out))
            ev |= GW_LOOP_WRITE;
        if (!u->read_paused && px_buf_avail(&u->in) < PX_IN_MAX)
            ev |= GW_LOOP_READ;
        if (GW_UNLIKELY(u->d && (u->d->spl | u->d->spl_want)))
            ev = px_dconn_splice_up_interest(u->d, ev);
        if (u->ssl && u->tls_want)
            ev |= u->tls_want; /* a read that needs a write, or the reverse */
        if (u->ssl && (ev & GW_LOOP_READ) && px_utls_has_pending(u))
            px_uconn_post(u, GW_LOOP_READ);
        break;
    }
    gw_io_set(&u->io, ev);
}

ssize_t
px_uconn_recv(struct px_uconn *u, void *buf, size_t n)
{
    if (u->st)
        return px_uh2_stream_recv(u, buf, n);
    if (u->failed) {
        errno = EPROTO;
        return -1;
    }
    if (u->ssl)
        return px_utls_recv(u, buf, n);
    return gw_io_recv(&u->io, buf, n);
}

ssize_t
px_uconn_send_span(struct px_uconn *u, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w =
            u->ssl ? px_utls_send(u, p + done, n - done) : gw_io_send(&u->io, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -errno;
        }
        done += (size_t)w;
    }
    return (ssize_t)done;
}

int
px_uconn_flush(struct px_uconn *u)
{
    if (u->st)
        return px_uh2_stream_flush(u);
    if (u->state == PX_U_CONNECTING || u->closing)
        return 0;
    if (u->failed)
        return -EPROTO;
    if (!px_buf_avail(&u->out))
        return 0;
    ssize_t w = px_uconn_send_span(u, px_buf_data(&u->out), px_buf_avail(&u->out));
    if (w < 0)
        return (int)w;
    px_buf_consume(&u->out, (size_t)w);
    return 0;
}

struct px_uconn *
px_uconn_connect(struct px_worker *w, struct px_ep *ep, struct px_utls_cfg *tcfg, bool h2)
{
    if (!ep->base.sa_ok)
        return NULL;
    unsigned limit = w->p->o.max_endpoint_connections;
    if ((limit && ep->nsock >= limit) || w->nconns + w->nuconns >= w->max_fds) {
        /* A local limit, not the endpoint's failure: no ejection, no
         * retry (px_uconn_get's callers read up_refused). */
        bump(limit && ep->nsock >= limit ? &w->m->up_refused_ep : &w->m->up_refused_fds);
        w->up_refused = true;
        return NULL;
    }
    /* CircuitBreakerPolicy maxConnections: each worker may hold its share
     * of the limit (max / workers, the remainder to the first ones, at
     * least one), so that the sum never passes it (unless the limit is
     * below the worker count) and a worker can always reuse what it holds:
     * connections pooled by another worker would otherwise block it.
     * Refused like the limits above. */
    uint32_t cb = w->cb_max_conns;
    if (cb) {
        unsigned n = w->p->nworkers ? w->p->nworkers : 1;
        unsigned share = cb / n + (w->id < cb % n ? 1u : 0u);
        if (ep->nsock >= (share ? share : 1u)) {
            bump(&w->m->cb_open[PX_CB_CONNECTIONS]);
            w->up_refused = true;
            return NULL;
        }
    }
    if (ep->sh)
        atomic_fetch_add_explicit(&ep->sh->conns, 1, memory_order_relaxed);
    int fd = socket(ep->base.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto uncount;
    gw_sock_set_nodelay(fd);
    int rc;
    do {
        rc = connect(fd, (const struct sockaddr *)&ep->base.sa, ep->base.salen);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        bump(&w->m->up_connect_fail);
        goto uncount;
    }
    struct px_uconn *u = gw_xcalloc(1, sizeof(*u));
    u->w = w;
    u->ep = ep;
    u->sock_counted = true; /* ep->sh->conns counted above */
    ep->nsock++;
    w->nuconns++;
    px_buf_init(&u->in, PX_IN_MAX);
    px_buf_init(&u->out, PX_OUT_MAX);
    gw_timer_init(w->loop, &u->timer, on_utimer, u);
    gw_io_init(w->loop, &u->io, fd, on_uio, u);
    /* TLS and HTTP/2 start from the connected event, even after an
     * immediate connect, so there is one path. */
    u->state = rc == 0 && !tcfg && !h2 ? PX_U_ACTIVE : PX_U_CONNECTING;
    if (tcfg) {
        if (px_utls_start(u, tcfg) < 0)
            u->failed = true; /* fails at the handshake, logged there */
    }
    if (u->state == PX_U_CONNECTING)
        gw_timer_start(&u->timer, w->p->o.connect_timeout_ms);
    else
        gw_io_own(&u->io); /* plain HTTP/1.1: the loop may do its I/O */
    bump(&w->m->up_conns_total);
    return u;
uncount:
    if (ep->sh)
        atomic_fetch_sub_explicit(&ep->sh->conns, 1, memory_order_relaxed);
    return NULL;
}

struct px_uconn *
px_uconn_pool_take(struct px_ep *ep, const struct px_utls_cfg *tcfg, bool h2)
{
    struct px_uconn *u = ep->idle;
    while (u && !(u->tcfg == tcfg && (u->h2 != NULL) == h2))
        u = u->next;
    if (!u)
        return NULL;
    idle_unlink(u);
    /* The idle timer is muted, not stopped: the next pool_put only moves
     * its deadline later, which touches neither its node nor its heap
     * entry; a stop here and a start there would touch both, cold lines
     * with many connections, per request. */
    gw_timer_mute(&u->timer);
    u->state = PX_U_ACTIVE;
    u->reused = true;
    bump(&u->w->m->up_reuse);
    return u;
}

bool
px_uconn_pool_put(struct px_uconn *u)
{
    struct px_worker *w = u->w;
    if (w->draining || u->ep->nidle >= w->p->o.pool_max_idle || u->state != PX_U_ACTIVE ||
        u->failed || px_utls_has_pending(u))
        return false;
    u->state = PX_U_IDLE;
    u->mirror = false;
    u->prev = NULL;
    u->next = u->ep->idle;
    if (u->next)
        u->next->prev = u;
    u->ep->idle = u;
    u->ep->nidle++;
    gw_timer_start(&u->timer, w->p->o.pool_idle_ms);
    px_uconn_update(u);
    return true;
}

/* The client certificate of the Gateway that owns d's port, if any. */
static const struct gw_ir_cert *
client_cert(const struct px_dconn *d)
{
    const struct gw_ir *ir = d->snap->s->ir;
    for (size_t i = 0; i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (!pt->udp && pt->port == d->port &&
            strcmp(pt->address ? pt->address : "", d->address) == 0)
            return pt->backend_client_cert;
    }
    return NULL;
}

struct px_uconn *
px_uconn_get(struct px_worker *w, struct px_ep *ep, struct px_dconn *d)
{
    const struct gw_ir_backend *b = d ? d->backend : NULL;
    struct px_utls_cfg *tcfg = NULL;
    bool h2 = false;
    w->up_refused = false;
    /* Read by px_uconn_connect, on this path and the HTTP/2 one. */
    w->cb_max_conns = b && b->circuit ? b->circuit->max_connections : 0;
    if (b) {
        /* TLS hides the appProtocol in the IR: gRPC routes still mean h2. */
        h2 = b->app == GW_IR_APP_H2C || (b->app == GW_IR_APP_TLS && d->route && d->route->grpc);
        if (b->tls)
            tcfg = px_utls_cfg_get(w, d->snap->s->gen, b->tls,
                                   b->tls->client_cert ? b->tls->client_cert : client_cert(d), h2);
    }
    struct px_uconn *u;
    if (h2) {
        u = px_uh2_stream_open(w, ep, tcfg, b->name);
        px_utls_cfg_unref(tcfg);
        if (!u)
            return NULL;
    } else if ((u = px_uconn_pool_take(ep, tcfg, false))) {
        px_utls_cfg_unref(tcfg);
    } else {
        u = px_uconn_connect(w, ep, tcfg, false);
        if (!u) {
            px_utls_cfg_unref(tcfg);
            return NULL;
        }
        u->reused = false;
        if (b)
            snprintf(u->backend, sizeof(u->backend), "%s", b->name ? b->name : "-");
    }
    u->d = d;
    u->got_bytes = false;
    u->read_paused = false;
    u->counted = true;
    ep->active++;
    px_uconn_update(u);
    return u;
}

void
px_uconn_release(struct px_uconn *u, bool reusable)
{
    struct px_worker *w = u->w;
    if (u->counted) {
        u->ep->active--;
        u->counted = false;
        shreq_put(u);
    }
    u->d = NULL;
    if (u->st) {
        /* A stream: the session it ran on stays (up_h2.c decides). */
        if (u->closing)
            return;
        u->closing = true;
        px_uh2_stream_close(u, reusable);
        px_uconn_post(u, 0);
        u->free_pending = true;
        return;
    }
    if (!reusable || px_buf_avail(&u->in) || px_buf_avail(&u->out) || !px_uconn_pool_put(u)) {
        px_uconn_close(u);
        return;
    }
    (void)w;
}

/* ------------------------------------------------------------------------ */
/* Mirrors: detached, fire and forget.                                       */

struct px_uconn *
px_mirror_start(struct px_worker *w, struct px_ep *ep)
{
    struct px_uconn *u = px_uconn_get(w, ep, NULL);
    if (!u)
        return NULL;
    if (u->counted) {
        ep->active--;
        u->counted = false;
    }
    u->mirror = true;
    u->req_done = false;
    u->rhead_done = false;
    u->prev = NULL;
    u->next = w->mirrors;
    if (u->next)
        u->next->prev = u;
    w->mirrors = u;
    if (u->state != PX_U_CONNECTING)
        gw_timer_start(&u->timer, w->p->o.response_timeout_ms);
    return u;
}

void
px_mirror_finish_request(struct px_uconn *u)
{
    u->req_done = true;
    if (u->feeder) {
        u->feeder->mirrors[u->feeder_slot] = NULL;
        u->feeder = NULL;
    }
}

/* Reads and drops the mirror's response; true when it is complete. */
static int
mirror_consume(struct px_uconn *u)
{
    for (;;) {
        size_t len = px_buf_avail(&u->in);
        if (!u->rhead_done) {
            struct gw_h1_response res = {.headers = u->w->hbuf, .max_headers = PX_MAX_HEADERS};
            int n = gw_h1_response_parse(px_buf_data(&u->in), len, &res, NULL, u->method);
            if (n == GW_EAGAIN)
                return 0;
            if (n < 0)
                return -1;
            px_buf_consume(&u->in, (size_t)n);
            if (res.status < 200)
                continue;
            u->rhead_done = true;
            u->keep = res.keep_alive;
            u->rbody = res.body;
            u->rremain = res.content_length;
            if (res.body == GW_H1_BODY_CHUNKED)
                gw_h1_chunked_init(&u->rch, NULL);
            if (res.body == GW_H1_BODY_NONE)
                return 1;
            if (res.body == GW_H1_BODY_TUNNEL)
                return -1;
            continue;
        }
        if (len == 0)
            return u->rbody == GW_H1_BODY_LENGTH && u->rremain == 0 ? 1 : 0;
        if (u->rbody == GW_H1_BODY_LENGTH) {
            size_t n = (size_t)GW_MIN((uint64_t)len, u->rremain);
            px_buf_consume(&u->in, n);
            u->rremain -= n;
            if (u->rremain == 0)
                return 1;
        } else if (u->rbody == GW_H1_BODY_CHUNKED) {
            size_t used = 0;
            struct gw_str data;
            int r = gw_h1_chunked_decode(&u->rch, px_buf_data(&u->in), len, &used, &data);
            px_buf_consume(&u->in, used);
            if (r == GW_H1_CHUNKED_DONE)
                return 1;
            if (r == GW_EAGAIN)
                return 0;
            if (r < 0)
                return -1;
        } else {
            px_buf_consume(&u->in, len);
        }
    }
}

static void
mirror_io(struct px_uconn *u, unsigned events)
{
    if (events & GW_LOOP_WRITE) {
        if (px_uconn_flush(u) < 0) {
            px_uconn_close(u);
            return;
        }
    }
    if (events & GW_LOOP_READ) {
        if (px_buf_reserve(&u->in, PX_READ_CHUNK) == 0) {
            px_uconn_close(u);
            return;
        }
        ssize_t n = gw_io_recv(&u->io, u->in.p + u->in.len, u->in.cap - u->in.len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            px_uconn_close(u);
            return;
        }
        if (n > 0) {
            u->in.len += (size_t)n;
            int r = mirror_consume(u);
            if (r < 0) {
                px_uconn_close(u);
                return;
            }
            if (r == 1) {
                mirror_unlink(u);
                gw_timer_stop(&u->timer);
                bool ok =
                    u->keep && u->req_done && !px_buf_avail(&u->out) && px_buf_avail(&u->in) == 0;
                u->mirror = false;
                px_uconn_release(u, ok);
                return;
            }
        }
    }
    px_uconn_update(u);
}

/* ------------------------------------------------------------------------ */

/* The connect or the TLS handshake failed. */
static void
connect_failed(struct px_uconn *u, int err)
{
    gw_timer_stop(&u->timer);
    bump(&u->w->m->up_connect_fail);
    if (u->h2) {
        px_uh2_carrier_failed(u, err);
        return;
    }
    if (u->ea) {
        px_ea_failed(u);
        return;
    }
    if (u->mirror || !u->d) {
        px_uconn_close(u);
        return;
    }
    if (err == GW_ETLS) {
        /* Not a refused connection: the attempt fails as a bad gateway
         * when conn.c next reads or writes. */
        u->failed = true;
        u->handshaking = false;
        u->state = PX_U_ACTIVE;
        px_dconn_on_upstream(u->d, GW_LOOP_READ);
        return;
    }
    px_dconn_on_upstream_error(u->d, err, false);
}

/* An idle pooled connection has nothing to say: any byte, EOF or error
 * means it is no longer usable (TLS: records that carry no data, such as
 * session tickets, are fine). */
static void
idle_io(struct px_uconn *u)
{
    char b;
    ssize_t n;
    if (u->ssl) {
        n = px_utls_recv(u, &b, 1);
        if (n < 0 && errno == EAGAIN && u->tls_want == GW_LOOP_READ)
            return;
    } else {
        n = gw_io_is_owned(&u->io) ? gw_io_recv(&u->io, &b, 1) : recv(u->io.fd, &b, 1, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
    }
    px_uconn_close(u);
}

static void
on_uio(struct gw_io *io, unsigned events)
{
    struct px_uconn *u = io->data;
    if (u->state == PX_U_IDLE && !u->h2) {
        idle_io(u);
        return;
    }
    if (u->state == PX_U_CONNECTING) {
        if (!u->handshaking) {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (err == 0 && !(events & (GW_LOOP_WRITE | GW_LOOP_ERROR)))
                return;
            if (err) {
                connect_failed(u, -err);
                return;
            }
            u->handshaking = u->ssl != NULL || u->failed;
        }
        if (u->handshaking) {
            int r = u->failed ? GW_ETLS : px_utls_handshake(u, u->backend);
            if (r == 0) {
                px_uconn_update(u);
                return;
            }
            if (r < 0) {
                connect_failed(u, GW_ETLS);
                return;
            }
            u->handshaking = false;
        }
        gw_timer_stop(&u->timer);
        u->state = PX_U_ACTIVE;
        if (!u->ssl && !u->h2 && !u->failed)
            gw_io_own(&u->io);
        if (u->h2) {
            px_uh2_carrier_ready(u);
            return;
        }
        if (u->mirror)
            gw_timer_start(&u->timer, u->w->p->o.response_timeout_ms);
        events = GW_LOOP_WRITE;
    }
    if (u->h2) {
        px_uh2_carrier_io(u, events);
        return;
    }
    if (u->mirror) {
        mirror_io(u, events);
        return;
    }
    if (u->ea) {
        px_ea_io(u, events);
        return;
    }
    if (!u->d) {
        px_uconn_close(u);
        return;
    }
    px_dconn_on_upstream(u->d, events);
}
