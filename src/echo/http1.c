/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 on the echo: requests parsed by the h1 module straight from the
 * connection's input buffer (zero-copy), replies sent with one writev of
 * head and body, keep-alive and pipelining (requests are answered strictly
 * in order: a delayed reply blocks the ones behind it), request bodies read
 * and discarded so the next request is found, and the two upgrades: h2c on
 * the h2c port and WebSocket on /ws.
 */
#include <string.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static const struct gw_h1_limits *
limits(void)
{
    static struct gw_h1_limits lim;
    static bool init;
    if (!init) {
        lim = GW_H1_LIMITS_DEFAULT;
        lim.max_header_count = ECHO_MAX_HEADERS;
        lim.max_body = 0;
        lim.allow_underscore_names = true; /* an echo shows what it got */
        init = true;
    }
    return &lim;
}

static void
format_head(struct gw_buf *h, const struct echo_resp *resp, size_t body_len, bool keep_alive,
            bool http10)
{
    const char *reason = gw_h1_status_reason(resp->status);
    gw_buf_appendf(h, "HTTP/1.1 %d %s\r\n", resp->status, *reason ? reason : "Unknown");
    if (resp->content_type)
        gw_buf_appendf(h, "Content-Type: %s\r\n", resp->content_type);
    if (resp->nosniff)
        gw_buf_append_cstr(h, "X-Content-Type-Options: nosniff\r\n");
    for (size_t i = 0; i < resp->nh; i++)
        gw_buf_appendf(h, GW_STR_FMT ": " GW_STR_FMT "\r\n", GW_STR_ARG(resp->h[i].name),
                       GW_STR_ARG(resp->h[i].value));
    if (resp->status >= 200 && resp->status != 204 && resp->status != 304)
        gw_buf_appendf(h, "Content-Length: %zu\r\n", body_len);
    if (!keep_alive)
        gw_buf_append_cstr(h, "Connection: close\r\n");
    else if (http10)
        gw_buf_append_cstr(h, "Connection: keep-alive\r\n");
    gw_buf_append_cstr(h, "\r\n");
}

static void
send_error(struct echo_conn *c, int status, const char *text)
{
    struct gw_buf *h = &c->srv->scratch;
    const char *reason = gw_h1_status_reason(status);
    gw_buf_reset(h);
    gw_buf_appendf(h,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Connection: close\r\nContent-Length: %zu\r\n\r\n%s\n",
                   status, reason, strlen(text) + 1, text);
    struct iovec iov = {h->p, h->len};
    echo_conn_write(c, &iov, 1);
    c->close_after_write = true;
}

static void
on_delay(struct gw_timer *t)
{
    struct echo_conn *c = t->data;
    c->blocked = false;
    if (c->pending_action == ECHO_ACT_RESET) {
        c->reset = true;
        echo_conn_close(c);
        return;
    }
    struct iovec iov = {c->pending.p, c->pending.len};
    echo_conn_write(c, &iov, 1);
    gw_buf_reset(&c->pending);
    echo_conn_kick(c);
}

/* base64url without padding (RFC 7540 3.2.1) via OpenSSL's base64. */
static int
decode_settings(struct gw_str v, uint8_t *out, size_t cap)
{
    unsigned char tmp[512];
    if (v.len + 4 > sizeof(tmp) || (v.len + 3) / 4 * 3 > cap)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.p[i];
        tmp[n++] = (unsigned char)(ch == '-' ? '+' : ch == '_' ? '/' : ch);
    }
    size_t pad = 0;
    while (n % 4) {
        tmp[n++] = '=';
        pad++;
    }
    if (n == 0)
        return 0;
    int r = EVP_DecodeBlock(out, tmp, (int)n);
    if (r < 0)
        return -1;
    return r - (int)pad;
}

static void
websocket_accept(struct echo_conn *c, const struct gw_h1_request *hr)
{
    size_t i = gw_h1_headers_find(hr->headers, hr->nheaders, 0, GW_STR("Sec-WebSocket-Key"));
    char accept[29];
    echo_ws_accept_key(hr->headers[i].value, accept);
    struct gw_buf *h = &c->srv->scratch;
    gw_buf_reset(h);
    gw_buf_appendf(h,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
    struct iovec iov = {h->p, h->len};
    echo_conn_write(c, &iov, 1);
    c->proto = ECHO_PROTO_WS;
}

static bool
is_websocket(const struct gw_h1_request *hr)
{
    size_t n = hr->nheaders;
    if (hr->method_id != GW_H1_METHOD_GET || !(hr->connection & GW_H1_CONN_UPGRADE) ||
        !gw_h1_list_has(hr->upgrade, GW_STR("websocket")))
        return false;
    size_t k = gw_h1_headers_find(hr->headers, n, 0, GW_STR("Sec-WebSocket-Key"));
    size_t v = gw_h1_headers_find(hr->headers, n, 0, GW_STR("Sec-WebSocket-Version"));
    return k < n && v < n && gw_str_eq_cstr(hr->headers[v].value, "13");
}

/* Handles one parsed request whose head ends at c->in_off. Returns false
 * when the connection left HTTP/1.1 (upgrade) or must stop. */
static bool
handle(struct echo_conn *c, const struct gw_h1_request *hr)
{
    struct echo_req req = {
        .method = hr->method,
        .target = hr->target,
        .path = hr->path.len ? hr->path : hr->target,
        .host = hr->host,
        .proto = hr->minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1",
        .h = hr->headers,
        .nh = hr->nheaders,
    };
    bool keep_alive = hr->keep_alive && !c->read_eof;
    /* An unanswered 100-continue leaves us unsure whether the body will
     * come; closing afterwards is the only safe framing (Go does the same). */
    if (hr->expect_continue && hr->body != GW_H1_BODY_NONE)
        keep_alive = false;
    c->body_kind = hr->body;
    c->body_left = hr->content_length;
    if (hr->body == GW_H1_BODY_CHUNKED)
        gw_h1_chunked_init(&c->chunked, limits());

    if (c->kind == ECHO_KIND_H2C) {
        size_t n = hr->nheaders;
        size_t s = gw_h1_headers_find(hr->headers, n, 0, GW_STR("HTTP2-Settings"));
        uint8_t settings[384];
        int slen = -1;
        if ((hr->connection & GW_H1_CONN_UPGRADE) && gw_h1_list_has(hr->upgrade, GW_STR("h2c")) &&
            s < n && hr->body == GW_H1_BODY_NONE)
            slen = decode_settings(hr->headers[s].value, settings, sizeof(settings));
        if (slen < 0) {
            send_error(c, 400, "Expected h2c request");
            return false;
        }
        static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                        "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        struct iovec iov = {(void *)switching, sizeof(switching) - 1};
        echo_conn_write(c, &iov, 1);
        c->proto = ECHO_PROTO_H2;
        req.proto = "HTTP/2.0";
        if (echo_h2_start(c, &req, settings, (size_t)slen) < 0)
            echo_conn_close(c);
        return false;
    }

    req.websocket = is_websocket(hr);
    struct echo_resp resp;
    struct gw_buf *body = &c->pending;
    gw_buf_reset(body);
    echo_http_handle(c, &c->arena, &req, &resp, body);
    if (resp.action == ECHO_ACT_WEBSOCKET) {
        gw_arena_release(&c->arena);
        websocket_accept(c, hr);
        return false;
    }
    /* HEAD: the GET's Content-Length, no body (as Go's server does). */
    size_t body_len = body->len;
    if (hr->method_id == GW_H1_METHOD_HEAD)
        gw_buf_reset(body);
    if (!keep_alive)
        c->close_after_write = true;
    if (resp.action == ECHO_ACT_RESET && resp.delay_ms == 0) {
        gw_arena_release(&c->arena);
        c->reset = true;
        echo_conn_close(c);
        return false;
    }
    struct gw_buf *head = &c->srv->scratch;
    gw_buf_reset(head);
    format_head(head, &resp, body_len, keep_alive, hr->minor_version == 0);
    gw_arena_release(&c->arena);
    if (resp.delay_ms > 0) {
        /* Park the finished reply; the timer sends it. Keep head first. */
        c->pending_action = resp.action;
        if (resp.action == ECHO_ACT_SEND) {
            struct gw_buf tmp = *body;
            gw_buf_init(body, ECHO_OUT_MAX);
            gw_buf_append(body, head->p, head->len);
            gw_buf_append(body, tmp.p, tmp.len);
            gw_buf_release(&tmp);
        }
        c->blocked = true;
        c->timer.cb = on_delay;
        gw_timer_start(&c->timer, resp.delay_ms);
        return true;
    }
    struct iovec iov[2] = {{head->p, head->len}, {body->p, body->len}};
    echo_conn_write(c, iov, body->len ? 2 : 1);
    gw_buf_reset(body);
    return !c->close_after_write;
}

/* Discards body bytes; false when more input is needed or on error. */
static bool
skip_body(struct echo_conn *c)
{
    if (c->body_kind == GW_H1_BODY_LENGTH) {
        size_t n = (size_t)GW_MIN((uint64_t)echo_conn_in_len(c), c->body_left);
        c->in_off += n;
        c->body_left -= n;
        if (c->body_left > 0)
            return false;
    } else if (c->body_kind == GW_H1_BODY_CHUNKED) {
        for (;;) {
            size_t used = 0;
            struct gw_str data;
            int rc = gw_h1_chunked_decode(&c->chunked, echo_conn_in(c), echo_conn_in_len(c), &used,
                                          &data);
            c->in_off += used;
            if (rc == GW_H1_CHUNKED_DONE)
                break;
            if (rc == GW_EAGAIN)
                return false;
            if (rc < 0) {
                if (!c->blocked)
                    send_error(c, 400, c->chunked.error ? c->chunked.error : "bad chunk");
                else
                    c->close_after_write = true;
                return false;
            }
        }
    }
    c->body_kind = GW_H1_BODY_NONE;
    return true;
}

void
echo_h1_process(struct echo_conn *c)
{
    if (c->arena.chunk_size == 0)
        gw_arena_init(&c->arena, 4096);
    while (!c->closing && !c->close_after_write && c->proto == ECHO_PROTO_H1) {
        if (c->body_kind != GW_H1_BODY_NONE && !skip_body(c))
            return;
        if (c->blocked || echo_conn_in_len(c) == 0)
            return;
        if (c->out.len - c->out_off >= ECHO_OUT_HIGH)
            return; /* the peer is not reading: stop answering */
        struct gw_h1_request hr = {.headers = c->hdrs, .max_headers = ECHO_MAX_HEADERS};
        int rc = gw_h1_request_parse(echo_conn_in(c), echo_conn_in_len(c), &hr, limits());
        if (rc == GW_EAGAIN)
            return;
        if (rc < 0) {
            send_error(c, hr.error_status ? hr.error_status : 400,
                       hr.error ? hr.error : "Bad Request");
            return;
        }
        c->in_off += (size_t)rc;
        if (!handle(c, &hr))
            break;
    }
    if (c->closing)
        return;
    if (c->proto == ECHO_PROTO_WS)
        echo_ws_process(c);
    else if (c->proto == ECHO_PROTO_H2)
        echo_h2_process(c);
}

void
echo_h1_release(struct echo_conn *c)
{
    if (c->arena.chunk_size)
        gw_arena_release(&c->arena);
}
