/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: gw_status_translate(), the steps in order, in two phases. Each
 * step reads what the earlier ones decided: classes, Gateways and
 * ListenerSets (listeners, conflicts, addresses), BackendTLSPolicies
 * (before routes, whose backends carry their TLS settings), routes
 * (attachment, ResolvedRefs) and the IR; then, once the IR is out, the
 * statuses that only report those decisions: route parents, policy
 * ancestors, Gateway and ListenerSet status (attachedRoutes now known).
 * The IR does not wait for them: traffic needs only the IR.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"
#include "status/status.h"

#include "base/banned.h"

/* The translation in progress between its two phases. */
struct gw_status_pending {
    struct tr t;
};

int
gw_status_translate_ir(const struct gw_store *store, const struct gw_status_opts *opts,
                       struct gw_status_pending **out_pending, struct gw_ir **out_ir)
{
    struct gw_status_pending *p = gw_xcalloc(1, sizeof(*p));
    struct tr *t = &p->t;
    t->store = store;
    t->controller = opts && opts->controller_name ? opts->controller_name : GW_CONTROLLER_NAME;
    t->ltt = opts && opts->transition_time ? opts->transition_time : "1970-01-01T00:00:00Z";
    t->port_base = opts ? opts->gateway_port_base : 0;
    t->global_rl = opts && opts->global_ratelimits;
    if (opts && opts->address_pool && tr_pool_parse(t, opts->address_pool) < 0) {
        free(p);
        return GW_EINVAL;
    }

    t->st = gw_xcalloc(1, sizeof(*t->st));
    gw_arena_init(&t->st->arena, 64 * 1024);
    gw_sv_pool_init(&t->sv, &t->st->arena);
    t->ir = gw_ir_new();
    gw_arena_init(&t->tmp, 64 * 1024);

    tr_classes(t);
    tr_gateways(t);
    tr_policies(t);
    tr_healthchecks(t);
    tr_backend_policies(t);
    tr_routes(t);
    tr_ratelimits(t);
    tr_client_traffic(t);
    tr_source_addresses(t);
    tr_auths(t);
    tr_extauths(t);
    tr_compressions(t);
    tr_build_ir(t);

    *out_pending = p;
    if (out_ir)
        *out_ir = gw_ir_ref(t->ir);
    return 0;
}

static void
pending_release(struct gw_status_pending *p)
{
    free(p->t.rts);
    free(p->t.bcache);
    free(p->t.reads);
    gw_arena_release(&p->t.tmp);
    gw_ir_unref(p->t.ir);
    free(p);
}

struct gw_status *
gw_status_pending_finish(struct gw_status_pending *p)
{
    struct tr *t = &p->t;
    tr_route_status(t);
    tr_policy_status(t);
    tr_ratelimit_status(t);
    tr_healthcheck_status(t);
    tr_client_traffic_status(t);
    tr_source_address_status(t);
    tr_backend_policy_status(t);
    tr_auth_status(t);
    tr_extauth_status(t);
    tr_compression_status(t);
    tr_gateway_status(t);
    tr_sort_items(t->st);
    tr_reads_finish(t);
    struct gw_status *st = t->st;
    pending_release(p);
    return st;
}

void
gw_status_pending_free(struct gw_status_pending *p)
{
    if (!p)
        return;
    gw_status_free(p->t.st);
    pending_release(p);
}

int
gw_status_translate(const struct gw_store *store, const struct gw_status_opts *opts,
                    struct gw_status **out_status, struct gw_ir **out_ir)
{
    struct gw_status_pending *p;
    int rc = gw_status_translate_ir(store, opts, &p, out_ir);
    if (rc < 0)
        return rc;
    *out_status = gw_status_pending_finish(p);
    return 0;
}
