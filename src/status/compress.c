/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: CompressionPolicy (gatehouse.dev/v1alpha1), attached by attach.c
 * like RateLimitPolicy: a request's rule takes the policy of the most
 * specific level that has a winning one (rule, route, listener, Gateway).
 * Each target gets one compiled gw_ir_compress, shared by the route entries
 * it covers; the proxy (src/proxy/compress.c) reads nothing else.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

/* What a policy without contentTypes compresses. */
static const char *const default_types[] = {
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "image/svg+xml",
    "application/wasm",
    "application/x-javascript",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/ld+json",
    "application/manifest+json",
};

void
tr_compressions(struct tr *t)
{
    if (!gw_store_count(t->store, GW_KIND_COMPRESSIONPOLICY))
        return;
    t->cmp = gw_arena_alloc(&t->tmp, sizeof(*t->cmp));
    tr_attach_collect(t, GW_KIND_COMPRESSIONPOLICY, t->cmp);
}

/* A type and a star ("text", "/", "*") -> "text/" (a prefix), anything else as is; lower case. */
static const char *
type_entry(struct tr *t, const char *s)
{
    size_t n = strlen(s);
    char *o = gw_arena_alloc(&t->ir->arena, n + 1);
    for (size_t i = 0; i < n; i++)
        o[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    o[n] = 0;
    if (n >= 2 && o[n - 1] == '*' && o[n - 2] == '/')
        o[n - 1] = 0;
    return o;
}

static struct gw_ir_compress *
target_ir(struct tr *t, struct tr_att_target *x)
{
    if (x->ir)
        return x->ir;
    const struct gw_compressionpolicy *p = (const void *)x->policy->m;
    struct gw_ir_compress *c = gw_arena_alloc(&t->ir->arena, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->policy = TR_CAT(&t->ir->arena, p->meta.ns, "/", p->meta.name);
    /* Defaults: gzip 1 is cheap and fast, br 4 and zstd 3 are the levels
     * their authors suggest for compression on the fly. */
    c->level[GW_IR_CODING_GZIP] = 1;
    c->level[GW_IR_CODING_BR] = 4;
    c->level[GW_IR_CODING_ZSTD] = 3;
    if (!p->spec.encodings.n) {
        c->order[0] = GW_IR_CODING_ZSTD;
        c->order[1] = GW_IR_CODING_BR;
        c->order[2] = GW_IR_CODING_GZIP;
        c->norder = 3;
    }
    for (size_t i = 0; i < p->spec.encodings.n && c->norder < 3; i++) {
        const struct gw_compression_encoding *e = &p->spec.encodings.v[i];
        uint8_t k = e->name == GW_COMPRESSION_GZIP ? GW_IR_CODING_GZIP
                    : e->name == GW_COMPRESSION_BR ? GW_IR_CODING_BR
                                                   : GW_IR_CODING_ZSTD;
        c->order[c->norder++] = k;
        if (e->level >= 0)
            c->level[k] = (int8_t)e->level;
    }
    size_t n = p->spec.content_types.n ? p->spec.content_types.n : GW_ARRAY_LEN(default_types);
    const char **v = gw_arena_alloc(&t->ir->arena, n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] =
            p->spec.content_types.n ? type_entry(t, p->spec.content_types.v[i]) : default_types[i];
    c->types = v;
    c->ntypes = n;
    c->min_size = p->spec.min_size >= 0 ? (uint64_t)p->spec.min_size : 1024;
    x->ir = c;
    return c;
}

static const struct gw_ir_compress *
at(struct tr *t, const struct tr_att_where *w)
{
    struct tr_att_target *x = tr_attach_winner(t->cmp, w);
    return x ? target_ir(t, x) : NULL;
}

void
tr_compression_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r)
{
    if (!t->cmp)
        return;
    const struct gw_ir_compress *c =
        at(t, &(struct tr_att_where){.level = TR_AT_RULE, .rt = rt, .rule = rule});
    if (!c)
        c = at(t, &(struct tr_att_where){.level = TR_AT_ROUTE, .rt = rt});
    r->compress = c;
}

void
tr_compression_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes,
                        size_t nroutes)
{
    if (!t->cmp)
        return;
    const struct gw_ir_compress *c =
        li->ls ? NULL : at(t, &(struct tr_att_where){.level = TR_AT_LISTENER, .li = li});
    if (!c)
        c = at(t, &(struct tr_att_where){.level = TR_AT_GATEWAY, .gw = li->gw});
    if (!c)
        return;
    for (size_t i = 0; i < nroutes; i++)
        if (!routes[i].compress)
            routes[i].compress = c;
}

void
tr_compression_status(struct tr *t)
{
    if (t->cmp)
        tr_attach_status(t, t->cmp);
}
