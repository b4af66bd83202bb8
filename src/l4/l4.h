/* SPDX-License-Identifier: Apache-2.0 */
/*
 * l4: the layer-4 data plane. TCPRoute (bytes spliced both ways between a
 * client and one weighted backend endpoint), UDPRoute (per-client sessions,
 * datagrams forwarded unchanged) and TLSRoute. On a TLS port the ClientHello
 * is peeked for its SNI, which selects the listener and its route; a
 * Passthrough listener gets the whole stream, ClientHello included, spliced
 * to the backend; a Terminate listener has TLS terminated here (its
 * certificate comes from the caller, see gw_l4_tls_ctx_fn) and the
 * decrypted bytes spliced to the backend over plain TCP. One port may mix
 * both modes (TLSRouteModeMixed).
 *
 * The proxy owns the listening sockets (it binds the ports of the IR with
 * SO_REUSEPORT per worker) and hands each accepted connection, or each
 * readable UDP socket, to the l4 state of the worker that owns the loop,
 * together with that worker's current snapshot pin. Every connection and
 * UDP session takes its own reference on the pin and drops it when it ends:
 * a connection keeps the snapshot (and the upstream) it started with across
 * reloads.
 *
 * Threading: a struct gw_l4_worker belongs to the thread that runs its
 * loop; every function below, except the pure ones (marked), must be called
 * on that thread. All of them may run inside a loop callback.
 */
#ifndef GW_L4_H
#define GW_L4_H

#include <sys/socket.h>

#include <stdatomic.h>

#include "base/base.h"
#include "ir/ir.h"
#include "loop/loop.h"

struct gw_l4_worker;

/* Takes or drops one reference on the caller's snapshot pin (the opaque
 * pointer passed with each connection). */
typedef void (*gw_l4_pin_fn)(void *pin);

struct ssl_ctx_st;

/* The server SSL_CTX that terminates TLS for listener l of the snapshot
 * pinned by pin (borrowed: it lives as long as the pin; l4 takes its own
 * reference through SSL_new), or NULL when l has no usable certificate
 * (the connection is then reset). Called on the worker's thread. */
typedef struct ssl_ctx_st *(*gw_l4_tls_ctx_fn)(void *pin, const struct gw_ir_listener *l);

/*
 * The counters of one series (a route, else a listener, else a port) in
 * one worker: written by that worker only (relaxed load and store, no
 * lock), read by anyone (relaxed). A connection (UDP session) counts in
 * the series of the route it was given, from the moment it was given one;
 * one that ends before (ClientHello failed or timed out, unknown SNI, no
 * route) counts as accepted and closed at once in its listener's (port's).
 */
struct gw_l4_counters {
    atomic_uint_fast64_t accepted;         /* TCP/TLS connections; UDP sessions */
    atomic_uint_fast64_t closed;           /* of those, ended: active = accepted - closed */
    atomic_uint_fast64_t bytes_in;         /* read from clients (terminated TLS: plaintext) */
    atomic_uint_fast64_t bytes_out;        /* written to clients */
    atomic_uint_fast64_t dgrams_in;        /* UDP datagrams from clients forwarded */
    atomic_uint_fast64_t dgrams_out;       /* UDP datagrams to clients */
    atomic_uint_fast64_t connect_failures; /* upstream connects failed (UDP: refused) */
};

/* The counters of the series of route r (NULL: none) of listener l (NULL:
 * none matched) of port pt, in the worker that calls, for a connection of
 * the snapshot pinned by pin (they live as long as the pin), or NULL
 * (l4 counts into a scratch struct then). Called on the worker's thread
 * once per connection or session: no lock, no string. */
typedef struct gw_l4_counters *(*gw_l4_counters_fn)(void *pin, const struct gw_ir_port *pt,
                                                    const struct gw_ir_listener *l,
                                                    const struct gw_ir_l4 *r);

struct gw_l4_opts {
    unsigned connect_timeout_ms; /* upstream TCP connect */
    unsigned idle_timeout_ms;    /* TCP/TLS: no byte either way for this long */
    unsigned hello_timeout_ms;   /* TLS: whole ClientHello (and handshake) */
    unsigned udp_idle_ms;        /* UDP session without a datagram either way */
    unsigned udp_max_sessions;   /* per worker; the least recently used is evicted */
    unsigned max_conns;          /* TCP/TLS per worker; 0: unlimited */
    /* Passive ejection, as the HTTP side does it: this many consecutive
     * connect failures eject an endpoint for eject_ms (doubling per repeat,
     * at most 16x). 0: off. */
    unsigned eject_consecutive;
    unsigned eject_ms;
    gw_l4_pin_fn pin_ref, pin_unref; /* NULL: pins are not counted */
    gw_l4_tls_ctx_fn tls_ctx;        /* NULL: Terminate listeners reset */
    gw_l4_counters_fn counters;      /* NULL: not counted */
};

/* Defaults: connect 5 s, idle 1 h, ClientHello 10 s, UDP idle 60 s, 4096
 * UDP sessions, no connection cap, ejection after 5 failures for 30 s, no
 * pin callbacks. Pure. */
void gw_l4_opts_default(struct gw_l4_opts *o);

/* Creates the l4 state of one worker on loop (heap; the caller's). Never
 * fails. */
struct gw_l4_worker *gw_l4_worker_new(struct gw_loop *loop, const struct gw_l4_opts *o);

/*
 * Closes every connection and session at once (clients see a reset) and
 * frees w. Deferred loop callbacks that still run afterwards (gw_io_close)
 * never touch w. NULL is fine.
 */
void gw_l4_worker_free(struct gw_l4_worker *w);

/* Open TCP/TLS connections plus UDP sessions (drain waits for zero). */
size_t gw_l4_worker_active(const struct gw_l4_worker *w);

/* Drain: UDP sessions close now and no new ones start; TCP connections
 * keep going until they end or gw_l4_worker_free. */
void gw_l4_worker_drain(struct gw_l4_worker *w);

/*
 * Whether l4 serves port pt (pure): a UDP port; or a TCP port whose
 * listeners are all TCP or TLS, in either mode (a port mixing in HTTP or
 * HTTPS belongs to the HTTP side).
 */
bool gw_l4_port_is_served(const struct gw_ir_port *pt);

/*
 * A TCP connection accepted on (address, port) of snapshot ir, pinned by
 * pin. l4 owns fd from here on (always: on any failure it is reset and
 * closed). peer may be NULL.
 */
void gw_l4_accept(struct gw_l4_worker *w, void *pin, const struct gw_ir *ir, const char *address,
                  uint16_t port, int fd, const struct sockaddr_storage *peer);

/*
 * The UDP socket fd bound to (address, port) is readable: reads a bounded
 * batch of datagrams and forwards each through its client's session (new
 * sessions pin pin and route on ir). fd stays the caller's; sessions keep
 * their own duplicate of it for replies, so closing it is always safe.
 */
void gw_l4_udp_input(struct gw_l4_worker *w, void *pin, const struct gw_ir *ir, const char *address,
                     uint16_t port, int fd);

/*
 * The caller is about to close its UDP listening socket fd (its listener
 * is gone): the sessions replying through it end now, and with them l4's
 * duplicate of it, so the socket leaves its SO_REUSEPORT group with the
 * caller's close. Otherwise it would stay bound until the next sweep (up
 * to a second), taking its hash share of the datagrams of a listener added
 * back on the same address and port with nobody reading them. An fd l4
 * never saw is fine.
 */
void gw_l4_udp_close(struct gw_l4_worker *w, int fd);

/* ------------------------------------------------------------------------ */
/* Upstream endpoints (ep.c): shared with the HTTP side                      */

/*
 * One upstream address as a worker knows it, with its passive ejection
 * state. Entries live as long as their table (a worker's), not a
 * snapshot, so ejection survives reloads. The HTTP side's endpoint struct
 * starts with one (and adds its pools).
 */
struct gw_l4_ep {
    char ip[48];
    uint16_t port;
    struct sockaddr_storage sa;
    socklen_t salen;
    bool sa_ok;      /* ip:port parsed into sa */
    unsigned consec; /* consecutive failures */
    unsigned ejections;
    uint64_t ejected_until;
};

/* Entries by ip:port: open addressing over heap entries (pointers stay
 * valid while the table lives). */
struct gw_l4_ep_table {
    struct gw_l4_ep **slots;
    size_t cap, n;
    size_t size; /* of an entry */
};

/* An empty table whose entries are size bytes (>= sizeof(struct
 * gw_l4_ep): a struct gw_l4_ep, then the caller's fields, zeroed). */
void gw_l4_ep_table_init(struct gw_l4_ep_table *t, size_t size);
/* Frees every entry (what the caller's fields hold is the caller's). */
void gw_l4_ep_table_release(struct gw_l4_ep_table *t);
/* Finds or adds ip:port (ip NUL-terminated; one too long to keep leaves
 * sa_ok false). Never NULL; valid until the table's release. */
struct gw_l4_ep *gw_l4_ep_table_get(struct gw_l4_ep_table *t, const char *ip, uint16_t port);

/*
 * Passive ejection after an attempt on ep (both data planes' policy):
 * consecutive failures in a row eject ep for eject_ms, doubled per repeat
 * up to 16x; a success clears the count, and the doubling once ep has
 * stayed in for 10 x eject_ms. consecutive 0: never ejects. Pure.
 */
void gw_l4_ep_report(struct gw_l4_ep *ep, bool failed, unsigned consecutive, unsigned eject_ms,
                     uint64_t now);

/* Whether ep is ejected at now. Pure. */
static inline bool
gw_l4_ep_is_ejected(const struct gw_l4_ep *ep, uint64_t now)
{
    return ep->ejected_until > now;
}

/* ------------------------------------------------------------------------ */
/* Pure parts (any thread)                                                   */

#define GW_L4_HELLO_MAX 16384 /* ClientHello bytes peeked at most */
#define GW_L4_SNI_MAX   255

/*
 * Reads the SNI host name from the start of a TLS stream: p[0..n) are the
 * first bytes the client sent (one or more TLS records; the ClientHello may
 * span several). On success, sni receives the host name, lowercased,
 * NUL-terminated (cap >= GW_L4_SNI_MAX + 1), or "" when the ClientHello
 * carries no server_name; returns 0. GW_EAGAIN: need more bytes;
 * GW_EPARSE: not a TLS ClientHello, or malformed; GW_ELIMIT: the
 * ClientHello is longer than GW_L4_HELLO_MAX or the name than
 * GW_L4_SNI_MAX. Never reads past p + n.
 */
int gw_l4_sni_parse(const uint8_t *p, size_t n, char *sni, size_t cap);

/*
 * Whether an SNI matches a Gateway API hostname: NULL or "*" matches
 * anything (an empty SNI included); "*.example.com" matches names with one
 * or more labels before ".example.com"; anything else matches exactly
 * (ASCII case-insensitively). Pure.
 */
bool gw_l4_host_matches(const char *pattern, const char *sni);

/*
 * The TLSRoute for sni on port pt: the first listener (most specific
 * hostname first, as the IR orders them) that is TLS (Passthrough or
 * Terminate: the caller looks at lis->tls), matches sni, and has a route
 * matching it (routes in IR order: exact, then wildcards by longest suffix,
 * then any). NULL when nothing matches. *lis (may be NULL) receives the
 * listener. Pure.
 */
const struct gw_ir_l4 *gw_l4_route_by_sni(const struct gw_ir_port *pt, const char *sni,
                                          const struct gw_ir_listener **lis);

/* The route for a TCP or UDP port: its first TCP (UDP) listener's first
 * route; NULL when none. *lis (may be NULL) receives that listener, or the
 * first TCP (UDP) listener when none has a route. Pure. */
const struct gw_ir_l4 *gw_l4_route_plain(const struct gw_ir_port *pt,
                                         const struct gw_ir_listener **lis);

#endif /* GW_L4_H */
