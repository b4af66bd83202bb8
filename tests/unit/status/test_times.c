/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lastTransitionTime stamping (status/times.c): which conditions keep the
 * previous time (same type and status at the same place) and which take
 * now, with trees written as JSON; that desired is never written; the
 * whole-status helper against a previous gw_status; and the time format.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "load/load.h"
#include "status/status.h"
#include "tap.h"

#include "base/banned.h"

static struct gw_arena arena;
static struct gw_sv_pool pool;

static struct gw_sv *
from_node(const struct gw_node *n)
{
    struct gw_sv *v;
    switch (n->type) {
    case GW_NODE_MAP:
        v = gw_sv_new(&pool, GW_SV_OBJ);
        for (size_t i = 0; i < n->n; i++)
            gw_sv_add(v, gw_arena_strdup(&arena, n->u.pairs[i].key),
                      from_node(n->u.pairs[i].value));
        return v;
    case GW_NODE_LIST:
        v = gw_sv_new(&pool, GW_SV_ARR);
        for (size_t i = 0; i < n->n; i++)
            gw_sv_add(v, NULL, from_node(n->u.items[i]));
        return v;
    case GW_NODE_INT:
        v = gw_sv_new(&pool, GW_SV_INT);
        v->i = n->v.i;
        return v;
    case GW_NODE_BOOL:
        v = gw_sv_new(&pool, GW_SV_BOOL);
        v->i = n->v.b;
        return v;
    case GW_NODE_NULL:
        return gw_sv_new(&pool, GW_SV_NULL);
    default:
        v = gw_sv_new(&pool, GW_SV_STR);
        v->s = gw_arena_strdup(&arena, n->text);
        return v;
    }
}

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
    struct gw_sv *v = from_node(docs.v[0].root);
    gw_diags_release(&diags);
    gw_docs_release(&docs);
    return v;
}

static char *
json(const struct gw_sv *v)
{
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    gw_sv_format_json(v, &b);
    char *s = gw_arena_strdup(&arena, b.p);
    gw_buf_release(&b);
    return s;
}

static bool
same(const struct gw_sv *got, const char *want, const char *what)
{
    struct gw_sv *w = sv(want);
    bool eq = gw_sv_equal(got, w);
    ok(eq, "%s", what);
    if (!eq)
        diag("got %s\nwant %s", json(got), json(w));
    return eq;
}

#define P   "1970-01-01T00:00:00Z"
#define OLD "2020-01-01T00:00:00Z"
#define NOW "2026-12-07T05:00:00Z"

static void
test_conditions(void)
{
    struct gw_sv *d =
        sv("{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" P "'},"
           "{'type':'Programmed','status':'False','lastTransitionTime':'" P "'},"
           "{'type':'New','status':'True','lastTransitionTime':'" P "'}]}");
    char *before = json(d);
    struct gw_sv *prev =
        sv("{'conditions':[{'type':'Programmed','status':'True','lastTransitionTime':'" OLD "'},"
           "{'type':'Accepted','status':'True','lastTransitionTime':'" OLD "'}]}");
    struct gw_sv *got = gw_status_times_carry(&pool, d, prev, NOW);
    same(got,
         "{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" OLD "'},"
         "{'type':'Programmed','status':'False','lastTransitionTime':'" NOW "'},"
         "{'type':'New','status':'True','lastTransitionTime':'" NOW "'}]}",
         "same type+status keeps the time, changed status or new type gets now");
    is_str(json(d), before, "desired is not written");
    same(gw_status_times_carry(&pool, d, NULL, NOW),
         "{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" NOW "'},"
         "{'type':'Programmed','status':'False','lastTransitionTime':'" NOW "'},"
         "{'type':'New','status':'True','lastTransitionTime':'" NOW "'}]}",
         "no previous status: every condition gets now");
    same(gw_status_times_carry(&pool, sv("{'conditions':[{'type':'A','status':'True'}]}"), NULL,
                               NOW),
         "{'conditions':[{'type':'A','status':'True','lastTransitionTime':'" NOW "'}]}",
         "a condition without a time gets one");
    ok(gw_status_times_carry(&pool, NULL, prev, NOW) == NULL, "NULL desired: NULL");
}

static void
test_listeners(void)
{
    struct gw_sv *d =
        sv("{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" P
           "'}],'listeners':["
           "{'name':'a','attachedRoutes':1,'conditions':[{'type':'Accepted','status':"
           "'True','lastTransitionTime':'" P "'}]},"
           "{'name':'b','attachedRoutes':0,'conditions':[{'type':'Accepted','status':"
           "'True','lastTransitionTime':'" P "'}]}]}");
    struct gw_sv *prev = sv("{'listeners':["
                            "{'name':'b','conditions':[{'type':'Accepted','status':'True',"
                            "'lastTransitionTime':'" OLD "'}]},"
                            "{'name':'c','conditions':[{'type':'Accepted','status':'True',"
                            "'lastTransitionTime':'" OLD "'}]}],"
                            "'conditions':[{'type':'Accepted','status':'True',"
                            "'lastTransitionTime':'" OLD "'}]}");
    same(gw_status_times_carry(&pool, d, prev, NOW),
         "{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" OLD
         "'}],'listeners':["
         "{'name':'a','attachedRoutes':1,'conditions':[{'type':'Accepted','status':'True',"
         "'lastTransitionTime':'" NOW "'}]},"
         "{'name':'b','attachedRoutes':0,'conditions':[{'type':'Accepted','status':'True',"
         "'lastTransitionTime':'" OLD "'}]}]}",
         "listeners matched by name, in any order");
}

static void
test_parents(void)
{
    const char *c =
        "'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" P "'}]";
    char *d_json = gw_arena_sprintf(
        &arena,
        "{'parents':["
        "{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway','namespace':'ns',"
        "'name':'gw','sectionName':'http'},'controllerName':'me',%s},"
        "{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway','name':'gw','port':"
        "80},'controllerName':'me',%s},"
        "{'parentRef':{'group':'gateway.networking.k8s.io','kind':'Gateway','name':'gw2'},"
        "'controllerName':'me',%s}]}",
        c, c, c);
    struct gw_sv *d = sv(d_json);
    const char *o =
        "'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" OLD "'}]";
    char *p_json = gw_arena_sprintf(
        &arena,
        "{'parents':["
        "{'parentRef':{'namespace':'ns','name':'gw','sectionName':'http'},'controllerName':'me',"
        "%s},"
        "{'parentRef':{'name':'gw','port':81},'controllerName':'me',%s},"
        "{'parentRef':{'name':'gw2'},'controllerName':'other',%s}]}",
        o, o, o);
    struct gw_sv *got = gw_status_times_carry(&pool, d, sv(p_json), NOW);
    const struct gw_sv *parents = gw_sv_get(got, "parents");
    ok(parents && parents->n == 3, "three parents");
    const char *want[] = {OLD, NOW, NOW};
    const char *why[] = {"same ref (defaults applied) keeps the time", "another port is new",
                         "another controller's entry is not ours"};
    size_t i = 0;
    for (const struct gw_sv *e = parents ? parents->child : NULL; e && i < 3; e = e->next, i++) {
        const struct gw_sv *cond = gw_sv_get(e, "conditions")->child;
        is_str(gw_sv_get(cond, "lastTransitionTime")->s, want[i], "%s", why[i]);
    }

    struct gw_sv *a = sv("{'ancestors':[{'ancestorRef':{'group':'gateway.networking.k8s.io','kind':"
                         "'Gateway','namespace':'ns','name':'gw'},'controllerName':'me',"
                         "'conditions':[{'type':'Accepted','status':'False','reason':'Conflicted',"
                         "'lastTransitionTime':'" P "'}]}]}");
    struct gw_sv *ap = sv("{'ancestors':[{'ancestorRef':{'namespace':'ns','name':'gw'},"
                          "'controllerName':'me','conditions':[{'type':'Accepted','status':"
                          "'False','reason':'Invalid','lastTransitionTime':'" OLD "'}]}]}");
    got = gw_status_times_carry(&pool, a, ap, NOW);
    const struct gw_sv *cond = gw_sv_get(gw_sv_get(got, "ancestors")->child, "conditions")->child;
    is_str(gw_sv_get(cond, "lastTransitionTime")->s, OLD,
           "ancestors matched by ref; a changed reason keeps the time");
    is_str(gw_sv_get(cond, "reason")->s, "Conflicted", "the reason is desired's");
}

static void
test_shared(void)
{
    /* Translate shares condition subtrees between items: stamping one item
     * must not change the other. */
    struct gw_sv *conds = sv("[{'type':'Accepted','status':'True','lastTransitionTime':'" P "'}]");
    struct gw_sv *d1 = gw_sv_new(&pool, GW_SV_OBJ), *d2 = gw_sv_new(&pool, GW_SV_OBJ);
    d1->child = d1->last = conds;
    d1->n = 1;
    conds->key = "conditions";
    d2->child = d2->last = conds;
    d2->n = 1;
    struct gw_sv *prev =
        sv("{'conditions':[{'type':'Accepted','status':'True','lastTransitionTime':'" OLD "'}]}");
    struct gw_sv *g1 = gw_status_times_carry(&pool, d1, prev, NOW);
    struct gw_sv *g2 = gw_status_times_carry(&pool, d2, NULL, NOW);
    is_str(gw_sv_get(gw_sv_get(g1, "conditions")->child, "lastTransitionTime")->s, OLD, "item 1");
    is_str(gw_sv_get(gw_sv_get(g2, "conditions")->child, "lastTransitionTime")->s, NOW, "item 2");
    is_str(gw_sv_get(conds->child, "lastTransitionTime")->s, P, "shared subtree untouched");
}

/* Statuses borrow the store's strings: the stores live until the end. */
static struct gw_store stores[2];
static struct gw_docs docs_kept[2];

static struct gw_status *
translate(int i, const char *yaml, const char *ltt)
{
    struct gw_docs *docs = &docs_kept[i];
    gw_docs_init(docs);
    struct gw_diags diags;
    gw_diags_init(&diags);
    GW_ASSERT(gw_docs_add_yaml(docs, "t.yaml", yaml, strlen(yaml), &diags) == 0);
    struct gw_store *store = &stores[i];
    gw_store_init(store);
    gw_decode_docs(docs, store, &diags);
    struct gw_status_opts opts = {.transition_time = ltt};
    struct gw_status *st = NULL;
    GW_ASSERT(gw_status_translate(store, &opts, &st, NULL) == 0);
    gw_diags_release(&diags);
    return st;
}

/* A GatewayClass of ours and Gateway ns/gw, up to its listeners. */
#define CLASS_AND_GATEWAY                              \
    "apiVersion: gateway.networking.k8s.io/v1\n"       \
    "kind: GatewayClass\n"                             \
    "metadata: {name: gc}\n"                           \
    "spec: {controllerName: " GW_CONTROLLER_NAME "}\n" \
    "---\n"                                            \
    "apiVersion: gateway.networking.k8s.io/v1\n"       \
    "kind: Gateway\n"                                  \
    "metadata: {name: gw, namespace: ns}\n"            \
    "spec:\n"                                          \
    "  gatewayClassName: gc\n"

static void
test_stamp_status(void)
{
    const char *base = CLASS_AND_GATEWAY "  listeners:\n"
                                         "  - name: http\n"
                                         "    port: 80\n"
                                         "    protocol: HTTP\n";
    struct gw_status *s1 = translate(0, base, NULL);
    gw_status_stamp_times(s1, NULL, OLD);
    const struct gw_status_item *gc = gw_status_find(s1, GW_KIND_GATEWAYCLASS, NULL, "gc");
    ok(gc && gc->status, "GatewayClass has a status");
    if (gc)
        is_str(gw_sv_get(gw_sv_get(gc->status, "conditions")->child, "lastTransitionTime")->s, OLD,
               "first reload: every condition gets now");

    /* The Gateway's listener now conflicts; the class stays accepted. */
    char *changed = gw_arena_sprintf(&arena, "%s    allowedRoutes: {kinds: [{kind: Foo}]}\n", base);
    struct gw_status *s2 = translate(1, changed, NULL);
    gw_status_stamp_times(s2, s1, NOW);
    gw_status_free(s1);
    gc = gw_status_find(s2, GW_KIND_GATEWAYCLASS, NULL, "gc");
    is_str(gw_sv_get(gw_sv_get(gc->status, "conditions")->child, "lastTransitionTime")->s, OLD,
           "unchanged class condition keeps its time (prev freed: time copied)");
    const struct gw_status_item *g = gw_status_find(s2, GW_KIND_GATEWAY, "ns", "gw");
    const struct gw_sv *l = gw_sv_get(g->status, "listeners")->child;
    bool some_now = false;
    for (const struct gw_sv *c = gw_sv_get(l, "conditions")->child; c; c = c->next)
        if (!strcmp(gw_sv_get(c, "lastTransitionTime")->s, NOW))
            some_now = true;
    ok(some_now, "the listener's changed conditions get now");
    bool no_placeholder = !strstr(json(g->status), P);
    ok(no_placeholder, "no placeholder left");
    gw_status_free(s2);
    for (int i = 0; i < 2; i++) {
        gw_store_release(&stores[i]);
        gw_docs_release(&docs_kept[i]);
    }
}

/* Routes whose statuses are equal share one status tree (routes.c), before
 * stamping and after: stamped in place with no earlier status, copied once
 * for all of them with one; a route with another status has its own. */
static void
test_stamp_shared(void)
{
    const char *cfg = CLASS_AND_GATEWAY "  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
                                        "---\n"
                                        "apiVersion: gateway.networking.k8s.io/v1\n"
                                        "kind: HTTPRoute\n"
                                        "metadata: {name: a, namespace: ns}\n"
                                        "spec: {parentRefs: [{name: gw}]}\n"
                                        "---\n"
                                        "apiVersion: gateway.networking.k8s.io/v1\n"
                                        "kind: HTTPRoute\n"
                                        "metadata: {name: b, namespace: ns}\n"
                                        "spec: {parentRefs: [{name: gw}]}\n"
                                        "---\n"
                                        "apiVersion: gateway.networking.k8s.io/v1\n"
                                        "kind: HTTPRoute\n"
                                        "metadata: {name: c, namespace: ns}\n"
                                        "spec: {parentRefs: [{name: gw, sectionName: nope}]}\n";
    const struct gw_sv *ca[2], *cb[2];
    struct gw_status *st[2];
    for (int i = 0; i < 2; i++) {
        st[i] = translate(i, cfg, NULL);
        gw_status_stamp_times(st[i], i ? st[0] : NULL, i ? NOW : OLD);
        const struct gw_status_item *a = gw_status_find(st[i], GW_KIND_HTTPROUTE, "ns", "a");
        const struct gw_status_item *b = gw_status_find(st[i], GW_KIND_HTTPROUTE, "ns", "b");
        const struct gw_status_item *c = gw_status_find(st[i], GW_KIND_HTTPROUTE, "ns", "c");
        GW_ASSERT(a && b && c && a->status && b->status && c->status);
        ca[i] = gw_sv_get(gw_sv_get(a->status, "parents")->child, "conditions")->child;
        cb[i] = gw_sv_get(gw_sv_get(b->status, "parents")->child, "conditions")->child;
        is_str(gw_sv_get(ca[i], "lastTransitionTime")->s, OLD,
               i ? "reload: unchanged condition keeps its time" : "first: now");
        is_str(gw_sv_get(cb[i], "lastTransitionTime")->s, OLD, "the other route's too");
        ok(a->status == b->status, i ? "reload: one stamped copy, shared" : "one tree, shared");
        ok(ca[i] == cb[i], "so are their conditions");
        ok(c->status != a->status, "another status is not shared");
        const struct gw_sv *cc = gw_sv_get(gw_sv_get(c->status, "parents")->child, "conditions");
        is_str(gw_sv_get(cc->child, "lastTransitionTime")->s, OLD, "and is stamped");
        ok(!strstr(json(a->status), P) && !strstr(json(c->status), P), "no placeholder left");
    }
    gw_status_free(st[0]);
    gw_status_free(st[1]);
    for (int i = 0; i < 2; i++) {
        gw_store_release(&stores[i]);
        gw_docs_release(&docs_kept[i]);
    }
}

static void
test_format(void)
{
    char buf[GW_STATUS_TIME_LEN];
    is_str(gw_status_time_format(0, buf), "1970-01-01T00:00:00Z", "epoch");
    is_str(gw_status_time_format(1796619600, buf), "2026-12-07T05:00:00Z", "a date");
}

int
main(void)
{
    gw_arena_init(&arena, 0);
    gw_sv_pool_init(&pool, &arena);
    test_conditions();
    test_listeners();
    test_parents();
    test_shared();
    test_stamp_status();
    test_stamp_shared();
    test_format();
    gw_arena_release(&arena);
    return done_testing();
}
