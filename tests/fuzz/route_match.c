/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the router. The first byte picks one of a few fixed
 * router configurations (hosts, wildcards, prefixes, exact paths, regexes,
 * headers, query params); the rest, split at '\n', is method, host, path
 * (with query) and "name:value" header lines. Every request goes through
 * path normalisation, matching, and the filter helpers that follow a match.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "route/route.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONF 3

static struct gw_ir *irs[NCONF];
static struct gw_router *routers[NCONF];

static struct gw_ir_route *
add(struct gw_ir_vhost *v, enum gw_ir_path_type t, const char *path, const char *method)
{
    struct gw_ir_route *r = &v->routes[v->nroutes++];
    r->route = "HTTPRoute ns/r";
    r->path_type = t;
    r->path = path;
    r->method = method;
    return r;
}

static void
setup(void)
{
    static struct gw_ir_match_kv hdr[] = {{"x-a", "1", false}, {"x-re", "v[0-9]{1,3}", true}};
    static struct gw_ir_match_kv q[] = {{"animal", "whale", false}, {"n", "(a|b)+c", true}};
    static const char *hosts[NCONF][4] = {{"*", NULL, NULL, NULL},
                                          {"foo.example.com", "*.example.com", "*", NULL},
                                          {"[::1]", "*.a.b", "x.a.b", "*"}};
    for (int c = 0; c < NCONF; c++) {
        struct gw_ir *ir = gw_ir_new();
        ir->ports = gw_arena_alloc(&ir->arena, sizeof(*ir->ports));
        ir->nports = 1;
        struct gw_ir_port *p = &ir->ports[0];
        p->listeners = gw_arena_alloc(&ir->arena, 2 * sizeof(*p->listeners));
        p->nlisteners = 2;
        p->listeners[0].hostname = c == 2 ? "*.a.b" : "only.test";
        p->listeners[1].hostname = NULL;
        for (int li = 0; li < 2; li++) {
            struct gw_ir_listener *l = &p->listeners[li];
            l->proto = c == 1 ? GW_IR_HTTPS : GW_IR_HTTP;
            l->vhosts = gw_arena_alloc(&ir->arena, 4 * sizeof(*l->vhosts));
            for (int h = 0; h < 4 && hosts[c][h]; h++) {
                struct gw_ir_vhost *v = &l->vhosts[l->nvhosts++];
                v->hostname = hosts[c][h];
                v->routes = gw_arena_alloc(&ir->arena, 16 * sizeof(*v->routes));
                add(v, GW_IR_PATH_EXACT, "/exact", NULL);
                struct gw_ir_route *r = add(v, GW_IR_PATH_PREFIX, "/api/v1/", "GET");
                r->headers = hdr;
                r->nheaders = 2;
                r = add(v, GW_IR_PATH_PREFIX, "/api", NULL);
                r->query = q;
                r->nquery = 2;
                add(v, GW_IR_PATH_REGEX, "/re/(a+)+b", NULL);
                add(v, GW_IR_PATH_REGEX, "/bad/(", NULL);
                add(v, GW_IR_PATH_EXACT, "/", NULL);
                add(v, GW_IR_PATH_PREFIX, h == 0 ? "/" : "/x", NULL);
            }
        }
        irs[c] = ir;
        if (gw_router_build(ir, NULL, &routers[c]) != 0)
            abort();
    }
}

static struct gw_str
next_line(const char **p, const char *end)
{
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    return (struct gw_str){s, (size_t)(e - s)};
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!routers[0])
        setup();
    if (size < 1 || size > 8192)
        return 0;
    const struct gw_router *r = routers[data[0] % NCONF];
    const struct gw_ir_port *port = &irs[data[0] % NCONF]->ports[0];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    struct gw_route_req req = {0};
    req.method = next_line(&p, end);
    req.host = next_line(&p, end);
    if (data[0] & 0x80)
        req.sni = req.host;
    struct gw_str target = next_line(&p, end);
    const char *qm = target.len ? memchr(target.p, '?', target.len) : NULL;
    struct gw_str rawpath = {target.p, qm ? (size_t)(qm - target.p) : target.len};
    if (qm)
        req.query = (struct gw_str){qm + 1, target.len - rawpath.len - 1};
    struct gw_h1_header hs[16];
    size_t nh = 0;
    while (p < end && nh < 16) {
        struct gw_str line = next_line(&p, end);
        const char *colon = line.len ? memchr(line.p, ':', line.len) : NULL;
        if (!colon)
            continue;
        hs[nh].name = (struct gw_str){line.p, (size_t)(colon - line.p)};
        hs[nh].value = (struct gw_str){colon + 1, line.len - hs[nh].name.len - 1};
        nh++;
    }
    req.headers = hs;
    req.nheaders = nh;

    char pbuf[8192];
    if (gw_route_path_normalize(rawpath, pbuf, sizeof(pbuf), &req.path) < 0)
        req.path = rawpath; /* the router must cope with anything anyway */
    struct gw_route_result res;
    enum gw_route_status st = gw_router_match(r, port, &req, &res);
    if (st != GW_ROUTE_OK)
        return 0;
    if (!res.route || res.prefix_len > req.path.len)
        abort();
    struct gw_ir_filter f = {.path_mod = GW_IR_PATHMOD_PREFIX, .path = "/new/", .port = -1};
    char rbuf[16384];
    struct gw_str out;
    if (gw_route_path_rewrite(&f, &res, req.path, rbuf, sizeof(rbuf), &out) == 0 &&
        (out.len == 0 || out.p[0] != '/'))
        abort();
    struct gw_buf loc;
    gw_buf_init(&loc, 65536);
    struct gw_route_url url = {GW_STR("http"), req.host, 80, req.path, req.query};
    f.scheme = "https";
    (void)gw_route_redirect_format(&f, &res, &url, &loc);
    gw_buf_release(&loc);
    static const char *star[] = {"*"};
    struct gw_ir_filter cors = {.cors_origins = star,
                                .ncors_origins = 1,
                                .cors_methods = star,
                                .ncors_methods = 1,
                                .cors_headers = star,
                                .ncors_headers = 1,
                                .cors_max_age = 5};
    struct gw_route_cors cr;
    (void)gw_route_cors_eval(&cors, req.method, hs, nh, rbuf, sizeof(rbuf), &cr);
    struct gw_ir_header set[] = {{"x-a", "s"}};
    const char *rm[] = {"x-re"};
    struct gw_ir_header_mod mod = {set, set, 1, 1, rm, 1};
    size_t nout = nh;
    (void)gw_route_headers_apply(&mod, hs, &nout, GW_ARRAY_LEN(hs));
    return 0;
}
