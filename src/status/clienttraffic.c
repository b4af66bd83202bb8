/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: ClientTrafficPolicy (gatehouse.dev/v1alpha1), attached by
 * attach.c to a Gateway or one of its listeners; a listener takes the
 * policy of the most specific target that has a winner (listener, else
 * Gateway). clientAddress.xForwardedFor is per listener. proxyProtocol is
 * per port, since the header comes before anything that tells listeners
 * apart: a port accepts PROXY when the policy of any of its listeners sets
 * proxyProtocol, with the settings of the oldest such policy; a policy of
 * another listener of the port whose proxyProtocol differs is Conflicted
 * on that Gateway (its other settings still apply), and listeners of the
 * port without a policy accept PROXY too (docs/policies.md).
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

/* A target found disagreeing with its port (build), told at status time:
 * build still asks for winners after the first conflict. */
struct tr_ctp_conflict {
    struct tr_ctp_conflict *next;
    struct tr_att_target *x;
    const char *msg;
};

/* What one target compiles to. */
struct ctp_ir {
    struct gw_ir_xff *xff;
    struct gw_ir_proxy_protocol *pp;
};

void
tr_client_traffic(struct tr *t)
{
    if (!gw_store_count(t->store, GW_KIND_CLIENTTRAFFICPOLICY))
        return;
    t->ctp = gw_arena_alloc(&t->tmp, sizeof(*t->ctp));
    tr_attach_collect(t, GW_KIND_CLIENTTRAFFICPOLICY, t->ctp);
}

static const struct gw_clienttrafficpolicy *
policy_of(const struct tr_att_target *x)
{
    return (const void *)x->policy->m;
}

static struct ctp_ir *
target_ir(struct tr *t, struct tr_att_target *x)
{
    if (x->ir)
        return x->ir;
    const struct gw_clienttrafficpolicy *p = policy_of(x);
    struct ctp_ir *c = gw_arena_alloc(&t->tmp, sizeof(*c));
    const char *name = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
    const struct gw_ctp_xff *xf = p->spec.client_address ? p->spec.client_address->xff : NULL;
    if (xf) {
        struct gw_ir_xff *o = gw_arena_alloc(&t->ir->arena, sizeof(*o));
        o->policy = name;
        if (xf->trusted_hops > 0) {
            o->trusted_hops = (unsigned)xf->trusted_hops;
            o->desc = gw_arena_sprintf(&t->ir->arena, "hops=%u", o->trusted_hops);
        } else {
            const char *d;
            o->trusted = tr_cidr_set(t, xf->trusted_cidrs.v, xf->trusted_cidrs.n, &d);
            o->desc = TR_CAT(&t->ir->arena, "trusted=", d);
        }
        c->xff = o;
    }
    const struct gw_ctp_proxy_protocol *pp = p->spec.proxy_protocol;
    if (pp) {
        struct gw_ir_proxy_protocol *o = gw_arena_alloc(&t->ir->arena, sizeof(*o));
        o->policy = name;
        const char *d;
        o->trusted = tr_cidr_set(t, pp->trusted_cidrs.v, pp->trusted_cidrs.n, &d);
        o->required = pp->required == 1;
        o->timeout_ms = pp->timeout_ms;
        o->desc = gw_arena_sprintf(&t->ir->arena, "trusted=%s required=%s timeout=%lldms", d,
                                   o->required ? "true" : "false", (long long)o->timeout_ms);
        c->pp = o;
    }
    x->ir = c;
    return c;
}

static struct tr_att_target *
effective(struct tr *t, const struct lis *li)
{
    struct tr_att_target *x =
        li->ls
            ? NULL
            : tr_attach_winner(t->ctp, &(struct tr_att_where){.level = TR_AT_LISTENER, .li = li});
    return x ? x
             : tr_attach_winner(t->ctp,
                                &(struct tr_att_where){.level = TR_AT_GATEWAY, .gw = li->gw});
}

const struct gw_ir_xff *
tr_client_traffic_xff(struct tr *t, const struct lis *li)
{
    if (!t->ctp)
        return NULL;
    struct tr_att_target *x = effective(t, li);
    return x ? target_ir(t, x)->xff : NULL;
}

static bool
older(const struct gw_meta *a, const struct gw_meta *b)
{
    if (a->creation_ms != b->creation_ms)
        return a->creation_ms < b->creation_ms;
    int c = strcmp(a->ns, b->ns);
    return c ? c < 0 : strcmp(a->name, b->name) < 0;
}

static bool
same_pp(const struct gw_ctp_proxy_protocol *a, const struct gw_ctp_proxy_protocol *b)
{
    if (a == b)
        return true;
    if (a->required != b->required || a->timeout_ms != b->timeout_ms ||
        a->trusted_cidrs.n != b->trusted_cidrs.n)
        return false;
    for (size_t i = 0; i < a->trusted_cidrs.n; i++)
        if (strcmp(a->trusted_cidrs.v[i], b->trusted_cidrs.v[i]))
            return false;
    return true;
}

const struct gw_ir_proxy_protocol *
tr_client_traffic_port(struct tr *t, const struct lis *const *lis, size_t n, const char *port)
{
    if (!t->ctp || !n)
        return NULL;
    struct tr_att_target **xs = gw_arena_alloc(&t->tmp, n * sizeof(*xs));
    struct tr_att_target *best = NULL;
    for (size_t i = 0; i < n; i++) {
        struct tr_att_target *x = effective(t, lis[i]);
        xs[i] = x && policy_of(x)->spec.proxy_protocol ? x : NULL;
        if (xs[i] && (!best || older(xs[i]->policy->m, best->policy->m)))
            best = xs[i];
    }
    if (!best)
        return NULL;
    const struct gw_clienttrafficpolicy *bp = policy_of(best);
    for (size_t i = 0; i < n; i++) {
        struct tr_att_target *x = xs[i];
        if (!x || same_pp(policy_of(x)->spec.proxy_protocol, bp->spec.proxy_protocol))
            continue;
        struct tr_ctp_conflict *c = gw_arena_alloc(&t->tmp, sizeof(*c));
        c->x = x;
        c->msg = tr_printf(t,
                           "port %s takes the PROXY protocol settings of ClientTrafficPolicy "
                           "%s/%s (older); listener %s differs",
                           port, bp->meta.ns, bp->meta.name, lis[i]->l->name);
        c->next = t->ctp_conflicts;
        t->ctp_conflicts = c;
    }
    return target_ir(t, best)->pp;
}

void
tr_client_traffic_status(struct tr *t)
{
    if (!t->ctp)
        return;
    for (struct tr_ctp_conflict *c = t->ctp_conflicts; c; c = c->next)
        if (!c->x->reason) {
            c->x->reason = "Conflicted";
            c->x->msg = c->msg;
        }
    tr_attach_status(t, t->ctp);
}
