/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The small pieces of the model that are code rather than data: kind and
 * enum spellings, protocol classification, key/value lookups and label
 * selector evaluation.
 */
#include <string.h>
#include <strings.h>

#include "config/config.h"

#include "base/banned.h"

struct kind_info {
    const char *name;
    const char *group;
    bool namespaced;
    const char *version; /* NULL: v1 */
    bool policy;
};

static const struct kind_info kinds[GW_KIND__COUNT] = {
    [GW_KIND_GATEWAYCLASS] = {"GatewayClass", GW_GROUP_GATEWAY, false},
    [GW_KIND_GATEWAY] = {"Gateway", GW_GROUP_GATEWAY, true},
    [GW_KIND_LISTENERSET] = {"ListenerSet", GW_GROUP_GATEWAY, true},
    [GW_KIND_HTTPROUTE] = {"HTTPRoute", GW_GROUP_GATEWAY, true},
    [GW_KIND_GRPCROUTE] = {"GRPCRoute", GW_GROUP_GATEWAY, true},
    [GW_KIND_TLSROUTE] = {"TLSRoute", GW_GROUP_GATEWAY, true},
    [GW_KIND_TCPROUTE] = {"TCPRoute", GW_GROUP_GATEWAY, true, "v1alpha2", false},
    [GW_KIND_UDPROUTE] = {"UDPRoute", GW_GROUP_GATEWAY, true, "v1alpha2", false},
    [GW_KIND_REFERENCEGRANT] = {"ReferenceGrant", GW_GROUP_GATEWAY, true},
    [GW_KIND_BACKENDTLSPOLICY] = {"BackendTLSPolicy", GW_GROUP_GATEWAY, true, NULL, true},
    [GW_KIND_RATELIMITPOLICY] = {"RateLimitPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1", true},
    [GW_KIND_HEALTHCHECKPOLICY] = {"HealthCheckPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1", true},
    [GW_KIND_CLIENTTRAFFICPOLICY] = {"ClientTrafficPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1",
                                     true},
    [GW_KIND_SOURCEADDRESSPOLICY] = {"SourceAddressPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1",
                                     true},
    [GW_KIND_CIRCUITBREAKERPOLICY] = {"CircuitBreakerPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1",
                                      true},
    [GW_KIND_LOADBALANCERPOLICY] = {"LoadBalancerPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1",
                                    true},
    [GW_KIND_JWTPOLICY] = {"JWTPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1", true},
    [GW_KIND_BASICAUTHPOLICY] = {"BasicAuthPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1", true},
    [GW_KIND_APIKEYPOLICY] = {"APIKeyPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1", true},
    [GW_KIND_XBACKENDTRAFFICPOLICY] = {"XBackendTrafficPolicy", GW_GROUP_GATEWAY_X, true,
                                       "v1alpha1", true},
    [GW_KIND_SERVICE] = {"Service", "", true},
    [GW_KIND_ENDPOINTSLICE] = {"EndpointSlice", "discovery.k8s.io", true},
    [GW_KIND_SECRET] = {"Secret", "", true},
    [GW_KIND_CONFIGMAP] = {"ConfigMap", "", true},
    [GW_KIND_NAMESPACE] = {"Namespace", "", false},
    [GW_KIND_EXTAUTHPOLICY] = {"ExtAuthPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1", true},
    [GW_KIND_XBACKEND] = {"XBackend", GW_GROUP_GATEWAY_X, true, "v1alpha1", false},
    [GW_KIND_COMPRESSIONPOLICY] = {"CompressionPolicy", GW_GROUP_GATEHOUSE, true, "v1alpha1", true},
};

const char *
gw_kind_name(enum gw_kind kind)
{
    return (unsigned)kind < GW_KIND__COUNT ? kinds[kind].name : "?";
}

bool
gw_kind_is_policy(enum gw_kind kind)
{
    return (unsigned)kind < GW_KIND__COUNT && kinds[kind].policy;
}

const char *
gw_kind_version(enum gw_kind kind)
{
    return (unsigned)kind < GW_KIND__COUNT && kinds[kind].version ? kinds[kind].version : "v1";
}

const struct gw_policy_target_ref *
gw_policy_target_refs(const struct gw_meta *m, size_t *n)
{
    switch (m->kind) {
    case GW_KIND_BACKENDTLSPOLICY: {
        const struct gw_backendtlspolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_RATELIMITPOLICY: {
        const struct gw_ratelimitpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_CLIENTTRAFFICPOLICY: {
        const struct gw_clienttrafficpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_SOURCEADDRESSPOLICY: {
        const struct gw_sourceaddresspolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_HEALTHCHECKPOLICY: {
        const struct gw_healthcheckpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_CIRCUITBREAKERPOLICY: {
        const struct gw_circuitbreakerpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_JWTPOLICY: {
        const struct gw_jwtpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_BASICAUTHPOLICY: {
        const struct gw_basicauthpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_APIKEYPOLICY: {
        const struct gw_apikeypolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_EXTAUTHPOLICY: {
        const struct gw_extauthpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_LOADBALANCERPOLICY: {
        const struct gw_loadbalancerpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_XBACKENDTRAFFICPOLICY: {
        const struct gw_xbackendtrafficpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    case GW_KIND_COMPRESSIONPOLICY: {
        const struct gw_compressionpolicy *p = (const void *)m;
        *n = p->spec.target_refs.n;
        return p->spec.target_refs.v;
    }
    default:
        *n = 0;
        return NULL;
    }
}

const char *
gw_kind_group(enum gw_kind kind)
{
    return (unsigned)kind < GW_KIND__COUNT ? kinds[kind].group : "";
}

bool
gw_kind_is_namespaced(enum gw_kind kind)
{
    return (unsigned)kind < GW_KIND__COUNT && kinds[kind].namespaced;
}

int
gw_kind_from_name(const char *name, enum gw_kind *out)
{
    for (unsigned i = 0; i < GW_KIND__COUNT; i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            *out = (enum gw_kind)i;
            return 0;
        }
    }
    return GW_ENOTFOUND;
}

static const char *const path_match[] = {"Exact", "PathPrefix", "RegularExpression", NULL};
static const char *const value_match[] = {"Exact", "RegularExpression", NULL};
static const char *const methods[] = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                      "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};
static const char *const filters[] = {"RequestHeaderModifier",
                                      "ResponseHeaderModifier",
                                      "RequestMirror",
                                      "RequestRedirect",
                                      "URLRewrite",
                                      "ExtensionRef",
                                      "CORS",
                                      "ExternalAuth",
                                      NULL};
static const char *const path_modifiers[] = {"ReplaceFullPath", "ReplacePrefixMatch", NULL};
static const char *const froms[] = {"All", "Selector", "Same", "None", NULL};
static const char *const tls_modes[] = {"Terminate", "Passthrough", NULL};
static const char *const frontend_modes[] = {"AllowValidOnly", "AllowInsecureFallback", NULL};
static const char *const selector_ops[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};
static const char *const session_types[] = {"Cookie", "Header", NULL};
static const char *const lifetimes[] = {"Permanent", "Session", NULL};
static const char *const san_types[] = {"Hostname", "URI", NULL};
static const char *const well_known_cas[] = {"System", NULL};
static const char *const auth_protocols[] = {"HTTP", "GRPC", NULL};
static const char *const address_families[] = {"IPv4", "IPv6", "FQDN", NULL};
static const char *const ratelimit_keys[] = {"Route", "ClientAddress", "Header", NULL};
static const char *const healthcheck_types[] = {"HTTP", "TCP", "GRPC", NULL};
static const char *const lb_types[] = {"RoundRobin", "LeastRequest", "ConsistentHash", NULL};
static const char *const hash_keys[] = {"Header", "Cookie", "SourceIP", NULL};
static const char *const ratelimit_scopes[] = {"Local", "Global", NULL};
static const char *const failure_modes[] = {"Open", "Closed", NULL};
static const char *const xbackend_types[] = {"ExternalHostname", NULL};
static const char *const xbackend_protocols[] = {"TCP", "HTTP", "HTTP2", "HTTP11",
                                                 "H2C", "MCP",  NULL};
static const char *const xbackend_tls_modes[] = {"None", "ServerOnly", "ClientAndServer", NULL};
static const char *const compressions[] = {"gzip", "br", "zstd", NULL};

static const char *const *const enum_tables[GW_ENUM__COUNT] = {
    [GW_ENUM_PATH_MATCH] = path_match,
    [GW_ENUM_VALUE_MATCH] = value_match,
    [GW_ENUM_METHOD] = methods,
    [GW_ENUM_FILTER] = filters,
    [GW_ENUM_PATH_MODIFIER] = path_modifiers,
    [GW_ENUM_FROM] = froms,
    [GW_ENUM_TLS_MODE] = tls_modes,
    [GW_ENUM_FRONTEND_MODE] = frontend_modes,
    [GW_ENUM_SELECTOR_OP] = selector_ops,
    [GW_ENUM_SESSION_TYPE] = session_types,
    [GW_ENUM_LIFETIME] = lifetimes,
    [GW_ENUM_SAN_TYPE] = san_types,
    [GW_ENUM_WELL_KNOWN_CA] = well_known_cas,
    [GW_ENUM_AUTH_PROTOCOL] = auth_protocols,
    [GW_ENUM_ADDRESS_FAMILY] = address_families,
    [GW_ENUM_RATELIMIT_KEY] = ratelimit_keys,
    [GW_ENUM_HEALTHCHECK_TYPE] = healthcheck_types,
    [GW_ENUM_LB_TYPE] = lb_types,
    [GW_ENUM_HASH_KEY] = hash_keys,
    [GW_ENUM_RL_SCOPE] = ratelimit_scopes,
    [GW_ENUM_FAILMODE] = failure_modes,
    [GW_ENUM_XB_TYPE] = xbackend_types,
    [GW_ENUM_XB_PROTOCOL] = xbackend_protocols,
    [GW_ENUM_XB_TLS_MODE] = xbackend_tls_modes,
    [GW_ENUM_COMPRESSION] = compressions,
};

const char *const *
gw_enum_names(enum gw_enum e)
{
    GW_ASSERT((unsigned)e < GW_ENUM__COUNT);
    return enum_tables[e];
}

const char *
gw_enum_name(enum gw_enum e, int v)
{
    const char *const *t = gw_enum_names(e);
    for (int i = 0; t[i]; i++) {
        if (i + 1 == v)
            return t[i];
    }
    return "";
}

enum gw_protocol
gw_protocol_classify(const char *p)
{
    static const struct {
        const char *name;
        enum gw_protocol proto;
    } known[] = {
        {"HTTP", GW_PROTO_HTTP}, {"HTTPS", GW_PROTO_HTTPS}, {"TLS", GW_PROTO_TLS},
        {"TCP", GW_PROTO_TCP},   {"UDP", GW_PROTO_UDP},
    };

    if (!p)
        return GW_PROTO_OTHER;
    for (size_t i = 0; i < GW_ARRAY_LEN(known); i++) {
        if (strcasecmp(p, known[i].name) == 0)
            return known[i].proto;
    }
    return GW_PROTO_OTHER;
}

const char *
gw_kv_get(const struct gw_kv *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].key, key) == 0)
            return v[i].value;
    }
    return NULL;
}

const char *
gw_meta_label(const struct gw_meta *m, const char *key)
{
    return gw_kv_get(m->labels.v, m->labels.n, key);
}

const char *
gw_meta_annotation(const struct gw_meta *m, const char *key)
{
    return gw_kv_get(m->annotations.v, m->annotations.n, key);
}

const struct gw_bytes *
gw_bytes_get(const struct gw_bytes *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    }
    return NULL;
}

static bool
requirement_matches(const struct gw_label_requirement *r, const struct gw_kv *labels, size_t n)
{
    const char *have = gw_kv_get(labels, n, r->key);
    bool in = false;
    for (size_t i = 0; have && i < r->values.n; i++) {
        if (strcmp(r->values.v[i], have) == 0)
            in = true;
    }
    switch (r->op) {
    case GW_SELOP_IN:
        return in;
    case GW_SELOP_NOT_IN:
        return !in;
    case GW_SELOP_EXISTS:
        return have != NULL;
    case GW_SELOP_DOES_NOT_EXIST:
        return have == NULL;
    default:
        return false;
    }
}

bool
gw_label_selector_matches(const struct gw_label_selector *sel, const struct gw_kv *labels, size_t n)
{
    for (size_t i = 0; i < sel->match_labels.n; i++) {
        const char *have = gw_kv_get(labels, n, sel->match_labels.v[i].key);
        if (!have || strcmp(have, sel->match_labels.v[i].value) != 0)
            return false;
    }
    for (size_t i = 0; i < sel->match_expressions.n; i++) {
        if (!requirement_matches(&sel->match_expressions.v[i], labels, n))
            return false;
    }
    return true;
}
