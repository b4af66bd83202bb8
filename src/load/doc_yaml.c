/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The YAML front end: libyaml's event parser into the doc tree. No
 * recursion: open maps and lists sit on an explicit stack bounded by
 * max_depth. Anchors are per document; an alias becomes a reference to the
 * anchored subtree (the tree is immutable, so sharing is safe) and costs the
 * subtree's full node count against max_nodes, so "billion laughs" fails
 * after a few events. Merge keys (<<) follow the YAML 1.1 merge spec:
 * explicit keys win wherever they stand, earlier merge sources win over
 * later ones, merged pairs take the place of the << entry.
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "load/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

/* The key of a << entry until the map is finished; compared by address. */
static const char merge_key[] = "<<";

struct frame {
    struct gw_node *node;
    const char *anchor; /* NULL, or the anchor to define when done */
    struct gw_node_pair *pairs;
    struct gw_node **items;
    size_t n, cap;
    size_t nmerge;
    bool have_key;
    size_t size;     /* nodes in this subtree, after alias expansion */
    unsigned height; /* nesting levels in this subtree, >= 1 */
};

struct anchor {
    struct gw_node *node;
    size_t size;
    unsigned height;
};

struct yp {
    struct gw_load_ctx *ctx;
    struct frame *stack;
    size_t depth, stack_cap;
    struct anchor *anchors;
    size_t nanchors, anchors_cap;
    struct gw_load_strtab anchor_tab;
    struct gw_load_strtab keys, merged;
    struct gw_node *root;
};

static struct gw_arena *
arena(struct yp *y)
{
    return &y->ctx->docs->arena;
}

static const char *
copy_anchor(struct yp *y, const yaml_char_t *a)
{
    return a ? gw_arena_strdup(arena(y), (const char *)a) : NULL;
}

static void
define_anchor(struct yp *y, const char *name, struct gw_node *node, size_t size, unsigned height)
{
    if (!name)
        return;
    y->anchors = gw_xgrow(y->anchors, &y->anchors_cap, y->nanchors + 1, sizeof(*y->anchors));
    y->anchors[y->nanchors] = (struct anchor){node, size, height};
    /* A later anchor of the same name replaces the earlier one. */
    gw_load_strtab_set(&y->anchor_tab, name, strlen(name), y->nanchors);
    y->nanchors++;
}

static int
check_depth(struct yp *y, size_t levels, unsigned line, unsigned col)
{
    if (levels > y->ctx->lim->max_depth) {
        gw_load_error(y->ctx, GW_ELIMIT, line, col, "nesting deeper than %u levels",
                      y->ctx->lim->max_depth);
        return GW_ELIMIT;
    }
    return 0;
}

/* Hands a finished node (subtree of size nodes, height levels) to the open
 * collection on top of the stack, or makes it the document's root. */
static int
attach(struct yp *y, struct gw_node *node, size_t size, unsigned height, bool is_merge,
       unsigned line, unsigned col)
{
    if (y->depth == 0) {
        y->root = node;
        return 0;
    }
    struct frame *f = &y->stack[y->depth - 1];
    f->size += size;
    f->height = GW_MAX(f->height, height + 1);
    if (f->node->type == GW_NODE_LIST) {
        f->items = gw_xgrow(f->items, &f->cap, f->n + 1, sizeof(*f->items));
        f->items[f->n++] = node;
        return 0;
    }
    if (!f->have_key) {
        if (node->type == GW_NODE_MAP || node->type == GW_NODE_LIST) {
            gw_load_error(y->ctx, GW_EPARSE, line, col, "map keys must be scalars, not %s",
                          node->type == GW_NODE_MAP ? "maps" : "lists");
            return GW_EPARSE;
        }
        f->pairs = gw_xgrow(f->pairs, &f->cap, f->n + 1, sizeof(*f->pairs));
        struct gw_node_pair *p = &f->pairs[f->n];
        p->key = is_merge ? merge_key : node->text;
        p->key_len = node->len;
        p->key_pos = (struct gw_pos){y->ctx->file, line, col};
        p->value = NULL;
        f->nmerge += is_merge;
        f->have_key = true;
        return 0;
    }
    f->pairs[f->n++].value = node;
    f->have_key = false;
    return 0;
}

static void
out_pair(struct gw_node_pair **out, size_t *n, size_t *cap, const struct gw_node_pair *p)
{
    *out = gw_xgrow(*out, cap, *n + 1, sizeof(**out));
    (*out)[(*n)++] = *p;
}

/* Expands the << entries of a map (whose explicit keys are unique). */
static int
merge_pairs(struct yp *y, struct frame *f, struct gw_node_pair **outp, size_t *outn)
{
    struct gw_node_pair *out = NULL;
    size_t n = 0, cap = 0;
    gw_load_strtab_clear(&y->keys);
    for (size_t i = 0; i < f->n; i++) {
        if (f->pairs[i].key != merge_key)
            gw_load_strtab_add(&y->keys, f->pairs[i].key, f->pairs[i].key_len, i);
    }
    gw_load_strtab_clear(&y->merged);
    for (size_t i = 0; i < f->n; i++) {
        const struct gw_node_pair *p = &f->pairs[i];
        if (p->key != merge_key) {
            out_pair(&out, &n, &cap, p);
            continue;
        }
        const struct gw_node *v = p->value;
        size_t nsrc = v->type == GW_NODE_LIST ? v->n : 1;
        for (size_t s = 0; s < nsrc; s++) {
            const struct gw_node *src = v->type == GW_NODE_LIST ? v->u.items[s] : v;
            if (src->type != GW_NODE_MAP) {
                gw_load_error(y->ctx, GW_EPARSE, p->key_pos.line, p->key_pos.col,
                              "merge key << needs a map or a list of maps, not %s",
                              gw_node_type_name(src->type));
                free(out);
                return GW_EPARSE;
            }
            for (size_t k = 0; k < src->n; k++) {
                const struct gw_node_pair *sp = &src->u.pairs[k];
                if (gw_load_strtab_get(&y->keys, sp->key, sp->key_len) != GW_LOAD_STRTAB_NONE)
                    continue;
                if (gw_load_strtab_add(&y->merged, sp->key, sp->key_len, 0) != GW_LOAD_STRTAB_NONE)
                    continue;
                out_pair(&out, &n, &cap, sp);
            }
        }
    }
    *outp = out;
    *outn = n;
    return 0;
}

static int
finish_frame(struct yp *y, struct frame *f)
{
    struct gw_node *node = f->node;
    if (node->type == GW_NODE_LIST) {
        node->n = f->n;
        if (f->n)
            node->u.items = gw_arena_memdup(arena(y), f->items, f->n * sizeof(*f->items));
        return 0;
    }
    GW_ASSERT(!f->have_key);
    int rc = gw_load_check_dups(y->ctx, f->pairs, f->n, merge_key, &y->keys);
    if (rc < 0)
        return rc;
    struct gw_node_pair *pairs = f->pairs;
    size_t n = f->n;
    if (f->nmerge) {
        rc = merge_pairs(y, f, &pairs, &n);
        if (rc < 0)
            return rc;
    }
    node->n = n;
    if (n)
        node->u.pairs = gw_arena_memdup(arena(y), pairs, n * sizeof(*pairs));
    if (pairs != f->pairs)
        free(pairs);
    return 0;
}

static void
frame_free(struct frame *f)
{
    free(f->pairs);
    free(f->items);
    f->pairs = NULL;
    f->items = NULL;
}

static int
on_start(struct yp *y, const yaml_event_t *ev, enum gw_node_type t, const yaml_char_t *anchor)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    int rc = check_depth(y, y->depth + 1, line, col);
    if (rc == 0)
        rc = gw_load_count(y->ctx, 1, line, col);
    if (rc < 0)
        return rc;
    y->stack = gw_xgrow(y->stack, &y->stack_cap, y->depth + 1, sizeof(*y->stack));
    struct frame *f = &y->stack[y->depth++];
    memset(f, 0, sizeof(*f));
    f->node = gw_load_node_new(y->ctx, t, line, col);
    f->anchor = copy_anchor(y, anchor);
    f->size = 1;
    f->height = 1;
    return 0;
}

static int
on_end(struct yp *y)
{
    GW_ASSERT(y->depth > 0);
    struct frame f = y->stack[--y->depth];
    int rc = finish_frame(y, &f);
    frame_free(&f);
    if (rc < 0)
        return rc;
    define_anchor(y, f.anchor, f.node, f.size, f.height);
    return attach(y, f.node, f.size, f.height, false, f.node->pos.line, f.node->pos.col);
}

static int
on_scalar(struct yp *y, const yaml_event_t *ev)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    int rc = gw_load_count(y->ctx, 1, line, col);
    if (rc < 0)
        return rc;
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(value, '\0', len)) {
        gw_load_error(y->ctx, GW_EPARSE, line, col, "NUL character in a scalar is not supported");
        return GW_EPARSE;
    }
    struct gw_node *n = gw_load_node_new(y->ctx, GW_NODE_STR, line, col);
    n->text = gw_arena_strndup(arena(y), value, len);
    n->len = len;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (gw_load_resolve_tagged(n, tag, plain) < 0) {
        char q[128];
        gw_load_quote(q, sizeof(q), n->text, n->len);
        const char *want = strrchr(tag, ':') + 1;
        gw_load_error(y->ctx, GW_EPARSE, line, col, "cannot read %s %s as !!%s",
                      gw_node_type_name(n->type), q, want);
        return GW_EPARSE;
    }
    bool is_merge = plain && !tag && len == 2 && memcmp(value, "<<", 2) == 0;
    define_anchor(y, copy_anchor(y, ev->data.scalar.anchor), n, 1, 0);
    return attach(y, n, 1, 0, is_merge, line, col);
}

static int
on_alias(struct yp *y, const yaml_event_t *ev)
{
    struct gw_load_ctx *ctx = y->ctx;
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    const char *name = (const char *)ev->data.alias.anchor;
    size_t i = gw_load_strtab_get(&y->anchor_tab, name, strlen(name));
    if (i == GW_LOAD_STRTAB_NONE) {
        char q[128];
        gw_load_quote(q, sizeof(q), name, strlen(name));
        gw_load_error(ctx, GW_EPARSE, line, col, "unknown anchor %s", q);
        return GW_EPARSE;
    }
    if (++ctx->aliases > ctx->lim->max_aliases) {
        gw_load_error(ctx, GW_ELIMIT, line, col, "alias expansion exceeds %zu aliases",
                      ctx->lim->max_aliases);
        return GW_ELIMIT;
    }
    const struct anchor a = y->anchors[i];
    int rc = gw_load_count(ctx, a.size, line, col);
    if (rc == 0 && a.height)
        rc = check_depth(y, y->depth + a.height, line, col);
    if (rc < 0)
        return rc;
    return attach(y, a.node, a.size, a.height, false, line, col);
}

/* Line and column of a byte offset, for libyaml's reader errors (which
 * carry only the offset). Columns count characters, as libyaml's do. */
static void
offset_pos(const char *data, size_t len, size_t off, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n') {
            (*line)++;
            *col = 1;
        } else if ((c & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static void
parser_error(struct yp *y, const yaml_parser_t *p, const char *data, size_t len)
{
    unsigned line, col;
    const char *problem = p->problem ? p->problem : "unknown YAML error";
    if (p->error == YAML_MEMORY_ERROR) {
        gw_load_error(y->ctx, GW_ENOMEM, 0, 0, "out of memory while parsing YAML");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        offset_pos(data, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            gw_load_error(y->ctx, GW_EPARSE, line, col, "%s (#%X)", problem,
                          (unsigned)p->problem_value);
        else
            gw_load_error(y->ctx, GW_EPARSE, line, col, "%s", problem);
        return;
    }
    line = (unsigned)p->problem_mark.line + 1;
    col = (unsigned)p->problem_mark.column + 1;
    if (!p->context) {
        gw_load_error(y->ctx, GW_EPARSE, line, col, "%s", problem);
    } else if (p->context_mark.line == p->problem_mark.line &&
               p->context_mark.column == p->problem_mark.column) {
        gw_load_error(y->ctx, GW_EPARSE, line, col, "%s (%s)", problem, p->context);
    } else {
        gw_load_error(y->ctx, GW_EPARSE, line, col, "%s (%s at %u:%u)", problem, p->context,
                      (unsigned)p->context_mark.line + 1, (unsigned)p->context_mark.column + 1);
    }
}

static int
parse_stream(struct yp *y, yaml_parser_t *p, const char *data, size_t len)
{
    unsigned doc_index = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) {
            parser_error(y, p, data, len);
            return y->ctx->err;
        }
        int rc = 0;
        bool end = false;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            end = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            y->ctx->nodes = 0;
            y->ctx->aliases = 0;
            y->nanchors = 0;
            gw_load_strtab_clear(&y->anchor_tab);
            y->root = NULL;
            break;
        case YAML_DOCUMENT_END_EVENT:
            /* An empty document (nothing but an implicit empty scalar) is
             * no document at all, as for kubectl. */
            if (y->root && !(y->root->type == GW_NODE_NULL && y->root->len == 0))
                gw_load_doc_push(y->ctx, y->root, doc_index);
            doc_index++;
            break;
        case YAML_SCALAR_EVENT:
            rc = on_scalar(y, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = on_alias(y, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(y, &ev, GW_NODE_LIST, ev.data.sequence_start.anchor);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(y, &ev, GW_NODE_MAP, ev.data.mapping_start.anchor);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = on_end(y);
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_NO_EVENT:
            break;
        }
        yaml_event_delete(&ev);
        if (rc < 0)
            return rc;
        if (end)
            return 0;
    }
}

int
gw_docs_add_yaml(struct gw_docs *docs, const char *name, const char *data, size_t len,
                 struct gw_diags *diags)
{
    struct gw_load_ctx ctx;
    if (gw_load_ctx_begin(&ctx, docs, name, len, diags) < 0)
        return gw_load_ctx_end(&ctx);

    struct yp y;
    memset(&y, 0, sizeof(y));
    y.ctx = &ctx;
    gw_load_strtab_init(&y.anchor_tab);
    gw_load_strtab_init(&y.keys);
    gw_load_strtab_init(&y.merged);

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        gw_load_error(&ctx, GW_ENOMEM, 0, 0, "out of memory while parsing YAML");
        goto out;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    parse_stream(&y, &parser, data, len);
    yaml_parser_delete(&parser);
out:
    while (y.depth > 0)
        frame_free(&y.stack[--y.depth]);
    free(y.stack);
    free(y.anchors);
    gw_load_strtab_release(&y.anchor_tab);
    gw_load_strtab_release(&y.keys);
    gw_load_strtab_release(&y.merged);
    return gw_load_ctx_end(&ctx);
}
