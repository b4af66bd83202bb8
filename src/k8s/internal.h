/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s internals: the pieces of the Kubernetes source and the contracts
 * between them. Each part has one file (or two) and is written against
 * this header only:
 *
 *   config.c     kubeconfig / in-cluster configuration -> gw_k8s_config
 *   http.c       the API client: libcurl multi-socket on a gw_loop
 *   frame.c      watch-stream framing: bytes -> one JSON event at a time
 *   backoff.c    exponential backoff with jitter, Retry-After (pure)
 *   discovery.c  which version serves a kind: one round per API group
 *   reflector.c  paged list, watch, resume, 410 relist, per kind
 *   crds.c       which kinds' CRDs are installed: a CRD watch, else polling
 *   cache.c      the objects the reflectors hold, decoded once; a store
 *   statusdoc.c  desired status vs the object's: merge, carry times, diff
 *   writer.c     status writes: coalesced, rate-limited, 409 re-read
 *   lease.c      leader election on a coordination.k8s.io/v1 Lease
 *   source.c     ties them together behind gw_k8s_source (k8s.h)
 *
 * Everything runs on the control thread's loop; nothing is thread-safe.
 */
#ifndef GW_K8S_INTERNAL_H
#define GW_K8S_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "config/config.h"
#include "k8s/k8s.h"
#include "load/load.h"
#include "loop/loop.h"
#include "status/status.h"

/* FNV-1a over n bytes, continuing from h (start with GW_K8S_FNV_OFFSET):
 * the hashes that tell the cache and the status checks what changed. */
#define GW_K8S_FNV_OFFSET 1469598103934665603ull

static inline uint64_t
gw_k8s_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* ======================================================================== */
/* config.c: where the API server is and who we are                        */

struct gw_k8s_config {
    char *server;    /* "https://host:port", no trailing slash; heap */
    char *namespace; /* in-cluster namespace, or the context's; NULL if none */
    /* Trust: one of these (PEM), never neither for https. */
    char *ca_file;
    char *ca_data;
    /* Credentials: a token, a token file (re-read when it changes, as a
     * projected service-account token rotates), or a client certificate. */
    char *token;
    char *token_file;
    char *cert_file, *key_file;
    char *cert_data, *key_data; /* PEM */
};

/* In-cluster: KUBERNETES_SERVICE_HOST/PORT from the environment, and
 * dir/token, dir/ca.crt, dir/namespace (dir NULL: the standard
 * /var/run/secrets/kubernetes.io/serviceaccount). 0, or GW_ENOTFOUND when
 * not in a pod (no KUBERNETES_SERVICE_HOST), or GW_EINVAL with a message
 * in err (heap, caller frees). */
int gw_k8s_config_incluster(const char *dir, struct gw_k8s_config *out, char **err);
/* A kubeconfig file (path NULL: $KUBECONFIG, else ~/.kube/config), its
 * current-context (or context if non-NULL): server, certificate-authority
 * (-data), token / tokenFile, client-certificate(-data) / client-key(-data);
 * relative paths are relative to the file. 0 or GW_EINVAL/-errno with a
 * message in err (heap). */
int gw_k8s_config_kubeconfig(const char *path, const char *context, struct gw_k8s_config *out,
                             char **err);
void gw_k8s_config_release(struct gw_k8s_config *c);

/* ======================================================================== */
/* http.c: requests to the API server                                       */

struct gw_k8s_http;
struct gw_k8s_req;

struct gw_k8s_resp {
    long code; /* HTTP status; 0 when no response came (err says why) */
    int err;   /* 0, or a negative GW_E* / negated errno: transport failure */
    /* The whole body, NUL-terminated (streamed requests: only when code is
     * not 2xx, the Status object the server sent). Borrowed for the call. */
    const char *body;
    size_t len;
    int64_t retry_after_s; /* Retry-After in seconds, -1 if absent */
};

/* The request ended (any outcome, cancel excepted); req is freed after it
 * returns. */
typedef void (*gw_k8s_done_fn)(void *data, const struct gw_k8s_resp *resp);
/* Streamed body bytes of a 2xx response (chunked framing already
 * removed), as they arrive. Return < 0 to abort the request (done is then
 * called with err = that value). */
typedef int (*gw_k8s_data_fn)(void *data, const char *p, size_t n);

struct gw_k8s_req_opts {
    const char *method;       /* "GET" (NULL), "POST", "PUT", "PATCH", "DELETE" */
    const char *path;         /* "/apis/g/v/namespaces/ns/kind?x=y", copied */
    const char *content_type; /* of body; NULL: application/json */
    const char *body;         /* copied; NULL: none */
    size_t body_len;
    gw_k8s_data_fn on_data; /* NULL: the body is buffered for done */
    gw_k8s_done_fn on_done; /* required */
    void *data;
    const char *accept;  /* the Accept header's value; NULL: application/json */
    uint64_t timeout_ms; /* whole request; 0: none (a watch) */
    size_t max_body;     /* buffered body limit; 0: 64 MiB */
};

/* A client on loop for cfg (copied). Verifies the server's certificate
 * against the CA always (a CA that is itself the leaf is accepted, as Go
 * accepts any certificate in its pool: X509_V_FLAG_PARTIAL_CHAIN). HTTP/2
 * when the server offers it (every request multiplexed on one
 * connection), else HTTP/1.1 with keep-alive. 0 or a negative code. */
int gw_k8s_http_new(struct gw_loop *loop, const struct gw_k8s_config *cfg,
                    struct gw_k8s_http **out);
/* Cancels every request (no callbacks) and frees. */
void gw_k8s_http_free(struct gw_k8s_http *h);
/* Blocks (poll, outside the loop) until no buffered request is in flight
 * (streamed ones do not count), at most timeout_ms: for the last requests
 * of a shutdown (the Lease release). 0, GW_ETIMEOUT or a negated errno.
 * Not from a callback of h. */
int gw_k8s_http_flush(struct gw_k8s_http *h, uint64_t timeout_ms);
/* Starts a request; it is not called back before this returns. Never
 * fails (a request that cannot start ends with err set, on a later
 * turn). The handle stays valid until done runs or cancel. */
struct gw_k8s_req *gw_k8s_http_request(struct gw_k8s_http *h, const struct gw_k8s_req_opts *o);
/* Ends req without calling done. */
void gw_k8s_req_cancel(struct gw_k8s_req *req);

/* Counts for /metrics: requests that ended, by HTTP code (0: transport
 * error), and in flight. */
struct gw_k8s_http_stats {
    uint64_t by_code[600];
    uint64_t in_flight;
};
const struct gw_k8s_http_stats *gw_k8s_http_stats(const struct gw_k8s_http *h);

/* ======================================================================== */
/* frame.c: the watch stream                                                */

/*
 * A watch response body is a stream of JSON objects ({"type":...,
 * "object":...}), each normally followed by a newline, arriving in
 * arbitrary pieces. The framer finds where each event ends (a top-level
 * JSON object balanced outside strings, whitespace between events
 * ignored), without trusting the newlines. Bounded: an event longer than
 * max is an error. Pure.
 */
struct gw_k8s_frame {
    struct gw_buf buf; /* bytes of events not yet returned */
    size_t scan;       /* how far buf has been scanned */
    int depth;
    bool in_str, esc;
    size_t max;
    size_t done;  /* bytes at the front already returned or blank: dropped next call */
    size_t start; /* where the event being scanned began */
    int err;      /* sticky: the first error of feed */
};

void gw_k8s_frame_init(struct gw_k8s_frame *f, size_t max);
void gw_k8s_frame_release(struct gw_k8s_frame *f);
/* Appends n bytes. 0, or GW_ELIMIT (an event over max), GW_EPARSE
 * (something other than an object at the top level). */
int gw_k8s_frame_feed(struct gw_k8s_frame *f, const char *p, size_t n);
/* The next complete event: *p and *n point into the framer (valid until the
 * next feed or next call). 1 if one was returned, 0 if none is complete. */
int gw_k8s_frame_next(struct gw_k8s_frame *f, const char **p, size_t *n);

/* ======================================================================== */
/* backoff.c                                                                */

/* client-go's shape: base doubling to max, jitter, reset after a success
 * held for a while. Pure; the random source is the caller's. */
struct gw_k8s_backoff {
    uint64_t base_ms, max_ms, cur_ms;
    double jitter; /* 0..1: the delay is cur * (1 + jitter * rand) */
};

/* cur = base; jitter = 1.0 (client-go's reflector), the caller may change it. */
void gw_k8s_backoff_init(struct gw_k8s_backoff *b, uint64_t base_ms, uint64_t max_ms);
/* The delay before the next attempt (rand in [0,1)); grows cur. A
 * Retry-After (seconds, -1 if none) is a floor. */
uint64_t gw_k8s_backoff_next(struct gw_k8s_backoff *b, double rand, int64_t retry_after_s);
void gw_k8s_backoff_reset(struct gw_k8s_backoff *b);

/* Jitter: a number in [0,1) from *state (xorshift64*; not for secrets). */
double gw_k8s_rand01(uint64_t *state);
/* A non-zero state for gw_k8s_rand01 from the time, the pid, the owner's
 * address and salt (so that owners made at once differ). */
uint64_t gw_k8s_rand_seed(const void *owner, uint64_t salt);

/* ======================================================================== */
/* discovery.c: which version serves a resource                             */

struct gw_k8s_discovery;
struct gw_k8s_lookup;

/* A lookup's answer: version (borrowed for the call) serves the plural,
 * namespaced or not; version NULL: its group serves no such resource (the
 * group is absent, or none of its versions lists it: its CRD is not
 * installed, or not yet Established). */
typedef void (*gw_k8s_found_fn)(void *data, const char *version, bool namespaced);

struct gw_k8s_discovery *gw_k8s_discovery_new(struct gw_k8s_http *http, struct gw_loop *loop);
/* Drops every lookup (no callbacks) and frees. */
void gw_k8s_discovery_free(struct gw_k8s_discovery *d);
/*
 * Which version of group ("": core, /api/v1 only) serves plural (copied).
 * Answered by a round of requests sent after this call, never from a
 * cache or a round already in flight, so a CRD installed before it is
 * seen; and shared: every lookup of the group made before its round's
 * first request goes out (a round starts on a later loop turn) is
 * answered by that round: GET /apis/G, then /apis/G/V in preference order
 * until each plural is found or no version is left. A 404 means absent;
 * any other failure repeats the round after a backoff (500 ms doubling to
 * 30 s, one warning each) while the lookups wait. fn runs once, from a
 * loop callback; the handle is valid until then or until cancelled.
 */
struct gw_k8s_lookup *gw_k8s_discovery_lookup(struct gw_k8s_discovery *d, const char *group,
                                              const char *plural, gw_k8s_found_fn fn, void *data);
/* Drops a lookup not yet answered (no callback); NULL: nothing. */
void gw_k8s_lookup_cancel(struct gw_k8s_lookup *l);

struct gw_k8s_discovery_stats {
    uint64_t rounds, requests, errors;
};
const struct gw_k8s_discovery_stats *gw_k8s_discovery_stats(const struct gw_k8s_discovery *d);

/* ======================================================================== */
/* reflector.c: one kind, listed then watched                               */

/* The API resource of a kind, found by discovery. */
struct gw_k8s_resource {
    enum gw_kind kind;  /* GW_KIND__COUNT: a resource outside the model (gw_k8s_api) */
    const char *group;  /* "" core; static storage */
    char *version;      /* served version (discovery); heap; NULL: not installed */
    const char *plural; /* "httproutes"; static */
    bool namespaced;
};

/* A resource outside the configuration model, at a fixed version (no
 * discovery): apiextensions.k8s.io/v1 customresourcedefinitions. Static. */
struct gw_k8s_api {
    const char *group, *version, *plural;
    const char *name; /* for logs: "CustomResourceDefinition" */
    bool namespaced;
};

enum gw_k8s_event {
    GW_K8S_LIST_BEGIN, /* a (re)list starts: objects not delivered before LIST_END are gone */
    GW_K8S_ADDED,      /* an object, from a list or a watch */
    GW_K8S_MODIFIED,
    GW_K8S_DELETED,
    GW_K8S_LIST_END, /* the list is complete (the first one: the kind is synced) */
};

/* One event of kind; obj is the object's root (a map; apiVersion and kind
 * may be missing in list items), borrowed for the call, NULL for
 * LIST_BEGIN/END. */
typedef void (*gw_k8s_event_fn)(void *data, enum gw_kind kind, enum gw_k8s_event ev,
                                const struct gw_node *obj);
/* A list or watch was answered 403 Forbidden or 404 Not Found (resp,
 * borrowed for the call). */
typedef void (*gw_k8s_refused_fn)(void *data, const struct gw_k8s_resp *resp);

struct gw_k8s_reflector;

struct gw_k8s_reflector_opts {
    struct gw_k8s_http *http;
    struct gw_loop *loop;
    struct gw_k8s_discovery *discovery; /* finds kind's version; required unless api */
    enum gw_kind kind;
    /* Instead of kind: a resource outside the model, listed and watched
     * the same way (its events carry kind GW_KIND__COUNT). */
    const struct gw_k8s_api *api;
    /* Lists and watches ask for PartialObjectMetadata: objects carry their
     * metadata only (a metadata-only informer; the CRDs' schemas are
     * megabytes). */
    bool metadata_only;
    /* Called instead of retrying when a list or watch is refused (403 or
     * 404): the reflector stops (gw_k8s_reflector_start starts it again).
     * NULL: retried like any other failure. It must not free r. */
    gw_k8s_refused_fn on_refused;
    const char *const *namespaces; /* NULL-terminated; NULL: all */
    size_t page_size;              /* list limit; 0: 500 */
    gw_k8s_event_fn on_event;
    void *data;
};

/*
 * Discovery (gw_k8s_discovery, shared by the kinds of a group), then list
 * (limit/continue pages, from one consistent snapshot; a 410 on a continue
 * restarts the list), then watch from the list's resourceVersion with
 * allowWatchBookmarks=true; the last resourceVersion seen (bookmarks
 * included) resumes a watch that ended or broke; 410 Gone (status or ERROR
 * event) relists; other errors back off (gw_k8s_backoff, Retry-After
 * honoured). A kind whose CRD is not served is skipped (one debug line)
 * until gw_k8s_reflector_recheck says to look again: it costs no request
 * while absent. Never hot-loops: every retry path goes through the
 * backoff.
 * A list's items are delivered page by page as the pages arrive (one page
 * in memory at a time), between LIST_BEGIN and LIST_END; a list that
 * starts over opens with a new LIST_BEGIN, and only a LIST_END says which
 * objects are gone.
 */
int gw_k8s_reflector_new(const struct gw_k8s_reflector_opts *o, struct gw_k8s_reflector **out);
void gw_k8s_reflector_start(struct gw_k8s_reflector *r);
void gw_k8s_reflector_free(struct gw_k8s_reflector *r);

/* What is known of a kind's CRD, for gw_k8s_reflector_recheck. */
enum gw_k8s_recheck {
    GW_K8S_RECHECK_POLL,    /* nothing: a poll (no CRD watch); an absent kind looks again */
    GW_K8S_RECHECK_PRESENT, /* it exists (a list saw it; its status changed): an absent kind
                             * looks again, and once more 1 s later if still absent (its
                             * discovery may lag its Established condition) */
    GW_K8S_RECHECK_CHANGED, /* created, or its spec changed (served versions): as PRESENT,
                             * and a kind listed or watched starts over from discovery */
    GW_K8S_RECHECK_GONE,    /* deleted: a kind not absent starts over (and finds it absent) */
};

/* Its CRD changed (or a poll): look again as how says. Not for an api
 * reflector, nor before start (nothing happens). */
void gw_k8s_reflector_recheck(struct gw_k8s_reflector *r, enum gw_k8s_recheck how);
/* Whether discovery found the kind absent (and it waits for a recheck). */
bool gw_k8s_reflector_is_absent(const struct gw_k8s_reflector *r);
/* The first list completed (or the kind is known not to be installed). It
 * is already true when that first LIST_END is delivered (an absent kind
 * delivers an empty LIST_BEGIN/LIST_END too). */
bool gw_k8s_reflector_is_synced(const struct gw_k8s_reflector *r);

struct gw_k8s_reflector_stats {
    uint64_t events[GW_K8S_LIST_END + 1];
    uint64_t lists, relists, watches, errors;
    double last_event; /* seconds since the epoch; 0: none */
    bool installed;
};
const struct gw_k8s_reflector_stats *gw_k8s_reflector_stats(const struct gw_k8s_reflector *r);

/* The version discovery found served (NULL until then, or when the kind
 * is not installed); owned by r. */
const char *gw_k8s_reflector_version(const struct gw_k8s_reflector *r);

/* Static facts about a kind: API group, plural, namespaced. */
const char *gw_k8s_kind_plural(enum gw_kind kind);

/* ======================================================================== */
/* crds.c: which kinds' CRDs are installed                                  */

struct gw_k8s_crds;

struct gw_k8s_crds_opts {
    struct gw_k8s_http *http;
    struct gw_loop *loop;
    /* kind's CRD appeared, changed or went (how: what to do about it). */
    void (*on_change)(void *data, enum gw_kind kind, enum gw_k8s_recheck how);
    /* The CRDs cannot be watched: time to poll (every absent kind looks
     * again: GW_K8S_RECHECK_POLL). */
    void (*on_poll)(void *data);
    void *data;
};

/*
 * Lists and watches apiextensions.k8s.io/v1 customresourcedefinitions
 * (metadata only, through a gw_k8s_reflector) and tells on_change of the
 * CRDs of our kinds: the first list's as PRESENT, then CHANGED when one is
 * created or its spec (generation) moves, PRESENT when only its status or
 * metadata does (it may just have become Established), GONE when deleted
 * (or missing from a relist). If the list or watch is refused (403, 404),
 * it warns once and calls on_poll 30 s later, then at intervals doubling to
 * 5 min, for ever. Callbacks come from loop callbacks, never from start.
 */
int gw_k8s_crds_new(const struct gw_k8s_crds_opts *o, struct gw_k8s_crds **out);
void gw_k8s_crds_start(struct gw_k8s_crds *c);
void gw_k8s_crds_free(struct gw_k8s_crds *c);
/* The CRDs could not be watched: absent kinds are polled for. */
bool gw_k8s_crds_is_polling(const struct gw_k8s_crds *c);
/* The first list of the CRDs is in (they are watched). */
bool gw_k8s_crds_is_synced(const struct gw_k8s_crds *c);

/* ======================================================================== */
/* statusdoc.c: what to write                                               */

/*
 * The status to write for one object: desired (from translate, with the
 * translate-time placeholder lastTransitionTime) against current (the
 * object's status as the API server has it, as a JSON value tree; NULL if
 * it has none). Returns the status to write, allocated from pool, or NULL
 * when nothing would change. Rules:
 *  - A condition (in status.conditions, listeners[].conditions,
 *    parents[].conditions, ancestors[].conditions) keeps current's
 *    lastTransitionTime when current has the same type with the same
 *    status at the same place; otherwise it gets now (RFC 3339).
 *  - Routes (status.parents) and policies (status.ancestors): entries whose
 *    controllerName is not controller stay as current has them, in
 *    current's order, ours after them; our entries are desired's.
 *  - Equality is of JSON values (object member order ignored).
 */
struct gw_sv *gw_k8s_status_merge(struct gw_sv_pool *pool, enum gw_kind kind,
                                  const struct gw_sv *desired, const struct gw_sv *current,
                                  const char *controller, const char *now);
/* A doc-tree value as a gw_sv tree from pool (strings copied into the
 * pool's arena). */
struct gw_sv *gw_k8s_sv_from_node(struct gw_sv_pool *pool, const struct gw_node *n);
bool gw_k8s_sv_equal(const struct gw_sv *a, const struct gw_sv *b);

/* ======================================================================== */
/* writer.c: status writes                                                  */

struct gw_k8s_writer;

/* Where an object's status lives: e.g.
 * /apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes/name/status */
struct gw_k8s_writer_opts {
    struct gw_k8s_http *http;
    struct gw_loop *loop;
    double qps; /* writes per second, default 50 */
    int burst;  /* default 100 */
    const char *controller;
    /* The served version of a kind (the reflector's), for paths. */
    const char *(*version_of)(void *data, enum gw_kind kind);
    void *data;
};

int gw_k8s_writer_new(const struct gw_k8s_writer_opts *o, struct gw_k8s_writer **out);
void gw_k8s_writer_free(struct gw_k8s_writer *w);
/*
 * Wants ns/name of kind to have status (borrowed for the call: copied),
 * given the object's resourceVersion. The write is a merge patch of
 * /status with metadata.resourceVersion (optimistic concurrency); a later
 * want for the same object replaces a queued one (coalesced). 409: the
 * object is read again (GET), the merge redone with `remerge`, and the
 * write retried. Writes go out at most qps per second (burst).
 */
typedef struct gw_sv *(*gw_k8s_remerge_fn)(void *data, struct gw_sv_pool *pool, enum gw_kind kind,
                                           const struct gw_node *object);
void gw_k8s_writer_want(struct gw_k8s_writer *w, enum gw_kind kind, const char *ns,
                        const char *name, const char *resource_version, const struct gw_sv *status,
                        gw_k8s_remerge_fn remerge, void *data);
/* Drops every queued write (lost the lease); in-flight ones finish. */
void gw_k8s_writer_clear(struct gw_k8s_writer *w);
size_t gw_k8s_writer_pending(const struct gw_k8s_writer *w);

struct gw_k8s_writer_stats {
    uint64_t writes, conflicts, errors;
    uint64_t requests; /* sent, each through the rate limit (PATCH, GET after a 409) */
};
const struct gw_k8s_writer_stats *gw_k8s_writer_stats(const struct gw_k8s_writer *w);

/* ======================================================================== */
/* lease.c: leader election                                                 */

struct gw_k8s_lease;
typedef void (*gw_k8s_leader_fn)(void *data, bool leader);

struct gw_k8s_lease_opts {
    struct gw_k8s_http *http;
    struct gw_loop *loop;
    const char *ns, *name; /* the Lease */
    const char *identity;  /* holderIdentity: hostname_pid-random */
    uint64_t lease_ms;     /* 15000 */
    uint64_t renew_ms;     /* 10000: give up leadership if not renewed within */
    uint64_t retry_ms;     /* 2000 */
    gw_k8s_leader_fn on_change;
    void *data;
};

/* client-go's leaderelection semantics on coordination.k8s.io/v1: acquire
 * when the Lease is absent or its renewTime + leaseDurationSeconds has
 * passed (by our clock, from when we last saw it change), renew every
 * retry, lose it (callback at once) when a renew has not succeeded within
 * renew_ms or another holder is seen. Releases it on free when leader. */
int gw_k8s_lease_new(const struct gw_k8s_lease_opts *o, struct gw_k8s_lease **out);
void gw_k8s_lease_start(struct gw_k8s_lease *l);
void gw_k8s_lease_free(struct gw_k8s_lease *l);
bool gw_k8s_lease_is_leader(const struct gw_k8s_lease *l);
uint64_t gw_k8s_lease_transitions(const struct gw_k8s_lease *l);

/* The decision of one round, pure (lease.c; tested alone). holder is the
 * Lease's spec.holderIdentity ("" or NULL: none); observed_ms is our
 * monotonic time when the Lease was last seen to change, duration_ms its
 * leaseDurationSeconds. */
enum gw_k8s_lease_action {
    GW_K8S_LEASE_CREATE, /* absent: create it, holding it */
    GW_K8S_LEASE_UPDATE, /* ours (renew) or free/expired (take over) */
    GW_K8S_LEASE_WAIT,   /* another holder's, not expired */
};
enum gw_k8s_lease_action gw_k8s_lease_decide(bool exists, const char *holder, uint64_t observed_ms,
                                             uint64_t duration_ms, uint64_t now_ms, const char *me);

/* ======================================================================== */
/* cache.c: the objects, decoded once                                       */

/* One object as the API server has it. */
struct gw_k8s_obj {
    char *ns, *name; /* heap; ns NULL for cluster-scoped kinds */
    char *rv;        /* metadata.resourceVersion; heap */
    int64_t generation;
    uint64_t hash;              /* of everything translate reads */
    struct gw_store_part *part; /* holds obj (one reference); NULL when rejected */
    struct gw_meta *obj;        /* decoded; NULL when rejected */
    struct gw_diags diags;      /* what decode said (why it was rejected) */
    /* The current .status as compact JSON (heap; NULL: none): kept as
     * text, the smallest form, and read when a status is to be compared
     * (gw_k8s_obj_status). */
    char *status;
    size_t status_len;
    /* Rejected objects: what their status needs: spec.parentRefs (routes),
     * spec.gatewayClassName (Gateways), spec.controllerName (classes), in
     * refs_arena. */
    struct gw_arena refs_arena;
    struct gw_sv *refs;
    /* The status writer's bookkeeping (source.c): the hash of the desired
     * status last compared, and whether .status changed since. */
    uint64_t desired_hash;
    bool status_changed;
    bool seen; /* delivered by the list in progress */
};

/* o's current status as a value tree from pool; NULL if it has none. */
struct gw_sv *gw_k8s_obj_status(const struct gw_k8s_obj *o, struct gw_sv_pool *pool);

struct gw_k8s_cache;

/* What an event changed. */
enum {
    GW_K8S_CHANGED_CONFIG = 1u << 0, /* something translate reads */
    GW_K8S_CHANGED_STATUS = 1u << 1, /* an object's status or resourceVersion */
};

struct gw_k8s_cache *gw_k8s_cache_new(void);
void gw_k8s_cache_free(struct gw_k8s_cache *c);
/* Takes one reflector event; returns GW_K8S_CHANGED_* bits. */
unsigned gw_k8s_cache_event(struct gw_k8s_cache *c, enum gw_kind kind, enum gw_k8s_event ev,
                            const struct gw_node *obj);
/* A fresh store holding every decoded object (the store holds their
 * parts), and every decode diagnostic appended to diags. */
void gw_k8s_cache_store(const struct gw_k8s_cache *c, struct gw_store *store,
                        struct gw_diags *diags);
struct gw_k8s_obj *gw_k8s_cache_get(const struct gw_k8s_cache *c, enum gw_kind kind, const char *ns,
                                    const char *name);
/* Objects of kind, in no particular order: *n gets the count. */
struct gw_k8s_obj *const *gw_k8s_cache_list(const struct gw_k8s_cache *c, enum gw_kind kind,
                                            size_t *n);
size_t gw_k8s_cache_count(const struct gw_k8s_cache *c, enum gw_kind kind);
size_t gw_k8s_cache_rejected(const struct gw_k8s_cache *c);
/* The objects of kind decode took (listed, not rejected). */
size_t gw_k8s_cache_decoded(const struct gw_k8s_cache *c, enum gw_kind kind);

/* ======================================================================== */
/* services.c: a Service per Gateway                                        */

/*
 * For each Gateway of ours, the Service that gives it an address of its own
 * (gw_status_gateway_service_name): owned by the Gateway (ownerReferences:
 * deleting the Gateway deletes it), carrying spec.infrastructure.labels and
 * annotations and the gateway.networking.k8s.io/gateway-name label,
 * selecting the gatehouse pods, type and annotations from the Gateway's
 * infrastructure.parametersRef ConfigMap or else the GatewayClass's
 * parametersRef ConfigMap (keys serviceType, serviceAnnotations: a YAML
 * map), default LoadBalancer. Each listener port maps to the port the pods
 * bind for it (translate's gwports). Written with server-side apply
 * (field manager gatehouse), only when the applied content's hash differs
 * from the one the Service carries; Services of ours whose Gateway is gone
 * or no longer ours are deleted. Leader only; requests at most 4 at once;
 * a failed one is retried at the next sync (at the latest 10 s later).
 */
struct gw_k8s_services;

struct gw_k8s_services_opts {
    struct gw_k8s_http *http;
    struct gw_loop *loop;
    const char *controller;
    const struct gw_kv *selector; /* the pods' labels; borrowed */
    size_t nselector;
    /* Called (from a timer) when a failed request wants another sync. */
    void (*again)(void *data);
    void *data;
};

int gw_k8s_services_new(const struct gw_k8s_services_opts *o, struct gw_k8s_services **out);
void gw_k8s_services_free(struct gw_k8s_services *r);
/* Brings the generated Services in line with store (the configuration in
 * force, its Services included) and st (its statuses: the ports). */
void gw_k8s_services_sync(struct gw_k8s_services *r, const struct gw_store *store,
                          const struct gw_status *st);

struct gw_k8s_services_stats {
    uint64_t applied, deleted, errors;
};
const struct gw_k8s_services_stats *gw_k8s_services_stats(const struct gw_k8s_services *r);

#endif /* GW_K8S_INTERNAL_H */
