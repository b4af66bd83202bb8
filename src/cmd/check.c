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

#include "base/banned.h"

static void
check_usage(FILE *f)
{
    fprintf(f, "usage: gatehouse check -f PATH [-f PATH]... [-q]\n"
               "\n"
               "Loads every *.yaml, *.yml and *.json under each PATH (a file or a\n"
               "directory, recursively), validates every object as the API server\n"
               "would, and prints each error as file:line:col: Kind ns/name: field: message.\n"
               "\n"
               "  -f, --filename PATH   a manifest file or directory (repeatable)\n"
               "  -q, --quiet           print errors only, no summary\n"
               "  -h, --help            this text\n"
               "\n"
               "Exit status: 0 all valid, 1 some object invalid, 2 usage error.\n");
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

int
gw_cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **paths = NULL;
    size_t npaths = 0, cap = 0;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            paths = gw_xgrow(paths, &cap, npaths + 1, sizeof(*paths));
            paths[npaths++] = optarg;
            break;
        case 'q':
            quiet = true;
            break;
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

    struct gw_buf line;
    gw_buf_init(&line, 64 * 1024);
    for (size_t i = 0; i < diags.n; i++) {
        gw_buf_reset(&line);
        gw_diag_format(&diags.v[i], &line);
        printf("%s\n", line.p ? line.p : "");
    }
    gw_buf_release(&line);
    if (!quiet)
        fprintf(stderr,
                "%zu documents, %zu objects loaded, %d rejected, %zu errors, %zu warnings\n",
                docs.n, gw_store_size(&store), rejected, diags.errors, diags.warnings);

    int status = diags.errors ? 1 : 0;
    gw_store_release(&store);
    gw_diags_release(&diags);
    gw_docs_release(&docs);
    free(paths);
    return status;
}
