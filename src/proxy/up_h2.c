/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 to backends (appProtocol kubernetes.io/h2c, every gRPC backend,
 * and TLS backends of gRPC routes with ALPN h2), on nghttp2.
 *
 * A session lives on one carrier connection (a px_uconn from upstream.c,
 * plain or TLS) and is shared by every request of the worker to that
 * endpoint with the same TLS configuration, up to the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS; sessions with streams are listed on the
 * endpoint, a session without any waits in the endpoint's pool like an idle
 * HTTP/1.1 connection (and still answers PING and GOAWAY there). nghttp2
 * never touches the socket: frames go through the carrier's buffers with
 * nghttp2_session_mem_recv / mem_send.
 *
 * Each request is a virtual px_uconn (st set, no socket). conn.c writes the
 * HTTP/1.1 request it would send to any upstream into u->out: its head
 * becomes HEADERS (:method, :scheme, :authority from Host, :path; names
 * lowercased, hop-by-hop fields dropped, te: trailers for gRPC), its body
 * is unframed and sent as DATA through a data provider. The response is
 * written back into the stream's rx as HTTP/1.1: the status line and
 * fields, then the body as is when the upstream gave a content-length, or
 * chunked with the HTTP/2 trailers as the trailer section; conn.c takes it
 * through px_uconn_recv like bytes from a socket, so retries, timeouts and
 * the response path are the ones HTTP/1.1 upstreams get.
 *
 * Backpressure: request body bytes stay in u->out (bounded by conn.c's
 * PX_HIGH) until the provider has room in tx; the response is bounded by
 * flow control: WINDOW_UPDATEs are sent only as conn.c takes bytes out of
 * rx (automatic window updates are off).
 *
 * Nothing here calls into conn.c directly: progress is posted on the
 * virtual connection (px_uconn_post) and delivered at the end of the loop
 * turn. A stream that fails (reset, GOAWAY past its id, the carrier gone)
 * reads as ECONNRESET: 502, or a retry as for HTTP/1.1.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "h2/h2.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define STREAM_WINDOW   (256 * 1024)
#define CONN_WINDOW     (16 * 1024 * 1024)
#define TX_MAX          (64 * 1024)
#define RX_MAX          (1024 * 1024) /* window, chunk framing, head */
#define RX_LOW          (64 * 1024)   /* below this, return the window */
#define HDR_MAX         (64 * 1024)
#define DEFAULT_STREAMS 100
#define MAX_OUT_STREAMS 1000
#define SCRATCH_HEADERS (PX_WORK_MAX + 8)
#define SCRATCH_NAMES   (64 * 1024)
#define QTR_FIELDS      32         /* request trailer fields sent */
#define QTR_MAX         (8 * 1024) /* and their bytes */

struct px_uh2 {
    struct px_uh2 *next, *prev; /* ep->h2, while listed */
    struct px_uconn *c;         /* carrier */
    nghttp2_session *ng;
    struct px_uh2_stream *streams;
    unsigned nstreams;
    bool listed;
    bool dead;
    bool tls;
};

struct px_uh2_stream {
    struct px_uh2_stream *next, *prev;
    struct px_uh2 *s; /* NULL once detached */
    struct px_uconn *u;
    int32_t id; /* 0 until submitted */
    bool submitted;
    bool deferred; /* the data provider waits for body bytes */
    bool tx_eof;   /* the whole request body is in tx (or sent) */
    bool head_method;
    enum gw_h1_body qbody;
    uint64_t qremain;
    struct gw_h1_chunked qch;
    struct px_buf tx; /* request body, unframed */
    /* Request trailers from the chunked body's trailer section: names
     * (lowercased) and values in qtr, at the offsets of qtv. */
    struct px_buf qtr;

    struct {
        size_t name, nlen, value, vlen;
    } qtv[QTR_FIELDS];

    unsigned nqtr;
    struct px_buf rx;  /* the response, as HTTP/1.1 */
    struct px_buf hdr; /* the header block being received, as field lines */
    int status;        /* :status of that block */
    bool has_cl;
    bool rsp_head, rsp_chunked, rsp_end, trailers_done;
    bool closed; /* nghttp2 closed the stream */
    bool failed;
    int err;
    size_t unconsumed; /* DATA bytes not yet given back to flow control */
};

static void session_send(struct px_uh2 *s);
static void session_fail(struct px_uh2 *s, int err);

static struct px_uh2_stream *
stream_of(nghttp2_session *ng, int32_t id)
{
    return nghttp2_session_get_stream_user_data(ng, id);
}

static void
notify(struct px_uh2_stream *st)
{
    if (st->u && !st->u->closing)
        px_uconn_post(st->u, GW_LOOP_READ);
}

static void
stream_fail(struct px_uh2_stream *st, int err)
{
    if (st->rsp_end || st->failed)
        return;
    st->failed = true;
    st->err = err;
    notify(st);
}

/* ------------------------------------------------------------------------ */
/* Request: HTTP/1.1 bytes in u->out -> HEADERS and DATA                    */

/* Keeps a trailer field of the request body for the HEADERS that end the
 * stream; past the bounds, or hop-by-hop, it is dropped. */
static void
qtrailer_add(struct px_uh2_stream *st, struct gw_str name, struct gw_str value)
{
    if (st->nqtr == QTR_FIELDS || !px_trailer_is_forwarded(name) || !name.len)
        return;
    size_t at = st->qtr.len;
    char *low = px_buf_span(&st->qtr, name.len + value.len);
    if (!low)
        return;
    gw_h2_name_lower(low, name.p, name.len);
    memcpy(low + name.len, value.p, value.len);
    px_buf_commit(&st->qtr, name.len + value.len);
    st->qtv[st->nqtr].name = at;
    st->qtv[st->nqtr].nlen = name.len;
    st->qtv[st->nqtr].value = at + name.len;
    st->qtv[st->nqtr].vlen = value.len;
    st->nqtr++;
}

/* Submits the kept request trailers; the stream ends with them. */
static void
qtrailers_submit(struct px_uh2_stream *st, nghttp2_session *ng)
{
    nghttp2_nv nv[QTR_FIELDS];
    for (unsigned i = 0; i < st->nqtr; i++) {
        nv[i] = (nghttp2_nv){(uint8_t *)st->qtr.p + st->qtv[i].name,
                             (uint8_t *)st->qtr.p + st->qtv[i].value, st->qtv[i].nlen,
                             st->qtv[i].vlen, NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_submit_trailer(ng, st->id, nv, st->nqtr);
}

/* Moves request body bytes from u->out (HTTP/1.1 framing) into tx. */
static void
refill(struct px_uh2_stream *st)
{
    struct px_uconn *u = st->u;
    bool moved = false;
    while (!st->tx_eof && px_buf_avail(&u->out) && px_buf_avail(&st->tx) < TX_MAX) {
        const char *p = px_buf_data(&u->out);
        size_t len = px_buf_avail(&u->out), room = TX_MAX - px_buf_avail(&st->tx);
        if (st->qbody == GW_H1_BODY_LENGTH) {
            size_t n = (size_t)GW_MIN((uint64_t)GW_MIN(len, room), st->qremain);
            px_buf_append(&st->tx, p, n);
            px_buf_consume(&u->out, n);
            st->qremain -= n;
            moved = moved || n;
            if (st->qremain == 0)
                st->tx_eof = true;
            continue;
        }
        size_t used = 0;
        struct gw_str data = GW_STR_NULL;
        int r = gw_h1_chunked_decode(&st->qch, p, GW_MIN(len, room), &used, &data);
        if (data.len)
            px_buf_append(&st->tx, data.p, data.len);
        if (r == GW_H1_CHUNKED_TRAILER)
            qtrailer_add(st, st->qch.trailer.name, st->qch.trailer.value);
        px_buf_consume(&u->out, used);
        moved = moved || used;
        if (r == GW_H1_CHUNKED_DONE) {
            st->tx_eof = true;
        } else if (r == GW_EAGAIN) {
            if (!used)
                break;
        } else if (r < 0) {
            stream_fail(st, EPROTO);
            return;
        }
    }
    if (st->tx_eof && px_buf_avail(&u->out)) {
        /* Nothing may follow the request on a stream. */
        px_buf_consume(&u->out, px_buf_avail(&u->out));
    }
    if (moved && !st->tx_eof && u->d)
        px_uconn_post(u, GW_LOOP_WRITE); /* conn.c may send more body */
}

static ssize_t
read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
          nghttp2_data_source *source, void *user_data)
{
    struct px_uh2_stream *st = source->ptr;
    (void)id;
    (void)user_data;
    if (!st || !st->u) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    refill(st);
    if (st->failed)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = GW_MIN(length, px_buf_avail(&st->tx));
    if (n) {
        memcpy(buf, px_buf_data(&st->tx), n);
        px_buf_consume(&st->tx, n);
        refill(st);
    }
    if (px_buf_avail(&st->tx) == 0 && st->tx_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->nqtr) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            qtrailers_submit(st, ng);
        }
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static _Thread_local struct gw_h1_header scratch_h[SCRATCH_HEADERS];
static _Thread_local nghttp2_nv scratch_nv[SCRATCH_HEADERS + 5];
static _Thread_local char scratch_names[SCRATCH_NAMES];

#define NV(n, v, nl, vl)                                                 \
    {                                                                    \
        (uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE \
    }

/* Splits the request head conn.c wrote into u->out and submits it. 0,
 * GW_EAGAIN (head incomplete) or an error. */
static int
submit(struct px_uh2_stream *st)
{
    struct px_uconn *u = st->u;
    struct px_uh2 *s = st->s;
    /* px_request_head_format's own output: split, not validated again
     * (gw_h1_request_parse did the client's head once, and cost ~2,000
     * instructions a gRPC call here). */
    struct gw_h1_request req = {.headers = scratch_h, .max_headers = SCRATCH_HEADERS};
    struct gw_str line;
    int n = px_head_split(px_buf_data(&u->out), px_buf_avail(&u->out), 128 * 1024, &line, scratch_h,
                          SCRATCH_HEADERS, &req.nheaders);
    if (n < 0)
        return n;
    const char *sp1 = memchr(line.p, ' ', line.len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line.len - (size_t)(sp1 + 1 - line.p)) : NULL;
    if (!sp1 || !sp2 || sp1 == line.p || sp2 == sp1 + 1)
        return GW_EPROTO;
    req.method = (struct gw_str){line.p, (size_t)(sp1 - line.p)};
    req.target = (struct gw_str){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    nghttp2_nv *nv = scratch_nv;
    size_t nn = 4, used = 0;
    struct gw_str scheme = s->tls ? GW_STR("https") : GW_STR("http"), host = GW_STR_NULL;
    enum gw_h1_body body = GW_H1_BODY_NONE;
    uint64_t cl = 0;
    bool grpc = false;
    for (size_t i = 0; i < req.nheaders; i++) {
        struct gw_str name = req.headers[i].name, value = req.headers[i].value;
        unsigned cls = px_field_class(name);
        if (cls & PX_FIELD_HOST) {
            host = value;
            continue;
        }
        if (cls & PX_FIELD_HOP) {
            /* the formatter's framing: "Transfer-Encoding: chunked" */
            if (name.len == 17 && gw_str_caseeq(name, GW_STR("transfer-encoding")))
                body = GW_H1_BODY_CHUNKED;
            continue;
        }
        if (cls & PX_FIELD_LENGTH) {
            if (gw_str_to_u64(value, UINT64_MAX, &cl) < 0)
                return GW_EPROTO;
            body = GW_H1_BODY_LENGTH;
        }
        if (used + name.len > sizeof(scratch_names))
            return GW_ELIMIT;
        char *low = scratch_names + used;
        gw_h2_name_lower(low, name.p, name.len);
        used += name.len;
        if (name.len == 12 && !memcmp(low, "content-type", 12) &&
            gw_str_has_prefix(value, GW_STR("application/grpc")))
            grpc = true;
        nv[nn++] = (nghttp2_nv)NV(low, value.p, name.len, value.len);
    }
    nv[0] = (nghttp2_nv)NV(":method", req.method.p, 7, req.method.len);
    nv[1] = (nghttp2_nv)NV(":scheme", scheme.p, 7, scheme.len);
    nv[2] = (nghttp2_nv)NV(":authority", host.p, 10, host.len);
    nv[3] = (nghttp2_nv)NV(":path", req.target.p, 5, req.target.len);
    if (grpc)
        nv[nn++] = (nghttp2_nv)NV("te", "trailers", 2, 8);
    st->head_method = req.method.len == 4 && !memcmp(req.method.p, "HEAD", 4);
    st->qbody = body;
    st->qremain = body == GW_H1_BODY_LENGTH ? cl : 0;
    if (body == GW_H1_BODY_CHUNKED)
        gw_h1_chunked_init(&st->qch, NULL);
    st->tx_eof = body == GW_H1_BODY_NONE || (body == GW_H1_BODY_LENGTH && cl == 0);
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(s->ng, NULL, nv, nn, st->tx_eof ? NULL : &prd, st);
    if (id < 0)
        return GW_EPROTO;
    px_buf_consume(&u->out, (size_t)n);
    st->id = id;
    st->submitted = true;
    refill(st);
    return 0;
}

int
px_uh2_stream_flush(struct px_uconn *u)
{
    struct px_uh2_stream *st = u->st;
    if (st->failed)
        return -(st->err ? st->err : EPROTO);
    struct px_uh2 *s = st->s;
    if (!s)
        return 0;
    if (!st->submitted) {
        int rc = submit(st);
        if (rc == GW_EAGAIN)
            return 0;
        if (rc < 0) {
            stream_fail(st, EPROTO);
            return -EPROTO;
        }
    } else {
        refill(st);
        if (st->failed)
            return -EPROTO;
    }
    if (st->deferred && (px_buf_avail(&st->tx) || st->tx_eof)) {
        st->deferred = false;
        nghttp2_session_resume_data(s->ng, st->id);
    }
    session_send(s);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Response: HEADERS, DATA and trailers -> HTTP/1.1 bytes in rx             */

static int
on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct px_uh2_stream *st = stream_of(ng, frame->hd.stream_id);
    if (!st)
        return 0;
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        int v = 0;
        for (size_t i = 0; i < valuelen && i < 3; i++)
            v = v * 10 + (value[i] - '0');
        st->status = valuelen == 3 ? v : 0;
        return 0;
    }
    if (namelen && name[0] == ':')
        return 0;
    if (namelen == 14 && !memcmp(name, "content-length", 14))
        st->has_cl = true;
    if (px_buf_append(&st->hdr, name, namelen) < 0 || px_buf_append(&st->hdr, ": ", 2) < 0 ||
        px_buf_append(&st->hdr, value, valuelen) < 0 || px_buf_append(&st->hdr, "\r\n", 2) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    return 0;
}

static void
end_body(struct px_uh2_stream *st)
{
    if (st->rsp_chunked && !st->trailers_done)
        px_buf_append_lit(&st->rx, "0\r\n\r\n");
    st->trailers_done = true;
    st->rsp_end = true;
}

/* "HTTP/1.1 NNN Reason\r\n" for status (100..999) into out (cap >= 16;
 * a reason too long for it is cut); its length. Once per response: no
 * snprintf, whose setup alone costs a thousand instructions. */
static size_t
status_line(char *out, size_t cap, int status)
{
    static const char pre[] = "HTTP/1.1 ";
    const char *reason = gw_h1_status_reason(status);
    size_t n = sizeof(pre) - 1, rl = strlen(reason);
    memcpy(out, pre, n);
    out[n++] = (char)('0' + status / 100 % 10);
    out[n++] = (char)('0' + status / 10 % 10);
    out[n++] = (char)('0' + status % 10);
    out[n++] = ' ';
    rl = GW_MIN(rl, cap - n - 2);
    memcpy(out + n, reason, rl);
    n += rl;
    out[n++] = '\r';
    out[n++] = '\n';
    return n;
}

/* Copies the NUL-terminated name (NULL: "-") into dst[cap], cut to fit. */
static void
name_copy(char *dst, size_t cap, const char *name)
{
    const char *src = name ? name : "-";
    size_t n = GW_MIN(strlen(src), cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* A complete header block: the response head, or the trailers. */
static int
header_block(struct px_uh2_stream *st, bool end_stream)
{
    struct px_buf *rx = &st->rx;
    if (!st->rsp_head) {
        if (st->status < 100 || st->status > 999)
            return -1;
        if (st->status < 200) {
            /* Interim responses are not forwarded (conn.c answers Expect). */
            px_buf_consume(&st->hdr, px_buf_avail(&st->hdr));
            st->status = 0;
            st->has_cl = false;
            return 0;
        }
        char line[64];
        size_t n = status_line(line, sizeof(line), st->status);
        bool no_body = st->head_method || st->status == 204 || st->status == 304;
        int rc = px_buf_append(rx, line, n);
        rc |= px_buf_append(rx, px_buf_data(&st->hdr), px_buf_avail(&st->hdr));
        if (!no_body && !st->has_cl) {
            if (end_stream) {
                rc |= px_buf_append_lit(rx, "content-length: 0\r\n");
            } else {
                rc |= px_buf_append_lit(rx, "transfer-encoding: chunked\r\n");
                st->rsp_chunked = true;
            }
        }
        rc |= px_buf_append_lit(rx, "\r\n");
        if (rc < 0)
            return -1;
        st->rsp_head = true;
    } else if (st->rsp_chunked && !st->trailers_done) {
        /* Trailers: the chunked trailer section (an HTTP/1.1 client that
         * does not want them has them dropped by conn.c). */
        int rc = px_buf_append_lit(rx, "0\r\n");
        rc |= px_buf_append(rx, px_buf_data(&st->hdr), px_buf_avail(&st->hdr));
        rc |= px_buf_append_lit(rx, "\r\n");
        if (rc < 0)
            return -1;
        st->trailers_done = true;
    }
    px_buf_consume(&st->hdr, px_buf_avail(&st->hdr));
    if (end_stream)
        end_body(st);
    return 0;
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    struct px_uh2 *s = user_data;
    (void)s;
    struct px_uh2_stream *st;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        st = stream_of(ng, frame->hd.stream_id);
        if (!st)
            return 0;
        if (header_block(st, end) < 0) {
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                      NGHTTP2_PROTOCOL_ERROR);
            stream_fail(st, EPROTO);
            return 0;
        }
        notify(st);
        return 0;
    case NGHTTP2_DATA:
        st = stream_of(ng, frame->hd.stream_id);
        if (st && end) {
            end_body(st);
            notify(st);
        }
        return 0;
    default:
        return 0;
    }
}

static int
on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
        void *user_data)
{
    (void)flags;
    (void)user_data;
    struct px_uh2_stream *st = stream_of(ng, id);
    if (!st || st->head_method || !st->rsp_head) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    st->unconsumed += len;
    int rc = 0;
    if (st->rsp_chunked) {
        char h[GW_H1_CHUNK_HEADER_MAX];
        size_t hn = gw_h1_chunk_header_format(h, len);
        rc |= px_buf_append(&st->rx, h, hn);
        rc |= px_buf_append(&st->rx, data, len);
        rc |= px_buf_append(&st->rx, "\r\n", 2);
    } else {
        rc |= px_buf_append(&st->rx, data, len);
    }
    if (rc < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* past the window: reset */
    notify(st);
    return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user_data)
{
    (void)user_data;
    struct px_uh2_stream *st = stream_of(ng, id);
    if (!st)
        return 0;
    st->closed = true;
    if (st->unconsumed) {
        /* The stream is gone; the connection window still counts them. */
        nghttp2_session_consume_connection(ng, st->unconsumed);
        st->unconsumed = 0;
    }
    if (!st->rsp_end)
        stream_fail(st, error_code == NGHTTP2_REFUSED_STREAM ? ECONNREFUSED : ECONNRESET);
    notify(st);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */

static void
unlist(struct px_uh2 *s)
{
    if (!s->listed)
        return;
    struct px_ep *ep = s->c->ep;
    if (s->prev)
        s->prev->next = s->next;
    else
        ep->h2 = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->listed = false;
}

static void
list(struct px_uh2 *s)
{
    struct px_ep *ep = s->c->ep;
    s->prev = NULL;
    s->next = ep->h2;
    if (s->next)
        s->next->prev = s;
    ep->h2 = s;
    s->listed = true;
}

static struct px_uh2 *
session_new(struct px_uconn *c)
{
    struct px_uh2 *s = gw_xcalloc(1, sizeof(*s));
    s->c = c;
    s->tls = c->tcfg != NULL;
    nghttp2_session_callbacks *cbs;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
        abort();
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_peer_max_concurrent_streams(opt, DEFAULT_STREAMS);
    int rc = nghttp2_session_client_new3(&s->ng, cbs, s, opt, gw_h2_mem());
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (rc != 0)
        abort(); /* only NGHTTP2_ERR_NOMEM, and our allocator aborts first */
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
    };
    nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, GW_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    c->h2 = s;
    return s;
}

static bool
has_room(struct px_uh2 *s)
{
    if (s->dead || !nghttp2_session_check_request_allowed(s->ng))
        return false;
    uint32_t max =
        nghttp2_session_get_remote_settings(s->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return s->nstreams < GW_MIN(max, (uint32_t)MAX_OUT_STREAMS);
}

/* Frames nghttp2 has to send, into the carrier and out to the socket. */
static void
session_send(struct px_uh2 *s)
{
    struct px_uconn *c = s->c;
    if (s->dead || c->closing)
        return;
    while (px_buf_avail(&c->out) < PX_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(s->ng, &data);
        if (n < 0) {
            session_fail(s, EPROTO);
            return;
        }
        if (n == 0)
            break;
        if (px_buf_append(&c->out, data, (size_t)n) < 0) {
            session_fail(s, EPROTO);
            return;
        }
    }
    if (px_uconn_flush(c) < 0) {
        session_fail(s, ECONNRESET);
        return;
    }
    px_uconn_update(c);
}

/* No stream left: back to the pool, or closed. */
static void
maybe_idle(struct px_uh2 *s)
{
    struct px_uconn *c = s->c;
    if (s->nstreams || s->dead || c->closing)
        return;
    unlist(s);
    if (c->state != PX_U_ACTIVE || !nghttp2_session_check_request_allowed(s->ng) ||
        !px_uconn_pool_put(c))
        px_uconn_close(c);
}

/* The session cannot go on: every stream fails, the carrier closes. */
static void
session_fail(struct px_uh2 *s, int err)
{
    if (s->dead)
        return;
    px_uconn_close(s->c); /* px_uh2_carrier_release does the rest */
    (void)err;
}

static struct px_uh2 *
find_session(struct px_ep *ep, const struct px_utls_cfg *tcfg)
{
    for (struct px_uh2 *s = ep->h2; s; s = s->next)
        if (s->c->tcfg == tcfg && has_room(s))
            return s;
    return NULL;
}

/* A virtual stream's px_uconn and its stream: one block, kept by the
 * worker for the next request. */
struct uh2_block {
    struct px_uconn u; /* first: the block's address */
    struct px_uh2_stream st;
};

#define BLOCK_CACHE_MAX 1024u

void
px_uh2_stream_free(struct px_uconn *u)
{
    px_freelist_put(&u->w->uh2_cache, u, BLOCK_CACHE_MAX);
}

void
px_uh2_cache_free(struct px_worker *w)
{
    px_freelist_clear(&w->uh2_cache);
}

struct px_uconn *
px_uh2_stream_open(struct px_worker *w, struct px_ep *ep, struct px_utls_cfg *tcfg,
                   const char *backend)
{
    struct px_uh2 *s = find_session(ep, tcfg);
    bool reused = s != NULL;
    if (!s) {
        struct px_uconn *c = px_uconn_pool_take(ep, tcfg, true);
        if (c) {
            s = c->h2;
            reused = true;
        } else {
            px_utls_cfg_ref(tcfg);
            c = px_uconn_connect(w, ep, tcfg, true);
            if (!c) {
                px_utls_cfg_unref(tcfg);
                return NULL;
            }
            name_copy(c->backend, sizeof(c->backend), backend);
            s = session_new(c);
        }
        list(s);
    }
    struct px_uconn *u = px_freelist_take(&w->uh2_cache, sizeof(struct uh2_block));
    u->w = w;
    u->ep = ep;
    u->io.fd = -1;
    u->state = PX_U_ACTIVE;
    u->reused = reused;
    px_buf_init(&u->in, PX_IN_MAX);
    px_buf_init(&u->out, PX_OUT_MAX);
    gw_timer_init(w->loop, &u->timer, NULL, u);
    name_copy(u->backend, sizeof(u->backend), backend);
    struct px_uh2_stream *st = &((struct uh2_block *)u)->st;
    st->u = u;
    st->s = s;
    px_buf_init(&st->tx, TX_MAX);
    px_buf_init(&st->qtr, QTR_MAX);
    px_buf_init(&st->rx, RX_MAX);
    px_buf_init(&st->hdr, HDR_MAX);
    st->next = s->streams;
    if (st->next)
        st->next->prev = st;
    s->streams = st;
    s->nstreams++;
    u->st = st;
    return u;
}

static void
detach(struct px_uh2_stream *st)
{
    struct px_uh2 *s = st->s;
    if (!s)
        return;
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->next = st->prev = NULL;
    st->s = NULL;
    s->nstreams--;
}

void
px_uh2_stream_close(struct px_uconn *u, bool done)
{
    struct px_uh2_stream *st = u->st;
    struct px_uh2 *s = st->s;
    if (s && !s->dead && st->id > 0) {
        nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
        if (!st->closed) {
            if (st->unconsumed)
                nghttp2_session_consume(s->ng, st->id, st->unconsumed);
            nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id,
                                      done ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
        }
    }
    st->unconsumed = 0;
    detach(st);
    st->u = NULL;
    px_buf_release(&st->tx);
    px_buf_release(&st->qtr);
    px_buf_release(&st->rx);
    px_buf_release(&st->hdr);
    if (s && !s->dead) {
        session_send(s);
        maybe_idle(s);
    }
}

ssize_t
px_uh2_stream_recv(struct px_uconn *u, void *buf, size_t n)
{
    struct px_uh2_stream *st = u->st;
    size_t avail = px_buf_avail(&st->rx);
    if (avail) {
        size_t k = GW_MIN(n, avail);
        memcpy(buf, px_buf_data(&st->rx), k);
        px_buf_consume(&st->rx, k);
        struct px_uh2 *s = st->s;
        if (s && !s->dead && st->unconsumed && px_buf_avail(&st->rx) < RX_LOW) {
            if (st->closed)
                nghttp2_session_consume_connection(s->ng, st->unconsumed);
            else
                nghttp2_session_consume(s->ng, st->id, st->unconsumed);
            st->unconsumed = 0;
            session_send(s);
        }
        return (ssize_t)k;
    }
    if (st->failed) {
        errno = st->err ? st->err : ECONNRESET;
        return -1;
    }
    if (st->rsp_end)
        return 0;
    errno = EAGAIN;
    return -1;
}

void
px_uh2_stream_update(struct px_uconn *u)
{
    struct px_uh2_stream *st = u->st;
    if (u->read_paused || px_buf_avail(&u->in) >= PX_IN_MAX)
        return;
    if (px_buf_avail(&st->rx) || st->failed || st->rsp_end)
        px_uconn_post(u, GW_LOOP_READ);
}

/* ------------------------------------------------------------------------ */
/* Carrier                                                                   */

void
px_uh2_carrier_ready(struct px_uconn *c)
{
    struct px_uh2 *s = c->h2;
    session_send(s);
    if (!c->closing && s->nstreams == 0)
        maybe_idle(s);
}

void
px_uh2_carrier_io(struct px_uconn *c, unsigned events)
{
    struct px_uh2 *s = c->h2;
    if (events & GW_LOOP_WRITE) {
        if (px_uconn_flush(c) < 0) {
            session_fail(s, ECONNRESET);
            return;
        }
    }
    if (events & GW_LOOP_READ) {
        for (int round = 0; round < 16; round++) {
            size_t space = px_buf_reserve(&c->in, PX_READ_CHUNK);
            ssize_t n = px_uconn_recv(c, c->in.p + c->in.len, space);
            if (n == 0) {
                session_fail(s, ECONNRESET);
                return;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                session_fail(s, errno);
                return;
            }
            c->in.len += (size_t)n;
            ssize_t r = nghttp2_session_mem_recv(s->ng, (const uint8_t *)px_buf_data(&c->in),
                                                 px_buf_avail(&c->in));
            if (r < 0) {
                session_fail(s, EPROTO);
                return;
            }
            px_buf_consume(&c->in, px_buf_avail(&c->in));
            if ((size_t)n < space && !px_utls_has_pending(c))
                break;
        }
    }
    session_send(s);
    if (c->closing)
        return;
    if (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng)) {
        session_fail(s, ECONNRESET);
        return;
    }
    if (s->nstreams == 0) {
        if (c->state == PX_U_IDLE) {
            if (!nghttp2_session_check_request_allowed(s->ng))
                px_uconn_close(c); /* GOAWAY while pooled */
        } else {
            maybe_idle(s);
        }
    }
}

void
px_uh2_carrier_failed(struct px_uconn *c, int err)
{
    struct px_uh2 *s = c->h2;
    for (struct px_uh2_stream *st = s->streams; st; st = st->next)
        stream_fail(st, err == GW_ETLS ? EPROTO : err == GW_ETIMEDOUT ? ETIMEDOUT : -err);
    px_uconn_close(c);
}

void
px_uh2_carrier_release(struct px_uconn *c)
{
    struct px_uh2 *s = c->h2;
    if (s->dead)
        return;
    s->dead = true;
    unlist(s);
    while (s->streams) {
        struct px_uh2_stream *st = s->streams;
        stream_fail(st, ECONNRESET);
        detach(st);
    }
}

void
px_uh2_carrier_free(struct px_uconn *c)
{
    struct px_uh2 *s = c->h2;
    c->h2 = NULL;
    if (!s)
        return;
    nghttp2_session_del(s->ng);
    free(s);
}
