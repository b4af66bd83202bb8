/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays fuzz corpora without libFuzzer (knot-dns' approach), so any
 * compiler runs every fuzz target's corpus as an ordinary regression test.
 * Arguments are files or directories (every regular file inside is one
 * input). Crashes and sanitizer reports fail the test.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tap.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned replayed;

static int
replay_file(const char *path)
{
    size_t len = 0;
    char *data = tap_read_file(path, &len);
    if (!data) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return 1;
    }
    /* Copy into an exact-size allocation so ASan sees reads past the end. */
    uint8_t *exact = gw_xmalloc(len ? len : 1);
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    replayed++;
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: not found\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc |= replay_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d)
            return 1;
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            names = gw_xgrow(names, &cap, n + 1, sizeof(*names));
            names[n++] = gw_xasprintf("%s/%s", argv[i], e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof(*names), cmp_names);
        for (size_t j = 0; j < n; j++) {
            rc |= replay_file(names[j]);
            free(names[j]);
        }
        free(names);
    }
    printf("replayed %u inputs\n", replayed);
    return rc;
}
