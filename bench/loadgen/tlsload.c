/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlsload: a TLS handshake load generator for bench scenario 12 (bench/
 * s_h2tls.py). Bench-only, not part of gatehouse. Keeps N connections in
 * flight; each one connects, completes a TLS handshake, sends one
 * `GET PATH HTTP/1.1`, reads the response (Content-Length bodies) and
 * closes (close_notify, then a reset, so that no TIME_WAIT piles up on
 * loopback), then starts over. With -r each connection slot offers the
 * session of its previous handshake (a TLS 1.3 ticket, or a TLS 1.2 ticket
 * or session id, whatever the server gave), and the handshakes the server
 * resumed are counted. h2load and wrk cannot do this: they keep their
 * connections, or resume without saying.
 *
 *   tlsload -a HOST:PORT [-c CONNS] [-t THREADS] [-d SECONDS] [-v 1.2|1.3]
 *           [-r] [-n SNI] [-p PATH]
 *
 * Prints one line: `handshakes N resumed R errors E seconds S`, where N
 * counts complete exchanges (handshake, request, 2xx response) finished
 * within the duration.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum state { S_CONNECT, S_HANDSHAKE, S_WRITE, S_READ };

struct slot {
    int fd;
    enum state st;
    SSL *ssl;
    SSL_SESSION *sess; /* -r: offered by the next handshake */
    char buf[4096];
    size_t len;
    size_t sent;
};

struct opts {
    struct sockaddr_in addr;
    int conns, threads, version;
    double seconds;
    bool resume;
    const char *sni, *path;
    char req[512];
    size_t reqlen;
};

static struct opts o;
static SSL_CTX *ctx;
static atomic_ullong n_done, n_resumed, n_errors;
static double t_end;

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
    fprintf(stderr, "usage: tlsload -a HOST:PORT [-c CONNS] [-t THREADS] [-d SECONDS] "
                    "[-v 1.2|1.3] [-r] [-n SNI] [-p PATH]\n");
    exit(2);
}

static void
parse(int argc, char **argv)
{
    o.conns = 32;
    o.threads = 1;
    o.seconds = 5;
    o.sni = "bench.test";
    o.path = "/";
    const char *addr = NULL;
    int c;
    while ((c = getopt(argc, argv, "a:c:t:d:v:rn:p:")) != -1) {
        switch (c) {
        case 'a':
            addr = optarg;
            break;
        case 'c':
            o.conns = (int)strtol(optarg, NULL, 10);
            break;
        case 't':
            o.threads = (int)strtol(optarg, NULL, 10);
            break;
        case 'd':
            o.seconds = strtod(optarg, NULL);
            break;
        case 'v':
            o.version = strcmp(optarg, "1.2") == 0   ? TLS1_2_VERSION
                        : strcmp(optarg, "1.3") == 0 ? TLS1_3_VERSION
                                                     : -1;
            break;
        case 'r':
            o.resume = true;
            break;
        case 'n':
            o.sni = optarg;
            break;
        case 'p':
            o.path = optarg;
            break;
        default:
            usage();
        }
    }
    if (!addr || o.conns < 1 || o.threads < 1 || o.threads > o.conns || o.seconds <= 0 ||
        o.version < 0)
        usage();
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(host))
        usage();
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    o.addr.sin_family = AF_INET;
    o.addr.sin_port = htons((unsigned short)strtol(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, host, &o.addr.sin_addr) != 1)
        usage();
    int n = snprintf(o.req, sizeof(o.req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", o.path, o.sni);
    if (n <= 0 || (size_t)n >= sizeof(o.req))
        usage();
    o.reqlen = (size_t)n;
}

static void
arm(int ep, struct slot *s, unsigned ev, int op)
{
    struct epoll_event e = {.events = ev, .data.ptr = s};
    epoll_ctl(ep, op, s->fd, &e);
}

static void
slot_close(int ep, struct slot *s, bool ok)
{
    if (s->ssl) {
        if (ok)
            SSL_shutdown(s->ssl); /* close_notify, not waiting for the peer's */
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        struct linger lg = {1, 0}; /* a reset: no TIME_WAIT on our side */
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(s->fd);
        s->fd = -1;
    }
    ERR_clear_error();
}

static void
slot_start(int ep, struct slot *s)
{
    s->len = s->sent = 0;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int r = connect(s->fd, (struct sockaddr *)&o.addr, sizeof(o.addr));
    if (r < 0 && errno != EINPROGRESS) {
        atomic_fetch_add(&n_errors, 1);
        close(s->fd);
        s->fd = -1;
        return;
    }
    s->st = S_CONNECT;
    arm(ep, s, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Whether the response in s->buf is complete: 1 yes (2xx), -1 bad, 0 more. */
static int
response_done(struct slot *s)
{
    s->buf[s->len] = 0;
    char *end = strstr(s->buf, "\r\n\r\n");
    if (!end)
        return s->len + 1 >= sizeof(s->buf) ? -1 : 0;
    if (strncmp(s->buf, "HTTP/1.1 2", 10) != 0 && strncmp(s->buf, "HTTP/1.0 2", 10) != 0)
        return -1;
    size_t cl = 0;
    for (char *p = s->buf; p && p < end; p = strstr(p, "\r\n")) {
        p += 2;
        if (strncasecmp(p, "content-length:", 15) == 0)
            cl = (size_t)strtoul(p + 15, NULL, 10);
    }
    size_t need = (size_t)(end + 4 - s->buf) + cl;
    if (need >= sizeof(s->buf))
        return -1;
    return s->len >= need ? 1 : 0;
}

/* Drives s as far as it goes; returns the events to wait for, or 0 when the
 * exchange ended (the slot is closed). */
static unsigned
step(struct slot *s)
{
    for (;;) {
        int r;
        switch (s->st) {
        case S_CONNECT: {
            int err = 0;
            socklen_t l = sizeof(err);
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err)
                return 0;
            s->ssl = SSL_new(ctx);
            SSL_set_fd(s->ssl, s->fd);
            SSL_set_tlsext_host_name(s->ssl, o.sni);
            if (o.resume && s->sess)
                SSL_set_session(s->ssl, s->sess);
            SSL_set_connect_state(s->ssl);
            s->st = S_HANDSHAKE;
            continue;
        }
        case S_HANDSHAKE:
            r = SSL_do_handshake(s->ssl);
            if (r == 1) {
                s->st = S_WRITE;
                continue;
            }
            break;
        case S_WRITE:
            r = SSL_write(s->ssl, o.req + s->sent, (int)(o.reqlen - s->sent));
            if (r > 0) {
                s->sent += (size_t)r;
                if (s->sent == o.reqlen)
                    s->st = S_READ;
                continue;
            }
            break;
        case S_READ:
            r = SSL_read(s->ssl, s->buf + s->len, (int)(sizeof(s->buf) - 1 - s->len));
            if (r > 0) {
                s->len += (size_t)r;
                int d = response_done(s);
                if (d < 0)
                    return 0;
                if (d == 0)
                    continue;
                return (unsigned)-1; /* done */
            }
            break;
        }
        switch (SSL_get_error(s->ssl, r)) {
        case SSL_ERROR_WANT_READ:
            return EPOLLIN;
        case SSL_ERROR_WANT_WRITE:
            return EPOLLOUT;
        default:
            return 0;
        }
    }
}

static void
finish(int ep, struct slot *s, bool ok)
{
    if (ok && now() < t_end) {
        atomic_fetch_add(&n_done, 1);
        if (SSL_session_reused(s->ssl))
            atomic_fetch_add(&n_resumed, 1);
    } else if (!ok) {
        atomic_fetch_add(&n_errors, 1);
    }
    if (o.resume && ok) {
        /* After the response: a TLS 1.3 ticket came before it. */
        SSL_SESSION *ns = SSL_get1_session(s->ssl);
        if (ns && SSL_SESSION_is_resumable(ns)) {
            SSL_SESSION_free(s->sess);
            s->sess = ns;
        } else {
            SSL_SESSION_free(ns);
        }
    }
    slot_close(ep, s, ok);
}

static void *
run(void *arg)
{
    int nslots = (int)(intptr_t)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct slot *slots = calloc((size_t)nslots, sizeof(*slots));
    if (ep < 0 || !slots)
        exit(1);
    for (int i = 0; i < nslots; i++) {
        slots[i].fd = -1;
        slot_start(ep, &slots[i]);
    }
    struct epoll_event ev[64];
    while (now() < t_end) {
        int n = epoll_wait(ep, ev, 64, 100);
        for (int i = 0; i < n; i++) {
            struct slot *s = ev[i].data.ptr;
            unsigned want = step(s);
            if (want == (unsigned)-1 || want == 0) {
                finish(ep, s, want != 0);
                if (now() < t_end)
                    slot_start(ep, s);
            } else {
                arm(ep, s, want, EPOLL_CTL_MOD);
            }
        }
        for (int i = 0; i < nslots; i++) /* a connect that failed at once */
            if (slots[i].fd < 0 && now() < t_end)
                slot_start(ep, &slots[i]);
    }
    for (int i = 0; i < nslots; i++) {
        slot_close(ep, &slots[i], false);
        SSL_SESSION_free(slots[i].sess);
    }
    free(slots);
    close(ep);
    return NULL;
}

int
main(int argc, char **argv)
{
    parse(argc, argv);
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (o.version) {
        SSL_CTX_set_min_proto_version(ctx, o.version);
        SSL_CTX_set_max_proto_version(ctx, o.version);
    }
    /* Sessions are kept per slot by hand (SSL_get1_session), not cached. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    double t0 = now();
    t_end = t0 + o.seconds;
    pthread_t *th = calloc((size_t)o.threads, sizeof(*th));
    for (int i = 0; i < o.threads; i++) {
        int share = o.conns / o.threads + (i < o.conns % o.threads);
        pthread_create(&th[i], NULL, run, (void *)(intptr_t)share);
    }
    for (int i = 0; i < o.threads; i++)
        pthread_join(th[i], NULL);
    free(th);
    SSL_CTX_free(ctx);
    printf("handshakes %llu resumed %llu errors %llu seconds %.3f\n", (unsigned long long)n_done,
           (unsigned long long)n_resumed, (unsigned long long)n_errors, o.seconds);
    return 0;
}
