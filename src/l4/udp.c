/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UDPRoute sessions. Each worker has its own SO_REUSEPORT socket per UDP
 * port (the kernel spreads clients by 4-tuple hash), and per client address
 * a session: an upstream UDP socket connected to one endpoint of the
 * weighted backend chosen when the session began. Datagrams go both ways
 * unchanged, one send per datagram; a send that would block drops the
 * datagram, as UDP may. Replies leave through a duplicate of the listening
 * socket the client wrote to, so they carry the address the client expects;
 * the sessions of one listening socket share one duplicate (a reply
 * socket).
 *
 * A reply socket must not outlive the proxy's listener: a socket left bound
 * in the port's SO_REUSEPORT group takes its hash share of every later
 * client's datagrams with nobody reading them, so a listener removed by a
 * reload would swallow datagrams instead of refusing them, and one added
 * back on the same address and port would lose that share of its clients
 * until the old sessions went idle. So a session whose client now writes
 * to another listening socket moves to that one's reply socket, and a sweep
 * (every L4_SWEEP_MS while there are reply sockets, and at once when a new
 * listening socket shows up) ends the sessions of a listener that is gone:
 * the fd the proxy passed no longer names the same socket (SO_COOKIE). The
 * proxy also says when it closes a listening socket (gw_l4_udp_close), so
 * those sessions end at once: a listener added back within the sweep
 * period would otherwise lose the orphan's share of its first datagrams.
 *
 * Sessions end after udp_idle_ms without a datagram either way, when the
 * upstream reports the port unreachable, when their listener is gone, or
 * when the table is full and a new client arrives (the least recently used
 * one is evicted). A session pins the snapshot it began on.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l4/internal.h"

#include "base/banned.h"

struct l4_rsock {
    struct l4_rsock *next;
    int lfd;         /* the proxy's listening fd, as passed to us */
    uint64_t cookie; /* SO_COOKIE of the socket it named */
    int fd;          /* our duplicate */
    size_t refs;     /* sessions */
    bool gone;       /* lfd names another socket now, or none */
};

struct l4_sess {
    struct gw_io io;        /* the connected upstream socket */
    struct gw_l4_worker *w; /* NULL once closing */
    struct l4_sess *hnext;  /* bucket chain */
    struct l4_sess *lprev, *lnext;
    size_t bucket;
    char laddr[64];
    uint16_t lport;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct l4_rsock *rs;
    struct gw_timer timer;
    uint64_t last;
    struct gw_l4_ep *ep;
    struct gw_l4_counters *m;
    void *pin;
    gw_l4_pin_fn unref;
};

static size_t
sess_hash(const char *laddr, uint16_t lport, const struct sockaddr_storage *peer, socklen_t plen)
{
    uint64_t h = 1469598103934665603ull ^ lport;
    for (const unsigned char *s = (const unsigned char *)laddr; *s; s++)
        h = (h ^ *s) * 1099511628211ull;
    const unsigned char *b = (const unsigned char *)peer;
    for (socklen_t i = 0; i < plen; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 31)) & (L4_BUCKETS - 1);
}

static void
lru_unlink(struct gw_l4_worker *w, struct l4_sess *s)
{
    if (s->lprev)
        s->lprev->lnext = s->lnext;
    else
        w->lru_head = s->lnext;
    if (s->lnext)
        s->lnext->lprev = s->lprev;
    else
        w->lru_tail = s->lprev;
    s->lprev = s->lnext = NULL;
}

static void
lru_push(struct gw_l4_worker *w, struct l4_sess *s)
{
    s->lnext = w->lru_head;
    if (w->lru_head)
        w->lru_head->lprev = s;
    w->lru_head = s;
    if (!w->lru_tail)
        w->lru_tail = s;
}

static void
touch(struct l4_sess *s)
{
    s->last = gw_loop_now(s->w->loop);
    if (s->w->lru_head != s) {
        lru_unlink(s->w, s);
        lru_push(s->w, s);
    }
}

static bool
sock_cookie(int fd, uint64_t *out)
{
    socklen_t len = sizeof(*out);
    return getsockopt(fd, SOL_SOCKET, SO_COOKIE, out, &len) == 0 && len == sizeof(*out);
}

static bool
rsock_is_gone(struct l4_rsock *r)
{
    uint64_t c;
    if (!r->gone && (!sock_cookie(r->lfd, &c) || c != r->cookie))
        r->gone = true;
    return r->gone;
}

/* The reply socket of the listening socket lfd (a new reference), or NULL
 * when it cannot be had (no fd left). */
static struct l4_rsock *
rsock_get(struct gw_l4_worker *w, int lfd)
{
    uint64_t cookie;
    if (!sock_cookie(lfd, &cookie))
        return NULL;
    bool stale = false;
    for (struct l4_rsock *r = w->rsocks; r; r = r->next) {
        if (r->cookie == cookie) {
            r->lfd = lfd;
            r->refs++;
            return r;
        }
        if (r->lfd == lfd)
            stale = r->gone = true; /* the fd was closed and reused */
    }
    int fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct l4_rsock *r = gw_xcalloc(1, sizeof(*r));
    r->lfd = lfd;
    r->cookie = cookie;
    r->fd = fd;
    r->refs = 1;
    bool first = !w->rsocks;
    r->next = w->rsocks;
    w->rsocks = r;
    /* A new listening socket: an older one for the same port may be gone,
     * and its sessions would keep it bound. Check now. */
    if (first && !stale)
        gw_timer_start(&w->sweep, L4_SWEEP_MS);
    else
        gw_timer_start(&w->sweep, 0);
    return r;
}

static void
rsock_unref(struct gw_l4_worker *w, struct l4_rsock *r)
{
    if (--r->refs > 0)
        return;
    struct l4_rsock **pp = &w->rsocks;
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    close(r->fd);
    free(r);
}

static void
sess_free(struct gw_io *io)
{
    struct l4_sess *s = io->data;
    if (s->unref)
        s->unref(s->pin);
    free(s);
}

static void
sess_close(struct l4_sess *s)
{
    struct gw_l4_worker *w = s->w;
    if (!w)
        return;
    struct l4_sess **pp = &w->buckets[s->bucket];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    lru_unlink(w, s);
    w->nsess--;
    s->w = NULL;
    l4_count(&s->m->closed, 1);
    gw_timer_stop(&s->timer);
    rsock_unref(w, s->rs);
    s->rs = NULL;
    gw_io_close(&s->io, sess_free);
}

void
l4_sess_close_all(struct gw_l4_worker *w)
{
    while (w->lru_head)
        sess_close(w->lru_head);
}

void
l4_rsock_sweep(struct gw_timer *t)
{
    struct gw_l4_worker *w = t->data;
    bool gone = false;
    for (struct l4_rsock *r = w->rsocks; r; r = r->next)
        gone |= rsock_is_gone(r);
    if (gone) {
        /* the last session of a reply socket frees it */
        struct l4_sess *s = w->lru_head;
        while (s) {
            struct l4_sess *next = s->lnext;
            if (s->rs->gone)
                sess_close(s);
            s = next;
        }
    }
    if (w->rsocks)
        gw_timer_start(t, L4_SWEEP_MS);
}

void
gw_l4_udp_close(struct gw_l4_worker *w, int fd)
{
    uint64_t cookie;
    if (!w || !sock_cookie(fd, &cookie))
        return;
    struct l4_rsock *r = w->rsocks;
    while (r && r->cookie != cookie)
        r = r->next;
    if (!r)
        return;
    r->gone = true;
    /* the last session of r frees it, closing the duplicate */
    struct l4_sess *s = w->lru_head;
    while (s) {
        struct l4_sess *next = s->lnext;
        if (s->rs == r)
            sess_close(s);
        s = next;
    }
}

static void
on_sess_timer(struct gw_timer *t)
{
    struct l4_sess *s = t->data;
    struct gw_l4_worker *w = s->w;
    uint64_t now = gw_loop_now(w->loop);
    if (now - s->last >= w->o.udp_idle_ms) {
        sess_close(s);
        return;
    }
    gw_timer_start(t, w->o.udp_idle_ms - (now - s->last));
}

static void
on_upstream(struct gw_io *io, unsigned events)
{
    (void)events;
    struct l4_sess *s = io->data;
    struct gw_l4_worker *w = s->w;
    for (int i = 0; i < L4_BATCH && s->w; i++) {
        ssize_t n = recv(io->fd, w->dgram, L4_DGRAM_MAX, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECONNREFUSED) {
                /* ICMP port unreachable: let the client's next datagram
                 * choose again */
                gw_l4_ep_report(s->ep, true, w->o.eject_consecutive, w->o.eject_ms,
                                gw_loop_now(w->loop));
                l4_count(&s->m->connect_failures, 1);
                sess_close(s);
            }
            return;
        }
        touch(s);
        if (sendto(s->rs->fd, w->dgram, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)&s->peer,
                   s->peerlen) >= 0) {
            l4_count(&s->m->dgrams_out, 1);
            l4_count(&s->m->bytes_out, (uint64_t)n);
        }
    }
}

static struct l4_sess *
sess_find(struct gw_l4_worker *w, size_t bucket, const char *laddr, uint16_t lport,
          const struct sockaddr_storage *peer, socklen_t plen)
{
    for (struct l4_sess *s = w->buckets[bucket]; s; s = s->hnext)
        if (s->lport == lport && s->peerlen == plen && memcmp(&s->peer, peer, plen) == 0 &&
            strcmp(s->laddr, laddr) == 0)
            return s;
    return NULL;
}

static struct l4_sess *
sess_new(struct gw_l4_worker *w, void *pin, const struct gw_ir_port *pt, size_t bucket,
         const char *laddr, uint16_t lport, int lfd, const struct sockaddr_storage *peer,
         socklen_t plen)
{
    const struct gw_ir_listener *l = NULL;
    const struct gw_ir_l4 *r = pt ? gw_l4_route_plain(pt, &l) : NULL;
    const struct gw_ir_backend *b = r ? l4_backend_pick(r, l4_rand(w)) : NULL;
    if (!b || b->invalid || b->nendpoints == 0)
        return NULL;
    uint64_t now = gw_loop_now(w->loop);
    struct gw_l4_ep *ep = l4_ep_pick(&w->eps, b, l4_cursor(w, b), NULL, now);
    if (!ep)
        return NULL;
    int fd = socket(ep->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (connect(fd, (const struct sockaddr *)&ep->sa, ep->salen) < 0) {
        close(fd);
        return NULL;
    }
    struct l4_rsock *rs = rsock_get(w, lfd);
    if (!rs) {
        close(fd);
        return NULL;
    }
    if (w->nsess >= w->o.udp_max_sessions && w->lru_tail)
        sess_close(w->lru_tail);
    struct l4_sess *s = gw_xcalloc(1, sizeof(*s));
    s->w = w;
    s->bucket = bucket;
    snprintf(s->laddr, sizeof(s->laddr), "%s", laddr);
    s->lport = lport;
    memcpy(&s->peer, peer, plen);
    s->peerlen = plen;
    s->rs = rs;
    s->ep = ep;
    s->m = l4_counters(w, pin, pt, l, r);
    l4_count(&s->m->accepted, 1);
    s->pin = pin;
    if (w->o.pin_ref) {
        w->o.pin_ref(pin);
        s->unref = w->o.pin_unref;
    }
    s->hnext = w->buckets[bucket];
    w->buckets[bucket] = s;
    lru_push(w, s);
    w->nsess++;
    s->last = now;
    gw_io_init(w->loop, &s->io, fd, on_upstream, s);
    gw_io_set(&s->io, GW_LOOP_READ);
    gw_timer_init(w->loop, &s->timer, on_sess_timer, s);
    gw_timer_start(&s->timer, w->o.udp_idle_ms);
    return s;
}

/* One datagram from a client (peer, plen) to its session's upstream,
 * opening the session first if needed; *pt is looked up once per callback
 * (*looked). */
static void
forward_in(struct gw_l4_worker *w, void *pin, const struct gw_ir *ir, const char *address,
           uint16_t port, int fd, const struct sockaddr_storage *peer, socklen_t plen,
           const uint8_t *p, size_t n, const struct gw_ir_port **pt, bool *looked)
{
    if (plen > sizeof(*peer))
        return;
    size_t bucket = sess_hash(address, port, peer, plen);
    struct l4_sess *s = sess_find(w, bucket, address, port, peer, plen);
    if (!s) {
        if (w->draining)
            return;
        if (!*looked) {
            *pt = l4_port_find(ir, address, port, true);
            *looked = true;
        }
        s = sess_new(w, pin, *pt, bucket, address, port, fd, peer, plen);
        if (!s)
            return; /* no usable backend: dropped */
    } else {
        touch(s);
        if (s->rs->lfd != fd) {
            /* The client's datagrams come through another listening
             * socket now (the listener was replaced): reply from it,
             * and let the old one go. */
            struct l4_rsock *rs = rsock_get(w, fd);
            if (rs) {
                rsock_unref(w, s->rs);
                s->rs = rs;
            }
        }
    }
    for (bool again = false;; again = true) {
        if (send(s->io.fd, p, n, MSG_DONTWAIT) >= 0) {
            l4_count(&s->m->dgrams_in, 1);
            l4_count(&s->m->bytes_in, (uint64_t)n);
            break;
        }
        if (errno != ECONNREFUSED)
            break;
        /* An earlier datagram met a closed port, and this one was not
         * sent: it goes through a fresh session (a new choice, or the
         * same endpoint if it is back), once. */
        gw_l4_ep_report(s->ep, true, w->o.eject_consecutive, w->o.eject_ms, gw_loop_now(w->loop));
        l4_count(&s->m->connect_failures, 1);
        sess_close(s);
        if (again || w->draining)
            break;
        if (!*looked) {
            *pt = l4_port_find(ir, address, port, true);
            *looked = true;
        }
        s = sess_new(w, pin, *pt, bucket, address, port, fd, peer, plen);
        if (!s)
            break;
    }
}

void
gw_l4_udp_input(struct gw_l4_worker *w, void *pin, const struct gw_ir *ir, const char *address,
                uint16_t port, int fd)
{
    const struct gw_ir_port *pt = NULL;
    bool looked = false;
    /* recvmmsg: one syscall for up to L4_MMSG datagrams, each into its own
     * L4_DGRAM_MAX slot of the scratch (untouched pages cost no memory) */
    struct mmsghdr mm[L4_MMSG];
    struct iovec iov[L4_MMSG];
    struct sockaddr_storage peers[L4_MMSG];
    for (int got = 0; got < L4_BATCH;) {
        unsigned want = (unsigned)GW_MIN(L4_MMSG, L4_BATCH - got);
        memset(peers, 0, sizeof(peers[0]) * want); /* sessions hash the bytes */
        for (unsigned i = 0; i < want; i++) {
            iov[i] = (struct iovec){w->dgram + (size_t)i * L4_DGRAM_MAX, L4_DGRAM_MAX};
            mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &peers[i],
                                                 .msg_namelen = sizeof(peers[i]),
                                                 .msg_iov = &iov[i],
                                                 .msg_iovlen = 1}};
        }
        int k = recvmmsg(fd, mm, want, MSG_DONTWAIT, NULL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN, or an error the socket reports once */
        }
        for (int i = 0; i < k; i++)
            forward_in(w, pin, ir, address, port, fd, &peers[i], mm[i].msg_hdr.msg_namelen,
                       iov[i].iov_base, mm[i].msg_len, &pt, &looked);
        got += k;
        if ((unsigned)k < want)
            return; /* drained */
    }
}
