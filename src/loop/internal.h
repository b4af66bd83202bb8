/* SPDX-License-Identifier: Apache-2.0 */
/* loop internals shared by loop.c, timer.c and signal.c. */
#ifndef GW_LOOP_INTERNAL_H
#define GW_LOOP_INTERNAL_H

#include "loop/loop.h"

/* A heap entry: its key may lag behind its timer's deadline (timer.c). */
struct gw_timer_entry {
    uint64_t due, seq;
    struct gw_timer *t; /* once dead, only compared, never followed */
    bool dead;          /* stopped: t may be gone */
};

struct gw_loop {
    int epfd;
    bool stopping;
    bool running;
    uint64_t now_ms;
    /* timers: binary min-heap on (due, seq), ndead of its entries stopped */
    struct gw_timer_entry *heap;
    size_t nheap, capheap, ndead;
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

#endif /* GW_LOOP_INTERNAL_H */
