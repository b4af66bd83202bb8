/* SPDX-License-Identifier: Apache-2.0 */
/*
 * statusdoc.c: doc tree -> value tree, JSON equality, and the merge of a
 * desired status with the server's (times carried, other controllers'
 * entries kept, removed members nulled, NULL when nothing changes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "k8s/internal.h"
#include "load/load.h"
#include "status/status.h"
#include "tap.h"

#include "base/banned.h"

static struct gw_arena arena;
static struct gw_sv_pool pool;

/* A JSON text (single quotes for double) as a value tree. */
static struct gw_sv *
sv(const char *json)
{
    char *t = gw_arena_strdup(&arena, json);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    struct gw_docs docs;
    gw_docs_init(&docs);
    struct gw_diags diags;
    gw_diags_init(&diags);
    int rc = gw_docs_add_json(&docs, "t", t, strlen(t), &diags);
    GW_ASSERT(rc == 0 && docs.n == 1);
    struct gw_sv *v = gw_k8s_sv_from_node(&pool, docs.v[0].root);
    gw_diags_release(&diags);
    gw_docs_release(&docs); /* the tree must not borrow from docs */
    return v;
}

static char *
json(const struct gw_sv *v)
{
    if (!v)
        return gw_arena_strdup(&arena, "(null)");
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    gw_sv_format_json(v, &b);
    char *s = gw_arena_strdup(&arena, b.p);
    gw_buf_release(&b);
    return s;
}

static void
same(const struct gw_sv *got, const char *want, const char *what)
{
    struct gw_sv *w = sv(want);
    bool eq = gw_k8s_sv_equal(got, w);
    ok(eq, "%s", what);
    if (!eq)
        diag("got %s\nwant %s", json(got), json(w));
}

static void
test_values(void)
{
    struct gw_sv *a = sv("{'a':1,'b':[true,null,'x',2.0,2.5],'c':{}}");
    struct gw_sv *b = sv("{'c':{},'b':[true,null,'x',2,2.5],'a':1}");
    ok(gw_k8s_sv_equal(a, b), "member order ignored; 2.0 reads as 2");
    ok(!gw_k8s_sv_equal(a, sv("{'a':1,'b':[null,true,'x',2,2.5],'c':{}}")), "array order kept");
    ok(!gw_k8s_sv_equal(sv("{'a':1}"), sv("{'a':'1'}")), "types differ");
    ok(!gw_k8s_sv_equal(sv("{'a':1}"), sv("{'a':1,'b':1}")), "extra member");
    ok(!gw_k8s_sv_equal(sv("{'a':true}"), sv("{'a':1}")), "bool is not int");
    ok(gw_k8s_sv_equal(NULL, NULL) && !gw_k8s_sv_equal(a, NULL), "NULL equals only NULL");
}

#define ME  "gatehouse.dev/gateway-controller"
#define P   "1970-01-01T00:00:00Z"
#define OLD "2020-01-01T00:00:00Z"
#define NOW "2026-12-07T05:00:00Z"

static void
test_route(void)
{
    struct gw_sv *desired =
        sv("{'parents':[{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway',"
           "'name':'gw'},'controllerName':'" ME "','conditions':[{'type':'Accepted','status':"
           "'True','reason':'Accepted','lastTransitionTime':'" P "'}]}]}");
    /* Nothing there yet: ours, stamped now. */
    same(gw_k8s_status_merge(&pool, GW_KIND_HTTPROUTE, desired, NULL, ME, NOW),
         "{'parents':[{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway',"
         "'name':'gw'},'controllerName':'" ME "','conditions':[{'type':'Accepted','status':"
         "'True','reason':'Accepted','lastTransitionTime':'" NOW "'}]}]}",
         "no current status: desired with now");

    const char *other = "{'parentRef':{'name':'x'},'controllerName':'other.io/c','conditions':"
                        "[{'type':'Accepted','status':'False','lastTransitionTime':'" OLD "'}]}";
    char *cur_json = gw_arena_sprintf(
        &arena,
        "{'parents':[%s,{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway',"
        "'name':'gw'},'controllerName':'" ME "','conditions':[{'type':'Accepted','status':"
        "'True','reason':'Accepted','lastTransitionTime':'" OLD "'}]}]}",
        other);
    struct gw_sv *current = sv(cur_json);
    ok(gw_k8s_status_merge(&pool, GW_KIND_HTTPROUTE, desired, current, ME, NOW) == NULL,
       "unchanged (other controller's entry kept, time carried): NULL");

    struct gw_sv *desired2 =
        sv("{'parents':[{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway',"
           "'name':'gw'},'controllerName':'" ME "','conditions':[{'type':'Accepted','status':"
           "'False','reason':'NotAllowedByListeners','lastTransitionTime':'" P "'}]}]}");
    char *want = gw_arena_sprintf(
        &arena,
        "{'parents':[%s,{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway',"
        "'name':'gw'},'controllerName':'" ME "','conditions':[{'type':'Accepted','status':"
        "'False','reason':'NotAllowedByListeners','lastTransitionTime':'" NOW "'}]}]}",
        other);
    same(gw_k8s_status_merge(&pool, GW_KIND_HTTPROUTE, desired2, current, ME, NOW), want,
         "changed: others' entry first as it was, ours after with now");

    char *want_only_other = gw_arena_sprintf(&arena, "{'parents':[%s]}", other);
    same(gw_k8s_status_merge(&pool, GW_KIND_HTTPROUTE, sv("{}"), current, ME, NOW), want_only_other,
         "no entry of ours: the others' stay");

    /* A Gateway has no shared list: an entry of another controller is not
     * kept, a member we no longer want is deleted (null). */
    struct gw_sv *g = sv("{'conditions':[{'type':'Accepted','status':'True',"
                         "'lastTransitionTime':'" P "'}]}");
    struct gw_sv *gcur = sv("{'conditions':[{'type':'Accepted','status':'True',"
                            "'lastTransitionTime':'" OLD "'}],'addresses':[{'value':'1.2.3.4'}]}");
    same(gw_k8s_status_merge(&pool, GW_KIND_GATEWAY, g, gcur, ME, NOW),
         "{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" OLD
         "'}],'addresses':null}",
         "gateway: member gone from desired is nulled, time carried");
    ok(gw_k8s_status_merge(&pool, GW_KIND_GATEWAY, g,
                           sv("{'conditions':[{'type':'Accepted','status':'True',"
                              "'lastTransitionTime':'" OLD "'}]}"),
                           ME, NOW) == NULL,
       "gateway unchanged: NULL");
    ok(gw_k8s_status_merge(&pool, GW_KIND_GATEWAY, sv("{}"), NULL, ME, NOW) == NULL,
       "empty desired, no current: NULL");
}

static void
test_policy(void)
{
    struct gw_sv *desired =
        sv("{'ancestors':[{'ancestorRef':{'group':'gateway.networking.k8s.io','kind':'Gateway',"
           "'namespace':'ns','name':'gw'},'controllerName':'" ME "','conditions':[{'type':"
           "'Accepted','status':'True','lastTransitionTime':'" P "'}]}]}");
    struct gw_sv *current =
        sv("{'ancestors':[{'ancestorRef':{'namespace':'ns','name':'gw'},'controllerName':"
           "'x.io/y','conditions':[]},{'ancestorRef':{'namespace':'ns','name':'old'},"
           "'controllerName':'" ME "','conditions':[]}]}");
    same(gw_k8s_status_merge(&pool, GW_KIND_BACKENDTLSPOLICY, desired, current, ME, NOW),
         "{'ancestors':[{'ancestorRef':{'namespace':'ns','name':'gw'},'controllerName':"
         "'x.io/y','conditions':[]},{'ancestorRef':{'group':'gateway.networking.k8s.io','kind':"
         "'Gateway','namespace':'ns','name':'gw'},'controllerName':'" ME "','conditions':[{"
         "'type':'Accepted','status':'True','lastTransitionTime':'" NOW "'}]}]}",
         "policy: others' ancestors kept, our stale one replaced");
}

static void
test_self_contained(void)
{
    /* The result must not borrow desired's strings. */
    struct gw_arena a2;
    gw_arena_init(&a2, 0);
    struct gw_sv_pool p2;
    gw_sv_pool_init(&p2, &a2);
    struct gw_sv *d = gw_sv_new(&p2, GW_SV_OBJ);
    struct gw_sv *c =
        gw_sv_add_obj(&p2, gw_sv_add_arr(&p2, d, gw_arena_strdup(&a2, "conditions")), NULL);
    gw_sv_add_str(&p2, c, "type", gw_arena_strdup(&a2, "Accepted"));
    gw_sv_add_str(&p2, c, "status", gw_arena_strdup(&a2, "True"));
    struct gw_sv *r = gw_k8s_status_merge(&pool, GW_KIND_GATEWAYCLASS, d, NULL, ME, NOW);
    gw_arena_release(&a2);
    same(r, "{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" NOW "'}]}",
         "result outlives desired's arena");
}

int
main(void)
{
    gw_arena_init(&arena, 0);
    gw_sv_pool_init(&pool, &arena);
    test_values();
    test_route();
    test_policy();
    test_self_contained();
    gw_arena_release(&arena);
    return done_testing();
}
