/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The doc tree's plumbing shared by both front ends: the gw_docs container
 * and its limits, node allocation and counting, the per-input context that
 * makes a file all-or-nothing, error reporting, the small string hash table
 * used for duplicate keys and anchors, and the public node accessors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

void
gw_load_limits_default(struct gw_load_limits *lim)
{
    lim->max_file_bytes = 8u << 20;
    lim->max_depth = 64;
    lim->max_nodes = 1000000;
    lim->max_aliases = 10000;
}

void
gw_docs_init(struct gw_docs *docs)
{
    memset(docs, 0, sizeof(*docs));
    gw_arena_init(&docs->arena, 64 * 1024);
    gw_load_limits_default(&docs->limits);
}

void
gw_docs_release(struct gw_docs *docs)
{
    gw_arena_release(&docs->arena);
    free(docs->v);
    docs->v = NULL;
    docs->n = docs->cap = 0;
}

const struct gw_node *
gw_node_get(const struct gw_node *map, const char *key)
{
    if (!map || map->type != GW_NODE_MAP || !key)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const struct gw_node_pair *p = &map->u.pairs[i];
        if (p->key_len == len && memcmp(p->key, key, len) == 0)
            return p->value;
    }
    return NULL;
}

const char *
gw_node_type_name(enum gw_node_type t)
{
    switch (t) {
    case GW_NODE_NULL:
        return "null";
    case GW_NODE_BOOL:
        return "boolean";
    case GW_NODE_INT:
        return "integer";
    case GW_NODE_FLOAT:
        return "number";
    case GW_NODE_STR:
        return "string";
    case GW_NODE_MAP:
        return "object";
    case GW_NODE_LIST:
        return "array";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------ */
/* Per-input context                                                        */

int
gw_load_ctx_begin(struct gw_load_ctx *ctx, struct gw_docs *docs, const char *name, size_t len,
                  struct gw_diags *diags)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->docs = docs;
    ctx->file = gw_arena_strdup(&docs->arena, name ? name : "<input>");
    ctx->diags = diags;
    ctx->lim = &docs->limits;
    ctx->docs_at_start = docs->n;
    if (len > ctx->lim->max_file_bytes)
        gw_load_error(ctx, GW_ELIMIT, 0, 0, "input is %zu bytes, more than the limit of %zu", len,
                      ctx->lim->max_file_bytes);
    return ctx->err;
}

int
gw_load_ctx_end(struct gw_load_ctx *ctx)
{
    if (ctx->err)
        ctx->docs->n = ctx->docs_at_start;
    return ctx->err;
}

void
gw_load_error(struct gw_load_ctx *ctx, int err, unsigned line, unsigned col, const char *fmt, ...)
{
    if (ctx->err)
        return;
    ctx->err = err;
    if (!ctx->diags)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct gw_pos pos = {ctx->file, line, line ? col : 0};
    gw_diags_add(ctx->diags, GW_SEV_ERROR, pos, NULL, NULL, NULL, NULL, "%s", msg);
}

struct gw_node *
gw_load_node_new(struct gw_load_ctx *ctx, enum gw_node_type t, unsigned line, unsigned col)
{
    struct gw_node *n = gw_arena_alloc(&ctx->docs->arena, sizeof(*n));
    n->type = t;
    n->pos.file = ctx->file;
    n->pos.line = line;
    n->pos.col = col;
    return n;
}

int
gw_load_count(struct gw_load_ctx *ctx, size_t n, unsigned line, unsigned col)
{
    size_t max = ctx->lim->max_nodes;
    if (n > max || ctx->nodes > max - n) {
        gw_load_error(ctx, GW_ELIMIT, line, col,
                      "document exceeds %zu nodes (counting alias expansion)", max);
        return GW_ELIMIT;
    }
    ctx->nodes += n;
    return 0;
}

void
gw_load_doc_push(struct gw_load_ctx *ctx, struct gw_node *root, unsigned index)
{
    struct gw_docs *docs = ctx->docs;
    docs->v = gw_xgrow(docs->v, &docs->cap, docs->n + 1, sizeof(*docs->v));
    struct gw_doc *d = &docs->v[docs->n++];
    d->root = root;
    d->file = ctx->file;
    d->index = index;
}

void
gw_load_quote(char *out, size_t size, const char *key, size_t len)
{
    GW_ASSERT(size >= 8);
    size_t max = 60;
    bool cut = false;
    if (len > max) {
        /* Cut at a character boundary, not inside a UTF-8 sequence. */
        len = max;
        while (len > 0 && ((unsigned char)key[len] & 0xc0) == 0x80)
            len--;
        cut = true;
    }
    struct gw_buf b;
    gw_buf_init(&b, size - 4);
    if (gw_buf_append_json_str(&b, key, len) < 0 || !b.p) {
        snprintf(out, size, "(key)");
    } else {
        snprintf(out, size, "%s%s", b.p, cut ? "..." : "");
    }
    gw_buf_release(&b);
}

/* ------------------------------------------------------------------------ */
/* String hash table                                                        */

struct gw_load_strtab_slot {
    const char *key; /* NULL: empty */
    size_t len;
    size_t val;
};

static uint64_t
hash_bytes(const char *s, size_t len)
{
    /* FNV-1a: keys are short and not attacker-chosen in bulk beyond the
     * node limit; collisions only cost time, bounded by that limit. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void
gw_load_strtab_init(struct gw_load_strtab *t)
{
    memset(t, 0, sizeof(*t));
}

void
gw_load_strtab_release(struct gw_load_strtab *t)
{
    free(t->slots);
    gw_load_strtab_init(t);
}

void
gw_load_strtab_clear(struct gw_load_strtab *t)
{
    /* A table grown for one big map would make clearing it for each small
     * map after it costly: drop big tables instead of wiping them. */
    if (t->cap > 64) {
        gw_load_strtab_release(t);
        return;
    }
    if (t->slots)
        memset(t->slots, 0, t->cap * sizeof(*t->slots));
    t->n = 0;
}

static struct gw_load_strtab_slot *
strtab_find(const struct gw_load_strtab *t, const char *key, size_t len)
{
    size_t mask = t->cap - 1;
    size_t i = (size_t)hash_bytes(key, len) & mask;
    for (;;) {
        struct gw_load_strtab_slot *s = &t->slots[i];
        if (!s->key || (s->len == len && memcmp(s->key, key, len) == 0))
            return s;
        i = (i + 1) & mask;
    }
}

static void
strtab_grow(struct gw_load_strtab *t)
{
    if (t->cap && (t->n + 1) * 2 <= t->cap)
        return;
    struct gw_load_strtab old = *t;
    t->cap = old.cap ? old.cap * 2 : 16;
    t->slots = gw_xcalloc(t->cap, sizeof(*t->slots));
    t->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key) {
            *strtab_find(t, old.slots[i].key, old.slots[i].len) = old.slots[i];
            t->n++;
        }
    }
    free(old.slots);
}

size_t
gw_load_strtab_get(const struct gw_load_strtab *t, const char *key, size_t len)
{
    if (!t->n)
        return GW_LOAD_STRTAB_NONE;
    const struct gw_load_strtab_slot *s = strtab_find(t, key, len);
    return s->key ? s->val : GW_LOAD_STRTAB_NONE;
}

size_t
gw_load_strtab_add(struct gw_load_strtab *t, const char *key, size_t len, size_t val)
{
    strtab_grow(t);
    struct gw_load_strtab_slot *s = strtab_find(t, key, len);
    if (s->key)
        return s->val;
    s->key = key;
    s->len = len;
    s->val = val;
    t->n++;
    return GW_LOAD_STRTAB_NONE;
}

void
gw_load_strtab_set(struct gw_load_strtab *t, const char *key, size_t len, size_t val)
{
    strtab_grow(t);
    struct gw_load_strtab_slot *s = strtab_find(t, key, len);
    if (!s->key) {
        s->key = key;
        s->len = len;
        t->n++;
    }
    s->val = val;
}

int
gw_load_check_dups(struct gw_load_ctx *ctx, const struct gw_node_pair *pairs, size_t n,
                   const char *skip, struct gw_load_strtab *tab)
{
    gw_load_strtab_clear(tab);
    for (size_t i = 0; i < n; i++) {
        const struct gw_node_pair *p = &pairs[i];
        if (skip && p->key == skip)
            continue;
        size_t first = GW_LOAD_STRTAB_NONE;
        if (n <= 8) {
            /* Most maps are small: compare directly, fill no table. */
            for (size_t k = 0; k < i && first == GW_LOAD_STRTAB_NONE; k++) {
                if (pairs[k].key != skip && pairs[k].key_len == p->key_len &&
                    memcmp(pairs[k].key, p->key, p->key_len) == 0)
                    first = k;
            }
        } else {
            first = gw_load_strtab_add(tab, p->key, p->key_len, i);
        }
        if (first != GW_LOAD_STRTAB_NONE) {
            char q[128];
            gw_load_quote(q, sizeof(q), p->key, p->key_len);
            gw_load_error(ctx, GW_EPARSE, p->key_pos.line, p->key_pos.col,
                          "duplicate key %s (first at %u:%u)", q, pairs[first].key_pos.line,
                          pairs[first].key_pos.col);
            return GW_EPARSE;
        }
    }
    return 0;
}
