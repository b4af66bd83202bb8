/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Global rate limits (RateLimitPolicy scope Global): the bucket lives in
 * Redis, so that every replica takes from the same one. Per worker, one
 * pipelined connection (redis.c); a request that meets a global limit is
 * parked (conn.c keeps its head unconsumed) while one EVALSHA of a GCRA
 * script runs in Redis, and resumed by the reply. The loop never waits:
 * when Redis is away, or does not answer within the timeout, the limit's
 * failureMode decides at once (Open lets the request through, Closed
 * refuses it), and a late reply is dropped.
 *
 * The script is the GCRA of ratelimit.c on Redis's own clock (TIME), so
 * the replicas' clocks do not matter: the key holds the theoretical
 * arrival time in microseconds and expires when the bucket would be full
 * again. Keys name the limit's key_id and the key's value by stable
 * hashes ("gatehouse:rl:<key_id>:<value>"), the same in every replica.
 *
 * Waits sit in a list in send order; with one timeout for all that is
 * deadline order too, so one timer (the oldest wait's deadline) serves
 * them all. A wait whose request went away (timeout, closed connection)
 * stays allocated until hiredis hands its reply (or NULL) back.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "proxy/internal.h"

#include "base/banned.h"

/* Waits in flight per worker beyond which a limit decides by its
 * failureMode without asking (Redis far behind). */
#define MAX_INFLIGHT 16384

/* KEYS[1]: the bucket. ARGV[1]: the emission interval T, ARGV[2]: the
 * bucket's depth T * burst, both microseconds. Returns {allowed,
 * remaining, retry-after us, reset us}. Numbers are written with %.0f:
 * tostring would round a microsecond clock to 14 digits. */
static const char script[] =
    "local T = tonumber(ARGV[1])\n"
    "local depth = tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now\n"
    "if tat < now then tat = now end\n"
    "local nxt = tat + T\n"
    "if nxt - now > depth then\n"
    "  return {0, 0, nxt - depth - now, tat - now}\n"
    "end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX',\n"
    "           string.format('%.0f', math.ceil((nxt - now) / 1000) + 1000))\n"
    "return {1, math.floor((depth - (nxt - now)) / T), 0, nxt - now}\n";

struct px_rlg_wait {
    struct px_rlg *g;
    struct px_dconn *d; /* NULL: the request is gone, the reply is dropped */
    uint32_t idx;       /* the limit's index in d->route->ratelimits */
    bool fail_closed;
    uint64_t deadline;
    struct px_rlg_wait *prev, *next; /* the deadline list, while d is set */
};

struct px_rlg {
    struct px_worker *w;
    struct px_redis *r;
    unsigned timeout_ms;
    char sha[41];
    struct px_rlg_wait *head, *tail;
    size_t inflight; /* waits allocated */
    struct gw_timer timer;
};

static inline void
add(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* FNV-1a and a finalizer: stable across processes and builds, unlike the
 * seeded hash of the local tables. */
static uint64_t
stable_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static void
fail_verdict(struct px_worker *w, bool fail_closed, struct px_rl_verdict *v)
{
    *v = (struct px_rl_verdict){.allowed = !fail_closed};
    if (fail_closed) {
        v->retry_after_s = 1;
        v->reset_s = 1;
        add(&w->m->rlg_fail_closed);
    } else {
        add(&w->m->rlg_fail_open);
    }
}

static void
unlink_wait(struct px_rlg *g, struct px_rlg_wait *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        g->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        g->tail = x->prev;
    x->prev = x->next = NULL;
}

static void
wait_free(struct px_rlg_wait *x)
{
    x->g->inflight--;
    free(x);
}

/* The oldest live waits past their deadline decide by failureMode. */
static void
on_timer(struct gw_timer *t)
{
    struct px_rlg *g = t->data;
    uint64_t now = gw_loop_now(g->w->loop);
    while (g->head && g->head->deadline <= now) {
        struct px_rlg_wait *x = g->head;
        unlink_wait(g, x);
        struct px_dconn *d = x->d;
        x->d = NULL; /* freed when its reply comes */
        add(&g->w->m->redis_timeouts);
        struct px_rl_verdict v;
        fail_verdict(g->w, x->fail_closed, &v);
        d->rlg_wait = NULL;
        px_dconn_rl_resume(d, x->idx, &v);
    }
    if (g->head)
        gw_timer_start(t, g->head->deadline - now);
}

static void
on_reply(void *data, const struct redisReply *rep)
{
    struct px_rlg_wait *x = data;
    struct px_rlg *g = x->g;
    struct px_dconn *d = x->d;
    uint32_t idx = x->idx;
    bool fail_closed = x->fail_closed;
    if (d)
        unlink_wait(g, x);
    wait_free(x);
    struct px_worker *w = g->w;
    struct px_rl_verdict v;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 4 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER &&
        rep->element[1]->type == REDIS_REPLY_INTEGER &&
        rep->element[2]->type == REDIS_REPLY_INTEGER &&
        rep->element[3]->type == REDIS_REPLY_INTEGER) {
        long long rem = rep->element[1]->integer, retry = rep->element[2]->integer,
                  reset = rep->element[3]->integer;
        v.allowed = rep->element[0]->integer != 0;
        v.remaining = (uint32_t)GW_MAX(0, GW_MIN(rem, (long long)UINT32_MAX));
        v.retry_after_s = (uint32_t)GW_MAX(0, (retry + 999999) / 1000000);
        v.reset_s = (uint32_t)GW_MAX(0, (reset + 999999) / 1000000);
        add(v.allowed ? &w->m->rlg_allowed : &w->m->rlg_refused);
    } else {
        add(&w->m->redis_errors);
        if (!d)
            return;
        fail_verdict(w, fail_closed, &v);
    }
    if (!d)
        return;
    d->rlg_wait = NULL;
    px_dconn_rl_resume(d, idx, &v);
}

struct px_rlg *
px_rlg_new(struct px_worker *w)
{
    const struct gw_proxy_opts *o = &w->p->o;
    struct px_rlg *g = gw_xcalloc(1, sizeof(*g));
    g->w = w;
    g->timeout_ms = o->redis_timeout_ms ? o->redis_timeout_ms : 20;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    GW_ASSERT(EVP_Digest(script, sizeof(script) - 1, md, &mdlen, EVP_sha1(), NULL) == 1 &&
              mdlen == 20);
    for (unsigned i = 0; i < 20; i++)
        snprintf(g->sha + 2 * i, 3, "%02x", md[i]);
    gw_timer_init(w->loop, &g->timer, on_timer, g);
    struct px_redis_opts ro = {
        .host = o->redis_host,
        .port = o->redis_port,
        .path = o->redis_path,
        .password = o->redis_password,
        .script = script,
        .on_reply = on_reply,
    };
    g->r = px_redis_new(w->loop, &ro, w->m);
    return g;
}

void
px_rlg_free(struct px_rlg *g)
{
    if (!g)
        return;
    /* Requests are gone by now (their close cancels their wait): the
     * replies hiredis hands back as NULL only free the waits. */
    px_redis_free(g->r);
    gw_timer_stop(&g->timer);
    GW_ASSERT(g->inflight == 0);
    free(g);
}

int
px_rlg_check(struct px_dconn *d, const struct gw_ir_ratelimit *l, struct gw_str key, uint32_t idx,
             struct px_rl_verdict *v)
{
    struct px_worker *w = d->w;
    struct px_rlg *g = w->rlg;
    if (!g || !px_redis_is_up(g->r) || g->inflight >= MAX_INFLIGHT) {
        fail_verdict(w, l->fail_closed, v);
        return 0;
    }
    char rkey[64], targ[24], darg[24];
    int kn;
    uint64_t lh = stable_hash(l->key_id, strlen(l->key_id));
    if (l->key == GW_IR_RL_ROUTE)
        kn = snprintf(rkey, sizeof(rkey), "gatehouse:rl:%016llx", (unsigned long long)lh);
    else
        kn = snprintf(rkey, sizeof(rkey), "gatehouse:rl:%016llx:%016llx", (unsigned long long)lh,
                      (unsigned long long)stable_hash(key.p, key.len));
    int64_t T = l->interval_ms * 1000 / (int64_t)l->requests;
    if (T < 1)
        T = 1;
    int tn = snprintf(targ, sizeof(targ), "%lld", (long long)T);
    int dn = snprintf(darg, sizeof(darg), "%lld", (long long)(T * (int64_t)l->burst));
    const char *argv[] = {"EVALSHA", g->sha, "1", rkey, targ, darg};
    size_t lens[] = {7, 40, 1, (size_t)kn, (size_t)tn, (size_t)dn};
    struct px_rlg_wait *x = gw_xcalloc(1, sizeof(*x));
    x->g = g;
    x->d = d;
    x->idx = idx;
    x->fail_closed = l->fail_closed;
    x->deadline = gw_loop_now(w->loop) + g->timeout_ms;
    if (px_redis_command(g->r, x, 6, argv, lens) < 0) {
        free(x);
        add(&w->m->redis_errors);
        fail_verdict(w, l->fail_closed, v);
        return 0;
    }
    g->inflight++;
    x->prev = g->tail;
    if (g->tail)
        g->tail->next = x;
    else
        g->head = x;
    g->tail = x;
    if (!gw_timer_is_active(&g->timer))
        gw_timer_start(&g->timer, g->timeout_ms);
    d->rlg_wait = x;
    return 1;
}

void
px_rlg_cancel(struct px_dconn *d)
{
    struct px_rlg_wait *x = d->rlg_wait;
    if (!x)
        return;
    unlink_wait(x->g, x);
    x->d = NULL;
    d->rlg_wait = NULL;
}
