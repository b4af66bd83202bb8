/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UDPRoute sessions. Each worker has its own SO_REUSEPORT socket per UDP
 * port (the kernel spreads clients by 4-tuple hash), and per client address
 * a session: an upstream UDP socket connected to one endpoint of the
 * weighted backend chosen when the session began. Datagrams go both ways
 * unchanged, one send per datagram; a send that would block drops the
 * datagram, as UDP may. Replies leave through a duplicate of the listening
 * socket the client wrote to (so they carry the address the client
 * expects, and outlive a reload that closes the listener).
 *
 * Sessions end after udp_idle_ms without a datagram either way, when the
 * upstream reports the port unreachable, or when the table is full and a
 * new client arrives (the least recently used one is evicted). A session
 * pins the snapshot it began on.
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
    int reply_fd;
    struct gw_timer timer;
    uint64_t last;
    struct l4_ep *ep;
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
    gw_timer_stop(&s->timer);
    if (s->reply_fd >= 0)
        close(s->reply_fd);
    s->reply_fd = -1;
    gw_io_close(&s->io, sess_free);
}

void
l4_sess_close_all(struct gw_l4_worker *w)
{
    while (w->lru_head)
        sess_close(w->lru_head);
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
                l4_ep_report(s->ep, true, w->o.eject_consecutive, w->o.eject_ms,
                             gw_loop_now(w->loop));
                sess_close(s);
            }
            return;
        }
        touch(s);
        sendto(s->reply_fd, w->dgram, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)&s->peer,
               s->peerlen);
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
    const struct gw_ir_l4 *r = pt ? gw_l4_route_plain(pt) : NULL;
    const struct gw_ir_backend *b = r ? l4_backend_pick(r, l4_rand(w)) : NULL;
    if (!b || b->invalid || b->nendpoints == 0)
        return NULL;
    uint64_t now = gw_loop_now(w->loop);
    struct l4_ep *ep = l4_ep_pick(&w->eps, b, l4_cursor(w, b), NULL, now);
    if (!ep)
        return NULL;
    int fd = socket(ep->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (connect(fd, (const struct sockaddr *)&ep->sa, ep->salen) < 0) {
        close(fd);
        return NULL;
    }
    int rfd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
    if (rfd < 0) {
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
    s->reply_fd = rfd;
    s->ep = ep;
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

void
gw_l4_udp_input(struct gw_l4_worker *w, void *pin, const struct gw_ir *ir, const char *address,
                uint16_t port, int fd)
{
    const struct gw_ir_port *pt = NULL;
    bool looked = false;
    for (int i = 0; i < L4_BATCH; i++) {
        struct sockaddr_storage peer;
        memset(&peer, 0, sizeof(peer));
        socklen_t plen = sizeof(peer);
        ssize_t n = recvfrom(fd, w->dgram, L4_DGRAM_MAX, 0, (struct sockaddr *)&peer, &plen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN, or an error the socket reports once */
        }
        if (plen > sizeof(peer))
            continue;
        size_t bucket = sess_hash(address, port, &peer, plen);
        struct l4_sess *s = sess_find(w, bucket, address, port, &peer, plen);
        if (!s) {
            if (w->draining)
                continue;
            if (!looked) {
                pt = l4_port_find(ir, address, port, true);
                looked = true;
            }
            s = sess_new(w, pin, pt, bucket, address, port, fd, &peer, plen);
            if (!s)
                continue; /* no usable backend: dropped */
        } else {
            touch(s);
        }
        if (send(s->io.fd, w->dgram, (size_t)n, MSG_DONTWAIT) < 0 && errno == ECONNREFUSED) {
            /* an earlier datagram met a closed port: resend on a fresh
             * choice next time */
            l4_ep_report(s->ep, true, w->o.eject_consecutive, w->o.eject_ms, gw_loop_now(w->loop));
            sess_close(s);
        }
    }
}
