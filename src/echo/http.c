/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP echo itself, shared by HTTP/1.1 and HTTP/2: routing (/health,
 * /status/NNN, /retry/..., /ws, everything else echoes), the JSON reply of
 * ECHO.md 2.2, X-Echo-Set-Header (2.3), the retry simulator (2.4) and the
 * request log (2.5). It only decides and formats; the protocol code sends
 * and owns timing (delays are loop timers there).
 */
#include <string.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

/* Decodes a query component like Go's url.QueryUnescape (+ is a space); a
 * malformed escape is kept literally. */
static struct gw_str
unescape(struct gw_str s, struct gw_arena *arena)
{
    if (!memchr(s.p, '%', s.len) && !memchr(s.p, '+', s.len))
        return s;
    char *out = gw_arena_alloc(arena, s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] == '+') {
            out[n++] = ' ';
        } else if (s.p[i] == '%' && i + 2 < s.len + 0 &&
                   gw_hex_digit((unsigned char)s.p[i + 1]) >= 0 &&
                   gw_hex_digit((unsigned char)s.p[i + 2]) >= 0) {
            out[n++] = (char)(gw_hex_digit((unsigned char)s.p[i + 1]) * 16 +
                              gw_hex_digit((unsigned char)s.p[i + 2]));
            i += 2;
        } else {
            out[n++] = s.p[i];
        }
    }
    return (struct gw_str){out, n};
}

bool
echo_query_get(struct gw_str target, const char *name, struct gw_arena *arena, struct gw_str *out)
{
    const char *q = memchr(target.p, '?', target.len);
    if (!q)
        return false;
    struct gw_str rest = {q + 1, target.len - (size_t)(q + 1 - target.p)};
    /* A fragment is not part of the query. */
    const char *hash = memchr(rest.p, '#', rest.len);
    if (hash)
        rest.len = (size_t)(hash - rest.p);
    size_t nlen = strlen(name);
    while (rest.len) {
        const char *amp = memchr(rest.p, '&', rest.len);
        struct gw_str item = {rest.p, amp ? (size_t)(amp - rest.p) : rest.len};
        rest.p += item.len + (amp ? 1 : 0);
        rest.len -= item.len + (amp ? 1 : 0);
        const char *eq = memchr(item.p, '=', item.len);
        struct gw_str key = {item.p, eq ? (size_t)(eq - item.p) : item.len};
        struct gw_str val = eq ? (struct gw_str){eq + 1, item.len - key.len - 1} : GW_STR("");
        key = unescape(key, arena);
        if (key.len == nlen && !memcmp(key.p, name, nlen)) {
            *out = unescape(val, arena);
            return true;
        }
    }
    return false;
}

/* The path part of target with every "//" collapsed, for routing. */
static struct gw_str
route_path(struct gw_str target, struct gw_arena *arena)
{
    const char *q = memchr(target.p, '?', target.len);
    size_t len = q ? (size_t)(q - target.p) : target.len;
    char *p = gw_arena_alloc(arena, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (target.p[i] == '/' && n > 0 && p[n - 1] == '/')
            continue;
        p[n++] = target.p[i];
    }
    return (struct gw_str){p, n};
}

static void
text_reply(struct echo_resp *resp, struct gw_buf *body, int status, const char *text)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    resp->nosniff = true;
    gw_buf_append_cstr(body, text);
    gw_buf_append_char(body, '\n');
}

/* X-Echo-Set-Header, exactly as upstream: items split on ',', name and value
 * at the first ':', names kept as given, a repeated name appends ",value" to
 * the first value. HTTP/2 lowercases names on the wire. */
static void
set_headers(const struct echo_req *req, struct gw_arena *arena, struct echo_resp *resp, bool lower)
{
    for (size_t i = 0; i < req->nh; i++) {
        if (!gw_str_caseeq(req->h[i].name, GW_STR("X-Echo-Set-Header")))
            continue;
        struct gw_str rest = req->h[i].value;
        while (rest.p) {
            const char *comma = memchr(rest.p, ',', rest.len);
            struct gw_str item = {rest.p, comma ? (size_t)(comma - rest.p) : rest.len};
            rest = comma ? (struct gw_str){comma + 1, rest.len - item.len - 1} : GW_STR_NULL;
            item = gw_str_trim(item);
            const char *colon = memchr(item.p, ':', item.len);
            struct gw_str name = {item.p, colon ? (size_t)(colon - item.p) : item.len};
            struct gw_str value =
                colon ? gw_str_trim((struct gw_str){colon + 1, item.len - name.len - 1})
                      : GW_STR("");
            name = gw_str_trim(name);
            if (!gw_h1_is_token(name))
                continue; /* nothing valid to set; never inject raw bytes */
            if (lower) {
                char *l = gw_arena_strndup(arena, name.p, name.len);
                for (size_t k = 0; k < name.len; k++)
                    l[k] = (char)((l[k] >= 'A' && l[k] <= 'Z') ? l[k] + 32 : l[k]);
                name.p = l;
            }
            size_t k = 0;
            while (k < resp->nh && !gw_str_eq(resp->h[k].name, name))
                k++;
            if (k < resp->nh) {
                struct gw_str old = resp->h[k].value;
                resp->h[k].value.p = gw_arena_sprintf(arena, GW_STR_FMT "," GW_STR_FMT,
                                                      GW_STR_ARG(old), GW_STR_ARG(value));
                resp->h[k].value.len = old.len + 1 + value.len;
            } else if (resp->nh < GW_ARRAY_LEN(resp->h)) {
                /* Copies: a delayed reply outlives the request's buffer. */
                resp->h[resp->nh].name.p = gw_arena_strndup(arena, name.p, name.len);
                resp->h[resp->nh].name.len = name.len;
                resp->h[resp->nh].value.p = gw_arena_strndup(arena, value.p, value.len);
                resp->h[resp->nh].value.len = value.len;
                resp->nh++;
            }
        }
    }
}

static void
json_field(struct gw_buf *b, const char *name, struct gw_str v, bool first)
{
    gw_buf_append_cstr(b, first ? "{\n \"" : ",\n \"");
    gw_buf_append_cstr(b, name);
    gw_buf_append_cstr(b, "\": ");
    gw_buf_append_json_str(b, v.p ? v.p : "", v.len);
}

static void
echo_json(struct echo_conn *c, const struct echo_req *req, struct gw_buf *b)
{
    const struct gw_echo_config *cfg = c->srv->cfg;
    json_field(b, "path", req->target, true);
    json_field(b, "host", req->host, false);
    json_field(b, "method", req->method, false);
    json_field(b, "proto", gw_str_from(req->proto), false);
    gw_buf_append_cstr(b, ",\n \"headers\": {");
    bool first = true;
    for (size_t i = 0; i < req->nh; i++) {
        struct gw_str name = req->h[i].name;
        if (gw_str_caseeq(name, GW_STR("Host")))
            continue;
        /* Each name once, at its first appearance, with all its values. */
        size_t j = 0;
        while (j < i && !gw_str_caseeq(req->h[j].name, name))
            j++;
        if (j < i)
            continue;
        char canon[256];
        gw_buf_append_cstr(b, first ? "\n  " : ",\n  ");
        first = false;
        if (name.len <= sizeof(canon)) {
            gw_h1_name_canonical(name, canon);
            gw_buf_append_json_str(b, canon, name.len);
        } else {
            gw_buf_append_json_str(b, name.p, name.len);
        }
        gw_buf_append_cstr(b, ": [");
        bool vfirst = true;
        for (j = i; j < req->nh; j++) {
            if (!gw_str_caseeq(req->h[j].name, name))
                continue;
            gw_buf_append_cstr(b, vfirst ? "\n   " : ",\n   ");
            vfirst = false;
            gw_buf_append_json_str(b, req->h[j].value.p, req->h[j].value.len);
        }
        gw_buf_append_cstr(b, "\n  ]");
    }
    gw_buf_append_cstr(b, first ? "}" : "\n }");
    json_field(b, "namespace", gw_str_from(cfg->ns), false);
    json_field(b, "ingress", gw_str_from(cfg->ingress), false);
    json_field(b, "service", gw_str_from(cfg->service), false);
    json_field(b, "pod", gw_str_from(cfg->pod), false);
    json_field(b, "httpPort", gw_str_from(cfg->http_port), false);
    if (c->ssl)
        echo_tls_json(c->ssl, b);
    gw_buf_append_cstr(b, "\n}\n");
}

static void
do_echo(struct echo_conn *c, struct gw_arena *arena, const struct echo_req *req,
        struct echo_resp *resp, struct gw_buf *body)
{
    struct gw_str delay;
    echo_log_request(c->srv, req->target, c->peer);
    if (echo_query_get(req->path, "delay", arena, &delay) && delay.len) {
        char msg[256];
        if (gw_echo_duration_parse(delay, &resp->delay_ms, msg, sizeof(msg)) < 0) {
            resp->status = 500;
            resp->content_type = "application/json";
            resp->nosniff = true;
            gw_buf_append_cstr(body, "{\"message\": ");
            gw_buf_append_json_str(body, msg, strlen(msg));
            gw_buf_append_cstr(body, "}\n");
            resp->delay_ms = 0;
            return;
        }
    }
    set_headers(req, arena, resp, strcmp(req->proto, "HTTP/2.0") == 0);
    resp->status = 200;
    resp->content_type = "application/json";
    resp->nosniff = true;
    echo_json(c, req, body);
}

static void
do_retry(struct echo_conn *c, struct gw_arena *arena, const struct echo_req *req,
         struct echo_resp *resp, struct gw_buf *body)
{
    struct gw_str uuid, v;
    uint64_t succeed_after, code = 0, delay_ms = 0;
    char msg[256];
    if (!echo_query_get(req->path, "uuid", arena, &uuid) || !uuid.len) {
        text_reply(resp, body, 400, "uuid is required");
        return;
    }
    if (!echo_query_get(req->path, "succeedAfter", arena, &v) ||
        gw_str_to_u64(v, UINT32_MAX, &succeed_after) < 0) {
        text_reply(resp, body, 400, "succeedAfter is required");
        return;
    }
    bool has_code = echo_query_get(req->path, "responseCode", arena, &v) && v.len;
    if (has_code && (gw_str_to_u64(v, 999, &code) < 0 || code < 100)) {
        text_reply(resp, body, 400, "responseCode must be an integer");
        return;
    }
    if (echo_query_get(req->path, "delayRetry", arena, &v) && v.len &&
        gw_echo_duration_parse(v, &delay_ms, msg, sizeof(msg)) < 0) {
        text_reply(resp, body, 400, msg);
        return;
    }
    if (echo_retry_hit(c->srv, uuid, succeed_after) < succeed_after) {
        resp->delay_ms = delay_ms;
        if (has_code) {
            resp->status = (int)code;
        } else {
            resp->action = ECHO_ACT_RESET;
        }
        return;
    }
    do_echo(c, arena, req, resp, body);
}

void
echo_http_handle(struct echo_conn *c, struct gw_arena *arena, const struct echo_req *req,
                 struct echo_resp *resp, struct gw_buf *body)
{
    struct gw_str path = route_path(req->path, arena);
    memset(resp, 0, sizeof(*resp));
    resp->action = ECHO_ACT_SEND;
    if (gw_str_eq_cstr(path, "/health")) {
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
        gw_buf_append_cstr(body, "OK");
    } else if (gw_str_has_prefix(path, GW_STR("/status/"))) {
        uint64_t code;
        struct gw_str digits = {req->target.p + 8, req->target.len - 8};
        if (req->target.len == 11 && gw_str_has_prefix(req->target, GW_STR("/status/")) &&
            gw_str_to_u64(digits, 999, &code) == 0 && code >= 200) {
            resp->status = (int)code;
        } else {
            text_reply(resp, body, 400, "invalid status code");
        }
    } else if (gw_str_has_prefix(path, GW_STR("/retry/")) || gw_str_eq_cstr(path, "/retry")) {
        do_retry(c, arena, req, resp, body);
    } else if (gw_str_eq_cstr(path, "/ws")) {
        if (req->websocket) {
            resp->action = ECHO_ACT_WEBSOCKET;
            resp->status = 101;
        } else {
            text_reply(resp, body, 400, "Bad Request");
        }
    } else {
        do_echo(c, arena, req, resp, body);
    }
}
