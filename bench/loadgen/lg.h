/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the load generators and upstreams of bench scenario 13 share
 * (bench/loadgen/, bench-only, not part of gatehouse): addresses, sockets,
 * worker processes, clocks. Errors at start-up print and exit.
 */
#ifndef LG_H
#define LG_H

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>

/* Parses "HOST:PORT" (IPv4) into *out; -1 when malformed. */
int lg_addr(const char *s, struct sockaddr_in *out);

/* A non-blocking listener (type SOCK_STREAM or SOCK_DGRAM) on HOST:PORT with
 * SO_REUSEADDR and SO_REUSEPORT; exits on error. */
int lg_listen(const char *hostport, int type);

/* A non-blocking TCP connect (in progress or done) to *a; -1 on error. */
int lg_connect(const struct sockaddr_in *a);

/* TCP_NODELAY on fd. */
void lg_nodelay(int fd);

/* With n > 1 forks n workers (each dies with its parent) and waits in the
 * parent forever; returns in each worker (or at once with n == 1). */
void lg_spawn(int n);

/* Monotonic seconds. */
double lg_now(void);

/* malloc that aborts when out of memory. */
void *lg_xmalloc(size_t n);

#endif
