/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections: accept, the transport (plain socket or OpenSSL on the
 * non-blocking socket itself, SSL_set_fd; no memory BIOs, since the echo
 * never needs to see ciphertext), the input and output buffers, and the
 * hand-off to the protocol of the connection. Output goes straight to the
 * socket with writev when nothing is queued, so a small reply costs one
 * syscall; only what the kernel does not take is copied into out.
 * Closing is deferred (gw_io_close): protocol code may close from deep
 * inside nghttp2 callbacks and the memory stays valid until the turn ends.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base/base.h"
#include "echo/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define READ_CHUNK 16384

static void on_io(struct gw_io *io, unsigned events);

static void
on_closed(struct gw_io *io)
{
    struct echo_conn *c = io->data;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    gw_timer_stop(&c->timer);
    echo_h2_release(c);
    echo_h1_release(c);
    if (c->ssl)
        SSL_free(c->ssl);
    gw_buf_release(&c->in);
    gw_buf_release(&c->out);
    gw_buf_release(&c->pending);
    gw_buf_release(&c->wsmsg);
    free(c);
}

void
echo_conn_close(struct echo_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    gw_timer_stop(&c->timer);
    if (c->reset) {
        gw_sock_set_reset_on_close(c->io.fd);
    } else if (c->ssl && c->proto != ECHO_PROTO_HANDSHAKE) {
        /* A best-effort close_notify; the socket may already be gone. */
        SSL_set_quiet_shutdown(c->ssl, 0);
        ERR_clear_error();
        SSL_shutdown(c->ssl);
    }
    ERR_clear_error();
    gw_io_close(&c->io, on_closed);
}

void
echo_conn_accept(struct echo_server *srv, enum echo_kind kind, int fd, const struct sockaddr *peer)
{
    struct echo_conn *c = gw_xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->kind = kind;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    gw_sock_addr_format(peer, c->peer, sizeof(c->peer));
    gw_buf_init(&c->in, ECHO_IN_MAX);
    gw_buf_init(&c->out, ECHO_OUT_MAX);
    gw_buf_init(&c->pending, ECHO_OUT_MAX);
    gw_buf_init(&c->wsmsg, ECHO_WS_MSG_MAX);
    gw_timer_init(srv->loop, &c->timer, NULL, c);
    gw_io_init(srv->loop, &c->io, fd, on_io, c);
    gw_sock_set_nodelay(fd);
    switch (kind) {
    case ECHO_KIND_HTTPS:
    case ECHO_KIND_GRPCS:
    case ECHO_KIND_TCPS:
        c->proto = ECHO_PROTO_HANDSHAKE;
        c->ssl = SSL_new(srv->ssl_ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, fd)) {
            echo_conn_close(c);
            return;
        }
        SSL_set_accept_state(c->ssl);
        break;
    case ECHO_KIND_H2C:
        c->proto = ECHO_PROTO_SNIFF;
        break;
    case ECHO_KIND_GRPC:
        c->proto = ECHO_PROTO_H2;
        if (echo_h2_start(c, NULL, NULL, 0) < 0) {
            echo_conn_close(c);
            return;
        }
        break;
    case ECHO_KIND_TCP:
        c->proto = ECHO_PROTO_TCP;
        echo_tcp_start(c);
        break;
    default:
        c->proto = ECHO_PROTO_H1;
        break;
    }
    echo_conn_kick(c);
}

/* 1 sent, 0 would block, <0 failed. */
static int
flush_out(struct echo_conn *c)
{
    while (c->out_off < c->out.len) {
        const char *p = c->out.p + c->out_off;
        size_t n = c->out.len - c->out_off;
        ssize_t w;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, (int)GW_MIN(n, (size_t)1 << 30));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    return 0;
                return GW_ETLS;
            }
            w = r;
        } else {
            w = send(c->io.fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return 0;
                return -errno;
            }
        }
        c->out_off += (size_t)w;
    }
    gw_buf_reset(&c->out);
    c->out_off = 0;
    return 1;
}

static void
out_append(struct echo_conn *c, const void *p, size_t n)
{
    if (gw_buf_append(&c->out, p, n) < 0) {
        /* The peer does not read and we are past the output cap. */
        echo_conn_close(c);
    }
}

void
echo_conn_write(struct echo_conn *c, const struct iovec *iov, int n)
{
    if (c->closing)
        return;
    int i = 0;
    size_t skip = 0;
    if (!c->ssl && c->out.len == c->out_off) {
        ssize_t w;
        do {
            w = writev(c->io.fd, iov, n);
        } while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
            echo_conn_close(c);
            return;
        }
        size_t done = w < 0 ? 0 : (size_t)w;
        while (i < n && done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            i++;
        }
        skip = done;
    }
    for (; i < n; i++, skip = 0)
        out_append(c, (const char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
}

static void
set_interest(struct echo_conn *c)
{
    if (c->closing)
        return;
    unsigned ev = 0;
    if (!c->read_eof && echo_conn_in_len(c) < ECHO_IN_HIGH)
        ev |= GW_LOOP_READ;
    if (c->out.len > c->out_off || c->ssl_want_write)
        ev |= GW_LOOP_WRITE;
    if (gw_io_set(&c->io, ev) < 0)
        echo_conn_close(c);
}

static void
process(struct echo_conn *c)
{
    switch (c->proto) {
    case ECHO_PROTO_SNIFF: {
        static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        size_t n = echo_conn_in_len(c);
        size_t m = GW_MIN(n, sizeof(preface) - 1);
        if (memcmp(echo_conn_in(c), preface, m) != 0) {
            c->proto = ECHO_PROTO_H1;
            echo_h1_process(c);
        } else if (n >= sizeof(preface) - 1) {
            if (echo_h2_start(c, NULL, NULL, 0) < 0)
                echo_conn_close(c);
            else
                echo_h2_process(c);
        }
        break;
    }
    case ECHO_PROTO_H1:
        echo_h1_process(c);
        break;
    case ECHO_PROTO_H2:
        echo_h2_process(c);
        break;
    case ECHO_PROTO_WS:
        echo_ws_process(c);
        break;
    case ECHO_PROTO_TCP:
        echo_tcp_process(c);
        break;
    case ECHO_PROTO_HANDSHAKE:
        break;
    }
    /* Keep the buffer compact: processed bytes are dropped in one move. */
    if (c->in_off > 0) {
        size_t left = c->in.len - c->in_off;
        memmove(c->in.p, c->in.p + c->in_off, left);
        c->in.len = left;
        c->in.p[left] = '\0';
        c->in_off = 0;
    }
}

/* >0 bytes read, 0 EOF, GW_EAGAIN, <0 error. */
static int
recv_some(struct echo_conn *c)
{
    if (c->in.len >= c->in.max)
        return GW_ELIMIT;
    if (!c->in.p || c->in.cap - c->in.len < READ_CHUNK + 1) {
        size_t want = GW_MIN(c->in.len + READ_CHUNK + 1, c->in.max + 1);
        c->in.p = gw_xgrow(c->in.p, &c->in.cap, want, 1);
    }
    char *dst = c->in.p + c->in.len;
    size_t room = c->in.cap - c->in.len - 1;
    if (room > c->in.max - c->in.len)
        room = c->in.max - c->in.len;
    if (room == 0)
        return GW_ELIMIT;
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, dst, (int)GW_MIN(room, (size_t)1 << 30));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                return GW_EAGAIN;
            if (e == SSL_ERROR_WANT_WRITE) {
                c->ssl_want_write = true;
                return GW_EAGAIN;
            }
            if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
            return e == SSL_ERROR_SYSCALL && r == 0 ? 0 : GW_ETLS;
        }
        c->in.len += (size_t)r;
        c->in.p[c->in.len] = '\0';
        return r;
    }
    ssize_t r;
    do {
        r = recv(c->io.fd, dst, room, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EAGAIN ? GW_EAGAIN : -errno;
    c->in.len += (size_t)r;
    c->in.p[c->in.len] = '\0';
    return (int)r;
}

static void
handshake(struct echo_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            echo_conn_close(c);
        return;
    }
    c->ssl_want_write = false;
    struct gw_str alpn = echo_tls_alpn(c->ssl);
    if (c->kind == ECHO_KIND_TCPS) {
        c->proto = ECHO_PROTO_TCP;
        echo_tcp_start(c);
    } else if (c->kind == ECHO_KIND_GRPCS || gw_str_eq_cstr(alpn, "h2")) {
        c->proto = ECHO_PROTO_H2;
        if (echo_h2_start(c, NULL, NULL, 0) < 0)
            echo_conn_close(c);
    } else {
        c->proto = ECHO_PROTO_H1;
    }
}

static void
do_read(struct echo_conn *c)
{
    for (int rounds = 0; rounds < 32 && !c->closing && !c->read_eof; rounds++) {
        if (echo_conn_in_len(c) >= ECHO_IN_HIGH)
            break;
        int r = recv_some(c);
        if (r == GW_EAGAIN)
            break;
        if (r == 0) {
            c->read_eof = true;
            process(c);
            break;
        }
        if (r < 0) {
            /* A reset or TLS failure: nothing more can be said to the peer. */
            echo_conn_close(c);
            return;
        }
        process(c);
        if (c->proto == ECHO_PROTO_HANDSHAKE)
            break;
        /* A short read drained the socket; OpenSSL may still hold
         * plaintext of the record it decrypted. */
        if (!(c->ssl && SSL_pending(c->ssl) > 0) && r < READ_CHUNK)
            break;
    }
}

void
echo_conn_kick(struct echo_conn *c)
{
    if (c->closing)
        return;
    if (c->proto == ECHO_PROTO_HANDSHAKE) {
        handshake(c);
        if (c->closing)
            return;
        if (c->proto != ECHO_PROTO_HANDSHAKE && c->out.len == 0)
            do_read(c); /* the handshake may have pulled request bytes too */
    } else if (!c->blocked && (echo_conn_in_len(c) > 0 || c->proto == ECHO_PROTO_H2) &&
               c->out.len - c->out_off < ECHO_OUT_HIGH) {
        /* Also lets HTTP/2 emit frames it held back while out was full. */
        process(c);
    }
    if (c->closing)
        return;
    int rc = flush_out(c);
    if (rc < 0) {
        echo_conn_close(c);
        return;
    }
    if (rc == 1 && (c->close_after_write || (c->read_eof && !c->blocked))) {
        echo_conn_close(c);
        return;
    }
    set_interest(c);
}

static void
on_io(struct gw_io *io, unsigned events)
{
    struct echo_conn *c = io->data;
    if (c->proto == ECHO_PROTO_HANDSHAKE) {
        echo_conn_kick(c);
        return;
    }
    if (events & GW_LOOP_WRITE) {
        c->ssl_want_write = false;
        int rc = flush_out(c);
        if (rc < 0) {
            echo_conn_close(c);
            return;
        }
    }
    if ((events & GW_LOOP_READ) && c->out.len - c->out_off < ECHO_OUT_HIGH)
        do_read(c);
    echo_conn_kick(c);
}
