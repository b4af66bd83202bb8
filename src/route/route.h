/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route: the compiled router and the pure filter logic of the data plane.
 *
 * gw_router_build() compiles one IR snapshot into lookup structures: per
 * port, the listener chosen by Host (GatewayHTTPListenerIsolation: the most
 * specific listener hostname wins and only its routes serve the request);
 * per listener, the vhost table (exact hostnames hashed, wildcards by
 * longest suffix, "*" last); per vhost a path segment trie holding the
 * Exact and PathPrefix matches, a list of RegularExpression matches (PCRE2,
 * JIT, under a per-request budget: see Regexes below), and per candidate the
 * method, header and query conditions. The IR's route order is the precedence order: the
 * router returns exactly the route a linear scan of the vhost's routes in IR
 * order would return (the invariant the tests check), at a cost that grows
 * with the path's length, not with the number of routes.
 *
 * Matching rules (Gateway API v1.6, documented once here):
 *   Host     case-insensitive, port stripped ("[::1]:80" -> "[::1]"), one
 *            trailing dot ignored. "*.example.com" matches "a.example.com"
 *            and "a.b.example.com", never "example.com". Vhosts are tried
 *            most specific first (exact, longer wildcard, "*") and a less
 *            specific vhost is tried only when the more specific ones had
 *            no matching route (ir.h). Listeners are not: the selected
 *            listener's answer is final.
 *   Path     matched on the request path without the query, byte for byte
 *            after gw_route_path_normalize() (which the proxy must apply
 *            to the path it forwards too, so router and backend agree).
 *            Exact: byte equality ("/foo" never matches "/foo/").
 *            PathPrefix: element-wise on "/"-separated segments; a trailing
 *            "/" in the prefix value is ignored (spec: "/abc" and "/abc/"
 *            both match "/abc", "/abc/" and "/abc/def", never "/abcd");
 *            "/" matches every path.
 *            RegularExpression: PCRE2 full match (anchored at both ends) of
 *            the whole path. A pattern that does not compile makes its
 *            match never hold; it is counted and reported (build diags).
 *   Method   exact, case-sensitive token comparison.
 *   Headers  names case-insensitive; values exact (case-sensitive) or a
 *            PCRE2 full match. A header sent several times is matched on
 *            its field lines joined with "," (RFC 9110 §5.3).
 *   Query    names and values compared after percent-decoding (%XX; '+'
 *            is not a space), case-sensitive; a repeated parameter is
 *            matched on its first occurrence (spec recommendation).
 * Every condition of a match must hold (AND).
 *   Regexes  every regex a request meets (path, header, query; GRPCRoute
 *            method matches are path regexes) is paid from one budget of
 *            PCRE2 match-limit units per request (router.c), so no route
 *            set can make a request cost more than a few ms of CPU. When
 *            it runs out, or PCRE2 gives up on a depth, heap or JIT stack
 *            limit, that match is undecided; if an undecided route ranks
 *            above the best one that held, the request is GW_ROUTE_NO_ROUTE
 *            with regex_undecided set (never a route of lower precedence,
 *            never a less specific vhost), counted (gw_route_regex_giveups)
 *            and logged, rate-limited. Patterns that finish within the
 *            budget match exactly as PCRE2 says.
 *
 * Threading: a built router is immutable; gw_router_match and every helper
 * below are lock-free and safe from any number of threads, and allocate
 * nothing per request (PCRE2 match data and match context: one small block
 * each per thread, made at that thread's first regex match and kept).
 * gw_router_match logs (gw_log_ratelimited) when regexes gave up.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include "base/base.h"
#include "h1/h1.h"
#include "ir/ir.h"

/* ------------------------------------------------------------------------ */
/* The compiled router                                                      */

struct gw_router;

/*
 * Compiles ir. The router borrows ir (every pointer a result carries points
 * into it): keep ir referenced for as long as the router lives, and free the
 * router before the last gw_ir_unref (the proxy keeps (ir, router) pairs).
 * Problems found (a regex that does not compile, a route with a malformed
 * path) are appended to diags as GW_SEV_ERROR entries (kind "HTTPRoute" or
 * "GRPCRoute", name the route's ns/name) when diags is not NULL; the router
 * is built anyway, those matches never holding. Control thread only.
 * 0 and *out set, or a negative GW_E* (*out NULL).
 */
int gw_router_build(const struct gw_ir *ir, struct gw_diags *diags, struct gw_router **out);

/* Frees the router and everything it compiled. NULL is fine. */
void gw_router_free(struct gw_router *r);

/* The IR the router was compiled from (borrowed). */
const struct gw_ir *gw_router_ir(const struct gw_router *r);

/* How many regular expressions failed to compile (their matches never
 * hold). Any thread. */
size_t gw_router_regex_errors(const struct gw_router *r);

/* Bytes of memory the compiled structures use (for metrics). */
size_t gw_router_memory(const struct gw_router *r);

/* Requests, process-wide since start, during which a regex was abandoned
 * (the per-request regex budget ran out, or a PCRE2 limit was hit). Any
 * thread. */
uint64_t gw_route_regex_giveups(void);

/*
 * The listener of port (a member of gw_router_ir(r)->ports) that serves
 * hostname (a Host value or a TLS SNI; port suffix and case are handled):
 * the most specific matching listener hostname, a listener without
 * hostname last. NULL when none matches. Used for SNI certificate choice.
 * Borrowed from the IR. Any thread, allocation-free.
 */
const struct gw_ir_listener *gw_router_listener_select(const struct gw_router *r,
                                                       const struct gw_ir_port *port,
                                                       struct gw_str hostname);

/* One request, as the router sees it. All views are borrowed for the call. */
struct gw_route_req {
    struct gw_str method; /* the token as received ("GET") */
    struct gw_str host;   /* h1 req.authority: absolute-form authority or Host
                             ("h.test:8080", "[::1]:80"); may be empty */
    struct gw_str sni;    /* TLS server name on HTTPS ports, else empty */
    struct gw_str path;   /* normalised path (gw_route_path_normalize),
                             without query; must start with '/' */
    struct gw_str query;  /* after '?', '?' excluded; empty if none */
    const struct gw_h1_header *headers;
    size_t nheaders;
};

enum gw_route_status {
    GW_ROUTE_OK,          /* route set: serve it */
    GW_ROUTE_NO_LISTENER, /* no listener of the port accepts the host: 404 */
    GW_ROUTE_NO_VHOST,    /* the listener has no vhost for the host: 404 */
    GW_ROUTE_NO_ROUTE,    /* vhosts found, no route's conditions hold: 404 */
    GW_ROUTE_BAD_REQUEST, /* malformed host or path (not starting with '/'): 400 */
    GW_ROUTE_MISDIRECTED, /* HTTPS: Host selects another listener than SNI: 421 */
};

struct gw_route_result {
    enum gw_route_status status;
    const struct gw_ir_listener *listener; /* set from NO_VHOST on */
    const struct gw_ir_vhost *vhost;       /* set with OK */
    const struct gw_ir_route *route;       /* set with OK */
    size_t route_index;                    /* index of route in vhost->routes */
    /* Bytes of req.path the match covered: for PathPrefix the prefix without
     * its trailing '/' (0 for "/"), else the whole path. What
     * ReplacePrefixMatch replaces. */
    size_t prefix_len;
    /* With GW_ROUTE_NO_ROUTE: a regex gave up (budget or PCRE2 limit) on a
     * route that might have matched; the answer is a 404 all the same. */
    bool regex_undecided;
};

/*
 * Routes req arriving on port (a member of gw_router_ir(r)->ports). Fills
 * *out (always, status first) and returns out->status. Allocation-free,
 * lock-free, any thread. Pointers in *out borrow from the IR.
 */
enum gw_route_status gw_router_match(const struct gw_router *r, const struct gw_ir_port *port,
                                     const struct gw_route_req *req, struct gw_route_result *out);

/* "OK", "no listener", ...; static storage. */
const char *gw_route_status_name(enum gw_route_status s);

/* ------------------------------------------------------------------------ */
/* Request path and host normalisation                                      */

/*
 * Normalises a request path (without query) for routing and forwarding:
 * "" becomes "/"; percent-encoded unreserved characters (ALPHA DIGIT - . _
 * ~) are decoded; other escapes get upper-case hex. Ambiguous paths are
 * rejected rather than guessed: dot segments ("." / ".." segments, encoded
 * or not), encoded '/' or '\' (%2F, %5C), a raw '\', control bytes, bytes
 * >= 0x80, malformed escapes, or a path not starting with '/'. Empty
 * segments ("//") are kept as they are (they are not ambiguous for the
 * element-wise matcher; the backend sees the same bytes; `gatehouse run
 * --merge-slashes` merges them afterwards: gw_route_path_merge_slashes).
 * *out points into in when nothing changed, else into buf (cap bytes).
 * 0, GW_EPARSE (answer 400) or GW_ELIMIT (buf too small; answer 414).
 * Allocation-free, any thread.
 */
int gw_route_path_normalize(struct gw_str in, char *buf, size_t cap, struct gw_str *out);

/*
 * Merges every run of '/' in a normalised path into one ("//a///b//" ->
 * "/a/b/"): `gatehouse run --merge-slashes`, applied after
 * gw_route_path_normalize and before routing, so route matching and the
 * upstream see the same merged path. Off by default: "//" is kept (as
 * Envoy does), the backend deciding what an empty segment means.
 * *out is in when no "//" occurs, else buf (cap bytes; buf may be in.p
 * itself: merging in place is fine). 0 or GW_ELIMIT (buf too small).
 * Allocation-free, any thread.
 */
int gw_route_path_merge_slashes(struct gw_str in, char *buf, size_t cap, struct gw_str *out);

/*
 * The hostname part of a Host value, lower-cased into buf (cap >= 256 is
 * enough for any valid one), or a view of in when it is lower case
 * already: port stripped, IPv6 literal kept with its brackets, one
 * trailing dot dropped. Rejects (GW_EPARSE) empty labels,
 * '@', ',', whitespace, control bytes and bad ports; GW_ELIMIT past cap or
 * 253 bytes. An empty host gives "" and 0. Allocation-free, any thread.
 */
int gw_route_host_normalize(struct gw_str in, char *buf, size_t cap, struct gw_str *out);

/* ------------------------------------------------------------------------ */
/* Filters: pure functions, no I/O, allocation-free, any thread.            */

/*
 * Applies a RequestHeaderModifier / ResponseHeaderModifier to the header
 * list h[0..*n) in place (h has room for max entries; *n is updated). The
 * one implementation: the proxy runs it on the fields it forwards, the
 * tests and fuzzers call it directly.
 * Semantics (spec HTTPHeaderFilter): remove drops every field line with the
 * name; set replaces the first field line with the name by one line with
 * the configured name and value, where that line was, and drops the later
 * ones (appends it if absent); add appends a line (kept alongside existing
 * ones). Names compare case-insensitively (ASCII). Applied in the order
 * remove, set, add, each list in order, each entry to the list the previous
 * ones left: a name set twice ends with the later value; a name both
 * removed and set is set (at the end); an added name is never removed.
 * Views in h borrow from what h held and from mod. 0, or GW_ELIMIT when
 * more than max entries would result (h[0..*n) then holds the entries so
 * far, the operations left unapplied).
 */
int gw_route_headers_apply(const struct gw_ir_header_mod *mod, struct gw_h1_header *h, size_t *n,
                           size_t max);

/* What a redirect or rewrite needs to know about the request. */
struct gw_route_url {
    struct gw_str scheme; /* "http" or "https": the listener's protocol */
    struct gw_str host;   /* the request's host (authority); port ignored */
    uint16_t port;        /* the listener (Gateway) port */
    struct gw_str path;   /* normalised path, no query */
    struct gw_str query;  /* without '?'; empty if none */
};

/*
 * Appends the Location of a RequestRedirect filter f (GW_IR_F_REDIRECT) to
 * loc: scheme (f's, else the request's), hostname (f's, else the request's
 * without port), port (f's; else the scheme's well-known port 80/443 when f
 * sets the scheme; else the listener port), omitted when it is the
 * scheme's default (http:80, https:443); path (ReplaceFullPath,
 * ReplacePrefixMatch as gw_route_path_rewrite, else unchanged); the query
 * kept. m is the match (for prefix_len). The status to send is
 * f->status_code (302 when 0). 0, GW_ELIMIT, or GW_EINVAL when the Location
 * would hold CR, LF or NUL (loc unchanged either way).
 */
int gw_route_redirect_format(const struct gw_ir_filter *f, const struct gw_route_result *m,
                             const struct gw_route_url *url, struct gw_buf *loc);

/*
 * The path after a URLRewrite or redirect path modifier (path_mod, path of
 * f), given the request path and the match m:
 *   KEEP    path unchanged (*out = path)
 *   FULL    f->path
 *   PREFIX  f->path without its trailing '/' followed by the rest of the
 *           path after m->prefix_len bytes, "/" when that is empty. So with
 *           prefix /prefix: /prefix/one -> /one for "/", /prefix/ -> /,
 *           /prefix -> /, /prefix/one -> /x/one for "/x" or "/x/".
 * *out points into path, the IR, or buf (cap bytes). 0 or GW_ELIMIT.
 */
int gw_route_path_rewrite(const struct gw_ir_filter *f, const struct gw_route_result *m,
                          struct gw_str path, char *buf, size_t cap, struct gw_str *out);

/*
 * The Host to send upstream after a URLRewrite hostname: f->hostname when
 * set (the request's port is dropped), else host unchanged. Borrowed.
 */
struct gw_str gw_route_host_rewrite(const struct gw_ir_filter *f, struct gw_str host);

/* CORS (GEP-1767). */
enum gw_route_cors_kind {
    GW_ROUTE_CORS_NONE,      /* no Origin header: nothing to do */
    GW_ROUTE_CORS_PREFLIGHT, /* OPTIONS with Origin and
                                Access-Control-Request-Method: answer it
                                here (204) with headers[], never forward */
    GW_ROUTE_CORS_ACTUAL,    /* forward; add headers[] to the response */
};

#define GW_ROUTE_CORS_MAX_HEADERS 6

struct gw_route_cors {
    enum gw_route_cors_kind kind;
    bool allowed; /* the Origin (and, for a preflight, method and headers) are
                     allowed; when false headers[] is empty */
    struct gw_h1_header headers[GW_ROUTE_CORS_MAX_HEADERS];
    size_t nheaders;
};

/*
 * Evaluates a CORS filter f (GW_IR_F_CORS) for a request. allowOrigins
 * entries are "*", exact origins, or "scheme://" "*.suffix" wildcards (the '*'
 * matches one or more labels); comparison is case-insensitive on scheme and
 * host. The allowed origin is echoed (never "*" when credentials are
 * allowed). Preflight: Access-Control-Allow-Origin, -Methods (the list, or
 * the requested method for "*"), -Headers (the list, or the requested
 * headers for "*"), -Max-Age (when > 0), -Allow-Credentials: true (when
 * set), -Expose-Headers. Actual: -Allow-Origin, -Allow-Credentials,
 * -Expose-Headers. Joined lists are written to buf (cap bytes; 1 KiB covers
 * typical filters); header views borrow from buf, f, the request headers
 * and static strings. 0 or GW_ELIMIT.
 */
int gw_route_cors_eval(const struct gw_ir_filter *f, struct gw_str method,
                       const struct gw_h1_header *headers, size_t nheaders, char *buf, size_t cap,
                       struct gw_route_cors *out);

/*
 * Weighted backend choice for route r given a uniform random rnd: backend i
 * is chosen with probability weight_i / sum(weights); weight 0 is never
 * chosen. An invalid backend keeps its share: the caller answers 500 when
 * the returned backend has invalid set. NULL when the weights sum to 0 (or
 * there are no backends): answer 500 (the route's redirect, if any, is
 * handled before this).
 */
const struct gw_ir_backend *gw_route_backend_pick(const struct gw_ir_route *r, uint32_t rnd);

/*
 * Whether to mirror this request, given a uniform random rnd: num/den of
 * requests (GEP-3171). den 0 means always (no percentage given), num >= den
 * always, num 0 never.
 */
bool gw_route_mirror_sample(uint32_t num, uint32_t den, uint32_t rnd);

/*
 * Consistent hashing (LoadBalancerPolicy ConsistentHash): a Maglev lookup
 * table over a backend's endpoints. slot[i] is the index (in the order
 * given) of the endpoint that owns slot i; size is a prime >= 100 x the
 * endpoints, 65537 up to 655 endpoints (a size that does not follow every
 * change of the endpoint count is what keeps keys in place). Pure; the
 * table is the caller's.
 */
struct gw_route_maglev {
    uint32_t *slot; /* [size] (heap) */
    uint32_t size;  /* 0: no endpoint */
    size_t nendpoints;
};

/* The 64-bit hash of n bytes at p under seed: fixed across processes (no
 * random seed), so keys map alike everywhere. Pure. */
uint64_t gw_route_hash(uint64_t seed, const void *p, size_t n);
/* The table size for n endpoints: 65537, or while that is under 100 n,
 * the prime at or after twice the last plus one; capped (about 4 M
 * slots). */
uint32_t gw_route_maglev_size(size_t n);
/* Builds m for eps[0..n) (each named "ip:port", which alone decides the
 * endpoint's slots: the order of eps does not matter). 0, or GW_ELIMIT.
 * O(size log size), about 2 ms at -O2: once per snapshot and endpoint set,
 * off the loops (the proxy builds it at publish). The table is valid
 * until gw_route_maglev_release; lookups may run anywhere. */
int gw_route_maglev_init(struct gw_route_maglev *m, const struct gw_ir_endpoint *eps, size_t n);
void gw_route_maglev_release(struct gw_route_maglev *m);

/* The slot a key's hash falls in; the caller reads m->slot[] from there
 * (and walks forward past endpoints it cannot use). m->size > 0. */
static inline uint32_t
gw_route_maglev_find(const struct gw_route_maglev *m, uint64_t h)
{
    return (uint32_t)(h % m->size);
}

#endif /* GW_ROUTE_H */
