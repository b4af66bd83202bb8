/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the JSON front end of the doc tree: values, escapes and
 * surrogates, numbers, positions, streams, limits, and every error with its
 * line:col.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "doc.h"
#include "load/load.h"
#include "tap.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static struct doc_fx fx;

static int
load_n(const char *text, size_t len, const struct gw_load_limits *lim)
{
    return doc_fx_load(&fx, gw_docs_add_json, "t.json", text, len, lim);
}

static int
load(const char *text)
{
    return load_n(text, strlen(text), NULL);
}

static const struct gw_node *
root(size_t i)
{
    return doc_fx_root(&fx, i);
}

/* ------------------------------------------------------------------------ */

struct vcase {
    const char *in;
    enum gw_node_type type;
    double num;
    const char *text; /* expected text (decoded string, or number spelling) */
};

static const struct vcase value_cases[] = {
    {"0", GW_NODE_INT, 0, "0"},
    {"-0", GW_NODE_INT, 0, "-0"},
    {"123", GW_NODE_INT, 123, "123"},
    {"-45", GW_NODE_INT, -45, "-45"},
    {"9223372036854775807", GW_NODE_INT, 9223372036854775807.0, NULL},
    {"-9223372036854775808", GW_NODE_INT, -9223372036854775808.0, NULL},
    {"9223372036854775808", GW_NODE_FLOAT, 9223372036854775808.0, NULL},
    {"-9223372036854775809", GW_NODE_FLOAT, -9223372036854775809.0, NULL},
    {"1.5", GW_NODE_FLOAT, 1.5, "1.5"},
    {"1.0", GW_NODE_FLOAT, 1, "1.0"},
    {"-0.25", GW_NODE_FLOAT, -0.25, NULL},
    {"1e2", GW_NODE_FLOAT, 100, "1e2"},
    {"1E-2", GW_NODE_FLOAT, 0.01, NULL},
    {"2.5e+1", GW_NODE_FLOAT, 25, NULL},
    {"1e-400", GW_NODE_FLOAT, 0, NULL},
    {"true", GW_NODE_BOOL, 1, "true"},
    {"false", GW_NODE_BOOL, 0, "false"},
    {"null", GW_NODE_NULL, 0, "null"},
    {"\"\"", GW_NODE_STR, 0, ""},
    {"\"abc\"", GW_NODE_STR, 0, "abc"},
    {"\"true\"", GW_NODE_STR, 0, "true"},
    {"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", GW_NODE_STR, 0, "\" \\ / \b \f \n \r \t"},
    {"\"\\u0041\\u00e9\\u20AC\"", GW_NODE_STR, 0, "A\xc3\xa9\xe2\x82\xac"},
    {"\"\\ud83d\\ude00\"", GW_NODE_STR, 0, "\xf0\x9f\x98\x80"},
    {"\"\\uDBFF\\uDFFF\"", GW_NODE_STR, 0, "\xf4\x8f\xbf\xbf"},
    {"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", GW_NODE_STR, 0,
     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
    {"\"\\u001f\"", GW_NODE_STR, 0, "\x1f"},
    {" \t\r\n 7 \n", GW_NODE_INT, 7, "7"},
    {"\xef\xbb\xbf"
     "8",
     GW_NODE_INT, 8, "8"},
};

static void
test_values(void)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(value_cases); i++) {
        const struct vcase *c = &value_cases[i];
        int rc = load(c->in);
        const struct gw_node *n = root(0);
        if (!ok(rc == 0 && fx.docs.n == 1 && n, "value %zu [%s] loads", i, c->in)) {
            diag("%s", fx.first_diag);
            continue;
        }
        bool same = n->type == c->type;
        if (same && c->type == GW_NODE_INT)
            same = (double)n->v.i == c->num;
        else if (same && c->type == GW_NODE_FLOAT)
            same = n->v.f == c->num;
        else if (same && c->type == GW_NODE_BOOL)
            same = n->v.b == (c->num != 0);
        if (!ok(same, "value %zu [%s] is %s", i, c->in, gw_node_type_name(c->type)))
            diag("got %s", gw_node_type_name(n->type));
        if (c->text)
            is_str(n->text, c->text, "value %zu text", i);
    }
    ok(root(0) && root(0)->len == 1, "len set");
    is_int(load("\"a\\u00e9\""), 0, "len of decoded");
    is_int((long long)root(0)->len, 3, "len counts bytes");

    is_int(load("{\"a\": 1, \"b\": [true, null, \"x\"], \"c\": {}}"), 0, "object loads");
    const struct gw_node *r = root(0);
    ok(r->type == GW_NODE_MAP && r->n == 3, "map of 3");
    is_str(r->u.pairs[0].key, "a", "key order a");
    is_str(r->u.pairs[1].key, "b", "key order b");
    is_str(r->u.pairs[2].key, "c", "key order c");
    const struct gw_node *b = gw_node_get(r, "b");
    ok(b->type == GW_NODE_LIST && b->n == 3, "list of 3");
    ok(b->u.items[0]->type == GW_NODE_BOOL && b->u.items[1]->type == GW_NODE_NULL &&
           b->u.items[2]->type == GW_NODE_STR,
       "item types");
    ok(gw_node_get(r, "c")->type == GW_NODE_MAP && gw_node_get(r, "c")->n == 0, "empty map");
    is_int(load("[]"), 0, "empty list");
    ok(root(0)->type == GW_NODE_LIST && root(0)->n == 0, "is empty");
    is_int(load("{\"\\u0041\": 1}"), 0, "escaped key");
    is_str(root(0)->u.pairs[0].key, "A", "key decoded");
}

/* ------------------------------------------------------------------------ */

static void
test_positions(void)
{
    const char *text = "{\n"
                       "  \"kind\": \"Gateway\",\n"
                       "  \"spec\": {\n"
                       "    \"listeners\": [\n"
                       "      {\"name\": \"é\", \"port\": 80}\n"
                       "    ]\n"
                       "  }\n"
                       "}\n";
    is_int(load(text), 0, "manifest loads");
    const struct gw_node *r = root(0);
    is_int(r->pos.line, 1, "root line");
    is_int(r->pos.col, 1, "root col");
    is_str(r->pos.file, "t.json", "file");
    is_int(r->u.pairs[0].key_pos.line, 2, "key line");
    is_int(r->u.pairs[0].key_pos.col, 3, "key col");
    is_int(r->u.pairs[0].value->pos.col, 11, "value col");
    const struct gw_node *ls = gw_node_get(gw_node_get(r, "spec"), "listeners");
    is_int(ls->pos.line, 4, "list line");
    is_int(ls->pos.col, 18, "list col");
    const struct gw_node *l = ls->u.items[0];
    is_int(l->pos.line, 5, "item line");
    is_int(l->pos.col, 7, "item col");
    is_int(l->u.pairs[1].key_pos.col, 21, "key after a 2-byte char counts characters");
    is_int(gw_node_get(l, "port")->pos.col, 29, "port col");
}

/* ------------------------------------------------------------------------ */

static void
test_streams(void)
{
    is_int(load("{\"a\":1}{\"b\":2}\n[1]\n\"s\" 5 true"), 0, "stream loads");
    is_int((long long)fx.docs.n, 6, "one document per value");
    for (unsigned i = 0; i < fx.docs.n; i++)
        is_int(fx.docs.v[i].index, i, "index %u", i);
    is_int(root(2)->pos.line, 2, "third value line");
    is_int(load(""), 0, "empty input");
    is_int((long long)fx.docs.n, 0, "no documents");
    is_int(load("  \n\t "), 0, "whitespace only");
    is_int((long long)fx.docs.n, 0, "no documents");
    is_int(load("{} {"), GW_EPARSE, "bad second value");
    is_int((long long)fx.docs.n, 0, "takes the whole input out");
}

/* ------------------------------------------------------------------------ */

struct ecase {
    const char *in;
    int rc;
    const char *diag;
};

static const struct ecase error_cases[] = {
    {"01", GW_EPARSE, "t.json:1:1: leading zeros are not allowed in numbers"},
    {"[1, -012]", GW_EPARSE, "t.json:1:6: leading zeros are not allowed in numbers"},
    {"+1", GW_EPARSE, "t.json:1:1: unexpected character '+', expected a value"},
    {"NaN", GW_EPARSE, "t.json:1:1: unexpected character 'N', expected a value"},
    {"-Infinity", GW_EPARSE, "t.json:1:2: unexpected character 'I', expected a digit"},
    {"1.", GW_EPARSE, "t.json:1:3: unexpected end of input, expected a digit after '.'"},
    {".5", GW_EPARSE, "t.json:1:1: unexpected character '.', expected a value"},
    {"1e", GW_EPARSE, "t.json:1:3: unexpected end of input, expected a digit in the exponent"},
    {"1e999", GW_EPARSE, "t.json:1:1: number 1e999 is out of range"},
    {"tru", GW_EPARSE, "t.json:1:1: unexpected character 't', expected a value"},
    {"nul", GW_EPARSE, "t.json:1:1: unexpected character 'n', expected a value"},
    {"\"\\ud800\"", GW_EPARSE, "t.json:1:2: lone high surrogate \\uD800"},
    {"\"\\ud800x\"", GW_EPARSE, "t.json:1:2: lone high surrogate \\uD800"},
    {"\"\\udc00\"", GW_EPARSE, "t.json:1:2: lone low surrogate \\uDC00"},
    {"\"ab\\ud800\\u0041\"", GW_EPARSE,
     "t.json:1:4: high surrogate \\uD800 not followed by a low surrogate"},
    {"\"\\u12\"", GW_EPARSE, "t.json:1:2: \\u needs four hex digits"},
    {"\"\\x41\"", GW_EPARSE, "t.json:1:2: invalid escape \\x"},
    {"\"\\'\"", GW_EPARSE, "t.json:1:2: invalid escape \\'"},
    {"\"\\u0000\"", GW_EPARSE, "t.json:1:2: \\u0000 (NUL) in a string is not supported"},
    {"\"a\nb\"", GW_EPARSE, "t.json:1:3: control character U+000A in a string must be escaped"},
    {"\"a\tb\"", GW_EPARSE, "t.json:1:3: control character U+0009 in a string must be escaped"},
    {"\"\xff\"", GW_EPARSE, "t.json:1:2: invalid UTF-8 byte 0xff"},
    {"\"\xc0\xaf\"", GW_EPARSE, "t.json:1:2: invalid UTF-8 byte 0xc0"},
    {"\"\xe0\x80\xaf\"", GW_EPARSE, "t.json:1:2: invalid UTF-8 byte 0xe0"},
    {"\"\xed\xa0\x80\"", GW_EPARSE, "t.json:1:2: invalid UTF-8 byte 0xed"},
    {"\"\xf4\x90\x80\x80\"", GW_EPARSE, "t.json:1:2: invalid UTF-8 byte 0xf4"},
    {"\"\xc3\"", GW_EPARSE, "t.json:1:2: invalid UTF-8 byte 0xc3"},
    {"\"\xe2\x82\"", GW_EPARSE, "t.json:1:2: invalid UTF-8 byte 0xe2"},
    {"\xc3\xa9", GW_EPARSE, "t.json:1:1: unexpected byte 0xc3, expected a value"},
    {"\"abc", GW_EPARSE, "t.json:1:5: unexpected end of input inside a string"},
    {"[", GW_EPARSE, "t.json:1:2: unexpected end of input, expected a value"},
    {"[1,]", GW_EPARSE, "t.json:1:4: unexpected character ']', expected a value"},
    {"[1 2]", GW_EPARSE, "t.json:1:4: unexpected character '2', expected ',' or ']' in an array"},
    {"{\"a\":1,}", GW_EPARSE, "t.json:1:8: unexpected character '}', expected a string key"},
    {"{a:1}", GW_EPARSE, "t.json:1:2: unexpected character 'a', expected a string key"},
    {"{\"a\" 1}", GW_EPARSE, "t.json:1:6: unexpected character '1', expected ':' after a key"},
    {"{\"a\":1 \"b\":2}", GW_EPARSE,
     "t.json:1:8: unexpected character '\"', expected ',' or '}' in an object"},
    {"{\"a\":1,\"a\":2}", GW_EPARSE, "t.json:1:8: duplicate key \"a\" (first at 1:2)"},
    {"{\"x\": {\"a\":1,\n  \"b\":2,\n  \"a\":3}}", GW_EPARSE,
     "t.json:3:3: duplicate key \"a\" (first at 1:8)"},
    {"{\"a\":1} x", GW_EPARSE, "t.json:1:9: unexpected character 'x', expected a value"},
    {"{\"a\":1}}", GW_EPARSE, "t.json:1:8: unexpected character '}', expected a value"},
    {"{\n  \"a\": [1,\n    2,,\n", GW_EPARSE,
     "t.json:3:7: unexpected character ',', expected a value"},
    {"'a'", GW_EPARSE, "t.json:1:1: unexpected character ''', expected a value"},
    {"/* c */ 1", GW_EPARSE, "t.json:1:1: unexpected character '/', expected a value"},
    {"\x01", GW_EPARSE, "t.json:1:1: unexpected byte 0x01, expected a value"},
};

static void
test_errors(void)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(error_cases); i++) {
        const struct ecase *c = &error_cases[i];
        is_int(load(c->in), c->rc, "error %zu [%s] rc", i, c->in);
        is_str(fx.first_diag, c->diag, "error %zu message", i);
        is_int((long long)fx.docs.n, 0, "error %zu keeps no document", i);
    }
    /* Past 8 keys duplicates are found through the hash table. */
    struct gw_buf b;
    gw_buf_init(&b, 1 << 16);
    gw_buf_append_char(&b, '{');
    for (int i = 0; i < 20; i++)
        gw_buf_appendf(&b, "\"k%d\": %d,\n", i, i);
    gw_buf_append_cstr(&b, "\"k7\": 0}");
    is_int(load(b.p), GW_EPARSE, "duplicate in an object of 21 keys");
    is_str(fx.first_diag, "t.json:21:1: duplicate key \"k7\" (first at 8:1)", "its message");
    gw_buf_release(&b);

    /* A NUL byte in the input. */
    is_int(load_n("[1,\0]", 5, NULL), GW_EPARSE, "raw NUL byte");
    is_str(fx.first_diag, "t.json:1:4: unexpected byte 0x00, expected a value", "its message");
}

/* ------------------------------------------------------------------------ */

static void
test_limits(void)
{
    char deep[256];
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    is_int(load(deep), 0, "depth 64 allowed");
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    is_int(load(deep), GW_ELIMIT, "depth 65 refused");
    is_str(fx.first_diag, "t.json:1:65: nesting deeper than 64 levels", "its message");

    /* Deep input far past the limit fails without deep recursion. */
    size_t n = 1 << 20;
    char *huge = malloc(n);
    memset(huge, '[', n);
    is_int(load_n(huge, n, NULL), GW_ELIMIT, "a million brackets refused");
    free(huge);

    struct gw_load_limits lim;
    gw_load_limits_default(&lim);
    lim.max_nodes = 5;
    is_int(load_n("[1, 2, 3, 4]", 12, &lim), 0, "5 nodes allowed");
    is_int(load_n("[1, 2, 3, 4, 5]", 15, &lim), GW_ELIMIT, "6 nodes refused");
    is_str(fx.first_diag, "t.json:1:14: document exceeds 5 nodes (counting alias expansion)",
           "its message");
    is_int(load_n("{\"a\": 1, \"b\": 2}", 16, &lim), 0, "keys count: 5 nodes");
    is_int(load_n("[1, 2, 3, 4] [1, 2, 3, 4]", 25, &lim), 0, "limit is per document");

    gw_load_limits_default(&lim);
    lim.max_file_bytes = 4;
    is_int(load_n("1234", 4, &lim), 0, "4 bytes allowed");
    is_int(load_n("12345", 5, &lim), GW_ELIMIT, "5 bytes refused");
}

int
main(void)
{
    doc_fx_init(&fx);
    test_values();
    test_positions();
    test_streams();
    test_errors();
    test_limits();
    doc_fx_release(&fx);
    return done_testing();
}
