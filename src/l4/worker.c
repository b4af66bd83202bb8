/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The l4 state of one proxy worker: options, the endpoint table and
 * round-robin cursors, the random source for weighted choice, and the
 * teardown that resets whatever is still open.
 */
#include <stdlib.h>
#include <time.h>

#include "l4/internal.h"

#include "base/banned.h"

void
gw_l4_opts_default(struct gw_l4_opts *o)
{
    *o = (struct gw_l4_opts){
        .connect_timeout_ms = 5000,
        .idle_timeout_ms = 3600 * 1000,
        .hello_timeout_ms = 10000,
        .udp_idle_ms = 60000,
        .udp_max_sessions = 4096,
        .max_conns = 0,
        .eject_consecutive = 5,
        .eject_ms = 30000,
    };
}

struct gw_l4_worker *
gw_l4_worker_new(struct gw_loop *loop, const struct gw_l4_opts *o)
{
    struct gw_l4_worker *w = gw_xcalloc(1, sizeof(*w));
    w->loop = loop;
    if (o)
        w->o = *o;
    else
        gw_l4_opts_default(&w->o);
    if (w->o.udp_max_sessions == 0)
        w->o.udp_max_sessions = 1;
    gw_l4_ep_table_init(&w->eps, sizeof(struct gw_l4_ep));
    static _Atomic uint64_t seq;
    w->rnd = 0x9e3779b97f4a7c15ull ^ ((uint64_t)time(NULL) * 0xbf58476d1ce4e5b9ull) ^
             (++seq * 0x94d049bb133111ebull) ^ (uint64_t)(uintptr_t)w;
    if (w->rnd == 0)
        w->rnd = 1;
    w->buckets = gw_xcalloc(L4_BUCKETS, sizeof(*w->buckets));
    gw_timer_init(loop, &w->sweep, l4_rsock_sweep, w);
    w->dgram = gw_xmalloc((size_t)L4_MMSG * L4_DGRAM_MAX);
    return w;
}

void
gw_l4_worker_free(struct gw_l4_worker *w)
{
    if (!w)
        return;
    l4_conn_close_all(w);
    l4_sess_close_all(w); /* and with them every reply socket */
    gw_timer_stop(&w->sweep);
    gw_l4_ep_table_release(&w->eps);
    free(w->buckets);
    free(w->dgram);
    free(w);
}

size_t
gw_l4_worker_active(const struct gw_l4_worker *w)
{
    return w ? w->nconns + w->nsess : 0;
}

void
gw_l4_worker_drain(struct gw_l4_worker *w)
{
    if (!w || w->draining)
        return;
    w->draining = true;
    /* A UDP session has no end the client would see, and its listener is
     * gone: waiting would only hold the drain to its deadline. */
    l4_sess_close_all(w);
}

uint32_t
l4_rand(struct gw_l4_worker *w)
{
    /* xorshift64*: per worker, good enough for weighted sampling */
    uint64_t x = w->rnd;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rnd = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

uint32_t *
l4_cursor(struct gw_l4_worker *w, const struct gw_ir_backend *b)
{
    /* Keyed by name so a cursor survives reloads; collisions only share a
     * cursor, which keeps the rotation fair enough. */
    uint32_t h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)(b->name ? b->name : ""); *s; s++)
        h = (h ^ *s) * 16777619u;
    return &w->cursors[h % L4_CURSORS];
}
