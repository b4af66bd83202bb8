/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the two floor proxies (floor-epoll.c, floor-uring.c) share: the
 * command line, the listener, the upstream connection and the worker
 * processes. Bench-only programs, not part of gatehouse: they pair each
 * client connection with one upstream keep-alive connection and copy bytes
 * both ways without looking at them, the least an HTTP/1.1 proxy with the
 * same syscall pattern can do (bench/README.md, bench/PROFILE.md).
 */
#ifndef FLOOR_H
#define FLOOR_H

#include <netinet/in.h>

struct floor_opts {
    const char *listen;   /* -l HOST:PORT */
    const char *upstream; /* -u HOST:PORT */
    int workers;          /* -w N: N processes, one SO_REUSEPORT listener each */
    const char *variant;  /* -v STRING: program-specific, NULL when not given */
    struct sockaddr_in up;
};

/* Parses "HOST:PORT" (IPv4) into *out; 0, or -1 when malformed. (bench/loadgen
 * uses it too.) */
int floor_addr(const char *s, struct sockaddr_in *out);

/* Parses argv into *o (exits with usage on error); `name` is for messages. */
void floor_opts_parse(struct floor_opts *o, int argc, char **argv, const char *name);

/* A non-blocking TCP listener on o->listen with SO_REUSEPORT; exits on error. */
int floor_listen(const struct floor_opts *o);

/*
 * A connected, non-blocking, TCP_NODELAY socket to o->up. The connect itself
 * blocks (loopback, once per client connection). Returns -1 on error.
 */
int floor_connect(const struct floor_opts *o);

/* Sets TCP_NODELAY on fd. */
void floor_nodelay(int fd);

/*
 * With o->workers > 1 forks that many workers (each dies with its parent)
 * and waits for them in the parent, never returning there; with 1 returns
 * at once. Returns in each worker.
 */
void floor_spawn(const struct floor_opts *o);

/*
 * What both programs do first: parses argv into *o, forks the workers
 * (floor_spawn) and returns, in each worker, its listener (floor_listen).
 */
int floor_start(struct floor_opts *o, int argc, char **argv, const char *name);

/*
 * Pairs the accepted client cfd with an upstream connection: TCP_NODELAY on
 * cfd, a new upstream connection in *ufd, and size bytes for the pair,
 * 64-byte aligned and NOT zeroed (a pair may hold buffers that need no
 * clearing). NULL when the upstream connect fails: cfd is then closed and
 * the error printed. Aborts when out of memory.
 */
void *floor_pair_new(const struct floor_opts *o, int cfd, size_t size, int *ufd);

#endif
