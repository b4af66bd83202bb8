/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote JWKS: the JWK Sets a JWTPolicy provider names by URI
 * (jwks.remote), fetched over HTTPS on a thread of the data plane (the
 * "fetcher"), never on a worker's loop nor the control loop. libcurl's
 * multi interface runs there (curl_multi_poll; the control thread wakes it
 * with curl_multi_wakeup when a snapshot brings a new source), one easy
 * handle per fetch: https only, no redirects, the peer and its host
 * verified (against the policy's CA bundle, or the system trust store), a
 * timeout, the body held to GW_AUTH_JWKS_MAX_BYTES.
 *
 * One px_jwks_src per (URI, CA bundle, refresh interval, timeout) lives in
 * the proxy's registry (p->jwks_mu) from the first snapshot naming it until
 * the proxy is freed; a snapshot's view (struct px_jwks) maps each
 * gw_ir_jwks_remote id to its source. A source no view holds is no longer
 * fetched. A set is fetched at once, then every refresh interval; a worker
 * that meets a token whose kid the set lacks asks for an early fetch,
 * granted at most once per PX_JWKS_EARLY_MS (key rotation). A failed fetch
 * (unreachable, slow, TLS refused, not 200, not a JWK Set, no usable key,
 * too large) keeps the last good set and retries with backoff; before the
 * first good one the provider has no keys and its tokens answer 401 "keys
 * unavailable". Failures are logged with the policy and URI when a streak
 * starts, then at most once a minute.
 *
 * Sharing: workers take a set under its source's mutex, and only when its
 * version moved since they last took one (an atomic load per check
 * otherwise, proxy/auth.c); the fetcher alone swaps sets. Workers never
 * call curl: an early fetch is a flag the fetcher reads at least every
 * POLL_MS, so a worker never touches the fetcher, which stops before them.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "libcurl/libcurl.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define LC gw_libcurl

#define BACKOFF_MIN 1000
#define BACKOFF_MAX 60000
#define POLL_MS     500   /* the longest the fetcher sleeps: early fetch requests */
#define LOG_MS      60000 /* failures of one source: logged once a streak, then this often */

_Static_assert(sizeof(((struct px_jwks_src *)0)->errbuf) >= CURL_ERROR_SIZE, "errbuf");

enum result { FETCH_OK, FETCH_ERROR, FETCH_HTTP, FETCH_INVALID };

static const char *const result_names[] = {"ok", "error", "http", "invalid"};

struct px_fetcher {
    struct gw_proxy *p;
    pthread_t thread;
    CURLM *multi;
    struct curl_slist *accept;
    atomic_bool stop;
};

static uint64_t
now_ms(void)
{
    return gw_clock_mono_us() / 1000;
}

/* ------------------------------------------------------------------------ */
/* Registry and views (control thread)                                       */

static bool
same(const struct px_jwks_src *s, const struct gw_ir_jwks_remote *r)
{
    return !strcmp(s->uri, r->uri) && s->ca_len == r->ca_len &&
           (!r->ca_len || !memcmp(s->ca, r->ca_pem, r->ca_len)) && s->refresh_ms == r->refresh_ms &&
           s->timeout_ms == r->timeout_ms;
}

static struct px_jwks_src *
src_get(struct gw_proxy *p, const struct gw_ir_jwks_remote *r)
{
    for (struct px_jwks_src *s = p->jwks_srcs; s; s = s->next)
        if (same(s, r))
            return s;
    struct px_jwks_src *s = gw_xcalloc(1, sizeof(*s));
    s->uri = gw_xstrdup(r->uri);
    s->policy = gw_xstrdup(r->policy);
    if (r->ca_len) {
        s->ca = gw_xmalloc(r->ca_len);
        memcpy(s->ca, r->ca_pem, r->ca_len);
        s->ca_len = r->ca_len;
    }
    s->refresh_ms = r->refresh_ms;
    s->timeout_ms = r->timeout_ms;
    pthread_mutex_init(&s->mu, NULL);
    gw_buf_init(&s->body, GW_AUTH_JWKS_MAX_BYTES);
    s->backoff_ms = BACKOFF_MIN;
    s->next = p->jwks_srcs;
    p->jwks_srcs = s;
    return s;
}

static void fetcher_start(struct gw_proxy *p);

struct px_jwks *
px_jwks_new(struct gw_proxy *p, const struct gw_ir *ir)
{
    if (!ir->njwks_remotes)
        return NULL;
    struct px_jwks *v = gw_xcalloc(1, sizeof(*v) + ir->njwks_remotes * sizeof(v->by_id[0]));
    v->n = (uint32_t)ir->njwks_remotes;
    pthread_mutex_lock(&p->jwks_mu);
    for (size_t i = 0; i < ir->njwks_remotes; i++) {
        struct px_jwks_src *s = src_get(p, ir->jwks_remotes[i]);
        s->refs++;
        v->by_id[ir->jwks_remotes[i]->id] = s;
    }
    pthread_mutex_unlock(&p->jwks_mu);
    if (p->fetcher)
        LC.multi_wakeup(p->fetcher->multi);
    else if (p->jwks_allowed)
        fetcher_start(p);
    return v;
}

void
px_jwks_free(struct gw_proxy *p, struct px_jwks *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&p->jwks_mu);
    for (uint32_t i = 0; i < v->n; i++)
        if (v->by_id[i])
            v->by_id[i]->refs--;
    pthread_mutex_unlock(&p->jwks_mu);
    free(v);
}

void
px_jwks_registry_free(struct gw_proxy *p)
{
    while (p->jwks_srcs) {
        struct px_jwks_src *s = p->jwks_srcs;
        p->jwks_srcs = s->next;
        gw_auth_keyset_unref(s->keys);
        pthread_mutex_destroy(&s->mu);
        gw_buf_release(&s->body);
        free(s->last);
        free(s->ca);
        free(s->policy);
        free(s->uri);
        free(s);
    }
}

void
px_jwks_want(struct gw_proxy *p, struct px_jwks_src *src)
{
    (void)p;
    if (!atomic_load_explicit(&src->want, memory_order_relaxed))
        atomic_store_explicit(&src->want, true, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Fetches (fetcher thread)                                                  */

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
    struct px_jwks_src *s = arg;
    if (gw_buf_append(&s->body, data, size * n) < 0) {
        s->too_big = true;
        return 0; /* curl ends the transfer: CURLE_WRITE_ERROR */
    }
    return size * n;
}

static void
start(struct px_fetcher *f, struct px_jwks_src *s)
{
    CURL *e = LC.easy_init();
    if (!e)
        return;
    gw_buf_reset(&s->body);
    s->too_big = false;
    s->errbuf[0] = 0;
    LC.easy_setopt(e, CURLOPT_URL, s->uri);
    LC.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    LC.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    LC.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    LC.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_len) {
        struct curl_blob ca = {.data = s->ca, .len = s->ca_len, .flags = CURL_BLOB_COPY};
        LC.easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
    }
    LC.easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    LC.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
    LC.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    LC.easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)GW_AUTH_JWKS_MAX_BYTES);
    LC.easy_setopt(e, CURLOPT_HTTPHEADER, f->accept);
    LC.easy_setopt(e, CURLOPT_USERAGENT, "gatehouse");
    LC.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    LC.easy_setopt(e, CURLOPT_WRITEDATA, s);
    LC.easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    LC.easy_setopt(e, CURLOPT_PRIVATE, s);
    if (LC.multi_add_handle(f->multi, e) != CURLM_OK) {
        LC.easy_cleanup(e);
        return;
    }
    s->easy = e;
}

/* Makes ks (one reference, taken) s's set. */
static void
keys_set(struct px_jwks_src *s, struct gw_auth_keyset *ks)
{
    pthread_mutex_lock(&s->mu);
    struct gw_auth_keyset *old = s->keys;
    s->keys = ks;
    atomic_fetch_add_explicit(&s->version, 1, memory_order_release);
    pthread_mutex_unlock(&s->mu);
    gw_auth_keyset_unref(old);
}

static size_t
keys_count(struct px_jwks_src *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->keys ? gw_auth_keyset_count(s->keys) : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* A good document: parsed, or the same as the last good one. NULL, or
 * why it is not usable (static storage or s->errbuf). */
static const char *
accept_body(struct px_jwks_src *s, bool *changed)
{
    *changed = false;
    if (s->last && s->last_len == s->body.len && !memcmp(s->last, s->body.p, s->body.len))
        return NULL;
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *ks = NULL;
    int rc = gw_auth_keyset_parse_jwks(s->body.p ? s->body.p : "", s->body.len, s->uri, &ks, &d);
    const char *why = NULL;
    if (rc < 0) {
        why = "not a JWK Set";
        for (size_t i = 0; i < d.n; i++)
            if (d.v[i].severity == GW_SEV_ERROR) {
                snprintf(s->errbuf, sizeof(s->errbuf), "not a JWK Set: %s", d.v[i].message);
                why = s->errbuf;
                break;
            }
    } else if (!gw_auth_keyset_count(ks)) {
        why = "the JWK Set holds no usable key";
    }
    gw_diags_release(&d);
    if (why) {
        gw_auth_keyset_unref(ks);
        return why;
    }
    keys_set(s, ks);
    free(s->last);
    s->last_len = s->body.len;
    s->last = gw_xmalloc(s->last_len + 1);
    memcpy(s->last, s->body.p, s->last_len);
    *changed = true;
    return NULL;
}

static void
finish(struct px_fetcher *f, CURL *e, CURLcode cc)
{
    struct px_jwks_src *s = NULL;
    LC.easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
    long code = 0;
    LC.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    LC.multi_remove_handle(f->multi, e);
    LC.easy_cleanup(e);
    s->easy = NULL;
    uint64_t now = now_ms();
    enum result res = FETCH_OK;
    const char *why = NULL;
    char http[64];
    bool changed = false;
    if (s->too_big) {
        res = FETCH_INVALID;
        why = "the body is larger than 1 MiB";
    } else if (cc != CURLE_OK) {
        res = cc == CURLE_FILESIZE_EXCEEDED ? FETCH_INVALID : FETCH_ERROR;
        why = s->errbuf[0] ? s->errbuf : LC.easy_strerror(cc);
    } else if (code != 200) {
        res = FETCH_HTTP;
        snprintf(http, sizeof(http), "HTTP status %ld", code);
        why = http;
    } else if ((why = accept_body(s, &changed))) {
        res = FETCH_INVALID;
    }
    atomic_fetch_add_explicit(&s->fetches[res], 1, memory_order_relaxed);
    if (res == FETCH_OK) {
        atomic_store_explicit(&s->last_ok_s, (int64_t)gw_clock_real(), memory_order_relaxed);
        if (changed || s->failing)
            gw_log_info("proxy: jwks: %s (JWTPolicy %s): %zu key%s, next in %" PRId64 " s", s->uri,
                        s->policy, keys_count(s), keys_count(s) == 1 ? "" : "s",
                        s->refresh_ms / 1000);
        s->failing = false;
        s->backoff_ms = BACKOFF_MIN;
        s->due = now + (uint64_t)s->refresh_ms;
        return;
    }
    if (!s->failing || now - s->logged_at >= LOG_MS) {
        size_t n = keys_count(s);
        gw_log_warn("proxy: jwks: %s (JWTPolicy %s): fetch failed: %s; %s, retrying in %u ms",
                    s->uri, s->policy, why,
                    atomic_load(&s->version) ? (n == 1 ? "keeping the last good set (1 key)"
                                                       : "keeping the last good set")
                                             : "no keys yet: its tokens are refused (401)",
                    s->backoff_ms);
        s->logged_at = now;
    }
    s->failing = true;
    s->due = now + s->backoff_ms;
    s->backoff_ms = (unsigned)GW_MIN((uint64_t)s->backoff_ms * 2,
                                     GW_MIN((uint64_t)BACKOFF_MAX, (uint64_t)s->refresh_ms));
}

/* Starts the fetches that are due; the milliseconds until the next. */
static int
schedule(struct px_fetcher *f)
{
    struct gw_proxy *p = f->p;
    uint64_t now = now_ms(), next = now + POLL_MS;
    struct px_jwks_src *due[64];
    size_t ndue = 0;
    pthread_mutex_lock(&p->jwks_mu);
    for (struct px_jwks_src *s = p->jwks_srcs; s; s = s->next) {
        if (!s->refs || s->easy || ndue == GW_ARRAY_LEN(due))
            continue;
        bool early = atomic_load_explicit(&s->want, memory_order_relaxed) &&
                     (!s->early_at || now >= s->early_at + PX_JWKS_EARLY_MS);
        if (early) {
            atomic_store_explicit(&s->want, false, memory_order_relaxed);
            s->early_at = now;
        }
        if (early || s->due <= now)
            due[ndue++] = s;
        else if (s->due < next)
            next = s->due;
    }
    pthread_mutex_unlock(&p->jwks_mu);
    /* Outside the lock: sources live as long as the proxy. */
    for (size_t i = 0; i < ndue; i++)
        start(f, due[i]);
    return (int)(next - now);
}

static void *
fetcher_main(void *arg)
{
    struct px_fetcher *f = arg;
    while (!atomic_load(&f->stop)) {
        int wait = schedule(f);
        int running = 0, left = 0;
        LC.multi_perform(f->multi, &running);
        CURLMsg *m;
        while ((m = LC.multi_info_read(f->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                finish(f, m->easy_handle, m->data.result);
        if (!atomic_load(&f->stop))
            LC.multi_poll(f->multi, NULL, 0, wait > 0 ? wait : 1, NULL);
    }
    return NULL;
}

static void
fetcher_start(struct gw_proxy *p)
{
    static bool told;
    const char *err;
    bool any = false;
    pthread_mutex_lock(&p->jwks_mu);
    for (struct px_jwks_src *s = p->jwks_srcs; s && !any; s = s->next)
        any = s->refs > 0;
    pthread_mutex_unlock(&p->jwks_mu);
    if (!any)
        return;
    if (gw_libcurl_load(&err) < 0) {
        if (!told)
            gw_log_error("proxy: jwks: remote JWK Sets need libcurl: %s; the tokens of their "
                         "providers are refused (401)",
                         err);
        told = true;
        return;
    }
    struct px_fetcher *f = gw_xcalloc(1, sizeof(*f));
    f->p = p;
    f->multi = LC.multi_init();
    f->accept = LC.slist_append(NULL, "Accept: application/jwk-set+json, application/json");
    if (!f->multi || !f->accept)
        goto fail;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&f->thread, NULL, fetcher_main, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0)
        goto fail;
    p->fetcher = f;
    return;
fail:
    gw_log_error("proxy: jwks: the fetcher thread did not start");
    if (f->multi)
        LC.multi_cleanup(f->multi);
    LC.slist_free_all(f->accept);
    free(f);
}

void
px_jwks_start(struct gw_proxy *p)
{
    p->jwks_allowed = true;
    fetcher_start(p);
}

void
px_jwks_stop(struct gw_proxy *p)
{
    p->jwks_allowed = false;
    struct px_fetcher *f = p->fetcher;
    if (!f)
        return;
    atomic_store(&f->stop, true);
    LC.multi_wakeup(f->multi);
    pthread_join(f->thread, NULL);
    for (struct px_jwks_src *s = p->jwks_srcs; s; s = s->next)
        if (s->easy) {
            LC.multi_remove_handle(f->multi, s->easy);
            LC.easy_cleanup(s->easy);
            s->easy = NULL;
        }
    LC.multi_cleanup(f->multi);
    LC.slist_free_all(f->accept);
    free(f);
    p->fetcher = NULL;
}

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */

int
px_jwks_metrics_format(const struct gw_proxy *cp, struct gw_buf *out)
{
    struct gw_proxy *p = (struct gw_proxy *)cp;
    int rc = 0;
    pthread_mutex_lock(&p->jwks_mu);
    if (p->jwks_srcs)
        rc = gw_buf_append_cstr(
            out, "# HELP gatehouse_jwks_fetches_total Remote JWK Set fetches by result (ok, "
                 "error: transport or TLS or timeout, http: not 200, invalid: not a usable JWK "
                 "Set or too large).\n"
                 "# TYPE gatehouse_jwks_fetches_total counter\n");
    for (struct px_jwks_src *s = p->jwks_srcs; s && rc == 0; s = s->next)
        for (int r = 0; r < 4 && rc == 0; r++)
            rc = gw_buf_appendf(
                out, "gatehouse_jwks_fetches_total{uri=\"%s\",result=\"%s\"} %" PRIu64 "\n", s->uri,
                result_names[r], (uint64_t)atomic_load(&s->fetches[r]));
    if (p->jwks_srcs && rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_jwks_keys Keys of the last good remote JWK "
                                     "Set in use (0: none fetched yet).\n"
                                     "# TYPE gatehouse_jwks_keys gauge\n");
    for (struct px_jwks_src *s = p->jwks_srcs; s && rc == 0; s = s->next)
        rc = gw_buf_appendf(out, "gatehouse_jwks_keys{uri=\"%s\",policy=\"%s\"} %zu\n", s->uri,
                            s->policy, keys_count(s));
    if (p->jwks_srcs && rc == 0)
        rc =
            gw_buf_append_cstr(out, "# HELP gatehouse_jwks_last_success_timestamp_seconds When the "
                                    "remote JWK Set was last fetched well (0: never).\n"
                                    "# TYPE gatehouse_jwks_last_success_timestamp_seconds gauge\n");
    for (struct px_jwks_src *s = p->jwks_srcs; s && rc == 0; s = s->next)
        rc = gw_buf_appendf(
            out, "gatehouse_jwks_last_success_timestamp_seconds{uri=\"%s\"} %" PRId64 "\n", s->uri,
            (int64_t)atomic_load(&s->last_ok_s));
    pthread_mutex_unlock(&p->jwks_mu);
    return rc;
}
