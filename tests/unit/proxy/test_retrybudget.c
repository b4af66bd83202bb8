/* SPDX-License-Identifier: Apache-2.0 */
/* proxy retrybudget.c: the budget as a percent of the requests, the
 * minRetryRate floor, tables shared across snapshots by key_id and freed
 * with the last, and many threads taking the last retries at once. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "proxy/internal.h"
#include "tap.h"

#include "base/banned.h"

/* An IR with one route whose backends are v[0..n). */
static struct gw_ir *
ir_with(struct gw_ir_backend *v, size_t n)
{
    struct gw_ir *ir = gw_ir_new();
    struct gw_ir_port *pt = gw_arena_alloc(&ir->arena, sizeof(*pt));
    struct gw_ir_listener *li = gw_arena_alloc(&ir->arena, sizeof(*li));
    struct gw_ir_vhost *vh = gw_arena_alloc(&ir->arena, sizeof(*vh));
    struct gw_ir_route *rt = gw_arena_alloc(&ir->arena, sizeof(*rt));
    rt->backends = v;
    rt->nbackends = n;
    vh->hostname = "*";
    vh->routes = rt;
    vh->nroutes = 1;
    li->proto = GW_IR_HTTP;
    li->vhosts = vh;
    li->nvhosts = 1;
    pt->port = 80;
    pt->listeners = li;
    pt->nlisteners = 1;
    ir->ports = pt;
    ir->nports = 1;
    gw_ir_index(ir);
    return ir;
}

static int
take_all(struct px_rb_table *t, const struct gw_ir_retry_budget *b, int max)
{
    int n = 0;
    while (n < max && px_rb_retry_take(t, b))
        n++;
    return n;
}

/* Hour-long intervals: no window boundary falls inside a test. */
static const struct gw_ir_retry_budget pct20 = {
    "ns/p", "XBackendTrafficPolicy ns/p Service a", 20, 1, 3600000, 3600000};

static void
test_percent_and_floor(void)
{
    struct gw_ir_backend be[3] = {{.name = "a"}, {.name = "a2"}, {.name = "b"}};
    be[0].retry_budget = be[1].retry_budget = &pct20;
    struct gw_ir *ir = ir_with(be, 3);
    struct px_rb_table *reg = NULL;
    struct px_rb *rb = px_rb_new(&reg, ir);
    ok(rb != NULL, "a snapshot with a budget has tables");
    ok(rb->v[be[0].id] && rb->v[be[0].id] == rb->v[be[1].id], "one table for one key_id");
    ok(rb->v[be[2].id] == NULL, "no table for a backend without a budget");
    struct px_rb_table *t = rb->v[be[0].id];
    is_int(take_all(t, &pct20, 100), 1, "no requests yet: minRetryRate's 1 only");
    for (int i = 0; i < 100; i++)
        px_rb_request(t, &pct20);
    is_int(take_all(t, &pct20, 100), 19, "100 requests: 20 retries in all, 1 already made");
    for (int i = 0; i < 10; i++)
        px_rb_request(t, &pct20);
    is_int(take_all(t, &pct20, 100), 2, "10 more requests: 2 more retries");

    /* A second snapshot naming the key keeps the counts. */
    struct px_rb *rb2 = px_rb_new(&reg, ir);
    ok(rb2->v[be[0].id] == t, "the next snapshot shares the table");
    px_rb_free(rb);
    is_int(take_all(rb2->v[be[0].id], &pct20, 100), 0, "counts survive the old snapshot");
    px_rb_free(rb2);
    ok(reg == NULL, "the last snapshot gone, the table is freed");
    gw_ir_unref(ir);

    struct gw_ir_backend none = {.name = "c"};
    ir = ir_with(&none, 1);
    ok(px_rb_new(&reg, ir) == NULL, "no budget: no tables");
    gw_ir_unref(ir);
}

static void
test_floor_only(void)
{
    const struct gw_ir_retry_budget b = {"ns/q", "q", 0, 5, 3600000, 3600000};
    struct gw_ir_backend be = {.name = "a", .retry_budget = &b};
    struct gw_ir *ir = ir_with(&be, 1);
    struct px_rb_table *reg = NULL;
    struct px_rb *rb = px_rb_new(&reg, ir);
    for (int i = 0; i < 1000; i++)
        px_rb_request(rb->v[be.id], &b);
    is_int(take_all(rb->v[be.id], &b, 100), 5, "percent 0: minRetryRate's count, no more");
    px_rb_free(rb);
    px_rb_registry_free(&reg);
    gw_ir_unref(ir);
}

struct race {
    struct px_rb_table *t;
    const struct gw_ir_retry_budget *b;
    atomic_int taken;
};

static void *
racer(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 2000; i++)
        if (px_rb_retry_take(r->t, r->b))
            atomic_fetch_add(&r->taken, 1);
    return NULL;
}

static void
test_threads(void)
{
    const struct gw_ir_retry_budget b = {"ns/r", "r", 0, 1000, 3600000, 3600000};
    struct gw_ir_backend be = {.name = "a", .retry_budget = &b};
    struct gw_ir *ir = ir_with(&be, 1);
    struct px_rb_table *reg = NULL;
    struct px_rb *rb = px_rb_new(&reg, ir);
    struct race r = {rb->v[be.id], &b, 0};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, racer, &r);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int n = atomic_load(&r.taken);
    ok(n >= 1000 && n <= 1003, "4 threads: 1000 retries, overrun by at most 3 (got %d)", n);
    px_rb_free(rb);
    gw_ir_unref(ir);
}

int
main(void)
{
    test_percent_and_floor();
    test_floor_only();
    test_threads();
    return done_testing();
}
