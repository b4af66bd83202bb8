/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlsfloor: the libssl floor of bench scenario 12 (bench/s_h2tls.py),
 * bench-only, not part of gatehouse. One thread, one epoll loop, TLS
 * terminated with the TLS settings gatehouse uses (src/proxy/down_tls.c:
 * TLS 1.2 minimum, AES-128-GCM first, stateless tickets only, one ticket
 * per handshake, read-ahead, OpenSSL's default groups), and every request
 * answered by itself: `HTTP/1.1 200 OK`, body "ok", then close_notify and
 * close. No routing, no upstream, no HTTP parser beyond the end of the
 * head: what a TLS server on this libssl costs per handshake before it
 * does anything else.
 *
 *   tlsfloor HOST:PORT CERT KEY [HOST:PORT CERT KEY ...]
 *
 * Runs until killed; errors at start-up print and exit 1.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lg.h"

#define MAX_PORTS 8

struct conn {
    int fd;
    SSL *ssl;
    bool hs; /* handshake not done */
    size_t len;
    char buf[4096];
};

static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ALL:!COMPLEMENTOFDEFAULT:!eNULL";
static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* The settings of src/proxy/down_tls.c's ctx_new, repeated on purpose: this
 * is what gatehouse asks of libssl, measured without gatehouse. */
static SSL_CTX *
ctx_new(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "tlsfloor: %s, %s: ", cert, key);
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_ciphersuites(ctx, tls13_suites);
    SSL_CTX_set_cipher_list(ctx, tls12_ciphers);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    static const unsigned char sid[] = "tlsfloor";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    return ctx;
}

static void
conn_close(struct conn *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
}

/* Drives one connection as far as it goes; false: it is finished. */
static bool
conn_step(int ep, struct conn *c)
{
    int r;
    ERR_clear_error();
    if (c->hs) {
        r = SSL_do_handshake(c->ssl);
        if (r != 1)
            goto wait;
        c->hs = false;
    }
    for (;;) {
        r = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - 1 - c->len));
        if (r <= 0)
            goto wait;
        c->len += (size_t)r;
        c->buf[c->len] = 0;
        if (strstr(c->buf, "\r\n\r\n"))
            break;
        if (c->len == sizeof(c->buf) - 1)
            return false;
    }
    /* A small response on loopback: one record, one write. */
    if (SSL_write(c->ssl, response, (int)sizeof(response) - 1) != (int)sizeof(response) - 1)
        return false;
    SSL_shutdown(c->ssl);
    return false;
wait:
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return true;
    }
    case SSL_ERROR_WANT_WRITE: {
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return true;
    }
    default:
        return false;
    }
}

int
main(int argc, char **argv)
{
    if (argc < 4 || (argc - 1) % 3 != 0 || (argc - 1) / 3 > MAX_PORTS) {
        fprintf(stderr, "usage: tlsfloor HOST:PORT CERT KEY [HOST:PORT CERT KEY ...]\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that already reset */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int nl = (argc - 1) / 3;
    int lfd[MAX_PORTS];
    SSL_CTX *ctx[MAX_PORTS];
    for (int i = 0; i < nl; i++) {
        ctx[i] = ctx_new(argv[2 + 3 * i], argv[3 + 3 * i]);
        lfd[i] = lg_listen(argv[1 + 3 * i], SOCK_STREAM);
        /* Listeners are told apart from connections by a tagged index. */
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i | (1ull << 63)};
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd[i], &ev);
    }
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            return 1;
        for (int k = 0; k < n; k++) {
            uint64_t u = evs[k].data.u64;
            if (u >> 63) {
                int i = (int)(u & 0xff);
                int fd;
                while ((fd = accept4(lfd[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    floor_nodelay(fd);
                    struct conn *c = lg_xmalloc(sizeof(*c));
                    c->fd = fd;
                    c->hs = true;
                    c->len = 0;
                    c->ssl = SSL_new(ctx[i]);
                    SSL_set_fd(c->ssl, fd);
                    SSL_set_accept_state(c->ssl);
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    if (!conn_step(ep, c))
                        conn_close(c);
                }
                continue;
            }
            struct conn *c = evs[k].data.ptr;
            if (!conn_step(ep, c))
                conn_close(c);
        }
    }
}
