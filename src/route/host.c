/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: hostnames. The hash table every lookup of the router uses (trie
 * children, exact hostnames, wildcard suffixes), hostname selection by
 * exact name, longest wildcard suffix and catch-all, and the normalisation
 * of a request's Host into the lower-case name the tables are keyed by.
 */
#include <stdlib.h>
#include <string.h>

#include "route/internal.h"

#include "base/banned.h"

uint64_t
route_hash(uint32_t ctx, const char *p, size_t len)
{
    uint64_t h = route_hash_begin(ctx);
    for (size_t i = 0; i < len; i++)
        h = route_hash_step(h, p[i]);
    return route_hash_end(h);
}

void
route_htab_init(struct route_htab *t)
{
    t->v = NULL;
    t->mask = 0;
    t->n = 0;
}

void
route_htab_release(struct route_htab *t)
{
    free(t->v);
    route_htab_init(t);
}

static void
htab_insert(struct route_htab *t, const struct route_htab_entry *e)
{
    size_t i = e->hash & t->mask;
    while (t->v[i].hash)
        i = (i + 1) & t->mask;
    t->v[i] = *e;
}

_Static_assert(64 % sizeof(struct route_htab_entry) == 0, "entries tile cache lines");

/* Rehashes t into cap slots (a power of two, more than t->n). The slots
 * start on a cache line, so that no entry straddles two: a lookup reads one
 * line (hash and inline key together), not sometimes two. */
static void
htab_resize(struct route_htab *t, size_t cap)
{
    struct route_htab old_t = *t;
    size_t bytes = (cap * sizeof(*t->v) + 63) & ~(size_t)63;
    t->v = aligned_alloc(64, bytes);
    GW_ASSERT(t->v);
    memset(t->v, 0, bytes);
    t->mask = cap - 1;
    if (old_t.v) {
        for (size_t i = 0; i <= old_t.mask; i++)
            if (old_t.v[i].hash)
                htab_insert(t, &old_t.v[i]);
        free(old_t.v);
    }
}

/* Slots for n entries at a load factor of at most 1/2: probes stay short on
 * the hot path. */
static size_t
htab_cap_for(size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    return cap;
}

void
route_htab_reserve(struct route_htab *t, size_t n)
{
    size_t cap = htab_cap_for(n);
    if (cap > (t->v ? t->mask + 1 : 0))
        htab_resize(t, cap);
}

_Static_assert(sizeof(const char *) <= ROUTE_HTAB_INLINE, "a long key's pointer fits in key[]");

static inline bool
key_eq(const struct route_htab_entry *e, const char *key, size_t len)
{
    if (e->len != len)
        return false;
    if (len <= ROUTE_HTAB_INLINE)
        return memcmp(e->key, key, len) == 0;
    const char *p;
    memcpy(&p, e->key, sizeof(p));
    return memcmp(p, key, len) == 0;
}

uint32_t
route_htab_get(const struct route_htab *t, uint64_t hash, uint32_t ctx, const char *key, size_t len)
{
    if (!t->v)
        return ROUTE_NONE;
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        const struct route_htab_entry *e = &t->v[i];
        if (!e->hash)
            return ROUTE_NONE;
        if (e->hash == hash && e->ctx == ctx && key_eq(e, key, len))
            return e->val;
    }
}

uint32_t
route_htab_put(struct route_htab *t, uint32_t ctx, const char *key, size_t len, uint32_t val)
{
    uint64_t h = route_hash(ctx, key, len);
    uint32_t old = route_htab_get(t, h, ctx, key, len);
    if (old != ROUTE_NONE)
        return old;
    if ((t->n + 1) * 2 > (t->v ? t->mask + 1 : 0))
        htab_resize(t, htab_cap_for(t->n + 1));
    GW_ASSERT(len < UINT32_MAX);
    struct route_htab_entry e = {.hash = h, .ctx = ctx, .val = val, .len = (uint32_t)len};
    if (len <= ROUTE_HTAB_INLINE)
        memcpy(e.key, key, len);
    else
        memcpy(e.key, &key, sizeof(key));
    htab_insert(t, &e);
    t->n++;
    return val;
}

void
route_hostsel_init(struct route_hostsel *s)
{
    route_htab_init(&s->exact);
    route_htab_init(&s->wild);
    s->any = ROUTE_NONE;
    s->has_wild = false;
}

void
route_hostsel_release(struct route_hostsel *s)
{
    route_htab_release(&s->exact);
    route_htab_release(&s->wild);
}

static char *
arena_lower(struct gw_arena *a, const char *s, size_t n)
{
    char *d = gw_arena_strndup(a, s, n);
    for (size_t i = 0; i < n; i++)
        if (d[i] >= 'A' && d[i] <= 'Z')
            d[i] = (char)(d[i] - 'A' + 'a');
    return d;
}

void
route_hostsel_add(struct route_hostsel *s, struct gw_arena *a, const char *pattern, uint32_t val)
{
    if (!pattern || strcmp(pattern, "*") == 0 || pattern[0] == '\0') {
        if (s->any == ROUTE_NONE)
            s->any = val;
        return;
    }
    size_t n = strlen(pattern);
    if (n >= 2 && pattern[0] == '*' && pattern[1] == '.') {
        char *k = arena_lower(a, pattern + 1, n - 1); /* ".example.com" */
        route_htab_put(&s->wild, 0, k, n - 1, val);
        s->has_wild = true;
        return;
    }
    char *k = arena_lower(a, pattern, n);
    route_htab_put(&s->exact, 0, k, n, val);
}

size_t
route_hostsel_find(const struct route_hostsel *s, struct gw_str host, uint32_t *vals, size_t max)
{
    size_t n = 0;
    if (max == 0)
        return 0;
    if (host.len > 0) {
        uint32_t v =
            route_htab_get(&s->exact, route_hash(0, host.p, host.len), 0, host.p, host.len);
        if (v != ROUTE_NONE)
            vals[n++] = v;
        /* Each '.' after a non-empty first label starts a candidate suffix,
         * longest first: "a.b.c" tries ".b.c" then ".c". */
        if (s->has_wild) {
            for (size_t i = 1; i < host.len && n < max; i++) {
                if (host.p[i] != '.')
                    continue;
                const char *k = host.p + i;
                size_t kl = host.len - i;
                v = route_htab_get(&s->wild, route_hash(0, k, kl), 0, k, kl);
                if (v != ROUTE_NONE)
                    vals[n++] = v;
            }
        }
    }
    if (s->any != ROUTE_NONE && n < max)
        vals[n++] = s->any;
    return n;
}

static bool
is_port(const char *p, size_t n)
{
    /* RFC 3986: port = *DIGIT, so "h.test:" is allowed; at most 65535. */
    unsigned v = 0;
    if (n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= 65535;
}

/* Bytes of a host name outside an IP literal: 1 lower case, digit, '-' or
 * '_'; 2 upper case; 3 '.'; 4 ':' (the port follows); 0 anything else. */
static const unsigned char host_byte[256] = {
    ['-'] = 1, ['_'] = 1, ['.'] = 3, [':'] = 4, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['A'] = 2, ['B'] = 2, ['C'] = 2, ['D'] = 2, ['E'] = 2, ['F'] = 2, ['G'] = 2, ['H'] = 2,
    ['I'] = 2, ['J'] = 2, ['K'] = 2, ['L'] = 2, ['M'] = 2, ['N'] = 2, ['O'] = 2, ['P'] = 2,
    ['Q'] = 2, ['R'] = 2, ['S'] = 2, ['T'] = 2, ['U'] = 2, ['V'] = 2, ['W'] = 2, ['X'] = 2,
    ['Y'] = 2, ['Z'] = 2,
};

int
gw_route_host_normalize(struct gw_str in, char *buf, size_t cap, struct gw_str *out)
{
    *out = (struct gw_str){buf, 0};
    if (in.len == 0)
        return 0;
    size_t end; /* end of the host part */
    bool upper = false;
    if (in.p[0] == '[') {
        const char *rb = memchr(in.p, ']', in.len);
        if (!rb)
            return GW_EPARSE;
        end = (size_t)(rb - in.p) + 1;
        if (end < 4) /* "[::]" is the shortest literal */
            return GW_EPARSE;
        for (size_t i = 1; i + 1 < end; i++) {
            unsigned char c = (unsigned char)in.p[i];
            bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            if (!hex && c != ':' && c != '.')
                return GW_EPARSE;
            upper |= c >= 'A' && c <= 'F';
        }
    } else {
        /* One pass: the bytes, upper case seen, the first empty label. */
        size_t dots = SIZE_MAX;
        for (end = 0; end < in.len; end++) {
            unsigned k = host_byte[(unsigned char)in.p[end]];
            if (k == 1)
                continue;
            if (k == 4)
                break;
            if (k == 0)
                return GW_EPARSE;
            if (k == 2)
                upper = true;
            else if (end > 0 && in.p[end - 1] == '.' && dots == SIZE_MAX)
                dots = end;
        }
        if (end < in.len && !is_port(in.p + end + 1, in.len - end - 1))
            return GW_EPARSE;
        size_t n = end;
        if (n > 0 && in.p[n - 1] == '.')
            n--;
        /* No empty labels: "a..b", ".a" (one trailing dot is dropped). */
        if (n == 0 || in.p[0] == '.' || dots < n)
            return GW_EPARSE;
        end = n;
    }
    if (end < in.len && in.p[0] == '[' &&
        (in.p[end] != ':' || !is_port(in.p + end + 1, in.len - end - 1)))
        return GW_EPARSE;
    size_t n = end;
    if (n > 253 || n > cap)
        return GW_ELIMIT;
    if (!upper) {
        /* Already lower case (the usual Host): a view, no copy. */
        *out = (struct gw_str){in.p, n};
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = in.p[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out->len = n;
    return 0;
}
