/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which of our kinds have a CustomResourceDefinition, so that a kind whose
 * CRD is installed after the start begins at once and an absent one costs
 * nothing: a reflector (list, then watch, bookmarks and 410 as for every
 * kind) of apiextensions.k8s.io/v1 customresourcedefinitions, metadata
 * only (a CRD's name is "plural.group"; the schemas are megabytes we do not
 * read). What changed for a kind goes to the owner as a gw_k8s_recheck:
 * discovery, not this, says whether the kind is served.
 *
 * Where the CRDs cannot be listed or watched (403: the RBAC rule is
 * missing; 404), the owner is told to poll instead: every 30 s, doubling
 * to 5 min.
 */
#include <stdlib.h>
#include <string.h>

#include "k8s/internal.h"

#include "base/banned.h"

#define POLL_BASE_MS 30000
#define POLL_MAX_MS  (5 * 60 * 1000)

static const struct gw_k8s_api crd_api = {
    .group = "apiextensions.k8s.io",
    .version = "v1",
    .plural = "customresourcedefinitions",
    .name = "CustomResourceDefinition",
    .namespaced = false,
};

struct crd_state {
    bool exists;
    bool seen; /* delivered by the list in progress */
    int64_t generation;
};

struct gw_k8s_crds {
    struct gw_k8s_crds_opts o;
    struct gw_k8s_reflector *refl;
    struct crd_state kinds[GW_KIND__COUNT];
    bool listing;
    bool polling;
    struct gw_timer poll;
    struct gw_k8s_backoff poll_backoff;
    uint64_t rng;
};

/* Our kind whose CRD is named name ("plural.group"), or GW_KIND__COUNT. */
static enum gw_kind
kind_of(const char *name)
{
    const char *dot = name ? strchr(name, '.') : NULL;
    if (!dot)
        return GW_KIND__COUNT;
    size_t n = (size_t)(dot - name);
    for (int k = 0; k < GW_KIND__COUNT; k++) {
        const char *plural = gw_k8s_kind_plural((enum gw_kind)k);
        const char *group = gw_kind_group((enum gw_kind)k);
        if (group[0] && plural && strlen(plural) == n && memcmp(plural, name, n) == 0 &&
            strcmp(group, dot + 1) == 0)
            return (enum gw_kind)k;
    }
    return GW_KIND__COUNT;
}

static void
tell(struct gw_k8s_crds *c, enum gw_kind kind, enum gw_k8s_recheck how)
{
    c->o.on_change(c->o.data, kind, how);
}

static void
on_event(void *data, enum gw_kind unused, enum gw_k8s_event ev, const struct gw_node *obj)
{
    struct gw_k8s_crds *c = data;
    (void)unused;
    if (ev == GW_K8S_LIST_BEGIN) {
        c->listing = true;
        for (int k = 0; k < GW_KIND__COUNT; k++)
            c->kinds[k].seen = false;
        return;
    }
    if (ev == GW_K8S_LIST_END) {
        c->listing = false;
        /* Not in the list: deleted while we were not watching. */
        for (int k = 0; k < GW_KIND__COUNT; k++) {
            if (c->kinds[k].exists && !c->kinds[k].seen) {
                c->kinds[k].exists = false;
                tell(c, (enum gw_kind)k, GW_K8S_RECHECK_GONE);
            }
        }
        return;
    }
    const struct gw_node *md = gw_node_get(obj, "metadata");
    const struct gw_node *name = gw_node_get(md, "name");
    enum gw_kind kind = kind_of(name && name->type == GW_NODE_STR ? name->text : NULL);
    if (kind == GW_KIND__COUNT)
        return;
    struct crd_state *st = &c->kinds[kind];
    if (ev == GW_K8S_DELETED) {
        if (st->exists) {
            st->exists = false;
            tell(c, kind, GW_K8S_RECHECK_GONE);
        }
        return;
    }
    const struct gw_node *g = gw_node_get(md, "generation");
    int64_t gen = g && g->type == GW_NODE_INT ? g->v.i : 0;
    bool existed = st->exists;
    bool respec = existed && gen != st->generation;
    st->exists = true;
    st->generation = gen;
    if (c->listing) {
        st->seen = true;
        /* A list says what is, not what happened: a CRD new to us is
         * PRESENT (the kind may be served already), one whose spec moved
         * while we were not watching CHANGED. */
        if (!existed)
            tell(c, kind, GW_K8S_RECHECK_PRESENT);
        else if (respec)
            tell(c, kind, GW_K8S_RECHECK_CHANGED);
        return;
    }
    /* Watch: created (or recreated), its spec changed (served versions),
     * or its status (Established) or metadata. */
    if (ev == GW_K8S_ADDED || !existed || respec)
        tell(c, kind, GW_K8S_RECHECK_CHANGED);
    else
        tell(c, kind, GW_K8S_RECHECK_PRESENT);
}

static void
on_poll(struct gw_timer *t)
{
    struct gw_k8s_crds *c = t->data;
    c->o.on_poll(c->o.data);
    gw_timer_start(&c->poll, gw_k8s_backoff_next(&c->poll_backoff, gw_k8s_rand01(&c->rng), -1));
}

static void
on_refused(void *data, const struct gw_k8s_resp *resp)
{
    struct gw_k8s_crds *c = data;
    if (c->polling)
        return;
    c->polling = true;
    gw_log_warn("k8s: cannot list and watch CustomResourceDefinitions (HTTP %ld%s): a kind "
                "whose CRD is installed later is found by polling discovery, every %d s "
                "doubling to %d min",
                resp->code,
                resp->code == 403   ? ": forbidden, the ClusterRole lacks list/watch on them"
                : resp->code == 404 ? ": not served"
                                    : "",
                POLL_BASE_MS / 1000, POLL_MAX_MS / 60000);
    gw_timer_start(&c->poll, gw_k8s_backoff_next(&c->poll_backoff, gw_k8s_rand01(&c->rng), -1));
}

int
gw_k8s_crds_new(const struct gw_k8s_crds_opts *o, struct gw_k8s_crds **out)
{
    *out = NULL;
    if (!o || !o->http || !o->loop || !o->on_change || !o->on_poll)
        return GW_EINVAL;
    struct gw_k8s_crds *c = gw_xcalloc(1, sizeof(*c));
    c->o = *o;
    struct gw_k8s_reflector_opts ro = {
        .http = o->http,
        .loop = o->loop,
        .api = &crd_api,
        .metadata_only = true,
        .on_refused = on_refused,
        .on_event = on_event,
        .data = c,
    };
    int rc = gw_k8s_reflector_new(&ro, &c->refl);
    if (rc < 0) {
        free(c);
        return rc;
    }
    gw_timer_init(o->loop, &c->poll, on_poll, c);
    gw_k8s_backoff_init(&c->poll_backoff, POLL_BASE_MS, POLL_MAX_MS);
    c->poll_backoff.jitter = 0.1;
    c->rng = gw_k8s_rand_seed(c, 0);
    *out = c;
    return 0;
}

void
gw_k8s_crds_start(struct gw_k8s_crds *c)
{
    gw_k8s_reflector_start(c->refl);
}

void
gw_k8s_crds_free(struct gw_k8s_crds *c)
{
    if (!c)
        return;
    gw_timer_stop(&c->poll);
    gw_k8s_reflector_free(c->refl);
    free(c);
}

bool
gw_k8s_crds_is_polling(const struct gw_k8s_crds *c)
{
    return c->polling;
}

bool
gw_k8s_crds_is_synced(const struct gw_k8s_crds *c)
{
    return gw_k8s_reflector_is_synced(c->refl);
}
