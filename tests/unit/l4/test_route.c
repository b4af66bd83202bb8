/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l4 route.c and ep.c: which ports l4 serves, hostname matching, the TLS
 * route by SNI in IR order, weighted backends, endpoint round robin with
 * ejection.
 */
#include <string.h>

#include "l4/internal.h"
#include "tap.h"

#include "base/banned.h"

static void
test_hosts(void)
{
    ok(gw_l4_host_matches(NULL, "a.b"), "NULL matches anything");
    ok(gw_l4_host_matches("*", ""), "* matches no SNI");
    ok(gw_l4_host_matches("abc.example.com", "ABC.example.com"), "exact, any case");
    ok(!gw_l4_host_matches("abc.example.com", "abd.example.com"), "exact mismatch");
    ok(gw_l4_host_matches("*.example.com", "a.example.com"), "wildcard one label");
    ok(gw_l4_host_matches("*.example.com", "a.b.example.com"), "wildcard two labels");
    ok(!gw_l4_host_matches("*.example.com", "example.com"), "wildcard needs a label");
    ok(!gw_l4_host_matches("*.example.com", ".example.com"), "wildcard: empty label");
    ok(!gw_l4_host_matches("*.example.com", "aexample.com"), "wildcard: label boundary");
    ok(!gw_l4_host_matches("a.test", ""), "exact needs an SNI");
}

static struct gw_ir_backend be_a = {.name = "e2e/a:443", .weight = 1};
static struct gw_ir_backend be_b = {.name = "e2e/b:443", .weight = 1};
static struct gw_ir_backend be_c = {.name = "e2e/c:443", .weight = 1};

static void
test_sni_routes(void)
{
    struct gw_ir_listener_tls pass = {.passthrough = true}, term = {.passthrough = false};
    /* IR order: exact, then longer wildcard, then any */
    struct gw_ir_l4 routes1[] = {
        {.route = "TLSRoute e2e/exact",
         .hostname = "abc.example.com",
         .backends = &be_a,
         .nbackends = 1},
        {.route = "TLSRoute e2e/deep",
         .hostname = "*.foo.example.com",
         .backends = &be_b,
         .nbackends = 1},
        {.route = "TLSRoute e2e/wild",
         .hostname = "*.example.com",
         .backends = &be_c,
         .nbackends = 1},
    };
    struct gw_ir_l4 routes2[] = {
        {.route = "TLSRoute e2e/any", .hostname = NULL, .backends = &be_b, .nbackends = 1},
    };
    struct gw_ir_listener ls[] = {
        {.name = "tls-example",
         .hostname = "*.example.com",
         .proto = GW_IR_TLS,
         .tls = &pass,
         .l4 = routes1,
         .nl4 = 3},
        {.name = "tls-any",
         .hostname = NULL,
         .proto = GW_IR_TLS,
         .tls = &pass,
         .l4 = routes2,
         .nl4 = 1},
    };
    struct gw_ir_port pt = {.address = "127.0.0.1", .port = 443, .listeners = ls, .nlisteners = 2};
    const struct gw_ir_listener *l = NULL;
    const struct gw_ir_l4 *r = gw_l4_route_by_sni(&pt, "abc.example.com", &l);
    is_str(r ? r->route : NULL, "TLSRoute e2e/exact", "exact SNI first");
    ok(l == &ls[0], "listener reported");
    r = gw_l4_route_by_sni(&pt, "x.foo.example.com", NULL);
    is_str(r ? r->route : NULL, "TLSRoute e2e/deep", "longest wildcard next");
    r = gw_l4_route_by_sni(&pt, "other.example.com", NULL);
    is_str(r ? r->route : NULL, "TLSRoute e2e/wild", "shorter wildcard");
    r = gw_l4_route_by_sni(&pt, "unrelated.test", NULL);
    is_str(r ? r->route : NULL, "TLSRoute e2e/any", "catch-all listener last");
    r = gw_l4_route_by_sni(&pt, "", NULL);
    is_str(r ? r->route : NULL, "TLSRoute e2e/any", "no SNI: catch-all only");
    ok(gw_l4_port_is_served(&pt), "all-passthrough TLS port is served");

    pt.nlisteners = 1;
    ok(gw_l4_route_by_sni(&pt, "unrelated.test", NULL) == NULL, "unknown SNI: no route");
    ok(gw_l4_route_by_sni(&pt, "", NULL) == NULL, "no SNI, no catch-all: no route");

    ls[1].tls = &term;
    pt.nlisteners = 2;
    ok(gw_l4_port_is_served(&pt), "Passthrough and Terminate TLS listeners: l4's port");
    r = gw_l4_route_by_sni(&pt, "unrelated.test", &l);
    ok(r == &routes2[0] && l == &ls[1], "a Terminate listener is chosen by SNI too");
    ls[1].proto = GW_IR_HTTPS;
    ok(!gw_l4_port_is_served(&pt), "HTTPS on the port: not l4's port");

    struct gw_ir_l4 tcp_routes[] = {{.route = "TCPRoute e2e/t", .backends = &be_a, .nbackends = 1}};
    struct gw_ir_listener tl = {.name = "tcp", .proto = GW_IR_TCP, .l4 = tcp_routes, .nl4 = 1};
    struct gw_ir_port tp = {.address = "", .port = 9000, .listeners = &tl, .nlisteners = 1};
    ok(gw_l4_port_is_served(&tp), "TCP port served");
    ok(gw_l4_route_plain(&tp, NULL) == &tcp_routes[0], "TCP route");
    tl.proto = GW_IR_HTTP;
    ok(!gw_l4_port_is_served(&tp), "HTTP port not served");
    ok(gw_l4_route_plain(&tp, NULL) == NULL, "no TCP route on an HTTP port");
    tl.proto = GW_IR_UDP;
    tp.udp = true;
    ok(gw_l4_port_is_served(&tp), "UDP port served");
    ok(gw_l4_route_plain(&tp, NULL) == &tcp_routes[0], "UDP route");
    tp.nlisteners = 0;
    ok(!gw_l4_port_is_served(&tp), "empty port not served");

    struct gw_ir ir = {.ports = &tp, .nports = 1};
    tp.nlisteners = 1;
    ok(l4_port_find(&ir, "", 9000, true) == &tp, "port found");
    ok(l4_port_find(&ir, "", 9000, false) == NULL, "transport must match");
    ok(l4_port_find(&ir, "127.0.0.1", 9000, true) == NULL, "address must match");
}

static void
test_weights(void)
{
    struct gw_ir_backend bs[3] = {
        {.name = "a", .weight = 70}, {.name = "b", .weight = 30}, {.name = "c", .weight = 0}};
    struct gw_ir_l4 r = {.backends = bs, .nbackends = 3};
    int counts[3] = {0};
    for (uint32_t i = 0; i < 1000; i++) {
        const struct gw_ir_backend *b =
            l4_backend_pick(&r, (uint32_t)((((uint64_t)i << 32) + 999) / 1000));
        counts[b - bs]++;
    }
    ok(counts[0] == 700 && counts[1] == 300 && counts[2] == 0, "weights 70/30/0: %d/%d/%d",
       counts[0], counts[1], counts[2]);
    bs[0].weight = bs[1].weight = 0;
    ok(l4_backend_pick(&r, 12345) == NULL, "all weights 0: none");
}

static void
test_endpoints(void)
{
    struct gw_l4_ep_table t;
    gw_l4_ep_table_init(&t, sizeof(struct gw_l4_ep));
    struct gw_ir_endpoint eps[] = {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"[::1]", 81}};
    struct gw_ir_backend b = {.name = "x", .endpoints = eps, .nendpoints = 3};
    uint32_t cur = 0;
    struct gw_l4_ep *e[3];
    for (int i = 0; i < 3; i++)
        e[i] = gw_l4_ep_table_get(&t, eps[i].ip, eps[i].port);
    ok(e[2]->sa_ok && e[2]->sa.ss_family == AF_INET6, "IPv6 endpoint resolved");
    int counts[3] = {0};
    for (int i = 0; i < 300; i++) {
        struct gw_l4_ep *p = l4_ep_pick(&t, &b, &cur, NULL, 0);
        for (int k = 0; k < 3; k++)
            counts[k] += p == e[k];
    }
    ok(counts[0] == 100 && counts[1] == 100 && counts[2] == 100, "round robin is even");

    for (int i = 0; i < 3; i++)
        gw_l4_ep_report(e[1], true, 3, 1000, 10);
    ok(e[1]->ejected_until == 1010, "3 failures eject for 1000 ms");
    bool skipped = true;
    for (int i = 0; i < 30; i++)
        if (l4_ep_pick(&t, &b, &cur, NULL, 500) == e[1])
            skipped = false;
    ok(skipped, "ejected endpoint skipped");
    ok(l4_ep_pick(&t, &b, &cur, NULL, 2000) != NULL, "back after the ejection");
    for (int i = 0; i < 3; i++)
        gw_l4_ep_report(e[1], true, 3, 1000, 3000);
    ok(e[1]->ejected_until == 5000, "second ejection doubles");
    gw_l4_ep_report(e[1], false, 3, 1000, 3000);
    ok(e[1]->consec == 0, "success clears the count");

    struct gw_ir_backend one = {.name = "y", .endpoints = eps + 1, .nendpoints = 1};
    ok(l4_ep_pick(&t, &one, &cur, NULL, 3500) == e[1], "all ejected: tried anyway");
    struct gw_ir_backend two = {.name = "z", .endpoints = eps, .nendpoints = 2};
    bool avoided = true;
    for (int i = 0; i < 10; i++)
        if (l4_ep_pick(&t, &two, &cur, e[0], 10000) != e[1])
            avoided = false;
    ok(avoided, "the failed endpoint is avoided on retry");

    struct gw_ir_endpoint bad[] = {{"not-an-ip", 80}};
    struct gw_ir_backend nb = {.name = "n", .endpoints = bad, .nendpoints = 1};
    ok(l4_ep_pick(&t, &nb, &cur, NULL, 0) == NULL, "unresolvable endpoint: none");
    gw_l4_ep_table_release(&t);
}

int
main(void)
{
    test_hosts();
    test_sni_routes();
    test_weights();
    test_endpoints();
    return done_testing();
}
