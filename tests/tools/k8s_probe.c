/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_probe: drives the k8s API client (src/k8s/http.c) against a real or
 * double API server for the end-to-end tests. It loads a kubeconfig or an
 * in-cluster directory, runs buffered GETs and streamed watches on one
 * gw_loop, and prints one line per outcome:
 *   GET <path> code=<c> err=<e> len=<n> retry_after=<s>
 *   BODY <body>
 *   CHUNK <path> <n>: <bytes>
 *   WATCH <path> code=<c> err=<e>
 * With --cancel-test the first watch's first chunk cancels the second
 * watch and starts a GET /version from inside the data callback. With
 * --rotate-token T the first GET's done writes T into the configured token
 * file and the same GET runs again 1.5 s later (token rotation).
 * Exits 0 once every request ended, 2 on its own deadline, 1 on bad use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/internal.h"
#include "loop/loop.h"

#include "base/banned.h"

struct call;

struct probe {
    struct gw_loop *loop;
    struct gw_k8s_http *http;
    struct gw_timer deadline;
    int pending;
    int rc;
    bool cancel_test;
    struct gw_k8s_req *victim;
    struct call *victim_call;
    struct call *first_watch;
    struct call *calls[64]; /* every call, freed at exit */
    size_t ncalls;
    uint64_t timeout_ms;
    /* --rotate-token: after the first GET, write this token into the token
     * file, wait past the client's once-a-second check, GET again. */
    const char *rotate_token;
    char *token_file;
    struct gw_timer again;
    char again_path[512];
};

struct call {
    struct probe *p;
    char path[512];
    bool watch;
};

static void
finish(struct probe *p)
{
    if (--p->pending == 0)
        gw_loop_stop(p->loop);
}

static struct gw_k8s_req *start(struct probe *p, const char *path, bool watch, struct call **out);

static void
on_done(void *data, const struct gw_k8s_resp *resp)
{
    struct call *c = data;
    if (c->watch) {
        printf("WATCH %s code=%ld err=%d\n", c->path, resp->code, resp->err);
        if (resp->len)
            printf("BODY %s\n", resp->body);
    } else {
        printf("GET %s code=%ld err=%d len=%zu retry_after=%lld\n", c->path, resp->code, resp->err,
               resp->len, (long long)resp->retry_after_s);
        printf("BODY %.*s\n", (int)GW_MIN(resp->len, (size_t)4096), resp->body);
    }
    fflush(stdout);
    struct probe *p = c->p;
    if (p->rotate_token && !c->watch && p->token_file) {
        FILE *f = fopen(p->token_file, "w");
        if (f) {
            fprintf(f, "%s\n", p->rotate_token);
            fclose(f);
        }
        printf("ROTATED token file\n");
        p->rotate_token = NULL;
        snprintf(p->again_path, sizeof(p->again_path), "%s", c->path);
        p->pending++;
        gw_timer_start(&p->again, 1500);
    }
    if (c == p->victim_call) { /* ended before the cancel test ran */
        p->victim = NULL;
        p->victim_call = NULL;
    }
    finish(p);
}

static int
on_data(void *data, const char *b, size_t n)
{
    struct call *c = data;
    struct probe *p = c->p;
    printf("CHUNK %s %zu: %.*s\n", c->path, n, (int)n, b);
    fflush(stdout);
    if (p->cancel_test && c == p->first_watch && p->victim) {
        /* From inside curl's write callback: cancel another transfer and
         * start a new one. */
        gw_k8s_req_cancel(p->victim);
        p->victim = NULL;
        p->victim_call = NULL;
        finish(p);
        printf("CANCELLED second watch\n");
        start(p, "/version", false, NULL);
    }
    return 0;
}

static struct gw_k8s_req *
start(struct probe *p, const char *path, bool watch, struct call **out)
{
    GW_ASSERT(p->ncalls < GW_ARRAY_LEN(p->calls));
    struct call *c = gw_xcalloc(1, sizeof(*c));
    p->calls[p->ncalls++] = c;
    c->p = p;
    c->watch = watch;
    snprintf(c->path, sizeof(c->path), "%s", path);
    struct gw_k8s_req_opts o = {
        .path = path,
        .on_data = watch ? on_data : NULL,
        .on_done = on_done,
        .data = c,
        .timeout_ms = watch ? 0 : p->timeout_ms,
    };
    p->pending++;
    if (out)
        *out = c;
    return gw_k8s_http_request(p->http, &o);
}

static void
on_again(struct gw_timer *t)
{
    struct probe *p = t->data;
    start(p, p->again_path, false, NULL);
    finish(p);
}

static void
on_deadline(struct gw_timer *t)
{
    struct probe *p = t->data;
    printf("DEADLINE\n");
    fflush(stdout);
    p->rc = 2;
    gw_loop_stop(p->loop);
}

static int
usage(void)
{
    fprintf(stderr, "usage: k8s_probe (--kubeconfig FILE [--context NAME] | --incluster-dir DIR)\n"
                    "  [--token T] [--ca FILE] [--get PATH]... [--watch PATH]...\n"
                    "  [--cancel-test] [--rotate-token T] [--timeout-ms N] [--deadline-ms N]\n");
    return 1;
}

int
main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *context = NULL, *incluster = NULL;
    const char *token = NULL, *ca = NULL;
    const char *gets[16], *watches[16];
    size_t ngets = 0, nwatches = 0;
    uint64_t deadline_ms = 20000;
    struct probe p = {.timeout_ms = 10000};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--cancel-test") == 0) {
            p.cancel_test = true;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--kubeconfig") == 0)
            kubeconfig = v;
        else if (strcmp(a, "--context") == 0)
            context = v;
        else if (strcmp(a, "--incluster-dir") == 0)
            incluster = v;
        else if (strcmp(a, "--token") == 0)
            token = v;
        else if (strcmp(a, "--ca") == 0)
            ca = v;
        else if (strcmp(a, "--get") == 0 && ngets < GW_ARRAY_LEN(gets))
            gets[ngets++] = v;
        else if (strcmp(a, "--watch") == 0 && nwatches < GW_ARRAY_LEN(watches))
            watches[nwatches++] = v;
        else if (strcmp(a, "--timeout-ms") == 0)
            p.timeout_ms = strtoull(v, NULL, 10);
        else if (strcmp(a, "--rotate-token") == 0)
            p.rotate_token = v;
        else if (strcmp(a, "--deadline-ms") == 0)
            deadline_ms = strtoull(v, NULL, 10);
        else
            return usage();
    }
    if (!kubeconfig == !incluster)
        return usage();

    struct gw_k8s_config cfg;
    char *err = NULL;
    int rc = incluster ? gw_k8s_config_incluster(incluster, &cfg, &err)
                       : gw_k8s_config_kubeconfig(kubeconfig, context, &cfg, &err);
    if (rc < 0) {
        printf("CONFIG error %d: %s\n", rc, err ? err : gw_strerror(rc));
        free(err);
        return 0;
    }
    printf("CONFIG server=%s\n", cfg.server);
    if (cfg.token_file)
        p.token_file = gw_xstrdup(cfg.token_file);
    if (token) {
        free(cfg.token);
        free(cfg.token_file);
        cfg.token_file = NULL;
        cfg.token = gw_xstrdup(token);
    }
    if (ca) {
        free(cfg.ca_file);
        free(cfg.ca_data);
        cfg.ca_data = NULL;
        cfg.ca_file = gw_xstrdup(ca);
    }

    if ((rc = gw_loop_new(&p.loop)) < 0) {
        fprintf(stderr, "k8s_probe: loop: %s\n", gw_strerror(rc));
        gw_k8s_config_release(&cfg);
        return 1;
    }
    rc = gw_k8s_http_new(p.loop, &cfg, &p.http);
    gw_k8s_config_release(&cfg);
    if (rc < 0) {
        fprintf(stderr, "k8s_probe: http: %s\n", gw_strerror(rc));
        gw_loop_free(p.loop);
        return 1;
    }
    gw_timer_init(p.loop, &p.deadline, on_deadline, &p);
    gw_timer_init(p.loop, &p.again, on_again, &p);
    gw_timer_start(&p.deadline, deadline_ms);

    for (size_t i = 0; i < ngets; i++)
        start(&p, gets[i], false, NULL);
    for (size_t i = 0; i < nwatches; i++) {
        struct call *c;
        struct gw_k8s_req *r = start(&p, watches[i], true, &c);
        if (i == 0)
            p.first_watch = c;
        else if (i == 1 && p.cancel_test) {
            p.victim = r;
            p.victim_call = c;
        }
    }
    if (p.pending > 0)
        gw_loop_run(p.loop);

    const struct gw_k8s_http_stats *st = gw_k8s_http_stats(p.http);
    printf("STATS in_flight=%llu 200=%llu 401=%llu 0=%llu\n", (unsigned long long)st->in_flight,
           (unsigned long long)st->by_code[200], (unsigned long long)st->by_code[401],
           (unsigned long long)st->by_code[0]);
    /* On a deadline, requests are still in flight: free cancels them. */
    gw_k8s_http_free(p.http);
    gw_timer_stop(&p.deadline);
    gw_timer_stop(&p.again);
    free(p.token_file);
    gw_loop_free(p.loop);
    for (size_t i = 0; i < p.ncalls; i++)
        free(p.calls[i]);
    return p.rc;
}
