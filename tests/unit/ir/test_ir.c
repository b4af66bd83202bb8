/* SPDX-License-Identifier: Apache-2.0 */
/* ir: gw_ir_index numbers routes and backends densely, once. */
#include <string.h>

#include "ir/ir.h"
#include "tap.h"

#include "base/banned.h"

static struct gw_ir_backend *
backends(struct gw_ir *ir, size_t n)
{
    struct gw_ir_backend *b = gw_arena_alloc(&ir->arena, n * sizeof(*b));
    for (size_t i = 0; i < n; i++)
        b[i].weight = 1;
    return b;
}

int
main(void)
{
    struct gw_ir *ir = gw_ir_new();
    struct gw_arena *a = &ir->arena;
    ir->nports = 2;
    ir->ports = gw_arena_alloc(a, 2 * sizeof(*ir->ports));
    /* port 0: an HTTP listener with two vhosts (2 + 1 routes), one route
     * with two backends and a mirror */
    struct gw_ir_listener *l = gw_arena_alloc(a, sizeof(*l));
    l->proto = GW_IR_HTTP;
    l->nvhosts = 2;
    l->vhosts = gw_arena_alloc(a, 2 * sizeof(*l->vhosts));
    l->vhosts[0].nroutes = 2;
    l->vhosts[0].routes = gw_arena_alloc(a, 2 * sizeof(struct gw_ir_route));
    l->vhosts[1].nroutes = 1;
    l->vhosts[1].routes = gw_arena_alloc(a, sizeof(struct gw_ir_route));
    struct gw_ir_route *r0 = &l->vhosts[0].routes[0], *r1 = &l->vhosts[0].routes[1];
    struct gw_ir_route *r2 = &l->vhosts[1].routes[0];
    r0->backends = backends(ir, 2);
    r0->nbackends = 2;
    r0->nfilters = 2;
    r0->filters = gw_arena_alloc(a, 2 * sizeof(*r0->filters));
    r0->filters[1].type = GW_IR_F_MIRROR;
    r0->filters[1].mirror = backends(ir, 1);
    r2->backends = backends(ir, 1);
    r2->nbackends = 1;
    ir->ports[0].nlisteners = 1;
    ir->ports[0].listeners = l;
    /* port 1: a TCP listener with one L4 route of one backend */
    struct gw_ir_listener *t = gw_arena_alloc(a, sizeof(*t));
    t->proto = GW_IR_TCP;
    t->nl4 = 1;
    t->l4 = gw_arena_alloc(a, sizeof(*t->l4));
    t->l4->backends = backends(ir, 1);
    t->l4->nbackends = 1;
    ir->ports[1].nlisteners = 1;
    ir->ports[1].listeners = t;

    ok(!ir->indexed, "a new IR is not indexed");
    gw_ir_index(ir);
    ok(ir->indexed, "indexed");
    is_int(ir->nroute_ids, 3, "three routes");
    ok(r0->id == 0 && r1->id == 1 && r2->id == 2, "routes numbered in IR order");
    is_int(ir->nbackend_ids, 5, "five backends: route, mirror and L4 ones");
    bool seen[5] = {false};
    const struct gw_ir_backend *all[] = {&r0->backends[0], &r0->backends[1], r0->filters[1].mirror,
                                         r2->backends, t->l4->backends};
    bool dense = true;
    for (size_t i = 0; i < 5; i++) {
        dense &= all[i]->id < 5 && !seen[all[i]->id];
        if (all[i]->id < 5)
            seen[all[i]->id] = true;
    }
    ok(dense, "backend ids distinct and dense");

    /* idempotent: an indexed IR is not written again */
    r1->id = 77;
    gw_ir_index(ir);
    is_int(r1->id, 77, "a second call writes nothing");
    is_int(ir->nroute_ids, 3, "counts kept");

    /* an empty IR */
    struct gw_ir *e = gw_ir_new();
    gw_ir_index(e);
    ok(e->indexed && e->nroute_ids == 0 && e->nbackend_ids == 0, "empty IR");
    gw_ir_unref(e);
    gw_ir_unref(ir);
    return done_testing();
}
