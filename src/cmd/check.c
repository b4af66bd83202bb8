/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `gatehouse check -f PATH...`: loads every manifest under the given files
 * and directories exactly as `gatehouse run` would, applies the CRD
 * defaults and validation, and prints every problem, one per line:
 *
 *   file:line:col: Kind ns/name: field.path: message
 *
 * Exit status: 0 when every object is valid, 1 when any is not, 2 on a
 * usage error. Warnings (unknown kinds) are printed but do not fail.
 *
 * With -o json|yaml it then runs translate (status/) and prints every
 * status gatehouse would write as a Kubernetes List (the errors go to
 * stderr instead); with --ir it prints the IR dump. In those modes the exit
 * status is also 1 when some route is not Accepted=True and ResolvedRefs=True
 * on every parent entry of ours. --features lists the claimed features.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cmd/cmd.h"
#include "config/config.h"
#include "load/load.h"
#include "status/status.h"

#include "base/banned.h"

static void
check_usage(FILE *f)
{
    fprintf(f, "usage: gatehouse check -f PATH [-f PATH]... [-q] [-o json|yaml] [--ir]\n"
               "                       [--address-pool CIDR] [--controller-name NAME]\n"
               "\n"
               "Loads every *.yaml, *.yml and *.json under each PATH (a file or a\n"
               "directory, recursively), validates every object as the API server\n"
               "would, and prints each error as file:line:col: Kind ns/name: field: message.\n"
               "\n"
               "  -f, --filename PATH   a manifest file or directory (repeatable)\n"
               "  -q, --quiet           print errors only, no summary\n"
               "  -o, --output FORMAT   json or yaml: print the status of every object\n"
               "                        gatehouse owns as a v1 List (errors go to stderr)\n"
               "      --ir              print the IR the data plane would serve\n"
               "      --address-pool CIDR  addresses for Gateways without spec.addresses\n"
               "      --controller-name NAME  the GatewayClass controllerName to own\n"
               "                        (default " GW_CONTROLLER_NAME ")\n"
               "      --features        print the claimed Gateway API features and exit\n"
               "  -h, --help            this text\n"
               "\n"
               "Exit status: 0 all valid, 1 some object invalid (with -o or --ir: or\n"
               "some route not accepted with resolved refs), 2 usage error.\n");
}

static int
load_path(struct gw_docs *docs, const char *path, struct gw_diags *diags)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        gw_diags_add(diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL, "%s",
                     gw_strerror(-errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return gw_docs_add_dir(docs, path, diags);
    return gw_docs_add_file(docs, path, diags);
}

static int
print_features(void)
{
    size_t n;
    const struct gw_feature *f = gw_status_features(&n);
    for (size_t i = 0; i < n; i++)
        if (f[i].claimed)
            printf("%s\n", f[i].name);
    return 0;
}

/* Translates the store and prints the List and/or the IR. 0, 1 (some object
 * or route not ready), or 2 (bad options). */
static int
run_translate(const struct gw_store *store, const struct gw_status_opts *opts, bool list, bool yaml,
              bool want_ir)
{
    struct gw_status *st = NULL;
    struct gw_ir *ir = NULL;
    if (gw_status_translate(store, opts, &st, &ir) < 0) {
        fprintf(stderr, "gatehouse check: invalid --address-pool %s\n",
                opts->address_pool ? opts->address_pool : "");
        return 2;
    }
    struct gw_buf out;
    gw_buf_init(&out, (size_t)1 << 30);
    if (list)
        gw_status_format(st, yaml, &out);
    if (want_ir)
        gw_ir_format(ir, &out);
    if (out.len)
        fwrite(out.p, 1, out.len, stdout);
    gw_buf_release(&out);
    int rc = st->routes_not_ready ? 1 : 0;
    gw_status_free(st);
    gw_ir_unref(ir);
    return rc;
}

int
gw_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'o'},
        {"ir", no_argument, NULL, 'I'},
        {"address-pool", required_argument, NULL, 'P'},
        {"controller-name", required_argument, NULL, 'C'},
        {"features", no_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    const char **paths = NULL;
    size_t npaths = 0, cap = 0;
    bool quiet = false, want_ir = false, yaml = false, json = false;
    /* The statuses of a gatehouse that runs with Redis: whether one is
     * there is a matter of `run --redis`, not of the manifests. */
    struct gw_status_opts sopts = {.global_ratelimits = true};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:qho:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            paths = gw_xgrow(paths, &cap, npaths + 1, sizeof(*paths));
            paths[npaths++] = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'o':
            yaml = !strcmp(optarg, "yaml");
            json = !strcmp(optarg, "json");
            if (!yaml && !json) {
                fprintf(stderr, "gatehouse check: -o takes json or yaml\n");
                free(paths);
                return 2;
            }
            break;
        case 'I':
            want_ir = true;
            break;
        case 'P':
            sopts.address_pool = optarg;
            break;
        case 'C':
            sopts.controller_name = optarg;
            break;
        case 'F':
            free(paths);
            return print_features();
        case 'h':
            check_usage(stdout);
            free(paths);
            return 0;
        default:
            check_usage(stderr);
            free(paths);
            return 2;
        }
    }
    if (npaths == 0 || optind != argc) {
        check_usage(stderr);
        free(paths);
        return 2;
    }

    struct gw_docs docs;
    struct gw_diags diags;
    struct gw_store store;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    gw_store_init(&store);

    for (size_t i = 0; i < npaths; i++)
        load_path(&docs, paths[i], &diags);
    int rejected = gw_decode_docs(&docs, &store, &diags);
    bool translate = yaml || json || want_ir;

    struct gw_buf line;
    gw_buf_init(&line, 64 * 1024);
    for (size_t i = 0; i < diags.n; i++) {
        gw_buf_reset(&line);
        gw_diag_format(&diags.v[i], &line);
        /* stdout carries the List when translating: errors go aside. */
        fprintf(translate ? stderr : stdout, "%s\n", line.p ? line.p : "");
    }
    gw_buf_release(&line);

    int status = diags.errors ? 1 : 0;
    if (translate) {
        int rc = run_translate(&store, &sopts, yaml || json, yaml, want_ir);
        if (rc == 2) {
            gw_store_release(&store);
            gw_diags_release(&diags);
            gw_docs_release(&docs);
            free(paths);
            return 2;
        }
        if (rc)
            status = 1;
    }
    if (!quiet)
        fprintf(stderr,
                "%zu documents, %zu objects loaded, %d rejected, %zu errors, %zu warnings\n",
                docs.n, gw_store_size(&store), rejected, diags.errors, diags.warnings);

    gw_store_release(&store);
    gw_diags_release(&diags);
    gw_docs_release(&docs);
    free(paths);
    return status;
}
