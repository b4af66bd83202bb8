/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: GatewayClasses, Gateways, ListenerSets and their listeners.
 * Which classes are ours, addresses (static, pool, wildcard), listener
 * validation (protocol, route kinds, certificates), conflicts on a port in
 * precedence order (Gateway listeners first, then ListenerSets oldest
 * first), and the status of each.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

/* ------------------------------------------------------------------------ */
/* Classes                                                                  */

static bool
class_is_ours(struct tr *t, const char *name)
{
    const struct gw_gatewayclass *c = gw_store_gatewayclass(t->store, NULL, name);
    return c && c->spec.controller_name && !strcmp(c->spec.controller_name, t->controller);
}

/* parametersRef: gatehouse takes no parameters but a ConfigMap that exists
 * (so a class or Gateway can point at one for documentation). */
static bool
params_ok(struct tr *t, const struct gw_object_ref *r, const char *ns)
{
    if (!r)
        return true;
    if ((r->group && *r->group) || !r->kind || strcmp(r->kind, "ConfigMap"))
        return false;
    return gw_store_configmap(t->store, r->ns ? r->ns : ns, r->name) != NULL;
}

void
tr_classes(struct tr *t)
{
    size_t n, nf;
    const struct gw_meta *const *v = gw_store_list(t->store, GW_KIND_GATEWAYCLASS, &n);
    const struct gw_feature *f = gw_status_features(&nf);
    for (size_t i = 0; i < n; i++) {
        const struct gw_gatewayclass *c = (const void *)v[i];
        if (!c->spec.controller_name || strcmp(c->spec.controller_name, t->controller))
            continue;
        struct gw_status_item *it = tr_item(t, &c->meta);
        struct gw_sv *conds = gw_sv_add_arr(&t->sv, it->status, "conditions");
        int64_t gen = c->meta.generation;
        if (params_ok(t, c->spec.parameters_ref, NULL))
            tr_cond(t, conds, "Accepted", true, "Accepted", "GatewayClass is accepted", gen);
        else {
            it->not_ready = true;
            tr_cond(t, conds, "Accepted", false, "InvalidParameters",
                    "parametersRef does not name an existing ConfigMap", gen);
        }
        tr_cond(t, conds, "SupportedVersion", true, "SupportedVersion",
                "Gateway API v1.6 CRDs are supported", gen);
        struct gw_sv *feats = gw_sv_add_arr(&t->sv, it->status, "supportedFeatures");
        for (size_t k = 0; k < nf; k++)
            if (f[k].claimed)
                gw_sv_add_str(&t->sv, gw_sv_add_obj(&t->sv, feats, NULL), "name", f[k].name);
    }
}

/* ------------------------------------------------------------------------ */
/* Namespaces                                                               */

bool
tr_ns_allowed(struct tr *t, const struct gw_namespaces_from *from, const char *owner_ns,
              const char *ns)
{
    int f = from ? from->from : GW_FROM_SAME;
    switch (f) {
    case GW_FROM_ALL:
        return true;
    case GW_FROM_SELECTOR: {
        size_t n;
        const struct gw_kv *labels = gw_store_namespace_labels(t->store, ns, &n);
        if (!from->selector)
            return true;
        /* Kubernetes labels every Namespace with its own name. */
        struct gw_kv stack[32];
        if (!labels && n == 0) {
            stack[0] = (struct gw_kv){.key = "kubernetes.io/metadata.name", .value = ns};
            return gw_label_selector_matches(from->selector, stack, 1);
        }
        return gw_label_selector_matches(from->selector, labels, n);
    }
    case GW_FROM_NONE:
        return false;
    default:
        return !strcmp(owner_ns, ns);
    }
}

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */

static bool
parse_ip(const char *s, unsigned char out[16], bool *v4)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 16);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = true;
        return true;
    }
    *v4 = false;
    return inet_pton(AF_INET6, s, out) == 1;
}

int
tr_pool_parse(struct tr *t, const char *cidr)
{
    const char *slash = strchr(cidr, '/');
    char ip[64];
    size_t len = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (len >= sizeof(ip))
        return GW_EINVAL;
    memcpy(ip, cidr, len);
    ip[len] = '\0';
    if (!parse_ip(ip, t->pool_net, &t->pool_v4))
        return GW_EINVAL;
    uint64_t bits = t->pool_v4 ? 32 : 128;
    if (slash && gw_str_to_u64(gw_str_from(slash + 1), bits, &bits) < 0)
        return GW_EINVAL;
    t->pool_bits = (unsigned)bits + (t->pool_v4 ? 96 : 0);
    /* Normalise to the network address. */
    for (unsigned i = t->pool_bits; i < 128; i++)
        t->pool_net[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    t->pool = true;
    return 0;
}

static bool
in_pool(struct tr *t, const unsigned char ip[16])
{
    for (unsigned i = 0; i < t->pool_bits; i++) {
        unsigned m = 0x80u >> (i % 8);
        if ((ip[i / 8] & m) != (t->pool_net[i / 8] & m))
            return false;
    }
    return true;
}

static const char *
ip_text(struct tr *t, const unsigned char ip[16], bool v4)
{
    char buf[INET6_ADDRSTRLEN];
    if (v4)
        inet_ntop(AF_INET, ip + 12, buf, sizeof(buf));
    else
        inet_ntop(AF_INET6, ip, buf, sizeof(buf));
    return gw_arena_strdup(&t->st->arena, buf);
}

static bool
ip_used(struct tr *t, const unsigned char ip[16])
{
    for (size_t g = 0; g < t->ngws; g++)
        for (size_t i = 0; i < t->gws[g].naddrs; i++) {
            unsigned char o[16];
            bool v4;
            if (parse_ip(t->gws[g].addrs[i], o, &v4) && !memcmp(o, ip, 16))
                return true;
        }
    return false;
}

/* The next free host address of the pool: network + 1 onwards, skipping
 * the addresses any Gateway already has. A pool of one or two addresses
 * (/32 and /31, /128 and /127) has no network or broadcast address to
 * skip: every address in it is usable (RFC 3021), as in LoadBalancer IP
 * pools. NULL when exhausted. */
static const char *
pool_next(struct tr *t)
{
    unsigned char ip[16];
    memcpy(ip, t->pool_net, 16);
    unsigned hostbits = 128 - t->pool_bits;
    uint64_t max = hostbits >= 20 ? (1u << 20) : ((uint64_t)1 << hostbits);
    uint64_t first = hostbits <= 1 ? 0 : 1;
    for (uint64_t k = 0; k < max; k++) {
        if (k > 0) {
            /* ip = net + k */
            unsigned carry = 1;
            for (int i = 15; i >= 0 && carry; i--) {
                unsigned v = ip[i] + carry;
                ip[i] = (unsigned char)v;
                carry = v >> 8;
            }
        }
        if (k < first)
            continue;
        if (t->pool_v4 && hostbits >= 2 && k == max - 1)
            break; /* the broadcast address */
        if (!ip_used(t, ip))
            return ip_text(t, ip, t->pool_v4);
    }
    return NULL;
}

/* Static addresses first (they are reserved before any pool allocation). */
static void
addresses_static(struct tr *t, struct gws *g)
{
    const struct gw_gateway *gw = g->g;
    g->addrs = gw_arena_alloc(&t->st->arena, (gw->spec.addresses.n + 1) * sizeof(*g->addrs));
    g->addr_types = gw_arena_alloc(&t->st->arena, (gw->spec.addresses.n + 1) * sizeof(char *));
    g->wants_pool = gw->spec.addresses.n == 0;
    for (size_t i = 0; i < gw->spec.addresses.n; i++) {
        const struct gw_gateway_address *ad = &gw->spec.addresses.v[i];
        const char *type = ad->type ? ad->type : "IPAddress";
        unsigned char ip[16];
        bool v4;
        if (strcmp(type, "IPAddress")) {
            g->accepted = false;
            g->acc_reason = "UnsupportedAddress";
            g->acc_msg =
                tr_printf(t, "spec.addresses[%zu]: address type %s is not supported", i, type);
            continue;
        }
        if (!ad->value) {
            g->wants_pool = true; /* GatewayAddressEmpty: any address of the type */
            continue;
        }
        if (!parse_ip(ad->value, ip, &v4)) {
            g->accepted = false;
            g->acc_reason = "UnsupportedAddress";
            g->acc_msg = tr_printf(t, "spec.addresses[%zu]: %s is not an IP address", i, ad->value);
            continue;
        }
        if (t->pool && !in_pool(t, ip)) {
            if (!g->prog_reason) {
                g->prog_reason = "AddressNotUsable";
                g->prog_msg = tr_printf(t, "spec.addresses[%zu]: %s is outside the address pool", i,
                                        ad->value);
            }
            continue;
        }
        g->addr_types[g->naddrs] = "IPAddress";
        g->addrs[g->naddrs++] = ip_text(t, ip, v4);
    }
}

static void
addresses_pool(struct tr *t, struct gws *g)
{
    if (!g->wants_pool || g->naddrs)
        return;
    const char *ip = t->pool ? pool_next(t) : "0.0.0.0";
    if (!ip) {
        if (!g->prog_reason) {
            g->prog_reason = "AddressNotAssigned";
            g->prog_msg = "the address pool is exhausted";
        }
        return;
    }
    g->addr_types[g->naddrs] = "IPAddress";
    g->addrs[g->naddrs++] = ip;
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                */

static unsigned
proto_kinds(const struct gw_listener *l, bool *unsupported_mode)
{
    *unsupported_mode = false;
    switch (l->proto) {
    case GW_PROTO_HTTP:
    case GW_PROTO_HTTPS:
        return KBIT(GW_KIND_HTTPROUTE) | KBIT(GW_KIND_GRPCROUTE);
    case GW_PROTO_TLS:
        if (l->tls && l->tls->mode == GW_TLS_TERMINATE &&
            !gw_status_feature_claimed("TLSRouteModeTerminate")) {
            *unsupported_mode = true;
            return 0;
        }
        return KBIT(GW_KIND_TLSROUTE);
    case GW_PROTO_TCP:
        return KBIT(GW_KIND_TCPROUTE);
    case GW_PROTO_UDP:
        return KBIT(GW_KIND_UDPROUTE);
    default:
        return 0;
    }
}

static void
lis_fail_rr(struct lis *li, const char *reason, const char *msg)
{
    if (li->resolved) {
        li->resolved = false;
        li->rr_reason = reason;
        li->rr_msg = msg;
    }
}

static bool
terminates(const struct gw_listener *l)
{
    return l->proto == GW_PROTO_HTTPS ||
           (l->proto == GW_PROTO_TLS && l->tls && l->tls->mode == GW_TLS_TERMINATE);
}

static void
listener_certs(struct tr *t, struct lis *li)
{
    const struct gw_listener *l = li->l;
    if (!terminates(l))
        return;
    if (!l->tls || !l->tls->certificate_refs.n) {
        lis_fail_rr(li, "InvalidCertificateRef",
                    "a TLS-terminating listener needs certificateRefs");
        return;
    }
    li->certs = gw_arena_alloc(&t->ir->arena, l->tls->certificate_refs.n * sizeof(*li->certs));
    for (size_t i = 0; i < l->tls->certificate_refs.n; i++) {
        const struct gw_object_ref *r = &l->tls->certificate_refs.v[i];
        const char *ns = r->ns ? r->ns : li->owner->ns;
        const char *group = r->group ? r->group : "";
        const char *kind = r->kind ? r->kind : "Secret";
        if (*group || strcmp(kind, "Secret")) {
            lis_fail_rr(li, "InvalidCertificateRef",
                        tr_printf(t, "certificateRefs[%zu]: unsupported kind %s%s%s", i, kind,
                                  *group ? "." : "", group));
            continue;
        }
        if (strcmp(ns, li->owner->ns) &&
            !tr_grant_allows(t, GW_GROUP_GATEWAY, gw_kind_name(li->owner->kind), li->owner->ns, "",
                             "Secret", ns, r->name)) {
            lis_fail_rr(li, "RefNotPermitted",
                        tr_printf(t,
                                  "certificateRefs[%zu]: Secret %s/%s: no ReferenceGrant allows "
                                  "the reference",
                                  i, ns, r->name));
            continue;
        }
        const struct gw_secret *s = gw_store_secret(t->store, ns, r->name);
        const struct gw_bytes *crt = s ? gw_bytes_get(s->data.v, s->data.n, "tls.crt") : NULL;
        const struct gw_bytes *key = s ? gw_bytes_get(s->data.v, s->data.n, "tls.key") : NULL;
        if (!s) {
            lis_fail_rr(
                li, "InvalidCertificateRef",
                tr_printf(t, "certificateRefs[%zu]: Secret %s/%s not found", i, ns, r->name));
            continue;
        }
        if (!crt || !key || !tr_is_pem(crt->data, crt->len) || !tr_is_pem(key->data, key->len)) {
            lis_fail_rr(li, "InvalidCertificateRef",
                        tr_printf(t,
                                  "certificateRefs[%zu]: Secret %s/%s has no PEM tls.crt and "
                                  "tls.key",
                                  i, ns, r->name));
            continue;
        }
        struct gw_ir_cert *c = &li->certs[li->ncerts++];
        c->secret = gw_arena_sprintf(&t->ir->arena, "%s/%s", ns, r->name);
        c->cert_pem = gw_arena_memdup(&t->ir->arena, crt->data, crt->len);
        c->cert_len = crt->len;
        c->key_pem = gw_arena_memdup(&t->ir->arena, key->data, key->len);
        c->key_len = key->len;
    }
}

/* A Secret with PEM tls.crt and tls.key, copied into the IR; NULL and a
 * reason (with *msg) if the reference does not resolve. */
struct gw_ir_cert *
tr_secret_cert(struct tr *t, const struct gw_meta *owner, const struct gw_object_ref *r,
               const char *bad_reason, const char **reason, const char **msg)
{
    const char *ns = r->ns ? r->ns : owner->ns;
    const char *group = r->group ? r->group : "";
    const char *kind = r->kind ? r->kind : "Secret";
    if (*group || strcmp(kind, "Secret")) {
        *reason = bad_reason;
        *msg = tr_printf(t, "unsupported kind %s%s%s", kind, *group ? "." : "", group);
        return NULL;
    }
    if (strcmp(ns, owner->ns) &&
        !tr_grant_allows(t, gw_kind_group(owner->kind), gw_kind_name(owner->kind), owner->ns, "",
                         "Secret", ns, r->name)) {
        *reason = "RefNotPermitted";
        *msg = tr_printf(t, "Secret %s/%s: no ReferenceGrant allows the reference", ns, r->name);
        return NULL;
    }
    const struct gw_secret *s = gw_store_secret(t->store, ns, r->name);
    const struct gw_bytes *crt = s ? gw_bytes_get(s->data.v, s->data.n, "tls.crt") : NULL;
    const struct gw_bytes *key = s ? gw_bytes_get(s->data.v, s->data.n, "tls.key") : NULL;
    if (!s || !crt || !key || !tr_is_pem(crt->data, crt->len) || !tr_is_pem(key->data, key->len)) {
        *reason = bad_reason;
        *msg = tr_printf(t, "Secret %s/%s %s", ns, r->name,
                         s ? "has no PEM tls.crt and tls.key" : "not found");
        return NULL;
    }
    struct gw_ir_cert *c = gw_arena_alloc(&t->ir->arena, sizeof(*c));
    c->secret = gw_arena_sprintf(&t->ir->arena, "%s/%s", ns, r->name);
    c->cert_pem = gw_arena_memdup(&t->ir->arena, crt->data, crt->len);
    c->cert_len = crt->len;
    c->key_pem = gw_arena_memdup(&t->ir->arena, key->data, key->len);
    c->key_len = key->len;
    return c;
}

/* spec.tls.backend.clientCertificateRef: a bad one does not reject the
 * Gateway, it sets Gateway ResolvedRefs=False. */
static void
backend_client_cert(struct tr *t, struct gws *g)
{
    const struct gw_gateway_tls *tls = g->g->spec.tls;
    if (!tls || !tls->backend || !tls->backend->client_certificate_ref)
        return;
    const char *reason = NULL, *msg = NULL;
    g->client_cert = tr_secret_cert(t, &g->g->meta, tls->backend->client_certificate_ref,
                                    "InvalidClientCertificateRef", &reason, &msg);
    g->rr_reason = g->client_cert ? "ResolvedRefs" : reason;
    g->rr_msg = g->client_cert ? "all references are resolved"
                               : tr_printf(t, "spec.tls.backend.clientCertificateRef: %s", msg);
}

/* spec.tls.frontend: client certificate validation of the HTTPS listeners
 * (per port, else the default). No valid CA: the listener is not accepted. */
static void
frontend_validation(struct tr *t, struct gws *g)
{
    const struct gw_gateway_tls *tls = g->g->spec.tls;
    if (!tls || !tls->frontend)
        return;
    const struct gw_frontend_tls *fe = tls->frontend;
    if (fe->default_ && fe->default_->validation &&
        fe->default_->validation->mode == GW_FRONTEND_INSECURE_FALLBACK)
        g->insecure_fallback = true;
    for (size_t i = 0; i < fe->per_port.n; i++) {
        const struct gw_tls_config *c = fe->per_port.v[i].tls;
        if (c && c->validation && c->validation->mode == GW_FRONTEND_INSECURE_FALLBACK)
            g->insecure_fallback = true;
    }
    for (size_t i = 0; i < g->nlis; i++) {
        struct lis *li = &g->lis[i];
        if (li->l->proto != GW_PROTO_HTTPS || !li->accepted)
            continue;
        const struct gw_tls_config *cfg = fe->default_;
        for (size_t k = 0; k < fe->per_port.n; k++)
            if (fe->per_port.v[k].port == li->l->port)
                cfg = fe->per_port.v[k].tls;
        const struct gw_frontend_validation *v = cfg ? cfg->validation : NULL;
        if (!v || !v->ca_certificate_refs.n)
            continue;
        struct gw_buf ca;
        gw_buf_init(&ca, 16 * 1024 * 1024);
        for (size_t k = 0; k < v->ca_certificate_refs.n; k++) {
            const struct gw_object_ref *r = &v->ca_certificate_refs.v[k];
            const char *ns = r->ns ? r->ns : g->g->meta.ns;
            const char *group = r->group ? r->group : "";
            if (*group || !r->kind || strcmp(r->kind, "ConfigMap")) {
                lis_fail_rr(li, "InvalidCACertificateKind",
                            tr_printf(t, "caCertificateRefs[%zu]: kind %s is not supported", k,
                                      r->kind ? r->kind : ""));
                continue;
            }
            if (strcmp(ns, g->g->meta.ns) &&
                !tr_grant_allows(t, GW_GROUP_GATEWAY, "Gateway", g->g->meta.ns, "", "ConfigMap", ns,
                                 r->name)) {
                lis_fail_rr(li, "RefNotPermitted",
                            tr_printf(t,
                                      "caCertificateRefs[%zu]: ConfigMap %s/%s: no "
                                      "ReferenceGrant allows the reference",
                                      k, ns, r->name));
                continue;
            }
            const struct gw_configmap *cm = gw_store_configmap(t->store, ns, r->name);
            const struct gw_bytes *crt = cm ? gw_bytes_get(cm->data.v, cm->data.n, "ca.crt") : NULL;
            if (!crt || !tr_is_pem(crt->data, crt->len)) {
                lis_fail_rr(li, "InvalidCACertificateRef",
                            tr_printf(t, "caCertificateRefs[%zu]: ConfigMap %s/%s %s", k, ns,
                                      r->name, cm ? "has no PEM ca.crt" : "not found"));
                continue;
            }
            gw_buf_append(&ca, crt->data, crt->len);
            if (crt->len && crt->data[crt->len - 1] != '\n')
                gw_buf_append_char(&ca, '\n');
        }
        if (ca.len) {
            li->client_ca = gw_arena_memdup(&t->ir->arena, ca.p, ca.len);
            li->client_ca_len = ca.len;
            li->client_insecure = v->mode == GW_FRONTEND_INSECURE_FALLBACK;
        } else {
            li->accepted = false;
            li->acc_reason = "NoValidCACertificate";
            li->acc_msg = "no caCertificateRef of the frontend validation is valid";
        }
        gw_buf_release(&ca);
    }
}

static void
listener_validate(struct tr *t, struct lis *li)
{
    const struct gw_listener *l = li->l;
    li->accepted = li->resolved = li->programmed = true;
    bool unsupported_mode;
    unsigned pk = proto_kinds(l, &unsupported_mode);
    if (l->proto == GW_PROTO_OTHER) {
        li->accepted = false;
        li->acc_reason = "UnsupportedProtocol";
        li->acc_msg = tr_printf(t, "protocol %s is not supported", l->protocol ? l->protocol : "");
        return;
    }
    if (unsupported_mode) {
        li->accepted = false;
        li->acc_reason = "UnsupportedValue";
        li->acc_msg = "TLS mode Terminate is not supported on TLS listeners";
        return;
    }
    const struct gw_allowed_routes *ar = l->allowed_routes;
    if (ar && ar->kinds.n) {
        for (size_t i = 0; i < ar->kinds.n; i++) {
            const struct gw_route_group_kind *k = &ar->kinds.v[i];
            const char *group = k->group ? k->group : GW_GROUP_GATEWAY;
            enum gw_kind kind;
            if (!strcmp(group, GW_GROUP_GATEWAY) && k->kind &&
                gw_kind_from_name(k->kind, &kind) == 0 && (pk & KBIT(kind))) {
                li->kinds |= KBIT(kind);
                continue;
            }
            lis_fail_rr(li, "InvalidRouteKinds",
                        tr_printf(t, "kind %s/%s is not supported on this listener", group,
                                  k->kind ? k->kind : ""));
        }
    } else {
        li->kinds = pk;
    }
    li->attach_kinds = li->kinds;
    listener_certs(t, li);
}

/* Transport class for conflicts: listeners of different classes cannot
 * share a port; UDP shares a port number with anything over TCP. */
static int
proto_class(enum gw_protocol p)
{
    switch (p) {
    case GW_PROTO_HTTP:
        return 1;
    case GW_PROTO_HTTPS:
    case GW_PROTO_TLS:
        return 2;
    case GW_PROTO_TCP:
        return 3;
    default:
        return 4;
    }
}

static bool
same_host(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcasecmp(a, b));
}

static void
conflict(struct lis *li, const char *reason)
{
    li->conflicted = true;
    li->conf_reason = reason;
    li->accepted = false;
    li->acc_reason = reason;
    li->acc_msg = !strcmp(reason, "ProtocolConflict")
                      ? "another listener on this port uses an incompatible protocol"
                      : "another listener on this port has the same hostname";
}

static bool
tls_mode_mixed(const struct gw_listener *a, const struct gw_listener *b)
{
    if (a->proto != GW_PROTO_TLS || b->proto != GW_PROTO_TLS)
        return false;
    int ma = a->tls ? a->tls->mode : GW_TLS_TERMINATE;
    int mb = b->tls ? b->tls->mode : GW_TLS_TERMINATE;
    return ma != mb && !gw_status_feature_claimed("TLSRouteModeMixed");
}

/* In precedence order, a listener conflicts with an earlier one on the same
 * port; the earlier one wins (both lose when they mix TLS modes). */
static bool
eligible(const struct lis *li)
{
    return (!li->ls || li->ls->allowed) && li->l->proto != GW_PROTO_OTHER;
}

static void
conflicts(struct gws *g)
{
    for (size_t i = 0; i < g->nlis; i++) {
        struct lis *li = &g->lis[i];
        if (!eligible(li))
            continue;
        for (size_t j = 0; j < i; j++) {
            struct lis *lj = &g->lis[j];
            if (!eligible(lj) || lj->l->port != li->l->port)
                continue;
            int ci = proto_class(li->l->proto), cj = proto_class(lj->l->proto);
            if (tls_mode_mixed(li->l, lj->l)) {
                conflict(li, "ProtocolConflict");
                conflict(lj, "ProtocolConflict");
                continue;
            }
            if (lj->conflicted || li->conflicted)
                continue;
            if ((ci == 4) != (cj == 4))
                continue; /* UDP and TCP sockets do not collide */
            if (ci != cj)
                conflict(li, "ProtocolConflict");
            else if (same_host(li->l->hostname, lj->l->hostname))
                conflict(li, "HostnameConflict");
        }
        if (li->conflicted)
            li->kinds = 0;
    }
    /* HTTPS listeners sharing a port whose hostnames overlap share TLS
     * config questions (which certificate?); the spec flags them. */
    for (size_t i = 0; i < g->nlis; i++) {
        struct lis *li = &g->lis[i];
        if (li->l->proto != GW_PROTO_HTTPS || !li->accepted)
            continue;
        for (size_t j = 0; j < g->nlis; j++) {
            struct lis *lj = &g->lis[j];
            if (i == j || lj->l->proto != GW_PROTO_HTTPS || !lj->accepted ||
                lj->l->port != li->l->port)
                continue;
            const char *x = tr_host_intersect(li->l->hostname, lj->l->hostname);
            if (x)
                li->overlapping_tls = true;
        }
    }
}

static int
cmp_ls(const void *a, const void *b)
{
    const struct lss *x = a, *y = b;
    if (x->s->meta.creation_ms != y->s->meta.creation_ms)
        return x->s->meta.creation_ms < y->s->meta.creation_ms ? -1 : 1;
    int c = strcmp(x->s->meta.ns, y->s->meta.ns);
    return c ? c : strcmp(x->s->meta.name, y->s->meta.name);
}

static int
cmp_gw(const void *a, const void *b)
{
    const struct gws *x = a, *y = b;
    if (x->g->meta.creation_ms != y->g->meta.creation_ms)
        return x->g->meta.creation_ms < y->g->meta.creation_ms ? -1 : 1;
    int c = strcmp(x->g->meta.ns, y->g->meta.ns);
    return c ? c : strcmp(x->g->meta.name, y->g->meta.name);
}

struct gws *
tr_find_gateway(struct tr *t, const char *ns, const char *name)
{
    for (size_t i = 0; i < t->ngws; i++)
        if (!strcmp(t->gws[i].g->meta.ns, ns) && !strcmp(t->gws[i].g->meta.name, name))
            return &t->gws[i];
    return NULL;
}

struct lss *
tr_find_listenerset(struct tr *t, const char *ns, const char *name)
{
    for (size_t i = 0; i < t->nlss; i++)
        if (!strcmp(t->lss[i].s->meta.ns, ns) && !strcmp(t->lss[i].s->meta.name, name))
            return &t->lss[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Per-Gateway ports                                                        */

void
gw_status_gateway_service_name(const char *gateway, char *out, size_t cap)
{
    static const char suffix[] = "-gatehouse";
    size_t n = strlen(gateway);
    if (n + sizeof(suffix) - 1 <= 63) {
        snprintf(out, cap, "%s%s", gateway, suffix);
        return;
    }
    /* FNV-1a of the whole name keeps shortened names apart. */
    uint32_t h = 2166136261u;
    for (const char *p = gateway; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    snprintf(out, cap, "%.*s-%08x%s", (int)(63 - 9 - (sizeof(suffix) - 1)), gateway, h, suffix);
}

/* Ports taken, per protocol (TCP 0, UDP 1): one bit each. */
struct portset {
    uint64_t bits[2][65536 / 64];
};

static bool
port_taken(const struct portset *ps, bool udp, int64_t port)
{
    return (ps->bits[udp][port / 64] >> (port % 64)) & 1u;
}

static void
port_take(struct portset *ps, bool udp, int64_t port)
{
    ps->bits[udp][port / 64] |= (uint64_t)1 << (port % 64);
}

/* The port an earlier listener of g with the same port and protocol was
 * given (listeners that differ by hostname share one), or -1. */
static int64_t
sibling_port(const struct gws *g, size_t upto)
{
    const struct lis *li = &g->lis[upto];
    for (size_t j = 0; j < upto; j++)
        if (g->lis[j].l->port == li->l->port && g->lis[j].bind_port > 0 &&
            (g->lis[j].l->proto == GW_PROTO_UDP) == (li->l->proto == GW_PROTO_UDP))
            return g->lis[j].bind_port;
    return -1;
}

static bool
binds_wildcard(const struct gws *g)
{
    return g->naddrs == 1 && !strcmp(g->addrs[0], "0.0.0.0");
}

/* The targetPort the Gateway's generated Service (in the store) maps port
 * to, or -1. */
static int64_t
service_target(const struct tr *t, const struct gws *g, int64_t port, bool udp)
{
    char name[64];
    gw_status_gateway_service_name(g->g->meta.name, name, sizeof(name));
    return tr_service_target(gw_store_service(t->store, g->g->meta.ns, name), port, udp,
                             t->port_base);
}

/* Every listener's bind port (see gw_status_opts.gateway_port_base), and
 * the Gateways' port lists in the status. */
static void
map_ports(struct tr *t)
{
    struct portset *ps = t->port_base ? gw_xcalloc(1, sizeof(*ps)) : NULL;
    for (size_t gi = 0; gi < t->ngws; gi++)
        for (size_t i = 0; i < t->gws[gi].nlis; i++)
            t->gws[gi].lis[i].bind_port =
                ps && binds_wildcard(&t->gws[gi]) ? -1 : t->gws[gi].lis[i].l->port;
    if (ps) {
        /* Kept first: what the generated Services already map, unless an
         * earlier Gateway holds it; then the rest, lowest free first. */
        for (int pass = 0; pass < 2; pass++)
            for (size_t gi = 0; gi < t->ngws; gi++) {
                struct gws *g = &t->gws[gi];
                for (size_t i = 0; binds_wildcard(g) && i < g->nlis; i++) {
                    struct lis *li = &g->lis[i];
                    bool udp = li->l->proto == GW_PROTO_UDP;
                    if (li->bind_port > 0)
                        continue;
                    int64_t p = sibling_port(g, i);
                    if (p < 0 && pass == 0) {
                        p = service_target(t, g, li->l->port, udp);
                        if (p > 0 && port_taken(ps, udp, p))
                            p = -1;
                    }
                    if (p < 0 && pass == 1) {
                        for (p = t->port_base; p <= 65535 && port_taken(ps, udp, p); p++)
                            ;
                        if (p > 65535)
                            p = li->l->port; /* exhausted: it conflicts, and says so */
                    }
                    if (p > 0) {
                        li->bind_port = p;
                        port_take(ps, udp, p);
                    }
                }
            }
        free(ps);
    }
    /* The status's list: one entry per distinct (port, protocol). */
    size_t n = 0;
    for (size_t gi = 0; gi < t->ngws; gi++)
        n += t->gws[gi].nlis;
    t->st->gwports = gw_arena_alloc(&t->st->arena, (n + 1) * sizeof(*t->st->gwports));
    for (size_t gi = 0; gi < t->ngws; gi++) {
        struct gws *g = &t->gws[gi];
        for (size_t i = 0; i < g->nlis; i++) {
            const struct lis *li = &g->lis[i];
            bool udp = li->l->proto == GW_PROTO_UDP, dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup =
                    g->lis[j].l->port == li->l->port && (g->lis[j].l->proto == GW_PROTO_UDP) == udp;
            if (dup)
                continue;
            t->st->gwports[t->st->ngwports++] = (struct gw_status_gwport){
                g->g->meta.ns, g->g->meta.name, li->l->port, udp, li->bind_port};
            /* The generated Service was read for it: one that maps the
             * port where it is bound leaves the ports as they are. */
            if (t->port_base && binds_wildcard(g)) {
                char name[64];
                gw_status_gateway_service_name(g->g->meta.name, name, sizeof(name));
                tr_read_service(t, g->g->meta.ns, name, false, li->l->port, udp, li->bind_port);
            }
        }
    }
}

/* Two Gateways cannot both bind one address:port: the older keeps it.
 * Whether two Gateways share an address is asked once per pair (not per
 * listener): with 1,000 Gateways of 10 listeners that was most of it. */
static bool
share_address(const struct gws *a, const struct gws *b)
{
    for (size_t x = 0; x < a->naddrs; x++)
        for (size_t y = 0; y < b->naddrs; y++)
            if (!strcmp(a->addrs[x], b->addrs[y]) || !strcmp(a->addrs[x], "0.0.0.0") ||
                !strcmp(b->addrs[y], "0.0.0.0"))
                return true;
    return false;
}

static void
port_unavailable(struct tr *t)
{
    for (size_t g = 0; g < t->ngws; g++) {
        struct gws *a = &t->gws[g];
        if (!a->accepted)
            continue; /* it binds nothing */
        for (size_t h = 0; h < g; h++) {
            struct gws *b = &t->gws[h];
            if (!b->accepted || !share_address(a, b))
                continue;
            for (size_t i = 0; i < a->nlis; i++) {
                struct lis *li = &a->lis[i];
                for (size_t j = 0; li->accepted && j < b->nlis; j++) {
                    struct lis *lj = &b->lis[j];
                    if (lj->accepted && lj->bind_port == li->bind_port &&
                        (lj->l->proto == GW_PROTO_UDP) == (li->l->proto == GW_PROTO_UDP)) {
                        li->accepted = false;
                        li->acc_reason = "PortUnavailable";
                        li->acc_msg =
                            tr_printf(t, "port %lld is in use by Gateway %s/%s",
                                      (long long)li->l->port, b->g->meta.ns, b->g->meta.name);
                        li->kinds = 0;
                    }
                }
            }
        }
    }
}

void
tr_gateways(struct tr *t)
{
    size_t n, nls;
    const struct gw_meta *const *v = gw_store_list(t->store, GW_KIND_GATEWAY, &n);
    const struct gw_meta *const *lv = gw_store_list(t->store, GW_KIND_LISTENERSET, &nls);
    t->gws = gw_arena_alloc(&t->tmp, (n + 1) * sizeof(*t->gws));
    for (size_t i = 0; i < n; i++) {
        const struct gw_gateway *g = (const void *)v[i];
        if (g->spec.gateway_class_name && class_is_ours(t, g->spec.gateway_class_name))
            t->gws[t->ngws++].g = g;
    }
    if (t->ngws > 1)
        qsort(t->gws, t->ngws, sizeof(*t->gws), cmp_gw);

    /* ListenerSets of our Gateways. */
    t->lss = gw_arena_alloc(&t->tmp, (nls + 1) * sizeof(*t->lss));
    for (size_t i = 0; i < nls; i++) {
        const struct gw_listenerset *s = (const void *)lv[i];
        const struct gw_parent_ref *p = &s->spec.parent_ref;
        if ((p->group && strcmp(p->group, GW_GROUP_GATEWAY)) ||
            (p->kind && strcmp(p->kind, "Gateway")) || !p->name)
            continue;
        struct gws *g = tr_find_gateway(t, p->ns ? p->ns : s->meta.ns, p->name);
        if (!g)
            continue;
        struct lss *ls = &t->lss[t->nlss++];
        ls->s = s;
        ls->gw = g;
        const struct gw_allowed_listeners *al = g->g->spec.allowed_listeners;
        struct gw_namespaces_from none = {.from = GW_FROM_NONE};
        ls->allowed = tr_ns_allowed(t, al && al->namespaces ? al->namespaces : &none, g->g->meta.ns,
                                    s->meta.ns);
    }
    if (t->nlss > 1)
        qsort(t->lss, t->nlss, sizeof(*t->lss), cmp_ls);

    for (size_t gi = 0; gi < t->ngws; gi++) {
        struct gws *g = &t->gws[gi];
        g->accepted = g->programmed = true;
        size_t total = g->g->spec.listeners.n;
        for (size_t i = 0; i < t->nlss; i++)
            if (t->lss[i].gw == g)
                total += t->lss[i].s->spec.listeners.n;
        g->lis = gw_arena_alloc(&t->tmp, (total + 1) * sizeof(*g->lis));
        for (size_t i = 0; i < g->g->spec.listeners.n; i++) {
            struct lis *li = &g->lis[g->nlis++];
            li->l = &g->g->spec.listeners.v[i];
            li->owner = &g->g->meta;
            li->gw = g;
        }
        g->nown = g->nlis;
        for (size_t k = 0; k < t->nlss; k++) {
            struct lss *ls = &t->lss[k];
            if (ls->gw != g)
                continue;
            ls->first = g->nlis;
            ls->n = ls->s->spec.listeners.n;
            for (size_t i = 0; i < ls->n; i++) {
                struct lis *li = &g->lis[g->nlis++];
                li->l = &ls->s->spec.listeners.v[i];
                li->owner = &ls->s->meta;
                li->gw = g;
                li->ls = ls;
            }
        }
        for (size_t i = 0; i < g->nlis; i++)
            listener_validate(t, &g->lis[i]);
        frontend_validation(t, g);
        conflicts(g);
        backend_client_cert(t, g);

        const struct gw_gateway_infrastructure *inf = g->g->spec.infrastructure;
        if (inf && !params_ok(t, inf->parameters_ref, g->g->meta.ns)) {
            g->accepted = false;
            g->acc_reason = "InvalidParameters";
            g->acc_msg = "spec.infrastructure.parametersRef does not name an existing ConfigMap";
        }
        addresses_static(t, g);

        /* A class of ours that is not Accepted provisions nothing: its
         * Gateways are rejected (and serve nothing) rather than ignored, so
         * that their status says why. */
        const struct gw_gatewayclass *c =
            gw_store_gatewayclass(t->store, NULL, g->g->spec.gateway_class_name);
        if (g->accepted && !params_ok(t, c->spec.parameters_ref, NULL)) {
            g->accepted = false;
            g->acc_reason = "Invalid";
            g->acc_msg =
                tr_printf(t, "GatewayClass %s is not accepted (InvalidParameters)", c->meta.name);
        }
    }
    for (size_t gi = 0; gi < t->ngws; gi++)
        addresses_pool(t, &t->gws[gi]);
    map_ports(t);
    port_unavailable(t);

    for (size_t gi = 0; gi < t->ngws; gi++) {
        struct gws *g = &t->gws[gi];
        size_t valid = 0, invalid = 0;
        for (size_t i = 0; i < g->nown; i++) {
            struct lis *li = &g->lis[i];
            if (li->accepted && li->resolved)
                valid++;
            else
                invalid++;
        }
        if (g->accepted) {
            if (!valid && invalid) {
                g->accepted = false;
                g->acc_reason = "ListenersNotValid";
                g->acc_msg = "no listener is valid";
            } else if (invalid) {
                g->acc_reason = "ListenersNotValid";
                g->acc_msg = tr_printf(t, "%zu of %zu listeners are not valid", invalid, g->nown);
            } else {
                g->acc_reason = "Accepted";
                g->acc_msg = "Gateway is accepted";
            }
        }
        /* A ListenerSet is accepted when its parent is and one of its
         * listeners is valid. */
        for (size_t k = 0; k < t->nlss; k++) {
            struct lss *ls = &t->lss[k];
            if (ls->gw != g || !ls->allowed)
                continue;
            for (size_t i = 0; i < ls->n; i++)
                if (g->lis[ls->first + i].accepted && g->lis[ls->first + i].resolved)
                    ls->nvalid++;
            ls->accepted = g->accepted && ls->nvalid > 0;
            if (ls->accepted)
                g->attached_sets++;
        }
        if (!g->accepted) {
            g->programmed = false;
            g->prog_reason = "Invalid";
            g->prog_msg = "the Gateway is not accepted";
        } else if (g->prog_reason || !g->naddrs) {
            g->programmed = false;
            if (!g->prog_reason) {
                g->prog_reason = "AddressNotAssigned";
                g->prog_msg = "no address could be assigned";
            }
        } else {
            g->prog_reason = "Programmed";
            g->prog_msg = "Gateway is programmed";
        }
        /* A listener is programmed when it is accepted with its refs resolved
         * (or only some of its route kinds unknown) and its Gateway is. */
        for (size_t i = 0; i < g->nlis; i++) {
            struct lis *li = &g->lis[i];
            bool refs_ok =
                li->resolved || (!strcmp(li->rr_reason, "InvalidRouteKinds") && li->kinds != 0);
            li->programmed =
                li->accepted && refs_ok && g->programmed && (!li->ls || li->ls->allowed);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Status                                                                   */

static void
listener_status(struct tr *t, struct gw_sv *arr, const struct lis *li, int64_t gen)
{
    struct gw_sv *o = gw_sv_add_obj(&t->sv, arr, NULL);
    gw_sv_add_str(&t->sv, o, "name", li->l->name);
    struct gw_sv *kinds = gw_sv_add_arr(&t->sv, o, "supportedKinds");

    static const enum gw_kind order[] = {GW_KIND_HTTPROUTE, GW_KIND_GRPCROUTE, GW_KIND_TLSROUTE,
                                         GW_KIND_TCPROUTE, GW_KIND_UDPROUTE};

    /* Listeners with the same kinds share the items (as tr_cond shares
     * conditions): thousands of listeners have one or two sets. */
    unsigned bits = 0;
    for (size_t i = 0; li->accepted && i < GW_ARRAY_LEN(order); i++)
        if (li->kinds & KBIT(order[i]))
            bits |= 1u << i;
    const struct gw_sv *memo = t->kinds_memo[bits];
    if (memo) {
        gw_sv_share(kinds, memo);
    } else {
        for (size_t i = 0; i < GW_ARRAY_LEN(order); i++)
            if (bits & (1u << i)) {
                struct gw_sv *k = gw_sv_add_obj(&t->sv, kinds, NULL);
                gw_sv_add_str(&t->sv, k, "group", GW_GROUP_GATEWAY);
                gw_sv_add_str(&t->sv, k, "kind", gw_kind_name(order[i]));
            }
        t->kinds_memo[bits] = kinds;
    }
    gw_sv_add_int(&t->sv, o, "attachedRoutes", li->attached);
    struct gw_sv *c = gw_sv_add_arr(&t->sv, o, "conditions");
    if (li->accepted)
        tr_cond(t, c, "Accepted", true, "Accepted", "listener is accepted", gen);
    else
        tr_cond(t, c, "Accepted", false, li->acc_reason, li->acc_msg, gen);
    if (li->programmed)
        tr_cond(t, c, "Programmed", true, "Programmed", "listener is programmed", gen);
    else if (li->conflicted)
        tr_cond(t, c, "Programmed", false, li->conf_reason, li->acc_msg, gen);
    else if (li->ls && !li->ls->allowed)
        tr_cond(t, c, "Programmed", false, "NotAllowed",
                "the Gateway does not allow this ListenerSet", gen);
    else
        tr_cond(t, c, "Programmed", false, "Invalid",
                li->accepted && li->resolved ? "the Gateway is not programmed"
                                             : "listener is not valid",
                gen);
    if (li->resolved)
        tr_cond(t, c, "ResolvedRefs", true, "ResolvedRefs", "all references are resolved", gen);
    else
        tr_cond(t, c, "ResolvedRefs", false, li->rr_reason, li->rr_msg, gen);
    if (li->conflicted)
        tr_cond(t, c, "Conflicted", true, li->conf_reason, li->acc_msg, gen);
    else
        tr_cond(t, c, "Conflicted", false, "NoConflicts", "no conflicts", gen);
    if (li->overlapping_tls)
        tr_cond(t, c, "OverlappingTLSConfig", true, "OverlappingHostnames",
                "another HTTPS listener on this port has an overlapping hostname", gen);
}

/* Gateway ResolvedRefs: its own references (spec.tls.backend), then a
 * summary of its listeners' ResolvedRefs (ListenersNotResolved). Written
 * when there is something to say: a backend client certificate, or a
 * listener whose references do not resolve. */
static void
gateway_resolved_refs(struct tr *t, struct gw_sv *c, const struct gws *g, int64_t gen)
{
    if (g->rr_reason && !g->client_cert) {
        tr_cond(t, c, "ResolvedRefs", false, g->rr_reason, g->rr_msg, gen);
        return;
    }
    size_t bad = 0;
    for (size_t i = 0; i < g->nown; i++)
        bad += !g->lis[i].resolved;
    if (bad)
        tr_cond(
            t, c, "ResolvedRefs", false, "ListenersNotResolved",
            tr_printf(t, "%zu of %zu listeners have references that do not resolve", bad, g->nown),
            gen);
    else if (g->rr_reason)
        tr_cond(t, c, "ResolvedRefs", true, g->rr_reason, g->rr_msg, gen);
}

void
tr_gateway_status(struct tr *t)
{
    for (size_t gi = 0; gi < t->ngws; gi++) {
        struct gws *g = &t->gws[gi];
        int64_t gen = g->g->meta.generation;
        struct gw_status_item *it = tr_item(t, &g->g->meta);
        it->not_ready = !g->accepted || !g->programmed;
        struct gw_sv *addrs = gw_sv_add_arr(&t->sv, it->status, "addresses");
        for (size_t i = 0; i < g->naddrs; i++) {
            struct gw_sv *o = gw_sv_add_obj(&t->sv, addrs, NULL);
            gw_sv_add_str(&t->sv, o, "type", g->addr_types[i]);
            gw_sv_add_str(&t->sv, o, "value", g->addrs[i]);
        }
        struct gw_sv *c = gw_sv_add_arr(&t->sv, it->status, "conditions");
        tr_cond(t, c, "Accepted", g->accepted, g->acc_reason, g->acc_msg, gen);
        tr_cond(t, c, "Programmed", g->programmed, g->prog_reason, g->prog_msg, gen);
        gateway_resolved_refs(t, c, g, gen);
        if (g->insecure_fallback)
            tr_cond(t, c, "InsecureFrontendValidationMode", true, "ConfigurationChanged",
                    "frontend TLS validation accepts clients without a valid certificate", gen);
        struct gw_sv *ls = gw_sv_add_arr(&t->sv, it->status, "listeners");
        for (size_t i = 0; i < g->nown; i++)
            listener_status(t, ls, &g->lis[i], gen);
        if (g->g->spec.allowed_listeners || g->nlis > g->nown)
            gw_sv_add_int(&t->sv, it->status, "attachedListenerSets", g->attached_sets);
    }
    for (size_t k = 0; k < t->nlss; k++) {
        struct lss *s = &t->lss[k];
        int64_t gen = s->s->meta.generation;
        struct gw_status_item *it = tr_item(t, &s->s->meta);
        struct gw_sv *c = gw_sv_add_arr(&t->sv, it->status, "conditions");
        it->not_ready = !s->accepted;
        if (!s->allowed) {
            const char *m = "the parent Gateway's allowedListeners does not allow this namespace";
            tr_cond(t, c, "Accepted", false, "NotAllowed", m, gen);
            tr_cond(t, c, "Programmed", false, "NotAllowed", m, gen);
            continue;
        }
        if (!s->gw->accepted) {
            tr_cond(t, c, "Accepted", false, "ParentNotAccepted",
                    "the parent Gateway is not accepted", gen);
            tr_cond(t, c, "Programmed", false, "ParentNotProgrammed",
                    "the parent Gateway is not accepted", gen);
        } else if (s->accepted) {
            /* As a Gateway: accepted with some listeners not valid. */
            if (s->nvalid < s->n)
                tr_cond(t, c, "Accepted", true, "ListenersNotValid",
                        tr_printf(t, "%zu of %zu listeners are not valid", s->n - s->nvalid, s->n),
                        gen);
            else
                tr_cond(t, c, "Accepted", true, "Accepted", "ListenerSet is accepted", gen);
            tr_cond(t, c, "Programmed", s->gw->programmed,
                    s->gw->programmed ? "Programmed" : "ParentNotProgrammed",
                    s->gw->programmed ? "ListenerSet is programmed"
                                      : "the parent Gateway is not programmed",
                    gen);
        } else {
            tr_cond(t, c, "Accepted", false, "ListenersNotValid", "no listener is valid", gen);
            tr_cond(t, c, "Programmed", false, "ListenersNotValid", "no listener is valid", gen);
        }
        struct gw_sv *ls = gw_sv_add_arr(&t->sv, it->status, "listeners");
        for (size_t i = 0; i < s->n; i++)
            listener_status(t, ls, &s->gw->lis[s->first + i], gen);
    }
}
