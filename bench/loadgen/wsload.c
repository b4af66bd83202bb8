/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wsload: the WebSocket load generator and echo upstream of bench scenario
 * 13 (bench/s_paths.py), bench-only, not part of gatehouse. One epoll thread.
 *
 *   wsload -e HOST:PORT                    echo server: answers any upgrade
 *                                          with 101 and echoes every data
 *                                          frame back (unmasked)
 *   wsload -c HOST:PORT -n CONNS -d SECS [-W WARMUP] [-s BYTES] [-H HOST] [-p PATH]
 *                                          opens CONNS connections, upgrades
 *                                          each, then keeps one masked text
 *                                          message of BYTES in flight per
 *                                          connection; prints the echoes
 *                                          counted after the warm-up
 *
 * Client output: `counting` when the measured window opens, then
 * `open N messages M secs S errors E` when it closes.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "lg.h"

enum { BUF = 16384 };

struct conn {
    int fd;
    bool open; /* upgrade done */
    size_t in;
    char buf[BUF];
};

static int g_ep;

static void
watch(struct conn *c, int op, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(g_ep, op, c->fd, &e);
}

static void
drop(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Blocking-ish send of a small buffer (the socket has room for it). */
static int
put(int fd, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -1;
        }
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Length of the frame at p (header included) once complete, else 0. */
static size_t
frame_len(const unsigned char *p, size_t n, size_t *hdr, size_t *plen)
{
    if (n < 2)
        return 0;
    size_t h = 2, len = p[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = ((size_t)p[2] << 8) | p[3];
        h = 4;
    } else if (len == 127) {
        return (size_t)-1; /* never sent here */
    }
    if (p[1] & 0x80)
        h += 4;
    if (n < h + len)
        return 0;
    *hdr = h;
    *plen = len;
    return h + len;
}

/* Appends what the socket has to c->buf: 1 when some came, 0 when none
 * (EAGAIN), -1 on EOF or an error. */
static int
fill(struct conn *c)
{
    ssize_t n = recv(c->fd, c->buf + c->in, BUF - c->in, 0);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    c->in += (size_t)n;
    return 1;
}

/* ---------------------------------------------------------------- server */

static int
server_upgrade(struct conn *c)
{
    char *end = memmem(c->buf, c->in, "\r\n\r\n", 4);
    if (end == NULL)
        return c->in == BUF ? -1 : 0;
    char *k = memmem(c->buf, (size_t)(end - c->buf), "Sec-WebSocket-Key:", 18);
    if (k == NULL)
        k = memmem(c->buf, (size_t)(end - c->buf), "sec-websocket-key:", 18);
    if (k == NULL)
        return -1;
    k += 18;
    while (*k == ' ')
        k++;
    char *ke = k;
    while (ke < end && *ke != '\r')
        ke++;
    char cat[128];
    int n = snprintf(cat, sizeof cat, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)(ke - k), k);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((unsigned char *)cat, (size_t)n, md);
    char acc[64];
    EVP_EncodeBlock((unsigned char *)acc, md, SHA_DIGEST_LENGTH);
    char resp[256];
    n = snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                 acc);
    if (put(c->fd, resp, (size_t)n) < 0)
        return -1;
    size_t used = (size_t)(end + 4 - c->buf);
    memmove(c->buf, c->buf + used, c->in - used);
    c->in -= used;
    c->open = true;
    return 0;
}

static int
server_frames(struct conn *c)
{
    size_t off = 0, hdr, plen, fl;
    char out[BUF];
    size_t on = 0;
    unsigned char *p = (unsigned char *)c->buf;
    while ((fl = frame_len(p + off, c->in - off, &hdr, &plen)) > 0) {
        if (fl == (size_t)-1 || plen > 125)
            return -1;
        unsigned char *f = p + off;
        if ((f[0] & 0x0f) == 8)
            return -1; /* close */
        const unsigned char *mask = f + hdr - 4;
        out[on++] = (char)f[0];
        out[on++] = (char)plen;
        for (size_t i = 0; i < plen; i++)
            out[on++] = (char)(f[hdr + i] ^ mask[i & 3]);
        off += fl;
        if (on > BUF - 200) {
            if (put(c->fd, out, on) < 0)
                return -1;
            on = 0;
        }
    }
    memmove(c->buf, c->buf + off, c->in - off);
    c->in -= off;
    return on ? put(c->fd, out, on) : 0;
}

static int
server_io(struct conn *c)
{
    for (;;) {
        int r = fill(c);
        if (r <= 0)
            return r;
        if (!c->open && server_upgrade(c) < 0)
            return -1;
        if (c->open && server_frames(c) < 0)
            return -1;
    }
}

static int
serve(const char *at)
{
    int lfd = lg_listen(at, SOCK_STREAM);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL}, evs[256];
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &e);
    for (;;) {
        int n = epoll_wait(g_ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    floor_nodelay(fd);
                    c = calloc(1, sizeof *c);
                    if (c == NULL)
                        abort();
                    c->fd = fd;
                    watch(c, EPOLL_CTL_ADD, EPOLLIN);
                }
            } else if (server_io(c) < 0) {
                drop(c);
            }
        }
    }
}

/* ---------------------------------------------------------------- client */

static size_t g_size = 32;
static const char *g_host = "ws.bench.test", *g_path = "/ws";
static long g_msgs, g_errors;
static bool g_counting;

static int
client_send(struct conn *c)
{
    unsigned char f[2 + 4 + 125];
    f[0] = 0x81;
    f[1] = (unsigned char)(0x80 | g_size);
    memcpy(f + 2, "\x12\x34\x56\x78", 4);
    for (size_t i = 0; i < g_size; i++)
        f[6 + i] = (unsigned char)('a' ^ f[2 + (i & 3)]);
    return put(c->fd, f, 6 + g_size);
}

static int
client_io(struct conn *c, int *opened)
{
    for (;;) {
        int r = fill(c);
        if (r <= 0)
            return r;
        size_t off = 0;
        if (!c->open) {
            char *end = memmem(c->buf, c->in, "\r\n\r\n", 4);
            if (end == NULL)
                continue;
            if (c->in < 12 || memcmp(c->buf + 9, "101", 3))
                return -1;
            c->open = true;
            (*opened)++;
            off = (size_t)(end + 4 - c->buf);
            if (client_send(c) < 0)
                return -1;
        }
        size_t hdr, plen, fl;
        while ((fl = frame_len((unsigned char *)c->buf + off, c->in - off, &hdr, &plen)) > 0) {
            if (fl == (size_t)-1 || plen != g_size)
                return -1;
            off += fl;
            if (g_counting)
                g_msgs++;
            if (client_send(c) < 0)
                return -1;
        }
        memmove(c->buf, c->buf + off, c->in - off);
        c->in -= off;
    }
}

static int
client(const char *at, int conns, double secs, double warm)
{
    struct sockaddr_in a;
    if (floor_addr(at, &a) < 0)
        return 2;
    char req[512];
    int rn =
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 g_path, g_host);
    int opened = 0;
    /* connect in batches so the listener backlog and accept rate keep up */
    for (int i = 0; i < conns; i++) {
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL)
            abort();
        c->fd = lg_connect(&a);
        if (c->fd < 0) {
            g_errors++;
            free(c);
            continue;
        }
        /* the request fits any socket buffer; wait for the connect first */
        struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c}, ev;
        int tmp = epoll_create1(0);
        epoll_ctl(tmp, EPOLL_CTL_ADD, c->fd, &e);
        epoll_wait(tmp, &ev, 1, 2000);
        close(tmp);
        if (put(c->fd, req, (size_t)rn) < 0) {
            g_errors++;
            drop(c);
            continue;
        }
        watch(c, EPOLL_CTL_ADD, EPOLLIN);
    }
    struct epoll_event evs[512];
    double t0 = lg_now(), start = t0 + warm, stop = start + secs;
    for (;;) {
        double now = lg_now();
        if (!g_counting && now >= start) {
            g_counting = true;
            printf("counting\n");
            fflush(stdout);
        }
        if (now >= stop)
            break;
        int n = epoll_wait(g_ep, evs, 512, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (client_io(c, &opened) < 0) {
                g_errors++;
                epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
                drop(c);
            }
        }
    }
    printf("open %d messages %ld secs %.3f errors %ld\n", opened, g_msgs, secs, g_errors);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *echo_at = NULL, *conn_at = NULL;
    int conns = 100, opt;
    double secs = 4, warm = 1;
    while ((opt = getopt(argc, argv, "e:c:n:d:W:s:H:p:")) != -1) {
        switch (opt) {
        case 'e':
            echo_at = optarg;
            break;
        case 'c':
            conn_at = optarg;
            break;
        case 'n':
            conns = atoi(optarg);
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
        case 'H':
            g_host = optarg;
            break;
        case 'p':
            g_path = optarg;
            break;
        default:
            goto usage;
        }
    }
    if ((echo_at == NULL) == (conn_at == NULL) || g_size < 1 || g_size > 125)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    return echo_at ? serve(echo_at) : client(conn_at, conns, secs, warm);
usage:
    fprintf(stderr, "usage: wsload -e HOST:PORT | -c HOST:PORT [-n CONNS] [-d SECS] [-W WARMUP] "
                    "[-s BYTES] [-H HOST] [-p PATH]\n");
    return 2;
}
