/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: what the translate steps share. One struct tr (the translation in
 * progress) carries the store, the options, the result and per-object
 * working state; each step (classes and gateways, listener sets, routes,
 * policies, the IR) reads what the earlier ones decided.
 */
#ifndef GW_STATUS_INTERNAL_H
#define GW_STATUS_INTERNAL_H

#include "base/base.h"
#include "config/config.h"
#include "ir/ir.h"
#include "status/status.h"

/* A route's view of one listener it attached to. */
struct att {
    const struct gw_meta *route;
    struct rt *rt;
    const char **hosts; /* effective hostnames (intersection); "*" = any */
    size_t nhosts;
};

/* One listener (of a Gateway or of a ListenerSet) and what was decided. */
struct lis {
    const struct gw_listener *l;
    int64_t bind_port;           /* the port bound for it: l->port, or mapped (map_ports) */
    const struct gw_meta *owner; /* Gateway or ListenerSet */
    struct gws *gw;
    struct lss *ls;        /* NULL for the Gateway's own listeners */
    unsigned kinds;        /* bit (1 << enum gw_kind) per supported route kind */
    unsigned attach_kinds; /* kinds as configured: attachment ignores listener status */
    bool accepted, resolved, programmed, conflicted, overlapping_tls;
    const char *acc_reason, *acc_msg;
    const char *rr_reason, *rr_msg;
    const char *conf_reason;
    unsigned attached; /* routes attached */
    struct gw_ir_cert *certs;
    size_t ncerts;
    const unsigned char *client_ca; /* frontend validation CA bundle */
    size_t client_ca_len;
    bool client_insecure;
    struct att *atts;
    size_t natts, cap;
};

/* A Gateway of ours. */
struct gws {
    const struct gw_gateway *g;
    struct lis *lis; /* its own listeners, then its ListenerSets' */
    size_t nown, nlis;
    const char **addrs; /* status addresses (IP text) */
    const char **addr_types;
    size_t naddrs;
    bool accepted, programmed;
    const char *acc_reason, *acc_msg, *prog_reason, *prog_msg;
    unsigned attached_sets;
    bool wants_pool; /* no usable static address given: take one from the pool */
    /* spec.tls: backend client certificate, frontend validation. */
    struct gw_ir_cert *client_cert;
    const char *rr_reason, *rr_msg; /* Gateway ResolvedRefs (backend TLS) */
    bool insecure_fallback;
};

/* A ListenerSet whose parent Gateway is ours. */
struct lss {
    const struct gw_listenerset *s;
    struct gws *gw;
    bool allowed, accepted; /* accepted: allowed, parent accepted, a listener valid */
    size_t first, n;        /* its listeners: gw->lis[first .. first+n) */
    size_t nvalid;          /* listeners accepted with their refs resolved */
};

/* A parentRef of a route that names a Gateway or ListenerSet of ours, and
 * what attachment decided for it (routes.c); tr_route_status writes it. */
struct rt_parent {
    const struct gw_parent_ref *p;
    /* The Gateway (of the ListenerSet). One that is not accepted serves
     * nothing: routes attach to its listeners (attachedRoutes counts them)
     * but are not Accepted. */
    const struct gws *gw;
    size_t matched;    /* listeners sectionName/port select */
    size_t attached;   /* accepted listeners it attached to */
    unsigned char why; /* routes.c enum why: what failed when none accepted it */
    bool unsupported;  /* it would attach, but no rule can be served (sp_all_dropped) */
};

/* A route (any of the five kinds) with at least one parent of ours. */
struct rt {
    const struct gw_meta *m;
    enum gw_kind kind;
    bool resolved;
    const char *rr_reason, *rr_msg;
    /* Its parentRefs of ours, in spec order. */
    struct rt_parent *parents;
    size_t nparents;
    /* Per rule, its compiled backends (for the IR). */
    struct gw_ir_backend **rule_backends;
    size_t *rule_nbackends;
    /* Its compiled (rule, match) entries (build.c), made once and copied
     * into every vhost the route serves; in t->scratch, NULL once the IR
     * is built. */
    void *tmpl;
    size_t ntmpl;
    bool compiled;
    const char *label; /* "Kind ns/name" in the IR arena, made with tmpl */
    uint32_t order;    /* rank among all routes by age, then kind (build.c) */
    /* Gateways it attached to, for BackendTLSPolicy ancestors. */
    struct gws **gws;
    size_t ngws;
    /* L4 routes: a hostname (NULL: every connection) of one listener it
     * attached to that an older route of the listener takes (build.c);
     * the first found. */
    const struct lis *shadow_lis;
    const char *shadow_host;
    const struct rt *shadow_by;
    /* HTTP and gRPC routes, sessionPersistence (session.c): rules not
     * served for a value gatehouse does not support (bit i: rule i), why
     * (PartiallyInvalid), whether that is every rule, and what is served
     * (the Accepted message). NULL messages: nothing to say. */
    uint64_t sp_dropped;
    const char *sp_bad, *sp_note;
    bool sp_all_dropped;
};

/* A BackendTLSPolicy's verdict for one Service (section) it targets. */
struct pol {
    const struct gw_backendtlspolicy *p;
    bool conflicted, valid;
    const char *acc_reason, *acc_msg, *rr_reason, *rr_msg;
    struct gw_ir_backend_tls *tls;
};

#define TR_COND_MEMO_BITS 6

struct tr {
    const struct gw_store *store;
    const char *controller;
    const char *ltt;
    struct gw_status *st;
    struct gw_ir *ir;
    struct gw_arena tmp;     /* working state, released at the end */
    struct gw_arena scratch; /* build.c: route entry templates, released when the IR is built */

    /* Address pool (network order, 16 bytes; v4 mapped in the last 4). */
    uint16_t port_base; /* opts.gateway_port_base */
    bool global_rl;     /* opts.global_ratelimits */
    bool pool;
    bool pool_v4;
    unsigned char pool_net[16];
    unsigned pool_bits;

    struct gws *gws;
    size_t ngws;
    struct lss *lss;
    size_t nlss;
    struct rt **rts;
    size_t nrts, rts_cap;
    struct pol *pols;
    size_t npols;
    struct tr_att_kind *rlp; /* ratelimit.c: the RateLimitPolicies */
    struct tr_att_kind *hcp; /* healthcheck.c: the HealthCheckPolicies */
    /* clienttraffic.c: the ClientTrafficPolicies; the conflicts on ports
     * build finds and status tells. */
    struct tr_att_kind *ctp;
    struct tr_ctp_conflict *ctp_conflicts;
    /* sourceaddress.c: the SourceAddressPolicies */
    struct tr_att_kind *sap;
    struct tr_att_kind *cbp; /* backendpolicy.c: the CircuitBreakerPolicies */
    struct tr_att_kind *lbp; /* backendpolicy.c: the LoadBalancerPolicies */
    /* backendtraffic.c: the XBackendTrafficPolicies */
    struct tr_att_kind *xbtp;
    /* auth.c: the JWT, BasicAuth and APIKey policies */
    struct tr_att_kind *jwtp, *bap, *akp;
    struct tr_att_kind *eap; /* extauth.c: the ExtAuthPolicies */
    struct tr_att_kind *cmp; /* compress.c: the CompressionPolicies */

    /* Where status value nodes come from (st->arena). */
    struct gw_sv_pool sv;

    /* output.c: recent conditions, to share their members (tr_cond). */
    struct tr_cond_memo {
        const char *type, *reason, *msg;
        int64_t generation;
        bool status;
        const struct gw_sv *c;
    } conds[1 << TR_COND_MEMO_BITS];

    /* routes.c: recent parentRef objects of route statuses, to share
     * their members (most routes name the same few parents). */
    struct tr_pref_memo {
        const struct gw_parent_ref *p;
        const struct gw_sv *pr;
    } prefs[1 << TR_COND_MEMO_BITS];
    /* routes.c: recent parents[] entries, to share their members (equal
     * parentRef, controller and conditions: most routes of a Gateway). */
    const struct gw_sv *entries[1 << TR_COND_MEMO_BITS];
    /* routes.c: recent whole route statuses (parents[] of shared entries),
     * for the items of routes whose status is the same. */
    const struct gw_sv *statuses[1 << TR_COND_MEMO_BITS];
    /* gateway.c: a listener's supportedKinds by its kinds bitmask (KBIT of
     * the route kinds), to share their members; NULL: not made yet. */
    const struct gw_sv *kinds_memo[32];
    /* refs.c: resolved backends by Service port (heap, open addressing). */
    struct bcache *bcache;
    size_t nbcache, bcache_cap;
    /* reads.c: what was read of Services (heap). */
    struct gw_status_svcread *reads;
    size_t nreads, reads_cap;
    struct tr_xb *xbs; /* xbackend.c: the XBackends resolved so far (t->tmp) */
};

/* session.c: the sessionPersistence verdicts of HTTP or gRPC route r
 * (r->sp_*). */
void tr_session_route(struct tr *t, struct rt *r);
/* The IR session of rule `rule` of r for a match of path type pt and path
 * path (in the IR arena), or NULL when the rule has none. */
struct gw_ir_session *tr_session_ir(struct tr *t, const struct rt *r, size_t rule,
                                    enum gw_ir_path_type pt, const char *path);

/* attach.c: gatehouse.dev policies attached as GEP-713 describes. */
enum tr_att_level {
    TR_AT_GATEWAY,
    TR_AT_LISTENER,     /* Gateway + sectionName */
    TR_AT_ROUTE,        /* HTTPRoute, GRPCRoute */
    TR_AT_RULE,         /* route + sectionName (the rule's name) */
    TR_AT_SERVICE,      /* Service */
    TR_AT_SERVICE_PORT, /* Service + sectionName (the port's name) */
};

struct tr_att_policy;

/* One targetRef of a policy, resolved. */
struct tr_att_target {
    const struct gw_policy_target_ref *ref;
    struct tr_att_policy *policy;
    enum tr_att_level level;
    bool foreign;                 /* exists, not ours: no status */
    const char *reason, *msg;     /* NULL: served (TargetNotFound, Conflicted) */
    const struct gws *gw;         /* GATEWAY, LISTENER */
    const struct lis *li;         /* LISTENER */
    const struct rt *rt;          /* ROUTE, RULE */
    size_t rule;                  /* RULE */
    const struct gw_service *svc; /* SERVICE, SERVICE_PORT */
    int64_t port;                 /* SERVICE_PORT: the named port's number */
    void *ir;                     /* the kind's compiled form for this target, made on first use */
};

struct tr_att_policy {
    const struct gw_meta *m;
    struct tr_att_target *targets;
    size_t ntargets;
    /* Set by the kind's own checks: the policy is not served and every
     * ancestor says Accepted=False Invalid with this message. */
    const char *invalid;
};

/* Every policy of one kind. */
struct tr_att_kind {
    enum gw_kind kind;
    struct tr_att_policy *v;
    size_t n;
};

/* Where a consumer looks for a policy: the fields of level. */
struct tr_att_where {
    enum tr_att_level level;
    const struct gws *gw;
    const struct lis *li;
    const struct rt *rt;
    size_t rule;
    const struct gw_service *svc;
    int64_t port;
};

/* Resolves every policy of kind (after tr_routes) into out (t->tmp),
 * conflicts included. */
void tr_attach_collect(struct tr *t, enum gw_kind kind, struct tr_att_kind *out);
/* The winning target at `at` (oldest policy, not conflicted or invalid), or
 * NULL. */
struct tr_att_target *tr_attach_winner(struct tr_att_kind *k, const struct tr_att_where *at);
/* status.ancestors of every policy of k. */
void tr_attach_status(struct tr *t, const struct tr_att_kind *k);
/* policy.c: whether route r has a backendRef to Service ns/svc. */
bool tr_route_uses_service(const struct rt *r, const char *ns, const char *svc);

/* backendtraffic.c: XBackendTrafficPolicy. Collects them (before tr_routes),
 * gives be the retry budget of Service svc's winner, finds the
 * sessionPersistence a rule without its own takes from the Service of a
 * backendRef (NULL: none; *policy: whose), writes status. */
void tr_xbtp_collect(struct tr *t);
void tr_xbtp_apply(struct tr *t, const struct gw_service *svc, struct gw_ir_backend *be);
const struct gw_session_persistence *tr_xbtp_session(struct tr *t, const struct rt *r, size_t rule,
                                                     const struct gw_meta **policy);
void tr_xbtp_status(struct tr *t);
/* session.c: why sp cannot be served as written; NULL if it can. */
const char *tr_session_unsupported(struct tr *t, const struct gw_session_persistence *sp);

/* ratelimit.c: RateLimitPolicies resolved against the Gateways and routes
 * (after tr_routes); the limits of route rt's rule `rule` (rule or route
 * target) into r; the limits of listener li (listener or Gateway target)
 * into those of its routes that have none; status.ancestors. */
void tr_ratelimits(struct tr *t);
void tr_ratelimit_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r);
void tr_ratelimit_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes,
                           size_t nroutes);
void tr_ratelimit_status(struct tr *t);

/* healthcheck.c: HealthCheckPolicies resolved against the Services (before
 * tr_routes, which builds the backends); the compiled check of Service
 * svc's port `port` (the port's policy, else the Service's; in the IR
 * arena, one per policy target) or NULL; status.ancestors. */
void tr_healthchecks(struct tr *t);
const struct gw_ir_healthcheck *tr_healthcheck_for(struct tr *t, const struct gw_service *svc,
                                                   int64_t port);
void tr_healthcheck_status(struct tr *t);
/* clienttraffic.c: ClientTrafficPolicies resolved (after tr_routes); the
 * X-Forwarded-For rule of listener li (listener, else Gateway target), or
 * NULL; the PROXY protocol settings of a port whose TCP listeners are
 * lis[0..n) (the oldest policy among theirs that sets proxyProtocol; the
 * policies that disagree with it are Conflicted there), or NULL;
 * status.ancestors. */
void tr_client_traffic(struct tr *t);
const struct gw_ir_xff *tr_client_traffic_xff(struct tr *t, const struct lis *li);
const struct gw_ir_proxy_protocol *
tr_client_traffic_port(struct tr *t, const struct lis *const *lis, size_t n, const char *port);
void tr_client_traffic_status(struct tr *t);

/* sourceaddress.c: SourceAddressPolicies resolved (after tr_routes); the
 * route/rule level ACL of route rt's rule `rule` into r->acl_route; the
 * Gateway/listener level ACL of li, or NULL; status.ancestors. */
void tr_source_addresses(struct tr *t);
void tr_source_address_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r);
const struct gw_ir_acl *tr_source_address_listener(struct tr *t, const struct lis *li);
void tr_source_address_status(struct tr *t);
/* A CIDR set of the IR (NULL when n is 0) from v[0..n), validated by the
 * decoder already (an entry that does not parse is skipped); *desc gets
 * the entries joined with "," ("-" when none), in the IR arena. */
const struct gw_net_cidr_set *tr_cidr_set(struct tr *t, const char *const *v, size_t n,
                                          const char **desc);
/* backendpolicy.c: CircuitBreakerPolicies and LoadBalancerPolicies
 * resolved (before tr_routes: backends are resolved there); the winners
 * for Service port sp of svc into be (port target, else Service target);
 * status.ancestors. */
void tr_backend_policies(struct tr *t);
void tr_backend_policy_apply(struct tr *t, const struct gw_service *svc,
                             const struct gw_service_port *sp, struct gw_ir_backend *be);
void tr_backend_policy_status(struct tr *t);
/* auth.c: JWTPolicy, BasicAuthPolicy and APIKeyPolicy resolved (after
 * tr_routes), their Secrets and ConfigMaps parsed into verifiers owned by
 * the IR (a missing or unusable one makes the policy Invalid); the
 * policies of route rt's rule `rule` (rule or route target) into r; those
 * of listener li (listener or Gateway target) into the routes that have
 * none of that kind; status.ancestors. */
void tr_auths(struct tr *t);
void tr_auth_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r);
void tr_auth_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes,
                      size_t nroutes);
void tr_auth_status(struct tr *t);
/* extauth.c: ExtAuthPolicies resolved (after tr_routes), their Services
 * resolved like backendRefs (a cross-namespace one needs a ReferenceGrant
 * from gatehouse.dev ExtAuthPolicy; one that does not resolve makes the
 * policy Invalid, failing closed); the policy of rule `rule` of rt into r,
 * that of listener li into the routes that have none; status.ancestors. */
void tr_extauths(struct tr *t);
void tr_extauth_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r);
void tr_extauth_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes,
                         size_t nroutes);
void tr_extauth_status(struct tr *t);

/* compress.c: CompressionPolicies resolved (after tr_routes); the policy
 * of rule `rule` of rt into r (rule, else route target), that of listener
 * li (listener, else Gateway target) into the routes that have none;
 * status.ancestors. */
void tr_compressions(struct tr *t);
void tr_compression_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r);
void tr_compression_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes,
                             size_t nroutes);
void tr_compression_status(struct tr *t);

/* reads.c: what the translation reads of Services (status.h). */
void tr_read_service(struct tr *t, const char *ns, const char *name, bool whole, int64_t port,
                     bool udp, int64_t target);
/* The target port svc maps port/udp to (at or above port_base), or -1. */
int64_t tr_service_target(const struct gw_service *svc, int64_t port, bool udp, uint16_t port_base);
/* Sorts the reads into t->st. */
void tr_reads_finish(struct tr *t);

/* output.c: status items and conditions */
struct gw_status_item *tr_item(struct tr *t, const struct gw_meta *m);
/* Appends a condition to arr. Its members may be shared with an equal
 * condition's (the tree is read-only once made). */
void tr_cond(struct tr *t, struct gw_sv *arr, const char *type, bool status, const char *reason,
             const char *msg, int64_t generation);
void tr_sort_items(struct gw_status *st);
/* qsort, after checking in n - 1 compares that base is not sorted already
 * (many inputs come in store order, which often is the order wanted). */
void tr_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
char *tr_printf(struct tr *t, const char *fmt, ...) GW_PRINTF(2, 3);
/* The concatenation of parts[0..n) (n <= TR_CAT_MAX; NULL reads "(null)",
 * as "%s" prints it) in a: a sprintf of "%s" only, without the format
 * parsing, for the strings made once per route or backend. TR_CAT(a, ...)
 * takes the parts as arguments. */
#define TR_CAT_MAX 8
char *tr_cat(struct gw_arena *a, size_t n, const char *const *parts);
#define TR_CAT(a, ...)                                              \
    tr_cat((a), GW_ARRAY_LEN(((const char *const[]){__VA_ARGS__})), \
           (const char *const[]){__VA_ARGS__})
/* v in decimal, as "%lld" prints it, written to the end of buf; returns
 * where it starts. */
#define TR_I64_LEN 24
const char *tr_i64(char buf[TR_I64_LEN], int64_t v);

/* gateway.c */
void tr_classes(struct tr *t);
void tr_gateways(struct tr *t);
void tr_gateway_status(struct tr *t);
int tr_pool_parse(struct tr *t, const char *cidr);
struct gws *tr_find_gateway(struct tr *t, const char *ns, const char *name);
struct lss *tr_find_listenerset(struct tr *t, const char *ns, const char *name);
bool tr_ns_allowed(struct tr *t, const struct gw_namespaces_from *from, const char *owner_ns,
                   const char *ns);

/* refs.c */
bool tr_grant_allows(struct tr *t, const char *from_group, const char *from_kind,
                     const char *from_ns, const char *to_group, const char *to_kind,
                     const char *to_ns, const char *to_name);
/* Resolves a backendRef of a route into out (in the IR arena). Returns NULL
 * if it resolves, else the ResolvedRefs reason (and *msg). */
/* xbackend.c: a backendRef to an XBackend (group gateway.networking.x-k8s.io),
 * as tr_backend. */
const char *tr_xbackend(struct tr *t, const struct gw_meta *route, const struct gw_backend_ref *ref,
                        bool grpc, struct gw_ir_backend *out, const char **msg);
/* gateway.c: a Secret with PEM tls.crt and tls.key that owner references
 * (r), copied into the IR; NULL with *reason (bad_reason, or
 * RefNotPermitted) and *msg if it does not resolve. */
struct gw_ir_cert *tr_secret_cert(struct tr *t, const struct gw_meta *owner,
                                  const struct gw_object_ref *r, const char *bad_reason,
                                  const char **reason, const char **msg);
const char *tr_backend(struct tr *t, const struct gw_meta *route, const struct gw_backend_ref *ref,
                       bool grpc, struct gw_ir_backend *out, const char **msg);
bool tr_is_pem(const unsigned char *p, size_t n);
/* refs.c: the ca.crt (PEM) of ConfigMaps refs[0..n) of namespace ns,
 * appended to ca; NULL, or why not (named "field[i]: ..."). */
const char *tr_ca_bundle(struct tr *t, const char *ns, const struct gw_object_ref *refs, size_t n,
                         const char *field, struct gw_buf *ca);

/* hostname.c */
/* Intersection of listener hostname lh (NULL: any) and route hostname rh
 * (NULL: any): the effective hostname, "*" for any, NULL if disjoint. */
const char *tr_host_intersect(const char *lh, const char *rh);
bool tr_host_matches(const char *pattern, const char *host);

/* routes.c: attachment and ResolvedRefs (before the IR), then the route
 * statuses (after it) */
void tr_routes(struct tr *t);
void tr_route_status(struct tr *t);

/* policy.c: resolve (before routes), then status (after routes) */
void tr_policies(struct tr *t);
void tr_policy_status(struct tr *t);
/* The winning valid-or-not policy for Service ns/name port section, NULL if none. */
const struct pol *tr_policy_for(struct tr *t, const char *ns, const char *svc, const char *section);

/* build.c */
void tr_build_ir(struct tr *t);

/* Kind bits */
#define KBIT(k) (1u << (k))

#endif /* GW_STATUS_INTERNAL_H */
