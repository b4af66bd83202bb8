/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend policies in the data plane: CircuitBreakerPolicy and
 * LoadBalancerPolicy. What they count is per endpoint (address:port) and
 * shared by every worker: struct px_shep, one per endpoint the process has
 * seen, in a table that lives as long as the proxy (as the workers' own
 * endpoint tables do), so counts and first sightings survive reloads.
 * Workers find an endpoint's entry once, when their px_ep is made, and
 * then only touch its atomics. A snapshot adds the Maglev tables of its
 * consistent-hash backends (route/maglev.c), built at publish, one per
 * distinct endpoint set.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/internal.h"

#include "base/banned.h"

static uint64_t
mono_ms(void)
{
    /* The loop's clock (gw_loop_now): slow-start ramps compare the two. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
ep_hash(const char *ip, uint16_t port)
{
    return gw_route_hash(port, ip, strlen(ip));
}

void
px_shtab_init(struct px_shtab *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
}

void
px_shtab_release(struct px_shtab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i]);
    free(t->slots);
    pthread_mutex_destroy(&t->mu);
    memset(t, 0, sizeof(*t));
}

static struct px_shep *
get_locked(struct px_shtab *t, const char *ip, uint16_t port)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct px_shep **v = gw_xcalloc(cap, sizeof(*v));
        for (size_t i = 0; i < t->cap; i++) {
            struct px_shep *e = t->slots[i];
            if (!e)
                continue;
            size_t k = ep_hash(e->ip, e->port) & (cap - 1);
            while (v[k])
                k = (k + 1) & (cap - 1);
            v[k] = e;
        }
        free(t->slots);
        t->slots = v;
        t->cap = cap;
    }
    size_t k = ep_hash(ip, port) & (t->cap - 1);
    for (struct px_shep *e; (e = t->slots[k]) != NULL; k = (k + 1) & (t->cap - 1))
        if (e->port == port && !strcmp(e->ip, ip))
            return e;
    struct px_shep *e = aligned_alloc(64, sizeof(*e));
    GW_ASSERT(e);
    memset(e, 0, sizeof(*e));
    size_t n = strlen(ip);
    if (n >= sizeof(e->ip))
        n = sizeof(e->ip) - 1;
    memcpy(e->ip, ip, n);
    e->port = port;
    /* Endpoints of the first snapshot were there at startup: no slow
     * start for them. */
    e->first_seen_ms = t->started ? GW_MAX(mono_ms(), (uint64_t)1) : 0;
    t->slots[k] = e;
    t->n++;
    return e;
}

struct px_shep *
px_shtab_get(struct px_shtab *t, const char *ip, uint16_t port)
{
    pthread_mutex_lock(&t->mu);
    struct px_shep *e = get_locked(t, ip, port);
    pthread_mutex_unlock(&t->mu);
    return e;
}

/* ------------------------------------------------------------------------ */
/* A snapshot's part                                                         */

static void
note_backend(struct px_shtab *t, struct px_bpol *bp, const struct gw_ir_backend *b)
{
    if (!b || b->invalid)
        return;
    for (size_t i = 0; i < b->nendpoints; i++)
        get_locked(t, b->endpoints[i].ip, b->endpoints[i].port);
    if (!b->lb || b->lb->type != GW_IR_LB_CONSISTENT_HASH || !b->nendpoints || b->id >= bp->n)
        return;
    /* Backends of one Service port share their endpoints array (translate
     * resolves a port once): one table for all of them. */
    for (size_t i = 0; i < bp->ntables; i++)
        if (bp->tables[i].endpoints == b->endpoints) {
            bp->v[b->id] = &bp->tables[i].mg;
            return;
        }
    /* bp->v points into tables, sized for the worst case up front. */
    GW_ASSERT(bp->ntables < bp->tcap);
    struct px_bpol_table *e = &bp->tables[bp->ntables++];
    e->endpoints = b->endpoints;
    if (gw_route_maglev_init(&e->mg, b->endpoints, b->nendpoints) < 0) {
        bp->ntables--;
        return;
    }
    bp->v[b->id] = &e->mg;
}

struct px_bpol *
px_bpol_new(struct px_shtab *t, const struct gw_ir *ir)
{
    GW_ASSERT(ir->indexed);
    struct px_bpol *bp = gw_xcalloc(1, sizeof(*bp) + ir->nbackend_ids * sizeof(bp->v[0]));
    bp->n = ir->nbackend_ids;
    /* At most one table per backend id. */
    bp->tcap = ir->nbackend_ids;
    bp->tables = gw_xcalloc(bp->tcap + 1, sizeof(*bp->tables));
    pthread_mutex_lock(&t->mu);
    for (size_t p = 0; p < ir->nports; p++) {
        const struct gw_ir_port *pt = &ir->ports[p];
        for (size_t l = 0; l < pt->nlisteners; l++) {
            const struct gw_ir_listener *li = &pt->listeners[l];
            for (size_t v = 0; v < li->nvhosts; v++)
                for (size_t r = 0; r < li->vhosts[v].nroutes; r++) {
                    const struct gw_ir_route *rt = &li->vhosts[v].routes[r];
                    const struct gw_ir_backend *last = NULL;
                    for (size_t k = 0; k < rt->nbackends; k++) {
                        const struct gw_ir_backend *b = &rt->backends[k];
                        if (last && last->endpoints == b->endpoints && !b->lb)
                            continue;
                        note_backend(t, bp, b);
                        last = b;
                    }
                }
        }
    }
    t->started = true;
    pthread_mutex_unlock(&t->mu);
    if (!bp->ntables) {
        free(bp->tables);
        free(bp);
        return NULL;
    }
    return bp;
}

void
px_bpol_free(struct px_bpol *bp)
{
    if (!bp)
        return;
    for (size_t i = 0; i < bp->ntables; i++)
        gw_route_maglev_release(&bp->tables[i].mg);
    free(bp->tables);
    free(bp);
}

/* ------------------------------------------------------------------------ */
/* Circuit breaking                                                          */

/* Adds one to *c unless it is at max already (0: no limit). */
static bool
take(atomic_uint *c, uint32_t max)
{
    unsigned v = atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    if (!max || v < max)
        return true;
    atomic_fetch_sub_explicit(c, 1, memory_order_relaxed);
    return false;
}

int
px_cb_take(struct px_shep *sh, const struct gw_ir_circuit *c, bool retry)
{
    if (retry && c && c->max_retries != UINT32_MAX) {
        if (c->max_retries == 0 || !take(&sh->retries, c->max_retries))
            return PX_CB_RETRIES;
    }
    if (!take(&sh->requests, c ? c->max_requests : 0)) {
        if (retry && c && c->max_retries != UINT32_MAX)
            atomic_fetch_sub_explicit(&sh->retries, 1, memory_order_relaxed);
        return PX_CB_REQUESTS;
    }
    return -1;
}

void
px_cb_put(struct px_shep *sh, bool retry)
{
    atomic_fetch_sub_explicit(&sh->requests, 1, memory_order_relaxed);
    if (retry)
        atomic_fetch_sub_explicit(&sh->retries, 1, memory_order_relaxed);
}

bool
px_cb_counts_retry(const struct gw_ir_circuit *c, bool retry)
{
    return retry && c && c->max_retries != UINT32_MAX;
}

/* ------------------------------------------------------------------------ */
/* Balancing                                                                 */

/* Out of the pick: ejected (passive) or down by its active health check. */
static bool
out(const struct px_lb_req *q, struct px_ep *const *eps, size_t i, uint64_t now)
{
    return gw_l4_ep_is_ejected(&eps[i]->base, now) || px_hc_is_down(q->hs, i);
}

static uint64_t
next_rand(uint64_t *s)
{
    /* splitmix64: the caller's state, so that the pick stays pure */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned
inflight(const struct px_ep *e)
{
    return e->sh ? atomic_load_explicit(&e->sh->requests, memory_order_relaxed) : e->active;
}

/* Slow start: the weight of e, in 1/1024, at now (1024: full). */
static uint32_t
ramp(const struct px_ep *e, int64_t window, uint64_t now)
{
    uint64_t first = e->sh ? e->sh->first_seen_ms : 0;
    if (!window || !first || now >= first + (uint64_t)window)
        return 1024;
    uint64_t age = now > first ? now - first : 0;
    uint32_t w = (uint32_t)(age * 1024 / (uint64_t)window);
    return w < 10 ? 10 : w; /* ~1%: a new endpoint is never starved */
}

int
px_lb_pick_policy(struct px_ep *const *eps, size_t n, const struct px_lb_req *q, uint32_t *cursor,
                  uint64_t *rng, uint64_t now)
{
    if (n == 0)
        return -1;
    if (n == 1)
        return 0;
    size_t healthy = 0;
    for (size_t i = 0; i < n; i++)
        healthy += !out(q, eps, i, now);
    bool all = healthy == 0; /* panic mode: every endpoint is fair game */
    const struct gw_ir_lb *lb = q->lb;
    if (lb && lb->type == GW_IR_LB_CONSISTENT_HASH && q->mg && q->hashed &&
        q->mg->nendpoints == n) {
        const struct gw_route_maglev *mg = q->mg;
        uint32_t s = gw_route_maglev_find(mg, q->hash);
        if (all)
            return (int)mg->slot[s];
        /* An ejected owner: the next slot's owner, so that its keys
         * spread over the others and come back when it does. */
        for (uint32_t k = 0; k < mg->size; k++) {
            uint32_t i = mg->slot[s];
            if (!out(q, eps, i, now))
                return (int)i;
            s = s + 1 == mg->size ? 0 : s + 1;
        }
        return (int)mg->slot[gw_route_maglev_find(mg, q->hash)];
    }
    bool least = lb && lb->type == GW_IR_LB_LEAST_REQUEST;
    int64_t window = lb ? lb->slow_start_ms : 0;
    int pick = 0;
    for (int tries = 0; tries < 4; tries++) {
        if (least) {
            uint64_t r = next_rand(rng);
            size_t a = (size_t)(r % n), b = (size_t)((r >> 32) % n);
            if (!all) {
                for (size_t k = 0; k < n && out(q, eps, a, now); k++)
                    a = (a + 1) % n;
                for (size_t k = 0; k < n && (out(q, eps, b, now) || (b == a && healthy > 1)); k++)
                    b = (b + 1) % n;
            } else if (b == a) {
                b = (a + 1) % n;
            }
            pick = inflight(eps[b]) < inflight(eps[a]) ? (int)b : (int)a;
        } else {
            pick = 0;
            for (size_t k = 0; k < n; k++) {
                size_t i = (*cursor)++ % n;
                if (all || !out(q, eps, i, now)) {
                    pick = (int)i;
                    break;
                }
            }
        }
        /* Slow start: a new endpoint is taken with the probability of its
         * weight, else the pick is made again: its share grows with the
         * weight, linearly over the window. */
        uint32_t w = ramp(eps[pick], window, now);
        if (w >= 1024 || (next_rand(rng) & 1023) < w)
            break;
    }
    return pick;
}

/* The value a consistent-hash policy hashes in cookie header value v, or
 * false. */
static bool
cookie_value(struct gw_str v, const char *name, struct gw_str *out)
{
    size_t pos = 0;
    return px_session_cookie_next(v, gw_str_from(name), &pos, out);
}

bool
px_lb_key_hash(const struct gw_ir_lb *lb, const struct gw_h1_header *h, size_t nh,
               const char *peer_ip, uint64_t *out)
{
    struct gw_str v = GW_STR_NULL;
    bool found = false;
    switch (lb->key) {
    case GW_IR_HASH_SOURCE_IP:
        v = gw_str_from(peer_ip);
        found = v.len > 0;
        break;
    case GW_IR_HASH_HEADER: {
        struct gw_str name = gw_str_from(lb->name);
        for (size_t i = 0; i < nh && !found; i++)
            if (gw_str_caseeq(h[i].name, name)) {
                v = h[i].value;
                found = true;
            }
        break;
    }
    case GW_IR_HASH_COOKIE:
        for (size_t i = 0; i < nh && !found; i++)
            if (gw_str_caseeq(h[i].name, GW_STR("cookie")))
                found = cookie_value(h[i].value, lb->name, &v);
        break;
    }
    if (!found)
        return false;
    *out = gw_route_hash(0, v.p, v.len);
    return true;
}
