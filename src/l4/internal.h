/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l4 internals: the per-worker state, the endpoint table (round robin and
 * passive ejection), TCP/TLS stream connections and UDP sessions. Shared
 * inside src/l4 only.
 *
 * Lifetimes: the worker owns its connections and sessions; each of those
 * pins the snapshot it started on (opts.pin_ref/pin_unref) and borrows IR
 * pointers (backend) from it. Endpoint entries live as long as the worker,
 * so ejection state survives reloads; connections point at them.
 */
#ifndef GW_L4_INTERNAL_H
#define GW_L4_INTERNAL_H

#include <sys/socket.h>

#include "base/base.h"
#include "ir/ir.h"
#include "l4/l4.h"
#include "loop/loop.h"

#define L4_BUF       (64 * 1024) /* per direction of a TCP connection */
#define L4_BATCH     64          /* datagrams or accepts per callback */
#define L4_DGRAM_MAX 65536
#define L4_MMSG      16 /* datagrams per recvmmsg (scratch: L4_MMSG x L4_DGRAM_MAX) */
#define L4_ATTEMPTS  3  /* connect attempts (endpoints) per TCP connection */
#define L4_CURSORS   256
#define L4_BUCKETS   4096 /* UDP session hash buckets */
#define L4_SWEEP_MS  1000 /* how often UDP reply sockets are checked */

/* ------------------------------------------------------------------------ */
/* Endpoints (ep.c; the table and ejection are in l4.h)                      */

/*
 * Round robin over b's endpoints from *cursor, skipping ejected ones (and
 * avoid, when another is available) unless every one is. NULL when b has
 * no endpoint with a usable address.
 */
struct gw_l4_ep *l4_ep_pick(struct gw_l4_ep_table *t, const struct gw_ir_backend *b,
                            uint32_t *cursor, const struct gw_l4_ep *avoid, uint64_t now);

/* The weighted backend of r for a uniform rnd (gw_route_backend_pick's
 * rule), NULL when the weights sum to 0. */
const struct gw_ir_backend *l4_backend_pick(const struct gw_ir_l4 *r, uint32_t rnd);

/* The port (address, port, udp) of ir, or NULL. */
const struct gw_ir_port *l4_port_find(const struct gw_ir *ir, const char *address, uint16_t port,
                                      bool udp);

/* ------------------------------------------------------------------------ */
/* The worker                                                                */

struct l4_conn;
struct l4_sess;
struct l4_rsock;

struct gw_l4_worker {
    struct gw_loop *loop;
    struct gw_l4_opts o;
    struct gw_l4_ep_table eps;
    uint32_t cursors[L4_CURSORS]; /* round robin, by backend name hash */
    uint64_t rnd;
    bool draining;
    struct l4_conn *conns;
    size_t nconns;
    /* UDP sessions: hash buckets plus an LRU list (most recent first) */
    struct l4_sess **buckets;
    struct l4_sess *lru_head, *lru_tail;
    size_t nsess;
    struct l4_rsock *rsocks;        /* UDP reply sockets, one per listening socket */
    struct gw_timer sweep;          /* checks them while there are any */
    uint8_t *dgram;                 /* L4_MMSG x L4_DGRAM_MAX scratch */
    struct gw_l4_counters mscratch; /* counts nobody reads (no o.counters) */
};

/* The counters of (pt, l, r) for a connection pinning pin; never NULL. */
static inline struct gw_l4_counters *
l4_counters(struct gw_l4_worker *w, void *pin, const struct gw_ir_port *pt,
            const struct gw_ir_listener *l, const struct gw_ir_l4 *r)
{
    struct gw_l4_counters *m = w->o.counters ? w->o.counters(pin, pt, l, r) : NULL;
    return m ? m : &w->mscratch;
}

/* Adds n to a counter only this thread writes. */
static inline void
l4_count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

uint32_t l4_rand(struct gw_l4_worker *w);
uint32_t *l4_cursor(struct gw_l4_worker *w, const struct gw_ir_backend *b);

/* conn.c */
void l4_conn_close_all(struct gw_l4_worker *w);

/* udp.c */
void l4_sess_close_all(struct gw_l4_worker *w);
/* The sweep timer's callback (data: the worker). */
void l4_rsock_sweep(struct gw_timer *t);

#endif /* GW_L4_INTERNAL_H */
