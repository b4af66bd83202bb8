/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy internals: the worker, the downstream (client) and upstream
 * connections, the per-worker endpoint table and pools, and the pure
 * helpers (head rewriting, framing decisions, balancing) the unit tests
 * drive directly. Shared inside src/proxy only.
 *
 * Memory: a worker owns its connections; a connection owns its buffers
 * (allocated once, reused by every request on it). Nothing on the request
 * path allocates except when a buffer first grows.
 */
#ifndef GW_PROXY_INTERNAL_H
#define GW_PROXY_INTERNAL_H

#include <sys/socket.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "h1/h1.h"
#include "ir/ir.h"
#include "l4/l4.h"
#include "loop/loop.h"
#include "proxy/proxy.h"
#include "route/route.h"

/* ------------------------------------------------------------------------ */
/* Buffers: bytes live in p[off..len); consumed from the front.             */

struct px_buf {
    char *p;
    size_t off, len, cap, max;
};

void px_buf_init(struct px_buf *b, size_t max);
void px_buf_release(struct px_buf *b);

static inline size_t
px_buf_avail(const struct px_buf *b)
{
    return b->len - b->off;
}

static inline const char *
px_buf_data(const struct px_buf *b)
{
    return b->p + b->off;
}

static inline void
px_buf_consume(struct px_buf *b, size_t n)
{
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
}

/* Makes room for at least want more bytes at the end (compacting, then
 * growing up to max). Returns the free space (may be less than want). */
size_t px_buf_reserve(struct px_buf *b, size_t want);
/* Appends; 0 or GW_ELIMIT when max would be passed (nothing written). */
int px_buf_append(struct px_buf *b, const void *p, size_t n);
int px_buf_append_str(struct px_buf *b, struct gw_str s);

static inline int
px_buf_append_lit(struct px_buf *b, const char *s)
{
    return px_buf_append_str(b, gw_str_from(s));
}

int px_buf_append_u64(struct px_buf *b, uint64_t v);
/* n bytes of room at the back as one span: where to write them, or NULL
 * when they would take the buffer past its maximum. px_buf_commit then
 * counts what was written (at most n). For heads built in one go. */
char *px_buf_span(struct px_buf *b, size_t n);

static inline void
px_buf_commit(struct px_buf *b, size_t n)
{
    b->len += n;
}

/* ------------------------------------------------------------------------ */
/* A worker's freed blocks of one kind and size, kept for the next request   */
/* (stream px_dconns, virtual upstream streams): linked through their first  */
/* bytes. None are kept in sanitizer builds, where a freed block must stay   */
/* poisoned for use-after-free to show.                                      */

struct px_freelist {
    void *head;
    unsigned n;
};

#if defined(__SANITIZE_ADDRESS__)
#define PX_FREELIST_KEEP 0
#else
#define PX_FREELIST_KEEP 1
#endif

/* A zeroed block of size bytes: a kept one, or a new one. */
static inline void *
px_freelist_take(struct px_freelist *f, size_t size)
{
    void *p = f->head;
    if (!p)
        return gw_xcalloc(1, size);
    memcpy(&f->head, p, sizeof(void *));
    f->n--;
    memset(p, 0, size);
    return p;
}

/* Keeps p (from px_freelist_take, done with) while fewer than max are kept,
 * else frees it. */
static inline void
px_freelist_put(struct px_freelist *f, void *p, unsigned max)
{
    if (!PX_FREELIST_KEEP || f->n >= max) {
        free(p);
        return;
    }
    memcpy(p, &f->head, sizeof(void *));
    f->head = p;
    f->n++;
}

/* Frees every kept block. */
static inline void
px_freelist_clear(struct px_freelist *f)
{
    while (f->head) {
        void *p = f->head;
        memcpy(&f->head, p, sizeof(void *));
        free(p);
    }
    f->n = 0;
}

/* ------------------------------------------------------------------------ */
/* Sizes                                                                     */

/* RequestMirror filters served per rule; more are ignored (the CRD allows
 * at most 16 filters per rule). */
#define PX_MAX_MIRRORS 8
#define PX_READ_CHUNK  16384
#define PX_IN_MAX      (80 * 1024) /* a 64 KiB head plus slack */
#define PX_OUT_MAX     (256 * 1024)
#define PX_HIGH        (64 * 1024)       /* stop reading the other side above this */
#define PX_UDP_RCVBUF  (2 * 1024 * 1024) /* UDP listening sockets (the kernel doubles it) */
#define PX_REPLAY_MAX  (64 * 1024)       /* request bytes kept for a retry */
#define PX_MAX_HEADERS 100
#define PX_WORK_MAX    256 /* headers after filters */
#define PX_LINGER_MS   2000
#define PX_MIN_SEND    (16 * 1024) /* bytes a client must take per send timeout */

/* ------------------------------------------------------------------------ */
/* Pure helpers (forward.c): what goes on the wire.                         */

/* Classes of field names (px_field_class): the one list of the names the
 * proxy forwards specially, for HTTP/1.1 and HTTP/2 alike. */
enum {
    PX_FIELD_HOP = 1u << 0,     /* hop-by-hop (RFC 9110 7.6.1, RFC 9113 8.2.2):
                                 * connection, keep-alive, proxy-connection, te,
                                 * transfer-encoding, upgrade, http2-settings */
    PX_FIELD_UPGRADE = 1u << 1, /* upgrade (also PX_FIELD_HOP) */
    PX_FIELD_LENGTH = 1u << 2,  /* content-length */
    PX_FIELD_HOST = 1u << 3,    /* host */
    PX_FIELD_TRAILER = 1u << 4, /* trailer */
    PX_FIELD_EXPECT = 1u << 5,  /* expect */
    PX_FIELD_XFF = 1u << 6,     /* x-forwarded-for */
    PX_FIELD_OURS = 1u << 7,    /* x-forwarded-host, -proto: the proxy writes them */
};

/* What may not stand in a forwarded trailer section (RFC 9110 6.5.1):
 * framing, routing and hop-by-hop fields. */
#define PX_TRAILER_DROP (PX_FIELD_HOP | PX_FIELD_LENGTH | PX_FIELD_HOST | PX_FIELD_TRAILER)

/* The PX_FIELD_* classes of field name `name` (ASCII case ignored); 0 for
 * every other name. Pure. */
unsigned px_field_class(struct gw_str name);
/* px_field_class(name) has PX_FIELD_HOP. */
bool px_field_is_hop_by_hop(struct gw_str name);
/* A request or response trailer field named `name` may be passed on
 * (none of PX_TRAILER_DROP). */
bool px_trailer_is_forwarded(struct gw_str name);

/* True if s holds a CR, LF or NUL: bytes that would end a field or the
 * request line early (header injection, request smuggling, response
 * splitting). A word at a time. Pure. */
bool px_wire_is_unsafe(struct gw_str s);

/* What the formatters below refused to write for holding CR, LF or NUL. */
enum px_wire_what {
    PX_WIRE_REQUEST_FIELD,  /* a field of the upstream request (left out) */
    PX_WIRE_RESPONSE_FIELD, /* a field of the client response (left out) */
    PX_WIRE_TARGET,         /* the upstream request target (request refused) */
    PX_WIRE_HOST,           /* the upstream Host (request refused) */
    PX_WIRE_REASON,         /* a reason phrase (the standard one sent) */
    PX_WIRE_EXTRA,          /* a pre-formatted extra block (dropped whole) */
    PX_WIRE_NWHAT,
};

/* How many refusals of kind what, since the start (every worker; relaxed
 * atomics, any thread), and the label /metrics gives them
 * ("request_field"...; static storage). */
uint64_t px_wire_refused(enum px_wire_what what);
const char *px_wire_what_name(enum px_wire_what what);
/* Their sum. */
uint64_t px_wire_refused_total(void);

/* Splits a head the formatters here wrote (px_request_head_format,
 * px_response_head_format, px_local_response_format: a first line, then
 * "Name: value" lines, CRLF line ends, fields holding CR, LF or NUL
 * already left out) for the HTTP/2 codecs that turn it into HEADERS: our
 * own output, so split, not validated again as gw_h1_*_parse would. Looks
 * at most at p[0..max). *line: the first line without its end; hv[0..*nh):
 * views into p (values without surrounding spaces and tabs), at most maxh.
 * The head's length (through the empty line), GW_EAGAIN (not all there),
 * GW_ELIMIT (past max or maxh) or GW_EPROTO (a field line without a name
 * and colon). Pure. */
int px_head_split(const char *p, size_t n, size_t max, struct gw_str *line, struct gw_h1_header *hv,
                  size_t maxh, size_t *nh);

/* The request head sent upstream. */
struct px_req_out {
    const struct gw_h1_request *req;        /* the client's parsed head */
    struct gw_str path;                     /* path[?query] for the request line */
    struct gw_str host;                     /* Host value to send */
    struct gw_str client_ip;                /* appended to X-Forwarded-For */
    bool tls;                               /* X-Forwarded-Proto: https */
    bool upgrade;                           /* forward Upgrade (tunnel requested) */
    bool strip_expect;                      /* the proxy answers 100-continue itself */
    const struct gw_ir_header_mod *mods[2]; /* rule then backend; NULL skips */
    /* auth.c: fields added before the modifiers */
    const struct gw_h1_header *extra;
    size_t nextra;
    /* extauth.c: the client's fields of these names are left out (ASCII
     * case ignored), and extra2 added after extra. */
    const char *const *drop;
    size_t ndrop;
    const struct gw_h1_header *extra2;
    size_t nextra2;
    /* trace.c: "traceparent: ...\r\n[tracestate: ...\r\n]" replacing the
     * client's; empty when tracing is off (the client's go as they are) */
    struct gw_str trace;
};

/* Writes the whole upstream request head (request line to the final CRLF)
 * to out: hop-by-hop fields dropped, Host and X-Forwarded-* set, header
 * modifiers applied in order, framing re-serialised (one Content-Length or
 * Transfer-Encoding: chunked). A field whose name or value holds CR, LF or
 * NUL is left out (counted, logged at most once a second). 0, GW_ELIMIT
 * (out too small, too many fields after the modifiers), or GW_EINVAL (the
 * request target or Host holds CR, LF or NUL: nothing written; answer 502). */
int px_request_head_format(const struct px_req_out *r, struct px_buf *out);

/* How a response body reaches the client. */
enum px_rframe {
    PX_RF_NONE,    /* no body (HEAD, 1xx, 204, 304) */
    PX_RF_LENGTH,  /* Content-Length, copied as is */
    PX_RF_CHUNKED, /* chunked upstream, decoded and re-chunked */
    PX_RF_RECHUNK, /* close-delimited upstream, chunked to the client */
    PX_RF_CLOSE,   /* close-delimited to the client too (HTTP/1.0 client) */
    PX_RF_TUNNEL,  /* 101: bytes both ways */
};

struct px_rdecision {
    enum px_rframe frame;
    bool client_close; /* the client connection ends after this response */
};

/* The framing decision for a response to a client that speaks HTTP/1.minor
 * and asked for keep_alive. Pure. */
struct px_rdecision px_response_decide(const struct gw_h1_response *res, int client_minor,
                                       bool client_keep_alive);

struct px_rsp_out {
    const struct gw_h1_response *res;
    struct px_rdecision d;
    int client_minor;
    const struct gw_ir_header_mod *mods[3]; /* rule, backend, then compression */
    /* Extra fields appended verbatim (CORS), each "Name: value\r\n". */
    struct gw_str extra;
};

/* compress.c: CompressionPolicy (docs/policies.md). */
struct px_zip;
typedef void (*px_zip_emit_fn)(void *ctx, const char *p, size_t n);
/* The coding (enum gw_ir_coding) policy c picks for req's response from its
 * Accept-Encoding fields (client weights first, c's order among equals);
 * 0 for none, a HEAD or a request with Range. Pure. */
int px_zip_request(const struct gw_ir_compress *c, const struct gw_h1_request *req);
/* Whether response head res gets coded with coding (from px_zip_request):
 * its status, Content-Encoding, Content-Range, Cache-Control no-transform,
 * Content-Type and size. Yes: a new encoder (heap, px_zip_free) whose
 * px_zip_mod sets Content-Encoding, the merged Vary and a weak ETag (views
 * into res are copied); no: NULL. */
struct px_zip *px_zip_response(const struct gw_ir_compress *c, int coding,
                               const struct gw_h1_response *res);
/* The head fields that change; owned by z. */
const struct gw_ir_header_mod *px_zip_mod(const struct px_zip *z);
/* Codes p[0..n) and flushes (last: ends the coded stream), handing each
 * piece of output to emit (pieces of at most 16 KiB; zero-length ones
 * possible). 0 or GW_EINVAL. Runs in loop callbacks. */
int px_zip_write(struct px_zip *z, const char *p, size_t n, bool last, px_zip_emit_fn emit,
                 void *ctx);
/* NULL is fine. */
void px_zip_free(struct px_zip *z);

/* Writes the client response head. Fields holding CR, LF or NUL are left out
 * and an extra block that is not well-formed "Name: value\r\n" lines is
 * dropped whole (both counted, logged at most once a second). 0 or
 * GW_ELIMIT. */
int px_response_head_format(const struct px_rsp_out *r, struct px_buf *out);

/* A complete response generated by the gateway (errors, redirects). extra:
 * header lines (each ending CRLF) or empty; dropped whole (counted, logged)
 * if it holds NUL, a bare CR or LF, or an empty line. body may be empty. */
int px_local_response_format(struct px_buf *out, int status, struct gw_str extra,
                             struct gw_str body, bool close, bool head_only);

/* ------------------------------------------------------------------------ */
/* Endpoints, balancing and pools (lb.c)                                     */

struct px_uconn;
struct ssl_st;
struct px_uh2;
struct px_uh2_stream;
struct px_utls_cfg;
struct px_utls_cache;

/* One upstream address as a worker knows it: survives snapshots. The
 * address and the ejection state are l4's endpoint, shared (a cast of
 * &base gives the px_ep back: it is the first member). */
struct px_ep {
    struct gw_l4_ep base;
    /* pool of idle keep-alive connections, most recently used first */
    struct px_uconn *idle;
    unsigned nidle;
    unsigned active; /* requests in flight (P2C) */
    unsigned nsock;  /* sockets open to it from this worker (every use) */
    /* HTTP/2 sessions to this endpoint with streams in flight (up_h2.c);
     * idle ones wait in the pool above like any connection. */
    struct px_uh2 *h2;
    struct px_shep *sh; /* the state every worker shares (bpolicy.c); NULL: none */
};

struct px_ep_table {
    struct gw_l4_ep_table base; /* of struct px_ep entries */
    struct px_shtab *sh;        /* the proxy's shared endpoint states; NULL: none */
};

void px_ep_table_init(struct px_ep_table *t);
void px_ep_table_release(struct px_ep_table *t);
/* Finds or adds the endpoint ip:port (ip NUL-terminated). Never NULL. */
struct px_ep *px_ep_table_get(struct px_ep_table *t, const char *ip, uint16_t port);

/* Per-backend state of a worker: the round-robin cursor and the backend's
 * endpoints, in a plain array indexed by the IR backend's dense id
 * (gw_ir_index): one cache line per request, no probe. Filled on first use
 * in a snapshot generation (a request of an older, still pinned snapshot
 * refills the slot for its own generation); cleared on each new snapshot. */
struct px_bstate {
    uint64_t gen;       /* snapshot generation the endpoints belong to; 0: empty */
    struct px_ep **eps; /* n > 1: the endpoints, in IR order (heap) */
    struct px_ep *one;  /* n == 1: the endpoint, inline (no second miss) */
    uint32_t n;
    uint32_t cursor;
};

/* What px_bstate.gen holds for an XBackend: the snapshot generation and the
 * version of the answer its endpoints were copied from, together (the
 * struct tiles cache lines, no room for a second word). */
static inline uint64_t
px_bstate_dns_gen(uint64_t gen, uint64_t version)
{
    return gen << 32 | (version & 0xffffffffu);
}

/* The endpoints of a filled bs (n of them). */
static inline struct px_ep *const *
px_bstate_eps(const struct px_bstate *bs)
{
    return bs->n == 1 ? &bs->one : bs->eps;
}

struct px_rr_table {
    struct px_bstate *v; /* [cap], zeroed past what was used */
    size_t cap;
};

void px_rr_table_init(struct px_rr_table *t);
void px_rr_table_release(struct px_rr_table *t);
/* Empties every slot (keeps the memory); the cursors restart at 0. */
void px_rr_table_clear(struct px_rr_table *t);
/* The state of backend id (zeroed when new; grows the table); valid until
 * the next call. */
struct px_bstate *px_rr_table_slot(struct px_rr_table *t, uint32_t id);

/* ------------------------------------------------------------------------ */
/* Active health checks (health.c)                                           */

/* The health of one (backend, endpoint), shared by every worker and kept
 * across snapshots (the proxy's registry). Workers read `up` only. */
struct px_hc_ep {
    atomic_bool up; /* starts true: a new endpoint is healthy until its checks fail */
    atomic_uint_fast64_t checks, failures, transitions;
    atomic_uint last; /* the last check's outcome (health.c) */
    atomic_int last_code;
    char *backend; /* ns/svc:port */
    char *ip;
    uint16_t port;
    /* p->hc_mu */
    unsigned refs; /* views (struct px_hc) naming it */
    const void *mark;
    struct px_hc_ep *next;
    /* the checker thread's */
    uint64_t due;
    uint32_t ok_run, fail_run;
    bool busy;
};

struct px_hc_target {
    struct px_hc_ep *ep;
    const struct gw_ir_healthcheck *cfg;
};

/* A snapshot's view of the health states: by IR backend id, an array
 * parallel to the backend's endpoints (NULL: the backend has no check), and
 * the distinct states to check. Refcounted: the snapshot, the checker and
 * each probe in flight hold references; the IR is pinned for cfg. */
struct px_hc {
    atomic_uint refs;
    struct gw_proxy *p;
    struct gw_ir *ir;
    uint32_t nb;
    struct px_hc_ep ***by_backend;
    struct px_hc_target *targets;
    size_t ntargets;
};

/* The view of ir (indexed) with its states found in or added to p's
 * registry; NULL when no backend of ir has a check. Control thread. */
struct px_hc *px_hc_new(struct gw_proxy *p, struct gw_ir *ir);
/* Any thread; the last reference drops the states no view names. NULL ok. */
void px_hc_unref(struct px_hc *hc);
/* Makes hc (NULL: none) the view the checker works on. Control thread. */
void px_hc_publish(struct gw_proxy *p, struct px_hc *hc);
/* The checker thread (its own gw_loop): start (0 or a negative GW_E*) and
 * stop (joins it; in-flight probes are dropped). Control thread. */
int px_hc_checker_start(struct gw_proxy *p);
void px_hc_checker_stop(struct gw_proxy *p);
/* Frees every state (gw_proxy_free, after the checker stopped). */
void px_hc_registry_free(struct gw_proxy *p);
/* gatehouse_endpoint_health and friends. Any thread. 0 or GW_ELIMIT. */
int px_hc_metrics_format(const struct gw_proxy *p, struct gw_buf *out);

/* The health states of backend b's endpoints in hc (NULL: no check). */
static inline struct px_hc_ep *const *
px_hc_states(const struct px_hc *hc, const struct gw_ir_backend *b)
{
    return hc && b->id < hc->nb ? hc->by_backend[b->id] : NULL;
}

static inline bool
px_hc_is_down(struct px_hc_ep *const *hs, size_t i)
{
    return hs && !atomic_load_explicit(&hs[i]->up, memory_order_relaxed);
}

/*
 * Chooses an endpoint index among n (eps[i] is endpoint i's state) by round
 * robin (*cursor advanced) or power of two choices (rnd: two random draws),
 * skipping ejected ones (gw_l4_ep_is_ejected) and those whose active health
 * check fails (hs[i], hs NULL: no check) unless every one is out (panic
 * mode: every endpoint is fair game). Pure. Returns the index, or -1 when
 * n == 0.
 */
int px_lb_pick(struct px_ep *const *eps, struct px_hc_ep *const *hs, size_t n, enum gw_proxy_lb lb,
               uint32_t *cursor, uint64_t rnd, uint64_t now);

/* Outcome bookkeeping for passive ejection (gw_l4_ep_report). */
void px_ep_report(struct px_ep *ep, bool failed, unsigned consecutive, unsigned eject_ms,
                  uint64_t now);

/* ------------------------------------------------------------------------ */
/* XBackend resolution (dns.c)                                               */

#define PX_DNS_IP_LEN 46 /* INET6_ADDRSTRLEN */

struct px_resolver;

/* One resolved hostname, in the proxy's registry from the first snapshot
 * naming it until gw_proxy_free. */
struct px_dns_name {
    char *host;
    pthread_mutex_t mu;         /* ips and n: written by the resolver, read by workers */
    char (*ips)[PX_DNS_IP_LEN]; /* the answer, sorted (heap); NULL when empty */
    size_t n;
    atomic_uint_fast64_t version;              /* bumped under mu at every change of the answer */
    atomic_bool resolved;                      /* an answer (maybe empty) came */
    atomic_uint_fast64_t ok, nxdomain, failed; /* resolutions by result */
    /* p->dns_mu */
    unsigned refs; /* views (struct px_dns) naming it */
    struct px_dns_name *next;
    /* the resolver thread's (busy and due read under p->dns_mu too) */
    bool busy;    /* a query is out */
    uint64_t due; /* when to resolve (the resolver's loop clock); 0: at once */
    struct px_resolver *resolver;
    unsigned backoff_ms;
    bool failing;
};

/* A snapshot's names by IR backend id (NULL: not an XBackend). */
struct px_dns {
    uint32_t nb;
    struct px_dns_name *by_backend[];
};

/* The view of ir (indexed), its names found in or added to p's registry
 * (new ones are resolved at once); NULL when no backend of ir has a
 * dns_host. Control thread. */
struct px_dns *px_dns_new(struct gw_proxy *p, const struct gw_ir *ir);
/* Control thread (reclaim). NULL is fine. */
void px_dns_free(struct gw_proxy *p, struct px_dns *d);
/* The resolver thread (its own gw_loop, c-ares on it): start (0, GW_EINVAL
 * for a bad p->o.dns_servers, or GW_ENOMEM) and stop (joins it). Control
 * thread. */
int px_dns_start(struct gw_proxy *p);
void px_dns_stop(struct gw_proxy *p);
/* Frees every name (gw_proxy_free, after px_dns_stop). */
void px_dns_registry_free(struct gw_proxy *p);
/* gatehouse_dns_resolutions_total, gatehouse_dns_endpoints. Any thread. */
int px_dns_metrics_format(const struct gw_proxy *p, struct gw_buf *out);

static inline struct px_dns_name *
px_dns_of(const struct px_dns *d, const struct gw_ir_backend *b)
{
    return d && b->id < d->nb ? d->by_backend[b->id] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Backend policies: CircuitBreakerPolicy, LoadBalancerPolicy (bpolicy.c)    */

/* One endpoint (address:port) as all workers share it: made the first time
 * any snapshot or worker names it, freed with the proxy. */
struct px_shep {
    _Alignas(64) atomic_uint conns; /* upstream sockets open, every worker */
    atomic_uint requests;           /* attempts in flight for policy backends */
    atomic_uint retries;            /* of which retries, under a retry limit */
    uint64_t first_seen_ms;         /* gw_loop_now clock; 0: there at startup */
    uint16_t port;
    char ip[46];
};

struct px_shtab {
    pthread_mutex_t mu; /* inserts and finds; workers only when a px_ep is made */
    struct px_shep **slots;
    size_t cap, n;
    bool started; /* the first snapshot's endpoints are registered */
};

void px_shtab_init(struct px_shtab *t);
void px_shtab_release(struct px_shtab *t);
/* Finds or adds ip:port. Any thread (locks). Never NULL; valid until
 * px_shtab_release. */
struct px_shep *px_shtab_get(struct px_shtab *t, const char *ip, uint16_t port);

struct px_bpol_table {
    const struct gw_ir_endpoint *endpoints; /* the set it was built for */
    struct gw_route_maglev mg;
};

/* A snapshot's consistent-hash tables, by backend id (NULL: none). */
struct px_bpol {
    struct px_bpol_table *tables;
    size_t ntables, tcap;
    size_t n;
    const struct gw_route_maglev *v[];
};

/* Registers every endpoint of ir's HTTP backends in t (the first call:
 * as there at startup) and builds the Maglev tables of its consistent-hash
 * backends; NULL when there is none. Control thread (publish). */
struct px_bpol *px_bpol_new(struct px_shtab *t, const struct gw_ir *ir);
void px_bpol_free(struct px_bpol *bp); /* NULL is fine */

/* The limits of gatehouse_circuit_breaker_open_total. */
enum px_cb_limit { PX_CB_CONNECTIONS, PX_CB_REQUESTS, PX_CB_RETRIES, PX_CB__COUNT };

/* Counts an attempt (a retry if retry) in flight to sh under c's limits
 * (c NULL: counted, never refused). -1 when admitted (undo with
 * px_cb_put(sh, px_cb_counts_retry(c, retry))), else the enum px_cb_limit
 * that refused it. Any worker, lock-free. */
int px_cb_take(struct px_shep *sh, const struct gw_ir_circuit *c, bool retry);
void px_cb_put(struct px_shep *sh, bool retry);
bool px_cb_counts_retry(const struct gw_ir_circuit *c, bool retry);

/* What a policy pick needs of the request. */
struct px_lb_req {
    const struct gw_ir_lb *lb;        /* NULL: round robin */
    const struct gw_route_maglev *mg; /* consistent hash: the backend's table */
    bool hashed;                      /* the request has the key: hash is set */
    uint64_t hash;
    struct px_hc_ep *const *hs; /* active health states (px_hc_states); NULL: none */
};

/*
 * Chooses an endpoint index among n (eps in IR order) for policy q: the
 * Maglev owner of the key's hash (an ejected owner: the next slot's), least
 * request by power of two choices over the in-flight counts all workers
 * share, or round robin (*cursor); the last two honour slow start. Without
 * a key a consistent-hash backend is balanced round robin. Ejected
 * endpoints are skipped unless every one is. *rng: the caller's random
 * state. Pure but for reading the shared counts. -1 when n == 0.
 */
int px_lb_pick_policy(struct px_ep *const *eps, size_t n, const struct px_lb_req *q,
                      uint32_t *cursor, uint64_t *rng, uint64_t now);
/* The key hash of lb (a consistent-hash policy) for a request with headers
 * h from peer_ip: true with *out, false when the request has no key. */
bool px_lb_key_hash(const struct gw_ir_lb *lb, const struct gw_h1_header *h, size_t nh,
                    const char *peer_ip, uint64_t *out);

/* ------------------------------------------------------------------------ */
/* Session persistence (session.c)                                           */

#define PX_SESSION_TOKEN_LEN 50 /* base64url characters */

/* What a session token says (times in ms since the epoch). */
struct px_session_token {
    uint64_t tag;        /* the endpoint (px_session_tag) */
    uint64_t created_ms; /* session start: absoluteTimeout runs from it */
    uint64_t used_ms;    /* last use: idleTimeout runs from it */
};

/* A rule's signing key, derived from its IR key_id (heap; any thread may
 * use it at once: it is read-only). px_skey_free wipes and frees it. */
struct px_skey;
struct px_skey *px_skey_new(const char *key_id);
void px_skey_free(struct px_skey *key);
/* The tag naming endpoint ip:port of backend `backend` under key. Pure. */
uint64_t px_session_tag(const struct px_skey *key, const char *backend, const char *ip,
                        uint16_t port);
/* Writes tok, signed with key, as PX_SESSION_TOKEN_LEN characters (no NUL)
 * to out. Pure. */
void px_session_token_format(const struct px_skey *key, const struct px_session_token *tok,
                             char out[PX_SESSION_TOKEN_LEN]);
/* Reads a token from s and checks its signature under key. 0 (*tok set) or
 * GW_EINVAL (malformed, another key, forged). Pure; any bytes. */
int px_session_token_parse(const struct px_skey *key, struct gw_str s,
                           struct px_session_token *tok);
/* True while tok is live at wall time now (ms): within s's absoluteTimeout
 * and idleTimeout, and not from too far in the future (a minute of clock
 * skew between replicas is allowed). */
bool px_session_token_is_live(const struct gw_ir_session *s, const struct px_session_token *tok,
                              uint64_t now);
/* Wall-clock ms (tokens outlive processes and cross replicas). */
uint64_t px_session_now_ms(void);
/* The next value of cookie `name` in a Cookie field value v from *pos
 * (start at 0): true with *val (a view into v, quotes removed) and *pos
 * advanced, false when there is none left. Pure. */
bool px_session_cookie_next(struct gw_str v, struct gw_str name, size_t *pos, struct gw_str *val);
/* The first live token of session s the request fields h[0..nh) carry
 * (cookie or header, per s->type), checked under key at wall time now;
 * the first 4 candidates only (each costs an HMAC). */
bool px_session_request_token(const struct gw_ir_session *s, const struct px_skey *key,
                              const struct gw_h1_header *h, size_t nh, uint64_t now,
                              struct px_session_token *tok);
/* Appends the response field carrying token: "Set-Cookie: name=token;
 * Path=..; [Max-Age=..;] HttpOnly; SameSite=Lax[; Secure]" (Max-Age, what
 * is left of absoluteTimeout from created, only for a Permanent cookie) or
 * "name: token", with CRLF. 0 or GW_ELIMIT. */
int px_session_field_format(const struct gw_ir_session *s, const char token[PX_SESSION_TOKEN_LEN],
                            uint64_t created, uint64_t now, bool secure, struct px_buf *out);

/* A snapshot's keys (by gw_ir_session id) and endpoint tags (by backend
 * id, in endpoint order; NULL for backends of no session rule). Built at
 * publish, read-only after. */
struct px_sess {
    struct px_skey **keys;
    size_t nkeys;
    uint64_t **tags;
    size_t ntags;
};

/* For an indexed ir; NULL when no route has session persistence. */
struct px_sess *px_sess_new(const struct gw_ir *ir);
void px_sess_free(struct px_sess *ss);
/* The backend of r (index) one of whose endpoints (*endpoint) tag names,
 * or -1. */
int px_sess_find(const struct px_sess *ss, const struct gw_ir_route *r, uint64_t tag,
                 size_t *endpoint);
/* The tag of endpoint `endpoint` of be, 0 if it has none. */
uint64_t px_sess_tag_of(const struct px_sess *ss, const struct gw_ir_backend *be, size_t endpoint);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */

/* What gw_proxy_publish builds once per IR: shared, immutable, refcounted. */
struct px_tls;

struct px_snap {
    atomic_uint refs;
    uint64_t gen;
    struct gw_proxy *p;
    struct px_snap *dead_next; /* on p->dead, waiting for the control thread */
    struct gw_ir *ir;
    struct gw_router *router;
    struct px_tls *tls;   /* HTTPS ports' SSL_CTXs (down_tls.c); may be NULL */
    char *tls_errors;     /* listeners whose certificates did not load; NULL if none */
    struct px_mtab *mtab; /* request counters of this snapshot (metrics.c) */
    struct px_sess *sess; /* session persistence keys and tags; NULL if none */
    struct px_rl *rl;     /* rate limit tables by gw_ir_ratelimit id; NULL if none */
    struct px_hc *hc;     /* health states by backend id; NULL if no check */
    struct px_bpol *bpol; /* consistent-hash tables by backend id; NULL if none */
    struct px_dns *dns;   /* XBackend names by backend id (dns.c); NULL if none */
    struct px_rb *rb;     /* retry budget tables by backend id; NULL if none */
    struct px_jwks *jwks; /* remote JWKS sources by id (jwks.c); NULL if none */
};

/* Drops a reference (any thread). The last one frees nothing: the snapshot
 * goes on p->dead and p->evfd is poked, so that the control thread frees it
 * (gw_proxy_reclaim), never a worker between two requests. */
void px_snap_unref(struct px_snap *s);

/* A worker's pin on a snapshot: plain counter, no atomics per request. */
struct px_wsnap {
    struct px_snap *s;
    unsigned refs;
    struct px_worker *w;
};

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */

#define PX_LAT_BUCKETS 12
/* Listening addresses connections are counted by; later ones share the
 * last slot ("other"). */
#define PX_MAX_MPORTS 128

/* One worker's counters that do not depend on the snapshot. Requests by
 * route live in the snapshot's px_mtab (metrics.c). */
struct px_metrics {
    _Alignas(64) atomic_uint_fast64_t unattr[6]; /* no snapshot: 1xx..5xx, [0] other */
    atomic_uint_fast64_t local[6];               /* answered by the gateway */
    atomic_uint_fast64_t conns_total[PX_MAX_MPORTS], conns_active[PX_MAX_MPORTS];
    atomic_uint_fast64_t l4_total[PX_MAX_MPORTS]; /* handed to l4 */
    atomic_uint_fast64_t up_conns_total, up_reuse, up_connect_fail, retries, ejections;
    /* upstream connects not made: the endpoint's limit, the fd budget */
    atomic_uint_fast64_t up_refused_ep, up_refused_fds;
    atomic_uint_fast64_t ratelimited;           /* requests answered 429 by a RateLimitPolicy */
    atomic_uint_fast64_t cb_open[PX_CB__COUNT]; /* answered 503 by a CircuitBreakerPolicy */
    /* auth.c: requests refused by JWTPolicy, BasicAuthPolicy, APIKeyPolicy
     * (401), answered 503 for the worker's password-hash budget, and the
     * worker's JWT cache counters (copied after each verification). */
    atomic_uint_fast64_t auth_refused[3], auth_busy;
    atomic_uint_fast64_t jwt_cache_hits, jwt_cache_misses;
    /* Global limits (ratelimit_global.c, redis.c): Redis's verdicts, the
     * requests let through or refused by failureMode, error replies and
     * lost connections, waits past the timeout, connections made, and
     * whether this worker's connection is up (a gauge). */
    atomic_uint_fast64_t rlg_allowed, rlg_refused, rlg_fail_open, rlg_fail_closed;
    atomic_uint_fast64_t redis_errors, redis_timeouts, redis_connects, redis_up;
    /* ExtAuthPolicy (extauth.c): answers that allowed or denied, calls that
     * failed (connection, unreadable answer) or timed out, and requests
     * let through by failureMode Open. */
    atomic_uint_fast64_t ea_allowed, ea_denied, ea_error, ea_timeout, ea_fail_open;
    atomic_uint_fast64_t lat_bucket[PX_LAT_BUCKETS + 1];
    atomic_uint_fast64_t lat_sum_us;
    atomic_uint_fast64_t lat_count;
    atomic_uint_fast64_t h2_limited[3]; /* enum px_h2_limit */
    atomic_uint_fast64_t sa_refused[4]; /* SourceAddressPolicy: enum px_edge_proto */
    atomic_uint_fast64_t pp_refused[4]; /* PROXY protocol: enum px_edge_pp_reason */
    atomic_uint_fast64_t rb_refused;    /* retries not made: an XBackendTrafficPolicy budget */
};

/* Why down_h2.c ended an HTTP/2 stream for a limit. */
enum px_h2_limit {
    PX_H2_LIMIT_HEADER_TIMEOUT, /* no request head or body start in time */
    PX_H2_LIMIT_OVERSIZED,      /* header list or trailers past the limit */
    PX_H2_LIMIT_MEMORY,         /* decoded fields held past a cap */
};

/* Upstream latency bucket bounds, milliseconds. */
extern const unsigned px_lat_bounds_ms[PX_LAT_BUCKETS];

/* ------------------------------------------------------------------------ */
/* Workers and connections                                                   */

struct px_listener {
    struct px_listener *next;
    struct gw_io io;
    struct px_worker *w;
    char address[64];
    uint16_t port;
    bool keep; /* reconcile mark */
    bool tls;
    bool udp;       /* a UDP socket (always l4) */
    bool l4;        /* TCP, UDP or TLS passthrough: handed to w->l4 */
    unsigned mport; /* connection counters slot (px_mport_slot) */
};

struct px_dconn;

struct px_worker {
    struct gw_proxy *p;
    unsigned id;
    pthread_t thread;
    bool started;
    struct gw_loop *loop;
    int evfd;
    struct gw_io evio;
    struct px_wsnap *snap; /* current */
    uint64_t gen;
    atomic_uint_fast64_t adopted_gen;
    struct px_listener *listeners;
    struct px_dconn *conns;
    size_t nconns;
    size_t max_conns;
    /* HTTP/2 streams' px_dconn, kept for the next stream (px_dconn_stream_new):
     * a stream per request made their calloc and free a visible share of an
     * h2 or gRPC request. Freed by px_dconn_cache_free. */
    struct px_freelist stream_cache;
    /* Virtual upstream streams (up_h2.c's px_uconn and stream block), kept
     * likewise; freed by px_uh2_cache_free. */
    struct px_freelist uh2_cache;
    /* Upstream sockets, counted with the clients against max_fds (the
     * worker's share of RLIMIT_NOFILE): a client fanning out to many
     * upstream connections cannot take every descriptor. */
    size_t nuconns;
    size_t max_fds;
    bool up_refused;       /* the last px_uconn_connect was refused by a limit */
    uint32_t cb_max_conns; /* px_uconn_get's backend: CircuitBreakerPolicy maxConnections */
    bool accept_paused;
    bool accept_blocked; /* out of fds: TCP listeners unwatched until accept_timer */
    unsigned accept_backoff_ms;
    struct gw_timer accept_timer;
    /* A port of the snapshot that could not be bound (another process
     * still holds it, say, during a rolling restart) is tried again on
     * this timer until it binds or leaves the configuration. */
    struct gw_timer bind_timer;
    unsigned bind_backoff_ms;
    bool draining;
    uint64_t drain_deadline;
    struct gw_timer drain_timer;
    struct px_ep_table eps;
    struct px_rr_table rr;
    struct px_uconn *mirrors; /* detached mirror connections */
    struct px_pp *pps;        /* connections waiting for a PROXY header (edge.c) */
    uint64_t rnd;
    struct px_metrics *m;
    struct gw_l4_worker *l4;    /* TCPRoute, UDPRoute, TLS passthrough */
    struct px_utls_cache *utls; /* backend TLS contexts (up_tls.c) */
    /* auth.c: caches, made on first use (NULL until then) */
    struct px_auth_worker *auth;
    /* scratch: parsed header arrays (used within one callback) */
    struct gw_h1_header hbuf[PX_MAX_HEADERS];
    struct px_buf logbuf;
    struct px_rlg *rlg; /* global rate limits; NULL without Redis */
    uint32_t ea_cursor; /* extauth.c: round robin over authorization endpoints */
    /* HTTP/2 from clients (down_h2.c): decoded header bytes its streams
     * hold, whether malloc_trim is due once they are mostly freed, the last
     * trim and the end of the window trims may run in (ms). */
    size_t h2_held;
    bool h2_trim;
    uint64_t h2_trim_at, h2_trim_until;
    struct px_tw *tw; /* trace.c: NULL when tracing is off */
};

/* ------------------------------------------------------------------------ */
/* Retry budgets: XBackendTrafficPolicy retryConstraint (retrybudget.c)      */

struct px_rb_table;

/* A snapshot's budget tables, by backend id (NULL: none for it). */
struct px_rb {
    struct px_rb_table **registry; /* the proxy's, where tables outlive snapshots */
    size_t n;
    bool any;
    struct px_rb_table *v[];
};

/* The tables of ir's budgets, reusing registry's by key_id and adding new
 * ones to it; NULL if no backend of ir has a budget. Control thread
 * (publish); ir must be indexed. */
struct px_rb *px_rb_new(struct px_rb_table **registry, const struct gw_ir *ir);
/* Drops rb's tables; one no snapshot names any more is freed. Control
 * thread (reclaim). NULL is fine. */
void px_rb_free(struct px_rb *rb);
void px_rb_registry_free(struct px_rb_table **registry);
/* Counts a request (its first attempt) against t. Any worker, lock-free. */
void px_rb_request(struct px_rb_table *t, const struct gw_ir_retry_budget *b);
/* Whether budget b lets one more retry be made now; counted if so. Any
 * worker, lock-free. */
bool px_rb_retry_take(struct px_rb_table *t, const struct gw_ir_retry_budget *b);

/* ------------------------------------------------------------------------ */
/* Local rate limits (ratelimit.c)                                           */

struct px_rl_table;

/* A snapshot's tables, by gw_ir_ratelimit id. */
struct px_rl {
    struct px_rl_table **registry; /* the proxy's, where tables outlive snapshots */
    size_t n;
    struct px_rl_table *tables[];
};

struct px_rl_verdict {
    bool allowed;
    uint32_t remaining;     /* requests left in the bucket */
    uint32_t retry_after_s; /* refused: seconds until one is let through */
    uint32_t reset_s;       /* seconds until the bucket is full again */
};

/* The tables of ir's limits, reusing registry's by key_id and adding new
 * ones to it; NULL if ir has no limit. Control thread (publish). */
struct px_rl *px_rl_new(struct px_rl_table **registry, const struct gw_ir *ir);
/* Drops rl's tables; a table no snapshot names any more is freed.
 * Control thread (reclaim). NULL is fine. */
void px_rl_free(struct px_rl *rl);
void px_rl_registry_free(struct px_rl_table **registry);
/* Takes a token of key's bucket in t (limit l): true if the request may
 * go on. Any worker, lock-free. */
bool px_rl_take(struct px_rl_table *t, const struct gw_ir_ratelimit *l, struct gw_str key,
                struct px_rl_verdict *out);
/* RateLimit-Policy, RateLimit (IETF draft) and, refused, Retry-After
 * lines for l's verdict v, CRLF-terminated. 0 or GW_ELIMIT. */
int px_rl_fields_format(const struct gw_ir_ratelimit *l, const struct px_rl_verdict *v,
                        struct gw_buf *out);

/* ------------------------------------------------------------------------ */
/* Authentication (auth.c): JWTPolicy, BasicAuthPolicy, APIKeyPolicy         */

#define PX_AUTH_MAX_SET 24 /* header fields an accepted request gains */

struct px_auth_worker;

/* What the checks leave for the upstream head: fields to add (views into
 * the IR or the buffers here) and, an API key taken out of the query, the
 * query without it. Caller storage; an accepted request's holds nothing to
 * release (it lives as long as the caller's frame), a refusal's extra
 * lines are released with px_auth_out_release. */
struct px_auth_out {
    struct gw_h1_header set[PX_AUTH_MAX_SET];
    size_t nset;
    bool query_set;
    struct gw_str query;
    struct gw_buf extra; /* a refusal's header lines (WWW-Authenticate, Retry-After) */
    size_t nvals;
    char vals[4096]; /* claim values and the user name, copied */
    char qbuf[8192];
};

/*
 * Runs route r's JWT, then Basic, then API key check on req (whose query
 * is `query`) on worker w, r being of snapshot s. 0: go on; req's credentials and the client's
 * copies of the headers the checks set are removed from req->headers, out
 * says what to add. Else the status to answer (401; 503 when the
 * worker's budget of password hashes for this second is spent; 500 when a
 * policy is Invalid), with out->extra holding its header lines. Worker
 * thread; out is initialised here.
 */
int px_auth_check(struct px_worker *w, const struct px_snap *s, struct gw_h1_request *req,
                  struct gw_str query, const struct gw_ir_route *r, struct px_auth_out *out);
void px_auth_out_release(struct px_auth_out *out);
/* A worker's caches (NULL is fine); after its thread ended. */
void px_auth_worker_free(struct px_auth_worker *a);

/* ------------------------------------------------------------------------ */
/* Remote JWKS (jwks.c)                                                      */

struct px_fetcher;
struct gw_auth_keyset;

/* One fetched JWK Set (a distinct URI, CA bundle, refresh interval and
 * timeout), in the proxy's registry from the first snapshot naming it
 * until gw_proxy_free. */
struct px_jwks_src {
    char *uri, *policy; /* policy: the first one naming it, for logs */
    unsigned char *ca;  /* PEM bundle; NULL: the system trust store */
    size_t ca_len;
    int64_t refresh_ms, timeout_ms;
    pthread_mutex_t mu;              /* keys: swapped by the fetcher, ref'd by workers */
    struct gw_auth_keyset *keys;     /* the last good set; NULL before the first */
    atomic_uint_fast64_t version;    /* bumped (under mu) at every new set */
    atomic_bool want;                /* a worker met an unknown kid: fetch early */
    atomic_uint_fast64_t fetches[4]; /* ok, error, http, invalid (jwks.c) */
    atomic_int_fast64_t last_ok_s;   /* wall clock of the last good fetch; 0: never */
    /* p->jwks_mu */
    unsigned refs; /* views (struct px_jwks) naming it */
    struct px_jwks_src *next;
    /* the fetcher thread's */
    void *easy; /* CURL *, while a fetch is out */
    struct gw_buf body;
    char *last; /* the last good document: an unchanged one keeps its set */
    size_t last_len;
    char errbuf[256]; /* CURLOPT_ERRORBUFFER (CURL_ERROR_SIZE) */
    bool too_big, failing;
    uint64_t due, early_at, logged_at; /* ms, monotonic */
    unsigned backoff_ms;
};

/* A snapshot's sources by gw_ir_jwks_remote.id. */
struct px_jwks {
    uint32_t n;
    struct px_jwks_src *by_id[];
};

/* The view of ir's remote JWKS (found in or added to p's registry, new
 * ones fetched at once); NULL when ir has none. Control thread. */
struct px_jwks *px_jwks_new(struct gw_proxy *p, const struct gw_ir *ir);
void px_jwks_free(struct gw_proxy *p, struct px_jwks *v); /* control thread; NULL is fine */
/* The fetcher thread: allowed from start (started then, or by the first
 * px_jwks_new that has a source, so libcurl is only loaded when a policy
 * needs it) to stop (joins it). Control thread. */
void px_jwks_start(struct gw_proxy *p);
void px_jwks_stop(struct gw_proxy *p);
void px_jwks_registry_free(struct gw_proxy *p); /* gw_proxy_free, after stop */
/* gatehouse_jwks_*. Any thread. */
int px_jwks_metrics_format(const struct gw_proxy *p, struct gw_buf *out);
/* Worker: a worker met a token whose key its set lacks; the fetcher
 * fetches again at most once per PX_JWKS_EARLY_MS. */
void px_jwks_want(struct gw_proxy *p, struct px_jwks_src *src);

#define PX_JWKS_EARLY_MS 10000

/* ------------------------------------------------------------------------ */
/* Redis (redis.c): one asynchronous hiredis connection on a worker's loop,  */
/* reconnecting on its own                                                   */

struct px_redis;
struct redisReply;

/* A command's reply (NULL: the connection went before it came). Runs in
 * the worker's loop; may send commands. */
typedef void (*px_redis_reply_fn)(void *data, const struct redisReply *reply);

struct px_redis_opts {
    const char *host; /* numeric address, or NULL with path */
    uint16_t port;
    const char *path;     /* a unix socket */
    const char *password; /* AUTH on each connection; NULL: none */
    const char *script;   /* SCRIPT LOAD on each connection; NULL: none */
    px_redis_reply_fn on_reply;
};

/* Starts connecting on loop (the worker's thread, or before it runs). The
 * strings of o must outlive the connection. Never fails: a connection that
 * cannot be made is retried with backoff. */
struct px_redis *px_redis_new(struct gw_loop *loop, const struct px_redis_opts *o,
                              struct px_metrics *m);
/* Closes the connection: every outstanding command's reply comes back
 * NULL, at once. NULL is fine. */
void px_redis_free(struct px_redis *r);
/* Connected (commands are sent at once, not queued behind a connect). */
bool px_redis_is_up(const struct px_redis *r);
/* Queues one command (argv, lens: its words), its reply to go to on_reply
 * with data. 0, or GW_ECLOSED when the connection is not up. */
int px_redis_command(struct px_redis *r, void *data, int argc, const char **argv,
                     const size_t *lens);

/* ------------------------------------------------------------------------ */
/* Global rate limits (ratelimit_global.c)                                   */

struct px_rlg;
struct px_rlg_wait;

/* The worker's global limiter, its Redis connection started (w->loop). */
struct px_rlg *px_rlg_new(struct px_worker *w);
/* After every request is gone. NULL is fine. */
void px_rlg_free(struct px_rlg *g);
/* Limit l (global, index idx of d->route's) for key: 1 when d is parked
 * (d->rlg_wait set; px_dconn_rl_resume follows, from the loop, with the
 * verdict), 0 when decided at once into *v (Redis away or behind: by
 * l->fail_closed). */
int px_rlg_check(struct px_dconn *d, const struct gw_ir_ratelimit *l, struct gw_str key,
                 uint32_t idx, struct px_rl_verdict *v);
/* d's request goes before its verdict: the reply will be dropped. */
void px_rlg_cancel(struct px_dconn *d);

/* ------------------------------------------------------------------------ */
/* ExtAuthPolicy (extauth.c)                                                 */

struct px_ea_call;

enum px_ea_outcome {
    PX_EA_ALLOW,     /* through (2xx, or failureMode Open) */
    PX_EA_DENY,      /* the service's answer goes to the client */
    PX_EA_FAIL,      /* failureMode Closed: 503 */
    PX_EA_INVALID,   /* the policy is Invalid: 500 */
    PX_EA_TOO_LARGE, /* includeBody: the body is over maxBytes: 413 */
};

struct px_ea_verdict {
    enum px_ea_outcome outcome;
    int status;           /* DENY: the service's */
    struct gw_str fields; /* "Name: value\r\n" lines: ALLOW: headersFromAuth; DENY: to the client */
    struct gw_str body;   /* DENY */
};

/* Starts d's check against e for req (head_len bytes of head in d->in, or
 * d a stream): 1 when parked (d->ea_call set; px_dconn_ea_resume follows
 * from the loop with the views of the verdict valid for that call), 0
 * when decided at once into *v. Loop thread. */
int px_ea_start(struct px_dconn *d, const struct gw_h1_request *req, size_t head_len,
                const struct gw_ir_extauth *e, struct px_ea_verdict *v);
/* Request body bytes arrived while d is parked (includeBody). */
void px_ea_input(struct px_dconn *d);
/* d's request goes before its verdict: the call is dropped. */
void px_ea_cancel(struct px_dconn *d);
/* upstream.c: events on, the failure of, or the close of a check's
 * connection. */
void px_ea_io(struct px_uconn *u, unsigned events);
void px_ea_failed(struct px_uconn *u);
void px_ea_detach(struct px_uconn *u);

struct gw_proxy {
    struct gw_proxy_opts o;
    pthread_mutex_t mu; /* snapshot handover and port errors only */
    struct px_snap *snap;
    atomic_uint_fast64_t gen;
    struct px_worker *workers;
    unsigned nworkers;
    bool started;
    atomic_bool draining_flag;
    struct gw_buf port_errors;
    struct px_rl_table *rl_tables; /* rate limit buckets, by key_id (control thread) */
    struct px_rb_table *rb_tables; /* retry budgets, by key_id (control thread) */
    /* Active health checks (health.c): the states by backend and endpoint,
     * the view the checker works on, the checker thread. */
    pthread_mutex_t hc_mu;
    struct px_hc_ep **hc_buckets;
    size_t hc_count;
    struct px_hc *hc_cur;
    struct px_checker *checker;
    /* XBackend resolution (dns.c): the names, the resolver thread. */
    pthread_mutex_t dns_mu;
    struct px_dns_name *dns_names;
    struct px_resolver *resolver;
    /* Remote JWKS (jwks.c): the sources, the fetcher thread. */
    pthread_mutex_t jwks_mu;
    struct px_jwks_src *jwks_srcs;
    struct px_fetcher *fetcher;
    bool jwks_allowed;          /* between px_jwks_start and px_jwks_stop */
    struct px_shtab shtab;      /* endpoint states shared by workers (bpolicy.c) */
    struct px_metrics *metrics; /* nworkers, cache-line aligned */
    struct px_tracer *tracer;   /* trace.c: NULL when tracing is off */
    struct px_mstate *ms;       /* series bookkeeping (metrics.c) */
    /* Dead snapshots (a lock-free stack the workers push on), and the
     * eventfd poked when one is pushed or every worker serves the latest
     * snapshot (gw_proxy_events_fd). */
    _Atomic(struct px_snap *) dead;
    int evfd;
    bool events_watched; /* gw_proxy_events_fd was called (control thread) */
};

/* upstream connection states */
enum px_ustate {
    PX_U_CONNECTING,
    PX_U_ACTIVE,
    PX_U_IDLE,
};

#define GW_ETIMEDOUT (-ETIMEDOUT)

struct px_uconn {
    struct gw_io io;
    struct px_worker *w;
    struct px_ep *ep;
    struct px_dconn *d; /* owner while ACTIVE */
    struct px_uconn *next, *prev;
    enum px_ustate state;
    struct px_buf in, out;
    struct gw_timer timer;
    bool reused;    /* came from the pool */
    bool got_bytes; /* some response byte arrived */
    bool wrote_all; /* the whole request reached the socket */
    bool req_done;  /* mirror: the whole request is in out */
    bool closing;
    bool mirror;             /* detached copy: response dropped */
    bool counted;            /* counted in ep->active */
    bool shretry;            /* shreq: a retry, counted in shreq->retries */
    struct px_shep *shreq;   /* counted in its requests (px_cb_take) while counted */
    bool sock_counted;       /* counted in ep->nsock and w->nuconns */
    bool read_paused;        /* the client's output is full */
    bool keep;               /* mirror: response allows reuse */
    struct px_dconn *feeder; /* mirror: the client still feeding the body */
    unsigned feeder_slot;    /* mirror: its index in feeder->mirrors */
    uint64_t sent_at;        /* for the latency histogram */
    /* response body (mirror: discarded) */
    enum gw_h1_body rbody;
    uint64_t rremain;
    struct gw_h1_chunked rch;
    bool rhead_done;
    enum gw_h1_method method;
    /* Transport and codec (upstream.c, up_tls.c, up_h2.c). The pool key is
     * (tcfg, h2 or st): a pooled connection is reused only for the same TLS
     * configuration and protocol. */
    struct ssl_st *ssl;       /* TLS to the endpoint; NULL: plain */
    struct px_utls_cfg *tcfg; /* what ssl verifies and presents (a ref) */
    bool handshaking;         /* TCP is up, the TLS handshake is not */
    unsigned tls_want;        /* GW_LOOP_* OpenSSL waits for */
    struct px_uh2 *h2;        /* this connection carries an HTTP/2 session */
    struct px_uh2_stream *st; /* virtual: one stream of a session, no socket */
    struct gw_defer defer;    /* events raised outside the socket's own */
    unsigned defer_ev;        /* GW_LOOP_* to hand over when defer runs */
    bool defer_armed;
    bool free_pending;     /* freed by the defer, which still references it */
    bool failed;           /* TLS failed: every read and write fails (EPROTO) */
    char backend[96];      /* the backend it was opened for, for log lines */
    struct px_ea_call *ea; /* an ExtAuthPolicy check owns it (extauth.c) */
};

/* A body spliced socket -> pipe -> socket (conn.c, "Bodies spliced"). */
enum px_splice { PX_SPL_NONE, PX_SPL_REQ, PX_SPL_RSP };

/* The proxy's progress on one request. */
enum px_dmode {
    PX_D_HEAD,   /* reading a request head */
    PX_D_PROXY,  /* a request is being forwarded */
    PX_D_TUNNEL, /* after 101 */
    PX_D_LINGER, /* response sent; reading and dropping until EOF */
};

struct ssl_st;
struct px_tls_port;
struct px_h2;
struct px_h2_stream;

struct px_dconn {
    /* Hot: what every request of a keep-alive HTTP/1.1 connection touches,
     * first and together, so that hundreds of connections cost as few cold
     * cache lines as possible. The rarely used (TLS, HTTP/2 handshake state,
     * chunked decoders, CORS, access-log copies) comes after. */
    struct gw_io io;
    struct px_worker *w;
    enum px_dmode mode;
    bool got_first_byte;
    bool read_eof;
    bool close_after; /* close once out is flushed */
    bool closing;
    bool in_head_loop;
    bool pumping;
    bool in_backoff;
    bool u_eof, u_err, u_shut, d_shut; /* upstream EOF/error; write sides shut */
    bool u_reusable;
    bool local; /* the current answer came from the gateway */
    bool status_local_sent;
    bool tls;
    bool stream;        /* a stream's px_dconn (h2s may already be detached) */
    bool in_end;        /* stream: END_STREAM received, d->in holds the rest */
    struct ssl_st *ssl; /* downstream TLS (down_tls.c): NULL on plain connections */
    struct px_h2 *h2;   /* HTTP/2 (down_h2.c), see below */
    struct px_buf in, out, replay;
    size_t head_checked; /* gw_h1_head_is_ready old_len */
    uint64_t head_deadline, body_deadline;
    /* HEAD with nothing read yet: the keep-alive idle deadline, while the
     * rtimer runs to the earlier header timeout (on_rtimer re-arms it) */
    uint64_t idle_deadline;
    uint64_t tunnel_last; /* PX_D_TUNNEL: when a byte last moved (rtimer: idle timeout) */
    unsigned served;
    size_t sent_in_window; /* bytes sent since the send timer was armed */

    /* current request */
    struct px_wsnap *snap;
    const struct gw_ir_route *route;
    const struct gw_ir_backend *backend;
    const struct gw_ir_listener *listener;
    const struct gw_ir_port *iport; /* the request's port in snap; NULL if none */
    const struct px_ep *up_ep;      /* endpoint of the last attempt (access log) */
    struct px_ep *sticky;           /* session persistence: the first attempt's endpoint */
    struct px_uconn *u;
    const struct gw_ir_header_mod *rmods[2];
    enum gw_h1_method method;
    int minor;
    bool keep_alive;
    bool upgrade;
    bool expect_continue;
    bool sent_continue;
    bool qtrailers;   /* chunked request: trailer fields went upstream */
    bool req_done;    /* whole request body consumed from the client */
    bool replay_ok;   /* replay holds the whole upstream request so far */
    bool rsp_started; /* some response byte went to the client */
    bool rsp_done;
    /* The response is complete and the upstream keeps reading while the
     * rest of the request body goes to it (an early answer, RFC 9112
     * §9.3): the request ends once the body is through, both connections
     * kept (see "Early responses"). */
    bool rsp_early;
    bool stale_retry_used;
    bool budget_refused; /* a retry the backend's retry budget refused: 503 */
    enum gw_h1_body qbody;
    uint64_t qremain;
    int attempts;   /* attempts made */
    bool lb_hashed; /* consistent hash: the request has the key, lb_hash */
    uint64_t lb_hash;
    int status;
    struct px_rdecision rd;
    uint64_t rremain;
    /* A body spliced (enum px_splice): the one being spliced, the one
     * waiting for the loop to hand the sockets back (gw_io_disown), and
     * whether the last fill of the pipe found it full (or the socket
     * drained) with bytes in it: filled again only after a drain. */
    uint8_t spl, spl_want;
    bool spl_full;
    /* CompressionPolicy: the coding the request accepts (enum gw_ir_coding,
     * 0: none) and, once the response is being coded, its encoder. */
    int zcoding;
    struct px_zip *zip;
    uint64_t start_ms;
    uint64_t bytes_out;
    uint16_t port;
    unsigned mport; /* connection counters slot (l->mport) */
    char address[64];
    char peer_ip[64]; /* the connection's client: the peer, or a PROXY header's source */
    /* The current request's client: peer_ip, or what X-Forwarded-For says
     * under the listener's ClientTrafficPolicy (edge.c). The access log,
     * rate limit keys and SourceAddressPolicy read these. */
    char client_ip[64];
    struct sockaddr_storage peer_sa, client_sa;
    struct gw_timer rtimer; /* header / idle / body / linger */
    /* retry backoff, backend response; stopped lazily when a request
     * ends (see release_request): its callback acts only while live */
    struct gw_timer btimer;
    struct gw_timer wtimer; /* send progress */
    struct gw_timer ttimer; /* route request timeout */
    struct px_buf cors;     /* extra response fields of the current request: CORS, the
                             * session field (added per attempt, see session_field) */
    /* Session persistence of the current request (route->session): the
     * session's start and the tag of the endpoint its token named (0:
     * none), wall-clock ms. */
    uint64_t sess_created, sess_tag;
    /* RequestMirror copies still being fed the request body, one slot per
     * mirror filter of the rule (NULL once finished or dropped). */
    struct px_uconn *mirrors[PX_MAX_MIRRORS];

    /* Cold */
    struct px_dconn *next, *prev;
    struct px_listener *l; /* may be closed while we live: address/port copied */
    struct gw_h1_chunked qch;
    struct gw_h1_chunked rch;
    size_t origin_len;
    char origin[256]; /* CORS: the request's Origin */
    char logm[16], logp[256], logh[128];
    struct px_dtrace *tr; /* trace.c: made by the first traced request */
    struct gw_pipe *pipe; /* made by the first spliced body, kept for the next ones */

    /* Downstream TLS (down_tls.c): ssl above. */
    bool hs;                            /* handshake in progress */
    bool alpn_h2;                       /* ALPN chose h2 */
    unsigned tls_want;                  /* GW_LOOP_* OpenSSL waits for */
    bool tls_keep;                      /* OpenSSL keeps its buffers (px_tls_keep_buffers) */
    struct px_wsnap *hs_snap;           /* pinned during the handshake */
    const struct px_tls_port *tls_port; /* during the handshake */
    struct gw_timer ktimer;             /* TLS: plaintext buffered in OpenSSL */
    char sni[256];
    /* HTTP/2 (down_h2.c): h2 (above) is set on a connection that speaks h2;
     * h2s on the per-stream px_dconn (no socket of its own) that runs one
     * request through the same pipeline as an HTTP/1.1 request. */
    struct px_h2_stream *h2s;
    /* A request parked on a global rate limit (ratelimit_global.c): its
     * wait, its head's length in d->in (kept unconsumed, parsed again on
     * resume), and while it resumes, the first limit left to check. */
    struct px_rlg_wait *rlg_wait;
    size_t rl_head_len;
    uint32_t rl_from;
    /* ExtAuthPolicy (extauth.c): the check in flight (the request parked
     * as for a global limit, rl_head_len its head), whether the request
     * passed it (a resumed request is not checked again), and the fields
     * the answer had for the upstream request ("Name: value\r\n" lines). */
    struct px_ea_call *ea_call;
    bool ea_passed;
    struct px_buf ea_set;
};

/* ------------------------------------------------------------------------ */
/* The edge (edge.c): PROXY protocol, client address, SourceAddressPolicy    */

enum px_edge_proto { PX_EDGE_HTTP, PX_EDGE_GRPC, PX_EDGE_TCP, PX_EDGE_TLS };

enum px_edge_pp_reason {
    PX_PP_UNTRUSTED, /* a header (or, when required, a connection) from a peer not trusted */
    PX_PP_MALFORMED, /* a header that breaks the spec, or over its limits */
    PX_PP_MISSING,   /* required, and the connection started with something else */
    PX_PP_TIMEOUT,   /* no complete header in time */
};
struct px_pp;

/* A TCP connection accepted on listener l: through the PROXY protocol
 * pre-phase when its port has one (the header's source then becomes the
 * peer), then the accept-time SourceAddressPolicy of TCP and TLS
 * listeners, then px_dconn_accept or gw_l4_accept. Takes fd. Loop
 * callback. */
void px_edge_accept(struct px_worker *w, struct px_listener *l, int fd,
                    const struct sockaddr_storage *peer);
/* Closes the connections still in the pre-phase (the worker drains). */
void px_edge_drain(struct px_worker *w);
/* Sets d's client address for the request req on listener li (NULL: not
 * known): the peer's, or X-Forwarded-For's under li's rule. */
void px_edge_client(struct px_dconn *d, const struct gw_ir_listener *li,
                    const struct gw_h1_request *req);
/* Whether route r's SourceAddressPolicies let d's client through; counts a
 * refusal. */
bool px_edge_allowed(struct px_dconn *d, const struct gw_ir_route *r);
/* "http", "grpc", "tcp", "tls"; "untrusted", ... (metrics). */
const char *px_edge_proto_name(enum px_edge_proto p);
const char *px_edge_pp_reason_name(enum px_edge_pp_reason r);

/* conn.c */
void px_dconn_accept(struct px_worker *w, struct px_listener *l, int fd,
                     const struct sockaddr_storage *peer);
void px_dconn_close(struct px_dconn *d);
/* Drain: close idle connections now, the rest after their response. */
void px_dconn_drain(struct px_dconn *d);

/* For down_h2.c: streams as connections without a socket. */
/* A px_dconn for stream s of the h2 connection c (address, peer, TLS and
 * SNI copied from c). Freed through px_dconn_close. */
struct px_dconn *px_dconn_stream_new(struct px_dconn *c, struct px_h2_stream *s);
/* Frees the worker's cached stream px_dconns (its loop is gone). */
void px_dconn_cache_free(struct px_worker *w);
/* Runs req (views valid for the call) through the request pipeline. */
void px_dconn_stream_start(struct px_dconn *d, struct gw_h1_request *req);
/* extauth.c: the verdict of d's ExtAuthPolicy check; the request goes on
 * (its checks after ExtAuth), or is answered. */
void px_dconn_ea_resume(struct px_dconn *d, const struct px_ea_verdict *v);
/* ratelimit_global.c: the verdict of d's limit idx; the request goes on
 * with the limits after it, or is refused. */
void px_dconn_rl_resume(struct px_dconn *d, uint32_t idx, const struct px_rl_verdict *v);
/* Request body bytes were appended to d->in, or in_end was set. */
void px_dconn_stream_input(struct px_dconn *d);
/* The codec took bytes from d->out: the pipeline may produce more. */
void px_dconn_after_flush(struct px_dconn *d);
void px_dconn_update(struct px_dconn *d);
void px_dconn_flush(struct px_dconn *d);
void px_dconn_close_after_flush(struct px_dconn *d);

/* down_h2.c */
/* True if p[0..n) is a prefix of the HTTP/2 client preface. */
bool px_h2_preface_prefix(const char *p, size_t n);
size_t px_h2_preface_len(void);
/* c speaks HTTP/2 from now on (c->h2); what c->in holds is processed. 0 or
 * GW_ENOMEM. */
int px_h2_start(struct px_dconn *c);
/* Bytes arrived in c->in. */
void px_h2_input(struct px_dconn *c);
/* c->out went out (some of it): more frames may follow. */
void px_h2_flushed(struct px_dconn *c);
/* GW_LOOP_* interest of an h2 connection. */
unsigned px_h2_interest(const struct px_dconn *c);
/* c->rtimer fired: idle (or stuck behind zero windows): GOAWAY, close. */
void px_h2_timeout(struct px_dconn *c);
/* Graceful: GOAWAY, close once the streams are done. */
void px_h2_drain(struct px_dconn *c);
/* Frees the session and every stream (c is closing). */
void px_h2_free(struct px_dconn *c);
/* Stream side: d->out has more (or rsp_done); d->in was drained (window);
 * a response trailer field; d is closing (reset if unfinished). */
void px_h2_stream_out(struct px_dconn *d);
void px_h2_stream_update(struct px_dconn *d);
void px_h2_stream_trailer(struct px_dconn *d, struct gw_str name, struct gw_str value);
void px_h2_stream_detach(struct px_dconn *d);
/* The request of stream s as conn.c sees it (views into s, valid while it
 * lives), for a request that starts again after a wait. 0. */
int px_h2_stream_request(struct px_h2_stream *s, struct gw_h1_request *out);
/* The request trailers of stream d so far, "name: value\r\n" lines (empty
 * when none, or d is detached); valid until the stream's next input. */
struct gw_str px_h2_stream_req_trailers(const struct px_dconn *d);

/* down_tls.c */
/* Builds the snapshot's TLS contexts (publishing thread). Problems with a
 * listener's PEM are appended to errs (one line each), the listener left
 * out. 0; *out freed with px_tls_free. */
int px_tls_build(const struct gw_ir *ir, const struct gw_router *router, struct px_tls **out,
                 struct gw_buf *errs);
void px_tls_free(struct px_tls *t);
/* gw_l4_tls_ctx_fn: the context terminating Terminate TLS listener l of
 * the snapshot pinned by pin (a struct px_wsnap), NULL if it has none. */
struct ssl_ctx_st *px_l4_tls_ctx(void *pin, const struct gw_ir_listener *l);
bool px_port_is_https(const struct gw_ir_port *pt);
/* Starts server TLS on d's socket (d->ssl, d->hs). 0 or GW_ETLS (no usable
 * certificate for the port). */
int px_tls_accept(struct px_dconn *d);
/* 1 done, 0 in progress (d->tls_want says on what), GW_ETLS failed. */
int px_tls_handshake(struct px_dconn *d);
/* recv/send alike: >0 bytes, 0 EOF (recv), -1 with errno (EAGAIN). */
ssize_t px_tls_recv(struct px_dconn *d, void *buf, size_t n);
ssize_t px_tls_send(struct px_dconn *d, const void *buf, size_t n);
bool px_tls_has_pending(const struct px_dconn *d);
/* keep: OpenSSL keeps its record buffers (about 34 KiB) between reads and
 * writes, for a busy connection; else (the default) it frees them now if
 * they are empty and whenever they empty (an idle connection's memory). */
void px_tls_keep_buffers(struct px_dconn *d, bool keep);
void px_tls_shutdown(struct px_dconn *d);
void px_tls_release(struct px_dconn *d);

/* upstream.c */
/* Starts (or reuses) a connection to ep for d; NULL when the connect fails at
 * once. The protocol follows d's backend: HTTP/1.1 over TCP, over TLS
 * (BackendTLSPolicy), or a stream of a pooled HTTP/2 session (h2c, gRPC).
 * Whatever the protocol, conn.c writes HTTP/1.1 into u->out and reads
 * HTTP/1.1 from u->in (px_uconn_recv); the codecs translate. */
struct px_uconn *px_uconn_get(struct px_worker *w, struct px_ep *ep, struct px_dconn *d);
/* Hands a connection back: into the pool when reusable, else closed. */
void px_uconn_release(struct px_uconn *u, bool reusable);
void px_uconn_close(struct px_uconn *u);
/* Reads what the upstream has into buf, recv(2) alike: >0 bytes, 0 EOF, -1
 * with errno (EAGAIN: nothing now; ECONNRESET, EPROTO: the connection or
 * stream failed). Through TLS or from an HTTP/2 stream as need be. */
ssize_t px_uconn_recv(struct px_uconn *u, void *buf, size_t n);
/* Raises events on u from outside its socket: delivered at the end of the
 * loop turn (never re-entrantly) through the usual upstream handlers. */
void px_uconn_post(struct px_uconn *u, unsigned events);
/* A new connection to ep (TLS with tcfg, whose reference it takes; h2: it
 * will carry a session, the caller sets u->h2). NULL when the connect fails
 * at once. */
struct px_uconn *px_uconn_connect(struct px_worker *w, struct px_ep *ep, struct px_utls_cfg *tcfg,
                                  bool h2);
/* An idle pooled connection with this TLS configuration and protocol, taken
 * out of the pool (ACTIVE), or NULL. */
struct px_uconn *px_uconn_pool_take(struct px_ep *ep, const struct px_utls_cfg *tcfg, bool h2);
/* Puts an ACTIVE connection into ep's pool; false when it may not stay
 * (draining, pool full, TLS leftovers): the caller closes it. */
bool px_uconn_pool_put(struct px_uconn *u);
/* Sends [p, p + n) on u's TCP or TLS connection (not an HTTP/2 stream,
 * which has no socket of its own) until all of it is gone or the socket
 * would block: the bytes sent (0..n), or a negated errno. Loop thread. */
ssize_t px_uconn_send_span(struct px_uconn *u, const char *p, size_t n);
/* Sends what is queued in u->out (px_uconn_send_span); 0 ok (maybe
 * partial), <0 error. */
int px_uconn_flush(struct px_uconn *u);
void px_uconn_update(struct px_uconn *u);
/* The interest ev (what px_uconn_update would set) of d's upstream
 * socket while d splices a body or waits to (conn.c). */
unsigned px_dconn_splice_up_interest(const struct px_dconn *d, unsigned ev);
/* A detached mirror connection carrying req (head+body so far). */
struct px_uconn *px_mirror_start(struct px_worker *w, struct px_ep *ep);
void px_mirror_finish_request(struct px_uconn *u);
/* Called by upstream.c into conn.c */
void px_dconn_on_upstream(struct px_dconn *d, unsigned events);
void px_dconn_on_upstream_error(struct px_dconn *d, int err, bool timeout);

/* worker.c */
struct px_wsnap *px_wsnap_ref(struct px_wsnap *ws);
void px_wsnap_unref(struct px_wsnap *ws);
uint64_t px_worker_rand(struct px_worker *w);
void px_worker_conn_closed(struct px_worker *w);

/* log.c */
void px_access_log(struct px_dconn *d);

/* metrics.c */
/* Counts d's response (status; local: made by the gateway) in the series
 * of d->route, else d->listener (route ""), else d->iport (listener and
 * route ""), in the table of the snapshot d pins; without a snapshot in the
 * worker's unattributed counters. Loop thread of d->w; one pointer-keyed
 * probe, relaxed stores. */
void px_metrics_response(struct px_dconn *d, int status, bool local);
/* gw_l4_counters_fn: the L4 counters of route r, else listener l, else
 * port pt, in the table of the snapshot pin (a struct px_wsnap) pins, for
 * its worker; NULL when the table has none. Worker thread; one pointer
 * probe per key tried. */
struct gw_l4_counters *px_l4_counters(void *pin, const struct gw_ir_port *pt,
                                      const struct gw_ir_listener *l, const struct gw_ir_l4 *r);
/* Series bookkeeping of p: created in gw_proxy_new, freed in gw_proxy_free. */
void px_mstate_new(struct gw_proxy *p);
void px_mstate_free(struct gw_proxy *p);
/* Builds the request counters of a snapshot of ir and makes it the newest
 * (publishing thread): no strings, O(objects of ir). ir must outlive the
 * table (labels are made from it at scrape time). Never NULL; released
 * with px_mtab_retire. */
struct px_mtab *px_mtab_new(struct gw_proxy *p, const struct gw_ir *ir);
/* The snapshot died: its non-zero counts fold into the totals kept by name
 * (not those of series the newest table is known not to have; scrapes drop
 * the rest), the table is freed. Any thread (the proxy calls it on the
 * control thread); takes the metrics mutex. NULL is fine. */
void px_mtab_retire(struct px_mtab *t);
/* The connection counters slot of a listening address (any thread; takes
 * the metrics mutex; a new address gets the next free slot). */
unsigned px_mport_slot(struct gw_proxy *p, const char *address, uint16_t port, bool udp);

/* ------------------------------------------------------------------------ */
/* Upstream TLS (up_tls.c): one SSL_CTX per distinct (CA bundle or system
 * store, client certificate, ALPN) per worker, found by content so that a
 * new snapshot with the same policy reuses it (and its pooled connections). */

/* The configuration for a backend's policy t, presenting client (NULL: none),
 * offering h2 or http/1.1 by ALPN; gen is the snapshot generation t belongs
 * to (pointers are remembered per generation). Returns a new reference
 * (px_utls_cfg_unref), never NULL: a bundle that loads nothing fails every
 * handshake. Loop thread of w only. */
struct px_utls_cfg *px_utls_cfg_get(struct px_worker *w, uint64_t gen,
                                    const struct gw_ir_backend_tls *t,
                                    const struct gw_ir_cert *client, bool h2);
void px_utls_cfg_ref(struct px_utls_cfg *c); /* NULL is fine, for both */
void px_utls_cfg_unref(struct px_utls_cfg *c);
/* Puts TLS on u's socket (u->ssl, u->tcfg takes cfg's reference). 0 or
 * GW_ETLS. */
int px_utls_start(struct px_uconn *u, struct px_utls_cfg *cfg);
/* Runs the handshake and, once it is done, the policy's SAN checks: 1 done,
 * 0 in progress (u->tls_want), GW_ETLS failed (logged with the reason). */
int px_utls_handshake(struct px_uconn *u, const char *backend);
/* recv/send alike: >0 bytes, 0 EOF (recv), -1 with errno. */
ssize_t px_utls_recv(struct px_uconn *u, void *buf, size_t n);
ssize_t px_utls_send(struct px_uconn *u, const void *buf, size_t n);
/* Plaintext OpenSSL holds that no socket event will announce. */
bool px_utls_has_pending(const struct px_uconn *u);
/* Best-effort close_notify, then frees u->ssl and drops u->tcfg. */
void px_utls_release(struct px_uconn *u);
/* Frees the worker's contexts (worker exit). */
void px_utls_worker_release(struct px_worker *w);

/* ------------------------------------------------------------------------ */
/* Upstream HTTP/2 (up_h2.c): h2c and gRPC backends. A session per pooled
 * connection (the carrier, a real px_uconn with h2 set), multiplexing up to
 * the peer's SETTINGS_MAX_CONCURRENT_STREAMS. Each request gets a virtual
 * px_uconn (st set, no socket) that conn.c drives as if it were an
 * HTTP/1.1 connection: the request head and body it writes into u->out are
 * parsed and sent as HEADERS and DATA, the response comes back into u->in
 * as an HTTP/1.1 head and a chunked body whose trailer section carries the
 * HTTP/2 trailers. */

/* A stream for d's request on a session to ep (tcfg NULL: h2c; a reference
 * is taken), opening a connection when no session has room. NULL when the
 * connect fails at once. */
struct px_uconn *px_uh2_stream_open(struct px_worker *w, struct px_ep *ep, struct px_utls_cfg *tcfg,
                                    const char *backend);
/* px_uconn_flush, _recv, _update and _close for a virtual stream. */
int px_uh2_stream_flush(struct px_uconn *u);
ssize_t px_uh2_stream_recv(struct px_uconn *u, void *buf, size_t n);
void px_uh2_stream_update(struct px_uconn *u);
void px_uh2_stream_close(struct px_uconn *u, bool done);
/* The carrier c is connected (and through TLS): start the session. */
void px_uh2_carrier_ready(struct px_uconn *c);
/* Socket events on a ready carrier. */
void px_uh2_carrier_io(struct px_uconn *c, unsigned events);
/* The carrier failed before or after it was ready (err: GW_ETLS, a negated
 * errno, GW_ETIMEDOUT): every stream fails; the carrier is closed. */
void px_uh2_carrier_failed(struct px_uconn *c, int err);
/* The carrier is being closed: its streams fail, the session is done. */
void px_uh2_carrier_release(struct px_uconn *c);
/* The carrier's memory goes: frees the session. */
void px_uh2_carrier_free(struct px_uconn *c);
/* The memory of virtual stream u (from px_uh2_stream_open, closed, its
 * buffers released) goes back to its worker's cache or to the heap. */
void px_uh2_stream_free(struct px_uconn *u);
/* Frees the worker's cached stream blocks (the worker is ending). */
void px_uh2_cache_free(struct px_worker *w);

/* ------------------------------------------------------------------------ */
/* Tracing (trace.c)                                                         */

struct px_tracer;
struct px_tw;
struct px_dtrace;

/* The room px_trace_fields needs at most. */
#define PX_TRACE_FIELDS_MAX 640

/* Makes p->tracer from p->o (p->o.otlp_endpoint set): per-worker queues
 * and id generators. 0, or GW_EINVAL (a bad endpoint). Control thread. */
int px_tracer_new(struct gw_proxy *p);
/* Worker i's tracing state (owned by the tracer); NULL when off. */
struct px_tw *px_tracer_worker(struct gw_proxy *p, unsigned i);
/* Starts the exporter thread (no-op when off). 0 or a negative errno. */
int px_tracer_start(struct gw_proxy *p);
/* Stops it after one last batch (after the workers stopped). */
void px_tracer_stop(struct gw_proxy *p);
void px_tracer_free(struct gw_proxy *p);
/* The tracing counters in the Prometheus text format (zeros when off). */
int px_tracer_metrics_format(const struct gw_proxy *p, struct gw_buf *out);

/* The request starts (d->w->tw set): reads traceparent and tracestate,
 * makes the server span's ids and sampling decision, and, when sampled,
 * copies what the span needs from req (its views die with the head).
 * Worker thread. */
void px_trace_start(struct px_dconn *d, const struct gw_h1_request *req);
/* The traceparent (and tracestate) fields for the upstream head, each
 * ending CRLF, written to out: their length (0 if cap is too small). */
size_t px_trace_fields(const struct px_dconn *d, char *out, size_t cap);
/* The response was cut (error.type "aborted"). */
void px_trace_abort(struct px_dconn *d);
/* The request ended (d->tr set; a no-op unless it is being traced): a
 * sampled span goes to the worker's queue, or is dropped and counted when
 * the queue is full. Never blocks. */
void px_trace_finish(struct px_dconn *d);
/* Frees d->tr (when the connection or stream is freed). */
void px_trace_dconn_free(struct px_dconn *d);

#endif /* GW_PROXY_INTERNAL_H */
