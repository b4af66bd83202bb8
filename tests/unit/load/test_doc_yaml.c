/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the YAML front end of the doc tree: scalar resolution as
 * sigs.k8s.io/yaml (go-yaml v2) does it, positions, multi-document streams,
 * anchors, aliases and merge keys, limits, duplicate keys and errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "doc.h"
#include "load/load.h"
#include "tap.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static struct doc_fx fx;

static int
load_lim(const char *text, const struct gw_load_limits *lim)
{
    return doc_fx_load(&fx, gw_docs_add_yaml, "t.yaml", text, strlen(text), lim);
}

static int
load(const char *text)
{
    return load_lim(text, NULL);
}

static const struct gw_node *
root(size_t i)
{
    return doc_fx_root(&fx, i);
}

/* ------------------------------------------------------------------------ */

struct rcase {
    const char *in; /* the scalar as written after "v: " */
    enum gw_node_type type;
    double num; /* INT, FLOAT and BOOL (0/1) values */
};

static const struct rcase resolve_cases[] = {
    /* null */
    {"", GW_NODE_NULL, 0},
    {"~", GW_NODE_NULL, 0},
    {"null", GW_NODE_NULL, 0},
    {"Null", GW_NODE_NULL, 0},
    {"NULL", GW_NODE_NULL, 0},
    {"nULL", GW_NODE_STR, 0},
    /* bool, YAML 1.1 as go-yaml v2: y/n included */
    {"true", GW_NODE_BOOL, 1},
    {"True", GW_NODE_BOOL, 1},
    {"TRUE", GW_NODE_BOOL, 1},
    {"tRUE", GW_NODE_STR, 0},
    {"false", GW_NODE_BOOL, 0},
    {"yes", GW_NODE_BOOL, 1},
    {"Yes", GW_NODE_BOOL, 1},
    {"no", GW_NODE_BOOL, 0},
    {"NO", GW_NODE_BOOL, 0},
    {"on", GW_NODE_BOOL, 1},
    {"On", GW_NODE_BOOL, 1},
    {"oN", GW_NODE_STR, 0},
    {"off", GW_NODE_BOOL, 0},
    {"OFF", GW_NODE_BOOL, 0},
    {"y", GW_NODE_BOOL, 1},
    {"Y", GW_NODE_BOOL, 1},
    {"n", GW_NODE_BOOL, 0},
    {"N", GW_NODE_BOOL, 0},
    {"t", GW_NODE_STR, 0},
    {"f", GW_NODE_STR, 0},
    /* int */
    {"0", GW_NODE_INT, 0},
    {"-0", GW_NODE_INT, 0},
    {"42", GW_NODE_INT, 42},
    {"+42", GW_NODE_INT, 42},
    {"-42", GW_NODE_INT, -42},
    {"1_000", GW_NODE_INT, 1000},
    {"0x1F", GW_NODE_INT, 31},
    {"0X1f", GW_NODE_INT, 31},
    {"-0x10", GW_NODE_INT, -16},
    {"0o17", GW_NODE_INT, 15},
    {"017", GW_NODE_INT, 15},
    {"0b101", GW_NODE_INT, 5},
    {"-0b101", GW_NODE_INT, -5},
    {"9223372036854775807", GW_NODE_INT, 9223372036854775807.0},
    {"-9223372036854775808", GW_NODE_INT, -9223372036854775808.0},
    {"8080", GW_NODE_INT, 8080},
    /* past int64: a float, as our model has no uint64 */
    {"9223372036854775808", GW_NODE_FLOAT, 9223372036854775808.0},
    {"0xFFFFFFFFFFFFFFFF", GW_NODE_FLOAT, 18446744073709551615.0},
    /* float */
    {"1.5", GW_NODE_FLOAT, 1.5},
    {"-1.5", GW_NODE_FLOAT, -1.5},
    {"1.", GW_NODE_FLOAT, 1},
    {".5", GW_NODE_FLOAT, 0.5},
    {"-.5", GW_NODE_FLOAT, -0.5},
    {"1e3", GW_NODE_FLOAT, 1000},
    {"1E+3", GW_NODE_FLOAT, 1000},
    {"2.5e-1", GW_NODE_FLOAT, 0.25},
    {"1_0.5", GW_NODE_FLOAT, 10.5},
    {"08", GW_NODE_FLOAT, 8},
    {"1.0", GW_NODE_FLOAT, 1},
    {".inf", GW_NODE_FLOAT, INFINITY},
    {".Inf", GW_NODE_FLOAT, INFINITY},
    {"+.INF", GW_NODE_FLOAT, INFINITY},
    {"-.inf", GW_NODE_FLOAT, -INFINITY},
    {".nan", GW_NODE_FLOAT, NAN},
    {".NaN", GW_NODE_FLOAT, NAN},
    /* strings */
    {"1e999", GW_NODE_STR, 0},
    {"0x", GW_NODE_STR, 0},
    {"0xg", GW_NODE_STR, 0},
    {"1.2.3", GW_NODE_STR, 0},
    {"-x", GW_NODE_STR, 0},
    {"+", GW_NODE_STR, 0},
    {".", GW_NODE_STR, 0},
    {"._5", GW_NODE_STR, 0},
    {"2001-12-14", GW_NODE_STR, 0},
    {"2001-12-14T21:59:43.10Z", GW_NODE_STR, 0},
    {"1h", GW_NODE_STR, 0},
    {"10s", GW_NODE_STR, 0},
    {"v1", GW_NODE_STR, 0},
    {"gateway.networking.k8s.io/v1", GW_NODE_STR, 0},
    {"/path", GW_NODE_STR, 0},
    {"inf", GW_NODE_STR, 0},
    {"nan", GW_NODE_STR, 0},
    {"1:30", GW_NODE_STR, 0},
    {"<<", GW_NODE_STR, 0},
    {"'true'", GW_NODE_STR, 0},
    {"\"1\"", GW_NODE_STR, 0},
    {"\"null\"", GW_NODE_STR, 0},
    {"!!str 1", GW_NODE_STR, 0},
    {"!!str true", GW_NODE_STR, 0},
    {"! 12", GW_NODE_STR, 0},
    {"!custom 12", GW_NODE_STR, 0},
    {"!!int \"12\"", GW_NODE_INT, 12},
    {"!!int 0x10", GW_NODE_INT, 16},
    {"!!float 1", GW_NODE_FLOAT, 1},
    {"!!float '2.5'", GW_NODE_FLOAT, 2.5},
    {"!!bool yes", GW_NODE_BOOL, 1},
    {"!!null ''", GW_NODE_NULL, 0},
    {"|\n  12\n", GW_NODE_STR, 0},
    {">\n  true\n", GW_NODE_STR, 0},
};

static void
test_resolve(void)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(resolve_cases); i++) {
        const struct rcase *c = &resolve_cases[i];
        char text[256];
        snprintf(text, sizeof(text), "v: %s\n", c->in);
        int rc = load(text);
        const struct gw_node *v = gw_node_get(root(0), "v");
        if (!ok(rc == 0 && v, "resolve [%s] loads", c->in)) {
            diag("%s", fx.first_diag);
            continue;
        }
        bool same = v->type == c->type;
        if (same && c->type == GW_NODE_INT)
            same = (double)v->v.i == c->num;
        else if (same && c->type == GW_NODE_BOOL)
            same = v->v.b == (c->num != 0);
        else if (same && c->type == GW_NODE_FLOAT)
            same = isnan(c->num) ? isnan(v->v.f) : v->v.f == c->num;
        if (!ok(same, "resolve [%s] -> %s", c->in, gw_node_type_name(c->type)))
            diag("got %s (i=%lld f=%g b=%d)", gw_node_type_name(v->type), (long long)v->v.i, v->v.f,
                 v->v.b);
    }

    /* Source spelling kept for every scalar. */
    load("a: 0x1F\nb: 'it''s'\nc: \"tab\\there\"\nd: YES\ne: 1_000\n");
    is_str(gw_node_get(root(0), "a")->text, "0x1F", "int keeps its spelling");
    is_str(gw_node_get(root(0), "b")->text, "it's", "single-quoted string decoded");
    is_str(gw_node_get(root(0), "c")->text, "tab\there", "double-quoted escapes decoded");
    is_str(gw_node_get(root(0), "d")->text, "YES", "bool keeps its spelling");
    is_int((long long)gw_node_get(root(0), "e")->len, 5, "len is the text length");

    /* A tag the text does not fit is an error. */
    is_int(load("v: !!int abc\n"), GW_EPARSE, "!!int on a string is an error");
    is_str(fx.first_diag, "t.yaml:1:4: cannot read string \"abc\" as !!int", "its message");
    is_int(load("v: !!bool 1\n"), GW_EPARSE, "!!bool on an int is an error");

    /* Keys keep their text whatever they would resolve to. */
    load("1: a\ntrue: b\n~: c\n");
    const struct gw_node *r = root(0);
    ok(r && r->n == 3, "three scalar keys");
    is_str(r->u.pairs[0].key, "1", "int key text");
    is_str(r->u.pairs[1].key, "true", "bool key text");
    is_str(r->u.pairs[2].key, "~", "null key text");
}

/* ------------------------------------------------------------------------ */

static void
test_positions(void)
{
    const char *text = "apiVersion: v1\n"
                       "kind: HTTPRoute\n"
                       "spec:\n"
                       "  rules:\n"
                       "  - matches:\n"
                       "    - path: {type: Exact, value: \"/é\"}\n"
                       "    backendRefs: [ {name: a, port: 80} ]\n";
    is_int(load(text), 0, "manifest loads");
    const struct gw_node *r = root(0);
    ok(r && r->type == GW_NODE_MAP && r->n == 3, "root is a map of 3");
    is_int(r->pos.line, 1, "root line");
    is_int(r->pos.col, 1, "root col");
    is_str(r->pos.file, "t.yaml", "file in position");
    ok(r->pos.file == fx.docs.v[0].file, "file interned once");
    const struct gw_node_pair *spec = &r->u.pairs[2];
    is_int(spec->key_pos.line, 3, "key line");
    is_int(spec->key_pos.col, 1, "key col");
    const struct gw_node *rules = gw_node_get(spec->value, "rules");
    ok(rules && rules->type == GW_NODE_LIST && rules->n == 1, "rules is a list of 1");
    is_int(rules->pos.line, 5, "block sequence line");
    is_int(rules->pos.col, 3, "block sequence col");
    const struct gw_node *rule = rules->u.items[0];
    is_int(rule->pos.line, 5, "rule line");
    is_int(rule->pos.col, 5, "rule col");
    const struct gw_node *path = gw_node_get(gw_node_get(rule, "matches")->u.items[0], "path");
    is_int(path->pos.line, 6, "flow map line");
    is_int(path->pos.col, 13, "flow map col");
    const struct gw_node *value = gw_node_get(path, "value");
    is_int(value->pos.col, 34, "quoted scalar col");
    is_str(value->text, "/é", "utf-8 value");
    is_int(path->u.pairs[1].key_pos.col, 27, "flow key col");
    const struct gw_node *port = gw_node_get(gw_node_get(rule, "backendRefs")->u.items[0], "port");
    ok(port && port->type == GW_NODE_INT && port->v.i == 80, "port 80");
    is_int(port->pos.line, 7, "port line");
    is_int(port->pos.col, 36, "port col");

    /* Columns count characters, not bytes. */
    load("é: ü\n");
    is_int(root(0)->u.pairs[0].value->pos.col, 4, "col after a 2-byte char");
}

/* ------------------------------------------------------------------------ */

static void
test_multidoc(void)
{
    is_int(load("a: 1\n---\n---\nb: 2\n---\n"), 0, "stream loads");
    is_int((long long)fx.docs.n, 2, "empty documents give no gw_doc");
    is_int(fx.docs.v[0].index, 0, "first index");
    is_int(fx.docs.v[1].index, 2, "index counts the empty document");
    ok(gw_node_get(root(1), "b") != NULL, "second doc content");
    is_int(root(1)->pos.line, 4, "second doc line");

    is_int(load(""), 0, "empty input");
    is_int((long long)fx.docs.n, 0, "no documents");
    is_int(load("# just a comment\n---\n# and another\n"), 0, "comments only");
    is_int((long long)fx.docs.n, 0, "no documents from comments");
    is_int(load("--- null\n--- ~\n"), 0, "explicit nulls");
    is_int((long long)fx.docs.n, 2, "explicit null documents are kept");
    ok(root(0)->type == GW_NODE_NULL, "null root");
    is_int(load("--- 5\n...\n--- [x]\n"), 0, "explicit document ends");
    is_int((long long)fx.docs.n, 2, "two docs");

    /* All or nothing: the good first document is dropped too. */
    doc_fx_reset(&fx);
    const char *good = "a: 1\n";
    gw_docs_add_yaml(&fx.docs, "good.yaml", good, strlen(good), &fx.diags);
    const char *bad = "a: 1\n---\nb: [1, 2\n";
    is_int(gw_docs_add_yaml(&fx.docs, "bad.yaml", bad, strlen(bad), &fx.diags), GW_EPARSE,
           "bad second document fails the file");
    is_int((long long)fx.docs.n, 1, "only the earlier file's document stays");
    is_int((long long)fx.diags.n, 1, "one diagnostic");
    is_str(fx.diags.v[0].pos.file, "bad.yaml", "diagnostic names the file");
    is_int(fx.diags.v[0].pos.line, 4, "at end of input");
    ok(fx.diags.v[0].kind == NULL && fx.diags.v[0].name == NULL, "no object in a syntax diag");
}

/* ------------------------------------------------------------------------ */

static void
test_anchors(void)
{
    const char *text = "base: &b {port: 80, name: x}\n"
                       "list: [*b, *b]\n"
                       "s: &s hello\n"
                       "t: *s\n";
    is_int(load(text), 0, "anchors load");
    const struct gw_node *r = root(0), *base = gw_node_get(r, "base");
    const struct gw_node *list = gw_node_get(r, "list");
    ok(list->n == 2 && list->u.items[0] == base && list->u.items[1] == base,
       "aliases refer to the anchored subtree");
    is_str(gw_node_get(r, "t")->text, "hello", "scalar alias");

    is_int(load("a: *nope\n"), GW_EPARSE, "unknown anchor");
    is_str(fx.first_diag, "t.yaml:1:4: unknown anchor \"nope\"", "its message");
    is_int(load("a: &x [1, *x]\n"), GW_EPARSE, "an alias inside its own anchor is unknown");
    is_int(load("---\na: &x 1\n---\nb: *x\n"), GW_EPARSE, "anchors are per document");
    is_int(load("a: &x 1\nb: &x 2\nc: *x\n"), 0, "anchor redefined");
    ok(gw_node_get(root(0), "c")->v.i == 2, "the later definition wins");

    /* Merge keys. */
    text = "defaults: &d {a: 1, b: 2, c: 3}\n"
           "m:\n"
           "  b: 20\n"
           "  <<: *d\n"
           "  c: 30\n";
    is_int(load(text), 0, "merge loads");
    const struct gw_node *m = gw_node_get(root(0), "m");
    ok(m && m->n == 3, "merged map has 3 keys");
    is_str(m->u.pairs[0].key, "b", "explicit key first");
    is_str(m->u.pairs[1].key, "a", "merged key in place of <<");
    is_str(m->u.pairs[2].key, "c", "explicit key after");
    ok(gw_node_get(m, "a")->v.i == 1, "merged value");
    ok(gw_node_get(m, "b")->v.i == 20, "explicit before << wins");
    ok(gw_node_get(m, "c")->v.i == 30, "explicit after << wins");

    text = "x: &x {a: 1, b: 1}\n"
           "y: &y {b: 2, c: 2}\n"
           "m: {<<: [*x, *y], d: 4}\n";
    is_int(load(text), 0, "merge of a list");
    m = gw_node_get(root(0), "m");
    ok(m && m->n == 4, "a b c d");
    ok(gw_node_get(m, "b")->v.i == 1, "earlier source wins");
    ok(gw_node_get(m, "c")->v.i == 2, "later source adds");
    is_int(load("m: {<<: {a: 1}, b: 2}\n"), 0, "inline merge map");
    ok(gw_node_get(gw_node_get(root(0), "m"), "a") != NULL, "inline merged");
    is_int(load("m: {'<<': 1}\n"), 0, "quoted << is a plain key");
    ok(gw_node_get(gw_node_get(root(0), "m"), "<<") != NULL, "quoted << kept");
    is_int(load("s: &s x\nm: {<<: *s}\n"), GW_EPARSE, "merge of a scalar");
    is_str(fx.first_diag, "t.yaml:2:5: merge key << needs a map or a list of maps, not string",
           "its message");
    is_int(load("m: {<<: [1]}\n"), GW_EPARSE, "merge of a list of scalars");
    is_int(load("m: {<<: {a: 1}, <<: {b: 2}}\n"), 0, "two << entries");
    is_int((long long)gw_node_get(root(0), "m")->n, 2, "both merged");
}

/* ------------------------------------------------------------------------ */

static void
test_limits(void)
{
    /* Billion laughs: 9 levels of 10 aliases each is 10^9 nodes. */
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    gw_buf_append_cstr(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++) {
        gw_buf_appendf(&b, "a%d: &a%d [", i, i);
        for (int k = 0; k < 10; k++)
            gw_buf_appendf(&b, "%s*a%d", k ? ", " : "", i - 1);
        gw_buf_append_cstr(&b, "]\n");
    }
    clock_t t0 = clock();
    is_int(load(b.p), GW_ELIMIT, "billion laughs rejected");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ok(secs < 1.0, "and fast (%.3fs)", secs);
    ok(strstr(fx.first_diag, "t.yaml:6:") && strstr(fx.first_diag, "exceeds 1000000 nodes"),
       "diag names the position: %s", fx.first_diag);
    gw_buf_release(&b);

    struct gw_load_limits lim;
    gw_load_limits_default(&lim);
    is_int((long long)lim.max_file_bytes, 8 << 20, "default file limit 8 MiB");
    is_int(lim.max_depth, 64, "default depth 64");
    is_int((long long)lim.max_nodes, 1000000, "default nodes 1e6");
    is_int((long long)lim.max_aliases, 10000, "default aliases 1e4");

    lim.max_aliases = 3;
    is_int(load_lim("a: &a 1\nb: [*a, *a, *a]\n", &lim), 0, "3 aliases allowed");
    is_int(load_lim("a: &a 1\nb: [*a, *a, *a, *a]\n", &lim), GW_ELIMIT, "4th alias refused");
    is_str(fx.first_diag, "t.yaml:2:17: alias expansion exceeds 3 aliases", "its message");

    gw_load_limits_default(&lim);
    lim.max_nodes = 5;
    is_int(load_lim("[1, 2, 3, 4]", &lim), 0, "5 nodes allowed");
    is_int(load_lim("[1, 2, 3, 4, 5]", &lim), GW_ELIMIT, "6 nodes refused");
    is_int(load_lim("--- [1, 2, 3, 4]\n--- [1, 2, 3, 4]\n", &lim), 0, "the limit is per document");

    gw_load_limits_default(&lim);
    lim.max_file_bytes = 10;
    is_int(load_lim("a: 123456\n", &lim), 0, "10 bytes allowed");
    is_int(load_lim("a: 1234567\n", &lim), GW_ELIMIT, "11 bytes refused");
    is_str(fx.first_diag, "t.yaml: input is 11 bytes, more than the limit of 10", "its message");

    /* Depth: 64 nested lists are fine, 65 are not. */
    char deep[256];
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    deep[128] = '\0';
    is_int(load(deep), 0, "depth 64 allowed");
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    is_int(load(deep), GW_ELIMIT, "depth 65 refused");
    is_str(fx.first_diag, "t.yaml:1:65: nesting deeper than 64 levels", "its message");
    gw_load_limits_default(&lim);
    lim.max_depth = 3;
    is_int(load_lim("a: &a [[1]]\nb: *a\n", &lim), 0, "alias within depth");
    is_int(load_lim("a: &a [[1]]\nb: [*a]\n", &lim), GW_ELIMIT, "alias pushing past depth");
}

/* ------------------------------------------------------------------------ */

struct ecase {
    const char *in;
    int rc;
    const char *diag; /* the formatted first diagnostic */
};

static const struct ecase error_cases[] = {
    {"a: 1\nb: 2\na: 3\n", GW_EPARSE, "t.yaml:3:1: duplicate key \"a\" (first at 1:1)"},
    {"spec:\n  x: 1\n  x: 2\n", GW_EPARSE, "t.yaml:3:3: duplicate key \"x\" (first at 2:3)"},
    {"{a: 1, a: 2}", GW_EPARSE, "t.yaml:1:8: duplicate key \"a\" (first at 1:2)"},
    {"a: 1\n'a': 2\n", GW_EPARSE, "t.yaml:2:1: duplicate key \"a\" (first at 1:1)"},
    {"? [a]\n: b\n", GW_EPARSE, "t.yaml:1:3: map keys must be scalars, not lists"},
    {"? {a: 1}\n: b\n", GW_EPARSE, "t.yaml:1:3: map keys must be scalars, not maps"},
    {"a: @b\n", GW_EPARSE,
     "t.yaml:1:4: found character that cannot start any token (while scanning for the next "
     "token)"},
    {"a: b: c\n", GW_EPARSE, "t.yaml:1:5: mapping values are not allowed in this context"},
    {"a: \"x\\0y\"\n", GW_EPARSE, "t.yaml:1:4: NUL character in a scalar is not supported"},
    {"a: \x01\n", GW_EPARSE, "t.yaml:1:4: control characters are not allowed (#1)"},
    {"a: \xff\n", GW_EPARSE, "t.yaml:1:4: invalid leading UTF-8 octet (#FF)"},
    {"a: [1, 2\n", GW_EPARSE,
     "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)"},
};

static void
test_errors(void)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(error_cases); i++) {
        const struct ecase *c = &error_cases[i];
        is_int(load(c->in), c->rc, "error case %zu rc", i);
        is_str(fx.first_diag, c->diag, "error case %zu message", i);
        is_int((long long)fx.docs.n, 0, "error case %zu keeps no document", i);
    }
}

static void
test_big_maps(void)
{
    /* Past 8 keys duplicates are found through the hash table. */
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    for (int i = 0; i < 20; i++)
        gw_buf_appendf(&b, "k%d: %d\n", i, i);
    gw_buf_append_cstr(&b, "k7: again\n");
    is_int(load(b.p), GW_EPARSE, "duplicate in a map of 21 keys");
    is_str(fx.first_diag, "t.yaml:21:1: duplicate key \"k7\" (first at 8:1)", "its message");

    /* A big anchored map merged into a map with its own keys. */
    gw_buf_reset(&b);
    gw_buf_append_cstr(&b, "base: &b {");
    for (int i = 0; i < 30; i++)
        gw_buf_appendf(&b, "%sk%d: %d", i ? ", " : "", i, i);
    gw_buf_append_cstr(&b, "}\nm: {k3: x, <<: *b, k29: y}\n");
    is_int(load(b.p), 0, "merge of a big map");
    const struct gw_node *m = gw_node_get(root(0), "m");
    ok(m && m->n == 30, "30 keys after the merge");
    is_str(gw_node_get(m, "k3")->text, "x", "explicit k3 wins");
    is_str(gw_node_get(m, "k29")->text, "y", "explicit k29 wins");
    ok(gw_node_get(m, "k0")->v.i == 0 && gw_node_get(m, "k28")->v.i == 28, "merged keys");

    /* One huge map then many small ones stays linear. */
    gw_buf_reset(&b);
    gw_buf_append_cstr(&b, "big: {");
    for (int i = 0; i < 20000; i++)
        gw_buf_appendf(&b, "%sk%d: 1", i ? ", " : "", i);
    gw_buf_append_cstr(&b, "}\nsmall: [");
    for (int i = 0; i < 20000; i++)
        gw_buf_appendf(&b, "%s{a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}",
                       i ? ", " : "");
    gw_buf_append_cstr(&b, "]\n");
    clock_t t0 = clock();
    is_int(load(b.p), 0, "big map then 20000 small maps");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ok(secs < 5.0, "in reasonable time (%.3fs)", secs);
    gw_buf_release(&b);
}

static void
test_accessors(void)
{
    load("a: 1\nb: {c: x}\n");
    ok(gw_node_get(root(0), "b") != NULL, "get finds a key");
    ok(gw_node_get(root(0), "z") == NULL, "get misses a key");
    ok(gw_node_get(gw_node_get(root(0), "a"), "a") == NULL, "get on a scalar is NULL");
    ok(gw_node_get(NULL, "a") == NULL, "get on NULL is NULL");
    is_str(gw_node_type_name(GW_NODE_NULL), "null", "type name null");
    is_str(gw_node_type_name(GW_NODE_BOOL), "boolean", "type name bool");
    is_str(gw_node_type_name(GW_NODE_INT), "integer", "type name int");
    is_str(gw_node_type_name(GW_NODE_FLOAT), "number", "type name float");
    is_str(gw_node_type_name(GW_NODE_STR), "string", "type name string");
    is_str(gw_node_type_name(GW_NODE_MAP), "object", "type name map");
    is_str(gw_node_type_name(GW_NODE_LIST), "array", "type name list");
}

int
main(void)
{
    doc_fx_init(&fx);
    test_resolve();
    test_positions();
    test_multidoc();
    test_anchors();
    test_limits();
    test_errors();
    test_big_maps();
    test_accessors();
    doc_fx_release(&fx);
    return done_testing();
}
