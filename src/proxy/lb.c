/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoint choice and bookkeeping, per worker: the endpoint table (one
 * entry per upstream ip:port the worker has talked to; it outlives
 * snapshots so pools and ejection state survive reloads), round-robin
 * cursors per backend, the pick (round robin or power of two choices,
 * skipping ejected endpoints), and passive outlier ejection: eject_consecutive
 * failures in a row (connect errors, resets, 5xx) eject an endpoint for
 * eject_ms, doubled on each repeat up to 16x; a success resets the count.
 */

#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

static uint64_t
hash_ep(const char *ip, uint16_t port)
{
    uint64_t h = 1469598103934665603ull ^ port;
    for (const unsigned char *s = (const unsigned char *)ip; *s; s++)
        h = (h ^ *s) * 1099511628211ull;
    return h ^ (h >> 29);
}

void
px_ep_table_init(struct px_ep_table *t)
{
    *t = (struct px_ep_table){0};
}

void
px_ep_table_release(struct px_ep_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i]);
    free(t->slots);
    *t = (struct px_ep_table){0};
}

static void
ep_resolve(struct px_ep *e)
{
    e->sa_ok = gw_sock_addr_parse(e->ip, e->port, &e->sa, &e->salen) == 0;
}

static void
table_grow(struct px_ep_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct px_ep **ns = gw_xcalloc(ncap, sizeof(*ns));
    for (size_t i = 0; i < t->cap; i++) {
        struct px_ep *e = t->slots[i];
        if (!e)
            continue;
        size_t j = hash_ep(e->ip, e->port) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
}

struct px_ep *
px_ep_table_get(struct px_ep_table *t, const char *ip, uint16_t port)
{
    if (t->cap == 0 || (t->n + 1) * 2 > t->cap)
        table_grow(t);
    size_t j = hash_ep(ip, port) & (t->cap - 1);
    for (;;) {
        struct px_ep *e = t->slots[j];
        if (!e)
            break;
        if (e->port == port && strcmp(e->ip, ip) == 0)
            return e;
        j = (j + 1) & (t->cap - 1);
    }
    struct px_ep *e = gw_xcalloc(1, sizeof(*e));
    size_t n = strlen(ip);
    if (n >= sizeof(e->ip))
        n = sizeof(e->ip) - 1;
    memcpy(e->ip, ip, n);
    e->port = port;
    ep_resolve(e);
    t->slots[j] = e;
    t->n++;
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
    return e->ejected_until > now;
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
    if (!failed) {
        ep->consec = 0;
        if (ep->ejected_until <= now && ep->ejections && ep->ejected_until + 10ull * eject_ms < now)
            ep->ejections = 0;
        return;
    }
    ep->consec++;
    if (consecutive == 0 || ep->consec < consecutive || ejected(ep, now))
        return;
    unsigned shift = ep->ejections < 4 ? ep->ejections : 4;
    ep->ejected_until = now + ((uint64_t)eject_ms << shift);
    ep->ejections++;
    ep->consec = 0;
}
