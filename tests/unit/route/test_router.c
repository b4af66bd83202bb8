/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the compiled router: precedence (through IR order),
 * listener isolation, hostname rules, element-wise PathPrefix, Exact,
 * regular expressions, method/header/query conditions, and a randomized
 * comparison with a naive linear-scan matcher over thousands of routes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "tap.h"

#include "base/banned.h"

#define PREFIX GW_IR_PATH_PREFIX
#define EXACT  GW_IR_PATH_EXACT
#define REGEX  GW_IR_PATH_REGEX

static struct gw_router *R;
static struct gw_ir_port *P;

/* Routes method host target [headers "Name: value"...] and names the result:
 * the route's name, or the status name. */
static const char *
M(const char *method, const char *host, const char *target, ...)
{
    static char out[128];
    struct gw_h1_header hs[16];
    size_t nh = 0;
    va_list ap;
    va_start(ap, target);
    for (const char *h; (h = va_arg(ap, const char *));) {
        const char *colon = strchr(h, ':');
        hs[nh].name = (struct gw_str){h, (size_t)(colon - h)};
        hs[nh].value = gw_str_from(colon + 2);
        nh++;
    }
    va_end(ap);
    const char *q = strchr(target, '?');
    struct gw_route_req req = {
        .method = gw_str_from(method),
        .host = gw_str_from(host),
        .path = {target, q ? (size_t)(q - target) : strlen(target)},
        .query = q ? gw_str_from(q + 1) : GW_STR_NULL,
        .headers = hs,
        .nheaders = nh,
    };
    struct gw_route_result res;
    if (gw_router_match(R, P, &req, &res) != GW_ROUTE_OK)
        return gw_route_status_name(res.status);
    snprintf(out, sizeof(out), "%s", res.route->route);
    return out;
}

static void
build(struct gw_ir *ir, struct gw_diags *d)
{
    gw_router_free(R);
    GW_ASSERT(gw_router_build(ir, d, &R) == 0);
}

/* Vhosts whose routes have no conditions keep no table of them (router.c):
 * such a vhost beside one with conditions, a route with a path that does
 * not compile in it (in no list), a wildcard vhost with conditions. */
static void
test_plain_vhosts(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    struct gw_ir_vhost *v = b_vhost(ir, l, "plain.test", 4);
    b_route(ir, v, "bad", PREFIX, "nope", NULL);
    b_route(ir, v, "p-ab", EXACT, "/a/b", NULL);
    b_route(ir, v, "p-a", PREFIX, "/a", NULL);
    b_route(ir, v, "p-root", PREFIX, "/", NULL);
    v = b_vhost(ir, l, "cond.test", 4);
    struct gw_ir_route *r = b_route(ir, v, "c-h", PREFIX, "/a", NULL);
    b_header(ir, r, "x-a", "1", false);
    b_route(ir, v, "c-a", PREFIX, "/a", NULL);
    b_route(ir, v, "c-get", PREFIX, "/", "GET");
    build(ir, NULL);
    is_str(M("GET", "plain.test", "/a/x", NULL), "p-a", "plain vhost: prefix");
    is_str(M("GET", "plain.test", "/a/b", NULL), "p-ab", "plain vhost: exact");
    is_str(M("GET", "plain.test", "/nope", NULL), "p-root", "plain vhost: the bad path in no list");
    is_str(M("GET", "cond.test", "/a/x", "x-a: 1", NULL), "c-h", "conditions still checked");
    is_str(M("GET", "cond.test", "/a/x", NULL), "c-a", "and skipped when they fail");
    is_str(M("PUT", "cond.test", "/b", NULL), "no route", "method condition fails: no route");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

static void
test_precedence(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    struct gw_ir_vhost *v = b_vhost(ir, l, "*", 32);
    /* IR order is the precedence order translate computed. */
    b_route(ir, v, "exact", EXACT, "/foo/bar", NULL);
    struct gw_ir_route *r = b_route(ir, v, "long-hq", PREFIX, "/foo/bar", NULL);
    b_header(ir, r, "x-a", "1", false);
    b_header(ir, r, "x-b", "2", false);
    r = b_route(ir, v, "long-h", PREFIX, "/foo/bar", NULL);
    b_header(ir, r, "x-a", "1", false);
    r = b_route(ir, v, "long-q", PREFIX, "/foo/bar", NULL);
    b_query(ir, r, "q", "1", false);
    b_route(ir, v, "long-post", PREFIX, "/foo/bar", "POST");
    b_route(ir, v, "long", PREFIX, "/foo/bar/", NULL);
    b_route(ir, v, "short-get", PREFIX, "/foo", "GET");
    b_route(ir, v, "short", PREFIX, "/foo", NULL);
    b_route(ir, v, "root", PREFIX, "/", NULL);
    build(ir, NULL);

    is_str(M("GET", "a", "/foo/bar", NULL), "exact", "exact beats every prefix");
    is_str(M("GET", "a", "/foo/bar/", NULL), "long", "exact is byte-exact: trailing slash differs");
    is_str(M("GET", "a", "/foo/bar/x", "x-a: 1", "x-b: 2", NULL), "long-hq", "more headers first");
    is_str(M("GET", "a", "/foo/bar/x", "X-A: 1", NULL), "long-h", "header names case-insensitive");
    is_str(M("GET", "a", "/foo/bar/x", "x-a: 2", NULL), "long",
           "header value case and value exact");
    is_str(M("GET", "a", "/foo/bar/x?q=1", NULL), "long-q", "query param");
    is_str(M("POST", "a", "/foo/bar/x?q=2", NULL), "long-post", "method");
    is_str(M("post", "a", "/foo/bar/x", NULL), "long", "method is case-sensitive");
    is_str(M("GET", "a", "/foo/ba", NULL), "short-get", "shorter prefix with method");
    is_str(M("PUT", "a", "/foo", NULL), "short", "prefix matches itself");
    is_str(M("PUT", "a", "/foobar", NULL), "root", "prefix is element-wise: /foo vs /foobar");
    is_str(M("PUT", "a", "/foo/", NULL), "short", "prefix /foo matches /foo/");
    is_str(M("PUT", "a", "/foo//bar", NULL), "short", "/foo matches /foo//bar; /foo/bar does not");
    is_str(M("PUT", "a", "/fo", NULL), "root", "/ catches everything");
    is_str(M("GET", "a", "/foo/bar", "x-a: 1", NULL), "exact", "exact still first with headers");
    is_str(M("GET", "a", "foo", NULL), "bad request", "path without '/' is a bad request");
    is_str(M("GET", "a b", "/", NULL), "bad request", "bad host is a bad request");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

static void
test_prefix_edges(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    struct gw_ir_vhost *v = b_vhost(ir, l, "*", 32);
    b_route(ir, v, "abc-slash", PREFIX, "/abc/", NULL);
    b_route(ir, v, "exact-root", EXACT, "/", NULL);
    b_route(ir, v, "exact-x-slash", EXACT, "/x/", NULL);
    b_route(ir, v, "empty-seg", PREFIX, "/e//", NULL); /* "/e/" element-wise */
    build(ir, NULL);
    is_str(M("GET", "", "/abc", NULL), "abc-slash",
           "prefix /abc/ matches /abc (trailing / ignored)");
    is_str(M("GET", "", "/abc/", NULL), "abc-slash", "prefix /abc/ matches /abc/");
    is_str(M("GET", "", "/abc/def", NULL), "abc-slash", "prefix /abc/ matches /abc/def");
    is_str(M("GET", "", "/abcd", NULL), "no route", "prefix /abc/ does not match /abcd");
    is_str(M("GET", "", "/", NULL), "exact-root", "exact /");
    is_str(M("GET", "", "//", NULL), "no route", "exact / is not //");
    is_str(M("GET", "", "/x", NULL), "no route", "exact /x/ is not /x");
    is_str(M("GET", "", "/x/", NULL), "exact-x-slash", "exact /x/");
    is_str(M("GET", "", "/e/", NULL), "empty-seg", "prefix /e// matches /e/");
    is_str(M("GET", "", "/e//z", NULL), "empty-seg", "prefix /e// matches /e//z");
    is_str(M("GET", "", "/e/z", NULL), "no route", "prefix /e// does not match /e/z");
    is_str(M("GET", "", "/ABC", NULL), "no route", "paths are case-sensitive");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

static void
test_hosts(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    b_route(ir, b_vhost(ir, l, "foo.example.com", 4), "exact", PREFIX, "/", NULL);
    b_route(ir, b_vhost(ir, l, "*.b.example.com", 4), "wild-b", PREFIX, "/", NULL);
    struct gw_ir_vhost *w = b_vhost(ir, l, "*.example.com", 4);
    b_route(ir, w, "wild", PREFIX, "/w", NULL);
    b_route(ir, b_vhost(ir, l, "[::1]", 4), "v6", PREFIX, "/", NULL);
    b_route(ir, b_vhost(ir, l, "*", 4), "any", PREFIX, "/", NULL);
    build(ir, NULL);
    is_str(M("GET", "foo.example.com", "/", NULL), "exact", "exact host");
    is_str(M("GET", "FOO.Example.COM:8080", "/", NULL), "exact", "case-insensitive, port stripped");
    is_str(M("GET", "foo.example.com.", "/", NULL), "exact", "one trailing dot ignored");
    is_str(M("GET", "bar.example.com", "/w", NULL), "wild", "wildcard");
    is_str(M("GET", "a.b.example.com", "/", NULL), "wild-b", "longest wildcard suffix");
    is_str(M("GET", "x.a.b.example.com", "/", NULL), "wild-b", "wildcard spans labels");
    is_str(M("GET", "a.b.example.com", "/w", NULL), "wild-b", "more specific vhost first");
    is_str(M("GET", "bar.example.com", "/x", NULL), "any",
           "less specific vhost when the more specific has no route (ir.h)");
    is_str(M("GET", "example.com", "/w", NULL), "any", "*.example.com does not match example.com");
    is_str(M("GET", "[::1]:8080", "/", NULL), "v6", "IPv6 literal with port");
    is_str(M("GET", "[::1]", "/", NULL), "v6", "IPv6 literal");
    is_str(M("GET", "", "/", NULL), "any", "no Host: catch-all");
    is_str(M("GET", "h.test, evil.test", "/", NULL), "bad request", "Host list rejected");
    is_str(M("GET", "h.test@evil.test", "/", NULL), "bad request", "userinfo rejected");
    is_str(M("GET", "a..b", "/", NULL), "bad request", "empty label rejected");
    is_str(M("GET", "h.test:99999", "/", NULL), "bad request", "bad port rejected");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

static void
test_listener_isolation(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    /* GatewayHTTPListenerIsolation: listeners most specific first. */
    struct gw_ir_listener *le = b_listener(ir, P, "exact", "abc.foo.example.com", GW_IR_HTTP);
    struct gw_ir_listener *lw2 = b_listener(ir, P, "wild2", "*.foo.example.com", GW_IR_HTTP);
    struct gw_ir_listener *lw = b_listener(ir, P, "wild", "*.example.com", GW_IR_HTTP);
    struct gw_ir_listener *la = b_listener(ir, P, "empty", NULL, GW_IR_HTTP);
    b_route(ir, b_vhost(ir, le, "abc.foo.example.com", 4), "abc-route", PREFIX, "/abc", NULL);
    b_route(ir, b_vhost(ir, lw2, "*.foo.example.com", 4), "wildcard-foo", PREFIX, "/wildcard-foo",
            NULL);
    b_route(ir, b_vhost(ir, lw, "*.example.com", 4), "wildcard-example", PREFIX,
            "/wildcard-example", NULL);
    b_route(ir, b_vhost(ir, la, "*", 4), "empty-route", PREFIX, "/empty", NULL);
    build(ir, NULL);
    is_str(M("GET", "bar.com", "/empty", NULL), "empty-route", "catch-all listener");
    is_str(M("GET", "bar.com", "/wildcard-example", NULL), "no route", "isolated: bar.com");
    is_str(M("GET", "bar.example.com", "/wildcard-example", NULL), "wildcard-example",
           "*.example.com");
    is_str(M("GET", "bar.example.com", "/empty", NULL), "no route",
           "isolated: no fallback to empty");
    is_str(M("GET", "bar.foo.example.com", "/wildcard-foo", NULL), "wildcard-foo",
           "*.foo.example.com");
    is_str(M("GET", "bar.foo.example.com", "/wildcard-example", NULL), "no route",
           "isolated: no fallback to *.example.com");
    is_str(M("GET", "abc.foo.example.com", "/abc", NULL), "abc-route", "exact listener");
    is_str(M("GET", "abc.foo.example.com", "/wildcard-foo", NULL), "no route",
           "isolated: no fallback to *.foo.example.com");
    const struct gw_ir_listener *sel = gw_router_listener_select(R, P, GW_STR("x.foo.example.com"));
    is_str(sel ? sel->name : NULL, "wild2", "listener_select by SNI");

    /* HTTPS: the Host must select the SNI's listener, else 421. */
    le->proto = lw2->proto = lw->proto = la->proto = GW_IR_HTTPS;
    build(ir, NULL);
    struct gw_route_req req = {.method = GW_STR("GET"),
                               .host = GW_STR("abc.foo.example.com"),
                               .sni = GW_STR("x.example.com"),
                               .path = GW_STR("/abc")};
    struct gw_route_result res;
    is_int(gw_router_match(R, P, &req, &res), GW_ROUTE_MISDIRECTED, "Host vs SNI listener: 421");
    req.sni = GW_STR("ABC.foo.example.com");
    is_int(gw_router_match(R, P, &req, &res), GW_ROUTE_OK, "Host and SNI agree");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

static void
test_regex_and_conditions(void)
{
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    struct gw_ir_vhost *v = b_vhost(ir, l, "*", 32);
    b_route(ir, v, "broken", REGEX, "/(unclosed", NULL);
    struct gw_ir_route *r = b_route(ir, v, "hre", PREFIX, "/h", NULL);
    b_header(ir, r, "x-v", "v[0-9]+", true);
    r = b_route(ir, v, "hbad", PREFIX, "/h", NULL);
    b_header(ir, r, "x-v", "*", true);
    r = b_route(ir, v, "join", PREFIX, "/j", NULL);
    b_header(ir, r, "x-j", "a,b", false);
    r = b_route(ir, v, "qre", PREFIX, "/q", NULL);
    b_query(ir, r, "n", "[a-z]+ [a-z]+", true);
    r = b_route(ir, v, "qexact", PREFIX, "/q", NULL);
    b_query(ir, r, "animal", "whale", false);
    b_route(ir, v, "re", REGEX, "/r/[0-9]+", NULL);
    b_route(ir, v, "alt", REGEX, "/(a|ab)", NULL);
    b_route(ir, v, "root", PREFIX, "/", NULL);
    struct gw_diags d;
    gw_diags_init(&d);
    build(ir, &d);
    is_int((long long)gw_router_regex_errors(R), 2, "two patterns fail to compile");
    is_int((long long)d.errors, 2, "and are reported as diagnostics");
    if (d.n > 0)
        is_str(d.v[0].path, "spec.rules[0].matches[0].path.value", "diag field path");
    gw_diags_release(&d);
    ok(gw_router_memory(R) > 0, "memory accounted");
    is_str(M("GET", "", "/(unclosed", NULL), "root", "a broken regex never matches");
    is_str(M("GET", "", "/h", "x-v: v12", NULL), "hre", "header regex");
    is_str(M("GET", "", "/h", "x-v: xv12", NULL), "root", "header regex is a full match");
    is_str(M("GET", "", "/j", "x-j: a", "x-j: b", NULL), "join", "repeated header joined with ','");
    is_str(M("GET", "", "/j", "x-j: a", NULL), "root",
           "one line of a repeated header is not enough");
    is_str(M("GET", "", "/q?n=ab%20cd", NULL), "qre", "query value decoded for regex");
    is_str(M("GET", "", "/q?animal=whale", NULL), "qexact", "query exact");
    is_str(M("GET", "", "/q?%61nimal=wh%61le", NULL), "qexact", "query name and value decoded");
    is_str(M("GET", "", "/q?animal=dolphin&animal=whale", NULL), "root", "first occurrence wins");
    is_str(M("GET", "", "/q?Animal=whale", NULL), "root", "query names case-sensitive");
    is_str(M("GET", "", "/q?animal=Whale", NULL), "root", "query values case-sensitive");
    is_str(M("GET", "", "/q?x&animal=whale&", NULL), "qexact", "params without '='");
    is_str(M("GET", "", "/r/123", NULL), "re", "path regex");
    is_str(M("GET", "", "/r/123/x", NULL), "root", "path regex is anchored at the end");
    is_str(M("GET", "", "/x/r/123", NULL), "root", "path regex is anchored at the start");
    is_str(M("GET", "", "/ab", NULL), "alt", "end anchoring backtracks into alternatives");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

/* ------------------------------------------------------------------------ */
/* Randomized: the router against a naive linear scan.                     */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static const char *segs[] = {"a", "b", "ab", "c", "", "d", "e", "f", "g", "h", "i", "j"};
static const char *hosts[] = {"h1.test", "h2.test", "x.w.test", "y.x.w.test", "w.test", "other"};
static const char *vhost_names[] = {"h1.test", "h2.test", "*.w.test", "*.x.w.test", "*"};

static void
rand_path(char *buf, size_t cap, int mindepth, int maxdepth)
{
    size_t n = 0;
    int depth = mindepth + (int)(rnd() % (unsigned)(maxdepth - mindepth + 1));
    buf[n++] = '/';
    for (int i = 0; i < depth && n + 4 < cap; i++) {
        const char *s = segs[rnd() % GW_ARRAY_LEN(segs)];
        if (i == 0 && !*s)
            s = "a";
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "/" : "", s);
    }
    buf[n] = '\0';
}

static void
append(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s", s);
}

static bool
naive_host_match(const char *pattern, const char *host)
{
    if (strcmp(pattern, "*") == 0)
        return true;
    if (pattern[0] == '*') {
        size_t pl = strlen(pattern) - 1, hl = strlen(host);
        return hl > pl && strcasecmp(host + hl - pl, pattern + 1) == 0;
    }
    return strcasecmp(pattern, host) == 0;
}

static int
vhost_rank(const char *pattern)
{
    if (strcmp(pattern, "*") == 0)
        return 0;
    if (pattern[0] == '*')
        return (int)strlen(pattern);
    return 10000;
}

static bool
naive_path(const struct gw_ir_route *r, const char *path)
{
    size_t n = strlen(r->path);
    if (r->path_type == EXACT)
        return strcmp(r->path, path) == 0;
    if (r->path_type == REGEX) /* our generated patterns: "/seg/.*" */
        return strncmp(path, r->path, n - 2) == 0;
    if (n > 0 && r->path[n - 1] == '/')
        n--;
    return n == 0 || (strncmp(path, r->path, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

static bool
naive_headers(const struct gw_ir_route *r, const struct gw_h1_header *hs, size_t nh)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        char joined[256] = "";
        bool found = false;
        for (size_t j = 0; j < nh; j++) {
            if (strlen(r->headers[i].name) == hs[j].name.len &&
                strncasecmp(r->headers[i].name, hs[j].name.p, hs[j].name.len) == 0) {
                size_t l = strlen(joined);
                snprintf(joined + l, sizeof(joined) - l, "%s" GW_STR_FMT, found ? "," : "",
                         GW_STR_ARG(hs[j].value));
                found = true;
            }
        }
        if (!found || strcmp(joined, r->headers[i].value) != 0)
            return false;
    }
    return true;
}

static bool
naive_query(const struct gw_ir_route *r, const char *q)
{
    for (size_t i = 0; i < r->nquery; i++) {
        /* Decode each param; first with the name decides. */
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", q);
        bool decided = false, okv = false;
        for (char *save = NULL, *p = strtok_r(copy, "&", &save); p && !decided;
             p = strtok_r(NULL, "&", &save)) {
            char dec[256];
            size_t k = 0;
            for (size_t x = 0; p[x]; x++) {
                unsigned hi, lo;
                if (p[x] == '%' && sscanf(p + x + 1, "%1x%1x", &hi, &lo) == 2) {
                    dec[k++] = (char)(hi * 16 + lo);
                    x += 2;
                } else {
                    dec[k++] = p[x];
                }
            }
            dec[k] = '\0';
            char *eq = strchr(dec, '=');
            const char *val = "";
            if (eq) {
                *eq = '\0';
                val = eq + 1;
            }
            if (strcmp(dec, r->query[i].name) == 0) {
                decided = true;
                okv = strcmp(val, r->query[i].value) == 0;
            }
        }
        if (!okv)
            return false;
    }
    return true;
}

static const char *
naive(const struct gw_ir_listener *l, const char *method, const char *host, const char *path,
      const char *q, const struct gw_h1_header *hs, size_t nh)
{
    const struct gw_ir_vhost *order[B_MAX_VHOSTS];
    size_t n = 0;
    for (size_t i = 0; i < l->nvhosts; i++)
        if (naive_host_match(l->vhosts[i].hostname, host))
            order[n++] = &l->vhosts[i];
    for (size_t i = 1; i < n; i++) /* insertion sort, most specific first */
        for (size_t j = i;
             j > 0 && vhost_rank(order[j]->hostname) > vhost_rank(order[j - 1]->hostname); j--) {
            const struct gw_ir_vhost *t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    if (n == 0)
        return "no vhost";
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < order[i]->nroutes; k++) {
            const struct gw_ir_route *r = &order[i]->routes[k];
            if ((!r->method || strcmp(r->method, method) == 0) && naive_path(r, path) &&
                naive_headers(r, hs, nh) && naive_query(r, q))
                return r->route;
        }
    return "no route";
}

static long
prec_key(const struct gw_ir_route *r)
{
    long k = r->path_type == EXACT ? 0 : r->path_type == PREFIX ? 1000000 : 2000000;
    k -= (long)strlen(r->path) * 1000;
    k -= r->method ? 100 : 0;
    k -= (long)r->nheaders * 10 + (long)r->nquery;
    return k;
}

static int
prec_cmp(const void *a, const void *b)
{
    long ka = prec_key(a), kb = prec_key(b);
    return ka < kb ? -1 : ka > kb;
}

static void
test_random(void)
{
    static const char *names[] = {"x-a", "x-b", "X-C"};
    static const char *vals[] = {"1", "2", "1,2"};
    static const char *qn[] = {"p", "q", "p%71"};
    static const char *methods[] = {"GET", "POST", "PUT"};
    struct gw_ir *ir = gw_ir_new();
    P = b_port(ir, 80);
    struct gw_ir_listener *l = b_listener(ir, P, "http", NULL, GW_IR_HTTP);
    for (size_t i = 0; i < GW_ARRAY_LEN(vhost_names); i++)
        b_vhost(ir, l, vhost_names[i], B_MAX_ROUTES);
    char buf[128];
    for (int i = 0; i < 4000; i++) {
        struct gw_ir_vhost *v = &l->vhosts[rnd() % l->nvhosts];
        int t = (int)(rnd() % 10);
        enum gw_ir_path_type pt = t < 3 ? EXACT : t < 9 ? PREFIX : REGEX;
        rand_path(buf, sizeof(buf) - 4, 1, 4);
        if (pt == REGEX) {
            rand_path(buf, sizeof(buf) - 4, 0, 1);
            append(buf, sizeof(buf), strlen(buf) > 1 ? "/.*" : ".*");
        } else if (pt == PREFIX && rnd() % 4 == 0 && strlen(buf) > 1) {
            append(buf, sizeof(buf), "/");
        }
        char *name = gw_arena_sprintf(&ir->arena, "r%d", i);
        struct gw_ir_route *r =
            b_route(ir, v, name, pt, buf, rnd() % 3 == 0 ? methods[rnd() % 3] : NULL);
        for (unsigned k = rnd() % 3; k > 0 && rnd() % 2; k--)
            b_header(ir, r, names[rnd() % 3], vals[rnd() % 3], false);
        for (unsigned k = rnd() % 3; k > 0 && rnd() % 2; k--)
            b_query(ir, r, rnd() % 2 ? "p" : "q", vals[rnd() % 2], false);
    }
    /* Roughly translate's precedence order (the invariant holds for any
     * order; this one lets more routes win). */
    for (size_t i = 0; i < l->nvhosts; i++)
        qsort(l->vhosts[i].routes, l->vhosts[i].nroutes, sizeof(struct gw_ir_route), prec_cmp);
    build(ir, NULL);
    int mismatches = 0, distinct = 0;
    static bool seen[4000];
    for (int i = 0; i < 200000; i++) {
        char path[128], q[128] = "";
        rand_path(path, sizeof(path), 0, 5);
        if (rnd() % 4 == 0)
            append(path, sizeof(path), "/");
        size_t qn_len = 0;
        for (unsigned k = rnd() % 4; k > 0; k--)
            qn_len += (size_t)snprintf(q + qn_len, sizeof(q) - qn_len, "%s%s=%s", qn_len ? "&" : "",
                                       qn[rnd() % 3], rnd() % 2 ? "%31" : vals[rnd() % 2]);
        struct gw_h1_header hs[4];
        size_t nh = rnd() % 4;
        for (size_t k = 0; k < nh; k++) {
            hs[k].name = gw_str_from(names[rnd() % 3]);
            hs[k].value = gw_str_from(vals[rnd() % 2]);
        }
        const char *host = hosts[rnd() % GW_ARRAY_LEN(hosts)];
        const char *method = methods[rnd() % 3];
        struct gw_route_req req = {.method = gw_str_from(method),
                                   .host = gw_str_from(host),
                                   .path = gw_str_from(path),
                                   .query = gw_str_from(q),
                                   .headers = hs,
                                   .nheaders = nh};
        struct gw_route_result res;
        gw_router_match(R, P, &req, &res);
        const char *got =
            res.status == GW_ROUTE_OK ? res.route->route : gw_route_status_name(res.status);
        if (res.status == GW_ROUTE_OK) {
            long idx = strtol(res.route->route + 1, NULL, 10);
            if (idx >= 0 && idx < 4000 && !seen[idx]) {
                seen[idx] = true;
                distinct++;
            }
        }
        const char *want = naive(l, method, host, path, q, hs, nh);
        if (strcmp(got, want) != 0 && mismatches++ < 10)
            diag("%s %s %s?%s: router %s, naive %s", method, host, path, q, got, want);
    }
    ok(distinct > 300, "random requests won by %d distinct routes", distinct);
    is_int(mismatches, 0, "200000 random requests over 4000 random routes: same winners");
    gw_router_free(R);
    R = NULL;
    gw_ir_unref(ir);
}

int
main(void)
{
    test_plain_vhosts();
    test_precedence();
    test_prefix_edges();
    test_hosts();
    test_listener_isolation();
    test_regex_and_conditions();
    test_random();
    gw_router_free(R);
    return done_testing();
}
