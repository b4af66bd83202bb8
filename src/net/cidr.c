/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CIDR prefixes and immutable sets of them. A set is two sorted arrays of
 * disjoint address ranges (IPv4 as 32-bit, IPv6 as 128-bit integers):
 * prefixes become [first, last] ranges, overlapping and adjacent ones are
 * merged at build time, and a lookup is one binary search for the last
 * range starting at or below the address. 1,000 prefixes are 10 probes into
 * a few cache lines; nothing is allocated or locked on lookup.
 */
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "net/internal.h"

#include "base/banned.h"

struct r4 {
    uint32_t lo, hi;
};

struct u128 {
    uint64_t hi, lo;
};

struct r6 {
    struct u128 lo, hi;
};

struct gw_net_cidr_set {
    struct r4 *v4;
    size_t n4;
    struct r6 *v6;
    size_t n6;
};

int
gw_net_cidr_parse(struct gw_str s, struct gw_net_cidr *out)
{
    memset(out, 0, sizeof(*out));
    if (s.p == NULL || s.len == 0)
        return GW_EPARSE;
    const char *slash = memchr(s.p, '/', s.len);
    size_t alen = slash ? (size_t)(slash - s.p) : s.len;
    unsigned width;
    if (memchr(s.p, ':', alen)) {
        if (!gw_net_ip6_parse(s.p, alen, out->addr, true))
            return GW_EPARSE;
        out->family = AF_INET6;
        width = 128;
    } else {
        if (!gw_net_ip4_parse(s.p, alen, out->addr))
            return GW_EPARSE;
        out->family = AF_INET;
        width = 32;
    }
    unsigned bits = width;
    if (slash) {
        const char *d = slash + 1;
        size_t dn = s.len - alen - 1;
        if (dn == 0 || dn > 3 || (dn > 1 && d[0] == '0'))
            return GW_EPARSE;
        bits = 0;
        for (size_t i = 0; i < dn; i++) {
            if (d[i] < '0' || d[i] > '9')
                return GW_EPARSE;
            bits = bits * 10 + (unsigned)(d[i] - '0');
        }
        if (bits > width)
            return GW_EPARSE;
    }
    out->bits = bits;
    for (unsigned i = 0; i < width / 8; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        uint8_t mask = (uint8_t)(0xff00u >> keep);
        if (out->addr[i] & ~mask)
            out->host_bits = true;
        out->addr[i] &= mask;
    }
    return 0;
}

static uint32_t
load32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
load64(const uint8_t *p)
{
    return (uint64_t)load32(p) << 32 | load32(p + 4);
}

static struct u128
load128(const uint8_t *p)
{
    return (struct u128){load64(p), load64(p + 8)};
}

static int
cmp128(struct u128 a, struct u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/* The mask of a prefix of bits (0..64) in one 64-bit half. */
static uint64_t
mask64(unsigned bits)
{
    return bits == 0 ? 0 : bits >= 64 ? UINT64_MAX : UINT64_MAX << (64 - bits);
}

static int
cmp_r4(const void *a, const void *b)
{
    const struct r4 *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int
cmp_r6(const void *a, const void *b)
{
    const struct r6 *x = a, *y = b;
    return cmp128(x->lo, y->lo);
}

/* Sorts and merges overlapping or adjacent ranges in place; the new count. */
static size_t
merge4(struct r4 *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_r4);
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[w].hi == UINT32_MAX || v[i].lo <= v[w].hi + 1) {
            if (v[i].hi > v[w].hi)
                v[w].hi = v[i].hi;
        } else {
            v[++w] = v[i];
        }
    }
    return w + 1;
}

static struct u128
inc128(struct u128 a)
{
    a.lo++;
    if (a.lo == 0)
        a.hi++;
    return a;
}

static size_t
merge6(struct r6 *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_r6);
    size_t w = 0;
    for (size_t i = 1; i < n; i++) {
        bool top = v[w].hi.hi == UINT64_MAX && v[w].hi.lo == UINT64_MAX;
        if (top || cmp128(v[i].lo, inc128(v[w].hi)) <= 0) {
            if (cmp128(v[i].hi, v[w].hi) > 0)
                v[w].hi = v[i].hi;
        } else {
            v[++w] = v[i];
        }
    }
    return w + 1;
}

struct gw_net_cidr_set *
gw_net_cidr_set_new(const struct gw_net_cidr *v, size_t n)
{
    struct gw_net_cidr_set *set = gw_xcalloc(1, sizeof(*set));
    /* every IPv6 prefix may add one IPv4 range (its part of ::ffff:0:0/96) */
    set->v4 = gw_xcalloc(n ? n : 1, sizeof(*set->v4));
    set->v6 = gw_xcalloc(n ? n : 1, sizeof(*set->v6));
    /* ::ffff:0.0.0.0 .. ::ffff:255.255.255.255 */
    const struct u128 map_lo = {0, 0x0000ffff00000000u}, map_hi = {0, 0x0000ffffffffffffu};
    for (size_t i = 0; i < n; i++) {
        const struct gw_net_cidr *c = &v[i];
        if (c->family == AF_INET) {
            uint32_t m = c->bits == 0 ? 0 : UINT32_MAX << (32 - c->bits);
            uint32_t lo = load32(c->addr) & m;
            set->v4[set->n4++] = (struct r4){lo, lo | ~m};
            continue;
        }
        GW_ASSERT(c->family == AF_INET6);
        unsigned bh = c->bits > 64 ? 64 : c->bits, bl = c->bits > 64 ? c->bits - 64 : 0;
        struct u128 a = load128(c->addr), m = {mask64(bh), mask64(bl)};
        struct u128 lo = {a.hi & m.hi, a.lo & m.lo}, hi = {lo.hi | ~m.hi, lo.lo | ~m.lo};
        set->v6[set->n6++] = (struct r6){lo, hi};
        if (cmp128(lo, map_hi) <= 0 && cmp128(hi, map_lo) >= 0) {
            struct u128 ilo = cmp128(lo, map_lo) > 0 ? lo : map_lo;
            struct u128 ihi = cmp128(hi, map_hi) < 0 ? hi : map_hi;
            set->v4[set->n4++] = (struct r4){(uint32_t)ilo.lo, (uint32_t)ihi.lo};
        }
    }
    set->n4 = merge4(set->v4, set->n4);
    set->n6 = merge6(set->v6, set->n6);
    return set;
}

void
gw_net_cidr_set_free(struct gw_net_cidr_set *set)
{
    if (!set)
        return;
    free(set->v4);
    free(set->v6);
    free(set);
}

static bool
has4(const struct gw_net_cidr_set *set, uint32_t x)
{
    size_t a = 0, b = set->n4;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (set->v4[m].lo <= x)
            a = m + 1;
        else
            b = m;
    }
    return a > 0 && x <= set->v4[a - 1].hi;
}

static bool
has6(const struct gw_net_cidr_set *set, struct u128 x)
{
    size_t a = 0, b = set->n6;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (cmp128(set->v6[m].lo, x) <= 0)
            a = m + 1;
        else
            b = m;
    }
    return a > 0 && cmp128(x, set->v6[a - 1].hi) <= 0;
}

bool
gw_net_cidr_set_has(const struct gw_net_cidr_set *set, const struct sockaddr *sa)
{
    if (!set || !sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        return has4(set, ntohl(sin->sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    if (gw_net_ip6_is_mapped(a))
        return has4(set, load32(a + 12));
    return has6(set, load128(a));
}
