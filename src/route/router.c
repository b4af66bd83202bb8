/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: compiling an IR into the router, and matching a request against
 * it. Per vhost, Exact and PathPrefix matches hang off the nodes of a
 * segment trie whose children are found through one hash table keyed by
 * (parent node, segment); every node keeps its routes as ascending IR
 * indices. Matching walks the request path once, then looks at the lists
 * it passed, deepest first, stopping in each list at the best index found
 * so far: the smallest index whose conditions hold wins, which is what a
 * linear scan in IR (precedence) order returns.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route/internal.h"

#include "base/banned.h"

/*
 * Regex CPU per request. PCRE2 backtracks: one pattern can take exponential
 * time, and a request meets every regex of its vhost that ranks above the
 * route it matches. PCRE2 cannot say what a match cost, only stop it at a
 * match limit, so each evaluation runs with a limit that is paid from the
 * request's budget up front: first REGEX_FIRST units (every ordinary
 * pattern finishes in a handful), and after each limit hit again with
 * REGEX_GROWTH times more, until the budget is gone. What a request spends
 * is then at most REGEX_BUDGET units across all its regexes (about 5-8 ns a
 * unit with the JIT: ~2 ms), while a single pattern may still use up to
 * ~160,000 units, more than the 100,000 each one had before the budget.
 * Depth and heap limits bound the interpreter (no JIT) as before.
 */
#define REGEX_BUDGET      250000
#define REGEX_FIRST       16
#define REGEX_GROWTH      4
#define REGEX_DEPTH_LIMIT 1000
#define REGEX_HEAP_LIMIT  1024 /* KiB */

/* Requests during which a regex was abandoned (gw_route_regex_giveups). */
static atomic_uint_fast64_t regex_giveups;

/* Buffers on the matching thread's stack. */
#define JOIN_MAX    4096 /* a repeated header's field lines joined */
#define QUERY_MAX   2048 /* one decoded query value, for a regex */
#define WALK_MAX    64   /* trie nodes remembered for the deepest-first scan */
#define VHOST_TRIES 16   /* vhosts tried for one host (exact, wildcards, "*") */

/* ------------------------------------------------------------------------ */
/* Build                                                                    */

static uint32_t
node_new(struct gw_router *r)
{
    r->nodes = gw_xgrow(r->nodes, &r->capnodes, r->nnodes + 1, sizeof(*r->nodes));
    memset(&r->nodes[r->nnodes], 0, sizeof(r->nodes[0]));
    return (uint32_t)r->nnodes++;
}

/* Up to two values live in the list itself; past that the list moves to
 * the router's arena, growing by copying to a block twice as big and
 * leaving the old block behind. */
static void
list_push(struct gw_router *r, struct route_list *l, uint32_t v)
{
    if (l->cap == 0 && l->n < 2) {
        l->u.inl[l->n++] = v;
        return;
    }
    if (l->n == l->cap || l->cap == 0) {
        uint32_t cap = l->n * 2;
        uint32_t *nv = gw_arena_alloc(&r->arena, cap * sizeof(*nv));
        memcpy(nv, route_list_items(l), l->n * sizeof(*nv));
        l->u.v = nv;
        l->cap = cap;
    }
    l->u.v[l->n++] = v;
}

/* Walks (creating) the trie below from for the segments of s ("a/b/" is
 * "a", "b", ""). Returns the last node. base is the byte count of the path
 * before s, for the nodes' prefix_len. */
static uint32_t
trie_insert(struct gw_router *r, uint32_t from, const char *s, size_t n, size_t base)
{
    uint32_t node = from;
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != '/')
            j++;
        /* One probe: an absent child is inserted as the next node. */
        uint32_t next = (uint32_t)r->nnodes;
        uint32_t child = route_htab_put(&r->children, node, s + i, j - i, next);
        if (child == next) {
            node_new(r);
            r->nodes[node].nchildren++;
            r->nodes[child].prefix_len = (uint32_t)(base + j);
        }
        node = child;
        if (j >= n)
            return node;
        i = j + 1;
    }
}

GW_PRINTF(4, 5)

static void
route_diag(struct gw_diags *d, const struct gw_ir_route *ir, const char *field, const char *fmt,
           ...)
{
    if (!d)
        return;
    /* ir->route is "Kind ns/name". */
    const char *full = ir->route ? ir->route : "";
    const char *sp = strchr(full, ' ');
    char *kind = sp ? gw_xstrndup(full, (size_t)(sp - full)) : gw_xstrdup("HTTPRoute");
    const char *nsname = sp ? sp + 1 : full;
    const char *slash = strchr(nsname, '/');
    char *ns = slash ? gw_xstrndup(nsname, (size_t)(slash - nsname)) : NULL;
    const char *name = slash ? slash + 1 : nsname;
    char path[128];
    snprintf(path, sizeof(path), "spec.rules[%u].matches[%u].%s", ir->rule_index, ir->match_index,
             field);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gw_diags_add(d, GW_SEV_ERROR, (struct gw_pos){0}, kind, ns, name, path, "%s", msg);
    free(kind);
    free(ns);
}

static pcre2_code *
regex_compile(struct gw_router *r, struct gw_diags *diags, const struct gw_ir_route *ir,
              const char *field, const char *pattern)
{
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(pattern ? pattern : ""), PCRE2_ZERO_TERMINATED,
                                   PCRE2_ANCHORED | PCRE2_ENDANCHORED, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof(msg));
        r->regex_errors++;
        route_diag(diags, ir, field, "regular expression does not compile at offset %zu: %s",
                   (size_t)off, (const char *)msg);
        return NULL;
    }
    /* JIT when the platform has it; the interpreter otherwise. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    size_t sz = 0;
    if (pcre2_pattern_info(re, PCRE2_INFO_SIZE, &sz) == 0)
        r->memory += sz;
    return re;
}

static void
kv_compile(struct gw_router *r, struct gw_diags *diags, const struct gw_ir_route *ir,
           const struct gw_ir_match_kv *in, size_t n, const char *what, struct route_kv **out,
           bool *broken)
{
    *out = n ? gw_arena_alloc(&r->arena, n * sizeof(**out)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct route_kv *kv = &(*out)[i];
        kv->name = gw_str_from(in[i].name);
        kv->value = gw_str_from(in[i].value);
        kv->regex = in[i].regex;
        if (kv->regex) {
            char field[64];
            snprintf(field, sizeof(field), "%s[%zu].value", what, i);
            kv->re = regex_compile(r, diags, ir, field, in[i].value);
            if (!kv->re)
                *broken = true;
        }
    }
}

static void
vhost_compile(struct gw_router *r, struct gw_diags *diags, const struct gw_ir_vhost *ir,
              struct route_vhost *vh)
{
    vh->ir = ir;
    vh->root = node_new(r);
    /* Matching reads a route's conditions only for routes that have some:
     * a vhost whose routes have none keeps no table of them (100,000
     * routes without conditions: 8 MB). A route whose path is not valid
     * is in no list, so its conditions are never read either. */
    bool any = false;
    for (size_t i = 0; i < ir->nroutes && !any; i++) {
        const struct gw_ir_route *rt = &ir->routes[i];
        any = rt->method || rt->nheaders || rt->nquery || rt->path_type == GW_IR_PATH_REGEX;
    }
    vh->nconds = any ? ir->nroutes : 0;
    vh->conds = any ? gw_arena_alloc(&r->arena, ir->nroutes * sizeof(*vh->conds)) : NULL;
    for (size_t i = 0; i < ir->nroutes; i++) {
        const struct gw_ir_route *rt = &ir->routes[i];
        /* Without a table, c is a stand-in for this route only (it has no
         * method, header, query or regex path to compile). */
        struct route_cond local = {0};
        struct route_cond *c = any ? &vh->conds[i] : &local;
        GW_ASSERT(i < ROUTE_ALWAYS);
        c->has_method = rt->method != NULL;
        c->method = gw_str_from(rt->method);
        kv_compile(r, diags, rt, rt->headers, rt->nheaders, "headers", &c->headers, &c->broken);
        c->nheaders = (uint32_t)rt->nheaders;
        kv_compile(r, diags, rt, rt->query, rt->nquery, "queryParams", &c->query, &c->broken);
        c->nquery = (uint32_t)rt->nquery;
        const char *p = rt->path ? rt->path : "/";
        size_t n = strlen(p);
        uint32_t item = (uint32_t)i;
        if (!c->has_method && !c->nheaders && !c->nquery && !c->broken &&
            rt->path_type != GW_IR_PATH_REGEX)
            item |= ROUTE_ALWAYS;
        if (rt->path_type == GW_IR_PATH_REGEX) {
            c->path_re = regex_compile(r, diags, rt, "path.value", p);
            if (!c->path_re)
                c->broken = true;
            list_push(r, &vh->regex, (uint32_t)i);
            continue;
        }
        if (n == 0 || p[0] != '/') {
            c->broken = true;
            route_diag(diags, rt, "path.value", "path \"%s\" does not start with '/'", p);
            continue;
        }
        uint32_t node;
        if (rt->path_type == GW_IR_PATH_EXACT) {
            node = trie_insert(r, vh->root, p + 1, n - 1, 1);
            list_push(r, &r->nodes[node].exact, item);
        } else {
            /* PathPrefix: one trailing '/' is ignored; "/" is the root. */
            size_t plen = p[n - 1] == '/' ? n - 1 : n;
            node = plen == 0 ? vh->root : trie_insert(r, vh->root, p + 1, plen - 1, 1);
            list_push(r, &r->nodes[node].prefix, item);
        }
    }
}

/* The trie nodes rt's path can add below its vhost's root, at most (what
 * vhost_compile inserts: an Exact path's segments, a PathPrefix's without
 * one trailing '/'; a regex none). */
static size_t
path_segments(const struct gw_ir_route *rt)
{
    if (rt->path_type == GW_IR_PATH_REGEX || !rt->path)
        return 0;
    size_t n = strlen(rt->path), segs = 0;
    if (rt->path_type != GW_IR_PATH_EXACT && n && rt->path[n - 1] == '/')
        n--;
    for (size_t i = 0; i < n; i++)
        segs += rt->path[i] == '/';
    return segs;
}

int
gw_router_build(const struct gw_ir *ir, struct gw_diags *diags, struct gw_router **out)
{
    *out = NULL;
    struct gw_router *r = gw_xcalloc(1, sizeof(*r));
    r->ir = ir;
    gw_arena_init(&r->arena, 64 * 1024);
    route_htab_init(&r->children);

    /* Presized for at most a node per path segment, a root per vhost: no
     * rehash and no node array regrowth while compiling, and nothing for
     * catch-all routes (10,000 hostnames with "/": 1.4 MB less than a
     * node and a slot per route). */
    size_t nsegs = 0, nvhosts = 0;
    for (size_t pi = 0; pi < ir->nports; pi++)
        for (size_t li = 0; li < ir->ports[pi].nlisteners; li++) {
            const struct gw_ir_listener *il = &ir->ports[pi].listeners[li];
            nvhosts += il->nvhosts;
            for (size_t vi = 0; vi < il->nvhosts; vi++)
                for (size_t i = 0; i < il->vhosts[vi].nroutes; i++)
                    nsegs += path_segments(&il->vhosts[vi].routes[i]);
        }
    route_htab_reserve(&r->children, nsegs);
    if (nvhosts + nsegs)
        r->nodes = gw_xgrow(r->nodes, &r->capnodes, nvhosts + nsegs, sizeof(*r->nodes));

    r->nports = ir->nports;
    r->ports = ir->nports ? gw_arena_alloc(&r->arena, ir->nports * sizeof(*r->ports)) : NULL;
    for (size_t pi = 0; pi < ir->nports; pi++) {
        const struct gw_ir_port *ip = &ir->ports[pi];
        struct route_port *rp = &r->ports[pi];
        rp->ir = ip;
        route_hostsel_init(&rp->sel);
        route_hostsel_init(&rp->sel_all);
        rp->nlisteners = ip->nlisteners;
        rp->listeners = ip->nlisteners
                            ? gw_arena_alloc(&r->arena, ip->nlisteners * sizeof(*rp->listeners))
                            : NULL;
        for (size_t li = 0; li < ip->nlisteners; li++) {
            const struct gw_ir_listener *il = &ip->listeners[li];
            struct route_listener *rl = &rp->listeners[li];
            rl->ir = il;
            route_hostsel_init(&rl->sel);
            route_hostsel_add(&rp->sel_all, &r->arena, il->hostname, (uint32_t)li);
            if (il->proto != GW_IR_HTTP && il->proto != GW_IR_HTTPS)
                continue;
            route_hostsel_add(&rp->sel, &r->arena, il->hostname, (uint32_t)li);
            rl->nvhosts = il->nvhosts;
            rl->vhosts =
                il->nvhosts ? gw_arena_alloc(&r->arena, il->nvhosts * sizeof(*rl->vhosts)) : NULL;
            for (size_t vi = 0; vi < il->nvhosts; vi++) {
                vhost_compile(r, diags, &il->vhosts[vi], &rl->vhosts[vi]);
                route_hostsel_add(&rl->sel, &r->arena, il->vhosts[vi].hostname, (uint32_t)vi);
            }
        }
    }
    r->memory += gw_arena_total(&r->arena) + r->capnodes * sizeof(*r->nodes) +
                 (r->children.mask + 1) * sizeof(struct route_htab_entry);
    *out = r;
    return 0;
}

static void
kv_free(struct route_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pcre2_code_free(kv[i].re);
}

void
gw_router_free(struct gw_router *r)
{
    if (!r)
        return;
    for (size_t pi = 0; pi < r->nports; pi++) {
        struct route_port *rp = &r->ports[pi];
        for (size_t li = 0; li < rp->nlisteners; li++) {
            struct route_listener *rl = &rp->listeners[li];
            for (size_t vi = 0; vi < rl->nvhosts; vi++) {
                struct route_vhost *vh = &rl->vhosts[vi];
                for (size_t i = 0; i < vh->nconds; i++) {
                    pcre2_code_free(vh->conds[i].path_re);
                    kv_free(vh->conds[i].headers, vh->conds[i].nheaders);
                    kv_free(vh->conds[i].query, vh->conds[i].nquery);
                }
            }
            route_hostsel_release(&rl->sel);
        }
        route_hostsel_release(&rp->sel);
        route_hostsel_release(&rp->sel_all);
    }
    free(r->nodes);
    route_htab_release(&r->children);
    gw_arena_release(&r->arena);
    free(r);
}

const struct gw_ir *
gw_router_ir(const struct gw_router *r)
{
    return r->ir;
}

size_t
gw_router_regex_errors(const struct gw_router *r)
{
    return r->regex_errors;
}

size_t
gw_router_memory(const struct gw_router *r)
{
    return r->memory;
}

uint64_t
gw_route_regex_giveups(void)
{
    return atomic_load_explicit(&regex_giveups, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Match                                                                    */

/* A thread's match block and match context (its limit changes with every
 * evaluation), made at its first regex and freed when the thread exits
 * (registered once per thread through tls_key), so worker threads that
 * stop leak nothing. */
struct regex_tls {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    uint32_t limit; /* mc's match limit: set only when it changes */
};

static pthread_key_t tls_key;
static pthread_once_t tls_key_once = PTHREAD_ONCE_INIT;

static void
tls_free(void *p)
{
    struct regex_tls *t = p;
    pcre2_match_data_free(t->md);
    pcre2_match_context_free(t->mc);
    free(t);
}

static void
tls_key_create(void)
{
    GW_ASSERT(pthread_key_create(&tls_key, tls_free) == 0);
}

static struct regex_tls *
tls_get(void)
{
    static _Thread_local struct regex_tls *tls;
    if (tls)
        return tls;
    struct regex_tls *t = gw_xcalloc(1, sizeof(*t));
    /* One match block per thread: no allocation per request (the
     * interpreter keeps its backtracking frames in it, too). */
    t->md = pcre2_match_data_create(1, NULL);
    t->mc = pcre2_match_context_create(NULL);
    if (!t->md || !t->mc) {
        tls_free(t);
        return NULL;
    }
    pcre2_set_depth_limit(t->mc, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(t->mc, REGEX_HEAP_LIMIT);
    t->limit = REGEX_FIRST;
    pcre2_set_match_limit(t->mc, t->limit);
    pthread_once(&tls_key_once, tls_key_create);
    pthread_setspecific(tls_key, t);
    tls = t;
    return t;
}

void
route_budget_init(struct route_budget *b)
{
    b->left = REGEX_BUDGET;
    b->giveups = 0;
    b->undecided = ROUTE_NONE;
}

bool
route_regex_match(const pcre2_code *re, struct gw_str s, struct route_budget *b)
{
    if (!re)
        return false;
    struct regex_tls *t = tls_get();
    if (!t) {
        b->giveups++;
        return false;
    }
    PCRE2_SPTR subject = (PCRE2_SPTR)(s.p ? s.p : "");
    uint32_t limit = REGEX_FIRST;
    for (;;) {
        if (b->left == 0) {
            b->giveups++;
            return false;
        }
        if (limit > b->left)
            limit = b->left;
        /* Paid before the run: what it costs is unknown, at most this. */
        b->left -= limit;
        if (t->limit != limit) {
            t->limit = limit;
            pcre2_set_match_limit(t->mc, limit);
        }
        int rc = pcre2_match(re, subject, s.len, 0, 0, t->md, t->mc);
        if (rc >= 0)
            return true;
        if (rc == PCRE2_ERROR_NOMATCH)
            return false;
        if (rc != PCRE2_ERROR_MATCHLIMIT) {
            b->giveups++;
            return false;
        }
        limit *= REGEX_GROWTH;
    }
}

/* Decodes one byte of a query component at p[*i] (a malformed escape is
 * taken literally). */
static char
pct_next(const char *p, size_t n, size_t *i)
{
    if (p[*i] == '%' && *i + 2 < n) {
        int hi = gw_hex_digit((unsigned char)p[*i + 1]),
            lo = gw_hex_digit((unsigned char)p[*i + 2]);
        if (hi >= 0 && lo >= 0) {
            *i += 3;
            return (char)(hi * 16 + lo);
        }
    }
    return p[(*i)++];
}

static bool
pct_eq(const char *p, size_t n, struct gw_str want)
{
    size_t i = 0, k = 0;
    while (i < n) {
        if (k >= want.len || pct_next(p, n, &i) != want.p[k])
            return false;
        k++;
    }
    return k == want.len;
}

static bool
query_holds(const struct route_kv *kv, struct gw_str q, struct route_budget *b)
{
    size_t i = 0;
    while (i < q.len) {
        size_t j = i;
        while (j < q.len && q.p[j] != '&')
            j++;
        size_t eq = i;
        while (eq < j && q.p[eq] != '=')
            eq++;
        if (j > i && pct_eq(q.p + i, eq - i, kv->name)) {
            const char *v = eq < j ? q.p + eq + 1 : q.p + j;
            size_t vn = eq < j ? j - eq - 1 : 0;
            if (!kv->regex)
                return pct_eq(v, vn, kv->value);
            char buf[QUERY_MAX];
            size_t k = 0, x = 0;
            while (x < vn) {
                if (k == sizeof(buf))
                    return false;
                buf[k++] = pct_next(v, vn, &x);
            }
            return route_regex_match(kv->re, (struct gw_str){buf, k}, b);
        }
        i = j + 1;
    }
    return false;
}

static bool
header_holds(const struct route_kv *kv, const struct gw_route_req *req, struct route_budget *b)
{
    const struct gw_h1_header *first = NULL;
    size_t count = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (gw_str_caseeq(req->headers[i].name, kv->name)) {
            if (!first)
                first = &req->headers[i];
            count++;
        }
    }
    if (!first)
        return false;
    if (count == 1)
        return kv->regex ? route_regex_match(kv->re, first->value, b)
                         : gw_str_eq(first->value, kv->value);
    /* Several field lines: one value, joined with "," (RFC 9110 §5.3). */
    char buf[JOIN_MAX];
    size_t n = 0;
    for (const struct gw_h1_header *h = first; h < req->headers + req->nheaders; h++) {
        if (!gw_str_caseeq(h->name, kv->name))
            continue;
        size_t need = h->value.len + (n ? 1 : 0);
        if (n + need > sizeof(buf))
            return false;
        if (n)
            buf[n++] = ',';
        if (h->value.len)
            memcpy(buf + n, h->value.p, h->value.len);
        n += h->value.len;
    }
    struct gw_str joined = {buf, n};
    return kv->regex ? route_regex_match(kv->re, joined, b) : gw_str_eq(joined, kv->value);
}

static bool
cond_holds(const struct route_cond *c, const struct gw_route_req *req, struct route_budget *b)
{
    if (c->broken)
        return false;
    if (c->has_method && !gw_str_eq(req->method, c->method))
        return false;
    for (size_t i = 0; i < c->nheaders; i++)
        if (!header_holds(&c->headers[i], req, b))
            return false;
    for (size_t i = 0; i < c->nquery; i++)
        if (!query_holds(&c->query[i], req->query, b))
            return false;
    if (c->path_re && !route_regex_match(c->path_re, req->path, b))
        return false;
    return true;
}

/* The smallest index of l below best whose conditions hold, else best.
 * A route whose conditions could not be decided lowers b->undecided. */
static uint32_t
scan(const struct route_vhost *vh, const struct route_list *l, uint32_t best,
     const struct gw_route_req *req, struct route_budget *b)
{
    const uint32_t *items = route_list_items(l);
    for (uint32_t i = 0; i < l->n; i++) {
        uint32_t v = items[i] & ~ROUTE_ALWAYS;
        if (v >= best)
            break;
        if (items[i] & ROUTE_ALWAYS)
            return v;
        uint32_t giveups = b->giveups;
        if (cond_holds(&vh->conds[v], req, b))
            return v;
        if (b->giveups != giveups && v < b->undecided)
            b->undecided = v;
    }
    return best;
}

/* The best route of vh for req (ROUTE_NONE if none) and the bytes of the
 * path its match covers (*prefix_len). */
static uint32_t
vhost_match(const struct gw_router *r, const struct route_vhost *vh, const struct gw_route_req *req,
            size_t *prefix_len, struct route_budget *bud)
{
    uint32_t best = ROUTE_NONE, b;
    uint32_t walked[WALK_MAX];
    size_t nwalked = 0;
    uint32_t node = vh->root;
    bool full = false;
    const char *p = req->path.p + 1;
    const char *end = req->path.p + req->path.len;
    walked[nwalked++] = node;
    /* A node without children ends the walk without a probe of the table
     * (a cache miss saved per request past a leaf, e.g. "/prefix/rest"). */
    while (r->nodes[node].nchildren) {
        const char *s = p;
        uint64_t h = route_hash_begin(node);
        while (p < end && *p != '/')
            h = route_hash_step(h, *p++);
        size_t n = (size_t)(p - s);
        uint32_t child = route_htab_get(&r->children, route_hash_end(h), node, s, n);
        if (child == ROUTE_NONE)
            break;
        node = child;
        if (nwalked == WALK_MAX) {
            /* Very deep paths: the order of the scans only matters for
             * speed, so the overflow is scanned at once. */
            b = scan(vh, &r->nodes[node].prefix, best, req, bud);
            if (b != best)
                *prefix_len = r->nodes[node].prefix_len;
            best = b;
        } else {
            walked[nwalked++] = node;
        }
        if (p >= end) {
            full = true;
            break;
        }
        p++;
    }
    if (full) {
        b = scan(vh, &r->nodes[node].exact, best, req, bud);
        if (b != best)
            *prefix_len = req->path.len;
        best = b;
    }
    while (nwalked > 0) {
        const struct route_node *wn = &r->nodes[walked[--nwalked]];
        b = scan(vh, &wn->prefix, best, req, bud);
        if (b != best)
            *prefix_len = wn->prefix_len;
        best = b;
    }
    b = scan(vh, &vh->regex, best, req, bud);
    if (b != best)
        *prefix_len = req->path.len;
    return b;
}

/* Counts and logs a request whose regexes were abandoned in vh. Once per
 * request: a give-up leaves b->undecided below ROUTE_NONE, so matching
 * ends with this vhost. */
static void
regex_gave_up(const struct route_vhost *vh, const struct gw_route_req *req, struct gw_str host,
              const struct route_budget *b, uint32_t best)
{
    static struct gw_log_limit rl;
    atomic_fetch_add_explicit(&regex_giveups, 1, memory_order_relaxed);
    bool refused = b->undecided < best;
    const char *route = b->undecided != ROUTE_NONE && vh->ir->routes[b->undecided].route
                            ? vh->ir->routes[b->undecided].route
                            : "?";
    int plen = req->path.len > 96 ? 96 : (int)req->path.len;
    gw_log_ratelimited(&rl, GW_LOG_WARN,
                       "route: regular expressions gave up (budget of %u steps per request, or "
                       "a PCRE2 limit) at %s for %.*s%.*s%s; %s",
                       REGEX_BUDGET, route, (int)(host.len > 253 ? 253 : host.len),
                       host.p ? host.p : "", plen, req->path.p,
                       plen < (int)req->path.len ? "..." : "",
                       refused ? "answered 404" : "a route of higher precedence matched");
}

static enum gw_route_status
finish(struct gw_route_result *out, enum gw_route_status s)
{
    out->status = s;
    return s;
}

enum gw_route_status
gw_router_match(const struct gw_router *r, const struct gw_ir_port *port,
                const struct gw_route_req *req, struct gw_route_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!port || port < r->ir->ports || port >= r->ir->ports + r->ir->nports)
        return finish(out, GW_ROUTE_NO_LISTENER);
    const struct route_port *rp = &r->ports[port - r->ir->ports];
    if (req->path.len == 0 || req->path.p[0] != '/')
        return finish(out, GW_ROUTE_BAD_REQUEST);
    char hbuf[ROUTE_HOST_MAX];
    struct gw_str host;
    if (gw_route_host_normalize(req->host, hbuf, sizeof(hbuf), &host) < 0)
        return finish(out, GW_ROUTE_BAD_REQUEST);
    uint32_t li;
    if (route_hostsel_find(&rp->sel, host, &li, 1) == 0)
        li = ROUTE_NONE;
    if (req->sni.len) {
        char sbuf[ROUTE_HOST_MAX];
        struct gw_str sni;
        uint32_t sli;
        if (gw_route_host_normalize(req->sni, sbuf, sizeof(sbuf), &sni) == 0 &&
            route_hostsel_find(&rp->sel, sni, &sli, 1) == 1 && sli != li)
            return finish(out, GW_ROUTE_MISDIRECTED);
    }
    if (li == ROUTE_NONE)
        return finish(out, GW_ROUTE_NO_LISTENER);
    const struct route_listener *rl = &rp->listeners[li];
    out->listener = rl->ir;
    uint32_t vis[VHOST_TRIES];
    size_t nv = route_hostsel_find(&rl->sel, host, vis, VHOST_TRIES);
    if (nv == 0)
        return finish(out, GW_ROUTE_NO_VHOST);
    struct route_budget budget;
    route_budget_init(&budget);
    for (size_t i = 0; i < nv; i++) {
        const struct route_vhost *vh = &rl->vhosts[vis[i]];
        size_t plen = 0;
        budget.undecided = ROUTE_NONE;
        uint32_t best = vhost_match(r, vh, req, &plen, &budget);
        if (budget.giveups)
            regex_gave_up(vh, req, host, &budget, best);
        if (budget.undecided < best) {
            /* A route above the best one (or above none) may have held:
             * no answer is right, and falling through to a route of lower
             * precedence (or a less specific vhost) could bypass it. */
            out->regex_undecided = true;
            return finish(out, GW_ROUTE_NO_ROUTE);
        }
        if (best != ROUTE_NONE) {
            /* The route itself is not read here (its conditions were, if
             * it has any); the caller reads it next: fetch its lines now,
             * in parallel rather than one miss after another. */
            const struct gw_ir_route *rt = &vh->ir->routes[best];
            for (size_t off = 0; off < sizeof(*rt); off += 64)
                __builtin_prefetch((const char *)rt + off);
            __builtin_prefetch((const char *)rt + sizeof(*rt) - 1);
            out->vhost = vh->ir;
            out->route = rt;
            out->route_index = best;
            out->prefix_len = plen;
            return finish(out, GW_ROUTE_OK);
        }
    }
    return finish(out, GW_ROUTE_NO_ROUTE);
}

const struct gw_ir_listener *
gw_router_listener_select(const struct gw_router *r, const struct gw_ir_port *port,
                          struct gw_str hostname)
{
    if (!port || port < r->ir->ports || port >= r->ir->ports + r->ir->nports)
        return NULL;
    const struct route_port *rp = &r->ports[port - r->ir->ports];
    char hbuf[ROUTE_HOST_MAX];
    struct gw_str host;
    uint32_t li;
    if (gw_route_host_normalize(hostname, hbuf, sizeof(hbuf), &host) < 0 ||
        route_hostsel_find(&rp->sel_all, host, &li, 1) == 0)
        return NULL;
    return rp->listeners[li].ir;
}

const char *
gw_route_status_name(enum gw_route_status s)
{
    switch (s) {
    case GW_ROUTE_OK:
        return "OK";
    case GW_ROUTE_NO_LISTENER:
        return "no listener";
    case GW_ROUTE_NO_VHOST:
        return "no vhost";
    case GW_ROUTE_NO_ROUTE:
        return "no route";
    case GW_ROUTE_BAD_REQUEST:
        return "bad request";
    case GW_ROUTE_MISDIRECTED:
        return "misdirected";
    }
    return "?";
}
