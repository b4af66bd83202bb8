/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for reading files and directories into the doc tree: the
 * front end chosen by name, the size limit, sorted recursive walks, hidden
 * entries, symlink loops, bad files among good ones; and every manifest of
 * the upstream conformance suite loading without a diagnostic.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "load/load.h"
#include "tap.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static char tmp[256];

static void
put(const char *rel, const char *text)
{
    char *path = gw_xasprintf("%s/%s", tmp, rel);
    FILE *f = fopen(path, "wb");
    if (!f) {
        diag("cannot write %s", path);
        free(path);
        return;
    }
    fputs(text, f);
    fclose(f);
    free(path);
}

static void
mkd(const char *rel)
{
    char *path = gw_xasprintf("%s/%s", tmp, rel);
    mkdir(path, 0755);
    free(path);
}

static void
lnk(const char *target, const char *rel)
{
    char *path = gw_xasprintf("%s/%s", tmp, rel);
    if (symlink(target, path) != 0)
        diag("symlink %s: %s", path, strerror(errno));
    free(path);
}

/* The path of doc i relative to tmp. */
static const char *
rel(const struct gw_docs *docs, size_t i)
{
    if (i >= docs->n)
        return "(none)";
    const char *f = docs->v[i].file;
    size_t n = strlen(tmp);
    return strncmp(f, tmp, n) == 0 && f[n] == '/' ? f + n + 1 : f;
}

static void
cleanup(void)
{
    /* Best effort; the tree is small and fixed. */
    char *cmd = gw_xasprintf("rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        diag("cleanup of %s failed", tmp);
    free(cmd);
}

static void
test_dir(void)
{
    snprintf(tmp, sizeof(tmp), "%s/gw-doc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!ok(mkdtemp(tmp) != NULL, "temp dir"))
        return;
    put("b.yaml", "kind: B\n---\nkind: B2\n");
    put("a.json", "{\"kind\": \"A\"}");
    mkd("a");
    put("a/x.yml", "kind: AX\n");
    mkd("a-b");
    put("a-b/z.yaml", "kind: ABZ\n");
    mkd("sub");
    put("sub/c.yaml", "kind: C\n");
    put("sub/.hidden.yaml", "kind: HIDDEN\n");
    put("sub/notes.txt", "not: loaded\n");
    put("sub/README.md", "# no\n");
    mkd(".git");
    put(".git/config.yaml", "kind: GIT\n");
    mkd("sub/deeper");
    put("sub/deeper/d.json", "[1] [2]");
    put("bad.yaml", "kind: [\n");
    put("dup.json", "{\"a\": 1, \"a\": 2}");
    lnk("..", "sub/loop");            /* a loop back to the root */
    lnk("sub", "zlink");              /* a second way to reach sub */
    lnk("missing.yaml", "gone.yaml"); /* dangling */

    struct gw_docs docs;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    int rc = gw_docs_add_dir(&docs, tmp, &diags);
    ok(rc < 0, "a bad file makes the walk fail (rc %d)", rc);
    /* Byte-wise path order: "a-b/" < "a.json" < "a/" since '-' < '.' < '/'. */
    static const char *const want[] = {
        "a-b/z.yaml", "a.json",     "a/x.yml",           "b.yaml",
        "b.yaml",     "sub/c.yaml", "sub/deeper/d.json", "sub/deeper/d.json",
    };
    is_int((long long)docs.n, (long long)GW_ARRAY_LEN(want), "documents from the good files");
    for (size_t i = 0; i < GW_ARRAY_LEN(want); i++)
        is_str(rel(&docs, i), want[i], "doc %zu file", i);
    is_int(docs.v[4].index, 1, "second document of b.yaml");
    ok(docs.v[3].file == docs.v[4].file, "one interned name per file");
    ok(docs.n > 1 && docs.v[1].root->type == GW_NODE_MAP, "a.json read as JSON");

    /* Diagnostics: bad.yaml (syntax), dup.json (duplicate key), gone.yaml. */
    is_int((long long)diags.n, 3, "three diagnostics");
    bool bad = false, dup = false, gone = false;
    for (size_t i = 0; i < diags.n; i++) {
        const char *f = diags.v[i].pos.file;
        bad |= strstr(f, "/bad.yaml") && diags.v[i].pos.line == 2;
        dup |= strstr(f, "/dup.json") && strstr(diags.v[i].message, "duplicate key");
        gone |= strstr(f, "/gone.yaml") && strstr(diags.v[i].message, "cannot stat") != NULL;
    }
    ok(bad, "bad.yaml reported with its line");
    ok(dup, "dup.json reported");
    ok(gone, "dangling link reported");

    /* A file by name; the front end follows the extension. */
    gw_docs_release(&docs);
    gw_diags_release(&diags);
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    char *p = gw_xasprintf("%s/a.json", tmp);
    is_int(gw_docs_add_file(&docs, p, &diags), 0, "add_file json");
    free(p);
    put("yaml.json", "kind: X\n");
    p = gw_xasprintf("%s/yaml.json", tmp);
    is_int(gw_docs_add_file(&docs, p, &diags), GW_EPARSE, "*.json is never read as YAML");
    free(p);
    put("json.txt", "{\"kind\": \"X\"}");
    p = gw_xasprintf("%s/json.txt", tmp);
    is_int(gw_docs_add_file(&docs, p, &diags), 0, "anything else is YAML (JSON is YAML too)");
    free(p);
    is_int(gw_docs_add_file(&docs, "/nonexistent/x.yaml", &diags), -ENOENT, "missing file");
    ok(diags.n && strstr(diags.v[diags.n - 1].message, "cannot open"), "missing file reported");
    is_int(gw_docs_add_file(&docs, tmp, &diags), -EISDIR, "a directory is not a file");
    is_int(gw_docs_add_dir(&docs, "/nonexistent", &diags), -ENOENT, "missing dir");
    p = gw_xasprintf("%s/a.json", tmp);
    is_int(gw_docs_add_dir(&docs, p, &diags), -ENOTDIR, "a file is not a dir");

    /* Size limit on files. */
    docs.limits.max_file_bytes = 5;
    size_t before = diags.n;
    is_int(gw_docs_add_file(&docs, p, &diags), GW_ELIMIT, "file over max_file_bytes");
    ok(diags.n == before + 1 && strstr(diags.v[before].message, "larger than the limit of 5"),
       "size diag");
    free(p);
    gw_docs_release(&docs);
    gw_diags_release(&diags);
    cleanup();
}

/* Every file of the upstream conformance manifests loads cleanly. */
static void
test_conformance(void)
{
    const char *conf = tap_conformance_dir();
    if (!conf) {
        ok(1, "GW_CONFORMANCE not set: conformance manifests skipped");
        return;
    }
    char *dir = gw_xasprintf("%s/upstream", conf);
    struct gw_docs docs;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    int rc = gw_docs_add_dir(&docs, dir, &diags);
    is_int(rc, 0, "conformance manifests load");
    is_int((long long)diags.n, 0, "with no diagnostic");
    for (size_t i = 0; i < diags.n && i < 20; i++) {
        struct gw_buf b;
        gw_buf_init(&b, 4096);
        gw_diag_format(&diags.v[i], &b);
        diag("%s", b.p ? b.p : "");
        gw_buf_release(&b);
    }
    ok(docs.n > 100, "many documents (%zu)", docs.n);
    size_t maps = 0;
    for (size_t i = 0; i < docs.n; i++)
        maps += docs.v[i].root && docs.v[i].root->type == GW_NODE_MAP &&
                gw_node_get(docs.v[i].root, "kind") != NULL;
    is_int((long long)maps, (long long)docs.n, "every document is an object with a kind");
    gw_docs_release(&docs);
    gw_diags_release(&diags);
    free(dir);
}

int
main(void)
{
    test_dir();
    test_conformance();
    return done_testing();
}
