/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: gw_status_translate(), the steps in order. Each step reads what
 * the earlier ones decided: classes, Gateways and ListenerSets (listeners,
 * conflicts, addresses), BackendTLSPolicies (before routes, whose backends
 * carry their TLS settings), routes (attachment, route status), policy
 * ancestors, Gateway and ListenerSet status (attachedRoutes now known), and
 * the IR.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"
#include "status/status.h"

#include "base/banned.h"

int
gw_status_translate(const struct gw_store *store, const struct gw_status_opts *opts,
                    struct gw_status **out_status, struct gw_ir **out_ir)
{
    struct tr t;
    memset(&t, 0, sizeof(t));
    t.store = store;
    t.controller = opts && opts->controller_name ? opts->controller_name : GW_CONTROLLER_NAME;
    t.ltt = opts && opts->transition_time ? opts->transition_time : "1970-01-01T00:00:00Z";
    if (opts && opts->address_pool && tr_pool_parse(&t, opts->address_pool) < 0)
        return GW_EINVAL;

    t.st = gw_xcalloc(1, sizeof(*t.st));
    gw_arena_init(&t.st->arena, 64 * 1024);
    t.ir = gw_ir_new();
    gw_arena_init(&t.tmp, 64 * 1024);

    tr_classes(&t);
    tr_gateways(&t);
    tr_policies(&t);
    tr_routes(&t);
    tr_policy_status(&t);
    tr_gateway_status(&t);
    tr_build_ir(&t);
    tr_sort_items(t.st);

    free(t.rts);
    free(t.bcache);
    gw_arena_release(&t.tmp);
    *out_status = t.st;
    if (out_ir)
        *out_ir = t.ir;
    else
        gw_ir_unref(t.ir);
    return 0;
}
