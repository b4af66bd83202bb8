/* SPDX-License-Identifier: Apache-2.0 */
/* route maglev.c: table size, even ownership, minimal disruption when an
 * endpoint comes or goes, order independence, and what a pick costs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "route/route.h"
#include "tap.h"

#include "base/banned.h"

#define MAXN 64

static char ips[MAXN][32];

static void
make(struct gw_ir_endpoint *eps, size_t n, size_t skip)
{
    size_t k = 0;
    for (size_t i = 0; i < n + (skip < n ? 1 : 0); i++) {
        if (i == skip)
            continue;
        snprintf(ips[i], sizeof(ips[i]), "10.0.%zu.%zu", i / 200, i % 200 + 1);
        eps[k].ip = ips[i];
        eps[k].port = 8080;
        k++;
    }
}

/* The name of the endpoint owning key k. */
static const char *
owner(const struct gw_route_maglev *m, const struct gw_ir_endpoint *eps, uint64_t k)
{
    return eps[m->slot[gw_route_maglev_find(m, gw_route_hash(0, &k, sizeof(k)))]].ip;
}

static void
distribution(size_t n)
{
    struct gw_ir_endpoint eps[MAXN];
    make(eps, n, SIZE_MAX);
    struct gw_route_maglev m;
    ok(gw_route_maglev_init(&m, eps, n) == 0, "built for %zu endpoints", n);
    size_t cnt[MAXN] = {0};
    for (uint32_t i = 0; i < m.size; i++)
        cnt[m.slot[i]]++;
    double mean = (double)m.size / (double)n, worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = ((double)cnt[i] - mean) / mean;
        worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
    }
    ok(worst < 0.03, "%zu endpoints: slots within 3%% of uniform (worst %.2f%%)", n, worst * 100);
    /* Keys, not slots: 400k of them (sampling noise: 1.3% at 64). */
    memset(cnt, 0, sizeof(cnt));
    for (uint64_t k = 0; k < 400000; k++)
        cnt[m.slot[gw_route_maglev_find(&m, gw_route_hash(0, &k, sizeof(k)))]]++;
    worst = 0;
    mean = 400000.0 / (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = ((double)cnt[i] - mean) / mean;
        worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
    }
    ok(worst < 0.06, "%zu endpoints: keys within 6%% of uniform (worst %.2f%%)", n, worst * 100);
    gw_route_maglev_release(&m);
}

static void
disruption(size_t n, size_t removed)
{
    struct gw_ir_endpoint all[MAXN], less[MAXN];
    make(all, n, SIZE_MAX);
    make(less, n - 1, removed);
    struct gw_route_maglev a, b;
    gw_route_maglev_init(&a, all, n);
    gw_route_maglev_init(&b, less, n - 1);
    size_t moved = 0, orphaned = 0, keys = 100000;
    for (uint64_t k = 0; k < keys; k++) {
        const char *x = owner(&a, all, k), *y = owner(&b, less, k);
        orphaned += x == ips[removed];
        moved += strcmp(x, y) != 0;
    }
    double share = (double)moved / (double)keys, bound = 1.0 / (double)n;
    ok(moved >= orphaned, "every key of the removed endpoint moved");
    ok(share <= bound * 1.10 + 0.01,
       "%zu -> %zu endpoints: %.2f%% of keys moved (1/N = %.2f%%, %.2f%% were the removed one's)",
       n, n - 1, share * 100, bound * 100, (double)orphaned * 100 / (double)keys);
    /* And back: the endpoint returns, the same keys come home. */
    struct gw_route_maglev c;
    gw_route_maglev_init(&c, all, n);
    size_t back = 0;
    for (uint64_t k = 0; k < keys; k++)
        back += owner(&c, all, k) == ips[removed] && owner(&a, all, k) == ips[removed];
    is_int((long long)back, (long long)orphaned, "a returning endpoint gets its keys back");
    gw_route_maglev_release(&c);
    gw_route_maglev_release(&a);
    gw_route_maglev_release(&b);
}

static void
order_independent(void)
{
    struct gw_ir_endpoint eps[8], rev[8];
    make(eps, 8, SIZE_MAX);
    for (size_t i = 0; i < 8; i++)
        rev[i] = eps[7 - i];
    struct gw_route_maglev a, b;
    gw_route_maglev_init(&a, eps, 8);
    gw_route_maglev_init(&b, rev, 8);
    bool same = a.size == b.size;
    for (uint32_t i = 0; same && i < a.size; i++)
        same = eps[a.slot[i]].ip == rev[b.slot[i]].ip;
    ok(same, "the endpoints' order does not change the table");
    gw_route_maglev_release(&a);
    gw_route_maglev_release(&b);
}

static void
cost(void)
{
    struct gw_ir_endpoint eps[MAXN];
    make(eps, 16, SIZE_MAX);
    struct gw_route_maglev m;
    gw_route_maglev_init(&m, eps, 16);
    char keys[1024][24];
    for (size_t i = 0; i < 1024; i++)
        snprintf(keys[i], sizeof(keys[i]), "user-%08zu", i * 7919);
    struct timespec t0, t1;
    uint64_t acc = 0;
    size_t n = 2000000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i & 1023];
        acc += m.slot[gw_route_maglev_find(&m, gw_route_hash(0, k, 13))];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)n;
    diag("consistent-hash pick (13-byte key hash + table lookup, 16 endpoints, %u slots): "
         "%.1f ns/pick (checksum %llu)",
         m.size, ns, (unsigned long long)acc);
    ok(ns < 2000, "a pick costs well under 2 us");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct gw_route_maglev big;
    make(eps, MAXN, SIZE_MAX);
    gw_route_maglev_init(&big, eps, MAXN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    diag("build for %d endpoints (%u slots): %.2f ms", MAXN, big.size,
         ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6));
    gw_route_maglev_release(&big);
    gw_route_maglev_release(&m);
}

int
main(void)
{
    is_int(gw_route_maglev_size(0), 65537, "the usual table");
    is_int(gw_route_maglev_size(655), 65537, "655 endpoints: still 65537");
    ok(gw_route_maglev_size(656) >= 65600, "656 endpoints: 100 slots each at least");
    struct gw_route_maglev m;
    ok(gw_route_maglev_init(&m, NULL, 0) == 0 && m.size == 0, "no endpoint: empty table");
    gw_route_maglev_release(&m);
    is_int((long long)gw_route_hash(0, "abc", 3), (long long)gw_route_hash(0, "abc", 3),
           "the hash is fixed");
    ok(gw_route_hash(0, "abc", 3) != gw_route_hash(1, "abc", 3), "seeds differ");
    distribution(3);
    distribution(10);
    distribution(MAXN);
    disruption(3, 1);
    disruption(5, 0);
    disruption(10, 7);
    disruption(MAXN, 33);
    order_independent();
    cost();
    return done_testing();
}
