/* SPDX-License-Identifier: Apache-2.0 */
/*
 * floor-epoll: the lower bound of an epoll proxy with gatehouse's syscall
 * pattern. One thread per worker, edge-triggered epoll; each accepted client
 * connection gets its own upstream connection (connected once, kept for the
 * client connection's life) and bytes are copied both ways without being
 * looked at. A short recv means the socket is drained and a short send means
 * it is full (the next edge says when that changes), so one HTTP/1.1
 * request/response costs one recv and one send on each side and an
 * epoll_wait shared by every connection ready at once: no epoll_ctl after
 * accept, no timers, no parsing. Not an HTTP proxy: a bench contestant.
 *   floor-epoll -l 127.0.0.1:18080 -u 127.0.0.1:18000 [-w WORKERS]
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "floor.h"

#define BUF_SIZE   16384
#define MAX_EVENTS 512

/* One socket of a pair: readiness as the last edge and syscall left it. */
struct side {
    int fd;
    bool readable, writable;
    bool hup; /* FIN or error seen by epoll: a short read no longer means drained */
};

/* Bytes read from one side and not yet sent to the other. */
struct flow {
    bool eof; /* the source sent its FIN, passed on (shutdown SHUT_WR) */
    uint32_t off, len;
    char buf[BUF_SIZE];
};

/* s[0] is the client, s[1] the upstream; f[i] carries s[i] -> s[1 - i]. */
struct pair {
    struct side s[2];
    struct flow f[2];
    bool dead;
    struct pair *next_dead;
};

static struct pair *dead_list;

/*
 * Moves bytes from s[i] to s[1 - i] until one of them would block. A FIN is
 * passed on once everything before it is sent (half-close). Returns -1 when
 * the pair must close: an error, or a FIN from both sides.
 */
static int
pump(struct pair *p, int i)
{
    struct side *src = &p->s[i], *dst = &p->s[1 - i];
    struct flow *f = &p->f[i];
    for (;;) {
        if (f->len > 0) {
            if (!dst->writable)
                return 0;
            ssize_t n = send(dst->fd, f->buf + f->off, f->len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) {
                    dst->writable = false;
                    return 0;
                }
                return -1;
            }
            f->off += (uint32_t)n;
            f->len -= (uint32_t)n;
            if (f->len > 0) {
                dst->writable = false;
                return 0;
            }
            f->off = 0;
        }
        if (!src->readable || f->eof)
            return 0;
        ssize_t n = recv(src->fd, f->buf, BUF_SIZE, 0);
        if (n == 0) {
            f->eof = true;
            shutdown(dst->fd, SHUT_WR);
            return p->f[1 - i].eof ? -1 : 0;
        }
        if (n < 0) {
            if (errno == EAGAIN) {
                src->readable = false;
                return 0;
            }
            return -1;
        }
        if (n < BUF_SIZE && !src->hup)
            src->readable = false;
        f->len = (uint32_t)n;
    }
}

static void
pair_kill(struct pair *p)
{
    if (p->dead)
        return;
    p->dead = true;
    close(p->s[0].fd); /* closing removes them from the epoll set */
    close(p->s[1].fd);
    p->next_dead = dead_list;
    dead_list = p;
}

static void
accept_all(int ep, int lfd, const struct floor_opts *o)
{
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return; /* EAGAIN, or a transient error: the next edge retries */
        int ufd;
        struct pair *p = floor_pair_new(o, cfd, sizeof *p, &ufd);
        if (p == NULL)
            continue;
        p->s[0] = (struct side){cfd, true, true, false};
        p->s[1] = (struct side){ufd, true, true, false};
        p->f[0].off = p->f[0].len = p->f[1].off = p->f[1].len = 0;
        p->f[0].eof = p->f[1].eof = false;
        p->dead = false;
        for (int i = 0; i < 2; i++) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                     .data.u64 = (uint64_t)(uintptr_t)p | (uint64_t)i};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, p->s[i].fd, &ev) != 0) {
                perror("epoll_ctl");
                exit(1);
            }
        }
        if (pump(p, 0) < 0 || pump(p, 1) < 0)
            pair_kill(p);
    }
}

int
main(int argc, char **argv)
{
    struct floor_opts o;
    int lfd = floor_start(&o, argc, argv, "floor-epoll");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.u64 = 0};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        perror("epoll");
        return 1;
    }
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            uint64_t d = evs[k].data.u64;
            if (d == 0) {
                accept_all(ep, lfd, &o);
                continue;
            }
            struct pair *p = (struct pair *)(uintptr_t)(d & ~(uint64_t)1);
            int i = (int)(d & 1);
            if (p->dead)
                continue;
            if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                p->s[i].readable = true;
            if (evs[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                p->s[i].hup = true;
            if (evs[k].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                p->s[i].writable = true;
            if (pump(p, i) < 0 || pump(p, 1 - i) < 0)
                pair_kill(p);
        }
        /* freed only now: a later event of the same batch may name a dead pair */
        while (dead_list != NULL) {
            struct pair *p = dead_list;
            dead_list = p->next_dead;
            free(p);
        }
    }
}
