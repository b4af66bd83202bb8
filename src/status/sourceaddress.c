/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: SourceAddressPolicy (gatehouse.dev/v1alpha1), attached by
 * attach.c. Two levels, each the most specific target that has a winning
 * policy: the Gateway owner's (listener, else Gateway) and the route
 * owner's (rule, else route). A request must pass both, so a route owner
 * can narrow what the Gateway owner allows but never widen it. TCP and TLS
 * listeners know only the first level (checked at accept).
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

const struct gw_net_cidr_set *
tr_cidr_set(struct tr *t, const char *const *v, size_t n, const char **desc)
{
    if (!n) {
        *desc = "-";
        return NULL;
    }
    struct gw_net_cidr *c = gw_arena_alloc(&t->tmp, n * sizeof(*c));
    size_t k = 0, len = 1;
    for (size_t i = 0; i < n; i++) {
        len += strlen(v[i]) + 1;
        if (gw_net_cidr_parse(gw_str_from(v[i]), &c[k]) == 0)
            k++;
    }
    char *d = gw_arena_alloc(&t->ir->arena, len), *o = d;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (i)
            *o++ = ',';
        memcpy(o, v[i], l);
        o += l;
    }
    *o = 0;
    *desc = d;
    return gw_ir_cidr_set_new(t->ir, c, k);
}

void
tr_source_addresses(struct tr *t)
{
    if (!gw_store_count(t->store, GW_KIND_SOURCEADDRESSPOLICY))
        return;
    t->sap = gw_arena_alloc(&t->tmp, sizeof(*t->sap));
    tr_attach_collect(t, GW_KIND_SOURCEADDRESSPOLICY, t->sap);
}

/* The target's ACL, made once: every route entry and listener it covers
 * shares it. */
static const struct gw_ir_acl *
target_acl(struct tr *t, struct tr_att_target *x)
{
    if (x->ir)
        return x->ir;
    const struct gw_sourceaddresspolicy *p = (const void *)x->policy->m;
    struct gw_ir_acl *a = gw_arena_alloc(&t->ir->arena, sizeof(*a));
    a->policy = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
    const char *allow, *deny;
    a->allow = tr_cidr_set(t, p->spec.allow.v, p->spec.allow.n, &allow);
    a->deny = tr_cidr_set(t, p->spec.deny.v, p->spec.deny.n, &deny);
    a->desc = TR_CAT(&t->ir->arena, "allow=", allow, " deny=", deny);
    x->ir = a;
    return a;
}

static const struct gw_ir_acl *
at(struct tr *t, const struct tr_att_where *w)
{
    struct tr_att_target *x = tr_attach_winner(t->sap, w);
    return x ? target_acl(t, x) : NULL;
}

void
tr_source_address_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r)
{
    if (!t->sap)
        return;
    const struct gw_ir_acl *a =
        at(t, &(struct tr_att_where){.level = TR_AT_RULE, .rt = rt, .rule = rule});
    r->acl_route = a ? a : at(t, &(struct tr_att_where){.level = TR_AT_ROUTE, .rt = rt});
}

const struct gw_ir_acl *
tr_source_address_listener(struct tr *t, const struct lis *li)
{
    if (!t->sap)
        return NULL;
    /* attach.c resolves sectionName among the Gateway's own listeners:
     * a ListenerSet's listener takes the Gateway's level only. */
    const struct gw_ir_acl *a =
        li->ls ? NULL : at(t, &(struct tr_att_where){.level = TR_AT_LISTENER, .li = li});
    return a ? a : at(t, &(struct tr_att_where){.level = TR_AT_GATEWAY, .gw = li->gw});
}

void
tr_source_address_status(struct tr *t)
{
    if (t->sap)
        tr_attach_status(t, t->sap);
}
