/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loop proper: epoll registration, one turn of dispatch, the cached
 * clock and deferred work. Watches are level-triggered so a callback that
 * stops reading early (a full output buffer, a paused stream) is called again
 * next turn without extra bookkeeping. Closing is deferred: a handle closed
 * mid-turn may still have an event waiting in this turn's epoll batch, so
 * its memory must outlive the batch; closing only marks it, and its close
 * callback runs after dispatch.
 */
#include "loop/loop.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "loop/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define MAX_EVENTS 512

static uint64_t
clock_ms(void)
{
    struct timespec ts;
    /* COARSE is a vDSO read of the tick clock: a few ns, 1-4 ms resolution,
     * plenty for timeouts. */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static enum gw_loop_backend default_backend = GW_LOOP_EPOLL;

void
gw_loop_backend_set_default(enum gw_loop_backend b)
{
    default_backend = b;
}

enum gw_loop_backend
gw_loop_backend(const struct gw_loop *loop)
{
    return loop->ur ? GW_LOOP_URING : GW_LOOP_EPOLL;
}

static int
loop_new(struct gw_loop **out, enum gw_loop_backend backend)
{
    struct gw_loop *loop = gw_xcalloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        int rc = -errno;
        free(loop);
        return rc;
    }
    loop->now_ms = clock_ms();
    loop->free_node = UINT32_MAX;
    /* No io_uring (old kernel, seccomp): epoll does the same job. */
    if (backend == GW_LOOP_URING)
        (void)gw_loop__uring_new(loop);
    *out = loop;
    return 0;
}

int
gw_loop_new(struct gw_loop **out)
{
    return loop_new(out, default_backend);
}

int
gw_loop_new_epoll(struct gw_loop **out)
{
    return loop_new(out, GW_LOOP_EPOLL);
}

void
gw_loop__run_deferred(struct gw_loop *loop)
{
    /* Callbacks may close or defer more; loop until quiet. */
    while (loop->closing || loop->defer_head) {
        struct gw_io *io = loop->closing;
        loop->closing = NULL;
        while (io) {
            struct gw_io *next = io->next_closing;
            io->next_closing = NULL;
            if (io->close_cb)
                io->close_cb(io);
            io = next;
        }
        struct gw_defer *d = loop->defer_head;
        loop->defer_head = loop->defer_tail = NULL;
        while (d) {
            struct gw_defer *next = d->next;
            d->fn(d->data); /* may free d */
            d = next;
        }
    }
}

void
gw_loop_free(struct gw_loop *loop)
{
    if (!loop)
        return;
    GW_ASSERT(!loop->running);
    if (loop->has_sigio)
        gw_io_close(&loop->sigio, NULL);
    gw_loop__run_deferred(loop);
    if (loop->ur)
        gw_loop__uring_free(loop);
    close(loop->epfd);
    free(loop->heap);
    free(loop->nodes);
    free(loop);
}

void
gw_loop_stop(struct gw_loop *loop)
{
    loop->stopping = true;
}

bool
gw_loop_is_stopping(const struct gw_loop *loop)
{
    return loop->stopping;
}

uint64_t
gw_loop_now(const struct gw_loop *loop)
{
    return loop->now_ms;
}

void
gw_loop_update_time(struct gw_loop *loop)
{
    loop->now_ms = clock_ms();
}

int
gw_loop__epoll_turn(struct gw_loop *loop, int timeout)
{
    struct epoll_event ev[MAX_EVENTS];
    int n = epoll_wait(loop->epfd, ev, MAX_EVENTS, timeout);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (timeout != 0)
        gw_loop_update_time(loop);
    for (int i = 0; i < n; i++) {
        struct gw_io *io = ev[i].data.ptr;
        /* With hundreds of connections each handle is a cache miss:
         * start loading the next one while this one runs. */
        if (i + 1 < n)
            __builtin_prefetch(ev[i + 1].data.ptr);
        /* Closed or unwatched (gw_io_set 0) by an earlier callback of
         * this batch: the event is stale. */
        if (io->closing || !io->registered)
            continue;
        unsigned e = 0;
        if (ev[i].events & (EPOLLIN | EPOLLRDHUP))
            e |= GW_LOOP_READ;
        if (ev[i].events & EPOLLOUT)
            e |= GW_LOOP_WRITE;
        if (ev[i].events & (EPOLLERR | EPOLLHUP))
            e |= GW_LOOP_ERROR | GW_LOOP_READ;
        /* Drop bits the callback no longer wants (an earlier callback in
         * this batch may have changed the interest). */
        e &= io->interest | GW_LOOP_ERROR | ((e & GW_LOOP_ERROR) ? GW_LOOP_READ : 0);
        if (e)
            io->cb(io, e);
    }
    return n;
}

int
gw_loop_run(struct gw_loop *loop)
{
    int rc = 0;

    GW_ASSERT(!loop->running);
    if (loop->ur)
        return gw_loop__uring_run(loop);
    loop->running = true;
    while (!loop->stopping) {
        int n = gw_loop__epoll_turn(loop, gw_loop__timer_timeout(loop));
        if (n < 0) {
            rc = n;
            break;
        }
        gw_loop__timer_run(loop);
        gw_loop__run_deferred(loop);
    }
    loop->running = false;
    gw_loop__run_deferred(loop);
    return rc;
}

void
gw_io_init(struct gw_loop *loop, struct gw_io *io, int fd, gw_io_fn cb, void *data)
{
    *io = (struct gw_io){.fd = fd, .data = data, .loop = loop, .cb = cb};
}

int
gw_io_set(struct gw_io *io, unsigned events)
{
    events &= GW_LOOP_READ | GW_LOOP_WRITE;
    if (io->closing || events == io->interest)
        return 0;
    if (io->uio) {
        gw_loop__uring_set(io, events);
        return 0;
    }
    if (events == 0) {
        /* Epoll reports EPOLLHUP and EPOLLERR whatever the interest: a
         * hung-up socket left registered with none would wake the loop
         * every turn. Unwatched means unregistered. */
        io->interest = 0;
        io->registered = false;
        if (epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL) < 0)
            return -errno;
        return 0;
    }
    struct epoll_event ev = {.data.ptr = io};
    if (events & GW_LOOP_READ)
        ev.events |= EPOLLIN | EPOLLRDHUP;
    if (events & GW_LOOP_WRITE)
        ev.events |= EPOLLOUT;
    int op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(io->loop->epfd, op, io->fd, &ev) < 0)
        return -errno;
    io->registered = true;
    io->interest = events;
    return 0;
}

void
gw_io_close(struct gw_io *io, gw_close_fn close_cb)
{
    if (io->closing)
        return;
    io->closing = true;
    io->close_cb = close_cb;
    if (io->uio) /* the loop closes the fd once its sends are out */
        gw_loop__uring_close(io);
    /* close() drops the epoll registration with the last reference to the
     * file; an explicit DEL also covers a file that outlives the fd (a dup,
     * a child, an io_uring operation or file table slot of an fd the ring
     * owned once), unless the owner says there is none (unshared). */
    if (io->registered && (!io->unshared || io->was_owned))
        epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
    io->interest = 0;
    if (io->fd >= 0)
        close(io->fd);
    io->fd = -1;
    io->next_closing = io->loop->closing;
    io->loop->closing = io;
}

bool
gw_io_is_closing(const struct gw_io *io)
{
    return io->closing;
}

void
gw_io_own(struct gw_io *io)
{
    if (io->uio) {
        gw_loop__uring_reown(io);
    } else if (io->loop->ur && !io->closing) {
        io->was_owned = true;
        gw_loop__uring_own(io);
    }
}

int
gw_io_disown(struct gw_io *io)
{
    if (!io->uio)
        return 0;
    int r = gw_loop__uring_disown(io);
    if (r < 0)
        return r;
    return gw_io_set(io, (unsigned)r);
}

bool
gw_io_is_owned(const struct gw_io *io)
{
    return io->uio != NULL;
}

ssize_t
gw_io_recv(struct gw_io *io, void *buf, size_t n)
{
    if (io->uio)
        return gw_loop__uring_recv(io, buf, n);
    return recv(io->fd, buf, n, 0);
}

ssize_t
gw_io_send(struct gw_io *io, const void *buf, size_t n)
{
    if (io->uio)
        return gw_loop__uring_send(io, buf, n);
    return send(io->fd, buf, n, MSG_NOSIGNAL);
}

void
gw_io_shutdown_write(struct gw_io *io)
{
    if (io->uio)
        gw_loop__uring_shutdown_write(io);
    else if (io->fd >= 0)
        shutdown(io->fd, SHUT_WR);
}

void
gw_loop_defer(struct gw_loop *loop, struct gw_defer *d, gw_cleanup_fn fn, void *data)
{
    d->fn = fn;
    d->data = data;
    d->next = NULL;
    if (loop->defer_tail)
        loop->defer_tail->next = d;
    else
        loop->defer_head = d;
    loop->defer_tail = d;
}
