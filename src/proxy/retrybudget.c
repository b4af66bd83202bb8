/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Retry budgets (XBackendTrafficPolicy retryConstraint, GEP-1731): one
 * table per policy and Service (gw_ir_retry_budget key_id), shared by
 * every worker of the process and kept across snapshots for as long as one
 * names it, so a reload neither forgets a storm nor grants a fresh budget.
 *
 * A table counts requests (first attempts) and retries over the budget's
 * interval, and retries over minRetryRate's interval. Each count is two
 * fixed windows (the current and the previous interval), each one atomic
 * word holding the window's number (low 32 bits of now / interval) and its
 * count; the count "over the last interval" is the current window plus the
 * previous one weighted by how much of it is still inside the interval
 * (the usual sliding-window estimate). No lock and no allocation per
 * request; a window whose number is stale reads as zero, which is what a
 * fresh table reads too.
 *
 * A retry is made when, counting it, the retries stay within percent of
 * the requests, or within minRetryRate's count. Two workers deciding at
 * the same instant may both take the last retry: the budget can be
 * overrun by fewer retries than there are workers, never by more.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "proxy/internal.h"

#include "base/banned.h"

struct rb_win {
    atomic_uint_fast64_t w[2]; /* window number << 32 | count, by number & 1 */
};

struct px_rb_table {
    char *key_id;
    unsigned refs; /* snapshot entries naming it (control thread only) */
    struct px_rb_table *next;
    struct rb_win req, retry, min_retry;
};

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
win_add(struct rb_win *v, uint64_t num)
{
    atomic_uint_fast64_t *s = &v->w[num & 1];
    uint64_t tag = (num & 0xffffffffu) << 32;
    uint64_t o = atomic_load_explicit(s, memory_order_relaxed), n;
    do {
        if ((o & ~(uint64_t)0xffffffffu) == tag)
            n = (o & 0xffffffffu) == 0xffffffffu ? o : o + 1;
        else
            n = tag | 1;
    } while (!atomic_compare_exchange_weak_explicit(s, &o, n, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static uint64_t
win_get(const struct rb_win *v, uint64_t num)
{
    uint64_t o = atomic_load_explicit(&v->w[num & 1], memory_order_relaxed);
    return (o >> 32) == (num & 0xffffffffu) ? (o & 0xffffffffu) : 0;
}

/* The count over the last `ival` ms at now, times ival (integer math). */
static uint64_t
win_scaled(const struct rb_win *v, uint64_t now, uint64_t ival)
{
    uint64_t num = now / ival, into = now % ival;
    uint64_t prev = num ? win_get(v, num - 1) : 0;
    return win_get(v, num) * ival + prev * (ival - into);
}

void
px_rb_request(struct px_rb_table *t, const struct gw_ir_retry_budget *b)
{
    win_add(&t->req, mono_ms() / b->interval_ms);
}

bool
px_rb_retry_take(struct px_rb_table *t, const struct gw_ir_retry_budget *b)
{
    uint64_t now = mono_ms(), i = b->interval_ms, m = b->min_interval_ms;
    uint64_t req = win_scaled(&t->req, now, i), rty = win_scaled(&t->retry, now, i);
    bool ok = (rty + i) * 100 <= req * b->percent;
    if (!ok)
        ok = win_scaled(&t->min_retry, now, m) + m <= (uint64_t)b->min_count * m;
    if (!ok)
        return false;
    win_add(&t->retry, now / i);
    win_add(&t->min_retry, now / m);
    return true;
}

/* The tables of one snapshot's backends. */
static void
note(struct px_rb *rb, const struct gw_ir_backend *b)
{
    if (!b->retry_budget || b->id >= rb->n || rb->v[b->id])
        return;
    struct px_rb_table *t = *rb->registry;
    while (t && strcmp(t->key_id, b->retry_budget->key_id))
        t = t->next;
    if (!t) {
        t = gw_xcalloc(1, sizeof(*t));
        t->key_id = gw_xstrdup(b->retry_budget->key_id);
        t->next = *rb->registry;
        *rb->registry = t;
    }
    t->refs++;
    rb->v[b->id] = t;
    rb->any = true;
}

struct px_rb *
px_rb_new(struct px_rb_table **registry, const struct gw_ir *ir)
{
    GW_ASSERT(ir->indexed);
    struct px_rb *rb = gw_xcalloc(1, sizeof(*rb) + ir->nbackend_ids * sizeof(rb->v[0]));
    rb->n = ir->nbackend_ids;
    rb->registry = registry;
    for (size_t p = 0; p < ir->nports; p++)
        for (size_t l = 0; l < ir->ports[p].nlisteners; l++) {
            const struct gw_ir_listener *li = &ir->ports[p].listeners[l];
            for (size_t v = 0; v < li->nvhosts; v++)
                for (size_t r = 0; r < li->vhosts[v].nroutes; r++) {
                    const struct gw_ir_route *rt = &li->vhosts[v].routes[r];
                    for (size_t k = 0; k < rt->nbackends; k++)
                        note(rb, &rt->backends[k]);
                }
        }
    if (!rb->any) {
        free(rb);
        return NULL;
    }
    return rb;
}

void
px_rb_free(struct px_rb *rb)
{
    if (!rb)
        return;
    for (size_t i = 0; i < rb->n; i++) {
        struct px_rb_table *t = rb->v[i];
        if (!t || --t->refs)
            continue;
        struct px_rb_table **pp = rb->registry;
        while (*pp != t)
            pp = &(*pp)->next;
        *pp = t->next;
        free(t->key_id);
        free(t);
    }
    free(rb);
}

void
px_rb_registry_free(struct px_rb_table **registry)
{
    while (*registry) {
        struct px_rb_table *t = *registry;
        *registry = t->next;
        free(t->key_id);
        free(t);
    }
}
