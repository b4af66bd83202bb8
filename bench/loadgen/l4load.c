/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l4load: the L4 load generators of bench scenario 13 (bench/s_paths.py),
 * bench-only, not part of gatehouse. Each mode runs its own receiving end in
 * the same process, so what it counts is what came through the proxy. Each
 * prints `counting` when its measured window opens and its figures when it
 * closes.
 *
 *   l4load tcp -c PROXY -u SINK -n CONNS -d SECS [-W WARMUP]
 *       a sink listening on SINK (the proxy's backend) that reads and drops;
 *       CONNS threads connect to PROXY and send 64 KiB writes back to back.
 *       Prints `bytes B secs S errors E` (B: received by the sink after the
 *       warm-up).
 *   l4load udp -c PROXY -u SINK -n SOCKETS -d SECS [-W WARMUP] [-s BYTES] [-r RATE]
 *       a sink bound to SINK counting datagrams; one sender thread sends
 *       BYTES datagrams from SOCKETS source ports in turn (sendmmsg batches),
 *       at most RATE per second when given. Prints `datagrams D sent N secs S`.
 *   l4load tls -c PROXY -n THREADS -d SECS [-W WARMUP] [-S SNI]
 *       THREADS threads each loop: connect, full TLS handshake with SNI (no
 *       resumption, certificate not verified), close. Prints
 *       `conns C secs S errors E`.
 */
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "lg.h"

static struct sockaddr_in g_proxy;
static atomic_long g_count, g_errors, g_sent;
static atomic_bool g_counting, g_stop;
static size_t g_size = 64;
static const char *g_sni = "tls.bench.test";
static long g_rate;
static int g_n = 4;
static SSL_CTX *g_ctx;

static void
blocking(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    poll(&p, 1, 3000);
    int fl = 0;
    socklen_t l = sizeof fl;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &fl, &l);
    if (fl)
        errno = fl;
}

/* ---------------------------------------------------------------- tcp */

static void *
tcp_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread char buf[1 << 18];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (!atomic_load(&g_stop)) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EAGAIN) {
                poll(&p, 1, 100);
                continue;
            }
            break;
        }
        if (atomic_load(&g_counting))
            atomic_fetch_add(&g_count, n);
    }
    close(fd);
    return NULL;
}

static void *
tcp_accepter(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    while (!atomic_load(&g_stop)) {
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_create(&t, NULL, tcp_reader, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void *
tcp_sender(void *arg)
{
    (void)arg;
    static __thread char buf[65536];
    memset(buf, 'x', sizeof buf);
    int fd = lg_connect(&g_proxy);
    if (fd < 0) {
        atomic_fetch_add(&g_errors, 1);
        return NULL;
    }
    blocking(fd);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    while (!atomic_load(&g_stop)) {
        ssize_t n = send(fd, buf, sizeof buf, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                poll(&p, 1, 100);
                continue;
            }
            atomic_fetch_add(&g_errors, 1);
            break;
        }
    }
    close(fd);
    return NULL;
}

/* ---------------------------------------------------------------- udp */

static void *
udp_sink(void *arg)
{
    int fd = (int)(intptr_t)arg;

    enum { B = 64 };

    static char bufs[B][2048];
    struct mmsghdr m[B];
    struct iovec iov[B];
    for (int i = 0; i < B; i++) {
        iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
        m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (!atomic_load(&g_stop)) {
        int n = recvmmsg(fd, m, B, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            poll(&p, 1, 100);
            continue;
        }
        if (atomic_load(&g_counting))
            atomic_fetch_add(&g_count, n);
    }
    return NULL;
}

static void *
udp_sender(void *arg)
{
    (void)arg;

    enum { B = 16 };

    int *fds = lg_xmalloc(sizeof(int) * (size_t)g_n);
    for (int i = 0; i < g_n; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        connect(fds[i], (struct sockaddr *)&g_proxy, sizeof g_proxy);
    }
    char *buf = lg_xmalloc(g_size);
    memset(buf, 'u', g_size);
    struct mmsghdr m[B];
    struct iovec iov = {buf, g_size};
    for (int i = 0; i < B; i++)
        m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
    double t0 = lg_now();
    long sent = 0;
    for (int k = 0; !atomic_load(&g_stop); k = (k + 1) % g_n) {
        if (g_rate > 0) {
            double ahead = (double)sent / (double)g_rate - (lg_now() - t0);
            if (ahead > 0.001)
                usleep((useconds_t)(ahead * 1e6));
        }
        int n = sendmmsg(fds[k], m, B, 0);
        if (n > 0) {
            sent += n;
            if (atomic_load(&g_counting))
                atomic_fetch_add(&g_sent, n);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- tls */

static void *
tls_client(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct linger lin = {1, 0}; /* reset: no TIME_WAIT pile-up here */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
        floor_nodelay(fd);
        struct timeval tv = {3, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        SSL *s = NULL;
        bool ok = connect(fd, (struct sockaddr *)&g_proxy, sizeof g_proxy) == 0;
        if (ok) {
            s = SSL_new(g_ctx);
            SSL_set_fd(s, fd);
            SSL_set_tlsext_host_name(s, g_sni);
            ok = SSL_connect(s) == 1;
        }
        if (ok && atomic_load(&g_counting))
            atomic_fetch_add(&g_count, 1);
        if (!ok && !atomic_load(&g_stop))
            atomic_fetch_add(&g_errors, 1);
        SSL_free(s);
        close(fd);
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        goto usage;
    const char *mode = argv[1], *proxy = NULL, *sink = NULL;
    double secs = 4, warm = 1;
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "c:u:n:d:W:s:r:S:")) != -1) {
        switch (opt) {
        case 'c':
            proxy = optarg;
            break;
        case 'u':
            sink = optarg;
            break;
        case 'n':
            g_n = atoi(optarg);
            break;
        case 'd':
            secs = atof(optarg);
            break;
        case 'W':
            warm = atof(optarg);
            break;
        case 's':
            g_size = (size_t)atoi(optarg);
            break;
        case 'r':
            g_rate = atol(optarg);
            break;
        case 'S':
            g_sni = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (proxy == NULL || floor_addr(proxy, &g_proxy) < 0 || g_n < 1 || g_size < 1 || g_size > 1400)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    int n = g_n;
    pthread_t *ts = lg_xmalloc(sizeof(pthread_t) * (size_t)(n + 1));
    int nt = 0;
    if (!strcmp(mode, "tcp") && sink) {
        pthread_create(&ts[nt++], NULL, tcp_accepter,
                       (void *)(intptr_t)lg_listen(sink, SOCK_STREAM));
        for (int i = 0; i < n; i++)
            pthread_create(&ts[nt++], NULL, tcp_sender, NULL);
    } else if (!strcmp(mode, "udp") && sink) {
        int fd = lg_listen(sink, SOCK_DGRAM);
        int big = 8 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        pthread_create(&ts[nt++], NULL, udp_sink, (void *)(intptr_t)fd);
        pthread_create(&ts[nt++], NULL, udp_sender, NULL);
    } else if (!strcmp(mode, "tls")) {
        g_ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
        for (int i = 0; i < n; i++)
            pthread_create(&ts[nt++], NULL, tls_client, NULL);
    } else {
        goto usage;
    }
    usleep((useconds_t)(warm * 1e6));
    atomic_store(&g_counting, true);
    printf("counting\n");
    fflush(stdout);
    double t0 = lg_now();
    usleep((useconds_t)(secs * 1e6));
    atomic_store(&g_counting, false);
    double took = lg_now() - t0;
    atomic_store(&g_stop, true);
    if (!strcmp(mode, "tcp"))
        printf("bytes %ld secs %.3f errors %ld\n", atomic_load(&g_count), took,
               atomic_load(&g_errors));
    else if (!strcmp(mode, "udp"))
        printf("datagrams %ld sent %ld secs %.3f\n", atomic_load(&g_count), atomic_load(&g_sent),
               took);
    else
        printf("conns %ld secs %.3f errors %ld\n", atomic_load(&g_count), took,
               atomic_load(&g_errors));
    fflush(stdout);
    _exit(0); /* senders may sit in a blocking call */
usage:
    fprintf(stderr, "usage: l4load tcp|udp|tls -c PROXY [-u SINK] [-n N] [-d SECS] [-W WARMUP] "
                    "[-s BYTES] [-r RATE] [-S SNI]\n");
    return 2;
}
