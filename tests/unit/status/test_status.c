/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Units of the status module: hostname matching and intersection (both
 * sides wildcards), the JSON and YAML writers, the feature table, IR
 * reference counting, option errors, and a few translate facts checked
 * directly on the value trees (rather than via golden files).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "load/load.h"
#include "status/internal.h"
#include "status/status.h"
#include "tap.h"

#include "base/banned.h"

static void
test_hostnames(void)
{
    ok(tr_host_matches("*.example.com", "a.example.com"), "wildcard matches one label");
    ok(tr_host_matches("*.example.com", "a.b.example.com"), "wildcard matches several labels");
    ok(!tr_host_matches("*.example.com", "example.com"), "wildcard never matches its suffix");
    ok(!tr_host_matches("*.example.com", "aexample.com"), "wildcard needs the dot");
    ok(tr_host_matches("Foo.Example.com", "foo.example.COM"), "exact is case-insensitive");
    ok(tr_host_matches(NULL, "x"), "no hostname matches anything");

    static const struct {
        const char *l, *r, *want;
    } cases[] = {
        {NULL, NULL, "*"},
        {NULL, "a.com", "a.com"},
        {"a.com", NULL, "a.com"},
        {"a.com", "a.com", "a.com"},
        {"a.com", "b.com", NULL},
        {"*.a.com", "x.a.com", "x.a.com"},
        {"*.a.com", "a.com", NULL},
        {"x.a.com", "*.a.com", "x.a.com"},
        {"x.a.com", "*.b.com", NULL},
        {"*.a.com", "*.a.com", "*.a.com"},
        {"*.a.com", "*.x.a.com", "*.x.a.com"},
        {"*.x.a.com", "*.a.com", "*.x.a.com"},
        {"*.a.com", "*.b.com", NULL},
        {"*.com", "*.a.com", "*.a.com"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++)
        is_str(tr_host_intersect(cases[i].l, cases[i].r), cases[i].want, "intersect(%s, %s)",
               cases[i].l ? cases[i].l : "-", cases[i].r ? cases[i].r : "-");
}

static void
test_writers(void)
{
    struct gw_arena a;
    gw_arena_init(&a, 0);
    struct gw_sv_pool p;
    gw_sv_pool_init(&p, &a);
    struct gw_sv *o = gw_sv_new(&p, GW_SV_OBJ);
    gw_sv_add_str(&p, o, "zeta", "z");
    gw_sv_add_str(&p, o, "alpha", "True");
    gw_sv_add_int(&p, o, "n", 42);
    struct gw_sv *arr = gw_sv_add_arr(&p, o, "list");
    struct gw_sv *e = gw_sv_add_obj(&p, arr, NULL);
    gw_sv_add_str(&p, e, "k", "1970-01-01T00:00:00Z");
    gw_sv_add_str(&p, e, "b", "127.0.0.1");
    gw_sv_add_str(&p, arr, NULL, "8080");
    gw_sv_add_str(&p, arr, NULL, "a: b");
    gw_sv_add_arr(&p, o, "empty");
    gw_sv_add_str(&p, o, "quote", "say \"hi\"\n");

    struct gw_buf b;
    gw_buf_init(&b, 1 << 16);
    gw_sv_format_yaml(o, &b);
    is_str(b.p,
           "alpha: \"True\"\n"
           "empty: []\n"
           "list:\n"
           "- b: 127.0.0.1\n"
           "  k: \"1970-01-01T00:00:00Z\"\n"
           "- \"8080\"\n"
           "- \"a: b\"\n"
           "n: 42\n"
           "quote: \"say \\\"hi\\\"\\n\"\n"
           "zeta: z\n",
           "YAML: sorted keys, lists under their key, quoting");
    gw_buf_reset(&b);
    gw_sv_format_json(o, &b);
    is_str(b.p,
           "{\n"
           "  \"zeta\": \"z\",\n"
           "  \"alpha\": \"True\",\n"
           "  \"n\": 42,\n"
           "  \"list\": [\n"
           "    {\n"
           "      \"k\": \"1970-01-01T00:00:00Z\",\n"
           "      \"b\": \"127.0.0.1\"\n"
           "    },\n"
           "    \"8080\",\n"
           "    \"a: b\"\n"
           "  ],\n"
           "  \"empty\": [],\n"
           "  \"quote\": \"say \\\"hi\\\"\\n\"\n"
           "}\n",
           "JSON: insertion order, escapes");
    ok(gw_sv_get(o, "n") && gw_sv_get(o, "n")->i == 42, "gw_sv_get finds a member");
    ok(!gw_sv_get(o, "nope"), "gw_sv_get: absent member");

    /* Past a block of nodes: fresh nodes are zeroed and distinct. */
    struct gw_sv *big = gw_sv_add_arr(&p, o, "big");
    size_t n = 3 * GW_SV_BLOCK + 1, good = 0;
    for (size_t i = 0; i < n; i++) {
        struct gw_sv *x = gw_sv_add_obj(&p, big, NULL);
        good += x->key == NULL && x->child == NULL && x->next == NULL && x->n == 0 &&
                x->s == NULL && x->i == 0;
        gw_sv_add_int(&p, x, "i", (int64_t)i);
    }
    size_t i = 0, in_order = 0;
    for (const struct gw_sv *x = big->child; x; x = x->next, i++)
        in_order += x->type == GW_SV_OBJ && x->n == 1 && x->child->i == (int64_t)i;
    ok(big->n == n && good == n && in_order == n, "%zu nodes over blocks: zeroed, kept apart", n);
    gw_buf_release(&b);
    gw_arena_release(&a);
}

static void
test_features(void)
{
    size_t n;
    const struct gw_feature *f = gw_status_features(&n);
    ok(n == 58, "58 features (Gateway API v1.6.1), got %zu", n);
    bool sorted = true;
    for (size_t i = 1; i < n; i++)
        sorted = sorted && strcmp(f[i - 1].name, f[i].name) < 0;
    ok(sorted, "feature table sorted and unique");
    static const char *const core[] = {"Gateway",  "HTTPRoute", "ReferenceGrant", "GRPCRoute",
                                       "TLSRoute", "TCPRoute",  "UDPRoute"};
    for (size_t i = 0; i < GW_ARRAY_LEN(core); i++)
        ok(gw_status_feature_claimed(core[i]), "claims %s", core[i]);
    ok(!gw_status_feature_claimed("Mesh"), "does not claim Mesh");
    ok(!gw_status_feature_claimed("NoSuchFeature"), "unknown feature not claimed");
}

static void
test_ir_refs(void)
{
    struct gw_ir *ir = gw_ir_new();
    ok(gw_ir_ref(ir) == ir, "ref returns the IR");
    is_int(atomic_load(&ir->refs), 2, "two references");
    gw_ir_unref(ir);
    is_int(atomic_load(&ir->refs), 1, "one reference");
    is_str(gw_ir_strdup(ir, "copy"), "copy", "strdup into the IR arena");
    ok(gw_ir_strdup(ir, NULL) == NULL, "strdup(NULL) is NULL");
    gw_ir_unref(ir); /* frees (ASan checks) */
    gw_ir_unref(NULL);
}

/* Decodes yaml into a fresh store (which owns what it decoded). */
static void
decode_text(const char *yaml, struct gw_store *store)
{
    struct gw_docs docs;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    gw_store_init(store);
    gw_docs_add_yaml(&docs, "t.yaml", yaml, strlen(yaml), &diags);
    gw_decode_docs(&docs, store, &diags);
    ok(diags.errors == 0, "test input decodes");
    gw_diags_release(&diags);
    gw_docs_release(&docs);
}

static struct gw_status *
translate_text(const char *yaml, const char *pool, struct gw_ir **ir, struct gw_store *store)
{
    decode_text(yaml, store);
    struct gw_status_opts opts = {.address_pool = pool};
    struct gw_status *st = NULL;
    int rc = gw_status_translate(store, &opts, &st, ir);
    return rc == 0 ? st : NULL;
}

static const char *
cond(const struct gw_sv *conds, const char *type, const char **reason)
{
    for (const struct gw_sv *c = conds ? conds->child : NULL; c; c = c->next)
        if (!strcmp(gw_sv_get(c, "type")->s, type)) {
            *reason = gw_sv_get(c, "reason")->s;
            return gw_sv_get(c, "status")->s;
        }
    *reason = NULL;
    return NULL;
}

static const char *const base =
    "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: gh}\n"
    "spec: {controllerName: my.example/ctl}\n---\n"
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: gw, namespace: ns, generation: 7}\n"
    "spec:\n  gatewayClassName: gh\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n---\n"
    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
    "metadata: {name: r, namespace: ns, generation: 4}\n"
    "spec:\n  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: s, port: 80}]}]\n";

static void
test_translate_facts(void)
{
    struct gw_store store;
    struct gw_ir *ir = NULL;

    /* Not our controller: nothing at all. */
    struct gw_status *st = translate_text(base, NULL, &ir, &store);
    ok(st && st->n == 0, "another controller's objects get no status");
    ok(ir && ir->nports == 0, "and nothing is served");
    gw_status_free(st);
    gw_ir_unref(ir);
    gw_store_release(&store);

    /* Our controller (by option): statuses, observedGeneration, exit rule. */
    struct gw_docs docs;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    gw_store_init(&store);
    gw_docs_add_yaml(&docs, "t.yaml", base, strlen(base), &diags);
    gw_decode_docs(&docs, &store, &diags);
    struct gw_status_opts opts = {.controller_name = "my.example/ctl",
                                  .address_pool = "10.1.2.0/24",
                                  .transition_time = "2020-01-01T00:00:00Z"};
    st = NULL;
    ir = NULL;
    is_int(gw_status_translate(&store, &opts, &st, &ir), 0, "translate with options");
    const struct gw_status_item *gw = gw_status_find(st, GW_KIND_GATEWAY, "ns", "gw");
    const struct gw_status_item *rt = gw_status_find(st, GW_KIND_HTTPROUTE, "ns", "r");
    ok(gw && rt && gw_status_find(st, GW_KIND_GATEWAYCLASS, NULL, "gh"), "three items");
    const char *reason;
    if (gw) {
        const struct gw_sv *addrs = gw_sv_get(gw->status, "addresses");
        is_str(addrs && addrs->child ? gw_sv_get(addrs->child, "value")->s : NULL, "10.1.2.1",
               "first pool host");
        const struct gw_sv *conds = gw_sv_get(gw->status, "conditions");
        is_str(cond(conds, "Accepted", &reason), "True", "gateway accepted");
        is_int(gw_sv_get(conds->child, "observedGeneration")->i, 7, "observedGeneration 7");
        is_str(gw_sv_get(conds->child, "lastTransitionTime")->s, "2020-01-01T00:00:00Z",
               "transition time option");
    }
    if (rt) {
        const struct gw_sv *p = gw_sv_get(rt->status, "parents")->child;
        is_str(gw_sv_get(p, "controllerName")->s, "my.example/ctl", "our controller name");
        const struct gw_sv *conds = gw_sv_get(p, "conditions");
        is_str(cond(conds, "Accepted", &reason), "True", "route accepted");
        is_str(cond(conds, "ResolvedRefs", &reason), "False", "missing Service");
        is_str(reason, "BackendNotFound", "reason BackendNotFound");
        is_int(gw_sv_get(conds->child, "observedGeneration")->i, 4, "route observedGeneration 4");
        ok(rt->not_ready, "route not ready");
    }
    is_int((long long)st->routes_not_ready, 1, "one route not ready");
    ok(ir->nports == 1 && ir->ports[0].nlisteners == 1 && ir->ports[0].listeners[0].nvhosts == 1 &&
           ir->ports[0].listeners[0].vhosts[0].routes[0].backends[0].invalid,
       "IR keeps the unresolved backend, marked invalid (500)");
    /* The IR outlives the store: it copied what it needs. */
    gw_status_free(st);
    gw_store_release(&store);
    is_str(ir->ports[0].listeners[0].name, "http", "IR readable after the store is gone");
    is_str(ir->ports[0].address, "10.1.2.1", "IR address");
    gw_ir_unref(ir);

    /* Pools of one and two addresses: every address is a host (RFC 3021). */
    static const struct {
        const char *pool, *want;
    } tiny[] = {
        {"10.9.9.9/32", "10.9.9.9"}, {"10.9.9.8/31", "10.9.9.8"}, {"fd00::7/128", "fd00::7"}};

    for (size_t i = 0; i < GW_ARRAY_LEN(tiny); i++) {
        gw_store_init(&store);
        gw_decode_docs(&docs, &store, &diags);
        opts.address_pool = tiny[i].pool;
        st = NULL;
        is_int(gw_status_translate(&store, &opts, &st, NULL), 0, "translate with pool %s",
               tiny[i].pool);
        gw = gw_status_find(st, GW_KIND_GATEWAY, "ns", "gw");
        const struct gw_sv *addrs = gw ? gw_sv_get(gw->status, "addresses") : NULL;
        is_str(addrs && addrs->child ? gw_sv_get(addrs->child, "value")->s : NULL, tiny[i].want,
               "pool %s assigns its address", tiny[i].pool);
        gw_status_free(st);
        gw_store_release(&store);
    }
    gw_diags_release(&diags);
    gw_docs_release(&docs);

    /* Bad pool. */
    gw_store_init(&store);
    opts.address_pool = "10.1.2.0/99";
    st = NULL;
    is_int(gw_status_translate(&store, &opts, &st, NULL), GW_EINVAL, "bad CIDR prefix");
    opts.address_pool = "not-an-ip/8";
    is_int(gw_status_translate(&store, &opts, &st, NULL), GW_EINVAL, "bad CIDR address");
    opts.address_pool = "fd00::/120";
    is_int(gw_status_translate(&store, &opts, &st, NULL), 0, "IPv6 pool");
    gw_status_free(st);
    gw_store_release(&store);
}

static int
cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static void
test_helpers(void)
{
    char buf[TR_I64_LEN];
    is_str(tr_i64(buf, 0), "0", "i64 0");
    is_str(tr_i64(buf, 18090), "18090", "i64 18090");
    is_str(tr_i64(buf, -42), "-42", "i64 -42");
    is_str(tr_i64(buf, INT64_MAX), "9223372036854775807", "i64 max");
    is_str(tr_i64(buf, INT64_MIN), "-9223372036854775808", "i64 min");
    struct gw_arena a;
    gw_arena_init(&a, 0);
    is_str(TR_CAT(&a, "ns", "/", "svc", ":", "80"), "ns/svc:80", "cat");
    is_str(TR_CAT(&a, "", ""), "", "cat of empty strings");
    is_str(TR_CAT(&a, "x", NULL), "x(null)", "cat NULL reads as %%s prints it");
    gw_arena_release(&a);
    int v[] = {1, 2, 3}, w[] = {3, 1, 2};
    tr_sort(v, 3, sizeof(int), cmp_int);
    tr_sort(w, 3, sizeof(int), cmp_int);
    ok(v[0] == 1 && v[1] == 2 && v[2] == 3, "sorted input kept");
    ok(w[0] == 1 && w[1] == 2 && w[2] == 3, "unsorted input sorted");
}

/* Routes sharing a Service port share its resolution (name, endpoints) but
 * keep their own weights; conditions equal but for observedGeneration stay
 * apart. */
static void
test_shared(void)
{
    static const char *const yaml =
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: gh}\n"
        "spec: {controllerName: " GW_CONTROLLER_NAME "}\n---\n"
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        "metadata: {name: gw, namespace: ns}\n"
        "spec:\n  gatewayClassName: gh\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: ns}\n"
        "spec: {ports: [{name: http, port: 80}]}\n---\n"
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {name: s-1, namespace: ns, labels: {kubernetes.io/service-name: s}}\n"
        "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
        "endpoints: [{addresses: [10.0.0.1, 10.0.0.2]}]\n---\n"
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        "metadata: {name: a, namespace: ns, generation: 2}\n"
        "spec:\n  parentRefs: [{name: gw}]\n"
        "  rules: [{matches: [{path: {value: /a}}], backendRefs: [{name: s, port: 80, weight: "
        "3}]}]\n"
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        "metadata: {name: b, namespace: ns, generation: 5}\n"
        "spec:\n  parentRefs: [{name: gw}]\n"
        "  rules: [{matches: [{path: {value: /bb}}], backendRefs: [{name: s, port: 80}]}]\n";
    struct gw_store store;
    struct gw_ir *ir = NULL;
    struct gw_status *st = translate_text(yaml, NULL, &ir, &store);
    const struct gw_ir_vhost *vh = st && ir && ir->nports == 1 && ir->ports[0].nlisteners == 1 &&
                                           ir->ports[0].listeners[0].nvhosts == 1
                                       ? &ir->ports[0].listeners[0].vhosts[0]
                                       : NULL;
    ok(vh && vh->nroutes == 2, "one vhost, two routes");
    if (vh && vh->nroutes == 2) {
        const struct gw_ir_backend *b = vh->routes[0].backends, *a = vh->routes[1].backends;
        is_str(vh->routes[0].route, "HTTPRoute ns/b", "longer prefix first");
        is_str(a->name, "ns/s:80", "backend name");
        is_str(b->name, "ns/s:80", "same backend name");
        ok(a->weight == 3 && b->weight == 1, "own weights");
        ok(a->nendpoints == 2 && b->nendpoints == 2 && a->endpoints[1].port == 8080,
           "both get the endpoints");
    }
    const struct gw_status_item *ra = st ? gw_status_find(st, GW_KIND_HTTPROUTE, "ns", "a") : NULL;
    const struct gw_status_item *rb = st ? gw_status_find(st, GW_KIND_HTTPROUTE, "ns", "b") : NULL;
    ok(ra && rb, "both routes have a status");
    if (ra && rb) {
        const struct gw_sv *ca = gw_sv_get(gw_sv_get(ra->status, "parents")->child, "conditions");
        const struct gw_sv *cb = gw_sv_get(gw_sv_get(rb->status, "parents")->child, "conditions");
        is_int(gw_sv_get(ca->child, "observedGeneration")->i, 2, "a: observedGeneration 2");
        is_int(gw_sv_get(cb->child, "observedGeneration")->i, 5, "b: observedGeneration 5");
        is_int(gw_sv_get(ca->child->next, "observedGeneration")->i, 2, "a: both conditions");
        is_str(gw_sv_get(cb->child->next, "type")->s, "ResolvedRefs", "b: ResolvedRefs second");
    }
    ok(st && gw_status_reads_service_whole(st, "ns", "s"), "the backend's Service is read");
    ok(st && !gw_status_reads_service_whole(st, "ns", "t"), "no other Service is");
    ok(st && gw_status_service_reads_same(st, "ns", "t", NULL),
       "so a change to it changes nothing");
    gw_status_free(st);
    gw_ir_unref(ir);
    gw_store_release(&store);
}

/* What translate reads of a Gateway's generated Service: the port mapping
 * only; a Service mapping the port where it is bound changes nothing. */
static void
test_generated_service_reads(void)
{
    static const char *const yaml =
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: gh}\n"
        "spec: {controllerName: " GW_CONTROLLER_NAME "}\n---\n"
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        "metadata: {name: gw, namespace: ns}\n"
        "spec:\n  gatewayClassName: gh\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n";
    static const char *const svcs[] = {
        "apiVersion: v1\nkind: Service\nmetadata: {name: gw-gatehouse, namespace: ns}\n"
        "spec: {ports: [{name: http, port: 80, targetPort: 20000}]}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: gw-gatehouse, namespace: ns}\n"
        "spec: {ports: [{name: http, port: 80, targetPort: 20001}]}\n",
    };
    struct gw_store store;
    decode_text(yaml, &store);
    struct gw_status_opts opts = {.gateway_port_base = 20000};
    struct gw_status *st = NULL;
    ok(gw_status_translate(&store, &opts, &st, NULL) == 0 && st && st->ngwports == 1 &&
           st->gwports[0].bind_port == 20000,
       "the listener is bound at the base port");
    ok(st && !gw_status_reads_service_whole(st, "ns", "gw-gatehouse"),
       "the generated Service is not read whole");
    ok(st && !gw_status_service_reads_same(st, "ns", "gw-gatehouse", NULL),
       "its absence is not what was bound");
    for (size_t i = 0; st && i < 2; i++) {
        struct gw_store s2;
        decode_text(svcs[i], &s2);
        const struct gw_service *svc = gw_store_service(&s2, "ns", "gw-gatehouse");
        ok(svc && gw_status_service_reads_same(st, "ns", "gw-gatehouse", svc) == (i == 0),
           i == 0 ? "the Service mapping 80 to 20000 changes nothing"
                  : "one mapping 80 elsewhere does");
        gw_store_release(&s2);
    }
    gw_status_free(st);
    gw_store_release(&store);
}

/* A Global limit is served only when a Redis is configured; without one
 * the policy is Invalid (and not served as a local limit either). */
static void
test_global_ratelimit(void)
{
    static const char *const yaml =
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: gh}\n"
        "spec: {controllerName: my.example/ctl}\n---\n"
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        "metadata: {name: gw, namespace: ns}\n"
        "spec:\n  gatewayClassName: gh\n  listeners: [{name: http, port: 80, protocol: "
        "HTTP}]\n---\n"
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        "metadata: {name: r, namespace: ns}\n"
        "spec:\n  parentRefs: [{name: gw}]\n  rules: [{backendRefs: [{name: s, port: 80}]}]\n"
        "---\napiVersion: gatehouse.dev/v1alpha1\nkind: RateLimitPolicy\n"
        "metadata: {name: p, namespace: ns}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]\n"
        "  limits:\n  - {name: loc, requests: 9, interval: 1s}\n"
        "  - {name: glob, requests: 5, interval: 1s, scope: Global, failureMode: Closed}\n";
    for (int redis = 0; redis < 2; redis++) {
        struct gw_store store;
        decode_text(yaml, &store);
        struct gw_status_opts opts = {.controller_name = "my.example/ctl",
                                      .global_ratelimits = redis};
        struct gw_status *st = NULL;
        struct gw_ir *ir = NULL;
        is_int(gw_status_translate(&store, &opts, &st, &ir), 0, "translate (redis %d)", redis);
        const struct gw_status_item *it =
            st ? gw_status_find(st, GW_KIND_RATELIMITPOLICY, "ns", "p") : NULL;
        const struct gw_sv *anc = it ? gw_sv_get(it->status, "ancestors") : NULL;
        const struct gw_sv *a0 = anc ? anc->child : NULL;
        const char *reason = NULL;
        const char *status = a0 ? cond(gw_sv_get(a0, "conditions"), "Accepted", &reason) : NULL;
        is_str(status, redis ? "True" : "False", "Accepted (redis %d)", redis);
        is_str(reason, redis ? "Accepted" : "Invalid", "reason (redis %d)", redis);
        const struct gw_ir_route *rt = NULL;
        if (ir && ir->nports && ir->ports[0].nlisteners && ir->ports[0].listeners[0].nvhosts &&
            ir->ports[0].listeners[0].vhosts[0].nroutes)
            rt = &ir->ports[0].listeners[0].vhosts[0].routes[0];
        ok(rt != NULL, "a route is served (redis %d)", redis);
        if (rt && redis) {
            ok(rt->nratelimits == 2 && !rt->ratelimits[0].global && rt->ratelimits[1].global &&
                   rt->ratelimits[1].fail_closed && !rt->ratelimits[0].fail_closed,
               "both limits, the second global and closed");
        } else if (rt) {
            is_int((int)rt->nratelimits, 0, "an Invalid policy limits nothing");
        }
        gw_status_free(st);
        gw_ir_unref(ir);
        gw_store_release(&store);
    }
}

int
main(void)
{
    test_helpers();
    test_shared();
    test_hostnames();
    test_writers();
    test_features();
    test_ir_refs();
    test_translate_facts();
    test_generated_service_reads();
    test_global_ratelimit();
    return done_testing();
}
