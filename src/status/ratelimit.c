/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: RateLimitPolicy (gatehouse.dev/v1alpha1), attached by attach.c.
 * A request's rule takes the limits of the most specific level that has a
 * winning policy: the rule, the route, the listener, the Gateway. Each
 * target of a policy gets its own IR limits (its own buckets), shared by
 * every route entry the target covers.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

void
tr_ratelimits(struct tr *t)
{
    if (!gw_store_count(t->store, GW_KIND_RATELIMITPOLICY))
        return;
    t->rlp = gw_arena_alloc(&t->tmp, sizeof(*t->rlp));
    tr_attach_collect(t, GW_KIND_RATELIMITPOLICY, t->rlp);
    if (t->global_rl)
        return;
    /* A Global limit without Redis would silently become per replica: the
     * policy is refused instead, and says why. */
    for (size_t i = 0; i < t->rlp->n; i++) {
        struct tr_att_policy *q = &t->rlp->v[i];
        const struct gw_ratelimitpolicy *p = (const void *)q->m;
        for (size_t k = 0; k < p->spec.limits.n && !q->invalid; k++)
            if (p->spec.limits.v[k].scope == GW_RLSCOPE_GLOBAL)
                q->invalid = tr_printf(t,
                                       "limit %s has scope Global, but this gatehouse runs "
                                       "without Redis (gatehouse run --redis)",
                                       p->spec.limits.v[k].name);
    }
}

static struct gw_ir_ratelimit *
target_ir(struct tr *t, struct tr_att_target *x, size_t *n)
{
    const struct gw_ratelimitpolicy *p = (const void *)x->policy->m;
    *n = p->spec.limits.n;
    if (x->ir)
        return x->ir;
    struct gw_ir_ratelimit *v = gw_arena_alloc(&t->ir->arena, (*n + 1) * sizeof(*v));
    const char *policy = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
    for (size_t i = 0; i < *n; i++) {
        const struct gw_ratelimit *l = &p->spec.limits.v[i];
        struct gw_ir_ratelimit *o = &v[i];
        o->policy = policy;
        o->name = gw_ir_strdup(t->ir, l->name);
        /* The buckets live as long as the policy (uid), its target and the
         * limit's name do: a reload or an edit of the rate keeps them. */
        o->key_id =
            gw_arena_sprintf(&t->ir->arena, "%s/%s/%s|%s/%s/%s|%s", p->meta.ns, p->meta.name,
                             p->meta.uid ? p->meta.uid : "", x->ref->kind, x->ref->name,
                             x->ref->section_name ? x->ref->section_name : "", l->name);
        o->key = l->key.type == GW_RLKEY_CLIENT_ADDRESS ? GW_IR_RL_CLIENT
                 : l->key.type == GW_RLKEY_HEADER       ? GW_IR_RL_HEADER
                                                        : GW_IR_RL_ROUTE;
        if (o->key == GW_IR_RL_HEADER) {
            char *h = gw_arena_strdup(&t->ir->arena, l->key.header);
            for (char *c = h; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
            o->header = h;
        }
        o->requests = (uint32_t)l->requests;
        o->burst = (uint32_t)(l->burst > 0 ? l->burst : l->requests);
        o->interval_ms = l->interval_ms;
        o->global = l->scope == GW_RLSCOPE_GLOBAL;
        o->fail_closed = o->global && l->failure_mode == GW_FAILMODE_CLOSED;
        o->id = UINT32_MAX;
    }
    x->ir = v;
    return v;
}

static struct gw_ir_ratelimit *
at(struct tr *t, const struct tr_att_where *w, size_t *n)
{
    struct tr_att_target *x = tr_attach_winner(t->rlp, w);
    return x ? target_ir(t, x, n) : NULL;
}

void
tr_ratelimit_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r)
{
    if (!t->rlp)
        return;
    size_t n = 0;
    struct gw_ir_ratelimit *v =
        at(t, &(struct tr_att_where){.level = TR_AT_RULE, .rt = rt, .rule = rule}, &n);
    if (!v)
        v = at(t, &(struct tr_att_where){.level = TR_AT_ROUTE, .rt = rt}, &n);
    if (v) {
        r->ratelimits = v;
        r->nratelimits = n;
    }
}

void
tr_ratelimit_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes,
                      size_t nroutes)
{
    if (!t->rlp)
        return;
    size_t n = 0;
    struct gw_ir_ratelimit *v =
        li->ls ? NULL : at(t, &(struct tr_att_where){.level = TR_AT_LISTENER, .li = li}, &n);
    if (!v)
        v = at(t, &(struct tr_att_where){.level = TR_AT_GATEWAY, .gw = li->gw}, &n);
    if (!v)
        return;
    for (size_t i = 0; i < nroutes; i++)
        if (!routes[i].nratelimits) {
            routes[i].ratelimits = v;
            routes[i].nratelimits = n;
        }
}

void
tr_ratelimit_status(struct tr *t)
{
    if (t->rlp)
        tr_attach_status(t, t->rlp);
}
