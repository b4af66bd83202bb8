/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ir: lifetime of an IR snapshot. One heap object holding an arena; the
 * atomic count lets any worker pin it, and whoever drops the last
 * reference frees it.
 */
#include "ir/ir.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#include "base/banned.h"

struct gw_ir_owned_set {
    struct gw_ir_owned_set *next;
    struct gw_net_cidr_set *set;
};

struct gw_ir *
gw_ir_new(void)
{
    struct gw_ir *ir = gw_xcalloc(1, sizeof(*ir));
    atomic_init(&ir->refs, 1);
    /* Big chunks: an IR for thousands of routes is megabytes. */
    gw_arena_init(&ir->arena, 256 * 1024);
    return ir;
}

struct gw_ir *
gw_ir_ref(struct gw_ir *ir)
{
    unsigned old = atomic_fetch_add_explicit(&ir->refs, 1, memory_order_relaxed);
    GW_ASSERT(old > 0);
    return ir;
}

void
gw_ir_unref(struct gw_ir *ir)
{
    if (!ir)
        return;
    unsigned old = atomic_fetch_sub_explicit(&ir->refs, 1, memory_order_acq_rel);
    GW_ASSERT(old > 0);
    if (old != 1)
        return;
    for (struct gw_ir_owned_set *o = ir->owned_sets; o; o = o->next)
        gw_net_cidr_set_free(o->set);
    gw_arena_release(&ir->arena);
    free(ir);
}

const struct gw_net_cidr_set *
gw_ir_cidr_set_new(struct gw_ir *ir, const struct gw_net_cidr *v, size_t n)
{
    struct gw_ir_owned_set *o = gw_arena_alloc(&ir->arena, sizeof(*o));
    o->set = gw_net_cidr_set_new(v, n);
    o->next = ir->owned_sets;
    ir->owned_sets = o;
    return o->set;
}

bool
gw_ir_acl_allows(const struct gw_ir_acl *acl, const struct sockaddr *sa)
{
    if (!acl)
        return true;
    if (acl->deny && gw_net_cidr_set_has(acl->deny, sa))
        return false;
    return !acl->allow || gw_net_cidr_set_has(acl->allow, sa);
}

static void
index_backends(struct gw_ir_backend *b, size_t n, uint32_t *next)
{
    for (size_t i = 0; i < n; i++)
        b[i].id = (*next)++;
}

void
gw_ir_index(struct gw_ir *ir)
{
    if (ir->indexed)
        return;
    uint32_t nr = 0, nb = 0, ns = 0, nl = 0;
    for (size_t p = 0; p < ir->nports; p++) {
        struct gw_ir_port *pt = &ir->ports[p];
        for (size_t l = 0; l < pt->nlisteners; l++) {
            struct gw_ir_listener *li = &pt->listeners[l];
            for (size_t v = 0; v < li->nvhosts; v++)
                for (size_t r = 0; r < li->vhosts[v].nroutes; r++) {
                    struct gw_ir_route *rt = &li->vhosts[v].routes[r];
                    rt->id = nr++;
                    if (rt->session && rt->session->id == UINT32_MAX)
                        /* Built by this IR's translate, never shared yet:
                         * the one write into it. */
                        ((struct gw_ir_session *)(uintptr_t)rt->session)->id = ns++;
                    for (size_t k = 0; k < rt->nratelimits; k++)
                        if (rt->ratelimits[k].id == UINT32_MAX)
                            rt->ratelimits[k].id = nl++;
                    index_backends(rt->backends, rt->nbackends, &nb);
                    for (size_t f = 0; f < rt->nfilters; f++)
                        if (rt->filters[f].mirror)
                            index_backends(rt->filters[f].mirror, 1, &nb);
                }
            for (size_t k = 0; k < li->nl4; k++)
                index_backends(li->l4[k].backends, li->l4[k].nbackends, &nb);
        }
    }
    ir->nroute_ids = nr;
    ir->nbackend_ids = nb;
    ir->nsession_ids = ns;
    ir->nratelimit_ids = nl;
    ir->indexed = true;
}

const char *
gw_ir_strdup(struct gw_ir *ir, const char *s)
{
    return s ? gw_arena_strdup(&ir->arena, s) : NULL;
}

const char *
gw_ir_proto_name(enum gw_ir_proto p)
{
    static const char *const names[] = {"HTTP", "HTTPS", "TLS", "TCP", "UDP"};
    return (unsigned)p < GW_ARRAY_LEN(names) ? names[p] : "?";
}
