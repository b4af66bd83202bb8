/* SPDX-License-Identifier: Apache-2.0 */
/* loop internals shared by loop.c, timer.c and signal.c. */
#ifndef GW_LOOP_INTERNAL_H
#define GW_LOOP_INTERNAL_H

#include "loop/loop.h"

/* A heap entry: its key may lag behind its timer's deadline (timer.c). */
struct gw_timer_entry {
    uint64_t due, seq;
    uint32_t node;
};

/* What an entry and its timer share; loop-owned, so a stopped timer may go. */
struct gw_timer_node {
    struct gw_timer *t; /* NULL: stopped (the entry is dead) or free */
    uint32_t slot;      /* the entry's heap index; next free node when free */
    uint32_t gen;       /* bumped when freed: a timer's old index goes stale */
};

struct gw_uring;

struct gw_loop {
    int epfd;
    struct gw_uring *ur; /* the io_uring backend (uring.c), or NULL: epoll */
    bool stopping;
    bool running;
    uint64_t now_ms;
    /* timers: binary min-heap on (due, seq), ndead of its entries stopped */
    struct gw_timer_entry *heap;
    size_t nheap, capheap, ndead;
    struct gw_timer_node *nodes;
    size_t nnodes, capnodes;
    uint32_t free_node;
    uint64_t timer_seq;
    /* deferred work: closes first (they only need the fd gone), then defers */
    struct gw_io *closing;
    struct gw_defer *defer_head, *defer_tail;
    /* signals */
    struct gw_io sigio;
    bool has_sigio;
};

/* timer.c */
/* Milliseconds until the earliest timer (-1 when none, 0 when overdue). */
int gw_loop__timer_timeout(struct gw_loop *loop);
/* Fires every timer due at the cached now. */
void gw_loop__timer_run(struct gw_loop *loop);

/* loop.c */
/* One epoll_wait (timeout in ms, -1 forever) and the dispatch of what it
 * returns. The number of events, or a negated errno. */
int gw_loop__epoll_turn(struct gw_loop *loop, int timeout);
/* Deferred closes and callbacks, until quiet. */
void gw_loop__run_deferred(struct gw_loop *loop);

/* uring.c */
/* Sets up the io_uring backend on loop (loop->ur), or a negated errno. */
int gw_loop__uring_new(struct gw_loop *loop);
void gw_loop__uring_free(struct gw_loop *loop);
int gw_loop__uring_run(struct gw_loop *loop);
void gw_loop__uring_own(struct gw_io *io);
void gw_loop__uring_set(struct gw_io *io, unsigned events);
/* gw_io_disown's io_uring half: the interest io had (>= 0) once the uio let
 * go of the socket (io is then unowned and unregistered), GW_EAGAIN while
 * bytes or operations are outstanding, or the socket's negated error. */
int gw_loop__uring_disown(struct gw_io *io);
/* Ends a disown that did not complete: the recv is armed again. */
void gw_loop__uring_reown(struct gw_io *io);
void gw_loop__uring_close(struct gw_io *io);
ssize_t gw_loop__uring_recv(struct gw_io *io, void *buf, size_t n);
ssize_t gw_loop__uring_send(struct gw_io *io, const void *buf, size_t n);
void gw_loop__uring_shutdown_write(struct gw_io *io);

#endif /* GW_LOOP_INTERNAL_H */
