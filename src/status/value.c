/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: the small value trees statuses are built as, and their JSON and
 * YAML writers. JSON keeps insertion order (we insert in the Go struct
 * order kubectl -o json shows); YAML sorts keys, as kubectl -o yaml does.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/status.h"

#include "base/banned.h"

void
gw_sv_pool_init(struct gw_sv_pool *p, struct gw_arena *a)
{
    p->arena = a;
    p->next = NULL;
    p->left = 0;
}

struct gw_sv *
gw_sv_new(struct gw_sv_pool *p, enum gw_sv_type t)
{
    if (!p->left) {
        /* Zeroed, as every node must start. */
        p->next = gw_arena_alloc(p->arena, GW_SV_BLOCK * sizeof(*p->next));
        p->left = GW_SV_BLOCK;
    }
    struct gw_sv *v = p->next++;
    p->left--;
    v->type = t;
    return v;
}

struct gw_sv *
gw_sv_add(struct gw_sv *parent, const char *key, struct gw_sv *child)
{
    GW_ASSERT(parent->type == GW_SV_OBJ || parent->type == GW_SV_ARR);
    child->key = parent->type == GW_SV_OBJ ? key : NULL;
    if (parent->last)
        parent->last->next = child;
    else
        parent->child = child;
    parent->last = child;
    parent->n++;
    return child;
}

struct gw_sv *
gw_sv_add_str(struct gw_sv_pool *p, struct gw_sv *obj, const char *key, const char *s)
{
    struct gw_sv *v = gw_sv_new(p, GW_SV_STR);
    v->s = s ? s : "";
    return gw_sv_add(obj, key, v);
}

struct gw_sv *
gw_sv_add_int(struct gw_sv_pool *p, struct gw_sv *obj, const char *key, int64_t i)
{
    struct gw_sv *v = gw_sv_new(p, GW_SV_INT);
    v->i = i;
    return gw_sv_add(obj, key, v);
}

struct gw_sv *
gw_sv_add_obj(struct gw_sv_pool *p, struct gw_sv *parent, const char *key)
{
    return gw_sv_add(parent, key, gw_sv_new(p, GW_SV_OBJ));
}

struct gw_sv *
gw_sv_add_arr(struct gw_sv_pool *p, struct gw_sv *parent, const char *key)
{
    return gw_sv_add(parent, key, gw_sv_new(p, GW_SV_ARR));
}

void
gw_sv_share(struct gw_sv *to, const struct gw_sv *from)
{
    to->child = from->child;
    to->last = from->last;
    to->n = from->n;
}

const struct gw_sv *
gw_sv_get(const struct gw_sv *obj, const char *key)
{
    if (!obj || obj->type != GW_SV_OBJ)
        return NULL;
    for (const struct gw_sv *c = obj->child; c; c = c->next)
        if (!strcmp(c->key, key))
            return c;
    return NULL;
}

static void
indent(struct gw_buf *b, int n)
{
    for (int i = 0; i < n; i++)
        gw_buf_append_cstr(b, "  ");
}

static void
json(const struct gw_sv *v, struct gw_buf *b, int d)
{
    switch (v->type) {
    case GW_SV_NULL:
        gw_buf_append_cstr(b, "null");
        break;
    case GW_SV_BOOL:
        gw_buf_append_cstr(b, v->i ? "true" : "false");
        break;
    case GW_SV_INT:
        gw_buf_appendf(b, "%lld", (long long)v->i);
        break;
    case GW_SV_STR:
        gw_buf_append_json_str(b, v->s, strlen(v->s));
        break;
    case GW_SV_ARR:
    case GW_SV_OBJ: {
        bool obj = v->type == GW_SV_OBJ;
        if (!v->n) {
            gw_buf_append_cstr(b, obj ? "{}" : "[]");
            break;
        }
        gw_buf_append_cstr(b, obj ? "{\n" : "[\n");
        for (const struct gw_sv *c = v->child; c; c = c->next) {
            indent(b, d + 1);
            if (obj) {
                gw_buf_append_json_str(b, c->key, strlen(c->key));
                gw_buf_append_cstr(b, ": ");
            }
            json(c, b, d + 1);
            gw_buf_append_cstr(b, c->next ? ",\n" : "\n");
        }
        indent(b, d);
        gw_buf_append_cstr(b, obj ? "}" : "]");
        break;
    }
    }
}

int
gw_sv_format_json(const struct gw_sv *v, struct gw_buf *out)
{
    json(v, out, 0);
    return gw_buf_append_cstr(out, "\n");
}

/* A plain YAML scalar would read back as something else (a number, a bool,
 * null) or break the syntax: quote it. */
static bool
needs_quotes(const char *s)
{
    if (!*s)
        return true;
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "null",
                                        "True", "False", "Yes", "No", "On", "Off", "Null",
                                        "TRUE", "FALSE", "YES", "NO", "ON", "OFF", "NULL",
                                        "~",    "y",     "n",   "Y",  "N"};
    for (size_t i = 0; i < GW_ARRAY_LEN(words); i++)
        if (!strcmp(s, words[i]))
            return true;
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]))
        return true;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || (c == ':' && (p[1] == ' ' || !p[1])) ||
            (c == ' ' && p[1] == '#'))
            return true;
    }
    size_t len = strlen(s);
    if (s[len - 1] == ' ')
        return true;
    /* A number (int or float, any base YAML 1.1 knows) reads back as one. */
    char *end;
    errno = 0;
    (void)strtod(s, &end);
    if (!*end)
        return true;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b'))
        return true;
    /* Timestamps (YYYY-MM-DD...) resolve to time values. */
    if (len >= 10 && s[4] == '-' && s[7] == '-') {
        bool digits = true;
        for (int i = 0; i < 10; i++)
            if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                digits = false;
        if (digits)
            return true;
    }
    return false;
}

static void
yaml_scalar(const struct gw_sv *v, struct gw_buf *b)
{
    switch (v->type) {
    case GW_SV_NULL:
        gw_buf_append_cstr(b, "null");
        break;
    case GW_SV_BOOL:
        gw_buf_append_cstr(b, v->i ? "true" : "false");
        break;
    case GW_SV_INT:
        gw_buf_appendf(b, "%lld", (long long)v->i);
        break;
    case GW_SV_STR:
        if (needs_quotes(v->s))
            gw_buf_append_json_str(b, v->s, strlen(v->s));
        else
            gw_buf_append_cstr(b, v->s);
        break;
    case GW_SV_ARR:
        gw_buf_append_cstr(b, "[]");
        break;
    case GW_SV_OBJ:
        gw_buf_append_cstr(b, "{}");
        break;
    }
}

static bool
is_block(const struct gw_sv *v)
{
    return (v->type == GW_SV_ARR || v->type == GW_SV_OBJ) && v->n;
}

static int
cmp_key(const void *a, const void *b)
{
    return strcmp((*(const struct gw_sv *const *)a)->key, (*(const struct gw_sv *const *)b)->key);
}

static void yaml_block(const struct gw_sv *v, struct gw_buf *b, int d, bool inline_first);

/* Writes the members of obj at depth d; the first line's indent is already
 * written when inline_first (a "- " list item). */
static void
yaml_obj(const struct gw_sv *v, struct gw_buf *b, int d, bool inline_first)
{
    const struct gw_sv *stack[32];
    const struct gw_sv **kids =
        v->n <= GW_ARRAY_LEN(stack) ? stack : gw_xmalloc(v->n * sizeof(*kids));
    size_t k = 0;
    for (const struct gw_sv *c = v->child; c; c = c->next)
        kids[k++] = c;
    qsort(kids, k, sizeof(*kids), cmp_key);
    for (size_t i = 0; i < k; i++) {
        const struct gw_sv *c = kids[i];
        if (i || !inline_first)
            indent(b, d);
        gw_buf_append_cstr(b, c->key);
        gw_buf_append_cstr(b, ":");
        if (is_block(c)) {
            gw_buf_append_cstr(b, "\n");
            /* kubectl does not indent a list under its key. */
            yaml_block(c, b, c->type == GW_SV_ARR ? d : d + 1, false);
        } else {
            gw_buf_append_cstr(b, " ");
            yaml_scalar(c, b);
            gw_buf_append_cstr(b, "\n");
        }
    }
    if (kids != stack)
        free(kids);
}

static void
yaml_block(const struct gw_sv *v, struct gw_buf *b, int d, bool inline_first)
{
    if (v->type == GW_SV_OBJ) {
        yaml_obj(v, b, d, inline_first);
        return;
    }
    for (const struct gw_sv *c = v->child; c; c = c->next) {
        if (c != v->child || !inline_first)
            indent(b, d);
        gw_buf_append_cstr(b, "- ");
        if (c->type == GW_SV_OBJ && c->n)
            yaml_obj(c, b, d + 1, true);
        else if (is_block(c)) {
            gw_buf_append_cstr(b, "\n");
            yaml_block(c, b, d + 1, false);
        } else {
            yaml_scalar(c, b);
            gw_buf_append_cstr(b, "\n");
        }
    }
}

int
gw_sv_format_yaml(const struct gw_sv *v, struct gw_buf *out)
{
    if (is_block(v))
        yaml_block(v, out, 0, false);
    else {
        yaml_scalar(v, out);
        gw_buf_append_cstr(out, "\n");
    }
    return out->len >= out->max ? GW_ELIMIT : 0;
}

bool
gw_sv_equal(const struct gw_sv *a, const struct gw_sv *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case GW_SV_NULL:
        return true;
    case GW_SV_BOOL:
        return !a->i == !b->i;
    case GW_SV_INT:
        return a->i == b->i;
    case GW_SV_STR:
        return !strcmp(a->s ? a->s : "", b->s ? b->s : "");
    case GW_SV_ARR: {
        if (a->n != b->n)
            return false;
        const struct gw_sv *y = b->child;
        for (const struct gw_sv *x = a->child; x; x = x->next, y = y->next)
            if (!y || !gw_sv_equal(x, y))
                return false;
        return true;
    }
    case GW_SV_OBJ:
        /* Keys are unique within an object: same count and every member of
         * a found equal in b is equality. */
        if (a->n != b->n)
            return false;
        for (const struct gw_sv *x = a->child; x; x = x->next)
            if (!gw_sv_equal(x, gw_sv_get(b, x->key)))
                return false;
        return true;
    }
    return false;
}

struct gw_sv *
gw_sv_copy(struct gw_sv_pool *p, const struct gw_sv *v)
{
    if (!v)
        return NULL;
    struct gw_sv *c = gw_sv_new(p, v->type);
    c->i = v->i;
    if (v->type == GW_SV_STR)
        c->s = gw_arena_strdup(p->arena, v->s ? v->s : "");
    for (const struct gw_sv *k = v->child; k; k = k->next)
        gw_sv_add(c, k->key ? gw_arena_strdup(p->arena, k->key) : NULL, gw_sv_copy(p, k));
    return c;
}
