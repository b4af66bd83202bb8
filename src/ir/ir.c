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
    gw_arena_release(&ir->arena);
    free(ir);
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
