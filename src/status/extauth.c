/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: ExtAuthPolicy (gatehouse.dev/v1alpha1), attached by attach.c
 * like the authentication policies: a request's rule takes the policy of
 * the most specific level that has one (rule, route, listener, Gateway).
 * The authorization service is a backendRef to a Service port, resolved by
 * refs.c as a route's is (endpoints, BackendTLSPolicy); crossing a
 * namespace needs a ReferenceGrant from gatehouse.dev ExtAuthPolicy. A
 * reference that does not resolve makes the policy Accepted=False,
 * Invalid; like the authentication policies it still takes its targets
 * and fails closed (500) rather than leave them unguarded.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

static const char *
lower(struct tr *t, const char *s)
{
    char *h = gw_arena_strdup(&t->ir->arena, s);
    for (char *c = h; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    return h;
}

static const char **
lowers(struct tr *t, const char *const *v, size_t n)
{
    const char **o = gw_arena_alloc(&t->ir->arena, (n + 1) * sizeof(*o));
    for (size_t i = 0; i < n; i++)
        o[i] = lower(t, v[i]);
    return o;
}

static struct gw_ir_extauth *
compile(struct tr *t, const struct gw_extauthpolicy *p, const char **why)
{
    struct gw_arena *a = &t->ir->arena;
    struct gw_ir_extauth *e = gw_arena_alloc(a, sizeof(*e));
    e->policy = TR_CAT(a, p->meta.ns, "/", p->meta.name);
    e->path_prefix = gw_arena_strdup(a, p->spec.http.path_prefix ? p->spec.http.path_prefix : "");
    e->to_auth = lowers(t, p->spec.http.headers_to_auth.v, p->spec.http.headers_to_auth.n);
    e->nto_auth = p->spec.http.headers_to_auth.n;
    e->from_auth = lowers(t, p->spec.http.headers_from_auth.v, p->spec.http.headers_from_auth.n);
    e->nfrom_auth = p->spec.http.headers_from_auth.n;
    e->max_body = p->spec.http.include_body ? (uint32_t)p->spec.http.include_body->max_bytes : 0;
    e->timeout_ms = p->spec.timeout_ms > 0 ? (uint32_t)p->spec.timeout_ms : 200;
    e->fail_open = p->spec.failure_mode == GW_FAILMODE_OPEN;
    struct gw_ir_backend *be = gw_arena_alloc(a, sizeof(*be));
    const char *msg = NULL;
    const char *reason = tr_backend(t, &p->meta, &p->spec.http.backend_ref, false, be, &msg);
    e->backend = be;
    if (!reason && be->app == GW_IR_APP_H2C) {
        reason = "UnsupportedProtocol";
        msg = tr_printf(t, "backendRef %s: the authorization service is asked over HTTP/1.1",
                        be->name);
    }
    if (reason || be->invalid) {
        *why = reason ? msg : tr_printf(t, "backendRef %s: invalid BackendTLSPolicy", be->name);
        e->invalid = true;
    }
    return e;
}

void
tr_extauths(struct tr *t)
{
    if (!gw_store_count(t->store, GW_KIND_EXTAUTHPOLICY))
        return;
    /* k[0]: for the status; k[1]: the lookups, Invalid verdicts cleared
     * (tr_attach_winner skips invalid policies, and these fail closed). */
    struct tr_att_kind *k = gw_arena_alloc(&t->tmp, 2 * sizeof(*k));
    tr_attach_collect(t, GW_KIND_EXTAUTHPOLICY, k);
    k[1] = k[0];
    k[1].v = gw_arena_alloc(&t->tmp, (k->n + 1) * sizeof(*k[1].v));
    for (size_t i = 0; i < k->n; i++) {
        struct tr_att_policy *q = &k->v[i];
        const char *why = NULL;
        struct gw_ir_extauth *e = compile(t, (const void *)q->m, &why);
        if (why)
            q->invalid = tr_printf(t, "%s; the requests it covers are answered 500", why);
        for (size_t j = 0; j < q->ntargets; j++)
            q->targets[j].ir = e;
        k[1].v[i] = *q;
        k[1].v[i].invalid = NULL;
    }
    t->eap = k;
}

static const void *
winner(struct tr_att_kind *k, const struct tr_att_where *w)
{
    struct tr_att_target *x = k ? tr_attach_winner(&k[1], w) : NULL;
    return x ? x->ir : NULL;
}

void
tr_extauth_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r)
{
    if (!t->eap)
        return;
    const void *v =
        winner(t->eap, &(struct tr_att_where){.level = TR_AT_RULE, .rt = rt, .rule = rule});
    r->extauth = v ? v : winner(t->eap, &(struct tr_att_where){.level = TR_AT_ROUTE, .rt = rt});
}

void
tr_extauth_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes, size_t nroutes)
{
    if (!t->eap)
        return;
    const struct gw_ir_extauth *e =
        li->ls ? NULL : winner(t->eap, &(struct tr_att_where){.level = TR_AT_LISTENER, .li = li});
    if (!e)
        e = winner(t->eap, &(struct tr_att_where){.level = TR_AT_GATEWAY, .gw = li->gw});
    for (size_t i = 0; e && i < nroutes; i++)
        if (!routes[i].extauth)
            routes[i].extauth = e;
}

void
tr_extauth_status(struct tr *t)
{
    if (t->eap)
        tr_attach_status(t, t->eap);
}
