/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timers: a binary min-heap of entries keyed by (due, start sequence), so
 * timers due at the same millisecond fire in the order they were started.
 *
 * Connections re-arm their timers on every request (idle, header, response
 * timeouts), almost always to a later deadline, and stop them as often. So
 * both are plain stores, and the heap catches up lazily, as nginx and
 * HAProxy do:
 *   - an entry's key may be earlier than its timer's real deadline (a
 *     restart to a later time only updates the timer); when such an entry
 *     reaches the top it is re-filed under the real key instead of firing.
 *     A restart to an earlier time re-keys the entry at once (sift up), so
 *     a key is never later than the deadline and nothing fires late;
 *   - a stop only marks the entry dead. The entry never touches the timer
 *     again (the caller may free it), but it remembers the address, so a
 *     timer started again before its dead entry went away takes the entry
 *     back (t->slot is the hint; a dead entry is not told when it moves, so
 *     the hint is checked). Dead entries leave when they reach the top, or
 *     all at once when they outnumber the live ones (an O(n) rebuild).
 * In the steady keep-alive case a request then costs no heap work at all.
 */
#include <limits.h>
#include <stdlib.h>

#include "base/base.h"
#include "loop/internal.h"
#include "loop/loop.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define NO_SLOT SIZE_MAX

/* Dead entries tolerated before a rebuild: this many, and twice the live. */
#define DEAD_MIN 64

static bool
key_before(uint64_t due, uint64_t seq, const struct gw_timer_entry *b)
{
    return due < b->due || (due == b->due && seq < b->seq);
}

static bool
before(const struct gw_timer_entry *a, const struct gw_timer_entry *b)
{
    return key_before(a->due, a->seq, b);
}

static void
place(struct gw_loop *loop, struct gw_timer_entry e, size_t i)
{
    loop->heap[i] = e;
    if (!e.dead)
        e.t->slot = i;
}

static void
sift_up(struct gw_loop *loop, size_t i)
{
    struct gw_timer_entry e = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &loop->heap[parent]))
            break;
        place(loop, loop->heap[parent], i);
        i = parent;
    }
    place(loop, e, i);
}

static void
sift_down(struct gw_loop *loop, size_t i)
{
    struct gw_timer_entry e = loop->heap[i];
    size_t n = loop->nheap;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && before(&loop->heap[child + 1], &loop->heap[child]))
            child++;
        if (!before(&loop->heap[child], &e))
            break;
        place(loop, loop->heap[child], i);
        i = child;
    }
    place(loop, e, i);
}

static void
pop_top(struct gw_loop *loop)
{
    if (loop->heap[0].dead)
        loop->ndead--;
    loop->nheap--;
    if (loop->nheap == 0)
        return;
    loop->heap[0] = loop->heap[loop->nheap];
    sift_down(loop, 0);
}

/* Drops every dead entry and heapifies the rest: O(n). */
static void
rebuild(struct gw_loop *loop)
{
    size_t n = 0;
    for (size_t i = 0; i < loop->nheap; i++)
        if (!loop->heap[i].dead)
            loop->heap[n++] = loop->heap[i];
    loop->nheap = n;
    loop->ndead = 0;
    for (size_t i = 0; i < n; i++)
        loop->heap[i].t->slot = i;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(loop, i);
}

/* Until the top entry is a live timer filed under its real deadline. */
static void
settle(struct gw_loop *loop)
{
    while (loop->nheap > 0) {
        struct gw_timer_entry *e = &loop->heap[0];
        if (e->dead) {
            pop_top(loop);
            continue;
        }
        const struct gw_timer *t = e->t;
        if (e->due == t->due && e->seq == t->seq)
            return;
        e->due = t->due;
        e->seq = t->seq;
        sift_down(loop, 0);
    }
}

void
gw_timer_init(struct gw_loop *loop, struct gw_timer *t, gw_timer_fn cb, void *data)
{
    *t = (struct gw_timer){.data = data, .loop = loop, .cb = cb, .slot = NO_SLOT};
}

void
gw_timer_start(struct gw_timer *t, uint64_t timeout_ms)
{
    struct gw_loop *loop = t->loop;
    uint64_t due = loop->now_ms + timeout_ms, seq = loop->timer_seq++;
    t->due = due;
    t->seq = seq;
    struct gw_timer_entry *e = NULL;
    if (t->armed) {
        e = &loop->heap[t->slot];
        GW_ASSERT(t->slot < loop->nheap && e->t == t && !e->dead);
    } else if (t->slot < loop->nheap && loop->heap[t->slot].dead && loop->heap[t->slot].t == t) {
        e = &loop->heap[t->slot];
        e->dead = false;
        loop->ndead--;
        t->armed = true;
    }
    if (e) {
        /* Later than the key (the common case): the entry is re-filed when
         * it reaches the top. Earlier: re-key now so it fires in time. */
        if (key_before(due, seq, e)) {
            e->due = due;
            e->seq = seq;
            sift_up(loop, t->slot);
        }
        return;
    }
    loop->heap = gw_xgrow(loop->heap, &loop->capheap, loop->nheap + 1, sizeof(*loop->heap));
    t->armed = true;
    loop->heap[loop->nheap] = (struct gw_timer_entry){.due = due, .seq = seq, .t = t};
    t->slot = loop->nheap++;
    sift_up(loop, t->slot);
}

void
gw_timer_stop(struct gw_timer *t)
{
    if (!t->armed)
        return;
    struct gw_loop *loop = t->loop;
    t->armed = false;
    GW_ASSERT(t->slot < loop->nheap && loop->heap[t->slot].t == t && !loop->heap[t->slot].dead);
    loop->heap[t->slot].dead = true;
    loop->ndead++;
    if (loop->ndead > DEAD_MIN && loop->ndead / 2 > loop->nheap - loop->ndead)
        rebuild(loop);
}

bool
gw_timer_is_active(const struct gw_timer *t)
{
    return t->armed;
}

int
gw_loop__timer_timeout(struct gw_loop *loop)
{
    if (loop->closing || loop->defer_head)
        return 0;
    settle(loop);
    if (loop->nheap == 0)
        return -1;
    /* The clock may have moved since the turn began (slow callbacks). */
    gw_loop_update_time(loop);
    uint64_t due = loop->heap[0].due;
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
    for (;;) {
        settle(loop);
        if (loop->nheap == 0)
            break;
        struct gw_timer *t = loop->heap[0].t;
        if (t->due > now || t->seq >= seq_limit)
            break;
        pop_top(loop);
        t->armed = false;
        t->slot = NO_SLOT;
        t->cb(t);
    }
}
