/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for owned I/O (gw_io_own, gw_io_recv, gw_io_send,
 * gw_io_shutdown_write) on both backends: bulk transfers both ways with
 * level-triggered partial reads, a close that must drain its queued sends, a
 * reader that stops reading (backpressure), and a reset peer. The peer end
 * of each TCP pair is a plain readiness watch on the same loop, so on
 * io_uring it goes through the polled epoll fd. And a transfer while
 * owners that do not read hold every provided buffer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "loop/loop.h"
#include "tap.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static void
tcp_pair(int fds[2])
{
    int l = gw_sock_listen("127.0.0.1", 0, SOCK_STREAM);
    int port = gw_sock_local_port(l);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(c, (struct sockaddr *)&sin, sizeof(sin));
    GW_ASSERT(rc == 0 || errno == EINPROGRESS);
    int a = -1;
    for (int i = 0; i < 1000 && a < 0; i++)
        a = gw_sock_accept(l, NULL, NULL);
    GW_ASSERT(a >= 0);
    close(l);
    fds[0] = a;
    fds[1] = c;
}

static unsigned char
pattern(size_t i, unsigned seed)
{
    return (unsigned char)((i * 31u + seed) ^ (i >> 13));
}

/* ------------------------------------------------------------------------ */
/* Bulk both ways                                                           */

#define BULK (3u << 20)

struct end {
    struct gw_io io;
    size_t sent, got;
    unsigned seed_out, seed_in;
    bool eof, shut, bad, owned, finished;
    size_t read_max; /* per callback: small, to need level triggering */
    int *done;
};

static void
end_update(struct end *e)
{
    unsigned ev = e->eof ? 0 : GW_LOOP_READ;
    if (e->sent < BULK)
        ev |= GW_LOOP_WRITE;
    gw_io_set(&e->io, ev);
}

static void
on_end(struct gw_io *io, unsigned events)
{
    struct end *e = io->data;
    if (events & GW_LOOP_WRITE) {
        unsigned char buf[20000];
        while (e->sent < BULK) {
            size_t n = GW_MIN(sizeof(buf), BULK - e->sent);
            for (size_t i = 0; i < n; i++)
                buf[i] = pattern(e->sent + i, e->seed_out);
            ssize_t w = e->owned ? gw_io_send(io, buf, n) : send(io->fd, buf, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno != EAGAIN)
                    e->bad = true;
                break;
            }
            e->sent += (size_t)w;
        }
        if (e->sent == BULK && !e->shut) {
            e->shut = true;
            if (e->owned)
                gw_io_shutdown_write(io);
            else
                shutdown(io->fd, SHUT_WR);
        }
    }
    if (events & GW_LOOP_READ) {
        unsigned char buf[16384];
        size_t n = GW_MIN(sizeof(buf), e->read_max);
        ssize_t r = e->owned ? gw_io_recv(io, buf, n) : recv(io->fd, buf, n, 0);
        if (r > 0) {
            for (ssize_t i = 0; i < r; i++)
                if (buf[i] != pattern(e->got + (size_t)i, e->seed_in))
                    e->bad = true;
            e->got += (size_t)r;
        } else if (r == 0) {
            e->eof = true;
        } else if (errno != EAGAIN) {
            e->bad = true;
            e->eof = true;
        }
    }
    end_update(e);
    if (e->eof && e->shut && !e->finished && (e->finished = true) && ++*e->done == 2)
        gw_loop_stop(io->loop);
}

static void
test_bulk(enum gw_loop_backend b, const char *name)
{
    gw_loop_backend_set_default(b);
    struct gw_loop *loop;
    is_int(gw_loop_new(&loop), 0, "%s: loop_new", name);
    is_int((int)gw_loop_backend(loop), (int)b, "%s: backend", name);
    int fds[2], done = 0;
    tcp_pair(fds);
    struct end a = {.seed_out = 1, .seed_in = 2, .owned = true, .read_max = 1000, .done = &done};
    struct end c = {.seed_out = 2, .seed_in = 1, .read_max = 16384, .done = &done};
    gw_io_init(loop, &a.io, fds[0], on_end, &a);
    gw_io_init(loop, &c.io, fds[1], on_end, &c);
    end_update(&a);
    gw_io_own(&a.io);
    ok(gw_io_is_owned(&a.io) == (b == GW_LOOP_URING), "%s: owned on io_uring only", name);
    end_update(&c);
    is_int(gw_loop_run(loop), 0, "%s: run", name);
    ok(!a.bad && !c.bad, "%s: every byte in order, no error", name);
    ok(a.got == BULK && c.got == BULK, "%s: %zu and %zu bytes arrived", name, a.got, c.got);
    gw_io_close(&a.io, NULL);
    gw_io_close(&c.io, NULL);
    gw_loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* A close waits for the queued bytes                                       */

#define DRAINED (60u * 1024) /* under SENDQ_MAX */

struct sink {
    struct gw_io io;
    size_t got;
    bool bad, eof;
};

static void
on_sink(struct gw_io *io, unsigned events)
{
    struct sink *s = io->data;
    (void)events;
    unsigned char buf[65536];
    ssize_t r = recv(io->fd, buf, sizeof(buf), 0);
    if (r > 0) {
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pattern(s->got + (size_t)i, 7))
                s->bad = true;
        s->got += (size_t)r;
        return;
    }
    if (r < 0 && errno == EAGAIN)
        return;
    s->eof = r == 0;
    gw_io_set(io, 0);
    gw_loop_stop(io->loop);
}

static int freed;

static void
free_io(struct gw_io *io)
{
    free(io);
    freed++;
}

static void
test_close_drains(void)
{
    gw_loop_backend_set_default(GW_LOOP_URING);
    struct gw_loop *loop;
    gw_loop_new(&loop);
    int fds[2];
    tcp_pair(fds);
    /* A small receive buffer: the bytes cannot all be in the kernel at once. */
    int small = 4096;
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct gw_io *io = gw_xmalloc(sizeof(*io));
    gw_io_init(loop, io, fds[0], NULL, NULL);
    gw_io_own(io);
    unsigned char *buf = gw_xmalloc(DRAINED);
    for (size_t i = 0; i < DRAINED; i++)
        buf[i] = pattern(i, 7);
    is_int((long long)gw_io_send(io, buf, DRAINED), DRAINED, "send takes it all");
    free(buf);
    gw_io_close(io, free_io); /* freed at the end of the first turn */
    struct sink s = {0};
    gw_io_init(loop, &s.io, fds[1], on_sink, &s);
    gw_io_set(&s.io, GW_LOOP_READ);
    gw_loop_run(loop);
    is_int(freed, 1, "the handle went at once");
    ok(!s.bad && s.got == DRAINED, "the peer got every byte (%zu)", s.got);
    ok(s.eof, "then the EOF");
    gw_io_close(&s.io, NULL);
    gw_loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* An owner that does not read: the sender is held back                     */

struct slow {
    struct gw_io io, peer;
    struct gw_timer t;
    size_t sent, got, last;
    int rounds;
    bool bad, eof, reading;
};

static void
on_slow_io(struct gw_io *io, unsigned events)
{
    struct slow *s = io->data;
    (void)events;
    unsigned char buf[8192];
    ssize_t r = gw_io_recv(io, buf, sizeof(buf));
    if (r > 0) {
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != pattern(s->got + (size_t)i, 3))
                s->bad = true;
        s->got += (size_t)r;
    } else if (r == 0 || errno != EAGAIN) {
        s->eof = r == 0;
        gw_io_set(io, 0);
        gw_loop_stop(io->loop);
    }
}

static void
on_slow_tick(struct gw_timer *t)
{
    struct slow *s = t->data;
    unsigned char buf[16384];
    for (;;) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = pattern(s->sent + i, 3);
        ssize_t w = send(s->peer.fd, buf, sizeof(buf), MSG_NOSIGNAL);
        if (w <= 0)
            break;
        s->sent += (size_t)w;
    }
    /* Stop when the kernel takes no more twice in a row. */
    if (s->sent != s->last || ++s->rounds < 3) {
        s->last = s->sent;
        gw_timer_start(t, 20);
        return;
    }
    s->reading = true;
    shutdown(s->peer.fd, SHUT_WR);
    gw_io_set(&s->io, GW_LOOP_READ);
}

static void
test_backpressure(void)
{
    gw_loop_backend_set_default(GW_LOOP_URING);
    struct gw_loop *loop;
    gw_loop_new(&loop);
    int fds[2];
    tcp_pair(fds);
    struct slow s = {0};
    gw_io_init(loop, &s.io, fds[0], on_slow_io, &s);
    gw_io_own(&s.io);
    gw_io_init(loop, &s.peer, fds[1], NULL, &s);
    gw_timer_init(loop, &s.t, on_slow_tick, &s);
    gw_timer_start(&s.t, 0);
    gw_loop_run(loop);
    ok(s.reading, "the sender was stopped (%zu bytes in flight)", s.sent);
    ok(s.sent < (64u << 20), "by a bound");
    ok(!s.bad && s.got == s.sent, "then every byte arrived in order (%zu/%zu)", s.got, s.sent);
    ok(s.eof, "and the EOF");
    gw_io_close(&s.io, NULL);
    gw_io_close(&s.peer, NULL);
    gw_loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* Every provided buffer held by owners that do not read                    */

static void
on_ignored(struct gw_io *io, unsigned events)
{
    (void)io;
    (void)events;
}

struct pool {
    struct gw_loop *loop;
    struct gw_timer tick, guard;
    int hogpeer, ticks;
    struct end a, c;
    int done;
};

static void
on_guard(struct gw_timer *t)
{
    gw_loop_stop(t->data);
}

/* One byte a segment for a while, then the transfer. */
static void
on_pool_tick(struct gw_timer *t)
{
    struct pool *p = t->data;
    if (p->ticks++ < 40) {
        send(p->hogpeer, "x", 1, MSG_NOSIGNAL);
        gw_timer_start(t, p->ticks == 40 ? 100 : 2);
        return;
    }
    int fds[2];
    tcp_pair(fds);
    p->a = (struct end){
        .seed_out = 1, .seed_in = 2, .owned = true, .read_max = 1000, .done = &p->done};
    p->c = (struct end){.seed_out = 2, .seed_in = 1, .read_max = 16384, .done = &p->done};
    gw_io_init(p->loop, &p->a.io, fds[0], on_end, &p->a);
    gw_io_init(p->loop, &p->c.io, fds[1], on_end, &p->c);
    end_update(&p->a);
    gw_io_own(&p->a.io);
    end_update(&p->c);
}

static void
test_pool_exhausted(void)
{
    gw_loop_backend_set_default(GW_LOOP_URING);
    is_int(gw_loop_uring_set_buffers(24), GW_EINVAL, "a buffer count must be a power of two");
    is_int(gw_loop_uring_set_buffers(8), GW_EINVAL, "of at least 16");
    is_int(gw_loop_uring_set_buffers(16), 0, "16 buffers");
    struct pool p = {0};
    gw_loop_new(&p.loop);
    gw_loop_uring_set_buffers(512);
    /* Two owners that never read: their receives take the whole pool, up
     * to HELD_MAX each (the second one's peer sends one byte a segment).
     * Then a transfer must still get its bytes, in order, and its EOF. */
    struct gw_io hog[2];
    int hogpeer[2];
    for (int i = 0; i < 2; i++) {
        int fds[2];
        tcp_pair(fds);
        gw_io_init(p.loop, &hog[i], fds[0], on_ignored, NULL);
        gw_io_own(&hog[i]);
        hogpeer[i] = fds[1];
    }
    gw_sock_set_nodelay(hogpeer[1]);
    p.hogpeer = hogpeer[1];
    static char big[65536];
    ok(send(hogpeer[0], big, sizeof(big), MSG_NOSIGNAL) > 0, "the first hog's peer sends");
    gw_timer_init(p.loop, &p.tick, on_pool_tick, &p);
    gw_timer_init(p.loop, &p.guard, on_guard, p.loop);
    gw_timer_start(&p.tick, 0);
    gw_timer_start(&p.guard, 30000);
    gw_loop_run(p.loop);
    ok(p.done == 2, "a transfer with the pool taken completes");
    ok(!p.a.bad && !p.c.bad && p.a.got == BULK && p.c.got == BULK, "every byte in order (%zu, %zu)",
       p.a.got, p.c.got);
    gw_timer_stop(&p.tick);
    gw_timer_stop(&p.guard);
    gw_io_close(&p.a.io, NULL);
    gw_io_close(&p.c.io, NULL);
    for (int i = 0; i < 2; i++) {
        gw_io_close(&hog[i], NULL);
        close(hogpeer[i]);
    }
    gw_loop_free(p.loop);
}

/* ------------------------------------------------------------------------ */
/* A reset peer                                                             */

struct rst {
    struct gw_io io;
    unsigned events;
    int rerr, serr;
};

static void
on_rst(struct gw_io *io, unsigned events)
{
    struct rst *r = io->data;
    char b[16];
    r->events |= events;
    if (gw_io_recv(io, b, sizeof(b)) < 0)
        r->rerr = errno;
    if (gw_io_send(io, "x", 1) < 0)
        r->serr = errno;
    gw_io_set(io, 0);
    gw_loop_stop(io->loop);
}

static void
test_reset(void)
{
    gw_loop_backend_set_default(GW_LOOP_URING);
    struct gw_loop *loop;
    gw_loop_new(&loop);
    int fds[2];
    tcp_pair(fds);
    struct rst r = {0};
    gw_io_init(loop, &r.io, fds[0], on_rst, &r);
    gw_io_own(&r.io);
    gw_io_set(&r.io, GW_LOOP_READ);
    gw_sock_set_reset_on_close(fds[1]);
    close(fds[1]);
    gw_loop_run(loop);
    ok(r.events & GW_LOOP_ERROR, "the reset is reported as an error (%#x)", r.events);
    is_int(r.rerr, ECONNRESET, "recv says ECONNRESET");
    ok(r.serr != 0, "send fails too (%d)", r.serr);
    gw_io_close(&r.io, NULL);
    gw_loop_free(loop);
}

int
main(void)
{
    int probe = gw_loop_uring_probe();
    if (probe < 0) {
        printf("1..0 # SKIP no io_uring here: %s\n", gw_strerror(probe));
        return 0;
    }
    test_bulk(GW_LOOP_EPOLL, "epoll");
    test_bulk(GW_LOOP_URING, "uring");
    test_close_drains();
    test_backpressure();
    test_reset();
    test_pool_exhausted();
    return done_testing();
}
