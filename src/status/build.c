/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: building the IR from what the other steps decided. Only
 * programmed listeners are served; each gets its hostname table (vhosts,
 * most specific first) with every (rule, match) of the routes attached to
 * it in Gateway API precedence order, or its L4 routes. Every string and
 * byte is copied into the IR's arena.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

#define DUP(s) gw_ir_strdup(t->ir, (s))

/* 0 exact, 1 wildcard, 2 catch-all: lower is more specific. */
static int
host_rank(const char *h)
{
    if (!h || !strcmp(h, "*"))
        return 2;
    return h[0] == '*' ? 1 : 0;
}

static int
cmp_host(const char *a, const char *b)
{
    int ra = host_rank(a), rb = host_rank(b);
    if (ra != rb)
        return ra - rb;
    if (ra == 2)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    if (ra == 1 && la != lb)
        return la > lb ? -1 : 1; /* longer wildcard suffix first */
    return strcasecmp(a, b);
}

static int
cmp_age(const struct gw_meta *a, const struct gw_meta *b)
{
    if (a->creation_ms != b->creation_ms)
        return a->creation_ms < b->creation_ms ? -1 : 1;
    int c = strcmp(a->ns, b->ns);
    return c ? c : strcmp(a->name, b->name);
}

/* ------------------------------------------------------------------------ */
/* Filters                                                                  */

static void
header_mod(struct tr *t, struct gw_ir_header_mod *out, const struct gw_header_filter *f)
{
    out->set = gw_arena_alloc(&t->ir->arena, (f->set.n + 1) * sizeof(*out->set));
    for (size_t i = 0; i < f->set.n; i++)
        out->set[out->nset++] =
            (struct gw_ir_header){DUP(f->set.v[i].name), DUP(f->set.v[i].value)};
    out->add = gw_arena_alloc(&t->ir->arena, (f->add.n + 1) * sizeof(*out->add));
    for (size_t i = 0; i < f->add.n; i++)
        out->add[out->nadd++] =
            (struct gw_ir_header){DUP(f->add.v[i].name), DUP(f->add.v[i].value)};
    out->remove = gw_arena_alloc(&t->ir->arena, (f->remove.n + 1) * sizeof(char *));
    for (size_t i = 0; i < f->remove.n; i++)
        out->remove[out->nremove++] = DUP(f->remove.v[i]);
}

static const char **
strs(struct tr *t, const char *const *v, size_t n, size_t *out_n)
{
    const char **o = gw_arena_alloc(&t->ir->arena, (n + 1) * sizeof(*o));
    for (size_t i = 0; i < n; i++)
        o[i] = DUP(v[i]);
    *out_n = n;
    return o;
}

static void
path_mod(struct tr *t, struct gw_ir_filter *f, const struct gw_path_modifier_cfg *p)
{
    if (!p)
        return;
    if (p->type == GW_PATHMOD_FULL) {
        f->path_mod = GW_IR_PATHMOD_FULL;
        f->path = DUP(p->replace_full_path ? p->replace_full_path : "/");
    } else if (p->type == GW_PATHMOD_PREFIX) {
        f->path_mod = GW_IR_PATHMOD_PREFIX;
        f->path = DUP(p->replace_prefix_match ? p->replace_prefix_match : "/");
    }
}

/* Compiles a rule's filters. A filter the data plane cannot apply
 * (ExtensionRef, ExternalAuth) must not be skipped: the rule then answers
 * 500 (no filters, no backends). */
static void
filters(struct tr *t, struct gw_ir_route *r, const struct gw_meta *m,
        const struct gw_http_filter *v, size_t n, bool grpc)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].type == GW_FILTER_EXTENSION_REF || v[i].type == GW_FILTER_EXTERNAL_AUTH) {
            r->backends = NULL;
            r->nbackends = 0;
            return;
        }
    /* None: no array (an empty one was 200 bytes of IR per rule). */
    r->filters = n ? gw_arena_alloc(&t->ir->arena, n * sizeof(*r->filters)) : NULL;
    for (size_t i = 0; i < n; i++) {
        const struct gw_http_filter *in = &v[i];
        struct gw_ir_filter *f = &r->filters[r->nfilters];
        f->port = -1;
        switch (in->type) {
        case GW_FILTER_REQUEST_HEADER:
            if (!in->request_header_modifier)
                continue;
            f->type = GW_IR_F_REQUEST_HEADERS;
            header_mod(t, &f->headers, in->request_header_modifier);
            break;
        case GW_FILTER_RESPONSE_HEADER:
            if (!in->response_header_modifier)
                continue;
            f->type = GW_IR_F_RESPONSE_HEADERS;
            header_mod(t, &f->headers, in->response_header_modifier);
            break;
        case GW_FILTER_REDIRECT: {
            const struct gw_redirect *rd = in->request_redirect;
            if (!rd)
                continue;
            f->type = GW_IR_F_REDIRECT;
            f->scheme = DUP(rd->scheme);
            f->hostname = DUP(rd->hostname);
            f->port = rd->port >= 0 ? (int)rd->port : -1;
            f->status_code = rd->status_code > 0 ? (int)rd->status_code : 302;
            path_mod(t, f, rd->path);
            break;
        }
        case GW_FILTER_REWRITE:
            if (!in->url_rewrite)
                continue;
            f->type = GW_IR_F_REWRITE;
            f->hostname = DUP(in->url_rewrite->hostname);
            path_mod(t, f, in->url_rewrite->path);
            break;
        case GW_FILTER_MIRROR: {
            const struct gw_mirror *mi = in->request_mirror;
            const char *msg;
            if (!mi)
                continue;
            f->type = GW_IR_F_MIRROR;
            f->mirror = gw_arena_alloc(&t->ir->arena, sizeof(*f->mirror));
            tr_backend(t, m, &mi->backend_ref, grpc, f->mirror, &msg);
            f->mirror->weight = 1;
            f->mirror_num = 1;
            f->mirror_den = 1;
            if (mi->percent >= 0) {
                f->mirror_num = (uint32_t)mi->percent;
                f->mirror_den = 100;
            } else if (mi->fraction) {
                f->mirror_num = (uint32_t)mi->fraction->numerator;
                f->mirror_den =
                    mi->fraction->denominator > 0 ? (uint32_t)mi->fraction->denominator : 100;
            }
            break;
        }
        case GW_FILTER_CORS: {
            const struct gw_cors *c = in->cors;
            if (!c)
                continue;
            f->type = GW_IR_F_CORS;
            f->cors_origins = strs(t, c->allow_origins.v, c->allow_origins.n, &f->ncors_origins);
            f->cors_methods = strs(t, c->allow_methods.v, c->allow_methods.n, &f->ncors_methods);
            f->cors_headers = strs(t, c->allow_headers.v, c->allow_headers.n, &f->ncors_headers);
            f->cors_expose = strs(t, c->expose_headers.v, c->expose_headers.n, &f->ncors_expose);
            f->cors_credentials = c->allow_credentials == 1;
            f->cors_max_age = c->max_age >= 0 ? (int)c->max_age : 5;
            break;
        }
        default:
            continue;
        }
        r->nfilters++;
    }
}

/* backendRef filters become per-backend header modifications. */
static void
backend_filters(struct tr *t, struct gw_ir_backend *be, const struct gw_backend_ref *ref)
{
    for (size_t i = 0; i < ref->filters.n; i++) {
        const struct gw_http_filter *f = &ref->filters.v[i];
        if (f->type == GW_FILTER_REQUEST_HEADER && f->request_header_modifier) {
            be->request_headers = gw_arena_alloc(&t->ir->arena, sizeof(*be->request_headers));
            header_mod(t, be->request_headers, f->request_header_modifier);
        } else if (f->type == GW_FILTER_RESPONSE_HEADER && f->response_header_modifier) {
            be->response_headers = gw_arena_alloc(&t->ir->arena, sizeof(*be->response_headers));
            header_mod(t, be->response_headers, f->response_header_modifier);
        }
    }
}

static struct gw_ir_match_kv *
kvs(struct tr *t, const struct gw_value_match *v, size_t n)
{
    if (!n)
        return NULL;
    struct gw_ir_match_kv *o = gw_arena_alloc(&t->ir->arena, n * sizeof(*o));
    for (size_t i = 0; i < n; i++)
        o[i] =
            (struct gw_ir_match_kv){DUP(v[i].name), DUP(v[i].value), v[i].type == GW_MATCH_REGEX};
    return o;
}

/* ------------------------------------------------------------------------ */
/* HTTP and gRPC rules                                                      */

/* One (rule, match) entry of a route, compiled once; every vhost serving
 * the route gets a copy of r. */
struct ent {
    const struct rt *rt;
    /* Match class, lower first. HTTP: Exact 0, RegularExpression 1 (before
     * prefixes, which would shadow it; the spec leaves regex order to the
     * implementation), PathPrefix 2. gRPC: service and method 0, service 1,
     * method 2, regex 3, everything 4. */
    int prec;
    size_t plen;   /* path length, longer first; 0 for Exact (the same prec
                      is always all Exact or all not) */
    uint32_t rank; /* place among all served entries in precedence order */
    struct gw_ir_route r;
};

static void
route_common(struct tr *t, struct gw_ir_route *r, const struct rt *rt, size_t rule)
{
    r->route = rt->label;
    r->rule_index = (unsigned)rule;
    r->backends = rt->rule_backends[rule];
    r->nbackends = rt->rule_nbackends[rule];
    r->request_timeout_ms = r->backend_timeout_ms = -1;
    r->retry_attempts = -1;
    r->retry_backoff_ms = -1;
    tr_ratelimit_route(t, rt, rule, r);
    tr_source_address_route(t, rt, rule, r);
    tr_auth_route(t, rt, rule, r);
    tr_extauth_route(t, rt, rule, r);
    tr_compression_route(t, rt, rule, r);
}

/* Appends the (rule, match) entries of one route. */
static void
compile_entries(struct tr *t, const struct rt *rt, struct ent **v, size_t *n, size_t *cap)
{
    if (rt->kind == GW_KIND_HTTPROUTE) {
        const struct gw_httproute *h = (const void *)rt->m;
        for (size_t i = 0; i < h->spec.rules.n; i++) {
            const struct gw_http_rule *rule = &h->spec.rules.v[i];
            if (i < 64 && (rt->sp_dropped >> i & 1))
                continue; /* PartiallyInvalid (session.c) */
            for (size_t k = 0; k < rule->backend_refs.n; k++)
                backend_filters(t, &rt->rule_backends[i][k], &rule->backend_refs.v[k]);
            struct gw_ir_route proto;
            memset(&proto, 0, sizeof(proto));
            route_common(t, &proto, rt, i);
            proto.rule_name = DUP(rule->name);
            filters(t, &proto, rt->m, rule->filters.v, rule->filters.n, false);
            if (rule->timeouts) {
                proto.request_timeout_ms = rule->timeouts->request_ms;
                proto.backend_timeout_ms = rule->timeouts->backend_request_ms;
            }
            if (rule->retry) {
                proto.retry_attempts = rule->retry->attempts >= 0 ? (int)rule->retry->attempts : 1;
                proto.retry_backoff_ms = rule->retry->backoff_ms;
                proto.retry_codes =
                    gw_arena_alloc(&t->ir->arena, (rule->retry->codes.n + 1) * sizeof(int));
                for (size_t c = 0; c < rule->retry->codes.n; c++)
                    proto.retry_codes[c] = (int)rule->retry->codes.v[c];
                proto.nretry_codes = rule->retry->codes.n;
            }
            for (size_t m = 0; m < rule->matches.n; m++) {
                const struct gw_http_match *mt = &rule->matches.v[m];
                *v = gw_xgrow(*v, cap, *n + 1, sizeof(**v));
                struct ent *e = &(*v)[(*n)++];
                e->rt = rt;
                e->r = proto;
                e->r.match_index = (unsigned)m;
                int pt = mt->path ? mt->path->type : GW_PATH_PREFIX;
                e->prec = pt == GW_PATH_EXACT ? 0 : pt == GW_PATH_REGEX ? 1 : 2;
                e->r.path_type = pt == GW_PATH_EXACT   ? GW_IR_PATH_EXACT
                                 : pt == GW_PATH_REGEX ? GW_IR_PATH_REGEX
                                                       : GW_IR_PATH_PREFIX;
                e->r.path = DUP(mt->path && mt->path->value ? mt->path->value : "/");
                e->r.method = mt->method ? gw_enum_name(GW_ENUM_METHOD, mt->method) : NULL;
                e->r.headers = kvs(t, mt->headers.v, mt->headers.n);
                e->r.nheaders = mt->headers.n;
                e->r.query = kvs(t, mt->query_params.v, mt->query_params.n);
                e->r.nquery = mt->query_params.n;
                e->r.session = tr_session_ir(t, rt, i, e->r.path_type, e->r.path);
            }
        }
        return;
    }
    const struct gw_grpcroute *g = (const void *)rt->m;
    for (size_t i = 0; i < g->spec.rules.n; i++) {
        const struct gw_grpc_rule *rule = &g->spec.rules.v[i];
        if (i < 64 && (rt->sp_dropped >> i & 1))
            continue;
        for (size_t k = 0; k < rule->backend_refs.n; k++)
            backend_filters(t, &rt->rule_backends[i][k], &rule->backend_refs.v[k]);
        struct gw_ir_route proto;
        memset(&proto, 0, sizeof(proto));
        route_common(t, &proto, rt, i);
        proto.grpc = true;
        proto.rule_name = DUP(rule->name);
        proto.method = "POST";
        filters(t, &proto, rt->m, rule->filters.v, rule->filters.n, true);
        size_t nm = rule->matches.n ? rule->matches.n : 1;
        for (size_t m = 0; m < nm; m++) {
            const struct gw_grpc_match *mt = rule->matches.n ? &rule->matches.v[m] : NULL;
            *v = gw_xgrow(*v, cap, *n + 1, sizeof(**v));
            struct ent *e = &(*v)[(*n)++];
            e->rt = rt;
            e->r = proto;
            e->r.match_index = (unsigned)m;
            const struct gw_grpc_method_match *mm = mt ? mt->method : NULL;
            const char *svc = mm ? mm->service : NULL, *meth = mm ? mm->method : NULL;
            if (mm && mm->type == GW_MATCH_REGEX) {
                e->prec = 3;
                e->r.path_type = GW_IR_PATH_REGEX;
                e->r.path =
                    TR_CAT(&t->ir->arena, "/", svc ? svc : "[^/]+", "/", meth ? meth : "[^/]+");
            } else if (svc && meth) {
                e->prec = 0;
                e->r.path_type = GW_IR_PATH_EXACT;
                e->r.path = TR_CAT(&t->ir->arena, "/", svc, "/", meth);
            } else if (svc) {
                e->prec = 1;
                e->r.path_type = GW_IR_PATH_PREFIX;
                e->r.path = TR_CAT(&t->ir->arena, "/", svc);
            } else if (meth) {
                e->prec = 2;
                e->r.path_type = GW_IR_PATH_REGEX;
                e->r.path = TR_CAT(&t->ir->arena, "/[^/]+/", meth);
            } else {
                e->prec = 4;
                e->r.path_type = GW_IR_PATH_PREFIX;
                e->r.path = "/";
            }
            if (mt) {
                e->r.headers = kvs(t, mt->headers.v, mt->headers.n);
                e->r.nheaders = mt->headers.n;
            }
            e->r.session = tr_session_ir(t, rt, i, e->r.path_type, e->r.path);
        }
    }
}

/* Compiles the entries of rt once (the IR shares their strings and arrays
 * between vhosts). */
static void
route_compile(struct tr *t, struct rt *rt)
{
    struct ent *tv = NULL;
    size_t tn = 0, tc = 0;
    rt->label = TR_CAT(&t->ir->arena, gw_kind_name(rt->kind), " ", rt->m->ns, "/", rt->m->name);
    compile_entries(t, rt, &tv, &tn, &tc);
    for (size_t i = 0; i < tn; i++)
        tv[i].plen = tv[i].r.path_type == GW_IR_PATH_EXACT ? 0 : strlen(tv[i].r.path);
    rt->tmpl = tn ? gw_arena_memdup(&t->scratch, tv, tn * sizeof(*tv)) : NULL;
    rt->ntmpl = tn;
    rt->compiled = true;
    free(tv);
}

/* Gateway API precedence: exact path, longest prefix, method, most header
 * matches, most query matches, oldest route, namespace/name, rule order
 * (path length and route age precomputed: plen, order). The host comes
 * first and is compared apart (host_ids). */
static int
cmp_ent(const void *pa, const void *pb)
{
    const struct ent *a = *(const struct ent *const *)pa, *b = *(const struct ent *const *)pb;
    if (a->prec != b->prec)
        return a->prec - b->prec;
    if (a->plen != b->plen)
        return a->plen > b->plen ? -1 : 1;
    if (!a->r.method != !b->r.method)
        return a->r.method ? -1 : 1;
    if (a->r.nheaders != b->r.nheaders)
        return a->r.nheaders > b->r.nheaders ? -1 : 1;
    if (a->r.nquery != b->r.nquery)
        return a->r.nquery > b->r.nquery ? -1 : 1;
    if (a->rt->order != b->rt->order)
        return a->rt->order < b->rt->order ? -1 : 1;
    if (a->r.rule_index != b->r.rule_index)
        return a->r.rule_index < b->r.rule_index ? -1 : 1;
    if (a->r.match_index != b->r.match_index)
        return a->r.match_index < b->r.match_index ? -1 : 1;
    return 0;
}

/* A hostname of the listener with cmp_host's inputs precomputed. */
struct hkey {
    const char *host;
    int rank;
    size_t len;
    uint32_t pos; /* index of its (attachment, hostname) pair */
};

static int
cmp_hkey(const void *pa, const void *pb)
{
    const struct hkey *a = pa, *b = pb;
    if (a->rank != b->rank)
        return a->rank - b->rank;
    if (a->rank == 2 || a->host == b->host)
        return 0;
    if (a->rank == 1 && a->len != b->len)
        return a->len > b->len ? -1 : 1; /* longer wildcard suffix first */
    return strcasecmp(a->host, b->host);
}

/* ids[pos] = rank of the host of the pos-th (attachment, hostname) pair
 * of li's HTTP and gRPC routes in cmp_host order, equal hosts sharing one;
 * returns the number of pairs. */
static size_t
host_ids(const struct lis *li, uint32_t **ids)
{
    size_t n = 0;
    for (size_t i = 0; i < li->natts; i++)
        if (li->atts[i].rt->kind == GW_KIND_HTTPROUTE || li->atts[i].rt->kind == GW_KIND_GRPCROUTE)
            n += li->atts[i].nhosts;
    struct hkey *k = gw_xmalloc((n + 1) * sizeof(*k));
    *ids = gw_xmalloc((n + 1) * sizeof(**ids));
    n = 0;
    for (size_t i = 0; i < li->natts; i++) {
        const struct att *at = &li->atts[i];
        if (at->rt->kind != GW_KIND_HTTPROUTE && at->rt->kind != GW_KIND_GRPCROUTE)
            continue;
        for (size_t h = 0; h < at->nhosts; h++) {
            const char *host = at->hosts[h];
            int rank = host_rank(host);
            k[n] = (struct hkey){host, rank, rank == 2 ? 0 : strlen(host), (uint32_t)n};
            n++;
        }
    }
    tr_sort(k, n, sizeof(*k), cmp_hkey);
    uint32_t id = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && cmp_hkey(&k[i - 1], &k[i]))
            id++;
        (*ids)[k[i].pos] = id;
    }
    free(k);
    return n;
}

/* A served entry: (host id, entry rank) as one integer, and the host as
 * the route wrote it (the first entry of each vhost names it). */
struct vkey {
    uint64_t key;
    const char *host;
};

static unsigned
bit_width(uint64_t v)
{
    unsigned b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

/* Sorts v[0..n) by key (< 2^bits): least significant byte first, each pass
 * a stable counting sort into tmp (n entries), O(n) in all. Returns where
 * the result is (v or tmp). */
static struct vkey *
radix_sort(struct vkey *v, struct vkey *tmp, size_t n, unsigned bits)
{
    for (unsigned shift = 0; shift < bits; shift += 8) {
        size_t at[257] = {0};
        for (size_t i = 0; i < n; i++)
            at[((v[i].key >> shift) & 0xff) + 1]++;
        for (int d = 0; d < 256; d++)
            at[d + 1] += at[d];
        for (size_t i = 0; i < n; i++)
            tmp[at[(v[i].key >> shift) & 0xff]++] = v[i];
        struct vkey *x = v;
        v = tmp;
        tmp = x;
    }
    return v;
}

/* The vhosts of an HTTP(S) listener: its routes' entries grouped by host,
 * most specific first, each group in precedence order. Entries are ranked
 * already (rank_entries, nranked of them), so this sorts (host id, rank)
 * integers. */
static void
http_listener(struct tr *t, struct gw_ir_listener *out, const struct lis *li,
              struct ent *const *ranked, size_t nranked)
{
    uint32_t *ids, nids = 0;
    size_t npairs = host_ids(li, &ids), n = 0, pos = 0;
    for (size_t i = 0; i < npairs; i++)
        nids = ids[i] >= nids ? ids[i] + 1 : nids;
    for (size_t i = 0; i < li->natts; i++) {
        const struct att *at = &li->atts[i];
        if (at->rt->kind == GW_KIND_HTTPROUTE || at->rt->kind == GW_KIND_GRPCROUTE)
            n += at->nhosts * at->rt->ntmpl;
    }
    unsigned rbits = bit_width(nranked);
    struct vkey *buf = gw_xmalloc((2 * n + 1) * sizeof(*buf)), *v = buf;
    n = 0;
    for (size_t i = 0; i < li->natts; i++) {
        const struct att *at = &li->atts[i];
        if (at->rt->kind != GW_KIND_HTTPROUTE && at->rt->kind != GW_KIND_GRPCROUTE)
            continue;
        const struct ent *tmpl = at->rt->tmpl;
        for (size_t h = 0; h < at->nhosts; h++, pos++)
            for (size_t k = 0; k < at->rt->ntmpl; k++)
                v[n++] = (struct vkey){(uint64_t)ids[pos] << rbits | tmpl[k].rank, at->hosts[h]};
    }
    free(ids);
    v = radix_sort(v, buf + n, n, rbits + bit_width(nids));
    size_t nv = 0;
    for (size_t i = 0; i < n; i++)
        if (!i || v[i - 1].key >> rbits != v[i].key >> rbits)
            nv++;
    out->vhosts = gw_arena_alloc(&t->ir->arena, (nv + 1) * sizeof(*out->vhosts));
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[i].key >> rbits == v[j].key >> rbits)
            j++;
        struct gw_ir_vhost *vh = &out->vhosts[out->nvhosts++];
        vh->hostname = DUP(v[i].host ? v[i].host : "*");
        /* Every element is assigned below: no need to zero ~1 MB of
         * routes first (5,000 routes). */
        vh->routes = gw_arena_alloc_uninit(&t->ir->arena, (j - i) * sizeof(*vh->routes));
        uint64_t mask = ((uint64_t)1 << rbits) - 1;
        for (size_t k = i; k < j; k++)
            vh->routes[vh->nroutes++] = ranked[v[k].key & mask]->r;
        tr_ratelimit_listener(t, li, vh->routes, vh->nroutes);
        for (size_t k = 0; out->acl && k < vh->nroutes; k++)
            vh->routes[k].acl_gateway = out->acl;
        tr_auth_listener(t, li, vh->routes, vh->nroutes);
        tr_extauth_listener(t, li, vh->routes, vh->nroutes);
        tr_compression_listener(t, li, vh->routes, vh->nroutes);
        i = j;
    }
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* L4                                                                       */

struct l4ent {
    const char *host;
    struct rt *rt;
};

static int
cmp_l4(const void *pa, const void *pb)
{
    const struct l4ent *a = pa, *b = pb;
    int c = cmp_host(a->host, b->host);
    return c ? c : cmp_age(a->rt->m, b->rt->m);
}

static void
l4_listener(struct tr *t, struct gw_ir_listener *out, const struct lis *li)
{
    size_t n = 0;
    for (size_t i = 0; i < li->natts; i++)
        n += li->atts[i].nhosts ? li->atts[i].nhosts : 1;
    struct l4ent *v = gw_arena_alloc(&t->tmp, (n + 1) * sizeof(*v));
    n = 0;
    for (size_t i = 0; i < li->natts; i++) {
        const struct att *at = &li->atts[i];
        if (at->nhosts)
            for (size_t h = 0; h < at->nhosts; h++)
                v[n++] = (struct l4ent){at->hosts[h], at->rt};
        else
            v[n++] = (struct l4ent){NULL, at->rt};
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_l4);
    /* The data plane takes the first entry whose hostname matches (the
     * only one for TCP and UDP): an equal hostname of a younger route is
     * never served. The spec gives the loser no condition (it stays
     * Accepted); its Accepted message names the winner (guidelines:
     * "make it clear which path has been chosen"). */
    for (size_t i = 1, first = 0; i < n; i++) {
        if (cmp_host(v[first].host, v[i].host)) {
            first = i;
            continue;
        }
        struct rt *loser = v[i].rt;
        if (loser != v[first].rt && !loser->shadow_by) {
            loser->shadow_lis = li;
            loser->shadow_host = v[i].host;
            loser->shadow_by = v[first].rt;
        }
    }
    out->l4 = gw_arena_alloc(&t->ir->arena, (n + 1) * sizeof(*out->l4));
    for (size_t i = 0; i < n; i++) {
        struct gw_ir_l4 *l = &out->l4[out->nl4++];
        const struct rt *rt = v[i].rt;
        l->route = TR_CAT(&t->ir->arena, gw_kind_name(rt->kind), " ", rt->m->ns, "/", rt->m->name);
        l->hostname = DUP(v[i].host);
        /* The rules' backends, merged: L4 routes have one rule in practice. */
        const struct gw_l4route *r = (const void *)rt->m;
        size_t nb = 0;
        for (size_t k = 0; k < r->spec.rules.n; k++)
            nb += rt->rule_nbackends[k];
        l->backends = gw_arena_alloc(&t->ir->arena, (nb + 1) * sizeof(*l->backends));
        for (size_t k = 0; k < r->spec.rules.n; k++)
            for (size_t b = 0; b < rt->rule_nbackends[k]; b++)
                l->backends[l->nbackends++] = rt->rule_backends[k][b];
    }
}

/* ------------------------------------------------------------------------ */
/* Ports                                                                    */

struct pacc {
    const char *addr;
    int64_t port;
    bool udp;
    const struct gws *gw;
    const struct lis **lis;
    size_t n, cap;
};

static int
cmp_lis(const void *pa, const void *pb)
{
    const struct lis *a = *(const struct lis *const *)pa, *b = *(const struct lis *const *)pb;
    int c = cmp_host(a->l->hostname, b->l->hostname);
    if (c)
        return c;
    return a < b ? -1 : a > b;
}

static int
cmp_pacc(const void *pa, const void *pb)
{
    const struct pacc *a = pa, *b = pb;
    int c = strcmp(a->addr, b->addr);
    if (c)
        return c;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    return (int)a->udp - (int)b->udp;
}

static enum gw_ir_proto
ir_proto(enum gw_protocol p)
{
    switch (p) {
    case GW_PROTO_HTTPS:
        return GW_IR_HTTPS;
    case GW_PROTO_TLS:
        return GW_IR_TLS;
    case GW_PROTO_TCP:
        return GW_IR_TCP;
    case GW_PROTO_UDP:
        return GW_IR_UDP;
    default:
        return GW_IR_HTTP;
    }
}

static void
gateways(struct tr *t)
{
    t->ir->gateways = gw_arena_alloc(&t->ir->arena, (t->ngws + 1) * sizeof(*t->ir->gateways));
    for (size_t i = 0; i < t->ngws; i++) {
        const struct gws *g = &t->gws[i];
        struct gw_ir_gateway *o = &t->ir->gateways[t->ir->ngateways++];
        o->ns = DUP(g->g->meta.ns);
        o->name = DUP(g->g->meta.name);
        o->addresses = gw_arena_alloc(&t->ir->arena, (g->naddrs + 1) * sizeof(char *));
        for (size_t k = 0; k < g->naddrs; k++)
            o->addresses[o->naddresses++] = DUP(g->addrs[k]);
        const struct gw_gateway_infrastructure *inf = g->g->spec.infrastructure;
        if (!inf)
            continue;
        o->labels = gw_arena_alloc(&t->ir->arena, (inf->labels.n + 1) * sizeof(*o->labels));
        for (size_t k = 0; k < inf->labels.n; k++)
            o->labels[o->nlabels++] =
                (struct gw_ir_header){DUP(inf->labels.v[k].key), DUP(inf->labels.v[k].value)};
        o->annotations =
            gw_arena_alloc(&t->ir->arena, (inf->annotations.n + 1) * sizeof(*o->annotations));
        for (size_t k = 0; k < inf->annotations.n; k++)
            o->annotations[o->nannotations++] = (struct gw_ir_header){
                DUP(inf->annotations.v[k].key), DUP(inf->annotations.v[k].value)};
    }
}

static int
cmp_rt(const void *pa, const void *pb)
{
    const struct rt *a = *(const struct rt *const *)pa, *b = *(const struct rt *const *)pb;
    int c = cmp_age(a->m, b->m);
    if (c)
        return c;
    return a->kind < b->kind ? -1 : a->kind > b->kind;
}

/* rt->order: the routes ranked by age, then kind (what precedence compares
 * after the matches), so that sorting entries compares two integers. Routes
 * come in store order, which is already this one when creation times are
 * equal and one kind is in use: check before sorting. */
static void
route_order(struct tr *t)
{
    struct rt **v = t->rts;
    bool sorted = true;
    /* t->rts is in store order: one kind after another, each in ns/name
     * order (gw_store_list), so two neighbours of one kind and one age are
     * in order without comparing their names. */
    for (size_t i = 1; i < t->nrts && sorted; i++)
        sorted =
            (v[i - 1]->kind == v[i]->kind && v[i - 1]->m->creation_ms == v[i]->m->creation_ms) ||
            cmp_rt(&v[i - 1], &v[i]) < 0;
    if (!sorted) {
        v = gw_arena_memdup(&t->tmp, t->rts, t->nrts * sizeof(*v));
        qsort(v, t->nrts, sizeof(*v), cmp_rt);
    }
    for (size_t i = 0; i < t->nrts; i++)
        v[i]->order = (uint32_t)i;
}

static bool
serves_http(const struct lis *li)
{
    enum gw_ir_proto p = ir_proto(li->l->proto);
    return p == GW_IR_HTTP || p == GW_IR_HTTPS;
}

/* Compiles the entries of every route an HTTP(S) listener of ports serves
 * and ranks them all in precedence order (ent.rank): a vhost's order is
 * then its entries' ranks. Returns the entries by rank (heap). */
static struct ent **
rank_entries(struct tr *t, const struct pacc *ports, size_t np, size_t *out_n)
{
    struct ent **v = NULL;
    size_t n = 0, cap = 0;
    for (size_t k = 0; k < np; k++)
        for (size_t i = 0; i < ports[k].n; i++) {
            const struct lis *li = ports[k].lis[i];
            if (!serves_http(li))
                continue;
            for (size_t a = 0; a < li->natts; a++) {
                struct rt *rt = li->atts[a].rt;
                if ((rt->kind != GW_KIND_HTTPROUTE && rt->kind != GW_KIND_GRPCROUTE) ||
                    rt->compiled)
                    continue;
                route_compile(t, rt);
                v = gw_xgrow(v, &cap, n + rt->ntmpl, sizeof(*v));
                for (size_t e = 0; e < rt->ntmpl; e++)
                    v[n++] = &((struct ent *)rt->tmpl)[e];
            }
        }
    tr_sort(v, n, sizeof(*v), cmp_ent);
    for (size_t i = 0; i < n; i++)
        v[i]->rank = (uint32_t)i;
    *out_n = n;
    return v;
}

void
tr_build_ir(struct tr *t)
{
    gw_arena_init(&t->scratch, 64 * 1024);
    gateways(t);
    route_order(t);
    struct pacc *ports = NULL;
    size_t np = 0, pcap = 0;
    for (size_t gi = 0; gi < t->ngws; gi++) {
        const struct gws *g = &t->gws[gi];
        if (!g->accepted)
            continue;
        for (size_t a = 0; a < g->naddrs; a++)
            for (size_t i = 0; i < g->nlis; i++) {
                const struct lis *li = &g->lis[i];
                if (!li->programmed)
                    continue;
                bool udp = li->l->proto == GW_PROTO_UDP;
                struct pacc *p = NULL;
                for (size_t k = 0; k < np && !p; k++)
                    if (ports[k].gw == g && !strcmp(ports[k].addr, g->addrs[a]) &&
                        ports[k].port == li->bind_port && ports[k].udp == udp)
                        p = &ports[k];
                if (!p) {
                    ports = gw_xgrow(ports, &pcap, np + 1, sizeof(*ports));
                    p = &ports[np++];
                    *p = (struct pacc){g->addrs[a], li->bind_port, udp, g, NULL, 0, 0};
                }
                p->lis = gw_xgrow(p->lis, &p->cap, p->n + 1, sizeof(*p->lis));
                p->lis[p->n++] = li;
            }
    }
    if (np > 1)
        qsort(ports, np, sizeof(*ports), cmp_pacc);
    size_t nranked;
    struct ent **ranked = rank_entries(t, ports, np, &nranked);
    t->ir->ports = gw_arena_alloc(&t->ir->arena, (np + 1) * sizeof(*t->ir->ports));
    for (size_t k = 0; k < np; k++) {
        struct pacc *p = &ports[k];
        struct gw_ir_port *o = &t->ir->ports[t->ir->nports++];
        o->address = DUP(p->addr);
        o->port = (uint16_t)p->port;
        o->udp = p->udp;
        o->gateway =
            gw_arena_sprintf(&t->ir->arena, "%s/%s", p->gw->g->meta.ns, p->gw->g->meta.name);
        o->backend_client_cert = p->gw->client_cert;
        if (p->n > 1)
            qsort(p->lis, p->n, sizeof(*p->lis), cmp_lis);
        o->listeners = gw_arena_alloc(&t->ir->arena, p->n * sizeof(*o->listeners));
        for (size_t i = 0; i < p->n; i++) {
            const struct lis *li = p->lis[i];
            struct gw_ir_listener *l = &o->listeners[o->nlisteners++];
            l->owner = gw_arena_sprintf(&t->ir->arena, "%s %s/%s", gw_kind_name(li->owner->kind),
                                        li->owner->ns, li->owner->name);
            l->name = DUP(li->l->name);
            l->hostname = DUP(li->l->hostname);
            l->proto = ir_proto(li->l->proto);
            l->acl = tr_source_address_listener(t, li);
            if (l->proto == GW_IR_HTTP || l->proto == GW_IR_HTTPS)
                l->xff = tr_client_traffic_xff(t, li);
            if (li->l->proto == GW_PROTO_HTTPS || li->l->proto == GW_PROTO_TLS) {
                l->tls = gw_arena_alloc(&t->ir->arena, sizeof(*l->tls));
                l->tls->passthrough = li->l->tls && li->l->tls->mode == GW_TLS_PASSTHROUGH;
                l->tls->certs = li->certs;
                l->tls->ncerts = li->ncerts;
                l->tls->client_ca_pem = li->client_ca;
                l->tls->client_ca_len = li->client_ca_len;
                l->tls->client_insecure_fallback = li->client_insecure;
            }
            if (l->proto == GW_IR_HTTP || l->proto == GW_IR_HTTPS)
                http_listener(t, l, li, ranked, nranked);
            else
                l4_listener(t, l, li);
        }
        if (!p->udp)
            o->proxy_protocol = tr_client_traffic_port(
                t, p->lis, p->n, gw_arena_sprintf(&t->tmp, "%s:%u", o->address, o->port));
        free(p->lis);
    }
    free(ranked);
    free(ports);
    /* The entries are in the IR now: their templates go before the IR is
     * published and the statuses made (10,000 routes: 2.8 MB less at the
     * peak of a reload, which the heap reserve doubles). */
    for (size_t i = 0; i < t->nrts; i++)
        t->rts[i]->tmpl = NULL;
    gw_arena_release(&t->scratch);
}
