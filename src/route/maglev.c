/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: consistent hashing for LoadBalancerPolicy, Maglev's lookup table
 * (Eisenbud et al., NSDI 2016). Each endpoint, named by its "ip:port",
 * walks its own permutation of the table's slots (offset and skip from two
 * hashes of its name) and the endpoints take turns claiming their next
 * free slot until every slot is taken. With a prime size M the
 * permutations are full cycles, every endpoint owns M/N slots within a few
 * per cent, and adding or removing one endpoint moves about 1/N of the
 * slots (plus a little churn). The key hash is fixed (no per-process seed)
 * so that every worker, reload and replica maps a key the same way.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/route.h"

#include "base/banned.h"

/* The largest table built: caps memory at 16 MiB a backend. */
#define MAX_SIZE 4194301u /* prime */

uint64_t
gw_route_hash(uint64_t seed, const void *p, size_t n)
{
    /* FNV-1a over the bytes, then murmur3's 64-bit finalizer: fast on
     * short keys, well mixed in the low bits the modulo reads. */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ (seed * 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static bool
is_prime(uint32_t n)
{
    if (n < 2)
        return false;
    for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

struct ord {
    const struct gw_ir_endpoint *e;
    size_t i;
};

static int
cmp_ord(const void *a, const void *b)
{
    const struct gw_ir_endpoint *x = ((const struct ord *)a)->e, *y = ((const struct ord *)b)->e;
    int c = strcmp(x->ip, y->ip);
    return c ? c : (x->port > y->port) - (x->port < y->port);
}

uint32_t
gw_route_maglev_size(size_t n)
{
    /* Not a function of n alone: Maglev moves few keys only while the
     * size stays put, so it is fixed (Envoy's default, 65537) until 100
     * slots per endpoint need more, then doubles (the next prime) - a
     * step that reshuffles every key once, at 656 endpoints and so on. */
    uint64_t want = (uint64_t)n * 100, m = 65537;
    while (m < want && m < MAX_SIZE) {
        m = m * 2 + 1;
        while (!is_prime((uint32_t)m))
            m++;
    }
    return m > MAX_SIZE ? MAX_SIZE : (uint32_t)m;
}

int
gw_route_maglev_init(struct gw_route_maglev *m, const struct gw_ir_endpoint *eps, size_t n)
{
    memset(m, 0, sizeof(*m));
    if (n == 0)
        return 0;
    if (n > UINT32_MAX / 2)
        return GW_ELIMIT;
    uint32_t size = gw_route_maglev_size(n);
    uint32_t *slot = gw_xmalloc((size_t)size * sizeof(*slot));
    uint64_t *perm = gw_xmalloc(n * 2 * sizeof(*perm)); /* offset, skip */
    uint64_t *next = gw_xcalloc(n, sizeof(*next));
    for (uint32_t i = 0; i < size; i++)
        slot[i] = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        char name[80];
        int len = snprintf(name, sizeof(name), "%s:%u", eps[i].ip, eps[i].port);
        size_t ln = len < 0 ? 0 : (size_t)len < sizeof(name) ? (size_t)len : sizeof(name) - 1;
        perm[2 * i] = gw_route_hash(0x6d61676c65763031ull, name, ln) % size;
        perm[2 * i + 1] = gw_route_hash(0x736b697030303031ull, name, ln) % (size - 1) + 1;
    }
    /* The endpoints take turns in the order of their names, not of eps:
     * a reordered EndpointSlice builds the same table. */
    struct ord *ord = gw_xmalloc(n * sizeof(*ord));
    for (size_t i = 0; i < n; i++)
        ord[i] = (struct ord){&eps[i], i};
    qsort(ord, n, sizeof(*ord), cmp_ord);
    uint32_t filled = 0;
    while (filled < size) {
        for (size_t k = 0; k < n && filled < size; k++) {
            size_t i = ord[k].i;
            uint64_t c = (perm[2 * i] + next[i] * perm[2 * i + 1]) % size;
            while (slot[c] != UINT32_MAX) {
                next[i]++;
                c = (perm[2 * i] + next[i] * perm[2 * i + 1]) % size;
            }
            slot[c] = (uint32_t)i;
            next[i]++;
            filled++;
        }
    }
    free(ord);
    free(perm);
    free(next);
    m->slot = slot;
    m->size = size;
    m->nendpoints = n;
    return 0;
}

void
gw_route_maglev_release(struct gw_route_maglev *m)
{
    free(m->slot);
    memset(m, 0, sizeof(*m));
}
