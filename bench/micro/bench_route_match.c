/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Micro benchmark: a router with 10,000 routes (1,000 exact hostnames, ten
 * PathPrefix rules each, plus a catch-all vhost), ns per match for the
 * first rule and for the last. The two must be close: the cost follows the
 * path's length, not the number of routes.
 *
 * Then bench scenario 3's spread: 1,000 PathPrefix routes "/rNNNNN/" in one
 * catch-all vhost, requests "/rNNNNN/x" visiting every route in a scattered
 * order, hot (tight loop) and cold (4 MiB of other memory touched between
 * matches, as the kernel's work between two requests does), against a
 * catch-all router serving the same requests. And the build: ms per gw_router_build
 * of 5,000 such routes (bench scenario 5's reload) and of the 10,000 above.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/ir.h"
#include "route/route.h"

#include "base/banned.h"

#define HOSTS 1000
#define PER   10
#define ITERS 2000000

#define SPREAD       1000
#define SPREAD_STEP  619 /* coprime with SPREAD, as spread.lua's */
#define COLD_BYTES   (4u << 20)
#define COLD_ITERS   5000
#define BUILD_ROUTES 5000
#define BUILD_ROUNDS 20

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

/* One vhost "*" with n PathPrefix routes "/rNNNNN/", or (n 0) the one
 * catch-all route "/". */
static struct gw_ir *
spread_ir(int n)
{
    bool catch_all = n == 0;
    n = catch_all ? 1 : n;
    struct gw_ir *ir = gw_ir_new();
    ir->ports = gw_arena_alloc(&ir->arena, sizeof(*ir->ports));
    ir->nports = 1;
    struct gw_ir_port *p = &ir->ports[0];
    p->port = 80;
    p->listeners = gw_arena_alloc(&ir->arena, sizeof(*p->listeners));
    p->nlisteners = 1;
    struct gw_ir_listener *l = &p->listeners[0];
    l->proto = GW_IR_HTTP;
    l->vhosts = gw_arena_alloc(&ir->arena, sizeof(*l->vhosts));
    l->nvhosts = 1;
    struct gw_ir_vhost *v = &l->vhosts[0];
    v->hostname = "*";
    v->routes = gw_arena_alloc(&ir->arena, (size_t)n * sizeof(*v->routes));
    v->nroutes = (size_t)n;
    for (int k = 0; k < n; k++) {
        struct gw_ir_route *rt = &v->routes[k];
        rt->route = gw_arena_sprintf(&ir->arena, "HTTPRoute bench/r%05d", k);
        rt->path_type = GW_IR_PATH_PREFIX;
        rt->path = catch_all ? "/" : gw_arena_sprintf(&ir->arena, "/r%05d/", k);
        /* a backend each, as the IR of a config has */
        rt->backends = gw_arena_alloc(&ir->arena, sizeof(*rt->backends));
        rt->nbackends = 1;
        rt->backends[0].weight = 1;
    }
    return ir;
}

/* Writes to every cache line of junk (what the kernel does between two
 * requests, roughly); returns a byte so the loop is not dropped. */
static unsigned
evict(unsigned char *junk, unsigned salt)
{
    for (size_t i = 0; i < COLD_BYTES; i += 64)
        junk[i] = (unsigned char)(junk[i] + salt);
    return junk[salt % COLD_BYTES];
}

/* ns per match over the spread, hot or cold; -1 on a wrong answer. Cold
 * matches are timed one by one (the clock's own cost subtracted), the
 * eviction outside the timed part. */
static double
bench_spread(const struct gw_router *r, bool cold)
{
    const struct gw_ir_port *p = &gw_router_ir(r)->ports[0];
    static char paths[SPREAD][16];
    for (int k = 0; k < SPREAD; k++)
        snprintf(paths[k], sizeof(paths[k]), "/r%05d/x", k);
    unsigned char *junk = cold ? calloc(1, COLD_BYTES) : NULL;
    int iters = cold ? COLD_ITERS : ITERS;
    struct gw_route_req req = {.method = gw_str_from("GET"), .host = gw_str_from("bench.test")};
    struct gw_route_result res;
    double best = 1e18, clock_ns = 0;
    unsigned sink = 0;
    if (cold) {
        double t0 = now_ns();
        for (int i = 0; i < COLD_ITERS; i++)
            sink += (unsigned)now_ns();
        clock_ns = (now_ns() - t0) / COLD_ITERS;
    }
    for (int round = 0; round < 5; round++) {
        int k = round;
        double total = 0, t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            k = (k + SPREAD_STEP) % SPREAD;
            req.path = (struct gw_str){paths[k], 9};
            double m0 = 0;
            if (cold) {
                sink += evict(junk, (unsigned)i);
                m0 = now_ns();
            }
            gw_router_match(r, p, &req, &res);
            /* the proxy reads the route next: so does the loop */
            if (res.status != GW_ROUTE_OK ||
                res.route_index != (gw_router_ir(r)->ports[0].listeners[0].vhosts[0].nroutes > 1
                                        ? (size_t)k
                                        : 0)) {
                fprintf(stderr, "spread: unexpected result for %s\n", paths[k]);
                free(junk);
                return -1;
            }
            sink += (unsigned)res.route->nbackends + (unsigned)res.route->backends[0].weight;
            if (cold)
                total += now_ns() - m0 - clock_ns;
        }
        double ns = (cold ? total : now_ns() - t0) / iters;
        if (ns < best)
            best = ns;
    }
    __asm__ volatile("" : : "r"(sink) : "memory");
    free(junk);
    return best;
}

/* ms per gw_router_build of ir, best of BUILD_ROUNDS. */
static double
bench_build(const struct gw_ir *ir)
{
    double best = 1e18;
    for (int round = 0; round < BUILD_ROUNDS; round++) {
        struct gw_router *r = NULL;
        double t0 = now_ns();
        if (gw_router_build(ir, NULL, &r) < 0)
            return -1;
        double ms = (now_ns() - t0) / 1e6;
        gw_router_free(r);
        if (ms < best)
            best = ms;
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
    double build_big = bench_build(ir);
    gw_ir_unref(ir);

    struct gw_ir *sir = spread_ir(SPREAD);
    double hot = -1, cold = -1;
    r = NULL;
    if (gw_router_build(sir, NULL, &r) == 0) {
        hot = bench_spread(r, false);
        cold = bench_spread(r, true);
        printf("spread %d   hot %.1f ns/match  cold %.1f ns/match\n", SPREAD, hot, cold);
    }
    gw_router_free(r);
    gw_ir_unref(sir);
    sir = spread_ir(0);
    double chot = -1, ccold = -1;
    r = NULL;
    if (gw_router_build(sir, NULL, &r) == 0) {
        chot = bench_spread(r, false);
        ccold = bench_spread(r, true);
        printf("catch-all     hot %.1f ns/match  cold %.1f ns/match  (same requests)\n", chot,
               ccold);
    }
    gw_router_free(r);
    gw_ir_unref(sir);

    struct gw_ir *bir = spread_ir(BUILD_ROUTES);
    double build = bench_build(bir);
    gw_ir_unref(bir);
    printf("build %d routes  %.3f ms\nbuild %d routes  %.3f ms\n", BUILD_ROUTES, build, HOSTS * PER,
           build_big);
    return first > 0 && last > 0 && hot > 0 && cold > 0 && chot > 0 && ccold > 0 && build > 0 &&
                   build_big > 0
               ? 0
               : 1;
}
