/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the source's pure core: the per-file last-good state
 * machine (a file that stops parsing keeps its last good documents, a new
 * broken file has none, removal forgets), decoding every file into a store,
 * the debounce decisions, and the directory sync on a temporary tree (only
 * changed files are read; rename-into-place; deletions; new directories).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "config/config.h"
#include "source/internal.h"
#include "source/source.h"
#include "tap.h"

#include "base/banned.h"

static const char svc_a[] = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
                            "spec:\n  ports:\n  - port: 80\n";
static const char svc_b[] = "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n"
                            "spec:\n  ports:\n  - port: 80\n";
static const char broken[] = "apiVersion: v1\nkind: Service\nmetadata:\n  name: [b\n";

static enum gw_source_update
upd(struct gw_source_files *fs, const char *path, const char *text)
{
    struct gw_source_stamp st = {.size = strlen(text)};
    return gw_source_files_update(fs, path, &st, text, strlen(text), 0);
}

static size_t
decode_count(const struct gw_source_files *fs, size_t *errors)
{
    struct gw_store store;
    struct gw_diags d;
    gw_store_init(&store);
    gw_diags_init(&d);
    gw_source_files_decode(fs, &store, &d);
    size_t n = gw_store_size(&store);
    *errors = d.errors;
    gw_diags_release(&d);
    gw_store_release(&store);
    return n;
}

static void
test_last_good(void)
{
    struct gw_source_files fs;
    gw_source_files_init(&fs);
    size_t errors;

    is_int(upd(&fs, "d/b.yaml", svc_b), GW_SOURCE_PARSED, "new good file parsed");
    is_int(upd(&fs, "d/a.yaml", svc_a), GW_SOURCE_PARSED, "second file parsed");
    is_int((long long)fs.n, 2, "two files");
    is_str(fs.v[0].path, "d/a.yaml", "kept sorted by path");
    is_int((long long)decode_count(&fs, &errors), 2, "both objects decoded");
    is_int((long long)errors, 0, "no error");

    is_int(upd(&fs, "d/b.yaml", broken), GW_SOURCE_KEPT, "broken new version: last good kept");
    struct gw_source_file *f = gw_source_files_find(&fs, "d/b.yaml");
    ok(f && f->stale && f->docs, "file is stale and still has documents");
    ok(f && f->errors.errors == 1 && f->errors.v[0].pos.line >= 4, "parse error with its line");
    if (f && f->errors.n)
        diag("%s:%u:%u: %s", f->errors.v[0].file, f->errors.v[0].pos.line, f->errors.v[0].pos.col,
             f->errors.v[0].message);
    is_int((long long)gw_source_files_failing(&fs), 1, "one file failing");
    is_int((long long)decode_count(&fs, &errors), 2, "both objects still decoded");
    is_int((long long)errors, 1, "the parse error is reported");

    is_int(upd(&fs, "d/b.yaml", svc_b), GW_SOURCE_PARSED, "fixed: parsed");
    ok(f && !f->stale && f->errors.n == 0, "fixed: not stale, no errors");

    is_int(upd(&fs, "d/c.json", "{\"kind\": "), GW_SOURCE_FAILED, "new broken file: failed");
    f = gw_source_files_find(&fs, "d/c.json");
    ok(f && !f->docs && !f->stale, "no documents, not stale");
    is_int((long long)decode_count(&fs, &errors), 2, "the others still decode");
    is_int((long long)errors, 1, "its error is reported");

    struct gw_source_stamp st = {0};
    is_int(gw_source_files_update(&fs, "d/a.yaml", &st, NULL, 0, -13), GW_SOURCE_KEPT,
           "read error keeps the last good version");
    ok(strstr(gw_source_files_find(&fs, "d/a.yaml")->errors.v[0].message, "cannot read") != NULL,
       "read error message");

    ok(gw_source_files_remove(&fs, "d/a.yaml"), "remove a known file");
    ok(!gw_source_files_remove(&fs, "d/a.yaml"), "remove it again: unknown");
    is_int((long long)decode_count(&fs, &errors), 1, "its object is gone");

    is_int(upd(&fs, "d/b.yaml", ""), GW_SOURCE_PARSED, "an empty file parses");
    is_int((long long)decode_count(&fs, &errors), 0, "and holds nothing");

    /* Invalid objects are decode's business: rejected alone. */
    is_int(upd(&fs, "d/b.yaml",
               "apiVersion: v1\nkind: Service\nmetadata:\n  name: Bad_Name\n---\n"
               "apiVersion: v1\nkind: Service\nmetadata:\n  name: good\nspec:\n  ports:\n"
               "  - port: 80\n"),
           GW_SOURCE_PARSED, "file with an invalid object parses");
    size_t n = decode_count(&fs, &errors);
    is_int((long long)n, 1, "the valid object is kept");
    ok(errors >= 1, "the invalid one is reported");
    gw_source_files_release(&fs);
}

static void
test_debounce(void)
{
    struct gw_source_debounce d;
    gw_source_debounce_init(&d, 30, 200);
    ok(gw_source_debounce_due(&d) == UINT64_MAX, "idle: nothing due");
    gw_source_debounce_touch(&d, 1000);
    is_int((long long)gw_source_debounce_due(&d), 1030, "quiet period after one change");
    gw_source_debounce_touch(&d, 1020);
    is_int((long long)gw_source_debounce_due(&d), 1050, "a second change moves it");
    for (uint64_t t = 1040; t < 1300; t += 20)
        gw_source_debounce_touch(&d, t);
    is_int((long long)gw_source_debounce_due(&d), 1200, "a constant stream: max delay caps it");
    gw_source_debounce_clear(&d);
    ok(gw_source_debounce_due(&d) == UINT64_MAX, "cleared");
    gw_source_debounce_touch(&d, 5000);
    is_int((long long)gw_source_debounce_due(&d), 5030, "a new burst starts over");
    gw_source_debounce_init(&d, 50, 10);
    gw_source_debounce_touch(&d, 0);
    is_int((long long)gw_source_debounce_due(&d), 50, "max below quiet is raised to quiet");
}

static char tmp[256];

static void
put(const char *rel, const char *text)
{
    char *path = gw_xasprintf("%s/%s", tmp, rel);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    free(path);
}

static void
on_dir(void *data, const char *dir)
{
    (void)dir;
    (*(int *)data)++;
}

static void
test_sync(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/gw-source-test-%d", (int)getpid());
    mkdir(tmp, 0700);
    put("a.yaml", svc_a);
    put("b.yml", svc_b);
    put("notes.txt", "ignored");
    put(".hidden.yaml", broken);

    struct gw_source_files fs;
    gw_source_files_init(&fs);
    struct gw_diags d;
    gw_diags_init(&d);
    struct source_sync_stats st;
    int dirs = 0;
    source_sync(&fs, tmp, &d, on_dir, &dirs, &st);
    is_int((long long)st.files, 2, "two manifests found (txt and hidden skipped)");
    is_int((long long)st.read, 2, "both read");
    is_int(dirs, 1, "one directory walked");
    is_int((long long)d.n, 0, "no walk error");

    /* Stamps taken right after a write are "racy" and read again once. */
    usleep(150 * 1000);
    source_sync(&fs, tmp, &d, NULL, NULL, &st);
    source_sync(&fs, tmp, &d, NULL, NULL, &st);
    is_int((long long)st.read, 0, "unchanged tree: nothing read");

    /* Rename into place, as editors do. */
    put("a.yaml.tmp", broken);
    char *from = gw_xasprintf("%s/a.yaml.tmp", tmp), *to = gw_xasprintf("%s/a.yaml", tmp);
    rename(from, to);
    source_sync(&fs, tmp, &d, NULL, NULL, &st);
    is_int((long long)st.read, 1, "renamed-over file read");
    is_int((long long)st.failed, 1, "and failed to parse");
    size_t errors;
    is_int((long long)decode_count(&fs, &errors), 2, "its last good version still decodes");

    /* New directory with a file; deletion. */
    char *sub = gw_xasprintf("%s/sub", tmp);
    mkdir(sub, 0700);
    put("sub/c.json", "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"c\"},"
                      "\"spec\":{\"ports\":[{\"port\":80}]}}");
    unlink(to);
    dirs = 0;
    source_sync(&fs, tmp, &d, on_dir, &dirs, &st);
    is_int(dirs, 2, "the new directory is walked (and would be watched)");
    is_int((long long)st.removed, 1, "deleted file dropped");
    is_int((long long)st.files, 2, "b.yml and sub/c.json");
    is_int((long long)decode_count(&fs, &errors), 2, "b and c decode");
    is_int((long long)errors, 0, "the broken file's error went with it");

    /* A missing root keeps everything (bad input never hurts traffic). */
    char *moved = gw_xasprintf("%s.moved", tmp);
    rename(tmp, moved);
    source_sync(&fs, tmp, &d, NULL, NULL, &st);
    ok(d.errors >= 1, "missing directory reported");
    is_int((long long)fs.n, 2, "files kept while the directory is missing");
    rename(moved, tmp);

    char *p = gw_xasprintf("%s/sub/c.json", tmp);
    unlink(p);
    free(p);
    p = gw_xasprintf("%s/b.yml", tmp);
    unlink(p);
    free(p);
    p = gw_xasprintf("%s/notes.txt", tmp);
    unlink(p);
    free(p);
    p = gw_xasprintf("%s/.hidden.yaml", tmp);
    unlink(p);
    free(p);
    rmdir(sub);
    rmdir(tmp);
    free(sub);
    free(moved);
    free(from);
    free(to);
    gw_diags_release(&d);
    gw_source_files_release(&fs);
}

int
main(void)
{
    test_last_good();
    test_debounce();
    test_sync();
    return done_testing();
}
