/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: backendRefs to an XBackend (gateway.networking.x-k8s.io/v1alpha1,
 * type ExternalHostname). Translation stays a pure function of the store:
 * the IR backend carries the hostname and port (dns_host, dns_port) and the
 * TLS settings, never an address; the data plane resolves the name
 * (src/proxy/dns.c, docs/external-backends.md). An XBackend is served for
 * HTTPRoute and GRPCRoute; its tls block is compiled into the same struct
 * gw_ir_backend_tls a BackendTLSPolicy gives, so the proxy's one upstream
 * TLS client serves both. Each (XBackend, grpc) is resolved once per
 * translate: the routes naming it share one IR backend (and so one TLS
 * context in the workers).
 */
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

struct tr_xb {
    const struct gw_xbackend *xb;
    bool grpc;
    const char *reason, *msg; /* NULL: resolved */
    struct gw_ir_backend be;
    struct tr_xb *next;
};

/* The IR TLS settings of xb's tls (mode ServerOnly or ClientAndServer), or
 * NULL with *msg. Without a validation block the system CAs check the
 * certificate against the external hostname, which is also the SNI. */
static struct gw_ir_backend_tls *
tls_settings(struct tr *t, const struct gw_xbackend *xb, const char **msg)
{
    const struct gw_xbackend_tls *x = xb->spec.tls;
    const struct gw_xbackend_validation *v = x->validation;
    struct gw_ir_backend_tls *tls = gw_arena_alloc(&t->ir->arena, sizeof(*tls));
    memset(tls, 0, sizeof(*tls));
    tls->policy = gw_arena_sprintf(&t->ir->arena, "XBackend %s/%s", xb->meta.ns, xb->meta.name);
    tls->sni =
        gw_ir_strdup(t->ir, v && v->hostname ? v->hostname : xb->spec.external_hostname->hostname);
    tls->system_ca = !v || v->well_known_ca_certificates == GW_WKCA_SYSTEM;
    if (v) {
        struct gw_buf ca;
        gw_buf_init(&ca, 16 * 1024 * 1024);
        *msg = tr_ca_bundle(t, xb->meta.ns, v->ca_certificate_refs.v, v->ca_certificate_refs.n,
                            "tls.validation.caCertificateRefs", &ca);
        if (!*msg && ca.len) {
            tls->ca_pem = gw_arena_memdup(&t->ir->arena, ca.p, ca.len);
            tls->ca_len = ca.len;
        }
        gw_buf_release(&ca);
        if (*msg)
            return NULL;
        size_t nsans = v->subject_alt_names.n;
        tls->sans = gw_arena_alloc(&t->ir->arena, (nsans + 1) * sizeof(char *));
        for (size_t i = 0; i < nsans; i++) {
            const struct gw_san *s = &v->subject_alt_names.v[i];
            if (s->type == GW_SAN_HOSTNAME && s->hostname)
                tls->sans[tls->nsans++] = gw_arena_sprintf(&t->ir->arena, "DNS:%s", s->hostname);
            else if (s->type == GW_SAN_URI && s->uri)
                tls->sans[tls->nsans++] = gw_arena_sprintf(&t->ir->arena, "URI:%s", s->uri);
        }
    }
    if (x->mode == GW_XTLS_CLIENT_AND_SERVER && x->client_certificate_ref) {
        const char *reason, *why;
        tls->client_cert = tr_secret_cert(t, &xb->meta, x->client_certificate_ref,
                                          "InvalidClientCertificateRef", &reason, &why);
        if (!tls->client_cert) {
            *msg = tr_printf(t, "tls.clientCertificateRef: %s", why);
            return NULL;
        }
    }
    return tls;
}

/* The application protocol xb asks for on a route of kind grpc, or NULL
 * with *why. */
static bool
app_of(const struct gw_xbackend *xb, bool grpc, enum gw_ir_app_proto *app, const char **why)
{
    switch (xb->spec.protocol) {
    case GW_XBP_NONE:
        *app = grpc ? GW_IR_APP_H2C : GW_IR_APP_HTTP1;
        return true;
    case GW_XBP_HTTP:
    case GW_XBP_HTTP11:
        *app = GW_IR_APP_HTTP1;
        *why = "gRPC needs HTTP/2";
        return !grpc;
    case GW_XBP_H2C:
    case GW_XBP_HTTP2:
        *app = GW_IR_APP_H2C;
        return true;
    default:
        *why = "not a protocol gatehouse speaks to an XBackend";
        return false;
    }
}

static void
resolve(struct tr *t, struct tr_xb *e)
{
    const struct gw_xbackend *xb = e->xb;
    struct gw_ir_backend *be = &e->be;
    be->name = gw_arena_sprintf(&t->ir->arena, "%s/%s", xb->meta.ns, xb->meta.name);
    be->invalid = true;
    const char *why = NULL;
    if (xb->spec.type != GW_XBT_EXTERNAL_HOSTNAME || !xb->spec.external_hostname ||
        !xb->spec.external_hostname->hostname) {
        e->reason = "BackendNotFound";
        e->msg = tr_printf(t, "XBackend %s/%s: no externalHostname", xb->meta.ns, xb->meta.name);
        return;
    }
    if (!app_of(xb, e->grpc, &be->app, &why)) {
        e->reason = "UnsupportedProtocol";
        e->msg = tr_printf(t, "XBackend %s/%s: protocol %s: %s", xb->meta.ns, xb->meta.name,
                           gw_enum_names(GW_ENUM_XB_PROTOCOL)[xb->spec.protocol - 1], why);
        return;
    }
    be->dns_host = gw_ir_strdup(t->ir, xb->spec.external_hostname->hostname);
    be->dns_port = (uint16_t)xb->spec.port.port;
    const struct gw_xbackend_tls *x = xb->spec.tls;
    if (x && x->mode != GW_XTLS_NONE) {
        if (be->app == GW_IR_APP_H2C && !e->grpc) {
            e->reason = "UnsupportedProtocol";
            e->msg = tr_printf(t, "XBackend %s/%s: HTTP/2 over TLS is served for GRPCRoute only",
                               xb->meta.ns, xb->meta.name);
            return;
        }
        be->tls = tls_settings(t, xb, &why);
        if (!be->tls) {
            /* Never plain text instead of the TLS asked for: 500. */
            e->reason = "InvalidXBackendTLS";
            e->msg = tr_printf(t, "XBackend %s/%s: %s", xb->meta.ns, xb->meta.name, why);
            return;
        }
        be->app = GW_IR_APP_TLS;
    }
    be->invalid = false;
}

const char *
tr_xbackend(struct tr *t, const struct gw_meta *route, const struct gw_backend_ref *ref, bool grpc,
            struct gw_ir_backend *out, const char **msg)
{
    const char *ns = ref->ns ? ref->ns : route->ns;
    uint32_t weight = ref->weight < 0 ? 1 : (uint32_t)ref->weight;
    memset(out, 0, sizeof(*out));
    out->weight = weight;
    out->invalid = true;
    out->name = gw_arena_sprintf(&t->ir->arena, "%s/%s", ns, ref->name);
    if (route->kind != GW_KIND_HTTPROUTE && route->kind != GW_KIND_GRPCROUTE) {
        *msg = tr_printf(t, "backendRef %s/%s: XBackend is served for HTTPRoute and GRPCRoute only",
                         ns, ref->name);
        return "InvalidKind";
    }
    if (strcmp(ns, route->ns) &&
        !tr_grant_allows(t, GW_GROUP_GATEWAY, gw_kind_name(route->kind), route->ns,
                         GW_GROUP_GATEWAY_X, "XBackend", ns, ref->name)) {
        *msg = tr_printf(t, "backendRef %s/%s: no ReferenceGrant in namespace %s allows it", ns,
                         ref->name, ns);
        return "RefNotPermitted";
    }
    const struct gw_xbackend *xb = gw_store_xbackend(t->store, ns, ref->name);
    if (!xb) {
        *msg = tr_printf(t, "backendRef %s/%s: XBackend not found", ns, ref->name);
        return "BackendNotFound";
    }
    struct tr_xb *e = t->xbs;
    while (e && (e->xb != xb || e->grpc != grpc))
        e = e->next;
    if (!e) {
        e = gw_arena_alloc(&t->tmp, sizeof(*e));
        memset(e, 0, sizeof(*e));
        e->xb = xb;
        e->grpc = grpc;
        resolve(t, e);
        e->next = t->xbs;
        t->xbs = e;
    }
    *out = e->be;
    out->weight = weight;
    *msg = e->msg;
    return e->reason;
}
