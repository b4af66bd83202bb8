/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: policy attachment (GEP-713) for gatehouse.dev policy kinds, one
 * implementation for all of them. Each targetRef is resolved to a level: a
 * Gateway, a listener of it (sectionName), an HTTPRoute or GRPCRoute, a
 * named rule of it (sectionName), a Service, or a port of it (sectionName:
 * the port's name). Among policies of one kind naming the same target the
 * oldest wins and the others are Conflicted there; a consumer asks for the
 * winner of a level (tr_attach_winner) and walks from the most specific
 * level to the least. Targets gatehouse does not own get no status; targets
 * that do not exist are TargetNotFound. Status goes to status.ancestors:
 * the targeted Gateway, the Gateways a targeted route is attached to, or
 * the Gateways whose routes use a targeted Service.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

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
    } else if (r->kind == GW_KIND_GRPCROUTE) {
        const struct gw_grpcroute *g = (const void *)r->m;
        for (size_t i = 0; i < g->spec.rules.n; i++)
            if (g->spec.rules.v[i].name && !strcmp(g->spec.rules.v[i].name, name))
                return (int64_t)i;
    }
    return -1;
}

static void
not_found(struct tr_att_target *x, const char *msg)
{
    x->reason = "TargetNotFound";
    x->msg = msg;
}

static void
resolve(struct tr *t, const struct gw_meta *m, struct tr_att_target *x)
{
    const struct gw_policy_target_ref *r = x->ref;
    const char *ns = m->ns, *sec = r->section_name;
    if (!strcmp(r->kind, "Gateway")) {
        x->level = sec ? TR_AT_LISTENER : TR_AT_GATEWAY;
        x->gw = tr_find_gateway(t, ns, r->name);
        if (!x->gw) {
            x->foreign = gw_store_gateway(t->store, ns, r->name) != NULL;
            not_found(x, tr_printf(t, "Gateway %s/%s not found", ns, r->name));
            return;
        }
        for (size_t i = 0; sec && i < x->gw->nown; i++)
            if (!strcmp(x->gw->lis[i].l->name, sec))
                x->li = &x->gw->lis[i];
        if (sec && !x->li)
            not_found(x, tr_printf(t, "Gateway %s/%s has no listener %s", ns, r->name, sec));
        return;
    }
    if (!strcmp(r->kind, "Service")) {
        x->level = sec ? TR_AT_SERVICE_PORT : TR_AT_SERVICE;
        x->svc = gw_store_service(t->store, ns, r->name);
        if (!x->svc) {
            not_found(x, tr_printf(t, "Service %s/%s not found", ns, r->name));
            return;
        }
        if (!sec)
            return;
        for (size_t i = 0; i < x->svc->spec.ports.n; i++)
            if (x->svc->spec.ports.v[i].name && !strcmp(x->svc->spec.ports.v[i].name, sec))
                x->port = x->svc->spec.ports.v[i].port;
        if (!x->port)
            not_found(x, tr_printf(t, "Service %s/%s has no port named %s", ns, r->name, sec));
        return;
    }
    x->level = sec ? TR_AT_RULE : TR_AT_ROUTE;
    x->rt = find_route(t, r->kind, ns, r->name);
    if (!x->rt) {
        enum gw_kind k;
        x->foreign = gw_kind_from_name(r->kind, &k) == 0 && gw_store_get(t->store, k, ns, r->name);
        not_found(x, tr_printf(t, "%s %s/%s not found", r->kind, ns, r->name));
        return;
    }
    int64_t i = sec ? rule_named(x->rt, sec) : 0;
    if (i < 0) {
        not_found(x, tr_printf(t, "%s %s/%s has no rule named %s", r->kind, ns, r->name, sec));
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
tr_attach_collect(struct tr *t, enum gw_kind kind, struct tr_att_kind *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    size_t n;
    const struct gw_meta *const *v = gw_store_list(t->store, kind, &n);
    if (!n)
        return;
    out->v = gw_arena_alloc(&t->tmp, n * sizeof(*out->v));
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        struct tr_att_policy *q = &out->v[i];
        q->m = v[i];
        size_t nrefs;
        const struct gw_policy_target_ref *refs = gw_policy_target_refs(v[i], &nrefs);
        q->ntargets = nrefs;
        q->targets = gw_arena_alloc(&t->tmp, (nrefs + 1) * sizeof(*q->targets));
        for (size_t k = 0; k < nrefs; k++) {
            q->targets[k].ref = &refs[k];
            q->targets[k].policy = q;
            resolve(t, q->m, &q->targets[k]);
        }
    }
    /* Conflicts: a target that an older policy of the namespace also
     * names (kind, name, sectionName) is the older one's. */
    for (size_t i = 0; i < n; i++) {
        struct tr_att_policy *q = &out->v[i];
        for (size_t k = 0; k < q->ntargets; k++) {
            struct tr_att_target *x = &q->targets[k];
            for (size_t j = 0; j < n && !x->reason; j++) {
                const struct tr_att_policy *o = &out->v[j];
                if (o == q || strcmp(o->m->ns, q->m->ns) || !older(o->m, q->m))
                    continue;
                for (size_t m = 0; m < o->ntargets; m++)
                    if (!o->targets[m].foreign && same_target(o->targets[m].ref, x->ref)) {
                        x->reason = "Conflicted";
                        x->msg = tr_printf(t, "%s %s/%s, older, already targets %s %s%s%s",
                                           gw_kind_name(kind), o->m->ns, o->m->name, x->ref->kind,
                                           x->ref->name, x->ref->section_name ? " section " : "",
                                           x->ref->section_name ? x->ref->section_name : "");
                        break;
                    }
            }
        }
    }
}

struct tr_att_target *
tr_attach_winner(struct tr_att_kind *k, const struct tr_att_where *at)
{
    struct tr_att_target *best = NULL;
    for (size_t i = 0; i < k->n; i++) {
        struct tr_att_policy *q = &k->v[i];
        if (q->invalid)
            continue;
        for (size_t j = 0; j < q->ntargets; j++) {
            struct tr_att_target *x = &q->targets[j];
            if (x->reason || x->level != at->level)
                continue;
            bool hit;
            switch (at->level) {
            case TR_AT_GATEWAY:
                hit = x->gw == at->gw;
                break;
            case TR_AT_LISTENER:
                hit = x->li == at->li;
                break;
            case TR_AT_ROUTE:
                hit = x->rt == at->rt;
                break;
            case TR_AT_RULE:
                hit = x->rt == at->rt && x->rule == at->rule;
                break;
            case TR_AT_SERVICE:
                hit = x->svc == at->svc;
                break;
            default:
                hit = x->svc == at->svc && x->port == at->port;
                break;
            }
            if (hit && (!best || older(q->m, best->policy->m)))
                best = x;
        }
    }
    return best;
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

/* Adds gateway g to the ancestors found so far (with x's verdict). */
static void
add_gw(const struct gws **gws, const char **why, const char **msg, size_t *ng, const struct gws *g,
       const struct tr_att_target *x, const struct tr_att_policy *q)
{
    size_t j = 0;
    while (j < *ng && gws[j] != g)
        j++;
    if (j == *ng) {
        gws[j] = g;
        why[j] = msg[j] = NULL;
        (*ng)++;
    }
    const char *reason = q->invalid ? "Invalid" : x->reason;
    if (reason && !why[j]) {
        why[j] = reason;
        msg[j] = q->invalid ? q->invalid : x->msg;
    }
}

void
tr_attach_status(struct tr *t, const struct tr_att_kind *k)
{
    for (size_t i = 0; i < k->n; i++) {
        const struct tr_att_policy *q = &k->v[i];
        int64_t gen = q->m->generation;
        /* One entry per Gateway (the first problem of its targets, else
         * Accepted), then one per target that names nothing of ours. */
        const struct gws **gws = gw_arena_alloc(&t->tmp, (t->ngws + 1) * sizeof(*gws));
        const char **why = gw_arena_alloc(&t->tmp, (t->ngws + 1) * sizeof(*why));
        const char **msg = gw_arena_alloc(&t->tmp, (t->ngws + 1) * sizeof(*msg));
        size_t ng = 0;
        bool any = false;
        for (size_t j = 0; j < q->ntargets; j++) {
            const struct tr_att_target *x = &q->targets[j];
            if (x->foreign)
                continue;
            if (x->gw) {
                any = true;
                add_gw(gws, why, msg, &ng, x->gw, x, q);
            } else if (x->rt) {
                any = true;
                for (size_t g = 0; g < x->rt->ngws; g++)
                    add_gw(gws, why, msg, &ng, x->rt->gws[g], x, q);
            } else if (x->svc) {
                /* Gateways whose routes use the Service: none, no word. */
                for (size_t g = 0; g < t->ngws; g++)
                    for (size_t r = 0; r < t->nrts; r++) {
                        const struct rt *rt = t->rts[r];
                        bool on = false;
                        for (size_t m = 0; m < rt->ngws && !on; m++)
                            on = rt->gws[m] == &t->gws[g];
                        if (on && tr_route_uses_service(rt, q->m->ns, x->ref->name)) {
                            any = true;
                            add_gw(gws, why, msg, &ng, &t->gws[g], x, q);
                            break;
                        }
                    }
            } else {
                any = true;
            }
        }
        if (!any)
            continue;
        struct gw_status_item *it = tr_item(t, q->m);
        struct gw_sv *arr = gw_sv_add_arr(&t->sv, it->status, "ancestors");
        for (size_t j = 0; j < ng; j++) {
            ancestor(t, arr, GW_GROUP_GATEWAY, "Gateway", gws[j]->g->meta.ns, gws[j]->g->meta.name,
                     why[j], msg[j], gen);
            it->not_ready = it->not_ready || why[j];
        }
        for (size_t j = 0; j < q->ntargets; j++) {
            const struct tr_att_target *x = &q->targets[j];
            if (x->foreign || x->gw || x->rt || x->svc)
                continue;
            ancestor(t, arr, x->ref->group, x->ref->kind, q->m->ns, x->ref->name,
                     q->invalid ? "Invalid" : x->reason, q->invalid ? q->invalid : x->msg, gen);
            it->not_ready = true;
        }
    }
}
