/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plain scalar resolution, following go-yaml v2 (the fork inside
 * sigs.k8s.io/yaml that kubectl and the API server read YAML with), so a
 * manifest means here what it means to Kubernetes:
 *
 *  - null: "", ~, null, Null, NULL
 *  - bool: y Y yes Yes YES true True TRUE on On ON, and n N no No NO false
 *    False FALSE off Off OFF. Note that go-yaml v2 (unlike YAML 1.2 and
 *    go-yaml v3) does read the single letters y/Y/n/N as booleans; we follow
 *    it, since that is what the API server would store.
 *  - int: Go's strconv.ParseInt(s, 0, 64) after removing every '_': optional
 *    sign, 0x/0X hex, 0o/0O and leading-0 octal, 0b/0B binary, decimal.
 *    Integers past int64 become FLOAT (go-yaml would give uint64/big.Int).
 *  - float: .inf/.Inf/.INF (+/-), .nan/.NaN/.NAN, and after '_' removal
 *    ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ when the value is
 *    finite ("1e999" stays a string, as in go-yaml). So "08" is the float 8.
 *  - timestamps stay strings (go-yaml hands them to interface{} as text).
 *  - anything else: string.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "load/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

struct word {
    const char *s;
    enum gw_node_type t;
    int v; /* bool value, or for floats: 0 nan, 1 +inf, -1 -inf */
};

static const struct word words[] = {
    {"y", GW_NODE_BOOL, 1},       {"Y", GW_NODE_BOOL, 1},       {"yes", GW_NODE_BOOL, 1},
    {"Yes", GW_NODE_BOOL, 1},     {"YES", GW_NODE_BOOL, 1},     {"true", GW_NODE_BOOL, 1},
    {"True", GW_NODE_BOOL, 1},    {"TRUE", GW_NODE_BOOL, 1},    {"on", GW_NODE_BOOL, 1},
    {"On", GW_NODE_BOOL, 1},      {"ON", GW_NODE_BOOL, 1},      {"n", GW_NODE_BOOL, 0},
    {"N", GW_NODE_BOOL, 0},       {"no", GW_NODE_BOOL, 0},      {"No", GW_NODE_BOOL, 0},
    {"NO", GW_NODE_BOOL, 0},      {"false", GW_NODE_BOOL, 0},   {"False", GW_NODE_BOOL, 0},
    {"FALSE", GW_NODE_BOOL, 0},   {"off", GW_NODE_BOOL, 0},     {"Off", GW_NODE_BOOL, 0},
    {"OFF", GW_NODE_BOOL, 0},     {"~", GW_NODE_NULL, 0},       {"null", GW_NODE_NULL, 0},
    {"Null", GW_NODE_NULL, 0},    {"NULL", GW_NODE_NULL, 0},    {".nan", GW_NODE_FLOAT, 0},
    {".NaN", GW_NODE_FLOAT, 0},   {".NAN", GW_NODE_FLOAT, 0},   {".inf", GW_NODE_FLOAT, 1},
    {".Inf", GW_NODE_FLOAT, 1},   {".INF", GW_NODE_FLOAT, 1},   {"+.inf", GW_NODE_FLOAT, 1},
    {"+.Inf", GW_NODE_FLOAT, 1},  {"+.INF", GW_NODE_FLOAT, 1},  {"-.inf", GW_NODE_FLOAT, -1},
    {"-.Inf", GW_NODE_FLOAT, -1}, {"-.INF", GW_NODE_FLOAT, -1},
};

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
digit_val(char c)
{
    int v = gw_hex_digit((unsigned char)c);
    return v < 0 ? 99 : v; /* above every base */
}

static char
lower(char c)
{
    return (char)(c | 0x20);
}

enum int_result {
    INT_SYNTAX,
    INT_OK,
    INT_RANGE, /* well-formed but past int64: *approx holds the value */
};

/* strconv.ParseInt(s, 0, 64) on s (no underscores). */
static enum int_result
parse_int_base0(const char *s, size_t len, int64_t *out, double *approx)
{
    bool neg = false;
    if (len && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        len--;
    }
    if (!len)
        return INT_SYNTAX;
    unsigned base = 10;
    if (s[0] == '0') {
        if (len >= 3 && lower(s[1]) == 'b') {
            base = 2;
            s += 2;
            len -= 2;
        } else if (len >= 3 && lower(s[1]) == 'o') {
            base = 8;
            s += 2;
            len -= 2;
        } else if (len >= 3 && lower(s[1]) == 'x') {
            base = 16;
            s += 2;
            len -= 2;
        } else {
            base = 8;
            s++;
            len--;
        }
    }
    uint64_t u = 0;
    double d = 0;
    bool range = false;
    for (size_t i = 0; i < len; i++) {
        int v = digit_val(s[i]);
        if (v >= (int)base)
            return INT_SYNTAX;
        d = d * base + v;
        if (u > (UINT64_MAX - (uint64_t)v) / base)
            range = true;
        else
            u = u * base + (uint64_t)v;
    }
    uint64_t lim = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    if (range || u > lim) {
        *approx = neg ? -d : d;
        return INT_RANGE;
    }
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return INT_OK;
}

/* [0-9]+ at *i; false if none. */
static bool
digits(const char *s, size_t len, size_t *i)
{
    size_t start = *i;
    while (*i < len && is_digit(s[*i]))
        (*i)++;
    return *i > start;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool
yaml_style_float(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i < len && s[i] == '.') {
        i++;
        if (!digits(s, len, &i))
            return false;
    } else {
        if (!digits(s, len, &i))
            return false;
        if (i < len && s[i] == '.') {
            i++;
            digits(s, len, &i);
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!digits(s, len, &i))
            return false;
    }
    return i == len;
}

/* Digits with single underscores only between digits (Go's underscoreOK). */
static bool
go_digits(const char *s, size_t len, size_t *i)
{
    if (*i >= len || !is_digit(s[*i]))
        return false;
    while (*i < len) {
        if (is_digit(s[*i])) {
            (*i)++;
        } else if (s[*i] == '_' && *i + 1 < len && is_digit(s[*i + 1])) {
            (*i)++;
        } else {
            break;
        }
    }
    return true;
}

/* strconv.ParseFloat on text starting with '.': \.D+([eE][-+]?D+)? */
static bool
dot_float(const char *s, size_t len)
{
    size_t i = 1;
    if (!go_digits(s, len, &i))
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!go_digits(s, len, &i))
            return false;
    }
    return i == len;
}

/* strtod on a NUL-terminated copy without underscores; false if infinite. */
static bool
to_double(const char *s, double *out)
{
    errno = 0;
    double d = strtod(s, NULL);
    if (isinf(d))
        return false;
    *out = d;
    return true;
}

void
gw_load_resolve_plain(struct gw_node *n)
{
    const char *s = n->text;
    size_t len = n->len;
    n->type = GW_NODE_STR;
    if (len == 0) {
        n->type = GW_NODE_NULL;
        return;
    }
    char c = s[0];
    bool sign = c == '+' || c == '-', dot = c == '.', dig = is_digit(c);
    if (!sign && !dot && !dig && !strchr("yYnNtTfFoO~", c))
        return;
    if (len <= 6) {
        for (size_t i = 0; i < GW_ARRAY_LEN(words); i++) {
            if (strlen(words[i].s) == len && memcmp(words[i].s, s, len) == 0) {
                n->type = words[i].t;
                if (n->type == GW_NODE_BOOL)
                    n->v.b = words[i].v != 0;
                else if (n->type == GW_NODE_FLOAT)
                    n->v.f = words[i].v == 0 ? NAN : words[i].v > 0 ? INFINITY : -INFINITY;
                return;
            }
        }
    }
    if (!sign && !dot && !dig)
        return;

    /* A NUL-terminated copy without the '_' go-yaml strips before parsing. */
    char small[64];
    char *buf = len < sizeof(small) ? small : gw_xmalloc(len + 1);
    size_t blen = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '_')
            buf[blen++] = s[i];
    }
    buf[blen] = '\0';

    if (dot) {
        /* ParseFloat on the text itself, where '_' must sit between digits. */
        if (dot_float(s, len) && to_double(buf, &n->v.f))
            n->type = GW_NODE_FLOAT;
        goto out;
    }
    int64_t iv = 0;
    double approx = 0;
    switch (parse_int_base0(buf, blen, &iv, &approx)) {
    case INT_OK:
        n->type = GW_NODE_INT;
        n->v.i = iv;
        goto out;
    case INT_RANGE:
        n->type = GW_NODE_FLOAT;
        n->v.f = approx;
        if (yaml_style_float(buf, blen))
            to_double(buf, &n->v.f); /* correctly rounded for decimals */
        goto out;
    case INT_SYNTAX:
        break;
    }
    if (yaml_style_float(buf, blen) && to_double(buf, &n->v.f))
        n->type = GW_NODE_FLOAT;
out:
    if (buf != small)
        free(buf);
}

int
gw_load_resolve_tagged(struct gw_node *n, const char *tag, bool plain)
{
    size_t plen = strlen(TAG_PREFIX);
    if (!tag || strncmp(tag, TAG_PREFIX, plen) != 0) {
        /* "!" and local or unknown tags: go-yaml hands the text over as a
         * string; an untagged plain scalar is resolved as usual. */
        if (!tag && plain)
            gw_load_resolve_plain(n);
        else
            n->type = GW_NODE_STR;
        return 0;
    }
    const char *t = tag + plen;
    enum gw_node_type want;
    if (strcmp(t, "int") == 0)
        want = GW_NODE_INT;
    else if (strcmp(t, "float") == 0)
        want = GW_NODE_FLOAT;
    else if (strcmp(t, "bool") == 0)
        want = GW_NODE_BOOL;
    else if (strcmp(t, "null") == 0)
        want = GW_NODE_NULL;
    else {
        /* !!str, !!binary, !!timestamp, !!merge and the rest: the text. */
        n->type = GW_NODE_STR;
        return 0;
    }
    gw_load_resolve_plain(n);
    if (want == GW_NODE_FLOAT && n->type == GW_NODE_INT) {
        n->type = GW_NODE_FLOAT;
        n->v.f = (double)n->v.i;
    }
    return n->type == want ? 0 : -1;
}
