/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Local rate limits (RateLimitPolicy): one table of token buckets per limit
 * (gw_ir_ratelimit), shared by every worker of the process and kept across
 * snapshots for as long as a snapshot names its key_id.
 *
 * A bucket is one atomic 64-bit word, the GCRA "theoretical arrival time"
 * in nanoseconds: a request at `now` costs T = interval / requests; it is
 * let through when max(tat, now) + T - now <= T * burst, and then moves tat
 * there with a compare-and-swap. No lock, no allocation per request, and a
 * bucket whose tat is in the past is full again: the same as a fresh one,
 * which is what lets a table of fixed size forget keys without a sweep.
 *
 * Keys (a client address or a header value) hash with a per-table random
 * seed to a slot, probed linearly over a few slots. When every probed slot
 * holds another live key the request shares the first one's bucket: a
 * table full of attackers' keys makes limits stricter, never looser.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define PROBES 8
/* Slots of a table keyed by client address or header value: 16 bytes
 * each, 1 MiB a limit. */
#define KEYED_SLOTS (1u << 16)

struct rl_slot {
    atomic_uint_fast64_t key; /* 0: free */
    atomic_int_fast64_t tat;  /* ns, CLOCK_MONOTONIC */
};

struct px_rl_table {
    char *key_id;
    unsigned refs; /* snapshots naming it (control thread only) */
    uint64_t seed;
    size_t mask;
    struct px_rl_table *next; /* the proxy's registry */
    struct rl_slot slots[];
};

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t
key_hash(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    h = mix(h ^ seed);
    return h ? h : 1;
}

static struct px_rl_table *
table_new(const struct gw_ir_ratelimit *l)
{
    size_t n = l->key == GW_IR_RL_ROUTE ? 1 : KEYED_SLOTS;
    struct px_rl_table *t = gw_xcalloc(1, sizeof(*t) + n * sizeof(t->slots[0]));
    t->key_id = gw_xstrdup(l->key_id);
    t->mask = n - 1;
    uint64_t s = (uint64_t)now_ns() ^ (uint64_t)(uintptr_t)t;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&s, sizeof(s), 1, f) != 1)
            s ^= 0x5851f42d4c957f2dull;
        fclose(f);
    }
    t->seed = s;
    return t;
}

struct px_rl *
px_rl_new(struct px_rl_table **registry, const struct gw_ir *ir)
{
    if (!ir->nratelimit_ids)
        return NULL;
    struct px_rl *rl = gw_xcalloc(1, sizeof(*rl) + ir->nratelimit_ids * sizeof(rl->tables[0]));
    rl->n = ir->nratelimit_ids;
    rl->registry = registry;
    for (size_t p = 0; p < ir->nports; p++)
        for (size_t li = 0; li < ir->ports[p].nlisteners; li++) {
            const struct gw_ir_listener *l = &ir->ports[p].listeners[li];
            for (size_t v = 0; v < l->nvhosts; v++)
                for (size_t r = 0; r < l->vhosts[v].nroutes; r++) {
                    const struct gw_ir_route *rt = &l->vhosts[v].routes[r];
                    for (size_t k = 0; k < rt->nratelimits; k++) {
                        const struct gw_ir_ratelimit *x = &rt->ratelimits[k];
                        if (rl->tables[x->id] || x->global)
                            continue; /* global: the bucket is in Redis */
                        struct px_rl_table *t = *registry;
                        bool keyed = x->key != GW_IR_RL_ROUTE;
                        while (t && (strcmp(t->key_id, x->key_id) || (t->mask != 0) != keyed))
                            t = t->next;
                        if (!t) {
                            t = table_new(x);
                            t->next = *registry;
                            *registry = t;
                        }
                        t->refs++;
                        rl->tables[x->id] = t;
                    }
                }
        }
    return rl;
}

void
px_rl_free(struct px_rl *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->n; i++) {
        struct px_rl_table *t = rl->tables[i];
        if (!t || --t->refs)
            continue;
        struct px_rl_table **pp = rl->registry;
        while (*pp != t)
            pp = &(*pp)->next;
        *pp = t->next;
        free(t->key_id);
        free(t);
    }
    free(rl);
}

void
px_rl_registry_free(struct px_rl_table **registry)
{
    while (*registry) {
        struct px_rl_table *t = *registry;
        *registry = t->next;
        free(t->key_id);
        free(t);
    }
}

static struct rl_slot *
slot_of(struct px_rl_table *t, struct gw_str key, int64_t now)
{
    if (!t->mask)
        return &t->slots[0];
    uint64_t h = key_hash(t->seed, key.p, key.len);
    size_t first = (size_t)(h >> 16) & t->mask;
    for (size_t i = 0; i < PROBES; i++) {
        struct rl_slot *s = &t->slots[(first + i) & t->mask];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == h)
            return s;
        if (k == 0 && atomic_compare_exchange_strong(&s->key, &k, h))
            return s;
        if (k == h)
            return s; /* another worker claimed it for the same key */
    }
    /* Every probed slot is taken: reuse one whose bucket is full again
     * (tat in the past holds no state), else share the first. */
    for (size_t i = 0; i < PROBES; i++) {
        struct rl_slot *s = &t->slots[(first + i) & t->mask];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (atomic_load_explicit(&s->tat, memory_order_relaxed) <= now &&
            atomic_compare_exchange_strong(&s->key, &k, h))
            return s;
    }
    return &t->slots[first];
}

bool
px_rl_take(struct px_rl_table *t, const struct gw_ir_ratelimit *l, struct gw_str key,
           struct px_rl_verdict *out)
{
    int64_t now = now_ns();
    struct rl_slot *s = slot_of(t, key, now);
    /* T in ns (at least 1); the bucket's depth is T * burst. */
    int64_t T = l->interval_ms * 1000000 / (int64_t)l->requests;
    if (T < 1)
        T = 1;
    int64_t depth = T * (int64_t)l->burst;
    int_fast64_t tat = atomic_load_explicit(&s->tat, memory_order_relaxed);
    for (;;) {
        int64_t base = tat > now ? tat : now;
        int64_t next = base + T;
        if (next - now > depth) {
            /* Refused: a token comes back at next - depth. */
            int64_t wait = next - depth - now;
            out->allowed = false;
            out->remaining = 0;
            out->retry_after_s = (uint32_t)((wait + 999999999) / 1000000000);
            out->reset_s = (uint32_t)((tat - now + 999999999) / 1000000000);
            return false;
        }
        if (atomic_compare_exchange_weak_explicit(&s->tat, &tat, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            out->allowed = true;
            out->remaining = (uint32_t)((depth - (next - now)) / T);
            out->retry_after_s = 0;
            out->reset_s = (uint32_t)((next - now + 999999999) / 1000000000);
            return true;
        }
    }
}

int
px_rl_fields_format(const struct gw_ir_ratelimit *l, const struct px_rl_verdict *v,
                    struct gw_buf *out)
{
    /* draft-ietf-httpapi-ratelimit-headers: the policy (quota q over a
     * window w in seconds) and the state (r remaining, t seconds until
     * the quota is back). */
    int64_t w = (l->interval_ms + 999) / 1000;
    int rc = gw_buf_appendf(out, "RateLimit-Policy: \"%s\";q=%u;w=%lld\r\n", l->name, l->requests,
                            (long long)(w ? w : 1));
    rc |= gw_buf_appendf(out, "RateLimit: \"%s\";r=%u;t=%u\r\n", l->name, v->remaining,
                         v->allowed ? v->reset_s : v->retry_after_s);
    if (!v->allowed)
        rc |= gw_buf_appendf(out, "Retry-After: %u\r\n", v->retry_after_s ? v->retry_after_s : 1);
    return rc < 0 ? GW_ELIMIT : 0;
}
