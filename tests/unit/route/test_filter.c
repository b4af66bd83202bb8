/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for route's pure filter logic: path normalisation, header
 * modifiers, redirect Locations and path rewrites (the conformance tables
 * transcribed), CORS, weighted backends and mirror sampling.
 */
#include <stdio.h>
#include <string.h>

#include "route/route.h"
#include "tap.h"

#include "base/banned.h"

static void
test_normalize(void)
{
    static const struct {
        const char *in, *want; /* want NULL: rejected */
    } cases[] = {
        {"/", "/"},
        {"", "/"},
        {"/a//b", "/a//b"},
        {"/%61b", "/ab"},
        {"/a%7e", "/a~"},
        {"/a%3a", "/a%3A"},
        {"/a%3A", "/a%3A"},
        {"/a/./b", NULL},
        {"/a/../b", NULL},
        {"/..", NULL},
        {"/a/.", NULL},
        {"/%2e%2E/x", NULL},
        {"/a%2fb", NULL},
        {"/a%5Cb", NULL},
        {"/a\\b", NULL},
        {"/a%00", NULL},
        {"/a%zz", NULL},
        {"/a%4", NULL},
        {"a", NULL},
        {"/\x80", NULL},
        {"/a.b/..c", "/a.b/..c"},
        {"/%C3%A9", "/%C3%A9"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        char buf[64];
        struct gw_str out;
        int rc = gw_route_path_normalize(gw_str_from(cases[i].in), buf, sizeof(buf), &out);
        char got[64] = "(rejected)";
        if (rc == 0)
            snprintf(got, sizeof(got), GW_STR_FMT, GW_STR_ARG(out));
        is_str(got, cases[i].want ? cases[i].want : "(rejected)", "normalize %s", cases[i].in);
    }
}

static void
test_merge_slashes(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"/", "/"},           {"/a/b", "/a/b"},        {"//", "/"},
        {"//a//b", "/a/b"},   {"/a///b////", "/a/b/"}, {"/a/..;//b", "/a/..;/b"},
        {"/x%2F/", "/x%2F/"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        char buf[64], got[64];
        struct gw_str out;
        struct gw_str in = gw_str_from(cases[i].in);
        is_int(gw_route_path_merge_slashes(in, buf, sizeof(buf), &out), 0, "merge %s", cases[i].in);
        snprintf(got, sizeof(got), GW_STR_FMT, GW_STR_ARG(out));
        is_str(got, cases[i].want, "merge %s", cases[i].in);
        ok((out.p == in.p) == (strstr(cases[i].in, "//") == NULL), "a view of in iff unchanged");
    }
    char place[] = "/a//b///c";
    struct gw_str out;
    gw_route_path_merge_slashes(gw_str_from(place), place, sizeof(place), &out);
    ok(gw_str_eq(out, GW_STR("/a/b/c")) && out.p == place, "in place");
    char small[4];
    is_int(gw_route_path_merge_slashes(GW_STR("/ab//cd"), small, sizeof(small), &out), GW_ELIMIT,
           "buffer too small");
    is_int(gw_route_path_merge_slashes(GW_STR("/abcd//"), small, sizeof(small), &out), GW_ELIMIT,
           "buffer too small for the part kept");
}

static void
fmt_headers(const struct gw_h1_header *h, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s" GW_STR_FMT "=" GW_STR_FMT, i ? " " : "",
                              GW_STR_ARG(h[i].name), GW_STR_ARG(h[i].value));
}

/* Applies mod to a copy of in[0..nin) with room for max entries; the
 * result formatted into buf, or "(limit)". */
static int
apply(const struct gw_ir_header_mod *mod, const struct gw_h1_header *in, size_t nin, size_t max,
      char *buf, size_t cap)
{
    struct gw_h1_header h[16];
    GW_ASSERT(nin <= max && max <= GW_ARRAY_LEN(h));
    memcpy(h, in, nin * sizeof(*h));
    size_t n = nin;
    int rc = gw_route_headers_apply(mod, h, &n, max);
    GW_ASSERT(n <= max);
    if (rc == 0)
        fmt_headers(h, n, buf, cap);
    else
        snprintf(buf, cap, "(limit)");
    return rc;
}

static void
test_headers(void)
{
    struct gw_ir_header set[] = {{"X-Header-Set", "set-overwrites-values"}, {"x-new", "n"}};
    struct gw_ir_header add[] = {{"X-Header-Add", "add-appends-values"}};
    const char *rm[] = {"X-Header-Remove"};
    struct gw_ir_header_mod mod = {set, add, 2, 1, rm, 1};
    struct gw_h1_header in[] = {
        {GW_STR("x-header-set"), GW_STR("one")},   {GW_STR("X-Header-Add"), GW_STR("a")},
        {GW_STR("x-header-remove"), GW_STR("r")},  {GW_STR("X-HEADER-SET"), GW_STR("two")},
        {GW_STR("x-header-remove"), GW_STR("r2")},
    };
    char buf[512];
    is_int(apply(&mod, in, 5, 8, buf, sizeof(buf)), 0, "apply");
    is_str(buf,
           "X-Header-Set=set-overwrites-values X-Header-Add=a x-new=n "
           "X-Header-Add=add-appends-values",
           "set overwrites all in place, remove removes all, add appends, names "
           "case-insensitive");
    is_int(apply(&mod, in, 5, 5, buf, sizeof(buf)), 0, "fits exactly after the removals");
    is_int(apply(&mod, in, 3, 3, buf, sizeof(buf)), GW_ELIMIT, "output limit");

    /* Each entry acts on what the previous ones left (the order the proxy
     * always applied them in). */
    struct gw_ir_header twice[] = {{"X-A", "first"}, {"x-a", "second"}};
    struct gw_ir_header_mod m2 = {.set = twice, .nset = 2};
    struct gw_h1_header in2[] = {
        {GW_STR("X-B"), GW_STR("b")}, {GW_STR("x-A"), GW_STR("0")}, {GW_STR("X-C"), GW_STR("c")}};
    apply(&m2, in2, 3, 8, buf, sizeof(buf));
    is_str(buf, "X-B=b x-a=second X-C=c", "a name set twice: the later value, in place");
    apply(&m2, in2, 0, 8, buf, sizeof(buf));
    is_str(buf, "x-a=second", "a name set twice, absent: one line, the later value");

    const char *rm3[] = {"x-a"};
    struct gw_ir_header add3[] = {{"X-A", "added"}};
    struct gw_ir_header_mod m3 = {
        .set = twice, .nset = 1, .add = add3, .nadd = 1, .remove = rm3, .nremove = 1};
    apply(&m3, in2, 3, 8, buf, sizeof(buf));
    is_str(buf, "X-B=b X-C=c X-A=first X-A=added", "removed then set: appended; add kept");
    struct gw_ir_header_mod none = {0};
    apply(&none, in2, 3, 3, buf, sizeof(buf));
    is_str(buf, "X-B=b x-A=0 X-C=c", "an empty modifier changes nothing");
}

static struct gw_route_result
prefix_match(size_t len)
{
    struct gw_route_result m = {.status = GW_ROUTE_OK, .prefix_len = len};
    return m;
}

static void
test_rewrite(void)
{
    /* HTTPRouteRewritePath and the spec's ReplacePrefixMatch table. */
    static const struct {
        const char *path, *prefix, *repl, *want;
    } cases[] = {
        {"/prefix/one/two", "/prefix/one", "/one", "/one/two"},
        {"/strip-prefix/three", "/strip-prefix", "/", "/three"},
        {"/strip-prefix", "/strip-prefix", "/", "/"},
        {"/strip-prefix/", "/strip-prefix", "/", "/"},
        {"/foo/bar", "/foo", "/xyz", "/xyz/bar"},
        {"/foo/bar", "/foo", "/xyz/", "/xyz/bar"},
        {"/foo", "/foo", "/xyz", "/xyz"},
        {"/foo/", "/foo", "/xyz", "/xyz/"},
        {"/foo/bar", "/foo", "", "/bar"},
        {"/foo/", "/foo", "", "/"},
        {"/foo", "/foo", "", "/"},
        {"/foo", "/foo", "/", "/"},
        {"/a", "", "/x", "/x/a"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        struct gw_ir_filter f = {.type = GW_IR_F_REWRITE,
                                 .path_mod = GW_IR_PATHMOD_PREFIX,
                                 .path = cases[i].repl,
                                 .port = -1};
        struct gw_route_result m = prefix_match(strlen(cases[i].prefix));
        char buf[64], got[64];
        struct gw_str out;
        GW_ASSERT(
            gw_route_path_rewrite(&f, &m, gw_str_from(cases[i].path), buf, sizeof(buf), &out) == 0);
        snprintf(got, sizeof(got), GW_STR_FMT, GW_STR_ARG(out));
        is_str(got, cases[i].want, "rewrite %s prefix %s -> %s", cases[i].path, cases[i].prefix,
               cases[i].repl);
    }
    struct gw_ir_filter full = {.path_mod = GW_IR_PATHMOD_FULL, .path = "/one"};
    struct gw_route_result m = prefix_match(5);
    struct gw_str out;
    gw_route_path_rewrite(&full, &m, GW_STR("/full/x"), NULL, 0, &out);
    ok(gw_str_eq(out, GW_STR("/one")), "ReplaceFullPath");
    struct gw_ir_filter host = {.hostname = "two.example.org"};
    ok(gw_str_eq(gw_route_host_rewrite(&host, GW_STR("one.example.org:80")),
                 GW_STR("two.example.org")),
       "hostname rewrite");
}

static void
test_redirect(void)
{
    static const struct {
        const char *scheme, *host;
        int port;
        int mod;
        const char *path, *req_path, *query;
        size_t prefix;
        uint16_t listener;
        const char *want;
    } cases[] = {
        /* HTTPRouteRedirectPort */
        {NULL, NULL, 8083, GW_IR_PATHMOD_KEEP, NULL, "/port", "", 0, 80, "http://h.test:8083/port"},
        {NULL, "example.org", 8083, GW_IR_PATHMOD_KEEP, NULL, "/p", "", 0, 80,
         "http://example.org:8083/p"},
        /* HTTPRouteRedirectScheme: no port: the scheme's well-known one */
        {"https", NULL, -1, GW_IR_PATHMOD_KEEP, NULL, "/scheme", "", 0, 80,
         "https://h.test/scheme"},
        {"https", "example.org", -1, GW_IR_PATHMOD_KEEP, NULL, "/s", "a=b", 0, 8080,
         "https://example.org/s?a=b"},
        /* no scheme, no port: the listener port */
        {NULL, "example.org", -1, GW_IR_PATHMOD_KEEP, NULL, "/x", "", 0, 8080,
         "http://example.org:8080/x"},
        {NULL, NULL, 443, GW_IR_PATHMOD_KEEP, NULL, "/x", "", 0, 80, "http://h.test:443/x"},
        {"https", NULL, 443, GW_IR_PATHMOD_KEEP, NULL, "/x", "", 0, 80, "https://h.test/x"},
        /* HTTPRouteRedirectPath */
        {NULL, NULL, -1, GW_IR_PATHMOD_PREFIX, "/replacement-prefix", "/original-prefix/lemon", "",
         16, 80, "http://h.test/replacement-prefix/lemon"},
        {NULL, NULL, -1, GW_IR_PATHMOD_FULL, "/full-path-replacement", "/full/path/original", "", 5,
         80, "http://h.test/full-path-replacement"},
        {NULL, "example.org", -1, GW_IR_PATHMOD_PREFIX, "/replacement-prefix", "/path-and-host/x",
         "q=1", 14, 80, "http://example.org/replacement-prefix/x?q=1"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        struct gw_ir_filter f = {.type = GW_IR_F_REDIRECT,
                                 .scheme = cases[i].scheme,
                                 .hostname = cases[i].host,
                                 .port = cases[i].port,
                                 .path_mod = (enum gw_ir_path_mod)cases[i].mod,
                                 .path = cases[i].path};
        struct gw_route_result m = prefix_match(cases[i].prefix);
        struct gw_route_url url = {GW_STR("http"), GW_STR("h.test:80"), cases[i].listener,
                                   gw_str_from(cases[i].req_path), gw_str_from(cases[i].query)};
        struct gw_buf b;
        gw_buf_init(&b, 1024);
        is_int(gw_route_redirect_format(&f, &m, &url, &b), 0, "redirect %zu", i);
        is_str(b.p, cases[i].want, "Location %zu", i);
        gw_buf_release(&b);
    }
}

static void
test_cors(void)
{
    const char *origins[] = {"https://www.foo.com", "https://*.bar.com"};
    const char *methods[] = {"GET", "OPTIONS"};
    const char *hdrs[] = {"x-header-1", "x-header-2"};
    const char *expose[] = {"x-header-3", "x-header-4"};
    struct gw_ir_filter f = {.type = GW_IR_F_CORS,
                             .cors_origins = origins,
                             .cors_methods = methods,
                             .cors_headers = hdrs,
                             .cors_expose = expose,
                             .ncors_origins = 2,
                             .ncors_methods = 2,
                             .ncors_headers = 2,
                             .ncors_expose = 2,
                             .cors_credentials = true,
                             .cors_max_age = 3600};
    struct gw_h1_header pre[] = {
        {GW_STR("Origin"), GW_STR("https://xpto.www.bar.com")},
        {GW_STR("access-control-request-method"), GW_STR("GET")},
        {GW_STR("access-control-request-headers"), GW_STR("x-header-1, x-header-2")}};
    char buf[512], got[1024];
    struct gw_route_cors c;
    is_int(gw_route_cors_eval(&f, GW_STR("OPTIONS"), pre, 3, buf, sizeof(buf), &c), 0, "eval");
    ok(c.kind == GW_ROUTE_CORS_PREFLIGHT && c.allowed, "preflight allowed (wildcard origin)");
    fmt_headers(c.headers, c.nheaders, got, sizeof(got));
    is_str(got,
           "access-control-allow-origin=https://xpto.www.bar.com "
           "access-control-allow-methods=GET, OPTIONS "
           "access-control-allow-headers=x-header-1, x-header-2 access-control-max-age=3600 "
           "access-control-allow-credentials=true access-control-expose-headers=x-header-3, "
           "x-header-4",
           "preflight headers");
    pre[0].value = GW_STR("https://foobar.com");
    gw_route_cors_eval(&f, GW_STR("OPTIONS"), pre, 3, buf, sizeof(buf), &c);
    ok(c.kind == GW_ROUTE_CORS_PREFLIGHT && !c.allowed && c.nheaders == 0, "origin refused");
    pre[0].value = GW_STR("https://bar.com");
    gw_route_cors_eval(&f, GW_STR("OPTIONS"), pre, 3, buf, sizeof(buf), &c);
    ok(!c.allowed, "*.bar.com does not match bar.com");
    pre[0].value = GW_STR("https://www.foo.com");
    gw_route_cors_eval(&f, GW_STR("GET"), pre, 1, buf, sizeof(buf), &c);
    ok(c.kind == GW_ROUTE_CORS_ACTUAL && c.allowed, "simple request");
    fmt_headers(c.headers, c.nheaders, got, sizeof(got));
    is_str(got,
           "access-control-allow-origin=https://www.foo.com access-control-allow-credentials=true "
           "access-control-expose-headers=x-header-3, x-header-4",
           "actual request headers");
    gw_route_cors_eval(&f, GW_STR("GET"), pre + 1, 1, buf, sizeof(buf), &c);
    ok(c.kind == GW_ROUTE_CORS_NONE, "no Origin: not CORS");

    const char *star[] = {"*"};
    const char *put[] = {"PUT"};
    struct gw_ir_filter w = {.cors_origins = star,
                             .ncors_origins = 1,
                             .cors_methods = star,
                             .ncors_methods = 1,
                             .cors_headers = star,
                             .ncors_headers = 1};
    struct gw_h1_header p2[] = {{GW_STR("origin"), GW_STR("https://foobar.com:12345")},
                                {GW_STR("Access-Control-Request-Method"), GW_STR("PUT")}};
    gw_route_cors_eval(&w, GW_STR("OPTIONS"), p2, 2, buf, sizeof(buf), &c);
    fmt_headers(c.headers, c.nheaders, got, sizeof(got));
    is_str(got, "access-control-allow-origin=* access-control-allow-methods=PUT",
           "wildcards without credentials");
    w.cors_credentials = true;
    w.cors_methods = put;
    gw_route_cors_eval(&w, GW_STR("OPTIONS"), p2, 2, buf, sizeof(buf), &c);
    fmt_headers(c.headers, c.nheaders, got, sizeof(got));
    is_str(got,
           "access-control-allow-origin=https://foobar.com:12345 access-control-allow-methods=PUT "
           "access-control-allow-credentials=true",
           "credentials: origin echoed, never *");
    is_int(gw_route_cors_eval(&f, GW_STR("OPTIONS"), pre, 3, buf, 8, &c), GW_ELIMIT, "buf limit");
}

static void
test_weights(void)
{
    struct gw_ir_backend be[] = {{.name = "a", .weight = 70},
                                 {.name = "zero", .weight = 0},
                                 {.name = "b", .weight = 20},
                                 {.name = "bad", .weight = 10, .invalid = true}};
    struct gw_ir_route r = {.backends = be, .nbackends = 4};
    size_t counts[4] = {0};
    uint64_t x = 88172645463325252ULL;
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const struct gw_ir_backend *b = gw_route_backend_pick(&r, (uint32_t)(x >> 32));
        counts[b - be]++;
    }
    is_int((long long)counts[1], 0, "weight 0 never chosen");
    ok(counts[0] > N * 0.69 && counts[0] < N * 0.71, "70%% share (%zu)", counts[0]);
    ok(counts[2] > N * 0.19 && counts[2] < N * 0.21, "20%% share (%zu)", counts[2]);
    ok(counts[3] > N * 0.09 && counts[3] < N * 0.11, "invalid keeps its 10%% share (%zu)",
       counts[3]);
    ok(gw_route_backend_pick(&r, 0) == &be[0] && gw_route_backend_pick(&r, UINT32_MAX) == &be[3],
       "range ends");
    struct gw_ir_backend z[] = {{.weight = 0}};
    struct gw_ir_route rz = {.backends = z, .nbackends = 1};
    ok(gw_route_backend_pick(&rz, 5) == NULL, "all weights 0: NULL (500)");

    size_t hits = 0;
    for (uint32_t i = 0; i < 100000; i++)
        hits += gw_route_mirror_sample(1, 4, i * 42949u);
    ok(hits > 24000 && hits < 26000, "mirror 1/4 (%zu)", hits);
    ok(gw_route_mirror_sample(0, 0, 7) && !gw_route_mirror_sample(0, 100, 7) &&
           gw_route_mirror_sample(100, 100, UINT32_MAX),
       "mirror 0/0 always, 0/100 never, 100/100 always");
}

int
main(void)
{
    test_normalize();
    test_merge_slashes();
    test_headers();
    test_rewrite();
    test_redirect();
    test_cors();
    test_weights();
    return done_testing();
}
