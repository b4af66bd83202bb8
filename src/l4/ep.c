/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream endpoints as a worker knows them, for both data planes: an
 * open-addressing table keyed by ip:port whose entries live as long as the
 * worker (so ejection state survives reloads; the HTTP side's entries are
 * larger, a struct gw_l4_ep first), passive ejection after consecutive
 * failures (eject for eject_ms, doubling per repeat up to 16x, a success
 * clears the count), and l4's round-robin pick that skips ejected
 * endpoints.
 */

#include <stdlib.h>
#include <string.h>

#include "l4/internal.h"

#include "base/banned.h"

static uint64_t
hash_ep(const char *ip, uint16_t port)
{
    uint64_t h = 1469598103934665603ull ^ port;
    for (const unsigned char *s = (const unsigned char *)ip; *s; s++)
        h = (h ^ *s) * 1099511628211ull;
    return h ^ (h >> 29);
}

void
gw_l4_ep_table_init(struct gw_l4_ep_table *t, size_t size)
{
    GW_ASSERT(size >= sizeof(struct gw_l4_ep));
    *t = (struct gw_l4_ep_table){.size = size};
}

void
gw_l4_ep_table_release(struct gw_l4_ep_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i]);
    free(t->slots);
    *t = (struct gw_l4_ep_table){.size = t->size};
}

static void
resolve(struct gw_l4_ep *e)
{
    e->sa_ok = gw_sock_addr_parse(e->ip, e->port, &e->sa, &e->salen) == 0;
}

static void
grow(struct gw_l4_ep_table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct gw_l4_ep **ns = gw_xcalloc(ncap, sizeof(*ns));
    for (size_t i = 0; i < t->cap; i++) {
        struct gw_l4_ep *e = t->slots[i];
        if (!e)
            continue;
        size_t j = hash_ep(e->ip, e->port) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
}

struct gw_l4_ep *
gw_l4_ep_table_get(struct gw_l4_ep_table *t, const char *ip, uint16_t port)
{
    if (t->cap == 0 || (t->n + 1) * 2 > t->cap)
        grow(t);
    size_t j = hash_ep(ip, port) & (t->cap - 1);
    for (struct gw_l4_ep *e; (e = t->slots[j]) != NULL; j = (j + 1) & (t->cap - 1))
        if (e->port == port && strcmp(e->ip, ip) == 0)
            return e;
    struct gw_l4_ep *e = gw_xcalloc(1, t->size);
    size_t n = strlen(ip);
    if (n >= sizeof(e->ip))
        n = sizeof(e->ip) - 1; /* cannot resolve then: sa_ok stays false */
    memcpy(e->ip, ip, n);
    e->port = port;
    if (n == strlen(ip))
        resolve(e);
    t->slots[j] = e;
    t->n++;
    return e;
}

struct gw_l4_ep *
l4_ep_pick(struct gw_l4_ep_table *t, const struct gw_ir_backend *b, uint32_t *cursor,
           const struct gw_l4_ep *avoid, uint64_t now)
{
    size_t n = b->nendpoints;
    if (n == 0)
        return NULL;
    struct gw_l4_ep *fallback = NULL, *second = NULL;
    for (size_t k = 0; k < n; k++) {
        const struct gw_ir_endpoint *ie = &b->endpoints[(*cursor)++ % n];
        struct gw_l4_ep *e = gw_l4_ep_table_get(t, ie->ip, ie->port);
        if (!e->sa_ok)
            continue;
        if (!fallback)
            fallback = e;
        if (gw_l4_ep_is_ejected(e, now))
            continue;
        if (e == avoid) {
            second = e;
            continue;
        }
        return e;
    }
    /* every usable endpoint is ejected (or only the one to avoid is left):
     * better to try than to refuse */
    return second ? second : fallback;
}

void
gw_l4_ep_report(struct gw_l4_ep *ep, bool failed, unsigned consecutive, unsigned eject_ms,
                uint64_t now)
{
    if (!failed) {
        ep->consec = 0;
        if (ep->ejections && ep->ejected_until + 10ull * eject_ms < now)
            ep->ejections = 0;
        return;
    }
    ep->consec++;
    if (consecutive == 0 || ep->consec < consecutive || gw_l4_ep_is_ejected(ep, now))
        return;
    unsigned shift = ep->ejections < 4 ? ep->ejections : 4;
    ep->ejected_until = now + ((uint64_t)eject_ms << shift);
    ep->ejections++;
    ep->consec = 0;
}
