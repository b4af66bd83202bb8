/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ir: the intermediate representation the data plane serves from. One IR
 * snapshot is what translate (status/) produces from a store snapshot:
 * self-contained (its own arena, every string and byte copied, no pointer
 * into the store), immutable once built, and refcounted with an atomic count
 * so that workers can pin the snapshot a request started with while a new
 * one is published.
 *
 * Shape, in the order the data plane looks things up:
 *   ports      one per (address, port, transport): what to bind
 *   listeners  per port, most specific hostname first (exact, then longer
 *              wildcard, then catch-all): the listener a connection or a
 *              request's Host/SNI selects
 *   vhosts     per HTTP(S) listener, the hostname table: exact hostnames,
 *              then wildcards by length, then "*" (match anything)
 *   routes     per vhost, every (rule, match) pair in Gateway API
 *              precedence order; a router takes the first whose conditions
 *              hold, after the more specific vhosts found nothing
 *   l4         per TLS/TCP/UDP listener, the L4 routes (SNI for TLS)
 *   clusters   a rule's weighted backends with their ready endpoints
 * CIDR sets (net/net.h) of the edge policies belong to the IR too: made
 * with gw_ir_cidr_set_new, freed with it.
 */
#ifndef GW_IR_H
#define GW_IR_H

#include <stdatomic.h>

#include "base/base.h"
#include "net/net.h"

enum gw_ir_proto {
    GW_IR_HTTP,
    GW_IR_HTTPS,
    GW_IR_TLS, /* TLS listener: passthrough (SNI) or terminate */
    GW_IR_TCP,
    GW_IR_UDP,
};

/* "HTTP", "HTTPS", ...; static storage. */
const char *gw_ir_proto_name(enum gw_ir_proto p);

/* PEM certificate chain and key, as the Secret held them. */
struct gw_ir_cert {
    const char *secret; /* ns/name, for messages */
    const unsigned char *cert_pem;
    size_t cert_len;
    const unsigned char *key_pem;
    size_t key_len;
};

struct gw_ir_listener_tls {
    bool passthrough;
    struct gw_ir_cert *certs;
    size_t ncerts;
    /* Frontend client certificate validation: CA bundle (PEM), NULL if none. */
    const unsigned char *client_ca_pem;
    size_t client_ca_len;
    bool client_insecure_fallback;
};

/* Backend TLS (BackendTLSPolicy). */
struct gw_ir_backend_tls {
    const char *policy;          /* ns/name */
    const char *sni;             /* validation.hostname */
    const unsigned char *ca_pem; /* NULL with system_ca */
    size_t ca_len;
    bool system_ca;
    const char **sans; /* "DNS:x" / "URI:y"; empty: check the SNI */
    size_t nsans;
    /* XBackend tls.mode ClientAndServer: the certificate presented; NULL:
     * the Gateway's spec.tls.backend one (gw_ir_port), if any. */
    const struct gw_ir_cert *client_cert;
};

struct gw_ir_endpoint {
    const char *ip;
    uint16_t port;
};

enum gw_ir_app_proto {
    GW_IR_APP_HTTP1, /* default */
    GW_IR_APP_H2C,   /* kubernetes.io/h2c (and every gRPC backend) */
    GW_IR_APP_WS,    /* kubernetes.io/ws */
    GW_IR_APP_TLS,   /* backend TLS via BackendTLSPolicy */
};

/* A header modification (RequestHeaderModifier, ResponseHeaderModifier). */
struct gw_ir_header {
    const char *name;
    const char *value;
};

struct gw_ir_header_mod {
    struct gw_ir_header *set, *add;
    size_t nset, nadd;
    const char **remove;
    size_t nremove;
};

enum gw_ir_hc_type { GW_IR_HC_HTTP, GW_IR_HC_TCP, GW_IR_HC_GRPC };

/* An inclusive range of HTTP status codes. */
struct gw_ir_status_range {
    uint16_t start, end;
};

/*
 * The active health check of a backend (HealthCheckPolicy on its Service
 * or Service port). The data plane keeps one health state per (backend
 * name, endpoint), shared by every route and worker and kept across
 * snapshots; every backend built for the same Service port points at the
 * same check.
 */
struct gw_ir_healthcheck {
    const char *policy; /* ns/name */
    enum gw_ir_hc_type type;
    int64_t interval_ms, timeout_ms, jitter_ms;
    uint32_t healthy_threshold, unhealthy_threshold;
    const char *path;                    /* HTTP: request path */
    const char *host;                    /* HTTP: Host; NULL: the endpoint's ip:port */
    struct gw_ir_status_range *statuses; /* HTTP: at least one */
    size_t nstatuses;
    const char *grpc_service; /* GRPC: HealthCheckRequest.service ("" the server) */
};

/*
 * A CircuitBreakerPolicy as it applies to the endpoints of a Service port:
 * per endpoint (address:port), counted across workers; 0: no limit. A
 * request over a limit is answered 503 at once.
 */
struct gw_ir_circuit {
    const char *policy;       /* ns/name */
    uint32_t max_connections; /* upstream connections open */
    uint32_t max_requests;    /* requests in flight */
    uint32_t max_retries;     /* retries in flight; UINT32_MAX: no limit (0 forbids retries) */
};

/*
 * An XBackendTrafficPolicy's retryConstraint (GEP-1731) for the backends of
 * a Service: a retry is made while the retries of the last interval_ms stay
 * under percent of the requests of that interval, or while those of the
 * last min_interval_ms stay under min_count. Counted across workers in a
 * table the data plane keeps by key_id across snapshots.
 */
struct gw_ir_retry_budget {
    const char *policy; /* ns/name */
    const char *key_id; /* names the policy and the Service: the counts' table */
    uint32_t percent;   /* 0..100 */
    uint32_t min_count; /* >= 1 */
    uint64_t interval_ms, min_interval_ms;
};

enum gw_ir_lb_type { GW_IR_LB_ROUND_ROBIN, GW_IR_LB_LEAST_REQUEST, GW_IR_LB_CONSISTENT_HASH };

enum gw_ir_hash_key { GW_IR_HASH_HEADER, GW_IR_HASH_COOKIE, GW_IR_HASH_SOURCE_IP };

/* A LoadBalancerPolicy as it applies to the endpoints of a Service port. */
struct gw_ir_lb {
    const char *policy; /* ns/name */
    enum gw_ir_lb_type type;
    enum gw_ir_hash_key key; /* CONSISTENT_HASH */
    const char *name;        /* HEADER: lower-case header name; COOKIE: cookie name */
    int64_t slow_start_ms;   /* 0: none */
};

/*
 * One weighted backend of a rule. A backend that did not resolve (missing
 * Service, no grant, bad kind) keeps its weight with invalid set: the
 * router answers 500 for its share, as the spec requires.
 */
struct gw_ir_backend {
    const char *name; /* ns/service:port, or the reference as written */
    uint32_t weight;
    uint32_t id; /* dense index (gw_ir_index), next to weight: the pick reads both */
    bool invalid;
    enum gw_ir_app_proto app;
    struct gw_ir_backend_tls *tls; /* NULL: plain */
    struct gw_ir_endpoint *endpoints;
    size_t nendpoints;
    struct gw_ir_header_mod *request_headers; /* backendRef filter, NULL if none */
    struct gw_ir_header_mod *response_headers;
    const struct gw_ir_healthcheck *health; /* NULL: no active check */
    const struct gw_ir_circuit *circuit;    /* CircuitBreakerPolicy; NULL: none */
    const struct gw_ir_lb *lb;              /* LoadBalancerPolicy; NULL: the proxy's default */
    /* An XBackend (docs/external-backends.md): the FQDN the data plane
     * resolves (A and AAAA) into the endpoints, every address at dns_port;
     * endpoints stays empty in the IR. NULL: endpoints are the endpoints. */
    const char *dns_host;
    uint16_t dns_port;
    /* XBackendTrafficPolicy retryConstraint; NULL: retries unbudgeted. */
    const struct gw_ir_retry_budget *retry_budget;
};

enum gw_ir_filter_type {
    GW_IR_F_REQUEST_HEADERS,
    GW_IR_F_RESPONSE_HEADERS,
    GW_IR_F_REDIRECT,
    GW_IR_F_REWRITE,
    GW_IR_F_MIRROR,
    GW_IR_F_CORS,
};

enum gw_ir_path_mod { GW_IR_PATHMOD_KEEP, GW_IR_PATHMOD_FULL, GW_IR_PATHMOD_PREFIX };

struct gw_ir_filter {
    enum gw_ir_filter_type type;
    struct gw_ir_header_mod headers; /* REQUEST_HEADERS, RESPONSE_HEADERS */
    /* REDIRECT and REWRITE */
    const char *scheme;   /* redirect; NULL keeps */
    const char *hostname; /* NULL keeps */
    int port;             /* redirect; -1 keeps (scheme default) */
    int status_code;      /* redirect */
    enum gw_ir_path_mod path_mod;
    const char *path; /* full path or prefix replacement */
    /* MIRROR */
    struct gw_ir_backend *mirror;
    uint32_t mirror_num, mirror_den; /* share mirrored: num/den */
    /* CORS */
    const char **cors_origins, **cors_methods, **cors_headers, **cors_expose;
    size_t ncors_origins, ncors_methods, ncors_headers, ncors_expose;
    bool cors_credentials;
    int cors_max_age;
};

enum gw_ir_path_type { GW_IR_PATH_EXACT, GW_IR_PATH_PREFIX, GW_IR_PATH_REGEX };

enum gw_ir_session_type { GW_IR_SESSION_COOKIE, GW_IR_SESSION_HEADER };

/*
 * A rule's sessionPersistence (GEP-1619), one per (rule, match) entry (the
 * cookie Path follows the match). The data plane signs its tokens with a
 * key it derives from key_id, which names the rule (kind, namespace, name,
 * uid, rule index): every worker, reload and replica serving the same rule
 * derives the same key, and no two rules share one.
 */
struct gw_ir_session {
    enum gw_ir_session_type type;
    bool permanent;      /* cookie: Max-Age from absolute_ms (lifetimeType Permanent) */
    const char *name;    /* cookie or header name: an RFC 9110 token */
    const char *path;    /* cookie Path: the match's path (a regex: its literal prefix) */
    int64_t absolute_ms; /* -1: none */
    int64_t idle_ms;     /* -1: none */
    const char *key_id;
    uint32_t id; /* dense index (gw_ir_index) in [0, nsession_ids) */
};

enum gw_ir_rl_key { GW_IR_RL_ROUTE, GW_IR_RL_CLIENT, GW_IR_RL_HEADER };

/*
 * One limit of a RateLimitPolicy as it applies to one of its targets (a
 * token bucket per key, refilled at requests/interval, holding up to
 * burst). Every route of the target shares it; key_id names it across
 * snapshots (policy uid, target, limit name), so that a reload keeps the
 * buckets' state.
 */
struct gw_ir_ratelimit {
    const char *policy; /* ns/name */
    const char *name;   /* the limit's name: RateLimit-Policy's item */
    const char *key_id;
    enum gw_ir_rl_key key;
    const char *header; /* GW_IR_RL_HEADER: lower-case name */
    uint32_t requests;
    uint32_t burst;
    int64_t interval_ms;
    /* scope Global: the buckets live in Redis (every replica shares them);
     * fail_closed: refused when Redis does not answer in time (failureMode
     * Closed), else let through. */
    bool global;
    bool fail_closed;
    uint32_t id; /* dense index (gw_ir_index) in [0, nratelimit_ids) */
};

/*
 * A SourceAddressPolicy as it applies at one level (Gateway or listener;
 * route or rule): a client address is let through when allow is NULL or
 * holds it, and deny does not (deny wins).
 */
struct gw_ir_acl {
    const char *policy;                  /* ns/name */
    const char *desc;                    /* "allow=... deny=..." (gatehouse check --ir) */
    const struct gw_net_cidr_set *allow; /* NULL: everyone */
    const struct gw_net_cidr_set *deny;  /* NULL: nobody */
};

/* Whether acl lets sa through (a NULL acl lets everyone through). Pure,
 * any thread, O(log n). */
bool gw_ir_acl_allows(const struct gw_ir_acl *acl, const struct sockaddr *sa);

/* ClientTrafficPolicy clientAddress.xForwardedFor of an HTTP(S) listener:
 * by trusted hop count (trusted_hops > 0) or by trusted CIDRs. */
struct gw_ir_xff {
    const char *policy; /* ns/name */
    const char *desc;   /* "hops=N" or "trusted=..." */
    unsigned trusted_hops;
    const struct gw_net_cidr_set *trusted;
};

/* ClientTrafficPolicy proxyProtocol of a port: connections may (must, when
 * required) start with a PROXY v1/v2 header; only peers in trusted may
 * send one; the header must be complete within timeout_ms. */
struct gw_ir_proxy_protocol {
    const char *policy; /* ns/name of the policy the settings come from */
    const char *desc;   /* "trusted=... required=... timeout=..." */
    const struct gw_net_cidr_set *trusted;
    bool required;
    int64_t timeout_ms;
};

/*
 * Authentication policies (JWTPolicy, BasicAuthPolicy, APIKeyPolicy) as
 * they apply to a route: the most specific target's, shared by every route
 * entry it covers. The verifiers themselves (auth/auth.h) are opaque here:
 * translate builds them and ties their release to the IR arena
 * (gw_arena_on_release), so they live exactly as long as the IR. No secret
 * is kept in the clear: key sets are public keys, htpasswd holds hashes,
 * API keys are kept as SHA-256 digests. A policy that is Invalid (its
 * Secret missing, say) fails closed: its targets get an object with
 * `invalid` set and no verifier, and the proxy answers 500.
 */
struct gw_auth_jwt_provider;
struct gw_auth_htpasswd;
struct gw_auth_apikeys;

struct gw_ir_claim_header {
    const char *claim;
    const char *header; /* lower-case */
};

/* A JWK Set the data plane fetches over HTTPS and refreshes (its fetcher
 * thread, proxy/jwks.c): the provider's verifier then has no keys of its
 * own and is given the last good set with each verification. */
struct gw_ir_jwks_remote {
    uint32_t id;                 /* index in gw_ir.jwks_remotes */
    const char *policy;          /* ns/name, for logs */
    const char *uri;             /* https://... */
    const unsigned char *ca_pem; /* caCertificateRefs' bundle; NULL: the system trust store */
    size_t ca_len;
    int64_t refresh_ms, timeout_ms;
};

struct gw_ir_jwt_provider {
    const char *name;
    const struct gw_auth_jwt_provider *verifier;
    const struct gw_ir_jwks_remote *remote; /* NULL: the verifier's own keys */
    bool cookie;                            /* the token is the value of cookie `from` ... */
    const char *from;                       /* ... or of header `from` (lower-case) */
    const char *prefix; /* header: stripped first (case-insensitive); NULL: none */
    bool bearer;        /* header Authorization without a prefix given: "Bearer " */
    struct gw_ir_claim_header *claims;
    size_t nclaims;
};

struct gw_ir_jwt {
    const char *policy; /* ns/name */
    bool invalid;       /* fail closed: 500 */
    const char *realm;
    struct gw_ir_jwt_provider *providers;
    size_t nproviders;
    /* Every claimsToHeaders header of every provider, removed from the
     * request before any is set (lower-case). */
    const char **strip;
    size_t nstrip;
};

struct gw_ir_basic {
    const char *policy; /* ns/name */
    bool invalid;       /* fail closed: 500 */
    const char *realm;
    const struct gw_auth_htpasswd *users;
    uint64_t serial;         /* process-unique: keys the workers' caches */
    const char *user_header; /* lower-case; NULL: none */
};

struct gw_ir_apikey {
    const char *policy; /* ns/name */
    bool invalid;       /* fail closed: 500 */
    const struct gw_auth_apikeys *keys;
    bool query;                /* the key is query parameter `from` ... */
    const char *from;          /* ... or header `from` (lower-case) */
    const char *client_header; /* lower-case; NULL: none */
};

/*
 * ExtAuthPolicy as it applies to a route: the most specific target's,
 * shared by every route entry it covers. The authorization service is a
 * resolved Service port (endpoints, BackendTLSPolicy) asked over HTTP/1.1.
 * A policy whose Service does not resolve is Invalid and fails closed
 * (`invalid`: the proxy answers 500).
 */
struct gw_ir_extauth {
    const char *policy; /* ns/name */
    bool invalid;
    const struct gw_ir_backend *backend;
    const char *path_prefix; /* "" when none */
    const char **to_auth;    /* lower-case; besides method, path and Host */
    size_t nto_auth;
    const char **from_auth; /* lower-case; a client's copies are always removed */
    size_t nfrom_auth;
    uint32_t max_body; /* includeBody.maxBytes; 0: no body */
    uint32_t timeout_ms;
    bool fail_open;
};

/*
 * A CompressionPolicy as it applies to a route (docs/policies.md): the
 * codings in the server's order, each with its level, the content types
 * and the minimum size. Shared by every route entry of the policy's target.
 */
enum gw_ir_coding { GW_IR_CODING_NONE, GW_IR_CODING_GZIP, GW_IR_CODING_BR, GW_IR_CODING_ZSTD };

struct gw_ir_compress {
    const char *policy; /* ns/name */
    uint8_t order[3];   /* enum gw_ir_coding, preferred first */
    uint8_t norder;     /* 1..3 */
    int8_t level[4];    /* by enum gw_ir_coding */
    const char **types; /* lower case; a prefix when it ends in '/' */
    size_t ntypes;
    uint64_t min_size; /* a Content-Length below it is sent as is */
};

struct gw_ir_match_kv {
    const char *name;
    const char *value;
    bool regex;
};

/*
 * One (rule, match) pair of an HTTPRoute or GRPCRoute. GRPC matches are
 * compiled to their HTTP equivalents (POST /service/method, exact or regex)
 * with grpc set.
 */
struct gw_ir_route {
    /* What a request reads once its route is chosen, together (the router
     * prefetches the route's lines): filters, backends, timeouts. */
    struct gw_ir_filter *filters;
    size_t nfilters;
    /* Weighted backends; empty with no redirect: 500. */
    struct gw_ir_backend *backends;
    size_t nbackends;
    int64_t request_timeout_ms;          /* -1: none */
    int64_t backend_timeout_ms;          /* -1: none */
    const struct gw_ir_session *session; /* NULL: none (the usual case: one test) */
    /* The RateLimitPolicy limits of the most specific target (rule, route,
     * listener, Gateway) that has one; shared by the target's routes. */
    struct gw_ir_ratelimit *ratelimits;
    size_t nratelimits;
    /* Authentication, checked in this order before the rate limits; NULL:
     * none. */
    const struct gw_ir_jwt *jwt;
    const struct gw_ir_basic *basic;
    const struct gw_ir_apikey *apikey;
    /* ExtAuthPolicy, asked before the authentication policies; NULL: none. */
    const struct gw_ir_extauth *extauth;
    /* CompressionPolicy of the most specific target; NULL: none. */
    const struct gw_ir_compress *compress;
    /* SourceAddressPolicy: the Gateway/listener level and the route/rule
     * level (each the most specific that has one); both must allow. */
    const struct gw_ir_acl *acl_gateway, *acl_route;
    /* What the response reads, when the route's lines are cold again: the
     * retry policy and the route's dense id (gw_ir_index; metrics). */
    size_t nretry_codes; /* read first (retry_code), then id: adjacent */
    uint32_t id;
    int retry_attempts; /* -1: none */
    int *retry_codes;
    int64_t retry_backoff_ms; /* -1: default */
    /* The match (the router compiles it) and names. */
    const char *route;     /* Kind ns/name */
    const char *rule_name; /* NULL if unnamed */
    unsigned rule_index, match_index;
    bool grpc;
    enum gw_ir_path_type path_type;
    const char *path;
    const char *method; /* NULL: any */
    struct gw_ir_match_kv *headers;
    size_t nheaders;
    struct gw_ir_match_kv *query;
    size_t nquery;
};

struct gw_ir_vhost {
    const char *hostname; /* "foo.example.com", "*.example.com" or "*" */
    struct gw_ir_route *routes;
    size_t nroutes;
};

/* A TLSRoute (per SNI hostname), TCPRoute or UDPRoute rule. */
struct gw_ir_l4 {
    const char *route;    /* Kind ns/name */
    const char *hostname; /* TLS: SNI ("*" any); NULL otherwise */
    struct gw_ir_backend *backends;
    size_t nbackends;
};

struct gw_ir_listener {
    const char *owner;    /* Gateway ns/name or ListenerSet ns/name */
    const char *name;     /* listener name */
    const char *hostname; /* NULL: any */
    enum gw_ir_proto proto;
    struct gw_ir_listener_tls *tls; /* HTTPS and TLS */
    struct gw_ir_vhost *vhosts;     /* HTTP, HTTPS (and TLS terminate: none) */
    size_t nvhosts;
    struct gw_ir_l4 *l4; /* TLS, TCP, UDP; TLS sorted by SNI specificity */
    size_t nl4;
    /* SourceAddressPolicy of the listener or its Gateway (TCP and TLS:
     * checked at accept), NULL if none. */
    const struct gw_ir_acl *acl;
    const struct gw_ir_xff *xff; /* HTTP(S): NULL: the peer is the client */
};

struct gw_ir_port {
    const char *address; /* "0.0.0.0", "127.0.0.2", "::1" */
    uint16_t port;
    bool udp;
    const char *gateway; /* ns/name of the Gateway that owns the address */
    /* The Gateway's spec.tls.backend client certificate, presented to TLS
     * backends; NULL if none. */
    const struct gw_ir_cert *backend_client_cert;
    struct gw_ir_listener *listeners;
    size_t nlisteners;
    /* NULL: no PROXY protocol on this port. */
    const struct gw_ir_proxy_protocol *proxy_protocol;
};

struct gw_ir_gateway {
    const char *ns, *name;
    const char **addresses;
    size_t naddresses;
    /* spec.infrastructure labels/annotations, for what gatehouse creates. */
    struct gw_ir_header *labels, *annotations;
    size_t nlabels, nannotations;
};

struct gw_ir_owned_set;

struct gw_ir {
    atomic_uint refs;
    struct gw_arena arena;
    /* Dense numbering (gw_ir_index): routes and backends have ids in
     * [0, nroute_ids) and [0, nbackend_ids), so that per-route and
     * per-backend state of a consumer is a plain array indexed by id. */
    bool indexed;
    uint32_t nroute_ids, nbackend_ids, nsession_ids, nratelimit_ids;
    struct gw_ir_gateway *gateways;
    size_t ngateways;
    struct gw_ir_port *ports; /* sorted by address, port, udp */
    size_t nports;
    struct gw_ir_owned_set *owned_sets; /* gw_ir_cidr_set_new's, freed with the IR */
    /* Every remote JWKS of the JWT providers (translate numbers them). */
    const struct gw_ir_jwks_remote **jwks_remotes;
    size_t njwks_remotes;
};

/* A new, empty IR with one reference (heap). The builder (translate) fills
 * it from ir->arena and then never changes it again. */
struct gw_ir *gw_ir_new(void);
/* Pins ir (any thread). Returns ir. */
struct gw_ir *gw_ir_ref(struct gw_ir *ir);
/* Drops a reference (any thread); the last one frees everything. NULL is fine. */
void gw_ir_unref(struct gw_ir *ir);

/*
 * Numbers ir's objects once it is built: every HTTP route (vhosts of every
 * listener, in IR order) gets id 0, 1, ... and every backend (a route's
 * backends, its mirror filters' backends, the L4 routes' backends) too, in
 * a space of their own, and every distinct session (gw_ir_session, shared
 * by a route's vhost copies) too, and every distinct rate limit; sets
 * ir->nroute_ids, ir->nbackend_ids, ir->nsession_ids, ir->nratelimit_ids
 * and ir->indexed. Idempotent: an indexed IR is left untouched (nothing is
 * written), so calling it on an IR that readers already share is safe.
 * Call it before the IR is shared (the proxy does at publish).
 */
void gw_ir_index(struct gw_ir *ir);

/* A CIDR set (gw_net_cidr_set_new of v[0..n)) that lives as long as ir.
 * For the builder only (not thread-safe on one ir). */
const struct gw_net_cidr_set *gw_ir_cidr_set_new(struct gw_ir *ir, const struct gw_net_cidr *v,
                                                 size_t n);

/* Copies into the IR's arena (NULL stays NULL). */
const char *gw_ir_strdup(struct gw_ir *ir, const char *s);

/*
 * Appends a readable, stable, line-oriented dump of ir to out (for tests
 * and `gatehouse check --ir`). PEM bytes are shown by length, not content.
 * 0 or GW_ELIMIT.
 */
int gw_ir_format(const struct gw_ir *ir, struct gw_buf *out);

#endif /* GW_IR_H */
