/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_reflect: runs the k8s reflectors of the named kinds against a
 * kubeconfig and prints one line per event, for the end-to-end tests:
 *
 *   HTTPRoute LIST_BEGIN
 *   HTTPRoute ADDED ns/name rv
 *   HTTPRoute LIST_END
 *
 * and, at exit, "STATS Kind lists=N relists=N watches=N errors=N
 * installed=0|1 synced=0|1" per kind. Exits after --seconds (or on
 * SIGINT/SIGTERM).
 *
 * usage: k8s_reflect --kubeconfig FILE [--context C] [--seconds N]
 *                    [--page-size N] [--namespace NS]... KIND...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "config/config.h"
#include "k8s/internal.h"
#include "loop/loop.h"

#include "base/banned.h"

static const char *const event_names[] = {"LIST_BEGIN", "ADDED", "MODIFIED", "DELETED", "LIST_END"};

static void
on_event(void *data, enum gw_kind kind, enum gw_k8s_event ev, const struct gw_node *obj)
{
    (void)data;
    if (!obj) {
        printf("%s %s\n", gw_kind_name(kind), event_names[ev]);
        return;
    }
    const struct gw_node *meta = gw_node_get(obj, "metadata");
    const struct gw_node *ns = gw_node_get(meta, "namespace");
    const struct gw_node *name = gw_node_get(meta, "name");
    const struct gw_node *rv = gw_node_get(meta, "resourceVersion");
    printf("%s %s %s%s%s %s\n", gw_kind_name(kind), event_names[ev],
           ns && ns->type == GW_NODE_STR ? ns->text : "", ns && ns->type == GW_NODE_STR ? "/" : "",
           name && name->type == GW_NODE_STR ? name->text : "?",
           rv && rv->type == GW_NODE_STR ? rv->text : "?");
}

static void
on_deadline(struct gw_timer *t)
{
    gw_loop_stop(t->data);
}

static int
usage(void)
{
    fprintf(stderr, "usage: k8s_reflect --kubeconfig FILE [--context C] [--seconds N] "
                    "[--page-size N] [--namespace NS]... KIND...\n");
    return 2;
}

int
main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *context = NULL;
    uint64_t seconds = 10, page = 0;
    const char *ns[64];
    size_t nns = 0;
    enum gw_kind kinds[GW_KIND__COUNT];
    size_t nk = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 < argc && strcmp(a, "--kubeconfig") == 0) {
            kubeconfig = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--context") == 0) {
            context = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--seconds") == 0) {
            if (gw_str_to_u64(gw_str_from(argv[++i]), UINT32_MAX, &seconds) < 0)
                return usage();
        } else if (i + 1 < argc && strcmp(a, "--page-size") == 0) {
            if (gw_str_to_u64(gw_str_from(argv[++i]), UINT32_MAX, &page) < 0)
                return usage();
        } else if (i + 1 < argc && strcmp(a, "--namespace") == 0) {
            if (nns + 1 >= GW_ARRAY_LEN(ns))
                return usage();
            ns[nns++] = argv[++i];
        } else if (a[0] == '-') {
            return usage();
        } else {
            if (nk >= GW_ARRAY_LEN(kinds) || gw_kind_from_name(a, &kinds[nk]) < 0)
                return usage();
            nk++;
        }
    }
    ns[nns] = NULL;
    if (!kubeconfig || nk == 0)
        return usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    gw_log_set_level(GW_LOG_DEBUG);

    struct gw_k8s_config cfg;
    char *err = NULL;
    int rc = gw_k8s_config_kubeconfig(kubeconfig, context, &cfg, &err);
    if (rc < 0) {
        fprintf(stderr, "k8s_reflect: %s\n", err ? err : gw_strerror(rc));
        free(err);
        return 1;
    }
    struct gw_loop *loop = NULL;
    struct gw_k8s_http *http = NULL;
    struct gw_k8s_discovery *disc = NULL;
    struct gw_k8s_reflector *r[GW_KIND__COUNT] = {0};
    if ((rc = gw_loop_new(&loop)) < 0 || (rc = gw_loop_stop_on_signals(loop)) < 0 ||
        (rc = gw_k8s_http_new(loop, &cfg, &http)) < 0) {
        fprintf(stderr, "k8s_reflect: %s\n", gw_strerror(rc));
        goto out;
    }
    disc = gw_k8s_discovery_new(http, loop);
    for (size_t i = 0; i < nk; i++) {
        struct gw_k8s_reflector_opts o = {
            .http = http,
            .loop = loop,
            .discovery = disc,
            .kind = kinds[i],
            .namespaces = nns ? ns : NULL,
            .page_size = (size_t)page,
            .on_event = on_event,
        };
        if ((rc = gw_k8s_reflector_new(&o, &r[i])) < 0) {
            fprintf(stderr, "k8s_reflect: %s\n", gw_strerror(rc));
            goto out;
        }
        gw_k8s_reflector_start(r[i]);
    }
    struct gw_timer deadline;
    gw_timer_init(loop, &deadline, on_deadline, loop);
    gw_timer_start(&deadline, seconds * 1000);
    rc = gw_loop_run(loop);
    gw_timer_stop(&deadline);
    for (size_t i = 0; i < nk; i++) {
        const struct gw_k8s_reflector_stats *st = gw_k8s_reflector_stats(r[i]);
        printf("STATS %s lists=%llu relists=%llu watches=%llu errors=%llu installed=%d "
               "synced=%d\n",
               gw_kind_name(kinds[i]), (unsigned long long)st->lists,
               (unsigned long long)st->relists, (unsigned long long)st->watches,
               (unsigned long long)st->errors, st->installed ? 1 : 0,
               gw_k8s_reflector_is_synced(r[i]) ? 1 : 0);
    }
out:
    for (size_t i = 0; i < nk; i++)
        gw_k8s_reflector_free(r[i]);
    gw_k8s_discovery_free(disc);
    gw_k8s_http_free(http);
    if (loop)
        gw_loop_free(loop);
    gw_k8s_config_release(&cfg);
    return rc < 0 ? 1 : 0;
}
