/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP and TLS passthrough connections. One struct per client connection:
 *
 *   HELLO       (TLS ports) reading the ClientHello into the client->upstream
 *               buffer, bounded in size (GW_L4_HELLO_MAX) and time, until its
 *               SNI selects a route; the peeked bytes are forwarded later
 *   CONNECTING  non-blocking connect to an endpoint of the weighted backend,
 *               under the connect timeout; a failure reports the endpoint
 *               (passive ejection) and tries another, a few times at most
 *   SPLICE      bytes both ways through two bounded buffers: a side is read
 *               only while the buffer towards the other side has room
 *               (backpressure), EOF becomes shutdown(SHUT_WR) on the other
 *               side once the buffer drained (half-close), both halves shut
 *               ends the connection; an error on either side resets both
 *
 * A route with no usable backend (unresolved, no endpoints, weights 0), an
 * unknown SNI or a malformed ClientHello closes the client with a reset at
 * once. The connection pins the snapshot it was accepted on, so a reload
 * never moves it.
 *
 * Memory: the client's gw_io is embedded here and its close callback frees
 * the connection; each upstream attempt has its own small heap io (a
 * retry may start before the failed attempt's deferred close has run).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l4/internal.h"

#include "base/banned.h"

enum cstate { C_HELLO, C_CONNECTING, C_SPLICE, C_CLOSED };

/* Bytes read from one side, waiting to be written to the other. */
struct dir {
    char *p;
    size_t off, len;
    bool eof;  /* the reading side sent EOF */
    bool shut; /* the writing side's write half is shut down */
};

struct up {
    struct gw_io io;
    struct l4_conn *c;
};

struct l4_conn {
    struct gw_l4_worker *w; /* NULL once closing */
    struct l4_conn *next, *prev;
    void *pin;
    gw_l4_pin_fn unref;
    const struct gw_ir_port *pt;         /* borrowed from the pinned snapshot */
    const struct gw_ir_backend *backend; /* likewise */
    struct l4_ep *ep;
    struct gw_io cio;
    struct up *u;
    struct gw_timer timer;
    enum cstate st;
    unsigned attempts;
    uint64_t last; /* last byte moved, for the idle timeout */
    struct dir c2u, u2c;
};

static void
conn_free(struct gw_io *io)
{
    struct l4_conn *c = io->data;
    free(c->c2u.p);
    free(c->u2c.p);
    if (c->unref)
        c->unref(c->pin);
    free(c);
}

static void
up_free(struct gw_io *io)
{
    free(io->data); /* the struct up */
}

static void
up_close(struct l4_conn *c, bool reset)
{
    struct up *u = c->u;
    if (!u)
        return;
    c->u = NULL;
    if (reset && u->io.fd >= 0)
        gw_sock_set_reset_on_close(u->io.fd);
    gw_io_close(&u->io, up_free);
}

static void
conn_close(struct l4_conn *c, bool reset)
{
    if (c->st == C_CLOSED)
        return;
    c->st = C_CLOSED;
    struct gw_l4_worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    c->w = NULL;
    gw_timer_stop(&c->timer);
    up_close(c, reset);
    if (reset && c->cio.fd >= 0)
        gw_sock_set_reset_on_close(c->cio.fd);
    gw_io_close(&c->cio, conn_free);
}

void
l4_conn_close_all(struct gw_l4_worker *w)
{
    while (w->conns)
        conn_close(w->conns, true);
}

/* ------------------------------------------------------------------------ */
/* Splicing                                                                  */

static bool
so_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return true;
    return err != 0;
}

static size_t
dir_room(struct dir *d)
{
    if (d->off == d->len)
        d->off = d->len = 0;
    if (d->len == L4_BUF && d->off > 0) {
        memmove(d->p, d->p + d->off, d->len - d->off);
        d->len -= d->off;
        d->off = 0;
    }
    return L4_BUF - d->len;
}

/*
 * Moves what it can from fd `from` through d to fd `to`. Returns 1 when some
 * byte moved (or a half was shut), 0 when nothing could, <0 on an error
 * (either side).
 */
static int
dir_move(struct dir *d, int from, int to)
{
    int progress = 0;
    if (!d->eof) {
        size_t room = dir_room(d);
        if (room > 0) {
            ssize_t n = recv(from, d->p + d->len, room, 0);
            if (n > 0) {
                d->len += (size_t)n;
                progress = 1;
            } else if (n == 0) {
                d->eof = true;
                progress = 1;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return -errno;
            }
        }
    }
    if (d->len > d->off) {
        ssize_t n = send(to, d->p + d->off, d->len - d->off, MSG_NOSIGNAL);
        if (n > 0) {
            d->off += (size_t)n;
            progress = 1;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return -errno;
        }
    }
    if (d->eof && d->off == d->len && !d->shut) {
        /* half-close: the other side sees our EOF, and may still answer */
        if (shutdown(to, SHUT_WR) < 0 && errno != ENOTCONN)
            return -errno;
        d->shut = true;
        progress = 1;
    }
    return progress;
}

static void
update_interest(struct l4_conn *c)
{
    unsigned ci = 0, ui = 0;
    if (!c->c2u.eof && (c->c2u.len < L4_BUF || c->c2u.off > 0))
        ci |= GW_LOOP_READ;
    if (c->u2c.len > c->u2c.off)
        ci |= GW_LOOP_WRITE;
    if (!c->u2c.eof && (c->u2c.len < L4_BUF || c->u2c.off > 0))
        ui |= GW_LOOP_READ;
    if (c->c2u.len > c->c2u.off)
        ui |= GW_LOOP_WRITE;
    gw_io_set(&c->cio, ci);
    gw_io_set(&c->u->io, ui);
}

static void
pump(struct l4_conn *c)
{
    int cfd = c->cio.fd, ufd = c->u->io.fd;
    bool moved = false;
    /* A few rounds at most, so one busy connection cannot starve the loop;
     * level-triggered epoll brings us back for the rest. */
    for (int round = 0; round < 8; round++) {
        int a = dir_move(&c->c2u, cfd, ufd);
        int b = a < 0 ? 0 : dir_move(&c->u2c, ufd, cfd);
        if (a < 0 || b < 0) {
            conn_close(c, true);
            return;
        }
        if (!a && !b)
            break;
        moved = true;
    }
    if (moved)
        c->last = gw_loop_now(c->w->loop);
    if (c->c2u.shut && c->u2c.shut) {
        conn_close(c, false);
        return;
    }
    update_interest(c);
}

/* ------------------------------------------------------------------------ */
/* Upstream                                                                  */

static void connect_next(struct l4_conn *c);

static void
on_timer(struct gw_timer *t)
{
    struct l4_conn *c = t->data;
    struct gw_l4_worker *w = c->w;
    uint64_t now = gw_loop_now(w->loop);
    switch (c->st) {
    case C_HELLO:
        conn_close(c, true);
        return;
    case C_CONNECTING:
        l4_ep_report(c->ep, true, w->o.eject_consecutive, w->o.eject_ms, now);
        up_close(c, true);
        connect_next(c);
        return;
    case C_SPLICE:
        if (now - c->last >= w->o.idle_timeout_ms) {
            conn_close(c, true);
            return;
        }
        gw_timer_start(t, w->o.idle_timeout_ms - (now - c->last));
        return;
    case C_CLOSED:
        return;
    }
}

static void
connected(struct l4_conn *c)
{
    struct gw_l4_worker *w = c->w;
    uint64_t now = gw_loop_now(w->loop);
    l4_ep_report(c->ep, false, w->o.eject_consecutive, w->o.eject_ms, now);
    gw_sock_set_nodelay(c->u->io.fd);
    c->st = C_SPLICE;
    c->u2c.p = gw_xmalloc(L4_BUF);
    c->last = now;
    gw_timer_start(&c->timer, w->o.idle_timeout_ms);
    pump(c);
}

static void
on_up(struct gw_io *io, unsigned events)
{
    struct up *u = io->data;
    struct l4_conn *c = u->c;
    if (c->st == C_CONNECTING) {
        if (so_error(io->fd)) {
            struct gw_l4_worker *w = c->w;
            l4_ep_report(c->ep, true, w->o.eject_consecutive, w->o.eject_ms, gw_loop_now(w->loop));
            up_close(c, true);
            connect_next(c);
            return;
        }
        connected(c);
        return;
    }
    if ((events & GW_LOOP_ERROR) && so_error(io->fd)) {
        conn_close(c, true);
        return;
    }
    pump(c);
}

static void
connect_next(struct l4_conn *c)
{
    struct gw_l4_worker *w = c->w;
    size_t limit = c->backend->nendpoints < L4_ATTEMPTS ? c->backend->nendpoints : L4_ATTEMPTS;
    while (c->attempts < limit) {
        uint64_t now = gw_loop_now(w->loop);
        struct l4_ep *ep = l4_ep_pick(&w->eps, c->backend, l4_cursor(w, c->backend),
                                      c->attempts ? c->ep : NULL, now);
        if (!ep)
            break;
        c->attempts++;
        c->ep = ep;
        int fd = socket(ep->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        struct up *u = gw_xcalloc(1, sizeof(*u));
        u->c = c;
        gw_io_init(w->loop, &u->io, fd, on_up, u);
        c->u = u;
        if (connect(fd, (const struct sockaddr *)&ep->sa, ep->salen) == 0) {
            connected(c);
            return;
        }
        if (errno == EINPROGRESS) {
            c->st = C_CONNECTING;
            gw_io_set(&u->io, GW_LOOP_WRITE);
            gw_io_set(&c->cio, 0); /* the client waits: its bytes stay in the kernel */
            gw_timer_start(&c->timer, w->o.connect_timeout_ms);
            return;
        }
        l4_ep_report(ep, true, w->o.eject_consecutive, w->o.eject_ms, now);
        up_close(c, true);
    }
    conn_close(c, true);
}

static void
start_route(struct l4_conn *c, const struct gw_ir_l4 *r)
{
    const struct gw_ir_backend *b = r ? l4_backend_pick(r, l4_rand(c->w)) : NULL;
    if (!b || b->invalid || b->nendpoints == 0) {
        conn_close(c, true);
        return;
    }
    c->backend = b;
    connect_next(c);
}

/* ------------------------------------------------------------------------ */
/* Client                                                                    */

static void
hello_read(struct l4_conn *c)
{
    struct dir *d = &c->c2u;
    ssize_t n = recv(c->cio.fd, d->p + d->len, GW_L4_HELLO_MAX - d->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c, true);
        return;
    }
    d->len += (size_t)n;
    char sni[GW_L4_SNI_MAX + 1];
    int rc = gw_l4_sni_parse((const uint8_t *)d->p, d->len, sni, sizeof(sni));
    if (rc == GW_EAGAIN && d->len < GW_L4_HELLO_MAX)
        return;
    if (rc < 0) {
        conn_close(c, true);
        return;
    }
    gw_timer_stop(&c->timer);
    start_route(c, gw_l4_route_by_sni(c->pt, sni, NULL));
}

static void
on_client(struct gw_io *io, unsigned events)
{
    struct l4_conn *c = io->data;
    if ((events & GW_LOOP_ERROR) && so_error(io->fd)) {
        conn_close(c, true);
        return;
    }
    switch (c->st) {
    case C_HELLO:
        hello_read(c);
        return;
    case C_SPLICE:
        pump(c);
        return;
    case C_CONNECTING:
    case C_CLOSED:
        return;
    }
}

static bool
port_is_tls(const struct gw_ir_port *pt)
{
    for (size_t i = 0; i < pt->nlisteners; i++)
        if (pt->listeners[i].proto == GW_IR_TLS)
            return true;
    return false;
}

void
gw_l4_accept(struct gw_l4_worker *w, void *pin, const struct gw_ir *ir, const char *address,
             uint16_t port, int fd, const struct sockaddr_storage *peer)
{
    (void)peer;
    const struct gw_ir_port *pt = l4_port_find(ir, address, port, false);
    if (!pt || !gw_l4_port_is_served(pt) || w->draining ||
        (w->o.max_conns && w->nconns >= w->o.max_conns)) {
        gw_sock_set_reset_on_close(fd);
        close(fd);
        return;
    }
    struct l4_conn *c = gw_xcalloc(1, sizeof(*c));
    c->w = w;
    c->pin = pin;
    if (w->o.pin_ref)
        w->o.pin_ref(pin);
    c->unref = w->o.pin_ref ? w->o.pin_unref : NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    c->c2u.p = gw_xmalloc(L4_BUF);
    gw_io_init(w->loop, &c->cio, fd, on_client, c);
    gw_timer_init(w->loop, &c->timer, on_timer, c);
    gw_sock_set_nodelay(fd);
    c->pt = pt;
    if (port_is_tls(pt)) {
        c->st = C_HELLO;
        gw_io_set(&c->cio, GW_LOOP_READ);
        gw_timer_start(&c->timer, w->o.hello_timeout_ms);
        return;
    }
    start_route(c, gw_l4_route_plain(pt));
}
