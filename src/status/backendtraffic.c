/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: XBackendTrafficPolicy (gateway.networking.x-k8s.io/v1alpha1), the
 * Gateway API's experimental policy of a Service, attached by attach.c at
 * the Service level (the kind has no sectionName). Its retryConstraint
 * becomes the retry budget of every IR backend of the Service (GEP-1731);
 * its sessionPersistence is what a route rule without its own gets when a
 * backendRef of the rule is such a Service (session.c serves it exactly as
 * a rule's own: one implementation). A policy whose sessionPersistence
 * gatehouse cannot serve as written is Invalid, not half served; a target
 * that is no Service is Invalid there.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

void
tr_xbtp_collect(struct tr *t)
{
    if (!gw_store_count(t->store, GW_KIND_XBACKENDTRAFFICPOLICY))
        return;
    t->xbtp = gw_arena_alloc(&t->tmp, sizeof(*t->xbtp));
    tr_attach_collect(t, GW_KIND_XBACKENDTRAFFICPOLICY, t->xbtp);
    for (size_t i = 0; i < t->xbtp->n; i++) {
        struct tr_att_policy *q = &t->xbtp->v[i];
        const struct gw_xbackendtrafficpolicy *p = (const void *)q->m;
        for (size_t k = 0; k < q->ntargets; k++) {
            struct tr_att_target *x = &q->targets[k];
            if (x->foreign || x->level == TR_AT_SERVICE)
                continue;
            x->reason = "Invalid";
            x->msg = tr_printf(t, "%s %s: an XBackendTrafficPolicy targets a Service", x->ref->kind,
                               x->ref->name);
        }
        const char *why = p->spec.session_persistence
                              ? tr_session_unsupported(t, p->spec.session_persistence)
                              : NULL;
        if (why)
            q->invalid = tr_printf(t, "sessionPersistence: %s", why);
    }
}

static uint64_t
ms_or(int64_t v, uint64_t def)
{
    return v > 0 ? (uint64_t)v : def;
}

void
tr_xbtp_apply(struct tr *t, const struct gw_service *svc, struct gw_ir_backend *be)
{
    struct tr_att_target *x;
    if (!t->xbtp || !(x = tr_attach_winner(
                          t->xbtp, &(struct tr_att_where){.level = TR_AT_SERVICE, .svc = svc})))
        return;
    const struct gw_xbackendtrafficpolicy *p = (const void *)x->policy->m;
    const struct gw_retry_constraint *rc = p->spec.retry_constraint;
    if (!rc)
        return;
    if (!x->ir) {
        struct gw_ir_retry_budget *b = gw_arena_alloc(&t->ir->arena, sizeof(*b));
        b->policy = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
        b->key_id = TR_CAT(&t->ir->arena, "XBackendTrafficPolicy ", p->meta.ns, "/", p->meta.name,
                           " uid=", p->meta.uid ? p->meta.uid : "", " Service ", svc->meta.name);
        /* The CRD's defaults: 20% over 10s, at least 10 retries a second. */
        const struct gw_retry_budget *bd = rc->budget;
        b->percent = bd && bd->percent >= 0 ? (uint32_t)bd->percent : 20;
        b->interval_ms = ms_or(bd ? bd->interval_ms : -1, 10000);
        const struct gw_retry_rate *mr = rc->min_retry_rate;
        b->min_count = mr && mr->count > 0 ? (uint32_t)mr->count : 10;
        b->min_interval_ms = ms_or(mr ? mr->interval_ms : -1, 1000);
        x->ir = b;
    }
    be->retry_budget = x->ir;
}

const struct gw_session_persistence *
tr_xbtp_session(struct tr *t, const struct rt *r, size_t rule, const struct gw_meta **policy)
{
    if (!t->xbtp)
        return NULL;
    const struct gw_backend_ref *v;
    size_t n;
    if (r->kind == GW_KIND_HTTPROUTE) {
        const struct gw_http_rule *h =
            &((const struct gw_httproute *)(const void *)r->m)->spec.rules.v[rule];
        v = h->backend_refs.v;
        n = h->backend_refs.n;
    } else {
        const struct gw_grpc_rule *g =
            &((const struct gw_grpcroute *)(const void *)r->m)->spec.rules.v[rule];
        v = g->backend_refs.v;
        n = g->backend_refs.n;
    }
    /* The first backendRef whose Service's policy has one. */
    for (size_t i = 0; i < n; i++) {
        if ((v[i].group && *v[i].group) || (v[i].kind && strcmp(v[i].kind, "Service")))
            continue;
        const struct gw_service *svc =
            gw_store_service(t->store, v[i].ns ? v[i].ns : r->m->ns, v[i].name);
        struct tr_att_target *x =
            svc ? tr_attach_winner(t->xbtp,
                                   &(struct tr_att_where){.level = TR_AT_SERVICE, .svc = svc})
                : NULL;
        if (!x)
            continue;
        const struct gw_xbackendtrafficpolicy *p = (const void *)x->policy->m;
        if (p->spec.session_persistence) {
            if (policy)
                *policy = x->policy->m;
            return p->spec.session_persistence;
        }
    }
    return NULL;
}

void
tr_xbtp_status(struct tr *t)
{
    if (t->xbtp)
        tr_attach_status(t, t->xbtp);
}
