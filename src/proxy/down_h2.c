/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 from clients: h2c with prior knowledge on HTTP ports, h2 by ALPN
 * on HTTPS ports. An nghttp2 server session per connection, fed from the
 * connection's input buffer and drained into its output buffer (nghttp2
 * never touches the socket, so TLS and plain sockets look the same).
 *
 * Each request stream gets a px_dconn of its own without a socket (d->h2s
 * set) and runs through conn.c's request pipeline exactly as an HTTP/1.1
 * request does: routing, filters, retries, mirrors, the upstream attempt.
 * The two codecs differ only at the edges:
 *   request   the HEADERS become a gw_h1_request (views into the stream's
 *             arena; cookie crumbs joined into one field); DATA payload
 *             goes raw into d->in (length-delimited with content-length,
 *             else re-chunked upstream by conn.c)
 *   response  conn.c writes the response head as HTTP/1.1 text into d->out,
 *             then the body raw (never chunked for a stream), trailers
 *             through px_h2_stream_trailer, and sets rsp_done at the end;
 *             this file turns the head into HEADERS and the rest into DATA
 *             as the peer's flow-control windows allow.
 *
 * Bounded buffers: request DATA is acknowledged (WINDOW_UPDATE) only once
 * conn.c has taken it from d->in, so a stream holds at most one window.
 * Abuse limits: 100 concurrent streams, 64 KiB of decoded header list per
 * request and per trailer section (decoding stops there: the stream is
 * reset, and a second such block ends the connection with
 * ENHANCE_YOUR_CALM), decoded fields held per connection and per worker
 * (HPACK turns a few bytes into a large field: new streams are refused past
 * the caps), 8 CONTINUATION frames, outbound ACK queue 1000 (SETTINGS/PING
 * floods), incoming RST_STREAM rate, and a "glitch" budget for streams that
 * end before their response or are refused (rapid reset, also when the
 * server resets them): past it the connection ends with
 * ENHANCE_YOUR_CALM.
 *
 * Timeouts: a stream must complete its request or start its body within the
 * header timeout (else RST_STREAM CANCEL); the connection is idle when no
 * stream made progress (request fields or DATA in, response out) for the
 * idle timeout, whatever control frames (PING, SETTINGS, WINDOW_UPDATE) the
 * peer keeps sending. Both run on the connection's rtimer.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "h2/h2.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define H2_MAX_STREAMS     100
#define H2_MAX_HEADER_LIST (64 * 1024)
#define H2_GLITCHES        100
#define H2_WINDOW          65535
#define H2_MAX_TRAILERS    (8 * 1024) /* request trailer lines kept */
#define H2_CTRL_BURST      1000       /* SETTINGS/PING frames, then 100 per second */
/* Decoded header bytes (name + value + 32 per field, as SETTINGS counts
 * them) held by the streams of one connection, and by every connection of a
 * worker above each connection's first H2_CONN_HEADER_FLOOR (so that a
 * usual request fits on every connection, whatever the others hold). */
#define H2_CONN_HEADER_FLOOR   (16 * 1024)
#define H2_CONN_HEADER_BYTES   (1024 * 1024)
#define H2_WORKER_HEADER_BYTES ((size_t)32 * 1024 * 1024)
/* A worker that held this much gives freed memory back to the system once
 * it holds less than H2_TRIM_BELOW again (malloc keeps it otherwise). */
#define H2_TRIM_ABOVE     ((size_t)8 * 1024 * 1024)
#define H2_TRIM_BELOW     ((size_t)1024 * 1024)
#define H2_TRIM_WINDOW_MS 10000 /* trims, at most one a second, after that */
#define H2_OVERSIZED      2     /* over-limit header blocks on a connection: GOAWAY */
#define H2_SMALL_FIELDS   16    /* request fields kept in the stream itself */
#define H2_SMALL_HEAD     2048  /* response heads lower-cased on the stack */
#define H2_TLS_KEEP_MS    1000  /* TLS record buffers kept this long after the last stream moved */

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct px_h2_stream {
    struct px_h2 *h;
    struct px_h2_stream *next, *prev;
    int32_t id;
    struct px_dconn *d; /* the request, once started */
    struct gw_arena arena;
    struct gw_h1_header *hv; /* regular fields: hv_small, or the heap past it */
    size_t nh, cap;
    struct gw_h1_header hv_small[H2_SMALL_FIELDS];
    struct gw_str method, scheme, authority, path, host;
    size_t hdr_bytes;         /* decoded request header list */
    size_t tr_bytes;          /* decoded trailer section */
    size_t held;              /* charged to the connection and worker */
    uint64_t born;            /* HEADERS began (ms): the header timeout */
    bool abuse;               /* refused or answered for a limit: a glitch */
    bool reaped;              /* reset for the header timeout */
    bool too_big;             /* header list past the limit: 431 */
    bool bad;                 /* malformed beyond what nghttp2 checks */
    bool has_cl;              /* content-length given */
    uint64_t cl;              /* its value */
    bool headers_end;         /* request HEADERS complete */
    bool in_end;              /* END_STREAM from the client */
    bool submitted;           /* response HEADERS submitted */
    bool deferred;            /* the data source waits for bytes */
    bool finished;            /* the whole response went to nghttp2 */
    uint64_t appended, acked; /* request DATA bytes into d->in / consumed */
    struct px_buf trailers;   /* "name: value\r\n" lines */
    struct px_buf cookie;     /* the request's cookie fields joined by "; " */
    struct px_buf qtrailers;  /* request trailers, "name: value\r\n" lines */
};

struct px_h2 {
    struct px_dconn *c;
    nghttp2_session *s;
    struct px_h2_stream *streams;
    unsigned glitches;
    unsigned oversized; /* header blocks past H2_MAX_HEADER_LIST */
    uint64_t completed;
    size_t held;          /* decoded header bytes of its streams */
    uint64_t progress_at; /* a stream last moved (ms): the idle timeout */
    int64_t ctrl_budget;  /* SETTINGS and PING we still answer at once */
    uint64_t ctrl_at;     /* when the budget was last refilled (ms) */
    struct gw_defer defer;
    bool defer_armed;
    bool dead;     /* the connection is gone; the defer frees */
    bool in_recv;  /* inside nghttp2_session_mem_recv */
    bool flushing; /* inside flush() */
    bool again;    /* flush asked for while flushing */
    bool closing;  /* GOAWAY decided: close once it is out */
    bool hard;     /* a flood: close at once, the GOAWAY best effort */
};

static void flush(struct px_h2 *h);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void
on_defer(void *arg)
{
    struct px_h2 *h = arg;
    h->defer_armed = false;
    if (h->dead) {
        free(h);
        return;
    }
    flush(h);
}

/* Output is produced at the end of the loop turn: never from inside an
 * nghttp2 callback, and once for everything a turn queued. */
static void
schedule(struct px_h2 *h)
{
    if (h->defer_armed || h->dead)
        return;
    h->defer_armed = true;
    gw_loop_defer(h->c->w->loop, &h->defer, on_defer, h);
}

static void
glitch(struct px_h2 *h)
{
    if (++h->glitches > H2_GLITCHES && h->glitches > h->completed && !h->closing) {
        nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
        h->closing = true;
    }
}

/* A stream moved: the connection is not idle. */
static void
progress(struct px_h2 *h)
{
    h->progress_at = gw_loop_now(h->c->w->loop);
}

/* Charges n decoded header bytes to s, its connection and its worker; false
 * (nothing charged) past the caps. */
static bool
charge(struct px_h2_stream *s, size_t n)
{
    struct px_h2 *h = s->h;
    struct px_worker *w = h->c->w;
    size_t conn = h->held + n;
    if (conn > H2_CONN_HEADER_FLOOR &&
        (conn > H2_CONN_HEADER_BYTES || w->h2_held + n > H2_WORKER_HEADER_BYTES))
        return false;
    h->held = conn;
    w->h2_held += n;
    s->held += n;
    if (w->h2_held > H2_TRIM_ABOVE)
        w->h2_trim = true;
    return true;
}

static void
uncharge(struct px_h2_stream *s)
{
    struct px_h2 *h = s->h;
    struct px_worker *w = h->c->w;
    h->held -= s->held;
    w->h2_held -= s->held;
    s->held = 0;
}

/* After a burst of held fields (an attack, mostly) the freed blocks stay
 * with malloc's arenas: once the worker holds little again, give them back,
 * at stream and connection ends, at most once a second for
 * H2_TRIM_WINDOW_MS (the attack's connections close over a few seconds, and
 * their sessions and buffers are freed after their fields). Rare:
 * H2_TRIM_ABOVE must have been passed since the last window. */
static void
maybe_trim(struct px_worker *w)
{
    if (!w->h2_trim || w->h2_held >= H2_TRIM_BELOW)
        return;
    uint64_t now = gw_loop_now(w->loop);
    if (!w->h2_trim_until)
        w->h2_trim_until = now + H2_TRIM_WINDOW_MS;
    else if (now >= w->h2_trim_until)
        w->h2_trim = false; /* this trim is the last of the window */
    else if (now - w->h2_trim_at < 1000)
        return;
    if (!w->h2_trim)
        w->h2_trim_until = 0;
    w->h2_trim_at = now;
    malloc_trim(0);
}

/* Ends stream s at once with code, from inside a header callback: the rest
 * of its header block is decoded for the HPACK table only (no field checks,
 * no callbacks). Our RST_STREAM goes first, so nghttp2 adds none of its own. */
static void
count_limit(struct px_h2 *h, enum px_h2_limit why)
{
    atomic_uint_fast64_t *c = &h->c->w->m->h2_limited[why];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static int
refuse(struct px_h2 *h, struct px_h2_stream *s, uint32_t code)
{
    s->abuse = true;
    count_limit(h, code == NGHTTP2_PROTOCOL_ERROR ? PX_H2_LIMIT_OVERSIZED : PX_H2_LIMIT_MEMORY);
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id, code);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

/* A header block past H2_MAX_HEADER_LIST (fields or trailers): the stream is
 * reset; a repeat ends the connection. */
static int
oversized(struct px_h2 *h, struct px_h2_stream *s)
{
    if (++h->oversized >= H2_OVERSIZED && !h->closing) {
        nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
        h->closing = true;
    }
    return refuse(h, s, NGHTTP2_PROTOCOL_ERROR);
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                  */

static struct px_h2_stream *
stream_new(struct px_h2 *h, int32_t id)
{
    struct px_h2_stream *s = gw_xcalloc(1, sizeof(*s));
    s->h = h;
    s->id = id;
    s->born = gw_loop_now(h->c->w->loop);
    gw_arena_init(&s->arena, 1024);
    px_buf_init(&s->trailers, 16 * 1024);
    px_buf_init(&s->cookie, H2_MAX_HEADER_LIST);
    px_buf_init(&s->qtrailers, H2_MAX_TRAILERS);
    s->next = h->streams;
    if (s->next)
        s->next->prev = s;
    h->streams = s;
    return s;
}

static void
stream_free(struct px_h2_stream *s)
{
    struct px_h2 *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (h->s)
        nghttp2_session_set_stream_user_data(h->s, s->id, NULL);
    if (s->d) {
        struct px_dconn *d = s->d;
        s->d = NULL;
        d->h2s = NULL;
        px_dconn_close(d);
    }
    gw_arena_release(&s->arena);
    bool charged = s->held != 0;
    struct px_worker *w = h->c->w;
    if (charged)
        uncharge(s);
    px_buf_release(&s->trailers);
    px_buf_release(&s->cookie);
    px_buf_release(&s->qtrailers);
    if (s->hv != s->hv_small)
        free(s->hv);
    free(s);
    if (charged)
        maybe_trim(w);
}

static struct gw_str
dup_str(struct px_h2_stream *s, const uint8_t *p, size_t n)
{
    return (struct gw_str){gw_arena_strndup(&s->arena, (const char *)p, n), n};
}

/* ------------------------------------------------------------------------ */
/* Responses: d->out (HTTP/1.1 head, raw body) to HEADERS and DATA          */

static bool
eq_nocase(struct gw_str a, struct gw_str b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

static ssize_t
read_body(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
          nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)id;
    struct px_h2 *h = user_data;
    struct px_h2_stream *s = source->ptr;
    struct px_dconn *d = s->d;
    if (!d)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = GW_MIN(length, px_buf_avail(&d->out));
    if (n) {
        memcpy(buf, px_buf_data(&d->out), n);
        px_buf_consume(&d->out, n);
        d->sent_in_window += n;
        progress(h);
        schedule(h); /* conn.c may resume the upstream (px_dconn_after_flush) */
    }
    if (px_buf_avail(&d->out) == 0 && d->rsp_done) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        s->finished = true;
        if (px_buf_avail(&s->trailers)) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_nv nv[32];
            size_t nn = 0;
            const char *p = px_buf_data(&s->trailers), *end = p + px_buf_avail(&s->trailers);
            while (p < end && nn < GW_ARRAY_LEN(nv)) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *colon = memchr(p, ':', (size_t)(end - p));
                if (!nl || !colon || colon > nl)
                    break;
                const char *v = colon + 1;
                while (v < nl && *v == ' ')
                    v++;
                size_t vl = (size_t)(nl - v);
                if (vl && v[vl - 1] == '\r')
                    vl--;
                nv[nn++] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, (size_t)(colon - p), vl,
                                        NGHTTP2_NV_FLAG_NONE};
                p = nl + 1;
            }
            nghttp2_submit_trailer(h->s, s->id, nv, nn);
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* The status of an "HTTP/1.1 NNN Reason" line; 0 if it is not one. */
static int
status_of(struct gw_str line)
{
    static const char pre[] = "HTTP/1.";
    if (line.len < 12 || memcmp(line.p, pre, sizeof(pre) - 1) != 0 || line.p[8] != ' ' ||
        (line.len > 12 && line.p[12] != ' '))
        return 0;
    int v = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line.p[i] < '0' || line.p[i] > '9')
            return 0;
        v = v * 10 + (line.p[i] - '0');
    }
    return v;
}

/* Submits the response head once d->out holds it. */
static void
submit_head(struct px_h2 *h, struct px_h2_stream *s)
{
    struct px_dconn *d = s->d;
    static const struct gw_h1_limits lim = GW_H1_LIMITS_INIT;
    for (;;) {
        /* conn.c's formatters wrote it: split, not parsed again. */
        struct gw_h1_response res = {.headers = d->w->hbuf, .max_headers = PX_MAX_HEADERS};
        struct gw_str line;
        int n = px_head_split(px_buf_data(&d->out), px_buf_avail(&d->out), lim.max_head_bytes,
                              &line, res.headers, res.max_headers, &res.nheaders);
        if (n == GW_EAGAIN)
            return;
        res.status = n > 0 ? status_of(line) : 0;
        if (n < 0 || res.status < 100) {
            nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        if (res.status < 200) {
            px_buf_consume(&d->out, (size_t)n);
            continue;
        }
        nghttp2_nv nv[PX_MAX_HEADERS + 1];
        size_t nn = 0;
        char status[4] = {(char)('0' + res.status / 100 % 10), (char)('0' + res.status / 10 % 10),
                          (char)('0' + res.status % 10), 0};
        nv[nn++] =
            (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
        /* Field names in lower case: a copy, since the head is still in
         * d->out (nghttp2 copies them again). */
        char small[H2_SMALL_HEAD];
        char *lower = (size_t)n < sizeof(small) ? small : gw_xmalloc((size_t)n + 1);
        size_t off = 0;
        for (size_t i = 0; i < res.nheaders; i++) {
            const struct gw_h1_header *f = &res.headers[i];
            if (px_field_is_hop_by_hop(f->name))
                continue;
            char *ln = lower + off;
            gw_h2_name_lower(ln, f->name.p, f->name.len);
            off += f->name.len;
            nv[nn++] = (nghttp2_nv){(uint8_t *)ln, (uint8_t *)f->value.p, f->name.len, f->value.len,
                                    NGHTTP2_NV_FLAG_NONE};
        }
        px_buf_consume(&d->out, (size_t)n);
        d->sent_in_window += (size_t)n;
        nghttp2_data_provider dp = {.source.ptr = s, .read_callback = read_body};
        bool body = !(d->rsp_done && px_buf_avail(&d->out) == 0 && !px_buf_avail(&s->trailers));
        if (!body)
            s->finished = true;
        nghttp2_submit_response(h->s, s->id, nv, nn, body ? &dp : NULL);
        if (lower != small)
            free(lower);
        progress(h);
        s->submitted = true;
        return;
    }
}

void
px_h2_stream_out(struct px_dconn *d)
{
    struct px_h2_stream *s = d->h2s;
    if (!s)
        return;
    struct px_h2 *h = s->h;
    if (!s->submitted)
        submit_head(h, s);
    else if (s->deferred) {
        s->deferred = false;
        nghttp2_session_resume_data(h->s, s->id);
    }
    schedule(h);
}

void
px_h2_stream_trailer(struct px_dconn *d, struct gw_str name, struct gw_str value)
{
    struct px_h2_stream *s = d->h2s;
    if (!s || !px_trailer_is_forwarded(name))
        return;
    size_t mark = s->trailers.len; /* never consumed: spans do not move it */
    char *ln = px_buf_span(&s->trailers, name.len);
    int rc = ln ? 0 : GW_ELIMIT;
    if (ln) {
        gw_h2_name_lower(ln, name.p, name.len);
        px_buf_commit(&s->trailers, name.len);
    }
    rc |= px_buf_append(&s->trailers, ": ", 2);
    rc |= px_buf_append_str(&s->trailers, value);
    rc |= px_buf_append(&s->trailers, "\r\n", 2);
    if (rc)
        s->trailers.len = mark; /* past the bound: dropped */
}

void
px_h2_stream_update(struct px_dconn *d)
{
    struct px_h2_stream *s = d->h2s;
    if (!s)
        return;
    /* Request bytes conn.c took from d->in open the window again. */
    uint64_t held = px_buf_avail(&d->in);
    uint64_t taken = s->appended - held;
    if (taken > s->acked && (held == 0 || taken - s->acked >= H2_WINDOW / 4)) {
        nghttp2_session_consume(s->h->s, s->id, (size_t)(taken - s->acked));
        s->acked = taken;
        schedule(s->h);
    }
}

void
px_h2_stream_detach(struct px_dconn *d)
{
    struct px_h2_stream *s = d->h2s;
    if (!s)
        return;
    d->h2s = NULL;
    s->d = NULL;
    struct px_h2 *h = s->h;
    if (!s->finished) {
        /* The pipeline gave up on this request (upstream failure after the
         * response began, client timeouts): the stream ends with a reset. */
        nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        schedule(h);
    }
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static void
reply_status(struct px_h2 *h, struct px_h2_stream *s, int status)
{
    char st[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                  (char)('0' + status % 10), 0};
    nghttp2_nv nv[] = {{(uint8_t *)":status", (uint8_t *)st, 7, 3, NGHTTP2_NV_FLAG_NONE}};
    s->finished = true;
    s->submitted = true;
    nghttp2_submit_response(h->s, s->id, nv, 1, NULL);
}

int
px_h2_stream_request(struct px_h2_stream *s, struct gw_h1_request *out)
{
    struct gw_h1_request req = {
        .headers = s->hv,
        .max_headers = s->cap,
        .nheaders = s->nh,
        .method = s->method,
        .method_id = gw_h1_method_from(s->method),
        .target = s->path,
        .form = GW_H1_FORM_ORIGIN,
        .path = s->path,
        .minor_version = 1,
        .host = s->authority,
        .authority = s->authority,
        .keep_alive = true,
    };
    if (s->in_end && s->appended == 0 && !px_buf_avail(&s->qtrailers)) {
        req.body = GW_H1_BODY_NONE;
    } else if (s->has_cl) {
        req.body = GW_H1_BODY_LENGTH;
        req.content_length = s->cl;
    } else {
        /* raw DATA, chunked upstream; only this framing carries trailers */
        req.body = GW_H1_BODY_CHUNKED;
    }
    *out = req;
    return 0;
}

/* The request as conn.c sees it; starts the pipeline. */
static void
start(struct px_h2 *h, struct px_h2_stream *s)
{
    struct gw_h1_request req;
    px_h2_stream_request(s, &req);
    s->d = px_dconn_stream_new(h->c, s);
    s->d->in_end = s->in_end; /* trailers without DATA: the body is over */
    px_dconn_stream_start(s->d, &req);
}

static int
on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    struct px_h2 *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct px_h2_stream *s = stream_new(h, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(h->s, frame->hd.stream_id, s);
    /* The rtimer fires by this stream's header deadline at the latest. */
    struct px_dconn *c = h->c;
    unsigned ht = c->w->p->o.header_timeout_ms;
    if (ht && (!gw_timer_is_active(&c->rtimer) || c->rtimer.due > s->born + ht))
        gw_timer_start(&c->rtimer, ht);
    return 0;
}

/* Appends a regular field (views into the stream's arena); false past
 * PX_MAX_HEADERS. */
static bool
push_field(struct px_h2_stream *s, struct gw_str name, struct gw_str value)
{
    if (s->nh == s->cap) {
        if (s->cap >= PX_MAX_HEADERS)
            return false;
        if (!s->hv) {
            s->hv = s->hv_small;
            s->cap = H2_SMALL_FIELDS;
        } else {
            size_t cap = s->cap * 2;
            struct gw_h1_header *hv = gw_xmalloc(cap * sizeof(*hv));
            memcpy(hv, s->hv, s->nh * sizeof(*hv));
            if (s->hv != s->hv_small)
                free(s->hv);
            s->hv = hv;
            s->cap = cap;
        }
    }
    s->hv[s->nh++] = (struct gw_h1_header){name, value};
    return true;
}

/* CR, LF or NUL in p[0..n) (a word at a time: every field of every
 * request goes through it); in a path, also space, controls and DEL. */
static bool
bad_bytes(const uint8_t *p, size_t n, bool path)
{
    if (px_wire_is_unsafe((struct gw_str){(const char *)p, n}))
        return true;
    for (size_t i = 0; path && i < n; i++)
        if (p[i] <= ' ' || p[i] == 0x7f)
            return true;
    return false;
}

/* A request trailer field: kept for the chunked upstream body's trailer
 * section (px_h2_stream_req_trailers). Framing, routing and hop-by-hop
 * fields are dropped (RFC 9110 6.5.1), and so is what is past the bound. */
static void
request_trailer(struct px_h2_stream *s, struct gw_str name, struct gw_str value)
{
    if (bad_bytes((const uint8_t *)name.p, name.len, false) ||
        bad_bytes((const uint8_t *)value.p, value.len, false) || !px_trailer_is_forwarded(name) ||
        (name.len && name.p[0] == ':'))
        return;
    size_t mark = s->qtrailers.len;
    int rc = px_buf_append_str(&s->qtrailers, name);
    rc |= px_buf_append(&s->qtrailers, ": ", 2);
    rc |= px_buf_append_str(&s->qtrailers, value);
    rc |= px_buf_append(&s->qtrailers, "\r\n", 2);
    if (rc)
        s->qtrailers.len = mark;
}

struct gw_str
px_h2_stream_req_trailers(const struct px_dconn *d)
{
    const struct px_h2_stream *s = d->h2s;
    if (!s)
        return GW_STR_NULL;
    return (struct gw_str){px_buf_data(&s->qtrailers), px_buf_avail(&s->qtrailers)};
}

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    struct px_h2 *h = user_data;
    struct px_h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s)
        return 0;
    /* Checked before the field is kept: HPACK makes a field of up to 4 KiB
     * from one byte, and nghttp2 validates each one before this callback. */
    size_t n = namelen + valuelen + 32;
    if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
        s->tr_bytes += n;
        if (s->tr_bytes > H2_MAX_HEADER_LIST)
            return oversized(h, s);
        if (!charge(s, n))
            return refuse(h, s, NGHTTP2_CANCEL); /* the request went upstream */
        request_trailer(s, (struct gw_str){(const char *)name, namelen},
                        (struct gw_str){(const char *)value, valuelen});
        return 0;
    }
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    s->hdr_bytes += n;
    if (s->hdr_bytes > H2_MAX_HEADER_LIST)
        return oversized(h, s);
    if (!charge(s, n))
        return refuse(h, s, NGHTTP2_REFUSED_STREAM);
    if (s->too_big || s->bad)
        return 0;
    if (bad_bytes(name, namelen, false) || bad_bytes(value, valuelen, false)) {
        s->bad = true;
        return 0;
    }
    if (namelen && name[0] == ':') {
        struct gw_str v = dup_str(s, value, valuelen);
        if (namelen == 7 && !memcmp(name, ":method", 7))
            s->method = v;
        else if (namelen == 7 && !memcmp(name, ":scheme", 7))
            s->scheme = v;
        else if (namelen == 10 && !memcmp(name, ":authority", 10))
            s->authority = v;
        else if (namelen == 5 && !memcmp(name, ":path", 5)) {
            s->path = v;
            if (bad_bytes(value, valuelen, true))
                s->bad = true;
        }
        return 0;
    }
    if (namelen == 4 && !memcmp(name, "host", 4)) {
        s->host = dup_str(s, value, valuelen);
        return 0; /* :authority wins; Host is rebuilt upstream */
    }
    if (namelen == 14 && !memcmp(name, "content-length", 14)) {
        uint64_t v = 0;
        for (size_t i = 0; i < valuelen; i++)
            v = v * 10 + (uint64_t)(value[i] - '0'); /* digits: nghttp2 checked */
        s->has_cl = true;
        s->cl = v;
    }
    if (namelen == 6 && !memcmp(name, "cookie", 6)) {
        /* h2 clients may split the cookie into one field per crumb; an
         * HTTP/1.1 upstream must see one field (RFC 9113 8.2.3). Joined
         * in headers_done, bounded by the header list limit above. */
        int rc = 0;
        if (valuelen && px_buf_avail(&s->cookie))
            rc = px_buf_append(&s->cookie, "; ", 2);
        if (rc == 0)
            rc = px_buf_append(&s->cookie, value, valuelen);
        if (rc < 0)
            s->too_big = true;
        return 0;
    }
    if (!push_field(s, dup_str(s, name, namelen), dup_str(s, value, valuelen)))
        s->too_big = true;
    return 0;
}

/* The :path as an HTTP/1.1 request-target must pass the HTTP/1.1 parser's
 * checks (bytes, %-escapes, in the query too), since it goes upstream in a
 * request line: the parser itself judges a line made of it. "*" (OPTIONS)
 * and CONNECT's missing :path are nghttp2's to check. */
static bool
path_is_valid(struct px_h2_stream *s)
{
    static const char pre[] = "GET ", post[] = " HTTP/1.0\r\n\r\n";
    size_t np = sizeof(pre) - 1, nq = sizeof(post) - 1;
    if (s->path.len == 0 || (s->path.len == 1 && s->path.p[0] == '*'))
        return true;
    if (s->path.p[0] != '/')
        return false;
    char small[512];
    size_t n = np + s->path.len + nq;
    char *line = n <= sizeof(small) ? small : gw_arena_alloc(&s->arena, n);
    memcpy(line, pre, np);
    memcpy(line + np, s->path.p, s->path.len);
    memcpy(line + np + s->path.len, post, nq);
    /* Length is the header list limit's business, not the request line's. */
    struct gw_h1_limits lim = GW_H1_LIMITS_DEFAULT;
    lim.max_request_line = n;
    lim.max_head_bytes = n;
    struct gw_h1_header none[1];
    struct gw_h1_request req = {.headers = none, .max_headers = 0};
    return gw_h1_request_parse(line, n, &req, &lim) == (int)n;
}

static void
headers_done(struct px_h2 *h, struct px_h2_stream *s)
{
    s->headers_end = true;
    if (px_buf_avail(&s->cookie) && !s->too_big && !s->bad) {
        struct gw_str v =
            dup_str(s, (const uint8_t *)px_buf_data(&s->cookie), px_buf_avail(&s->cookie));
        if (!push_field(s, gw_str_from("cookie"), v))
            s->too_big = true;
    }
    px_buf_release(&s->cookie);
    if (!s->authority.len && s->host.len)
        s->authority = s->host;
    if (!s->bad && !path_is_valid(s))
        s->bad = true;
    if (s->bad || (s->host.len && s->authority.len && !eq_nocase(s->host, s->authority))) {
        nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
        return;
    }
    if (s->too_big) {
        /* too many fields, or cookies: as abusive as a long list */
        s->abuse = true;
        count_limit(h, PX_H2_LIMIT_OVERSIZED);
        if (++h->oversized >= H2_OVERSIZED && !h->closing) {
            nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
            h->closing = true;
        }
        reply_status(h, s, 431);
        return;
    }
    if (s->in_end)
        start(h, s);
    /* else the request starts with its first DATA: the body framing is
     * known then, and a stream that never sends one costs no upstream. */
}

static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct px_h2 *h = user_data;
    struct px_h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (!s)
            return 0;
        progress(h);
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
            s->in_end = true;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            headers_done(h, s);
        } else if (s->in_end) {
            /* request trailers: the body ends */
            if (!s->d && !s->finished)
                start(h, s);
            else if (s->d) {
                s->d->in_end = true;
                px_dconn_stream_input(s->d);
            }
        }
        return 0;
    case NGHTTP2_DATA:
        if (!s || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            return 0;
        s->in_end = true;
        if (!s->d && !s->finished && s->headers_end && !s->bad && !s->too_big)
            start(h, s);
        else if (s->d) {
            s->d->in_end = true;
            px_dconn_stream_input(s->d);
        }
        return 0;
    default:
        return 0;
    }
}

static int
on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *user_data)
{
    (void)flags;
    struct px_h2 *h = user_data;
    struct px_h2_stream *s = nghttp2_session_get_stream_user_data(session, id);
    if (s && len)
        progress(h);
    if (s && !s->d && !s->finished && s->headers_end && !s->bad && !s->too_big)
        start(h, s);
    struct px_dconn *d = s ? s->d : NULL;
    if (!d || d->req_done || d->mode != PX_D_PROXY) {
        /* nobody reads it: the window opens at once */
        nghttp2_session_consume(session, id, len);
        schedule(h);
        return 0;
    }
    /* At most one stream window: the peer cannot send more than we ack. */
    if (px_buf_append(&d->in, data, len) < 0) {
        nghttp2_session_consume(session, id, len);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->appended += len;
    px_dconn_stream_input(d);
    return 0;
}

static int
on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *user_data)
{
    struct px_h2 *h = user_data;
    struct px_h2_stream *s = nghttp2_session_get_stream_user_data(session, id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(session, id, NULL);
    if (s->finished && !s->abuse && error_code == NGHTTP2_NO_ERROR)
        h->completed++;
    else
        glitch(h); /* reset, by either side, before the response ended */
    stream_free(s);
    return 0;
}

static int
on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *user_data)
{
    (void)session;
    struct px_h2 *h = user_data;
    if ((hd->type == NGHTTP2_SETTINGS || hd->type == NGHTTP2_PING) &&
        !(hd->flags & NGHTTP2_FLAG_ACK)) {
        /* Each one makes us send an ACK: a client that never reads must
         * not grow our output (CVE-2019-9512, -9515). */
        uint64_t now = gw_loop_now(h->c->w->loop);
        uint64_t add = (now - h->ctrl_at) / 10;
        if (add) {
            h->ctrl_budget = GW_MIN(h->ctrl_budget + (int64_t)add, (int64_t)H2_CTRL_BURST);
            h->ctrl_at = now;
        }
        if (--h->ctrl_budget < 0 && !h->closing) {
            nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
            h->closing = h->hard = true;
        }
    }
    /* Empty frames cost work and no budget (CVE-2019-9518). */
    if (hd->length == 0 && (hd->type == NGHTTP2_CONTINUATION ||
                            (hd->type == NGHTTP2_DATA && !(hd->flags & NGHTTP2_FLAG_END_STREAM))))
        glitch(h);
    return 0;
}

static int
on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame, int lib_error_code,
                 void *user_data)
{
    (void)session;
    (void)frame;
    (void)lib_error_code;
    glitch(user_data);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The connection                                                           */

static nghttp2_session_callbacks *
callbacks(void)
{
    /* nghttp2 copies it into the session: the caller deletes it. */
    nghttp2_session_callbacks *cb = NULL;
    if (nghttp2_session_callbacks_new(&cb) == 0) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
        nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    }
    return cb;
}

bool
px_h2_preface_prefix(const char *p, size_t n)
{
    size_t k = GW_MIN(n, sizeof(h2_preface) - 1);
    return k > 0 && memcmp(p, h2_preface, k) == 0;
}

size_t
px_h2_preface_len(void)
{
    return sizeof(h2_preface) - 1;
}

int
px_h2_start(struct px_dconn *c)
{
    struct px_h2 *h = gw_xcalloc(1, sizeof(*h));
    h->c = c;
    h->ctrl_budget = H2_CTRL_BURST;
    h->ctrl_at = gw_loop_now(c->w->loop);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_stream_reset_rate_limit(opt, 200, 33);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_session_callbacks *cb = callbacks();
    int rc = cb ? nghttp2_session_server_new3(&h->s, cb, h, opt, gw_h2_mem()) : NGHTTP2_ERR_NOMEM;
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    if (rc != 0) {
        free(h);
        return GW_ENOMEM;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, GW_ARRAY_LEN(iv));
    /* The connection window covers every stream's: one stream whose
     * upstream is slow must not stall the others. */
    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, H2_MAX_STREAMS * H2_WINDOW);
    c->h2 = h;
    c->mode = PX_D_HEAD;
    h->progress_at = gw_loop_now(c->w->loop);
    gw_timer_start(&c->rtimer, c->w->p->o.idle_timeout_ms);
    px_h2_input(c);
    return 0;
}

static void
finish_if_done(struct px_h2 *h)
{
    struct px_dconn *c = h->c;
    if (c->mode == PX_D_LINGER || c->closing)
        return;
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s)) {
        px_dconn_close_after_flush(c);
        return;
    }
    if (h->closing && !h->streams && !nghttp2_session_want_write(h->s))
        px_dconn_close_after_flush(c);
}

void
px_h2_input(struct px_dconn *c)
{
    struct px_h2 *h = c->h2;
    if (!h || c->closing || c->mode == PX_D_LINGER)
        return;
    h->in_recv = true;
    ssize_t n =
        nghttp2_session_mem_recv(h->s, (const uint8_t *)px_buf_data(&c->in), px_buf_avail(&c->in));
    h->in_recv = false;
    if (c->closing)
        return;
    if (n < 0) {
        /* Bad preface, flood detected, ...: nghttp2 may have queued a
         * GOAWAY; send what it has, then close. */
        px_buf_consume(&c->in, px_buf_avail(&c->in));
        if (n != NGHTTP2_ERR_BAD_CLIENT_MAGIC && !h->closing) {
            nghttp2_session_terminate_session(h->s, n == NGHTTP2_ERR_FLOODED
                                                        ? NGHTTP2_ENHANCE_YOUR_CALM
                                                        : NGHTTP2_PROTOCOL_ERROR);
        }
        h->closing = true;
        flush(h);
        if (!c->closing && c->mode != PX_D_LINGER)
            px_dconn_close_after_flush(c);
        return;
    }
    px_buf_consume(&c->in, (size_t)n);
    flush(h);
    if (h->hard && !c->closing) {
        /* Lingering would keep reading the flood: the close resets. */
        px_dconn_close(c);
    }
}

/* A TLS connection with streams keeps OpenSSL's record buffers (freeing
 * and allocating them around every read and write that empties them costs
 * more than the records' crypto); px_h2_timeout gives them back once no
 * stream moved for H2_TLS_KEEP_MS, so an idle connection holds none. */
static void
keep_tls_buffers(struct px_h2 *h)
{
    struct px_dconn *c = h->c;
    px_tls_keep_buffers(c, true);
    uint64_t due = gw_loop_now(c->w->loop) + H2_TLS_KEEP_MS;
    if (!gw_timer_is_active(&c->rtimer) || c->rtimer.due > due)
        gw_timer_start(&c->rtimer, H2_TLS_KEEP_MS);
}

/* nghttp2 -> c->out, then the socket; streams whose output drained get to
 * produce more. */
static void
flush(struct px_h2 *h)
{
    struct px_dconn *c = h->c;
    if (h->flushing) {
        h->again = true;
        return;
    }
    if (c->closing || c->mode == PX_D_LINGER)
        return;
    h->flushing = true;
    do {
        h->again = false;
        while (px_buf_avail(&c->out) < PX_HIGH) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(h->s, &p);
            if (n < 0) {
                h->flushing = false;
                px_dconn_close(c);
                return;
            }
            if (n == 0)
                break;
            if (px_buf_append(&c->out, p, (size_t)n) < 0) {
                h->flushing = false;
                px_dconn_close(c);
                return;
            }
        }
        /* Streams whose d->out has room again take more from upstream. */
        for (struct px_h2_stream *s = h->streams; s;) {
            struct px_h2_stream *next = s->next;
            if (s->d && s->d->mode == PX_D_PROXY && px_buf_avail(&s->d->out) < PX_HIGH)
                px_dconn_after_flush(s->d);
            s = next;
        }
    } while (h->again && !c->closing);
    h->flushing = false;
    if (c->closing)
        return;
    finish_if_done(h);
    if (!c->closing) {
        if (GW_UNLIKELY(c->ssl && !c->tls_keep) && h->streams)
            keep_tls_buffers(h);
        px_dconn_flush(c);
    }
}

void
px_h2_flushed(struct px_dconn *c)
{
    struct px_h2 *h = c->h2;
    if (h && !h->flushing && nghttp2_session_want_write(h->s))
        schedule(h);
    if (h && !c->closing && c->mode != PX_D_LINGER)
        finish_if_done(h);
}

unsigned
px_h2_interest(const struct px_dconn *c)
{
    /* Always read: nghttp2 must see floods to stop them, and c->in is
     * consumed whole by every mem_recv. */
    unsigned ev = GW_LOOP_READ;
    if (px_buf_avail(&c->out))
        ev |= GW_LOOP_WRITE;
    return ev;
}

/* Resets the streams still sending their request head, or yet to start
 * their body (no DATA), past the header timeout; lowers *due to the
 * earliest deadline of those left. */
static void
reap_slow_streams(struct px_h2 *h, uint64_t now, uint64_t *due)
{
    unsigned ht = h->c->w->p->o.header_timeout_ms;
    if (!ht)
        return;
    for (struct px_h2_stream *s = h->streams; s; s = s->next) {
        if (s->d || s->in_end || s->reaped)
            continue;
        if (s->born + ht <= now) {
            s->reaped = true;
            /* Unprocessed: the client may retry; a glitch all the same
             * (on_stream_close), so that a pattern of it ends the
             * connection. */
            s->abuse = true;
            count_limit(h, PX_H2_LIMIT_HEADER_TIMEOUT);
            nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
            schedule(h);
        } else if (s->born + ht < *due) {
            *due = s->born + ht;
        }
    }
}

void
px_h2_timeout(struct px_dconn *c)
{
    struct px_h2 *h = c->h2;
    uint64_t now = gw_loop_now(c->w->loop);
    unsigned idle = c->w->p->o.idle_timeout_ms;
    uint64_t due = UINT64_MAX;
    reap_slow_streams(h, now, &due);
    if (c->tls_keep) {
        if (!h->streams && h->progress_at + H2_TLS_KEEP_MS <= now)
            px_tls_keep_buffers(c, false);
        else
            due = GW_MIN(due, GW_MAX(h->progress_at, now) + H2_TLS_KEEP_MS);
    }
    /* Idle: no stream moved for the idle timeout; control frames do not
     * count. Streams waiting on an upstream keep the connection (their own
     * timers bound them); streams stuck behind a closed flow-control window
     * (d->out full) do not (zero-window hold). */
    if (h->progress_at + idle > now) {
        due = GW_MIN(due, h->progress_at + idle);
        gw_timer_start(&c->rtimer, due - now);
        return;
    }
    for (struct px_h2_stream *s = h->streams; s; s = s->next) {
        if (s->d && s->d->mode == PX_D_PROXY && px_buf_avail(&s->d->out) == 0) {
            h->progress_at = now;
            due = GW_MIN(due, now + idle);
            gw_timer_start(&c->rtimer, due - now);
            return;
        }
    }
    px_h2_drain(c);
    h->closing = true;
    while (h->streams)
        stream_free(h->streams);
    if (!c->closing) {
        flush(h);
        if (!c->closing && c->mode != PX_D_LINGER)
            px_dconn_close_after_flush(c);
    }
}

void
px_h2_drain(struct px_dconn *c)
{
    struct px_h2 *h = c->h2;
    if (!h || h->closing)
        return;
    h->closing = true;
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    schedule(h);
}

void
px_h2_free(struct px_dconn *c)
{
    struct px_h2 *h = c->h2;
    if (!h)
        return;
    c->h2 = NULL;
    while (h->streams)
        stream_free(h->streams);
    nghttp2_session_del(h->s);
    h->s = NULL;
    h->dead = true;
    if (!h->defer_armed)
        free(h);
    maybe_trim(c->w);
}
