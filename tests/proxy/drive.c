/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy-drive: a DEV TOOL, not a test and not part of gatehouse. Runs the
 * data plane (src/proxy) before `gatehouse run` exists, for manual checks
 * with curl, wrk and python:
 *
 *   proxy-drive -f DIR [-w N] [-l text|json] [--p2c]
 *       loads every manifest under DIR, translates it (status/) to an IR
 *       and serves it; SIGHUP reloads DIR (publishes a new snapshot)
 *   proxy-drive --listen ADDR:PORT --upstream IP:PORT[,IP:PORT...] [-w N]
 *               [--hostname NAME]
 *       hand-built IR: one HTTP port, one vhost (NAME, default "*"),
 *       PathPrefix "/" to the given endpoints (what the benchmark needs)
 *
 * SIGINT/SIGTERM drain and exit; SIGUSR1 prints the metrics to stderr.
 */
#include <sys/signalfd.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "config/config.h"
#include "ir/ir.h"
#include "load/load.h"
#include "proxy/proxy.h"
#include "status/status.h"

#include "base/banned.h"

static struct gw_ir *
ir_from_dir(const char *dir)
{
    struct gw_docs docs;
    struct gw_diags diags;
    struct gw_store store;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    gw_store_init(&store);
    gw_docs_add_dir(&docs, dir, &diags);
    gw_decode_docs(&docs, &store, &diags);
    struct gw_buf line;
    gw_buf_init(&line, 64 * 1024);
    for (size_t i = 0; i < diags.n; i++) {
        gw_buf_reset(&line);
        gw_diag_format(&diags.v[i], &line);
        fprintf(stderr, "drive: %s\n", line.p ? line.p : "");
    }
    gw_buf_release(&line);
    struct gw_status_opts so = {0};
    struct gw_status *st = NULL;
    struct gw_ir *ir = NULL;
    if (gw_status_translate(&store, &so, &st, &ir) < 0)
        ir = NULL;
    gw_status_free(st);
    gw_store_release(&store);
    gw_diags_release(&diags);
    gw_docs_release(&docs);
    return ir;
}

static struct gw_ir *
ir_by_hand(const char *listen, const char *ups, const char *vhost)
{
    struct gw_ir *ir = gw_ir_new();
    struct gw_arena *a = &ir->arena;
    char *l = gw_arena_strdup(a, listen);
    char *colon = strrchr(l, ':');
    if (!colon)
        return NULL;
    *colon = 0;
    struct gw_ir_port *pt = gw_arena_alloc(a, sizeof(*pt));
    pt->address = l;
    pt->port = (uint16_t)strtoul(colon + 1, NULL, 10);
    pt->gateway = "default/drive";
    pt->listeners = gw_arena_alloc(a, sizeof(*pt->listeners));
    pt->nlisteners = 1;
    struct gw_ir_listener *li = pt->listeners;
    li->owner = "default/drive";
    li->name = "http";
    li->proto = GW_IR_HTTP;
    li->vhosts = gw_arena_alloc(a, sizeof(*li->vhosts));
    li->nvhosts = 1;
    li->vhosts->hostname = vhost ? gw_arena_strdup(a, vhost) : "*";
    struct gw_ir_route *r = gw_arena_alloc(a, sizeof(*r));
    li->vhosts->routes = r;
    li->vhosts->nroutes = 1;
    r->route = "HTTPRoute default/drive";
    r->path_type = GW_IR_PATH_PREFIX;
    r->path = "/";
    r->request_timeout_ms = r->backend_timeout_ms = -1;
    r->retry_attempts = -1;
    r->retry_backoff_ms = -1;
    r->backends = gw_arena_alloc(a, sizeof(*r->backends));
    r->nbackends = 1;
    struct gw_ir_backend *b = r->backends;
    b->name = "default/upstream:80";
    b->weight = 1;
    size_t n = 1;
    for (const char *s = ups; *s; s++)
        n += *s == ',';
    b->endpoints = gw_arena_alloc(a, n * sizeof(*b->endpoints));
    char *list = gw_arena_strdup(a, ups);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *c = strrchr(tok, ':');
        if (!c)
            return NULL;
        *c = 0;
        b->endpoints[b->nendpoints].ip = tok;
        b->endpoints[b->nendpoints].port = (uint16_t)strtoul(c + 1, NULL, 10);
        b->nendpoints++;
    }
    ir->ports = pt;
    ir->nports = 1;
    return ir;
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"listen", required_argument, NULL, 'L'},
        {"upstream", required_argument, NULL, 'U'},
        {"p2c", no_argument, NULL, 'P'},
        {"hostname", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct gw_proxy_opts o;
    gw_proxy_opts_default(&o);
    const char *dir = NULL, *listen = NULL, *ups = NULL, *vhost = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "f:w:l:", lo, NULL)) != -1) {
        switch (c) {
        case 'f':
            dir = optarg;
            break;
        case 'w':
            o.workers = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            o.access_log = strcmp(optarg, "json") == 0 ? GW_PROXY_LOG_JSON : GW_PROXY_LOG_TEXT;
            break;
        case 'L':
            listen = optarg;
            break;
        case 'U':
            ups = optarg;
            break;
        case 'P':
            o.lb = GW_PROXY_LB_P2C;
            break;
        case 'H':
            vhost = optarg;
            break;
        default:
            fprintf(stderr, "usage: see tests/proxy/drive.c\n");
            return 2;
        }
    }
    struct gw_ir *ir = dir               ? ir_from_dir(dir)
                       : (listen && ups) ? ir_by_hand(listen, ups, vhost)
                                         : NULL;
    if (!ir) {
        fprintf(stderr, "drive: no configuration (-f DIR, or --listen and --upstream)\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);

    struct gw_proxy *p;
    if (gw_proxy_new(&o, &p) < 0)
        return 1;
    gw_proxy_publish(p, ir);
    gw_ir_unref(ir);
    if (gw_proxy_start(p) < 0) {
        fprintf(stderr, "drive: start failed\n");
        return 1;
    }
    struct gw_buf errs;
    gw_buf_init(&errs, 65536);
    gw_proxy_port_errors(p, &errs);
    if (errs.len)
        fprintf(stderr, "drive: port errors:\n%s", errs.p);
    gw_buf_release(&errs);
    fprintf(stderr, "drive: serving (%u workers)\n", o.workers);
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != sizeof(si))
            continue;
        if (si.ssi_signo == SIGHUP && dir) {
            struct gw_ir *nir = ir_from_dir(dir);
            if (nir) {
                gw_proxy_publish(p, nir);
                gw_ir_unref(nir);
                fprintf(stderr, "drive: reloaded\n");
            }
            continue;
        }
        if (si.ssi_signo == SIGUSR1) {
            struct gw_buf m;
            gw_buf_init(&m, 1 << 20);
            gw_proxy_metrics_format(p, &m);
            fprintf(stderr, "%s", m.p ? m.p : "");
            gw_buf_release(&m);
            continue;
        }
        break;
    }
    fprintf(stderr, "drive: draining\n");
    gw_proxy_drain(p);
    gw_proxy_free(p);
    close(sfd);
    return 0;
}
