/* SPDX-License-Identifier: Apache-2.0 */
/* proxy session.c: the session persistence token (round trip, forgery,
 * other keys, expiry), endpoint tags, cookie parsing, the response field,
 * and the per-snapshot keys and tags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"
#include "tap.h"

#include "base/banned.h"

static struct gw_str
str_n(const char *p, size_t n)
{
    return (struct gw_str){p, n};
}

static void
token_tests(void)
{
    struct px_skey *k1 = px_skey_new("HTTPRoute ns/a uid=u1 rule=0");
    struct px_skey *k2 = px_skey_new("HTTPRoute ns/a uid=u1 rule=1");
    struct px_skey *k1b = px_skey_new("HTTPRoute ns/a uid=u1 rule=0");
    ok(px_session_tag(k1, "b", "1.2.3.4", 1) == px_session_tag(k1b, "b", "1.2.3.4", 1),
       "a key_id always derives the same key (workers, replicas)");
    ok(px_session_tag(k1, "b", "1.2.3.4", 1) != px_session_tag(k2, "b", "1.2.3.4", 1),
       "rules have keys of their own");

    uint64_t t1 = px_session_tag(k1, "ns/svc:80", "10.0.0.1", 8080);
    ok(t1 == px_session_tag(k1, "ns/svc:80", "10.0.0.1", 8080), "tags are stable");
    ok(t1 != px_session_tag(k1, "ns/svc:80", "10.0.0.1", 8081), "port is in the tag");
    ok(t1 != px_session_tag(k1, "ns/svc:80", "10.0.0.2", 8080), "address is in the tag");
    ok(t1 != px_session_tag(k1, "ns/other:80", "10.0.0.1", 8080), "backend is in the tag");
    ok(t1 != px_session_tag(k2, "ns/svc:80", "10.0.0.1", 8080), "key is in the tag");

    struct px_session_token in = {
        .tag = t1, .created_ms = 1700000000000ull, .used_ms = 1700000005000ull};
    char tok[PX_SESSION_TOKEN_LEN + 1];
    px_session_token_format(k1, &in, tok);
    tok[PX_SESSION_TOKEN_LEN] = 0;
    bool b64 = true;
    for (size_t i = 0; i < PX_SESSION_TOKEN_LEN; i++)
        b64 &= (tok[i] >= 'A' && tok[i] <= 'Z') || (tok[i] >= 'a' && tok[i] <= 'z') ||
               (tok[i] >= '0' && tok[i] <= '9') || tok[i] == '-' || tok[i] == '_';
    ok(b64, "token is base64url (a cookie value and a header value): %s", tok);

    struct px_session_token out;
    struct gw_str ts = str_n(tok, PX_SESSION_TOKEN_LEN);
    ok(px_session_token_parse(k1, ts, &out) == 0 && out.tag == in.tag &&
           out.created_ms == in.created_ms && out.used_ms == in.used_ms,
       "round trip");
    ok(px_session_token_parse(k2, ts, &out) == GW_EINVAL, "another rule's key refuses it");

    /* Every single-character change is refused. */
    int accepted = 0;
    for (size_t i = 0; i < PX_SESSION_TOKEN_LEN; i++) {
        char m[PX_SESSION_TOKEN_LEN];
        memcpy(m, tok, sizeof(m));
        m[i] = m[i] == 'A' ? 'B' : 'A';
        accepted += px_session_token_parse(k1, str_n(m, sizeof(m)), &out) == 0;
    }
    is_int(accepted, 0, "no altered token is accepted");
    ok(px_session_token_parse(k1, str_n(tok, PX_SESSION_TOKEN_LEN - 1), &out) == GW_EINVAL,
       "short token refused");
    ok(px_session_token_parse(k1, GW_STR(""), &out) == GW_EINVAL, "empty refused");
    char junk[PX_SESSION_TOKEN_LEN];
    memset(junk, '=', sizeof(junk));
    ok(px_session_token_parse(k1, str_n(junk, sizeof(junk)), &out) == GW_EINVAL,
       "non-base64 refused");

    /* A vector made apart from this code (Python's hmac and base64 from
     * the format in session.c's header): key_id "fuzz", tag 7, times 1000
     * and 2000. */
    struct px_skey *kf = px_skey_new("fuzz");
    ok(px_session_token_parse(kf, GW_STR("AQAAAAAAAAAHAAAAAAPoAAAAAAfQujpbf4w5bMobvWudD2WGNQ"),
                              &out) == 0 &&
           out.tag == 7 && out.created_ms == 1000 && out.used_ms == 2000,
       "independent test vector");
    px_skey_free(kf);

    /* A token claiming a last use before its start. */
    struct px_session_token back = {.tag = 1, .created_ms = 2000, .used_ms = 1000};
    px_session_token_format(k1, &back, tok);
    ok(px_session_token_parse(k1, str_n(tok, PX_SESSION_TOKEN_LEN), &out) == GW_EINVAL,
       "used before created refused");

    /* Timeouts. */
    struct gw_ir_session s = {.type = GW_IR_SESSION_COOKIE, .absolute_ms = 10000, .idle_ms = 2000};
    struct px_session_token live = {.tag = 1, .created_ms = 100000, .used_ms = 105000};
    ok(px_session_token_is_live(&s, &live, 106999), "within both timeouts");
    ok(!px_session_token_is_live(&s, &live, 107000), "idle timeout");
    live.used_ms = 109500;
    ok(!px_session_token_is_live(&s, &live, 110000), "absolute timeout");
    s.absolute_ms = s.idle_ms = -1;
    ok(px_session_token_is_live(&s, &live, 100000000), "no timeouts: lives on");
    ok(!px_session_token_is_live(&s, &live, 109500 - 61000), "from the far future: dead");
    px_skey_free(k1);
    px_skey_free(k2);
    px_skey_free(k1b);
}

static void
cookie_tests(void)
{
    struct gw_str v = GW_STR("a=1; sp=\"x\";sp = y ; b=2;bad; sp=z");
    size_t pos = 0;
    struct gw_str val;
    const char *vals[] = {"x", "y", "z"};
    int n = 0;
    while (px_session_cookie_next(v, GW_STR("sp"), &pos, &val)) {
        ok(n < 3 && val.len == strlen(vals[n]) && !memcmp(val.p, vals[n], val.len),
           "cookie %d is %s", n, n < 3 ? vals[n] : "?");
        n++;
    }
    is_int(n, 3, "every cookie of that name, in order");
    pos = 0;
    ok(!px_session_cookie_next(GW_STR("spx=1; xsp=2; =3"), GW_STR("sp"), &pos, &val),
       "names match whole");

    struct px_skey *key = px_skey_new("k");
    struct gw_ir_session s = {.type = GW_IR_SESSION_COOKIE,
                              .name = "sp",
                              .path = "/app",
                              .absolute_ms = -1,
                              .idle_ms = -1};
    struct px_session_token in = {.tag = 42, .created_ms = 5000, .used_ms = 6000};
    char tok[PX_SESSION_TOKEN_LEN];
    px_session_token_format(key, &in, tok);
    char field[256];
    int fl =
        snprintf(field, sizeof(field), "other=1; sp=bogus; sp=%.*s", PX_SESSION_TOKEN_LEN, tok);
    struct gw_h1_header h[2] = {
        {GW_STR("Accept"), GW_STR("*/*")},
        {GW_STR("Cookie"), str_n(field, (size_t)fl)},
    };
    struct px_session_token out;
    ok(px_session_request_token(&s, key, h, 2, 7000, &out) && out.tag == 42,
       "the live cookie is found past a bogus one of the same name");
    char many[512];
    int ml =
        snprintf(many, sizeof(many), "sp=a; sp=b; sp=c; sp=d; sp=%.*s", PX_SESSION_TOKEN_LEN, tok);
    struct gw_h1_header hm[1] = {{GW_STR("Cookie"), str_n(many, (size_t)ml)}};
    ok(!px_session_request_token(&s, key, hm, 1, 7000, &out),
       "no more than 4 candidates are checked");
    s.type = GW_IR_SESSION_HEADER;
    s.name = "X-Session";
    struct gw_h1_header hh[1] = {{GW_STR("x-session"), str_n(tok, PX_SESSION_TOKEN_LEN)}};
    ok(px_session_request_token(&s, key, hh, 1, 7000, &out) && out.tag == 42,
       "header type, name case ignored");
    ok(!px_session_request_token(&s, key, h, 2, 7000, &out), "header type ignores cookies");

    struct px_buf b;
    px_buf_init(&b, 4096);
    s.type = GW_IR_SESSION_COOKIE;
    s.name = "sp";
    ok(px_session_field_format(&s, tok, 5000, 6000, false, &b) == 0, "cookie field");
    char want[256];
    snprintf(want, sizeof(want), "Set-Cookie: sp=%.*s; Path=/app; HttpOnly; SameSite=Lax\r\n",
             PX_SESSION_TOKEN_LEN, tok);
    ok(px_buf_avail(&b) == strlen(want) && !memcmp(px_buf_data(&b), want, strlen(want)),
       "session cookie: no Max-Age");
    px_buf_consume(&b, px_buf_avail(&b));
    s.permanent = true;
    s.absolute_ms = 3600000;
    px_session_field_format(&s, tok, 5000, 6500, true, &b);
    snprintf(want, sizeof(want),
             "Set-Cookie: sp=%.*s; Path=/app; Max-Age=3599; HttpOnly; SameSite=Lax; Secure\r\n",
             PX_SESSION_TOKEN_LEN, tok);
    ok(px_buf_avail(&b) == strlen(want) && !memcmp(px_buf_data(&b), want, strlen(want)),
       "permanent cookie: Max-Age is what is left, Secure on TLS");
    px_buf_consume(&b, px_buf_avail(&b));
    s.type = GW_IR_SESSION_HEADER;
    s.name = "X-Session";
    px_session_field_format(&s, tok, 5000, 6500, true, &b);
    snprintf(want, sizeof(want), "X-Session: %.*s\r\n", PX_SESSION_TOKEN_LEN, tok);
    ok(px_buf_avail(&b) == strlen(want) && !memcmp(px_buf_data(&b), want, strlen(want)),
       "header field");
    px_buf_release(&b);
    px_skey_free(key);
}

static void
snapshot_tests(void)
{
    struct gw_ir *ir = gw_ir_new();
    struct gw_ir_endpoint eps[3] = {{"10.0.0.1", 80}, {"10.0.0.2", 80}, {"10.0.0.3", 80}};
    struct gw_ir_backend be[2] = {
        {.name = "ns/a:80", .weight = 1, .endpoints = eps, .nendpoints = 2},
        {.name = "ns/b:80", .weight = 0, .endpoints = eps + 2, .nendpoints = 1},
    };
    struct gw_ir_session s = {.type = GW_IR_SESSION_COOKIE,
                              .name = "sp",
                              .path = "/",
                              .absolute_ms = -1,
                              .idle_ms = -1,
                              .key_id = "HTTPRoute ns/r uid= rule=0",
                              .id = UINT32_MAX};
    struct gw_ir_route routes[2] = {
        {.backends = be, .nbackends = 2, .session = &s, .route = "HTTPRoute ns/r", .path = "/"},
        {.backends = be, .nbackends = 2, .session = &s, .route = "HTTPRoute ns/r", .path = "/"},
    };
    struct gw_ir_vhost vh = {.hostname = "*", .routes = routes, .nroutes = 2};
    struct gw_ir_listener li = {.name = "l", .proto = GW_IR_HTTP, .vhosts = &vh, .nvhosts = 1};
    struct gw_ir_port port = {
        .address = "127.0.0.1", .port = 80, .listeners = &li, .nlisteners = 1};
    ir->ports = &port;
    ir->nports = 1;
    gw_ir_index(ir);
    is_int(ir->nsession_ids, 1, "a session shared by vhost copies is numbered once");
    struct px_sess *ss = px_sess_new(ir);
    ok(ss != NULL, "snapshot session table");
    struct px_skey *key = px_skey_new(s.key_id);
    uint64_t t = px_session_tag(key, "ns/b:80", "10.0.0.3", 80);
    px_skey_free(key);
    size_t ei = 99;
    is_int(px_sess_find(ss, &routes[0], t, &ei), 1, "a weight-0 backend is still found");
    is_int((long long)ei, 0, "its endpoint");
    ok(px_sess_tag_of(ss, &be[1], 0) == t, "tag_of agrees");
    ok(px_sess_find(ss, &routes[0], t ^ 1, &ei) < 0, "an unknown tag names nothing");
    px_sess_free(ss);
    ir->ports = NULL;
    ir->nports = 0;
    gw_ir_unref(ir);
}

int
main(void)
{
    token_tests();
    cookie_tests();
    snapshot_tests();
    return done_testing();
}
