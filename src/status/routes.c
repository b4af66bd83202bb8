/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: routes. For each parentRef that names a Gateway or ListenerSet
 * of ours: which listeners it attaches to (sectionName, port, listener
 * validity, allowedRoutes kinds and namespaces, hostname intersection), the
 * per-parent Accepted condition with the most telling reason, and the
 * route-wide ResolvedRefs (every backendRef, mirror included, resolved and
 * permitted). Parent entries of other controllers are never written.
 */
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

/* The fields every route kind shares. */
struct view {
    const struct gw_meta *m;
    const struct gw_parent_ref *prefs;
    size_t nprefs;
    const char *const *hosts;
    size_t nhosts;
};

static struct view
view_of(const struct gw_meta *m)
{
    struct view v = {.m = m};
    switch (m->kind) {
    case GW_KIND_HTTPROUTE: {
        const struct gw_httproute *r = (const void *)m;
        v.prefs = r->spec.parent_refs.v;
        v.nprefs = r->spec.parent_refs.n;
        v.hosts = r->spec.hostnames.v;
        v.nhosts = r->spec.hostnames.n;
        break;
    }
    case GW_KIND_GRPCROUTE: {
        const struct gw_grpcroute *r = (const void *)m;
        v.prefs = r->spec.parent_refs.v;
        v.nprefs = r->spec.parent_refs.n;
        v.hosts = r->spec.hostnames.v;
        v.nhosts = r->spec.hostnames.n;
        break;
    }
    default: {
        const struct gw_l4route *r = (const void *)m;
        v.prefs = r->spec.parent_refs.v;
        v.nprefs = r->spec.parent_refs.n;
        v.hosts = r->spec.hostnames.v;
        v.nhosts = m->kind == GW_KIND_TLSROUTE ? r->spec.hostnames.n : 0;
        break;
    }
    }
    return v;
}

/* First failure wins; keeps going so every backend is compiled. */
static void
check_ref(struct tr *t, struct rt *r, const struct gw_backend_ref *ref, bool grpc,
          struct gw_ir_backend *out)
{
    struct gw_ir_backend scratch;
    const char *msg = NULL;
    const char *reason = tr_backend(t, r->m, ref, grpc, out ? out : &scratch, &msg);
    if (reason && r->resolved) {
        r->resolved = false;
        r->rr_reason = reason;
        r->rr_msg = msg;
    }
}

static void
check_filters(struct tr *t, struct rt *r, const struct gw_http_filter *f, size_t n, bool grpc)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].type == GW_FILTER_MIRROR && f[i].request_mirror)
            check_ref(t, r, &f[i].request_mirror->backend_ref, grpc, NULL);
        /* gatehouse has no extension filters: the reference cannot resolve,
         * and the rule answers 500 rather than skip the filter. */
        if (f[i].type == GW_FILTER_EXTENSION_REF && r->resolved) {
            const struct gw_object_ref *x = f[i].extension_ref;
            r->resolved = false;
            r->rr_reason = "InvalidKind";
            r->rr_msg = tr_printf(t, "extensionRef %s %s: no such filter kind is supported",
                                  x && x->kind ? x->kind : "", x && x->name ? x->name : "");
        }
    }
}

/* ResolvedRefs for the whole route, and the per-rule backends of the IR. */
static void
resolve(struct tr *t, struct rt *r)
{
    r->resolved = true;
    if (r->kind == GW_KIND_HTTPROUTE || r->kind == GW_KIND_GRPCROUTE) {
        bool grpc = r->kind == GW_KIND_GRPCROUTE;
        size_t nrules = grpc ? ((const struct gw_grpcroute *)(const void *)r->m)->spec.rules.n
                             : ((const struct gw_httproute *)(const void *)r->m)->spec.rules.n;
        r->rule_backends = gw_arena_alloc(&t->tmp, (nrules + 1) * sizeof(*r->rule_backends));
        r->rule_nbackends = gw_arena_alloc(&t->tmp, (nrules + 1) * sizeof(size_t));
        for (size_t i = 0; i < nrules; i++) {
            const struct gw_backend_ref *refs;
            size_t nrefs;
            const struct gw_http_filter *filters;
            size_t nfilters;
            if (grpc) {
                const struct gw_grpc_rule *rule =
                    &((const struct gw_grpcroute *)(const void *)r->m)->spec.rules.v[i];
                refs = rule->backend_refs.v;
                nrefs = rule->backend_refs.n;
                filters = rule->filters.v;
                nfilters = rule->filters.n;
            } else {
                const struct gw_http_rule *rule =
                    &((const struct gw_httproute *)(const void *)r->m)->spec.rules.v[i];
                refs = rule->backend_refs.v;
                nrefs = rule->backend_refs.n;
                filters = rule->filters.v;
                nfilters = rule->filters.n;
            }
            /* Exactly nrefs: one more was 120 bytes of IR per rule (with
             * 100,000 one-backend rules, 22 MB of PSS with the reserve). */
            r->rule_backends[i] =
                gw_arena_alloc(&t->ir->arena, nrefs * sizeof(struct gw_ir_backend));
            r->rule_nbackends[i] = nrefs;
            for (size_t k = 0; k < nrefs; k++) {
                check_ref(t, r, &refs[k], grpc, &r->rule_backends[i][k]);
                check_filters(t, r, refs[k].filters.v, refs[k].filters.n, grpc);
            }
            check_filters(t, r, filters, nfilters, grpc);
        }
        tr_session_route(t, r);
        return;
    }
    const struct gw_l4route *l4 = (const void *)r->m;
    size_t nrules = l4->spec.rules.n;
    r->rule_backends = gw_arena_alloc(&t->tmp, (nrules + 1) * sizeof(*r->rule_backends));
    r->rule_nbackends = gw_arena_alloc(&t->tmp, (nrules + 1) * sizeof(size_t));
    for (size_t i = 0; i < nrules; i++) {
        const struct gw_l4_rule *rule = &l4->spec.rules.v[i];
        r->rule_backends[i] =
            gw_arena_alloc(&t->ir->arena, rule->backend_refs.n * sizeof(struct gw_ir_backend));
        r->rule_nbackends[i] = rule->backend_refs.n;
        for (size_t k = 0; k < rule->backend_refs.n; k++)
            check_ref(t, r, &rule->backend_refs.v[k], false, &r->rule_backends[i][k]);
    }
}

static void
attach(struct tr *t, struct lis *li, struct rt *r, const char **hosts, size_t nhosts)
{
    if (li->natts && li->atts[li->natts - 1].rt == r)
        return; /* two parentRefs naming the same listener count once */
    if (li->natts == li->cap) {
        size_t cap = li->cap ? li->cap * 2 : 8;
        struct att *v = gw_arena_alloc(&t->tmp, cap * sizeof(*v));
        if (li->natts)
            memcpy(v, li->atts, li->natts * sizeof(*v));
        li->atts = v;
        li->cap = cap;
    }
    li->atts[li->natts++] = (struct att){r->m, r, hosts, nhosts};
    li->attached++;
    for (size_t i = 0; i < r->ngws; i++)
        if (r->gws[i] == li->gw)
            return;
    struct gws **v = gw_arena_alloc(&t->tmp, (r->ngws + 1) * sizeof(*v));
    if (r->ngws)
        memcpy(v, r->gws, r->ngws * sizeof(*v));
    v[r->ngws++] = li->gw;
    r->gws = v;
}

/* Why a parentRef of ours attached to no listener (the most telling
 * reason wins). */
enum why { WHY_NONE, WHY_NOT_ALLOWED, WHY_HOSTNAME };

/* One parentRef of ours: attaches the route to the listeners it selects and
 * records in rp what tr_route_status writes for the entry. */
static void
parent(struct tr *t, struct rt *r, const struct view *v, struct lis *lis, size_t nlis,
       struct rt_parent *rp)
{
    const struct gw_parent_ref *p = rp->p;
    enum why why = WHY_NONE;
    for (size_t i = 0; i < nlis; i++) {
        struct lis *li = &lis[i];
        if (p->section_name && strcmp(p->section_name, li->l->name))
            continue;
        if (p->port >= 0 && p->port != li->l->port)
            continue;
        rp->matched++;
        /* Attachment depends only on allowedRoutes and the parentRef, not on
         * the listener's status (attachedRoutes counts it either way); the
         * route is Accepted only through an accepted listener. */
        if ((li->ls && !li->ls->allowed) || !(li->attach_kinds & KBIT(r->kind)) ||
            !tr_ns_allowed(t, li->l->allowed_routes ? li->l->allowed_routes->namespaces : NULL,
                           li->owner->ns, r->m->ns)) {
            if (why < WHY_NOT_ALLOWED)
                why = WHY_NOT_ALLOWED;
            continue;
        }
        const char **hosts = NULL;
        size_t nhosts = 0;
        if (r->kind == GW_KIND_HTTPROUTE || r->kind == GW_KIND_GRPCROUTE ||
            r->kind == GW_KIND_TLSROUTE) {
            hosts = gw_arena_alloc(&t->tmp, (v->nhosts + 1) * sizeof(*hosts));
            if (!v->nhosts)
                hosts[nhosts++] = tr_host_intersect(li->l->hostname, NULL);
            for (size_t k = 0; k < v->nhosts; k++) {
                const char *x = tr_host_intersect(li->l->hostname, v->hosts[k]);
                bool dup = false;
                for (size_t d = 0; x && d < nhosts; d++)
                    dup = dup || !strcasecmp(hosts[d], x);
                if (x && !dup)
                    hosts[nhosts++] = x;
            }
            if (!nhosts) {
                why = WHY_HOSTNAME;
                continue;
            }
        }
        if (r->sp_all_dropped) {
            /* Nothing of it can be served: not attached, not counted. */
            rp->unsupported = true;
            continue;
        }
        attach(t, li, r, hosts, nhosts);
        if (li->accepted && rp->gw->accepted)
            rp->attached++;
        else if (why < WHY_NOT_ALLOWED)
            why = WHY_NOT_ALLOWED;
    }
    rp->why = (unsigned char)why;
}

/* The Accepted message of a route an older one shadows on a listener of
 * the parent (build.c). */
static const char *
shadow_msg(struct tr *t, const struct rt *r)
{
    const struct lis *li = r->shadow_lis;
    const struct gw_meta *w = r->shadow_by->m;
    const char *host = r->shadow_host && strcmp(r->shadow_host, "*") ? r->shadow_host : NULL;
    return tr_printf(t,
                     "route is accepted, but on listener %s of %s %s/%s %s%s go to the older "
                     "%s %s/%s",
                     li->l->name, gw_kind_name(li->owner->kind), li->owner->ns, li->owner->name,
                     host ? "connections for " : "all connections", host ? host : "",
                     gw_kind_name(w->kind), w->ns, w->name);
}

static uint64_t
pref_hash_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static bool
pref_same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The parentRef object of a status entry: its members are those of the
 * last one made for an equal reference when the memo has it (10,000 routes
 * of one Gateway: one set of members instead of 10,000, 2.5 MB). */
static void
parent_ref_sv(struct tr *t, const struct gw_parent_ref *p, struct gw_sv *entry)
{
    struct gw_sv *pr = gw_sv_add_obj(&t->sv, entry, "parentRef");
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)(p->port + 1);
    h = pref_hash_str(pref_hash_str(pref_hash_str(h, p->group), p->kind), p->ns);
    h = pref_hash_str(pref_hash_str(h, p->name), p->section_name);
    struct tr_pref_memo *m = &t->prefs[(h * 0x9E3779B97F4A7C15ull) >> (64 - TR_COND_MEMO_BITS)];
    const struct gw_parent_ref *q = m->p;
    if (q && q->port == p->port && pref_same_str(q->group, p->group) &&
        pref_same_str(q->kind, p->kind) && pref_same_str(q->ns, p->ns) &&
        pref_same_str(q->name, p->name) && pref_same_str(q->section_name, p->section_name)) {
        gw_sv_share(pr, m->pr);
        return;
    }
    gw_sv_add_str(&t->sv, pr, "group", p->group ? p->group : GW_GROUP_GATEWAY);
    gw_sv_add_str(&t->sv, pr, "kind", p->kind ? p->kind : "Gateway");
    if (p->ns)
        gw_sv_add_str(&t->sv, pr, "namespace", p->ns);
    gw_sv_add_str(&t->sv, pr, "name", p->name);
    if (p->section_name)
        gw_sv_add_str(&t->sv, pr, "sectionName", p->section_name);
    if (p->port >= 0)
        gw_sv_add_int(&t->sv, pr, "port", p->port);
    *m = (struct tr_pref_memo){p, pr};
}

/* The status entry of one parentRef of ours. Returns whether the entry is
 * Accepted. */
static bool
parent_status(struct tr *t, const struct rt *r, const struct rt_parent *rp, struct gw_sv *entry)
{
    const struct gw_parent_ref *p = rp->p;
    int64_t gen = r->m->generation;
    parent_ref_sv(t, p, entry);
    gw_sv_add_str(&t->sv, entry, "controllerName", t->controller);
    struct gw_sv *c = gw_sv_add_arr(&t->sv, entry, "conditions");
    if (rp->unsupported) {
        /* Every rule asks for session persistence gatehouse cannot give. */
        tr_cond(t, c, "Accepted", false, "UnsupportedValue", r->sp_bad, gen);
    } else if (rp->attached && r->shadow_by && r->shadow_lis->gw == rp->gw) {
        tr_cond(t, c, "Accepted", true, "Accepted", shadow_msg(t, r), gen);
    } else if (rp->attached && r->sp_note) {
        tr_cond(t, c, "Accepted", true, "Accepted",
                tr_printf(t, "route is accepted; %s", r->sp_note), gen);
    } else if (rp->attached) {
        tr_cond(t, c, "Accepted", true, "Accepted", "route is accepted", gen);
    } else if (!rp->gw->accepted) {
        /* The spec has no reason for a parent that exists but is rejected;
         * it is no parent the route can match. */
        tr_cond(t, c, "Accepted", false, "NoMatchingParent",
                tr_printf(t, "Gateway %s/%s is not accepted (%s)", rp->gw->g->meta.ns,
                          rp->gw->g->meta.name, rp->gw->acc_reason),
                gen);
    } else if (!rp->matched) {
        tr_cond(t, c, "Accepted", false, "NoMatchingParent",
                p->section_name || p->port >= 0
                    ? "no listener of the parent matches sectionName/port"
                    : "the parent has no listeners",
                gen);
    } else if (rp->why == WHY_HOSTNAME) {
        tr_cond(t, c, "Accepted", false, "NoMatchingListenerHostname",
                "no listener hostname intersects the route's hostnames", gen);
    } else {
        tr_cond(t, c, "Accepted", false, "NotAllowedByListeners",
                "no listener allows this route (kind, namespace or listener not valid)", gen);
    }
    if (r->resolved)
        tr_cond(t, c, "ResolvedRefs", true, "ResolvedRefs", "all references are resolved", gen);
    else
        tr_cond(t, c, "ResolvedRefs", false, r->rr_reason, r->rr_msg, gen);
    if (rp->attached && r->sp_bad)
        tr_cond(t, c, "PartiallyInvalid", true, "UnsupportedValue", r->sp_bad, gen);
    return rp->attached > 0;
}

static void
route(struct tr *t, const struct gw_meta *m)
{
    struct view v = view_of(m);
    struct rt *r = NULL;
    for (size_t i = 0; i < v.nprefs; i++) {
        const struct gw_parent_ref *p = &v.prefs[i];
        const char *group = p->group ? p->group : GW_GROUP_GATEWAY;
        const char *kind = p->kind ? p->kind : "Gateway";
        const char *ns = p->ns ? p->ns : m->ns;
        struct lis *lis = NULL;
        size_t nlis = 0;
        const struct gws *owner;
        if (strcmp(group, GW_GROUP_GATEWAY) || !p->name)
            continue;
        if (!strcmp(kind, "Gateway")) {
            struct gws *g = tr_find_gateway(t, ns, p->name);
            if (!g)
                continue;
            lis = g->lis;
            nlis = g->nown;
            owner = g;
        } else if (!strcmp(kind, "ListenerSet")) {
            struct lss *s = tr_find_listenerset(t, ns, p->name);
            if (!s)
                continue;
            lis = s->gw->lis + s->first;
            nlis = s->n;
            owner = s->gw;
        } else {
            continue;
        }
        if (!r) {
            r = gw_arena_alloc(&t->tmp, sizeof(*r));
            r->m = m;
            r->kind = m->kind;
            r->parents = gw_arena_alloc(&t->tmp, v.nprefs * sizeof(*r->parents));
            resolve(t, r);
            t->rts = gw_xgrow(t->rts, &t->rts_cap, t->nrts + 1, sizeof(*t->rts));
            t->rts[t->nrts++] = r;
        }
        struct rt_parent *rp = &r->parents[r->nparents++];
        rp->p = p;
        rp->gw = owner;
        parent(t, r, &v, lis, nlis, rp);
    }
}

void
tr_routes(struct tr *t)
{
    static const enum gw_kind kinds[] = {GW_KIND_HTTPROUTE, GW_KIND_GRPCROUTE, GW_KIND_TLSROUTE,
                                         GW_KIND_TCPROUTE, GW_KIND_UDPROUTE};

    for (size_t k = 0; k < GW_ARRAY_LEN(kinds); k++) {
        size_t n;
        const struct gw_meta *const *v = gw_store_list(t->store, kinds[k], &n);
        for (size_t i = 0; i < n; i++)
            route(t, v[i]);
    }
}

/* Whether entries a and b have the same members: scalars equal, the
 * parentRef's members and each condition's members the same nodes (the
 * memos of parent_ref_sv and tr_cond share them, so a match means both
 * memos were hit and made nothing new). */
static bool
entry_same(const struct gw_sv *a, const struct gw_sv *b)
{
    if (a->n != b->n)
        return false;
    for (const struct gw_sv *x = a->child, *y = b->child; x && y; x = x->next, y = y->next) {
        if (x->type != y->type || x->n != y->n || strcmp(x->key, y->key))
            return false;
        if (x->type == GW_SV_STR   ? !pref_same_str(x->s, y->s)
            : x->type == GW_SV_OBJ ? x->child != y->child
            : x->type != GW_SV_ARR ? x->i != y->i
                                   : false)
            return false;
        if (x->type != GW_SV_ARR)
            continue;
        for (const struct gw_sv *u = x->child, *w = y->child; u && w; u = u->next, w = w->next)
            if (u->type != GW_SV_OBJ || w->type != GW_SV_OBJ || u->child != w->child)
                return false;
    }
    return true;
}

static uint64_t
entry_hash(const struct gw_sv *e)
{
    uint64_t h = e->n;
    for (const struct gw_sv *x = e->child; x; x = x->next) {
        if (x->type == GW_SV_ARR)
            for (const struct gw_sv *u = x->child; u; u = u->next)
                h = h * 31 + (uint64_t)(uintptr_t)u->child;
        else
            h = h * 31 +
                (x->type == GW_SV_STR ? (uint64_t)(uintptr_t)x->s : (uint64_t)(uintptr_t)x->child);
    }
    return h * 0x9E3779B97F4A7C15ull;
}

/* The nodes made since mark (a copy of the node pool) go back to the pool,
 * zeroed as new nodes are, when they are the last ones of the pool's
 * block; else they stay, unused. */
static void
pool_rewind(struct tr *t, const struct gw_sv_pool *mark)
{
    size_t made = mark->left >= t->sv.left ? mark->left - t->sv.left : 0;
    if (made && t->sv.next == mark->next + made) {
        memset(mark->next, 0, made * sizeof(*mark->next));
        t->sv = *mark;
    }
}

/* Entry e, just made from mark (the node pool before its members), takes
 * the members of an equal entry made before when the memo has one: the
 * nodes made for it go back to the pool (zeroed, as new nodes are) when
 * they are the last ones of the pool's block. 10,000 accepted routes of
 * one Gateway: 2.4 MB of status less. */
static void
entry_share(struct tr *t, struct gw_sv *e, const struct gw_sv_pool *mark)
{
    const struct gw_sv **m = &t->entries[entry_hash(e) >> (64 - TR_COND_MEMO_BITS)];
    if (!*m || !entry_same(*m, e)) {
        *m = e;
        return;
    }
    pool_rewind(t, mark);
    gw_sv_share(e, *m);
}

/* Whether route statuses a and b ({parents: [entries]}, entries shared
 * by entry_share) have the same entries: each pair the same members. */
static bool
status_same(const struct gw_sv *a, const struct gw_sv *b)
{
    const struct gw_sv *x = a->child, *y = b->child;
    if (a->n != 1 || b->n != 1 || x->n != y->n)
        return false;
    for (x = x->child, y = y->child; x && y; x = x->next, y = y->next)
        if (x->n != y->n || x->child != y->child)
            return false;
    return true;
}

/* The item it takes the status of a route made before when the memo has
 * an equal one (its nodes, made since mark, go back to the pool): the routes of one Gateway mostly
 * have one status, shared (status trees are never changed once made, and stamping a shared tree in
 * place writes the same time into it). 100,000 accepted routes: ~14 MB of status less. */
static void
status_share(struct tr *t, struct gw_status_item *it, const struct gw_sv_pool *mark)
{
    const struct gw_sv *parents = it->status->child;
    uint64_t h = parents->n;
    for (const struct gw_sv *e = parents->child; e; e = e->next)
        h = h * 31 + (uint64_t)(uintptr_t)e->child;
    const struct gw_sv **m = &t->statuses[(h * 0x9E3779B97F4A7C15ull) >> (64 - TR_COND_MEMO_BITS)];
    if (!*m || !status_same(*m, it->status)) {
        *m = it->status;
        return;
    }
    pool_rewind(t, mark);
    it->status = (struct gw_sv *)*m;
}

void
tr_route_status(struct tr *t)
{
    for (size_t i = 0; i < t->nrts; i++) {
        const struct rt *r = t->rts[i];
        struct gw_sv_pool smark = t->sv;
        struct gw_status_item *it = tr_item(t, r->m);
        struct gw_sv *parents = gw_sv_add_arr(&t->sv, it->status, "parents");
        for (size_t k = 0; k < r->nparents; k++) {
            struct gw_sv *entry = gw_sv_add_obj(&t->sv, parents, NULL);
            struct gw_sv_pool mark = t->sv;
            if (!parent_status(t, r, &r->parents[k], entry) || !r->resolved)
                it->not_ready = true;
            entry_share(t, entry, &mark);
        }
        status_share(t, it, &smark);
        if (it->not_ready)
            t->st->routes_not_ready++;
    }
}
