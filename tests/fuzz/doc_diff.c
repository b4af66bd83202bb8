/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the two front ends must agree. Bytes that our JSON
 * front end accepts are written back out as JSON text (which is also YAML
 * flow syntax; long keys use YAML's explicit "? key : value" form because
 * YAML caps implicit keys at 1024 characters) and read again by the YAML
 * front end. The trees must be equal: the same documents, types, values
 * and key order.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "load/load.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put_u(struct gw_buf *b, unsigned cp)
{
    gw_buf_appendf(b, "\\u%04X", cp);
}

/* A double-quoted string both JSON and YAML read back byte for byte: every
 * character libyaml would refuse raw or fold as a line break is escaped. */
static void
put_str(struct gw_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    gw_buf_append_char(b, '"');
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                gw_buf_append_char(b, '\\');
                gw_buf_append_char(b, (char)c);
            } else if (c == '\n') {
                gw_buf_append(b, "\\n", 2);
            } else if (c == '\t') {
                gw_buf_append(b, "\\t", 2);
            } else if (c < 0x20 || c == 0x7f) {
                put_u(b, c);
            } else {
                gw_buf_append_char(b, (char)c);
            }
            p++;
            continue;
        }
        size_t len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        unsigned cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        for (size_t i = 1; i < len; i++)
            cp = (cp << 6) | (p[i] & 0x3f);
        if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0xfffe ||
            cp == 0xffff)
            put_u(b, cp);
        else
            gw_buf_append(b, p, len);
        p += len;
    }
    gw_buf_append_char(b, '"');
}

static void
put_node(struct gw_buf *b, const struct gw_node *n)
{
    switch (n->type) {
    case GW_NODE_NULL:
        gw_buf_append_cstr(b, "null");
        break;
    case GW_NODE_BOOL:
        gw_buf_append_cstr(b, n->v.b ? "true" : "false");
        break;
    case GW_NODE_INT:
        gw_buf_appendf(b, "%lld", (long long)n->v.i);
        break;
    case GW_NODE_FLOAT: {
        char num[64];
        snprintf(num, sizeof(num), "%.17g", n->v.f);
        /* Keep it a float: "100" would come back as an integer. */
        if (!strpbrk(num, ".eEn"))
            gw_buf_appendf(b, "%s.0", num);
        else
            gw_buf_append_cstr(b, num);
        break;
    }
    case GW_NODE_STR:
        put_str(b, n->text, n->len);
        break;
    case GW_NODE_LIST:
        gw_buf_append_char(b, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                gw_buf_append(b, ", ", 2);
            put_node(b, n->u.items[i]);
        }
        gw_buf_append_char(b, ']');
        break;
    case GW_NODE_MAP:
        gw_buf_append_char(b, '{');
        for (size_t i = 0; i < n->n; i++) {
            const struct gw_node_pair *p = &n->u.pairs[i];
            if (i)
                gw_buf_append(b, ", ", 2);
            bool explicit_key = p->key_len > 200;
            if (explicit_key)
                gw_buf_append(b, "? ", 2);
            put_str(b, p->key, p->key_len);
            gw_buf_append(b, explicit_key ? " : " : ": ", explicit_key ? 3 : 2);
            put_node(b, p->value);
        }
        gw_buf_append_char(b, '}');
        break;
    }
}

static bool
same(const struct gw_node *a, const struct gw_node *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case GW_NODE_NULL:
        return true;
    case GW_NODE_BOOL:
        return a->v.b == b->v.b;
    case GW_NODE_INT:
        return a->v.i == b->v.i;
    case GW_NODE_FLOAT:
        return a->v.f == b->v.f && signbit(a->v.f) == signbit(b->v.f);
    case GW_NODE_STR:
        return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
    case GW_NODE_LIST:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++) {
            if (!same(a->u.items[i], b->u.items[i]))
                return false;
        }
        return true;
    case GW_NODE_MAP:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++) {
            const struct gw_node_pair *p = &a->u.pairs[i], *q = &b->u.pairs[i];
            if (p->key_len != q->key_len || memcmp(p->key, q->key, p->key_len) != 0 ||
                !same(p->value, q->value))
                return false;
        }
        return true;
    }
    return false;
}

static void
fail(const char *what, const struct gw_buf *yaml, const struct gw_diags *diags)
{
    fprintf(stderr, "doc_diff: %s\n--- yaml text:\n%s\n", what, yaml->p ? yaml->p : "");
    for (size_t i = 0; i < diags->n; i++)
        fprintf(stderr, "diag: %u:%u: %s\n", diags->v[i].pos.line, diags->v[i].pos.col,
                diags->v[i].message);
    abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_docs json, yaml;
    struct gw_diags diags;
    struct gw_buf text;
    gw_docs_init(&json);
    gw_docs_init(&yaml);
    gw_diags_init(&diags);
    gw_buf_init(&text, (size_t)1 << 30);
    if (gw_docs_add_json(&json, "in.json", (const char *)data, size, &diags) < 0)
        goto out;
    for (size_t i = 0; i < json.n; i++) {
        gw_buf_append_cstr(&text, "---\n");
        put_node(&text, json.v[i].root);
        gw_buf_append_char(&text, '\n');
    }
    yaml.limits = json.limits;
    yaml.limits.max_file_bytes = SIZE_MAX;
    if (gw_docs_add_yaml(&yaml, "out.yaml", text.p ? text.p : "", text.len, &diags) < 0)
        fail("the YAML front end refused what the JSON front end read", &text, &diags);
    if (yaml.n != json.n)
        fail("document counts differ", &text, &diags);
    for (size_t i = 0; i < json.n; i++) {
        if (!same(json.v[i].root, yaml.v[i].root))
            fail("trees differ", &text, &diags);
    }
out:
    gw_buf_release(&text);
    gw_docs_release(&json);
    gw_docs_release(&yaml);
    gw_diags_release(&diags);
    return 0;
}
