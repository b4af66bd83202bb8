/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s: leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection does it. Every retry_ms a round reads the Lease and
 * decides (gw_k8s_lease_decide, pure): absent -> create it holding it;
 * ours, free or expired -> update it (renew or take over) with its
 * resourceVersion, so of two candidates one wins and the other gets 409;
 * another holder's and not expired -> wait. Expiry is judged by our own
 * monotonic clock from when we last saw the Lease change, never by the
 * times written in it (clocks of other hosts are not trusted).
 *
 * A leader that has not renewed within renew_ms of its last success stops
 * being one at once (a timer, not the next round), as does one that sees
 * another holder. On free while leader, a release (holder cleared,
 * duration 1 s) is sent without waiting for its answer: it goes out only
 * if the HTTP client lives on; otherwise the others take over after the
 * lease duration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "k8s/internal.h"
#include "load/load.h"
#include "loop/loop.h"

#include "base/banned.h"

enum op { OP_NONE, OP_GET, OP_CREATE, OP_UPDATE };

struct gw_k8s_lease {
    struct gw_k8s_lease_opts o;
    char *ns, *name, *identity;
    struct gw_timer tick, deadline;
    struct gw_k8s_req *req;
    enum op op;
    bool leader, started;
    /* The Lease as last read or written. */
    char *seen; /* a digest of its spec, to notice changes */
    uint64_t observed_ms;
    char *rv;           /* metadata.resourceVersion */
    char *acquire_time; /* spec.acquireTime, kept while the holder is us */
    uint64_t transitions;
    uint64_t last_renew_ms;
};

enum gw_k8s_lease_action
gw_k8s_lease_decide(bool exists, const char *holder, uint64_t observed_ms, uint64_t duration_ms,
                    uint64_t now_ms, const char *me)
{
    if (!exists)
        return GW_K8S_LEASE_CREATE;
    if (!holder || !*holder || !strcmp(holder, me))
        return GW_K8S_LEASE_UPDATE;
    if (observed_ms + duration_ms > now_ms)
        return GW_K8S_LEASE_WAIT;
    return GW_K8S_LEASE_UPDATE;
}

/* metav1.MicroTime: RFC 3339, microseconds, UTC. */
static void
micro_now(char out[40])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06dZ", (int)(ts.tv_nsec / 1000 % 1000000));
}

static void
set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? gw_xstrdup(s) : NULL;
}

static const char *
node_str(const struct gw_node *n)
{
    return n && n->type == GW_NODE_STR ? n->text : NULL;
}

static int64_t
node_int(const struct gw_node *n)
{
    return n && n->type == GW_NODE_INT ? n->v.i : 0;
}

static void
path(struct gw_k8s_lease *l, bool item, struct gw_buf *b)
{
    gw_buf_appendf(b, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->ns);
    if (item)
        gw_buf_appendf(b, "/%s", l->name);
    gw_buf_append_char(b, '\0');
}

static void on_done(void *data, const struct gw_k8s_resp *resp);

static void
request(struct gw_k8s_lease *l, enum op op, const char *body)
{
    struct gw_buf p;
    gw_buf_init(&p, 4096);
    path(l, op != OP_CREATE, &p);
    struct gw_k8s_req_opts ro = {
        .method = op == OP_GET      ? "GET"
                  : op == OP_CREATE ? "POST"
                                    : "PUT",
        .path = p.p,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .on_done = on_done,
        .data = l,
        .timeout_ms = l->o.renew_ms,
    };
    l->op = op;
    l->req = gw_k8s_http_request(l->o.http, &ro);
    gw_buf_release(&p);
}

/* The Lease object to create or update: holder, duration, times. */
static void
lease_body(struct gw_k8s_lease *l, const char *holder, int64_t duration_s, const char *acquire,
           const char *renew, uint64_t transitions, const char *rv, struct gw_buf *b)
{
    gw_buf_append_cstr(b, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                          "\"metadata\":{\"name\":");
    gw_buf_append_json_str(b, l->name, strlen(l->name));
    gw_buf_append_cstr(b, ",\"namespace\":");
    gw_buf_append_json_str(b, l->ns, strlen(l->ns));
    if (rv) {
        gw_buf_append_cstr(b, ",\"resourceVersion\":");
        gw_buf_append_json_str(b, rv, strlen(rv));
    }
    gw_buf_append_cstr(b, "},\"spec\":{\"holderIdentity\":");
    gw_buf_append_json_str(b, holder, strlen(holder));
    gw_buf_appendf(b, ",\"leaseDurationSeconds\":%lld,\"acquireTime\":", (long long)duration_s);
    gw_buf_append_json_str(b, acquire, strlen(acquire));
    gw_buf_append_cstr(b, ",\"renewTime\":");
    gw_buf_append_json_str(b, renew, strlen(renew));
    gw_buf_appendf(b, ",\"leaseTransitions\":%llu}}", (unsigned long long)transitions);
    gw_buf_append_char(b, '\0');
}

static int64_t
duration_s(const struct gw_k8s_lease *l)
{
    return (int64_t)((l->o.lease_ms + 999) / 1000);
}

static void
become(struct gw_k8s_lease *l, bool leader)
{
    if (l->leader == leader)
        return;
    l->leader = leader;
    if (leader)
        gw_log_info("leader election: %s now leads (lease %s/%s)", l->identity, l->ns, l->name);
    else {
        gw_timer_stop(&l->deadline);
        gw_log_warn("leader election: %s lost the lease %s/%s", l->identity, l->ns, l->name);
    }
    if (l->o.on_change)
        l->o.on_change(l->o.data, leader);
}

static void
next_round(struct gw_k8s_lease *l)
{
    gw_timer_start(&l->tick, l->o.retry_ms);
}

/* Notes what a Lease body says (a read, or the answer to our write); a
 * change restarts its expiry on our clock. Returns the holder (borrowed
 * from docs) via *holder. */
static bool
observe(struct gw_k8s_lease *l, const struct gw_k8s_resp *resp, struct gw_docs *docs,
        const char **holder, uint64_t *dur_ms)
{
    struct gw_diags diags;
    gw_diags_init(&diags);
    int rc = gw_docs_add_json(docs, "lease", resp->body, resp->len, &diags);
    gw_diags_release(&diags);
    if (rc < 0 || !docs->n || !docs->v[0].root)
        return false;
    const struct gw_node *root = docs->v[0].root;
    const struct gw_node *spec = gw_node_get(root, "spec");
    const char *h = node_str(gw_node_get(spec, "holderIdentity"));
    int64_t d = node_int(gw_node_get(spec, "leaseDurationSeconds"));
    const char *renew = node_str(gw_node_get(spec, "renewTime"));
    const char *acq = node_str(gw_node_get(spec, "acquireTime"));
    int64_t tr = node_int(gw_node_get(spec, "leaseTransitions"));
    char *digest = gw_arena_sprintf(&docs->arena, "%s|%lld|%s|%s|%lld", h ? h : "", (long long)d,
                                    renew ? renew : "", acq ? acq : "", (long long)tr);
    if (!l->seen || strcmp(l->seen, digest)) {
        set_str(&l->seen, digest);
        l->observed_ms = gw_loop_now(l->o.loop);
    }
    set_str(&l->rv, node_str(gw_node_get(gw_node_get(root, "metadata"), "resourceVersion")));
    set_str(&l->acquire_time, acq);
    l->transitions = tr > 0 ? (uint64_t)tr : 0;
    *holder = h ? h : "";
    *dur_ms = d > 0 ? (uint64_t)d * 1000 : 0;
    return true;
}

static void
renewed(struct gw_k8s_lease *l)
{
    l->last_renew_ms = gw_loop_now(l->o.loop);
    gw_timer_start(&l->deadline, l->o.renew_ms);
    become(l, true);
}

static void
on_got(struct gw_k8s_lease *l, const struct gw_k8s_resp *resp)
{
    if (resp->code == 404) {
        char now[40];
        micro_now(now);
        struct gw_buf b;
        gw_buf_init(&b, 1 << 16);
        lease_body(l, l->identity, duration_s(l), now, now, 0, NULL, &b);
        request(l, OP_CREATE, b.p);
        gw_buf_release(&b);
        return;
    }
    struct gw_docs docs;
    gw_docs_init(&docs);
    const char *holder = NULL;
    uint64_t dur_ms = 0;
    if (resp->code != 200 || !observe(l, resp, &docs, &holder, &dur_ms)) {
        if (resp->code)
            gw_log_warn("leader election: reading lease %s/%s: HTTP %ld", l->ns, l->name,
                        resp->code);
        next_round(l);
        goto out;
    }
    uint64_t now_ms = gw_loop_now(l->o.loop);
    switch (gw_k8s_lease_decide(true, holder, l->observed_ms, dur_ms, now_ms, l->identity)) {
    case GW_K8S_LEASE_WAIT:
        become(l, false); /* another holder: not us, whatever we thought */
        next_round(l);
        break;
    case GW_K8S_LEASE_CREATE: /* not when it exists */
    case GW_K8S_LEASE_UPDATE: {
        char now[40];
        micro_now(now);
        bool ours = !strcmp(holder, l->identity);
        const char *acquire = ours && l->acquire_time ? l->acquire_time : now;
        uint64_t tr = ours ? l->transitions : l->transitions + 1;
        struct gw_buf b;
        gw_buf_init(&b, 1 << 16);
        lease_body(l, l->identity, duration_s(l), acquire, now, tr, l->rv, &b);
        request(l, OP_UPDATE, b.p);
        gw_buf_release(&b);
        break;
    }
    }
out:
    gw_docs_release(&docs);
}

static void
on_done(void *data, const struct gw_k8s_resp *resp)
{
    struct gw_k8s_lease *l = data;
    enum op op = l->op;
    l->req = NULL;
    l->op = OP_NONE;
    if (op == OP_GET) {
        on_got(l, resp);
        return;
    }
    /* A create or update: 2xx means we hold it now. */
    if (resp->code >= 200 && resp->code < 300) {
        struct gw_docs docs;
        gw_docs_init(&docs);
        const char *holder;
        uint64_t dur_ms;
        observe(l, resp, &docs, &holder, &dur_ms);
        gw_docs_release(&docs);
        renewed(l);
    } else if (resp->code != 409) {
        /* 409: another candidate wrote first; the next round sees it. */
        gw_log_warn("leader election: writing lease %s/%s: %s %ld", l->ns, l->name,
                    resp->code ? "HTTP" : "error", resp->code ? resp->code : (long)resp->err);
    }
    next_round(l);
}

static void
on_tick(struct gw_timer *t)
{
    struct gw_k8s_lease *l = t->data;
    if (l->req)
        return; /* a round is still going: it schedules the next */
    request(l, OP_GET, NULL);
}

static void
on_deadline(struct gw_timer *t)
{
    struct gw_k8s_lease *l = t->data;
    /* No renew succeeded within renew_ms: another candidate may take the
     * Lease when it expires, so stop acting as leader now. */
    if (l->leader && gw_loop_now(l->o.loop) - l->last_renew_ms >= l->o.renew_ms)
        become(l, false);
}

int
gw_k8s_lease_new(const struct gw_k8s_lease_opts *o, struct gw_k8s_lease **out)
{
    if (!o->http || !o->loop || !o->ns || !o->name || !o->identity || !*o->identity)
        return GW_EINVAL;
    struct gw_k8s_lease *l = gw_xcalloc(1, sizeof(*l));
    l->o = *o;
    l->ns = gw_xstrdup(o->ns);
    l->name = gw_xstrdup(o->name);
    l->identity = gw_xstrdup(o->identity);
    l->o.ns = l->ns;
    l->o.name = l->name;
    l->o.identity = l->identity;
    if (!l->o.lease_ms)
        l->o.lease_ms = 15000;
    if (!l->o.renew_ms)
        l->o.renew_ms = 10000;
    if (!l->o.retry_ms)
        l->o.retry_ms = 2000;
    gw_timer_init(o->loop, &l->tick, on_tick, l);
    gw_timer_init(o->loop, &l->deadline, on_deadline, l);
    *out = l;
    return 0;
}

void
gw_k8s_lease_start(struct gw_k8s_lease *l)
{
    if (l->started)
        return;
    l->started = true;
    gw_timer_start(&l->tick, 0);
}

static void
on_release_done(void *data, const struct gw_k8s_resp *resp)
{
    (void)data;
    (void)resp;
}

void
gw_k8s_lease_free(struct gw_k8s_lease *l)
{
    if (!l)
        return;
    gw_timer_stop(&l->tick);
    gw_timer_stop(&l->deadline);
    if (l->req)
        gw_k8s_req_cancel(l->req);
    if (l->leader && l->rv) {
        /* As client-go's ReleaseOnCancel: holder cleared, duration 1 s, so
         * the next candidate need not wait the whole lease out. */
        char now[40];
        micro_now(now);
        struct gw_buf b;
        gw_buf_init(&b, 1 << 16);
        lease_body(l, "", 1, now, now, l->transitions, l->rv, &b);
        struct gw_buf p;
        gw_buf_init(&p, 4096);
        path(l, true, &p);
        struct gw_k8s_req_opts ro = {.method = "PUT",
                                     .path = p.p,
                                     .body = b.p,
                                     .body_len = strlen(b.p),
                                     .on_done = on_release_done,
                                     .timeout_ms = 5000};
        (void)gw_k8s_http_request(l->o.http, &ro);
        gw_buf_release(&p);
        gw_buf_release(&b);
    }
    free(l->seen);
    free(l->rv);
    free(l->acquire_time);
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
}

bool
gw_k8s_lease_is_leader(const struct gw_k8s_lease *l)
{
    return l->leader;
}

uint64_t
gw_k8s_lease_transitions(const struct gw_k8s_lease *l)
{
    return l->transitions;
}
