/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Service per Gateway (internal.h): each Gateway of ours gets an address
 * of its own from a Service that selects the gatehouse pods and maps each
 * listener port to the port the pods bind for that Gateway (translate's
 * gwports: two Gateways may both listen on port 80).
 *
 * The Service is written whole with server-side apply, so a field gatehouse
 * stops setting goes, and a field others set (a cloud's, kube-proxy's)
 * stays. Every applied Service carries the hash of what was applied
 * (annotation gatehouse.dev/applied-hash): a sync that would apply the same
 * content makes no request, so a steady state makes none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/internal.h"

#include "base/banned.h"

#define MAX_IN_FLIGHT   4
#define RETRY_MS        10000
#define HASH_ANNOTATION "gatehouse.dev/applied-hash"
#define LABEL_GATEWAY   "gateway.networking.k8s.io/gateway-name"
#define LABEL_MANAGED   "app.kubernetes.io/managed-by"
#define MANAGED_BY      "gatehouse"

/* A request in flight, or an applied content not yet seen back. */
struct sreq {
    struct gw_k8s_services *r;
    char *ns, *name;
    char hash[17]; /* applied; "" for a delete */
    struct gw_k8s_req *req;
    bool done; /* answered 2xx: the hash is what the server has now */
};

struct gw_k8s_services {
    struct gw_k8s_services_opts o;
    struct sreq **v;
    size_t n, cap;
    size_t in_flight;
    bool limited; /* the last sync stopped at MAX_IN_FLIGHT */
    struct gw_timer retry;
    struct gw_k8s_services_stats stats;
};

static void on_retry(struct gw_timer *t);

int
gw_k8s_services_new(const struct gw_k8s_services_opts *o, struct gw_k8s_services **out)
{
    struct gw_k8s_services *r = gw_xcalloc(1, sizeof(*r));
    r->o = *o;
    gw_timer_init(o->loop, &r->retry, on_retry, r);
    *out = r;
    return 0;
}

static void
sreq_free(struct sreq *q)
{
    if (q->req)
        gw_k8s_req_cancel(q->req);
    free(q->ns);
    free(q->name);
    free(q);
}

void
gw_k8s_services_free(struct gw_k8s_services *r)
{
    if (!r)
        return;
    gw_timer_stop(&r->retry);
    for (size_t i = 0; i < r->n; i++)
        sreq_free(r->v[i]);
    free(r->v);
    free(r);
}

const struct gw_k8s_services_stats *
gw_k8s_services_stats(const struct gw_k8s_services *r)
{
    return &r->stats;
}

static struct sreq *
find(struct gw_k8s_services *r, const char *ns, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i]->ns, ns) && !strcmp(r->v[i]->name, name))
            return r->v[i];
    return NULL;
}

static void
forget(struct gw_k8s_services *r, struct sreq *q)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i] == q) {
            r->v[i] = r->v[--r->n];
            break;
        }
    sreq_free(q);
}

static void
on_retry(struct gw_timer *t)
{
    struct gw_k8s_services *r = t->data;
    if (r->o.again)
        r->o.again(r->o.data);
}

static void
on_done(void *data, const struct gw_k8s_resp *resp)
{
    struct sreq *q = data;
    struct gw_k8s_services *r = q->r;
    q->req = NULL;
    r->in_flight--;
    bool ok = resp->code >= 200 && resp->code < 300;
    if (ok || (resp->code == 404 && !q->hash[0])) {
        if (q->hash[0])
            r->stats.applied++;
        else
            r->stats.deleted++;
        q->done = true;
        if (!q->hash[0])
            forget(r, q);
        if (r->limited && !gw_timer_is_active(&r->retry))
            gw_timer_start(&r->retry, 0); /* the rest of a large sync */
        return;
    }
    r->stats.errors++;
    gw_log_warn("kubernetes: %s Service %s/%s: HTTP %ld%s%.300s",
                q->hash[0] ? "applying" : "deleting", q->ns, q->name, resp->code,
                resp->len ? ": " : "", resp->len ? resp->body : "");
    forget(r, q);
    if (!gw_timer_is_active(&r->retry))
        gw_timer_start(&r->retry, RETRY_MS);
}

/* ------------------------------------------------------------------------ */
/* The Service                                                              */

static void
json_kv(struct gw_buf *b, bool *first, const char *k, const char *v)
{
    gw_buf_append_cstr(b, *first ? "" : ",");
    *first = false;
    gw_buf_append_json_str(b, k, strlen(k));
    gw_buf_append_char(b, ':');
    gw_buf_append_json_str(b, v, strlen(v));
}

/* A ConfigMap's value, NUL-terminated, or NULL. */
static const char *
cm_value(const struct gw_store *store, const struct gw_object_ref *ref, const char *ns,
         const char *key)
{
    if (!ref || !ref->kind || strcmp(ref->kind, "ConfigMap") != 0 || (ref->group && *ref->group))
        return NULL;
    const struct gw_configmap *cm = gw_store_configmap(store, ref->ns ? ref->ns : ns, ref->name);
    const struct gw_bytes *v = cm ? gw_bytes_get(cm->data.v, cm->data.n, key) : NULL;
    return v ? (const char *)v->data : NULL;
}

/* The parameters of g's Service: the Gateway's infrastructure ConfigMap,
 * else its class's. */
static const char *
param(const struct gw_store *store, const struct gw_gateway *g, const char *key)
{
    const struct gw_gateway_infrastructure *inf = g->spec.infrastructure;
    const char *v = inf ? cm_value(store, inf->parameters_ref, g->meta.ns, key) : NULL;
    if (v)
        return v;
    const struct gw_gatewayclass *gc =
        gw_store_gatewayclass(store, NULL, g->spec.gateway_class_name);
    return gc ? cm_value(store, gc->spec.parameters_ref, NULL, key) : NULL;
}

/* serviceAnnotations (a YAML or JSON map of strings) as JSON members. */
static void
param_annotations(const char *text, struct gw_buf *b, bool *first)
{
    struct gw_docs docs;
    gw_docs_init(&docs);
    struct gw_diags diags;
    gw_diags_init(&diags);
    if (gw_docs_add_yaml(&docs, "serviceAnnotations", text, strlen(text), &diags) == 0 &&
        docs.n == 1 && docs.v[0].root && docs.v[0].root->type == GW_NODE_MAP) {
        const struct gw_node *m = docs.v[0].root;
        for (size_t i = 0; i < m->n; i++)
            if (m->u.pairs[i].value->type != GW_NODE_MAP &&
                m->u.pairs[i].value->type != GW_NODE_LIST && m->u.pairs[i].value->text)
                json_kv(b, first, m->u.pairs[i].key, m->u.pairs[i].value->text);
    }
    gw_diags_release(&diags);
    gw_docs_release(&docs);
}

static bool
is_ours(const struct gw_store *store, const char *controller, const struct gw_gateway *g)
{
    const struct gw_gatewayclass *gc =
        gw_store_gatewayclass(store, NULL, g->spec.gateway_class_name);
    return gc && gc->spec.controller_name && !strcmp(gc->spec.controller_name, controller);
}

/* The applied Service of g, with hash (NULL: none) among its annotations. */
static void
service_json(const struct gw_k8s_services *r, const struct gw_store *store,
             const struct gw_status *st, const struct gw_gateway *g, const char *name,
             const char *hash, struct gw_buf *b)
{
    const struct gw_gateway_infrastructure *inf = g->spec.infrastructure;
    gw_buf_append_cstr(b, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":");
    gw_buf_append_json_str(b, name, strlen(name));
    gw_buf_append_cstr(b, ",\"namespace\":");
    gw_buf_append_json_str(b, g->meta.ns, strlen(g->meta.ns));
    gw_buf_append_cstr(b, ",\"labels\":{");
    bool first = true;
    for (size_t i = 0; inf && i < inf->labels.n; i++)
        if (strcmp(inf->labels.v[i].key, LABEL_GATEWAY) &&
            strcmp(inf->labels.v[i].key, LABEL_MANAGED))
            json_kv(b, &first, inf->labels.v[i].key, inf->labels.v[i].value);
    json_kv(b, &first, LABEL_GATEWAY, g->meta.name);
    json_kv(b, &first, LABEL_MANAGED, MANAGED_BY);
    gw_buf_append_cstr(b, "},\"annotations\":{");
    first = true;
    const char *annotations = param(store, g, "serviceAnnotations");
    if (annotations)
        param_annotations(annotations, b, &first);
    for (size_t i = 0; inf && i < inf->annotations.n; i++)
        if (strcmp(inf->annotations.v[i].key, HASH_ANNOTATION))
            json_kv(b, &first, inf->annotations.v[i].key, inf->annotations.v[i].value);
    if (hash)
        json_kv(b, &first, HASH_ANNOTATION, hash);
    gw_buf_append_cstr(b, "},\"ownerReferences\":[{\"apiVersion\":\"gateway.networking.k8s.io/v1\","
                          "\"kind\":\"Gateway\",\"name\":");
    gw_buf_append_json_str(b, g->meta.name, strlen(g->meta.name));
    gw_buf_append_cstr(b, ",\"uid\":");
    gw_buf_append_json_str(b, g->meta.uid ? g->meta.uid : "",
                           g->meta.uid ? strlen(g->meta.uid) : 0);
    gw_buf_append_cstr(b,
                       ",\"controller\":true,\"blockOwnerDeletion\":true}]},\"spec\":{\"type\":");
    const char *type = param(store, g, "serviceType");
    type = type && *type ? type : "LoadBalancer";
    gw_buf_append_json_str(b, type, strlen(type));
    gw_buf_append_cstr(b, ",\"selector\":{");
    first = true;
    for (size_t i = 0; i < r->o.nselector; i++)
        json_kv(b, &first, r->o.selector[i].key, r->o.selector[i].value);
    gw_buf_append_cstr(b, "},\"ports\":[");
    first = true;
    for (size_t i = 0; st && i < st->ngwports; i++) {
        const struct gw_status_gwport *p = &st->gwports[i];
        if (strcmp(p->ns, g->meta.ns) || strcmp(p->name, g->meta.name))
            continue;
        gw_buf_appendf(b,
                       "%s{\"name\":\"%s-%lld\",\"port\":%lld,\"targetPort\":%lld,"
                       "\"protocol\":\"%s\"}",
                       first ? "" : ",", p->udp ? "udp" : "tcp", (long long)p->port,
                       (long long)p->port, (long long)p->bind_port, p->udp ? "UDP" : "TCP");
        first = false;
    }
    gw_buf_append_cstr(b, "]}}");
}

static void
hash_text(const char *p, size_t n, char out[17])
{
    uint64_t h = gw_k8s_fnv(GW_K8S_FNV_OFFSET, p, n);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void
request(struct gw_k8s_services *r, const char *ns, const char *name, const char *hash,
        const char *body)
{
    struct sreq *q = find(r, ns, name);
    if (!q) {
        q = gw_xcalloc(1, sizeof(*q));
        q->r = r;
        q->ns = gw_xstrdup(ns);
        q->name = gw_xstrdup(name);
        r->v = gw_xgrow(r->v, &r->cap, r->n + 1, sizeof(*r->v));
        r->v[r->n++] = q;
    }
    snprintf(q->hash, sizeof(q->hash), "%s", hash ? hash : "");
    q->done = false;
    char *path = gw_xasprintf("/api/v1/namespaces/%s/services/%s%s", ns, name,
                              hash ? "?fieldManager=gatehouse&force=true" : "");
    struct gw_k8s_req_opts ro = {
        .method = hash ? "PATCH" : "DELETE",
        .path = path,
        .content_type = hash ? "application/apply-patch+yaml" : NULL,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .on_done = on_done,
        .data = q,
        .timeout_ms = 30000,
    };
    r->in_flight++;
    q->req = gw_k8s_http_request(r->o.http, &ro);
    free(path);
}

void
gw_k8s_services_sync(struct gw_k8s_services *r, const struct gw_store *store,
                     const struct gw_status *st)
{
    if (!store)
        return;
    size_t n;
    const struct gw_meta *const *gws = gw_store_list(store, GW_KIND_GATEWAY, &n);
    struct gw_buf b;
    gw_buf_init(&b, 4u << 20);
    for (size_t i = 0; i < n && r->in_flight < MAX_IN_FLIGHT; i++) {
        const struct gw_gateway *g = (const struct gw_gateway *)(const void *)gws[i];
        if (!is_ours(store, r->o.controller, g) || !g->meta.uid)
            continue;
        char name[64], hash[17];
        gw_status_gateway_service_name(g->meta.name, name, sizeof(name));
        gw_buf_reset(&b);
        service_json(r, store, st, g, name, NULL, &b);
        hash_text(b.p, b.len, hash);
        const struct gw_service *have = gw_store_service(store, g->meta.ns, name);
        const char *had = have ? gw_meta_annotation(&have->meta, HASH_ANNOTATION) : NULL;
        if (had && !strcmp(had, hash))
            continue; /* the server has it */
        struct sreq *q = find(r, g->meta.ns, name);
        if (q && !strcmp(q->hash, hash))
            continue; /* in flight, or applied and on its way back */
        if (q && q->req)
            continue; /* another version in flight: the next sync sends this one */
        gw_buf_reset(&b);
        service_json(r, store, st, g, name, hash, &b);
        request(r, g->meta.ns, name, hash, b.p);
    }
    gw_buf_release(&b);
    /* Services of ours whose Gateway is gone or no longer ours. */
    const struct gw_meta *const *svcs = gw_store_list(store, GW_KIND_SERVICE, &n);
    for (size_t i = 0; i < n && r->in_flight < MAX_IN_FLIGHT; i++) {
        const struct gw_meta *m = svcs[i];
        const char *mb = gw_meta_label(m, LABEL_MANAGED);
        const char *gn = gw_meta_label(m, LABEL_GATEWAY);
        if (!mb || strcmp(mb, MANAGED_BY) || !gn || !gw_meta_annotation(m, HASH_ANNOTATION))
            continue;
        const struct gw_gateway *g = gw_store_gateway(store, m->ns, gn);
        char name[64];
        if (g) {
            gw_status_gateway_service_name(g->meta.name, name, sizeof(name));
            if (is_ours(store, r->o.controller, g) && !strcmp(name, m->name))
                continue;
        }
        struct sreq *q = find(r, m->ns, m->name);
        if (q && (q->req || !q->hash[0]))
            continue;
        request(r, m->ns, m->name, NULL, NULL);
    }
    /* Entries whose content the server now shows are done with. */
    for (size_t i = r->n; i-- > 0;) {
        struct sreq *q = r->v[i];
        if (!q->done || q->req)
            continue;
        const struct gw_service *have = gw_store_service(store, q->ns, q->name);
        const char *had = have ? gw_meta_annotation(&have->meta, HASH_ANNOTATION) : NULL;
        if (had && !strcmp(had, q->hash))
            forget(r, q);
    }
    r->limited = r->in_flight >= MAX_IN_FLIGHT;
}
