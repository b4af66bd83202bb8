/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpcup: a fast h2c gRPC upstream for bench scenario 13 (bench/s_paths.py),
 * bench-only, not part of gatehouse. Every POST gets :status 200,
 * content-type application/grpc, then one length-prefixed message (a path
 * ending in "/Unary") or -n messages (any other path: server streaming), then
 * the trailers grpc-status 0. The request body is read and ignored. One
 * epoll thread per worker process (-w N, SO_REUSEPORT listeners), libnghttp2
 * for the framing, so the upstream stays far from being the bottleneck.
 *
 *     grpcup -l HOST:PORT [-w WORKERS] [-n STREAM_MESSAGES] [-s MESSAGE_BYTES]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "lg.h"

struct conn {
    int fd;
    nghttp2_session *s;
    char *out; /* bytes nghttp2 produced that the socket did not take yet */
    size_t out_off, out_len;
    bool want_out;
};

struct stream {
    size_t off, len; /* of the response body (into g_body) */
};

static char *g_body; /* n_max messages, back to back */
static size_t g_msg; /* one message with its 5-byte prefix */
static int g_stream_n = 10;
static int g_ep;

static ssize_t
on_read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
             nghttp2_data_source *src, void *ud)
{
    (void)sid;
    (void)ud;
    struct stream *st = src->ptr;
    size_t n = st->len - st->off;
    if (n > len)
        n = len;
    memcpy(buf, g_body + st->off, n);
    st->off += n;
    if (st->off == st->len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE}};
        nghttp2_submit_trailer(s, sid, tr, 1);
    }
    return (ssize_t)n;
}

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct stream *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->len = g_msg * (size_t)g_stream_n;
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
    return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
          const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS || nlen != 5 || memcmp(name, ":path", 5))
        return 0;
    struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st && vlen >= 6 && !memcmp(value + vlen - 6, "/Unary", 6))
        st->len = g_msg;
    return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st == NULL)
        return 0;
    nghttp2_nv hd[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = on_read_body};
    nghttp2_submit_response(s, f->hd.stream_id, hd, 2, &dp);
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
    (void)code;
    (void)ud;
    free(nghttp2_session_get_stream_user_data(s, sid));
    nghttp2_session_set_stream_user_data(s, sid, NULL);
    return 0;
}

static void
conn_free(struct conn *c)
{
    close(c->fd);
    nghttp2_session_del(c->s);
    free(c->out);
    free(c);
}

/* Writes what nghttp2 has to send; 0, or -1 when the connection is done. */
static int
flush(struct conn *c)
{
    for (;;) {
        if (c->out_off == c->out_len) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(c->s, &p);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
            free(c->out);
            c->out = lg_xmalloc((size_t)n);
            memcpy(c->out, p, (size_t)n);
            c->out_off = 0;
            c->out_len = (size_t)n;
            /* gather more before writing */
            while (c->out_len < 65536) {
                n = nghttp2_session_mem_send(c->s, &p);
                if (n < 0)
                    return -1;
                if (n == 0)
                    break;
                c->out = realloc(c->out, c->out_len + (size_t)n);
                if (c->out == NULL)
                    abort();
                memcpy(c->out + c->out_len, p, (size_t)n);
                c->out_len += (size_t)n;
            }
        }
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN)
                break;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    bool want = c->out_off < c->out_len;
    if (want != c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
    if (!nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s) && !want)
        return -1;
    return 0;
}

static int
on_conn(struct conn *c, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        char buf[65536];
        for (;;) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n == 0)
                return -1;
            if (n < 0) {
                if (errno == EAGAIN)
                    break;
                return -1;
            }
            if (nghttp2_session_mem_recv(c->s, (uint8_t *)buf, (size_t)n) < 0)
                return -1;
            if ((size_t)n < sizeof buf)
                break;
        }
    }
    return flush(c);
}

static void
accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        floor_nodelay(fd);
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL)
            abort();
        c->fd = fd;
        nghttp2_session_callbacks *cb;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
        nghttp2_session_server_new(&c->s, cb, c);
        nghttp2_session_callbacks_del(cb);
        nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
        nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, 2);
        nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, 1 << 26);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
        if (flush(c) < 0)
            conn_free(c);
    }
}

int
main(int argc, char **argv)
{
    const char *listen_at = NULL;
    int workers = 1, size = 16, opt;
    while ((opt = getopt(argc, argv, "l:w:n:s:")) != -1) {
        switch (opt) {
        case 'l':
            listen_at = optarg;
            break;
        case 'w':
            workers = atoi(optarg);
            break;
        case 'n':
            g_stream_n = atoi(optarg);
            break;
        case 's':
            size = atoi(optarg);
            break;
        default:
            goto usage;
        }
    }
    if (listen_at == NULL || workers < 1 || g_stream_n < 1 || size < 1 || size > 100)
        goto usage;
    /* message: field 1 (string) of `size` bytes, after the gRPC prefix */
    g_msg = 5 + 2 + (size_t)size;
    g_body = lg_xmalloc(g_msg * (size_t)g_stream_n);
    for (int i = 0; i < g_stream_n; i++) {
        char *m = g_body + g_msg * (size_t)i;
        uint32_t len = htonl((uint32_t)(2 + size));
        m[0] = 0;
        memcpy(m + 1, &len, 4);
        m[5] = 0x0a;
        m[6] = (char)size;
        memset(m + 7, 'x', (size_t)size);
    }
    signal(SIGPIPE, SIG_IGN);
    floor_spawn(&(struct floor_opts){.workers = workers});
    int lfd = lg_listen(listen_at, SOCK_STREAM);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(g_ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL)
                accept_all(lfd);
            else if (on_conn(c, evs[i].events) < 0)
                conn_free(c);
        }
    }
usage:
    fprintf(stderr, "usage: grpcup -l HOST:PORT [-w WORKERS] [-n STREAM_MESSAGES] [-s BYTES]\n");
    return 2;
}
