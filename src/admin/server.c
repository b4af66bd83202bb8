/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin server's connections: a small cousin of the echo's HTTP/1.1.
 * Each connection reads into a fixed buffer (a request head must fit it),
 * parses with h1 (strict: any error answers its status and closes), answers
 * pipelined requests in order into one output buffer and writes it as the
 * socket allows. While a large answer is still being written nothing more
 * is read. Requests with a body are refused (the admin API has no writes),
 * which keeps the framing trivial.
 *
 * Probes must get through a hostile peer (slowloris, a flood of idle
 * connections): a request must arrive whole within REQUEST_MS of its first
 * byte, a keep-alive connection may idle IDLE_MS, one client address holds
 * at most MAX_PER_IP connections and all of them at most MAX_CONNS. Past
 * either cap a new connection evicts the stalest one in its way (a request
 * still arriving or an idle one first, oldest activity first) that is at
 * least EVICT_AFTER_MS old, so a fresh probe always gets its answer and a
 * quick client's request in flight is never reset (past MAX_PER_IP with
 * none that old, the newcomer is let in). Out of descriptors, accept backs
 * off.
 */
#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "base/base.h"
#include "h1/h1.h"
#include "loop/loop.h"

#include "base/banned.h"

#define IN_MAX      (16 * 1024)
#define OUT_HIGH    (1u << 20)   /* stop answering pipelined requests above this */
#define BODY_MAX    (512u << 20) /* the largest page (a huge /status) */
#define MAX_HEADERS 64
#define MAX_CONNS   64
#define MAX_PER_IP  8
#define REQUEST_MS  5000  /* a whole request head, from its first byte */
#define IDLE_MS     30000 /* keep-alive idle, or no write progress */
#define BACKOFF_MIN 100   /* accept backoff when out of descriptors, ms */
#define BACKOFF_MAX 1000

struct conn {
    struct gw_admin *a;
    struct gw_io io;
    struct gw_timer timer;
    struct conn *prev, *next;
    uint8_t ip[16];       /* the peer's address (IPv4 as IPv4-mapped IPv6) */
    uint64_t req_start;   /* first byte of the request being read, 0: none */
    uint64_t last_active; /* last byte read or written */
    struct gw_buf out;
    size_t out_off;
    size_t in_len, checked;
    bool close_after_write, read_eof;
    char in[IN_MAX];
};

struct gw_admin {
    struct gw_loop *loop;
    struct gw_io listen_io;
    struct gw_timer accept_timer; /* accepts backing off (out of fds) */
    unsigned backoff_ms;
    struct gw_admin_hooks hooks;
    uint16_t port;
    struct conn *conns;
    size_t nconns;
    struct gw_buf body; /* one page at a time: the loop is single-threaded */
    struct gw_buf head;
};

static const struct gw_h1_limits *
limits(void)
{
    static const struct gw_h1_limits lim = {
        .max_request_line = 4096,
        .max_head_bytes = IN_MAX,
        .max_header_count = MAX_HEADERS,
        .max_body = 0,
        .max_chunk_ext = 0,
        .max_trailer_bytes = 0,
        .max_empty_lines = 1,
        .allow_underscore_names = false,
    };
    return &lim;
}

static void
on_closed(struct gw_io *io)
{
    struct conn *c = io->data;
    gw_buf_release(&c->out);
    free(c);
}

static void
conn_close(struct conn *c)
{
    if (gw_io_is_closing(&c->io))
        return;
    gw_timer_stop(&c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->a->nconns--;
    gw_io_close(&c->io, on_closed);
}

static void
answer(struct conn *c, int status, const char *type, const char *allow, const struct gw_buf *body,
       bool head_only, bool keep_alive)
{
    struct gw_buf *h = &c->a->head;
    const char *reason = gw_h1_status_reason(status);
    gw_buf_reset(h);
    gw_buf_appendf(h,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\n",
                   status, *reason ? reason : "Unknown", type, body->len);
    if (allow)
        gw_buf_appendf(h, "Allow: %s\r\n", allow);
    if (!keep_alive)
        gw_buf_append_cstr(h, "Connection: close\r\n");
    gw_buf_append_cstr(h, "\r\n");
    if (gw_buf_append(&c->out, h->p, h->len) < 0 ||
        (!head_only && body->len && gw_buf_append(&c->out, body->p, body->len) < 0)) {
        /* Cannot happen with BODY_MAX below the output cap; close rather
         * than send a truncated answer. */
        c->close_after_write = true;
        c->out.len = c->out_off;
        return;
    }
    if (!keep_alive)
        c->close_after_write = true;
}

static void
answer_error(struct conn *c, int status, const char *why)
{
    struct gw_buf *b = &c->a->body;
    gw_buf_reset(b);
    gw_buf_appendf(b, "%s\n", why);
    answer(c, status, "text/plain; charset=utf-8", NULL, b, false, false);
}

/* Answers every complete request in the input. */
static void
process(struct conn *c)
{
    while (!c->close_after_write && c->in_len > 0 && c->out.len - c->out_off < OUT_HIGH) {
        if (!gw_h1_head_is_ready(c->in, c->in_len, c->checked) && c->in_len < IN_MAX) {
            c->checked = c->in_len;
            break;
        }
        struct gw_h1_header hdrs[MAX_HEADERS];
        struct gw_h1_request req = {.headers = hdrs, .max_headers = MAX_HEADERS};
        int rc = gw_h1_request_parse(c->in, c->in_len, &req, limits());
        if (rc == GW_EAGAIN) {
            if (c->in_len >= IN_MAX)
                answer_error(c, 431, "request head too large");
            c->checked = c->in_len;
            break;
        }
        if (rc < 0) {
            answer_error(c, req.error_status ? req.error_status : 400,
                         req.error ? req.error : "bad request");
            break;
        }
        if (req.body != GW_H1_BODY_NONE &&
            !(req.body == GW_H1_BODY_LENGTH && !req.content_length)) {
            answer_error(c, 413, "the admin API takes no request body");
            break;
        }
        struct gw_admin_response res;
        struct gw_str target = req.form == GW_H1_FORM_ORIGIN ? req.target : req.path;
        gw_admin_respond(&c->a->hooks, req.method, target, &res, &c->a->body);
        answer(c, res.status, res.content_type, res.allow, &c->a->body,
               req.method_id == GW_H1_METHOD_HEAD, req.keep_alive && !c->read_eof);
        memmove(c->in, c->in + rc, c->in_len - (size_t)rc);
        c->in_len -= (size_t)rc;
        c->checked = 0;
        c->req_start = 0; /* the next request's deadline runs from its own first byte */
    }
    /* A large page is not kept around between requests. */
    if (c->a->body.cap > 64 * 1024) {
        gw_buf_release(&c->a->body);
        gw_buf_init(&c->a->body, BODY_MAX);
    }
}

static void
flush(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = write(c->io.fd, c->out.p + c->out_off, c->out.len - c->out_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0) {
            conn_close(c);
            return;
        }
        c->out_off += (size_t)w;
        c->last_active = gw_loop_now(c->a->loop);
    }
    if (c->out_off == c->out.len) {
        c->out_off = 0;
        if (c->out.cap > 256 * 1024) {
            gw_buf_release(&c->out);
            gw_buf_init(&c->out, BODY_MAX + 64 * 1024);
        } else {
            gw_buf_reset(&c->out);
        }
        if (c->close_after_write || c->read_eof) {
            conn_close(c);
            return;
        }
    }
    unsigned want = 0;
    if (c->out_off < c->out.len)
        want |= GW_LOOP_WRITE;
    if (!c->read_eof && !c->close_after_write && c->out.len - c->out_off < OUT_HIGH)
        want |= GW_LOOP_READ;
    if (gw_io_set(&c->io, want) < 0)
        conn_close(c);
}

/* The one timer: the request deadline while a request arrives, else the
 * idle (or stalled write) timeout. */
static void
arm(struct conn *c)
{
    uint64_t now = gw_loop_now(c->a->loop), due;
    if (c->in_len > 0 && !c->close_after_write) {
        if (!c->req_start)
            c->req_start = now;
        due = c->req_start + REQUEST_MS;
    } else {
        c->req_start = 0;
        due = c->last_active + IDLE_MS;
    }
    gw_timer_start(&c->timer, due > now ? due - now : 0);
}

static void
on_conn(struct gw_io *io, unsigned events)
{
    struct conn *c = io->data;
    if (events & GW_LOOP_READ) {
        while (c->in_len < IN_MAX && !c->read_eof) {
            ssize_t r = read(io->fd, c->in + c->in_len, IN_MAX - c->in_len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (r < 0) {
                conn_close(c);
                return;
            }
            if (r == 0) {
                c->read_eof = true;
                break;
            }
            c->in_len += (size_t)r;
            c->last_active = gw_loop_now(c->a->loop);
        }
    }
    process(c);
    flush(c);
    if (!gw_io_is_closing(&c->io))
        arm(c);
}

static void
on_idle(struct gw_timer *t)
{
    conn_close(t->data);
}

static void
peer_key(const struct sockaddr_storage *ss, uint8_t ip[16])
{
    memset(ip, 0, 16);
    if (ss->ss_family == AF_INET) {
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr, 16);
    }
}

/* Below this age (since its request began, or since it was last active)
 * a connection is never given up for a newcomer: a client that opens a
 * connection per request, quickly, is not an attacker, and its request in
 * flight must not be reset. A dripper's request is older within a second. */
#define EVICT_AFTER_MS 1000

/* The connection to give up for a newcomer, among those of ip (or all with
 * ip NULL) at least EVICT_AFTER_MS old: one reading a request or idle
 * before one still writing an answer, then the stalest. NULL if there is
 * none; *count gets how many connections ip has. */
static struct conn *
victim(struct gw_admin *a, const uint8_t *ip, size_t *count)
{
    struct conn *best = NULL;
    bool best_writing = true;
    size_t n = 0;
    uint64_t now = gw_loop_now(a->loop);
    for (struct conn *c = a->conns; c; c = c->next) {
        if (ip && memcmp(c->ip, ip, 16) != 0)
            continue;
        n++;
        bool writing = c->out_off < c->out.len;
        uint64_t at = c->req_start ? c->req_start : c->last_active;
        if (now - at < EVICT_AFTER_MS)
            continue;
        uint64_t best_at = best ? (best->req_start ? best->req_start : best->last_active) : 0;
        if (!best || (best_writing && !writing) || (best_writing == writing && at < best_at)) {
            best = c;
            best_writing = writing;
        }
    }
    if (count)
        *count = n;
    return best;
}

static void
on_accept_timer(struct gw_timer *t)
{
    struct gw_admin *a = t->data;
    gw_io_set(&a->listen_io, GW_LOOP_READ);
}

static void
on_accept(struct gw_io *io, unsigned events)
{
    static struct gw_log_limit rl;
    struct gw_admin *a = io->data;
    (void)events;
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = gw_sock_accept(io->fd, &peer, &plen);
        if (fd == GW_EAGAIN)
            return;
        if (fd < 0 && gw_sock_accept_is_exhausted(fd)) {
            /* The listener stays readable: retrying at once would spin.
             * Stop watching it for a while, 100 ms doubling to 1 s. */
            a->backoff_ms = a->backoff_ms ? GW_MIN(a->backoff_ms * 2, BACKOFF_MAX) : BACKOFF_MIN;
            gw_io_set(io, 0);
            gw_timer_start(&a->accept_timer, a->backoff_ms);
            gw_log_ratelimited(&rl, GW_LOG_WARN, "admin: accept: %s: accepting again in %u ms",
                               gw_strerror(fd), a->backoff_ms);
            return;
        }
        if (fd < 0) {
            gw_log_ratelimited(&rl, GW_LOG_WARN, "admin: accept: %s", gw_strerror(fd));
            return;
        }
        a->backoff_ms = 0;
        uint8_t ip[16];
        peer_key(&peer, ip);
        size_t mine;
        struct conn *v = victim(a, ip, &mine);
        if (mine >= MAX_PER_IP && v)
            conn_close(v);
        else if (a->nconns >= MAX_CONNS && (v = victim(a, NULL, NULL)) != NULL)
            conn_close(v);
        if (a->nconns >= MAX_CONNS) {
            close(fd);
            continue;
        }
        struct conn *c = gw_xmalloc(sizeof(*c));
        memset(c, 0, offsetof(struct conn, in));
        c->a = a;
        memcpy(c->ip, ip, sizeof(ip));
        c->last_active = gw_loop_now(a->loop);
        gw_buf_init(&c->out, BODY_MAX + 64 * 1024);
        gw_io_init(a->loop, &c->io, fd, on_conn, c);
        gw_timer_init(a->loop, &c->timer, on_idle, c);
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        a->nconns++;
        gw_timer_start(&c->timer, IDLE_MS);
        if (gw_io_set(&c->io, GW_LOOP_READ) < 0)
            conn_close(c);
    }
}

int
gw_admin_new(struct gw_loop *loop, const char *addr, uint16_t port,
             const struct gw_admin_hooks *hooks, struct gw_admin **out)
{
    int fd = gw_sock_listen(addr && *addr ? addr : NULL, port, SOCK_STREAM);
    if (fd < 0)
        return fd;
    int p = gw_sock_local_port(fd);
    if (p < 0) {
        close(fd);
        return p;
    }
    struct gw_admin *a = gw_xcalloc(1, sizeof(*a));
    a->loop = loop;
    a->hooks = *hooks;
    a->port = (uint16_t)p;
    gw_buf_init(&a->body, BODY_MAX);
    gw_buf_init(&a->head, 4096);
    gw_io_init(loop, &a->listen_io, fd, on_accept, a);
    gw_timer_init(loop, &a->accept_timer, on_accept_timer, a);
    int rc = gw_io_set(&a->listen_io, GW_LOOP_READ);
    if (rc < 0) {
        close(fd);
        gw_buf_release(&a->body);
        gw_buf_release(&a->head);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

uint16_t
gw_admin_port(const struct gw_admin *a)
{
    return a->port;
}

void
gw_admin_free(struct gw_admin *a)
{
    if (!a)
        return;
    while (a->conns)
        conn_close(a->conns);
    gw_timer_stop(&a->accept_timer);
    /* The listener is closed directly: a's memory goes now, and a
     * deferred close callback would run after it. */
    gw_io_set(&a->listen_io, 0);
    close(a->listen_io.fd);
    gw_buf_release(&a->body);
    gw_buf_release(&a->head);
    free(a);
}
