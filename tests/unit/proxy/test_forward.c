/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy forward.c: the upstream request head (hop-by-hop removal, Host,
 * X-Forwarded-*, header modifiers, framing), the response framing decision,
 * the client response head and the field classes the codecs share.
 */
#include <string.h>

#include "proxy/internal.h"
#include "tap.h"

#include "base/banned.h"

static struct gw_h1_header hdrs[PX_MAX_HEADERS];

static int
parse_req(const char *raw, struct gw_h1_request *req)
{
    *req = (struct gw_h1_request){.headers = hdrs, .max_headers = PX_MAX_HEADERS};
    return gw_h1_request_parse(raw, strlen(raw), req, NULL);
}

static char *
head(struct px_buf *b)
{
    px_buf_append(b, "", 1);
    return b->p + b->off;
}

static void
test_request_basic(void)
{
    struct gw_h1_request req;
    const char *raw = "POST /a?x=1 HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, X-Drop\r\n"
                      "X-Drop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\n"
                      "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n"
                      "X-Forwarded-Proto: https\r\nUser-Agent: t\r\nContent-Length: 005\r\n"
                      "Expect: 100-continue\r\n\r\nhello";
    ok(parse_req(raw, &req) > 0, "parsed");
    struct px_buf b;
    px_buf_init(&b, 65536);
    struct px_req_out ro = {.req = &req,
                            .path = GW_STR("/a?x=1"),
                            .host = req.authority,
                            .client_ip = GW_STR("10.0.0.9"),
                            .strip_expect = true};
    is_int(px_request_head_format(&ro, &b), 0, "formatted");
    is_str(head(&b),
           "POST /a?x=1 HTTP/1.1\r\nHost: h.test\r\nUser-Agent: t\r\n"
           "X-Forwarded-For: 1.2.3.4, 5.6.7.8, 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
           "X-Forwarded-Host: h.test\r\nContent-Length: 5\r\n\r\n",
           "hop-by-hop gone, XFF appended, CL canonical");
    px_buf_release(&b);
}

static void
test_request_mods(void)
{
    struct gw_h1_request req;
    const char *raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Keep: a\r\nX-Set: old\r\nX-Set: old2\r\n"
                      "x-remove: r\r\nTransfer-Encoding: chunked\r\n\r\n";
    ok(parse_req(raw, &req) > 0, "parsed chunked GET");
    struct gw_ir_header set = {"X-Set", "new"}, add = {"X-Add", "v"}, add2 = {"X-Keep", "b"};
    const char *rm = "X-Remove";
    struct gw_ir_header_mod m1 = {.set = &set, .nset = 1, .add = &add, .nadd = 1};
    struct gw_ir_header_mod m2 = {.add = &add2, .nadd = 1, .remove = &rm, .nremove = 1};
    struct px_buf b;
    px_buf_init(&b, 65536);
    struct px_req_out ro = {.req = &req,
                            .path = GW_STR("/new"),
                            .host = GW_STR("rewritten"),
                            .client_ip = GW_STR("::1"),
                            .tls = true,
                            .mods = {&m1, &m2}};
    is_int(px_request_head_format(&ro, &b), 0, "formatted");
    is_str(head(&b),
           "GET /new HTTP/1.1\r\nHost: rewritten\r\nX-Keep: a\r\nX-Set: new\r\nX-Add: v\r\n"
           "X-Keep: b\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: https\r\n"
           "X-Forwarded-Host: h\r\nTransfer-Encoding: chunked\r\n\r\n",
           "set replaces all, add appends, remove drops, chunked kept");
    px_buf_release(&b);

    /* route's gw_route_headers_apply is what runs here: set takes the place
     * of the first line with the name, rule modifier then backend's. */
    raw = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-set: old\r\nX-B: 2\r\nX-Set: old2\r\n\r\n";
    ok(parse_req(raw, &req) > 0, "parsed");
    struct gw_ir_header set2 = {"X-Set", "backend"};
    struct gw_ir_header_mod m3 = {.set = &set, .nset = 1}, m4 = {.set = &set2, .nset = 1};
    px_buf_init(&b, 65536);
    ro = (struct px_req_out){.req = &req,
                             .path = GW_STR("/"),
                             .host = GW_STR("h"),
                             .client_ip = GW_STR("::1"),
                             .mods = {&m3, &m4}};
    is_int(px_request_head_format(&ro, &b), 0, "formatted");
    is_str(head(&b),
           "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-Set: backend\r\nX-B: 2\r\n"
           "X-Forwarded-For: ::1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n",
           "set in place, the backend's modifier after the rule's");
    px_buf_release(&b);
}

static void
test_request_upgrade(void)
{
    struct gw_h1_request req;
    const char *raw = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                      "Sec-WebSocket-Key: k\r\nHTTP2-Settings: x\r\n\r\n";
    ok(parse_req(raw, &req) > 0, "parsed upgrade");
    struct px_buf b;
    px_buf_init(&b, 65536);
    struct px_req_out ro = {.req = &req,
                            .path = GW_STR("/ws"),
                            .host = req.authority,
                            .client_ip = GW_STR("1.1.1.1"),
                            .upgrade = true};
    px_request_head_format(&ro, &b);
    is_str(head(&b),
           "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nX-Forwarded-For: 1.1.1.1\r\n"
           "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: upgrade\r\n"
           "Upgrade: websocket\r\n\r\n",
           "upgrade forwarded only when tunnelling");
    px_buf_consume(&b, px_buf_avail(&b));
    ro.upgrade = false;
    px_request_head_format(&ro, &b);
    ok(strstr(head(&b), "pgrade") == NULL, "no Upgrade otherwise");
    px_buf_release(&b);
}

static void
test_decide(void)
{
    struct gw_h1_response res = {0};
    res.body = GW_H1_BODY_LENGTH;
    struct px_rdecision d = px_response_decide(&res, 1, true);
    ok(d.frame == PX_RF_LENGTH && !d.client_close, "length, keep-alive");
    res.body = GW_H1_BODY_CLOSE;
    d = px_response_decide(&res, 1, true);
    ok(d.frame == PX_RF_RECHUNK && !d.client_close, "close-delimited -> chunked for 1.1");
    d = px_response_decide(&res, 0, true);
    ok(d.frame == PX_RF_CLOSE && d.client_close, "close-delimited -> close for 1.0");
    res.body = GW_H1_BODY_CHUNKED;
    d = px_response_decide(&res, 0, true);
    ok(d.frame == PX_RF_CLOSE && d.client_close, "chunked -> close for 1.0");
    d = px_response_decide(&res, 1, false);
    ok(d.frame == PX_RF_CHUNKED && d.client_close, "chunked, client asked close");
    res.body = GW_H1_BODY_NONE;
    d = px_response_decide(&res, 1, true);
    ok(d.frame == PX_RF_NONE && !d.client_close, "no body");
}

static void
test_response_head(void)
{
    const char *raw = "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nServer: s\r\n"
                      "Content-Length: 2\r\nKeep-Alive: t\r\nX-Remove: 1\r\n\r\nok";
    struct gw_h1_response res = {.headers = hdrs, .max_headers = PX_MAX_HEADERS};
    ok(gw_h1_response_parse(raw, strlen(raw), &res, NULL, GW_H1_METHOD_GET) > 0, "parsed");
    const char *rm = "x-remove";
    struct gw_ir_header set = {"X-Header-Set", "v"};
    struct gw_ir_header_mod m = {.set = &set, .nset = 1, .remove = &rm, .nremove = 1};
    struct px_buf b;
    px_buf_init(&b, 65536);
    struct px_rsp_out ro = {.res = &res,
                            .d = px_response_decide(&res, 1, true),
                            .client_minor = 1,
                            .mods = {&m, NULL},
                            .extra = GW_STR("Access-Control-Allow-Origin: *\r\n")};
    is_int(px_response_head_format(&ro, &b), 0, "formatted");
    is_str(head(&b),
           "HTTP/1.1 200 OK\r\nServer: s\r\nX-Header-Set: v\r\n"
           "Access-Control-Allow-Origin: *\r\nContent-Length: 2\r\n\r\n",
           "response hop-by-hop gone, modifiers, keep-alive to the client");
    px_buf_release(&b);

    raw = "HTTP/1.0 200 OK\r\nServer: s\r\n\r\n";
    res = (struct gw_h1_response){.headers = hdrs, .max_headers = PX_MAX_HEADERS};
    gw_h1_response_parse(raw, strlen(raw), &res, NULL, GW_H1_METHOD_GET);
    px_buf_init(&b, 65536);
    ro =
        (struct px_rsp_out){.res = &res, .d = px_response_decide(&res, 1, true), .client_minor = 1};
    px_response_head_format(&ro, &b);
    is_str(head(&b), "HTTP/1.1 200 OK\r\nServer: s\r\nTransfer-Encoding: chunked\r\n\r\n",
           "close-delimited re-framed as chunked");
    px_buf_release(&b);

    px_buf_init(&b, 65536);
    px_local_response_format(&b, 404, GW_STR_NULL, GW_STR("nf\n"), true, false);
    is_str(head(&b),
           "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n"
           "Connection: close\r\n\r\nnf\n",
           "local response");
    px_buf_release(&b);
}

static void
test_field_class(void)
{
    static const char *const hop[] = {"Connection",        "keep-alive", "PROXY-CONNECTION", "te",
                                      "Transfer-Encoding", "upgrade",    "http2-settings"};
    for (size_t i = 0; i < GW_ARRAY_LEN(hop); i++) {
        ok(px_field_is_hop_by_hop(gw_str_from(hop[i])), "%s is hop-by-hop", hop[i]);
        ok(!px_trailer_is_forwarded(gw_str_from(hop[i])), "%s not in trailers", hop[i]);
    }
    static const char *const framing[] = {"content-length", "Host", "Trailer"};
    for (size_t i = 0; i < GW_ARRAY_LEN(framing); i++) {
        ok(!px_field_is_hop_by_hop(gw_str_from(framing[i])), "%s is end-to-end", framing[i]);
        ok(!px_trailer_is_forwarded(gw_str_from(framing[i])), "%s not in trailers", framing[i]);
    }
    static const char *const plain[] = {
        "x-checksum", "grpc-status", "tee", "connectionx", "content-type", "", "x-forwarded-for"};
    for (size_t i = 0; i < GW_ARRAY_LEN(plain); i++) {
        ok(!px_field_is_hop_by_hop(gw_str_from(plain[i])), "'%s' is end-to-end", plain[i]);
        ok(px_trailer_is_forwarded(gw_str_from(plain[i])), "'%s' forwarded in trailers", plain[i]);
    }
    is_int(px_field_class(GW_STR("Upgrade")), PX_FIELD_HOP | PX_FIELD_UPGRADE, "upgrade class");
    is_int(px_field_class(GW_STR("X-Forwarded-Proto")), PX_FIELD_OURS, "x-forwarded-proto class");
    is_int(px_field_class(GW_STR("expect")), PX_FIELD_EXPECT, "expect class");
}

/* The wire check: CR, LF or NUL never reach the wire, whatever their origin. */
static void
test_wire_unsafe(void)
{
    char buf[40];
    ok(!px_wire_is_unsafe(GW_STR_NULL), "empty is safe");
    ok(!px_wire_is_unsafe(GW_STR("a\tb \x7f\x01\x0b\x0c\x0e\x80\xff")),
       "HTAB, other controls, obs-text pass (only CR, LF, NUL break a head)");
    /* Every position and length around the word boundaries. */
    static const char bad[] = {'\r', '\n', '\0'};
    unsigned misses = 0;
    for (size_t len = 1; len <= 33; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < GW_ARRAY_LEN(bad); k++) {
                memset(buf, 'x', sizeof(buf));
                buf[at] = bad[k];
                if (!px_wire_is_unsafe((struct gw_str){buf, len}))
                    misses++;
            }
        }
        memset(buf, 0x0d + 1, sizeof(buf)); /* just above CR: the word test's edge */
        if (px_wire_is_unsafe((struct gw_str){buf, len}))
            misses++;
        memset(buf, '\t', sizeof(buf)); /* below CR but allowed: the closer look */
        if (px_wire_is_unsafe((struct gw_str){buf, len}))
            misses++;
    }
    is_int(misses, 0, "every CR/LF/NUL found at every offset, nothing else");
}

static void
test_wire_request(void)
{
    struct gw_h1_request req;
    const char *raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Keep: a\r\n\r\n";
    ok(parse_req(raw, &req) > 0, "parsed");
    struct gw_ir_header set[] = {{"X-Inject", "a\r\nTransfer-Encoding: chunked"},
                                 {"X-Good", "fine\tvalue \xc3\xa9"},
                                 {"X-Bad\nName", "v"}};
    struct gw_ir_header add[] = {{"X-Nul", "a\0b"}, {"X-Lf", "a\nb"}};
    struct gw_ir_header_mod m = {.set = set, .nset = 3, .add = add, .nadd = 2};
    /* X-Nul: gw_str_from stops at the NUL, "a" is all the IR can carry. */
    struct px_buf b;
    px_buf_init(&b, 65536);
    uint64_t before = px_wire_refused_total();
    struct px_req_out ro = {.req = &req,
                            .path = GW_STR("/p"),
                            .host = GW_STR("h"),
                            .client_ip = GW_STR("1.2.3.4"),
                            .mods = {&m, NULL}};
    is_int(px_request_head_format(&ro, &b), 0, "formatted");
    is_str(head(&b),
           "GET /p HTTP/1.1\r\nHost: h\r\nX-Keep: a\r\nX-Good: fine\tvalue \xc3\xa9\r\n"
           "X-Nul: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\n"
           "X-Forwarded-Host: h\r\n\r\n",
           "fields holding CR or LF (value or name) left out, the rest kept");
    is_int((long long)(px_wire_refused_total() - before), 3, "three refusals counted");
    px_buf_release(&b);

    px_buf_init(&b, 65536);
    ro.mods[0] = NULL;
    ro.path = GW_STR("/a HTTP/1.1\r\nHost: x\r\n\r\nGET /b");
    is_int(px_request_head_format(&ro, &b), GW_EINVAL, "request target with CRLF refused");
    is_int((long long)px_buf_avail(&b), 0, "nothing written");
    char nulpath[] = "/a\0b";
    ro.path = (struct gw_str){nulpath, sizeof(nulpath) - 1};
    is_int(px_request_head_format(&ro, &b), GW_EINVAL, "request target with NUL refused");
    ro.path = GW_STR("/ok");
    ro.host = GW_STR("h\r\nX: y");
    is_int(px_request_head_format(&ro, &b), GW_EINVAL, "Host with CRLF refused");
    is_int((long long)(px_wire_refused_total() - before), 6, "counted");
    px_buf_release(&b);
}

static void
test_wire_response(void)
{
    const char *raw = "HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\n\r\nok";
    struct gw_h1_response res = {.headers = hdrs, .max_headers = PX_MAX_HEADERS};
    ok(gw_h1_response_parse(raw, strlen(raw), &res, NULL, GW_H1_METHOD_GET) > 0, "parsed");
    struct gw_ir_header set = {"X-Split", "a\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK"};
    struct gw_ir_header add = {"X-Ok", "v"};
    struct gw_ir_header_mod m = {.set = &set, .nset = 1, .add = &add, .nadd = 1};
    struct px_buf b;
    px_buf_init(&b, 65536);
    struct px_rsp_out ro = {.res = &res,
                            .d = px_response_decide(&res, 1, true),
                            .client_minor = 1,
                            .mods = {NULL, &m},
                            .extra = GW_STR("A: 1\r\n\r\nHTTP/1.1 200 OK\r\n")};
    is_int(px_response_head_format(&ro, &b), 0, "formatted");
    is_str(head(&b), "HTTP/1.1 200 OK\r\nServer: s\r\nX-Ok: v\r\nContent-Length: 2\r\n\r\n",
           "split value left out, extra block with an empty line dropped whole");
    px_buf_release(&b);

    static const char *const extras[] = {"A: 1", "A: 1\nB: 2\r\n", "A: 1\rB: 2\r\n", "\r\n"};
    for (size_t i = 0; i < GW_ARRAY_LEN(extras); i++) {
        px_buf_init(&b, 65536);
        px_local_response_format(&b, 302, gw_str_from(extras[i]), GW_STR_NULL, false, false);
        is_str(head(&b), "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n",
               "local response: malformed extra %zu dropped", i);
        px_buf_release(&b);
    }
    px_buf_init(&b, 65536);
    px_local_response_format(&b, 302, GW_STR("Location: /x\r\nVary: a\r\n"), GW_STR_NULL, false,
                             false);
    is_str(head(&b), "HTTP/1.1 302 Found\r\nLocation: /x\r\nVary: a\r\nContent-Length: 0\r\n\r\n",
           "local response: well-formed extra kept");
    px_buf_release(&b);
}

/* px_head_split reads back what the formatters wrote, and refuses what
 * they never write. */
static void
test_head_split(void)
{
    struct gw_h1_request req;
    const char *raw = "POST /a?x=1 HTTP/1.1\r\nHost: h.test\r\nUser-Agent: t \r\n"
                      "Content-Length: 5\r\n\r\nhello";
    ok(parse_req(raw, &req) > 0, "parsed");
    struct px_buf b;
    px_buf_init(&b, 65536);
    struct px_req_out ro = {.req = &req,
                            .path = GW_STR("/a?x=1"),
                            .host = GW_STR("up.test"),
                            .client_ip = GW_STR("10.0.0.9")};
    is_int(px_request_head_format(&ro, &b), 0, "formatted");
    size_t len = px_buf_avail(&b);
    px_buf_append(&b, "hello", 5);
    struct gw_h1_header hv[8];
    struct gw_str line;
    size_t nh = 0;
    int n = px_head_split(px_buf_data(&b), px_buf_avail(&b), 65536, &line, hv, 8, &nh);
    is_int(n, (long long)len, "split: the head's length, the body left");
    ok(gw_str_eq(line, GW_STR("POST /a?x=1 HTTP/1.1")), "split: the request line");
    is_int((long long)nh, 6, "split: every field");
    ok(gw_str_eq(hv[0].name, GW_STR("Host")) && gw_str_eq(hv[0].value, GW_STR("up.test")),
       "split: Host first");
    ok(gw_str_eq(hv[1].name, GW_STR("User-Agent")) && gw_str_eq(hv[1].value, GW_STR("t")),
       "split: value trimmed");
    ok(gw_str_eq(hv[5].name, GW_STR("Content-Length")) && gw_str_eq(hv[5].value, GW_STR("5")),
       "split: framing last");
    is_int(px_head_split(px_buf_data(&b), len - 1, 65536, &line, hv, 8, &nh), GW_EAGAIN,
           "split: a head not all there");
    is_int(px_head_split(px_buf_data(&b), len, 16, &line, hv, 8, &nh), GW_ELIMIT,
           "split: past max");
    is_int(px_head_split(px_buf_data(&b), len, 65536, &line, hv, 2, &nh), GW_ELIMIT,
           "split: past the fields");
    const char *bad = "HTTP/1.1 200 OK\r\nno colon\r\n\r\n";
    is_int(px_head_split(bad, strlen(bad), 65536, &line, hv, 8, &nh), GW_EPROTO,
           "split: a field line without a colon");
    px_buf_release(&b);
}

int
main(void)
{
    test_head_split();
    test_request_basic();
    test_request_mods();
    test_request_upgrade();
    test_decide();
    test_response_head();
    test_field_class();
    test_wire_unsafe();
    test_wire_request();
    test_wire_response();
    return done_testing();
}
