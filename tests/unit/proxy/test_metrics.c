/* SPDX-License-Identifier: Apache-2.0 */
/* proxy metrics.c: request series by label, not by IR object; counts kept
 * across tables (reloads) by name; a removed route's series goes away, but
 * the listener and gateway totals keep its counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"
#include "tap.h"

#include "base/banned.h"

struct fix {
    struct gw_ir *ir;
    struct gw_ir_port *pt;
    struct gw_ir_listener *l;
    struct gw_ir_route *rt;
    size_t nroutes;
};

/* One port of Gateway ns/gw, one HTTP listener "http", the routes named
 * (each label copied: equal labels are different pointers, except where
 * name is NULL, which repeats the previous route's pointer). */
static void
fix_make(struct fix *f, const char *const *names, size_t n)
{
    f->ir = gw_ir_new();
    struct gw_arena *a = &f->ir->arena;
    f->pt = gw_arena_alloc(a, sizeof(*f->pt));
    f->pt->address = "127.0.0.1";
    f->pt->port = 80;
    f->pt->gateway = gw_ir_strdup(f->ir, "ns/gw");
    f->l = gw_arena_alloc(a, sizeof(*f->l));
    f->l->owner = gw_ir_strdup(f->ir, "Gateway ns/gw");
    f->l->name = "http";
    f->l->proto = GW_IR_HTTP;
    struct gw_ir_vhost *vh = gw_arena_alloc(a, sizeof(*vh));
    vh->hostname = "*";
    f->rt = gw_arena_alloc(a, (n ? n : 1) * sizeof(*f->rt));
    for (size_t i = 0; i < n; i++)
        f->rt[i].route = names[i] ? gw_ir_strdup(f->ir, names[i]) : f->rt[i - 1].route;
    vh->routes = f->rt;
    vh->nroutes = f->nroutes = n;
    f->l->vhosts = vh;
    f->l->nvhosts = 1;
    f->pt->listeners = f->l;
    f->pt->nlisteners = 1;
    f->ir->ports = f->pt;
    f->ir->nports = 1;
    gw_ir_index(f->ir);
}

/* Counts one response of status on key (a route, listener or port of t). */
static void
count(struct gw_proxy *p, struct px_mtab *t, const struct gw_ir_route *rt,
      const struct gw_ir_listener *l, const struct gw_ir_port *pt, int status)
{
    struct px_worker w = {.p = p, .id = 0, .m = &p->metrics[0]};
    struct px_snap s = {.mtab = t};
    struct px_wsnap ws = {.s = &s, .refs = 1, .w = &w};
    struct px_dconn *d = calloc(1, sizeof(*d));
    d->w = &w;
    d->snap = &ws;
    d->route = rt;
    d->listener = l;
    d->iport = pt;
    px_metrics_response(d, status, false);
    free(d);
}

/* The value of the request counter line with these labels, -1 if none. */
static long long
value(struct gw_proxy *p, const char *listener, const char *route, const char *code)
{
    struct gw_buf out;
    gw_buf_init(&out, 1 << 20);
    gw_proxy_metrics_format(p, &out);
    gw_buf_append(&out, "", 1);
    char want[256];
    snprintf(want, sizeof(want),
             "gatehouse_http_requests_total{gateway=\"ns/gw\",listener=\"%s\",route=\"%s\","
             "code=\"%s\"} ",
             listener, route, code);
    const char *at = strstr(out.p, want);
    long long v = at ? strtoll(at + strlen(want), NULL, 10) : -1;
    gw_buf_release(&out);
    return v;
}

/* The value of a listener (listener non-NULL) or gateway total, -1 if no
 * line. */
static long long
total(struct gw_proxy *p, const char *listener, const char *code)
{
    struct gw_buf out;
    gw_buf_init(&out, 1 << 20);
    gw_proxy_metrics_format(p, &out);
    gw_buf_append(&out, "", 1);
    char want[256];
    if (listener)
        snprintf(want, sizeof(want),
                 "gatehouse_http_listener_requests_total{gateway=\"ns/gw\",listener=\"%s\","
                 "code=\"%s\"} ",
                 listener, code);
    else
        snprintf(want, sizeof(want),
                 "gatehouse_http_gateway_requests_total{gateway=\"ns/gw\",code=\"%s\"} ", code);
    const char *at = strstr(out.p, want);
    long long v = at ? strtoll(at + strlen(want), NULL, 10) : -1;
    gw_buf_release(&out);
    return v;
}

/* The value of an L4 family's line for listener "tcp", route, -1 if none. */
static long long
l4_value(struct gw_proxy *p, const char *fam, const char *route)
{
    struct gw_buf out;
    gw_buf_init(&out, 1 << 20);
    gw_proxy_metrics_format(p, &out);
    gw_buf_append(&out, "", 1);
    char want[256];
    snprintf(want, sizeof(want), "%s{gateway=\"ns/gw\",listener=\"tcp\",route=\"%s\"} ", fam,
             route);
    const char *at = strstr(out.p, want);
    long long v = at ? strtoll(at + strlen(want), NULL, 10) : -1;
    gw_buf_release(&out);
    return v;
}

/* The value of gatehouse_http_wire_refused_total{what=...}, -1 if no line. */
static long long
wire_value(struct gw_proxy *p, const char *what)
{
    struct gw_buf out;
    gw_buf_init(&out, 1 << 20);
    gw_proxy_metrics_format(p, &out);
    gw_buf_append(&out, "", 1);
    char want[128];
    snprintf(want, sizeof(want), "gatehouse_http_wire_refused_total{what=\"%s\"} ", what);
    const char *at = strstr(out.p, want);
    long long v = at ? strtoll(at + strlen(want), NULL, 10) : -1;
    gw_buf_release(&out);
    return v;
}

/* Refusals of the wire check (forward.c) show in /metrics, by kind. */
static void
test_wire(struct gw_proxy *p)
{
    static struct gw_h1_header hs[8];
    struct gw_h1_request req = {.headers = hs, .max_headers = GW_ARRAY_LEN(hs)};
    const char *raw = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    ok(gw_h1_request_parse(raw, strlen(raw), &req, NULL) > 0, "parsed");
    is_int(wire_value(p, "request_field"), 0, "request_field listed at 0");
    is_int(wire_value(p, "request_target"), 0, "request_target listed at 0");
    struct gw_ir_header add[] = {{"X-A", "a\r\nX-Injected: 1"}, {"X-B", "b\nc"}};
    struct gw_ir_header_mod m = {.add = add, .nadd = 2};
    struct px_req_out ro = {.req = &req,
                            .path = GW_STR("/"),
                            .host = GW_STR("h"),
                            .client_ip = GW_STR("1.2.3.4"),
                            .mods = {&m, NULL}};
    struct px_buf b;
    px_buf_init(&b, 65536);
    is_int(px_request_head_format(&ro, &b), 0, "formatted without the two fields");
    ro.mods[0] = NULL;
    ro.path = GW_STR("/a\r\nX: y");
    is_int(px_request_head_format(&ro, &b), GW_EINVAL, "target refused");
    px_buf_release(&b);
    is_int(wire_value(p, "request_field"), 2, "two request fields counted");
    is_int(wire_value(p, "request_target"), 1, "one request target counted");
    is_int(wire_value(p, "host"), 0, "host: none");
    is_int(wire_value(p, "response_field"), 0, "response_field: none");
    is_int(wire_value(p, "reason_phrase"), 0, "reason_phrase listed");
    is_int(wire_value(p, "extra_block"), 0, "extra_block listed");
}

/* A TCP port of ns/gw with listener "tcp" and one TCPRoute. */
static struct gw_ir *
l4_ir(const char *route)
{
    struct gw_ir *ir = gw_ir_new();
    struct gw_arena *a = &ir->arena;
    struct gw_ir_port *pt = gw_arena_alloc(a, sizeof(*pt));
    pt->address = "127.0.0.1";
    pt->port = 9000;
    pt->gateway = "ns/gw";
    struct gw_ir_listener *l = gw_arena_alloc(a, sizeof(*l));
    l->owner = "Gateway ns/gw";
    l->name = "tcp";
    l->proto = GW_IR_TCP;
    l->l4 = gw_arena_alloc(a, sizeof(*l->l4));
    l->l4->route = gw_ir_strdup(ir, route);
    l->nl4 = 1;
    pt->listeners = l;
    pt->nlisteners = 1;
    ir->ports = pt;
    ir->nports = 1;
    gw_ir_index(ir);
    return ir;
}

/* L4 series: counters by route, listener or port through px_l4_counters,
 * the active gauge, monotonic across a table's death. */
static void
test_l4(struct gw_proxy *p)
{
    struct gw_ir *ir1 = l4_ir("TCPRoute ns/t");
    struct px_mtab *t1 = px_mtab_new(p, ir1);
    struct px_worker w = {.p = p, .id = 1};
    struct px_snap s = {.mtab = t1};
    struct px_wsnap ws = {.s = &s, .refs = 1, .w = &w};
    const struct gw_ir_port *pt = &ir1->ports[0];
    const struct gw_ir_listener *l = &pt->listeners[0];
    struct gw_l4_counters *m = px_l4_counters(&ws, pt, l, &l->l4[0]);
    struct gw_l4_counters *ml = px_l4_counters(&ws, pt, l, NULL);
    ok(m && ml && m != ml, "route and listener series");
    ok(px_l4_counters(&ws, pt, NULL, NULL) != NULL, "port series");
    atomic_store(&m->accepted, 3);
    atomic_store(&m->closed, 1);
    atomic_store(&m->bytes_in, 100);
    atomic_store(&ml->accepted, 1);
    atomic_store(&ml->closed, 1);
    is_int(l4_value(p, "gatehouse_l4_sessions_total", "TCPRoute ns/t"), 3, "sessions");
    is_int(l4_value(p, "gatehouse_l4_sessions_active", "TCPRoute ns/t"), 2, "active");
    is_int(l4_value(p, "gatehouse_l4_received_bytes_total", "TCPRoute ns/t"), 100, "bytes");
    is_int(l4_value(p, "gatehouse_l4_sent_bytes_total", "TCPRoute ns/t"), -1, "no line for 0");
    is_int(l4_value(p, "gatehouse_l4_sessions_active", ""), 0, "listener series: active 0");

    /* reload; the old table's connections end, then it dies */
    struct gw_ir *ir2 = l4_ir("TCPRoute ns/t");
    struct px_mtab *t2 = px_mtab_new(p, ir2);
    atomic_store(&m->closed, 3);
    atomic_store(&m->bytes_in, 150);
    is_int(l4_value(p, "gatehouse_l4_received_bytes_total", "TCPRoute ns/t"), 150,
           "old table counts after the reload");
    px_mtab_retire(t1);
    is_int(l4_value(p, "gatehouse_l4_sessions_total", "TCPRoute ns/t"), 3, "monotonic");
    is_int(l4_value(p, "gatehouse_l4_received_bytes_total", "TCPRoute ns/t"), 150, "bytes kept");
    is_int(l4_value(p, "gatehouse_l4_sessions_active", "TCPRoute ns/t"), 0, "none active");
    s.mtab = t2;
    struct gw_l4_counters *m2 = px_l4_counters(&ws, &ir2->ports[0], &ir2->ports[0].listeners[0],
                                               ir2->ports[0].listeners[0].l4);
    atomic_store(&m2->accepted, 1);
    is_int(l4_value(p, "gatehouse_l4_sessions_total", "TCPRoute ns/t"), 4, "new table adds up");
    is_int(l4_value(p, "gatehouse_l4_sessions_active", "TCPRoute ns/t"), 1, "active on it");
    px_mtab_retire(t2);
    gw_ir_unref(ir1);
    gw_ir_unref(ir2);
}

int
main(void)
{
    struct gw_proxy_opts o;
    gw_proxy_opts_default(&o);
    o.workers = 2;
    struct gw_proxy *p;
    ok(gw_proxy_new(&o, &p) == 0, "proxy");

    /* routes 0 and 1: one label, two pointers; 2 repeats 1's pointer */
    static const char *const one[] = {"HTTPRoute ns/a", "HTTPRoute ns/a", NULL, "HTTPRoute ns/b"};
    struct fix f1;
    fix_make(&f1, one, 4);
    struct px_mtab *t1 = px_mtab_new(p, f1.ir);
    count(p, t1, &f1.rt[0], f1.l, f1.pt, 200);
    count(p, t1, &f1.rt[1], f1.l, f1.pt, 200);
    count(p, t1, &f1.rt[2], f1.l, f1.pt, 201);
    count(p, t1, &f1.rt[3], f1.l, f1.pt, 404);
    count(p, t1, NULL, f1.l, f1.pt, 404);
    count(p, t1, NULL, NULL, f1.pt, 404);
    is_int(value(p, "http", "HTTPRoute ns/a", "2xx"), 3, "one series per label");
    is_int(value(p, "http", "HTTPRoute ns/b", "4xx"), 1, "another route");
    is_int(value(p, "http", "", "4xx"), 1, "listener without a route");
    is_int(value(p, "", "", "4xx"), 1, "port without a listener");
    is_int(value(p, "http", "HTTPRoute ns/b", "2xx"), -1, "no line for a zero count");
    is_int(total(p, "http", "4xx"), 2, "listener total: its routes and its own 404");
    is_int(total(p, "", "4xx"), 1, "listener total of the port's 404s");
    is_int(total(p, NULL, "4xx"), 3, "gateway total");
    is_int(total(p, NULL, "2xx"), 3, "gateway total, 2xx");

    /* reload: b removed; a is the same series in a new table */
    static const char *const two[] = {"HTTPRoute ns/a"};
    struct fix f2;
    fix_make(&f2, two, 1);
    struct px_mtab *t2 = px_mtab_new(p, f2.ir);
    count(p, t2, &f2.rt[0], f2.l, f2.pt, 200);
    is_int(value(p, "http", "HTTPRoute ns/a", "2xx"), 4, "old and new table summed by name");
    is_int(value(p, "http", "HTTPRoute ns/b", "4xx"), -1, "removed route's series not shown");
    px_mtab_retire(t1);
    is_int(value(p, "http", "HTTPRoute ns/a", "2xx"), 4, "monotonic once the old table died");
    is_int(value(p, "http", "", "4xx"), 1, "listener series kept too");
    is_int(total(p, "http", "4xx"), 2, "the removed route's counts stay in its listener's total");
    is_int(total(p, NULL, "4xx"), 3, "and in its gateway's");
    is_int(total(p, "http", "2xx"), 4, "listener total summed over tables");

    /* b comes back after a scrape dropped its totals: it starts from 0 */
    static const char *const three[] = {"HTTPRoute ns/b", "HTTPRoute ns/a"};
    struct fix f3;
    fix_make(&f3, three, 2);
    struct px_mtab *t3 = px_mtab_new(p, f3.ir);
    px_mtab_retire(t2);
    is_int(value(p, "http", "HTTPRoute ns/a", "2xx"), 4, "monotonic over two reloads");
    is_int(value(p, "http", "HTTPRoute ns/b", "4xx"), -1, "a route back after removal starts over");
    count(p, t3, &f3.rt[0], f3.l, f3.pt, 503);
    is_int(value(p, "http", "HTTPRoute ns/b", "5xx"), 1, "counts on the newest table");
    is_int(total(p, "http", "4xx"), 2, "listener total monotonic over two reloads");
    is_int(total(p, "http", "5xx"), 1, "listener total: newest table");

    /* a route removed while its old table still counts: the route series
     * goes at once, the totals keep counting it until the table dies */
    static const char *const only_a[] = {"HTTPRoute ns/a"};
    struct fix f5;
    fix_make(&f5, only_a, 1);
    struct px_mtab *t5 = px_mtab_new(p, f5.ir);
    count(p, t3, &f3.rt[0], f3.l, f3.pt, 503); /* b, on the old table */
    is_int(value(p, "http", "HTTPRoute ns/b", "5xx"), -1, "removed route's series gone");
    is_int(total(p, "http", "5xx"), 2, "its late request still counts in the listener total");
    px_mtab_retire(t3);
    gw_ir_unref(f3.ir);
    is_int(total(p, "http", "5xx"), 2, "listener total monotonic once the old table died");
    is_int(total(p, NULL, "5xx"), 2, "gateway total too");
    t3 = t5;
    f3 = f5;

    /* many reloads without a scrape: totals of removed series stay bounded */
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof(name), "HTTPRoute ns/x%d", i);
        const char *n4[] = {name};
        struct fix f4;
        fix_make(&f4, n4, 1);
        struct px_mtab *t4 = px_mtab_new(p, f4.ir);
        count(p, t4, &f4.rt[0], f4.l, f4.pt, 200);
        px_mtab_retire(t3);
        gw_ir_unref(f3.ir);
        t3 = t4;
        f3 = f4;
    }
    is_int(value(p, "http", "HTTPRoute ns/x299", "2xx"), 1, "newest series after 300 reloads");
    is_int(value(p, "http", "HTTPRoute ns/x298", "2xx"), -1, "earlier ones gone");
    is_int(total(p, "http", "2xx"), 4 + 300, "listener total kept every reload's counts");
    px_mtab_retire(t3);
    test_l4(p);
    test_wire(p);
    gw_ir_unref(f1.ir);
    gw_ir_unref(f2.ir);
    gw_ir_unref(f3.ir);
    gw_proxy_free(p);
    return done_testing();
}
