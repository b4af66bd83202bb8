/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy: the edge of a connection, before and around HTTP. The PROXY
 * protocol pre-phase (ClientTrafficPolicy proxyProtocol): right after
 * accept, a port that takes PROXY headers peeks at the first bytes
 * (MSG_PEEK), parses them with gw_net_proxy_parse and consumes exactly the
 * header, so that what follows (HTTP, TLS, the SNI peek of passthrough,
 * raw TCP) sees the stream as the client sent it. The client address of
 * HTTP requests (clientAddress.xForwardedFor), and the SourceAddressPolicy
 * checks: per request for HTTP, at accept for TCP and TLS listeners.
 *
 * Waiting for the rest of a header that came in pieces: the peeked bytes
 * stay in the socket, so a level-triggered watch would report it readable
 * on every turn. The socket is unwatched instead and peeked again on a
 * short timer (PP_POLL_MS) until the header completes or its deadline
 * passes. A split header is rare (senders write it in one piece), so the
 * polling costs nothing in the usual case, and no byte after the header
 * is ever read here: nothing has to be handed over to the next stage but
 * the descriptor (dup'd, so that the loop handle here closes its own).
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "l4/l4.h"
#include "net/net.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define PP_POLL_MS 10

struct px_pp {
    struct px_pp *next, *prev;
    struct px_worker *w;
    struct px_wsnap *snap; /* pins pp */
    const struct gw_ir_proxy_protocol *pp;
    struct gw_io io;
    struct gw_timer deadline, poll;
    struct sockaddr_storage peer;
    char address[64];
    uint16_t port;
    bool trusted;
    bool seen; /* some byte arrived */
};

const char *
px_edge_proto_name(enum px_edge_proto p)
{
    static const char *const names[] = {"http", "grpc", "tcp", "tls"};
    return (unsigned)p < GW_ARRAY_LEN(names) ? names[p] : "?";
}

const char *
px_edge_pp_reason_name(enum px_edge_pp_reason r)
{
    static const char *const names[] = {"untrusted", "malformed", "missing", "timeout"};
    return (unsigned)r < GW_ARRAY_LEN(names) ? names[r] : "?";
}

static void
count(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static const struct gw_ir_port *
ir_port(const struct gw_ir *ir, const char *address, uint16_t port)
{
    for (size_t i = 0; ir && i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (!pt->udp && pt->port == port && !strcmp(pt->address ? pt->address : "", address))
            return pt;
    }
    return NULL;
}

/* TCP and TLS listeners: the Gateway/listener level SourceAddressPolicy,
 * at accept. The listener of a TLS connection is known only after its SNI,
 * so every TCP/TLS listener of the port must allow the client. */
static bool
l4_allowed(struct px_worker *w, const struct gw_ir_port *pt, const struct sockaddr_storage *client)
{
    for (size_t i = 0; pt && i < pt->nlisteners; i++) {
        const struct gw_ir_listener *li = &pt->listeners[i];
        if ((li->proto != GW_IR_TCP && li->proto != GW_IR_TLS) || !li->acl ||
            gw_ir_acl_allows(li->acl, (const struct sockaddr *)client))
            continue;
        count(&w->m->sa_refused[li->proto == GW_IR_TCP ? PX_EDGE_TCP : PX_EDGE_TLS]);
        return false;
    }
    return true;
}

/* The connection goes on to HTTP or L4 with client as its peer. */
static void
handoff(struct px_worker *w, struct px_listener *l, int fd, const struct sockaddr_storage *client)
{
    const struct gw_ir *ir = w->snap ? w->snap->s->ir : NULL;
    if (!l4_allowed(w, ir_port(ir, l->address, l->port), client)) {
        close(fd);
        return;
    }
    if (l->l4) {
        atomic_uint_fast64_t *n = &w->m->l4_total[l->mport];
        atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        gw_l4_accept(w->l4, w->snap, ir, l->address, l->port, fd, client);
    } else {
        px_dconn_accept(w, l, fd, client);
    }
}

/* ------------------------------------------------------------------------ */
/* The PROXY pre-phase                                                        */

static void
pp_free(struct gw_io *io)
{
    free(io->data);
}

/* Ends the pre-phase: the descriptor goes on (fd >= 0) or is closed. */
static void
pp_end(struct px_pp *x, int fd, const struct sockaddr_storage *client)
{
    struct px_worker *w = x->w;
    gw_timer_stop(&x->deadline);
    gw_timer_stop(&x->poll);
    if (x->prev)
        x->prev->next = x->next;
    else
        w->pps = x->next;
    if (x->next)
        x->next->prev = x->prev;
    gw_io_close(&x->io, pp_free);
    w->nconns--;
    struct px_wsnap *snap = x->snap;
    if (fd >= 0) {
        /* The listener may have closed while the header came: the
         * connection then goes nowhere. */
        struct px_listener *l = w->listeners;
        while (l && (l->udp || l->port != x->port || strcmp(l->address, x->address)))
            l = l->next;
        if (l && !w->draining)
            handoff(w, l, fd, client);
        else
            close(fd);
    }
    px_wsnap_unref(snap);
    px_worker_conn_closed(w);
}

static void
pp_refuse(struct px_pp *x, enum px_edge_pp_reason why)
{
    count(&x->w->m->pp_refused[why]);
    pp_end(x, -1, NULL);
}

static void
pp_pass(struct px_pp *x, const struct sockaddr_storage *client)
{
    int fd = fcntl(x->io.fd, F_DUPFD_CLOEXEC, 0);
    pp_end(x, fd, client);
}

/* Peeks and decides, or waits for more. */
static void
pp_try(struct px_pp *x)
{
    uint8_t buf[GW_NET_PROXY_MAX];
    ssize_t n = recv(x->io.fd, buf, sizeof(buf), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        gw_io_set(&x->io, GW_LOOP_READ);
        return;
    }
    if (n <= 0) { /* EOF or an error before a header: nothing to serve */
        pp_end(x, -1, NULL);
        return;
    }
    x->seen = true;
    struct gw_net_proxy h;
    int rc = gw_net_proxy_parse(buf, (size_t)n, &h);
    if (rc == GW_EAGAIN) {
        gw_io_set(&x->io, 0);
        gw_timer_start(&x->poll, PP_POLL_MS);
        return;
    }
    if (rc == GW_EPROTO) {
        if (x->pp->required)
            pp_refuse(x, PX_PP_MISSING);
        else
            pp_pass(x, &x->peer);
        return;
    }
    if (rc < 0) {
        pp_refuse(x, PX_PP_MALFORMED);
        return;
    }
    if (!x->trusted) {
        pp_refuse(x, PX_PP_UNTRUSTED);
        return;
    }
    /* Exactly the header: the bytes after it stay for the next stage. */
    ssize_t got = recv(x->io.fd, buf, (size_t)rc, 0);
    if (got != rc) {
        pp_end(x, -1, NULL);
        return;
    }
    bool ip = !h.local && (h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6);
    pp_pass(x, ip ? &h.src : &x->peer);
}

static void
on_pp_io(struct gw_io *io, unsigned events)
{
    (void)events;
    pp_try(io->data);
}

static void
on_pp_poll(struct gw_timer *t)
{
    pp_try(t->data);
}

static void
on_pp_deadline(struct gw_timer *t)
{
    struct px_pp *x = t->data;
    /* Not required and nothing sent yet: a protocol where the server
     * speaks first; the connection goes on with its peer's address. */
    if (!x->pp->required && !x->seen)
        pp_pass(x, &x->peer);
    else
        pp_refuse(x, PX_PP_TIMEOUT);
}

void
px_edge_accept(struct px_worker *w, struct px_listener *l, int fd,
               const struct sockaddr_storage *peer)
{
    const struct gw_ir *ir = w->snap ? w->snap->s->ir : NULL;
    const struct gw_ir_port *pt = ir ? ir_port(ir, l->address, l->port) : NULL;
    if (!pt || !pt->proxy_protocol) {
        handoff(w, l, fd, peer);
        return;
    }
    bool trusted = gw_net_cidr_set_has(pt->proxy_protocol->trusted, (const struct sockaddr *)peer);
    if (!trusted && pt->proxy_protocol->required) {
        /* Whatever it sends is refused: a header, or no header. */
        count(&w->m->pp_refused[PX_PP_UNTRUSTED]);
        close(fd);
        return;
    }
    struct px_pp *x = gw_xcalloc(1, sizeof(*x));
    x->w = w;
    x->snap = px_wsnap_ref(w->snap);
    x->pp = pt->proxy_protocol;
    x->peer = *peer;
    x->trusted = trusted;
    snprintf(x->address, sizeof(x->address), "%s", l->address);
    x->port = l->port;
    gw_timer_init(w->loop, &x->deadline, on_pp_deadline, x);
    gw_timer_init(w->loop, &x->poll, on_pp_poll, x);
    gw_io_init(w->loop, &x->io, fd, on_pp_io, x);
    x->next = w->pps;
    if (x->next)
        x->next->prev = x;
    w->pps = x;
    w->nconns++;
    gw_timer_start(&x->deadline, (uint64_t)x->pp->timeout_ms);
    gw_io_set(&x->io, GW_LOOP_READ);
}

void
px_edge_drain(struct px_worker *w)
{
    while (w->pps)
        pp_end(w->pps, -1, NULL);
}

/* ------------------------------------------------------------------------ */
/* Per request                                                                */

/* The X-Forwarded-For value of req, its field lines joined with ","; the
 * rightmost bytes when it is longer than cap (both walks read from the
 * right, at most GW_NET_XFF_WALK_MAX entries). Empty when absent. */
static struct gw_str
xff_value(const struct gw_h1_request *req, char *buf, size_t cap)
{
    size_t n = 0;
    bool cut = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct gw_h1_header *h = &req->headers[i];
        if (!gw_str_caseeq(h->name, GW_STR("x-forwarded-for")))
            continue;
        if (n && n < cap)
            buf[n++] = ',';
        struct gw_str v = h->value;
        if (v.len > cap - n) {
            /* keep the tail: shift what is there out to make room */
            size_t need = v.len >= cap ? cap : v.len;
            size_t keep = cap - need < n ? cap - need : n;
            memmove(buf, buf + n - keep, keep);
            n = keep;
            memcpy(buf + n, v.p + v.len - need, need);
            n += need;
            cut = true;
        } else {
            memcpy(buf + n, v.p, v.len);
            n += v.len;
        }
    }
    struct gw_str s = {buf, n};
    if (cut) {
        /* drop the partial entry at the left */
        const char *c = memchr(s.p, ',', s.len);
        size_t skip = c ? (size_t)(c - s.p) + 1 : s.len;
        s.p += skip;
        s.len -= skip;
    }
    return s;
}

void
px_edge_client(struct px_dconn *d, const struct gw_ir_listener *li, const struct gw_h1_request *req)
{
    d->client_sa = d->peer_sa;
    memcpy(d->client_ip, d->peer_ip, sizeof(d->client_ip));
    const struct gw_ir_xff *x = li ? li->xff : NULL;
    if (!x)
        return;
    char buf[(GW_NET_XFF_WALK_MAX + 1) * (GW_NET_XFF_ENTRY_MAX + 1)];
    struct gw_str v = xff_value(req, buf, sizeof(buf));
    struct sockaddr_storage out;
    int rc;
    if (x->trusted_hops)
        rc = gw_net_xff_hop_parse(v, x->trusted_hops, &out);
    else if (gw_net_cidr_set_has(x->trusted, (const struct sockaddr *)&d->peer_sa))
        rc = gw_net_xff_trusted_parse(v, x->trusted, &out);
    else
        rc = GW_ENOTFOUND;
    /* Too few entries, a malformed one, or a peer not trusted: the peer is
     * the client (never the leftmost entry: the client wrote that one). */
    if (rc < 0)
        return;
    char text[GW_NET_ADDR_TEXT_MAX + 1];
    if (gw_net_addr_format((const struct sockaddr *)&out, text, sizeof(text)) < 0)
        return;
    d->client_sa = out;
    snprintf(d->client_ip, sizeof(d->client_ip), "%s", text);
}

bool
px_edge_allowed(struct px_dconn *d, const struct gw_ir_route *r)
{
    const struct sockaddr *sa = (const struct sockaddr *)&d->client_sa;
    if (gw_ir_acl_allows(r->acl_gateway, sa) && gw_ir_acl_allows(r->acl_route, sa))
        return true;
    count(&d->w->m->sa_refused[r->grpc ? PX_EDGE_GRPC : PX_EDGE_HTTP]);
    return false;
}
