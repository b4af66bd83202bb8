/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the per-request regex budget of the router (route.h,
 * "Regexes"): backtracking patterns on path, header and query (GRPCRoute
 * method matches are path regexes) cost a bounded amount of CPU per request,
 * an undecided route never lets a lower-precedence route or a less specific
 * vhost answer, every request starts with a full budget, and patterns that
 * finish within it match as before.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "build.h"
#include "tap.h"

#include "base/banned.h"

#define PREFIX GW_IR_PATH_PREFIX
#define REGEX  GW_IR_PATH_REGEX

static struct gw_router *R;
static struct gw_ir_port *P;
static struct gw_route_result RES;

static const char *
M(const char *host, const char *target, const char *header)
{
    static char out[128];
    struct gw_h1_header h;
    if (header) {
        const char *colon = strchr(header, ':');
        h.name = (struct gw_str){header, (size_t)(colon - header)};
        h.value = gw_str_from(colon + 2);
    }
    const char *q = strchr(target, '?');
    struct gw_route_req req = {
        .method = gw_str_from("GET"),
        .host = gw_str_from(host),
        .path = {target, q ? (size_t)(q - target) : strlen(target)},
        .query = q ? gw_str_from(q + 1) : GW_STR_NULL,
        .headers = &h,
        .nheaders = header ? 1 : 0,
    };
    if (gw_router_match(R, P, &req, &RES) != GW_ROUTE_OK)
        return RES.regex_undecided ? "undecided" : gw_route_status_name(RES.status);
    snprintf(out, sizeof(out), "%s", RES.route->route);
    return out;
}

static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "/" then n times 'x' then 'z': no (x|xx)+ pattern matches it, and each
 * one backtracks over about 1.6^n ways to split the x's. */
static const char *
xs(int n, const char *before, const char *after)
{
    static char buf[256];
    size_t k = (size_t)snprintf(buf, sizeof(buf), "%s", before);
    for (int i = 0; i < n; i++)
        buf[k++] = 'x';
    snprintf(buf + k, sizeof(buf) - k, "z%s", after);
    return buf;
}

#define NATTACK 1000

static void
test_attack(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    struct gw_ir_vhost *v = b_vhost(ir, l, "evil.test", NATTACK + 8);
    struct gw_ir_vhost *wild = b_vhost(ir, l, "*", 4);
    char pat[64];
    b_route(ir, v, "cheap", REGEX, "/ok/[0-9]+", NULL);
    for (int i = 0; i < NATTACK; i++) {
        snprintf(pat, sizeof(pat), "/(x|xx)+(|y%d)$", i);
        b_route(ir, v, "attack", REGEX, pat, NULL);
    }
    struct gw_ir_route *r = b_route(ir, v, "hdr", PREFIX, "/h", NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(pat, sizeof(pat), "(x|xx)+(|y%d)$", i);
        b_header(ir, r, "x-a", pat, true);
    }
    r = b_route(ir, v, "qry", PREFIX, "/q", NULL);
    b_query(ir, r, "a", "(x|xx)+(|y)$", true);
    b_route(ir, v, "catch-all", PREFIX, "/", NULL);
    b_route(ir, wild, "wild", PREFIX, "/", NULL);
    GW_ASSERT(gw_router_build(ir, NULL, &R) == 0);

    uint64_t g0 = gw_route_regex_giveups();
    double t0 = cpu_now();
    is_str(M("evil.test", xs(38, "/", ""), NULL), "undecided",
           "1,000 backtracking path regexes: undecided, not the catch-all below them");
    double spent = cpu_now() - t0;
    diag("attack request: %.2f ms CPU", spent * 1000);
    ok(spent < 0.05, "and it cost %.2f ms CPU (unbounded: ~500 ms)", spent * 1000);
    is_int((long long)(gw_route_regex_giveups() - g0), 1, "counted once");
    is_int(RES.status, GW_ROUTE_NO_ROUTE, "as no route (404)");
    is_str(M("evil.test", "/ok/12", NULL), "cheap", "a route above the regexes still matches");
    is_str(M("evil.test", "/xxxx", NULL), "attack", "the patterns match what they match");
    is_str(M("evil.test", "/other", NULL), "catch-all", "cheap misses fall through as before");
    is_str(M("evil.test", "/h", xs(40, "x-a: ", "")), "undecided", "header regexes: undecided");
    is_str(M("evil.test", "/h", "x-a: xxxxxx"), "hdr", "header regexes: still match");
    is_str(M("evil.test", xs(40, "/q?a=", ""), NULL), "undecided", "query regexes: undecided");
    is_str(M("evil.test", "/q?a=xxx", NULL), "qry", "query regexes: still match");
    is_int((long long)(gw_route_regex_giveups() - g0), 3, "each undecided request counted");
    is_str(M("other.test", xs(38, "/", ""), NULL), "wild", "other vhosts: not affected");

    t0 = cpu_now();
    for (int i = 0; i < 20; i++)
        M("evil.test", xs(38, "/", ""), NULL);
    spent = (cpu_now() - t0) / 20;
    ok(spent < 0.05, "every request starts with the same bounded budget (%.2f ms each)",
       spent * 1000);
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

/* A route above the undecided ones that holds is a sure answer. */
static void
test_decided_above(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    struct gw_ir_vhost *v = b_vhost(ir, l, "*", 16);
    struct gw_ir_route *r = b_route(ir, v, "first", PREFIX, "/", NULL);
    b_header(ir, r, "x-ok", "y.s", true);
    for (int i = 0; i < 8; i++)
        b_route(ir, v, "attack", REGEX, "/(x|xx)+(|y)$", NULL);
    GW_ASSERT(gw_router_build(ir, NULL, &R) == 0);
    uint64_t g0 = gw_route_regex_giveups();
    is_str(M("a", xs(38, "/", ""), "x-ok: yes"), "first", "the better route answers");
    is_str(M("a", xs(38, "/", ""), "x-ok: no"), "undecided", "else undecided");
    is_int((long long)(gw_route_regex_giveups() - g0), 1,
           "only the regexes evaluated are charged (none for the first request)");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

/* One expensive but finite pattern keeps what it had before the budget
 * (100,000 units for any one regex): 22 x's take ~75,000 with the JIT. */
static void
test_heavy_pattern(void)
{
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    struct gw_ir_vhost *v = b_vhost(ir, l, "*", 4);
    b_route(ir, v, "heavy", REGEX, "/(?:(x|xx)+y|x+z)", NULL);
    b_route(ir, v, "quadratic", REGEX, "/files/.*/.*\\.(png|jpg)", NULL);
    GW_ASSERT(gw_router_build(ir, NULL, &R) == 0);
    if (jit)
        is_str(M("a", xs(22, "/", ""), NULL), "heavy", "75,000 units of backtracking: a match");
    else
        ok(true, "# SKIP PCRE2 without JIT: its units differ");
    is_str(M("a", xs(30, "/", ""), NULL), "undecided", "millions: undecided");
    char path[600];
    size_t k = (size_t)snprintf(path, sizeof(path), "/files/");
    for (int i = 0; i < 100; i++)
        k += (size_t)snprintf(path + k, sizeof(path) - k, "a/");
    snprintf(path + k, sizeof(path) - k, "e.png");
    is_str(M("a", path, NULL), "quadratic", "a quadratic pattern on a 300-byte path: a match");
    path[k + 2] = 'g';
    path[k + 3] = 'i';
    path[k + 4] = 'f';
    is_str(M("a", path, NULL), "no route", "and a miss is a plain miss");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

int
main(void)
{
    test_attack();
    test_decided_above();
    test_heavy_pattern();
    return done_testing();
}
