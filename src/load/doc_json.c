/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON front end: a strict RFC 8259 reader into the doc tree, written
 * here rather than borrowed from libyaml so JSON means exactly JSON. A
 * stream of values (concatenated or whitespace-separated, like a watch
 * stream) gives one document each. Every node and every error carries
 * line:col (columns count characters, as libyaml's do). Recursion is
 * bounded by max_depth.
 *
 * Choices beyond the RFC: a leading UTF-8 BOM is skipped; \u0000 is
 * refused (a NUL inside a name would cut it short for C code, and the YAML
 * front end refuses it too); a number that overflows a double is an error
 * (as in Go's encoding/json); duplicate keys are errors.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "load/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

struct jp {
    struct gw_load_ctx *ctx;
    const unsigned char *p, *end;
    unsigned line, col;
    unsigned depth;
    char *scratch; /* decoded string bytes */
    size_t scratch_cap;
    struct gw_load_strtab keys;
};

static int
fail(struct jp *j, const char *msg)
{
    gw_load_error(j->ctx, GW_EPARSE, j->line, j->col, "%s", msg);
    return GW_EPARSE;
}

static int
fail_here(struct jp *j, const char *what)
{
    if (j->p >= j->end) {
        gw_load_error(j->ctx, GW_EPARSE, j->line, j->col, "unexpected end of input, %s", what);
    } else {
        unsigned char c = *j->p;
        if (c >= 0x20 && c < 0x7f)
            gw_load_error(j->ctx, GW_EPARSE, j->line, j->col, "unexpected character '%c', %s", c,
                          what);
        else
            gw_load_error(j->ctx, GW_EPARSE, j->line, j->col, "unexpected byte 0x%02x, %s", c,
                          what);
    }
    return GW_EPARSE;
}

/* Advances over n bytes that contain no newline. */
static void
skip(struct jp *j, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((j->p[i] & 0xc0) != 0x80)
            j->col++;
    }
    j->p += n;
}

static void
skip_ws(struct jp *j)
{
    while (j->p < j->end) {
        unsigned char c = *j->p;
        if (c == '\n') {
            j->line++;
            j->col = 1;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            j->col++;
        } else {
            return;
        }
        j->p++;
    }
}

static void
scratch_put(struct jp *j, size_t *len, const void *b, size_t n)
{
    if (*len + n + 1 > j->scratch_cap)
        j->scratch = gw_xgrow(j->scratch, &j->scratch_cap, *len + n + 1, 1);
    memcpy(j->scratch + *len, b, n);
    *len += n;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

static size_t
utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Reads the 4 hex digits of a \u escape at j->p (just past "\u"). */
static int
hex4(struct jp *j, uint32_t *out)
{
    if (j->end - j->p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = j->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A string at j->p (the opening quote); *out is arena-owned. */
static int
parse_string(struct jp *j, const char **out, size_t *outlen)
{
    size_t len = 0;
    skip(j, 1);
    for (;;) {
        /* Copy the run of plain ASCII in one go. */
        const unsigned char *run = j->p;
        while (j->p < j->end && *j->p >= 0x20 && *j->p < 0x80 && *j->p != '"' && *j->p != '\\')
            j->p++;
        if (j->p > run) {
            j->col += (unsigned)(j->p - run);
            scratch_put(j, &len, run, (size_t)(j->p - run));
        }
        if (j->p >= j->end)
            return fail(j, "unexpected end of input inside a string");
        unsigned char c = *j->p;
        if (c == '"') {
            skip(j, 1);
            break;
        }
        if (c < 0x20) {
            gw_load_error(j->ctx, GW_EPARSE, j->line, j->col,
                          "control character U+%04X in a string must be escaped", c);
            return GW_EPARSE;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(j->p, j->end);
            if (!n) {
                gw_load_error(j->ctx, GW_EPARSE, j->line, j->col, "invalid UTF-8 byte 0x%02x", c);
                return GW_EPARSE;
            }
            scratch_put(j, &len, j->p, n);
            skip(j, n);
            continue;
        }
        /* A backslash escape. */
        unsigned eline = j->line, ecol = j->col;
        if (j->end - j->p < 2)
            return fail(j, "unexpected end of input inside a string");
        char e = (char)j->p[1], b;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            b = e;
            break;
        case 'b':
            b = '\b';
            break;
        case 'f':
            b = '\f';
            break;
        case 'n':
            b = '\n';
            break;
        case 'r':
            b = '\r';
            break;
        case 't':
            b = '\t';
            break;
        case 'u': {
            skip(j, 2);
            uint32_t cp, lo;
            if (hex4(j, &cp) < 0) {
                gw_load_error(j->ctx, GW_EPARSE, eline, ecol, "\\u needs four hex digits");
                return GW_EPARSE;
            }
            skip(j, 4);
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                gw_load_error(j->ctx, GW_EPARSE, eline, ecol, "lone low surrogate \\u%04X", cp);
                return GW_EPARSE;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    gw_load_error(j->ctx, GW_EPARSE, eline, ecol, "lone high surrogate \\u%04X",
                                  cp);
                    return GW_EPARSE;
                }
                skip(j, 2);
                if (hex4(j, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
                    gw_load_error(j->ctx, GW_EPARSE, eline, ecol,
                                  "high surrogate \\u%04X not followed by a low surrogate", cp);
                    return GW_EPARSE;
                }
                skip(j, 4);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                gw_load_error(j->ctx, GW_EPARSE, eline, ecol,
                              "\\u0000 (NUL) in a string is not supported");
                return GW_EPARSE;
            }
            char u[4];
            scratch_put(j, &len, u, utf8_put(u, cp));
            continue;
        }
        default:
            if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7f)
                gw_load_error(j->ctx, GW_EPARSE, eline, ecol, "invalid escape \\%c", e);
            else
                gw_load_error(j->ctx, GW_EPARSE, eline, ecol, "invalid escape");
            return GW_EPARSE;
        }
        scratch_put(j, &len, &b, 1);
        skip(j, 2);
    }
    *out = gw_arena_strndup(&j->ctx->docs->arena, len ? j->scratch : "", len);
    *outlen = len;
    return 0;
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Moves to p (ASCII, same line) and reports what is found there. */
static int
fail_at(struct jp *j, const unsigned char *p, const char *what)
{
    j->col += (unsigned)(p - j->p);
    j->p = p;
    return fail_here(j, what);
}

static int
parse_number(struct jp *j, struct gw_node *n)
{
    const unsigned char *s = j->p, *p = j->p, *end = j->end;
    bool integral = true;
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return fail_at(j, p, "expected a digit");
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            j->col += (unsigned)(p - 1 - j->p);
            j->p = p - 1;
            return fail(j, "leading zeros are not allowed in numbers");
        }
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        integral = false;
        p++;
        if (p >= end || !is_digit(*p))
            return fail_at(j, p, "expected a digit after '.'");
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return fail_at(j, p, "expected a digit in the exponent");
        while (p < end && is_digit(*p))
            p++;
    }
    size_t len = (size_t)(p - s);
    n->text = gw_arena_strndup(&j->ctx->docs->arena, (const char *)s, len);
    n->len = len;
    if (integral) {
        /* Exact int64 when it fits, as Kubernetes' json decoding (UseNumber,
         * then ParseInt) does; otherwise a float. */
        const char *t = n->text;
        bool neg = *t == '-';
        uint64_t u = 0;
        bool range = false;
        for (t += neg; *t; t++) {
            uint64_t d = (uint64_t)(*t - '0');
            if (u > (UINT64_MAX - d) / 10) {
                range = true;
                break;
            }
            u = u * 10 + d;
        }
        uint64_t lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
        if (!range && u <= lim) {
            n->type = GW_NODE_INT;
            n->v.i = neg ? (int64_t)(0 - u) : (int64_t)u;
            skip(j, len);
            return 0;
        }
    }
    errno = 0;
    double d = strtod(n->text, NULL);
    if (isinf(d)) {
        gw_load_error(j->ctx, GW_EPARSE, j->line, j->col, "number %s is out of range", n->text);
        return GW_EPARSE;
    }
    n->type = GW_NODE_FLOAT;
    n->v.f = d;
    skip(j, len);
    return 0;
}

static int parse_value(struct jp *j, struct gw_node **out);

static int
enter(struct jp *j)
{
    if (j->depth + 1 > j->ctx->lim->max_depth) {
        gw_load_error(j->ctx, GW_ELIMIT, j->line, j->col, "nesting deeper than %u levels",
                      j->ctx->lim->max_depth);
        return GW_ELIMIT;
    }
    j->depth++;
    return 0;
}

static int
parse_object(struct jp *j, struct gw_node *n)
{
    struct gw_node_pair *pairs = NULL;
    size_t np = 0, cap = 0;
    int rc = enter(j);
    if (rc < 0)
        return rc;
    skip(j, 1);
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        skip(j, 1);
        goto done;
    }
    for (;;) {
        skip_ws(j);
        if (j->p >= j->end || *j->p != '"') {
            rc = fail_here(j, "expected a string key");
            goto out;
        }
        struct gw_node_pair pair = {0};
        pair.key_pos = (struct gw_pos){j->ctx->file, j->line, j->col};
        rc = gw_load_count(j->ctx, 1, j->line, j->col);
        if (rc == 0)
            rc = parse_string(j, &pair.key, &pair.key_len);
        if (rc < 0)
            goto out;
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') {
            rc = fail_here(j, "expected ':' after a key");
            goto out;
        }
        skip(j, 1);
        rc = parse_value(j, &pair.value);
        if (rc < 0)
            goto out;
        pairs = gw_xgrow(pairs, &cap, np + 1, sizeof(*pairs));
        pairs[np++] = pair;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            skip(j, 1);
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            skip(j, 1);
            break;
        }
        rc = fail_here(j, "expected ',' or '}' in an object");
        goto out;
    }
done:
    rc = gw_load_check_dups(j->ctx, pairs, np, NULL, &j->keys);
    if (rc < 0)
        goto out;
    n->n = np;
    if (np)
        n->u.pairs = gw_arena_memdup(&j->ctx->docs->arena, pairs, np * sizeof(*pairs));
    j->depth--;
out:
    free(pairs);
    return rc;
}

static int
parse_array(struct jp *j, struct gw_node *n)
{
    struct gw_node **items = NULL;
    size_t ni = 0, cap = 0;
    int rc = enter(j);
    if (rc < 0)
        return rc;
    skip(j, 1);
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        skip(j, 1);
        goto done;
    }
    for (;;) {
        struct gw_node *item;
        rc = parse_value(j, &item);
        if (rc < 0)
            goto out;
        items = gw_xgrow(items, &cap, ni + 1, sizeof(*items));
        items[ni++] = item;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            skip(j, 1);
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            skip(j, 1);
            break;
        }
        rc = fail_here(j, "expected ',' or ']' in an array");
        goto out;
    }
done:
    n->n = ni;
    if (ni)
        n->u.items = gw_arena_memdup(&j->ctx->docs->arena, items, ni * sizeof(*items));
    j->depth--;
out:
    free(items);
    return rc;
}

static bool
literal(struct jp *j, const char *word)
{
    size_t len = strlen(word);
    return (size_t)(j->end - j->p) >= len && memcmp(j->p, word, len) == 0;
}

static int
parse_value(struct jp *j, struct gw_node **out)
{
    skip_ws(j);
    if (j->p >= j->end)
        return fail_here(j, "expected a value");
    int rc = gw_load_count(j->ctx, 1, j->line, j->col);
    if (rc < 0)
        return rc;
    struct gw_node *n = gw_load_node_new(j->ctx, GW_NODE_NULL, j->line, j->col);
    *out = n;
    unsigned char c = *j->p;
    switch (c) {
    case '{':
        n->type = GW_NODE_MAP;
        return parse_object(j, n);
    case '[':
        n->type = GW_NODE_LIST;
        return parse_array(j, n);
    case '"':
        n->type = GW_NODE_STR;
        return parse_string(j, &n->text, &n->len);
    case 't':
    case 'f':
    case 'n': {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        if (!literal(j, word))
            return fail_here(j, "expected a value");
        n->type = c == 'n' ? GW_NODE_NULL : GW_NODE_BOOL;
        n->v.b = c == 't';
        n->text = word;
        n->len = strlen(word);
        skip(j, n->len);
        return 0;
    }
    default:
        if (c == '-' || is_digit(c))
            return parse_number(j, n);
        return fail_here(j, "expected a value");
    }
}

int
gw_docs_add_json(struct gw_docs *docs, const char *name, const char *data, size_t len,
                 struct gw_diags *diags)
{
    struct gw_load_ctx ctx;
    if (gw_load_ctx_begin(&ctx, docs, name, len, diags) < 0)
        return gw_load_ctx_end(&ctx);
    struct jp j = {
        .ctx = &ctx,
        .p = (const unsigned char *)data,
        .end = (const unsigned char *)data + len,
        .line = 1,
        .col = 1,
    };
    gw_load_strtab_init(&j.keys);
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        j.p += 3;
    unsigned index = 0;
    for (;;) {
        skip_ws(&j);
        if (j.p >= j.end)
            break;
        ctx.nodes = 0;
        struct gw_node *root;
        if (parse_value(&j, &root) < 0)
            break;
        gw_load_doc_push(&ctx, root, index++);
    }
    free(j.scratch);
    gw_load_strtab_release(&j.keys);
    return gw_load_ctx_end(&ctx);
}
