/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timers: a binary min-heap of entries keyed by (due, start sequence), so
 * timers due at the same millisecond fire in the order they were started.
 *
 * Connections re-arm their timers on every request (idle, header, response
 * timeouts), almost always to a later deadline, and stop them as often. So
 * both are a few stores, and the heap catches up lazily, as nginx and
 * HAProxy do:
 *   - an entry's key may be earlier than its timer's real deadline (a
 *     restart to a later time only updates the timer); when such an entry
 *     reaches the top it is re-filed under the real key instead of firing.
 *     A restart to an earlier time re-keys the entry at once (sift up), so
 *     a key is never later than the deadline and nothing fires late;
 *   - a stop only marks the entry dead, and a timer started again while its
 *     dead entry is still in the heap takes it back. Dead entries leave when
 *     they reach the top, or all at once when they outnumber the live ones
 *     (an O(n) rebuild);
 *   - a mute, for a timer about to be started again (a keep-alive
 *     connection's between requests), touches only the timer: it stays armed
 *     and firing just disarms it, so the next start to a later time is the
 *     store-only restart above.
 * Entries point at loop-owned nodes, never at the timer directly: a stopped
 * timer may be freed at once, and the node (found again by index and
 * generation) is what knows where the entry sits.
 * In the steady keep-alive case a request then costs no heap work at all.
 */
#include <limits.h>
#include <stdlib.h>

#include "base/base.h"
#include "loop/internal.h"
#include "loop/loop.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define NO_NODE UINT32_MAX

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

static uint32_t
node_new(struct gw_loop *loop, struct gw_timer *t)
{
    uint32_t i = loop->free_node;
    if (i != NO_NODE) {
        loop->free_node = loop->nodes[i].slot;
    } else {
        GW_ASSERT(loop->nnodes < NO_NODE);
        loop->nodes =
            gw_xgrow(loop->nodes, &loop->capnodes, loop->nnodes + 1, sizeof(*loop->nodes));
        i = (uint32_t)loop->nnodes++;
        loop->nodes[i].gen = 1; /* a zeroed gw_timer (gen 0) never matches */
    }
    loop->nodes[i].t = t;
    return i;
}

static void
node_free(struct gw_loop *loop, uint32_t i)
{
    struct gw_timer_node *n = &loop->nodes[i];
    n->t = NULL;
    n->gen = n->gen + 1 ? n->gen + 1 : 1;
    n->slot = loop->free_node;
    loop->free_node = i;
}

static void
place(struct gw_loop *loop, struct gw_timer_entry e, size_t i)
{
    loop->heap[i] = e;
    loop->nodes[e.node].slot = (uint32_t)i;
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

/* Removes the top entry and frees its node. */
static void
pop_top(struct gw_loop *loop)
{
    uint32_t node = loop->heap[0].node;
    if (loop->nodes[node].t == NULL)
        loop->ndead--;
    node_free(loop, node);
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
    for (size_t i = 0; i < loop->nheap; i++) {
        struct gw_timer_entry e = loop->heap[i];
        if (loop->nodes[e.node].t == NULL)
            node_free(loop, e.node);
        else
            place(loop, e, n++);
    }
    loop->nheap = n;
    loop->ndead = 0;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(loop, i);
}

void
gw_timer_init(struct gw_loop *loop, struct gw_timer *t, gw_timer_fn cb, void *data)
{
    *t = (struct gw_timer){.data = data, .loop = loop, .cb = cb, .node = NO_NODE};
}

void
gw_timer_start(struct gw_timer *t, uint64_t timeout_ms)
{
    struct gw_loop *loop = t->loop;
    uint64_t due = loop->now_ms + timeout_ms, seq = loop->timer_seq++;
    t->muted = false;
    if (t->armed && due >= t->due) {
        /* Not earlier than before: its entry's key, never later than the
         * old deadline, is still early enough. Neither its node nor its
         * heap entry is touched, the two cache misses a re-arm would cost
         * per request on a busy worker. */
        t->due = due;
        t->seq = seq;
        return;
    }
    t->due = due;
    t->seq = seq;
    struct gw_timer_node *n = NULL;
    if (t->armed) {
        n = &loop->nodes[t->node];
        GW_ASSERT(n->t == t);
    } else if (t->node < loop->nnodes && loop->nodes[t->node].gen == t->gen &&
               loop->nodes[t->node].t == NULL) {
        /* Stopped, and its dead entry is still there: take it back. */
        n = &loop->nodes[t->node];
        n->t = t;
        loop->ndead--;
        t->armed = true;
    }
    if (n) {
        /* Later than the key (the common case): the entry is re-filed when
         * it reaches the top. Earlier: re-key now so it fires in time. */
        struct gw_timer_entry *e = &loop->heap[n->slot];
        if (key_before(due, seq, e)) {
            e->due = due;
            e->seq = seq;
            sift_up(loop, n->slot);
        }
        return;
    }
    loop->heap = gw_xgrow(loop->heap, &loop->capheap, loop->nheap + 1, sizeof(*loop->heap));
    t->node = node_new(loop, t);
    t->gen = loop->nodes[t->node].gen;
    t->armed = true;
    loop->heap[loop->nheap] = (struct gw_timer_entry){.due = due, .seq = seq, .node = t->node};
    sift_up(loop, loop->nheap++);
}

void
gw_timer_stop(struct gw_timer *t)
{
    t->muted = false;
    if (!t->armed)
        return;
    struct gw_loop *loop = t->loop;
    GW_ASSERT(loop->nodes[t->node].t == t);
    t->armed = false;
    loop->nodes[t->node].t = NULL;
    loop->ndead++;
    if (loop->ndead > DEAD_MIN && loop->ndead / 2 > loop->nheap - loop->ndead)
        rebuild(loop);
}

void
gw_timer_mute(struct gw_timer *t)
{
    t->muted = t->armed;
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
    if (loop->nheap == 0)
        return -1;
    /* The clock may have moved since the turn began (slow callbacks). */
    gw_loop_update_time(loop);
    /* The top key may be early (a dead or lagging entry): that wakes the
     * loop once to re-file it, never too late. */
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
     * for the next turn instead of starving I/O. Entries are looked at only
     * once their key is due, so lagging keys cost nothing until then. */
    uint64_t now = loop->now_ms;
    uint64_t seq_limit = loop->timer_seq;
    while (loop->nheap > 0 && loop->heap[0].due <= now) {
        struct gw_timer_entry *e = &loop->heap[0];
        struct gw_timer *t = loop->nodes[e->node].t;
        if (t == NULL) {
            pop_top(loop);
            continue;
        }
        if (e->due != t->due || e->seq != t->seq) {
            e->due = t->due;
            e->seq = t->seq;
            sift_down(loop, 0);
            continue;
        }
        if (t->seq >= seq_limit)
            break;
        pop_top(loop);
        t->armed = false;
        t->node = NO_NODE;
        if (t->muted) {
            t->muted = false;
            continue;
        }
        t->cb(t);
    }
}
