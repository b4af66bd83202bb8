/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reflector of one kind, client-go's semantics on our loop: discovery
 * (which version of the kind's group serves its plural: gw_k8s_discovery,
 * one round for the group's kinds), a paged list delivered whole
 * (LIST_BEGIN, every item as ADDED, LIST_END), then a watch from the list's
 * resourceVersion, resumed from the last resourceVersion seen (bookmarks
 * included) whenever it ends or breaks. 410 Gone relists.
 *
 * A kind discovery does not find (its CRD is not installed) waits, at no
 * cost, for gw_k8s_reflector_recheck: crds.c calls it when the CRD appears
 * (or polls where CRDs cannot be watched).
 *
 * Namespaces: with a namespace list and a namespaced kind, each namespace
 * is listed (one after the other) and watched (one watch each) on its own,
 * but a list always covers every namespace: LIST_BEGIN ... LIST_END holds
 * the objects of all of them, so the consumer's "not delivered, so gone"
 * rule never drops another namespace's objects. A 410 in any namespace
 * relists them all.
 *
 * Pages are kept until the last one is in, so a list that fails half way
 * delivers nothing and a consumer never sees a partial list. Every retry
 * goes through a backoff (the list's, or each watch's own) except a watch
 * that ended cleanly after running a while or delivering something.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/internal.h"

#include "base/banned.h"

#define BACKOFF_BASE_MS   500
#define BACKOFF_MAX_MS    30000
#define LOOK_AGAIN_MS     1000
#define REQUEST_TIMEOUT   (120 * 1000)
#define WATCH_MIN_S       300
#define WATCH_MAX_S       600
#define WATCH_SLACK_S     60 /* client-side timeout past the server's */
#define WATCH_QUICK_MS    1000
#define EVENT_MAX         (16u << 20)
#define PAGE_MAX_BYTES    (256u << 20)
#define PAGE_MAX_NODES    50000000u
#define DEFAULT_PAGE_SIZE 500

static const char *const plurals[GW_KIND__COUNT] = {
    [GW_KIND_GATEWAYCLASS] = "gatewayclasses",
    [GW_KIND_GATEWAY] = "gateways",
    [GW_KIND_LISTENERSET] = "listenersets",
    [GW_KIND_HTTPROUTE] = "httproutes",
    [GW_KIND_GRPCROUTE] = "grpcroutes",
    [GW_KIND_TLSROUTE] = "tlsroutes",
    [GW_KIND_TCPROUTE] = "tcproutes",
    [GW_KIND_UDPROUTE] = "udproutes",
    [GW_KIND_REFERENCEGRANT] = "referencegrants",
    [GW_KIND_BACKENDTLSPOLICY] = "backendtlspolicies",
    [GW_KIND_RATELIMITPOLICY] = "ratelimitpolicies",
    [GW_KIND_HEALTHCHECKPOLICY] = "healthcheckpolicies",
    [GW_KIND_CLIENTTRAFFICPOLICY] = "clienttrafficpolicies",
    [GW_KIND_SOURCEADDRESSPOLICY] = "sourceaddresspolicies",
    [GW_KIND_CIRCUITBREAKERPOLICY] = "circuitbreakerpolicies",
    [GW_KIND_LOADBALANCERPOLICY] = "loadbalancerpolicies",
    [GW_KIND_JWTPOLICY] = "jwtpolicies",
    [GW_KIND_BASICAUTHPOLICY] = "basicauthpolicies",
    [GW_KIND_APIKEYPOLICY] = "apikeypolicies",
    [GW_KIND_XBACKENDTRAFFICPOLICY] = "xbackendtrafficpolicies",
    [GW_KIND_SERVICE] = "services",
    [GW_KIND_ENDPOINTSLICE] = "endpointslices",
    [GW_KIND_SECRET] = "secrets",
    [GW_KIND_CONFIGMAP] = "configmaps",
    [GW_KIND_NAMESPACE] = "namespaces",
    [GW_KIND_EXTAUTHPOLICY] = "extauthpolicies",
    [GW_KIND_XBACKEND] = "xbackends",
    [GW_KIND_COMPRESSIONPOLICY] = "compressionpolicies",
};

const char *
gw_k8s_kind_plural(enum gw_kind kind)
{
    return (unsigned)kind < GW_KIND__COUNT ? plurals[kind] : NULL;
}

/* Why a watch's data callback stopped the stream. */
enum abort_reason {
    ABORT_NONE,
    ABORT_RELIST, /* ERROR 410 */
    ABORT_ERROR,  /* another ERROR, an unreadable event */
};

struct watch {
    struct gw_k8s_reflector *r;
    char *ns; /* NULL: every namespace */
    char *rv; /* resume point; heap */
    struct gw_k8s_req *req;
    struct gw_k8s_frame frame;
    bool frame_live;
    struct gw_timer timer;
    struct gw_k8s_backoff backoff;
    uint64_t started_ms;
    uint64_t events; /* of the current request, bookmarks included */
    enum abort_reason abort;
};

enum phase {
    PHASE_IDLE,
    PHASE_DISCOVER,
    PHASE_ABSENT,
    PHASE_LIST,
    PHASE_WATCH,
};

typedef void (*step_fn)(struct gw_k8s_reflector *r);

struct gw_k8s_reflector {
    struct gw_k8s_http *http;
    struct gw_loop *loop;
    struct gw_k8s_resource res;
    size_t page_size;
    gw_k8s_event_fn on_event;
    void *data;

    struct watch *w; /* one per namespace, or one for all */
    size_t nw;

    struct gw_k8s_discovery *discovery; /* NULL: api */
    const char *name;                   /* of the kind, for logs */
    const char *accept;                 /* of lists and watches; NULL: JSON */
    gw_k8s_refused_fn on_refused;

    enum phase phase;
    struct gw_k8s_lookup *lookup; /* discovery */
    struct gw_k8s_req *req;       /* list */
    struct gw_timer timer;
    step_fn after; /* what timer runs */
    struct gw_k8s_backoff backoff;
    /* An absent answer looks again once, LOOK_AGAIN_MS later: the CRD was
     * seen, so discovery may only lag behind it. */
    bool look_again;

    struct gw_docs list; /* the pages so far */
    size_t list_ns;      /* the namespace being listed (index into w) */
    char *cont;          /* continue token of the next page */

    bool synced, listed, warned_absent, fixed;
    bool list_open; /* LIST_BEGIN delivered, LIST_END not yet */
    struct gw_k8s_reflector_stats stats;
    uint64_t rng;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static double
rand01(struct gw_k8s_reflector *r)
{
    return gw_k8s_rand01(&r->rng);
}

static const char *
kind_name(const struct gw_k8s_reflector *r)
{
    return r->name;
}

static const char *
node_str(const struct gw_node *n)
{
    return n && n->type == GW_NODE_STR ? n->text : NULL;
}

static const char *
meta_rv(const struct gw_node *obj)
{
    return node_str(gw_node_get(gw_node_get(obj, "metadata"), "resourceVersion"));
}

static void
set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? gw_xstrdup(s) : NULL;
}

/* Query-string escaping for continue tokens (base64: '+', '/', '='). */
static void
append_escaped(struct gw_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            gw_buf_append_char(b, (char)c);
        } else {
            gw_buf_append_char(b, '%');
            gw_buf_append_char(b, hex[c >> 4]);
            gw_buf_append_char(b, hex[c & 15]);
        }
    }
}

/* /api/v1[/namespaces/NS]/plural or /apis/G/V[/namespaces/NS]/plural */
static void
resource_path(const struct gw_k8s_reflector *r, const char *ns, struct gw_buf *b)
{
    if (r->res.group[0])
        gw_buf_appendf(b, "/apis/%s/%s", r->res.group, r->res.version);
    else
        gw_buf_appendf(b, "/api/%s", r->res.version);
    if (ns && r->res.namespaced) {
        gw_buf_append_cstr(b, "/namespaces/");
        append_escaped(b, ns);
    }
    gw_buf_appendf(b, "/%s", r->res.plural);
}

static struct gw_k8s_req *
get(struct gw_k8s_reflector *r, const char *path, gw_k8s_done_fn done, void *data)
{
    struct gw_k8s_req_opts o = {
        .method = "GET",
        .path = path,
        .on_done = done,
        .data = data,
        .accept = r->accept,
        .timeout_ms = REQUEST_TIMEOUT,
    };
    return gw_k8s_http_request(r->http, &o);
}

/* A 403 or 404 that the owner wants to hear of instead of a retry. */
static bool
is_refused(const struct gw_k8s_reflector *r, const struct gw_k8s_resp *resp)
{
    return r->on_refused && resp->err == 0 && (resp->code == 403 || resp->code == 404);
}

/* Parses a response body into docs; the root, or NULL (a warning logged). */
static const struct gw_node *
parse_body(struct gw_k8s_reflector *r, struct gw_docs *docs, const char *what, const char *p,
           size_t n)
{
    struct gw_diags diags;
    gw_diags_init(&diags);
    size_t before = docs->n;
    int rc = gw_docs_add_json(docs, what, p, n, &diags);
    const struct gw_node *root = NULL;
    if (rc == 0 && docs->n == before + 1)
        root = docs->v[before].root;
    if (!root)
        gw_log_warn("k8s: %s: unreadable %s response (%s)", kind_name(r), what,
                    rc < 0 ? gw_strerror(rc) : "not one JSON value");
    gw_diags_release(&diags);
    return root;
}

static bool
is_2xx(const struct gw_k8s_resp *resp)
{
    return resp->err == 0 && resp->code >= 200 && resp->code < 300;
}

static void
log_failure(struct gw_k8s_reflector *r, const char *what, const struct gw_k8s_resp *resp,
            uint64_t delay)
{
    r->stats.errors++;
    if (resp->err)
        gw_log_warn("k8s: %s: %s failed: %s; retrying in %llu ms", kind_name(r), what,
                    gw_strerror(resp->err), (unsigned long long)delay);
    else
        gw_log_warn("k8s: %s: %s failed: HTTP %ld; retrying in %llu ms", kind_name(r), what,
                    resp->code, (unsigned long long)delay);
}

/* ------------------------------------------------------------------------ */
/* Scheduling                                                               */

static void discover_start(struct gw_k8s_reflector *r);
static void list_start(struct gw_k8s_reflector *r);
static void watch_start(struct watch *w);

static void
on_timer(struct gw_timer *t)
{
    struct gw_k8s_reflector *r = t->data;
    step_fn fn = r->after;
    r->after = NULL;
    if (fn)
        fn(r);
}

static void
later(struct gw_k8s_reflector *r, step_fn fn, uint64_t ms)
{
    r->after = fn;
    gw_timer_start(&r->timer, ms);
}

/* The delay of the list/discovery backoff. */
static uint64_t
backoff_delay(struct gw_k8s_reflector *r, int64_t retry_after_s)
{
    return gw_k8s_backoff_next(&r->backoff, rand01(r), retry_after_s);
}

static void
watch_stop(struct watch *w)
{
    if (w->req) {
        gw_k8s_req_cancel(w->req);
        w->req = NULL;
    }
    gw_timer_stop(&w->timer);
    if (w->frame_live) {
        gw_k8s_frame_release(&w->frame);
        w->frame_live = false;
    }
}

static void
stop_all(struct gw_k8s_reflector *r)
{
    gw_k8s_lookup_cancel(r->lookup);
    r->lookup = NULL;
    if (r->req) {
        gw_k8s_req_cancel(r->req);
        r->req = NULL;
    }
    gw_timer_stop(&r->timer);
    r->after = NULL;
    for (size_t i = 0; i < r->nw; i++)
        watch_stop(&r->w[i]);
}

/* After a failure: back off, then run fn (every request stopped first). */
static void
retry(struct gw_k8s_reflector *r, step_fn fn, const char *what, const struct gw_k8s_resp *resp)
{
    stop_all(r);
    uint64_t delay = backoff_delay(r, resp ? resp->retry_after_s : -1);
    if (resp)
        log_failure(r, what, resp, delay);
    later(r, fn, delay);
}

/* The owner hears of a 403/404 and decides; the reflector stops. */
static void
refused(struct gw_k8s_reflector *r, const char *what, const struct gw_k8s_resp *resp)
{
    stop_all(r);
    r->stats.errors++;
    gw_log_debug("k8s: %s: %s refused: HTTP %ld", kind_name(r), what, resp->code);
    r->phase = PHASE_IDLE;
    r->on_refused(r->data, resp);
}

static void
emit(struct gw_k8s_reflector *r, enum gw_k8s_event ev, const struct gw_node *obj)
{
    r->stats.events[ev]++;
    r->stats.last_event = gw_clock_real();
    r->on_event(r->data, r->res.kind, ev, obj);
}

/* ------------------------------------------------------------------------ */
/* Discovery                                                                */

static void
absent(struct gw_k8s_reflector *r)
{
    stop_all(r);
    if (r->stats.installed)
        gw_log_info("k8s: %s: %s%s%s is no longer served (its CRD was removed)", kind_name(r),
                    r->res.plural, r->res.group[0] ? "." : "", r->res.group);
    else if (!r->warned_absent)
        gw_log_debug("k8s: %s: %s%s%s is not served by the API server", kind_name(r), r->res.plural,
                     r->res.group[0] ? "." : "", r->res.group);
    r->warned_absent = true;
    free(r->res.version);
    r->res.version = NULL;
    r->stats.installed = false;
    r->phase = PHASE_ABSENT;
    /* It was there and is gone (the CRD was deleted): so are its objects.
     * Never there: its (empty) first list is in. Either way the consumer
     * hears of it, synced already set. */
    bool first = !r->synced;
    r->synced = true;
    if (r->listed || first) {
        r->listed = false;
        emit(r, GW_K8S_LIST_BEGIN, NULL);
        emit(r, GW_K8S_LIST_END, NULL);
    }
    if (r->look_again) {
        r->look_again = false;
        later(r, discover_start, LOOK_AGAIN_MS);
    }
}

static void
on_found(void *data, const char *version, bool namespaced)
{
    struct gw_k8s_reflector *r = data;
    r->lookup = NULL;
    if (!version) {
        absent(r);
        return;
    }
    r->res.namespaced = namespaced;
    set_str(&r->res.version, version);
    if (r->warned_absent)
        gw_log_info("k8s: %s: now served (%s%s%s/%s)", kind_name(r), r->res.plural,
                    r->res.group[0] ? "." : "", r->res.group, r->res.version);
    else
        gw_log_debug("k8s: %s: served as %s%s%s/%s", kind_name(r), r->res.plural,
                     r->res.group[0] ? "." : "", r->res.group, r->res.version);
    r->warned_absent = false;
    r->look_again = false;
    r->stats.installed = true;
    list_start(r);
}

static void
discover_start(struct gw_k8s_reflector *r)
{
    stop_all(r);
    if (r->fixed) {
        r->stats.installed = true;
        list_start(r);
        return;
    }
    r->phase = PHASE_DISCOVER;
    r->lookup = gw_k8s_discovery_lookup(r->discovery, r->res.group, r->res.plural, on_found, r);
}

/* ------------------------------------------------------------------------ */
/* List                                                                     */

static void list_page(struct gw_k8s_reflector *r);

static void
list_reset(struct gw_k8s_reflector *r)
{
    gw_docs_release(&r->list);
    gw_docs_init(&r->list);
    r->list.limits.max_file_bytes = PAGE_MAX_BYTES;
    r->list.limits.max_nodes = PAGE_MAX_NODES;
    r->list_ns = 0;
    set_str(&r->cont, NULL);
}

/* One page's items, delivered as it arrives (the first page opens the
 * list): the consumer decodes them at once and the page's tree goes, so a
 * list of any size never holds more than one page. Objects not delivered
 * by the LIST_END of a list that completes are gone. */
static void
list_deliver_page(struct gw_k8s_reflector *r, const struct gw_node *root)
{
    if (!r->list_open) {
        if (r->listed)
            r->stats.relists++;
        r->stats.lists++;
        r->list_open = true;
        emit(r, GW_K8S_LIST_BEGIN, NULL);
    }
    const struct gw_node *items = gw_node_get(root, "items");
    for (size_t i = 0; items && items->type == GW_NODE_LIST && i < items->n; i++)
        if (items->u.items[i]->type == GW_NODE_MAP)
            emit(r, GW_K8S_ADDED, items->u.items[i]);
}

static void
list_deliver(struct gw_k8s_reflector *r)
{
    if (!r->list_open) {
        if (r->listed)
            r->stats.relists++;
        r->stats.lists++;
        emit(r, GW_K8S_LIST_BEGIN, NULL);
    }
    r->list_open = false;
    /* Synced before LIST_END: its consumer asks every kind then. */
    r->synced = true;
    emit(r, GW_K8S_LIST_END, NULL);
    list_reset(r);
    r->listed = true;
    gw_k8s_backoff_reset(&r->backoff);
    r->phase = PHASE_WATCH;
    for (size_t i = 0; i < r->nw; i++) {
        gw_k8s_backoff_reset(&r->w[i].backoff);
        watch_start(&r->w[i]);
    }
}

static void
on_list(void *data, const struct gw_k8s_resp *resp)
{
    struct gw_k8s_reflector *r = data;
    r->req = NULL;
    if (is_refused(r, resp)) {
        refused(r, "list", resp);
        return;
    }
    if (resp->err == 0 && resp->code == 410) {
        /* The continue token's snapshot expired: start over. */
        gw_log_info("k8s: %s: list snapshot expired, listing again", kind_name(r));
        retry(r, list_start, "list", resp);
        return;
    }
    if (resp->err == 0 && resp->code == 404) {
        retry(r, discover_start, "list", resp);
        return;
    }
    if (!is_2xx(resp)) {
        retry(r, list_start, "list", resp);
        return;
    }
    const struct gw_node *root = parse_body(r, &r->list, "list", resp->body, resp->len);
    if (!root) {
        retry(r, list_start, "list", resp);
        return;
    }
    const struct gw_node *meta = gw_node_get(root, "metadata");
    const char *cont = node_str(gw_node_get(meta, "continue"));
    const char *rv = node_str(gw_node_get(meta, "resourceVersion"));
    bool more = cont && *cont;
    if (more)
        set_str(&r->cont, cont);
    else
        set_str(&r->w[r->list_ns].rv, rv && *rv ? rv : NULL);
    list_deliver_page(r, root);
    /* The page's tree goes now (cont and rv are copies). */
    gw_docs_release(&r->list);
    gw_docs_init(&r->list);
    r->list.limits.max_file_bytes = PAGE_MAX_BYTES;
    r->list.limits.max_nodes = PAGE_MAX_NODES;
    if (more) {
        list_page(r);
        return;
    }
    set_str(&r->cont, NULL);
    if (++r->list_ns < r->nw)
        list_page(r);
    else
        list_deliver(r);
}

static void
list_page(struct gw_k8s_reflector *r)
{
    struct gw_buf path;
    gw_buf_init(&path, 64 * 1024);
    resource_path(r, r->w[r->list_ns].ns, &path);
    gw_buf_appendf(&path, "?limit=%zu", r->page_size);
    if (r->cont) {
        gw_buf_append_cstr(&path, "&continue=");
        append_escaped(&path, r->cont);
    }
    r->req = get(r, path.p, on_list, r);
    gw_buf_release(&path);
}

static void
list_start(struct gw_k8s_reflector *r)
{
    stop_all(r);
    r->phase = PHASE_LIST;
    list_reset(r);
    /* A list that starts over (a failed page, a 410 on a continue) opens
     * anew: what its first attempt delivered does not count as seen. */
    r->list_open = false;
    list_page(r);
}

/* ------------------------------------------------------------------------ */
/* Watch                                                                    */

static void
on_watch_timer(struct gw_timer *t)
{
    watch_start(t->data);
}

static void
watch_retry(struct watch *w, const struct gw_k8s_resp *resp)
{
    struct gw_k8s_reflector *r = w->r;
    int64_t ra = resp ? resp->retry_after_s : -1;
    uint64_t delay = gw_k8s_backoff_next(&w->backoff, rand01(r), ra);
    if (resp && (resp->err || resp->code))
        log_failure(r, "watch", resp, delay);
    else
        r->stats.errors++;
    gw_timer_start(&w->timer, delay);
}

/* One event of the stream: 0, or < 0 to stop the stream (w->abort says
 * what next). */
static int
watch_event(struct watch *w, const char *p, size_t n)
{
    struct gw_k8s_reflector *r = w->r;
    struct gw_docs docs;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    int rc = 0;
    const struct gw_node *root = NULL;
    if (gw_docs_add_json(&docs, "watch", p, n, &diags) == 0 && docs.n == 1)
        root = docs.v[0].root;
    const char *type = node_str(gw_node_get(root, "type"));
    const struct gw_node *obj = gw_node_get(root, "object");
    if (!type || !obj || obj->type != GW_NODE_MAP) {
        gw_log_warn("k8s: %s: unreadable watch event; watching again", kind_name(r));
        w->abort = ABORT_ERROR;
        rc = GW_EPARSE;
        goto out;
    }
    enum gw_k8s_event ev;
    if (strcmp(type, "ADDED") == 0) {
        ev = GW_K8S_ADDED;
    } else if (strcmp(type, "MODIFIED") == 0) {
        ev = GW_K8S_MODIFIED;
    } else if (strcmp(type, "DELETED") == 0) {
        ev = GW_K8S_DELETED;
    } else if (strcmp(type, "BOOKMARK") == 0) {
        const char *rv = meta_rv(obj);
        if (rv && *rv)
            set_str(&w->rv, rv);
        w->events++;
        gw_k8s_backoff_reset(&w->backoff);
        goto out;
    } else if (strcmp(type, "ERROR") == 0) {
        const struct gw_node *code = gw_node_get(obj, "code");
        const char *msg = node_str(gw_node_get(obj, "message"));
        if (code && code->type == GW_NODE_INT && code->v.i == 410) {
            gw_log_info("k8s: %s: watch expired (%s); listing again", kind_name(r),
                        msg ? msg : "410");
            w->abort = ABORT_RELIST;
        } else {
            gw_log_warn("k8s: %s: watch error %lld: %s", kind_name(r),
                        code && code->type == GW_NODE_INT ? (long long)code->v.i : 0LL,
                        msg ? msg : "");
            w->abort = ABORT_ERROR;
        }
        rc = GW_EDECLINED;
        goto out;
    } else {
        goto out; /* an event type of the future: ignore */
    }
    const char *rv = meta_rv(obj);
    if (rv && *rv)
        set_str(&w->rv, rv);
    w->events++;
    gw_k8s_backoff_reset(&w->backoff);
    emit(r, ev, obj);
out:
    gw_diags_release(&diags);
    gw_docs_release(&docs);
    return rc;
}

static int
on_watch_data(void *data, const char *p, size_t n)
{
    struct watch *w = data;
    if (w->abort != ABORT_NONE)
        return GW_EDECLINED;
    int rc = gw_k8s_frame_feed(&w->frame, p, n);
    if (rc < 0) {
        gw_log_warn("k8s: %s: bad watch stream (%s); watching again", kind_name(w->r),
                    gw_strerror(rc));
        w->abort = ABORT_ERROR;
        return rc;
    }
    const char *ev;
    size_t len;
    while (gw_k8s_frame_next(&w->frame, &ev, &len) == 1) {
        rc = watch_event(w, ev, len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void
on_watch_done(void *data, const struct gw_k8s_resp *resp)
{
    struct watch *w = data;
    struct gw_k8s_reflector *r = w->r;
    w->req = NULL;
    if (w->frame_live) {
        gw_k8s_frame_release(&w->frame);
        w->frame_live = false;
    }
    enum abort_reason why = w->abort;
    w->abort = ABORT_NONE;
    if (why == ABORT_RELIST || (resp->err == 0 && resp->code == 410)) {
        retry(r, list_start, "watch", NULL);
        return;
    }
    if (why == ABORT_ERROR) {
        watch_retry(w, NULL);
        return;
    }
    if (is_refused(r, resp)) {
        refused(r, "watch", resp);
        return;
    }
    if (resp->err == 0 && resp->code == 404) {
        retry(r, discover_start, "watch", resp);
        return;
    }
    if (!is_2xx(resp)) {
        watch_retry(w, resp);
        return;
    }
    /* Ended cleanly (its timeoutSeconds, or the server let go): resume at
     * once, unless it ended as soon as it began with nothing in it. */
    if (w->events == 0 && gw_loop_now(r->loop) - w->started_ms < WATCH_QUICK_MS) {
        watch_retry(w, NULL);
        return;
    }
    watch_start(w);
}

static void
watch_start(struct watch *w)
{
    struct gw_k8s_reflector *r = w->r;
    if (w->frame_live)
        gw_k8s_frame_release(&w->frame);
    gw_k8s_frame_init(&w->frame, EVENT_MAX);
    w->frame_live = true;
    w->events = 0;
    w->abort = ABORT_NONE;
    w->started_ms = gw_loop_now(r->loop);
    unsigned timeout = WATCH_MIN_S + (unsigned)(rand01(r) * (WATCH_MAX_S - WATCH_MIN_S + 1));

    struct gw_buf path;
    gw_buf_init(&path, 4096);
    resource_path(r, w->ns, &path);
    gw_buf_append_cstr(&path, "?watch=1&allowWatchBookmarks=true");
    if (w->rv) {
        gw_buf_append_cstr(&path, "&resourceVersion=");
        append_escaped(&path, w->rv);
    }
    gw_buf_appendf(&path, "&timeoutSeconds=%u", timeout);
    struct gw_k8s_req_opts o = {
        .method = "GET",
        .path = path.p,
        .on_data = on_watch_data,
        .on_done = on_watch_done,
        .data = w,
        .accept = r->accept,
        .timeout_ms = (uint64_t)(timeout + WATCH_SLACK_S) * 1000,
    };
    r->stats.watches++;
    w->req = gw_k8s_http_request(r->http, &o);
    gw_buf_release(&path);
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                */

int
gw_k8s_reflector_new(const struct gw_k8s_reflector_opts *o, struct gw_k8s_reflector **out)
{
    *out = NULL;
    if (!o || !o->http || !o->loop || !o->on_event ||
        (!o->api && (!o->discovery || (unsigned)o->kind >= GW_KIND__COUNT)))
        return GW_EINVAL;
    struct gw_k8s_reflector *r = gw_xcalloc(1, sizeof(*r));
    r->http = o->http;
    r->loop = o->loop;
    r->discovery = o->discovery;
    r->on_refused = o->on_refused;
    if (o->metadata_only)
        r->accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
                    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,"
                    "application/json";
    if (o->api) {
        r->fixed = true;
        r->name = o->api->name;
        r->res.kind = GW_KIND__COUNT;
        r->res.group = o->api->group;
        r->res.version = gw_xstrdup(o->api->version);
        r->res.plural = o->api->plural;
        r->res.namespaced = o->api->namespaced;
    } else {
        r->name = gw_kind_name(o->kind);
        r->res.kind = o->kind;
        r->res.group = gw_kind_group(o->kind);
        r->res.plural = plurals[o->kind];
        r->res.namespaced = gw_kind_is_namespaced(o->kind);
    }
    r->page_size = o->page_size ? o->page_size : DEFAULT_PAGE_SIZE;
    r->on_event = o->on_event;
    r->data = o->data;
    size_t nns = 0;
    if (o->namespaces && r->res.namespaced)
        while (o->namespaces[nns])
            nns++;
    r->nw = nns ? nns : 1;
    r->w = gw_xcalloc(r->nw, sizeof(*r->w));
    for (size_t i = 0; i < r->nw; i++) {
        struct watch *w = &r->w[i];
        w->r = r;
        w->ns = nns ? gw_xstrdup(o->namespaces[i]) : NULL;
        gw_timer_init(r->loop, &w->timer, on_watch_timer, w);
        gw_k8s_backoff_init(&w->backoff, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
    }
    gw_timer_init(r->loop, &r->timer, on_timer, r);
    gw_k8s_backoff_init(&r->backoff, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
    gw_docs_init(&r->list);
    r->rng = gw_k8s_rand_seed(r, (uint64_t)o->kind << 40);
    r->stats.installed = false;
    *out = r;
    return 0;
}

void
gw_k8s_reflector_start(struct gw_k8s_reflector *r)
{
    if (r->phase != PHASE_IDLE)
        return;
    discover_start(r);
}

void
gw_k8s_reflector_free(struct gw_k8s_reflector *r)
{
    if (!r)
        return;
    stop_all(r);
    for (size_t i = 0; i < r->nw; i++) {
        free(r->w[i].ns);
        free(r->w[i].rv);
    }
    free(r->w);
    gw_docs_release(&r->list);
    free(r->cont);
    free(r->res.version);
    free(r);
}

bool
gw_k8s_reflector_is_synced(const struct gw_k8s_reflector *r)
{
    return r->synced;
}

void
gw_k8s_reflector_recheck(struct gw_k8s_reflector *r, enum gw_k8s_recheck how)
{
    if (r->fixed || r->phase == PHASE_IDLE)
        return;
    switch (r->phase) {
    case PHASE_ABSENT:
        if (how == GW_K8S_RECHECK_GONE)
            return;
        r->look_again = how != GW_K8S_RECHECK_POLL;
        discover_start(r);
        return;
    case PHASE_DISCOVER:
        /* The answer in flight may be from before the change. */
        if (how == GW_K8S_RECHECK_GONE) {
            r->look_again = false;
            discover_start(r);
        } else if (how != GW_K8S_RECHECK_POLL) {
            r->look_again = true;
        }
        return;
    default:
        /* Listing or watching (or waiting to retry either). */
        if (how == GW_K8S_RECHECK_CHANGED || how == GW_K8S_RECHECK_GONE) {
            r->look_again = how == GW_K8S_RECHECK_CHANGED;
            discover_start(r);
        }
        return;
    }
}

bool
gw_k8s_reflector_is_absent(const struct gw_k8s_reflector *r)
{
    return r->phase == PHASE_ABSENT;
}

const char *
gw_k8s_reflector_version(const struct gw_k8s_reflector *r)
{
    return r->res.version;
}

const struct gw_k8s_reflector_stats *
gw_k8s_reflector_stats(const struct gw_k8s_reflector *r)
{
    return &r->stats;
}
