/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 for the echo and for gRPC, on nghttp2: a server session per
 * connection fed with nghttp2_session_mem_recv from the input buffer and
 * drained with nghttp2_session_mem_send into the output buffer, so nghttp2
 * never touches the socket. Each request stream keeps its headers in its
 * own arena and is answered once the request is complete (END_STREAM);
 * delays are per-stream timers. nghttp2 allocates through our allocator.
 */
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "base/base.h"
#include "echo/internal.h"
#include "h2/h2.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define MAX_STREAM_HEADERS 256

struct echo_h2_stream {
    struct echo_h2_stream *prev, *next;
    struct echo_conn *c;
    int32_t id;
    struct gw_arena arena;
    struct gw_h1_header *h; /* every field, pseudo-headers included */
    size_t nh, cap;
    struct gw_buf body; /* the reply body */
    size_t body_off;
    size_t content_length; /* body.len, or the GET's length for HEAD */
    struct gw_timer timer;
    struct echo_resp resp;
    bool trailers;         /* gRPC: send grpc-status after the body */
    bool reflection;       /* a ServerReflectionInfo call: answered per message */
    bool request_done;     /* END_STREAM seen: the body may end */
    bool submitted;        /* response headers submitted */
    struct gw_buf reqbody; /* reflection: request bytes not yet answered */
};

static void h2_send(struct echo_conn *c);

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */

static struct echo_h2_stream *
stream_new(struct echo_conn *c, int32_t id)
{
    struct echo_h2_stream *s = gw_xcalloc(1, sizeof(*s));
    s->c = c;
    s->id = id;
    gw_arena_init(&s->arena, 2048);
    gw_buf_init(&s->body, ECHO_OUT_MAX);
    gw_buf_init(&s->reqbody, 1u << 20);
    gw_timer_init(c->srv->loop, &s->timer, NULL, s);
    s->next = c->streams;
    if (s->next)
        s->next->prev = s;
    c->streams = s;
    return s;
}

static void
stream_free(struct echo_h2_stream *s)
{
    struct echo_conn *c = s->c;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    gw_timer_stop(&s->timer);
    gw_arena_release(&s->arena);
    gw_buf_release(&s->body);
    gw_buf_release(&s->reqbody);
    free(s->h);
    free(s);
}

static struct gw_str
find(const struct echo_h2_stream *s, const char *name)
{
    for (size_t i = 0; i < s->nh; i++) {
        if (gw_str_eq_cstr(s->h[i].name, name))
            return s->h[i].value;
    }
    return GW_STR("");
}

static ssize_t
read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
          uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    struct echo_h2_stream *s = source->ptr;
    (void)user_data;
    size_t n = GW_MIN(length, s->body.len - s->body_off);
    if (n)
        memcpy(buf, s->body.p + s->body_off, n);
    s->body_off += n;
    if (n == 0 && !s->request_done)
        return NGHTTP2_ERR_DEFERRED; /* reflection: more answers may come */
    if (s->body_off == s->body.len && s->request_done) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->trailers) {
            static const nghttp2_nv ok[] = {
                {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
            };
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(session, stream_id, ok, GW_ARRAY_LEN(ok)) != 0)
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return (ssize_t)n;
}

#define NV(n, v, nl, vl)                                                 \
    {                                                                    \
        (uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE \
    }

static void
submit(struct echo_h2_stream *s)
{
    struct echo_conn *c = s->c;
    struct echo_resp *r = &s->resp;
    nghttp2_nv nv[8 + GW_ARRAY_LEN(r->h)];
    size_t n = 0;
    char status[4], clen[24];
    int sl = snprintf(status, sizeof(status), "%03d", r->status % 1000);
    nv[n++] = (nghttp2_nv)NV(":status", status, 7, (size_t)sl);
    if (r->content_type)
        nv[n++] = (nghttp2_nv)NV("content-type", r->content_type, 12, strlen(r->content_type));
    if (r->nosniff)
        nv[n++] = (nghttp2_nv)NV("x-content-type-options", "nosniff", 22, 7);
    for (size_t i = 0; i < r->nh; i++)
        nv[n++] =
            (nghttp2_nv)NV(r->h[i].name.p, r->h[i].value.p, r->h[i].name.len, r->h[i].value.len);
    if (!s->trailers && r->status >= 200 && r->status != 204 && r->status != 304) {
        int cl = snprintf(clen, sizeof(clen), "%zu", s->content_length);
        nv[n++] = (nghttp2_nv)NV("content-length", clen, 14, (size_t)cl);
    }
    s->submitted = true;
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = read_body};
    bool has_body = s->body.len > 0 || s->trailers;
    if (nghttp2_submit_response(c->h2, s->id, nv, n, has_body ? &prd : NULL) != 0)
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
}

static void
on_delay(struct gw_timer *t)
{
    struct echo_h2_stream *s = t->data;
    struct echo_conn *c = s->c;
    if (s->resp.action == ECHO_ACT_RESET) {
        c->reset = true;
        echo_conn_close(c);
        return;
    }
    submit(s);
    h2_send(c);
    echo_conn_kick(c);
}

static bool
is_reflection(struct gw_str path)
{
    return gw_str_eq_cstr(path, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") ||
           gw_str_eq_cstr(path, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
}

/* Answers every complete request message buffered so far. */
static void
answer_reflection(struct echo_h2_stream *s)
{
    struct echo_conn *c = s->c;
    size_t off = 0;
    while (s->reqbody.len - off >= 5) {
        const unsigned char *p = (const unsigned char *)s->reqbody.p + off;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (s->reqbody.len - off - 5 < n)
            break;
        echo_grpc_reflection((const char *)p + 5, n, &s->body);
        off += 5 + n;
    }
    if (off) {
        memmove(s->reqbody.p, s->reqbody.p + off, s->reqbody.len - off);
        s->reqbody.len -= off;
    }
    if (!s->submitted) {
        s->resp.status = 200;
        s->resp.content_type = "application/grpc";
        s->trailers = true;
        submit(s);
    } else {
        nghttp2_session_resume_data(c->h2, s->id);
    }
}

static void
answer_grpc(struct echo_h2_stream *s)
{
    struct echo_conn *c = s->c;
    struct gw_str path = find(s, ":path");
    struct gw_str service = GW_STR(ECHO_GRPC_SERVICE);
    struct gw_str method = GW_STR_NULL;
    const char *slash = path.len > 1 ? memchr(path.p + 1, '/', path.len - 1) : NULL;
    struct gw_str svc = GW_STR_NULL;
    if (slash) {
        svc = (struct gw_str){path.p + 1, (size_t)(slash - path.p - 1)};
        method = (struct gw_str){slash + 1, path.len - (size_t)(slash + 1 - path.p)};
    }
    bool known = gw_str_eq(svc, service);
    if (is_reflection(path)) {
        answer_reflection(s);
        return;
    }
    if (known && (gw_str_eq_cstr(method, "Echo") || gw_str_eq_cstr(method, "EchoTwo"))) {
        /* metadata for the reply: :authority and the ordinary fields */
        struct gw_h1_header *md = gw_arena_alloc(&s->arena, (s->nh + 1) * sizeof(*md));
        size_t nmd = 0;
        for (size_t i = 0; i < s->nh; i++) {
            struct gw_str name = s->h[i].name;
            if (name.len && name.p[0] == ':' && !gw_str_eq_cstr(name, ":authority"))
                continue;
            md[nmd++] = s->h[i];
        }
        echo_grpc_response(c, path, find(s, ":authority"), md, nmd, &s->body);
        s->resp.status = 200;
        s->resp.content_type = "application/grpc";
        s->trailers = true;
        submit(s);
        return;
    }
    /* Trailers-only reply: HEADERS with grpc-status and END_STREAM. */
    const char *msg;
    if (known && gw_str_eq_cstr(method, "EchoThree"))
        msg = "method EchoThree not implemented";
    else if (known)
        msg = gw_arena_sprintf(&s->arena, "unknown method " GW_STR_FMT " for service " GW_STR_FMT,
                               GW_STR_ARG(method), GW_STR_ARG(svc));
    else
        msg = gw_arena_sprintf(&s->arena, "unknown service " GW_STR_FMT, GW_STR_ARG(svc));
    nghttp2_nv nv[] = {
        NV(":status", "200", 7, 3),
        NV("content-type", "application/grpc", 12, 16),
        NV("grpc-status", "12", 11, 2),
        NV("grpc-message", msg, 12, strlen(msg)),
    };
    nghttp2_submit_response(c->h2, s->id, nv, GW_ARRAY_LEN(nv), NULL);
}

static void
answer_http(struct echo_h2_stream *s, const struct echo_req *upgrade)
{
    struct echo_conn *c = s->c;
    struct echo_req req;
    if (upgrade) {
        req = *upgrade;
    } else {
        struct gw_h1_header *h = gw_arena_alloc(&s->arena, (s->nh + 1) * sizeof(*h));
        size_t n = 0;
        for (size_t i = 0; i < s->nh; i++) {
            if (s->h[i].name.len && s->h[i].name.p[0] != ':')
                h[n++] = s->h[i];
        }
        struct gw_str authority = find(s, ":authority");
        req = (struct echo_req){
            .method = find(s, ":method"),
            .target = find(s, ":path"),
            .path = find(s, ":path"),
            .host = authority.len ? authority : find(s, "host"),
            .proto = "HTTP/2.0",
            .h = h,
            .nh = n,
        };
    }
    echo_http_handle(c, &s->arena, &req, &s->resp, &s->body);
    if (s->resp.action == ECHO_ACT_WEBSOCKET) {
        /* Not reachable (no upgrades in HTTP/2), but never leave a stream
         * hanging. */
        s->resp.action = ECHO_ACT_SEND;
        s->resp.status = 400;
    }
    s->content_length = s->body.len;
    if (gw_str_eq_cstr(req.method, "HEAD"))
        gw_buf_reset(&s->body);
    if (s->resp.delay_ms > 0) {
        s->timer.cb = on_delay;
        gw_timer_start(&s->timer, s->resp.delay_ms);
        return;
    }
    if (s->resp.action == ECHO_ACT_RESET) {
        c->reset = true;
        echo_conn_close(c);
        return;
    }
    submit(s);
}

static void
request_done(struct echo_h2_stream *s)
{
    s->request_done = true;
    if (s->c->closing)
        return;
    if (s->c->kind == ECHO_KIND_GRPC || s->c->kind == ECHO_KIND_GRPCS)
        answer_grpc(s);
    else
        answer_http(s, NULL);
}

/* ------------------------------------------------------------------------ */
/* nghttp2 callbacks                                                        */

static int
on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct echo_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct echo_h2_stream *s = stream_new(c, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    return 0;
}

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    (void)user_data;
    struct echo_h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: nothing to echo */
    if (s->nh >= MAX_STREAM_HEADERS)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
    s->h = gw_xgrow(s->h, &s->cap, s->nh + 1, sizeof(*s->h));
    s->h[s->nh].name = (struct gw_str){gw_arena_memdup(&s->arena, name, namelen + 1), namelen};
    s->h[s->nh].value = (struct gw_str){gw_arena_memdup(&s->arena, value, valuelen + 1), valuelen};
    s->nh++;
    return 0;
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)user_data;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct echo_h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s)
        request_done(s);
    return 0;
}

static int
on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
              size_t len, void *user_data)
{
    (void)flags;
    (void)user_data;
    struct echo_h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s || !(s->c->kind == ECHO_KIND_GRPC || s->c->kind == ECHO_KIND_GRPCS))
        return 0; /* HTTP request bodies are read and dropped */
    if (!s->reflection) {
        if (!is_reflection(find(s, ":path")))
            return 0;
        s->reflection = true;
    }
    if (gw_buf_append(&s->reqbody, data, len) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    answer_reflection(s);
    return 0;
}

static int
on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data)
{
    (void)error_code;
    (void)user_data;
    struct echo_h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        stream_free(s);
    }
    return 0;
}

int
echo_h2_callbacks_init(struct echo_server *srv)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return GW_ENOMEM;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    srv->h2_callbacks = cb;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Connection glue                                                          */

static void
h2_send(struct echo_conn *c)
{
    if (!c->h2 || c->closing)
        return;
    while (c->out.len - c->out_off < ECHO_OUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
            echo_conn_close(c);
            return;
        }
        if (n == 0)
            break;
        if (gw_buf_append(&c->out, data, (size_t)n) < 0) {
            echo_conn_close(c);
            return;
        }
    }
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
        c->close_after_write = true;
}

int
echo_h2_start(struct echo_conn *c, const struct echo_req *upgrade, const uint8_t *settings,
              size_t settings_len)
{
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return GW_ENOMEM;
    nghttp2_option_set_max_send_header_block_length(opt, 1u << 20);
    int rc = nghttp2_session_server_new3(&c->h2, c->srv->h2_callbacks, c, opt, gw_h2_mem());
    nghttp2_option_del(opt);
    if (rc != 0) {
        c->h2 = NULL;
        return GW_ENOMEM;
    }
    c->proto = ECHO_PROTO_H2;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 250},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
    };
    if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, GW_ARRAY_LEN(iv)) != 0)
        return GW_EPROTO;
    if (upgrade) {
        struct echo_h2_stream *s = stream_new(c, 1);
        s->request_done = true; /* the HTTP/1.1 request was the whole request */
        bool head = gw_str_eq_cstr(upgrade->method, "HEAD");
        if (nghttp2_session_upgrade2(c->h2, settings, settings_len, head, s) != 0) {
            stream_free(s);
            return GW_EPROTO;
        }
        answer_http(s, upgrade);
    }
    h2_send(c);
    return 0;
}

void
echo_h2_process(struct echo_conn *c)
{
    if (!c->h2 || c->closing)
        return;
    size_t len = echo_conn_in_len(c);
    if (len) {
        ssize_t n = nghttp2_session_mem_recv(c->h2, (const uint8_t *)echo_conn_in(c), len);
        if (n < 0) {
            echo_conn_close(c);
            return;
        }
        c->in_off += (size_t)n;
    }
    h2_send(c);
}

void
echo_h2_release(struct echo_conn *c)
{
    /* The session first: should it report stream closes, they find their
     * streams still allocated. */
    if (c->h2)
        nghttp2_session_del(c->h2);
    c->h2 = NULL;
    while (c->streams)
        stream_free(c->streams);
}
