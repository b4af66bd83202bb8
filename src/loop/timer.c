/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timers: a binary min-heap of caller-owned handles ordered by (due, start
 * sequence), so timers due at the same millisecond fire in the order they
 * were started. Each handle remembers its heap slot, which makes stop and
 * restart O(log n) without searching.
 */
#include <limits.h>
#include <stdlib.h>

#include "base/base.h"
#include "loop/internal.h"
#include "loop/loop.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define INACTIVE SIZE_MAX

static bool
before(const struct gw_timer *a, const struct gw_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
place(struct gw_loop *loop, struct gw_timer *t, size_t i)
{
    loop->heap[i] = t;
    t->slot = i;
}

static void
sift_up(struct gw_loop *loop, size_t i)
{
    struct gw_timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(t, loop->heap[parent]))
            break;
        place(loop, loop->heap[parent], i);
        i = parent;
    }
    place(loop, t, i);
}

static void
sift_down(struct gw_loop *loop, size_t i)
{
    struct gw_timer *t = loop->heap[i];
    size_t n = loop->nheap;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && before(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!before(loop->heap[child], t))
            break;
        place(loop, loop->heap[child], i);
        i = child;
    }
    place(loop, t, i);
}

static void
heap_remove(struct gw_loop *loop, struct gw_timer *t)
{
    size_t i = t->slot;
    GW_ASSERT(i < loop->nheap && loop->heap[i] == t);
    t->slot = INACTIVE;
    loop->nheap--;
    if (i == loop->nheap)
        return;
    struct gw_timer *last = loop->heap[loop->nheap];
    place(loop, last, i);
    sift_down(loop, i);
    sift_up(loop, last->slot);
}

void
gw_timer_init(struct gw_loop *loop, struct gw_timer *t, gw_timer_fn cb, void *data)
{
    *t = (struct gw_timer){.data = data, .loop = loop, .cb = cb, .slot = INACTIVE};
}

void
gw_timer_start(struct gw_timer *t, uint64_t timeout_ms)
{
    struct gw_loop *loop = t->loop;
    if (t->slot != INACTIVE)
        heap_remove(loop, t);
    t->due = loop->now_ms + timeout_ms;
    t->seq = loop->timer_seq++;
    loop->heap = gw_xgrow(loop->heap, &loop->capheap, loop->nheap + 1, sizeof(*loop->heap));
    place(loop, t, loop->nheap++);
    sift_up(loop, t->slot);
}

void
gw_timer_stop(struct gw_timer *t)
{
    if (t->slot != INACTIVE)
        heap_remove(t->loop, t);
}

bool
gw_timer_is_active(const struct gw_timer *t)
{
    return t->slot != INACTIVE;
}

int
gw_loop__timer_timeout(struct gw_loop *loop)
{
    if (loop->closing || loop->defer_head)
        return 0;
    if (loop->nheap == 0)
        return -1;
    /* The clock may have moved since the turn began (slow callbacks). */
    gw_loop_update_time(loop);
    uint64_t due = loop->heap[0]->due;
    if (due <= loop->now_ms)
        return 0;
    uint64_t wait = due - loop->now_ms;
    return wait > INT_MAX ? INT_MAX : (int)wait;
}

void
gw_loop__timer_run(struct gw_loop *loop)
{
    /* Only timers due now: one re-armed with 0 ms by its own callback waits
     * for the next turn instead of starving I/O. */
    uint64_t now = loop->now_ms;
    uint64_t seq_limit = loop->timer_seq;
    while (loop->nheap > 0) {
        struct gw_timer *t = loop->heap[0];
        if (t->due > now || t->seq >= seq_limit)
            break;
        heap_remove(loop, t);
        t->cb(t);
    }
}
