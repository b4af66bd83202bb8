/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Translate benchmark. Two shapes of generated store:
 *
 *   multi (default): one Gateway (four HTTP listeners, routes from All
 *     namespaces), 500 namespaces each with a Service, an EndpointSlice of
 *     three endpoints and 10 HTTPRoutes (two hostnames, three rules with
 *     prefix/exact/header matches and weighted backends): 5,000 routes.
 *   one: benchmark scenario 5 (bench/run.py gw_big_config): one Gateway
 *     with one HTTP listener (routes from the Same namespace), SERVICES
 *     Services with an EndpointSlice of one endpoint and ROUTES one-rule
 *     HTTPRoutes (PathPrefix /rNNNNN/), all in one namespace.
 *
 * Decodes the store once, then times translate (store -> statuses + IR) and
 * the router compile of the IR (what gw_proxy_publish does) separately over
 * several runs and reports the fastest and the median of each, the arena
 * bytes of the statuses and of the IR, and the peak RSS.
 *
 *   bench_translate [NAMESPACES [ROUTES_PER_NAMESPACE [RUNS]]]
 *   bench_translate one [ROUTES [SERVICES [RUNS]]]
 */
#include <sys/resource.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "load/load.h"
#include "route/route.h"
#include "status/status.h"

#include "base/banned.h"

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this (single-threaded) process: less disturbed than the
 * wall clock when other processes share the cores. */
static double
cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long
rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Called through these so that LTO keeps them out of main: a profiler can
 * then collect them alone (valgrind --tool=callgrind
 * --toggle-collect=gw_status_translate). */
static int (*volatile translate_fn)(const struct gw_store *, const struct gw_status_opts *,
                                    struct gw_status **, struct gw_ir **) = gw_status_translate;
static int (*volatile router_build_fn)(const struct gw_ir *, struct gw_diags *,
                                       struct gw_router **) = gw_router_build;

static unsigned long
parse_arg(const char *s, unsigned long dflt)
{
    uint64_t v;
    if (!s || gw_str_to_u64(gw_str_from(s), 1000000, &v) < 0 || !v)
        return dflt;
    return (unsigned long)v;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
generate(struct gw_buf *b, unsigned long nns, unsigned long per_ns)
{
    gw_buf_appendf(b, "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
                      "metadata: {name: gatehouse}\n"
                      "spec: {controllerName: " GW_CONTROLLER_NAME "}\n---\n"
                      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
                      "metadata: {name: gw, namespace: infra}\n"
                      "spec:\n  gatewayClassName: gatehouse\n  listeners:\n");
    for (int l = 0; l < 4; l++)
        gw_buf_appendf(b,
                       "  - name: l%d\n    port: 80\n    protocol: HTTP\n"
                       "    hostname: \"*.z%d.example.com\"\n"
                       "    allowedRoutes: {namespaces: {from: All}}\n",
                       l, l);
    for (unsigned long n = 0; n < nns; n++) {
        gw_buf_appendf(
            b,
            "---\napiVersion: v1\nkind: Namespace\n"
            "metadata: {name: ns%lu, labels: {kubernetes.io/metadata.name: ns%lu}}\n"
            "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: ns%lu}\n"
            "spec: {ports: [{name: http, port: 80, targetPort: 8080}]}\n"
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            "metadata: {name: svc-1, namespace: ns%lu,"
            " labels: {kubernetes.io/service-name: svc}}\n"
            "addressType: IPv4\nports: [{name: http, port: 8080}]\n"
            "endpoints:\n- addresses: [10.%lu.%lu.1]\n- addresses: [10.%lu.%lu.2]\n"
            "- addresses: [10.%lu.%lu.3]\n",
            n, n, n, n, n / 250, n % 250, n / 250, n % 250, n / 250, n % 250);
        for (unsigned long r = 0; r < per_ns; r++)
            gw_buf_appendf(
                b,
                "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                "metadata: {name: r%lu, namespace: ns%lu}\n"
                "spec:\n"
                "  parentRefs: [{name: gw, namespace: infra}]\n"
                "  hostnames: [app%lu.ns%lu.z%lu.example.com, \"*.ns%lu.z%lu.example.com\"]\n"
                "  rules:\n"
                "  - matches: [{path: {type: PathPrefix, value: /api/v%lu}}]\n"
                "    backendRefs: [{name: svc, port: 80, weight: 90},"
                " {name: svc, port: 80, weight: 10}]\n"
                "  - matches: [{path: {type: Exact, value: /login}, method: POST}]\n"
                "    backendRefs: [{name: svc, port: 80}]\n"
                "  - matches: [{headers: [{name: x-canary, value: \"true\"}]}]\n"
                "    filters: [{type: RequestHeaderModifier,"
                " requestHeaderModifier: {add: [{name: x-route, value: r%lu}]}}]\n"
                "    backendRefs: [{name: svc, port: 80}]\n",
                r, n, r, n, (n + r) % 4, n, (n + r) % 4, r, r);
    }
}

/* The scenario-5 shape, as bench/run.py gw_big_config writes it. */
static void
generate_one(struct gw_buf *b, unsigned long nroutes, unsigned long nsvc)
{
    gw_buf_appendf(b, "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
                      "metadata: {name: gatehouse}\n"
                      "spec: {controllerName: " GW_CONTROLLER_NAME "}\n---\n"
                      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
                      "metadata: {name: bench, namespace: bench}\n"
                      "spec:\n  gatewayClassName: gatehouse\n"
                      "  addresses: [{type: IPAddress, value: 127.0.0.1}]\n  listeners:\n"
                      "  - {name: http, protocol: HTTP, port: 18080,"
                      " allowedRoutes: {namespaces: {from: Same}}}\n");
    for (unsigned long i = 0; i < nsvc; i++)
        gw_buf_appendf(b,
                       "---\napiVersion: v1\nkind: Service\n"
                       "metadata: {name: svc%04lu, namespace: bench}\n"
                       "spec:\n  ports: [{name: http, port: 18090, targetPort: 18090}]\n"
                       "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                       "metadata: {name: svc%04lu-1, namespace: bench,"
                       " labels: {kubernetes.io/service-name: svc%04lu}}\n"
                       "addressType: IPv4\nports: [{name: http, port: 18090, protocol: TCP}]\n"
                       "endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n",
                       i, i, i);
    for (unsigned long k = 0; k < nroutes; k++)
        gw_buf_appendf(b,
                       "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
                       "metadata: {name: r%05lu, namespace: bench}\n"
                       "spec:\n  parentRefs: [{name: bench}]\n  rules:\n"
                       "  - matches: [{path: {type: PathPrefix, value: \"/r%05lu/\"}}]\n"
                       "    backendRefs: [{name: svc%04lu, port: 18090}]\n",
                       k, k, k % nsvc);
}

int
main(int argc, char **argv)
{
    bool one = argc > 1 && !strcmp(argv[1], "one");
    if (one) {
        argc--;
        argv++;
    }
    unsigned long nns = parse_arg(argc > 1 ? argv[1] : NULL, one ? 5000 : 500);
    unsigned long per_ns = parse_arg(argc > 2 ? argv[2] : NULL, one ? 1000 : 10);
    unsigned long runs = parse_arg(argc > 3 ? argv[3] : NULL, 7);

    struct gw_buf text;
    gw_buf_init(&text, (size_t)1 << 31);
    if (one)
        generate_one(&text, nns, per_ns);
    else
        generate(&text, nns, per_ns);

    struct gw_docs docs;
    struct gw_diags diags;
    struct gw_store store;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    gw_store_init(&store);
    /* The generated text is one big multi-document YAML file. */
    docs.limits.max_file_bytes = text.len + 1;
    double t0 = now_ms();
    gw_docs_add_yaml(&docs, "bench.yaml", text.p, text.len, &diags);
    gw_decode_docs(&docs, &store, &diags);
    double t_load = now_ms() - t0;
    if (diags.errors) {
        fprintf(stderr, "bench: generated input has %zu errors\n", diags.errors);
        return 1;
    }
    gw_docs_release(&docs);
    gw_buf_release(&text);
    long rss_store = rss_kb();

    double *ms = gw_xcalloc(runs, sizeof(*ms));
    double *cms = gw_xcalloc(runs, sizeof(*cms));
    double *tcpu = gw_xcalloc(runs, sizeof(*tcpu));
    double *ccpu = gw_xcalloc(runs, sizeof(*ccpu));
    size_t status_bytes = 0, ir_bytes = 0, items = 0, not_ready = 0, router_bytes = 0;
    for (unsigned long i = 0; i < runs; i++) {
        struct gw_status *st = NULL;
        struct gw_ir *ir = NULL;
        struct gw_router *router = NULL;
        double t = now_ms(), c = cpu_ms();
        if (translate_fn(&store, NULL, &st, &ir) < 0)
            return 1;
        ms[i] = now_ms() - t;
        tcpu[i] = cpu_ms() - c;
        t = now_ms();
        c = cpu_ms();
        if (router_build_fn(ir, NULL, &router) < 0)
            return 1;
        cms[i] = now_ms() - t;
        ccpu[i] = cpu_ms() - c;
        status_bytes = gw_arena_total(&st->arena);
        ir_bytes = gw_arena_total(&ir->arena);
        router_bytes = gw_router_memory(router);
        items = st->n;
        not_ready = st->routes_not_ready;
        gw_router_free(router);
        gw_status_free(st);
        gw_ir_unref(ir);
    }
    qsort(ms, runs, sizeof(*ms), cmp_double);
    qsort(cms, runs, sizeof(*cms), cmp_double);
    qsort(tcpu, runs, sizeof(*tcpu), cmp_double);
    qsort(ccpu, runs, sizeof(*ccpu), cmp_double);
    if (one)
        printf("routes: %lu in one namespace, services: %lu, objects: %zu, statuses: %zu, "
               "not ready: %zu\n",
               nns, per_ns, gw_store_size(&store), items, not_ready);
    else
        printf("routes: %lu (%lu namespaces x %lu), objects: %zu, statuses: %zu, not ready: %zu\n",
               nns * per_ns, nns, per_ns, gw_store_size(&store), items, not_ready);
    printf("load+decode: %.1f ms (not part of translate)\n", t_load);
    printf("translate: min %.2f ms, median %.2f ms (CPU median %.2f ms) over %lu runs\n", ms[0],
           ms[runs / 2], tcpu[runs / 2], runs);
    printf("router compile: min %.2f ms, median %.2f ms (CPU median %.2f ms), %.1f MB\n", cms[0],
           cms[runs / 2], ccpu[runs / 2], (double)router_bytes / 1e6);
    printf("arenas: statuses %.1f MB, IR %.1f MB\n", (double)status_bytes / 1e6,
           (double)ir_bytes / 1e6);
    printf("peak RSS: %.1f MB (%.1f MB after loading the store)\n", (double)rss_kb() / 1024,
           (double)rss_store / 1024);
    free(ms);
    free(cms);
    free(tcpu);
    free(ccpu);
    gw_store_release(&store);
    gw_diags_release(&diags);
    return 0;
}
