/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: RateLimitPolicy (gatehouse.dev/v1alpha1), attached as GEP-713
 * describes. Each targetRef is resolved to one of four levels: a Gateway, a
 * listener of it (sectionName), an HTTPRoute or GRPCRoute, a named rule of
 * it (sectionName). Among policies naming the same target the oldest wins
 * and the others are Conflicted there; a request's rule takes the limits of
 * the most specific level that has a winner (rule, route, listener,
 * Gateway). Targets gatehouse does not own get no status; targets that do
 * not exist are TargetNotFound. Status goes to status.ancestors: the
 * targeted Gateway, or the Gateways a targeted route is attached to.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

enum level { L_GATEWAY, L_LISTENER, L_ROUTE, L_RULE };

struct rl_target {
    const struct gw_policy_target_ref *ref;
    enum level level;
    bool foreign;               /* exists, not ours: no word about it */
    const char *reason, *msg;   /* NULL: accepted here */
    const struct gws *gw;       /* L_GATEWAY, L_LISTENER */
    const struct lis *li;       /* L_LISTENER */
    const struct rt *rt;        /* L_ROUTE, L_RULE */
    size_t rule;                /* L_RULE */
    struct gw_ir_ratelimit *ir; /* made on first use (one per limit) */
};

struct tr_rlp {
    const struct gw_ratelimitpolicy *p;
    struct rl_target *targets;
    size_t ntargets;
};

static bool
older(const struct gw_meta *a, const struct gw_meta *b)
{
    if (a->creation_ms != b->creation_ms)
        return a->creation_ms < b->creation_ms;
    int c = strcmp(a->ns, b->ns);
    return c ? c < 0 : strcmp(a->name, b->name) < 0;
}

static bool
streq_null(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static const struct rt *
find_route(const struct tr *t, const char *kind, const char *ns, const char *name)
{
    for (size_t i = 0; i < t->nrts; i++) {
        const struct rt *r = t->rts[i];
        if (!strcmp(gw_kind_name(r->kind), kind) && !strcmp(r->m->ns, ns) &&
            !strcmp(r->m->name, name))
            return r;
    }
    return NULL;
}

/* Index of the rule named name, or -1. */
static int64_t
rule_named(const struct rt *r, const char *name)
{
    if (r->kind == GW_KIND_HTTPROUTE) {
        const struct gw_httproute *h = (const void *)r->m;
        for (size_t i = 0; i < h->spec.rules.n; i++)
            if (h->spec.rules.v[i].name && !strcmp(h->spec.rules.v[i].name, name))
                return (int64_t)i;
    } else {
        const struct gw_grpcroute *g = (const void *)r->m;
        for (size_t i = 0; i < g->spec.rules.n; i++)
            if (g->spec.rules.v[i].name && !strcmp(g->spec.rules.v[i].name, name))
                return (int64_t)i;
    }
    return -1;
}

static void
resolve(struct tr *t, const struct gw_ratelimitpolicy *p, struct rl_target *x)
{
    const struct gw_policy_target_ref *r = x->ref;
    const char *ns = p->meta.ns;
    if (!strcmp(r->kind, "Gateway")) {
        x->level = r->section_name ? L_LISTENER : L_GATEWAY;
        x->gw = tr_find_gateway(t, ns, r->name);
        if (!x->gw) {
            if (gw_store_gateway(t->store, ns, r->name))
                x->foreign = true;
            x->reason = "TargetNotFound";
            x->msg = tr_printf(t, "Gateway %s/%s not found", ns, r->name);
            return;
        }
        if (!r->section_name)
            return;
        for (size_t i = 0; i < x->gw->nown; i++)
            if (!strcmp(x->gw->lis[i].l->name, r->section_name))
                x->li = &x->gw->lis[i];
        if (!x->li) {
            x->reason = "TargetNotFound";
            x->msg = tr_printf(t, "Gateway %s/%s has no listener %s", ns, r->name, r->section_name);
        }
        return;
    }
    x->level = r->section_name ? L_RULE : L_ROUTE;
    x->rt = find_route(t, r->kind, ns, r->name);
    if (!x->rt) {
        enum gw_kind k = strcmp(r->kind, "HTTPRoute") ? GW_KIND_GRPCROUTE : GW_KIND_HTTPROUTE;
        if (gw_store_get(t->store, k, ns, r->name))
            x->foreign = true;
        x->reason = "TargetNotFound";
        x->msg = tr_printf(t, "%s %s/%s not found", r->kind, ns, r->name);
        return;
    }
    if (!r->section_name)
        return;
    int64_t i = rule_named(x->rt, r->section_name);
    if (i < 0) {
        x->reason = "TargetNotFound";
        x->msg =
            tr_printf(t, "%s %s/%s has no rule named %s", r->kind, ns, r->name, r->section_name);
        return;
    }
    x->rule = (size_t)i;
}

static bool
same_target(const struct gw_policy_target_ref *a, const struct gw_policy_target_ref *b)
{
    return !strcmp(a->kind, b->kind) && !strcmp(a->name, b->name) &&
           streq_null(a->section_name, b->section_name);
}

void
tr_ratelimits(struct tr *t)
{
    size_t n;
    const struct gw_meta *const *v = gw_store_list(t->store, GW_KIND_RATELIMITPOLICY, &n);
    if (!n)
        return;
    t->rlps = gw_arena_alloc(&t->tmp, n * sizeof(*t->rlps));
    t->nrlps = n;
    for (size_t i = 0; i < n; i++) {
        struct tr_rlp *q = &t->rlps[i];
        q->p = (const void *)v[i];
        q->ntargets = q->p->spec.target_refs.n;
        q->targets = gw_arena_alloc(&t->tmp, (q->ntargets + 1) * sizeof(*q->targets));
        for (size_t k = 0; k < q->ntargets; k++) {
            q->targets[k].ref = &q->p->spec.target_refs.v[k];
            resolve(t, q->p, &q->targets[k]);
        }
    }
    /* Conflicts: a target that an older policy of the namespace also
     * names (kind, name, sectionName) is the older one's. */
    for (size_t i = 0; i < n; i++) {
        struct tr_rlp *q = &t->rlps[i];
        for (size_t k = 0; k < q->ntargets; k++) {
            struct rl_target *x = &q->targets[k];
            if (x->reason)
                continue;
            for (size_t j = 0; j < n && !x->reason; j++) {
                const struct tr_rlp *o = &t->rlps[j];
                if (o == q || strcmp(o->p->meta.ns, q->p->meta.ns) ||
                    !older(&o->p->meta, &q->p->meta))
                    continue;
                for (size_t m = 0; m < o->ntargets; m++)
                    if (!o->targets[m].foreign && same_target(o->targets[m].ref, x->ref)) {
                        x->reason = "Conflicted";
                        x->msg =
                            tr_printf(t, "RateLimitPolicy %s/%s, older, already targets %s %s%s%s",
                                      o->p->meta.ns, o->p->meta.name, x->ref->kind, x->ref->name,
                                      x->ref->section_name ? " section " : "",
                                      x->ref->section_name ? x->ref->section_name : "");
                        break;
                    }
            }
        }
    }
}

static struct gw_ir_ratelimit *
target_ir(struct tr *t, const struct tr_rlp *q, struct rl_target *x, size_t *n)
{
    const struct gw_ratelimitpolicy *p = q->p;
    *n = p->spec.limits.n;
    if (x->ir)
        return x->ir;
    x->ir = gw_arena_alloc(&t->ir->arena, (*n + 1) * sizeof(*x->ir));
    const char *policy = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
    for (size_t i = 0; i < *n; i++) {
        const struct gw_ratelimit *l = &p->spec.limits.v[i];
        struct gw_ir_ratelimit *o = &x->ir[i];
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
        o->id = UINT32_MAX;
    }
    return x->ir;
}

/* The winning (oldest accepted) target of a level that matches, or NULL. */
static struct gw_ir_ratelimit *
winner(struct tr *t, enum level level, const struct gws *gw, const struct lis *li,
       const struct rt *rt, size_t rule, size_t *n)
{
    const struct tr_rlp *bq = NULL;
    struct rl_target *best = NULL;
    for (size_t i = 0; i < t->nrlps; i++) {
        const struct tr_rlp *q = &t->rlps[i];
        for (size_t k = 0; k < q->ntargets; k++) {
            struct rl_target *x = &q->targets[k];
            if (x->reason || x->level != level)
                continue;
            bool hit = level == L_GATEWAY    ? x->gw == gw
                       : level == L_LISTENER ? x->li == li
                       : level == L_ROUTE    ? x->rt == rt
                                             : x->rt == rt && x->rule == rule;
            if (hit && (!best || older(&q->p->meta, &bq->p->meta))) {
                best = x;
                bq = q;
            }
        }
    }
    return best ? target_ir(t, bq, best, n) : NULL;
}

void
tr_ratelimit_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r)
{
    if (!t->nrlps)
        return;
    size_t n = 0;
    struct gw_ir_ratelimit *v = winner(t, L_RULE, NULL, NULL, rt, rule, &n);
    if (!v)
        v = winner(t, L_ROUTE, NULL, NULL, rt, rule, &n);
    if (v) {
        r->ratelimits = v;
        r->nratelimits = n;
    }
}

void
tr_ratelimit_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes,
                      size_t nroutes)
{
    if (!t->nrlps)
        return;
    size_t n = 0;
    struct gw_ir_ratelimit *v = li->ls ? NULL : winner(t, L_LISTENER, NULL, li, NULL, 0, &n);
    if (!v)
        v = winner(t, L_GATEWAY, li->gw, NULL, NULL, 0, &n);
    if (!v)
        return;
    for (size_t i = 0; i < nroutes; i++)
        if (!routes[i].nratelimits) {
            routes[i].ratelimits = v;
            routes[i].nratelimits = n;
        }
}

static void
ancestor(struct tr *t, struct gw_sv *arr, const char *group, const char *kind, const char *ns,
         const char *name, const char *reason, const char *msg, int64_t gen)
{
    struct gw_sv *e = gw_sv_add_obj(&t->sv, arr, NULL);
    struct gw_sv *ar = gw_sv_add_obj(&t->sv, e, "ancestorRef");
    gw_sv_add_str(&t->sv, ar, "group", group);
    gw_sv_add_str(&t->sv, ar, "kind", kind);
    gw_sv_add_str(&t->sv, ar, "namespace", ns);
    gw_sv_add_str(&t->sv, ar, "name", name);
    gw_sv_add_str(&t->sv, e, "controllerName", t->controller);
    struct gw_sv *c = gw_sv_add_arr(&t->sv, e, "conditions");
    if (reason)
        tr_cond(t, c, "Accepted", false, reason, msg, gen);
    else
        tr_cond(t, c, "Accepted", true, "Accepted", "policy is accepted", gen);
}

void
tr_ratelimit_status(struct tr *t)
{
    for (size_t i = 0; i < t->nrlps; i++) {
        const struct tr_rlp *q = &t->rlps[i];
        int64_t gen = q->p->meta.generation;
        /* One entry per Gateway (the first problem of its targets, else
         * Accepted), then one per target that names nothing of ours. */
        const struct gws **gws = gw_arena_alloc(&t->tmp, (t->ngws + 1) * sizeof(*gws));
        const char **why = gw_arena_alloc(&t->tmp, (t->ngws + 1) * sizeof(*why));
        const char **msg = gw_arena_alloc(&t->tmp, (t->ngws + 1) * sizeof(*msg));
        size_t ng = 0;
        bool any = false;
        for (size_t k = 0; k < q->ntargets; k++) {
            const struct rl_target *x = &q->targets[k];
            if (x->foreign)
                continue;
            any = true;
            const struct gws *one[1];
            const struct gws *const *list = one;
            size_t nl = 0;
            if (x->gw) {
                one[0] = x->gw;
                nl = 1;
            } else if (x->rt) {
                list = (const struct gws *const *)x->rt->gws;
                nl = x->rt->ngws;
            }
            for (size_t g = 0; g < nl; g++) {
                size_t j = 0;
                while (j < ng && gws[j] != list[g])
                    j++;
                if (j == ng) {
                    gws[ng] = list[g];
                    why[ng] = NULL;
                    msg[ng++] = NULL;
                }
                if (x->reason && !why[j]) {
                    why[j] = x->reason;
                    msg[j] = x->msg;
                }
            }
        }
        if (!any)
            continue;
        struct gw_status_item *it = tr_item(t, &q->p->meta);
        struct gw_sv *arr = gw_sv_add_arr(&t->sv, it->status, "ancestors");
        for (size_t j = 0; j < ng; j++) {
            ancestor(t, arr, GW_GROUP_GATEWAY, "Gateway", gws[j]->g->meta.ns, gws[j]->g->meta.name,
                     why[j], msg[j], gen);
            it->not_ready = it->not_ready || why[j];
        }
        for (size_t k = 0; k < q->ntargets; k++) {
            const struct rl_target *x = &q->targets[k];
            if (x->foreign || x->gw || x->rt)
                continue;
            ancestor(t, arr, x->ref->group, x->ref->kind, q->p->meta.ns, x->ref->name, x->reason,
                     x->msg, gen);
            it->not_ready = true;
        }
    }
}
