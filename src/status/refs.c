/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: references. ReferenceGrant checks (GEP-713) for every reference
 * that crosses a namespace, and backendRef resolution: Service, port,
 * ready EndpointSlice endpoints, appProtocol, BackendTLSPolicy.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

static bool
streq0(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

bool
tr_grant_allows(struct tr *t, const char *from_group, const char *from_kind, const char *from_ns,
                const char *to_group, const char *to_kind, const char *to_ns, const char *to_name)
{
    size_t n;
    const struct gw_meta *const *v = gw_store_list(t->store, GW_KIND_REFERENCEGRANT, &n);
    for (size_t i = 0; i < n; i++) {
        const struct gw_referencegrant *g = (const void *)v[i];
        if (strcmp(g->meta.ns, to_ns))
            continue;
        bool from_ok = false, to_ok = false;
        for (size_t k = 0; k < g->spec.from.n && !from_ok; k++) {
            const struct gw_grant_from *f = &g->spec.from.v[k];
            from_ok = streq0(f->group, from_group) && streq0(f->kind, from_kind) &&
                      streq0(f->ns, from_ns);
        }
        for (size_t k = 0; k < g->spec.to.n && from_ok && !to_ok; k++) {
            const struct gw_grant_to *to = &g->spec.to.v[k];
            to_ok = streq0(to->group, to_group) && streq0(to->kind, to_kind) &&
                    (!to->name || !strcmp(to->name, to_name));
        }
        if (from_ok && to_ok)
            return true;
    }
    return false;
}

bool
tr_is_pem(const unsigned char *p, size_t n)
{
    static const char begin[] = "-----BEGIN ";
    static const char end[] = "-----END ";
    if (!p || n < sizeof(begin))
        return false;
    const char *s = (const char *)p;
    const char *b = memmem(s, n, begin, sizeof(begin) - 1);
    return b && memmem(b, n - (size_t)(b - s), end, sizeof(end) - 1);
}

const char *
tr_ca_bundle(struct tr *t, const char *ns, const struct gw_object_ref *refs, size_t n,
             const char *field, struct gw_buf *ca)
{
    for (size_t i = 0; i < n; i++) {
        const struct gw_object_ref *r = &refs[i];
        const char *group = r->group ? r->group : "";
        if (*group || !r->kind || strcmp(r->kind, "ConfigMap"))
            return tr_printf(t, "%s[%zu]: kind %s%s%s is not supported", field, i,
                             r->kind ? r->kind : "", *group ? "." : "", group);
        const struct gw_configmap *cm = gw_store_configmap(t->store, ns, r->name);
        const struct gw_bytes *crt = cm ? gw_bytes_get(cm->data.v, cm->data.n, "ca.crt") : NULL;
        if (!crt || !tr_is_pem(crt->data, crt->len))
            return tr_printf(t, "%s[%zu]: ConfigMap %s/%s %s", field, i, ns, r->name,
                             cm ? "has no PEM ca.crt" : "not found");
        gw_buf_append(ca, crt->data, crt->len);
        if (crt->len && crt->data[crt->len - 1] != '\n')
            gw_buf_append_char(ca, '\n');
    }
    return NULL;
}

static enum gw_ir_app_proto
app_proto(const char *ap, bool grpc)
{
    if (ap && !strcmp(ap, "kubernetes.io/h2c"))
        return GW_IR_APP_H2C;
    if (ap && !strcmp(ap, "kubernetes.io/ws"))
        return GW_IR_APP_WS;
    return grpc ? GW_IR_APP_H2C : GW_IR_APP_HTTP1;
}

/* Why an HTTPRoute (grpc: a GRPCRoute) cannot speak the appProtocol ap of
 * a Service port, NULL if it can (GEP-1911). tls: the port has a valid
 * BackendTLSPolicy. The standard names of KEP-3726 are honoured: h2c for
 * both, ws for HTTP only, wss for HTTP only and only with a
 * BackendTLSPolicy (HTTP/1.1 over TLS, upgrades allowed); any other
 * kubernetes.io/ name is unknown. Other names (IANA service names, other
 * domains) say nothing gatehouse acts on: the protocol is inferred from
 * the route kind, as without appProtocol. */
static const char *
app_unsupported(const char *ap, bool grpc, bool tls)
{
    static const char prefix[] = "kubernetes.io/";
    if (!ap || strncmp(ap, prefix, sizeof(prefix) - 1) || !strcmp(ap, "kubernetes.io/h2c"))
        return NULL;
    bool wss = !strcmp(ap, "kubernetes.io/wss");
    if (wss || !strcmp(ap, "kubernetes.io/ws")) {
        if (grpc)
            return "gRPC needs HTTP/2";
        return wss && !tls ? "WebSocket over TLS needs a BackendTLSPolicy for the port" : NULL;
    }
    return "not a protocol gatehouse speaks to backends";
}

/* Ready endpoints of the Service port sp, from its EndpointSlices. */
static void
endpoints(struct tr *t, const struct gw_service *svc, const struct gw_service_port *sp,
          struct gw_ir_backend *out)
{
    const struct gw_endpointslice *stack[16];
    size_t n =
        gw_store_service_slices(t->store, svc->meta.ns, svc->meta.name, stack, GW_ARRAY_LEN(stack));
    const struct gw_endpointslice **slices = stack;
    if (n > GW_ARRAY_LEN(stack)) {
        slices = gw_arena_alloc(&t->tmp, n * sizeof(*slices));
        gw_store_service_slices(t->store, svc->meta.ns, svc->meta.name, slices, n);
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t e = 0; e < slices[i]->endpoints.n; e++)
            total += slices[i]->endpoints.v[e].addresses.n;
    if (!total)
        return;
    out->endpoints = gw_arena_alloc(&t->ir->arena, total * sizeof(*out->endpoints));
    for (size_t i = 0; i < n; i++) {
        const struct gw_endpointslice *es = slices[i];
        if (es->address_type == GW_AF_FQDN)
            continue;
        int64_t port = -1;
        for (size_t k = 0; k < es->ports.n; k++) {
            const struct gw_endpoint_port *p = &es->ports.v[k];
            if (streq0(p->name, sp->name) || es->ports.n == 1) {
                port = p->port;
                break;
            }
        }
        if (port < 0 && !es->ports.n)
            port = sp->target_port_num >= 0 ? sp->target_port_num : sp->port;
        if (port <= 0 || port > 65535)
            continue;
        for (size_t e = 0; e < es->endpoints.n; e++) {
            const struct gw_endpoint *ep = &es->endpoints.v[e];
            if (ep->conditions.ready == 0)
                continue;
            for (size_t a = 0; a < ep->addresses.n; a++) {
                struct gw_ir_endpoint *d = &out->endpoints[out->nendpoints++];
                d->ip = gw_ir_strdup(t->ir, ep->addresses.v[a]);
                d->port = (uint16_t)port;
            }
        }
    }
}

/* "ns/name:port" ("ns/name" without a port): how the IR names a backend. */
static const char *
backend_name(struct tr *t, const char *ns, const struct gw_backend_ref *ref)
{
    char port[TR_I64_LEN];
    if (ref->port >= 0)
        return TR_CAT(&t->ir->arena, ns, "/", ref->name, ":", tr_i64(port, ref->port));
    return TR_CAT(&t->ir->arena, ns, "/", ref->name);
}

/* The resolved backend of Service port sp (weight aside), made once per
 * translate: routes sharing a Service share its name, TLS settings and
 * endpoints in the IR. The table is keyed by (sp, grpc); sp is unique to
 * its Service, and everything resolved depends on nothing else. */
struct bcache {
    const struct gw_service_port *sp;
    bool grpc;
    struct gw_ir_backend be;
};

static uint64_t
bcache_hash(const struct gw_service_port *sp, bool grpc)
{
    return (((uint64_t)(uintptr_t)sp >> 3) ^ grpc) * 0x9E3779B97F4A7C15ull;
}

static struct gw_ir_backend *
bcache_slot(struct tr *t, const struct gw_service_port *sp, bool grpc, bool *found)
{
    if ((t->nbcache + 1) * 2 > t->bcache_cap) {
        size_t cap = t->bcache_cap ? t->bcache_cap * 2 : 256;
        struct bcache *v = gw_xcalloc(cap, sizeof(*v));
        for (size_t i = 0; i < t->bcache_cap; i++) {
            const struct bcache *o = &t->bcache[i];
            if (!o->sp)
                continue;
            size_t k = bcache_hash(o->sp, o->grpc) & (cap - 1);
            while (v[k].sp)
                k = (k + 1) & (cap - 1);
            v[k] = *o;
        }
        free(t->bcache);
        t->bcache = v;
        t->bcache_cap = cap;
    }
    size_t mask = t->bcache_cap - 1;
    size_t k = bcache_hash(sp, grpc) & mask;
    while (t->bcache[k].sp && (t->bcache[k].sp != sp || t->bcache[k].grpc != grpc))
        k = (k + 1) & mask;
    struct bcache *e = &t->bcache[k];
    *found = e->sp != NULL;
    if (!*found) {
        e->sp = sp;
        e->grpc = grpc;
        t->nbcache++;
    }
    return &e->be;
}

const char *
tr_backend(struct tr *t, const struct gw_meta *route, const struct gw_backend_ref *ref, bool grpc,
           struct gw_ir_backend *out, const char **msg)
{
    const char *ns = ref->ns ? ref->ns : route->ns;
    memset(out, 0, sizeof(*out));
    out->weight = ref->weight < 0 ? 1 : (uint32_t)ref->weight;
    out->app = grpc ? GW_IR_APP_H2C : GW_IR_APP_HTTP1;
    out->invalid = true;
    const char *group = ref->group ? ref->group : "";
    const char *kind = ref->kind ? ref->kind : "Service";

    if (!strcmp(group, GW_GROUP_GATEWAY_X) && !strcmp(kind, "XBackend"))
        return tr_xbackend(t, route, ref, grpc, out, msg);
    if (*group || strcmp(kind, "Service")) {
        out->name = backend_name(t, ns, ref);
        *msg = tr_printf(t, "backendRef %s/%s: unsupported kind %s%s%s", ns, ref->name, kind,
                         *group ? "." : "", group);
        return "InvalidKind";
    }
    if (strcmp(ns, route->ns) &&
        !tr_grant_allows(t, gw_kind_group(route->kind), gw_kind_name(route->kind), route->ns, "",
                         "Service", ns, ref->name)) {
        out->name = backend_name(t, ns, ref);
        *msg = tr_printf(t, "backendRef %s/%s: no ReferenceGrant in namespace %s allows it", ns,
                         ref->name, ns);
        return "RefNotPermitted";
    }
    tr_read_service(t, ns, ref->name, true, 0, false, 0);
    const struct gw_service *svc = gw_store_service(t->store, ns, ref->name);
    if (!svc) {
        out->name = backend_name(t, ns, ref);
        *msg = tr_printf(t, "backendRef %s/%s: Service not found", ns, ref->name);
        return "BackendNotFound";
    }
    const struct gw_service_port *sp = NULL;
    for (size_t i = 0; i < svc->spec.ports.n; i++)
        if (svc->spec.ports.v[i].port == ref->port)
            sp = &svc->spec.ports.v[i];
    if (!sp) {
        out->name = backend_name(t, ns, ref);
        *msg = tr_printf(t, "backendRef %s/%s: Service has no port %lld", ns, ref->name,
                         (long long)ref->port);
        return "BackendNotFound";
    }
    bool found;
    struct gw_ir_backend *be = bcache_slot(t, sp, grpc, &found);
    if (!found) {
        /* ns and ref->name are the Service's, ref->port is sp's: the name
         * is the same for every ref that gets here with sp. */
        be->name = backend_name(t, ns, ref);
        be->app = app_proto(sp->app_protocol, grpc);
        const struct pol *p = tr_policy_for(t, ns, ref->name, sp->name);
        if (p) {
            if (p->valid) {
                be->tls = p->tls;
                be->app = GW_IR_APP_TLS;
            } else {
                /* An invalid policy must not fall back to plain text: 500. */
                be->invalid = true;
            }
        }
        endpoints(t, svc, sp, be);
        be->health = tr_healthcheck_for(t, svc, sp->port);
        tr_backend_policy_apply(t, svc, sp, be);
    }
    if (route->kind == GW_KIND_HTTPROUTE || route->kind == GW_KIND_GRPCROUTE) {
        const char *why = app_unsupported(sp->app_protocol, grpc, be->app == GW_IR_APP_TLS);
        if (why) {
            out->name = be->name;
            *msg = tr_printf(t, "backendRef %s/%s: port %lld has appProtocol %s: %s", ns, ref->name,
                             (long long)ref->port, sp->app_protocol, why);
            return "UnsupportedProtocol";
        }
    }
    uint32_t weight = out->weight;
    *out = *be;
    out->weight = weight;
    return NULL;
}
