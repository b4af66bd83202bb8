/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: HealthCheckPolicy (gatehouse.dev/v1alpha1), attached by attach.c
 * to a Service or one port of it (sectionName: the port's name; the port
 * beats the Service). The winning policy of a Service port becomes the
 * gw_ir_healthcheck of every backend built for that port (refs.c), one
 * compiled check per policy target.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

void
tr_healthchecks(struct tr *t)
{
    if (!gw_store_count(t->store, GW_KIND_HEALTHCHECKPOLICY))
        return;
    t->hcp = gw_arena_alloc(&t->tmp, sizeof(*t->hcp));
    tr_attach_collect(t, GW_KIND_HEALTHCHECKPOLICY, t->hcp);
}

static const struct gw_ir_healthcheck *
target_ir(struct tr *t, struct tr_att_target *x)
{
    if (x->ir)
        return x->ir;
    const struct gw_healthcheckpolicy *p = (const void *)x->policy->m;
    struct gw_arena *a = &t->ir->arena;
    struct gw_ir_healthcheck *h = gw_arena_alloc(a, sizeof(*h));
    h->policy = TR_CAT(a, p->meta.ns, "/", p->meta.name);
    h->type = p->spec.type == GW_HCTYPE_TCP    ? GW_IR_HC_TCP
              : p->spec.type == GW_HCTYPE_GRPC ? GW_IR_HC_GRPC
                                               : GW_IR_HC_HTTP;
    h->interval_ms = p->spec.interval_ms;
    h->timeout_ms = p->spec.timeout_ms > 0 ? p->spec.timeout_ms : 1000;
    h->jitter_ms = p->spec.jitter_ms > 0 ? p->spec.jitter_ms : 0;
    h->healthy_threshold =
        (uint32_t)(p->spec.healthy_threshold > 0 ? p->spec.healthy_threshold : 2);
    h->unhealthy_threshold =
        (uint32_t)(p->spec.unhealthy_threshold > 0 ? p->spec.unhealthy_threshold : 3);
    if (h->type == GW_IR_HC_HTTP) {
        const struct gw_hc_http *hh = p->spec.http;
        h->path = gw_ir_strdup(t->ir, hh && hh->path ? hh->path : "/");
        h->host = hh ? gw_ir_strdup(t->ir, hh->hostname) : NULL;
        size_t n = hh ? hh->expected_statuses.n : 0;
        h->statuses = gw_arena_alloc(a, (n ? n : 1) * sizeof(*h->statuses));
        for (size_t i = 0; i < n; i++) {
            const struct gw_status_range *r = &hh->expected_statuses.v[i];
            h->statuses[i].start = (uint16_t)r->start;
            h->statuses[i].end = (uint16_t)(r->end >= r->start ? r->end : r->start);
        }
        if (!n) {
            h->statuses[0].start = 200;
            h->statuses[0].end = 399;
            n = 1;
        }
        h->nstatuses = n;
    } else if (h->type == GW_IR_HC_GRPC) {
        const struct gw_hc_grpc *g = p->spec.grpc;
        h->grpc_service = gw_ir_strdup(t->ir, g && g->service ? g->service : "");
    }
    x->ir = h;
    return h;
}

const struct gw_ir_healthcheck *
tr_healthcheck_for(struct tr *t, const struct gw_service *svc, int64_t port)
{
    if (!t->hcp)
        return NULL;
    struct tr_att_target *x = tr_attach_winner(
        t->hcp, &(struct tr_att_where){.level = TR_AT_SERVICE_PORT, .svc = svc, .port = port});
    if (!x)
        x = tr_attach_winner(t->hcp, &(struct tr_att_where){.level = TR_AT_SERVICE, .svc = svc});
    return x ? target_ir(t, x) : NULL;
}

void
tr_healthcheck_status(struct tr *t)
{
    if (t->hcp)
        tr_attach_status(t, t->hcp);
}
