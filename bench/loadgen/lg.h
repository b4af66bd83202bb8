/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the load generators and upstreams of bench scenario 13 share
 * (bench/loadgen/, bench-only, not part of gatehouse): sockets and clocks,
 * beside what they take from bench/floor/floor.h (floor_addr, floor_nodelay,
 * floor_spawn). Errors at start-up print and exit.
 */
#ifndef LG_H
#define LG_H

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>

#include "floor.h"

/* A non-blocking listener (type SOCK_STREAM or SOCK_DGRAM) on HOST:PORT with
 * SO_REUSEADDR and SO_REUSEPORT; exits on error. */
int lg_listen(const char *hostport, int type);

/* A non-blocking TCP connect (in progress or done) to *a; -1 on error. */
int lg_connect(const struct sockaddr_in *a);

/* Monotonic seconds. */
double lg_now(void);

/* malloc that aborts when out of memory. */
void *lg_xmalloc(size_t n);

#endif
