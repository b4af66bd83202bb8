/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoint choice and bookkeeping, per worker: the endpoint table (one
 * entry per upstream ip:port the worker has talked to; it outlives
 * snapshots so pools and ejection state survive reloads), round-robin
 * cursors per backend, the pick (round robin or power of two choices,
 * skipping ejected endpoints), and passive outlier ejection: eject_consecutive
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
}

void
px_ep_table_release(struct px_ep_table *t)
{
    gw_l4_ep_table_release(&t->base);
}

struct px_ep *
px_ep_table_get(struct px_ep_table *t, const char *ip, uint16_t port)
{
    return (struct px_ep *)(void *)gw_l4_ep_table_get(&t->base, ip, port);
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
    free(t->keys);
    free(t->vals);
    *t = (struct px_rr_table){0};
}

void
px_rr_table_clear(struct px_rr_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i])
            free(t->vals[i].eps);
    if (t->cap) {
        memset(t->keys, 0, t->cap * sizeof(*t->keys));
        memset(t->vals, 0, t->cap * sizeof(*t->vals));
    }
    t->n = 0;
}

static size_t
ptr_slot(const void *k, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)k * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

struct px_bstate *
px_rr_table_slot(struct px_rr_table *t, const void *key)
{
    if (t->cap == 0 || (t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        const void **nk = gw_xcalloc(ncap, sizeof(*nk));
        struct px_bstate *nv = gw_xcalloc(ncap, sizeof(*nv));
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->keys[i])
                continue;
            size_t j = ptr_slot(t->keys[i], ncap);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = t->keys[i];
            nv[j] = t->vals[i];
        }
        free(t->keys);
        free(t->vals);
        t->keys = nk;
        t->vals = nv;
        t->cap = ncap;
    }
    size_t j = ptr_slot(key, t->cap);
    while (t->keys[j] && t->keys[j] != key)
        j = (j + 1) & (t->cap - 1);
    if (!t->keys[j]) {
        t->keys[j] = key;
        t->vals[j] = (struct px_bstate){0};
        t->n++;
    }
    return &t->vals[j];
}

static bool
ejected(const struct px_ep *e, uint64_t now)
{
    return gw_l4_ep_is_ejected(&e->base, now);
}

int
px_lb_pick(struct px_ep *const *eps, size_t n, enum gw_proxy_lb lb, uint32_t *cursor, uint64_t rnd,
           uint64_t now)
{
    if (n == 0)
        return -1;
    if (n == 1)
        return 0;
    size_t healthy = 0;
    for (size_t i = 0; i < n; i++)
        healthy += !ejected(eps[i], now);
    bool all = healthy == 0; /* panic mode: every endpoint is fair game */
    if (lb == GW_PROXY_LB_P2C) {
        size_t a = (size_t)(rnd % n), b = (size_t)((rnd >> 32) % n);
        if (!all) {
            for (size_t k = 0; k < n && ejected(eps[a], now); k++)
                a = (a + 1) % n;
            for (size_t k = 0; k < n && (ejected(eps[b], now) || (b == a && healthy > 1)); k++)
                b = (b + 1) % n;
        }
        return eps[b]->active < eps[a]->active ? (int)b : (int)a;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (*cursor)++ % n;
        if (all || !ejected(eps[i], now))
            return (int)i;
    }
    return 0;
}

void
px_ep_report(struct px_ep *ep, bool failed, unsigned consecutive, unsigned eject_ms, uint64_t now)
{
    gw_l4_ep_report(&ep->base, failed, consecutive, eject_ms, now);
}
