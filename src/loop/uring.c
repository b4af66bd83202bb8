/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The io_uring backend of the loop. One ring per loop, set up with
 * SINGLE_ISSUER | DEFER_TASKRUN (completions are run in the loop's own
 * io_uring_enter, never by interrupting it), and one io_uring_enter per
 * turn that submits everything the turn queued and waits for the next
 * completion or timer.
 *
 * Owned sockets (gw_io_own) keep a multishot recv armed that takes buffers
 * from a ring of provided buffers; the received buffers wait in the gw_uio
 * until the owner copies them out with gw_io_recv, and are then handed back
 * to the kernel. gw_io_send copies into the gw_uio's queue; one send per
 * socket is in flight (byte order), the rest waits behind it. The bounds
 * (HELD_MAX received and unread, SENDQ_MAX queued) stand in for the socket
 * buffers an epoll owner would fill: above them the recv is cancelled, or
 * gw_io_send says EAGAIN.
 *
 * The pool is shared by every socket of the loop, and its buffers can all
 * be held by owners that cannot read (slow readers downstream leave their
 * upstream's bytes unread). A socket that finds no free buffer then reads
 * by readiness instead (a one-shot poll, then recv into memory of its own,
 * under the same HELD_MAX), until buffers are free again: so no socket
 * waits on the others' peers, as none does with epoll.
 *
 * A gw_uio is loop-owned and outlives its gw_io: the owner may free its
 * handle in the close callback while the kernel still holds a recv or a
 * send of it. A closed gw_uio drains its queued sends (at most DRAIN_MS),
 * closes the fd, and is freed when its last operation has completed.
 *
 * Owned sockets also sit in the ring's table of registered files (the
 * fd number is the slot), so a send or recv takes no reference to the
 * file: fget and fput, an atomic each on a line that is cold with many
 * connections, are most of what a send costs the kernel besides TCP.
 * The table is filled and emptied by FILES_UPDATE operations queued
 * with the rest of the turn, no syscall of their own.
 *
 * Every other handle (listeners, eventfds, signalfd, TLS sockets) keeps its
 * epoll registration unchanged: the ring polls the epoll fd (multishot) and
 * a ready epoll fd is drained with epoll_wait(0) and dispatched as before.
 */
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "loop/internal.h"
#include "loop/loop.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

#define RING_ENTRIES 1024
/* Provided buffers: 2 MiB per loop by default (512), touched at creation. The kernel takes
 * them in ring order, so over time every one is used: untouched, they would
 * show up as RSS growth under the first bulk transfer. */
#define PBUF_SIZE  4096
#define PBUF_GROUP 0
#define HELD_MAX   (32 * 1024) /* received, unread bytes before the recv stops */
/* and buffers: a peer sending one byte per segment would otherwise hold a
 * 4 KiB buffer per byte */
#define HELD_BUFS   (2 * HELD_MAX / PBUF_SIZE)
#define HELD_INLINE 2
/* Completions ahead whose gw_uio reap loads early */
#define PREFETCH_AHEAD 2
#define SENDQ_MAX      (64 * 1024) /* queued bytes before gw_io_send says EAGAIN */
#define SENDQ_KEEP     (16 * 1024) /* larger send buffers are freed once empty */
#define DRAIN_MS       10000       /* a closed socket's sends get this long */
/* Registered file slots (fds below this; the limit on open files caps it) */
#define FIXED_MAX 65536

/* The low bits of an SQE's user_data say what it is; the rest is the uio. */
enum { OP_NONE = 0, OP_RECV = 1, OP_SEND = 2, OP_EPOLL = 3, OP_POLL = 4, OP_MASK = 7 };

/* What a FILES_UPDATE that empties a slot reads. */
static const int no_file = -1;

/* Provided buffers per loop (gw_loop_uring_set_buffers). */
static unsigned pbuf_count = 512;

struct held {
    char *heap; /* read by readiness into memory of its own; else NULL */
    uint16_t bid;
    uint32_t off, len;
};

/* What every request touches comes first, in three cache lines (a gw_uio
 * is line-aligned): with many connections each is a miss. The rest is for
 * opening, closing, draining and backed-up sends. */
struct gw_uio {
    struct gw_loop *loop;
    struct gw_io *io; /* NULL once closed */
    int fd;           /* -1 once closed */
    unsigned nops;    /* operations whose last CQE has not come */
    int rerr, serr;
    bool fixed; /* fd is in the registered file table, at slot fd */
    bool eof, recv_armed, recv_cancelled, poll_armed;
    bool disowning; /* gw_io_disown asked: no recv re-armed, the owner told when idle */
    bool sending, shut_pending, close_pending;
    bool on_pending, on_dirty;
    struct gw_uio *next_pending, *next_dirty;
    /* received, not yet read: held[hhead, hhead + hcount) */
    struct held *held;
    uint32_t hhead, hcount, hcap;
    size_t nheld;
    /* held's first home: a request-response socket holds one or two
     * buffers at a time, and then reads no line outside the gw_uio */
    struct held held_inline[HELD_INLINE];
    /* sent: fly is in the kernel's hands, q waits behind it */
    char *fly;
    size_t fly_off, fly_len, fly_cap, q_len;
    char *q;
    size_t q_cap;
    struct gw_uio *prev_all, *next_all;
    struct gw_timer drain;
};

struct gw_uring {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    char *pbufs;
    unsigned nbufs;     /* in the pool */
    unsigned free_bufs; /* buffers the kernel may fill */
    /* the registered file table: slots [0, nfixed), fixed_fd[i] == i once
     * slot i was filled (what its FILES_UPDATE reads, until it runs) */
    unsigned nfixed;
    int *fixed_fd;
    bool enabled;
    bool epoll_armed, epoll_ready;
    struct gw_uio *pending; /* may have events for their owner */
    struct gw_uio *dirty;   /* have SQEs to queue before the next enter */
    struct gw_uio *all;
};

/* A sparse table of registered files, as large as the fds may be. 0 when
 * the kernel has none to give: the sockets are then used by number. */
static unsigned
fixed_setup(struct gw_uring *ur)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 16)
        return 0;
    unsigned n = rl.rlim_cur > FIXED_MAX ? FIXED_MAX : (unsigned)rl.rlim_cur;
    if (io_uring_register_files_sparse(&ur->ring, n) < 0)
        return 0;
    /* Large enough to be mapped on demand: only the pages of fds in use
     * are ever touched. */
    ur->fixed_fd = gw_xcalloc(n, sizeof(*ur->fixed_fd));
    return n;
}

static int
ring_setup(struct io_uring *ring)
{
    struct io_uring_params prm;
    memset(&prm, 0, sizeof(prm));
    /* Made on the main thread, run on a worker: SINGLE_ISSUER binds the ring
     * to the thread that enables it (gw_loop_run). */
    prm.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED;
    prm.cq_entries = 8 * RING_ENTRIES;
    return io_uring_queue_init_params(RING_ENTRIES, ring, &prm);
}

int
gw_loop_uring_probe(void)
{
    struct io_uring ring;
    int rc = ring_setup(&ring);
    if (rc < 0)
        return rc;
    io_uring_queue_exit(&ring);
    return 0;
}

int
gw_loop_uring_set_buffers(unsigned count)
{
    if (count < 16 || count > 32768 || (count & (count - 1)) != 0)
        return GW_EINVAL;
    pbuf_count = count;
    return 0;
}

int
gw_loop__uring_new(struct gw_loop *loop)
{
    struct gw_uring *ur = gw_xcalloc(1, sizeof(*ur));
    int rc = ring_setup(&ur->ring);
    if (rc < 0) {
        free(ur);
        return rc;
    }
    ur->nbufs = pbuf_count;
    size_t rsz = ur->nbufs * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        rc = -errno;
        goto fail;
    }
    ur->br = mem;
    ur->pbufs = aligned_alloc(4096, (size_t)ur->nbufs * PBUF_SIZE);
    if (!ur->pbufs) {
        rc = GW_ENOMEM;
        goto fail;
    }
    memset(ur->pbufs, 0, (size_t)ur->nbufs * PBUF_SIZE);
    io_uring_buf_ring_init(ur->br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)ur->br;
    reg.ring_entries = ur->nbufs;
    reg.bgid = PBUF_GROUP;
    if ((rc = io_uring_register_buf_ring(&ur->ring, &reg, 0)) < 0)
        goto fail;
    for (unsigned i = 0; i < ur->nbufs; i++)
        io_uring_buf_ring_add(ur->br, ur->pbufs + (size_t)i * PBUF_SIZE, PBUF_SIZE,
                              (unsigned short)i, io_uring_buf_ring_mask(ur->nbufs), (int)i);
    io_uring_buf_ring_advance(ur->br, (int)ur->nbufs);
    ur->free_bufs = ur->nbufs;
    ur->nfixed = fixed_setup(ur);
    loop->ur = ur;
    return 0;
fail:
    io_uring_queue_exit(&ur->ring);
    if (ur->br)
        munmap(ur->br, rsz);
    free(ur->pbufs);
    free(ur);
    return rc;
}

static void
uio_free(struct gw_uio *u)
{
    struct gw_uring *ur = u->loop->ur;
    if (u->prev_all)
        u->prev_all->next_all = u->next_all;
    else
        ur->all = u->next_all;
    if (u->next_all)
        u->next_all->prev_all = u->prev_all;
    gw_timer_stop(&u->drain);
    if (u->held != u->held_inline)
        free(u->held);
    free(u->fly);
    free(u->q);
    free(u);
}

void
gw_loop__uring_free(struct gw_loop *loop)
{
    struct gw_uring *ur = loop->ur;
    /* Exiting the ring cancels whatever is still in flight. */
    io_uring_queue_exit(&ur->ring);
    while (ur->all) {
        struct gw_uio *u = ur->all;
        if (u->fd >= 0)
            close(u->fd);
        if (u->io)
            u->io->uio = NULL;
        uio_free(u);
    }
    munmap(ur->br, ur->nbufs * sizeof(struct io_uring_buf));
    free(ur->pbufs);
    free(ur->fixed_fd);
    free(ur);
    loop->ur = NULL;
}

/* ------------------------------------------------------------------------ */

static struct io_uring_sqe *
get_sqe(struct gw_uring *ur)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ur->ring);
    if (!sqe) {
        io_uring_submit(&ur->ring); /* SQ full: flush it, then there is room */
        sqe = io_uring_get_sqe(&ur->ring);
        GW_ASSERT(sqe);
    }
    return sqe;
}

static void
set_data(struct io_uring_sqe *sqe, void *p, unsigned op)
{
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | op);
}

/* Points sqe at u's socket: its registered slot, else its number. */
static void
set_file(struct io_uring_sqe *sqe, const struct gw_uio *u)
{
    if (u->fixed)
        sqe->flags |= IOSQE_FIXED_FILE;
}

/* Files u's socket in the registered table (slot u->fd), if it fits. The
 * update runs before any operation queued after it. */
static void
fixed_add(struct gw_uring *ur, struct gw_uio *u)
{
    if ((unsigned)u->fd >= ur->nfixed)
        return;
    ur->fixed_fd[u->fd] = u->fd;
    struct io_uring_sqe *sqe = get_sqe(ur);
    io_uring_prep_files_update(sqe, &ur->fixed_fd[u->fd], 1, u->fd);
    set_data(sqe, NULL, OP_NONE);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    u->fixed = true;
}

/* Empties u's slot before its fd is closed: the table holds a reference
 * to the socket, which would stay open. Operations already queued have
 * taken the file by then (they are issued in order); a later socket with
 * the same number fills the slot again after this. */
static void
fixed_remove(struct gw_uring *ur, struct gw_uio *u)
{
    if (!u->fixed)
        return;
    struct io_uring_sqe *sqe = get_sqe(ur);
    /* The kernel only reads it: liburing's prototype lacks the const. */
    io_uring_prep_files_update(sqe, (int *)(uintptr_t)&no_file, 1, u->fd);
    set_data(sqe, NULL, OP_NONE);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    u->fixed = false;
}

static void
cancel(struct gw_uring *ur, struct gw_uio *u, unsigned op)
{
    struct io_uring_sqe *sqe = get_sqe(ur);
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)u | op, 0);
    set_data(sqe, NULL, OP_NONE);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void
buf_return(struct gw_uring *ur, uint16_t bid)
{
    io_uring_buf_ring_add(ur->br, ur->pbufs + (size_t)bid * PBUF_SIZE, PBUF_SIZE, bid,
                          io_uring_buf_ring_mask(ur->nbufs), 0);
    io_uring_buf_ring_advance(ur->br, 1);
    ur->free_bufs++;
}

static void
held_release(struct gw_uring *ur, const struct held *h)
{
    if (h->heap)
        free(h->heap);
    else
        buf_return(ur, h->bid);
}

static void
held_drop(struct gw_uio *u)
{
    for (uint32_t i = 0; i < u->hcount; i++)
        held_release(u->loop->ur, &u->held[u->hhead + i]);
    u->hhead = u->hcount = 0;
    u->nheld = 0;
}

static void
mark_pending(struct gw_uio *u)
{
    if (u->on_pending || !u->io)
        return;
    u->on_pending = true;
    u->next_pending = u->loop->ur->pending;
    u->loop->ur->pending = u;
}

static void
mark_dirty(struct gw_uio *u)
{
    if (u->on_dirty)
        return;
    u->on_dirty = true;
    u->next_dirty = u->loop->ur->dirty;
    u->loop->ur->dirty = u;
}

static void
maybe_free(struct gw_uio *u)
{
    if (!u->io && u->fd < 0 && u->nops == 0 && !u->on_pending && !u->on_dirty)
        uio_free(u);
}

static size_t
queued(const struct gw_uio *u)
{
    return u->fly_len - u->fly_off + u->q_len;
}

/* Nothing in flight, held or queued: the owner may take the socket back
 * (an EOF seen stays in the socket: its plain reads say it again). */
static bool
uio_is_idle(const struct gw_uio *u)
{
    return !u->hcount && !queued(u) && !u->sending && !u->recv_armed && !u->poll_armed &&
           !u->shut_pending;
}

/* The events the owner would see now. Errors are reported with any
 * interest, with READ so that a read finds them (as epoll's ERR/HUP). */
static unsigned
uio_events(const struct gw_uio *u)
{
    unsigned interest = u->io->interest, e = 0;
    /* idle while disowning: the call gw_io_disown's GW_EAGAIN promised */
    if (u->disowning && !u->rerr && !u->serr && uio_is_idle(u))
        return GW_LOOP_READ | GW_LOOP_WRITE;
    if (interest == 0) /* unwatched: not even errors (as gw_io_set says) */
        return 0;
    if (u->rerr || u->serr)
        return GW_LOOP_ERROR | GW_LOOP_READ | (interest & GW_LOOP_WRITE);
    if ((interest & GW_LOOP_READ) && (u->nheld || u->eof))
        e |= GW_LOOP_READ;
    if ((interest & GW_LOOP_WRITE) && queued(u) < SENDQ_MAX)
        e |= GW_LOOP_WRITE;
    return e;
}

static bool
held_full(const struct gw_uio *u)
{
    return u->nheld >= HELD_MAX || u->hcount >= HELD_BUFS;
}

static bool
wants_recv(const struct gw_uio *u)
{
    return u->io && u->fd >= 0 && !u->recv_armed && !u->poll_armed && !u->eof && !u->rerr &&
           !u->disowning && !held_full(u);
}

static void
close_now(struct gw_uio *u)
{
    struct gw_uring *ur = u->loop->ur;
    if (u->recv_armed && !u->recv_cancelled) {
        cancel(ur, u, OP_RECV);
        u->recv_cancelled = true;
    }
    if (u->sending)
        cancel(ur, u, OP_SEND);
    if (u->poll_armed)
        cancel(ur, u, OP_POLL);
    /* The kernel holds its own reference to the file while an operation is
     * in flight; the socket really closes when the cancels complete. */
    fixed_remove(ur, u);
    close(u->fd);
    u->fd = -1;
    gw_timer_stop(&u->drain);
    held_drop(u);
}

static void
start_send(struct gw_uio *u)
{
    struct gw_uring *ur = u->loop->ur;
    if (u->fly_off == u->fly_len) {
        /* The next chunk is what queued up behind the last one. */
        if (u->fly_cap > SENDQ_KEEP) {
            free(u->fly);
            u->fly = NULL;
            u->fly_cap = 0;
        }
        char *p = u->fly;
        size_t cap = u->fly_cap;
        u->fly = u->q;
        u->fly_cap = u->q_cap;
        u->fly_off = 0;
        u->fly_len = u->q_len;
        u->q = p;
        u->q_cap = cap;
        u->q_len = 0;
    }
    struct io_uring_sqe *sqe = get_sqe(ur);
    io_uring_prep_send(sqe, u->fd, u->fly + u->fly_off, u->fly_len - u->fly_off, MSG_NOSIGNAL);
    set_file(sqe, u);
    set_data(sqe, u, OP_SEND);
    u->sending = true;
    u->nops++;
}

static void
arm_recv(struct gw_uio *u)
{
    struct io_uring_sqe *sqe = get_sqe(u->loop->ur);
    io_uring_prep_recv_multishot(sqe, u->fd, NULL, 0, 0);
    set_file(sqe, u);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = PBUF_GROUP;
    set_data(sqe, u, OP_RECV);
    u->recv_armed = true;
    u->recv_cancelled = false;
    u->nops++;
}

static void
held_push(struct gw_uio *u, char *heap, uint16_t bid, uint32_t len)
{
    if (u->hhead + u->hcount == u->hcap) {
        if (u->hhead > 0) {
            memmove(u->held, u->held + u->hhead, u->hcount * sizeof(*u->held));
            u->hhead = 0;
        } else {
            u->hcap *= 4;
            if (u->held == u->held_inline) {
                u->held = gw_xmalloc(u->hcap * sizeof(*u->held));
                memcpy(u->held, u->held_inline, sizeof(u->held_inline));
            } else {
                u->held = gw_xrealloc(u->held, u->hcap * sizeof(*u->held));
            }
        }
    }
    u->held[u->hhead + u->hcount++] = (struct held){.heap = heap, .bid = bid, .off = 0, .len = len};
    u->nheld += len;
}

/* No provided buffer is free: reads what the socket has into memory of
 * u's own, up to the same bounds, and polls for more. */
static void
recv_own(struct gw_uio *u)
{
    while (wants_recv(u)) {
        size_t room = HELD_MAX - u->nheld;
        char *p = gw_xmalloc(room);
        ssize_t r = recv(u->fd, p, room, MSG_DONTWAIT);
        if (r > 0) {
            if ((size_t)r < room)
                p = gw_xrealloc(p, (size_t)r);
            held_push(u, p, 0, (uint32_t)r);
            mark_pending(u);
            continue;
        }
        free(p);
        if (r == 0) {
            u->eof = true;
            mark_pending(u);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct io_uring_sqe *sqe = get_sqe(u->loop->ur);
            io_uring_prep_poll_add(sqe, u->fd, POLLIN);
            set_data(sqe, u, OP_POLL);
            u->poll_armed = true;
            u->nops++;
        } else if (errno != EINTR) {
            u->rerr = errno;
            mark_pending(u);
        }
    }
}

/* Queues what the turn left to do for u: the next send, a pending
 * shutdown or close, a recv to re-arm. */
static void
settle(struct gw_uio *u)
{
    struct gw_uring *ur = u->loop->ur;
    if (u->fd < 0)
        return;
    if (u->serr) {
        u->fly_off = u->fly_len = u->q_len = 0;
    }
    if (!u->sending && queued(u) && !u->serr)
        start_send(u);
    if (!u->sending && !queued(u)) {
        if (u->shut_pending) {
            shutdown(u->fd, SHUT_WR);
            u->shut_pending = false;
        }
        if (u->close_pending) {
            close_now(u);
            return;
        }
    }
    if (wants_recv(u)) {
        if (ur->free_bufs > 0)
            arm_recv(u);
        else
            recv_own(u);
    }
}

static void
flush(struct gw_loop *loop)
{
    struct gw_uring *ur = loop->ur;
    while (ur->dirty) {
        struct gw_uio *u = ur->dirty;
        ur->dirty = u->next_dirty;
        u->on_dirty = false;
        settle(u);
        maybe_free(u);
    }
    if (!ur->epoll_armed) {
        struct io_uring_sqe *sqe = get_sqe(ur);
        io_uring_prep_poll_multishot(sqe, loop->epfd, POLLIN);
        set_data(sqe, NULL, OP_EPOLL);
        ur->epoll_armed = true;
    }
}

/* ------------------------------------------------------------------------ */
/* Completions                                                              */

static void
on_recv(struct gw_uio *u, int res, unsigned flags)
{
    struct gw_uring *ur = u->loop->ur;
    bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
        u->recv_armed = false;
        u->nops--;
    }
    if (flags & IORING_CQE_F_BUFFER) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        ur->free_bufs--;
        if (res <= 0 || !u->io || u->fd < 0)
            buf_return(ur, bid);
        else
            held_push(u, NULL, bid, (uint32_t)res);
    }
    if (res > 0) {
        mark_pending(u);
        if (more && held_full(u) && !u->recv_cancelled && u->fd >= 0) {
            /* The owner is not reading: leave the rest in the socket, so
             * the peer's window closes as it would with epoll. */
            cancel(ur, u, OP_RECV);
            u->recv_cancelled = true;
        }
    } else if (res == 0) {
        u->eof = true;
        mark_pending(u);
    } else if (res != -ENOBUFS && res != -ECANCELED) {
        u->rerr = -res;
        mark_pending(u);
    }
    if (!more)
        mark_dirty(u); /* re-armed there if still wanted */
    if (!more && u->disowning && u->io)
        mark_pending(u);
}

static void
on_poll(struct gw_uio *u)
{
    /* Readable, or cancelled: settle reads it, or takes a buffer again. */
    u->nops--;
    u->poll_armed = false;
    mark_dirty(u);
    if (u->disowning && u->io)
        mark_pending(u);
}

static void
on_send(struct gw_uio *u, int res)
{
    u->nops--;
    u->sending = false;
    bool was_full = queued(u) >= SENDQ_MAX;
    if (res == -EINTR || res == -EAGAIN) {
        /* nothing went; settle sends it again */
    } else if (res < 0) {
        if (!u->serr)
            u->serr = -res;
        u->fly_off = u->fly_len = u->q_len = 0;
        if (!u->io && u->fd >= 0) {
            close_now(u);
            return;
        }
        mark_pending(u);
    } else {
        u->fly_off += (size_t)res;
    }
    if ((was_full && queued(u) < SENDQ_MAX) || (u->disowning && u->io))
        mark_pending(u);
    mark_dirty(u);
}

static void
reap(struct gw_loop *loop)
{
    struct gw_uring *ur = loop->ur;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0, ready = io_uring_cq_ready(&ur->ring);
    io_uring_for_each_cqe(&ur->ring, head, cqe)
    {
        n++;
        if (n + PREFETCH_AHEAD <= ready) {
            /* The gw_uio of a later completion: with many connections its
             * lines are cold, and loading them overlaps this one's work. */
            const struct io_uring_cqe *next =
                &ur->ring.cq.cqes[(head + PREFETCH_AHEAD) & ur->ring.cq.ring_mask];
            const char *nu = (const char *)(uintptr_t)(next->user_data & ~(uint64_t)OP_MASK);
            __builtin_prefetch(nu);
            __builtin_prefetch(nu + 64);
            __builtin_prefetch(nu + 128);
        }
        uint64_t data = cqe->user_data;
        struct gw_uio *u = (struct gw_uio *)(uintptr_t)(data & ~(uint64_t)OP_MASK);
        switch ((unsigned)(data & OP_MASK)) {
        case OP_RECV:
            on_recv(u, cqe->res, cqe->flags);
            break;
        case OP_SEND:
            on_send(u, cqe->res);
            break;
        case OP_POLL:
            on_poll(u);
            break;
        case OP_EPOLL:
            ur->epoll_ready = true;
            if (!(cqe->flags & IORING_CQE_F_MORE))
                ur->epoll_armed = false;
            break;
        default:
            break;
        }
    }
    io_uring_cq_advance(&ur->ring, n);
}

/* Calls the owners of the uios with events, once each; those that still
 * have events afterwards (level-triggered) are called again next turn. */
static void
dispatch(struct gw_uring *ur)
{
    struct gw_uio *list = ur->pending;
    ur->pending = NULL;
    while (list) {
        struct gw_uio *u = list;
        list = u->next_pending;
        u->on_pending = false;
        if (list && list->io)
            __builtin_prefetch(list->io); /* read first by the next turn of this loop */
        if (!u->io) {
            maybe_free(u);
            continue;
        }
        unsigned e = uio_events(u);
        if (!e)
            continue;
        struct gw_io *io = u->io;
        io->cb(io, e);
        if (io->uio == u && !io->closing && uio_events(u))
            mark_pending(u);
    }
}

int
gw_loop__uring_run(struct gw_loop *loop)
{
    struct gw_uring *ur = loop->ur;
    int rc = 0;

    loop->running = true;
    if (!ur->enabled) {
        /* liburing 2.3 declares io_uring_enable_rings but does not export
         * it: the register call itself. */
        if (syscall(__NR_io_uring_register, ur->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
                    0) < 0) {
            rc = -errno;
            goto out;
        }
        ur->enabled = true;
    }
    while (!loop->stopping) {
        flush(loop);
        int timeout = ur->pending || ur->epoll_ready ? 0 : gw_loop__timer_timeout(loop);
        int r;
        if (timeout == 0) {
            r = io_uring_submit_and_get_events(&ur->ring);
        } else if (timeout < 0) {
            r = io_uring_submit_and_wait(&ur->ring, 1);
        } else {
            struct __kernel_timespec ts = {.tv_sec = timeout / 1000,
                                           .tv_nsec = (long long)(timeout % 1000) * 1000000};
            struct io_uring_cqe *cqe;
            r = io_uring_submit_and_wait_timeout(&ur->ring, &cqe, 1, &ts, NULL);
        }
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EAGAIN && r != -EBUSY) {
            rc = r;
            break;
        }
        gw_loop_update_time(loop);
        reap(loop);
        if (ur->epoll_ready) {
            int n = gw_loop__epoll_turn(loop, 0);
            /* Level-triggered watches still ready will not wake the ring
             * again: ask epoll until it has nothing. */
            ur->epoll_ready = n > 0;
        }
        dispatch(ur);
        gw_loop__timer_run(loop);
        gw_loop__run_deferred(loop);
    }
out:
    loop->running = false;
    gw_loop__run_deferred(loop);
    flush(loop); /* the closes of the last turn */
    io_uring_submit(&ur->ring);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Owned handles                                                            */

static void
on_drain_timeout(struct gw_timer *t)
{
    struct gw_uio *u = t->data;
    /* The peer took nothing for DRAIN_MS: drop what is left. */
    u->close_pending = false;
    u->fly_off = u->fly_len = u->q_len = 0;
    if (u->fd >= 0)
        close_now(u);
    mark_dirty(u);
}

void
gw_loop__uring_own(struct gw_io *io)
{
    struct gw_loop *loop = io->loop;
    struct gw_uring *ur = loop->ur;
    if (io->registered)
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
    /* Line-aligned (see struct gw_uio); failing, as gw_xcalloc would. */
    size_t sz = (sizeof(struct gw_uio) + 63) & ~(size_t)63;
    struct gw_uio *u = aligned_alloc(64, sz);
    GW_ASSERT(u);
    memset(u, 0, sz);
    u->loop = loop;
    u->io = io;
    u->fd = io->fd;
    u->held = u->held_inline;
    u->hcap = HELD_INLINE;
    fixed_add(ur, u);
    gw_timer_init(loop, &u->drain, on_drain_timeout, u);
    u->next_all = ur->all;
    if (ur->all)
        ur->all->prev_all = u;
    ur->all = u;
    io->uio = u;
    mark_dirty(u);
    if (uio_events(u))
        mark_pending(u);
}

void
gw_loop__uring_reown(struct gw_io *io)
{
    struct gw_uio *u = io->uio;
    if (!u->disowning)
        return;
    u->disowning = false;
    mark_dirty(u); /* the recv is armed again there */
}

int
gw_loop__uring_disown(struct gw_io *io)
{
    struct gw_uio *u = io->uio;
    struct gw_uring *ur = u->loop->ur;
    if (u->rerr || u->serr)
        return -(u->rerr ? u->rerr : u->serr);
    if (!u->disowning) {
        u->disowning = true;
        if (u->recv_armed && !u->recv_cancelled) {
            cancel(ur, u, OP_RECV);
            u->recv_cancelled = true;
        }
        if (u->poll_armed)
            cancel(ur, u, OP_POLL);
    }
    if (!uio_is_idle(u))
        return GW_EAGAIN;
    /* Idle: the uio lets go of the socket (not closing it) and is freed by
     * the flush, as a closed one is; the caller registers io with epoll. */
    unsigned interest = io->interest;
    fixed_remove(ur, u);
    gw_timer_stop(&u->drain);
    u->io = NULL;
    u->fd = -1;
    io->uio = NULL;
    io->interest = 0;
    io->registered = false;
    mark_dirty(u);
    return (int)interest;
}

void
gw_loop__uring_set(struct gw_io *io, unsigned events)
{
    io->interest = events;
    if (uio_events(io->uio))
        mark_pending(io->uio);
}

void
gw_loop__uring_close(struct gw_io *io)
{
    struct gw_uio *u = io->uio;
    io->uio = NULL;
    io->fd = -1;
    io->interest = 0;
    u->io = NULL;
    if (queued(u) && !u->serr && u->fd >= 0) {
        u->close_pending = true;
        gw_timer_start(&u->drain, DRAIN_MS);
    } else if (u->fd >= 0) {
        close_now(u);
    }
    mark_dirty(u);
}

ssize_t
gw_loop__uring_recv(struct gw_io *io, void *buf, size_t n)
{
    struct gw_uio *u = io->uio;
    struct gw_uring *ur = u->loop->ur;
    size_t got = 0;
    bool was_full = held_full(u);
    while (got < n && u->hcount) {
        struct held *h = &u->held[u->hhead];
        size_t k = GW_MIN(n - got, (size_t)(h->len - h->off));
        const char *src = h->heap ? h->heap : ur->pbufs + (size_t)h->bid * PBUF_SIZE;
        memcpy((char *)buf + got, src + h->off, k);
        got += k;
        h->off += (uint32_t)k;
        if (h->off == h->len) {
            held_release(ur, h);
            u->hhead++;
            if (--u->hcount == 0)
                u->hhead = 0;
        }
    }
    if (got) {
        u->nheld -= got;
        if (was_full && wants_recv(u))
            mark_dirty(u);
        return (ssize_t)got;
    }
    if (n == 0)
        return 0;
    if (u->rerr) {
        errno = u->rerr;
        return -1;
    }
    if (u->eof)
        return 0;
    if (u->serr) {
        errno = u->serr;
        return -1;
    }
    errno = EAGAIN;
    return -1;
}

static void
sendq_put(char **p, size_t *cap, size_t *len, const void *buf, size_t k)
{
    if (*len + k > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + k)
            c *= 2;
        *p = gw_xrealloc(*p, c);
        *cap = c;
    }
    memcpy(*p + *len, buf, k);
    *len += k;
}

ssize_t
gw_loop__uring_send(struct gw_io *io, const void *buf, size_t n)
{
    struct gw_uio *u = io->uio;
    if (u->serr || u->rerr) {
        errno = u->serr ? u->serr : u->rerr; /* a reset connection takes no more */
        return -1;
    }
    if (u->shut_pending || u->fd < 0) {
        errno = EPIPE;
        return -1;
    }
    size_t room = SENDQ_MAX - GW_MIN(queued(u), (size_t)SENDQ_MAX);
    if (room == 0) {
        errno = EAGAIN;
        return -1;
    }
    size_t k = GW_MIN(n, room);
    if (!u->sending && u->q_len == 0) {
        /* No send in flight: none of fly is in the kernel's hands, so the
         * bytes join it. A request-response connection then writes one
         * buffer every time, not fly and q in turn: with many
         * connections, half the lines its sends touch. */
        if (u->fly_off == u->fly_len) {
            if (u->fly_cap > SENDQ_KEEP) {
                free(u->fly);
                u->fly = NULL;
                u->fly_cap = 0;
            }
            u->fly_off = u->fly_len = 0;
        }
        sendq_put(&u->fly, &u->fly_cap, &u->fly_len, buf, k);
    } else {
        sendq_put(&u->q, &u->q_cap, &u->q_len, buf, k);
    }
    if (!u->sending)
        mark_dirty(u);
    return (ssize_t)k;
}

void
gw_loop__uring_shutdown_write(struct gw_io *io)
{
    struct gw_uio *u = io->uio;
    u->shut_pending = true;
    mark_dirty(u);
}
