/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers: build IR snapshots directly in the IR's arena (no YAML),
 * a port with listeners, vhosts and routes, each with fixed capacities.
 */
#ifndef GW_TEST_ROUTE_BUILD_H
#define GW_TEST_ROUTE_BUILD_H

#include <string.h>

#include "ir/ir.h"
#include "route/route.h"

#define B_MAX_LISTENERS 8
#define B_MAX_VHOSTS    16
#define B_MAX_ROUTES    4096
#define B_MAX_KV        8

static inline struct gw_ir_port *
b_port(struct gw_ir *ir, uint16_t portno)
{
    ir->ports = gw_arena_alloc(&ir->arena, sizeof(*ir->ports));
    ir->nports = 1;
    ir->ports[0].address = "0.0.0.0";
    ir->ports[0].port = portno;
    ir->ports[0].listeners =
        gw_arena_alloc(&ir->arena, B_MAX_LISTENERS * sizeof(struct gw_ir_listener));
    return &ir->ports[0];
}

static inline struct gw_ir_listener *
b_listener(struct gw_ir *ir, struct gw_ir_port *p, const char *name, const char *hostname,
           enum gw_ir_proto proto)
{
    GW_ASSERT(p->nlisteners < B_MAX_LISTENERS);
    struct gw_ir_listener *l = &p->listeners[p->nlisteners++];
    l->name = name;
    l->hostname = hostname;
    l->proto = proto;
    l->vhosts = gw_arena_alloc(&ir->arena, B_MAX_VHOSTS * sizeof(struct gw_ir_vhost));
    return l;
}

static inline struct gw_ir_vhost *
b_vhost(struct gw_ir *ir, struct gw_ir_listener *l, const char *hostname, size_t max_routes)
{
    GW_ASSERT(l->nvhosts < B_MAX_VHOSTS);
    struct gw_ir_vhost *v = &l->vhosts[l->nvhosts++];
    v->hostname = hostname;
    v->routes = gw_arena_alloc(&ir->arena, max_routes * sizeof(struct gw_ir_route));
    return v;
}

static inline struct gw_ir_route *
b_route(struct gw_ir *ir, struct gw_ir_vhost *v, const char *name, enum gw_ir_path_type t,
        const char *path, const char *method)
{
    struct gw_ir_route *r = &v->routes[v->nroutes++];
    r->route = name;
    r->path_type = t;
    r->path = gw_ir_strdup(ir, path);
    r->method = method;
    r->headers = gw_arena_alloc(&ir->arena, B_MAX_KV * sizeof(struct gw_ir_match_kv));
    r->query = gw_arena_alloc(&ir->arena, B_MAX_KV * sizeof(struct gw_ir_match_kv));
    r->request_timeout_ms = r->backend_timeout_ms = -1;
    return r;
}

static inline void
b_header(struct gw_ir *ir, struct gw_ir_route *r, const char *name, const char *value, bool re)
{
    GW_ASSERT(r->nheaders < B_MAX_KV);
    r->headers[r->nheaders++] =
        (struct gw_ir_match_kv){gw_ir_strdup(ir, name), gw_ir_strdup(ir, value), re};
}

static inline void
b_query(struct gw_ir *ir, struct gw_ir_route *r, const char *name, const char *value, bool re)
{
    GW_ASSERT(r->nquery < B_MAX_KV);
    r->query[r->nquery++] =
        (struct gw_ir_match_kv){gw_ir_strdup(ir, name), gw_ir_strdup(ir, value), re};
}

#endif
