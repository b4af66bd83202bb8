/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config: the typed Gateway API model (every kind gatehouse reads, after
 * CRD defaulting) and the store that holds a consistent set of objects,
 * keyed by kind/namespace/name. Pure data: no I/O.
 *
 * Conventions of the model (decode in load/ fills it, nothing else writes):
 *  - Every struct starts with `struct gw_pos pos`: where its map (or its
 *    scalar) is in the source, for status messages that point at a field.
 *  - Strings are NUL-terminated `const char *` in the store's arena; NULL
 *    means the field was absent (and has no default).
 *  - Optional integers that are absent (and have no default) hold -1;
 *    durations are milliseconds, -1 when absent.
 *  - Tri-state booleans (`int`) are -1 when absent, else 0 or 1.
 *  - Enums have a 0 `..._NONE` value for "absent"; gw_enum_name() spells them.
 *  - Lists are GW_LIST(T): `.v` and `.n`, in document order.
 *  - Optional sub-objects are pointers (NULL when absent); CRD defaults that
 *    create objects (allowedRoutes, match path, ...) are already applied.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include "base/base.h"

#define GW_LIST(T) \
    struct {       \
        T *v;      \
        size_t n;  \
    }

#define GW_GROUP_GATEWAY "gateway.networking.k8s.io"
/* gatehouse's own policy kinds (GEP-713 attachment), version v1alpha1. */
#define GW_GROUP_GATEHOUSE "gatehouse.dev"
/* Experimental kinds (XBackend). */
#define GW_GROUP_GATEWAY_X "gateway.networking.x-k8s.io"

/* ------------------------------------------------------------------------ */
/* Kinds                                                                    */

enum gw_kind {
    GW_KIND_GATEWAYCLASS,
    GW_KIND_GATEWAY,
    GW_KIND_LISTENERSET,
    GW_KIND_HTTPROUTE,
    GW_KIND_GRPCROUTE,
    GW_KIND_TLSROUTE,
    GW_KIND_TCPROUTE,
    GW_KIND_UDPROUTE,
    GW_KIND_REFERENCEGRANT,
    GW_KIND_BACKENDTLSPOLICY,
    GW_KIND_RATELIMITPOLICY,   /* gatehouse.dev */
    GW_KIND_HEALTHCHECKPOLICY, /* gatehouse.dev */
    GW_KIND_CLIENTTRAFFICPOLICY,
    GW_KIND_SOURCEADDRESSPOLICY,
    GW_KIND_CIRCUITBREAKERPOLICY, /* gatehouse.dev */
    GW_KIND_LOADBALANCERPOLICY,   /* gatehouse.dev */
    GW_KIND_JWTPOLICY,            /* gatehouse.dev */
    GW_KIND_BASICAUTHPOLICY,      /* gatehouse.dev */
    GW_KIND_APIKEYPOLICY,         /* gatehouse.dev */
    GW_KIND_SERVICE,
    GW_KIND_ENDPOINTSLICE,
    GW_KIND_SECRET,
    GW_KIND_CONFIGMAP,
    GW_KIND_NAMESPACE,
    GW_KIND_EXTAUTHPOLICY,         /* gatehouse.dev */
    GW_KIND_XBACKEND,              /* gateway.networking.x-k8s.io/v1alpha1 */
    GW_KIND_XBACKENDTRAFFICPOLICY, /* gateway.networking.x-k8s.io/v1alpha1 */
    GW_KIND_COMPRESSIONPOLICY,     /* gatehouse.dev */
    GW_KIND__COUNT
};

/* "HTTPRoute", ...; static storage. */
const char *gw_kind_name(enum gw_kind kind);
/* API group of a kind ("" for core). */
const char *gw_kind_group(enum gw_kind kind);
bool gw_kind_is_namespaced(enum gw_kind kind);
/* Whether kind is a policy (GEP-713: spec.targetRefs, status.ancestors). */
bool gw_kind_is_policy(enum gw_kind kind);
/* The API version gatehouse writes kind's status at when discovery has not
 * said ("v1", "v1alpha2", ...). */
const char *gw_kind_version(enum gw_kind kind);
/* Kind by its exact (case-sensitive) name; GW_ENOTFOUND if it is not modelled. */
int gw_kind_from_name(const char *name, enum gw_kind *out);

/* ------------------------------------------------------------------------ */
/* Enumerations. Each has a name table for decode and for messages.         */

enum gw_enum {
    GW_ENUM_PATH_MATCH,       /* enum gw_path_match_type */
    GW_ENUM_VALUE_MATCH,      /* enum gw_value_match_type (headers, query params) */
    GW_ENUM_METHOD,           /* enum gw_method */
    GW_ENUM_FILTER,           /* enum gw_filter_type */
    GW_ENUM_PATH_MODIFIER,    /* enum gw_path_modifier */
    GW_ENUM_FROM,             /* enum gw_from */
    GW_ENUM_TLS_MODE,         /* enum gw_tls_mode */
    GW_ENUM_FRONTEND_MODE,    /* enum gw_frontend_mode */
    GW_ENUM_SELECTOR_OP,      /* enum gw_selector_op */
    GW_ENUM_SESSION_TYPE,     /* enum gw_session_type */
    GW_ENUM_LIFETIME,         /* enum gw_cookie_lifetime */
    GW_ENUM_SAN_TYPE,         /* enum gw_san_type */
    GW_ENUM_WELL_KNOWN_CA,    /* enum gw_well_known_ca */
    GW_ENUM_AUTH_PROTOCOL,    /* enum gw_auth_protocol */
    GW_ENUM_ADDRESS_FAMILY,   /* enum gw_address_family (EndpointSlice addressType) */
    GW_ENUM_RATELIMIT_KEY,    /* enum gw_ratelimit_key */
    GW_ENUM_HEALTHCHECK_TYPE, /* enum gw_healthcheck_type */
    GW_ENUM_LB_TYPE,          /* enum gw_lb_type */
    GW_ENUM_HASH_KEY,         /* enum gw_hash_key */
    GW_ENUM_RL_SCOPE,         /* enum gw_ratelimit_scope */
    GW_ENUM_FAILMODE,         /* enum gw_failure_mode */
    GW_ENUM_XB_TYPE,          /* enum gw_xbackend_type */
    GW_ENUM_XB_PROTOCOL,      /* enum gw_xbackend_protocol */
    GW_ENUM_XB_TLS_MODE,      /* enum gw_xbackend_tls_mode */
    GW_ENUM_COMPRESSION,      /* enum gw_compression */
    GW_ENUM__COUNT
};

/* NULL-terminated table of spellings; entry i spells enum value i + 1. */
const char *const *gw_enum_names(enum gw_enum e);
/* Spelling of value v of enumeration e, "" for 0 or out of range. */
const char *gw_enum_name(enum gw_enum e, int v);

enum gw_path_match_type { GW_PATH_NONE, GW_PATH_EXACT, GW_PATH_PREFIX, GW_PATH_REGEX };

enum gw_value_match_type { GW_MATCH_NONE, GW_MATCH_EXACT, GW_MATCH_REGEX };

enum gw_method {
    GW_METHOD_NONE,
    GW_METHOD_GET,
    GW_METHOD_HEAD,
    GW_METHOD_POST,
    GW_METHOD_PUT,
    GW_METHOD_DELETE,
    GW_METHOD_CONNECT,
    GW_METHOD_OPTIONS,
    GW_METHOD_TRACE,
    GW_METHOD_PATCH,
};

enum gw_filter_type {
    GW_FILTER_NONE,
    GW_FILTER_REQUEST_HEADER,  /* RequestHeaderModifier */
    GW_FILTER_RESPONSE_HEADER, /* ResponseHeaderModifier */
    GW_FILTER_MIRROR,          /* RequestMirror */
    GW_FILTER_REDIRECT,        /* RequestRedirect */
    GW_FILTER_REWRITE,         /* URLRewrite */
    GW_FILTER_EXTENSION_REF,   /* ExtensionRef */
    GW_FILTER_CORS,            /* CORS */
    GW_FILTER_EXTERNAL_AUTH,   /* ExternalAuth (experimental channel) */
};

enum gw_path_modifier { GW_PATHMOD_NONE, GW_PATHMOD_FULL, GW_PATHMOD_PREFIX };

enum gw_from { GW_FROM_NONE_SET, GW_FROM_ALL, GW_FROM_SELECTOR, GW_FROM_SAME, GW_FROM_NONE };

enum gw_tls_mode { GW_TLS_MODE_NONE, GW_TLS_TERMINATE, GW_TLS_PASSTHROUGH };

enum gw_frontend_mode { GW_FRONTEND_NONE, GW_FRONTEND_VALID_ONLY, GW_FRONTEND_INSECURE_FALLBACK };

enum gw_selector_op {
    GW_SELOP_NONE,
    GW_SELOP_IN,
    GW_SELOP_NOT_IN,
    GW_SELOP_EXISTS,
    GW_SELOP_DOES_NOT_EXIST,
};

enum gw_session_type { GW_SESSION_NONE, GW_SESSION_COOKIE, GW_SESSION_HEADER };

enum gw_ratelimit_key {
    GW_RLKEY_NONE,
    GW_RLKEY_ROUTE,          /* one bucket for the whole target */
    GW_RLKEY_CLIENT_ADDRESS, /* one per client address */
    GW_RLKEY_HEADER,         /* one per value of a request header */
};

enum gw_lb_type {
    GW_LB_NONE,
    GW_LB_ROUND_ROBIN,
    GW_LB_LEAST_REQUEST,
    GW_LB_CONSISTENT_HASH,
};

enum gw_hash_key { GW_HASH_NONE, GW_HASH_HEADER, GW_HASH_COOKIE, GW_HASH_SOURCE_IP };

enum gw_healthcheck_type {
    GW_HCTYPE_NONE,
    GW_HCTYPE_HTTP, /* GET path, a status in expectedStatuses */
    GW_HCTYPE_TCP,  /* the connection is accepted */
    GW_HCTYPE_GRPC, /* grpc.health.v1.Health/Check answers SERVING */
};

/* Where a limit's buckets live: this process, or Redis (every replica). */
enum gw_ratelimit_scope { GW_RLSCOPE_NONE, GW_RLSCOPE_LOCAL, GW_RLSCOPE_GLOBAL };

/* What a Global limit does when Redis does not answer in time. */
enum gw_failure_mode { GW_FAILMODE_NONE, GW_FAILMODE_OPEN, GW_FAILMODE_CLOSED };

/* Content codings of CompressionPolicy, spelled as in Accept-Encoding. */
enum gw_compression {
    GW_COMPRESSION_NONE,
    GW_COMPRESSION_GZIP,
    GW_COMPRESSION_BR,
    GW_COMPRESSION_ZSTD
};

enum gw_cookie_lifetime { GW_LIFETIME_NONE, GW_LIFETIME_PERMANENT, GW_LIFETIME_SESSION };

enum gw_san_type { GW_SAN_NONE, GW_SAN_HOSTNAME, GW_SAN_URI };

enum gw_well_known_ca { GW_WKCA_NONE, GW_WKCA_SYSTEM };

enum gw_auth_protocol { GW_AUTH_NONE, GW_AUTH_HTTP, GW_AUTH_GRPC };

enum gw_address_family { GW_AF_NONE, GW_AF_IPV4, GW_AF_IPV6, GW_AF_FQDN };

/* Listener protocol, classified (the field itself is free-form). */
enum gw_protocol {
    GW_PROTO_OTHER,
    GW_PROTO_HTTP,
    GW_PROTO_HTTPS,
    GW_PROTO_TLS,
    GW_PROTO_TCP,
    GW_PROTO_UDP,
};
/* Case-insensitive, as the CRD's CEL rules read it. NULL is OTHER. */
enum gw_protocol gw_protocol_classify(const char *protocol);

/* ------------------------------------------------------------------------ */
/* Shared pieces                                                            */

struct gw_kv {
    struct gw_pos pos; /* of the value */
    const char *key;
    const char *value;
};

/* Value of key in a key/value list, NULL if absent. */
const char *gw_kv_get(const struct gw_kv *v, size_t n, const char *key);

struct gw_label_requirement {
    struct gw_pos pos;
    const char *key;
    int op; /* enum gw_selector_op */
    GW_LIST(const char *) values;
};

/* metav1.LabelSelector. An empty selector selects everything. */
struct gw_label_selector {
    struct gw_pos pos;
    GW_LIST(struct gw_kv) match_labels;
    GW_LIST(struct gw_label_requirement) match_expressions;
};

/* True if labels satisfy sel (Kubernetes semantics). */
bool gw_label_selector_matches(const struct gw_label_selector *sel, const struct gw_kv *labels,
                               size_t n);

/* ParentReference (routes) and the ListenerSet parentRef. */
struct gw_parent_ref {
    struct gw_pos pos;
    const char *group; /* default gateway.networking.k8s.io */
    const char *kind;  /* default Gateway */
    const char *ns;    /* NULL: the route's namespace */
    const char *name;
    const char *section_name; /* NULL if absent */
    int64_t port;             /* -1 if absent */
};

/*
 * Object references of every flavour: SecretObjectReference (group "" and
 * kind Secret by default), ObjectReference, LocalObjectReference, the
 * parametersRef of GatewayClass and Gateway infrastructure. ns is NULL when
 * absent (the referrer's namespace).
 */
struct gw_object_ref {
    struct gw_pos pos;
    const char *group;
    const char *kind;
    const char *ns;
    const char *name;
};

struct gw_http_filter;

/* BackendRef (all routes), BackendObjectReference (mirror, external auth). */
struct gw_backend_ref {
    struct gw_pos pos;
    const char *group; /* default "" */
    const char *kind;  /* default Service */
    const char *ns;    /* NULL: the route's namespace */
    const char *name;
    int64_t port;   /* -1 if absent (only allowed for non-Service kinds) */
    int64_t weight; /* default 1 (0 for mirror/auth refs, which have none) */
    /* HTTPRoute/GRPCRoute backendRef filters. */
    GW_LIST(struct gw_http_filter) filters;
};

/* ------------------------------------------------------------------------ */
/* Metadata, common to every object                                         */

struct gw_meta {
    struct gw_pos pos; /* of the document root */
    enum gw_kind kind;
    const char *api_version;
    const char *name;
    const char *ns; /* "default" if absent for namespaced kinds; NULL otherwise */
    GW_LIST(struct gw_kv) labels;
    GW_LIST(struct gw_kv) annotations;
    int64_t generation;  /* default 1 */
    int64_t creation_ms; /* creationTimestamp, ms since the epoch; 0 if absent */
    const char *uid;     /* NULL if absent */
    const char *resource_version;
};

/* Value of a label, NULL if absent. */
const char *gw_meta_label(const struct gw_meta *m, const char *key);
const char *gw_meta_annotation(const struct gw_meta *m, const char *key);

/* ------------------------------------------------------------------------ */
/* GatewayClass                                                             */

struct gw_gatewayclass {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        const char *controller_name;
        struct gw_object_ref *parameters_ref; /* group, kind, name, namespace */
        const char *description;
    } spec;
};

/* ------------------------------------------------------------------------ */
/* Gateway and ListenerSet                                                  */

struct gw_route_group_kind {
    struct gw_pos pos;
    const char *group; /* default gateway.networking.k8s.io */
    const char *kind;
};

struct gw_namespaces_from {
    struct gw_pos pos;
    int from; /* enum gw_from; Same for routes, None for listener sets */
    struct gw_label_selector *selector;
};

struct gw_allowed_routes {
    struct gw_pos pos;
    struct gw_namespaces_from *namespaces; /* always set (defaulted) */
    GW_LIST(struct gw_route_group_kind) kinds;
};

struct gw_listener_tls {
    struct gw_pos pos;
    int mode; /* enum gw_tls_mode, default Terminate */
    GW_LIST(struct gw_object_ref) certificate_refs;
    GW_LIST(struct gw_kv) options;
};

/* Listener (Gateway) and ListenerEntry (ListenerSet). */
struct gw_listener {
    struct gw_pos pos;
    const char *name;
    const char *hostname; /* NULL if absent */
    int64_t port;
    const char *protocol;
    enum gw_protocol proto; /* classified protocol */
    struct gw_listener_tls *tls;
    struct gw_allowed_routes *allowed_routes; /* always set (defaulted) */
};

struct gw_gateway_address {
    struct gw_pos pos;
    const char *type;  /* default IPAddress */
    const char *value; /* NULL if absent */
};

struct gw_frontend_validation {
    struct gw_pos pos;
    GW_LIST(struct gw_object_ref) ca_certificate_refs;
    int mode; /* enum gw_frontend_mode, default AllowValidOnly */
};

struct gw_tls_config {
    struct gw_pos pos;
    struct gw_frontend_validation *validation;
};

struct gw_tls_port_config {
    struct gw_pos pos;
    int64_t port;
    struct gw_tls_config *tls;
};

struct gw_gateway_backend_tls {
    struct gw_pos pos;
    struct gw_object_ref *client_certificate_ref;
};

struct gw_frontend_tls {
    struct gw_pos pos;
    struct gw_tls_config *default_; /* "default" (required) */
    GW_LIST(struct gw_tls_port_config) per_port;
};

struct gw_gateway_tls {
    struct gw_pos pos;
    struct gw_gateway_backend_tls *backend;
    struct gw_frontend_tls *frontend;
};

struct gw_allowed_listeners {
    struct gw_pos pos;
    struct gw_namespaces_from *namespaces; /* always set (from None) */
};

struct gw_gateway_infrastructure {
    struct gw_pos pos;
    GW_LIST(struct gw_kv) labels;
    GW_LIST(struct gw_kv) annotations;
    struct gw_object_ref *parameters_ref;
};

struct gw_gateway {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        const char *gateway_class_name;
        GW_LIST(struct gw_listener) listeners;
        GW_LIST(struct gw_gateway_address) addresses;
        struct gw_gateway_infrastructure *infrastructure;
        struct gw_allowed_listeners *allowed_listeners;
        struct gw_gateway_tls *tls;
        const char *default_scope; /* experimental; NULL if absent */
    } spec;
};

struct gw_listenerset {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        struct gw_parent_ref parent_ref; /* group/kind defaulted; no section/port */
        GW_LIST(struct gw_listener) listeners;
    } spec;
};

/* ------------------------------------------------------------------------ */
/* HTTPRoute                                                                */

struct gw_path_match {
    struct gw_pos pos;
    int type;          /* enum gw_path_match_type, default PathPrefix */
    const char *value; /* default "/" */
};

struct gw_value_match {
    struct gw_pos pos;
    int type; /* enum gw_value_match_type, default Exact */
    const char *name;
    const char *value;
};

struct gw_http_match {
    struct gw_pos pos;
    struct gw_path_match *path; /* always set (defaulted) */
    GW_LIST(struct gw_value_match) headers;
    GW_LIST(struct gw_value_match) query_params;
    int method; /* enum gw_method, NONE if absent */
};

struct gw_header {
    struct gw_pos pos;
    const char *name;
    const char *value;
};

struct gw_header_filter {
    struct gw_pos pos;
    GW_LIST(struct gw_header) set;
    GW_LIST(struct gw_header) add;
    GW_LIST(const char *) remove;
};

struct gw_path_modifier_cfg {
    struct gw_pos pos;
    int type; /* enum gw_path_modifier */
    const char *replace_full_path;
    const char *replace_prefix_match;
};

struct gw_redirect {
    struct gw_pos pos;
    const char *scheme;   /* NULL: the request's */
    const char *hostname; /* NULL: the request's */
    struct gw_path_modifier_cfg *path;
    int64_t port;        /* -1 if absent */
    int64_t status_code; /* default 302 */
};

struct gw_rewrite {
    struct gw_pos pos;
    const char *hostname;
    struct gw_path_modifier_cfg *path;
};

struct gw_fraction {
    struct gw_pos pos;
    int64_t numerator;
    int64_t denominator; /* default 100 */
};

struct gw_mirror {
    struct gw_pos pos;
    struct gw_backend_ref backend_ref;
    int64_t percent; /* -1 if absent */
    struct gw_fraction *fraction;
};

struct gw_cors {
    struct gw_pos pos;
    GW_LIST(const char *) allow_origins;
    int allow_credentials; /* tri-state */
    GW_LIST(const char *) allow_methods;
    GW_LIST(const char *) allow_headers;
    GW_LIST(const char *) expose_headers;
    int64_t max_age; /* default 5 */
};

struct gw_auth_grpc {
    struct gw_pos pos;
    GW_LIST(const char *) allowed_headers;
};

struct gw_auth_http {
    struct gw_pos pos;
    const char *path;
    GW_LIST(const char *) allowed_headers;
    GW_LIST(const char *) allowed_response_headers;
};

struct gw_forward_body {
    struct gw_pos pos;
    int64_t max_size;
};

struct gw_external_auth {
    struct gw_pos pos;
    int protocol; /* enum gw_auth_protocol */
    struct gw_backend_ref backend_ref;
    struct gw_auth_grpc *grpc;
    struct gw_auth_http *http;
    struct gw_forward_body *forward_body;
};

/* HTTPRouteFilter, and GRPCRouteFilter (a subset of the types). */
struct gw_http_filter {
    struct gw_pos pos;
    int type; /* enum gw_filter_type */
    struct gw_header_filter *request_header_modifier;
    struct gw_header_filter *response_header_modifier;
    struct gw_mirror *request_mirror;
    struct gw_redirect *request_redirect;
    struct gw_rewrite *url_rewrite;
    struct gw_cors *cors;
    struct gw_external_auth *external_auth;
    struct gw_object_ref *extension_ref;
};

struct gw_cookie_config {
    struct gw_pos pos;
    int lifetime_type; /* enum gw_cookie_lifetime, default Session */
};

struct gw_session_persistence {
    struct gw_pos pos;
    const char *session_name;
    int64_t absolute_timeout_ms; /* -1 if absent */
    int64_t idle_timeout_ms;     /* -1 if absent */
    int type;                    /* enum gw_session_type, default Cookie */
    struct gw_cookie_config *cookie_config;
};

struct gw_http_timeouts {
    struct gw_pos pos;
    int64_t request_ms;         /* -1 if absent; 0 disables */
    int64_t backend_request_ms; /* -1 if absent */
};

struct gw_http_retry {
    struct gw_pos pos;
    GW_LIST(int64_t) codes;
    int64_t attempts;   /* -1 if absent */
    int64_t backoff_ms; /* -1 if absent */
};

struct gw_http_rule {
    struct gw_pos pos;
    const char *name;                      /* NULL if absent */
    GW_LIST(struct gw_http_match) matches; /* defaulted: one PathPrefix "/" */
    GW_LIST(struct gw_http_filter) filters;
    GW_LIST(struct gw_backend_ref) backend_refs;
    struct gw_http_timeouts *timeouts;
    struct gw_http_retry *retry;
    struct gw_session_persistence *session_persistence;
};

struct gw_httproute {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        GW_LIST(struct gw_parent_ref) parent_refs;
        GW_LIST(const char *) hostnames;
        GW_LIST(struct gw_http_rule) rules; /* defaulted: one rule */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* GRPCRoute                                                                */

struct gw_grpc_method_match {
    struct gw_pos pos;
    int type; /* enum gw_value_match_type, default Exact */
    const char *service;
    const char *method;
};

struct gw_grpc_match {
    struct gw_pos pos;
    struct gw_grpc_method_match *method;
    GW_LIST(struct gw_value_match) headers;
};

struct gw_grpc_rule {
    struct gw_pos pos;
    const char *name;
    GW_LIST(struct gw_grpc_match) matches; /* empty: match everything */
    GW_LIST(struct gw_http_filter) filters;
    GW_LIST(struct gw_backend_ref) backend_refs;
    struct gw_session_persistence *session_persistence;
};

struct gw_grpcroute {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        GW_LIST(struct gw_parent_ref) parent_refs;
        GW_LIST(const char *) hostnames;
        GW_LIST(struct gw_grpc_rule) rules;
    } spec;
};

/* ------------------------------------------------------------------------ */
/* TLSRoute, TCPRoute, UDPRoute (one shape: hostnames only on TLSRoute)     */

struct gw_l4_rule {
    struct gw_pos pos;
    const char *name;
    GW_LIST(struct gw_backend_ref) backend_refs;
};

struct gw_l4route {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        GW_LIST(struct gw_parent_ref) parent_refs;
        GW_LIST(const char *) hostnames; /* TLSRoute only */
        GW_LIST(struct gw_l4_rule) rules;
    } spec;
};

/* ------------------------------------------------------------------------ */
/* ReferenceGrant, BackendTLSPolicy                                         */

struct gw_grant_from {
    struct gw_pos pos;
    const char *group;
    const char *kind;
    const char *ns;
};

struct gw_grant_to {
    struct gw_pos pos;
    const char *group;
    const char *kind;
    const char *name; /* NULL: every object of that kind */
};

struct gw_referencegrant {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        GW_LIST(struct gw_grant_from) from;
        GW_LIST(struct gw_grant_to) to;
    } spec;
};

struct gw_policy_target_ref {
    struct gw_pos pos;
    const char *group;
    const char *kind;
    const char *name;
    const char *section_name; /* NULL if absent */
};

struct gw_san {
    struct gw_pos pos;
    int type; /* enum gw_san_type */
    const char *hostname;
    const char *uri;
};

struct gw_backendtlspolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        GW_LIST(struct gw_policy_target_ref) target_refs;

        struct {
            struct gw_pos pos;
            GW_LIST(struct gw_object_ref) ca_certificate_refs;
            int well_known_ca_certificates; /* enum gw_well_known_ca */
            const char *hostname;
            GW_LIST(struct gw_san) subject_alt_names;
        } validation;

        GW_LIST(struct gw_kv) options;
    } spec;
};

/* ------------------------------------------------------------------------ */
/* XBackend (gateway.networking.x-k8s.io/v1alpha1, docs/external-backends.md) */

enum gw_xbackend_type { GW_XBT_NONE, GW_XBT_EXTERNAL_HOSTNAME };

enum gw_xbackend_protocol {
    GW_XBP_NONE,
    GW_XBP_TCP,
    GW_XBP_HTTP,
    GW_XBP_HTTP2,
    GW_XBP_HTTP11,
    GW_XBP_H2C,
    GW_XBP_MCP,
};

enum gw_xbackend_tls_mode {
    GW_XTLS_UNSET,
    GW_XTLS_NONE,
    GW_XTLS_SERVER_ONLY,
    GW_XTLS_CLIENT_AND_SERVER,
};

struct gw_xbackend_validation {
    struct gw_pos pos;
    GW_LIST(struct gw_object_ref) ca_certificate_refs;
    int well_known_ca_certificates; /* enum gw_well_known_ca */
    const char *hostname;
    GW_LIST(struct gw_san) subject_alt_names;
};

struct gw_xbackend_tls {
    struct gw_pos pos;
    int mode;                                     /* enum gw_xbackend_tls_mode */
    struct gw_object_ref *client_certificate_ref; /* NULL if absent */
    struct gw_xbackend_validation *validation;    /* NULL if absent */
};

struct gw_xbackend_external {
    struct gw_pos pos;
    const char *hostname; /* an FQDN */
};

struct gw_xbackend_port {
    struct gw_pos pos;
    const char *name; /* NULL if absent */
    int64_t port;
};

struct gw_xbackend {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        int type;                                       /* enum gw_xbackend_type */
        struct gw_xbackend_external *external_hostname; /* NULL if absent */
        struct gw_xbackend_port port;
        int protocol;                /* enum gw_xbackend_protocol; NONE: from the route */
        struct gw_xbackend_tls *tls; /* NULL if absent */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* RateLimitPolicy (gatehouse.dev/v1alpha1, docs/policies.md)               */

/* One token bucket: `requests` per `interval`, holding up to `burst`. */
struct gw_ratelimit {
    struct gw_pos pos;
    const char *name;    /* unique in the policy; the RateLimit-Policy field's name */
    int64_t requests;    /* 1.. */
    int64_t interval_ms; /* > 0 */
    int64_t burst;       /* -1: requests */
    int scope;           /* enum gw_ratelimit_scope, default Local */
    int failure_mode;    /* enum gw_failure_mode; NONE: unset (Open) */

    struct {
        struct gw_pos pos;
        int type;           /* enum gw_ratelimit_key, default Route */
        const char *header; /* type Header: the header's name */
    } key;
};

struct gw_ratelimitpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Gateway (sectionName: a listener) or HTTPRoute/GRPCRoute
         * (sectionName: a rule's name). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        GW_LIST(struct gw_ratelimit) limits;
    } spec;
};

/* ------------------------------------------------------------------------ */
/* HealthCheckPolicy (gatehouse.dev/v1alpha1, docs/policies.md)             */

/* An inclusive range of HTTP status codes. */
struct gw_status_range {
    struct gw_pos pos;
    int64_t start; /* 100..599 */
    int64_t end;   /* -1: start */
};

struct gw_healthcheckpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Services (group ""), sectionName: a port's name. */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        int type;                    /* enum gw_healthcheck_type */
        int64_t interval_ms;         /* > 0 */
        int64_t timeout_ms;          /* > 0, default 1s */
        int64_t jitter_ms;           /* default 0 */
        int64_t healthy_threshold;   /* 1..100, default 2 */
        int64_t unhealthy_threshold; /* 1..100, default 3 */

        struct gw_hc_http {
            struct gw_pos pos;
            const char *path;                                  /* default "/" */
            const char *hostname;                              /* NULL: the endpoint's address */
            GW_LIST(struct gw_status_range) expected_statuses; /* empty: 200..399 */
        } * http; /* type HTTP only; NULL: the defaults */

        struct gw_hc_grpc {
            struct gw_pos pos;
            const char *service; /* NULL: "" (the server as a whole) */
        } * grpc;                /* type GRPC only */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* ClientTrafficPolicy (gatehouse.dev/v1alpha1, docs/policies.md)           */

/* The PROXY protocol (v1 and v2) on the targeted listeners' ports. */
struct gw_ctp_proxy_protocol {
    struct gw_pos pos;
    GW_LIST(const char *) trusted_cidrs; /* peers allowed to send a header */
    int required;                        /* tri-state, default false */
    int64_t timeout_ms;                  /* the header's deadline, default 5s */
};

/* X-Forwarded-For: exactly one of trusted_hops and trusted_cidrs. */
struct gw_ctp_xff {
    struct gw_pos pos;
    int64_t trusted_hops; /* -1: absent */
    GW_LIST(const char *) trusted_cidrs;
};

struct gw_ctp_client_address {
    struct gw_pos pos;
    struct gw_ctp_xff *xff; /* NULL: the peer's address */
};

struct gw_clienttrafficpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Gateway (sectionName: a listener). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        struct gw_ctp_proxy_protocol *proxy_protocol; /* NULL: none */
        struct gw_ctp_client_address *client_address; /* NULL: the peer's */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* SourceAddressPolicy (gatehouse.dev/v1alpha1, docs/policies.md)           */

struct gw_sourceaddresspolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Gateway (sectionName: a listener) or HTTPRoute/GRPCRoute
         * (sectionName: a rule's name). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        GW_LIST(const char *) allow; /* CIDRs; empty: everyone */
        GW_LIST(const char *) deny;  /* CIDRs; deny wins */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* CircuitBreakerPolicy (gatehouse.dev/v1alpha1, docs/policies.md)          */

struct gw_circuitbreakerpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Services (sectionName: a port's name). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        /* Per endpoint, counted across workers; -1: no limit. */
        int64_t max_connections; /* upstream connections open */
        int64_t max_requests;    /* requests in flight */
        int64_t max_retries;     /* retries in flight */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* LoadBalancerPolicy (gatehouse.dev/v1alpha1, docs/policies.md)            */

struct gw_lb_hash_cookie {
    struct gw_pos pos;
    const char *name;
};

struct gw_lb_consistent_hash {
    struct gw_pos pos;
    int key;                          /* enum gw_hash_key */
    const char *header;               /* key Header */
    struct gw_lb_hash_cookie *cookie; /* key Cookie */
};

struct gw_lb_slow_start {
    struct gw_pos pos;
    int64_t window_ms; /* > 0 */
};

struct gw_loadbalancerpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Services (sectionName: a port's name). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        int type;                                      /* enum gw_lb_type, default RoundRobin */
        struct gw_lb_consistent_hash *consistent_hash; /* type ConsistentHash only */
        struct gw_lb_slow_start *slow_start;           /* RoundRobin, LeastRequest; NULL: none */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* JWTPolicy, BasicAuthPolicy, APIKeyPolicy (gatehouse.dev/v1alpha1,       */
/* docs/policies.md)                                                        */

/* A key of a Secret or ConfigMap in the policy's own namespace. */
struct gw_data_ref {
    struct gw_pos pos;
    const char *name;
    const char *key; /* JWKS: required; htpasswd: default .htpasswd; API keys: unused */
};

/* A JWK Set fetched over HTTPS and refreshed (the proxy's fetcher thread,
 * src/proxy/jwks.c). */
struct gw_jwt_remote {
    struct gw_pos pos;
    const char *uri;             /* https://host[:port]/path; no userinfo, no fragment */
    int64_t refresh_interval_ms; /* default 5m; 10s..24h */
    int64_t timeout_ms;          /* default 5s; 1s..60s */
    /* ConfigMaps (key ca.crt) of the policy's namespace; none: the system
     * trust store. */
    GW_LIST(struct gw_object_ref) ca_certificate_refs;
};

struct gw_jwt_jwks {
    struct gw_pos pos;
    struct gw_data_ref *secret_ref; /* exactly one of the three */
    struct gw_data_ref *configmap_ref;
    struct gw_jwt_remote *remote;
};

/* Where a token is read from: a header (with a prefix to strip) or a
 * cookie. Absent: Authorization, "Bearer ". */
struct gw_jwt_from_header {
    struct gw_pos pos;
    const char *name;
    const char *prefix; /* NULL: the whole value is the token */
};

struct gw_jwt_from {
    struct gw_pos pos;
    struct gw_jwt_from_header *header; /* exactly one of the two */
    const char *cookie;
};

struct gw_jwt_claim_header {
    struct gw_pos pos;
    const char *claim;  /* a top-level claim or an "a.b" path */
    const char *header; /* set to the claim's text; a client's copies are removed */
};

struct gw_jwt_provider {
    struct gw_pos pos;
    const char *name;   /* unique in the policy */
    const char *issuer; /* NULL: not checked */
    GW_LIST(const char *) audiences;
    struct gw_jwt_jwks jwks;
    int64_t clock_skew_ms; /* default 30s */
    struct gw_jwt_from *from;
    GW_LIST(struct gw_jwt_claim_header) claims_to_headers;
};

struct gw_jwtpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Gateway (sectionName: a listener) or HTTPRoute/GRPCRoute
         * (sectionName: a rule's name). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        const char *realm; /* default "gatehouse" */
        GW_LIST(struct gw_jwt_provider) providers;
    } spec;
};

struct gw_basicauthpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        GW_LIST(struct gw_policy_target_ref) target_refs;

        struct {
            struct gw_pos pos;
            struct gw_data_ref *secret_ref; /* required; key default .htpasswd */
        } htpasswd;

        const char *realm;       /* default "gatehouse" */
        const char *user_header; /* NULL: the user's name is not forwarded */
    } spec;
};

struct gw_apikeypolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        GW_LIST(struct gw_policy_target_ref) target_refs;

        struct {
            struct gw_pos pos;
            struct gw_data_ref *secret_ref; /* each data key a client, its value the key */
        } keys;

        struct {
            struct gw_pos pos;
            const char *header; /* at most one of the two; neither: header X-API-Key */
            const char *query;
        } from;

        const char *client_header; /* NULL: the client's name is not forwarded */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* ExtAuthPolicy (gatehouse.dev/v1alpha1, docs/policies.md)                 */

struct gw_extauth_body {
    struct gw_pos pos;
    int64_t max_bytes; /* 1..32768 */
};

struct gw_extauthpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Gateway (sectionName: a listener) or HTTPRoute/GRPCRoute
         * (sectionName: a rule's name). */
        GW_LIST(struct gw_policy_target_ref) target_refs;

        struct {
            struct gw_pos pos;
            struct gw_backend_ref backend_ref; /* a Service port */
            const char *path_prefix;           /* default "": the request's path as is */
            GW_LIST(const char *) headers_to_auth;
            GW_LIST(const char *) headers_from_auth;
            struct gw_extauth_body *include_body; /* NULL: no body */
        } http;

        int64_t timeout_ms; /* default 200ms */
        int failure_mode;   /* enum gw_failure_mode; NONE means Closed */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* XBackendTrafficPolicy (gateway.networking.x-k8s.io/v1alpha1, GEP-1731 and */
/* GEP-1619, docs/policies.md)                                               */

struct gw_retry_budget {
    struct gw_pos pos;
    int64_t percent;     /* 0..100, default 20 */
    int64_t interval_ms; /* 1s..1h, default 10s */
};

struct gw_retry_rate {
    struct gw_pos pos;
    int64_t count;       /* 1..1000000, default 10 */
    int64_t interval_ms; /* (0, 1h], default 1s */
};

struct gw_retry_constraint {
    struct gw_pos pos;
    struct gw_retry_budget *budget;       /* NULL: the defaults */
    struct gw_retry_rate *min_retry_rate; /* NULL: the defaults */
};

struct gw_xbackendtrafficpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Services (no sectionName in this kind). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        struct gw_retry_constraint *retry_constraint;       /* NULL: no budget */
        struct gw_session_persistence *session_persistence; /* NULL: none */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* CompressionPolicy (gatehouse.dev/v1alpha1, docs/policies.md)             */

/* One content coding the policy offers, and its level. */
struct gw_compression_encoding {
    struct gw_pos pos;
    int name;      /* enum gw_compression */
    int64_t level; /* -1: the coding's default (gzip 1, br 4, zstd 3) */
};

struct gw_compressionpolicy {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        /* Gateway (sectionName: a listener) or HTTPRoute/GRPCRoute
         * (sectionName: a rule's name). */
        GW_LIST(struct gw_policy_target_ref) target_refs;
        /* The server's preference order; empty: zstd, br, gzip. */
        GW_LIST(struct gw_compression_encoding) encodings;
        /* Media types ("application/json") or a type and a star (text, slash, star); empty:
         * the default list (docs/policies.md). */
        GW_LIST(const char *) content_types;
        int64_t min_size; /* bytes; -1: 1024 */
    } spec;
};

/* ------------------------------------------------------------------------ */
/* Core Kubernetes kinds                                                    */

struct gw_service_port {
    struct gw_pos pos;
    const char *name;
    int64_t port;
    const char *target_port; /* as written: a number or a port name; NULL if absent */
    int64_t target_port_num; /* numeric targetPort, or -1 (name, or absent) */
    const char *protocol;    /* default TCP */
    const char *app_protocol;
    int64_t node_port;
};

struct gw_service {
    struct gw_meta meta;

    struct {
        struct gw_pos pos;
        const char *type; /* default ClusterIP */
        const char *cluster_ip;
        GW_LIST(const char *) cluster_ips;
        GW_LIST(struct gw_kv) selector;
        GW_LIST(struct gw_service_port) ports;
        const char *external_name;
        GW_LIST(const char *) ip_families;
        const char *ip_family_policy;
        const char *session_affinity;
        int publish_not_ready_addresses; /* tri-state */
    } spec;
};

struct gw_endpoint {
    struct gw_pos pos;
    GW_LIST(const char *) addresses;

    struct {
        struct gw_pos pos;
        int ready, serving, terminating; /* tri-state; absent ready means ready */
    } conditions;

    const char *hostname;
    const char *node_name;
    const char *zone;
    struct gw_object_ref *target_ref; /* group unused */
};

struct gw_endpoint_port {
    struct gw_pos pos;
    const char *name;
    int64_t port;         /* -1 if absent */
    const char *protocol; /* default TCP */
    const char *app_protocol;
};

struct gw_endpointslice {
    struct gw_meta meta;
    int address_type; /* enum gw_address_family */
    GW_LIST(struct gw_endpoint) endpoints;
    GW_LIST(struct gw_endpoint_port) ports;
    const char *service_name; /* label kubernetes.io/service-name, NULL if absent */
};

/* Secret and ConfigMap values: Secret data is base64-decoded. */
struct gw_bytes {
    struct gw_pos pos;
    const char *key;
    const unsigned char *data; /* NUL-terminated as a convenience */
    size_t len;
};

struct gw_secret {
    struct gw_meta meta;
    const char *type;              /* default Opaque */
    GW_LIST(struct gw_bytes) data; /* data and stringData merged */
};

struct gw_configmap {
    struct gw_meta meta;
    GW_LIST(struct gw_bytes) data; /* data and binaryData (decoded) */
};

/* The value under key in a Secret or ConfigMap, NULL if absent. */
const struct gw_bytes *gw_bytes_get(const struct gw_bytes *v, size_t n, const char *key);

struct gw_namespace {
    struct gw_meta meta; /* labels include kubernetes.io/metadata.name */
};

/* ------------------------------------------------------------------------ */
/* Values                                                                   */

/*
 * Gateway API Duration (GEP-2257): ^([0-9]{1,5}(h|m|s|ms)){1,4}$, e.g.
 * "1h2m3s4ms". Sets *ms. 0, or GW_EINVAL if s does not match the format.
 */
int gw_duration_parse(struct gw_str s, int64_t *ms);

/*
 * RFC 3339 timestamp ("2024-01-02T03:04:05Z", optional fraction and numeric
 * offset) to milliseconds since the epoch, UTC. 0 or GW_EINVAL.
 */
int gw_time_parse(struct gw_str s, int64_t *ms);

/* ------------------------------------------------------------------------ */
/* The store                                                                */

struct gw_store_slot {
    uint64_t hash; /* of kind/namespace/name */
    struct gw_meta *obj;
};

struct gw_store_kind {
    struct gw_meta **v; /* sorted by namespace, then name */
    size_t n, cap;
    /* The kind's own hash table (open addressing, power-of-two size): a
     * lookup of one kind probes a table as small as that kind, which stays
     * in cache while a translate looks up every route's Services. */
    struct gw_store_slot *slots;
    size_t nslots;
};

/*
 * A set of objects keyed by kind/namespace/name. Owns every object (its
 * arena, or a reference to the part holding it). Built by decode, then read as an immutable
 * snapshot: lookups are hash-table O(1), iteration per kind is in namespace/name order. Not
 * thread-safe while being built; any number of readers afterwards.
 */
struct gw_store {
    /* private */
    struct gw_arena arena;
    size_t count;
    struct gw_store_kind kinds[GW_KIND__COUNT];
    /* EndpointSlices with a service name, sorted by namespace, service
     * name, then name: gw_store_service_slices is a binary search. */
    struct gw_store_kind slices;
    const char **files;
    size_t nfiles, files_cap;
    struct gw_store_part **parts; /* held (gw_store_hold) */
    size_t nparts, parts_cap;
};

void gw_store_init(struct gw_store *s);
/* Frees every object; pointers obtained from the store become invalid. */
void gw_store_release(struct gw_store *s);

/* The arena objects must be allocated from before gw_store_add(). */
struct gw_arena *gw_store_arena(struct gw_store *s);
/* A copy of a file name that lives as long as the store (deduplicated). */
const char *gw_store_intern(struct gw_store *s, const char *file);

/*
 * A part: an arena of objects decoded once and added to several stores over
 * time (the source keeps each file's objects across reloads, and builds a
 * fresh store from them on every reload). Reference-counted, not atomically:
 * parts and the stores that hold them belong to one thread.
 */
struct gw_store_part {
    struct gw_arena arena; /* the objects' */
    unsigned refs;
};

/* A new part (one reference, the caller's); chunk as gw_arena_init's. */
struct gw_store_part *gw_store_part_new(size_t chunk);
void gw_store_part_ref(struct gw_store_part *p);
/* Drops a reference; the last one frees the part and its objects. NULL is
 * ignored. */
void gw_store_part_unref(struct gw_store_part *p);
/* s takes a reference to p until gw_store_release: objects allocated from
 * p's arena may then be added to s. */
void gw_store_hold(struct gw_store *s, struct gw_store_part *p);

/* Makes room for n objects of kind, so that adding them does not rehash. */
void gw_store_reserve(struct gw_store *s, enum gw_kind kind, size_t n);

/*
 * Adds obj (allocated from gw_store_arena(), or from a part s holds;
 * kind/ns/name set, and for an EndpointSlice service_name). The store
 * keeps the pointer. GW_EEXISTS if kind/ns/name is already present: obj is
 * not added and *existing (if non-NULL) points at the object already there.
 */
int gw_store_add(struct gw_store *s, struct gw_meta *obj, const struct gw_meta **existing);

/* Object by key; ns is ignored (pass NULL) for cluster-scoped kinds. NULL if absent. */
const struct gw_meta *gw_store_get(const struct gw_store *s, enum gw_kind kind, const char *ns,
                                   const char *name);
/* Every object of a kind in namespace/name order; *n gets the count. Valid until
 * the next gw_store_add. */
const struct gw_meta *const *gw_store_list(const struct gw_store *s, enum gw_kind kind, size_t *n);
size_t gw_store_count(const struct gw_store *s, enum gw_kind kind);
/* Total number of objects. */
size_t gw_store_size(const struct gw_store *s);

/*
 * EndpointSlices of Service ns/service (label kubernetes.io/service-name,
 * as service_name held when the slice was added), in name order: up to cap
 * are written to out; returns how many exist. O(log n + found).
 */
size_t gw_store_service_slices(const struct gw_store *s, const char *ns, const char *service,
                               const struct gw_endpointslice **out, size_t cap);

/* Labels of Namespace ns; *n = 0 and NULL if there is no such Namespace. */
const struct gw_kv *gw_store_namespace_labels(const struct gw_store *s, const char *ns, size_t *n);

struct gw_policy_target_ref;
/* A policy object's spec.targetRefs (*n of them); NULL and 0 for an object
 * of a kind that is not a policy. */
const struct gw_policy_target_ref *gw_policy_target_refs(const struct gw_meta *m, size_t *n);

/* Typed lookups: the object, or NULL. */
#define GW_STORE_GETTER(fn, type, kind)                                            \
    static inline const struct type *fn(const struct gw_store *s, const char *ns,  \
                                        const char *name)                          \
    {                                                                              \
        return (const struct type *)(const void *)gw_store_get(s, kind, ns, name); \
    }
GW_STORE_GETTER(gw_store_gatewayclass, gw_gatewayclass, GW_KIND_GATEWAYCLASS)
GW_STORE_GETTER(gw_store_gateway, gw_gateway, GW_KIND_GATEWAY)
GW_STORE_GETTER(gw_store_listenerset, gw_listenerset, GW_KIND_LISTENERSET)
GW_STORE_GETTER(gw_store_httproute, gw_httproute, GW_KIND_HTTPROUTE)
GW_STORE_GETTER(gw_store_grpcroute, gw_grpcroute, GW_KIND_GRPCROUTE)
GW_STORE_GETTER(gw_store_referencegrant, gw_referencegrant, GW_KIND_REFERENCEGRANT)
GW_STORE_GETTER(gw_store_backendtlspolicy, gw_backendtlspolicy, GW_KIND_BACKENDTLSPOLICY)
GW_STORE_GETTER(gw_store_ratelimitpolicy, gw_ratelimitpolicy, GW_KIND_RATELIMITPOLICY)
GW_STORE_GETTER(gw_store_healthcheckpolicy, gw_healthcheckpolicy, GW_KIND_HEALTHCHECKPOLICY)
GW_STORE_GETTER(gw_store_clienttrafficpolicy, gw_clienttrafficpolicy, GW_KIND_CLIENTTRAFFICPOLICY)
GW_STORE_GETTER(gw_store_sourceaddresspolicy, gw_sourceaddresspolicy, GW_KIND_SOURCEADDRESSPOLICY)
GW_STORE_GETTER(gw_store_circuitbreakerpolicy, gw_circuitbreakerpolicy,
                GW_KIND_CIRCUITBREAKERPOLICY)
GW_STORE_GETTER(gw_store_loadbalancerpolicy, gw_loadbalancerpolicy, GW_KIND_LOADBALANCERPOLICY)
GW_STORE_GETTER(gw_store_xbackendtrafficpolicy, gw_xbackendtrafficpolicy,
                GW_KIND_XBACKENDTRAFFICPOLICY)
GW_STORE_GETTER(gw_store_jwtpolicy, gw_jwtpolicy, GW_KIND_JWTPOLICY)
GW_STORE_GETTER(gw_store_basicauthpolicy, gw_basicauthpolicy, GW_KIND_BASICAUTHPOLICY)
GW_STORE_GETTER(gw_store_apikeypolicy, gw_apikeypolicy, GW_KIND_APIKEYPOLICY)
GW_STORE_GETTER(gw_store_service, gw_service, GW_KIND_SERVICE)
GW_STORE_GETTER(gw_store_endpointslice, gw_endpointslice, GW_KIND_ENDPOINTSLICE)
GW_STORE_GETTER(gw_store_secret, gw_secret, GW_KIND_SECRET)
GW_STORE_GETTER(gw_store_configmap, gw_configmap, GW_KIND_CONFIGMAP)
GW_STORE_GETTER(gw_store_namespace, gw_namespace, GW_KIND_NAMESPACE)
GW_STORE_GETTER(gw_store_extauthpolicy, gw_extauthpolicy, GW_KIND_EXTAUTHPOLICY)
GW_STORE_GETTER(gw_store_xbackend, gw_xbackend, GW_KIND_XBACKEND)
GW_STORE_GETTER(gw_store_compressionpolicy, gw_compressionpolicy, GW_KIND_COMPRESSIONPOLICY)
#undef GW_STORE_GETTER

/* TLSRoute, TCPRoute and UDPRoute share struct gw_l4route. */
static inline const struct gw_l4route *
gw_store_l4route(const struct gw_store *s, enum gw_kind kind, const char *ns, const char *name)
{
    return (const struct gw_l4route *)(const void *)gw_store_get(s, kind, ns, name);
}

#endif /* GW_CONFIG_H */
