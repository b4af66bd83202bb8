/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ir: the text dump of an IR snapshot. Indented, one fact per line, in the
 * IR's own (already stable) order, so tests can compare it byte for byte.
 */
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"

#include "base/banned.h"

#define S(x) ((x) ? (x) : "-")

static void
ind(struct gw_buf *b, int n)
{
    for (int i = 0; i < n; i++)
        gw_buf_append_cstr(b, "  ");
}

static void
header_mod(struct gw_buf *b, int d, const char *what, const struct gw_ir_header_mod *m)
{
    for (size_t i = 0; i < m->nset; i++) {
        ind(b, d);
        gw_buf_appendf(b, "%s set %s: %s\n", what, m->set[i].name, m->set[i].value);
    }
    for (size_t i = 0; i < m->nadd; i++) {
        ind(b, d);
        gw_buf_appendf(b, "%s add %s: %s\n", what, m->add[i].name, m->add[i].value);
    }
    for (size_t i = 0; i < m->nremove; i++) {
        ind(b, d);
        gw_buf_appendf(b, "%s remove %s\n", what, m->remove[i]);
    }
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
backend(struct gw_buf *b, int d, const char *what, const struct gw_ir_backend *be)
{
    ind(b, d);
    gw_buf_appendf(b, "%s %s weight=%u app=%s%s\n", what, be->name, be->weight, app_name(be->app),
                   be->invalid ? " INVALID(500)" : "");
    if (be->tls) {
        ind(b, d + 1);
        gw_buf_appendf(b, "tls policy=%s sni=%s ca=%s%zu", be->tls->policy, S(be->tls->sni),
                       be->tls->system_ca ? "system+" : "", be->tls->ca_len);
        for (size_t i = 0; i < be->tls->nsans; i++)
            gw_buf_appendf(b, " san=%s", be->tls->sans[i]);
        if (be->tls->client_cert)
            gw_buf_appendf(b, " client-cert=%s", be->tls->client_cert->secret);
        gw_buf_append_cstr(b, "\n");
    }
    if (be->health) {
        const struct gw_ir_healthcheck *h = be->health;
        static const char *const types[] = {"http", "tcp", "grpc"};
        ind(b, d + 1);
        gw_buf_appendf(
            b, "health policy=%s %s interval=%lld timeout=%lld jitter=%lld up=%u down=%u",
            h->policy, types[h->type], (long long)h->interval_ms, (long long)h->timeout_ms,
            (long long)h->jitter_ms, h->healthy_threshold, h->unhealthy_threshold);
        if (h->type == GW_IR_HC_HTTP) {
            gw_buf_appendf(b, " path=%s host=%s", h->path, S(h->host));
            for (size_t i = 0; i < h->nstatuses; i++)
                gw_buf_appendf(b, " %u-%u", h->statuses[i].start, h->statuses[i].end);
        } else if (h->type == GW_IR_HC_GRPC) {
            gw_buf_appendf(b, " service=%s", h->grpc_service);
        }
        gw_buf_append_cstr(b, "\n");
    }
    if (be->circuit) {
        const struct gw_ir_circuit *c = be->circuit;
        const uint32_t lim[] = {c->max_connections, c->max_requests, c->max_retries};
        const uint32_t none[] = {0, 0, UINT32_MAX};
        static const char *const names[] = {"connections", "requests", "retries"};
        ind(b, d + 1);
        gw_buf_appendf(b, "circuit %s", c->policy);
        for (size_t i = 0; i < 3; i++) {
            if (lim[i] == none[i])
                gw_buf_appendf(b, " %s=-", names[i]);
            else
                gw_buf_appendf(b, " %s=%u", names[i], lim[i]);
        }
        gw_buf_append_cstr(b, "\n");
    }
    if (be->lb) {
        static const char *const types[] = {"round-robin", "least-request", "consistent-hash"};
        static const char *const keys[] = {"header", "cookie", "source-ip"};
        const struct gw_ir_lb *l = be->lb;
        ind(b, d + 1);
        gw_buf_appendf(b, "lb %s %s", l->policy, types[l->type]);
        if (l->type == GW_IR_LB_CONSISTENT_HASH)
            gw_buf_appendf(b, " key=%s%s%s", keys[l->key], l->name ? ":" : "",
                           l->name ? l->name : "");
        if (l->slow_start_ms)
            gw_buf_appendf(b, " slow-start=%lldms", (long long)l->slow_start_ms);
        gw_buf_append_cstr(b, "\n");
    }
    if (be->retry_budget) {
        const struct gw_ir_retry_budget *r = be->retry_budget;
        ind(b, d + 1);
        gw_buf_appendf(b, "retry-budget %s percent=%u interval=%llums min=%u/%llums\n", r->policy,
                       r->percent, (unsigned long long)r->interval_ms, r->min_count,
                       (unsigned long long)r->min_interval_ms);
    }
    if (be->request_headers)
        header_mod(b, d + 1, "request", be->request_headers);
    if (be->response_headers)
        header_mod(b, d + 1, "response", be->response_headers);
    for (size_t i = 0; i < be->nendpoints; i++) {
        ind(b, d + 1);
        gw_buf_appendf(b, "endpoint %s:%u\n", be->endpoints[i].ip, be->endpoints[i].port);
    }
    if (be->dns_host) {
        ind(b, d + 1);
        gw_buf_appendf(b, "dns %s:%u\n", be->dns_host, be->dns_port);
    }
}

static void
strlist(struct gw_buf *b, const char *what, const char **v, size_t n)
{
    if (!n)
        return;
    gw_buf_appendf(b, " %s=", what);
    for (size_t i = 0; i < n; i++)
        gw_buf_appendf(b, "%s%s", i ? "," : "", v[i]);
}

static void
filter(struct gw_buf *b, int d, const struct gw_ir_filter *f)
{
    static const char *const pm[] = {"", " ReplaceFullPath=", " ReplacePrefixMatch="};
    switch (f->type) {
    case GW_IR_F_REQUEST_HEADERS:
        header_mod(b, d, "request", &f->headers);
        break;
    case GW_IR_F_RESPONSE_HEADERS:
        header_mod(b, d, "response", &f->headers);
        break;
    case GW_IR_F_REDIRECT:
        ind(b, d);
        gw_buf_appendf(b, "redirect %d scheme=%s host=%s port=%d%s%s\n", f->status_code,
                       S(f->scheme), S(f->hostname), f->port, pm[f->path_mod],
                       f->path_mod ? f->path : "");
        break;
    case GW_IR_F_REWRITE:
        ind(b, d);
        gw_buf_appendf(b, "rewrite host=%s%s%s\n", S(f->hostname), pm[f->path_mod],
                       f->path_mod ? f->path : "");
        break;
    case GW_IR_F_MIRROR:
        backend(b, d, "mirror", f->mirror);
        ind(b, d + 1);
        gw_buf_appendf(b, "share %u/%u\n", f->mirror_num, f->mirror_den);
        break;
    case GW_IR_F_CORS:
        ind(b, d);
        gw_buf_appendf(b, "cors credentials=%d max-age=%d", f->cors_credentials, f->cors_max_age);
        strlist(b, "origins", f->cors_origins, f->ncors_origins);
        strlist(b, "methods", f->cors_methods, f->ncors_methods);
        strlist(b, "headers", f->cors_headers, f->ncors_headers);
        strlist(b, "expose", f->cors_expose, f->ncors_expose);
        gw_buf_append_cstr(b, "\n");
        break;
    }
}

static void
route(struct gw_buf *b, int d, const struct gw_ir_route *r)
{
    static const char *const pt[] = {"Exact", "PathPrefix", "RegularExpression"};
    ind(b, d);
    gw_buf_appendf(b, "route %s rule=%u%s%s match=%u%s %s %s", r->route, r->rule_index,
                   r->rule_name ? "/" : "", r->rule_name ? r->rule_name : "", r->match_index,
                   r->grpc ? " grpc" : "", pt[r->path_type], r->path);
    if (r->method)
        gw_buf_appendf(b, " method=%s", r->method);
    for (size_t i = 0; i < r->nheaders; i++)
        gw_buf_appendf(b, " header:%s%s%s", r->headers[i].name, r->headers[i].regex ? "~" : "=",
                       r->headers[i].value);
    for (size_t i = 0; i < r->nquery; i++)
        gw_buf_appendf(b, " query:%s%s%s", r->query[i].name, r->query[i].regex ? "~" : "=",
                       r->query[i].value);
    gw_buf_append_cstr(b, "\n");
    if (r->request_timeout_ms >= 0 || r->backend_timeout_ms >= 0) {
        ind(b, d + 1);
        gw_buf_appendf(b, "timeouts request=%lld backend=%lld\n", (long long)r->request_timeout_ms,
                       (long long)r->backend_timeout_ms);
    }
    if (r->retry_attempts >= 0) {
        ind(b, d + 1);
        gw_buf_appendf(b, "retry attempts=%d backoff=%lld codes=", r->retry_attempts,
                       (long long)r->retry_backoff_ms);
        for (size_t i = 0; i < r->nretry_codes; i++)
            gw_buf_appendf(b, "%s%d", i ? "," : "", r->retry_codes[i]);
        gw_buf_append_cstr(b, "\n");
    }
    if (r->session) {
        const struct gw_ir_session *s = r->session;
        ind(b, d + 1);
        gw_buf_appendf(b, "session %s name=%s",
                       s->type == GW_IR_SESSION_COOKIE ? "cookie" : "header", s->name);
        if (s->type == GW_IR_SESSION_COOKIE)
            gw_buf_appendf(b, " path=%s lifetime=%s", s->path,
                           s->permanent ? "Permanent" : "Session");
        gw_buf_appendf(b, " absolute=%lld idle=%lld key=%s\n", (long long)s->absolute_ms,
                       (long long)s->idle_ms, s->key_id);
    }
    for (size_t i = 0; i < r->nratelimits; i++) {
        const struct gw_ir_ratelimit *l = &r->ratelimits[i];
        static const char *const keys[] = {"route", "client", "header"};
        ind(b, d + 1);
        gw_buf_appendf(b, "ratelimit %s/%s %u/%lldms burst=%u key=%s%s%s%s\n", l->policy, l->name,
                       l->requests, (long long)l->interval_ms, l->burst, keys[l->key],
                       l->header ? ":" : "", l->header ? l->header : "",
                       !l->global       ? ""
                       : l->fail_closed ? " global fail=closed"
                                        : " global");
    }
    if (r->acl_gateway) {
        ind(b, d + 1);
        gw_buf_appendf(b, "source-address gateway %s %s\n", r->acl_gateway->policy,
                       r->acl_gateway->desc);
    }
    if (r->acl_route) {
        ind(b, d + 1);
        gw_buf_appendf(b, "source-address route %s %s\n", r->acl_route->policy, r->acl_route->desc);
    }
    if (r->jwt) {
        ind(b, d + 1);
        gw_buf_appendf(b, "jwt %s realm=%s", r->jwt->policy, r->jwt->realm);
        for (size_t i = 0; i < r->jwt->nproviders; i++) {
            const struct gw_ir_jwt_provider *p = &r->jwt->providers[i];
            gw_buf_appendf(b, " %s(%s:%s", p->name, p->cookie ? "cookie" : "header", p->from);
            if (p->remote)
                gw_buf_appendf(b, " jwks=%s", p->remote->uri);
            for (size_t k = 0; k < p->nclaims; k++)
                gw_buf_appendf(b, " %s>%s", p->claims[k].claim, p->claims[k].header);
            gw_buf_append_cstr(b, ")");
        }
        gw_buf_append_cstr(b, "\n");
    }
    if (r->basic) {
        ind(b, d + 1);
        gw_buf_appendf(b, "basic %s realm=%s%s%s\n", r->basic->policy, r->basic->realm,
                       r->basic->user_header ? " user>" : "",
                       r->basic->user_header ? r->basic->user_header : "");
    }
    if (r->extauth) {
        ind(b, d + 1);
        gw_buf_appendf(b, "extauth %s %s%s timeout=%ums body=%u%s\n", r->extauth->policy,
                       r->extauth->backend ? r->extauth->backend->name : "-",
                       r->extauth->path_prefix, r->extauth->timeout_ms, r->extauth->max_body,
                       r->extauth->invalid     ? " invalid"
                       : r->extauth->fail_open ? " open"
                                               : "");
    }
    if (r->compress) {
        static const char *const names[] = {"-", "gzip", "br", "zstd"};
        ind(b, d + 1);
        gw_buf_appendf(b, "compress %s", r->compress->policy);
        for (size_t i = 0; i < r->compress->norder; i++)
            gw_buf_appendf(b, "%s%s:%d", i ? "," : " ", names[r->compress->order[i] & 3],
                           r->compress->level[r->compress->order[i] & 3]);
        gw_buf_appendf(b, " min=%llu types=", (unsigned long long)r->compress->min_size);
        for (size_t i = 0; i < r->compress->ntypes; i++)
            gw_buf_appendf(b, "%s%s", i ? "," : "", r->compress->types[i]);
        gw_buf_append_cstr(b, "\n");
    }
    if (r->apikey) {
        ind(b, d + 1);
        gw_buf_appendf(b, "apikey %s %s:%s%s%s\n", r->apikey->policy,
                       r->apikey->query ? "query" : "header", r->apikey->from,
                       r->apikey->client_header ? " client>" : "",
                       r->apikey->client_header ? r->apikey->client_header : "");
    }
    for (size_t i = 0; i < r->nfilters; i++)
        filter(b, d + 1, &r->filters[i]);
    for (size_t i = 0; i < r->nbackends; i++)
        backend(b, d + 1, "backend", &r->backends[i]);
}

int
gw_ir_format(const struct gw_ir *ir, struct gw_buf *b)
{
    for (size_t g = 0; g < ir->ngateways; g++) {
        const struct gw_ir_gateway *gw = &ir->gateways[g];
        gw_buf_appendf(b, "gateway %s/%s", gw->ns, gw->name);
        for (size_t i = 0; i < gw->naddresses; i++)
            gw_buf_appendf(b, " %s", gw->addresses[i]);
        gw_buf_append_cstr(b, "\n");
        for (size_t i = 0; i < gw->nlabels; i++)
            gw_buf_appendf(b, "  label %s=%s\n", gw->labels[i].name, gw->labels[i].value);
        for (size_t i = 0; i < gw->nannotations; i++)
            gw_buf_appendf(b, "  annotation %s=%s\n", gw->annotations[i].name,
                           gw->annotations[i].value);
    }
    for (size_t p = 0; p < ir->nports; p++) {
        const struct gw_ir_port *port = &ir->ports[p];
        bool v6 = strchr(port->address, ':') != NULL;
        gw_buf_appendf(b, "port %s%s%s:%u/%s gateway=%s\n", v6 ? "[" : "", port->address,
                       v6 ? "]" : "", port->port, port->udp ? "udp" : "tcp", port->gateway);
        if (port->backend_client_cert)
            gw_buf_appendf(b, "  backend-client-cert=%s(%zu+%zu)\n",
                           port->backend_client_cert->secret, port->backend_client_cert->cert_len,
                           port->backend_client_cert->key_len);
        if (port->proxy_protocol)
            gw_buf_appendf(b, "  proxy-protocol %s %s\n", port->proxy_protocol->policy,
                           port->proxy_protocol->desc);
        for (size_t l = 0; l < port->nlisteners; l++) {
            const struct gw_ir_listener *li = &port->listeners[l];
            gw_buf_appendf(b, "  listener %s/%s %s host=%s\n", li->owner, li->name,
                           gw_ir_proto_name(li->proto), S(li->hostname));
            if (li->acl)
                gw_buf_appendf(b, "    source-address %s %s\n", li->acl->policy, li->acl->desc);
            if (li->xff)
                gw_buf_appendf(b, "    x-forwarded-for %s %s\n", li->xff->policy, li->xff->desc);
            if (li->tls) {
                gw_buf_appendf(b, "    tls %s", li->tls->passthrough ? "passthrough" : "terminate");
                for (size_t i = 0; i < li->tls->ncerts; i++)
                    gw_buf_appendf(b, " cert=%s(%zu+%zu)", li->tls->certs[i].secret,
                                   li->tls->certs[i].cert_len, li->tls->certs[i].key_len);
                if (li->tls->client_ca_pem)
                    gw_buf_appendf(b, " client-ca=%zu%s", li->tls->client_ca_len,
                                   li->tls->client_insecure_fallback ? " insecure-fallback" : "");
                gw_buf_append_cstr(b, "\n");
            }
            for (size_t v = 0; v < li->nvhosts; v++) {
                gw_buf_appendf(b, "    vhost %s\n", li->vhosts[v].hostname);
                for (size_t r = 0; r < li->vhosts[v].nroutes; r++)
                    route(b, 3, &li->vhosts[v].routes[r]);
            }
            for (size_t i = 0; i < li->nl4; i++) {
                gw_buf_appendf(b, "    l4 %s", li->l4[i].route);
                if (li->l4[i].hostname)
                    gw_buf_appendf(b, " sni=%s", li->l4[i].hostname);
                gw_buf_append_cstr(b, "\n");
                for (size_t k = 0; k < li->l4[i].nbackends; k++)
                    backend(b, 3, "backend", &li->l4[i].backends[k]);
            }
        }
    }
    return b->len >= b->max ? GW_ELIMIT : 0;
}
