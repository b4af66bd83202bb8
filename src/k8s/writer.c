/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s: status writes. One entry per object (kind/ns/name, in a hash
 * table): a later want replaces the queued one, so a burst of
 * translations costs one write per object. Writes are JSON merge patches
 * of /status carrying metadata.resourceVersion, so the server refuses
 * (409) a write made against a status it no longer has; the object is
 * then read again and the merge redone by the caller's remerge, a bounded
 * number of times. A token bucket (qps, burst) paces the requests, a
 * timer drains the queue; failures that may pass (5xx, 429, transport)
 * are retried with backoff, a 404 (object gone) and other 4xx are
 * dropped.
 *
 * Entry states: queued (in the FIFO, maybe waiting for its due time),
 * in flight (req set), or neither (freed). A want while in flight is
 * recorded (gen) and queued when the flight ends.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "k8s/internal.h"
#include "load/load.h"
#include "loop/loop.h"
#include "status/status.h"

#include "base/banned.h"

#define MAX_CONFLICTS   5
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS  30000
#define REQ_TIMEOUT_MS  30000
#define NBUCKETS_MIN    256
/* Writes in flight at once: enough to keep a server's latency out of the
 * rate (16 x a few ms), few enough that an HTTP/1.1 server does not see
 * a connection (and a TLS handshake) per write of a burst. */
#define MAX_IN_FLIGHT 16

struct wentry {
    struct gw_k8s_writer *w;
    struct wentry *hnext;         /* hash chain */
    struct wentry *qnext, *qprev; /* FIFO, when queued */
    enum gw_kind kind;
    char *ns, *name; /* heap; ns NULL for cluster-scoped */
    uint64_t hash;
    /* The wanted write: the status as compact JSON and the
     * resourceVersion it applies to (heap): text is the smallest form a
     * queue of thousands of writes can hold. */
    bool has_want;
    char *status;
    char *rv;
    gw_k8s_remerge_fn remerge;
    void *data;
    uint64_t gen, sent_gen;
    bool queued;
    bool refetch; /* next request reads the object (after a 409) */
    uint64_t due; /* loop time it may go */
    int conflicts;
    struct gw_k8s_backoff bo;
    struct gw_k8s_req *req;
};

struct gw_k8s_writer {
    struct gw_k8s_writer_opts o;
    char *controller;
    struct wentry **buckets;
    size_t nbuckets, n;
    struct wentry *qhead, *qtail;
    size_t nqueued;
    double tokens;
    uint64_t refill_at;
    struct gw_timer timer;
    bool timer_armed;
    size_t in_flight;
    uint64_t rng;
    struct gw_k8s_writer_stats stats;
};

static uint64_t
hash_of(enum gw_kind kind, const char *ns, const char *name)
{
    uint64_t h = GW_K8S_FNV_OFFSET ^ (uint64_t)kind;
    if (ns)
        h = gw_k8s_fnv(h, ns, strlen(ns));
    h = gw_k8s_fnv(h, "/", 1);
    return gw_k8s_fnv(h, name, strlen(name));
}

static struct wentry *
find(struct gw_k8s_writer *w, enum gw_kind kind, const char *ns, const char *name, uint64_t h)
{
    for (struct wentry *e = w->buckets[h % w->nbuckets]; e; e = e->hnext)
        if (e->hash == h && e->kind == kind && !strcmp(e->name, name) &&
            !strcmp(e->ns ? e->ns : "", ns ? ns : ""))
            return e;
    return NULL;
}

static void
grow(struct gw_k8s_writer *w)
{
    size_t nb = w->nbuckets * 2;
    struct wentry **b = gw_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < w->nbuckets; i++)
        for (struct wentry *e = w->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash % nb];
            b[e->hash % nb] = e;
        }
    free(w->buckets);
    w->buckets = b;
    w->nbuckets = nb;
}

static void
enqueue(struct wentry *e)
{
    struct gw_k8s_writer *w = e->w;
    if (e->queued)
        return;
    e->queued = true;
    e->qnext = NULL;
    e->qprev = w->qtail;
    if (w->qtail)
        w->qtail->qnext = e;
    else
        w->qhead = e;
    w->qtail = e;
    w->nqueued++;
}

static void
dequeue(struct wentry *e)
{
    struct gw_k8s_writer *w = e->w;
    if (!e->queued)
        return;
    if (e->qprev)
        e->qprev->qnext = e->qnext;
    else
        w->qhead = e->qnext;
    if (e->qnext)
        e->qnext->qprev = e->qprev;
    else
        w->qtail = e->qprev;
    e->queued = false;
    w->nqueued--;
}

static void
entry_free(struct wentry *e)
{
    struct gw_k8s_writer *w = e->w;
    dequeue(e);
    if (e->req) {
        gw_k8s_req_cancel(e->req);
        w->in_flight--;
    }
    struct wentry **pp = &w->buckets[e->hash % w->nbuckets];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    w->n--;
    free(e->status);
    free(e->rv);
    free(e->ns);
    free(e->name);
    free(e);
}

/* The wanted write is done with (written, dropped, nothing to write). */
static void
want_done(struct wentry *e)
{
    e->has_want = false;
    free(e->status);
    free(e->rv);
    e->status = NULL;
    e->rv = NULL;
    if (!e->req)
        entry_free(e);
}

static void
kick(struct gw_k8s_writer *w, uint64_t delay_ms)
{
    gw_timer_start(&w->timer, delay_ms);
    w->timer_armed = true;
}

static void
path_of(struct gw_k8s_writer *w, const struct wentry *e, bool status, struct gw_buf *b)
{
    const char *version = w->o.version_of ? w->o.version_of(w->o.data, e->kind) : NULL;
    if (!version)
        version = gw_kind_version(e->kind);
    const char *plural = gw_k8s_kind_plural(e->kind);
    gw_buf_appendf(b, "/apis/%s/%s", gw_kind_group(e->kind), version);
    if (e->ns)
        gw_buf_appendf(b, "/namespaces/%s", e->ns);
    gw_buf_appendf(b, "/%s/%s%s", plural ? plural : "unknown", e->name, status ? "/status" : "");
}

/* Compact JSON (the pretty writer's indentation is wasted on the wire). */
static void
compact(const struct gw_sv *v, struct gw_buf *b)
{
    switch (v->type) {
    case GW_SV_NULL:
        gw_buf_append_cstr(b, "null");
        break;
    case GW_SV_BOOL:
        gw_buf_append_cstr(b, v->i ? "true" : "false");
        break;
    case GW_SV_INT:
        gw_buf_appendf(b, "%lld", (long long)v->i);
        break;
    case GW_SV_STR:
        gw_buf_append_json_str(b, v->s ? v->s : "", v->s ? strlen(v->s) : 0);
        break;
    case GW_SV_ARR:
    case GW_SV_OBJ:
        gw_buf_append_char(b, v->type == GW_SV_OBJ ? '{' : '[');
        for (const struct gw_sv *c = v->child; c; c = c->next) {
            if (c != v->child)
                gw_buf_append_char(b, ',');
            if (v->type == GW_SV_OBJ) {
                gw_buf_append_json_str(b, c->key, strlen(c->key));
                gw_buf_append_char(b, ':');
            }
            compact(c, b);
        }
        gw_buf_append_char(b, v->type == GW_SV_OBJ ? '}' : ']');
        break;
    }
}

/* e wants status (NULL: {}) written over resourceVersion rv. */
static void
set_want(struct wentry *e, const struct gw_sv *status, const char *rv)
{
    struct gw_buf b;
    gw_buf_init(&b, 64u << 20);
    if (status)
        compact(status, &b);
    else
        gw_buf_append_cstr(&b, "{}");
    free(e->status);
    free(e->rv);
    e->status = gw_buf_steal(&b);
    e->rv = rv ? gw_xstrdup(rv) : NULL;
    e->has_want = true;
}

static void on_done(void *data, const struct gw_k8s_resp *resp);

static void
send_req(struct wentry *e)
{
    struct gw_k8s_writer *w = e->w;
    struct gw_buf path, body;
    gw_buf_init(&path, 4096);
    gw_buf_init(&body, 64u << 20);
    struct gw_k8s_req_opts ro = {.on_done = on_done, .data = e, .timeout_ms = REQ_TIMEOUT_MS};
    if (e->refetch) {
        path_of(w, e, false, &path);
        ro.method = "GET";
    } else {
        path_of(w, e, true, &path);
        gw_buf_append_cstr(&body, "{");
        if (e->rv && *e->rv) {
            gw_buf_append_cstr(&body, "\"metadata\":{\"resourceVersion\":");
            gw_buf_append_json_str(&body, e->rv, strlen(e->rv));
            gw_buf_append_cstr(&body, "},");
        }
        gw_buf_append_cstr(&body, "\"status\":");
        gw_buf_append_cstr(&body, e->status);
        gw_buf_append_cstr(&body, "}");
        ro.method = "PATCH";
        ro.content_type = "application/merge-patch+json";
        ro.body = body.p;
        ro.body_len = body.len;
    }
    gw_buf_append_char(&path, '\0');
    ro.path = path.p;
    e->sent_gen = e->gen;
    w->in_flight++;
    w->stats.requests++;
    e->req = gw_k8s_http_request(w->o.http, &ro);
    gw_buf_release(&path);
    gw_buf_release(&body);
}

static void
retry_later(struct wentry *e, int64_t retry_after_s)
{
    struct gw_k8s_writer *w = e->w;
    uint64_t delay = gw_k8s_backoff_next(&e->bo, gw_k8s_rand01(&w->rng), retry_after_s);
    e->due = gw_loop_now(w->o.loop) + delay;
    enqueue(e);
    kick(w, 0);
}

/* The object as read after a conflict: redo the merge against it. */
static void
remerge(struct wentry *e, const struct gw_k8s_resp *resp)
{
    struct gw_docs docs;
    gw_docs_init(&docs);
    struct gw_diags diags;
    gw_diags_init(&diags);
    if (gw_docs_add_json(&docs, "object", resp->body, resp->len, &diags) < 0 || !docs.n ||
        !docs.v[0].root || docs.v[0].root->type != GW_NODE_MAP) {
        gw_log_warn("status of %s %s%s%s: unreadable object after a conflict; dropped",
                    gw_kind_name(e->kind), e->ns ? e->ns : "", e->ns ? "/" : "", e->name);
        e->w->stats.errors++;
        want_done(e);
        goto out;
    }
    const struct gw_node *root = docs.v[0].root;
    const struct gw_node *rv = gw_node_get(gw_node_get(root, "metadata"), "resourceVersion");
    struct gw_arena a;
    gw_arena_init(&a, 0);
    struct gw_sv_pool pool;
    gw_sv_pool_init(&pool, &a);
    struct gw_sv *st = e->remerge ? e->remerge(e->data, &pool, e->kind, root) : NULL;
    if (!st) {
        /* The server already has what we want. */
        gw_arena_release(&a);
        want_done(e);
        goto out;
    }
    set_want(e, st, rv && rv->type == GW_NODE_STR ? rv->text : NULL);
    gw_arena_release(&a);
    e->due = 0;
    enqueue(e);
    kick(e->w, 0);
out:
    gw_diags_release(&diags);
    gw_docs_release(&docs);
}

static void
on_done(void *data, const struct gw_k8s_resp *resp)
{
    struct wentry *e = data;
    struct gw_k8s_writer *w = e->w;
    bool was_get = e->refetch;
    e->req = NULL;
    w->in_flight--;
    if (w->nqueued)
        kick(w, 0);
    if (!e->has_want) {
        entry_free(e); /* cleared while in flight */
        return;
    }
    long code = resp->code;
    if (e->gen != e->sent_gen) {
        /* A newer want replaced this write: it goes next (a conflict it
         * meets is handled then). */
        if (code >= 200 && code < 300 && !was_get)
            w->stats.writes++;
        e->refetch = false;
        enqueue(e);
        kick(w, 0);
        return;
    }
    if (code >= 200 && code < 300) {
        gw_k8s_backoff_reset(&e->bo);
        if (was_get) {
            e->refetch = false;
            remerge(e, resp);
            return;
        }
        w->stats.writes++;
        want_done(e);
        return;
    }
    if (code == 409 && !was_get) {
        w->stats.conflicts++;
        if (++e->conflicts > MAX_CONFLICTS) {
            gw_log_warn("status of %s %s%s%s: still conflicting after %d reads; dropped",
                        gw_kind_name(e->kind), e->ns ? e->ns : "", e->ns ? "/" : "", e->name,
                        MAX_CONFLICTS);
            w->stats.errors++;
            want_done(e);
            return;
        }
        e->refetch = true;
        e->due = 0;
        enqueue(e);
        kick(w, 0);
        return;
    }
    if (code == 404) {
        want_done(e); /* the object is gone: nothing to write */
        return;
    }
    w->stats.errors++;
    if (code == 0 || code == 429 || code >= 500) {
        retry_later(e, resp->retry_after_s);
        return;
    }
    gw_log_warn("status of %s %s%s%s: HTTP %ld; dropped", gw_kind_name(e->kind), e->ns ? e->ns : "",
                e->ns ? "/" : "", e->name, code);
    want_done(e);
}

static void
on_timer(struct gw_timer *t)
{
    struct gw_k8s_writer *w = t->data;
    w->timer_armed = false;
    uint64_t now = gw_loop_now(w->o.loop);
    double qps = w->o.qps > 0 ? w->o.qps : 50;
    double burst = w->o.burst > 0 ? w->o.burst : 100;
    w->tokens += (double)(now - w->refill_at) * qps / 1000.0;
    if (w->tokens > burst)
        w->tokens = burst;
    w->refill_at = now;

    uint64_t next_due = UINT64_MAX;
    for (struct wentry *e = w->qhead, *next; e; e = next) {
        next = e->qnext;
        if (e->req)
            continue; /* stays queued; goes when its flight ends */
        if (e->due > now) {
            if (e->due < next_due)
                next_due = e->due;
            continue;
        }
        if (w->in_flight >= MAX_IN_FLIGHT)
            break; /* on_done kicks the queue again */
        if (w->tokens < 1.0) {
            next_due = now + (uint64_t)((1.0 - w->tokens) * 1000.0 / qps) + 1;
            break;
        }
        w->tokens -= 1.0;
        dequeue(e);
        send_req(e);
    }
    if (next_due != UINT64_MAX)
        kick(w, next_due > now ? next_due - now : 0);
}

int
gw_k8s_writer_new(const struct gw_k8s_writer_opts *o, struct gw_k8s_writer **out)
{
    struct gw_k8s_writer *w = gw_xcalloc(1, sizeof(*w));
    w->o = *o;
    w->controller = gw_xstrdup(o->controller ? o->controller : GW_CONTROLLER_NAME);
    w->o.controller = w->controller;
    w->nbuckets = NBUCKETS_MIN;
    w->buckets = gw_xcalloc(w->nbuckets, sizeof(*w->buckets));
    w->tokens = o->burst > 0 ? o->burst : 100;
    w->refill_at = gw_loop_now(o->loop);
    w->rng = gw_k8s_rand_seed(w, w->refill_at);
    gw_timer_init(o->loop, &w->timer, on_timer, w);
    *out = w;
    return 0;
}

void
gw_k8s_writer_free(struct gw_k8s_writer *w)
{
    if (!w)
        return;
    gw_timer_stop(&w->timer);
    for (size_t i = 0; i < w->nbuckets; i++)
        while (w->buckets[i])
            entry_free(w->buckets[i]);
    free(w->buckets);
    free(w->controller);
    free(w);
}

void
gw_k8s_writer_want(struct gw_k8s_writer *w, enum gw_kind kind, const char *ns, const char *name,
                   const char *resource_version, const struct gw_sv *status,
                   gw_k8s_remerge_fn remerge_fn, void *data)
{
    uint64_t h = hash_of(kind, ns, name);
    struct wentry *e = find(w, kind, ns, name, h);
    if (!e) {
        if (w->n >= w->nbuckets)
            grow(w);
        e = gw_xcalloc(1, sizeof(*e));
        e->w = w;
        e->kind = kind;
        e->ns = ns ? gw_xstrdup(ns) : NULL;
        e->name = gw_xstrdup(name);
        e->hash = h;
        gw_k8s_backoff_init(&e->bo, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
        e->hnext = w->buckets[h % w->nbuckets];
        w->buckets[h % w->nbuckets] = e;
        w->n++;
    }
    set_want(e, status, resource_version);
    e->remerge = remerge_fn;
    e->data = data;
    e->gen++;
    e->conflicts = 0;
    e->refetch = false;
    /* A want does not jump a backoff in progress (e->due kept). */
    enqueue(e);
    if (!w->timer_armed)
        kick(w, 0);
}

void
gw_k8s_writer_clear(struct gw_k8s_writer *w)
{
    for (size_t i = 0; i < w->nbuckets; i++)
        for (struct wentry *e = w->buckets[i], *next; e; e = next) {
            next = e->hnext;
            dequeue(e);
            want_done(e); /* frees it unless in flight; on_done frees it then */
        }
}

size_t
gw_k8s_writer_pending(const struct gw_k8s_writer *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nbuckets; i++)
        for (const struct wentry *e = w->buckets[i]; e; e = e->hnext)
            if (e->has_want)
                n++;
    return n;
}

const struct gw_k8s_writer_stats *
gw_k8s_writer_stats(const struct gw_k8s_writer *w)
{
    return &w->stats;
}
