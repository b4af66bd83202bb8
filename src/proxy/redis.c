/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One asynchronous Redis connection per worker (hiredis), driven by the
 * worker's own loop: hiredis's event hooks (addRead, delRead, addWrite,
 * delWrite, cleanup) become the interest of one gw_io, and the io's
 * callbacks hand readiness back to redisAsyncHandleRead/Write. Nothing
 * here ever blocks the loop: the connect is non-blocking (the address is
 * numeric, resolved by the caller), and every command is only queued.
 *
 * The connection is "up" from hiredis's connect callback until its context
 * is freed: by a read error or EOF (Redis killed), by a failed connect, by
 * a stall (commands outstanding, no reply for STALL_MS: a host that went
 * away without a reset), or by px_redis_free. Every way ends in hiredis's
 * cleanup hook, the one place that forgets the context and arms the
 * reconnect, 50 ms doubling to 2 s. Each new connection first sends AUTH
 * (when a password is set) and SCRIPT LOAD of the caller's script, ahead
 * of anything else in the pipeline, so the caller can EVALSHA at once.
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <string.h>

#include "base/base.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
/* A connect that takes longer is given up (a black-holed address). */
#define CONNECT_MS 1000
/* Outstanding commands and no reply for this long: the connection is cut. */
#define STALL_MS 1000

struct px_redis {
    struct gw_loop *loop;
    struct px_redis_opts o;
    struct px_metrics *m;
    redisAsyncContext *ac; /* NULL while away */
    struct gw_io io;       /* ac's fd; never closed by us (hiredis closes it) */
    unsigned interest;
    bool up;      /* connected, and not being freed */
    bool freeing; /* px_redis_free: no reconnect */
    unsigned backoff_ms;
    struct gw_timer timer; /* reconnect, connect timeout, stall check */
    struct gw_timer flush; /* this turn's commands, written together */
    bool flushing;
    bool loading;       /* a SCRIPT LOAD is outstanding */
    size_t outstanding; /* commands sent, replies not yet read */
    uint64_t last_reply_ms;
};

static void connect_now(struct px_redis *r);

static inline void
add(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* The hooks: hiredis's wishes as the io's interest                          */

static void
set_interest(struct px_redis *r, unsigned ev)
{
    if (ev == r->interest)
        return;
    r->interest = ev;
    gw_io_set(&r->io, ev);
}

static void
ev_add_read(void *p)
{
    struct px_redis *r = p;
    set_interest(r, r->interest | GW_LOOP_READ);
}

static void
ev_del_read(void *p)
{
    struct px_redis *r = p;
    set_interest(r, r->interest & ~(unsigned)GW_LOOP_READ);
}

/* hiredis asks for a writable event after each command. Connected, the
 * commands of one loop turn are written at its end instead, in one send:
 * no interest change (an epoll_ctl each way) and no send per request. Only
 * a write the socket cannot take whole waits for the event. */
static void
ev_add_write(void *p)
{
    struct px_redis *r = p;
    if (r->up && !r->flushing) {
        if (!gw_timer_is_active(&r->flush))
            gw_timer_start(&r->flush, 0);
        return;
    }
    set_interest(r, r->interest | GW_LOOP_WRITE);
}

static void
on_flush(struct gw_timer *t)
{
    struct px_redis *r = t->data;
    if (!r->ac)
        return;
    r->flushing = true;
    redisAsyncHandleWrite(r->ac); /* may free it (a write error) */
    r->flushing = false;
}

static void
ev_del_write(void *p)
{
    struct px_redis *r = p;
    set_interest(r, r->interest & ~(unsigned)GW_LOOP_WRITE);
}

/* The context is being freed (hiredis closes the fd right after): stop
 * watching it first, and come back later. */
static void
ev_cleanup(void *p)
{
    struct px_redis *r = p;
    r->interest = 0;
    gw_io_set(&r->io, 0);
    gw_timer_stop(&r->flush);
    r->ac = NULL;
    if (r->up)
        atomic_store_explicit(&r->m->redis_up, 0, memory_order_relaxed);
    r->up = false;
    r->outstanding = 0;
    if (r->freeing)
        return;
    add(&r->m->redis_errors); /* lost, failed to connect, or cut */
    gw_timer_start(&r->timer, r->backoff_ms);
    r->backoff_ms = GW_MIN(r->backoff_ms * 2, BACKOFF_MAX_MS);
}

static void
on_io(struct gw_io *io, unsigned events)
{
    struct px_redis *r = io->data;
    redisAsyncContext *ac = r->ac;
    if (!ac)
        return;
    if (events & (GW_LOOP_READ | GW_LOOP_ERROR))
        redisAsyncHandleRead(ac); /* may free ac (EOF, error) */
    if ((events & GW_LOOP_WRITE) && r->ac == ac)
        redisAsyncHandleWrite(ac);
}

/* ------------------------------------------------------------------------ */
/* Connection                                                                */

static void
on_connect(const redisAsyncContext *ac, int status)
{
    struct px_redis *r = ac->data;
    if (status != REDIS_OK)
        return; /* hiredis frees the context next: ev_cleanup */
    r->up = true;
    r->backoff_ms = BACKOFF_MIN_MS;
    r->last_reply_ms = gw_loop_now(r->loop);
    atomic_store_explicit(&r->m->redis_up, 1, memory_order_relaxed);
    add(&r->m->redis_connects);
    gw_timer_start(&r->timer, STALL_MS / 4);
}

static void
on_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct px_redis *r = ac->data;
    const redisReply *rep = reply;
    if (priv == r)
        r->loading = false;
    if (!rep)
        return;
    r->outstanding--;
    r->last_reply_ms = gw_loop_now(r->loop);
    if (rep->type == REDIS_REPLY_ERROR)
        add(&r->m->redis_errors);
}

static void
setup_commands(struct px_redis *r, bool auth)
{
    if (auth && r->o.password) {
        const char *argv[] = {"AUTH", r->o.password};
        size_t lens[] = {4, strlen(r->o.password)};
        if (redisAsyncCommandArgv(r->ac, on_setup_reply, NULL, 2, argv, lens) == REDIS_OK)
            r->outstanding++;
    }
    if (r->o.script && !r->loading) {
        const char *argv[] = {"SCRIPT", "LOAD", r->o.script};
        size_t lens[] = {6, 4, strlen(r->o.script)};
        if (redisAsyncCommandArgv(r->ac, on_setup_reply, r, 3, argv, lens) == REDIS_OK) {
            r->outstanding++;
            r->loading = true; /* one at a time, however many NOSCRIPTs */
        }
    }
}

static void
connect_now(struct px_redis *r)
{
    redisAsyncContext *ac =
        r->o.path ? redisAsyncConnectUnix(r->o.path) : redisAsyncConnect(r->o.host, (int)r->o.port);
    if (!ac || ac->err) {
        add(&r->m->redis_errors);
        if (ac)
            redisAsyncFree(ac); /* no hooks yet: nothing of ours runs */
        gw_timer_start(&r->timer, r->backoff_ms);
        r->backoff_ms = GW_MIN(r->backoff_ms * 2, BACKOFF_MAX_MS);
        return;
    }
    r->ac = ac;
    ac->data = r;
    gw_io_init(r->loop, &r->io, ac->c.fd, on_io, r);
    r->interest = 0;
    ac->ev.data = r;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    /* The connect completes on the first writable event. */
    ev_add_write(r);
    r->loading = false;
    setup_commands(r, true);
    gw_timer_start(&r->timer, CONNECT_MS);
}

/* Reconnect when away; give up a connect that hangs; cut a stalled one. */
static void
on_timer(struct gw_timer *t)
{
    struct px_redis *r = t->data;
    if (!r->ac) {
        connect_now(r);
        return;
    }
    uint64_t now = gw_loop_now(r->loop);
    if (!r->up || (r->outstanding && now - r->last_reply_ms >= STALL_MS)) {
        redisAsyncFree(r->ac); /* pending callbacks get NULL; ev_cleanup */
        return;
    }
    gw_timer_start(t, STALL_MS / 4);
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */

struct px_redis *
px_redis_new(struct gw_loop *loop, const struct px_redis_opts *o, struct px_metrics *m)
{
    struct px_redis *r = gw_xcalloc(1, sizeof(*r));
    r->loop = loop;
    r->o = *o;
    r->m = m;
    r->backoff_ms = BACKOFF_MIN_MS;
    gw_timer_init(loop, &r->timer, on_timer, r);
    gw_timer_init(loop, &r->flush, on_flush, r);
    connect_now(r);
    return r;
}

void
px_redis_free(struct px_redis *r)
{
    if (!r)
        return;
    r->freeing = true;
    gw_timer_stop(&r->timer);
    if (r->ac)
        redisAsyncFree(r->ac);
    gw_timer_stop(&r->timer);
    gw_timer_stop(&r->flush);
    free(r);
}

bool
px_redis_is_up(const struct px_redis *r)
{
    return r->up;
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct px_redis *r = ac->data;
    const redisReply *rep = reply;
    if (rep) {
        r->outstanding--;
        r->last_reply_ms = gw_loop_now(r->loop);
        /* The scripts were flushed (SCRIPT FLUSH, a failover to a replica
         * without them): load it again for the commands that follow. */
        if (rep->type == REDIS_REPLY_ERROR && rep->str && !strncmp(rep->str, "NOSCRIPT", 8) &&
            r->up)
            setup_commands(r, false);
    } else {
        r->up = false; /* the context is going: no command into it now */
    }
    r->o.on_reply(priv, rep);
}

int
px_redis_command(struct px_redis *r, void *data, int argc, const char **argv, const size_t *lens)
{
    if (!r->up || !r->ac)
        return GW_ECLOSED;
    if (redisAsyncCommandArgv(r->ac, on_reply, data, argc, argv, lens) != REDIS_OK)
        return GW_ECLOSED;
    if (!r->outstanding++)
        r->last_reply_ms = gw_loop_now(r->loop); /* the stall clock starts now */
    return 0;
}
