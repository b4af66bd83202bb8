/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A verified token's claims as a flat list of name and text, in one heap
 * block: what a policy copies into request headers, cheap to keep in a
 * cache entry and to share (refcounted) with the request that got it.
 * Built only after the signature held, from the payload's doc tree.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"

#include "base/banned.h"

/* Nesting followed into objects ("a.b.c.d"), and a cap on the text: paths
 * repeat their prefix, so a payload could otherwise grow quadratically. */
#define CLAIMS_MAX_DEPTH 4
#define CLAIMS_MAX_TEXT  (64u * 1024)

struct builder {
    struct gw_buf text;
    struct auth_claim *v;
    size_t n, cap;
};

static bool
is_scalar(const struct gw_node *n)
{
    return n->type == GW_NODE_STR || n->type == GW_NODE_INT || n->type == GW_NODE_FLOAT ||
           n->type == GW_NODE_BOOL;
}

static void
add(struct builder *b, const char *prefix, size_t prefix_len, const struct gw_node_pair *pair)
{
    const struct gw_node *val = pair->value;
    size_t mark = b->text.len;
    size_t name_off = b->text.len;
    if (gw_buf_append(&b->text, prefix, prefix_len) < 0 ||
        gw_buf_append(&b->text, pair->key, pair->key_len) < 0)
        goto undo;
    size_t name_len = b->text.len - name_off;
    size_t value_off = b->text.len;
    if (is_scalar(val)) {
        if (gw_buf_append(&b->text, val->text, val->len) < 0)
            goto undo;
    } else if (val->type == GW_NODE_LIST && val->n > 0) {
        for (size_t i = 0; i < val->n; i++) {
            const struct gw_node *it = val->u.items[i];
            if (!is_scalar(it))
                goto undo; /* only lists of plain values have a text */
            if ((i && gw_buf_append_char(&b->text, ',') < 0) ||
                gw_buf_append(&b->text, it->text, it->len) < 0)
                goto undo;
        }
    } else {
        goto undo;
    }
    b->v = gw_xgrow(b->v, &b->cap, b->n + 1, sizeof(*b->v));
    b->v[b->n++] = (struct auth_claim){(uint32_t)name_off, (uint32_t)name_len, (uint32_t)value_off,
                                       (uint32_t)(b->text.len - value_off)};
    return;
undo:
    b->text.len = mark;
    if (b->text.p)
        b->text.p[mark] = '\0';
}

/* Top-level pairs of every level first, then the objects' members, so a
 * top-level name wins a lookup over a path spelled the same. */
static void
walk(struct builder *b, const struct gw_node *map, const char *prefix, size_t prefix_len,
     unsigned depth)
{
    for (size_t i = 0; i < map->n; i++)
        add(b, prefix, prefix_len, &map->u.pairs[i]);
    if (depth + 1 >= CLAIMS_MAX_DEPTH)
        return;
    for (size_t i = 0; i < map->n; i++) {
        const struct gw_node_pair *pair = &map->u.pairs[i];
        if (pair->value->type != GW_NODE_MAP)
            continue;
        size_t len = prefix_len + pair->key_len + 1;
        if (len > CLAIMS_MAX_TEXT)
            continue;
        char *sub = gw_xmalloc(len + 1);
        memcpy(sub, prefix, prefix_len);
        memcpy(sub + prefix_len, pair->key, pair->key_len);
        sub[len - 1] = '.';
        sub[len] = '\0';
        walk(b, pair->value, sub, len, depth + 1);
        free(sub);
    }
}

struct gw_auth_claims *
auth_claims_build(const struct gw_node *payload)
{
    GW_ASSERT(payload->type == GW_NODE_MAP);
    struct builder b = {0};
    gw_buf_init(&b.text, CLAIMS_MAX_TEXT);
    walk(&b, payload, "", 0, 0);
    size_t head = sizeof(struct gw_auth_claims) + b.n * sizeof(struct auth_claim);
    struct gw_auth_claims *c = gw_xmalloc(head + b.text.len + 1);
    atomic_init(&c->refs, 1);
    c->n = b.n;
    if (b.n)
        memcpy(c->v, b.v, b.n * sizeof(*b.v));
    char *text = (char *)c + head;
    if (b.text.len)
        memcpy(text, b.text.p, b.text.len);
    text[b.text.len] = '\0';
    c->text = text;
    gw_buf_release(&b.text);
    free(b.v);
    return c;
}

struct gw_auth_claims *
gw_auth_claims_ref(struct gw_auth_claims *c)
{
    unsigned old = atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    GW_ASSERT(old > 0);
    return c;
}

void
gw_auth_claims_unref(struct gw_auth_claims *c)
{
    if (!c)
        return;
    unsigned old = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
    GW_ASSERT(old > 0);
    if (old == 1)
        free(c);
}

size_t
gw_auth_claims_count(const struct gw_auth_claims *c)
{
    return c->n;
}

void
gw_auth_claims_at(const struct gw_auth_claims *c, size_t i, struct gw_str *name,
                  struct gw_str *value)
{
    GW_ASSERT(i < c->n);
    const struct auth_claim *e = &c->v[i];
    *name = (struct gw_str){c->text + e->name_off, e->name_len};
    *value = (struct gw_str){c->text + e->value_off, e->value_len};
}

bool
gw_auth_claims_get(const struct gw_auth_claims *c, struct gw_str name, struct gw_str *value)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct auth_claim *e = &c->v[i];
        if (gw_str_eq((struct gw_str){c->text + e->name_off, e->name_len}, name)) {
            *value = (struct gw_str){c->text + e->value_off, e->value_len};
            return true;
        }
    }
    return false;
}
