/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: CircuitBreakerPolicy and LoadBalancerPolicy (gatehouse.dev/
 * v1alpha1), the two policies of a Service's endpoints, attached by
 * attach.c. The backend of a Service port takes the winner at the port
 * (sectionName: the port's name) or else the one at the Service; the
 * compiled settings hang off the IR backend (one per target, shared by
 * every backend of that Service port).
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

void
tr_backend_policies(struct tr *t)
{
    if (gw_store_count(t->store, GW_KIND_CIRCUITBREAKERPOLICY)) {
        t->cbp = gw_arena_alloc(&t->tmp, sizeof(*t->cbp));
        tr_attach_collect(t, GW_KIND_CIRCUITBREAKERPOLICY, t->cbp);
    }
    if (gw_store_count(t->store, GW_KIND_LOADBALANCERPOLICY)) {
        t->lbp = gw_arena_alloc(&t->tmp, sizeof(*t->lbp));
        tr_attach_collect(t, GW_KIND_LOADBALANCERPOLICY, t->lbp);
    }
    tr_xbtp_collect(t);
}

static struct tr_att_target *
winner(struct tr_att_kind *k, const struct gw_service *svc, int64_t port)
{
    struct tr_att_target *x = tr_attach_winner(
        k, &(struct tr_att_where){.level = TR_AT_SERVICE_PORT, .svc = svc, .port = port});
    return x ? x : tr_attach_winner(k, &(struct tr_att_where){.level = TR_AT_SERVICE, .svc = svc});
}

static uint32_t
limit(int64_t v, uint32_t none)
{
    return v < 0 ? none : (uint32_t)v;
}

static const struct gw_ir_circuit *
circuit_ir(struct tr *t, struct tr_att_target *x)
{
    if (x->ir)
        return x->ir;
    const struct gw_circuitbreakerpolicy *p = (const void *)x->policy->m;
    struct gw_ir_circuit *c = gw_arena_alloc(&t->ir->arena, sizeof(*c));
    c->policy = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
    c->max_connections = limit(p->spec.max_connections, 0);
    c->max_requests = limit(p->spec.max_requests, 0);
    c->max_retries = limit(p->spec.max_retries, UINT32_MAX);
    x->ir = c;
    return c;
}

static const struct gw_ir_lb *
lb_ir(struct tr *t, struct tr_att_target *x)
{
    if (x->ir)
        return x->ir;
    const struct gw_loadbalancerpolicy *p = (const void *)x->policy->m;
    struct gw_ir_lb *l = gw_arena_alloc(&t->ir->arena, sizeof(*l));
    l->policy = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
    l->type = p->spec.type == GW_LB_LEAST_REQUEST     ? GW_IR_LB_LEAST_REQUEST
              : p->spec.type == GW_LB_CONSISTENT_HASH ? GW_IR_LB_CONSISTENT_HASH
                                                      : GW_IR_LB_ROUND_ROBIN;
    const struct gw_lb_consistent_hash *h = p->spec.consistent_hash;
    if (l->type == GW_IR_LB_CONSISTENT_HASH && h) {
        if (h->key == GW_HASH_HEADER) {
            char *n = gw_arena_strdup(&t->ir->arena, h->header);
            for (char *c = n; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
            l->key = GW_IR_HASH_HEADER;
            l->name = n;
        } else if (h->key == GW_HASH_COOKIE) {
            l->key = GW_IR_HASH_COOKIE;
            l->name = gw_ir_strdup(t->ir, h->cookie->name);
        } else {
            l->key = GW_IR_HASH_SOURCE_IP;
        }
    }
    if (p->spec.slow_start && p->spec.slow_start->window_ms > 0)
        l->slow_start_ms = p->spec.slow_start->window_ms;
    x->ir = l;
    return l;
}

void
tr_backend_policy_apply(struct tr *t, const struct gw_service *svc,
                        const struct gw_service_port *sp, struct gw_ir_backend *be)
{
    struct tr_att_target *x;
    if (t->cbp && (x = winner(t->cbp, svc, sp->port)))
        be->circuit = circuit_ir(t, x);
    if (t->lbp && (x = winner(t->lbp, svc, sp->port)))
        be->lb = lb_ir(t, x);
    tr_xbtp_apply(t, svc, be);
}

void
tr_backend_policy_status(struct tr *t)
{
    if (t->cbp)
        tr_attach_status(t, t->cbp);
    if (t->lbp)
        tr_attach_status(t, t->lbp);
    tr_xbtp_status(t);
}
