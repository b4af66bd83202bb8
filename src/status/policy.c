/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: BackendTLSPolicy. Each policy's CA references are checked and
 * compiled into backend TLS settings; among policies targeting the same
 * Service (and the same port section, or both none) the oldest wins, the
 * others are Conflicted; a policy naming a sectionName beats one that does
 * not for that port. Status goes to every Gateway (ancestor) whose routes
 * use a targeted Service.
 */
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

static bool
older(const struct gw_backendtlspolicy *a, const struct gw_backendtlspolicy *b)
{
    if (a->meta.creation_ms != b->meta.creation_ms)
        return a->meta.creation_ms < b->meta.creation_ms;
    return strcmp(a->meta.name, b->meta.name) < 0;
}

static bool
targets(const struct gw_policy_target_ref *r, const char *svc)
{
    return (!r->group || !*r->group) && r->kind && !strcmp(r->kind, "Service") && r->name &&
           !strcmp(r->name, svc);
}

static bool
streq_null(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The policy that applies to (ns, svc, exact section), valid or not. */
static struct pol *
winner(struct tr *t, const char *ns, const char *svc, const char *section)
{
    struct pol *best = NULL;
    for (size_t i = 0; i < t->npols; i++) {
        struct pol *p = &t->pols[i];
        if (strcmp(p->p->meta.ns, ns))
            continue;
        for (size_t k = 0; k < p->p->spec.target_refs.n; k++) {
            const struct gw_policy_target_ref *r = &p->p->spec.target_refs.v[k];
            if (targets(r, svc) && streq_null(r->section_name, section) &&
                (!best || older(p->p, best->p)))
                best = p;
        }
    }
    return best;
}

const struct pol *
tr_policy_for(struct tr *t, const char *ns, const char *svc, const char *section)
{
    struct pol *p = section ? winner(t, ns, svc, section) : NULL;
    return p ? p : winner(t, ns, svc, NULL);
}

static void
compile(struct tr *t, struct pol *p)
{
    const struct gw_backendtlspolicy *bp = p->p;
    struct gw_buf ca;
    gw_buf_init(&ca, 16 * 1024 * 1024);
    size_t good = 0, nrefs = bp->spec.validation.ca_certificate_refs.n;
    for (size_t i = 0; i < nrefs; i++) {
        const struct gw_object_ref *r = &bp->spec.validation.ca_certificate_refs.v[i];
        const char *group = r->group ? r->group : "";
        if (*group || !r->kind || strcmp(r->kind, "ConfigMap")) {
            if (!p->rr_reason) {
                p->rr_reason = "InvalidKind";
                p->rr_msg = tr_printf(t, "caCertificateRefs[%zu]: kind %s%s%s is not supported", i,
                                      r->kind ? r->kind : "", *group ? "." : "", group);
            }
            continue;
        }
        const struct gw_configmap *cm = gw_store_configmap(t->store, bp->meta.ns, r->name);
        const struct gw_bytes *crt = cm ? gw_bytes_get(cm->data.v, cm->data.n, "ca.crt") : NULL;
        if (!crt || !tr_is_pem(crt->data, crt->len)) {
            if (!p->rr_reason) {
                p->rr_reason = "InvalidCACertificateRef";
                p->rr_msg = tr_printf(t, "caCertificateRefs[%zu]: ConfigMap %s/%s %s", i,
                                      bp->meta.ns, r->name, cm ? "has no PEM ca.crt" : "not found");
            }
            continue;
        }
        gw_buf_append(&ca, crt->data, crt->len);
        if (crt->len && crt->data[crt->len - 1] != '\n')
            gw_buf_append_char(&ca, '\n');
        good++;
    }
    bool system = bp->spec.validation.well_known_ca_certificates == GW_WKCA_SYSTEM;
    p->valid = good > 0 || (system && !nrefs);
    if (!p->valid) {
        p->acc_reason = "NoValidCACertificate";
        p->acc_msg = "no caCertificateRef is valid";
    }
    struct gw_ir_backend_tls *tls = gw_arena_alloc(&t->ir->arena, sizeof(*tls));
    tls->policy = gw_arena_sprintf(&t->ir->arena, "%s/%s", bp->meta.ns, bp->meta.name);
    tls->sni = gw_ir_strdup(t->ir, bp->spec.validation.hostname);
    tls->system_ca = system;
    if (ca.len) {
        tls->ca_pem = gw_arena_memdup(&t->ir->arena, ca.p, ca.len);
        tls->ca_len = ca.len;
    }
    size_t nsans = bp->spec.validation.subject_alt_names.n;
    tls->sans = gw_arena_alloc(&t->ir->arena, (nsans + 1) * sizeof(char *));
    for (size_t i = 0; i < nsans; i++) {
        const struct gw_san *s = &bp->spec.validation.subject_alt_names.v[i];
        if (s->type == GW_SAN_HOSTNAME && s->hostname)
            tls->sans[tls->nsans++] = gw_arena_sprintf(&t->ir->arena, "DNS:%s", s->hostname);
        else if (s->type == GW_SAN_URI && s->uri)
            tls->sans[tls->nsans++] = gw_arena_sprintf(&t->ir->arena, "URI:%s", s->uri);
    }
    p->tls = tls;
    gw_buf_release(&ca);
}

void
tr_policies(struct tr *t)
{
    size_t n;
    const struct gw_meta *const *v = gw_store_list(t->store, GW_KIND_BACKENDTLSPOLICY, &n);
    t->pols = gw_arena_alloc(&t->tmp, (n + 1) * sizeof(*t->pols));
    t->npols = n;
    for (size_t i = 0; i < n; i++) {
        t->pols[i].p = (const void *)v[i];
        compile(t, &t->pols[i]);
    }
    /* Conflicts: a policy loses if, for some target, an older one targets the
     * same Service and section. */
    for (size_t i = 0; i < n; i++) {
        struct pol *p = &t->pols[i];
        for (size_t k = 0; k < p->p->spec.target_refs.n; k++) {
            const struct gw_policy_target_ref *r = &p->p->spec.target_refs.v[k];
            if (!r->name)
                continue;
            struct pol *w = winner(t, p->p->meta.ns, r->name, r->section_name);
            if (w && w != p && !p->conflicted) {
                p->conflicted = true;
                p->acc_reason = "Conflicted";
                p->acc_msg = tr_printf(t, "BackendTLSPolicy %s/%s already targets Service %s%s%s",
                                       w->p->meta.ns, w->p->meta.name, r->name,
                                       r->section_name ? " port " : "",
                                       r->section_name ? r->section_name : "");
            }
        }
    }
}

static bool
refs_service(const struct gw_backend_ref *refs, size_t n, const char *route_ns, const char *ns,
             const char *svc)
{
    for (size_t i = 0; i < n; i++) {
        const struct gw_backend_ref *r = &refs[i];
        if ((!r->group || !*r->group) && (!r->kind || !strcmp(r->kind, "Service")) &&
            !strcmp(r->ns ? r->ns : route_ns, ns) && !strcmp(r->name, svc))
            return true;
    }
    return false;
}

bool
tr_route_uses_service(const struct rt *r, const char *ns, const char *svc)
{
    const char *rns = r->m->ns;
    if (r->kind == GW_KIND_HTTPROUTE) {
        const struct gw_httproute *h = (const void *)r->m;
        for (size_t i = 0; i < h->spec.rules.n; i++)
            if (refs_service(h->spec.rules.v[i].backend_refs.v, h->spec.rules.v[i].backend_refs.n,
                             rns, ns, svc))
                return true;
    } else if (r->kind == GW_KIND_GRPCROUTE) {
        const struct gw_grpcroute *g = (const void *)r->m;
        for (size_t i = 0; i < g->spec.rules.n; i++)
            if (refs_service(g->spec.rules.v[i].backend_refs.v, g->spec.rules.v[i].backend_refs.n,
                             rns, ns, svc))
                return true;
    } else {
        const struct gw_l4route *l = (const void *)r->m;
        for (size_t i = 0; i < l->spec.rules.n; i++)
            if (refs_service(l->spec.rules.v[i].backend_refs.v, l->spec.rules.v[i].backend_refs.n,
                             rns, ns, svc))
                return true;
    }
    return false;
}

void
tr_policy_status(struct tr *t)
{
    for (size_t i = 0; i < t->npols; i++) {
        struct pol *p = &t->pols[i];
        const struct gw_backendtlspolicy *bp = p->p;
        int64_t gen = bp->meta.generation;
        /* Ancestors: our Gateways, in our order, that serve a route using a
         * targeted Service. */
        struct gws **anc = gw_arena_alloc(&t->tmp, (t->ngws + 1) * sizeof(*anc));
        size_t nanc = 0;
        for (size_t g = 0; g < t->ngws; g++) {
            bool uses = false;
            for (size_t r = 0; r < t->nrts && !uses; r++) {
                const struct rt *rt = t->rts[r];
                bool on = false;
                for (size_t k = 0; k < rt->ngws; k++)
                    on = on || rt->gws[k] == &t->gws[g];
                if (!on)
                    continue;
                for (size_t k = 0; k < bp->spec.target_refs.n && !uses; k++) {
                    const struct gw_policy_target_ref *tr = &bp->spec.target_refs.v[k];
                    uses = targets(tr, tr->name ? tr->name : "") &&
                           tr_route_uses_service(rt, bp->meta.ns, tr->name);
                }
            }
            if (uses)
                anc[nanc++] = &t->gws[g];
        }
        if (!nanc)
            continue;
        struct gw_status_item *it = tr_item(t, &bp->meta);
        it->not_ready = p->conflicted || !p->valid;
        struct gw_sv *arr = gw_sv_add_arr(&t->sv, it->status, "ancestors");
        for (size_t k = 0; k < nanc; k++) {
            struct gw_sv *e = gw_sv_add_obj(&t->sv, arr, NULL);
            struct gw_sv *ar = gw_sv_add_obj(&t->sv, e, "ancestorRef");
            gw_sv_add_str(&t->sv, ar, "group", GW_GROUP_GATEWAY);
            gw_sv_add_str(&t->sv, ar, "kind", "Gateway");
            gw_sv_add_str(&t->sv, ar, "namespace", anc[k]->g->meta.ns);
            gw_sv_add_str(&t->sv, ar, "name", anc[k]->g->meta.name);
            gw_sv_add_str(&t->sv, e, "controllerName", t->controller);
            struct gw_sv *c = gw_sv_add_arr(&t->sv, e, "conditions");
            if (p->conflicted || !p->valid)
                tr_cond(t, c, "Accepted", false, p->acc_reason, p->acc_msg, gen);
            else
                tr_cond(t, c, "Accepted", true, "Accepted", "policy is accepted", gen);
            if (p->rr_reason)
                tr_cond(t, c, "ResolvedRefs", false, p->rr_reason, p->rr_msg, gen);
            else
                tr_cond(t, c, "ResolvedRefs", true, "ResolvedRefs", "all references are resolved",
                        gen);
        }
    }
}
