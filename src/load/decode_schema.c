/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The schemas of every kind decode reads, as tables for the engine in
 * decode.c: the OpenAPI part of the Gateway API v1.6 CRDs (standard and
 * experimental channels) and of the core Kubernetes kinds, with the CRD
 * defaults. The CEL rules (x-kubernetes-validations) are the check hooks
 * above the tables; their messages are the CRDs' messages.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/decode_internal.h"
#include "net/net.h"

#include "base/banned.h"

#define I32MAX 2147483647

/* Table helpers: F(name, type, offset, more designated initialisers...); the
 * offset leads the variadic part so that F(name, type, 0) stays ISO C. */
#define F(n, t, ...)                                 \
    {                                                \
        .name = (n), .type = (t), .off = __VA_ARGS__ \
    }
#define END          \
    {                \
        .name = NULL \
    }
#define OFF(T, m)    offsetof(struct T, m)
#define SPEC(T, m)   (offsetof(struct T, spec.m) - offsetof(struct T, spec))
#define SPEC_SIZE(T) sizeof(((struct T *)0)->spec)

/* ------------------------------------------------------------------------ */
/* CEL helpers                                                              */

static bool
streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool
nstreq(const char *a, const char *b)
{
    return (!a && !b) || streq(a, b);
}

/* ------------------------------------------------------------------------ */
/* Shared pieces                                                            */

static const struct field sel_req_fields[] = {
    F("key", T_STR, OFF(gw_label_requirement, key), .flags = F_REQ | F_NONEMPTY),
    F("operator", T_ENUM, OFF(gw_label_requirement, op), .flags = F_REQ,
      .enum_id = GW_ENUM_SELECTOR_OP),
    F("values", T_STRLIST, OFF(gw_label_requirement, values)),
    END,
};
static const struct schema sel_req = {"LabelSelectorRequirement",
                                      sizeof(struct gw_label_requirement), sel_req_fields, NULL};

static const struct field selector_fields[] = {
    F("matchLabels", T_MAP, OFF(gw_label_selector, match_labels), .flags = F_LABELKEYS,
      .fmt = FMT_LABEL_VALUE),
    F("matchExpressions", T_LIST, OFF(gw_label_selector, match_expressions), .sub = &sel_req),
    END,
};
static const struct schema selector = {"LabelSelector", sizeof(struct gw_label_selector),
                                       selector_fields, NULL};

static const struct field parent_ref_fields[] = {
    F("group", T_STR, OFF(gw_parent_ref, group), .fmt = FMT_GROUP, .def_str = GW_GROUP_GATEWAY),
    F("kind", T_STR, OFF(gw_parent_ref, kind), .fmt = FMT_KIND, .def_str = "Gateway"),
    F("namespace", T_STR, OFF(gw_parent_ref, ns), .fmt = FMT_NAMESPACE),
    F("name", T_STR, OFF(gw_parent_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    F("sectionName", T_STR, OFF(gw_parent_ref, section_name), .fmt = FMT_SECTION_NAME),
    F("port", T_INT, OFF(gw_parent_ref, port), .min = 1, .max = 65535),
    END,
};
static const struct schema parent_ref = {"ParentReference", sizeof(struct gw_parent_ref),
                                         parent_ref_fields, NULL};

/* ParentGatewayReference of a ListenerSet: no sectionName or port. */
static const struct field ls_parent_fields[] = {
    F("group", T_STR, OFF(gw_parent_ref, group), .fmt = FMT_GROUP, .def_str = GW_GROUP_GATEWAY),
    F("kind", T_STR, OFF(gw_parent_ref, kind), .fmt = FMT_KIND, .def_str = "Gateway"),
    F("namespace", T_STR, OFF(gw_parent_ref, ns), .fmt = FMT_NAMESPACE),
    F("name", T_STR, OFF(gw_parent_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    END,
};

static void
check_ls_parent(struct dctx *c, void *obj, const struct gw_node *node)
{
    (void)c;
    (void)node;
    ((struct gw_parent_ref *)obj)->port = -1;
}
static const struct schema ls_parent = {"ParentGatewayReference", sizeof(struct gw_parent_ref),
                                        ls_parent_fields, check_ls_parent};

/* The two parentRefs CEL rules every route kind carries. */
static void
check_parent_refs(struct dctx *c, const struct gw_parent_ref *v, size_t n,
                  const struct gw_node *spec)
{
    const struct gw_node *list = d_get(spec, "parentRefs");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (i == j)
                continue;
            const struct gw_parent_ref *a = &v[i], *b = &v[j];
            if (!streq(a->kind, b->kind) || !streq(a->group, b->group) ||
                !streq(a->name, b->name) || !nstreq(a->ns, b->ns))
                continue;
            if ((!a->section_name && a->port < 0) || (!b->section_name && b->port < 0)) {
                d_cel(c, list, ".parentRefs", "array",
                      "sectionName or port must be specified when parentRefs includes 2 or more "
                      "references to the same parent");
                return;
            }
            if (nstreq(a->section_name, b->section_name) && a->port == b->port) {
                d_cel(c, list, ".parentRefs", "array",
                      "sectionName or port must be unique when parentRefs includes 2 or more "
                      "references to the same parent");
                return;
            }
        }
    }
}

/* BackendObjectReference's CEL: a Service needs a port. */
static void
check_backend_port(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_backend_ref *b = obj;
    if (b->group && !*b->group && streq(b->kind, "Service") && b->port < 0)
        d_cel(c, node, NULL, "object", "Must have port for Service reference");
}

#define BACKEND_OBJ_FIELDS                                                                   \
    F("group", T_STR, OFF(gw_backend_ref, group), .fmt = FMT_GROUP, .def_str = ""),          \
        F("kind", T_STR, OFF(gw_backend_ref, kind), .fmt = FMT_KIND, .def_str = "Service"),  \
        F("name", T_STR, OFF(gw_backend_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME), \
        F("namespace", T_STR, OFF(gw_backend_ref, ns), .fmt = FMT_NAMESPACE),                \
        F("port", T_INT, OFF(gw_backend_ref, port), .min = 1, .max = 65535)

static const struct field backend_obj_fields[] = {BACKEND_OBJ_FIELDS, END};

static void
check_backend_obj(struct dctx *c, void *obj, const struct gw_node *node)
{
    ((struct gw_backend_ref *)obj)->weight = 0;
    check_backend_port(c, obj, node);
}
static const struct schema backend_obj = {"BackendObjectReference", sizeof(struct gw_backend_ref),
                                          backend_obj_fields, check_backend_obj};

static const struct field backend_ref_fields[] = {
    BACKEND_OBJ_FIELDS,
    F("weight", T_INT, OFF(gw_backend_ref, weight), .flags = F_DEF, .def_int = 1, .min = 0,
      .max = 1000000),
    END,
};
static const struct schema backend_ref = {"BackendRef", sizeof(struct gw_backend_ref),
                                          backend_ref_fields, check_backend_port};

static const struct field secret_ref_fields[] = {
    F("group", T_STR, OFF(gw_object_ref, group), .fmt = FMT_GROUP, .def_str = ""),
    F("kind", T_STR, OFF(gw_object_ref, kind), .fmt = FMT_KIND, .def_str = "Secret"),
    F("name", T_STR, OFF(gw_object_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    F("namespace", T_STR, OFF(gw_object_ref, ns), .fmt = FMT_NAMESPACE),
    END,
};
static const struct schema secret_ref = {"SecretObjectReference", sizeof(struct gw_object_ref),
                                         secret_ref_fields, NULL};

static const struct field object_ref_fields[] = {
    F("group", T_STR, OFF(gw_object_ref, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_object_ref, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("name", T_STR, OFF(gw_object_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    F("namespace", T_STR, OFF(gw_object_ref, ns), .fmt = FMT_NAMESPACE),
    END,
};
static const struct schema object_ref = {"ObjectReference", sizeof(struct gw_object_ref),
                                         object_ref_fields, NULL};

static const struct field local_ref_fields[] = {
    F("group", T_STR, OFF(gw_object_ref, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_object_ref, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("name", T_STR, OFF(gw_object_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    END,
};
static const struct schema local_ref = {"LocalObjectReference", sizeof(struct gw_object_ref),
                                        local_ref_fields, NULL};

/* ------------------------------------------------------------------------ */
/* HTTPRoute                                                                */

static void
check_path_match(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_path_match *m = obj;
    if (m->type != GW_PATH_EXACT && m->type != GW_PATH_PREFIX)
        return;
    const char *v = m->value ? m->value : "";
    size_t n = strlen(v);
    const char *msg = NULL;
    if (!d_fmt_ok(FMT_PATH, v, n))
        return; /* a control character: reported on the value */
    if (v[0] != '/')
        msg = "value must be an absolute path and start with '/' when type one of ['Exact', "
              "'PathPrefix']";
    else if (strstr(v, "//"))
        msg = "must not contain '//' when type one of ['Exact', 'PathPrefix']";
    else if (strstr(v, "/./"))
        msg = "must not contain '/./' when type one of ['Exact', 'PathPrefix']";
    else if (strstr(v, "/../"))
        msg = "must not contain '/../' when type one of ['Exact', 'PathPrefix']";
    else if (strstr(v, "%2f"))
        msg = "must not contain '%2f' when type one of ['Exact', 'PathPrefix']";
    else if (strstr(v, "%2F"))
        msg = "must not contain '%2F' when type one of ['Exact', 'PathPrefix']";
    else if (strchr(v, '#'))
        msg = "must not contain '#' when type one of ['Exact', 'PathPrefix']";
    else if (n >= 3 && strcmp(v + n - 3, "/..") == 0)
        msg = "must not end with '/..' when type one of ['Exact', 'PathPrefix']";
    else if (n >= 2 && strcmp(v + n - 2, "/.") == 0)
        msg = "must not end with '/.' when type one of ['Exact', 'PathPrefix']";
    else {
        for (size_t i = 0; i < n && !msg; i++) {
            unsigned char ch = (unsigned char)v[i];
            if (ch == '%') {
                if (i + 2 >= n + 0 || !strchr("0123456789abcdefABCDEF", v[i + 1]) || !v[i + 1] ||
                    !v[i + 2] || !strchr("0123456789abcdefABCDEF", v[i + 2]))
                    msg = "x";
                else
                    i += 2;
            } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || strchr("-/._~!$&'()*+,;=:@", ch))) {
                msg = "x";
            }
        }
        if (msg)
            msg = "must only contain valid characters (matching "
                  "^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', "
                  "'PathPrefix']";
    }
    if (msg)
        d_cel(c, node, NULL, "object", msg);
}

static const struct field path_match_fields[] = {
    F("type", T_ENUM, OFF(gw_path_match, type), .enum_id = GW_ENUM_PATH_MATCH,
      .def_str = "PathPrefix"),
    F("value", T_STR, OFF(gw_path_match, value), .fmt = FMT_PATH, .max = 1024, .def_str = "/"),
    END,
};
static const struct schema path_match = {"HTTPPathMatch", sizeof(struct gw_path_match),
                                         path_match_fields, check_path_match};

static const struct field header_match_fields[] = {
    F("type", T_ENUM, OFF(gw_value_match, type), .enum_id = GW_ENUM_VALUE_MATCH,
      .def_str = "Exact"),
    F("name", T_STR, OFF(gw_value_match, name), .flags = F_REQ, .fmt = FMT_HEADER_NAME),
    F("value", T_STR, OFF(gw_value_match, value), .flags = F_REQ, .fmt = FMT_HEADER_VALUE),
    END,
};
static const struct schema header_match = {"HTTPHeaderMatch", sizeof(struct gw_value_match),
                                           header_match_fields, NULL};

static const struct field query_match_fields[] = {
    F("type", T_ENUM, OFF(gw_value_match, type), .enum_id = GW_ENUM_VALUE_MATCH,
      .def_str = "Exact"),
    F("name", T_STR, OFF(gw_value_match, name), .flags = F_REQ, .fmt = FMT_HEADER_NAME),
    F("value", T_STR, OFF(gw_value_match, value), .flags = F_REQ, .fmt = FMT_QUERY_VALUE),
    END,
};
static const struct schema query_match = {"HTTPQueryParamMatch", sizeof(struct gw_value_match),
                                          query_match_fields, NULL};

static const struct field http_match_fields[] = {
    F("path", T_OBJ, OFF(gw_http_match, path), .flags = F_DEF, .sub = &path_match),
    F("headers", T_LIST, OFF(gw_http_match, headers), .flags = F_UNIQUE, .sub = &header_match,
      .max_items = 16, .ukey = OFF(gw_value_match, name)),
    F("queryParams", T_LIST, OFF(gw_http_match, query_params), .flags = F_UNIQUE,
      .sub = &query_match, .max_items = 16, .ukey = OFF(gw_value_match, name)),
    F("method", T_ENUM, OFF(gw_http_match, method), .enum_id = GW_ENUM_METHOD),
    END,
};
static const struct schema http_match = {"HTTPRouteMatch", sizeof(struct gw_http_match),
                                         http_match_fields, NULL};

static const struct field header_fields[] = {
    F("name", T_STR, OFF(gw_header, name), .flags = F_REQ, .fmt = FMT_HEADER_NAME),
    F("value", T_STR, OFF(gw_header, value), .flags = F_REQ, .fmt = FMT_HEADER_VALUE),
    END,
};
static const struct schema header = {"HTTPHeader", sizeof(struct gw_header), header_fields, NULL};

static const struct field header_filter_fields[] = {
    F("set", T_LIST, OFF(gw_header_filter, set), .flags = F_UNIQUE, .sub = &header, .max_items = 16,
      .ukey = OFF(gw_header, name)),
    F("add", T_LIST, OFF(gw_header_filter, add), .flags = F_UNIQUE, .sub = &header, .max_items = 16,
      .ukey = OFF(gw_header, name)),
    F("remove", T_STRLIST, OFF(gw_header_filter, remove), .flags = F_UNIQUE, .fmt = FMT_HEADER_NAME,
      .max_items = 16),
    END,
};
static const struct schema header_filter = {"HTTPHeaderFilter", sizeof(struct gw_header_filter),
                                            header_filter_fields, NULL};

static void
check_path_modifier(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_path_modifier_cfg *p = obj;
    if (p->type == GW_PATHMOD_FULL && !p->replace_full_path)
        d_cel(c, node, NULL, "object",
              "replaceFullPath must be specified when type is set to 'ReplaceFullPath'");
    if (p->replace_full_path && p->type != GW_PATHMOD_FULL)
        d_cel(c, node, NULL, "object",
              "type must be 'ReplaceFullPath' when replaceFullPath is set");
    if (p->type == GW_PATHMOD_PREFIX && !p->replace_prefix_match)
        d_cel(c, node, NULL, "object",
              "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'");
    if (p->replace_prefix_match && p->type != GW_PATHMOD_PREFIX)
        d_cel(c, node, NULL, "object",
              "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set");
}

static const struct field path_mod_fields[] = {
    F("type", T_ENUM, OFF(gw_path_modifier_cfg, type), .flags = F_REQ,
      .enum_id = GW_ENUM_PATH_MODIFIER),
    F("replaceFullPath", T_STR, OFF(gw_path_modifier_cfg, replace_full_path), .fmt = FMT_PATH,
      .max = 1024),
    F("replacePrefixMatch", T_STR, OFF(gw_path_modifier_cfg, replace_prefix_match), .fmt = FMT_PATH,
      .max = 1024),
    END,
};
static const struct schema path_mod = {"HTTPPathModifier", sizeof(struct gw_path_modifier_cfg),
                                       path_mod_fields, check_path_modifier};

static const char *const schemes[] = {"http", "https", NULL};
static const char *const redirect_codes[] = {"301", "302", "303", "307", "308", NULL};

static const struct field redirect_fields[] = {
    F("scheme", T_STR, OFF(gw_redirect, scheme), .allowed = schemes),
    F("hostname", T_STR, OFF(gw_redirect, hostname), .fmt = FMT_PRECISE_HOSTNAME),
    F("path", T_OBJ, OFF(gw_redirect, path), .sub = &path_mod),
    F("port", T_INT, OFF(gw_redirect, port), .min = 1, .max = 65535),
    F("statusCode", T_INT, OFF(gw_redirect, status_code), .flags = F_DEF, .def_int = 302,
      .allowed = redirect_codes),
    END,
};
static const struct schema redirect = {"HTTPRequestRedirectFilter", sizeof(struct gw_redirect),
                                       redirect_fields, NULL};

static const struct field rewrite_fields[] = {
    F("hostname", T_STR, OFF(gw_rewrite, hostname), .fmt = FMT_PRECISE_HOSTNAME),
    F("path", T_OBJ, OFF(gw_rewrite, path), .sub = &path_mod),
    END,
};
static const struct schema rewrite = {"HTTPURLRewriteFilter", sizeof(struct gw_rewrite),
                                      rewrite_fields, NULL};

static void
check_fraction(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_fraction *f = obj;
    if (f->numerator >= 0 && f->denominator >= 1 && f->numerator > f->denominator)
        d_cel(c, node, NULL, "object", "numerator must be less than or equal to denominator");
}

static const struct field fraction_fields[] = {
    F("numerator", T_INT, OFF(gw_fraction, numerator), .flags = F_REQ, .min = 0, .max = I32MAX),
    F("denominator", T_INT, OFF(gw_fraction, denominator), .flags = F_DEF, .def_int = 100, .min = 1,
      .max = I32MAX),
    END,
};
static const struct schema fraction = {"Fraction", sizeof(struct gw_fraction), fraction_fields,
                                       check_fraction};

static void
check_mirror(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_mirror *m = obj;
    if (m->percent >= 0 && m->fraction)
        d_cel(c, node, NULL, "object",
              "Only one of percent or fraction may be specified in HTTPRequestMirrorFilter");
}

static const struct field mirror_fields[] = {
    F("backendRef", T_STRUCT, OFF(gw_mirror, backend_ref), .flags = F_REQ, .sub = &backend_obj),
    F("percent", T_INT, OFF(gw_mirror, percent), .min = 0, .max = 100),
    F("fraction", T_OBJ, OFF(gw_mirror, fraction), .sub = &fraction),
    END,
};
static const struct schema mirror = {"HTTPRequestMirrorFilter", sizeof(struct gw_mirror),
                                     mirror_fields, check_mirror};

static bool
has_star_and_more(const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i], "*") == 0)
            return n > 1;
    }
    return false;
}

static void
check_cors(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_cors *x = obj;
    if (has_star_and_more(x->allow_origins.v, x->allow_origins.n))
        d_cel(c, d_get(node, "allowOrigins"), ".allowOrigins", "array",
              "AllowOrigins cannot contain '*' alongside other origins");
    if (has_star_and_more(x->allow_methods.v, x->allow_methods.n))
        d_cel(c, d_get(node, "allowMethods"), ".allowMethods", "array",
              "AllowMethods cannot contain '*' alongside other methods");
    if (has_star_and_more(x->allow_headers.v, x->allow_headers.n))
        d_cel(c, d_get(node, "allowHeaders"), ".allowHeaders", "array",
              "AllowHeaders cannot contain '*' alongside other methods");
}

static const char *const cors_methods[] = {"GET",     "HEAD",  "POST",  "PUT", "DELETE", "CONNECT",
                                           "OPTIONS", "TRACE", "PATCH", "*",   NULL};

static const struct field cors_fields[] = {
    F("allowOrigins", T_STRLIST, OFF(gw_cors, allow_origins), .flags = F_UNIQUE,
      .fmt = FMT_CORS_ORIGIN, .max_items = 64),
    F("allowCredentials", T_BOOL, OFF(gw_cors, allow_credentials)),
    F("allowMethods", T_STRLIST, OFF(gw_cors, allow_methods), .flags = F_UNIQUE, .max_items = 9,
      .allowed = cors_methods),
    F("allowHeaders", T_STRLIST, OFF(gw_cors, allow_headers), .flags = F_UNIQUE,
      .fmt = FMT_HEADER_NAME, .max_items = 64),
    F("exposeHeaders", T_STRLIST, OFF(gw_cors, expose_headers), .flags = F_UNIQUE,
      .fmt = FMT_HEADER_NAME, .max_items = 64),
    F("maxAge", T_INT, OFF(gw_cors, max_age), .flags = F_DEF, .def_int = 5, .min = 1,
      .max = I32MAX),
    END,
};
static const struct schema cors = {"HTTPCORSFilter", sizeof(struct gw_cors), cors_fields,
                                   check_cors};

static const struct field auth_grpc_fields[] = {
    F("allowedHeaders", T_STRLIST, OFF(gw_auth_grpc, allowed_headers), .flags = F_UNIQUE,
      .fmt = FMT_HEADER_NAME, .max_items = 64),
    END,
};
static const struct schema auth_grpc = {"GRPCAuthConfig", sizeof(struct gw_auth_grpc),
                                        auth_grpc_fields, NULL};

static const struct field auth_http_fields[] = {
    F("path", T_STR, OFF(gw_auth_http, path), .fmt = FMT_PATH, .max = 1024),
    F("allowedHeaders", T_STRLIST, OFF(gw_auth_http, allowed_headers), .flags = F_UNIQUE,
      .fmt = FMT_HEADER_NAME, .max_items = 64),
    F("allowedResponseHeaders", T_STRLIST, OFF(gw_auth_http, allowed_response_headers),
      .flags = F_UNIQUE, .fmt = FMT_HEADER_NAME, .max_items = 64),
    END,
};
static const struct schema auth_http = {"HTTPAuthConfig", sizeof(struct gw_auth_http),
                                        auth_http_fields, NULL};

static const struct field forward_body_fields[] = {
    F("maxSize", T_INT, OFF(gw_forward_body, max_size), .min = 0, .max = I32MAX),
    END,
};
static const struct schema forward_body = {"ForwardBodyConfig", sizeof(struct gw_forward_body),
                                           forward_body_fields, NULL};

static void
check_external_auth(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_external_auth *a = obj;
    if (a->protocol == GW_AUTH_GRPC && !a->grpc)
        d_cel(c, node, NULL, "object", "grpc must be specified when protocol is set to 'GRPC'");
    if (a->grpc && a->protocol != GW_AUTH_GRPC)
        d_cel(c, node, NULL, "object", "protocol must be 'GRPC' when grpc is set");
    if (a->protocol == GW_AUTH_HTTP && !a->http)
        d_cel(c, node, NULL, "object", "http must be specified when protocol is set to 'HTTP'");
    if (a->http && a->protocol != GW_AUTH_HTTP)
        d_cel(c, node, NULL, "object", "protocol must be 'HTTP' when http is set");
}

static const struct field external_auth_fields[] = {
    F("protocol", T_ENUM, OFF(gw_external_auth, protocol), .flags = F_REQ,
      .enum_id = GW_ENUM_AUTH_PROTOCOL),
    F("backendRef", T_STRUCT, OFF(gw_external_auth, backend_ref), .flags = F_REQ,
      .sub = &backend_obj),
    F("grpc", T_OBJ, OFF(gw_external_auth, grpc), .sub = &auth_grpc),
    F("http", T_OBJ, OFF(gw_external_auth, http), .sub = &auth_http),
    F("forwardBody", T_OBJ, OFF(gw_external_auth, forward_body), .sub = &forward_body),
    END,
};
static const struct schema external_auth = {"HTTPExternalAuthFilter",
                                            sizeof(struct gw_external_auth), external_auth_fields,
                                            check_external_auth};

/* The filter's config field must match its type (a CEL pair per type). */
static void
check_filter(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_http_filter *f = obj;

    static const struct {
        int type;
        const char *field;
        size_t off;
    } pairs[] = {
        {GW_FILTER_CORS, "cors", OFF(gw_http_filter, cors)},
        {GW_FILTER_REQUEST_HEADER, "requestHeaderModifier",
         OFF(gw_http_filter, request_header_modifier)},
        {GW_FILTER_RESPONSE_HEADER, "responseHeaderModifier",
         OFF(gw_http_filter, response_header_modifier)},
        {GW_FILTER_MIRROR, "requestMirror", OFF(gw_http_filter, request_mirror)},
        {GW_FILTER_REDIRECT, "requestRedirect", OFF(gw_http_filter, request_redirect)},
        {GW_FILTER_REWRITE, "urlRewrite", OFF(gw_http_filter, url_rewrite)},
        {GW_FILTER_EXTERNAL_AUTH, "externalAuth", OFF(gw_http_filter, external_auth)},
        {GW_FILTER_EXTENSION_REF, "extensionRef", OFF(gw_http_filter, extension_ref)},
    };

    if (f->type == GW_FILTER_NONE)
        return; /* the type itself was reported */
    for (size_t i = 0; i < GW_ARRAY_LEN(pairs); i++) {
        bool has = *(void *const *)(const void *)((const char *)f + pairs[i].off) != NULL;
        const char *type = gw_enum_name(GW_ENUM_FILTER, pairs[i].type);
        char msg[160];
        if (has && f->type != pairs[i].type) {
            snprintf(msg, sizeof(msg), "filter.%s must be nil if the filter.type is not %s",
                     pairs[i].field, type);
            d_cel(c, node, NULL, "object", msg);
        } else if (!has && f->type == pairs[i].type) {
            snprintf(msg, sizeof(msg), "filter.%s must be specified for %s filter.type",
                     pairs[i].field, type);
            d_cel(c, node, NULL, "object", msg);
        }
    }
}

static const struct field http_filter_fields[] = {
    F("type", T_ENUM, OFF(gw_http_filter, type), .flags = F_REQ, .enum_id = GW_ENUM_FILTER),
    F("requestHeaderModifier", T_OBJ, OFF(gw_http_filter, request_header_modifier),
      .sub = &header_filter),
    F("responseHeaderModifier", T_OBJ, OFF(gw_http_filter, response_header_modifier),
      .sub = &header_filter),
    F("requestMirror", T_OBJ, OFF(gw_http_filter, request_mirror), .sub = &mirror),
    F("requestRedirect", T_OBJ, OFF(gw_http_filter, request_redirect), .sub = &redirect),
    F("urlRewrite", T_OBJ, OFF(gw_http_filter, url_rewrite), .sub = &rewrite),
    F("cors", T_OBJ, OFF(gw_http_filter, cors), .sub = &cors),
    F("externalAuth", T_OBJ, OFF(gw_http_filter, external_auth), .sub = &external_auth),
    F("extensionRef", T_OBJ, OFF(gw_http_filter, extension_ref), .sub = &local_ref),
    END,
};
static const struct schema http_filter = {"HTTPRouteFilter", sizeof(struct gw_http_filter),
                                          http_filter_fields, check_filter};

static const char *const grpc_filter_types[] = {"ResponseHeaderModifier", "RequestHeaderModifier",
                                                "RequestMirror", "ExtensionRef", NULL};

static const struct field grpc_filter_fields[] = {
    F("type", T_ENUM, OFF(gw_http_filter, type), .flags = F_REQ, .enum_id = GW_ENUM_FILTER,
      .allowed = grpc_filter_types),
    F("requestHeaderModifier", T_OBJ, OFF(gw_http_filter, request_header_modifier),
      .sub = &header_filter),
    F("responseHeaderModifier", T_OBJ, OFF(gw_http_filter, response_header_modifier),
      .sub = &header_filter),
    F("requestMirror", T_OBJ, OFF(gw_http_filter, request_mirror), .sub = &mirror),
    F("extensionRef", T_OBJ, OFF(gw_http_filter, extension_ref), .sub = &local_ref),
    END,
};
static const struct schema grpc_filter = {"GRPCRouteFilter", sizeof(struct gw_http_filter),
                                          grpc_filter_fields, check_filter};

/* The filter-list CEL rules (rule filters and backendRef filters alike). */
static void
check_filter_list(struct dctx *c, const struct gw_http_filter *v, size_t n,
                  const struct gw_node *owner)
{
    unsigned count[16] = {0};
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)v[i].type < GW_ARRAY_LEN(count))
            count[v[i].type]++;
    }
    const struct gw_node *list = d_get(owner, "filters");
    if (count[GW_FILTER_REDIRECT] && count[GW_FILTER_REWRITE])
        d_cel(c, list, ".filters", "array",
              "May specify either httpRouteFilterRequestRedirect or "
              "httpRouteFilterRequestRewrite, but not both");

    static const struct {
        int type;
        const char *msg;
    } once[] = {
        {GW_FILTER_CORS, "CORS filter cannot be repeated"},
        {GW_FILTER_REQUEST_HEADER, "RequestHeaderModifier filter cannot be repeated"},
        {GW_FILTER_RESPONSE_HEADER, "ResponseHeaderModifier filter cannot be repeated"},
        {GW_FILTER_REDIRECT, "RequestRedirect filter cannot be repeated"},
        {GW_FILTER_REWRITE, "URLRewrite filter cannot be repeated"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(once); i++) {
        if (count[once[i].type] > 1)
            d_cel(c, list, ".filters", "array", once[i].msg);
    }
}

static void
check_http_backend(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_backend_ref *b = obj;
    check_backend_port(c, obj, node);
    check_filter_list(c, b->filters.v, b->filters.n, node);
}

static const struct field http_backend_fields[] = {
    BACKEND_OBJ_FIELDS,
    F("weight", T_INT, OFF(gw_backend_ref, weight), .flags = F_DEF, .def_int = 1, .min = 0,
      .max = 1000000),
    F("filters", T_LIST, OFF(gw_backend_ref, filters), .sub = &http_filter, .max_items = 16),
    END,
};
static const struct schema http_backend = {"HTTPBackendRef", sizeof(struct gw_backend_ref),
                                           http_backend_fields, check_http_backend};

static const struct field grpc_backend_fields[] = {
    BACKEND_OBJ_FIELDS,
    F("weight", T_INT, OFF(gw_backend_ref, weight), .flags = F_DEF, .def_int = 1, .min = 0,
      .max = 1000000),
    F("filters", T_LIST, OFF(gw_backend_ref, filters), .sub = &grpc_filter, .max_items = 16),
    END,
};
static const struct schema grpc_backend = {"GRPCBackendRef", sizeof(struct gw_backend_ref),
                                           grpc_backend_fields, check_http_backend};

static void
check_timeouts(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_http_timeouts *t = obj;
    if (t->request_ms > 0 && t->backend_request_ms > t->request_ms)
        d_cel(c, node, NULL, "object",
              "backendRequest timeout cannot be longer than request timeout");
}

static const struct field timeouts_fields[] = {
    F("request", T_DURATION, OFF(gw_http_timeouts, request_ms)),
    F("backendRequest", T_DURATION, OFF(gw_http_timeouts, backend_request_ms)),
    END,
};
static const struct schema timeouts = {"HTTPRouteTimeouts", sizeof(struct gw_http_timeouts),
                                       timeouts_fields, check_timeouts};

static const struct field retry_fields[] = {
    F("codes", T_INTLIST, OFF(gw_http_retry, codes), .min = 400, .max = 599),
    F("attempts", T_INT, OFF(gw_http_retry, attempts), .min = 0, .max = I32MAX),
    F("backoff", T_DURATION, OFF(gw_http_retry, backoff_ms)),
    END,
};
static const struct schema retry = {"HTTPRouteRetry", sizeof(struct gw_http_retry), retry_fields,
                                    NULL};

static const struct field cookie_fields[] = {
    F("lifetimeType", T_ENUM, OFF(gw_cookie_config, lifetime_type), .flags = F_DEF,
      .enum_id = GW_ENUM_LIFETIME, .def_str = "Session"),
    END,
};
static const struct schema cookie = {"CookieConfig", sizeof(struct gw_cookie_config), cookie_fields,
                                     NULL};

static void
check_session(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_session_persistence *s = obj;
    if (s->cookie_config && s->cookie_config->lifetime_type == GW_LIFETIME_PERMANENT &&
        s->absolute_timeout_ms < 0)
        d_cel(c, node, NULL, "object",
              "AbsoluteTimeout must be specified when cookie lifetimeType is Permanent");
    if (s->cookie_config && s->type != GW_SESSION_COOKIE)
        d_cel(c, node, NULL, "object", "cookieConfig can only be set with type Cookie");
}

static const struct field session_fields[] = {
    F("sessionName", T_STR, OFF(gw_session_persistence, session_name), .fmt = FMT_TEXT, .max = 128),
    F("absoluteTimeout", T_DURATION, OFF(gw_session_persistence, absolute_timeout_ms)),
    F("idleTimeout", T_DURATION, OFF(gw_session_persistence, idle_timeout_ms)),
    F("type", T_ENUM, OFF(gw_session_persistence, type), .flags = F_DEF,
      .enum_id = GW_ENUM_SESSION_TYPE, .def_str = "Cookie"),
    F("cookieConfig", T_OBJ, OFF(gw_session_persistence, cookie_config), .sub = &cookie),
    END,
};
static const struct schema session = {"SessionPersistence", sizeof(struct gw_session_persistence),
                                      session_fields, check_session};

/* True if some filter in v is a redirect or rewrite with ReplacePrefixMatch. */
static bool
uses_prefix_replace(const struct gw_http_filter *v, size_t n, int type)
{
    for (size_t i = 0; i < n; i++) {
        const struct gw_path_modifier_cfg *p = NULL;
        if (v[i].type != type)
            continue;
        if (type == GW_FILTER_REDIRECT && v[i].request_redirect)
            p = v[i].request_redirect->path;
        if (type == GW_FILTER_REWRITE && v[i].url_rewrite)
            p = v[i].url_rewrite->path;
        if (p && p->type == GW_PATHMOD_PREFIX && p->replace_prefix_match)
            return true;
    }
    return false;
}

static void
check_http_rule(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_http_rule *r = obj;
    bool one_prefix =
        r->matches.n == 1 && r->matches.v[0].path && r->matches.v[0].path->type == GW_PATH_PREFIX;
    if (r->backend_refs.n) {
        for (size_t i = 0; i < r->filters.n; i++) {
            if (r->filters.v[i].request_redirect) {
                d_cel(c, node, NULL, "object",
                      "RequestRedirect filter must not be used together with backendRefs");
                break;
            }
        }
    }
    if (!one_prefix && uses_prefix_replace(r->filters.v, r->filters.n, GW_FILTER_REDIRECT))
        d_cel(c, node, NULL, "object",
              "When using RequestRedirect filter with path.replacePrefixMatch, exactly one "
              "PathPrefix match must be specified");
    if (!one_prefix && uses_prefix_replace(r->filters.v, r->filters.n, GW_FILTER_REWRITE))
        d_cel(c, node, NULL, "object",
              "When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix "
              "match must be specified");
    for (size_t i = 0; !one_prefix && i < r->backend_refs.n; i++) {
        const struct gw_backend_ref *b = &r->backend_refs.v[i];
        if (uses_prefix_replace(b->filters.v, b->filters.n, GW_FILTER_REDIRECT))
            d_cel(c, node, NULL, "object",
                  "Within backendRefs, when using RequestRedirect filter with "
                  "path.replacePrefixMatch, exactly one PathPrefix match must be specified");
        if (uses_prefix_replace(b->filters.v, b->filters.n, GW_FILTER_REWRITE))
            d_cel(c, node, NULL, "object",
                  "Within backendRefs, When using URLRewrite filter with "
                  "path.replacePrefixMatch, exactly one PathPrefix match must be specified");
    }
    check_filter_list(c, r->filters.v, r->filters.n, node);
}

static const struct field http_rule_fields[] = {
    F("name", T_STR, OFF(gw_http_rule, name), .fmt = FMT_SECTION_NAME),
    F("matches", T_LIST, OFF(gw_http_rule, matches), .flags = F_DEF, .sub = &http_match,
      .max_items = 64),
    F("filters", T_LIST, OFF(gw_http_rule, filters), .sub = &http_filter, .max_items = 16),
    F("backendRefs", T_LIST, OFF(gw_http_rule, backend_refs), .sub = &http_backend,
      .max_items = 16),
    F("timeouts", T_OBJ, OFF(gw_http_rule, timeouts), .sub = &timeouts),
    F("retry", T_OBJ, OFF(gw_http_rule, retry), .sub = &retry),
    F("sessionPersistence", T_OBJ, OFF(gw_http_rule, session_persistence), .sub = &session),
    END,
};
static const struct schema http_rule = {"HTTPRouteRule", sizeof(struct gw_http_rule),
                                        http_rule_fields, check_http_rule};

/* Rule names unique; at most 128 matches over all rules. */
static void
check_rule_names(struct dctx *c, const struct gw_node *rules_node, const char *const *names,
                 size_t n, size_t total_matches)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; names[i] && j < n; j++) {
            if (i != j && streq(names[i], names[j])) {
                d_cel(c, rules_node, ".rules", "array",
                      "Rule name must be unique within the route");
                i = n;
                break;
            }
        }
    }
    if (total_matches > 128)
        d_cel(c, rules_node, ".rules", "array",
              "While 16 rules and 64 matches per rule are allowed, the total number of matches "
              "across all rules in a route must be less than 128");
}

static void
check_httproute_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_httproute *hr = (void *)((char *)obj - offsetof(struct gw_httproute, spec));
    const char *names[16];
    size_t total = 0, n = GW_MIN(hr->spec.rules.n, GW_ARRAY_LEN(names));
    for (size_t i = 0; i < n; i++) {
        names[i] = hr->spec.rules.v[i].name;
        total += hr->spec.rules.v[i].matches.n;
    }
    check_rule_names(c, d_get(node, "rules"), names, n, total);
    check_parent_refs(c, hr->spec.parent_refs.v, hr->spec.parent_refs.n, node);
}

#define ROUTE_COMMON_FIELDS(T)                                                          \
    F("parentRefs", T_LIST, SPEC(T, parent_refs), .sub = &parent_ref, .max_items = 32), \
        F("useDefaultGateways", T_IGNORE, 0)

static const struct field httproute_spec_fields[] = {
    ROUTE_COMMON_FIELDS(gw_httproute),
    F("hostnames", T_STRLIST, SPEC(gw_httproute, hostnames), .fmt = FMT_HOSTNAME, .max_items = 16),
    F("rules", T_LIST, SPEC(gw_httproute, rules), .flags = F_DEF, .sub = &http_rule, .min_items = 1,
      .max_items = 16),
    END,
};
static const struct schema httproute_spec = {"HTTPRouteSpec", SPEC_SIZE(gw_httproute),
                                             httproute_spec_fields, check_httproute_spec};

/* ------------------------------------------------------------------------ */
/* Metadata and the roots                                                   */

static void
check_metadata(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_meta *m = obj;
    const struct gw_node *ts = d_get(node, "creationTimestamp");
    if (!ts)
        return;
    if (ts->type != GW_NODE_STR ||
        gw_time_parse((struct gw_str){ts->text, ts->len}, &m->creation_ms) != 0)
        d_err(c, ts, ".creationTimestamp",
              "Invalid value: %s: expected an RFC 3339 date-time (e.g. 2006-01-02T15:04:05Z)",
              ts->text ? ts->text : "null");
}

#define METADATA_FIELDS(namefmt)                                                                 \
    F("name", T_STR, OFF(gw_meta, name), .flags = F_REQ, .fmt = (namefmt)),                      \
        F("namespace", T_STR, OFF(gw_meta, ns), .fmt = FMT_DNS_LABEL),                           \
        F("labels", T_MAP, OFF(gw_meta, labels), .flags = F_LABELKEYS, .fmt = FMT_LABEL_VALUE),  \
        F("annotations", T_MAP, OFF(gw_meta, annotations)),                                      \
        F("generation", T_INT, OFF(gw_meta, generation), .flags = F_DEF, .def_int = 1, .min = 0, \
          .max = INT64_MAX),                                                                     \
        F("creationTimestamp", T_IGNORE, 0), F("uid", T_STR, OFF(gw_meta, uid)),                 \
        F("resourceVersion", T_STR, OFF(gw_meta, resource_version)),                             \
        F("generateName", T_IGNORE, 0), F("selfLink", T_IGNORE, 0),                              \
        F("deletionTimestamp", T_IGNORE, 0), F("deletionGracePeriodSeconds", T_IGNORE, 0),       \
        F("ownerReferences", T_IGNORE, 0), F("finalizers", T_IGNORE, 0),                         \
        F("managedFields", T_IGNORE, 0)

static const struct field metadata_fields[] = {METADATA_FIELDS(FMT_DNS_SUBDOMAIN), END};
const struct schema d_metadata = {"ObjectMeta", sizeof(struct gw_meta), metadata_fields,
                                  check_metadata};
static const struct field metadata_label_fields[] = {METADATA_FIELDS(FMT_DNS_LABEL), END};
static const struct schema metadata_label = {"ObjectMeta", sizeof(struct gw_meta),
                                             metadata_label_fields, check_metadata};

#define ROOT_FIELDS(T, md)                                                  \
    F("apiVersion", T_IGNORE, 0), F("kind", T_IGNORE, 0),                   \
        F("metadata", T_STRUCT, OFF(T, meta), .flags = F_REQ, .sub = (md)), \
        F("status", T_IGNORE, 0)

static const struct field httproute_fields[] = {
    ROOT_FIELDS(gw_httproute, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_httproute, spec), .flags = F_REQ, .sub = &httproute_spec),
    END,
};
const struct schema d_httproute = {"HTTPRoute", sizeof(struct gw_httproute), httproute_fields,
                                   NULL};

/* ------------------------------------------------------------------------ */
/* GRPCRoute                                                                */

static void
check_grpc_method(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_grpc_method_match *m = obj;
    if (!m->service && !m->method) {
        d_cel(c, node, NULL, "object", "One or both of 'service' or 'method' must be specified");
        return;
    }
    if (m->type != GW_MATCH_EXACT)
        return;
    if ((m->service && !d_fmt_ok(FMT_TEXT, m->service, strlen(m->service))) ||
        (m->method && !d_fmt_ok(FMT_TEXT, m->method, strlen(m->method))))
        return; /* a control character: reported on the value */
    if (m->service && !d_fmt_ok(FMT_GRPC_SERVICE, m->service, strlen(m->service)))
        d_cel(c, node, NULL, "object",
              "service must only contain valid characters (matching "
              "^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)");
    if (m->method && !d_fmt_ok(FMT_GRPC_METHOD, m->method, strlen(m->method)))
        d_cel(c, node, NULL, "object",
              "method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)");
}

static const struct field grpc_method_fields[] = {
    F("type", T_ENUM, OFF(gw_grpc_method_match, type), .enum_id = GW_ENUM_VALUE_MATCH,
      .def_str = "Exact"),
    F("service", T_STR, OFF(gw_grpc_method_match, service), .fmt = FMT_TEXT, .max = 1024),
    F("method", T_STR, OFF(gw_grpc_method_match, method), .fmt = FMT_TEXT, .max = 1024),
    END,
};
static const struct schema grpc_method = {"GRPCMethodMatch", sizeof(struct gw_grpc_method_match),
                                          grpc_method_fields, check_grpc_method};

static const struct field grpc_header_fields[] = {
    F("type", T_ENUM, OFF(gw_value_match, type), .enum_id = GW_ENUM_VALUE_MATCH,
      .def_str = "Exact"),
    F("name", T_STR, OFF(gw_value_match, name), .flags = F_REQ, .fmt = FMT_HEADER_NAME),
    F("value", T_STR, OFF(gw_value_match, value), .flags = F_REQ, .fmt = FMT_HEADER_VALUE),
    END,
};
static const struct schema grpc_header = {"GRPCHeaderMatch", sizeof(struct gw_value_match),
                                          grpc_header_fields, NULL};

static const struct field grpc_match_fields[] = {
    F("method", T_OBJ, OFF(gw_grpc_match, method), .sub = &grpc_method),
    F("headers", T_LIST, OFF(gw_grpc_match, headers), .flags = F_UNIQUE, .sub = &grpc_header,
      .max_items = 16, .ukey = OFF(gw_value_match, name)),
    END,
};
static const struct schema grpc_match = {"GRPCRouteMatch", sizeof(struct gw_grpc_match),
                                         grpc_match_fields, NULL};

static void
check_grpc_rule(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_grpc_rule *r = obj;
    check_filter_list(c, r->filters.v, r->filters.n, node);
}

static const struct field grpc_rule_fields[] = {
    F("name", T_STR, OFF(gw_grpc_rule, name), .fmt = FMT_SECTION_NAME),
    F("matches", T_LIST, OFF(gw_grpc_rule, matches), .sub = &grpc_match, .max_items = 64),
    F("filters", T_LIST, OFF(gw_grpc_rule, filters), .sub = &grpc_filter, .max_items = 16),
    F("backendRefs", T_LIST, OFF(gw_grpc_rule, backend_refs), .sub = &grpc_backend,
      .max_items = 16),
    F("sessionPersistence", T_OBJ, OFF(gw_grpc_rule, session_persistence), .sub = &session),
    END,
};
static const struct schema grpc_rule = {"GRPCRouteRule", sizeof(struct gw_grpc_rule),
                                        grpc_rule_fields, check_grpc_rule};

static void
check_grpcroute_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_grpcroute *gr = (void *)((char *)obj - offsetof(struct gw_grpcroute, spec));
    const char *names[16];
    size_t total = 0, n = GW_MIN(gr->spec.rules.n, GW_ARRAY_LEN(names));
    for (size_t i = 0; i < n; i++) {
        names[i] = gr->spec.rules.v[i].name;
        total += gr->spec.rules.v[i].matches.n;
    }
    check_rule_names(c, d_get(node, "rules"), names, n, total);
    check_parent_refs(c, gr->spec.parent_refs.v, gr->spec.parent_refs.n, node);
}

static const struct field grpcroute_spec_fields[] = {
    ROUTE_COMMON_FIELDS(gw_grpcroute),
    F("hostnames", T_STRLIST, SPEC(gw_grpcroute, hostnames), .fmt = FMT_HOSTNAME, .max_items = 16),
    F("rules", T_LIST, SPEC(gw_grpcroute, rules), .sub = &grpc_rule, .max_items = 16),
    END,
};
static const struct schema grpcroute_spec = {"GRPCRouteSpec", SPEC_SIZE(gw_grpcroute),
                                             grpcroute_spec_fields, check_grpcroute_spec};

static const struct field grpcroute_fields[] = {
    ROOT_FIELDS(gw_grpcroute, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_grpcroute, spec), .flags = F_REQ, .sub = &grpcroute_spec),
    END,
};
const struct schema d_grpcroute = {"GRPCRoute", sizeof(struct gw_grpcroute), grpcroute_fields,
                                   NULL};

/* ------------------------------------------------------------------------ */
/* TLSRoute, TCPRoute, UDPRoute                                             */

static const struct field l4_rule_fields[] = {
    F("name", T_STR, OFF(gw_l4_rule, name), .fmt = FMT_SECTION_NAME),
    F("backendRefs", T_LIST, OFF(gw_l4_rule, backend_refs), .flags = F_REQ, .sub = &backend_ref,
      .min_items = 1, .max_items = 16),
    END,
};
static const struct schema l4_rule = {"RouteRule", sizeof(struct gw_l4_rule), l4_rule_fields, NULL};

static void
check_l4route_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_l4route *r = (void *)((char *)obj - offsetof(struct gw_l4route, spec));
    const char *names[16];
    size_t n = GW_MIN(r->spec.rules.n, GW_ARRAY_LEN(names));
    for (size_t i = 0; i < n; i++)
        names[i] = r->spec.rules.v[i].name;
    check_rule_names(c, d_get(node, "rules"), names, n, 0);
    check_parent_refs(c, r->spec.parent_refs.v, r->spec.parent_refs.n, node);
}

static const struct field tlsroute_spec_fields[] = {
    ROUTE_COMMON_FIELDS(gw_l4route),
    F("hostnames", T_STRLIST, SPEC(gw_l4route, hostnames), .fmt = FMT_HOSTNAME, .max_items = 16),
    F("rules", T_LIST, SPEC(gw_l4route, rules), .flags = F_REQ, .sub = &l4_rule, .min_items = 1,
      .max_items = 16),
    END,
};
static const struct schema tlsroute_spec = {"TLSRouteSpec", SPEC_SIZE(gw_l4route),
                                            tlsroute_spec_fields, check_l4route_spec};

static const struct field l4route_spec_fields[] = {
    ROUTE_COMMON_FIELDS(gw_l4route),
    F("rules", T_LIST, SPEC(gw_l4route, rules), .flags = F_REQ, .sub = &l4_rule, .min_items = 1,
      .max_items = 16),
    END,
};
static const struct schema l4route_spec = {"RouteSpec", SPEC_SIZE(gw_l4route), l4route_spec_fields,
                                           check_l4route_spec};

static const struct field tlsroute_fields[] = {
    ROOT_FIELDS(gw_l4route, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_l4route, spec), .flags = F_REQ, .sub = &tlsroute_spec),
    END,
};
const struct schema d_tlsroute = {"TLSRoute", sizeof(struct gw_l4route), tlsroute_fields, NULL};

static const struct field l4route_fields[] = {
    ROOT_FIELDS(gw_l4route, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_l4route, spec), .flags = F_REQ, .sub = &l4route_spec),
    END,
};
const struct schema d_tcproute = {"TCPRoute", sizeof(struct gw_l4route), l4route_fields, NULL};
const struct schema d_udproute = {"UDPRoute", sizeof(struct gw_l4route), l4route_fields, NULL};

/* ------------------------------------------------------------------------ */
/* Gateway, ListenerSet, GatewayClass                                       */

static const struct field rgk_fields[] = {
    F("group", T_STR, OFF(gw_route_group_kind, group), .fmt = FMT_GROUP,
      .def_str = GW_GROUP_GATEWAY),
    F("kind", T_STR, OFF(gw_route_group_kind, kind), .flags = F_REQ, .fmt = FMT_KIND),
    END,
};
static const struct schema rgk = {"RouteGroupKind", sizeof(struct gw_route_group_kind), rgk_fields,
                                  NULL};

static const char *const route_froms[] = {"All", "Selector", "Same", NULL};

static const struct field route_ns_fields[] = {
    F("from", T_ENUM, OFF(gw_namespaces_from, from), .enum_id = GW_ENUM_FROM,
      .allowed = route_froms, .def_str = "Same"),
    F("selector", T_OBJ, OFF(gw_namespaces_from, selector), .sub = &selector),
    END,
};
static const struct schema route_ns = {"RouteNamespaces", sizeof(struct gw_namespaces_from),
                                       route_ns_fields, NULL};

static const struct field listener_ns_fields[] = {
    F("from", T_ENUM, OFF(gw_namespaces_from, from), .enum_id = GW_ENUM_FROM, .def_str = "None"),
    F("selector", T_OBJ, OFF(gw_namespaces_from, selector), .sub = &selector),
    END,
};
static const struct schema listener_ns = {"ListenerNamespaces", sizeof(struct gw_namespaces_from),
                                          listener_ns_fields, NULL};

static const struct field allowed_routes_fields[] = {
    F("namespaces", T_OBJ, OFF(gw_allowed_routes, namespaces), .flags = F_DEF, .sub = &route_ns),
    F("kinds", T_LIST, OFF(gw_allowed_routes, kinds), .sub = &rgk, .max_items = 8),
    END,
};
static const struct schema allowed_routes = {"AllowedRoutes", sizeof(struct gw_allowed_routes),
                                             allowed_routes_fields, NULL};

static void
check_listener_tls(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_listener_tls *t = obj;
    if (t->mode == GW_TLS_TERMINATE && !t->certificate_refs.n && !t->options.n)
        d_cel(c, node, NULL, "object",
              "certificateRefs or options must be specified when mode is Terminate");
}

static const struct field listener_tls_fields[] = {
    F("mode", T_ENUM, OFF(gw_listener_tls, mode), .enum_id = GW_ENUM_TLS_MODE,
      .def_str = "Terminate"),
    F("certificateRefs", T_LIST, OFF(gw_listener_tls, certificate_refs), .sub = &secret_ref,
      .max_items = 64),
    F("options", T_MAP, OFF(gw_listener_tls, options), .max_items = 16),
    END,
};
static const struct schema listener_tls = {"ListenerTLSConfig", sizeof(struct gw_listener_tls),
                                           listener_tls_fields, check_listener_tls};

static void
check_listener(struct dctx *c, void *obj, const struct gw_node *node)
{
    (void)c;
    (void)node;
    struct gw_listener *l = obj;
    l->proto = gw_protocol_classify(l->protocol);
}

static const struct field listener_fields[] = {
    F("name", T_STR, OFF(gw_listener, name), .flags = F_REQ, .fmt = FMT_SECTION_NAME),
    F("hostname", T_STR, OFF(gw_listener, hostname), .fmt = FMT_HOSTNAME),
    F("port", T_INT, OFF(gw_listener, port), .flags = F_REQ, .min = 1, .max = 65535),
    F("protocol", T_STR, OFF(gw_listener, protocol), .flags = F_REQ, .fmt = FMT_PROTOCOL),
    F("tls", T_OBJ, OFF(gw_listener, tls), .sub = &listener_tls),
    F("allowedRoutes", T_OBJ, OFF(gw_listener, allowed_routes), .flags = F_DEF,
      .sub = &allowed_routes),
    END,
};
static const struct schema listener = {"Listener", sizeof(struct gw_listener), listener_fields,
                                       check_listener};

/* The listener-list CEL rules, shared by Gateway and ListenerSet. */
static void
check_listeners(struct dctx *c, const struct gw_listener *v, size_t n, const struct gw_node *spec)
{
    const struct gw_node *list = d_get(spec, "listeners");
    bool tls_forbidden = false, https_mode = false, tls_mode = false, hostname = false,
         combo = false;
    for (size_t i = 0; i < n; i++) {
        const struct gw_listener *l = &v[i];
        if ((l->proto == GW_PROTO_HTTP || l->proto == GW_PROTO_TCP || l->proto == GW_PROTO_UDP) &&
            l->tls)
            tls_forbidden = true;
        if (l->proto == GW_PROTO_HTTPS && l->tls && l->tls->mode != GW_TLS_TERMINATE)
            https_mode = true;
        if (l->proto == GW_PROTO_TLS && !l->tls)
            tls_mode = true;
        if ((l->proto == GW_PROTO_TCP || l->proto == GW_PROTO_UDP) && l->hostname && *l->hostname)
            hostname = true;
        for (size_t j = 0; j < i; j++) {
            const struct gw_listener *o = &v[j];
            if (l->port == o->port && streq(l->protocol, o->protocol) &&
                nstreq(l->hostname, o->hostname) && !streq(l->name, o->name))
                combo = true;
        }
    }
    if (tls_forbidden)
        d_cel(c, list, ".listeners", "array",
              "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']");
    if (https_mode)
        d_cel(c, list, ".listeners", "array", "tls mode must be Terminate for protocol HTTPS");
    if (tls_mode)
        d_cel(c, list, ".listeners", "array", "tls mode must be set for protocol TLS");
    if (hostname)
        d_cel(c, list, ".listeners", "array",
              "hostname must not be specified for protocols ['TCP', 'UDP']");
    if (combo)
        d_cel(c, list, ".listeners", "array",
              "Combination of port, protocol and hostname must be unique for each listener");
}

static bool
ip_ok(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void
check_address(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_gateway_address *a = obj;
    if (streq(a->type, "Hostname") && a->value && *a->value &&
        !d_fmt_ok(FMT_HOSTNAME, a->value, strlen(a->value)))
        d_cel(c, node, NULL, "object",
              "Hostname value must be empty or contain only valid characters (matching "
              "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)");
    if (streq(a->type, "IPAddress") && a->value && *a->value && !ip_ok(a->value))
        d_cel(c, node, NULL, "object", "IPAddress value must be a valid IP address");
}

static const struct field address_fields[] = {
    F("type", T_STR, OFF(gw_gateway_address, type), .fmt = FMT_ADDRESS_TYPE,
      .def_str = "IPAddress"),
    F("value", T_STR, OFF(gw_gateway_address, value), .max = 253),
    END,
};
static const struct schema address = {"GatewaySpecAddress", sizeof(struct gw_gateway_address),
                                      address_fields, check_address};

static const struct field local_params_fields[] = {
    F("group", T_STR, OFF(gw_object_ref, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_object_ref, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("name", T_STR, OFF(gw_object_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    END,
};
static const struct schema local_params = {"LocalParametersReference", sizeof(struct gw_object_ref),
                                           local_params_fields, NULL};

static const struct field infra_fields[] = {
    F("labels", T_MAP, OFF(gw_gateway_infrastructure, labels), .flags = F_LABELKEYS, .max_items = 8,
      .fmt = FMT_LABEL_VALUE),
    F("annotations", T_MAP, OFF(gw_gateway_infrastructure, annotations), .max_items = 16),
    F("parametersRef", T_OBJ, OFF(gw_gateway_infrastructure, parameters_ref), .sub = &local_params),
    END,
};
static const struct schema infra = {"GatewayInfrastructure",
                                    sizeof(struct gw_gateway_infrastructure), infra_fields, NULL};

static const struct field allowed_listeners_fields[] = {
    F("namespaces", T_OBJ, OFF(gw_allowed_listeners, namespaces), .flags = F_DEF,
      .sub = &listener_ns),
    END,
};
static const struct schema allowed_listeners = {
    "AllowedListeners", sizeof(struct gw_allowed_listeners), allowed_listeners_fields, NULL};

static const struct field frontend_validation_fields[] = {
    F("caCertificateRefs", T_LIST, OFF(gw_frontend_validation, ca_certificate_refs), .flags = F_REQ,
      .sub = &object_ref, .min_items = 1, .max_items = 8),
    F("mode", T_ENUM, OFF(gw_frontend_validation, mode), .enum_id = GW_ENUM_FRONTEND_MODE,
      .def_str = "AllowValidOnly"),
    END,
};
static const struct schema frontend_validation = {"FrontendTLSValidation",
                                                  sizeof(struct gw_frontend_validation),
                                                  frontend_validation_fields, NULL};

static const struct field tls_config_fields[] = {
    F("validation", T_OBJ, OFF(gw_tls_config, validation), .sub = &frontend_validation),
    END,
};
static const struct schema tls_config = {"TLSConfig", sizeof(struct gw_tls_config),
                                         tls_config_fields, NULL};

static const struct field tls_port_fields[] = {
    F("port", T_INT, OFF(gw_tls_port_config, port), .flags = F_REQ, .min = 1, .max = 65535),
    F("tls", T_OBJ, OFF(gw_tls_port_config, tls), .flags = F_REQ, .sub = &tls_config),
    END,
};
static const struct schema tls_port = {"TLSPortConfig", sizeof(struct gw_tls_port_config),
                                       tls_port_fields, NULL};

static void
check_frontend(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_frontend_tls *f = obj;
    for (size_t i = 0; i < f->per_port.n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (f->per_port.v[i].port == f->per_port.v[j].port) {
                d_cel(c, d_get(node, "perPort"), ".perPort", "array",
                      "Port for TLS configuration must be unique within the Gateway");
                return;
            }
        }
    }
}

static const struct field frontend_fields[] = {
    F("default", T_OBJ, OFF(gw_frontend_tls, default_), .flags = F_REQ, .sub = &tls_config),
    F("perPort", T_LIST, OFF(gw_frontend_tls, per_port), .sub = &tls_port, .max_items = 64),
    END,
};
static const struct schema frontend = {"FrontendTLSConfig", sizeof(struct gw_frontend_tls),
                                       frontend_fields, check_frontend};

static const struct field backend_tls_fields[] = {
    F("clientCertificateRef", T_OBJ, OFF(gw_gateway_backend_tls, client_certificate_ref),
      .sub = &secret_ref),
    END,
};
static const struct schema backend_tls = {
    "GatewayBackendTLS", sizeof(struct gw_gateway_backend_tls), backend_tls_fields, NULL};

static const struct field gateway_tls_fields[] = {
    F("backend", T_OBJ, OFF(gw_gateway_tls, backend), .sub = &backend_tls),
    F("frontend", T_OBJ, OFF(gw_gateway_tls, frontend), .sub = &frontend),
    END,
};
static const struct schema gateway_tls = {"GatewayTLSConfig", sizeof(struct gw_gateway_tls),
                                          gateway_tls_fields, NULL};

static void
check_gateway_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_gateway *g = (void *)((char *)obj - offsetof(struct gw_gateway, spec));
    check_listeners(c, g->spec.listeners.v, g->spec.listeners.n, node);
    bool dup_ip = false, dup_host = false;
    for (size_t i = 0; i < g->spec.addresses.n; i++) {
        const struct gw_gateway_address *a = &g->spec.addresses.v[i];
        for (size_t j = 0; a->value && j < i; j++) {
            const struct gw_gateway_address *b = &g->spec.addresses.v[j];
            if (!streq(a->type, b->type) || !streq(a->value, b->value))
                continue;
            dup_ip |= streq(a->type, "IPAddress");
            dup_host |= streq(a->type, "Hostname");
        }
    }
    if (dup_ip)
        d_cel(c, d_get(node, "addresses"), ".addresses", "array",
              "IPAddress values must be unique");
    if (dup_host)
        d_cel(c, d_get(node, "addresses"), ".addresses", "array", "Hostname values must be unique");
}

static const struct field gateway_spec_fields[] = {
    F("gatewayClassName", T_STR, SPEC(gw_gateway, gateway_class_name), .flags = F_REQ,
      .fmt = FMT_OBJECT_NAME),
    F("listeners", T_LIST, SPEC(gw_gateway, listeners), .flags = F_REQ | F_UNIQUE, .sub = &listener,
      .min_items = 1, .max_items = 64, .ukey = OFF(gw_listener, name)),
    F("addresses", T_LIST, SPEC(gw_gateway, addresses), .sub = &address, .max_items = 16),
    F("infrastructure", T_OBJ, SPEC(gw_gateway, infrastructure), .sub = &infra),
    F("allowedListeners", T_OBJ, SPEC(gw_gateway, allowed_listeners), .sub = &allowed_listeners),
    F("tls", T_OBJ, SPEC(gw_gateway, tls), .sub = &gateway_tls),
    F("defaultScope", T_STR, SPEC(gw_gateway, default_scope)),
    END,
};
static const struct schema gateway_spec = {"GatewaySpec", SPEC_SIZE(gw_gateway),
                                           gateway_spec_fields, check_gateway_spec};

static const struct field gateway_fields[] = {
    ROOT_FIELDS(gw_gateway, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_gateway, spec), .flags = F_REQ, .sub = &gateway_spec),
    END,
};
const struct schema d_gateway = {"Gateway", sizeof(struct gw_gateway), gateway_fields, NULL};

static void
check_listenerset_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_listenerset *ls = (void *)((char *)obj - offsetof(struct gw_listenerset, spec));
    check_listeners(c, ls->spec.listeners.v, ls->spec.listeners.n, node);
}

static const struct field listenerset_spec_fields[] = {
    F("parentRef", T_STRUCT, SPEC(gw_listenerset, parent_ref), .flags = F_REQ, .sub = &ls_parent),
    F("listeners", T_LIST, SPEC(gw_listenerset, listeners), .flags = F_REQ | F_UNIQUE,
      .sub = &listener, .min_items = 1, .max_items = 64, .ukey = OFF(gw_listener, name)),
    END,
};
static const struct schema listenerset_spec = {"ListenerSetSpec", SPEC_SIZE(gw_listenerset),
                                               listenerset_spec_fields, check_listenerset_spec};

static const struct field listenerset_fields[] = {
    ROOT_FIELDS(gw_listenerset, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_listenerset, spec), .flags = F_REQ, .sub = &listenerset_spec),
    END,
};
const struct schema d_listenerset = {"ListenerSet", sizeof(struct gw_listenerset),
                                     listenerset_fields, NULL};

static const struct field params_ref_fields[] = {
    F("group", T_STR, OFF(gw_object_ref, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_object_ref, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("name", T_STR, OFF(gw_object_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    F("namespace", T_STR, OFF(gw_object_ref, ns), .fmt = FMT_NAMESPACE),
    END,
};
static const struct schema params_ref = {"ParametersReference", sizeof(struct gw_object_ref),
                                         params_ref_fields, NULL};

static const struct field gatewayclass_spec_fields[] = {
    F("controllerName", T_STR, SPEC(gw_gatewayclass, controller_name), .flags = F_REQ, .min = 1,
      .max = 253),
    F("parametersRef", T_OBJ, SPEC(gw_gatewayclass, parameters_ref), .sub = &params_ref),
    F("description", T_STR, SPEC(gw_gatewayclass, description), .max = 64),
    END,
};
static const struct schema gatewayclass_spec = {"GatewayClassSpec", SPEC_SIZE(gw_gatewayclass),
                                                gatewayclass_spec_fields, NULL};

static const struct field gatewayclass_fields[] = {
    ROOT_FIELDS(gw_gatewayclass, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_gatewayclass, spec), .flags = F_REQ, .sub = &gatewayclass_spec),
    END,
};
const struct schema d_gatewayclass = {"GatewayClass", sizeof(struct gw_gatewayclass),
                                      gatewayclass_fields, NULL};

/* ------------------------------------------------------------------------ */
/* ReferenceGrant, BackendTLSPolicy                                         */

static const struct field grant_from_fields[] = {
    F("group", T_STR, OFF(gw_grant_from, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_grant_from, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("namespace", T_STR, OFF(gw_grant_from, ns), .flags = F_REQ, .fmt = FMT_NAMESPACE),
    END,
};
static const struct schema grant_from = {"ReferenceGrantFrom", sizeof(struct gw_grant_from),
                                         grant_from_fields, NULL};

static const struct field grant_to_fields[] = {
    F("group", T_STR, OFF(gw_grant_to, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_grant_to, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("name", T_STR, OFF(gw_grant_to, name), .fmt = FMT_OBJECT_NAME),
    END,
};
static const struct schema grant_to = {"ReferenceGrantTo", sizeof(struct gw_grant_to),
                                       grant_to_fields, NULL};

static const struct field referencegrant_spec_fields[] = {
    F("from", T_LIST, SPEC(gw_referencegrant, from), .flags = F_REQ, .sub = &grant_from,
      .min_items = 1, .max_items = 16),
    F("to", T_LIST, SPEC(gw_referencegrant, to), .flags = F_REQ, .sub = &grant_to, .min_items = 1,
      .max_items = 16),
    END,
};
static const struct schema referencegrant_spec = {
    "ReferenceGrantSpec", SPEC_SIZE(gw_referencegrant), referencegrant_spec_fields, NULL};

static const struct field referencegrant_fields[] = {
    ROOT_FIELDS(gw_referencegrant, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_referencegrant, spec), .flags = F_REQ, .sub = &referencegrant_spec),
    END,
};
const struct schema d_referencegrant = {"ReferenceGrant", sizeof(struct gw_referencegrant),
                                        referencegrant_fields, NULL};

static const struct field target_ref_fields[] = {
    F("group", T_STR, OFF(gw_policy_target_ref, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_policy_target_ref, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("name", T_STR, OFF(gw_policy_target_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    F("sectionName", T_STR, OFF(gw_policy_target_ref, section_name), .fmt = FMT_SECTION_NAME),
    END,
};
static const struct schema target_ref = {"LocalPolicyTargetReferenceWithSectionName",
                                         sizeof(struct gw_policy_target_ref), target_ref_fields,
                                         NULL};

static void
check_san(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_san *s = obj;
    if (s->type == GW_SAN_HOSTNAME && (!s->hostname || !*s->hostname))
        d_cel(c, node, NULL, "object",
              "SubjectAltName element must contain Hostname, if Type is set to Hostname");
    if (s->type != GW_SAN_HOSTNAME && s->hostname && *s->hostname)
        d_cel(c, node, NULL, "object",
              "SubjectAltName element must not contain Hostname, if Type is not set to Hostname");
    if (s->type == GW_SAN_URI && (!s->uri || !*s->uri))
        d_cel(c, node, NULL, "object",
              "SubjectAltName element must contain URI, if Type is set to URI");
    if (s->type != GW_SAN_URI && s->uri && *s->uri)
        d_cel(c, node, NULL, "object",
              "SubjectAltName element must not contain URI, if Type is not set to URI");
}

static const struct field san_fields[] = {
    F("type", T_ENUM, OFF(gw_san, type), .flags = F_REQ, .enum_id = GW_ENUM_SAN_TYPE),
    F("hostname", T_STR, OFF(gw_san, hostname), .fmt = FMT_HOSTNAME),
    F("uri", T_STR, OFF(gw_san, uri), .max = 253),
    END,
};
static const struct schema san = {"SubjectAltName", sizeof(struct gw_san), san_fields, check_san};

#define VAL(m)                                                 \
    (offsetof(struct gw_backendtlspolicy, spec.validation.m) - \
     offsetof(struct gw_backendtlspolicy, spec.validation))

static void
check_btls_validation(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_backendtlspolicy *p =
        (void *)((char *)obj - offsetof(struct gw_backendtlspolicy, spec.validation));
    bool refs = p->spec.validation.ca_certificate_refs.n > 0;
    bool wk = p->spec.validation.well_known_ca_certificates != GW_WKCA_NONE;
    if (refs && wk)
        d_cel(c, node, NULL, "object",
              "must not contain both CACertificateRefs and WellKnownCACertificates");
    if (!refs && !wk)
        d_cel(c, node, NULL, "object",
              "must specify either CACertificateRefs or WellKnownCACertificates");
}

static const struct field btls_validation_fields[] = {
    F("caCertificateRefs", T_LIST, VAL(ca_certificate_refs), .sub = &local_ref, .max_items = 8),
    F("wellKnownCACertificates", T_ENUM, VAL(well_known_ca_certificates),
      .enum_id = GW_ENUM_WELL_KNOWN_CA),
    F("hostname", T_STR, VAL(hostname), .flags = F_REQ, .fmt = FMT_PRECISE_HOSTNAME),
    F("subjectAltNames", T_LIST, VAL(subject_alt_names), .sub = &san, .max_items = 5),
    END,
};
static const struct schema btls_validation = {
    "BackendTLSPolicyValidation", sizeof(((struct gw_backendtlspolicy *)0)->spec.validation),
    btls_validation_fields, check_btls_validation};

static void
check_btls_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_backendtlspolicy *p =
        (void *)((char *)obj - offsetof(struct gw_backendtlspolicy, spec));
    const struct gw_policy_target_ref *v = p->spec.target_refs.v;
    size_t n = p->spec.target_refs.n;
    const struct gw_node *list = d_get(node, "targetRefs");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!streq(v[i].group, v[j].group) || !streq(v[i].kind, v[j].kind) ||
                !streq(v[i].name, v[j].name))
                continue;
            if (!v[i].section_name || !v[j].section_name) {
                d_cel(c, list, ".targetRefs", "array",
                      "sectionName must be specified when targetRefs includes 2 or more "
                      "references to the same target");
                return;
            }
            if (streq(v[i].section_name, v[j].section_name)) {
                d_cel(c, list, ".targetRefs", "array",
                      "sectionName must be unique when targetRefs includes 2 or more references "
                      "to the same target");
                return;
            }
        }
    }
}

static const struct field btls_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_backendtlspolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("validation", T_STRUCT, SPEC(gw_backendtlspolicy, validation), .flags = F_REQ,
      .sub = &btls_validation),
    F("options", T_MAP, SPEC(gw_backendtlspolicy, options), .max_items = 16),
    END,
};
static const struct schema btls_spec = {"BackendTLSPolicySpec", SPEC_SIZE(gw_backendtlspolicy),
                                        btls_spec_fields, check_btls_spec};

static const struct field btls_fields[] = {
    ROOT_FIELDS(gw_backendtlspolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_backendtlspolicy, spec), .flags = F_REQ, .sub = &btls_spec),
    END,
};
const struct schema d_backendtlspolicy = {"BackendTLSPolicy", sizeof(struct gw_backendtlspolicy),
                                          btls_fields, NULL};

/* ------------------------------------------------------------------------ */
/* gatehouse.dev/v1alpha1: RateLimitPolicy (deploy/crds/gatehouse.dev.yaml)  */

static void
check_ratelimit(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_ratelimit *l = obj;
    if (l->key.type == GW_RLKEY_HEADER && !l->key.header)
        d_cel(c, node, ".key", "object", "header must be set when type is Header");
    if (l->key.type != GW_RLKEY_HEADER && l->key.header)
        d_cel(c, node, ".key", "object", "header may be set only when type is Header");
    if (l->interval_ms == 0)
        d_cel(c, node, ".interval", "string", "interval must be longer than 0s");
    if (l->failure_mode != GW_FAILMODE_NONE && l->scope != GW_RLSCOPE_GLOBAL)
        d_cel(c, d_get(node, "failureMode"), ".failureMode", "string",
              "failureMode may be set only when scope is Global");
}

static const struct field ratelimit_key_fields[] = {
    F("type", T_ENUM, OFF(gw_ratelimit, key.type) - OFF(gw_ratelimit, key),
      .enum_id = GW_ENUM_RATELIMIT_KEY, .def_str = "Route"),
    F("header", T_STR, OFF(gw_ratelimit, key.header) - OFF(gw_ratelimit, key),
      .fmt = FMT_HEADER_NAME),
    END,
};
static const struct schema ratelimit_key = {"RateLimitKey", sizeof(((struct gw_ratelimit *)0)->key),
                                            ratelimit_key_fields, NULL};

static const struct field ratelimit_fields[] = {
    F("name", T_STR, OFF(gw_ratelimit, name), .flags = F_REQ, .fmt = FMT_SECTION_NAME),
    F("requests", T_INT, OFF(gw_ratelimit, requests), .flags = F_REQ, .min = 1, .max = 1000000000),
    F("interval", T_DURATION, OFF(gw_ratelimit, interval_ms), .flags = F_REQ),
    F("burst", T_INT, OFF(gw_ratelimit, burst), .min = 1, .max = 1000000000),
    F("key", T_STRUCT, OFF(gw_ratelimit, key), .sub = &ratelimit_key),
    F("scope", T_ENUM, OFF(gw_ratelimit, scope), .enum_id = GW_ENUM_RL_SCOPE, .def_str = "Local"),
    F("failureMode", T_ENUM, OFF(gw_ratelimit, failure_mode), .enum_id = GW_ENUM_FAILMODE),
    END,
};
static const struct schema ratelimit = {"RateLimit", sizeof(struct gw_ratelimit), ratelimit_fields,
                                        check_ratelimit};

/* The targetRefs rules every gatehouse.dev kind has: each of group `group`
 * and a kind among kinds (NULL ended), msg saying which otherwise; no
 * target (kind, name, sectionName) named twice. */
static void
check_policy_targets(struct dctx *c, const struct gw_node *node,
                     const struct gw_policy_target_ref *v, size_t n, const char *group,
                     const char *const *kinds, const char *msg)
{
    const struct gw_node *list = d_get(node, "targetRefs");
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (size_t k = 0; kinds[k] && !ok; k++)
            ok = streq(v[i].kind, kinds[k]);
        if (!ok || !streq(v[i].group, group)) {
            d_cel(c, list, ".targetRefs", "array", msg);
            return;
        }
        for (size_t j = 0; j < i; j++)
            if (streq(v[i].kind, v[j].kind) && streq(v[i].name, v[j].name) &&
                nstreq(v[i].section_name, v[j].section_name)) {
                d_cel(c, list, ".targetRefs", "array",
                      "sectionName must be unique when targetRefs includes 2 or more references "
                      "to the same target");
                return;
            }
    }
}

/* The targetRefs rules BackendTLSPolicy's CRD has, and the kinds a
 * RateLimitPolicy may target. */
static void
check_rlp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_ratelimitpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_ratelimitpolicy, spec));
    static const char *const kinds[] = {"Gateway", "HTTPRoute", "GRPCRoute", NULL};
    check_policy_targets(
        c, node, p->spec.target_refs.v, p->spec.target_refs.n, GW_GROUP_GATEWAY, kinds,
        "a RateLimitPolicy targets a Gateway, an HTTPRoute or a GRPCRoute of group "
        "gateway.networking.k8s.io");
}

static const struct field rlp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_ratelimitpolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("limits", T_LIST, SPEC(gw_ratelimitpolicy, limits), .flags = F_REQ | F_UNIQUE,
      .sub = &ratelimit, .min_items = 1, .max_items = 8, .ukey = OFF(gw_ratelimit, name)),
    END,
};
static const struct schema rlp_spec = {"RateLimitPolicySpec", SPEC_SIZE(gw_ratelimitpolicy),
                                       rlp_spec_fields, check_rlp_spec};

static const struct field rlp_fields[] = {
    ROOT_FIELDS(gw_ratelimitpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_ratelimitpolicy, spec), .flags = F_REQ, .sub = &rlp_spec),
    END,
};
const struct schema d_ratelimitpolicy = {"RateLimitPolicy", sizeof(struct gw_ratelimitpolicy),
                                         rlp_fields, NULL};

/* ------------------------------------------------------------------------ */
/* gatehouse.dev/v1alpha1: HealthCheckPolicy                                */

static void
check_status_range(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_status_range *r = obj;
    if (r->end >= 0 && r->end < r->start)
        d_cel(c, node, NULL, "object", "end must not be less than start");
}

static const struct field status_range_fields[] = {
    F("start", T_INT, OFF(gw_status_range, start), .flags = F_REQ, .min = 100, .max = 599),
    F("end", T_INT, OFF(gw_status_range, end), .min = 100, .max = 599),
    END,
};
static const struct schema status_range = {"StatusRange", sizeof(struct gw_status_range),
                                           status_range_fields, check_status_range};

static void
check_hc_http(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_hc_http *h = obj;
    if (h->path && h->path[0] != '/')
        d_cel(c, node, ".path", "string", "path must be an absolute path and start with '/'");
}

static const struct field hc_http_fields[] = {
    F("path", T_STR, OFF(gw_hc_http, path), .fmt = FMT_PATH, .max = 1024, .def_str = "/"),
    F("hostname", T_STR, OFF(gw_hc_http, hostname), .fmt = FMT_PRECISE_HOSTNAME),
    F("expectedStatuses", T_LIST, OFF(gw_hc_http, expected_statuses), .sub = &status_range,
      .max_items = 16),
    END,
};
static const struct schema hc_http = {"HealthCheckHTTP", sizeof(struct gw_hc_http), hc_http_fields,
                                      check_hc_http};

static const struct field hc_grpc_fields[] = {
    F("service", T_STR, OFF(gw_hc_grpc, service), .fmt = FMT_TEXT, .max = 1024),
    END,
};
static const struct schema hc_grpc = {"HealthCheckGRPC", sizeof(struct gw_hc_grpc), hc_grpc_fields,
                                      NULL};

/* The CRD's CEL rules: Services only, sectionName unique per Service, the
 * protocol block that goes with the type, a timeout within the interval. */
static void
check_hcp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_healthcheckpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_healthcheckpolicy, spec));
    const struct gw_policy_target_ref *v = p->spec.target_refs.v;
    size_t n = p->spec.target_refs.n;
    const struct gw_node *list = d_get(node, "targetRefs");
    for (size_t i = 0; i < n; i++) {
        if ((v[i].group && v[i].group[0]) || !streq(v[i].kind, "Service")) {
            d_cel(c, list, ".targetRefs", "array",
                  "a HealthCheckPolicy targets a Service (group \"\", kind Service)");
            break;
        }
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = streq(v[i].name, v[j].name) && nstreq(v[i].section_name, v[j].section_name);
        if (dup) {
            d_cel(c, list, ".targetRefs", "array",
                  "sectionName must be unique when targetRefs includes 2 or more references "
                  "to the same Service");
            break;
        }
    }
    if (p->spec.http && p->spec.type != GW_HCTYPE_HTTP)
        d_cel(c, node, NULL, "object", "http may be set only when type is HTTP");
    if (p->spec.grpc && p->spec.type != GW_HCTYPE_GRPC)
        d_cel(c, node, NULL, "object", "grpc may be set only when type is GRPC");
    if (p->spec.interval_ms == 0)
        d_cel(c, d_get(node, "interval"), ".interval", "string", "interval must be longer than 0s");
    if (p->spec.timeout_ms == 0)
        d_cel(c, d_get(node, "timeout"), ".timeout", "string", "timeout must be longer than 0s");
    else if (p->spec.interval_ms > 0 && p->spec.timeout_ms > p->spec.interval_ms)
        d_cel(c, d_get(node, "timeout"), ".timeout", "string",
              "timeout must not be longer than interval");
}

static const struct field hcp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_healthcheckpolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("type", T_ENUM, SPEC(gw_healthcheckpolicy, type), .flags = F_REQ,
      .enum_id = GW_ENUM_HEALTHCHECK_TYPE),
    F("interval", T_DURATION, SPEC(gw_healthcheckpolicy, interval_ms), .flags = F_REQ),
    F("timeout", T_DURATION, SPEC(gw_healthcheckpolicy, timeout_ms), .flags = F_DEF,
      .def_int = 1000),
    F("jitter", T_DURATION, SPEC(gw_healthcheckpolicy, jitter_ms), .flags = F_DEF, .def_int = 0),
    F("healthyThreshold", T_INT, SPEC(gw_healthcheckpolicy, healthy_threshold), .flags = F_DEF,
      .def_int = 2, .min = 1, .max = 100),
    F("unhealthyThreshold", T_INT, SPEC(gw_healthcheckpolicy, unhealthy_threshold), .flags = F_DEF,
      .def_int = 3, .min = 1, .max = 100),
    F("http", T_OBJ, SPEC(gw_healthcheckpolicy, http), .sub = &hc_http),
    F("grpc", T_OBJ, SPEC(gw_healthcheckpolicy, grpc), .sub = &hc_grpc),
    END,
};
static const struct schema hcp_spec = {"HealthCheckPolicySpec", SPEC_SIZE(gw_healthcheckpolicy),
                                       hcp_spec_fields, check_hcp_spec};

static const struct field hcp_fields[] = {
    ROOT_FIELDS(gw_healthcheckpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_healthcheckpolicy, spec), .flags = F_REQ, .sub = &hcp_spec),
    END,
};
const struct schema d_healthcheckpolicy = {"HealthCheckPolicy", sizeof(struct gw_healthcheckpolicy),
                                           hcp_fields, NULL};

/* ------------------------------------------------------------------------ */
/* gatehouse.dev/v1alpha1: ClientTrafficPolicy, SourceAddressPolicy        */

/* Each entry of the string list `field` of map node is a CIDR or a bare
 * address (gw_net_cidr_parse; load depends on net for exactly this). */
static void
check_cidrs(struct dctx *c, const struct gw_node *node, const char *field, const char *const *v,
            size_t n)
{
    const struct gw_node *list = d_get(node, field);
    for (size_t i = 0; i < n; i++) {
        struct gw_net_cidr x;
        if (gw_net_cidr_parse(gw_str_from(v[i]), &x) == 0)
            continue;
        char sub[96];
        snprintf(sub, sizeof(sub), ".%s[%zu]", field, i);
        d_err(c, d_item(list, i), sub,
              "Invalid value: \"%s\": must be an IPv4 or IPv6 address or CIDR (10.0.0.0/8, "
              "2001:db8::/32)",
              v[i]);
    }
}

static void
check_ctp_pp(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_ctp_proxy_protocol *pp = obj;
    check_cidrs(c, node, "trustedCIDRs", pp->trusted_cidrs.v, pp->trusted_cidrs.n);
    if (pp->timeout_ms == 0)
        d_cel(c, node, ".timeout", "string", "timeout must be longer than 0s");
    if (pp->timeout_ms > 60000)
        d_cel(c, node, ".timeout", "string", "timeout must be at most 60s");
}

static const struct field ctp_pp_fields[] = {
    F("trustedCIDRs", T_STRLIST, OFF(gw_ctp_proxy_protocol, trusted_cidrs), .flags = F_REQ,
      .min_items = 1, .max_items = 64),
    F("required", T_BOOL, OFF(gw_ctp_proxy_protocol, required), .flags = F_DEF, .def_int = 0),
    F("timeout", T_DURATION, OFF(gw_ctp_proxy_protocol, timeout_ms), .flags = F_DEF,
      .def_int = 5000),
    END,
};
static const struct schema ctp_pp = {"ProxyProtocol", sizeof(struct gw_ctp_proxy_protocol),
                                     ctp_pp_fields, check_ctp_pp};

static void
check_ctp_xff(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_ctp_xff *x = obj;
    if ((x->trusted_hops >= 0) == (x->trusted_cidrs.n > 0))
        d_cel(c, node, "", "object", "exactly one of trustedHops and trustedCIDRs must be set");
    check_cidrs(c, node, "trustedCIDRs", x->trusted_cidrs.v, x->trusted_cidrs.n);
}

static const struct field ctp_xff_fields[] = {
    F("trustedHops", T_INT, OFF(gw_ctp_xff, trusted_hops), .min = 1, .max = 64),
    F("trustedCIDRs", T_STRLIST, OFF(gw_ctp_xff, trusted_cidrs), .max_items = 64),
    END,
};
static const struct schema ctp_xff = {"XForwardedFor", sizeof(struct gw_ctp_xff), ctp_xff_fields,
                                      check_ctp_xff};

static const struct field ctp_ca_fields[] = {
    F("xForwardedFor", T_OBJ, OFF(gw_ctp_client_address, xff), .sub = &ctp_xff),
    END,
};
static const struct schema ctp_ca = {"ClientAddress", sizeof(struct gw_ctp_client_address),
                                     ctp_ca_fields, NULL};

static void
check_ctp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_clienttrafficpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_clienttrafficpolicy, spec));
    static const char *const kinds[] = {"Gateway", NULL};
    check_policy_targets(c, node, p->spec.target_refs.v, p->spec.target_refs.n, GW_GROUP_GATEWAY,
                         kinds,
                         "a ClientTrafficPolicy targets a Gateway (sectionName: one listener) of "
                         "group gateway.networking.k8s.io");
}

static const struct field ctp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_clienttrafficpolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("proxyProtocol", T_OBJ, SPEC(gw_clienttrafficpolicy, proxy_protocol), .sub = &ctp_pp),
    F("clientAddress", T_OBJ, SPEC(gw_clienttrafficpolicy, client_address), .sub = &ctp_ca),
    END,
};
static const struct schema ctp_spec = {"ClientTrafficPolicySpec", SPEC_SIZE(gw_clienttrafficpolicy),
                                       ctp_spec_fields, check_ctp_spec};

static const struct field ctp_fields[] = {
    ROOT_FIELDS(gw_clienttrafficpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_clienttrafficpolicy, spec), .flags = F_REQ, .sub = &ctp_spec),
    END,
};
const struct schema d_clienttrafficpolicy = {
    "ClientTrafficPolicy", sizeof(struct gw_clienttrafficpolicy), ctp_fields, NULL};

static void
check_sap_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_sourceaddresspolicy *p =
        (void *)((char *)obj - offsetof(struct gw_sourceaddresspolicy, spec));
    static const char *const kinds[] = {"Gateway", "HTTPRoute", "GRPCRoute", NULL};
    check_policy_targets(c, node, p->spec.target_refs.v, p->spec.target_refs.n, GW_GROUP_GATEWAY,
                         kinds,
                         "a SourceAddressPolicy targets a Gateway, an HTTPRoute or a GRPCRoute of "
                         "group gateway.networking.k8s.io");
    check_cidrs(c, node, "allow", p->spec.allow.v, p->spec.allow.n);
    check_cidrs(c, node, "deny", p->spec.deny.v, p->spec.deny.n);
}

static const struct field sap_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_sourceaddresspolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("allow", T_STRLIST, SPEC(gw_sourceaddresspolicy, allow), .max_items = 256),
    F("deny", T_STRLIST, SPEC(gw_sourceaddresspolicy, deny), .max_items = 256),
    END,
};
static const struct schema sap_spec = {"SourceAddressPolicySpec", SPEC_SIZE(gw_sourceaddresspolicy),
                                       sap_spec_fields, check_sap_spec};

static const struct field sap_fields[] = {
    ROOT_FIELDS(gw_sourceaddresspolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_sourceaddresspolicy, spec), .flags = F_REQ, .sub = &sap_spec),
    END,
};
const struct schema d_sourceaddresspolicy = {
    "SourceAddressPolicy", sizeof(struct gw_sourceaddresspolicy), sap_fields, NULL};

/* ------------------------------------------------------------------------ */
/* gatehouse.dev/v1alpha1: CircuitBreakerPolicy and LoadBalancerPolicy,      */
/* both targeting a Service or one of its ports (sectionName: its name).     */

/* The targetRefs rules of a Service-targeting policy (msg: what it targets). */
static void
check_service_refs(struct dctx *c, const struct gw_node *node, const char *msg,
                   const struct gw_policy_target_ref *v, size_t n)
{
    static const char *const kinds[] = {"Service", NULL};
    check_policy_targets(c, node, v, n, "", kinds, msg);
}

static void
check_cbp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_circuitbreakerpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_circuitbreakerpolicy, spec));
    check_service_refs(c, node,
                       "a CircuitBreakerPolicy targets a Service (group \"\", kind Service)",
                       p->spec.target_refs.v, p->spec.target_refs.n);
    if (p->spec.max_connections < 0 && p->spec.max_requests < 0 && p->spec.max_retries < 0)
        d_cel(c, node, "", "object",
              "at least one of maxConnections, maxRequests and maxRetries must be set");
}

static const struct field cbp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_circuitbreakerpolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("maxConnections", T_INT, SPEC(gw_circuitbreakerpolicy, max_connections), .min = 1,
      .max = 1000000),
    F("maxRequests", T_INT, SPEC(gw_circuitbreakerpolicy, max_requests), .min = 1, .max = 1000000),
    F("maxRetries", T_INT, SPEC(gw_circuitbreakerpolicy, max_retries), .min = 0, .max = 1000000),
    END,
};
static const struct schema cbp_spec = {"CircuitBreakerPolicySpec",
                                       SPEC_SIZE(gw_circuitbreakerpolicy), cbp_spec_fields,
                                       check_cbp_spec};

static const struct field cbp_fields[] = {
    ROOT_FIELDS(gw_circuitbreakerpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_circuitbreakerpolicy, spec), .flags = F_REQ, .sub = &cbp_spec),
    END,
};
const struct schema d_circuitbreakerpolicy = {
    "CircuitBreakerPolicy", sizeof(struct gw_circuitbreakerpolicy), cbp_fields, NULL};

static const struct field lb_cookie_fields[] = {
    F("name", T_STR, OFF(gw_lb_hash_cookie, name), .flags = F_REQ, .fmt = FMT_HEADER_NAME),
    END,
};
static const struct schema lb_cookie = {"ConsistentHashCookie", sizeof(struct gw_lb_hash_cookie),
                                        lb_cookie_fields, NULL};

static void
check_consistent_hash(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_lb_consistent_hash *h = obj;
    if (h->key == GW_HASH_HEADER && !h->header)
        d_cel(c, node, "", "object", "header must be set when key is Header");
    if (h->key != GW_HASH_HEADER && h->header)
        d_cel(c, node, "", "object", "header may be set only when key is Header");
    if (h->key == GW_HASH_COOKIE && !h->cookie)
        d_cel(c, node, "", "object", "cookie must be set when key is Cookie");
    if (h->key != GW_HASH_COOKIE && h->cookie)
        d_cel(c, node, "", "object", "cookie may be set only when key is Cookie");
}

static const struct field lb_hash_fields[] = {
    F("key", T_ENUM, OFF(gw_lb_consistent_hash, key), .flags = F_REQ, .enum_id = GW_ENUM_HASH_KEY),
    F("header", T_STR, OFF(gw_lb_consistent_hash, header), .fmt = FMT_HEADER_NAME),
    F("cookie", T_OBJ, OFF(gw_lb_consistent_hash, cookie), .sub = &lb_cookie),
    END,
};
static const struct schema lb_hash = {"ConsistentHash", sizeof(struct gw_lb_consistent_hash),
                                      lb_hash_fields, check_consistent_hash};

static void
check_slow_start(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_lb_slow_start *s = obj;
    if (s->window_ms == 0)
        d_cel(c, node, ".window", "string", "window must be longer than 0s");
}

static const struct field lb_slow_fields[] = {
    F("window", T_DURATION, OFF(gw_lb_slow_start, window_ms), .flags = F_REQ),
    END,
};
static const struct schema lb_slow = {"SlowStart", sizeof(struct gw_lb_slow_start), lb_slow_fields,
                                      check_slow_start};

static void
check_lbp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_loadbalancerpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_loadbalancerpolicy, spec));
    check_service_refs(c, node, "a LoadBalancerPolicy targets a Service (group \"\", kind Service)",
                       p->spec.target_refs.v, p->spec.target_refs.n);
    bool hash = p->spec.type == GW_LB_CONSISTENT_HASH;
    if (hash && !p->spec.consistent_hash)
        d_cel(c, node, "", "object", "consistentHash must be set when type is ConsistentHash");
    if (!hash && p->spec.consistent_hash)
        d_cel(c, node, "", "object", "consistentHash may be set only when type is ConsistentHash");
    if (hash && p->spec.slow_start)
        d_cel(c, node, "", "object", "slowStart applies to RoundRobin and LeastRequest only");
}

static const struct field lbp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_loadbalancerpolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("type", T_ENUM, SPEC(gw_loadbalancerpolicy, type), .enum_id = GW_ENUM_LB_TYPE,
      .def_str = "RoundRobin"),
    F("consistentHash", T_OBJ, SPEC(gw_loadbalancerpolicy, consistent_hash), .sub = &lb_hash),
    F("slowStart", T_OBJ, SPEC(gw_loadbalancerpolicy, slow_start), .sub = &lb_slow),
    END,
};
static const struct schema lbp_spec = {"LoadBalancerPolicySpec", SPEC_SIZE(gw_loadbalancerpolicy),
                                       lbp_spec_fields, check_lbp_spec};

static const struct field lbp_fields[] = {
    ROOT_FIELDS(gw_loadbalancerpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_loadbalancerpolicy, spec), .flags = F_REQ, .sub = &lbp_spec),
    END,
};
const struct schema d_loadbalancerpolicy = {"LoadBalancerPolicy",
                                            sizeof(struct gw_loadbalancerpolicy), lbp_fields, NULL};

/* ------------------------------------------------------------------------ */
/* gatehouse.dev/v1alpha1: JWTPolicy, BasicAuthPolicy, APIKeyPolicy          */

/* The kinds an authentication policy may target, and sectionName unique
 * per target (the rules RateLimitPolicy has). */
static void
check_auth_targets(struct dctx *c, const char *kind, const struct gw_policy_target_ref *v, size_t n,
                   const struct gw_node *node)
{
    static const char *const kinds[] = {"Gateway", "HTTPRoute", "GRPCRoute", NULL};
    char msg[160];
    snprintf(msg, sizeof(msg),
             "a %s targets a Gateway, an HTTPRoute or a GRPCRoute of group "
             "gateway.networking.k8s.io",
             kind);
    check_policy_targets(c, node, v, n, GW_GROUP_GATEWAY, kinds, msg);
}

/* A realm goes into a quoted-string of WWW-Authenticate. */
static void
check_realm(struct dctx *c, const char *realm, const struct gw_node *node)
{
    if (realm && strpbrk(realm, "\"\\"))
        d_cel(c, d_get(node, "realm"), ".realm", "string",
              "realm may not contain a double quote or a backslash");
}

static const struct field data_ref_fields[] = {
    F("name", T_STR, OFF(gw_data_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    F("key", T_STR, OFF(gw_data_ref, key), .flags = F_REQ, .fmt = FMT_TEXT, .min = 1, .max = 253),
    END,
};
static const struct schema data_ref = {"DataKeyReference", sizeof(struct gw_data_ref),
                                       data_ref_fields, NULL};

static const struct field htpasswd_ref_fields[] = {
    F("name", T_STR, OFF(gw_data_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    F("key", T_STR, OFF(gw_data_ref, key), .fmt = FMT_TEXT, .min = 1, .max = 253,
      .def_str = ".htpasswd"),
    END,
};
static const struct schema htpasswd_ref = {"HtpasswdSecretReference", sizeof(struct gw_data_ref),
                                           htpasswd_ref_fields, NULL};

static const struct field keys_ref_fields[] = {
    F("name", T_STR, OFF(gw_data_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    END,
};
static const struct schema keys_ref = {"APIKeySecretReference", sizeof(struct gw_data_ref),
                                       keys_ref_fields, NULL};

/* The remote JWKS URI: https only, a host, no userinfo, no fragment, no
 * whitespace or control character (what the fetcher sends is what the
 * policy says). */
static const char *
jwks_uri_problem(const char *u)
{
    static const char scheme[] = "https://";
    if (strncmp(u, scheme, sizeof(scheme) - 1) != 0)
        return "uri must start with https://";
    for (const char *q = u; *q; q++) {
        if ((unsigned char)*q <= ' ' || *q == 0x7f)
            return "uri must not contain spaces or control characters";
        if (strchr("\"\\<>^`{|}", *q))
            return "uri must not contain \" \\ < > ^ ` { | } (RFC 3986: percent-encode them)";
    }
    const char *host = u + sizeof(scheme) - 1;
    size_t alen = strcspn(host, "/?#");
    if (memchr(host, '@', alen))
        return "uri must not contain userinfo (user:password@)";
    if (strchr(u, '#'))
        return "uri must not contain a fragment";
    size_t hlen = host[0] == '[' ? alen : strcspn(host, ":/?#");
    if (hlen == 0 || (host[0] == '[' && !memchr(host, ']', alen)))
        return "uri must name a host";
    if (host[0] != '[' && host[hlen] == ':') {
        const char *port = host + hlen + 1;
        size_t plen = alen - hlen - 1;
        if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
            return "uri has a bad port";
    }
    return NULL;
}

static void
check_jwks_remote(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_jwt_remote *r = obj;
    const char *why = r->uri ? jwks_uri_problem(r->uri) : NULL;
    if (why)
        d_cel(c, d_get(node, "uri"), ".uri", "string", why);
    if (r->refresh_interval_ms < 10000 || r->refresh_interval_ms > 86400000)
        d_cel(c, d_get(node, "refreshInterval"), ".refreshInterval", "string",
              "refreshInterval must be at least 10s and at most 24h");
    if (r->timeout_ms < 1000 || r->timeout_ms > 60000)
        d_cel(c, d_get(node, "timeout"), ".timeout", "string",
              "timeout must be at least 1s and at most 60s");
}

static const struct field jwks_remote_fields[] = {
    F("uri", T_STR, OFF(gw_jwt_remote, uri), .flags = F_REQ, .fmt = FMT_TEXT, .min = 9,
      .max = 2048),
    F("refreshInterval", T_DURATION, OFF(gw_jwt_remote, refresh_interval_ms), .flags = F_DEF,
      .def_int = 300000),
    F("timeout", T_DURATION, OFF(gw_jwt_remote, timeout_ms), .flags = F_DEF, .def_int = 5000),
    F("caCertificateRefs", T_LIST, OFF(gw_jwt_remote, ca_certificate_refs), .sub = &local_ref,
      .max_items = 8),
    END,
};
static const struct schema jwks_remote = {"RemoteJWKS", sizeof(struct gw_jwt_remote),
                                          jwks_remote_fields, check_jwks_remote};

static void
check_jwks(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_jwt_jwks *j = obj;
    if (!!j->secret_ref + !!j->configmap_ref + !!j->remote != 1)
        d_cel(c, node, NULL, "object",
              "exactly one of secretRef, configMapRef and remote must be set");
}

static const struct field jwks_fields[] = {
    F("secretRef", T_OBJ, OFF(gw_jwt_jwks, secret_ref), .sub = &data_ref),
    F("configMapRef", T_OBJ, OFF(gw_jwt_jwks, configmap_ref), .sub = &data_ref),
    F("remote", T_OBJ, OFF(gw_jwt_jwks, remote), .sub = &jwks_remote),
    END,
};
static const struct schema jwks = {"JWKSSource", sizeof(struct gw_jwt_jwks), jwks_fields,
                                   check_jwks};

static const struct field jwt_from_header_fields[] = {
    F("name", T_STR, OFF(gw_jwt_from_header, name), .flags = F_REQ, .fmt = FMT_HEADER_NAME),
    F("prefix", T_STR, OFF(gw_jwt_from_header, prefix), .fmt = FMT_HEADER_VALUE, .max = 64),
    END,
};
static const struct schema jwt_from_header = {"JWTHeaderSource", sizeof(struct gw_jwt_from_header),
                                              jwt_from_header_fields, NULL};

static void
check_jwt_from(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_jwt_from *f = obj;
    if (!f->header == !f->cookie)
        d_cel(c, node, NULL, "object", "exactly one of header and cookie must be set");
}

static const struct field jwt_from_fields[] = {
    F("header", T_OBJ, OFF(gw_jwt_from, header), .sub = &jwt_from_header),
    F("cookie", T_STR, OFF(gw_jwt_from, cookie), .fmt = FMT_HEADER_NAME),
    END,
};
static const struct schema jwt_from = {"JWTSource", sizeof(struct gw_jwt_from), jwt_from_fields,
                                       check_jwt_from};

static const struct field claim_header_fields[] = {
    F("claim", T_STR, OFF(gw_jwt_claim_header, claim), .flags = F_REQ, .fmt = FMT_TEXT, .min = 1,
      .max = 256),
    F("header", T_STR, OFF(gw_jwt_claim_header, header), .flags = F_REQ, .fmt = FMT_HEADER_NAME),
    END,
};
static const struct schema claim_header = {"ClaimToHeader", sizeof(struct gw_jwt_claim_header),
                                           claim_header_fields, NULL};

static const struct field jwt_provider_fields[] = {
    F("name", T_STR, OFF(gw_jwt_provider, name), .flags = F_REQ, .fmt = FMT_SECTION_NAME),
    F("issuer", T_STR, OFF(gw_jwt_provider, issuer), .fmt = FMT_TEXT, .min = 1, .max = 1024),
    F("audiences", T_STRLIST, OFF(gw_jwt_provider, audiences), .fmt = FMT_TEXT, .max_items = 16),
    F("jwks", T_STRUCT, OFF(gw_jwt_provider, jwks), .flags = F_REQ, .sub = &jwks),
    F("clockSkew", T_DURATION, OFF(gw_jwt_provider, clock_skew_ms), .flags = F_DEF,
      .def_int = 30000),
    F("from", T_OBJ, OFF(gw_jwt_provider, from), .sub = &jwt_from),
    F("claimsToHeaders", T_LIST, OFF(gw_jwt_provider, claims_to_headers), .sub = &claim_header,
      .max_items = 16),
    END,
};
static const struct schema jwt_provider = {"JWTProvider", sizeof(struct gw_jwt_provider),
                                           jwt_provider_fields, NULL};

static void
check_jwtp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_jwtpolicy *p = (void *)((char *)obj - offsetof(struct gw_jwtpolicy, spec));
    check_auth_targets(c, "JWTPolicy", p->spec.target_refs.v, p->spec.target_refs.n, node);
    check_realm(c, p->spec.realm, node);
}

static const struct field jwtp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_jwtpolicy, target_refs), .flags = F_REQ, .sub = &target_ref,
      .min_items = 1, .max_items = 16),
    F("realm", T_STR, SPEC(gw_jwtpolicy, realm), .fmt = FMT_TEXT, .min = 1, .max = 128,
      .def_str = "gatehouse"),
    F("providers", T_LIST, SPEC(gw_jwtpolicy, providers), .flags = F_REQ | F_UNIQUE,
      .sub = &jwt_provider, .min_items = 1, .max_items = 8, .ukey = OFF(gw_jwt_provider, name)),
    END,
};
static const struct schema jwtp_spec = {"JWTPolicySpec", SPEC_SIZE(gw_jwtpolicy), jwtp_spec_fields,
                                        check_jwtp_spec};

static const struct field jwtp_fields[] = {
    ROOT_FIELDS(gw_jwtpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_jwtpolicy, spec), .flags = F_REQ, .sub = &jwtp_spec),
    END,
};
const struct schema d_jwtpolicy = {"JWTPolicy", sizeof(struct gw_jwtpolicy), jwtp_fields, NULL};

static const struct field basic_htpasswd_fields[] = {
    F("secretRef", T_OBJ,
      OFF(gw_basicauthpolicy, spec.htpasswd.secret_ref) - OFF(gw_basicauthpolicy, spec.htpasswd),
      .flags = F_REQ, .sub = &htpasswd_ref),
    END,
};
static const struct schema basic_htpasswd = {
    "HtpasswdSource", sizeof(((struct gw_basicauthpolicy *)0)->spec.htpasswd),
    basic_htpasswd_fields, NULL};

static void
check_bap_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_basicauthpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_basicauthpolicy, spec));
    check_auth_targets(c, "BasicAuthPolicy", p->spec.target_refs.v, p->spec.target_refs.n, node);
    check_realm(c, p->spec.realm, node);
}

static const struct field bap_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_basicauthpolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("htpasswd", T_STRUCT, SPEC(gw_basicauthpolicy, htpasswd), .flags = F_REQ,
      .sub = &basic_htpasswd),
    F("realm", T_STR, SPEC(gw_basicauthpolicy, realm), .fmt = FMT_TEXT, .min = 1, .max = 128,
      .def_str = "gatehouse"),
    F("userHeader", T_STR, SPEC(gw_basicauthpolicy, user_header), .fmt = FMT_HEADER_NAME),
    END,
};
static const struct schema bap_spec = {"BasicAuthPolicySpec", SPEC_SIZE(gw_basicauthpolicy),
                                       bap_spec_fields, check_bap_spec};

static const struct field bap_fields[] = {
    ROOT_FIELDS(gw_basicauthpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_basicauthpolicy, spec), .flags = F_REQ, .sub = &bap_spec),
    END,
};
const struct schema d_basicauthpolicy = {"BasicAuthPolicy", sizeof(struct gw_basicauthpolicy),
                                         bap_fields, NULL};

static const struct field apikey_keys_fields[] = {
    F("secretRef", T_OBJ,
      OFF(gw_apikeypolicy, spec.keys.secret_ref) - OFF(gw_apikeypolicy, spec.keys), .flags = F_REQ,
      .sub = &keys_ref),
    END,
};
static const struct schema apikey_keys = {
    "APIKeySource", sizeof(((struct gw_apikeypolicy *)0)->spec.keys), apikey_keys_fields, NULL};

static void
check_apikey_from(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_apikeypolicy *p =
        (void *)((char *)obj - offsetof(struct gw_apikeypolicy, spec.from));
    if (p->spec.from.header && p->spec.from.query)
        d_cel(c, node, NULL, "object", "at most one of header and query may be set");
}

static const struct field apikey_from_fields[] = {
    F("header", T_STR, OFF(gw_apikeypolicy, spec.from.header) - OFF(gw_apikeypolicy, spec.from),
      .fmt = FMT_HEADER_NAME),
    F("query", T_STR, OFF(gw_apikeypolicy, spec.from.query) - OFF(gw_apikeypolicy, spec.from),
      .fmt = FMT_TEXT, .min = 1, .max = 128),
    END,
};
static const struct schema apikey_from = {"APIKeyCredentialSource",
                                          sizeof(((struct gw_apikeypolicy *)0)->spec.from),
                                          apikey_from_fields, check_apikey_from};

static void
check_akp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_apikeypolicy *p = (void *)((char *)obj - offsetof(struct gw_apikeypolicy, spec));
    check_auth_targets(c, "APIKeyPolicy", p->spec.target_refs.v, p->spec.target_refs.n, node);
}

static const struct field akp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_apikeypolicy, target_refs), .flags = F_REQ, .sub = &target_ref,
      .min_items = 1, .max_items = 16),
    F("keys", T_STRUCT, SPEC(gw_apikeypolicy, keys), .flags = F_REQ, .sub = &apikey_keys),
    F("from", T_STRUCT, SPEC(gw_apikeypolicy, from), .sub = &apikey_from),
    F("clientHeader", T_STR, SPEC(gw_apikeypolicy, client_header), .fmt = FMT_HEADER_NAME),
    END,
};
static const struct schema akp_spec = {"APIKeyPolicySpec", SPEC_SIZE(gw_apikeypolicy),
                                       akp_spec_fields, check_akp_spec};

static const struct field akp_fields[] = {
    ROOT_FIELDS(gw_apikeypolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_apikeypolicy, spec), .flags = F_REQ, .sub = &akp_spec),
    END,
};
const struct schema d_apikeypolicy = {"APIKeyPolicy", sizeof(struct gw_apikeypolicy), akp_fields,
                                      NULL};

/* ------------------------------------------------------------------------ */
/* ExtAuthPolicy                                                            */

#define EAP(m) (OFF(gw_extauthpolicy, spec.http.m) - OFF(gw_extauthpolicy, spec.http))

static const struct field eap_body_fields[] = {
    F("maxBytes", T_INT, OFF(gw_extauth_body, max_bytes), .flags = F_REQ, .min = 1, .max = 32768),
    END,
};
static const struct schema eap_body = {"ExtAuthBody", sizeof(struct gw_extauth_body),
                                       eap_body_fields, NULL};

/* The path prefix starts with "/" and does not end with one (the
 * request's path, which starts with one, follows it). */
static void
check_eap_http(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_extauthpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_extauthpolicy, spec.http));
    const char *pp = p->spec.http.path_prefix;
    if (pp && (pp[0] != '/' || pp[strlen(pp) - 1] == '/' || strpbrk(pp, "?# ")))
        d_cel(c, d_get(node, "pathPrefix"), ".pathPrefix", "string",
              "pathPrefix starts with /, does not end with /, and holds no ?, # or space");
    const struct gw_backend_ref *b = &p->spec.http.backend_ref;
    if (b->kind && !streq(b->kind, "Service"))
        d_cel(c, d_get(node, "backendRef"), ".backendRef", "object",
              "backendRef must name a Service");
}

static const struct field eap_http_fields[] = {
    F("backendRef", T_STRUCT, EAP(backend_ref), .flags = F_REQ, .sub = &backend_obj),
    F("pathPrefix", T_STR, EAP(path_prefix), .fmt = FMT_PATH, .min = 1, .max = 256),
    F("headersToAuth", T_STRLIST, EAP(headers_to_auth), .flags = F_UNIQUE, .fmt = FMT_HEADER_NAME,
      .max_items = 32),
    F("headersFromAuth", T_STRLIST, EAP(headers_from_auth), .flags = F_UNIQUE,
      .fmt = FMT_HEADER_NAME, .max_items = 32),
    F("includeBody", T_OBJ, EAP(include_body), .sub = &eap_body),
    END,
};
static const struct schema eap_http = {"ExtAuthHTTPService",
                                       sizeof(((struct gw_extauthpolicy *)0)->spec.http),
                                       eap_http_fields, check_eap_http};

static void
check_eap_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_extauthpolicy *p = (void *)((char *)obj - offsetof(struct gw_extauthpolicy, spec));
    check_auth_targets(c, "ExtAuthPolicy", p->spec.target_refs.v, p->spec.target_refs.n, node);
    if (p->spec.timeout_ms == 0 || p->spec.timeout_ms > 60000)
        d_cel(c, d_get(node, "timeout"), ".timeout", "string",
              "timeout must be longer than 0s and at most 60s");
}

static const struct field eap_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_extauthpolicy, target_refs), .flags = F_REQ, .sub = &target_ref,
      .min_items = 1, .max_items = 16),
    F("http", T_STRUCT, SPEC(gw_extauthpolicy, http), .flags = F_REQ, .sub = &eap_http),
    F("timeout", T_DURATION, SPEC(gw_extauthpolicy, timeout_ms)),
    F("failureMode", T_ENUM, SPEC(gw_extauthpolicy, failure_mode), .enum_id = GW_ENUM_FAILMODE),
    END,
};
static const struct schema eap_spec = {"ExtAuthPolicySpec", SPEC_SIZE(gw_extauthpolicy),
                                       eap_spec_fields, check_eap_spec};

static const struct field eap_fields[] = {
    ROOT_FIELDS(gw_extauthpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_extauthpolicy, spec), .flags = F_REQ, .sub = &eap_spec),
    END,
};
const struct schema d_extauthpolicy = {"ExtAuthPolicy", sizeof(struct gw_extauthpolicy), eap_fields,
                                       NULL};

/* ------------------------------------------------------------------------ */
/* gateway.networking.x-k8s.io/v1alpha1: XBackendTrafficPolicy (GEP-1731's  */
/* retry budget and GEP-1619's sessionPersistence for a Service).           */

static const struct field policy_ref_fields[] = {
    F("group", T_STR, OFF(gw_policy_target_ref, group), .flags = F_REQ, .fmt = FMT_GROUP),
    F("kind", T_STR, OFF(gw_policy_target_ref, kind), .flags = F_REQ, .fmt = FMT_KIND),
    F("name", T_STR, OFF(gw_policy_target_ref, name), .flags = F_REQ, .fmt = FMT_OBJECT_NAME),
    END,
};
static const struct schema policy_ref = {
    "LocalPolicyTargetReference", sizeof(struct gw_policy_target_ref), policy_ref_fields, NULL};

static void
check_budget(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_retry_budget *b = obj;
    if (b->interval_ms >= 0 && (b->interval_ms < 1000 || b->interval_ms > 3600000))
        d_cel(c, d_get(node, "interval"), ".interval", "string",
              "interval cannot be greater than one hour or less than one second");
}

static const struct field budget_fields[] = {
    F("interval", T_DURATION, OFF(gw_retry_budget, interval_ms), .flags = F_DEF, .def_int = 10000),
    F("percent", T_INT, OFF(gw_retry_budget, percent), .flags = F_DEF, .def_int = 20, .min = 0,
      .max = 100),
    END,
};
static const struct schema budget = {"BudgetDetails", sizeof(struct gw_retry_budget), budget_fields,
                                     check_budget};

static void
check_retry_rate(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_retry_rate *r = obj;
    if (r->interval_ms == 0 || r->interval_ms > 3600000)
        d_cel(c, d_get(node, "interval"), ".interval", "string",
              "interval cannot be greater than one hour");
}

static const struct field retry_rate_fields[] = {
    F("count", T_INT, OFF(gw_retry_rate, count), .min = 1, .max = 1000000),
    F("interval", T_DURATION, OFF(gw_retry_rate, interval_ms)),
    END,
};
static const struct schema retry_rate = {"RequestRate", sizeof(struct gw_retry_rate),
                                         retry_rate_fields, check_retry_rate};

static const struct field retry_constraint_fields[] = {
    F("budget", T_OBJ, OFF(gw_retry_constraint, budget), .flags = F_DEF, .sub = &budget),
    F("minRetryRate", T_OBJ, OFF(gw_retry_constraint, min_retry_rate), .flags = F_DEF,
      .sub = &retry_rate),
    END,
};
static const struct schema retry_constraint = {
    "RetryConstraint", sizeof(struct gw_retry_constraint), retry_constraint_fields, NULL};

/* The rule's SessionPersistence less idleTimeout, which this kind's CRD
 * does not have. */
static const struct field xsession_fields[] = {
    F("sessionName", T_STR, OFF(gw_session_persistence, session_name), .fmt = FMT_TEXT, .max = 128),
    F("absoluteTimeout", T_DURATION, OFF(gw_session_persistence, absolute_timeout_ms)),
    F("type", T_ENUM, OFF(gw_session_persistence, type), .flags = F_DEF,
      .enum_id = GW_ENUM_SESSION_TYPE, .def_str = "Cookie"),
    F("cookieConfig", T_OBJ, OFF(gw_session_persistence, cookie_config), .sub = &cookie),
    END,
};

static void
check_xsession(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_session_persistence *s = obj;
    s->idle_timeout_ms = -1; /* absent: not in the schema */
    check_session(c, obj, node);
}

static const struct schema xsession = {"SessionPersistence", sizeof(struct gw_session_persistence),
                                       xsession_fields, check_xsession};

static void
check_xbtp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_xbackendtrafficpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_xbackendtrafficpolicy, spec));
    /* x-kubernetes-list-type map keyed by group, kind and name. */
    const struct gw_policy_target_ref *v = p->spec.target_refs.v;
    for (size_t i = 0; i < p->spec.target_refs.n; i++)
        for (size_t j = 0; j < i; j++)
            if (streq(v[i].group, v[j].group) && streq(v[i].kind, v[j].kind) &&
                streq(v[i].name, v[j].name)) {
                size_t save = d_push(c, "targetRefs");
                d_push_index(c, i);
                d_err(c, d_item(d_get(node, "targetRefs"), i), NULL,
                      "Duplicate value: {\"group\":\"%s\",\"kind\":\"%s\",\"name\":\"%s\"}",
                      v[i].group ? v[i].group : "", v[i].kind ? v[i].kind : "",
                      v[i].name ? v[i].name : "");
                d_pop(c, save);
                return;
            }
}

static const struct field xbtp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_xbackendtrafficpolicy, target_refs), .flags = F_REQ,
      .sub = &policy_ref, .min_items = 1, .max_items = 16),
    F("retryConstraint", T_OBJ, SPEC(gw_xbackendtrafficpolicy, retry_constraint),
      .sub = &retry_constraint),
    F("sessionPersistence", T_OBJ, SPEC(gw_xbackendtrafficpolicy, session_persistence),
      .sub = &xsession),
    END,
};
static const struct schema xbtp_spec = {"BackendTrafficPolicySpec",
                                        SPEC_SIZE(gw_xbackendtrafficpolicy), xbtp_spec_fields,
                                        check_xbtp_spec};

static const struct field xbtp_fields[] = {
    ROOT_FIELDS(gw_xbackendtrafficpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_xbackendtrafficpolicy, spec), .flags = F_REQ, .sub = &xbtp_spec),
    END,
};
const struct schema d_xbackendtrafficpolicy = {
    "XBackendTrafficPolicy", sizeof(struct gw_xbackendtrafficpolicy), xbtp_fields, NULL};

/* ------------------------------------------------------------------------ */
/* Core kinds                                                               */

static void
check_service_port(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_service_port *p = obj;
    const struct gw_node *tp = d_get(node, "targetPort");
    p->target_port_num = -1;
    if (!tp)
        return;
    if (tp->type == GW_NODE_INT) {
        if (tp->v.i < 1 || tp->v.i > 65535)
            d_err(c, tp, ".targetPort",
                  "Invalid value: %lld: must be between 1 and 65535, inclusive",
                  (long long)tp->v.i);
        p->target_port_num = tp->v.i;
    } else if (tp->type != GW_NODE_STR) {
        d_err(c, tp, ".targetPort", "expected integer or string, got %s",
              tp->type == GW_NODE_MAP ? "object" : "value");
        return;
    }
    p->target_port = gw_arena_strndup(c->a, tp->text ? tp->text : "", tp->text ? tp->len : 0);
}

static const char *const l4_protocols[] = {"TCP", "UDP", "SCTP", NULL};
static const char *const service_types[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName",
                                            NULL};

static const struct field service_port_fields[] = {
    F("name", T_STR, OFF(gw_service_port, name), .fmt = FMT_DNS_LABEL),
    F("port", T_INT, OFF(gw_service_port, port), .flags = F_REQ, .min = 1, .max = 65535),
    F("targetPort", T_IGNORE, 0),
    F("protocol", T_STR, OFF(gw_service_port, protocol), .allowed = l4_protocols, .def_str = "TCP"),
    F("appProtocol", T_STR, OFF(gw_service_port, app_protocol)),
    F("nodePort", T_INT, OFF(gw_service_port, node_port), .min = 0, .max = 65535),
    END,
};
static const struct schema service_port = {"ServicePort", sizeof(struct gw_service_port),
                                           service_port_fields, check_service_port};

static const struct field service_spec_fields[] = {
    F("type", T_STR, SPEC(gw_service, type), .allowed = service_types, .def_str = "ClusterIP"),
    F("clusterIP", T_STR, SPEC(gw_service, cluster_ip)),
    F("clusterIPs", T_STRLIST, SPEC(gw_service, cluster_ips), .max_items = 2),
    F("selector", T_MAP, SPEC(gw_service, selector), .flags = F_LABELKEYS, .fmt = FMT_LABEL_VALUE),
    F("ports", T_LIST, SPEC(gw_service, ports), .sub = &service_port),
    F("externalName", T_STR, SPEC(gw_service, external_name)),
    F("ipFamilies", T_STRLIST, SPEC(gw_service, ip_families), .max_items = 2),
    F("ipFamilyPolicy", T_STR, SPEC(gw_service, ip_family_policy)),
    F("sessionAffinity", T_STR, SPEC(gw_service, session_affinity)),
    F("publishNotReadyAddresses", T_BOOL, SPEC(gw_service, publish_not_ready_addresses)),
    F("externalTrafficPolicy", T_IGNORE, 0),
    F("internalTrafficPolicy", T_IGNORE, 0),
    F("loadBalancerIP", T_IGNORE, 0),
    F("loadBalancerSourceRanges", T_IGNORE, 0),
    F("loadBalancerClass", T_IGNORE, 0),
    F("externalIPs", T_IGNORE, 0),
    F("sessionAffinityConfig", T_IGNORE, 0),
    F("allocateLoadBalancerNodePorts", T_IGNORE, 0),
    F("healthCheckNodePort", T_IGNORE, 0),
    F("trafficDistribution", T_IGNORE, 0),
    END,
};
static const struct schema service_spec = {"ServiceSpec", SPEC_SIZE(gw_service),
                                           service_spec_fields, NULL};

static const struct field service_fields[] = {
    ROOT_FIELDS(gw_service, &metadata_label),
    F("spec", T_STRUCT, OFF(gw_service, spec), .sub = &service_spec),
    END,
};
const struct schema d_service = {"Service", sizeof(struct gw_service), service_fields, NULL};

#define EPC(m) \
    (offsetof(struct gw_endpoint, conditions.m) - offsetof(struct gw_endpoint, conditions))

static const struct field ep_conditions_fields[] = {
    F("ready", T_BOOL, EPC(ready)),
    F("serving", T_BOOL, EPC(serving)),
    F("terminating", T_BOOL, EPC(terminating)),
    END,
};
static const struct schema ep_conditions = {"EndpointConditions",
                                            sizeof(((struct gw_endpoint *)0)->conditions),
                                            ep_conditions_fields, NULL};

static const struct field ep_target_fields[] = {
    F("kind", T_STR, OFF(gw_object_ref, kind)),
    F("namespace", T_STR, OFF(gw_object_ref, ns)),
    F("name", T_STR, OFF(gw_object_ref, name)),
    F("uid", T_IGNORE, 0),
    F("apiVersion", T_IGNORE, 0),
    F("resourceVersion", T_IGNORE, 0),
    F("fieldPath", T_IGNORE, 0),
    END,
};
static const struct schema ep_target = {"ObjectReference", sizeof(struct gw_object_ref),
                                        ep_target_fields, NULL};

static const struct field endpoint_fields[] = {
    F("addresses", T_STRLIST, OFF(gw_endpoint, addresses), .flags = F_REQ, .min_items = 1,
      .max_items = 100),
    F("conditions", T_STRUCT, OFF(gw_endpoint, conditions), .sub = &ep_conditions),
    F("hostname", T_STR, OFF(gw_endpoint, hostname)),
    F("nodeName", T_STR, OFF(gw_endpoint, node_name)),
    F("zone", T_STR, OFF(gw_endpoint, zone)),
    F("targetRef", T_OBJ, OFF(gw_endpoint, target_ref), .sub = &ep_target),
    F("hints", T_IGNORE, 0),
    F("deprecatedTopology", T_IGNORE, 0),
    END,
};
static const struct schema endpoint = {"Endpoint", sizeof(struct gw_endpoint), endpoint_fields,
                                       NULL};

static const struct field endpoint_port_fields[] = {
    F("name", T_STR, OFF(gw_endpoint_port, name)),
    F("port", T_INT, OFF(gw_endpoint_port, port), .min = 0, .max = 65535),
    F("protocol", T_STR, OFF(gw_endpoint_port, protocol), .allowed = l4_protocols,
      .def_str = "TCP"),
    F("appProtocol", T_STR, OFF(gw_endpoint_port, app_protocol)),
    END,
};
static const struct schema endpoint_port = {"EndpointPort", sizeof(struct gw_endpoint_port),
                                            endpoint_port_fields, NULL};

static const struct field endpointslice_fields[] = {
    ROOT_FIELDS(gw_endpointslice, &d_metadata),
    F("addressType", T_ENUM, OFF(gw_endpointslice, address_type), .flags = F_REQ,
      .enum_id = GW_ENUM_ADDRESS_FAMILY),
    F("endpoints", T_LIST, OFF(gw_endpointslice, endpoints), .sub = &endpoint, .max_items = 1000),
    F("ports", T_LIST, OFF(gw_endpointslice, ports), .sub = &endpoint_port, .max_items = 100),
    END,
};
const struct schema d_endpointslice = {"EndpointSlice", sizeof(struct gw_endpointslice),
                                       endpointslice_fields, NULL};

/* Standard base64 with padding (what JSON []byte fields use, as Go's
 * StdEncoding reads them); -1, or the offset of the first bad byte. */
static long
base64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    size_t bad = 0;
    int o = gw_base64_decode((struct gw_str){in, n}, GW_B64_PAD, out, n, &bad); /* <= 3n/4 */
    if (o < 0)
        return (long)bad;
    *outlen = (size_t)o;
    return -1;
}

/* Decodes map (data/stringData/binaryData) into the bytes list at list. */
static void
decode_bytes_map(struct dctx *c, const struct gw_node *map, const char *field, bool b64,
                 void *listp)
{
    struct {
        struct gw_bytes *v;
        size_t n;
    } l;

    memcpy(&l, listp, sizeof(l));
    if (!map)
        return;
    size_t save = d_push(c, field);
    if (map->type != GW_NODE_MAP) {
        d_err(c, map, NULL, "expected object, got %s",
              map->type == GW_NODE_LIST ? "array" : "scalar");
        d_pop(c, save);
        return;
    }
    struct gw_bytes *v = gw_arena_alloc(c->a, sizeof(*v) * (l.n + map->n + 1));
    if (l.n)
        memcpy(v, l.v, sizeof(*v) * l.n);
    for (size_t i = 0; i < map->n; i++) {
        const struct gw_node_pair *p = &map->u.pairs[i];
        const struct gw_node *val = p->value;
        if (val->type == GW_NODE_NULL)
            continue;
        if (val->type != GW_NODE_STR) {
            d_err(c, val, NULL, "expected string, got %s",
                  val->type == GW_NODE_INT ? "integer" : "non-string");
            continue;
        }
        struct gw_bytes *b = &v[l.n++];
        b->pos = val->pos;
        b->pos.file = c->file;
        b->key = gw_arena_strndup(c->a, p->key, p->key_len);
        if (b64) {
            unsigned char *out = gw_arena_alloc(c->a, val->len + 1);
            size_t outlen = 0;
            long bad = base64_decode(val->text, val->len, out, &outlen);
            if (bad >= 0) {
                char sub[300];
                snprintf(sub, sizeof(sub), "[%s]", b->key);
                d_err(c, val, sub, "Invalid value: illegal base64 data at input byte %ld", bad);
            }
            out[outlen] = 0;
            b->data = out;
            b->len = outlen;
        } else {
            b->data = (const unsigned char *)gw_arena_strndup(c->a, val->text, val->len);
            b->len = val->len;
        }
        /* stringData overrides data, as the API server merges them. */
        for (size_t j = 0; j + 1 < l.n; j++) {
            if (strcmp(v[j].key, b->key) == 0) {
                v[j] = *b;
                l.n--;
                break;
            }
        }
    }
    d_pop(c, save);
    l.v = v;
    memcpy(listp, &l, sizeof(l));
}

static void
check_secret(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_secret *s = obj;
    decode_bytes_map(c, d_get(node, "data"), "data", true, &s->data);
    decode_bytes_map(c, d_get(node, "stringData"), "stringData", false, &s->data);
}

static const struct field secret_fields[] = {
    ROOT_FIELDS(gw_secret, &d_metadata),
    F("type", T_STR, OFF(gw_secret, type), .def_str = "Opaque"),
    F("data", T_IGNORE, 0),
    F("stringData", T_IGNORE, 0),
    F("immutable", T_IGNORE, 0),
    END,
};
const struct schema d_secret = {"Secret", sizeof(struct gw_secret), secret_fields, check_secret};

static void
check_configmap(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_configmap *m = obj;
    decode_bytes_map(c, d_get(node, "data"), "data", false, &m->data);
    decode_bytes_map(c, d_get(node, "binaryData"), "binaryData", true, &m->data);
}

static const struct field configmap_fields[] = {
    ROOT_FIELDS(gw_configmap, &d_metadata),
    F("data", T_IGNORE, 0),
    F("binaryData", T_IGNORE, 0),
    F("immutable", T_IGNORE, 0),
    END,
};
const struct schema d_configmap = {"ConfigMap", sizeof(struct gw_configmap), configmap_fields,
                                   check_configmap};

static const struct field namespace_fields[] = {
    ROOT_FIELDS(gw_namespace, &metadata_label),
    F("spec", T_IGNORE, 0),
    END,
};
const struct schema d_namespace = {"Namespace", sizeof(struct gw_namespace), namespace_fields,
                                   NULL};

/* ------------------------------------------------------------------------ */
/* XBackend (gateway.networking.x-k8s.io/v1alpha1)                          */

static void
check_xb_validation(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_xbackend_validation *v = obj;
    bool refs = v->ca_certificate_refs.n > 0;
    bool wk = v->well_known_ca_certificates != GW_WKCA_NONE;
    if (refs && wk)
        d_cel(c, node, NULL, "object",
              "must not contain both CACertificateRefs and WellKnownCACertificates");
    if (!refs && !wk)
        d_cel(c, node, NULL, "object",
              "must specify either CACertificateRefs or WellKnownCACertificates");
}

static const struct field xb_validation_fields[] = {
    F("caCertificateRefs", T_LIST, OFF(gw_xbackend_validation, ca_certificate_refs),
      .sub = &local_ref, .max_items = 8),
    F("wellKnownCACertificates", T_ENUM, OFF(gw_xbackend_validation, well_known_ca_certificates),
      .enum_id = GW_ENUM_WELL_KNOWN_CA),
    F("hostname", T_STR, OFF(gw_xbackend_validation, hostname), .flags = F_REQ,
      .fmt = FMT_PRECISE_HOSTNAME),
    F("subjectAltNames", T_LIST, OFF(gw_xbackend_validation, subject_alt_names), .sub = &san,
      .max_items = 5),
    END,
};
static const struct schema xb_validation = {"BackendTLSValidation",
                                            sizeof(struct gw_xbackend_validation),
                                            xb_validation_fields, check_xb_validation};

static void
check_xb_tls(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_xbackend_tls *t = obj;
    bool cs = t->mode == GW_XTLS_CLIENT_AND_SERVER;
    if (cs != (t->client_certificate_ref != NULL))
        d_cel(c, node, NULL, "object",
              "clientCertificateRef must be set if and only if mode is ClientAndServer");
}

static const struct field xb_tls_fields[] = {
    F("mode", T_ENUM, OFF(gw_xbackend_tls, mode), .flags = F_REQ, .enum_id = GW_ENUM_XB_TLS_MODE),
    F("clientCertificateRef", T_OBJ, OFF(gw_xbackend_tls, client_certificate_ref),
      .sub = &secret_ref),
    F("validation", T_OBJ, OFF(gw_xbackend_tls, validation), .sub = &xb_validation),
    END,
};
static const struct schema xb_tls = {"BackendTLSConfig", sizeof(struct gw_xbackend_tls),
                                     xb_tls_fields, check_xb_tls};

#define XB(m) SPEC(gw_xbackend, m)

static void
check_xb_external(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_xbackend_external *e = obj;
    static const char suffix[] = ".cluster.local";
    size_t n = e->hostname ? strlen(e->hostname) : 0;
    if (n >= sizeof(suffix) - 1 && !strcmp(e->hostname + n - (sizeof(suffix) - 1), suffix))
        d_cel(c, d_get(node, "hostname"), ".hostname", "string",
              "hostname must not be an IP address or end with .cluster.local");
}

static const struct field xb_external_fields[] = {
    F("hostname", T_STR, OFF(gw_xbackend_external, hostname), .flags = F_REQ,
      .fmt = FMT_PRECISE_HOSTNAME),
    END,
};
static const struct schema xb_external = {"ExternalHostname", sizeof(struct gw_xbackend_external),
                                          xb_external_fields, check_xb_external};

static void
check_xb_port(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_xbackend_port *p = obj;
    if (p->name && *p->name && !d_fmt_ok(FMT_DNS_LABEL, p->name, strlen(p->name)))
        d_cel(c, d_get(node, "name"), ".name", "string", "Name must be a valid DNS label");
}

static const struct field xb_port_fields[] = {
    F("name", T_STR, OFF(gw_xbackend_port, name), .max = 63),
    F("port", T_INT, OFF(gw_xbackend_port, port), .flags = F_REQ, .min = 1, .max = 65535),
    END,
};
static const struct schema xb_port = {"BackendPort", sizeof(struct gw_xbackend_port),
                                      xb_port_fields, check_xb_port};

static void
check_xb_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_xbackend *x = (void *)((char *)obj - offsetof(struct gw_xbackend, spec));
    bool ext = x->spec.type == GW_XBT_EXTERNAL_HOSTNAME;
    if (ext != (x->spec.external_hostname != NULL))
        d_cel(c, node, NULL, "object",
              "externalHostname must be set when type is ExternalHostname and must be unset "
              "otherwise");
}

static const struct field xb_spec_fields[] = {
    F("type", T_ENUM, XB(type), .flags = F_REQ, .enum_id = GW_ENUM_XB_TYPE),
    F("externalHostname", T_OBJ, XB(external_hostname), .sub = &xb_external),
    F("port", T_STRUCT, XB(port), .flags = F_REQ, .sub = &xb_port),
    F("protocol", T_ENUM, XB(protocol), .enum_id = GW_ENUM_XB_PROTOCOL),
    F("tls", T_OBJ, XB(tls), .sub = &xb_tls),
    END,
};
static const struct schema xb_spec = {"BackendSpec", SPEC_SIZE(gw_xbackend), xb_spec_fields,
                                      check_xb_spec};

static const struct field xb_fields[] = {
    ROOT_FIELDS(gw_xbackend, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_xbackend, spec), .flags = F_REQ, .sub = &xb_spec),
    END,
};
const struct schema d_xbackend = {"XBackend", sizeof(struct gw_xbackend), xb_fields, NULL};

/* ------------------------------------------------------------------------ */
/* gatehouse.dev/v1alpha1: CompressionPolicy                                */

/* Each coding's own level range: gzip (zlib) 1..9, br 0..11, zstd 1..19. */
static void
check_cmp_encoding(struct dctx *c, void *obj, const struct gw_node *node)
{
    const struct gw_compression_encoding *e = obj;
    static const int64_t lo[] = {0, 1, 0, 1}, hi[] = {0, 9, 11, 19};
    if (e->level < 0 || e->name <= GW_COMPRESSION_NONE || e->name > GW_COMPRESSION_ZSTD)
        return;
    if (e->level < lo[e->name] || e->level > hi[e->name])
        d_cel(c, d_get(node, "level"), ".level", "integer",
              "level must be 1-9 for gzip, 0-11 for br and 1-19 for zstd");
}

static const struct field cmp_encoding_fields[] = {
    F("name", T_ENUM, OFF(gw_compression_encoding, name), .flags = F_REQ,
      .enum_id = GW_ENUM_COMPRESSION),
    F("level", T_INT, OFF(gw_compression_encoding, level), .min = 0, .max = 19),
    END,
};
static const struct schema cmp_encoding = {"CompressionEncoding",
                                           sizeof(struct gw_compression_encoding),
                                           cmp_encoding_fields, check_cmp_encoding};

/* A content type is type/subtype, or a type, a slash and a star; in token
 * characters. */
static bool
media_range_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
        return false;
    bool star = streq(slash + 1, "*");
    for (const char *p = s; *p && !(star && p == slash); p++)
        if (p != slash && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                            (*p >= '0' && *p <= '9') || strchr("!#$&-^_.+", *p)))
            return false;
    return true;
}

static void
check_cmp_spec(struct dctx *c, void *obj, const struct gw_node *node)
{
    struct gw_compressionpolicy *p =
        (void *)((char *)obj - offsetof(struct gw_compressionpolicy, spec));
    check_auth_targets(c, "CompressionPolicy", p->spec.target_refs.v, p->spec.target_refs.n, node);
    for (size_t i = 0; i < p->spec.encodings.n; i++)
        for (size_t j = 0; j < i; j++)
            if (p->spec.encodings.v[i].name == p->spec.encodings.v[j].name) {
                d_cel(c, d_get(node, "encodings"), ".encodings", "array",
                      "each encoding may be named once");
                i = p->spec.encodings.n;
                break;
            }
    const struct gw_node *types = d_get(node, "contentTypes");
    for (size_t i = 0; i < p->spec.content_types.n; i++) {
        /* (shorter ones have their error already) */
        if (strlen(p->spec.content_types.v[i]) < 3 || media_range_ok(p->spec.content_types.v[i]))
            continue;
        char sub[48];
        snprintf(sub, sizeof(sub), ".contentTypes[%zu]", i);
        d_cel(c, types && i < types->n ? types->u.items[i] : types, sub, "string",
              "a content type is type/subtype or type/*");
    }
}

static const struct field cmp_spec_fields[] = {
    F("targetRefs", T_LIST, SPEC(gw_compressionpolicy, target_refs), .flags = F_REQ,
      .sub = &target_ref, .min_items = 1, .max_items = 16),
    F("encodings", T_LIST, SPEC(gw_compressionpolicy, encodings), .sub = &cmp_encoding,
      .min_items = 1, .max_items = 3),
    F("contentTypes", T_STRLIST, SPEC(gw_compressionpolicy, content_types), .flags = F_UNIQUE,
      .fmt = FMT_TEXT, .min = 3, .max = 128, .min_items = 1, .max_items = 32),
    F("minSize", T_INT, SPEC(gw_compressionpolicy, min_size), .min = 0, .max = 1073741824),
    END,
};
static const struct schema cmp_spec = {"CompressionPolicySpec", SPEC_SIZE(gw_compressionpolicy),
                                       cmp_spec_fields, check_cmp_spec};

static const struct field cmp_fields[] = {
    ROOT_FIELDS(gw_compressionpolicy, &d_metadata),
    F("spec", T_STRUCT, OFF(gw_compressionpolicy, spec), .flags = F_REQ, .sub = &cmp_spec),
    END,
};
const struct schema d_compressionpolicy = {"CompressionPolicy", sizeof(struct gw_compressionpolicy),
                                           cmp_fields, NULL};
