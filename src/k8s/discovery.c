/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery, one round per API group for all the group's kinds: the kinds
 * of a group (eleven of gatehouse.dev) ask which version serves their
 * plural, and the lookups made in the same loop turn share one GET
 * /apis/G and one GET /apis/G/V (more versions only while some plural is
 * still unfound), where each kind on its own made two.
 *
 * A lookup is never answered from a cache or from a round whose requests
 * went out before it was made: it is made because something may have
 * changed (a start, a 404, a CRD installed), so a round in flight cannot
 * answer it; it waits for the next one, which starts as soon as that one
 * ends.
 */
#include <stdlib.h>
#include <string.h>

#include "k8s/internal.h"

#include "base/banned.h"

#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS  30000
#define REQUEST_TIMEOUT (120 * 1000)

struct group;

struct gw_k8s_lookup {
    struct group *g;
    struct gw_k8s_lookup *next;
    char *plural;
    gw_k8s_found_fn fn;
    void *data;
    bool in_round; /* made before the round in flight sent its first request */
};

struct group {
    struct gw_k8s_discovery *d;
    char *name; /* "" for the core group */
    struct gw_k8s_lookup *lookups;
    struct gw_k8s_req *req;
    /* Starts a round: at 0 ms (the rest of the turn's lookups join), or
     * after the backoff of a failed one. */
    struct gw_timer timer;
    struct gw_k8s_backoff backoff;
    char **cand; /* the group's versions, preferred first */
    size_t ncand, icand;
    bool busy; /* a round is in flight (a request, or the wait to retry) */
};

struct gw_k8s_discovery {
    struct gw_k8s_http *http;
    struct gw_loop *loop;
    struct group **groups;
    size_t ngroups, cap;
    uint64_t rng;
    struct gw_k8s_discovery_stats stats;
};

static const char *
node_str(const struct gw_node *n)
{
    return n && n->type == GW_NODE_STR ? n->text : NULL;
}

static void
cand_clear(struct group *g)
{
    for (size_t i = 0; i < g->ncand; i++)
        free(g->cand[i]);
    free(g->cand);
    g->cand = NULL;
    g->ncand = g->icand = 0;
}

static void
cand_add(struct group *g, const char *v)
{
    if (!v || !*v)
        return;
    for (size_t i = 0; i < g->ncand; i++)
        if (strcmp(g->cand[i], v) == 0)
            return;
    g->cand = gw_xrealloc(g->cand, (g->ncand + 1) * sizeof(*g->cand));
    g->cand[g->ncand++] = gw_xstrdup(v);
}

static bool
in_round(const struct group *g)
{
    for (const struct gw_k8s_lookup *l = g->lookups; l; l = l->next)
        if (l->in_round)
            return true;
    return false;
}

/* resources (an APIResourceList's "resources") lists plural: whether it is
 * namespaced in *namespaced. */
static bool
serves(const struct gw_node *resources, const char *plural, bool *namespaced)
{
    for (size_t i = 0; resources && resources->type == GW_NODE_LIST && i < resources->n; i++) {
        const struct gw_node *r = resources->u.items[i];
        const char *name = node_str(gw_node_get(r, "name"));
        if (name && strcmp(name, plural) == 0) {
            const struct gw_node *ns = gw_node_get(r, "namespaced");
            *namespaced = ns && ns->type == GW_NODE_BOOL ? ns->v.b : true;
            return true;
        }
    }
    return false;
}

/* Answers the lookups of the round whose plural resources lists
 * (resources NULL: every one of them, as not served). A callback may make
 * or cancel lookups: each answered one is unlinked before its call, and
 * the list is searched again after. */
static void
answer(struct group *g, const struct gw_node *resources, const char *version)
{
    for (;;) {
        struct gw_k8s_lookup *l = NULL;
        bool namespaced = false;
        for (struct gw_k8s_lookup **pp = &g->lookups; *pp; pp = &(*pp)->next) {
            if ((*pp)->in_round && (!resources || serves(resources, (*pp)->plural, &namespaced))) {
                l = *pp;
                *pp = l->next;
                break;
            }
        }
        if (!l)
            return;
        gw_k8s_found_fn fn = l->fn;
        void *data = l->data;
        free(l->plural);
        free(l);
        fn(data, resources ? version : NULL, namespaced);
    }
}

static void
round_end(struct group *g)
{
    g->busy = false;
    cand_clear(g);
    gw_k8s_backoff_reset(&g->backoff);
    if (g->lookups)
        gw_timer_start(&g->timer, 0);
}

static struct gw_k8s_req *
get(struct group *g, const char *path, gw_k8s_done_fn done)
{
    struct gw_k8s_req_opts o = {
        .method = "GET",
        .path = path,
        .on_done = done,
        .data = g,
        .timeout_ms = REQUEST_TIMEOUT,
    };
    g->d->stats.requests++;
    return gw_k8s_http_request(g->d->http, &o);
}

/* A failed request: the whole round again after the backoff. */
static void
round_retry(struct group *g, const char *what, const struct gw_k8s_resp *resp)
{
    struct gw_k8s_discovery *d = g->d;
    d->stats.errors++;
    uint64_t delay =
        gw_k8s_backoff_next(&g->backoff, gw_k8s_rand01(&d->rng), resp ? resp->retry_after_s : -1);
    const char *gname = g->name[0] ? g->name : "core";
    if (!resp)
        gw_log_warn("k8s: discovery of API group %s: unreadable %s; retrying in %llu ms", gname,
                    what, (unsigned long long)delay);
    else if (resp->err)
        gw_log_warn("k8s: discovery of API group %s: %s failed: %s; retrying in %llu ms", gname,
                    what, gw_strerror(resp->err), (unsigned long long)delay);
    else
        gw_log_warn("k8s: discovery of API group %s: %s failed: HTTP %ld; retrying in %llu ms",
                    gname, what, resp->code, (unsigned long long)delay);
    cand_clear(g);
    gw_timer_start(&g->timer, delay);
}

/* The answer's document, or NULL when it is dealt with here (a failure
 * retries the round). */
static const struct gw_node *
body(struct group *g, const char *what, const struct gw_k8s_resp *resp, struct gw_docs *docs)
{
    if (resp->err || resp->code < 200 || resp->code >= 300) {
        round_retry(g, what, resp);
        return NULL;
    }
    struct gw_diags diags;
    gw_diags_init(&diags);
    const struct gw_node *root = NULL;
    if (gw_docs_add_json(docs, what, resp->body, resp->len, &diags) == 0 && docs->n == 1)
        root = docs->v[0].root;
    gw_diags_release(&diags);
    if (!root)
        round_retry(g, what, NULL);
    return root;
}

static void fetch_version(struct group *g);

static void
next_version(struct group *g)
{
    if (++g->icand < g->ncand) {
        fetch_version(g);
        return;
    }
    answer(g, NULL, NULL);
    round_end(g);
}

static void
on_version(void *data, const struct gw_k8s_resp *resp)
{
    struct group *g = data;
    g->req = NULL;
    if (resp->err == 0 && resp->code == 404) {
        next_version(g);
        return;
    }
    struct gw_docs docs;
    gw_docs_init(&docs);
    const struct gw_node *root = body(g, "version discovery", resp, &docs);
    if (root) {
        /* The version is copied: a callback may end the round. */
        char *version = gw_xstrdup(g->cand[g->icand]);
        answer(g, gw_node_get(root, "resources"), version);
        free(version);
        if (in_round(g))
            next_version(g);
        else
            round_end(g);
    }
    gw_docs_release(&docs);
}

static void
fetch_version(struct group *g)
{
    char *path = g->name[0] ? gw_xasprintf("/apis/%s/%s", g->name, g->cand[g->icand])
                            : gw_xasprintf("/api/%s", g->cand[g->icand]);
    g->req = get(g, path, on_version);
    free(path);
}

static void
on_group(void *data, const struct gw_k8s_resp *resp)
{
    struct group *g = data;
    g->req = NULL;
    if (resp->err == 0 && resp->code == 404) {
        /* No CRD of the group is installed. */
        answer(g, NULL, NULL);
        round_end(g);
        return;
    }
    struct gw_docs docs;
    gw_docs_init(&docs);
    const struct gw_node *root = body(g, "group discovery", resp, &docs);
    if (root) {
        cand_add(g, node_str(gw_node_get(gw_node_get(root, "preferredVersion"), "version")));
        const struct gw_node *vs = gw_node_get(root, "versions");
        for (size_t i = 0; vs && vs->type == GW_NODE_LIST && i < vs->n; i++)
            cand_add(g, node_str(gw_node_get(vs->u.items[i], "version")));
        if (g->ncand)
            fetch_version(g);
        else
            next_version(g);
    }
    gw_docs_release(&docs);
}

static void
round_start(struct gw_timer *t)
{
    struct group *g = t->data;
    if (!g->lookups) {
        round_end(g);
        return;
    }
    g->busy = true;
    g->d->stats.rounds++;
    for (struct gw_k8s_lookup *l = g->lookups; l; l = l->next)
        l->in_round = true;
    cand_clear(g);
    if (!g->name[0]) {
        cand_add(g, "v1");
        fetch_version(g);
        return;
    }
    char *path = gw_xasprintf("/apis/%s", g->name);
    g->req = get(g, path, on_group);
    free(path);
}

static struct group *
group_of(struct gw_k8s_discovery *d, const char *name)
{
    for (size_t i = 0; i < d->ngroups; i++)
        if (strcmp(d->groups[i]->name, name) == 0)
            return d->groups[i];
    struct group *g = gw_xcalloc(1, sizeof(*g));
    g->d = d;
    g->name = gw_xstrdup(name);
    gw_timer_init(d->loop, &g->timer, round_start, g);
    gw_k8s_backoff_init(&g->backoff, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
    d->groups = gw_xgrow(d->groups, &d->cap, d->ngroups + 1, sizeof(*d->groups));
    d->groups[d->ngroups++] = g;
    return g;
}

struct gw_k8s_discovery *
gw_k8s_discovery_new(struct gw_k8s_http *http, struct gw_loop *loop)
{
    struct gw_k8s_discovery *d = gw_xcalloc(1, sizeof(*d));
    d->http = http;
    d->loop = loop;
    d->rng = gw_k8s_rand_seed(d, 0);
    return d;
}

void
gw_k8s_discovery_free(struct gw_k8s_discovery *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->ngroups; i++) {
        struct group *g = d->groups[i];
        if (g->req)
            gw_k8s_req_cancel(g->req);
        gw_timer_stop(&g->timer);
        while (g->lookups) {
            struct gw_k8s_lookup *l = g->lookups;
            g->lookups = l->next;
            free(l->plural);
            free(l);
        }
        cand_clear(g);
        free(g->name);
        free(g);
    }
    free(d->groups);
    free(d);
}

struct gw_k8s_lookup *
gw_k8s_discovery_lookup(struct gw_k8s_discovery *d, const char *group, const char *plural,
                        gw_k8s_found_fn fn, void *data)
{
    struct group *g = group_of(d, group ? group : "");
    struct gw_k8s_lookup *l = gw_xcalloc(1, sizeof(*l));
    l->g = g;
    l->plural = gw_xstrdup(plural);
    l->fn = fn;
    l->data = data;
    struct gw_k8s_lookup **pp = &g->lookups;
    while (*pp)
        pp = &(*pp)->next;
    *pp = l;
    if (!g->busy && !gw_timer_is_active(&g->timer))
        gw_timer_start(&g->timer, 0);
    return l;
}

void
gw_k8s_lookup_cancel(struct gw_k8s_lookup *l)
{
    if (!l)
        return;
    for (struct gw_k8s_lookup **pp = &l->g->lookups; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    free(l->plural);
    free(l);
}

const struct gw_k8s_discovery_stats *
gw_k8s_discovery_stats(const struct gw_k8s_discovery *d)
{
    return &d->stats;
}
