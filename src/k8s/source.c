/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes source: reflectors (one per kind, discovery shared per API
 * group, started again when crds.c sees their CRD change) feed the cache; a change
 * to anything translate reads arms the debounce; a translate builds a fresh
 * store from the cache's parts, publishes the IR first and keeps the
 * statuses; then, when this replica leads, every status that differs from
 * the object's is handed to the writer. A status-only event (our own write
 * coming back, or someone else's) costs the check of that one object.
 *
 * Objects decode rejected (the API server's validation is not ours: the
 * CRDs' CEL rules, for one) get a status too, written against the
 * references they carry: a route's parents of ours say Accepted=False with
 * decode's message, a Gateway of our class is not Accepted, a class of
 * ours is not Accepted. The rest of the configuration keeps serving.
 */
#include "source/source.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ir/ir.h"
#include "k8s/internal.h"
#include "k8s/k8s.h"
#include "status/status.h"

#include "base/banned.h"

struct gw_k8s_source {
    struct gw_k8s_opts opts;
    struct gw_loop *loop;
    struct gw_k8s_config cfg;
    struct gw_k8s_http *http;
    struct gw_k8s_discovery *discovery;
    struct gw_k8s_reflector *refl[GW_KIND__COUNT];
    struct gw_k8s_crds *crds;
    struct gw_k8s_cache *cache;
    struct gw_k8s_writer *writer;
    struct gw_k8s_lease *lease;
    const char *controller;
    char *lease_ns;
    char *identity;
    char *svc_ns, *svc_name; /* the fronting Service, or NULL */
    /* What translate is given: the caller's options, and the per-Gateway
     * ports when Services are generated. */
    struct gw_status_opts sopts;
    struct gw_k8s_services *services; /* NULL: --no-gateway-services */
    struct gw_kv *selector;           /* the pods' labels (heap) */
    size_t nselector, selector_cap;
    char *selector_text;
    bool leader;
    bool started;
    /* The configuration in force. */
    struct gw_store *store;
    struct gw_status *status;
    struct gw_ir *ir;
    struct gw_diags diags;
    bool synced;     /* every kind's first list is in */
    bool translated; /* ... and translated */
    bool dirty;      /* a change waits for the debounce */
    struct gw_source_debounce debounce;
    struct gw_timer timer;
    /* After the first translate, until the start-up status writes are
     * done: then the heap reserve is topped up (on_settle). */
    struct gw_timer settle;
    size_t snapshot_bytes; /* what the first translate kept */
    gw_source_publish_fn publish;
    void *publish_data;
    /* metrics */
    uint64_t translates, status_checks;
    uint64_t events_ignored; /* Service/EndpointSlice changes translate would not see */
    uint64_t last_duration_us;
    double last_time;
};

/* RFC 3339 UTC, seconds: what lastTransitionTime holds. */
static void
now_text(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */

int
gw_k8s_source_new(const struct gw_k8s_opts *opts, struct gw_loop *loop, struct gw_k8s_source **out,
                  char **err)
{
    *err = NULL;
    struct gw_k8s_source *s = gw_xcalloc(1, sizeof(*s));
    s->opts = *opts;
    s->loop = loop;
    gw_diags_init(&s->diags);
    int rc;
    if (opts->kubeconfig) {
        rc = gw_k8s_config_kubeconfig(opts->kubeconfig, opts->context, &s->cfg, err);
    } else {
        rc = gw_k8s_config_incluster(opts->incluster_dir, &s->cfg, err);
        if (rc == GW_ENOTFOUND) {
            free(*err);
            *err = NULL;
            rc = gw_k8s_config_kubeconfig(NULL, opts->context, &s->cfg, err);
        }
    }
    if (rc < 0)
        goto fail;
    if ((rc = gw_k8s_http_new(loop, &s->cfg, &s->http)) < 0) {
        *err = gw_xasprintf("API client for %s: %s", s->cfg.server, gw_strerror(rc));
        goto fail;
    }
    if (opts->status)
        s->sopts = *opts->status;
    if (!opts->no_gateway_services) {
        s->sopts.gateway_port_base = opts->gateway_port_base ? opts->gateway_port_base : 20000;
        /* "k=v,k=v": the pods the generated Services select. */
        s->selector_text = gw_xstrdup(opts->pod_selector ? opts->pod_selector
                                                         : "app.kubernetes.io/name=gatehouse");
        for (char *p = s->selector_text, *next; p && *p; p = next) {
            next = strchr(p, ',');
            if (next)
                *next++ = '\0';
            char *eq = strchr(p, '=');
            if (!eq || eq == p) {
                *err = gw_xasprintf("the pod selector must be KEY=VALUE[,KEY=VALUE], not '%s'",
                                    opts->pod_selector);
                rc = GW_EINVAL;
                goto fail;
            }
            *eq = '\0';
            s->selector =
                gw_xgrow(s->selector, &s->selector_cap, s->nselector + 1, sizeof(*s->selector));
            s->selector[s->nselector++] = (struct gw_kv){.key = p, .value = eq + 1};
        }
    }
    s->controller = opts->status && opts->status->controller_name ? opts->status->controller_name
                                                                  : GW_CONTROLLER_NAME;
    if (opts->service) {
        const char *slash = strchr(opts->service, '/');
        if (!slash || slash == opts->service || !slash[1] || strchr(slash + 1, '/')) {
            *err =
                gw_xasprintf("the gateway Service must be NAMESPACE/NAME, not '%s'", opts->service);
            rc = GW_EINVAL;
            goto fail;
        }
        s->svc_ns = gw_xstrndup(opts->service, (size_t)(slash - opts->service));
        s->svc_name = gw_xstrdup(slash + 1);
    }
    s->lease_ns = gw_xstrdup(opts->lease_ns     ? opts->lease_ns
                             : s->cfg.namespace ? s->cfg.namespace
                                                : "default");
    char host[256] = "gatehouse";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->identity = gw_xasprintf("%s_%ld_%08lx", host, (long)getpid(),
                               (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 12)) & 0xffffffffu);
    gw_source_debounce_init(&s->debounce, opts->quiet_ms ? opts->quiet_ms : 20,
                            opts->max_ms ? opts->max_ms : 200);
    *out = s;
    return 0;
fail:
    gw_k8s_source_free(s);
    return rc < 0 ? rc : GW_EINVAL;
}

void
gw_k8s_source_free(struct gw_k8s_source *s)
{
    if (!s)
        return;
    if (s->started) {
        gw_timer_stop(&s->timer);
        gw_timer_stop(&s->settle);
    }
    gw_k8s_crds_free(s->crds);
    for (int k = 0; k < GW_KIND__COUNT; k++)
        gw_k8s_reflector_free(s->refl[k]);
    gw_k8s_discovery_free(s->discovery);
    gw_k8s_writer_free(s->writer);
    gw_k8s_services_free(s->services);
    /* A leader releases the Lease (the next replica need not wait it out):
     * the one request that must go out before the client goes. */
    bool leading = s->lease && gw_k8s_lease_is_leader(s->lease);
    gw_k8s_lease_free(s->lease);
    if (leading && s->http && gw_k8s_http_flush(s->http, 2000) < 0)
        gw_log_warn("kubernetes: the Lease release did not complete");
    gw_k8s_http_free(s->http);
    gw_k8s_cache_free(s->cache);
    gw_k8s_config_release(&s->cfg);
    if (s->status)
        gw_status_free(s->status);
    gw_ir_unref(s->ir);
    if (s->store) {
        gw_store_release(s->store);
        free(s->store);
    }
    gw_diags_release(&s->diags);
    free(s->lease_ns);
    free(s->identity);
    free(s->svc_ns);
    free(s->svc_name);
    free(s->selector);
    free(s->selector_text);
    free(s);
}

void
gw_k8s_source_on_publish(struct gw_k8s_source *s, gw_source_publish_fn fn, void *data)
{
    s->publish = fn;
    s->publish_data = data;
}

/* ------------------------------------------------------------------------ */
/* Desired statuses                                                         */

static const char *
sv_str(const struct gw_sv *obj, const char *key)
{
    const struct gw_sv *v = obj ? gw_sv_get(obj, key) : NULL;
    return v && v->type == GW_SV_STR ? v->s : NULL;
}

/* Service ns/name's addresses (status.loadBalancer.ingress, else its
 * clusterIP) as a status.addresses array from pool; NULL when there is no
 * such Service or it has no address yet. */
static struct gw_sv *
service_addresses(struct gw_k8s_source *s, struct gw_sv_pool *pool, const char *ns,
                  const char *name)
{
    const struct gw_k8s_obj *o = gw_k8s_cache_get(s->cache, GW_KIND_SERVICE, ns, name);
    if (!o || !o->obj)
        return NULL;
    struct gw_sv *arr = gw_sv_new(pool, GW_SV_ARR);
    const struct gw_sv *status = gw_k8s_obj_status(o, pool);
    const struct gw_sv *lb = status ? gw_sv_get(status, "loadBalancer") : NULL;
    const struct gw_sv *ing = lb ? gw_sv_get(lb, "ingress") : NULL;
    for (const struct gw_sv *e = ing && ing->type == GW_SV_ARR ? ing->child : NULL; e;
         e = e->next) {
        const char *ip = sv_str(e, "ip"), *hostname = sv_str(e, "hostname");
        if (!ip && !hostname)
            continue;
        struct gw_sv *a = gw_sv_add_obj(pool, arr, NULL);
        gw_sv_add_str(pool, a, "type", ip ? "IPAddress" : "Hostname");
        gw_sv_add_str(pool, a, "value", ip ? ip : hostname);
    }
    const struct gw_service *svc = (const struct gw_service *)(const void *)o->obj;
    if (!arr->n && svc->spec.cluster_ip && strcmp(svc->spec.cluster_ip, "None") != 0) {
        struct gw_sv *a = gw_sv_add_obj(pool, arr, NULL);
        gw_sv_add_str(pool, a, "type", "IPAddress");
        gw_sv_add_str(pool, a, "value", svc->spec.cluster_ip);
    }
    return arr->n ? arr : NULL;
}

/* desired, with status.addresses taken from a Service for a Gateway
 * without spec.addresses that binds no address of the pool: its generated
 * Service's, else the fronting Service's. A shallow copy whose addresses
 * member is replaced (desired's subtrees are shared, never changed). */
static const struct gw_sv *
gateway_desired(struct gw_k8s_source *s, struct gw_sv_pool *pool, const struct gw_k8s_obj *o,
                const struct gw_sv *desired)
{
    if (!o->obj || s->sopts.address_pool)
        return desired;
    const struct gw_gateway *gw = (const struct gw_gateway *)(const void *)o->obj;
    if (gw->spec.addresses.n)
        return desired;
    struct gw_sv *addrs = NULL;
    if (s->services) {
        char name[64];
        gw_status_gateway_service_name(gw->meta.name, name, sizeof(name));
        addrs = service_addresses(s, pool, gw->meta.ns, name);
    }
    if (!addrs && s->svc_name)
        addrs = service_addresses(s, pool, s->svc_ns, s->svc_name);
    if (!addrs)
        return desired;
    struct gw_sv *copy = gw_sv_new(pool, GW_SV_OBJ);
    bool put = false;
    for (const struct gw_sv *m = desired->child; m; m = m->next) {
        if (!strcmp(m->key, "addresses")) {
            gw_sv_add(copy, "addresses", addrs);
            put = true;
            continue;
        }
        struct gw_sv *c = gw_sv_new(pool, m->type);
        *c = *m;
        c->next = NULL;
        gw_sv_add(copy, m->key, c);
    }
    if (!put)
        gw_sv_add(copy, "addresses", addrs);
    return copy;
}

/* A condition of a rejected object. */
static void
add_condition(struct gw_sv_pool *p, struct gw_sv *conds, const char *type, const char *reason,
              const char *msg, int64_t generation)
{
    struct gw_sv *c = gw_sv_add_obj(p, conds, NULL);
    gw_sv_add_str(p, c, "type", type);
    gw_sv_add_str(p, c, "status", "False");
    gw_sv_add_str(p, c, "reason", reason);
    gw_sv_add_str(p, c, "message", msg);
    gw_sv_add_int(p, c, "observedGeneration", generation);
    gw_sv_add_str(p, c, "lastTransitionTime", "1970-01-01T00:00:00Z");
}

/* Why decode rejected o, in one line (the first error), from pool. */
static const char *
rejection(struct gw_sv_pool *p, const struct gw_k8s_obj *o)
{
    for (size_t i = 0; i < o->diags.n; i++) {
        const struct gw_diag *g = &o->diags.v[i];
        if (g->severity != GW_SEV_ERROR)
            continue;
        char *t = g->path ? gw_xasprintf("invalid object: %s: %s", g->path, g->message)
                          : gw_xasprintf("invalid object: %s", g->message);
        const char *r = gw_arena_strdup(p->arena, t);
        free(t);
        return r;
    }
    return "invalid object";
}

static bool
class_is_ours(struct gw_k8s_source *s, const char *name)
{
    if (!name || !s->store)
        return false;
    const struct gw_gatewayclass *gc = gw_store_gatewayclass(s->store, NULL, name);
    return gc && gc->spec.controller_name && !strcmp(gc->spec.controller_name, s->controller);
}

static bool
gateway_is_ours(struct gw_k8s_source *s, const char *ns, const char *name)
{
    if (!s->store || !ns || !name)
        return false;
    const struct gw_gateway *gw = gw_store_gateway(s->store, ns, name);
    return gw && class_is_ours(s, gw->spec.gateway_class_name);
}

static bool
is_route(enum gw_kind k)
{
    return k == GW_KIND_HTTPROUTE || k == GW_KIND_GRPCROUTE || k == GW_KIND_TLSROUTE ||
           k == GW_KIND_TCPROUTE || k == GW_KIND_UDPROUTE;
}

static bool
refs_service(const struct gw_backend_ref *v, size_t n, const char *rns, const char *ns,
             const char *name)
{
    for (size_t i = 0; i < n; i++)
        if ((!v[i].group || !*v[i].group) && (!v[i].kind || !strcmp(v[i].kind, "Service")) &&
            v[i].name && !strcmp(v[i].name, name) && !strcmp(v[i].ns ? v[i].ns : rns, ns))
            return true;
    return false;
}

/* Whether Service ns/name is a backend of an HTTPRoute or GRPCRoute that
 * translate gave a status (one of ours): a Service-targeting policy of it
 * is ours to answer. */
static bool
service_is_ours(struct gw_k8s_source *s, const char *ns, const char *name)
{
    if (!s->store || !s->status || !gw_store_service(s->store, ns, name))
        return false;
    size_t n;
    const struct gw_meta *const *v = gw_store_list(s->store, GW_KIND_HTTPROUTE, &n);
    for (size_t i = 0; i < n; i++) {
        const struct gw_httproute *h = (const void *)v[i];
        if (!gw_status_find(s->status, GW_KIND_HTTPROUTE, h->meta.ns, h->meta.name))
            continue;
        for (size_t r = 0; r < h->spec.rules.n; r++)
            if (refs_service(h->spec.rules.v[r].backend_refs.v, h->spec.rules.v[r].backend_refs.n,
                             h->meta.ns, ns, name))
                return true;
    }
    v = gw_store_list(s->store, GW_KIND_GRPCROUTE, &n);
    for (size_t i = 0; i < n; i++) {
        const struct gw_grpcroute *g = (const void *)v[i];
        if (!gw_status_find(s->status, GW_KIND_GRPCROUTE, g->meta.ns, g->meta.name))
            continue;
        for (size_t r = 0; r < g->spec.rules.n; r++)
            if (refs_service(g->spec.rules.v[r].backend_refs.v, g->spec.rules.v[r].backend_refs.n,
                             g->meta.ns, ns, name))
                return true;
    }
    return false;
}

/* Kinds whose status is status.ancestors (GEP-713). */
static bool
is_policy(enum gw_kind k)
{
    return gw_kind_is_policy(k);
}

/* A rejected gatehouse.dev (or x-k8s.io) policy: Accepted=False Invalid on each of its
 * targets that is ours (a Gateway of our classes, a route translate gave a
 * status, or a Service such a route uses), named as the ancestor; NULL if
 * none is. */
static const struct gw_sv *
rejected_policy(struct gw_k8s_source *s, struct gw_sv_pool *p, const struct gw_k8s_obj *o,
                const char *msg)
{
    const struct gw_sv *refs = o->refs ? gw_sv_get(o->refs, "targetRefs") : NULL;
    struct gw_sv *st = gw_sv_new(p, GW_SV_OBJ);
    struct gw_sv *anc = gw_sv_add_arr(p, st, "ancestors");
    bool any = false;
    for (const struct gw_sv *r = refs && refs->type == GW_SV_ARR ? refs->child : NULL; r;
         r = r->next) {
        const char *group = sv_str(r, "group"), *k = sv_str(r, "kind"), *name = sv_str(r, "name");
        if (!group || !k || !name)
            continue;
        bool svc = !*group && !strcmp(k, "Service");
        if (!svc && strcmp(group, GW_GROUP_GATEWAY) != 0)
            continue;
        enum gw_kind kind;
        bool ours;
        if (svc)
            ours = service_is_ours(s, o->ns, name);
        else if (!strcmp(k, "Gateway"))
            ours = gateway_is_ours(s, o->ns, name);
        else
            ours = gw_kind_from_name(k, &kind) == 0 && is_route(kind) && s->status &&
                   gw_status_find(s->status, kind, o->ns, name);
        if (!ours)
            continue;
        any = true;
        struct gw_sv *e = gw_sv_add_obj(p, anc, NULL);
        struct gw_sv *ar = gw_sv_add_obj(p, e, "ancestorRef");
        gw_sv_add_str(p, ar, "group", svc ? "" : GW_GROUP_GATEWAY);
        gw_sv_add_str(p, ar, "kind", k);
        gw_sv_add_str(p, ar, "namespace", o->ns);
        gw_sv_add_str(p, ar, "name", name);
        gw_sv_add_str(p, e, "controllerName", s->controller);
        struct gw_sv *conds = gw_sv_add_arr(p, e, "conditions");
        add_condition(p, conds, "Accepted", "Invalid", msg, o->generation);
    }
    return any ? st : NULL;
}

/* The status a rejected object gets, or NULL when it is not ours. */
static const struct gw_sv *
rejected_desired(struct gw_k8s_source *s, struct gw_sv_pool *p, enum gw_kind kind,
                 const struct gw_k8s_obj *o)
{
    const char *msg = rejection(p, o);
    struct gw_sv *st = gw_sv_new(p, GW_SV_OBJ);
    if (kind == GW_KIND_GATEWAYCLASS) {
        const char *ctl = sv_str(o->refs, "controllerName");
        if (!ctl || strcmp(ctl, s->controller) != 0)
            return NULL;
        struct gw_sv *conds = gw_sv_add_arr(p, st, "conditions");
        add_condition(p, conds, "Accepted", "InvalidParameters", msg, o->generation);
        return st;
    }
    if (kind == GW_KIND_GATEWAY) {
        if (!class_is_ours(s, sv_str(o->refs, "gatewayClassName")))
            return NULL;
        struct gw_sv *conds = gw_sv_add_arr(p, st, "conditions");
        add_condition(p, conds, "Accepted", "Invalid", msg, o->generation);
        add_condition(p, conds, "Programmed", "Invalid", msg, o->generation);
        return st;
    }
    if (is_policy(kind) && strcmp(gw_kind_group(kind), GW_GROUP_GATEHOUSE) == 0)
        return rejected_policy(s, p, o, msg);
    /* The Gateway API's experimental policies (XBackendTrafficPolicy): the same. */
    if (is_policy(kind) && strcmp(gw_kind_group(kind), GW_GROUP_GATEWAY_X) == 0)
        return rejected_policy(s, p, o, msg);
    if (!is_route(kind))
        return NULL;
    const struct gw_sv *refs = o->refs ? gw_sv_get(o->refs, "parentRefs") : NULL;
    struct gw_sv *parents = gw_sv_add_arr(p, st, "parents");
    for (const struct gw_sv *r = refs && refs->type == GW_SV_ARR ? refs->child : NULL; r;
         r = r->next) {
        const char *group = sv_str(r, "group"), *k = sv_str(r, "kind");
        const char *ns = sv_str(r, "namespace"), *name = sv_str(r, "name");
        if ((group && strcmp(group, GW_GROUP_GATEWAY) != 0) || (k && strcmp(k, "Gateway") != 0))
            continue;
        if (!gateway_is_ours(s, ns ? ns : o->ns, name))
            continue;
        struct gw_sv *e = gw_sv_add_obj(p, parents, NULL);
        struct gw_sv *pr = gw_sv_add_obj(p, e, "parentRef");
        gw_sv_add_str(p, pr, "group", GW_GROUP_GATEWAY);
        gw_sv_add_str(p, pr, "kind", "Gateway");
        gw_sv_add_str(p, pr, "namespace", ns ? ns : o->ns);
        gw_sv_add_str(p, pr, "name", name);
        const char *section = sv_str(r, "sectionName");
        if (section)
            gw_sv_add_str(p, pr, "sectionName", section);
        const struct gw_sv *port = gw_sv_get(r, "port");
        if (port && port->type == GW_SV_INT)
            gw_sv_add_int(p, pr, "port", port->i);
        gw_sv_add_str(p, e, "controllerName", s->controller);
        struct gw_sv *conds = gw_sv_add_arr(p, e, "conditions");
        add_condition(p, conds, "Accepted", "UnsupportedValue", msg, o->generation);
    }
    return st;
}

/* What ns/name of kind should have as its status, before the merge with
 * what it has: translate's, a rejected object's, an empty list of parents
 * (our stale entries go) for a route or policy translate gave nothing, or
 * NULL for an object that is none of our business. */
static const struct gw_sv *
desired_of(struct gw_k8s_source *s, struct gw_sv_pool *p, enum gw_kind kind,
           const struct gw_k8s_obj *o)
{
    if (!o->obj)
        return rejected_desired(s, p, kind, o);
    const struct gw_status_item *it =
        s->status ? gw_status_find(s->status, kind, o->ns, o->name) : NULL;
    if (it)
        return kind == GW_KIND_GATEWAY ? gateway_desired(s, p, o, it->status) : it->status;
    if (is_route(kind) || is_policy(kind)) {
        struct gw_sv *st = gw_sv_new(p, GW_SV_OBJ);
        gw_sv_add_arr(p, st, is_policy(kind) ? "ancestors" : "parents");
        return st;
    }
    return NULL;
}

static bool
has_status(enum gw_kind k)
{
    return k == GW_KIND_GATEWAYCLASS || k == GW_KIND_GATEWAY || k == GW_KIND_LISTENERSET ||
           is_route(k) || is_policy(k);
}

/* metadata.namespace and .name of an object's document (borrowed); false
 * without a name, or without a namespace for a namespaced kind. */
static bool
node_ns_name(enum gw_kind kind, const struct gw_node *obj, const char **ns, const char **name)
{
    const struct gw_node *md = obj ? gw_node_get(obj, "metadata") : NULL;
    const struct gw_node *nn = md ? gw_node_get(md, "name") : NULL;
    const struct gw_node *nsn = md ? gw_node_get(md, "namespace") : NULL;
    *name = nn && nn->type == GW_NODE_STR ? nn->text : NULL;
    *ns = nsn && nsn->type == GW_NODE_STR ? nsn->text : NULL;
    return *name && (*ns || !gw_kind_is_namespaced(kind));
}

/* The cached object an event's or answer's document names, or NULL. */
static struct gw_k8s_obj *
cached_of(const struct gw_k8s_source *s, enum gw_kind kind, const struct gw_node *obj)
{
    const char *ns, *name;
    return node_ns_name(kind, obj, &ns, &name) ? gw_k8s_cache_get(s->cache, kind, ns, name) : NULL;
}

static struct gw_sv *
remerge(void *data, struct gw_sv_pool *pool, enum gw_kind kind, const struct gw_node *object)
{
    struct gw_k8s_source *s = data;
    if (!s->leader || !object)
        return NULL;
    const struct gw_k8s_obj *o = cached_of(s, kind, object);
    if (!o)
        return NULL;
    const struct gw_sv *desired = desired_of(s, pool, kind, o);
    if (!desired)
        return NULL;
    const struct gw_node *st = gw_node_get(object, "status");
    const struct gw_sv *cur = st && st->type == GW_NODE_MAP ? gw_k8s_sv_from_node(pool, st) : NULL;
    char now[32];
    now_text(now);
    return gw_k8s_status_merge(pool, kind, desired, cur, s->controller, now);
}

/* A hash of a value tree: equal trees (in member order) hash equal. */
static uint64_t
sv_hash(uint64_t h, const struct gw_sv *v)
{
    h = gw_k8s_fnv(h, &v->type, sizeof(v->type));
    if (v->key)
        h = gw_k8s_fnv(h, v->key, strlen(v->key) + 1);
    if (v->type == GW_SV_STR && v->s)
        h = gw_k8s_fnv(h, v->s, strlen(v->s) + 1);
    else if (v->type == GW_SV_INT || v->type == GW_SV_BOOL)
        h = gw_k8s_fnv(h, &v->i, sizeof(v->i));
    for (const struct gw_sv *c = v->child; c; c = c->next)
        h = sv_hash(h, c);
    return gw_k8s_fnv(h, "}", 1);
}

/*
 * Hands o's status to the writer when it differs from what it has. The
 * merge (which reads o's status) runs only when the desired status or
 * o's status changed since the last comparison (or when forced: on
 * taking the Lease): a translate compares thousands of unchanged objects
 * at the cost of a hash each.
 */
static void
check_one(struct gw_k8s_source *s, enum gw_kind kind, struct gw_k8s_obj *o, const char *now,
          bool force)
{
    struct gw_arena a;
    gw_arena_init(&a, 4096);
    struct gw_sv_pool p;
    gw_sv_pool_init(&p, &a);
    const struct gw_sv *desired = desired_of(s, &p, kind, o);
    uint64_t h = desired ? sv_hash(GW_K8S_FNV_OFFSET, desired) : 0;
    if (desired && (force || o->status_changed || h != o->desired_hash)) {
        s->status_checks++;
        struct gw_sv *cur = gw_k8s_obj_status(o, &p);
        struct gw_sv *merged = gw_k8s_status_merge(&p, kind, desired, cur, s->controller, now);
        if (merged)
            gw_k8s_writer_want(s->writer, kind, o->ns, o->name, o->rv, merged, remerge, s);
    }
    o->desired_hash = h;
    o->status_changed = false;
    gw_arena_release(&a);
}

static void
check_all(struct gw_k8s_source *s, bool force)
{
    if (!s->leader || !s->translated)
        return;
    char now[32];
    now_text(now);
    for (int k = 0; k < GW_KIND__COUNT; k++) {
        if (!has_status((enum gw_kind)k))
            continue;
        size_t n;
        struct gw_k8s_obj *const *v = gw_k8s_cache_list(s->cache, (enum gw_kind)k, &n);
        for (size_t i = 0; i < n; i++)
            check_one(s, (enum gw_kind)k, v[i], now, force);
    }
}

/* ------------------------------------------------------------------------ */
/* Translate                                                                */

/*
 * The start-up status writes (one per object) leave the heap holding
 * their statuses and fragments of the reserve: the first change then took
 * thousands of page faults (51 ms from create to 200 at 5,000 routes,
 * against 11 ms for the next ones). Once they are done, the reserve is
 * topped up to a whole snapshot: the free heap malloc can reuse, not more
 * (gw_source_reserve_heap takes what is free first).
 */
#define SETTLE_MS 1000

static void
on_settle(struct gw_timer *t)
{
    struct gw_k8s_source *s = t->data;
    if (s->dirty || (s->writer && gw_k8s_writer_pending(s->writer))) {
        gw_timer_start(&s->settle, SETTLE_MS);
        return;
    }
    gw_source_reserve_heap(s->snapshot_bytes);
}

static void
translate(struct gw_k8s_source *s)
{
    uint64_t t0 = gw_clock_mono_us();
    size_t heap0 = s->translated ? 0 : mallinfo2().uordblks;
    s->dirty = false;
    struct gw_store *store = gw_xmalloc(sizeof(*store));
    gw_store_init(store);
    struct gw_diags diags;
    gw_diags_init(&diags);
    gw_k8s_cache_store(s->cache, store, &diags);
    uint64_t t_store = gw_clock_mono_us();
    struct gw_status_pending *pending = NULL;
    struct gw_ir *ir = NULL;
    int rc = gw_status_translate_ir(store, &s->sopts, &pending, &ir);
    if (rc < 0) {
        gw_log_error("kubernetes: translate failed: %s; the previous configuration stays",
                     gw_strerror(rc));
        gw_store_release(store);
        free(store);
        gw_diags_release(&diags);
        return;
    }
    if (s->publish)
        s->publish(s->publish_data, ir);
    uint64_t t1 = gw_clock_mono_us();
    struct gw_status *st = gw_status_pending_finish(pending);
    struct gw_status *old_status = s->status;
    struct gw_ir *old_ir = s->ir;
    struct gw_store *old_store = s->store;
    size_t old_errors = s->diags.errors;
    gw_diags_release(&s->diags);
    s->diags = diags;
    s->status = st;
    s->ir = ir;
    s->store = store;
    if (old_status)
        gw_status_free(old_status);
    gw_ir_unref(old_ir);
    if (old_store) {
        gw_store_release(old_store);
        free(old_store);
    }
    bool first = !s->translated;
    s->translated = true;
    /* The first lists' pages and JSON are gone: give the heap they took
     * back (a large first list would otherwise stay in the RSS); then
     * reserve three quarters of what the snapshot took (store, IR,
     * statuses), which the next change builds beside it. */
    if (first) {
        size_t kept = mallinfo2().uordblks;
        s->snapshot_bytes = kept > heap0 ? kept - heap0 : 0;
        malloc_trim(0);
        gw_source_reserve_heap(s->snapshot_bytes / 4 * 3);
        gw_timer_start(&s->settle, SETTLE_MS);
    }
    s->translates++;
    s->last_duration_us = gw_clock_mono_us() - t0;
    s->last_time = gw_clock_real();
    if (first || s->diags.errors != old_errors || s->diags.errors)
        for (size_t i = 0; i < s->diags.n && i < 20; i++) {
            struct gw_buf line;
            gw_buf_init(&line, 16 * 1024);
            gw_diag_format(&s->diags.v[i], &line);
            gw_log_warn("%s", line.p ? line.p : "");
            gw_buf_release(&line);
        }
    gw_log_info("kubernetes: translated %zu objects, %zu errors in %.1f ms (publish after "
                "%.1f ms: store %.1f, translate %.1f)",
                gw_store_size(store), s->diags.errors, (double)s->last_duration_us / 1000.0,
                (double)(t1 - t0) / 1000.0, (double)(t_store - t0) / 1000.0,
                (double)(t1 - t_store) / 1000.0);
    check_all(s, false);
    if (s->leader && s->services)
        gw_k8s_services_sync(s->services, s->store, s->status);
}

static void
on_timer(struct gw_timer *t)
{
    struct gw_k8s_source *s = t->data;
    gw_source_debounce_clear(&s->debounce);
    translate(s);
    gw_loop_update_time(s->loop);
    gw_source_debounce_done(&s->debounce, gw_loop_now(s->loop));
}

static void
arm(struct gw_k8s_source *s)
{
    s->dirty = true;
    if (!s->synced)
        return;
    uint64_t now = gw_loop_now(s->loop);
    gw_source_debounce_touch(&s->debounce, now, true);
    uint64_t due = gw_source_debounce_due(&s->debounce);
    gw_timer_start(&s->timer, due > now ? due - now : 0);
}

static bool
all_synced(const struct gw_k8s_source *s)
{
    for (int k = 0; k < GW_KIND__COUNT; k++)
        if (s->refl[k] && !gw_k8s_reflector_is_synced(s->refl[k]))
            return false;
    return true;
}

/*
 * Service and EndpointSlice changes the configuration in force does not
 * depend on: a Service no backendRef names (nor its slices), and a
 * Gateway's generated Service coming back with the ports translate gave it
 * (the first translate does not have it yet: without this, every start
 * translated everything twice). The translation records what it read of
 * Services (gw_status_reads_service_whole, gw_status_service_reads_same);
 * the store of the next translate is built from the cache anyway.
 *
 * Whether the cached ns/name of kind (NULL: none) is one translate does not
 * read; a rejected object always counts (its error is in the diagnostics).
 * before: the object as it was, which the configuration in force was
 * translated from: what matters is only whether it was rejected, and an
 * EndpointSlice's Service (a label, which may change).
 */
static bool
translate_ignores(const struct gw_k8s_source *s, enum gw_kind kind, const char *ns,
                  const char *name, bool before)
{
    const struct gw_k8s_obj *o = gw_k8s_cache_get(s->cache, kind, ns, name);
    if (o && !o->obj)
        return false;
    if (kind == GW_KIND_ENDPOINTSLICE) {
        const struct gw_endpointslice *es = o ? (const void *)o->obj : NULL;
        return !es || !es->service_name ||
               !gw_status_reads_service_whole(s->status, ns, es->service_name);
    }
    return before ||
           (!gw_status_reads_service_whole(s->status, ns, name) &&
            gw_status_service_reads_same(
                s->status, ns, name, o ? (const struct gw_service *)(const void *)o->obj : NULL));
}

/* After an ignored Service event: the Gateways whose addresses it gives. */
static void
service_addresses_changed(struct gw_k8s_source *s, const char *ns, const char *name,
                          const struct gw_node *obj)
{
    if (s->svc_name && !strcmp(s->svc_ns, ns) && !strcmp(s->svc_name, name)) {
        check_all(s, false);
        return;
    }
    const struct gw_node *md = gw_node_get(obj, "metadata");
    const struct gw_node *labels = md ? gw_node_get(md, "labels") : NULL;
    const struct gw_node *gn = labels && labels->type == GW_NODE_MAP
                                   ? gw_node_get(labels, "gateway.networking.k8s.io/gateway-name")
                                   : NULL;
    struct gw_k8s_obj *g = gn && gn->type == GW_NODE_STR
                               ? gw_k8s_cache_get(s->cache, GW_KIND_GATEWAY, ns, gn->text)
                               : NULL;
    if (g && s->leader) {
        char now[32];
        now_text(now);
        check_one(s, GW_KIND_GATEWAY, g, now, false);
    }
}

static bool
is_absent(const struct gw_k8s_source *s, int k)
{
    return s->refl[k] && gw_k8s_reflector_is_absent(s->refl[k]);
}

/* Once, at the first sync: the kinds not served, by API group, and how
 * they will be noticed. */
static void
log_absent(const struct gw_k8s_source *s)
{
    struct gw_buf b;
    gw_buf_init(&b, 4096);
    bool done[GW_KIND__COUNT] = {0};
    size_t n = 0;
    for (int k = 0; k < GW_KIND__COUNT; k++) {
        if (done[k] || !is_absent(s, k))
            continue;
        const char *group = gw_kind_group((enum gw_kind)k);
        gw_buf_appendf(&b, "%s%s: ", n ? "; " : "", group[0] ? group : "core");
        const char *sep = "";
        for (int j = k; j < GW_KIND__COUNT; j++) {
            if (done[j] || !is_absent(s, j) || strcmp(gw_kind_group((enum gw_kind)j), group))
                continue;
            gw_buf_appendf(&b, "%s%s", sep, gw_kind_name((enum gw_kind)j));
            sep = ", ";
            done[j] = true;
            n++;
        }
    }
    if (n)
        gw_log_warn("kubernetes: %zu kind%s not served by the API server (no "
                    "CustomResourceDefinition installed): %s; %s",
                    n, n == 1 ? "" : "s", b.p,
                    gw_k8s_crds_is_polling(s->crds)
                        ? "polling discovery for them (CRDs cannot be watched)"
                    : gw_k8s_crds_is_synced(s->crds)
                        ? "each starts as soon as its CRD is installed (CRDs are watched)"
                        : "each starts as soon as its CRD is installed (CRDs are being listed)");
    gw_buf_release(&b);
}

static void
on_event(void *data, enum gw_kind kind, enum gw_k8s_event ev, const struct gw_node *obj)
{
    struct gw_k8s_source *s = data;
    const char *ns = NULL, *name = NULL;
    bool ignorable = (kind == GW_KIND_SERVICE || kind == GW_KIND_ENDPOINTSLICE) &&
                     (ev == GW_K8S_ADDED || ev == GW_K8S_MODIFIED || ev == GW_K8S_DELETED) &&
                     s->translated && !s->dirty && s->status &&
                     node_ns_name(kind, obj, &ns, &name) &&
                     translate_ignores(s, kind, ns, name, true);
    unsigned changed = gw_k8s_cache_event(s->cache, kind, ev, obj);
    if ((changed & GW_K8S_CHANGED_CONFIG) && ignorable &&
        translate_ignores(s, kind, ns, name, false)) {
        s->events_ignored++;
        if (kind == GW_KIND_SERVICE)
            service_addresses_changed(s, ns, name, obj);
    } else if (changed & GW_K8S_CHANGED_CONFIG)
        arm(s);
    else if ((changed & GW_K8S_CHANGED_STATUS) && s->leader && s->translated && !s->dirty &&
             has_status(kind) && obj) {
        struct gw_k8s_obj *o = cached_of(s, kind, obj);
        if (o) {
            char now[32];
            now_text(now);
            check_one(s, kind, o, now, false);
        }
    }
    if (!s->synced && ev == GW_K8S_LIST_END && all_synced(s)) {
        s->synced = true;
        size_t n = 0;
        for (int k = 0; k < GW_KIND__COUNT; k++)
            n += gw_k8s_cache_count(s->cache, (enum gw_kind)k);
        gw_log_info("kubernetes: every kind listed (%zu objects)", n);
        log_absent(s);
        arm(s);
    }
}

static void
on_leader(void *data, bool leader)
{
    struct gw_k8s_source *s = data;
    if (leader == s->leader)
        return;
    s->leader = leader;
    if (leader) {
        gw_log_info("kubernetes: leading (Lease %s/%s): writing status", s->lease_ns,
                    s->opts.lease_name ? s->opts.lease_name : "gatehouse");
        check_all(s, true);
        if (s->services && s->translated)
            gw_k8s_services_sync(s->services, s->store, s->status);
    } else {
        gw_log_warn("kubernetes: lost the Lease: status writes stop");
        gw_k8s_writer_clear(s->writer);
    }
}

static void
services_again(void *data)
{
    struct gw_k8s_source *s = data;
    if (s->leader && s->translated)
        gw_k8s_services_sync(s->services, s->store, s->status);
}

/* crds.c: a kind's CRD appeared, changed or went. */
static void
on_crd(void *data, enum gw_kind kind, enum gw_k8s_recheck how)
{
    struct gw_k8s_source *s = data;
    if (s->refl[kind])
        gw_k8s_reflector_recheck(s->refl[kind], how);
}

/* crds.c cannot watch the CRDs: every absent kind looks again (their
 * lookups share one discovery round per group). */
static void
on_crd_poll(void *data)
{
    struct gw_k8s_source *s = data;
    for (int k = 0; k < GW_KIND__COUNT; k++)
        if (s->refl[k])
            gw_k8s_reflector_recheck(s->refl[k], GW_K8S_RECHECK_POLL);
}

static const char *
version_of(void *data, enum gw_kind kind)
{
    struct gw_k8s_source *s = data;
    return s->refl[kind] ? gw_k8s_reflector_version(s->refl[kind]) : NULL;
}

int
gw_k8s_source_start(struct gw_k8s_source *s)
{
    int rc;
    s->cache = gw_k8s_cache_new();
    gw_timer_init(s->loop, &s->timer, on_timer, s);
    gw_timer_init(s->loop, &s->settle, on_settle, s);
    s->started = true;
    struct gw_k8s_writer_opts wo = {
        .http = s->http,
        .loop = s->loop,
        .qps = s->opts.qps > 0 ? s->opts.qps : 50,
        .burst = s->opts.burst > 0 ? s->opts.burst : 100,
        .controller = s->controller,
        .version_of = version_of,
        .data = s,
    };
    if ((rc = gw_k8s_writer_new(&wo, &s->writer)) < 0)
        return rc;
    if (s->selector_text) {
        struct gw_k8s_services_opts so = {
            .http = s->http,
            .loop = s->loop,
            .controller = s->controller,
            .selector = s->selector,
            .nselector = s->nselector,
            .again = services_again,
            .data = s,
        };
        if ((rc = gw_k8s_services_new(&so, &s->services)) < 0)
            return rc;
    }
    s->discovery = gw_k8s_discovery_new(s->http, s->loop);
    for (int k = 0; k < GW_KIND__COUNT; k++) {
        struct gw_k8s_reflector_opts ro = {
            .http = s->http,
            .loop = s->loop,
            .discovery = s->discovery,
            .kind = (enum gw_kind)k,
            .namespaces = gw_kind_is_namespaced((enum gw_kind)k) ? s->opts.namespaces : NULL,
            .on_event = on_event,
            .data = s,
        };
        if ((rc = gw_k8s_reflector_new(&ro, &s->refl[k])) < 0)
            return rc;
    }
    struct gw_k8s_crds_opts co = {
        .http = s->http,
        .loop = s->loop,
        .on_change = on_crd,
        .on_poll = on_crd_poll,
        .data = s,
    };
    if ((rc = gw_k8s_crds_new(&co, &s->crds)) < 0)
        return rc;
    for (int k = 0; k < GW_KIND__COUNT; k++)
        gw_k8s_reflector_start(s->refl[k]);
    gw_k8s_crds_start(s->crds);
    if (s->opts.no_leader_elect) {
        on_leader(s, true);
    } else {
        struct gw_k8s_lease_opts lo = {
            .http = s->http,
            .loop = s->loop,
            .ns = s->lease_ns,
            .name = s->opts.lease_name ? s->opts.lease_name : "gatehouse",
            .identity = s->identity,
            .lease_ms = 15000,
            .renew_ms = 10000,
            .retry_ms = 2000,
            .on_change = on_leader,
            .data = s,
        };
        if ((rc = gw_k8s_lease_new(&lo, &s->lease)) < 0)
            return rc;
        gw_k8s_lease_start(s->lease);
    }
    gw_log_info("kubernetes: watching %s as %s", s->cfg.server, s->identity);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* What the admin server shows                                              */

bool
gw_k8s_source_is_synced(const struct gw_k8s_source *s)
{
    return s->synced && s->translated;
}

struct gw_ir *
gw_k8s_source_ir(const struct gw_k8s_source *s)
{
    return s->ir;
}

int
gw_k8s_source_status_format(const struct gw_k8s_source *s, struct gw_buf *out)
{
    return gw_source_status_list_format(s->status, &s->diags, out);
}

int
gw_k8s_source_metrics_format(const struct gw_k8s_source *s, struct gw_buf *out)
{
    static const char *const evname[] = {"list_begin", "added", "modified", "deleted", "list_end"};
    double now = gw_clock_real();
    int rc = gw_buf_append_cstr(
        out, "# HELP gatehouse_kube_watch_events_total Objects delivered by lists and watches, "
             "by kind and event.\n"
             "# TYPE gatehouse_kube_watch_events_total counter\n");
    for (int k = 0; rc == 0 && k < GW_KIND__COUNT; k++) {
        const struct gw_k8s_reflector_stats *st =
            s->refl[k] ? gw_k8s_reflector_stats(s->refl[k]) : NULL;
        for (int e = GW_K8S_ADDED; st && rc == 0 && e <= GW_K8S_DELETED; e++)
            rc = gw_buf_appendf(out,
                                "gatehouse_kube_watch_events_total{kind=\"%s\",event=\"%s\"} "
                                "%llu\n",
                                gw_kind_name((enum gw_kind)k), evname[e],
                                (unsigned long long)st->events[e]);
    }
    if (rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_kube_lists_total Lists by kind (relists "
                                     "after 410 Gone included).\n"
                                     "# TYPE gatehouse_kube_lists_total counter\n");
    for (int k = 0; rc == 0 && k < GW_KIND__COUNT; k++) {
        const struct gw_k8s_reflector_stats *st =
            s->refl[k] ? gw_k8s_reflector_stats(s->refl[k]) : NULL;
        if (st)
            rc = gw_buf_appendf(out, "gatehouse_kube_lists_total{kind=\"%s\"} %llu\n",
                                gw_kind_name((enum gw_kind)k), (unsigned long long)st->lists);
    }
    if (rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_kube_relists_total Relists after a watch "
                                     "could not resume (410 Gone), by kind.\n"
                                     "# TYPE gatehouse_kube_relists_total counter\n");
    for (int k = 0; rc == 0 && k < GW_KIND__COUNT; k++) {
        const struct gw_k8s_reflector_stats *st =
            s->refl[k] ? gw_k8s_reflector_stats(s->refl[k]) : NULL;
        if (st)
            rc = gw_buf_appendf(out, "gatehouse_kube_relists_total{kind=\"%s\"} %llu\n",
                                gw_kind_name((enum gw_kind)k), (unsigned long long)st->relists);
    }
    if (rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_kube_last_event_age_seconds Seconds "
                                     "since the last object event of a kind (-1: none yet).\n"
                                     "# TYPE gatehouse_kube_last_event_age_seconds gauge\n");
    for (int k = 0; rc == 0 && k < GW_KIND__COUNT; k++) {
        const struct gw_k8s_reflector_stats *st =
            s->refl[k] ? gw_k8s_reflector_stats(s->refl[k]) : NULL;
        if (st)
            rc = gw_buf_appendf(out, "gatehouse_kube_last_event_age_seconds{kind=\"%s\"} %.3f\n",
                                gw_kind_name((enum gw_kind)k),
                                st->last_event > 0 ? now - st->last_event : -1.0);
    }
    if (rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_kube_kind_installed Whether the API "
                                     "server serves a kind (its CRD is installed).\n"
                                     "# TYPE gatehouse_kube_kind_installed gauge\n");
    for (int k = 0; rc == 0 && k < GW_KIND__COUNT; k++) {
        const struct gw_k8s_reflector_stats *st =
            s->refl[k] ? gw_k8s_reflector_stats(s->refl[k]) : NULL;
        if (st)
            rc = gw_buf_appendf(out, "gatehouse_kube_kind_installed{kind=\"%s\"} %d\n",
                                gw_kind_name((enum gw_kind)k), st->installed ? 1 : 0);
    }
    if (rc == 0 && s->crds)
        rc = gw_buf_appendf(out,
                            "# HELP gatehouse_kube_crds_watched Whether CustomResourceDefinitions "
                            "are watched (0: forbidden or absent; kinds not installed are polled "
                            "for).\n"
                            "# TYPE gatehouse_kube_crds_watched gauge\n"
                            "gatehouse_kube_crds_watched %d\n",
                            gw_k8s_crds_is_polling(s->crds) ? 0 : 1);
    const struct gw_k8s_http_stats *hs = s->http ? gw_k8s_http_stats(s->http) : NULL;
    if (rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_kube_requests_total API requests that "
                                     "ended, by HTTP code (0: no response).\n"
                                     "# TYPE gatehouse_kube_requests_total counter\n");
    for (int c = 0; hs && rc == 0 && c < 600; c++)
        if (hs->by_code[c])
            rc = gw_buf_appendf(out, "gatehouse_kube_requests_total{code=\"%d\"} %llu\n", c,
                                (unsigned long long)hs->by_code[c]);
    const struct gw_k8s_writer_stats *ws = s->writer ? gw_k8s_writer_stats(s->writer) : NULL;
    if (rc == 0)
        rc = gw_buf_appendf(
            out,
            "# HELP gatehouse_kube_requests_in_flight API requests in flight (watches "
            "included).\n"
            "# TYPE gatehouse_kube_requests_in_flight gauge\n"
            "gatehouse_kube_requests_in_flight %llu\n"
            "# HELP gatehouse_kube_status_writes_total Status writes, by result.\n"
            "# TYPE gatehouse_kube_status_writes_total counter\n"
            "gatehouse_kube_status_writes_total{result=\"ok\"} %llu\n"
            "gatehouse_kube_status_writes_total{result=\"conflict\"} %llu\n"
            "gatehouse_kube_status_writes_total{result=\"error\"} %llu\n"
            "# HELP gatehouse_kube_status_requests_total Requests the status writer sent (each "
            "through the --status-qps limit).\n"
            "# TYPE gatehouse_kube_status_requests_total counter\n"
            "gatehouse_kube_status_requests_total %llu\n"
            "# HELP gatehouse_kube_status_writes_pending Status writes queued.\n"
            "# TYPE gatehouse_kube_status_writes_pending gauge\n"
            "gatehouse_kube_status_writes_pending %zu\n"
            "# HELP gatehouse_kube_leader Whether this replica holds the Lease (writes "
            "status).\n"
            "# TYPE gatehouse_kube_leader gauge\n"
            "gatehouse_kube_leader %d\n"
            "# HELP gatehouse_kube_leader_transitions_total Times this replica gained or lost "
            "the Lease.\n"
            "# TYPE gatehouse_kube_leader_transitions_total counter\n"
            "gatehouse_kube_leader_transitions_total %llu\n"
            "# HELP gatehouse_config_translations_total Translations of the objects listed.\n"
            "# TYPE gatehouse_config_translations_total counter\n"
            "gatehouse_config_translations_total %llu\n"
            "# HELP gatehouse_kube_events_ignored_total Service and EndpointSlice changes "
            "the configuration in force does not depend on (no translation).\n"
            "# TYPE gatehouse_kube_events_ignored_total counter\n"
            "gatehouse_kube_events_ignored_total %llu\n"
            "# HELP gatehouse_config_last_reload_duration_seconds Duration of the last "
            "translation.\n"
            "# TYPE gatehouse_config_last_reload_duration_seconds gauge\n"
            "gatehouse_config_last_reload_duration_seconds %.6f\n"
            "# HELP gatehouse_config_last_reload_timestamp_seconds When the last translation "
            "ended.\n"
            "# TYPE gatehouse_config_last_reload_timestamp_seconds gauge\n"
            "gatehouse_config_last_reload_timestamp_seconds %.3f\n"
            "# HELP gatehouse_config_errors Errors in the configuration in force.\n"
            "# TYPE gatehouse_config_errors gauge\n"
            "gatehouse_config_errors %zu\n"
            "# HELP gatehouse_config_objects_rejected Objects decode rejected.\n"
            "# TYPE gatehouse_config_objects_rejected gauge\n"
            "gatehouse_config_objects_rejected %zu\n",
            (unsigned long long)(hs ? hs->in_flight : 0), (unsigned long long)(ws ? ws->writes : 0),
            (unsigned long long)(ws ? ws->conflicts : 0), (unsigned long long)(ws ? ws->errors : 0),
            (unsigned long long)(ws ? ws->requests : 0),
            s->writer ? gw_k8s_writer_pending(s->writer) : (size_t)0, s->leader ? 1 : 0,
            (unsigned long long)(s->lease ? gw_k8s_lease_transitions(s->lease) : 0),
            (unsigned long long)s->translates, (unsigned long long)s->events_ignored,
            (double)s->last_duration_us / 1e6, s->last_time, s->diags.errors,
            s->cache ? gw_k8s_cache_rejected(s->cache) : (size_t)0);
    if (rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_config_objects Objects in the "
                                     "configuration in force, by kind.\n"
                                     "# TYPE gatehouse_config_objects gauge\n");
    for (int k = 0; rc == 0 && k < GW_KIND__COUNT; k++)
        rc = gw_buf_appendf(out, "gatehouse_config_objects{kind=\"%s\"} %zu\n",
                            gw_kind_name((enum gw_kind)k),
                            s->cache ? gw_k8s_cache_decoded(s->cache, (enum gw_kind)k) : (size_t)0);
    if (rc == 0)
        rc = gw_buf_appendf(out,
                            "# HELP gatehouse_routes_not_ready Routes with a parent of ours not "
                            "Accepted or with unresolved references.\n"
                            "# TYPE gatehouse_routes_not_ready gauge\n"
                            "gatehouse_routes_not_ready %zu\n",
                            s->status ? s->status->routes_not_ready : 0);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The feed                                                                 */

static void
feed_on_publish(void *self, gw_source_publish_fn fn, void *data)
{
    gw_k8s_source_on_publish(self, fn, data);
}

static int
feed_start(void *self, struct gw_loop *loop)
{
    struct gw_k8s_source *s = self;
    (void)loop; /* the source's own, given at creation */
    int rc = gw_k8s_source_start(s);
    if (rc < 0)
        gw_log_error("kubernetes: start: %s", gw_strerror(rc));
    return rc;
}

static bool
feed_is_synced(const void *self)
{
    return gw_k8s_source_is_synced(self);
}

static struct gw_ir *
feed_ir(const void *self)
{
    return gw_k8s_source_ir(self);
}

static int
feed_status(const void *self, struct gw_buf *out)
{
    return gw_k8s_source_status_format(self, out);
}

static int
feed_metrics(const void *self, struct gw_buf *out)
{
    return gw_k8s_source_metrics_format(self, out);
}

static void
feed_free(void *self)
{
    gw_k8s_source_free(self);
}

void
gw_k8s_source_feed(struct gw_k8s_source *s, struct gw_feed *out)
{
    *out = (struct gw_feed){
        .self = s,
        .on_publish = feed_on_publish,
        .start = feed_start,
        .is_synced = feed_is_synced,
        .ir = feed_ir,
        .status_format = feed_status,
        .metrics_format = feed_metrics,
        .free = feed_free,
    };
}
