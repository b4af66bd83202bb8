/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP and TLS (passthrough or terminated) connections. One struct per
 * client connection:
 *
 *   HELLO       (TLS ports) reading the ClientHello into the client->upstream
 *               buffer, bounded in size (GW_L4_HELLO_MAX) and time, until its
 *               SNI selects a listener and route; on a Passthrough listener
 *               the peeked bytes are forwarded later
 *   HANDSHAKE   (Terminate listeners) the server handshake, under the same
 *               deadline as the ClientHello; OpenSSL is fed the peeked bytes
 *               from a memory BIO first, then reads the socket itself
 *   CONNECTING  non-blocking connect to an endpoint of the weighted backend,
 *               under the connect timeout; a failure reports the endpoint
 *               (passive ejection) and tries another, a few times at most
 *   SPLICE      bytes both ways through two bounded buffers (plain TCP:
 *               pipes that splice(2) fills and empties, so the bytes stay in
 *               the kernel; 64 KiB each way either way): a side is read
 *               only while the buffer towards the other side has room
 *               (backpressure), EOF becomes shutdown(SHUT_WR) on the other
 *               side once the buffer drained (half-close), both halves shut
 *               ends the connection; an error on either side resets both.
 *               With TLS terminated, the client side goes through SSL_read/
 *               SSL_write (whichever way OpenSSL wants the socket), and its
 *               half-close is close_notify followed by shutdown(SHUT_WR)
 *
 * Epoll reports EPOLLHUP whatever the interest, and a socket is "hung up"
 * once both its halves are shut (we sent our FIN, its FIN came) while the
 * other direction may still be draining towards a slow peer. Left
 * registered with nothing to do, such a socket would wake the worker every
 * turn. So a side done both ways (its EOF read, our FIN sent) is closed at
 * once, and a hung-up side that must wait (unread bytes behind a full
 * buffer) is left with no interest, which the loop turns into no
 * registration (gw_io_set(io, 0)), until there is room.
 *
 * A route with no usable backend (unresolved, no endpoints, weights 0), an
 * unknown SNI, a malformed ClientHello, a Terminate listener without a
 * usable certificate or a failed handshake closes the client with a reset at
 * once. The connection pins the snapshot it was accepted on, so a reload
 * never moves it.
 *
 * Memory: each side (the client, each upstream attempt) is a small heap
 * struct around its gw_io, freed by the io's deferred close (a retry or an
 * early close may replace a side before the old io's deferred close has
 * run); the connection itself is freed by a gw_loop_defer after
 * conn_close.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "l4/internal.h"

#include "base/banned.h"

enum cstate { C_HELLO, C_HANDSHAKE, C_CONNECTING, C_SPLICE, C_CLOSED };

/* Bytes read from one side, waiting to be written to the other: in the
 * buffer p, or (plain TCP, once L4_BUF bytes went through the buffer, so a
 * short exchange such as a TLS handshake costs no pipe) in a pipe that
 * splice(2) fills from one socket and empties into the other, so the bytes
 * never cross into user space. The buffer's bytes always come first: once
 * there is a pipe, the buffer only takes new ones while it holds some. */
struct dir {
    char *p;
    size_t off, len;
    struct gw_pipe pipe; /* not open while copying through p */
    size_t copied;       /* bytes through p, until it is L4_BUF */
    bool pipe_tried;     /* a pipe was made (or could not be) */
    bool pipe_wait;      /* a splice into the pipe found it full (or the socket
                          * empty) while it held bytes: read again once some left */
    bool eof;            /* the reading side sent EOF */
    bool shut;           /* the writing side's write half is shut down */
};

/* One side's socket. */
struct side {
    struct gw_io io;
    struct l4_conn *c;
    bool client;
    bool dead; /* reset by its peer: a reset close needs no SO_LINGER */
};

struct l4_conn {
    struct gw_l4_worker *w; /* NULL once closing */
    struct l4_conn *next, *prev;
    void *pin;
    gw_l4_pin_fn unref;
    const struct gw_ir_port *pt;         /* borrowed from the pinned snapshot */
    const struct gw_ir_backend *backend; /* likewise */
    struct gw_l4_ep *ep;
    struct gw_l4_counters *m; /* its series; NULL until a route was chosen */
    struct side *cs;          /* the client; NULL once closed */
    struct side *u;           /* the upstream attempt; NULL before, between, once closed */
    struct gw_defer dfree;
    struct gw_timer timer;
    /* Terminated TLS: NULL on plain and passthrough connections. */
    SSL *ssl;
    bool hello_rbio;      /* ssl still reads the peeked ClientHello */
    unsigned rd_want;     /* GW_LOOP_* the last SSL_read waits for */
    unsigned wr_want;     /* likewise SSL_write and SSL_shutdown */
    struct gw_timer kick; /* plaintext buffered in OpenSSL, no event */
    enum cstate st;
    /* The client may have bytes we have not read: its reads found no end,
     * or it had an event while the upstream connected. (Else the first
     * pump does not try a read that would only say EAGAIN.) */
    bool c_unread;
    unsigned attempts;
    uint64_t last; /* last byte moved, for the idle timeout */
    struct dir c2u, u2c;
};

static void on_side(struct gw_io *io, unsigned events);

static void
conn_free(void *p)
{
    struct l4_conn *c = p;
    SSL_free(c->ssl); /* its socket BIOs do not own the fd */
    gw_pipe_release(&c->c2u.pipe);
    gw_pipe_release(&c->u2c.pipe);
    free(c->c2u.p);
    free(c->u2c.p);
    if (c->unref)
        c->unref(c->pin);
    free(c);
}

static struct side *
side_new(struct l4_conn *c, int fd, bool client)
{
    struct side *s = gw_xcalloc(1, sizeof(*s));
    s->c = c;
    s->client = client;
    gw_io_init(c->w->loop, &s->io, fd, on_side, s);
    /* from accept (or the PROXY pre-phase's dup, its original closed) or
     * socket(): nothing else refers to the socket */
    s->io.unshared = true;
    return s;
}

static void
side_free(struct gw_io *io)
{
    free(io->data);
}

static void
side_close(struct side **sp, bool reset)
{
    struct side *s = *sp;
    if (!s)
        return;
    *sp = NULL;
    if (reset && s->io.fd >= 0 && !s->dead)
        gw_sock_set_reset_on_close(s->io.fd);
    gw_io_close(&s->io, side_free);
}

static int
side_fd(const struct side *s)
{
    return s ? s->io.fd : -1;
}

/* An I/O error on the client's (client) or the upstream's socket, as
 * dir_move returns it: a socket its peer reset is marked dead. */
static int
side_error(struct l4_conn *c, bool client, int err)
{
    struct side *s = client ? c->cs : c->u;
    if (s && (err == ECONNRESET || err == EPIPE))
        s->dead = true;
    return -err;
}

/* Sets s's interest (none: unregistered, so a hung-up socket waiting
 * for room does not wake the loop). */
static void
side_watch(struct side *s, unsigned events)
{
    if (s)
        gw_io_set(&s->io, events);
}

static void
conn_close(struct l4_conn *c, bool reset)
{
    if (c->st == C_CLOSED)
        return;
    c->st = C_CLOSED;
    struct gw_l4_worker *w = c->w;
    struct gw_loop *loop = w->loop;
    if (!c->m) { /* ended before a route was chosen: counted by port */
        c->m = l4_counters(w, c->pin, c->pt, NULL, NULL);
        l4_count(&c->m->accepted, 1);
    }
    l4_count(&c->m->closed, 1);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    c->w = NULL;
    gw_timer_stop(&c->timer);
    gw_timer_stop(&c->kick);
    side_close(&c->u, reset);
    side_close(&c->cs, reset);
    /* after this turn's callbacks, which may still hold c */
    gw_loop_defer(loop, &c->dfree, conn_free, c);
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

/* An OpenSSL result as a recv/send one; *want gets what it waits for. */
static ssize_t
ssl_result(struct l4_conn *c, int r, unsigned *want)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        *want = GW_LOOP_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = GW_LOOP_WRITE;
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

/* recv/send/shutdown(SHUT_WR) on one side: the client's through TLS when
 * it is terminated here. */
static ssize_t
side_recv(struct l4_conn *c, bool client, void *p, size_t n)
{
    if (!client || !c->ssl)
        return recv(side_fd(client ? c->cs : c->u), p, n, 0);
    c->rd_want = GW_LOOP_READ;
    ERR_clear_error();
    int r = SSL_read(c->ssl, p, (int)GW_MIN(n, (size_t)INT32_MAX));
    return r > 0 ? r : ssl_result(c, r, &c->rd_want);
}

static ssize_t
side_send(struct l4_conn *c, bool client, const void *p, size_t n)
{
    if (!client || !c->ssl)
        return send(side_fd(client ? c->cs : c->u), p, n, MSG_NOSIGNAL);
    c->wr_want = GW_LOOP_WRITE;
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, (int)GW_MIN(n, (size_t)INT32_MAX));
    if (r > 0)
        return r;
    ssize_t x = ssl_result(c, r, &c->wr_want);
    if (x == 0)
        errno = EPIPE;
    return -1;
}

/* 0 done, GW_EAGAIN (TLS: close_notify not sent yet), or <0. */
static int
side_shut(struct l4_conn *c, bool client)
{
    int fd = side_fd(client ? c->cs : c->u);
    if (client && c->ssl) {
        c->wr_want = GW_LOOP_WRITE;
        ERR_clear_error();
        int r = SSL_shutdown(c->ssl); /* 0: sent, the peer's may follow */
        if (r < 0 && ssl_result(c, r, &c->wr_want) < 0)
            return errno == EAGAIN ? GW_EAGAIN : -errno;
    }
    if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return -errno;
    return 0;
}

/*
 * Moves what it can from one side through d to the other (from_client: the
 * client is read, the upstream written). The reading side is read only
 * while *rd: it is cleared when a read finds the socket drained (a short
 * read or EAGAIN: its next readiness event says when there is more, so the
 * rounds of one pump do not each pay a recv that fails) and set when a
 * write makes room that held reading back. Returns 1 when some byte moved
 * (or a half was shut), 0 when nothing could, <0 on an error (either side).
 */
static bool
dir_splices(const struct dir *d)
{
    return gw_pipe_is_open(&d->pipe) && d->len == d->off;
}

/* Bytes read and not yet written. */
static size_t
dir_pending(const struct dir *d)
{
    return d->len - d->off + d->pipe.len;
}

/* Whether the reading side may be read now (room in the buffer or pipe). */
static bool
dir_can_read(const struct dir *d)
{
    if (d->eof)
        return false;
    if (dir_splices(d))
        return d->pipe.len < L4_BUF && !d->pipe_wait;
    return d->len < L4_BUF || d->off > 0;
}

/* dir_move's splice(2) half: socket -> pipe -> socket. Same returns. */
static int
dir_splice(struct l4_conn *c, struct dir *d, bool from_client, bool *rd)
{
    int progress = 0;
    int in = side_fd(from_client ? c->cs : c->u), out = side_fd(from_client ? c->u : c->cs);
    if (*rd && !d->eof && d->pipe.len < L4_BUF && !d->pipe_wait) {
        size_t want = L4_BUF - d->pipe.len;
        ssize_t n = gw_pipe_fill(&d->pipe, in, want);
        if (n < 0 || (size_t)n < want)
            *rd = false; /* drained (or the pipe is): the next event says more */
        if (n > 0) {
            progress = 1;
            if (from_client)
                l4_count(&c->m->bytes_in, (uint64_t)n);
        } else if (n == 0) {
            d->eof = true;
            progress = 1;
        } else if (errno == EAGAIN) {
            /* The socket is drained, or the pipe has no slot left (each
             * holds a segment, which may be small): with bytes in the pipe,
             * wait for the write side to take some before reading again,
             * or a readable socket and a full pipe would spin. */
            d->pipe_wait = d->pipe.len > 0;
        } else if (errno != EINTR) {
            return side_error(c, from_client, errno);
        }
    }
    if (d->pipe.len > 0) {
        bool held = !dir_can_read(d);
        ssize_t n = gw_pipe_drain(&d->pipe, out, d->pipe.len);
        if (n > 0) {
            if (held)
                *rd = true; /* reading was held back for room: there is some now */
            d->pipe_wait = false;
            progress = 1;
            if (!from_client)
                l4_count(&c->m->bytes_out, (uint64_t)n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return side_error(c, !from_client, errno);
        }
    }
    return progress;
}

static int
dir_move(struct l4_conn *c, struct dir *d, bool from_client, bool *rd)
{
    int progress = 0;
    if (dir_splices(d)) {
        free(d->p); /* drained, and never needed again */
        d->p = NULL;
        progress = dir_splice(c, d, from_client, rd);
        if (progress < 0)
            return progress;
    } else if (*rd && !d->eof) {
        size_t room = dir_room(d);
        if (room > 0) {
            ssize_t n = side_recv(c, from_client, d->p + d->len, room);
            /* (terminated TLS: OpenSSL may hold more than one record gave) */
            if ((n < 0 || (size_t)n < room) && !(from_client && c->ssl))
                *rd = false;
            if (n > 0) {
                d->len += (size_t)n;
                progress = 1;
                if (from_client)
                    l4_count(&c->m->bytes_in, (uint64_t)n);
                d->copied += (size_t)n;
                if (d->copied >= L4_BUF && !d->pipe_tried && !c->ssl) {
                    /* a bulk transfer: splice from now on (or keep copying
                     * when no file descriptors are left) */
                    d->pipe_tried = true;
                    gw_pipe_open(&d->pipe);
                }
            } else if (n == 0) {
                d->eof = true;
                progress = 1;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return side_error(c, from_client, errno);
            }
        }
    }
    if (d->len > d->off) {
        ssize_t n = side_send(c, !from_client, d->p + d->off, d->len - d->off);
        if (n > 0) {
            if (!dir_can_read(d))
                *rd = true; /* reading was held back for room: there is some now */
            d->off += (size_t)n;
            progress = 1;
            if (!from_client)
                l4_count(&c->m->bytes_out, (uint64_t)n);
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return side_error(c, !from_client, errno);
        }
    }
    if (d->eof && dir_pending(d) == 0 && !d->shut) {
        /* half-close: the other side sees our EOF, and may still answer */
        int rc = side_shut(c, !from_client);
        if (rc < 0 && rc != GW_EAGAIN)
            return rc;
        if (rc == 0) {
            d->shut = true;
            progress = 1;
        }
    }
    return progress;
}

static void
update_interest(struct l4_conn *c)
{
    unsigned ci = 0, ui = 0;
    unsigned rd = c->ssl ? c->rd_want : GW_LOOP_READ, wr = c->ssl ? c->wr_want : GW_LOOP_WRITE;
    if (dir_can_read(&c->c2u))
        ci |= rd;
    if (dir_pending(&c->u2c) || (c->u2c.eof && !c->u2c.shut))
        ci |= wr; /* data, or a close_notify waiting for room */
    if (dir_can_read(&c->u2c))
        ui |= GW_LOOP_READ;
    if (dir_pending(&c->c2u))
        ui |= GW_LOOP_WRITE;
    side_watch(c->cs, ci);
    side_watch(c->u, ui);
}

/* Moves bytes both ways; rc / ru: whether the client / upstream may have
 * bytes to read (its readiness event, or not known). */
static void
pump(struct l4_conn *c, bool rc, bool ru)
{
    bool moved = false;
    /* A few rounds at most, so one busy connection cannot starve the loop;
     * level-triggered epoll brings us back for the rest. */
    for (int round = 0; round < 8; round++) {
        int a = dir_move(c, &c->c2u, true, &rc);
        int b = a < 0 ? 0 : dir_move(c, &c->u2c, false, &ru);
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
    /* A side done both ways (our FIN sent, its EOF read) has no more use for
     * its socket while the other direction drains: close it now (nothing is
     * left unread, so no reset). */
    if (c->c2u.shut && c->u2c.eof)
        side_close(&c->u, false);
    if (c->u2c.shut && c->c2u.eof)
        side_close(&c->cs, false);
    update_interest(c);
    /* Decrypted bytes OpenSSL already holds raise no socket event. (Not
     * SSL_has_pending: a partial record there waits for the socket, and
     * kicking for it would spin.) */
    if (c->ssl && !c->c2u.eof && SSL_pending(c->ssl) > 0 && dir_room(&c->c2u) > 0)
        gw_timer_start(&c->kick, 0);
}

static void
on_kick(struct gw_timer *t)
{
    struct l4_conn *c = t->data;
    if (c->st == C_SPLICE)
        pump(c, true, true);
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
    case C_HANDSHAKE:
        conn_close(c, true);
        return;
    case C_CONNECTING:
        gw_l4_ep_report(c->ep, true, w->o.eject_consecutive, w->o.eject_ms, now);
        l4_count(&c->m->connect_failures, 1);
        side_close(&c->u, true);
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
    gw_l4_ep_report(c->ep, false, w->o.eject_consecutive, w->o.eject_ms, now);
    gw_sock_set_nodelay(c->u->io.fd);
    c->st = C_SPLICE;
    c->u2c.p = gw_xmalloc(L4_BUF);
    c->last = now;
    gw_timer_start(&c->timer, w->o.idle_timeout_ms);
    /* The upstream has said nothing yet (it is read once its event comes). */
    pump(c, c->ssl || c->c_unread, false);
}

static void
on_up(struct l4_conn *c, int fd, unsigned events)
{
    if (c->st == C_CONNECTING) {
        /* A failed connect reports an error; a writable socket without one
         * is connected (no SO_ERROR query for that). */
        if ((events & GW_LOOP_ERROR) && so_error(fd)) {
            struct gw_l4_worker *w = c->w;
            gw_l4_ep_report(c->ep, true, w->o.eject_consecutive, w->o.eject_ms,
                            gw_loop_now(w->loop));
            l4_count(&c->m->connect_failures, 1);
            side_close(&c->u, true);
            connect_next(c);
            return;
        }
        connected(c);
        return;
    }
    /* An error (a reset) shows on the read or write that pump tries: no
     * SO_ERROR query first. */
    pump(c, false, events & (GW_LOOP_READ | GW_LOOP_ERROR));
}

static void
connect_next(struct l4_conn *c)
{
    struct gw_l4_worker *w = c->w;
    size_t limit = c->backend->nendpoints < L4_ATTEMPTS ? c->backend->nendpoints : L4_ATTEMPTS;
    while (c->attempts < limit) {
        uint64_t now = gw_loop_now(w->loop);
        struct gw_l4_ep *ep = l4_ep_pick(&w->eps, c->backend, l4_cursor(w, c->backend),
                                         c->attempts ? c->ep : NULL, now);
        if (!ep)
            break;
        c->attempts++;
        c->ep = ep;
        int fd = socket(ep->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        c->u = side_new(c, fd, false);
        if (connect(fd, (const struct sockaddr *)&ep->sa, ep->salen) == 0) {
            connected(c);
            return;
        }
        if (errno == EINPROGRESS) {
            c->st = C_CONNECTING;
            side_watch(c->u, GW_LOOP_WRITE);
            /* The client waits, its bytes in the kernel; its watch is only
             * dropped if it says something meanwhile (on_client), which a
             * TLS client waiting for the ServerHello does not: no
             * epoll_ctl either way for it while connecting. */
            gw_timer_start(&c->timer, w->o.connect_timeout_ms);
            return;
        }
        gw_l4_ep_report(ep, true, w->o.eject_consecutive, w->o.eject_ms, now);
        l4_count(&c->m->connect_failures, 1);
        side_close(&c->u, true);
    }
    conn_close(c, true);
}

/* ------------------------------------------------------------------------ */
/* TLS termination                                                           */

static void
handshake(struct l4_conn *c)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ && c->hello_rbio) {
            /* The peeked bytes are used up: the socket from here on. */
            BIO *b = BIO_new_socket(c->cs->io.fd, BIO_NOCLOSE);
            if (!b) {
                conn_close(c, true);
                return;
            }
            SSL_set0_rbio(c->ssl, b);
            c->hello_rbio = false;
            continue;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            side_watch(c->cs, e == SSL_ERROR_WANT_READ ? GW_LOOP_READ : GW_LOOP_WRITE);
            return;
        }
        ERR_clear_error();
        conn_close(c, true);
        return;
    }
    c->rd_want = GW_LOOP_READ;
    c->wr_want = GW_LOOP_WRITE;
    connect_next(c);
}

/* Terminates TLS for listener l: the ClientHello bytes read so far go to
 * OpenSSL first. */
static void
start_tls(struct l4_conn *c, const struct gw_ir_listener *l)
{
    struct gw_l4_worker *w = c->w;
    struct ssl_ctx_st *ctx = w->o.tls_ctx ? w->o.tls_ctx(c->pin, l) : NULL;
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    BIO *rb = ssl ? BIO_new(BIO_s_mem()) : NULL;
    BIO *wb = rb ? BIO_new_socket(c->cs->io.fd, BIO_NOCLOSE) : NULL;
    if (!wb || BIO_write(rb, c->c2u.p, (int)c->c2u.len) != (int)c->c2u.len) {
        BIO_free(rb);
        BIO_free(wb);
        SSL_free(ssl);
        ERR_clear_error();
        conn_close(c, true);
        return;
    }
    BIO_set_mem_eof_return(rb, -1); /* empty: "retry", not EOF */
    SSL_set_bio(ssl, rb, wb);
    SSL_set_accept_state(ssl);
    /* A client that closes without close_notify ends its half like EOF. */
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    c->ssl = ssl;
    c->hello_rbio = true;
    c->c2u.off = c->c2u.len = 0;
    c->st = C_HANDSHAKE;
    handshake(c);
}

static void
start_route(struct l4_conn *c, const struct gw_ir_l4 *r, const struct gw_ir_listener *l)
{
    c->m = l4_counters(c->w, c->pin, c->pt, l, r);
    l4_count(&c->m->accepted, 1);
    if (!(l && l->tls && !l->tls->passthrough))
        l4_count(&c->m->bytes_in, c->c2u.len); /* the peeked ClientHello */
    const struct gw_ir_backend *b = r ? l4_backend_pick(r, l4_rand(c->w)) : NULL;
    if (!b || b->invalid || b->nendpoints == 0) {
        conn_close(c, true);
        return;
    }
    c->backend = b;
    if (l && l->tls && !l->tls->passthrough) {
        start_tls(c, l); /* under the ClientHello deadline still */
        return;
    }
    gw_timer_stop(&c->timer);
    connect_next(c);
}

/* ------------------------------------------------------------------------ */
/* Client                                                                    */

static void
hello_read(struct l4_conn *c)
{
    struct dir *d = &c->c2u;
    size_t want = GW_L4_HELLO_MAX - d->len;
    ssize_t n = recv(c->cs->io.fd, d->p + d->len, want, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c, true);
        return;
    }
    d->len += (size_t)n;
    c->c_unread = (size_t)n == want; /* a short read drained the socket */
    char sni[GW_L4_SNI_MAX + 1];
    int rc = gw_l4_sni_parse((const uint8_t *)d->p, d->len, sni, sizeof(sni));
    if (rc == GW_EAGAIN && d->len < GW_L4_HELLO_MAX)
        return;
    if (rc < 0) {
        conn_close(c, true);
        return;
    }
    const struct gw_ir_listener *l = NULL;
    const struct gw_ir_l4 *r = gw_l4_route_by_sni(c->pt, sni, &l);
    start_route(c, r, l);
}

static void
on_client(struct l4_conn *c, int fd, unsigned events)
{
    (void)fd;
    /* An error shows on the read or write that follows (hello_read, the
     * handshake, pump): no SO_ERROR query first. */
    switch (c->st) {
    case C_HELLO:
        hello_read(c);
        return;
    case C_HANDSHAKE:
        handshake(c);
        return;
    case C_SPLICE:
        /* terminated TLS: a write event may be the one OpenSSL's read waits for */
        pump(c, c->ssl || (events & (GW_LOOP_READ | GW_LOOP_ERROR)), false);
        return;
    case C_CONNECTING:
        side_watch(c->cs, 0); /* read once the upstream is connected */
        c->c_unread = true;
        return;
    case C_CLOSED:
        return;
    }
}

static void
on_side(struct gw_io *io, unsigned events)
{
    struct side *s = io->data;
    if (s->client)
        on_client(s->c, io->fd, events);
    else
        on_up(s->c, io->fd, events);
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
    gw_pipe_init(&c->c2u.pipe);
    gw_pipe_init(&c->u2c.pipe);
    c->cs = side_new(c, fd, true);
    gw_timer_init(w->loop, &c->timer, on_timer, c);
    gw_timer_init(w->loop, &c->kick, on_kick, c);
    /* (TCP_NODELAY comes from the listener: gw_sock_listen) */
    c->c_unread = true;
    c->pt = pt;
    if (port_is_tls(pt)) {
        c->st = C_HELLO;
        side_watch(c->cs, GW_LOOP_READ);
        gw_timer_start(&c->timer, w->o.hello_timeout_ms);
        return;
    }
    const struct gw_ir_listener *l = NULL;
    const struct gw_ir_l4 *r = gw_l4_route_plain(pt, &l);
    start_route(c, r, l);
}
