/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /config: the IR in force as JSON, field for field as ir/ir.h has it, in
 * the IR's own order. Compact (no indentation) because a configuration
 * of thousands of routes is megabytes. PEM bytes never leave the process:
 * only their length is shown.
 */
#include <string.h>

#include "admin/admin.h"
#include "base/base.h"
#include "ir/ir.h"

#include "base/banned.h"

#define MAX_DEPTH 32

/* A tiny JSON writer: remembers whether a comma is due at each level, and
 * the first error (later writes are skipped). */
struct jw {
    struct gw_buf *b;
    int rc;
    int depth;
    bool more[MAX_DEPTH];
};

static void
put(struct jw *w, const char *s)
{
    if (w->rc == 0)
        w->rc = gw_buf_append_cstr(w->b, s);
}

static void
key(struct jw *w, const char *k)
{
    if (w->more[w->depth])
        put(w, ",");
    w->more[w->depth] = true;
    if (k) {
        if (w->rc == 0)
            w->rc = gw_buf_append_json_str(w->b, k, strlen(k));
        put(w, ":");
    }
}

static void
str(struct jw *w, const char *k, const char *v)
{
    key(w, k);
    if (!v)
        put(w, "null");
    else if (w->rc == 0)
        w->rc = gw_buf_append_json_str(w->b, v, strlen(v));
}

static void
num(struct jw *w, const char *k, long long v)
{
    key(w, k);
    if (w->rc == 0)
        w->rc = gw_buf_appendf(w->b, "%lld", v);
}

static void
boolean(struct jw *w, const char *k, bool v)
{
    key(w, k);
    put(w, v ? "true" : "false");
}

static void
open_(struct jw *w, const char *k, const char *brace)
{
    key(w, k);
    put(w, brace);
    GW_ASSERT(w->depth + 1 < MAX_DEPTH);
    w->more[++w->depth] = false;
}

static void
obj(struct jw *w, const char *k)
{
    open_(w, k, "{");
}

static void
arr(struct jw *w, const char *k)
{
    open_(w, k, "[");
}

static void
end(struct jw *w, const char *brace)
{
    w->depth--;
    put(w, brace);
}

static void
strs(struct jw *w, const char *k, const char *const *v, size_t n)
{
    arr(w, k);
    for (size_t i = 0; i < n; i++)
        str(w, NULL, v[i]);
    end(w, "]");
}

static void
headers(struct jw *w, const char *k, const struct gw_ir_header *h, size_t n)
{
    arr(w, k);
    for (size_t i = 0; i < n; i++) {
        obj(w, NULL);
        str(w, "name", h[i].name);
        str(w, "value", h[i].value);
        end(w, "}");
    }
    end(w, "]");
}

static void
header_mod(struct jw *w, const char *k, const struct gw_ir_header_mod *m)
{
    if (!m) {
        key(w, k);
        put(w, "null");
        return;
    }
    obj(w, k);
    headers(w, "set", m->set, m->nset);
    headers(w, "add", m->add, m->nadd);
    strs(w, "remove", m->remove, m->nremove);
    end(w, "}");
}

static const char *
app_name(enum gw_ir_app_proto a)
{
    switch (a) {
    case GW_IR_APP_H2C:
        return "h2c";
    case GW_IR_APP_WS:
        return "ws";
    case GW_IR_APP_TLS:
        return "tls";
    default:
        return "http1";
    }
}

static void
health(struct jw *w, const struct gw_ir_healthcheck *h)
{
    static const char *const types[] = {"HTTP", "TCP", "GRPC"};
    obj(w, "healthCheck");
    str(w, "policy", h->policy);
    str(w, "type", types[h->type]);
    num(w, "intervalMs", (long long)h->interval_ms);
    num(w, "timeoutMs", (long long)h->timeout_ms);
    num(w, "jitterMs", (long long)h->jitter_ms);
    num(w, "healthyThreshold", h->healthy_threshold);
    num(w, "unhealthyThreshold", h->unhealthy_threshold);
    if (h->type == GW_IR_HC_HTTP) {
        str(w, "path", h->path);
        str(w, "host", h->host);
        arr(w, "expectedStatuses");
        for (size_t i = 0; i < h->nstatuses; i++) {
            obj(w, NULL);
            num(w, "start", h->statuses[i].start);
            num(w, "end", h->statuses[i].end);
            end(w, "}");
        }
        end(w, "]");
    } else if (h->type == GW_IR_HC_GRPC) {
        str(w, "service", h->grpc_service);
    }
    end(w, "}");
}

static void
backend(struct jw *w, const char *k, const struct gw_ir_backend *be)
{
    obj(w, k);
    str(w, "name", be->name);
    num(w, "weight", be->weight);
    boolean(w, "invalid", be->invalid);
    str(w, "app", app_name(be->app));
    if (be->tls) {
        obj(w, "tls");
        str(w, "policy", be->tls->policy);
        str(w, "sni", be->tls->sni);
        num(w, "caBytes", (long long)be->tls->ca_len);
        boolean(w, "systemCA", be->tls->system_ca);
        strs(w, "subjectAltNames", be->tls->sans, be->tls->nsans);
        if (be->tls->client_cert)
            str(w, "clientCertificate", be->tls->client_cert->secret);
        end(w, "}");
    }
    if (be->health)
        health(w, be->health);
    arr(w, "endpoints");
    for (size_t i = 0; i < be->nendpoints; i++) {
        obj(w, NULL);
        str(w, "ip", be->endpoints[i].ip);
        num(w, "port", be->endpoints[i].port);
        end(w, "}");
    }
    end(w, "]");
    if (be->dns_host) {
        str(w, "dnsHost", be->dns_host);
        num(w, "dnsPort", be->dns_port);
    }
    if (be->request_headers)
        header_mod(w, "requestHeaders", be->request_headers);
    if (be->response_headers)
        header_mod(w, "responseHeaders", be->response_headers);
    end(w, "}");
}

static void
backends(struct jw *w, const struct gw_ir_backend *v, size_t n)
{
    arr(w, "backends");
    for (size_t i = 0; i < n; i++)
        backend(w, NULL, &v[i]);
    end(w, "]");
}

static const char *const filter_names[] = {
    [GW_IR_F_REQUEST_HEADERS] = "RequestHeaderModifier",
    [GW_IR_F_RESPONSE_HEADERS] = "ResponseHeaderModifier",
    [GW_IR_F_REDIRECT] = "RequestRedirect",
    [GW_IR_F_REWRITE] = "URLRewrite",
    [GW_IR_F_MIRROR] = "RequestMirror",
    [GW_IR_F_CORS] = "CORS",
};

static void
filter(struct jw *w, const struct gw_ir_filter *f)
{
    obj(w, NULL);
    str(w, "type",
        (size_t)f->type < GW_ARRAY_LEN(filter_names) ? filter_names[f->type] : "Unknown");
    switch (f->type) {
    case GW_IR_F_REQUEST_HEADERS:
    case GW_IR_F_RESPONSE_HEADERS:
        header_mod(w, "headers", &f->headers);
        break;
    case GW_IR_F_REDIRECT:
    case GW_IR_F_REWRITE:
        if (f->type == GW_IR_F_REDIRECT) {
            str(w, "scheme", f->scheme);
            num(w, "port", f->port);
            num(w, "statusCode", f->status_code);
        }
        str(w, "hostname", f->hostname);
        str(w, "pathModifier",
            f->path_mod == GW_IR_PATHMOD_FULL     ? "ReplaceFullPath"
            : f->path_mod == GW_IR_PATHMOD_PREFIX ? "ReplacePrefixMatch"
                                                  : NULL);
        str(w, "path", f->path);
        break;
    case GW_IR_F_MIRROR:
        if (f->mirror)
            backend(w, "backend", f->mirror);
        num(w, "numerator", f->mirror_num);
        num(w, "denominator", f->mirror_den);
        break;
    case GW_IR_F_CORS:
        strs(w, "allowOrigins", f->cors_origins, f->ncors_origins);
        strs(w, "allowMethods", f->cors_methods, f->ncors_methods);
        strs(w, "allowHeaders", f->cors_headers, f->ncors_headers);
        strs(w, "exposeHeaders", f->cors_expose, f->ncors_expose);
        boolean(w, "allowCredentials", f->cors_credentials);
        num(w, "maxAge", f->cors_max_age);
        break;
    }
    end(w, "}");
}

static void
match_kvs(struct jw *w, const char *k, const struct gw_ir_match_kv *v, size_t n)
{
    arr(w, k);
    for (size_t i = 0; i < n; i++) {
        obj(w, NULL);
        str(w, "name", v[i].name);
        str(w, "value", v[i].value);
        str(w, "type", v[i].regex ? "RegularExpression" : "Exact");
        end(w, "}");
    }
    end(w, "]");
}

static void
route(struct jw *w, const struct gw_ir_route *r)
{
    static const char *const path_types[] = {"Exact", "PathPrefix", "RegularExpression"};
    obj(w, NULL);
    str(w, "route", r->route);
    str(w, "ruleName", r->rule_name);
    num(w, "rule", r->rule_index);
    num(w, "match", r->match_index);
    boolean(w, "grpc", r->grpc);
    obj(w, "path");
    str(w, "type",
        (size_t)r->path_type < GW_ARRAY_LEN(path_types) ? path_types[r->path_type] : "Unknown");
    str(w, "value", r->path);
    end(w, "}");
    str(w, "method", r->method);
    match_kvs(w, "headers", r->headers, r->nheaders);
    match_kvs(w, "queryParams", r->query, r->nquery);
    arr(w, "filters");
    for (size_t i = 0; i < r->nfilters; i++)
        filter(w, &r->filters[i]);
    end(w, "]");
    backends(w, r->backends, r->nbackends);
    num(w, "requestTimeoutMs", r->request_timeout_ms);
    num(w, "backendTimeoutMs", r->backend_timeout_ms);
    if (r->retry_attempts >= 0) {
        obj(w, "retry");
        num(w, "attempts", r->retry_attempts);
        num(w, "backoffMs", r->retry_backoff_ms);
        arr(w, "codes");
        for (size_t i = 0; i < r->nretry_codes; i++)
            num(w, NULL, r->retry_codes[i]);
        end(w, "]");
        end(w, "}");
    }
    end(w, "}");
}

static void
listener(struct jw *w, const struct gw_ir_listener *l)
{
    obj(w, NULL);
    str(w, "owner", l->owner);
    str(w, "name", l->name);
    str(w, "hostname", l->hostname);
    str(w, "protocol", gw_ir_proto_name(l->proto));
    if (l->tls) {
        obj(w, "tls");
        boolean(w, "passthrough", l->tls->passthrough);
        arr(w, "certificates");
        for (size_t i = 0; i < l->tls->ncerts; i++) {
            obj(w, NULL);
            str(w, "secret", l->tls->certs[i].secret);
            num(w, "certBytes", (long long)l->tls->certs[i].cert_len);
            num(w, "keyBytes", (long long)l->tls->certs[i].key_len);
            end(w, "}");
        }
        end(w, "]");
        num(w, "clientCABytes", (long long)l->tls->client_ca_len);
        boolean(w, "clientInsecureFallback", l->tls->client_insecure_fallback);
        end(w, "}");
    }
    arr(w, "vhosts");
    for (size_t i = 0; i < l->nvhosts; i++) {
        obj(w, NULL);
        str(w, "hostname", l->vhosts[i].hostname);
        arr(w, "routes");
        for (size_t j = 0; j < l->vhosts[i].nroutes; j++)
            route(w, &l->vhosts[i].routes[j]);
        end(w, "]");
        end(w, "}");
    }
    end(w, "]");
    arr(w, "l4");
    for (size_t i = 0; i < l->nl4; i++) {
        obj(w, NULL);
        str(w, "route", l->l4[i].route);
        str(w, "hostname", l->l4[i].hostname);
        backends(w, l->l4[i].backends, l->l4[i].nbackends);
        end(w, "}");
    }
    end(w, "]");
    end(w, "}");
}

int
gw_admin_ir_format_json(const struct gw_ir *ir, struct gw_buf *out)
{
    struct jw w = {.b = out};
    obj(&w, NULL);
    arr(&w, "gateways");
    for (size_t i = 0; ir && i < ir->ngateways; i++) {
        const struct gw_ir_gateway *g = &ir->gateways[i];
        obj(&w, NULL);
        str(&w, "namespace", g->ns);
        str(&w, "name", g->name);
        strs(&w, "addresses", g->addresses, g->naddresses);
        headers(&w, "labels", g->labels, g->nlabels);
        headers(&w, "annotations", g->annotations, g->nannotations);
        end(&w, "}");
    }
    end(&w, "]");
    arr(&w, "ports");
    for (size_t i = 0; ir && i < ir->nports; i++) {
        const struct gw_ir_port *p = &ir->ports[i];
        obj(&w, NULL);
        str(&w, "address", p->address);
        num(&w, "port", p->port);
        str(&w, "transport", p->udp ? "UDP" : "TCP");
        str(&w, "gateway", p->gateway);
        arr(&w, "listeners");
        for (size_t j = 0; j < p->nlisteners; j++)
            listener(&w, &p->listeners[j]);
        end(&w, "]");
        end(&w, "}");
    }
    end(&w, "]");
    end(&w, "}");
    put(&w, "\n");
    return w.rc;
}
