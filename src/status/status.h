/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: translate, the control plane as a pure function. A store
 * snapshot goes in; the status of every object gatehouse owns (GatewayClass,
 * Gateway, ListenerSet, the five route kinds, BackendTLSPolicy) and an IR
 * snapshot (ir/ir.h) come out. No I/O, no clocks, no globals: everything the
 * Gateway API says about attachment, hostname intersection, precedence,
 * ReferenceGrant and conditions lives here.
 *
 * Statuses are kept as small JSON-like value trees (struct gw_sv) in the
 * result's arena, exactly what `kubectl get -o json` would show under
 * `status:`; gw_status_format() writes them as a Kubernetes List.
 */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include "base/base.h"
#include "config/config.h"
#include "ir/ir.h"

/* The compile-time default controller name (meson defines it project-wide). */
#ifndef GW_CONTROLLER_NAME
#define GW_CONTROLLER_NAME "gatehouse.dev/gateway-controller"
#endif

/* ------------------------------------------------------------------------ */
/* Value trees                                                              */

enum gw_sv_type { GW_SV_NULL, GW_SV_BOOL, GW_SV_INT, GW_SV_STR, GW_SV_ARR, GW_SV_OBJ };

/* One value. Object members and array items are a linked list of children
 * (key set for object members), in insertion order. 48 bytes: a status
 * tree is most of a route's status memory (s and i share their storage:
 * read the one of the node's type). */
struct gw_sv {
    enum gw_sv_type type;
    uint32_t n;      /* children */
    const char *key; /* member name inside an object */

    union {
        const char *s; /* STR */
        int64_t i;     /* INT, BOOL */
    };
    struct gw_sv *child, *last, *next;
};

/* Where nodes come from: an arena, in blocks of GW_SV_BLOCK nodes (one arena
 * allocation per block; a status tree has many small nodes). Caller
 * storage; the nodes live as long as the arena, the pool is only needed
 * while nodes are made. */
#define GW_SV_BLOCK 64

struct gw_sv_pool {
    struct gw_arena *arena;
    struct gw_sv *next; /* the current block's unused nodes */
    size_t left;
};

void gw_sv_pool_init(struct gw_sv_pool *p, struct gw_arena *a);

/* Constructors (a zeroed node of type t from p); strings are borrowed (the
 * caller keeps them alive as long as the tree, normally by allocating them
 * from the pool's arena). */
struct gw_sv *gw_sv_new(struct gw_sv_pool *p, enum gw_sv_type t);
/* Appends child to an array, or as member key of an object; returns child. */
struct gw_sv *gw_sv_add(struct gw_sv *parent, const char *key, struct gw_sv *child);
/* A string member (s NULL reads ""), an integer, an empty object or array
 * appended to parent; each returns the new node. */
struct gw_sv *gw_sv_add_str(struct gw_sv_pool *p, struct gw_sv *obj, const char *key,
                            const char *s);
struct gw_sv *gw_sv_add_int(struct gw_sv_pool *p, struct gw_sv *obj, const char *key, int64_t v);
struct gw_sv *gw_sv_add_obj(struct gw_sv_pool *p, struct gw_sv *parent, const char *key);
struct gw_sv *gw_sv_add_arr(struct gw_sv_pool *p, struct gw_sv *parent, const char *key);
/* Container to takes the members (or items) of from, shared, not copied:
 * status trees are never changed once made. */
void gw_sv_share(struct gw_sv *to, const struct gw_sv *from);
/* Member key of obj, NULL if absent. */
const struct gw_sv *gw_sv_get(const struct gw_sv *obj, const char *key);

/* JSON (pretty, two-space indent, insertion order) or YAML (block style,
 * keys sorted as kubectl prints them). Each returns 0 or GW_ELIMIT. */
int gw_sv_format_json(const struct gw_sv *v, struct gw_buf *out);
int gw_sv_format_yaml(const struct gw_sv *v, struct gw_buf *out);

/* Whether a and b are the same JSON value: object members compared by key
 * (order ignored), arrays in order, BOOL and INT distinct. NULL equals
 * only NULL. Pure. */
bool gw_sv_equal(const struct gw_sv *a, const struct gw_sv *b);
/* A deep copy of v from p, keys and strings copied into p's arena (the
 * copy outlives v). NULL for NULL. */
struct gw_sv *gw_sv_copy(struct gw_sv_pool *p, const struct gw_sv *v);

/* ------------------------------------------------------------------------ */
/* Features                                                                 */

struct gw_feature {
    const char *name; /* upstream feature name, e.g. "HTTPRouteMethodMatching" */
    bool claimed;     /* gatehouse implements it (listed in supportedFeatures) */
};

/* The one table of Gateway API features, sorted by name; static storage. */
const struct gw_feature *gw_status_features(size_t *n);
bool gw_status_feature_claimed(const char *name);

/* ------------------------------------------------------------------------ */
/* Translate                                                                */

struct gw_status_opts {
    const char *controller_name; /* NULL: GW_CONTROLLER_NAME */
    /* CIDR ("127.0.0.0/24", "fd00::/120") Gateways without spec.addresses take
     * addresses from, and static addresses must fall in. NULL: none (the
     * wildcard address, any static address usable). */
    const char *address_pool;
    /* lastTransitionTime written on every condition (no clocks here). NULL:
     * "1970-01-01T00:00:00Z". */
    const char *transition_time;
    /* Per-Gateway ports (0: off). A Gateway that binds the wildcard (no
     * usable static address, no pool) shares that address with every other
     * such Gateway, so each of its listener ports is bound at a port of its
     * own from this one up, which the Service generated for it
     * (gw_status_gateway_service_name) maps the listener port to: two
     * Gateways can both listen on port 80. A mapping the store's generated
     * Service already has is kept, so every replica and every translate
     * binds the same port. */
    uint16_t gateway_port_base;
    /* A Redis is configured (gatehouse run --redis): RateLimitPolicy limits
     * with scope Global are served. false: a policy with one is Invalid. */
    bool global_ratelimits;
};

/* A listener port of a Gateway and the port gatehouse binds for it. */
struct gw_status_gwport {
    const char *ns, *name; /* the Gateway */
    int64_t port;          /* the listener port */
    bool udp;
    int64_t bind_port; /* == port unless mapped (gateway_port_base) */
};

/* The name of the Service gatehouse generates for Gateway name: the
 * Gateway's name and "-gatehouse", shortened with a hash to 63 characters
 * when longer. Written to out (cap >= 64). */
void gw_status_gateway_service_name(const char *gateway, char *out, size_t cap);

/* A read of a Service by a translation (reads.c): the whole Service (a
 * backendRef names it), or one port of a Gateway's generated Service and
 * the port the translation bound for it (a Service that maps the port
 * there leaves the translation as it is). */
struct gw_status_svcread {
    uint64_t key; /* namespace and name */
    int64_t port, target;
    bool udp;
    bool whole;
};

/* The status of one object gatehouse writes. */
struct gw_status_item {
    enum gw_kind kind;
    const char *ns; /* NULL for GatewayClass */
    const char *name;
    int64_t generation;
    /* The object's whole `status`. Read-only: equal subtrees (conditions)
     * may be shared between items. */
    struct gw_sv *status;
    /* Routes: some parent entry of ours is not Accepted=True and
     * ResolvedRefs=True. Others: the object is not accepted. */
    bool not_ready;
};

struct gw_status {
    struct gw_arena arena;        /* owns every item, tree and string */
    struct gw_status_item *items; /* by kind (enum gw_kind order), then ns/name */
    size_t n, cap;
    size_t routes_not_ready; /* routes with some parent entry of ours not ready */
    /* Every listener port (distinct port and protocol) of each Gateway of
     * ours, and what it binds; by Gateway ns/name, then port. */
    struct gw_status_gwport *gwports;
    size_t ngwports;
    /* What the translation read of Services, sorted (reads.c). */
    struct gw_status_svcread *svcreads;
    size_t nsvcreads;
    uint16_t port_base;
};

/*
 * Whether a change to Service ns/name (or to one of its EndpointSlices) can
 * change what st was translated from. gw_status_reads_service_whole: a
 * backendRef named it, so any change to it or its EndpointSlices can.
 * gw_status_service_reads_same: translating with svc (NULL: no such
 * Service) as Service ns/name gives what st's translation gave: no
 * backendRef names it, and if it is a Gateway's generated Service, it maps
 * each listener port to the port bound for it.
 */
bool gw_status_reads_service_whole(const struct gw_status *st, const char *ns, const char *name);
bool gw_status_service_reads_same(const struct gw_status *st, const char *ns, const char *name,
                                  const struct gw_service *svc);

/*
 * Translates store into statuses and an IR. On success *out_status (heap;
 * gw_status_free) and *out_ir (one reference; gw_ir_unref) are set; out_ir
 * may be NULL when only statuses are wanted. GW_EINVAL if opts are invalid
 * (a malformed address pool). Pure: may run on any thread, the store is only
 * read.
 */
int gw_status_translate(const struct gw_store *store, const struct gw_status_opts *opts,
                        struct gw_status **out_status, struct gw_ir **out_ir);
void gw_status_free(struct gw_status *st);

/*
 * gw_status_translate in two phases, for a caller that wants the IR out
 * before the statuses are written (traffic needs only the IR):
 * gw_status_translate_ir decides everything and makes the IR (*out_ir: one
 * reference, may be NULL) and a pending translation (*out_pending, heap);
 * gw_status_pending_finish then writes the statuses those decisions imply
 * and frees the pending translation. The result is the same as
 * gw_status_translate's. store must stay alive and unchanged until the
 * pending translation is finished or freed (gw_status_pending_free drops it
 * without statuses). GW_EINVAL as gw_status_translate. Pure, as
 * gw_status_translate; the IR is not written by the second phase, so it may
 * be published between the two.
 */
struct gw_status_pending;
int gw_status_translate_ir(const struct gw_store *store, const struct gw_status_opts *opts,
                           struct gw_status_pending **out_pending, struct gw_ir **out_ir);
struct gw_status *gw_status_pending_finish(struct gw_status_pending *p);
void gw_status_pending_free(struct gw_status_pending *p);

/* The item of kind ns/name, NULL if gatehouse writes no status for it. */
const struct gw_status_item *gw_status_find(const struct gw_status *st, enum gw_kind kind,
                                            const char *ns, const char *name);

/*
 * Writes st as a Kubernetes List ({"apiVersion":"v1","kind":"List","items":
 * [{apiVersion, kind, metadata{name, namespace, generation}, status}]}) in
 * JSON or YAML. 0 or GW_ELIMIT.
 */
int gw_status_format(const struct gw_status *st, bool yaml, struct gw_buf *out);

/* ------------------------------------------------------------------------ */
/* lastTransitionTime (times.c)                                             */

/* A time as Kubernetes writes metav1.Time: RFC 3339 in UTC, seconds, "Z"
 * ("2026-12-07T05:00:00Z"), into out (at least GW_STATUS_TIME_LEN bytes).
 * Returns out. Pure. */
#define GW_STATUS_TIME_LEN 32
char *gw_status_time_format(int64_t epoch_s, char *out);

/*
 * desired (a status tree from translate, with placeholder times) stamped
 * against prev (the same object's previous status, or NULL): a copy from
 * p where each condition keeps prev's lastTransitionTime when prev has a
 * condition of the same type with the same status at the same place, else
 * gets now. Places: status.conditions; listeners[] matched by name;
 * parents[] by parentRef (group, kind, namespace, name, sectionName, port)
 * and controllerName; ancestors[] by ancestorRef and controllerName.
 * desired is never written (its subtrees may be shared). The copy's nodes
 * are p's down to each condition and each item of those lists; below
 * other members (a parentRef's fields, addresses...) it shares desired's
 * nodes, and its keys and strings are desired's (borrowed: desired's arena
 * must outlive it) except the times, copied into p's arena. Pure.
 */
struct gw_sv *gw_status_times_carry(struct gw_sv_pool *p, const struct gw_sv *desired,
                                    const struct gw_sv *prev, const char *now);
/*
 * gw_status_times_carry for every item of st against the item of the same
 * kind/ns/name in prev (NULL: none): each item's status is replaced by its
 * stamped copy, allocated in st's arena (the old tree stays there, unused;
 * stamped conditions equal in members and time share their members). With
 * no prev every condition takes now, written in place without a copy.
 * prev is only read and may be freed afterwards. Pure.
 */
void gw_status_stamp_times(struct gw_status *st, const struct gw_status *prev, const char *now);

#endif /* GW_STATUS_H */
