/* SPDX-License-Identifier: Apache-2.0 */
/*
 * floor-uring: floor-epoll's forwarding (floor-epoll.c) with io_uring
 * (liburing): one io_uring_enter per loop turn submits every send and
 * re-armed receive of the turn and waits for the next completions. Bytes
 * are copied both ways without being looked at; a bench contestant, not an
 * HTTP proxy. -v picks the variant, a comma list (default: DEFAULT_VARIANT):
 *   ms        multishot recv into a provided buffer ring (one recv armed per
 *             socket for its life); ss: a single-shot recv per read into the
 *             flow's own buffer, re-armed after its send completes
 *   pollfirst ss only: IORING_RECVSEND_POLL_FIRST (skip the recv attempt
 *             that would find the socket empty)
 *   defer     IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (completions run
 *             only inside io_uring_enter); coop: SINGLE_ISSUER | COOP_TASKRUN
 *             | TASKRUN_FLAG; sqpoll: IORING_SETUP_SQPOLL (its kernel thread
 *             belongs to the process: /proc counts its CPU); none: plain
 *   fixed     the sockets in the registered file table
 *   regring   io_uring_register_ring_fd (no ring fd lookup per enter)
 *   floor-uring -l 127.0.0.1:18080 -u 127.0.0.1:18000 [-w WORKERS] [-v VARIANT]
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floor.h"

#define DEFAULT_VARIANT "ms,defer,fixed,regring"
#define BUF_SIZE        16384 /* ss: one buffer per flow */
#define PBUF_SIZE       4096  /* ms: provided buffers */
#define PBUF_COUNT      4096
#define PBUF_GROUP      0
#define PAUSE_AT        16 /* ms: this many queued: cancel the recv until half are sent */
#define RING_ENTRIES    4096

enum tag { TAG_RECV0, TAG_RECV1, TAG_SEND0, TAG_SEND1, TAG_ACCEPT, TAG_CANCEL };

/*
 * Bytes from s[i] to s[1 - i]: the chunk being sent and, in ms mode, the
 * received buffers queued behind it, a list linked through g.qnext (one
 * multishot recv may post many completions before the loop sees the first,
 * so the queue is as long as the buffer ring).
 */
struct flow {
    bool sending, recv_armed, paused;
    bool eof;  /* s[i] sent its FIN */
    bool done; /* ... and everything before it went out: s[1 - i] half-closed */
    uint32_t off, len;
    uint16_t bid; /* ms: the provided buffer being sent */
    uint16_t qhead, qtail, qcount;
    char *buf; /* ss */
};

/* s[0] is the client, s[1] the upstream. */
struct pair {
    int fd[2];
    int inflight; /* operations whose last completion has not been seen */
    bool closing;
    struct flow f[2];
};

static struct {
    bool multishot, pollfirst, fixed, regring;
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    char *pbufs;
    uint16_t qnext[PBUF_COUNT];
    uint32_t qlen[PBUF_COUNT];
    const struct floor_opts *o;
    int lfd;
} g;

static void
die(const char *what, int err)
{
    fprintf(stderr, "floor-uring: %s: %s\n", what, strerror(err));
    exit(1);
}

static struct io_uring_sqe *
get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&g.ring);
    if (sqe == NULL) {
        io_uring_submit(&g.ring); /* SQ full: flush it, then there is room */
        sqe = io_uring_get_sqe(&g.ring);
        if (sqe == NULL)
            die("get_sqe", EBUSY);
    }
    return sqe;
}

static void
set_target(struct io_uring_sqe *sqe, struct pair *p, enum tag t)
{
    if (g.fixed) /* the fixed-file index is the fd number */
        sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | (uint64_t)t);
    p->inflight++;
}

static void
arm_recv(struct pair *p, int i)
{
    struct io_uring_sqe *sqe = get_sqe();
    if (g.multishot) {
        io_uring_prep_recv_multishot(sqe, p->fd[i], NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = PBUF_GROUP;
    } else {
        io_uring_prep_recv(sqe, p->fd[i], p->f[i].buf, BUF_SIZE, 0);
        if (g.pollfirst)
            sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    }
    set_target(sqe, p, i == 0 ? TAG_RECV0 : TAG_RECV1);
    p->f[i].recv_armed = true;
}

/* ms: the peer is slower than the sender; stop receiving from s[i] for now. */
static void
pause_recv(struct pair *p, int i)
{
    p->f[i].paused = true;
    if (!p->f[i].recv_armed)
        return;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)p | (uint64_t)(i == 0 ? TAG_RECV0 : TAG_RECV1),
                           0);
    io_uring_sqe_set_data64(sqe, TAG_CANCEL);
}

static void
send_chunk(struct pair *p, int i)
{
    struct flow *f = &p->f[i];
    const char *base = g.multishot ? g.pbufs + (size_t)f->bid * PBUF_SIZE : f->buf;
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, p->fd[1 - i], base + f->off, f->len, MSG_NOSIGNAL);
    set_target(sqe, p, i == 0 ? TAG_SEND0 : TAG_SEND1);
    f->sending = true;
}

static void
buf_return(uint16_t bid)
{
    io_uring_buf_ring_add(g.br, g.pbufs + (size_t)bid * PBUF_SIZE, PBUF_SIZE, bid,
                          io_uring_buf_ring_mask(PBUF_COUNT), 0);
    io_uring_buf_ring_advance(g.br, 1);
}

static void
maybe_free(struct pair *p)
{
    if (!p->closing || p->inflight > 0)
        return;
    for (int i = 0; i < 2; i++) {
        if (g.fixed) {
            int none = -1;
            io_uring_register_files_update(&g.ring, (unsigned)p->fd[i], &none, 1);
        }
        close(p->fd[i]);
        free(p->f[i].buf);
    }
    free(p);
}

/* Ends every operation of the pair (shutdown completes pending receives and
 * sends); the pair goes when the last completion is in. */
static void
pair_close(struct pair *p)
{
    if (p->closing)
        return;
    p->closing = true;
    shutdown(p->fd[0], SHUT_RDWR);
    shutdown(p->fd[1], SHUT_RDWR);
    for (int i = 0; g.multishot && i < 2; i++) {
        struct flow *f = &p->f[i];
        for (; f->qcount > 0; f->qcount--, f->qhead = g.qnext[f->qhead])
            buf_return(f->qhead);
    }
    maybe_free(p);
}

/* s[i] is at EOF and its flow drained: pass the FIN on; both ways: close. */
static void
flow_done(struct pair *p, int i)
{
    p->f[i].done = true;
    shutdown(p->fd[1 - i], SHUT_WR);
    if (p->f[1 - i].done)
        pair_close(p);
}

static void
on_accept(int cfd)
{
    int ufd;
    struct pair *p = floor_pair_new(g.o, cfd, sizeof *p, &ufd);
    if (p == NULL)
        return;
    memset(p, 0, sizeof *p);
    p->fd[0] = cfd;
    p->fd[1] = ufd;
    for (int i = 0; i < 2; i++) {
        if (g.fixed) {
            int r = io_uring_register_files_update(&g.ring, (unsigned)p->fd[i], &p->fd[i], 1);
            if (r < 0)
                die("register_files_update", -r);
        }
        if (!g.multishot && (p->f[i].buf = malloc(BUF_SIZE)) == NULL)
            abort();
    }
    arm_recv(p, 0);
    arm_recv(p, 1);
}

static void
arm_accept(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, g.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, TAG_ACCEPT);
}

static void
on_recv(struct pair *p, int i, int res, unsigned flags)
{
    struct flow *f = &p->f[i];
    bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
        p->inflight--;
        f->recv_armed = false;
    }
    if (res > 0 && g.multishot && p->closing) {
        buf_return((uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT));
        res = 0;
    }
    if (p->closing) {
        maybe_free(p);
        return;
    }
    if (res == 0) {
        f->eof = true;
        if (!f->sending && f->qcount == 0)
            flow_done(p, i);
        return;
    }
    if (res == -ECANCELED || (res == -ENOBUFS && g.multishot)) {
        if (!f->paused) /* ENOBUFS: the ring was empty for a moment */
            arm_recv(p, i);
        return;
    }
    if (res < 0) {
        pair_close(p);
        return;
    }
    if (!g.multishot) {
        f->off = 0;
        f->len = (uint32_t)res;
        send_chunk(p, i); /* the recv is re-armed when the send is complete */
        return;
    }
    uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
    if (!f->sending) {
        f->bid = bid;
        f->off = 0;
        f->len = (uint32_t)res;
        send_chunk(p, i);
    } else {
        g.qlen[bid] = (uint32_t)res;
        if (f->qcount++ == 0)
            f->qhead = bid;
        else
            g.qnext[f->qtail] = bid;
        f->qtail = bid;
    }
    if (f->qcount >= PAUSE_AT && !f->paused)
        pause_recv(p, i);
    if (!f->recv_armed && !f->paused)
        arm_recv(p, i);
}

static void
on_send(struct pair *p, int i, int res)
{
    struct flow *f = &p->f[i];
    p->inflight--;
    f->sending = false;
    if (p->closing || res <= 0) {
        if (g.multishot)
            buf_return(f->bid);
        if (p->closing)
            maybe_free(p);
        else
            pair_close(p);
        return;
    }
    if ((uint32_t)res < f->len) {
        f->off += (uint32_t)res;
        f->len -= (uint32_t)res;
        send_chunk(p, i);
        return;
    }
    if (!g.multishot) {
        if (f->eof)
            flow_done(p, i);
        else
            arm_recv(p, i);
        return;
    }
    buf_return(f->bid);
    if (f->qcount > 0) {
        f->bid = f->qhead;
        f->len = g.qlen[f->qhead];
        f->off = 0;
        f->qhead = g.qnext[f->qhead];
        f->qcount--;
        send_chunk(p, i);
    }
    if (f->paused && f->qcount <= PAUSE_AT / 2) {
        f->paused = false;
        if (!f->recv_armed && !f->eof) /* else its cancel completion re-arms it */
            arm_recv(p, i);
    }
    if (f->eof && !f->sending)
        flow_done(p, i);
}

static void
handle(const struct io_uring_cqe *cqe)
{
    uint64_t d = io_uring_cqe_get_data64(cqe);
    enum tag t = (enum tag)(d & 7);
    struct pair *p = (struct pair *)(uintptr_t)(d & ~(uint64_t)7);
    switch (t) {
    case TAG_ACCEPT:
        if (cqe->res >= 0)
            on_accept(cqe->res);
        if (!(cqe->flags & IORING_CQE_F_MORE))
            arm_accept();
        break;
    case TAG_RECV0:
    case TAG_RECV1:
        on_recv(p, t == TAG_RECV1, cqe->res, cqe->flags);
        break;
    case TAG_SEND0:
    case TAG_SEND1:
        on_send(p, t == TAG_SEND1, cqe->res);
        break;
    case TAG_CANCEL:
        break;
    }
}

static void
parse_variant(const char *v, struct io_uring_params *prm)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", v);
    for (char *save = NULL, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (strcmp(w, "ms") == 0)
            g.multishot = true;
        else if (strcmp(w, "ss") == 0)
            g.multishot = false;
        else if (strcmp(w, "pollfirst") == 0)
            g.pollfirst = true;
        else if (strcmp(w, "fixed") == 0)
            g.fixed = true;
        else if (strcmp(w, "defer") == 0)
            prm->flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        else if (strcmp(w, "coop") == 0)
            prm->flags |=
                IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
        else if (strcmp(w, "sqpoll") == 0) {
            prm->flags |= IORING_SETUP_SQPOLL;
            prm->sq_thread_idle = 100;
        } else if (strcmp(w, "regring") == 0)
            g.regring = true;
        else if (strcmp(w, "none") != 0) {
            fprintf(stderr, "floor-uring: unknown variant word %s\n", w);
            exit(2);
        }
    }
}

int
main(int argc, char **argv)
{
    struct floor_opts o;
    g.lfd = floor_start(&o, argc, argv, "floor-uring");
    g.o = &o;
    struct io_uring_params prm;
    memset(&prm, 0, sizeof prm);
    prm.flags |= IORING_SETUP_CQSIZE;
    prm.cq_entries = 4 * RING_ENTRIES;
    parse_variant(o.variant ? o.variant : DEFAULT_VARIANT, &prm);
    int r = io_uring_queue_init_params(RING_ENTRIES, &g.ring, &prm);
    if (r < 0)
        die("io_uring_queue_init", -r);
    if (g.regring && (r = io_uring_register_ring_fd(&g.ring)) < 0)
        die("register_ring_fd", -r);
    if (g.fixed) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        unsigned n = rl.rlim_cur > 65536 ? 65536 : (unsigned)rl.rlim_cur;
        if ((r = io_uring_register_files_sparse(&g.ring, n)) < 0)
            die("register_files_sparse", -r);
    }
    if (g.multishot) {
        size_t rsz = PBUF_COUNT * sizeof(struct io_uring_buf);
        void *mem = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        g.pbufs = aligned_alloc(4096, (size_t)PBUF_COUNT * PBUF_SIZE);
        if (mem == MAP_FAILED || g.pbufs == NULL)
            die("buffers", ENOMEM);
        g.br = mem;
        io_uring_buf_ring_init(g.br);
        struct io_uring_buf_reg reg;
        memset(&reg, 0, sizeof reg);
        reg.ring_addr = (uint64_t)(uintptr_t)g.br;
        reg.ring_entries = PBUF_COUNT;
        reg.bgid = PBUF_GROUP;
        if ((r = io_uring_register_buf_ring(&g.ring, &reg, 0)) < 0)
            die("register_buf_ring", -r);
        for (unsigned i = 0; i < PBUF_COUNT; i++)
            io_uring_buf_ring_add(g.br, g.pbufs + (size_t)i * PBUF_SIZE, PBUF_SIZE,
                                  (unsigned short)i, io_uring_buf_ring_mask(PBUF_COUNT), (int)i);
        io_uring_buf_ring_advance(g.br, PBUF_COUNT);
    }
    arm_accept();
    for (;;) {
        r = io_uring_submit_and_wait(&g.ring, 1);
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY && r != -EAGAIN)
            die("io_uring_submit_and_wait", -r);
        unsigned head, n = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&g.ring, head, cqe)
        {
            handle(cqe);
            n++;
        }
        io_uring_cq_advance(&g.ring, n);
    }
}
