/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route internals: the compiled shapes gw_router_build produces and the
 * small helpers router.c, host.c and filter.c share. Never included outside
 * src/route.
 */
#ifndef GW_ROUTE_INTERNAL_H
#define GW_ROUTE_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "route/route.h"

#define ROUTE_NONE UINT32_MAX

/* Longest hostname we look at (DNS: 253, plus brackets for IPv6 literals). */
#define ROUTE_HOST_MAX 256

/* Open-addressing hash table from a byte string (plus a 32-bit context, the
 * parent trie node) to a 32-bit value. Keys of up to ROUTE_HTAB_INLINE
 * bytes (most path segments) are copied into the entry, so a lookup reads
 * one cache line of the table and nothing else; a longer key is borrowed
 * from the IR or the router's arena, its pointer stored in key[]. */
#define ROUTE_HTAB_INLINE 12

struct route_htab_entry {
    uint64_t hash; /* 0: empty slot */
    uint32_t ctx;
    uint32_t val;
    uint32_t len;
    char key[ROUTE_HTAB_INLINE]; /* the bytes, or a const char * (len > inline) */
};

struct route_htab {
    struct route_htab_entry *v;
    size_t mask; /* capacity - 1; capacity a power of two */
    size_t n;
};

/* FNV-1a over the bytes from a start that depends on the context, with a
 * final avalanche so that the low bits that pick the slot depend on every
 * byte. In three steps so that the router hashes a path segment while it
 * looks for its end (one pass over the bytes); route_hash is all three. */
static inline uint64_t
route_hash_begin(uint32_t ctx)
{
    return 0xcbf29ce484222325ULL ^ ((uint64_t)ctx * 0x9e3779b97f4a7c15ULL);
}

static inline uint64_t
route_hash_step(uint64_t h, char c)
{
    return (h ^ (unsigned char)c) * 0x100000001b3ULL;
}

static inline uint64_t
route_hash_end(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h ? h : 1;
}

uint64_t route_hash(uint32_t ctx, const char *p, size_t len);
void route_htab_init(struct route_htab *t);
void route_htab_release(struct route_htab *t);
/* Sizes t for n entries in all, so inserting them never rehashes. */
void route_htab_reserve(struct route_htab *t, size_t n);
/* Inserts (ctx, key) -> val unless present; returns the value now stored. */
uint32_t route_htab_put(struct route_htab *t, uint32_t ctx, const char *key, size_t len,
                        uint32_t val);
/* ROUTE_NONE when absent. hash must be route_hash(ctx, key, len). */
uint32_t route_htab_get(const struct route_htab *t, uint64_t hash, uint32_t ctx, const char *key,
                        size_t len);

/*
 * Hostname selection shared by listeners (per port) and vhosts (per
 * listener): exact names hashed, wildcards "*.suffix" hashed by ".suffix"
 * and found by trying the host's suffixes longest first, "*" last.
 * Lower-case keys.
 */
struct route_hostsel {
    struct route_htab exact;
    struct route_htab wild;
    uint32_t any; /* ROUTE_NONE if none */
    bool has_wild;
};

void route_hostsel_init(struct route_hostsel *s);
void route_hostsel_release(struct route_hostsel *s);
/* Adds pattern (NULL or "*": catch-all) -> val; the first one added wins.
 * The lower-cased key is copied to a. */
void route_hostsel_add(struct route_hostsel *s, struct gw_arena *a, const char *pattern,
                       uint32_t val);
/*
 * Writes up to max values matching host (normalised), most specific first:
 * the exact entry, then the wildcards by decreasing suffix length, then the
 * catch-all. Returns how many.
 */
size_t route_hostsel_find(const struct route_hostsel *s, struct gw_str host, uint32_t *vals,
                          size_t max);

/* Per (rule, match) compiled conditions. */
struct route_kv {
    struct gw_str name, value;
    pcre2_code *re; /* regex: NULL when the pattern failed (never holds) */
    bool regex;
};

struct route_cond {
    pcre2_code *path_re; /* REGEX paths */
    struct gw_str method;
    struct route_kv *headers, *query;
    uint32_t nheaders, nquery;
    bool broken; /* a pattern or path did not compile: never holds */
    bool has_method;
};

/* A list value with this bit set is a route without conditions (no
 * method, header, query or regex to check, not broken): matching takes it
 * without reading its route_cond. */
#define ROUTE_ALWAYS 0x80000000u

/* Route indices (| ROUTE_ALWAYS), ascending; up to two held inline (most
 * lists hold one route), more in the router's arena. */
struct route_list {
    union {
        uint32_t *v;     /* cap > 0 */
        uint32_t inl[2]; /* cap == 0 */
    } u;

    uint32_t n, cap;
};

static inline const uint32_t *
route_list_items(const struct route_list *l)
{
    return l->cap ? l->u.v : l->u.inl;
}

/* What every walk reads (nchildren, then the prefix list) first, in 24
 * bytes: with 40-byte nodes they straddle two cache lines less often than
 * fields at both ends would. */
struct route_node {
    uint32_t nchildren;       /* 0: the walk stops here without a lookup */
    uint32_t prefix_len;      /* bytes of the path up to this node ("/a/b": 4) */
    struct route_list prefix; /* PathPrefix routes ending here */
    struct route_list exact;  /* Exact routes ending here */
};

struct route_vhost {
    const struct gw_ir_vhost *ir;
    /* One per ir->routes[i]; NULL (nconds 0) when no route of the vhost
     * has a condition (every list item is ROUTE_ALWAYS then). */
    struct route_cond *conds;
    size_t nconds;
    uint32_t root;           /* trie node */
    struct route_list regex; /* REGEX path routes, ascending */
};

struct route_listener {
    const struct gw_ir_listener *ir;
    struct route_vhost *vhosts;
    size_t nvhosts;
    struct route_hostsel sel; /* host -> vhost index */
};

struct route_port {
    const struct gw_ir_port *ir;
    struct route_listener *listeners;
    size_t nlisteners;
    struct route_hostsel sel;     /* host -> HTTP(S) listener index */
    struct route_hostsel sel_all; /* host or SNI -> any listener index */
};

struct gw_router {
    const struct gw_ir *ir;
    struct gw_arena arena; /* conditions, keys, compiled shapes */
    struct route_port *ports;
    size_t nports;
    struct route_node *nodes;
    size_t nnodes, capnodes;
    struct route_htab children; /* (parent node, segment) -> child node */
    size_t regex_errors;
    size_t memory;
};

/*
 * One request's regex budget: every regex the request meets (path, header,
 * query, GRPCRoute method) spends PCRE2 match-limit units from it, so the
 * CPU a request can cost in regexes is bounded whatever the routes.
 */
struct route_budget {
    uint32_t left;      /* match-limit units still to spend */
    uint32_t giveups;   /* evaluations abandoned (budget, or a PCRE2 limit) */
    uint32_t undecided; /* smallest route index of the vhost being matched
                           whose conditions could not be decided; ROUTE_NONE */
};

/* Starts a request's budget. */
void route_budget_init(struct route_budget *b);

/* Full match of re on s, paid from b. True on a match; false on no match,
 * and false with b->giveups incremented when the budget ran out or PCRE2
 * gave up otherwise (depth, heap or JIT stack limit): the answer is then
 * unknown. NULL re never matches. Any thread, allocation-free after the
 * thread's first call. */
bool route_regex_match(const pcre2_code *re, struct gw_str s, struct route_budget *b);

#endif /* GW_ROUTE_INTERNAL_H */
