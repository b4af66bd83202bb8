/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoint choice and bookkeeping, per worker: the endpoint table (one
 * entry per upstream ip:port the worker has talked to; it outlives
 * snapshots so pools and ejection state survive reloads), round-robin
 * cursors and endpoint lists per backend (an array indexed by the IR
 * backend's dense id), the pick (round robin or power of two choices,
 * skipping ejected endpoints and those failing their active health check,
 * health.c), and passive outlier ejection: eject_consecutive
 * failures in a row (connect errors, resets, 5xx) eject an endpoint for
 * eject_ms, doubled on each repeat up to 16x; a success resets the count.
 * The table and the ejection policy are l4's (gw_l4_ep_table,
 * gw_l4_ep_report), shared by both data planes; entries here are struct
 * px_ep, l4's endpoint first.
 */

#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

void
px_ep_table_init(struct px_ep_table *t)
{
    gw_l4_ep_table_init(&t->base, sizeof(struct px_ep));
    t->sh = NULL;
}

void
px_ep_table_release(struct px_ep_table *t)
{
    gw_l4_ep_table_release(&t->base);
}

struct px_ep *
px_ep_table_get(struct px_ep_table *t, const char *ip, uint16_t port)
{
    struct px_ep *e = (struct px_ep *)(void *)gw_l4_ep_table_get(&t->base, ip, port);
    if (GW_UNLIKELY(!e->sh) && t->sh)
        e->sh = px_shtab_get(t->sh, ip, port); /* once per endpoint and worker */
    return e;
}

void
px_rr_table_init(struct px_rr_table *t)
{
    *t = (struct px_rr_table){0};
}

void
px_rr_table_release(struct px_rr_table *t)
{
    px_rr_table_clear(t);
    free(t->v);
    *t = (struct px_rr_table){0};
}

void
px_rr_table_clear(struct px_rr_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->v[i].eps);
    if (t->cap)
        memset(t->v, 0, t->cap * sizeof(*t->v));
}

_Static_assert(64 % sizeof(struct px_bstate) == 0, "states tile cache lines");

struct px_bstate *
px_rr_table_slot(struct px_rr_table *t, uint32_t id)
{
    if (id >= t->cap) {
        /* On a cache line: a 32-byte state never straddles two. */
        size_t ncap = t->cap ? t->cap : 64;
        while (ncap <= id)
            ncap *= 2;
        struct px_bstate *v = aligned_alloc(64, ncap * sizeof(*v));
        GW_ASSERT(v);
        if (t->cap)
            memcpy(v, t->v, t->cap * sizeof(*v));
        memset(v + t->cap, 0, (ncap - t->cap) * sizeof(*v));
        free(t->v);
        t->v = v;
        t->cap = ncap;
    }
    return &t->v[id];
}

static bool
out(struct px_ep *const *eps, struct px_hc_ep *const *hs, size_t i, uint64_t now)
{
    return gw_l4_ep_is_ejected(&eps[i]->base, now) || px_hc_is_down(hs, i);
}

int
px_lb_pick(struct px_ep *const *eps, struct px_hc_ep *const *hs, size_t n, enum gw_proxy_lb lb,
           uint32_t *cursor, uint64_t rnd, uint64_t now)
{
    if (n == 0)
        return -1;
    if (n == 1)
        return 0;
    size_t healthy = 0;
    for (size_t i = 0; i < n; i++)
        healthy += !out(eps, hs, i, now);
    bool all = healthy == 0; /* panic mode: every endpoint is fair game */
    if (lb == GW_PROXY_LB_P2C) {
        size_t a = (size_t)(rnd % n), b = (size_t)((rnd >> 32) % n);
        if (!all) {
            for (size_t k = 0; k < n && out(eps, hs, a, now); k++)
                a = (a + 1) % n;
            for (size_t k = 0; k < n && (out(eps, hs, b, now) || (b == a && healthy > 1)); k++)
                b = (b + 1) % n;
        }
        return eps[b]->active < eps[a]->active ? (int)b : (int)a;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (*cursor)++ % n;
        if (all || !out(eps, hs, i, now))
            return (int)i;
    }
    return 0;
}

void
px_ep_report(struct px_ep *ep, bool failed, unsigned consecutive, unsigned eject_ms, uint64_t now)
{
    gw_l4_ep_report(&ep->base, failed, consecutive, eject_ms, now);
}
