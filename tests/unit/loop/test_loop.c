/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for loop: timers, fd readiness, deferred close, sockets. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "loop/internal.h"
#include "loop/loop.h"
#include "tap.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static int fired[16];
static int nfired;

static void
record_timer(struct gw_timer *t)
{
    fired[nfired++] = (int)(intptr_t)t->data;
    if (nfired >= 4)
        gw_loop_stop(t->loop);
}

static void
test_timers(void)
{
    struct gw_loop *loop;
    is_int(gw_loop_new(&loop), 0, "loop_new");
    struct gw_timer t[6];
    /* Start out of order; ids say the expected firing order. */
    gw_timer_init(loop, &t[0], record_timer, (void *)(intptr_t)3);
    gw_timer_init(loop, &t[1], record_timer, (void *)(intptr_t)1);
    gw_timer_init(loop, &t[2], record_timer, (void *)(intptr_t)99);
    gw_timer_init(loop, &t[3], record_timer, (void *)(intptr_t)2);
    gw_timer_init(loop, &t[4], record_timer, (void *)(intptr_t)4);
    gw_timer_init(loop, &t[5], record_timer, (void *)(intptr_t)98);
    gw_timer_start(&t[0], 30);
    gw_timer_start(&t[1], 5);
    gw_timer_start(&t[2], 10);
    gw_timer_start(&t[3], 20);
    gw_timer_start(&t[4], 30); /* same due as t[0], started later */
    gw_timer_start(&t[5], 1);
    ok(gw_timer_is_active(&t[2]), "started timer is active");
    gw_timer_stop(&t[2]);
    gw_timer_stop(&t[5]);
    ok(!gw_timer_is_active(&t[2]), "stopped timer is inactive");
    gw_timer_stop(&t[2]);
    ok(true, "stopping twice is harmless");
    uint64_t start = gw_loop_now(loop);
    is_int(gw_loop_run(loop), 0, "run returns 0");
    is_int(nfired, 4, "four timers fired");
    is_int(fired[0], 1, "first: 5 ms");
    is_int(fired[1], 2, "second: 20 ms");
    is_int(fired[2], 3, "third: 30 ms, started first");
    is_int(fired[3], 4, "fourth: 30 ms, started second");
    ok(gw_loop_now(loop) - start >= 25, "at least ~30 ms went by (%llu)",
       (unsigned long long)(gw_loop_now(loop) - start));
    gw_loop_free(loop);
}

/* Many timers with random deadlines come out sorted. */
static uint64_t last_due;
static bool order_ok = true;
static int heap_fired;

static void
check_order(struct gw_timer *t)
{
    uint64_t due = (uint64_t)(uintptr_t)t->data;
    if (due < last_due)
        order_ok = false;
    last_due = due;
    if (++heap_fired == 150)
        gw_loop_stop(t->loop);
}

static void
test_timer_heap(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    struct gw_timer *t = calloc(200, sizeof(*t));
    unsigned seed = 7;
    for (int i = 0; i < 200; i++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t ms = (seed >> 16) % 40;
        gw_timer_init(loop, &t[i], check_order, (void *)(uintptr_t)(gw_loop_now(loop) + ms));
        gw_timer_start(&t[i], ms);
    }
    for (int i = 0; i < 200; i += 4)
        gw_timer_stop(&t[i]); /* cancel 50 from the middle of the heap */
    gw_loop_run(loop);
    is_int(heap_fired, 150, "150 of 200 timers fired after 50 cancels");
    ok(order_ok, "timers fired in deadline order");
    free(t);
    gw_loop_free(loop);
}

/* Restarts move a timer both ways; the lazy heap must neither fire early
 * (an entry filed under an old, earlier key) nor late. */
static uint64_t fired_at[4];

static void
note_fire(struct gw_timer *t)
{
    int i = (int)(intptr_t)t->data;
    fired_at[i] = gw_loop_now(t->loop);
    if (++nfired == 3)
        gw_loop_stop(t->loop);
}

static void
test_timer_restart(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    struct gw_timer t[3];
    nfired = 0;
    for (int i = 0; i < 3; i++)
        gw_timer_init(loop, &t[i], note_fire, (void *)(intptr_t)i);
    uint64_t start = gw_loop_now(loop);
    gw_timer_start(&t[0], 5);
    gw_timer_start(&t[0], 60); /* later: its entry keeps the 5 ms key */
    gw_timer_start(&t[1], 500);
    gw_timer_start(&t[1], 10); /* earlier: re-keyed now */
    gw_timer_start(&t[2], 5);
    gw_timer_stop(&t[2]);
    gw_timer_start(&t[2], 30); /* takes its dead entry back */
    ok(gw_timer_is_active(&t[2]), "restarted after a stop: active");
    gw_loop_run(loop);
    is_int(nfired, 3, "three timers fired");
    ok(fired_at[0] - start >= 55, "restarted later: not early (%llu ms)",
       (unsigned long long)(fired_at[0] - start));
    ok(fired_at[1] - start < 400, "restarted earlier: not late (%llu ms)",
       (unsigned long long)(fired_at[1] - start));
    ok(fired_at[2] - start >= 25, "stopped and restarted: the new time (%llu ms)",
       (unsigned long long)(fired_at[2] - start));
    ok(fired_at[1] <= fired_at[2] && fired_at[2] <= fired_at[0], "in deadline order");
    gw_loop_free(loop);
}

/* A muted timer stays armed, fires without its callback, and is live again
 * once started; a stop clears the mute. */
static void
test_timer_mute(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    struct gw_timer t[4];
    nfired = 0;
    memset(fired_at, 0, sizeof(fired_at));
    for (int i = 0; i < 4; i++)
        gw_timer_init(loop, &t[i], note_fire, (void *)(intptr_t)i);
    uint64_t start = gw_loop_now(loop);
    gw_timer_start(&t[0], 5);
    gw_timer_mute(&t[0]); /* fires at 5 ms, silently */
    ok(gw_timer_is_active(&t[0]), "muted: still active");
    gw_timer_start(&t[1], 5);
    gw_timer_mute(&t[1]);
    gw_timer_start(&t[1], 20); /* started again: its callback runs */
    gw_timer_start(&t[2], 5);
    gw_timer_mute(&t[2]);
    gw_timer_stop(&t[2]);
    gw_timer_start(&t[2], 25); /* stopped, then started: runs */
    gw_timer_mute(&t[3]);      /* not armed: nothing to mute */
    gw_timer_start(&t[3], 30);
    gw_loop_run(loop);
    is_int(nfired, 3, "three callbacks: the muted timer's did not run");
    ok(fired_at[0] == 0, "the muted timer's callback never ran");
    ok(!gw_timer_is_active(&t[0]), "and it is disarmed once it fired");
    ok(fired_at[1] - start >= 15, "muted, then started later: the new time (%llu ms)",
       (unsigned long long)(fired_at[1] - start));
    ok(fired_at[2] && fired_at[3], "a stop or a start clears the mute");
    gw_loop_free(loop);
}

/* A model check: random starts, restarts, stops and frees, also from inside
 * callbacks; every timer fires exactly when the model says it is armed, not
 * before its deadline, and in (deadline, start order). */
#define NMODEL 64
static struct gw_timer *model_t[NMODEL];
static bool model_armed[NMODEL];
static uint64_t model_due[NMODEL], model_order[NMODEL], model_clock;
static unsigned model_seed = 1;
static int model_fired, model_ops;
static bool model_ok = true;
static uint64_t model_last_due, model_last_order;

static unsigned
model_rand(void)
{
    model_seed = model_seed * 1103515245u + 12345u;
    return model_seed >> 16;
}

static bool model_draining;
static void model_fire(struct gw_timer *t);
static int model_narmed(void);

static void
model_start(struct gw_loop *loop, int i)
{
    if (!model_t[i]) {
        model_t[i] = malloc(sizeof(*model_t[i]));
        gw_timer_init(loop, model_t[i], model_fire, (void *)(intptr_t)i);
    }
    uint64_t ms = model_rand() % 8;
    gw_timer_start(model_t[i], ms);
    model_armed[i] = true;
    model_due[i] = gw_loop_now(loop) + ms;
    model_order[i] = model_clock++;
}

static void
model_op(struct gw_loop *loop)
{
    int i = (int)(model_rand() % NMODEL);
    model_ops++;
    switch (model_rand() % 5) {
    case 0:
    case 1:
    case 2:
        model_start(loop, i);
        break;
    case 3:
        if (model_t[i]) {
            gw_timer_stop(model_t[i]);
            model_armed[i] = false;
        }
        break;
    default:
        if (model_t[i]) {
            /* the loop must not touch it again (ASan checks) */
            gw_timer_stop(model_t[i]);
            free(model_t[i]);
            model_t[i] = NULL;
            model_armed[i] = false;
        }
        break;
    }
    if (gw_timer_is_active(model_t[i] ? model_t[i] : &(struct gw_timer){0}) != model_armed[i])
        model_ok = false;
    if (loop->nheap - loop->ndead != (size_t)model_narmed())
        model_ok = false;
}

static int
model_narmed(void)
{
    int n = 0;
    for (int i = 0; i < NMODEL; i++)
        n += model_armed[i];
    return n;
}

static void
model_fire(struct gw_timer *t)
{
    int i = (int)(intptr_t)t->data;
    struct gw_loop *loop = t->loop; /* t may be freed by the ops below */
    uint64_t now = gw_loop_now(loop);
    if (!model_armed[i] || now < model_due[i] || gw_timer_is_active(t))
        model_ok = false;
    /* Across the whole run, timers fire in (deadline, start order). */
    if (model_due[i] < model_last_due ||
        (model_due[i] == model_last_due && model_order[i] < model_last_order))
        model_ok = false;
    model_last_due = model_due[i];
    model_last_order = model_order[i];
    model_armed[i] = false;
    model_fired++;
    if (!model_draining) {
        for (int k = 1 + (int)(model_rand() % 5); k > 0; k--)
            model_op(loop);
        model_draining = model_ops > 20000;
        if (!model_draining && model_narmed() == 0)
            model_start(loop, (int)(model_rand() % NMODEL));
    }
    if (model_draining && model_narmed() == 0)
        gw_loop_stop(loop);
}

static void
test_timer_model(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    for (int k = 0; k < 500; k++)
        model_op(loop);
    if (model_narmed() > 0)
        gw_loop_run(loop);
    ok(model_ok, "timers fired as the model says (%d fired, %d ops)", model_fired, model_ops);
    is_int(model_narmed(), 0, "every armed timer fired");
    ok(loop->nheap - loop->ndead == 0, "no live entry left");
    ok(loop->nheap <= 3 * NMODEL + 64, "dead entries do not pile up (%zu entries)", loop->nheap);
    for (int i = 0; i < NMODEL; i++)
        free(model_t[i]);
    gw_loop_free(loop);
}

/* Connection churn: timers started, stopped and freed by the thousand; the
 * heap stays bounded by the live ones. */
static void
test_timer_churn(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    struct gw_timer keep[10];
    for (int i = 0; i < 10; i++) {
        gw_timer_init(loop, &keep[i], NULL, NULL);
        gw_timer_start(&keep[i], 60000);
    }
    size_t most = 0;
    for (int i = 0; i < 100000; i++) {
        struct gw_timer *t = malloc(sizeof(*t));
        gw_timer_init(loop, t, NULL, NULL);
        gw_timer_start(t, 1000 + (uint64_t)(i % 7));
        gw_timer_start(t, 2000); /* later: lazy */
        gw_timer_stop(t);
        free(t);
        most = GW_MAX(most, loop->nheap);
    }
    ok(most <= 3 * 10 + 64 + 2, "heap bounded under churn (at most %zu entries)", most);
    for (int i = 0; i < 10; i++)
        gw_timer_stop(&keep[i]);
    gw_loop_free(loop);
}

/* The keep-alive pattern (per request: the idle timer becomes the header
 * timer, stops; the response timer starts, restarts, stops; the pooled
 * upstream's idle timer stops and starts): entries are reused, the heap
 * never grows past one entry per timer. */
static void
test_timer_keepalive(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);

    enum { NCONN = 50 };
    struct gw_timer *t = calloc(3 * NCONN, sizeof(*t));
    for (int i = 0; i < 3 * NCONN; i++)
        gw_timer_init(loop, &t[i], NULL, NULL);
    for (int c = 0; c < NCONN; c++) {
        gw_timer_start(&t[3 * c], 15000);
        gw_timer_start(&t[3 * c + 2], 60000);
    }
    size_t most = 0;
    unsigned seed = 3;
    for (int r = 0; r < 20000; r++) {
        seed = seed * 1103515245u + 12345u;
        struct gw_timer *c = &t[3 * ((seed >> 16) % NCONN)];
        gw_timer_start(&c[0], 10000);
        gw_timer_stop(&c[0]);
        gw_timer_stop(&c[2]);
        gw_timer_start(&c[1], 15000);
        gw_timer_start(&c[1], 15000);
        gw_timer_stop(&c[1]);
        gw_timer_start(&c[2], 60000);
        gw_timer_start(&c[0], 15000);
        most = GW_MAX(most, loop->nheap);
    }
    ok(most <= 3 * NCONN, "one entry per timer at most (%zu for %d timers)", most, 3 * NCONN);
    is_int((int)(loop->nheap - loop->ndead), 2 * NCONN, "the armed timers are all there");
    free(t);
    gw_loop_free(loop);
}

struct pipe_ctx {
    struct gw_io io;
    int reads;
    bool closed;
    bool freed_after_cb;
    bool in_cb;
};

static void
on_close(struct gw_io *io)
{
    struct pipe_ctx *p = io->data;
    p->closed = true;
    p->freed_after_cb = !p->in_cb;
}

static void
on_readable(struct gw_io *io, unsigned events)
{
    struct pipe_ctx *p = io->data;
    char buf[16];
    p->in_cb = true;
    if (events & GW_LOOP_READ) {
        ssize_t n = read(io->fd, buf, sizeof(buf));
        if (n > 0)
            p->reads++;
    }
    gw_io_close(io, on_close);
    ok(!p->closed, "close callback does not run inside the callback");
    gw_io_close(io, on_close);
    p->in_cb = false;
    gw_loop_stop(io->loop);
}

static void
test_io(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    int fds[2];
    ok(pipe(fds) == 0, "pipe");
    struct pipe_ctx p = {0};
    gw_io_init(loop, &p.io, fds[0], on_readable, &p);
    is_int(gw_io_set(&p.io, GW_LOOP_READ), 0, "watch read end");
    is_int((long long)write(fds[1], "x", 1), 1, "write one byte");
    gw_loop_run(loop);
    is_int(p.reads, 1, "fd became readable and was read");
    ok(p.closed, "close callback ran");
    ok(p.freed_after_cb, "close callback ran after the io callback returned");
    ok(gw_io_is_closing(&p.io) && p.io.fd == -1, "fd closed");
    close(fds[1]);
    gw_loop_free(loop);
}

static int deferred[3];
static int ndeferred;

static void
record_defer(void *data)
{
    deferred[ndeferred++] = (int)(intptr_t)data;
}

static void
stop_timer(struct gw_timer *t)
{
    static struct gw_defer d[2];
    gw_loop_defer(t->loop, &d[0], record_defer, (void *)(intptr_t)1);
    gw_loop_defer(t->loop, &d[1], record_defer, (void *)(intptr_t)2);
    is_int(ndeferred, 0, "deferred work waits for the turn to end");
    gw_loop_stop(t->loop);
}

static void
test_defer(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    struct gw_timer t;
    gw_timer_init(loop, &t, stop_timer, NULL);
    gw_timer_start(&t, 0);
    gw_loop_run(loop);
    is_int(ndeferred, 2, "both deferred callbacks ran");
    is_int(deferred[0], 1, "in registration order (1)");
    is_int(deferred[1], 2, "in registration order (2)");
    gw_loop_free(loop);
}

static void
test_signals(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    is_int(gw_loop_stop_on_signals(loop), 0, "stop_on_signals");
    raise(SIGTERM); /* blocked: becomes pending, read via the signalfd */
    is_int(gw_loop_run(loop), 0, "SIGTERM stops the loop");
    ok(gw_loop_is_stopping(loop), "loop is stopping");
    gw_loop_free(loop);
}

static void
test_sock(void)
{
    int fd = gw_sock_listen("127.0.0.1", 0, SOCK_STREAM);
    ok(fd >= 0, "listen on 127.0.0.1:0");
    int port = gw_sock_local_port(fd);
    ok(port > 0, "got a port");
    is_int(gw_sock_accept(fd, NULL, NULL), GW_EAGAIN, "accept with nothing pending");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    is_int(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0, "connect");
    struct sockaddr_storage peer;
    socklen_t plen;
    int a = -1;
    for (int i = 0; i < 100 && a < 0; i++)
        a = gw_sock_accept(fd, &peer, &plen);
    ok(a >= 0, "accepted");
    char text[64];
    ok(gw_sock_addr_format((struct sockaddr *)&peer, text, sizeof(text)) > 0, "format");
    ok(!strncmp(text, "127.0.0.1:", 10), "peer is 127.0.0.1:port (%s)", text);
    close(a);
    close(c);
    close(fd);

    fd = gw_sock_listen(NULL, 0, SOCK_STREAM);
    ok(fd >= 0, "listen on the wildcard");
    close(fd);
    fd = gw_sock_listen("[::1]", 0, SOCK_DGRAM);
    ok(fd >= 0 || fd == -EADDRNOTAVAIL, "udp on [::1]");
    if (fd >= 0)
        close(fd);
    is_int(gw_sock_listen("not-an-ip", 0, SOCK_STREAM), GW_EINVAL, "bad address");

    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6.sin6_addr);
    gw_sock_addr_format((struct sockaddr *)&s6, text, sizeof(text));
    is_str(text, "10.1.2.3:80", "v4-mapped shown as IPv4");
    inet_pton(AF_INET6, "fe80::1", &s6.sin6_addr);
    gw_sock_addr_format((struct sockaddr *)&s6, text, sizeof(text));
    is_str(text, "[fe80::1]:80", "IPv6 in brackets");
}

/* A TCP loopback pair: *a accepted, *c connected, both non-blocking. */
static void
tcp_pair(int *a, int *c)
{
    int l = gw_sock_listen("127.0.0.1", 0, SOCK_STREAM);
    int port = gw_sock_local_port(l);
    *c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(*c, (struct sockaddr *)&sin, sizeof(sin));
    *a = -1;
    for (int i = 0; i < 1000 && *a < 0; i++)
        *a = gw_sock_accept(l, NULL, NULL);
    close(l);
}

struct hup_ctx {
    struct gw_io io;
    int calls;
    unsigned events;
    int eof;    /* reads that returned 0 */
    int data;   /* bytes read */
    bool unset; /* the callback stops watching instead of reading */
};

static void
on_hup(struct gw_io *io, unsigned events)
{
    struct hup_ctx *h = io->data;
    h->calls++;
    h->events |= events;
    if (h->unset) {
        gw_io_set(io, 0);
        return;
    }
    char buf[64];
    ssize_t n = recv(io->fd, buf, sizeof(buf), 0);
    if (n > 0)
        h->data += (int)n;
    else if (n == 0 && ++h->eof == 1)
        gw_io_set(io, 0); /* seen: stop watching */
}

static void
stop_loop(struct gw_timer *t)
{
    gw_loop_stop(t->loop);
}

/* Runs loop for about ms milliseconds. */
static void
run_for(struct gw_loop *loop, uint64_t ms)
{
    struct gw_timer t;
    gw_timer_init(loop, &t, stop_loop, NULL);
    gw_timer_start(&t, ms);
    gw_loop_run(loop);
    loop->stopping = false;
    gw_timer_stop(&t);
}

/* gw_io_set(io, 0) really stops watching: a hung-up socket (both halves
 * shut) is not reported every turn, and it is reported again once watched. */
static void
test_io_unwatch_hup(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    int a, c;
    tcp_pair(&a, &c);
    struct hup_ctx h = {0};
    gw_io_init(loop, &h.io, a, on_hup, &h);
    is_int(gw_io_set(&h.io, GW_LOOP_READ), 0, "watch");
    is_int(gw_io_set(&h.io, 0), 0, "unwatch");
    is_int(gw_io_set(&h.io, 0), 0, "unwatch again (no-op)");
    shutdown(a, SHUT_WR);
    close(c); /* its FIN: a is now hung up both ways */
    run_for(loop, 30);
    is_int(h.calls, 0, "no callback for an unwatched hung-up socket");
    is_int(gw_io_set(&h.io, GW_LOOP_READ), 0, "watch again");
    run_for(loop, 30);
    is_int(h.eof, 1, "the hang-up is reported once watched: EOF read");
    ok(h.calls >= 1 && h.calls <= 2, "and no busy loop after unwatching (%d calls)", h.calls);

    /* A write-only watch of a hung-up socket still hears of it. */
    struct hup_ctx w = {.unset = true};
    int a2, c2;
    tcp_pair(&a2, &c2);
    gw_io_init(loop, &w.io, a2, on_hup, &w);
    shutdown(a2, SHUT_WR);
    close(c2);
    run_for(loop, 10);
    is_int(gw_io_set(&w.io, GW_LOOP_WRITE), 0, "watch write");
    run_for(loop, 30);
    is_int(w.calls, 1, "called once, then unwatched by the callback");
    ok(w.events & GW_LOOP_ERROR, "hang-up reported as GW_LOOP_ERROR");
    gw_io_close(&h.io, NULL);
    gw_io_close(&w.io, NULL);
    gw_loop_free(loop);
}

/* Two ios ready in one batch: the first callback unwatches the other, whose
 * event from the same batch must not be delivered. */
static struct hup_ctx batch[2];

static void
on_batch(struct gw_io *io, unsigned events)
{
    (void)events;
    struct hup_ctx *h = io->data;
    h->calls++;
    struct hup_ctx *other = h == &batch[0] ? &batch[1] : &batch[0];
    gw_io_set(&other->io, 0);
    gw_io_set(io, 0);
}

static void
test_io_unwatch_in_batch(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    int fds[2][2];
    for (int i = 0; i < 2; i++) {
        ok(pipe(fds[i]) == 0, "pipe %d", i);
        gw_io_init(loop, &batch[i].io, fds[i][0], on_batch, &batch[i]);
        gw_io_set(&batch[i].io, GW_LOOP_READ);
        is_int((long long)write(fds[i][1], "x", 1), 1, "ready %d", i);
    }
    run_for(loop, 20);
    is_int(batch[0].calls + batch[1].calls, 1, "an event of an unwatched io is dropped");
    for (int i = 0; i < 2; i++) {
        gw_io_close(&batch[i].io, NULL);
        close(fds[i][1]);
    }
    gw_loop_free(loop);
}

/* Data and the peer's FIN arrive together; the callback reads once, a short
 * read (less than its buffer). Level-triggered, the FIN is reported on the
 * next turn: a short read is never taken for "nothing more will come". */
static void
test_io_short_read_then_fin(void)
{
    struct gw_loop *loop;
    gw_loop_new(&loop);
    int a, c;
    tcp_pair(&a, &c);
    struct hup_ctx h = {0};
    gw_io_init(loop, &h.io, a, on_hup, &h);
    is_int((long long)send(c, "hello", 5, 0), 5, "peer sends 5 bytes");
    shutdown(c, SHUT_WR);
    usleep(10000); /* both in a's receive queue before the first turn */
    is_int(gw_io_set(&h.io, GW_LOOP_READ), 0, "watch");
    /* Turns until the EOF is seen (at most 2 s): on a loaded machine the
     * FIN may land, or the second turn come, after any fixed time. */
    for (int i = 0; i < 100 && !h.eof; i++)
        run_for(loop, 20);
    is_int(h.data, 5, "data read by a short read");
    is_int(h.eof, 1, "the FIN behind it is reported too");
    is_int(h.calls, 2, "one call for the data, one for the EOF");
    gw_io_close(&h.io, NULL);
    close(c);
    gw_loop_free(loop);
}

/* gw_pipe_resize: the capacity asked for, what gw_pipe_open reports, the
 * default kept when refused, and bytes through the larger pipe. */
static void
test_pipe_resize(void)
{
    struct gw_pipe p;
    gw_pipe_init(&p);
    ok(!gw_pipe_is_open(&p) && p.cap == 0, "a pipe not open has no capacity");
    ok(gw_pipe_open(&p) == 0 && p.cap > 0, "gw_pipe_open reports the capacity");
    size_t def = p.cap;
    int rc = gw_pipe_resize(&p, 256 * 1024);
    ok(rc == 0 && p.cap >= 256 * 1024, "resized to %zu", p.cap);
    ok(gw_pipe_resize(&p, (size_t)1 << 40) < 0 && p.cap >= 256 * 1024,
       "a refused size keeps the capacity");
    int sv[2];
    ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0, "socketpair");
    static char buf[128 * 1024];
    memset(buf, 'x', sizeof(buf));
    ssize_t w = write(sv[0], buf, sizeof(buf));
    ssize_t got = 0;
    while (w > 0 && got < w) {
        ssize_t n = gw_pipe_fill(&p, sv[1], p.cap - p.len);
        if (n <= 0)
            break;
        got += n;
    }
    ok(got == w && p.len == (size_t)w && (size_t)w > def,
       "%zd bytes in the pipe, more than its default %zu", got, def);
    close(sv[0]);
    close(sv[1]);
    gw_pipe_release(&p);
    ok(!gw_pipe_is_open(&p) && p.len == 0 && p.cap == 0, "released");
}

int
main(void)
{
#ifdef TEST_URING
    if (gw_loop_uring_probe() == 0)
        gw_loop_backend_set_default(GW_LOOP_URING);
#endif
    test_timers();
    test_timer_heap();
    test_timer_restart();
    test_timer_mute();
    test_timer_model();
    test_timer_churn();
    test_timer_keepalive();
    test_io();
    test_io_unwatch_hup();
    test_io_unwatch_in_batch();
    test_io_short_read_then_fin();
    test_defer();
    test_signals();
    test_sock();
    test_pipe_resize();
    return done_testing();
}
