/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for h1: request and response heads (table-driven, each rule of
 * RFC 9110/9112 the parser enforces), incremental feeding, pipelining, the
 * chunked decoder split at every byte boundary, the chunk encoder and the
 * utilities. The hostile corpus runs in test_hostile.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1/h1.h"
#include "h1/internal.h"
#include "tap.h"

#include "base/banned.h"

#define S(lit) lit, sizeof(lit) - 1

/* ------------------------------------------------------------------------ */
/* Request heads                                                            */

struct req_case {
    const char *name;
    const char *raw;
    size_t len;
    int status; /* 0: must parse the whole head; else the error status */
};

static const struct req_case req_cases[] = {
    {"plain GET", S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    /* names past the eight-byte fast scan */
    {"long name", S("GET / HTTP/1.1\r\nHost: a\r\nX-Very-Long-Header-Name-0123: v\r\n\r\n"), 0},
    {"eight-byte name", S("GET / HTTP/1.1\r\nHost: a\r\nX-Abcdef: v\r\n\r\n"), 0},
    {"underscore after eight bytes", S("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded_For: v\r\n\r\n"),
     400},
    {"tchar after eight bytes", S("GET / HTTP/1.1\r\nHost: a\r\nX-Abcdefg!h~: v\r\n\r\n"), 0},
    {"space after eight bytes", S("GET / HTTP/1.1\r\nHost: a\r\nX-Abcdefg : v\r\n\r\n"), 400},
    {"obs-text after eight bytes", S("GET / HTTP/1.1\r\nHost: a\r\nX-Abcdefg\xc3: v\r\n\r\n"), 400},
    {"bare LF in a long name", S("GET / HTTP/1.1\r\nHost: a\r\nX-Abcdefgh\n: v\r\n\r\n"), 400},
    {"upper-case framing names", S("POST / HTTP/1.1\r\nHOST: a\r\nCONTENT-LENGTH: 0\r\n\r\n"), 0},
    {"content-length near miss", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Lengtx: 5\r\n\r\n"), 0},
    {"HTTP/1.0 without Host", S("GET / HTTP/1.0\r\n\r\n"), 0},
    {"one leading CRLF", S("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    {"two leading CRLFs", S("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"leading bare LF", S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"minor version 9 is 1.1", S("GET / HTTP/1.9\r\nHost: a\r\n\r\n"), 0},
    {"HTTP/2.0", S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505},
    {"HTTP/0.9 version", S("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505},
    {"two-digit minor", S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400},
    {"lower-case name", S("GET / http/1.1\r\nHost: a\r\n\r\n"), 400},
    {"version junk", S("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400},
    {"trailing space after version", S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400},
    {"bare LF after version", S("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400},
    {"empty method", S(" / HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"method with '('", S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"extension method", S("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    {"double SP", S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"HTAB separator", S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"space in target", S("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"fragment", S("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"8-bit target", S("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"bad pct-encoding", S("GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"truncated pct-encoding", S("GET /a% HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"good pct-encoding and query", S("GET /a%2F?x=1&y=%41 HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    {"bracket in path", S("GET /[x] HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"relative target", S("GET ok HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"asterisk with OPTIONS", S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    {"asterisk with GET", S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"absolute-form", S("GET http://a:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    {"absolute-form https upper", S("GET HTTPS://a HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    {"absolute-form userinfo", S("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"absolute-form empty authority", S("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"absolute-form other scheme", S("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"absolute-form IPv6", S("GET http://[::1]:80/ HTTP/1.1\r\nHost: a\r\n\r\n"), 0},
    {"CONNECT authority-form", S("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 0},
    {"CONNECT without port", S("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"CONNECT origin-form", S("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"authority-form without CONNECT", S("GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400},
    {"missing Host", S("GET / HTTP/1.1\r\n\r\n"), 400},
    {"duplicate Host", S("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400},
    {"empty Host", S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0},
    {"Host with port", S("GET / HTTP/1.1\r\nHost: a.b:8080\r\n\r\n"), 0},
    {"Host IPv6", S("GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n"), 0},
    {"Host list", S("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"), 400},
    {"Host userinfo", S("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400},
    {"Host bad port", S("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"), 400},
    {"Host long port", S("GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n"), 400},
    {"Host path", S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400},
    {"obs-fold", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), 400},
    {"space before colon", S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400},
    {"tab before colon", S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400},
    {"no colon", S("GET / HTTP/1.1\r\nHost a\r\n\r\n"), 400},
    {"empty name", S("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), 400},
    {"name with '@'", S("GET / HTTP/1.1\r\nHost: a\r\nX@Y: z\r\n\r\n"), 400},
    {"name with underscore", S("GET / HTTP/1.1\r\nHost: a\r\nX_Y: z\r\n\r\n"), 400},
    {"name 8-bit", S("GET / HTTP/1.1\r\nHost: a\r\nX\x85: z\r\n\r\n"), 400},
    {"value NUL", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), 400},
    {"value VT", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x0b\r\n\r\n"), 400},
    {"value DEL", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), 400},
    {"value obs-text", S("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n"), 0},
    {"value with HTAB inside", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n"), 0},
    {"value bare CR", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400},
    {"value bare LF", S("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb: c\r\n\r\n"), 400},
    {"end CR then junk", S("GET / HTTP/1.1\r\nHost: a\r\n\rZ"), 400},
    {"empty value", S("GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n"), 0},
    {"CL", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), 0},
    {"CL leading zeros", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n"), 0},
    {"CL max u64 too big",
     S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n"), 413},
    {"CL overflow", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n"),
     400},
    {"CL over body limit", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741825\r\n\r\n"),
     413},
    {"CL at body limit", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\n"), 0},
    {"CL negative", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), 400},
    {"CL plus sign", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"), 400},
    {"CL empty", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"), 400},
    {"CL list same", S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"), 400},
    {"CL duplicate same",
     S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"), 400},
    {"CL duplicate different",
     S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400},
    {"TE chunked", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), 0},
    {"TE Chunked with OWS",
     S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tChunked \r\n\r\n"), 0},
    {"TE plus CL",
     S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"),
     400},
    {"TE in HTTP/1.0", S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    {"TE gzip", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 400},
    {"TE gzip, chunked",
     S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501},
    {"TE chunked, gzip",
     S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400},
    {"TE chunked twice",
     S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400},
    {"TE two lines",
     S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n"),
     400},
    {"TE unknown", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), 501},
    {"TE identity", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"), 501},
    {"TE empty", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), 400},
    {"TE with parameter", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"),
     400},
    {"TE leading comma", S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n"), 0},
};

static int
parse_req(const char *raw, size_t len, struct gw_h1_request *req, struct gw_h1_header *h,
          size_t maxh, const struct gw_h1_limits *lim)
{
    req->headers = h;
    req->max_headers = maxh;
    return gw_h1_request_parse(raw, len, req, lim);
}

static void
test_request_table(void)
{
    struct gw_h1_header h[32];
    for (size_t i = 0; i < GW_ARRAY_LEN(req_cases); i++) {
        const struct req_case *c = &req_cases[i];
        struct gw_h1_request req;
        int rc = parse_req(c->raw, c->len, &req, h, GW_ARRAY_LEN(h), NULL);
        if (c->status == 0) {
            if (!is_int(rc, (long long)c->len, "request: %s parses", c->name))
                diag("  error %d %s", req.error_status, req.error ? req.error : "");
        } else {
            ok(rc < 0 && rc != GW_EAGAIN, "request: %s fails", c->name);
            is_int(req.error_status, c->status, "request: %s answers %d", c->name, c->status);
        }
        /* incremental: every prefix is EAGAIN or the same error */
        bool same = true;
        for (size_t n = 0; n < c->len; n++) {
            struct gw_h1_request r2;
            int rc2 = parse_req(c->raw, n, &r2, h, GW_ARRAY_LEN(h), NULL);
            if (rc2 == GW_EAGAIN)
                continue;
            if (rc2 != rc || r2.error_status != req.error_status) {
                same = false;
                diag("  prefix %zu: rc %d status %d", n, rc2, r2.error_status);
            }
            break;
        }
        ok(same, "request: %s prefixes agree", c->name);
    }
}

static void
test_request_fields(void)
{
    struct gw_h1_header h[16];
    struct gw_h1_request req;
    static const char get[] = "GET /p?q=1 HTTP/1.1\r\nHost: h.test\r\nUser-Agent: t \r\n"
                              "Connection: keep-alive, Upgrade, X-Hop\r\nUpgrade: websocket\r\n"
                              "Expect: 100-Continue\r\nTE: trailers\r\nX-Hop: 1\r\n\r\nNEXT";
    int rc = parse_req(get, sizeof(get) - 1, &req, h, GW_ARRAY_LEN(h), NULL);
    is_int(rc, (long long)sizeof(get) - 1 - 4, "fields: consumed up to the body");
    ok(gw_str_eq_cstr(req.method, "GET") && req.method_id == GW_H1_METHOD_GET, "method");
    ok(gw_str_eq_cstr(req.target, "/p?q=1") && gw_str_eq_cstr(req.path, "/p?q=1"), "target");
    ok(req.form == GW_H1_FORM_ORIGIN && req.minor_version == 1, "form and version");
    ok(gw_str_eq_cstr(req.host, "h.test") && gw_str_eq_cstr(req.authority, "h.test"), "host");
    is_int((long long)req.nheaders, 7, "7 headers");
    ok(gw_str_eq_cstr(h[1].value, "t"), "trailing OWS trimmed");
    ok(req.body == GW_H1_BODY_NONE && req.keep_alive, "no body, keep-alive");
    ok(req.connection == (GW_H1_CONN_KEEP_ALIVE | GW_H1_CONN_UPGRADE | GW_H1_CONN_OTHER),
       "connection tokens");
    ok(gw_str_eq_cstr(req.upgrade, "websocket"), "upgrade token");
    ok(req.expect_continue, "expect 100-continue (case-insensitive)");
    ok(gw_str_eq_cstr(req.te, "trailers"), "TE value");
    ok(gw_h1_headers_is_hop_by_hop(h, req.nheaders, GW_STR("x-hop")), "listed token is hop");
    ok(gw_h1_headers_is_hop_by_hop(h, req.nheaders, GW_STR("Keep-Alive")), "fixed hop");
    ok(!gw_h1_headers_is_hop_by_hop(h, req.nheaders, GW_STR("User-Agent")), "end-to-end");

    static const char abs[] = "GET http://Evil.test:81?x HTTP/1.1\r\nHost: h.test\r\n\r\n";
    rc = parse_req(abs, sizeof(abs) - 1, &req, h, GW_ARRAY_LEN(h), NULL);
    ok(rc > 0 && req.form == GW_H1_FORM_ABSOLUTE, "absolute-form parses");
    ok(gw_str_eq_cstr(req.authority, "Evil.test:81") && gw_str_eq_cstr(req.path, "?x"),
       "absolute-form authority and path");

    static const char c10[] = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    rc = parse_req(c10, sizeof(c10) - 1, &req, h, GW_ARRAY_LEN(h), NULL);
    ok(rc > 0 && req.keep_alive && req.minor_version == 0, "1.0 keep-alive");
    static const char c10b[] = "GET / HTTP/1.0\r\n\r\n";
    rc = parse_req(c10b, sizeof(c10b) - 1, &req, h, GW_ARRAY_LEN(h), NULL);
    ok(rc > 0 && !req.keep_alive, "1.0 closes by default");
    static const char cl[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    rc = parse_req(cl, sizeof(cl) - 1, &req, h, GW_ARRAY_LEN(h), NULL);
    ok(rc > 0 && !req.keep_alive && (req.connection & GW_H1_CONN_CLOSE), "close");
    static const char ch[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    rc = parse_req(ch, sizeof(ch) - 1, &req, h, GW_ARRAY_LEN(h), NULL);
    ok(rc > 0 && req.body == GW_H1_BODY_CHUNKED, "chunked body");
    static const char len[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0042\r\n\r\n";
    rc = parse_req(len, sizeof(len) - 1, &req, h, GW_ARRAY_LEN(h), NULL);
    ok(rc > 0 && req.body == GW_H1_BODY_LENGTH && req.content_length == 42, "length body");
}

static void
test_request_limits(void)
{
    struct gw_h1_header h[4];
    struct gw_h1_request req;
    struct gw_h1_limits lim = GW_H1_LIMITS_DEFAULT;
    lim.max_request_line = 32;
    lim.max_head_bytes = 128;

    static const char longt[] = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n";
    int rc = parse_req(longt, sizeof(longt) - 1, &req, h, GW_ARRAY_LEN(h), &lim);
    ok(rc == GW_ELIMIT && req.error_status == 414, "long request line is 414");
    rc = parse_req(longt, 40, &req, h, GW_ARRAY_LEN(h), &lim);
    ok(rc == GW_ELIMIT && req.error_status == 414, "414 noticed before the line ends");
    rc = parse_req(longt, 30, &req, h, GW_ARRAY_LEN(h), &lim);
    is_int(rc, GW_EAGAIN, "short prefix is EAGAIN");
    /* exactly max_request_line bytes, fed whole and in every prefix */
    static const char exact[] = "GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n";
    bool agree = true;
    for (size_t n = 0; n < sizeof(exact) - 1; n++)
        agree = agree && parse_req(exact, n, &req, h, GW_ARRAY_LEN(h), &lim) == GW_EAGAIN;
    ok(agree, "a line of exactly the limit: every prefix is EAGAIN");
    is_int(parse_req(exact, sizeof(exact) - 1, &req, h, GW_ARRAY_LEN(h), &lim),
           (long long)sizeof(exact) - 1, "a line of exactly the limit parses");
    /* an error past the limit is still 414, as its prefixes say */
    static const char late[] = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x01 HTTP/1.1\r\n";
    rc = parse_req(late, sizeof(late) - 1, &req, h, GW_ARRAY_LEN(h), &lim);
    ok(rc == GW_ELIMIT && req.error_status == 414, "bad byte past the limit is 414");

    static const char many[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    rc = parse_req(many, sizeof(many) - 1, &req, h, GW_ARRAY_LEN(h), &lim);
    ok(rc == GW_ELIMIT && req.error_status == 431, "more fields than the array is 431");
    lim.max_header_count = 2;
    rc = parse_req(many, sizeof(many) - 1, &req, h, GW_ARRAY_LEN(h), &lim);
    ok(rc == GW_ELIMIT && req.error_status == 431, "more fields than the limit is 431");
    is_int((long long)req.nheaders, 2, "fields parsed before the limit are kept");

    char big[400];
    size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'v', sizeof(big) - n);
    rc = parse_req(big, sizeof(big), &req, h, GW_ARRAY_LEN(h), &lim);
    ok(rc == GW_ELIMIT && req.error_status == 431, "head past max_head_bytes is 431");

    struct gw_h1_limits lax = GW_H1_LIMITS_DEFAULT;
    lax.allow_underscore_names = true;
    lax.max_empty_lines = 3;
    static const char us[] = "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n";
    rc = parse_req(us, sizeof(us) - 1, &req, h, GW_ARRAY_LEN(h), &lax);
    is_int(rc, (long long)sizeof(us) - 1, "underscores and 3 empty lines when allowed");
}

static void
test_pipelined(void)
{
    static const char two[] = "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                              "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                              "GET /3 HTTP/1.1\r\nHost: a\r\n\r\nGET /4 HT";
    struct gw_h1_header h[8];
    struct gw_h1_request req;
    size_t off = 0;
    int rc = parse_req(two + off, sizeof(two) - 1, &req, h, 8, NULL);
    ok(rc > 0 && gw_str_eq_cstr(req.path, "/1") && req.content_length == 3, "first");
    off += (size_t)rc + req.content_length;
    rc = parse_req(two + off, sizeof(two) - 1 - off, &req, h, 8, NULL);
    ok(rc > 0 && gw_str_eq_cstr(req.path, "/2"), "second");
    off += (size_t)rc;
    rc = parse_req(two + off, sizeof(two) - 1 - off, &req, h, 8, NULL);
    ok(rc > 0 && gw_str_eq_cstr(req.path, "/3"), "third");
    off += (size_t)rc;
    rc = parse_req(two + off, sizeof(two) - 1 - off, &req, h, 8, NULL);
    is_int(rc, GW_EAGAIN, "fourth is incomplete");

    const char *b = "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n";
    size_t blen = strlen(b), last = 0;
    int ready = 0;
    for (size_t i = 1; i <= blen; i++) {
        if (gw_h1_head_is_ready(b, i, last))
            ready++;
        last = i;
    }
    is_int(ready, 1, "head_is_ready fires once, at the end");
    ok(gw_h1_head_is_ready("GET /\n\n", 7, 0), "head_is_ready sees bare-LF ends");
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

struct resp_case {
    const char *name;
    const char *raw;
    size_t len;
    enum gw_h1_method method;
    int status; /* expected status code, or -1 for an error */
    enum gw_h1_body body;
    uint64_t length;
    bool keep_alive;
};

static const struct resp_case resp_cases[] = {
    {"200 CL", S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"), GW_H1_METHOD_GET, 200,
     GW_H1_BODY_LENGTH, 2, true},
    {"200 chunked", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), GW_H1_METHOD_GET,
     200, GW_H1_BODY_CHUNKED, 0, true},
    {"200 close-delimited", S("HTTP/1.1 200 OK\r\n\r\n"), GW_H1_METHOD_GET, 200, GW_H1_BODY_CLOSE,
     0, false},
    {"HEAD", S("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), GW_H1_METHOD_HEAD, 200,
     GW_H1_BODY_NONE, 0, true},
    {"204", S("HTTP/1.1 204 No Content\r\n\r\n"), GW_H1_METHOD_GET, 204, GW_H1_BODY_NONE, 0, true},
    {"304", S("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"), GW_H1_METHOD_GET, 304,
     GW_H1_BODY_NONE, 0, true},
    {"100", S("HTTP/1.1 100 Continue\r\n\r\n"), GW_H1_METHOD_POST, 100, GW_H1_BODY_NONE, 0, true},
    {"101", S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), GW_H1_METHOD_GET,
     101, GW_H1_BODY_TUNNEL, 0, false},
    {"CONNECT 200", S("HTTP/1.1 200 OK\r\n\r\n"), GW_H1_METHOD_CONNECT, 200, GW_H1_BODY_TUNNEL, 0,
     false},
    {"no reason", S("HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"), GW_H1_METHOD_GET, 599,
     GW_H1_BODY_LENGTH, 0, true},
    {"no SP no reason", S("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), GW_H1_METHOD_GET, 200,
     GW_H1_BODY_LENGTH, 0, true},
    {"1.0 close", S("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"), GW_H1_METHOD_GET, 200,
     GW_H1_BODY_LENGTH, 1, false},
    {"CL identical dup", S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"),
     GW_H1_METHOD_GET, 200, GW_H1_BODY_LENGTH, 3, true},
    {"CL list same", S("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n"), GW_H1_METHOD_GET, 200,
     GW_H1_BODY_LENGTH, 3, true},
    {"TE gzip only", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), GW_H1_METHOD_GET, 200,
     GW_H1_BODY_CLOSE, 0, false},
    {"underscore name ok", S("HTTP/1.1 200 OK\r\nX_Y: 1\r\nContent-Length: 0\r\n\r\n"),
     GW_H1_METHOD_GET, 200, GW_H1_BODY_LENGTH, 0, true},
    {"CL differs", S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
     GW_H1_METHOD_GET, -1, 0, 0, false},
    {"CL+TE", S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
     GW_H1_METHOD_GET, -1, 0, 0, false},
    {"TE in 1.0", S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), GW_H1_METHOD_GET, -1,
     0, 0, false},
    {"status 099", S("HTTP/1.1 099 X\r\n\r\n"), GW_H1_METHOD_GET, -1, 0, 0, false},
    {"status 2 digits", S("HTTP/1.1 20 X\r\n\r\n"), GW_H1_METHOD_GET, -1, 0, 0, false},
    {"status 4 digits", S("HTTP/1.1 2000 X\r\n\r\n"), GW_H1_METHOD_GET, -1, 0, 0, false},
    {"bare LF", S("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), GW_H1_METHOD_GET, -1, 0, 0, false},
    {"obs-fold", S("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), GW_H1_METHOD_GET, -1, 0, 0, false},
    {"HTTP/2", S("HTTP/2.0 200 OK\r\n\r\n"), GW_H1_METHOD_GET, -1, 0, 0, false},
};

static void
test_response_table(void)
{
    struct gw_h1_header h[16];
    for (size_t i = 0; i < GW_ARRAY_LEN(resp_cases); i++) {
        const struct resp_case *c = &resp_cases[i];
        struct gw_h1_response res = {.headers = h, .max_headers = GW_ARRAY_LEN(h)};
        int rc = gw_h1_response_parse(c->raw, c->len, &res, NULL, c->method);
        if (c->status < 0) {
            ok(rc < 0 && rc != GW_EAGAIN && res.error_status == 502, "response: %s is 502",
               c->name);
        } else {
            bool good = rc == (int)c->len && res.status == c->status && res.body == c->body &&
                        res.content_length == c->length && res.keep_alive == c->keep_alive;
            ok(good, "response: %s", c->name);
            if (!good)
                diag("  rc %d status %d body %d len %llu ka %d err %s", rc, res.status,
                     (int)res.body, (unsigned long long)res.content_length, res.keep_alive,
                     res.error ? res.error : "");
        }
        bool same = true;
        for (size_t n = 0; n < c->len; n++) {
            struct gw_h1_response r2 = {.headers = h, .max_headers = GW_ARRAY_LEN(h)};
            int rc2 = gw_h1_response_parse(c->raw, n, &r2, NULL, c->method);
            if (rc2 == GW_EAGAIN)
                continue;
            same = rc2 == rc;
            break;
        }
        ok(same, "response: %s prefixes agree", c->name);
    }
    struct gw_h1_response res = {.headers = h, .max_headers = GW_ARRAY_LEN(h)};
    static const char r[] = "HTTP/1.1 404 Not Found\r\n\r\n";
    gw_h1_response_parse(r, sizeof(r) - 1, &res, NULL, GW_H1_METHOD_GET);
    ok(gw_str_eq_cstr(res.reason, "Not Found"), "reason phrase");
}

/* ------------------------------------------------------------------------ */
/* Chunked                                                                  */

/* Decodes in, delivered in pieces of at most step bytes (a caller that
 * keeps unconsumed bytes). Returns the final rc; body and trailers are
 * appended to out as "body|name=value|...". */
static int
decode_all(const char *in, size_t len, size_t step, struct gw_buf *out, size_t *used_total,
           const struct gw_h1_limits *lim)
{
    struct gw_h1_chunked c;
    gw_h1_chunked_init(&c, lim);
    size_t off = 0, have = GW_MIN(step, len);
    for (;;) {
        size_t used;
        struct gw_str d;
        int rc = gw_h1_chunked_decode(&c, in + off, have - off, &used, &d);
        gw_buf_append(out, d.p, d.len);
        off += used;
        if (rc == GW_H1_CHUNKED_TRAILER) {
            gw_buf_appendf(out, "|" GW_STR_FMT "=" GW_STR_FMT, GW_STR_ARG(c.trailer.name),
                           GW_STR_ARG(c.trailer.value));
            continue;
        }
        if (rc == GW_H1_CHUNKED_DONE || (rc < 0 && rc != GW_EAGAIN)) {
            *used_total = off;
            return rc;
        }
        if (rc == GW_EAGAIN) {
            if (have == len) {
                *used_total = off;
                return rc;
            }
            have = GW_MIN(have + step, len);
        }
    }
}

struct chunk_case {
    const char *name;
    const char *raw;
    size_t len;
    int rc;
    const char *out;
};

static const struct chunk_case chunk_cases[] = {
    {"simple", S("5\r\nhello\r\n0\r\n\r\n"), GW_H1_CHUNKED_DONE, "hello"},
    {"two chunks", S("3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"), GW_H1_CHUNKED_DONE, "hello"},
    {"hex upper and lower", S("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"),
     GW_H1_CHUNKED_DONE, "01234567890123456789"},
    {"extension", S("5;name=value\r\nhello\r\n0;x\r\n\r\n"), GW_H1_CHUNKED_DONE, "hello"},
    {"quoted extension", S("5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n"), GW_H1_CHUNKED_DONE, "hello"},
    {"BWS before ;", S("5 ;a\r\nhello\r\n0\r\n\r\n"), GW_H1_CHUNKED_DONE, "hello"},
    {"trailers", S("5\r\nhello\r\n0\r\nX-T: a \r\nY:b\r\n\r\n"), GW_H1_CHUNKED_DONE,
     "hello|X-T=a|Y=b"},
    {"leading zeros", S("0005\r\nhello\r\n0000\r\n\r\n"), GW_H1_CHUNKED_DONE, "hello"},
    {"16 digits", S("0000000000000005\r\nhello\r\n0\r\n\r\n"), GW_H1_CHUNKED_DONE, "hello"},
    {"17 digits", S("00000000000000005\r\nhello\r\n0\r\n\r\n"), GW_ELIMIT, ""},
    {"not hex", S("Z\r\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"0x prefix", S("0x5\r\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"leading space", S(" 5\r\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"negative", S("-5\r\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"empty size", S("\r\n\r\n"), GW_EPARSE, ""},
    {"space then junk", S("5 x\r\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"bare LF after size", S("5\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"bare LF after data", S("5\r\nhello\n0\r\n\r\n"), GW_EPARSE, "hello"},
    {"data overrun", S("5\r\nhelloXX\r\n0\r\n\r\n"), GW_EPARSE, "hello"},
    {"bare CR in size line", S("5\r\r;a\r\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"control in extension", S("5;a\x01\r\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"bare LF in extension", S("5;a\nhello\r\n0\r\n\r\n"), GW_EPARSE, ""},
    {"trailer without colon", S("5\r\nhello\r\n0\r\nbad trailer\r\n\r\n"), GW_EPARSE, "hello"},
    {"trailer obs-fold", S("0\r\nA: b\r\n c\r\n\r\n"), GW_EPARSE, "|A=b"},
    {"trailer bare LF", S("0\r\nA: b\n\r\n"), GW_EPARSE, ""},
    {"trailer bad value", S("0\r\nA: b\x00\r\n\r\n"), GW_EPARSE, ""},
    {"end CR junk", S("0\r\n\rX"), GW_EPARSE, ""},
    {"incomplete", S("5\r\nhel"), GW_EAGAIN, "hel"},
    {"incomplete trailer", S("0\r\nX: y"), GW_EAGAIN, ""},
};

static void
test_chunked(void)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(chunk_cases); i++) {
        const struct chunk_case *c = &chunk_cases[i];
        bool all_same = true;
        for (size_t step = c->len; step >= 1; step--) {
            struct gw_buf out;
            size_t used;
            gw_buf_init(&out, 4096);
            int rc = decode_all(c->raw, c->len, step, &out, &used, NULL);
            bool good = rc == c->rc && strcmp(out.p ? out.p : "", c->out) == 0;
            if (rc == GW_H1_CHUNKED_DONE)
                good = good && used == c->len;
            if (!good) {
                diag("  step %zu: rc %d out '%s'", step, rc, out.p ? out.p : "");
                all_same = false;
            }
            gw_buf_release(&out);
            if (!good)
                break;
        }
        ok(all_same, "chunked: %s, in pieces of every size", c->name);
    }

    /* split at every byte boundary into exactly two pieces */
    static const char body[] = "4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
                               "0\r\nT: v\r\n\r\nGET /next";
    size_t blen = sizeof(body) - 1 - 9;
    bool good = true;
    for (size_t cut = 0; cut <= blen; cut++) {
        struct gw_h1_chunked c;
        struct gw_buf out;
        gw_buf_init(&out, 4096);
        gw_h1_chunked_init(&c, NULL);
        size_t off = 0, have = cut, used;
        struct gw_str d;
        int rc;
        for (;;) {
            rc = gw_h1_chunked_decode(&c, body + off, have - off, &used, &d);
            gw_buf_append(&out, d.p, d.len);
            off += used;
            if (rc == GW_EAGAIN && have != sizeof(body) - 1) {
                have = sizeof(body) - 1;
                continue;
            }
            if (rc == GW_H1_CHUNKED_MORE || rc == GW_H1_CHUNKED_TRAILER)
                continue;
            break;
        }
        if (rc != GW_H1_CHUNKED_DONE || off != blen || c.total != 23 ||
            strcmp(out.p, "Wikipedia in\r\n\r\nchunks.") != 0) {
            diag("  cut %zu: rc %d off %zu", cut, rc, off);
            good = false;
        }
        gw_buf_release(&out);
    }
    ok(good, "chunked: split in two at every byte boundary, stops before the next request");

    /* limits */
    struct gw_h1_limits lim = GW_H1_LIMITS_DEFAULT;
    lim.max_chunk_ext = 8;
    lim.max_trailer_bytes = 10;
    struct gw_buf out;
    size_t used;
    gw_buf_init(&out, 4096);
    is_int(decode_all(S("1;abcdefgh\r\nx\r\n0\r\n\r\n"), 100, &out, &used, &lim),
           GW_H1_CHUNKED_DONE, "extension at the limit");
    is_int(decode_all(S("1;abcdefghi\r\nx\r\n0\r\n\r\n"), 100, &out, &used, &lim), GW_ELIMIT,
           "extension past the limit");
    is_int(decode_all(S("0\r\nA: 12345\r\n\r\n"), 100, &out, &used, &lim), GW_H1_CHUNKED_DONE,
           "trailer at the limit");
    is_int(decode_all(S("0\r\nA: 123456\r\n\r\n"), 100, &out, &used, &lim), GW_ELIMIT,
           "trailer past the limit");
    is_int(decode_all(S("0\r\nA: 12345678"), 100, &out, &used, &lim), GW_ELIMIT,
           "incomplete trailer past the limit");
    gw_buf_release(&out);

    struct gw_h1_chunked c;
    struct gw_str d;
    gw_h1_chunked_init(&c, NULL);
    is_int(gw_h1_chunked_decode(&c, S("Z"), &used, &d), GW_EPARSE, "error");
    is_int(gw_h1_chunked_decode(&c, S("5\r\n"), &used, &d), GW_EPARSE, "stays failed");
    ok(c.error != NULL, "error reason set");

    char hdr[GW_H1_CHUNK_HEADER_MAX];
    size_t n = gw_h1_chunk_header_format(hdr, 0);
    ok(n == 3 && memcmp(hdr, "0\r\n", 3) == 0, "format 0");
    n = gw_h1_chunk_header_format(hdr, 0x1a2f);
    ok(n == 6 && memcmp(hdr, "1a2f\r\n", 6) == 0, "format 0x1a2f");
    n = gw_h1_chunk_header_format(hdr, UINT64_MAX);
    ok(n == 18 && memcmp(hdr, "ffffffffffffffff\r\n", 18) == 0, "format max");
}

/* ------------------------------------------------------------------------ */
/* Utilities                                                                */

static void
test_utils(void)
{
    struct {
        const char *in, *want;
    } canon[] = {
        {"x-header-add", "X-Header-Add"},
        {"CONTENT-TYPE", "Content-Type"},
        {"content-md5", "Content-Md5"},
        {"x--a", "X--A"},
        {"-x", "-X"},
        {"host", "Host"},
        {"x_y", "X_y"},
        {"bad name", "bad name"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(canon); i++) {
        char out[32] = {0};
        gw_h1_name_canonical(gw_str_from(canon[i].in), out);
        is_str(out, canon[i].want, "canonical %s", canon[i].in);
    }

    struct gw_str rest = GW_STR(" a ,, b;q=1,\t\"c,d\" ,"), item;
    const char *want[] = {"a", "b;q=1", "\"c,d\""};
    size_t n = 0;
    bool good = true;
    while (gw_h1_list_next(&rest, &item)) {
        good = good && n < 3 && gw_str_eq_cstr(item, want[n]);
        n++;
    }
    ok(good && n == 3, "list_next splits, trims, skips empties, respects quotes");
    ok(gw_h1_list_has(GW_STR("keep-alive, Upgrade"), GW_STR("upgrade")), "list_has");
    ok(!gw_h1_list_has(GW_STR("keep-alive, Upgraded"), GW_STR("upgrade")), "list_has exact");
    ok(gw_h1_is_token(GW_STR("abc!#$")) && !gw_h1_is_token(GW_STR("a b")) &&
           !gw_h1_is_token(GW_STR_NULL),
       "is_token");

    struct gw_h1_header h[] = {
        {GW_STR("A"), GW_STR("1")}, {GW_STR("b"), GW_STR("2")}, {GW_STR("a"), GW_STR("3")}};
    is_int((long long)gw_h1_headers_find(h, 3, 0, GW_STR("a")), 0, "find first");
    is_int((long long)gw_h1_headers_find(h, 3, 1, GW_STR("A")), 2, "find next");
    is_int((long long)gw_h1_headers_find(h, 3, 0, GW_STR("c")), 3, "find none");

    is_str(gw_h1_status_reason(200), "OK", "reason 200");
    is_str(gw_h1_status_reason(431), "Request Header Fields Too Large", "reason 431");
    is_str(gw_h1_status_reason(599), "", "reason unknown");
    ok(gw_h1_method_from(GW_STR("DELETE")) == GW_H1_METHOD_DELETE, "method DELETE");
    ok(gw_h1_method_from(GW_STR("get")) == GW_H1_METHOD_OTHER, "methods are case-sensitive");
}

/* The byte classes against the grammars they come from, and the SWAR
 * helpers against the classes, for every byte at every lane. */
static void
test_classes(void)
{
    bool good = true;
    for (unsigned c = 0; c < 256; c++) {
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'), digit = c >= '0' && c <= '9';
        bool tchar = alpha || digit || (c && strchr("!#$%&'*+-.^_`|~", (int)c));
        bool value = (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t';
        bool unreserved = alpha || digit || (c && strchr("-._~", (int)c));
        bool subdelim = c && strchr("!$&'()*+,;=", (int)c);
        bool path = unreserved || subdelim || (c && strchr("%:@/?", (int)c));
        bool host = unreserved || (subdelim && c != ',') || (c && strchr("%:[]", (int)c));
        unsigned want = (tchar ? H1_TCHAR : 0) | (value ? H1_VALUE : 0) | (path ? H1_PATH : 0) |
                        (host ? H1_HOST : 0) | (c && strchr("%[]", (int)c) ? H1_CHECK : 0) |
                        (c == '_' ? H1_UNDER : 0) |
                        (host && c != ':' && c != '[' && c != ']' ? H1_REG : 0);
        if (gw_h1_class[c] != want) {
            good = false;
            diag("  byte 0x%02x: class %u, grammar %u", c, gw_h1_class[c], want);
        }
        bool name = alpha || digit || c == '-';
        for (unsigned lane = 0; lane < 8; lane++) {
            char w[8];
            memset(w, 'a', sizeof(w));
            w[lane] = (char)c;
            uint64_t m = h1_swar_not_name(h1_load8(w));
            uint64_t want_m = name ? 0 : 0x80ull << (8 * lane);
            if (m != want_m) {
                good = false;
                diag("  byte 0x%02x lane %u: mask %llx", c, lane, (unsigned long long)m);
            }
        }
    }
    ok(good, "byte classes match the grammars; the SWAR name test matches them");

    /* h1_word_eq against the byte-wise compare, on names and values */
    static const char *const lits[] = {"te",      "host",           "expect",
                                       "upgrade", "connection",     "keep-alive",
                                       "close",   "content-length", "transfer-encoding"};
    static const char alphabet[] = "aAzZ-_.09\r\x0d\x10\x8d\xc5 !HOSTostEeCcnNkK";
    unsigned seed = 11;
    good = true;
    for (size_t k = 0; k < GW_ARRAY_LEN(lits); k++) {
        size_t n = strlen(lits[k]);
        for (int trial = 0; trial < 4000; trial++) {
            char buf[32];
            memcpy(buf, lits[k], n);
            for (size_t j = 0; j < n; j++) {
                seed = seed * 1103515245u + 12345u;
                unsigned r = (seed >> 16) % 8;
                if (r == 0)
                    buf[j] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
                else if (r == 1 && buf[j] >= 'a' && buf[j] <= 'z')
                    buf[j] = (char)(buf[j] - 'a' + 'A');
            }
            struct gw_str sv = {buf, n};
            bool valid = true;
            for (size_t j = 0; j < n; j++)
                valid = valid && h1_is((unsigned char)buf[j], H1_VALUE);
            if (valid && h1_word_eq(sv, lits[k], n) != h1_lower_eq(sv, lits[k], n)) {
                good = false;
                diag("  %s vs %.*s", lits[k], (int)n, buf);
            }
        }
    }
    ok(good, "word-wide compare agrees with the byte-wise one on field bytes");
}

/* Accept-Encoding weights: qvalues, identity, "*" and malformed elements. */
static void
test_accept_encoding(void)
{
    static const struct {
        const char *v;
        int rc;
        int w[4]; /* identity, gzip, br, zstd */
    } t[] = {
        {"", 0, {1000, 0, 0, 0}},
        {"gzip, deflate, br, zstd", 0, {1000, 1000, 1000, 1000}},
        {"br;q=1.0, gzip;q=0.8, *;q=0.1", 0, {100, 800, 1000, 100}},
        {"X-GZIP;Q=0.005", 0, {1000, 5, 0, 0}},
        {"gzip;q=0", 0, {1000, 0, 0, 0}},
        {"identity;q=0, *;q=0", 0, {0, 0, 0, 0}},
        {"*;q=0", 0, {0, 0, 0, 0}},
        {"*", 0, {1000, 1000, 1000, 1000}},
        {"zstd ; foo=bar ; q=0.5", 0, {1000, 0, 0, 500}},
        {"gzip;q=1.001, br", GW_EINVAL, {1000, 0, 1000, 0}},
        {"gzip;q=0.1234, zstd;q=2", GW_EINVAL, {1000, 0, 0, 0}},
        {"gzip;q=.5", GW_EINVAL, {1000, 0, 0, 0}},
        {"g zip, br;q=0.3", GW_EINVAL, {1000, 0, 300, 0}},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(t); i++) {
        struct gw_h1_accept a;
        gw_h1_accept_init(&a);
        int rc = gw_h1_accept_encoding_parse(gw_str_from(t[i].v), &a);
        is_int(rc, t[i].rc, "accept-encoding '%s': rc", t[i].v);
        for (int c = 0; c < 4; c++)
            is_int(gw_h1_accept_weight(&a, (enum gw_h1_coding)c), t[i].w[c],
                   "accept-encoding '%s': weight of coding %d", t[i].v, c);
    }
    struct gw_h1_accept a;
    gw_h1_accept_init(&a);
    gw_h1_accept_encoding_parse(GW_STR("gzip;q=0.2"), &a);
    gw_h1_accept_encoding_parse(GW_STR("br"), &a);
    ok(gw_h1_accept_weight(&a, GW_H1_CODING_GZIP) == 200 &&
           gw_h1_accept_weight(&a, GW_H1_CODING_BR) == 1000,
       "accept-encoding: two field lines add up");
    is_int(gw_h1_accept_weight(&a, GW_H1_CODING_ANY), 0, "accept-encoding: no weight for *");
}

int
main(void)
{
    test_classes();
    test_request_table();
    test_request_fields();
    test_request_limits();
    test_pipelined();
    test_response_table();
    test_chunked();
    test_utils();
    test_accept_encoding();
    return done_testing();
}
