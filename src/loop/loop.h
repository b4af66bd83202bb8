/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop: a small epoll event loop, one per thread. It watches file
 * descriptors (read/write interest, level-triggered), runs one-shot timers
 * kept in a binary min-heap, caches a coarse monotonic clock refreshed once
 * per turn, defers frees until the callback stack has unwound (libuv's
 * uv_close), turns SIGINT/SIGTERM into a clean stop via signalfd, and has
 * the socket helpers every server needs (listen, accept4, address text).
 *
 * Handles (struct gw_io, struct gw_timer) are caller-owned and usually
 * embedded in the caller's own struct; the loop never allocates them. None
 * of these functions is thread-safe: a loop and its handles belong to the
 * thread that runs it. Every function may be called from inside a loop
 * callback unless its comment says otherwise.
 */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct gw_loop;
struct gw_io;
struct gw_timer;
struct gw_uio;

/* How a loop waits and does socket I/O. */
enum gw_loop_backend {
    GW_LOOP_EPOLL, /* epoll_wait; the owners call recv/send */
    GW_LOOP_URING, /* io_uring (uring.c): owned sockets' I/O is submitted
                      by the loop, one io_uring_enter per turn */
};

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */

/* Creates a loop (epoll instance, timer heap, clock). *out is the caller's;
 * free it with gw_loop_free. 0 or a negated errno. */
int gw_loop_new(struct gw_loop **out);
/* gw_loop_new with the epoll backend whatever the default: for loops of
 * little traffic (the resolver, the health checker), which an io_uring
 * loop's provided buffers (2 MiB, touched at creation) would cost more
 * than they serve. */
int gw_loop_new_epoll(struct gw_loop **out);
/* Process-wide: the backend loops created from now on use (default
 * GW_LOOP_EPOLL). Call before creating loops; not thread-safe. */
void gw_loop_backend_set_default(enum gw_loop_backend b);
/* Whether an io_uring loop can be made here: 0, or the negated errno of
 * io_uring_queue_init (ENOSYS, EPERM under seccomp...), in which case
 * gw_loop_new with GW_LOOP_URING quietly makes an epoll loop. */
int gw_loop_uring_probe(void);
/* Process-wide: the number of 4 KiB provided buffers each io_uring loop
 * created from now on shares among its sockets' receives (default 512). A
 * power of two in 16..32768: 0, or GW_EINVAL. Call before creating loops;
 * not thread-safe. */
int gw_loop_uring_set_buffers(unsigned count);
/* The backend loop runs on. */
enum gw_loop_backend gw_loop_backend(const struct gw_loop *loop);
/* Runs pending deferred callbacks, then frees the loop. Every handle must be
 * stopped or closed first. Not from inside a callback of this loop. */
void gw_loop_free(struct gw_loop *loop);
/* Runs until gw_loop_stop (or a stop signal, see gw_loop_stop_on_signals).
 * One turn: wait for I/O (at most until the next timer), refresh the clock,
 * dispatch I/O callbacks, expire timers, run deferred callbacks. Returns 0
 * or a negated errno if epoll_wait fails. Not re-entrant. */
int gw_loop_run(struct gw_loop *loop);
/* Makes gw_loop_run return after the current turn. */
void gw_loop_stop(struct gw_loop *loop);
/* True once gw_loop_stop was called (or a stop signal arrived). */
bool gw_loop_is_stopping(const struct gw_loop *loop);
/* Monotonic milliseconds, cached: refreshed once per turn (and by
 * gw_loop_update_time), so it is cheap to call per request. */
uint64_t gw_loop_now(const struct gw_loop *loop);
void gw_loop_update_time(struct gw_loop *loop);

/* ------------------------------------------------------------------------ */
/* File descriptor watches                                                  */

enum gw_io_events {
    GW_LOOP_READ = 1u << 0,
    GW_LOOP_WRITE = 1u << 1,
    /* Reported only (never asked for), to a watched io (any interest): the
     * peer hung up or the fd errored. It comes with GW_LOOP_READ so a read
     * finds the EOF or the error. */
    GW_LOOP_ERROR = 1u << 2,
};

/* Called with the events that are ready (GW_LOOP_* bits). The callback may
 * change the interest, stop, close, or free other handles (through
 * gw_io_close / gw_loop_defer). */
typedef void (*gw_io_fn)(struct gw_io *io, unsigned events);
/* Called once the handle is no longer referenced by the loop: the memory
 * around it may be freed here. */
typedef void (*gw_close_fn)(struct gw_io *io);

struct gw_io {
    /* public */
    int fd;
    void *data;
    /* The owner's promise that no other descriptor refers to fd's file (no
     * dup, no fork): close() alone then drops its epoll registration, and
     * gw_io_close spares the EPOLL_CTL_DEL (a syscall per connection). */
    bool unshared;
    /* private */
    struct gw_loop *loop;
    gw_io_fn cb;
    gw_close_fn close_cb;
    struct gw_io *next_closing;
    struct gw_uio *uio; /* loop-owned I/O state (gw_io_own), or NULL */
    unsigned interest;  /* GW_LOOP_READ | GW_LOOP_WRITE as registered */
    bool registered;    /* in the epoll set: interest is not 0 */
    bool closing;
    bool was_owned; /* gw_io_own ran once: the ring may hold the file too */
};

/* Prepares io for fd (which the caller makes non-blocking). Nothing is
 * watched until gw_io_set. Never fails. */
void gw_io_init(struct gw_loop *loop, struct gw_io *io, int fd, gw_io_fn cb, void *data);
/* Sets the interest to events (GW_LOOP_READ and/or GW_LOOP_WRITE). 0 stops
 * watching but keeps io usable: the fd leaves the epoll set, so not even a
 * hang-up or an error is reported (nor an event of the current batch) until
 * an interest is set again, which reports them then (level-triggered).
 * Cheap when nothing changes. 0 or a negated errno from epoll_ctl. */
int gw_io_set(struct gw_io *io, unsigned events);
/* Stops watching, closes the fd, and calls close_cb (may be NULL) after the
 * current callbacks have unwound, at the end of this loop turn. After this
 * call no callback of io runs again. Idempotent. */
void gw_io_close(struct gw_io *io, gw_close_fn close_cb);
bool gw_io_is_closing(const struct gw_io *io);

/* Owned I/O: a connected stream socket whose bytes only ever move through
 * gw_io_recv / gw_io_send / gw_io_shutdown_write (never recv, send, read,
 * write, SSL or shutdown on io->fd). On an io_uring loop the loop then keeps
 * a receive armed and queues sends, submitted together once per turn; on an
 * epoll loop these are plain recv/send/shutdown. Readiness keeps its
 * meaning (level-triggered): READ while received bytes, the EOF or an error
 * wait to be read, WRITE while gw_io_send would take bytes.
 * gw_io_own may be called at any time after gw_io_init (the interest
 * carries over); it is a no-op on an epoll loop or when already owned
 * (but for ending a gw_io_disown that waits). */
void gw_io_own(struct gw_io *io);
bool gw_io_is_owned(const struct gw_io *io);
/* Takes an owned socket back from the loop, for I/O the loop does not do
 * (splice(2)): 0 once io is unowned (at once on an epoll loop, or when not
 * owned), its interest kept and watched by readiness as any other fd; then
 * plain recv/send/splice on io->fd are the owner's, and gw_io_own gives it
 * back later. On an io_uring loop GW_EAGAIN while received bytes wait to be
 * read (gw_io_recv them), sends are queued or the loop's receive is being
 * cancelled: no new receive is armed meanwhile, and once all that is done
 * the owner gets an event (READ and WRITE, whatever its interest), to call
 * again. gw_io_own ends a disown that is still waiting. The socket's error
 * (negated errno) when one was seen. */
int gw_io_disown(struct gw_io *io);
/* recv(2) alike: the bytes read (> 0), 0 at EOF, or -1 with errno
 * (EAGAIN when nothing waits; the socket's error otherwise). */
ssize_t gw_io_recv(struct gw_io *io, void *buf, size_t n);
/* send(2) alike (MSG_NOSIGNAL): the bytes taken (copied: buf is free on
 * return), or -1 with errno (EAGAIN when the queue is full; a failed
 * earlier send's error, EPIPE after gw_io_shutdown_write). Owned bytes go
 * out in order; a close waits for them (at most 10 s). */
ssize_t gw_io_send(struct gw_io *io, const void *buf, size_t n);
/* shutdown(SHUT_WR) once every byte taken by gw_io_send is out. */
void gw_io_shutdown_write(struct gw_io *io);

/* ------------------------------------------------------------------------ */
/* Pipes for splice(2) (pipe.c): bytes from one socket to another without   */
/* crossing into user space                                                  */

struct gw_pipe {
    int fd[2];  /* read and write ends; -1 when not open */
    size_t len; /* bytes in the pipe */
    size_t cap; /* its capacity (F_GETPIPE_SZ) while open */
};

/* Prepares p, not open. Never fails. */
void gw_pipe_init(struct gw_pipe *p);
/* Opens p (non-blocking, close-on-exec) unless it is open: 0, or a negated
 * errno (EMFILE...). */
int gw_pipe_open(struct gw_pipe *p);
/* Asks the kernel for a capacity of n bytes for open p (F_SETPIPE_SZ,
 * rounded up to a power of two pages): p->cap is what it has afterwards,
 * the old one when refused (past the user's pipe limit: EPERM). Only an
 * empty pipe shrinks. 0 or a negated errno. */
int gw_pipe_resize(struct gw_pipe *p, size_t n);
/* Closes p (bytes in it are lost) and leaves it as gw_pipe_init does. */
void gw_pipe_release(struct gw_pipe *p);

static inline bool
gw_pipe_is_open(const struct gw_pipe *p)
{
    return p->fd[0] >= 0;
}

/* splice(2) alike, non-blocking, from socket fd (not owned: see
 * gw_io_disown) into open pipe p, at most n bytes: the bytes moved (> 0,
 * added to p->len), 0 at the socket's EOF, or -1 with errno (EAGAIN: the
 * socket is drained or the pipe full). */
ssize_t gw_pipe_fill(struct gw_pipe *p, int fd, size_t n);
/* Likewise from p to socket fd, at most n bytes (and p->len). */
ssize_t gw_pipe_drain(struct gw_pipe *p, int fd, size_t n);

/* ------------------------------------------------------------------------ */
/* Timers: one-shot, millisecond resolution against the cached clock.       */

typedef void (*gw_timer_fn)(struct gw_timer *t);

struct gw_timer {
    /* public */
    void *data;
    /* private */
    struct gw_loop *loop;
    gw_timer_fn cb;
    uint64_t due;  /* gw_loop_now() value at which it fires */
    uint64_t seq;  /* start order: equal due times fire first-started first */
    uint32_t node; /* its loop node; kept after a stop, to take it back */
    uint32_t gen;  /* the node's generation when it was ours */
    bool armed;
    bool muted; /* armed, but firing only disarms it (gw_timer_mute) */
};

/* Prepares t. Never fails; t is inactive until gw_timer_start. */
void gw_timer_init(struct gw_loop *loop, struct gw_timer *t, gw_timer_fn cb, void *data);
/* (Re)arms t to fire once, timeout_ms after the cached now. Restarting an
 * active timer moves it. The callback may re-arm its own timer. Restarting
 * to a later time, or soon after a stop, is a few stores (no heap work). */
void gw_timer_start(struct gw_timer *t, uint64_t timeout_ms);
/* Disarms t; a no-op if it is not active. Safe from any callback, even for
 * a timer due in the same turn (it then does not fire). O(1); the loop
 * never touches t again, so its storage may be freed right after. */
void gw_timer_stop(struct gw_timer *t);
/* Leaves t armed but without effect: when it fires it is only disarmed,
 * its callback not called, unless gw_timer_start ran again meanwhile. For a
 * timer likely started again soon to a later time: unlike a stop, a mute
 * touches nothing but t, and the next start is then a few stores too. A
 * muted timer still counts as active, and must be stopped before its
 * storage is freed. */
void gw_timer_mute(struct gw_timer *t);
bool gw_timer_is_active(const struct gw_timer *t);

/* ------------------------------------------------------------------------ */
/* Deferred callbacks                                                       */

struct gw_defer {
    /* private */
    gw_cleanup_fn fn;
    void *data;
    struct gw_defer *next;
};

/* Runs fn(data) at the end of the current turn, after every I/O and timer
 * callback of the turn has returned (in registration order). d is
 * caller-owned storage that must live until fn runs; fn may free it. */
void gw_loop_defer(struct gw_loop *loop, struct gw_defer *d, gw_cleanup_fn fn, void *data);

/* ------------------------------------------------------------------------ */
/* Signals                                                                  */

/* Blocks SIGINT and SIGTERM in the calling thread (call it before starting
 * other threads so they inherit the mask) and watches them through a
 * signalfd: either one stops the loop. Also ignores SIGPIPE, so writes to a
 * closed peer return EPIPE. 0 or a negated errno. Not from a callback. */
int gw_loop_stop_on_signals(struct gw_loop *loop);

/* ------------------------------------------------------------------------ */
/* Sockets                                                                  */

/* Opens a non-blocking, close-on-exec socket of type SOCK_STREAM (then
 * listening, backlog 1024, with TCP_NODELAY, which the connections it
 * accepts inherit) or SOCK_DGRAM, bound to addr:port with SO_REUSEADDR and
 * SO_REUSEPORT. addr is a numeric IPv4 or IPv6 address
 * ("::1" or "[::1]"); NULL or "" means every address: a dual-stack "::"
 * socket, or 0.0.0.0 where IPv6 is unavailable. Returns the fd or a
 * negated errno (GW_EINVAL for an unparsable address). */
int gw_sock_listen(const char *addr, uint16_t port, int type);
/* Accepts one connection with accept4 (non-blocking, close-on-exec). Returns
 * the fd, GW_EAGAIN when none is pending, or another negated errno. peer
 * and peer_len may be NULL. */
int gw_sock_accept(int listen_fd, struct sockaddr_storage *peer, socklen_t *peer_len);
/* Whether err (from gw_sock_accept) means the process or the system ran
 * out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM). The
 * pending connection stays queued and the listener stays readable, so a
 * level-triggered accept loop must stop watching it for a while (a backoff)
 * instead of retrying at once. */
bool gw_sock_accept_is_exhausted(int err);
/* Formats sa as "ip:port" ("[v6]:port"; IPv4-mapped IPv6 shown as IPv4, as
 * Go's net package does) into out, NUL-terminated. Returns the length, or
 * GW_EINVAL for an unknown family. 64 bytes are always enough. */
int gw_sock_addr_format(const struct sockaddr *sa, char *out, size_t cap);
/* Parses an IPv4 or IPv6 literal (brackets around IPv6 allowed) and port into
 * *ss / *len. 0, or GW_EINVAL if ip is no address literal. */
int gw_sock_addr_parse(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
/* The local port of a bound socket (after binding to port 0), or a negated
 * errno. */
int gw_sock_local_port(int fd);
/* Sets TCP_NODELAY; 0 or a negated errno. */
int gw_sock_set_nodelay(int fd);
/* Makes the next close() send a RST instead of a FIN (SO_LINGER 0). */
int gw_sock_set_reset_on_close(int fd);
/* Asks for a receive buffer of bytes (SO_RCVBUF: the kernel doubles it and
 * caps it at net.core.rmem_max); 0 or a negated errno. */
int gw_sock_set_rcvbuf(int fd, int bytes);

#endif /* GW_LOOP_H */
