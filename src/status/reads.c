/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: what a translation read of Services. A backendRef reads a whole
 * Service (and its EndpointSlices); map_ports reads one port mapping of a
 * Gateway's generated Service. Kept in the status (sorted by key) so that a
 * source can tell a Service or EndpointSlice change that cannot change the
 * translation (one nothing names, or the generated Service coming back as
 * translate mapped it) from one that can. Keys are 64-bit hashes of
 * namespace and name: a collision only makes a change look relevant.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

static uint64_t
key_of(const char *ns, const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = ns ? ns : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull; /* no byte of a name */
    for (const char *p = name ? name : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

int64_t
tr_service_target(const struct gw_service *svc, int64_t port, bool udp, uint16_t port_base)
{
    for (size_t i = 0; svc && i < svc->spec.ports.n; i++) {
        const struct gw_service_port *sp = &svc->spec.ports.v[i];
        bool sudp = sp->protocol && !strcmp(sp->protocol, "UDP");
        if (sp->port == port && sudp == udp && sp->target_port_num >= port_base &&
            sp->target_port_num <= 65535)
            return sp->target_port_num;
    }
    return -1;
}

void
tr_read_service(struct tr *t, const char *ns, const char *name, bool whole, int64_t port, bool udp,
                int64_t target)
{
    if (t->nreads == t->reads_cap)
        t->reads = gw_xgrow(t->reads, &t->reads_cap, t->nreads + 1, sizeof(*t->reads));
    t->reads[t->nreads++] = (struct gw_status_svcread){
        .key = key_of(ns, name), .port = port, .target = target, .udp = udp, .whole = whole};
}

static int
read_cmp(const void *a, const void *b)
{
    const struct gw_status_svcread *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->whole != y->whole)
        return x->whole ? -1 : 1;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    return (int)x->udp - (int)y->udp;
}

void
tr_reads_finish(struct tr *t)
{
    struct gw_status *st = t->st;
    st->port_base = t->port_base;
    if (!t->nreads)
        return;
    tr_sort(t->reads, t->nreads, sizeof(*t->reads), read_cmp);
    st->svcreads = gw_arena_alloc(&st->arena, t->nreads * sizeof(*st->svcreads));
    for (size_t i = 0; i < t->nreads; i++)
        if (!st->nsvcreads || read_cmp(&st->svcreads[st->nsvcreads - 1], &t->reads[i]))
            st->svcreads[st->nsvcreads++] = t->reads[i];
}

/* The first read of key, or NULL. */
static const struct gw_status_svcread *
first_read(const struct gw_status *st, uint64_t key)
{
    size_t lo = 0, hi = st->nsvcreads;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->svcreads[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->nsvcreads && st->svcreads[lo].key == key ? &st->svcreads[lo] : NULL;
}

bool
gw_status_reads_service_whole(const struct gw_status *st, const char *ns, const char *name)
{
    const struct gw_status_svcread *r = first_read(st, key_of(ns, name));
    return r && r->whole; /* sorted whole first */
}

bool
gw_status_service_reads_same(const struct gw_status *st, const char *ns, const char *name,
                             const struct gw_service *svc)
{
    uint64_t key = key_of(ns, name);
    const struct gw_status_svcread *r = first_read(st, key);
    for (const struct gw_status_svcread *end = st->svcreads + st->nsvcreads;
         r && r < end && r->key == key; r++)
        if (r->whole || tr_service_target(svc, r->port, r->udp, st->port_base) != r->target)
            return false;
    return true;
}
