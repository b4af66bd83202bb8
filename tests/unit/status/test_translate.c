/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Translate from fixtures: every directory under tests/data/status/ holds
 * input.yaml (objects, loaded after _base.yaml: the GatewayClass and the
 * Namespaces), status.yaml (the List `gatehouse check -o yaml` prints) and
 * ir.txt (the IR dump). A first line "# pool: CIDR" in input.yaml sets the
 * address pool. GW_UPDATE_EXPECTED=1 rewrites the expected files (review
 * every diff by hand).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "load/load.h"
#include "status/status.h"
#include "tap.h"

#include "base/banned.h"

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **
list_dirs(const char *dir, size_t *n)
{
    char **names = NULL;
    size_t cap = 0;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || e->d_name[0] == '_' || e->d_type != DT_DIR)
            continue;
        names = gw_xgrow(names, &cap, *n + 1, sizeof(*names));
        names[(*n)++] = gw_xstrdup(e->d_name);
    }
    closedir(d);
    if (*n)
        qsort(names, *n, sizeof(*names), cmp_names);
    return names;
}

static bool
write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok_ = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok_;
}

/* Compares got with the file; prints the first differing line. */
static void
compare(const char *path, const char *got, bool update, const char *what)
{
    if (update) {
        ok(write_file(path, got, strlen(got)), "%s: rewrote %s", what, path);
        return;
    }
    size_t len;
    char *want = tap_read_file(path, &len);
    if (!want) {
        ok(false, "%s: %s missing (GW_UPDATE_EXPECTED=1 writes it)", what, path);
        return;
    }
    bool same = !strcmp(want, got);
    if (!ok(same, "%s matches %s", what, path)) {
        const char *a = want, *b = got;
        unsigned line = 1;
        while (*a && *a == *b) {
            if (*a == '\n')
                line++;
            a++;
            b++;
        }
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        diag("first difference at line %u", line);
        diag("  want: %.*s", (int)(ea ? ea - a : (long)strlen(a)), a);
        diag("  got:  %.*s", (int)(eb ? eb - b : (long)strlen(b)), b);
    }
    free(want);
}

static void
run_case(const char *root, const char *name, bool update)
{
    char path[4096];
    struct gw_docs docs;
    struct gw_diags diags;
    struct gw_store store;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    gw_store_init(&store);

    snprintf(path, sizeof(path), "%s/_base.yaml", root);
    gw_docs_add_file(&docs, path, &diags);
    snprintf(path, sizeof(path), "%s/%s/input.yaml", root, name);
    gw_docs_add_file(&docs, path, &diags);
    int rejected = gw_decode_docs(&docs, &store, &diags);
    if (!ok(rejected == 0 && diags.errors == 0, "%s: input loads cleanly", name)) {
        struct gw_buf b;
        gw_buf_init(&b, 1 << 16);
        for (size_t i = 0; i < diags.n; i++) {
            gw_buf_reset(&b);
            gw_diag_format(&diags.v[i], &b);
            diag("  %s", b.p);
        }
        gw_buf_release(&b);
    }

    struct gw_status_opts opts = {0};
    char pool[128] = "";
    size_t len;
    char *input = tap_read_file(path, &len);
    if (input && !strncmp(input, "# pool: ", 8)) {
        sscanf(input + 8, "%127s", pool);
        opts.address_pool = pool;
    }
    free(input);

    struct gw_status *st = NULL;
    struct gw_ir *ir = NULL;
    int rc = gw_status_translate(&store, &opts, &st, &ir);
    if (is_int(rc, 0, "%s: translate", name)) {
        struct gw_buf out;
        gw_buf_init(&out, (size_t)1 << 28);
        gw_status_format(st, true, &out);
        snprintf(path, sizeof(path), "%s/%s/status.yaml", root, name);
        compare(path, out.p ? out.p : "", update, name);
        gw_buf_reset(&out);
        gw_ir_format(ir, &out);
        snprintf(path, sizeof(path), "%s/%s/ir.txt", root, name);
        compare(path, out.p ? out.p : "", update, name);
        gw_buf_release(&out);
    }
    gw_status_free(st);
    gw_ir_unref(ir);

    /* The two phases give the same: the IR is whole before the statuses
     * are written, and the statuses written after it are the same. */
    struct gw_status_pending *pending = NULL;
    ir = NULL;
    rc = gw_status_translate_ir(&store, &opts, &pending, &ir);
    if (is_int(rc, 0, "%s: translate, IR first", name)) {
        struct gw_buf out;
        gw_buf_init(&out, (size_t)1 << 28);
        gw_ir_format(ir, &out);
        snprintf(path, sizeof(path), "%s/%s/ir.txt", root, name);
        compare(path, out.p ? out.p : "", false, name);
        st = gw_status_pending_finish(pending);
        gw_buf_reset(&out);
        gw_status_format(st, true, &out);
        snprintf(path, sizeof(path), "%s/%s/status.yaml", root, name);
        compare(path, out.p ? out.p : "", false, name);
        gw_buf_release(&out);
        gw_status_free(st);
    }
    gw_ir_unref(ir);
    /* A pending translation dropped unfinished leaks nothing (ASan). */
    pending = NULL;
    if (is_int(gw_status_translate_ir(&store, &opts, &pending, NULL), 0, "%s: translate, IR only",
               name))
        gw_status_pending_free(pending);
    gw_store_release(&store);
    gw_diags_release(&diags);
    gw_docs_release(&docs);
}

int
main(void)
{
    char root[4096];
    snprintf(root, sizeof(root), "%s/status", tap_data_dir());
    const char *u = getenv("GW_UPDATE_EXPECTED");
    bool update = u && !strcmp(u, "1");
    size_t n;
    char **names = list_dirs(root, &n);
    ok(n > 0, "fixtures found under %s", root);
    for (size_t i = 0; i < n; i++) {
        run_case(root, names[i], update);
        free(names[i]);
    }
    free(names);
    return done_testing();
}
