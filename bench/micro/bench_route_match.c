/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro benchmark: a router with 10,000 routes (1,000 exact hostnames, ten
 * PathPrefix rules each, plus a catch-all vhost), ns per match for the
 * first rule and for the last. The two must be close: the cost follows the
 * path's length, not the number of routes.
 */
#include <stdio.h>
#include <time.h>

#include "ir/ir.h"
#include "route/route.h"

#include "base/banned.h"

#define HOSTS 1000
#define PER   10
#define ITERS 2000000

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double
bench(const struct gw_router *r, const struct gw_ir_port *p, const char *host, const char *path,
      const char *want)
{
    struct gw_h1_header hs[] = {{{"user-agent", 10}, {"bench", 5}}, {{"accept", 6}, {"*/*", 3}}};
    struct gw_route_req req = {.method = gw_str_from("GET"),
                               .host = gw_str_from(host),
                               .path = gw_str_from(path),
                               .headers = hs,
                               .nheaders = 2};
    struct gw_route_result res;
    gw_router_match(r, p, &req, &res);
    if (res.status != GW_ROUTE_OK || !gw_str_eq_cstr(gw_str_from(res.route->route), want)) {
        fprintf(stderr, "unexpected result for %s%s\n", host, path);
        return -1;
    }
    double best = 1e18;
    for (int round = 0; round < 5; round++) {
        double t0 = now_ns();
        for (int i = 0; i < ITERS; i++) {
            gw_router_match(r, p, &req, &res);
            __asm__ volatile("" : : "r"(&res) : "memory");
        }
        double ns = (now_ns() - t0) / ITERS;
        if (ns < best)
            best = ns;
    }
    return best;
}

int
main(void)
{
    struct gw_ir *ir = gw_ir_new();
    ir->ports = gw_arena_alloc(&ir->arena, sizeof(*ir->ports));
    ir->nports = 1;
    struct gw_ir_port *p = &ir->ports[0];
    p->port = 80;
    p->listeners = gw_arena_alloc(&ir->arena, sizeof(*p->listeners));
    p->nlisteners = 1;
    struct gw_ir_listener *l = &p->listeners[0];
    l->proto = GW_IR_HTTP;
    l->vhosts = gw_arena_alloc(&ir->arena, (HOSTS + 1) * sizeof(*l->vhosts));
    l->nvhosts = HOSTS;
    for (int h = 0; h < HOSTS; h++) {
        struct gw_ir_vhost *v = &l->vhosts[h];
        v->hostname = gw_arena_sprintf(&ir->arena, "host%d.example.com", h);
        v->routes = gw_arena_alloc(&ir->arena, PER * sizeof(*v->routes));
        v->nroutes = PER;
        for (int k = 0; k < PER; k++) {
            struct gw_ir_route *rt = &v->routes[k];
            rt->route = gw_arena_sprintf(&ir->arena, "r%d", h * PER + k);
            rt->path_type = GW_IR_PATH_PREFIX;
            rt->path = gw_arena_sprintf(&ir->arena, "/api/v%d/service%d", k, h);
        }
    }
    double first = -1, last = -1;
    struct gw_router *r = NULL;
    if (gw_router_build(ir, NULL, &r) == 0) {
        first = bench(r, p, "host0.example.com", "/api/v0/service0/items/42", "r0");
        last = bench(r, p, "host999.example.com", "/api/v9/service999/items/42", "r9999");
        printf("routes %d  memory %zu KiB\n", HOSTS * PER, gw_router_memory(r) / 1024);
        printf("first rule  %.1f ns/match\nlast rule   %.1f ns/match\nratio       %.3f\n", first,
               last, last / first);
    }
    gw_router_free(r);
    gw_ir_unref(ir);
    return first > 0 && last > 0 ? 0 : 1;
}
