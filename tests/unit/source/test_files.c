/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the source's pure core: the per-file last-good state
 * machine (a file that stops parsing keeps its last good documents, a new
 * broken file has none, removal forgets), decoding every file into a store,
 * decoded objects reused across reloads (and the same diagnostics as a
 * fresh decode), the debounce decisions and which writes are finished, and
 * the directory sync on a temporary tree (only
 * changed files are read; rename-into-place; deletions; new directories).
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
decode_count(struct gw_source_files *fs, size_t *errors)
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
    ok(f && f->stale && f->good && f->part, "file is stale and its last good version stays");
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
    ok(f && !f->good && !f->part && !f->stale, "no version in force, not stale");
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

/* Diagnostics as text, one per line, to compare two decodes. */
static char *
diags_text(const struct gw_diags *d)
{
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < d->n; i++) {
        gw_diag_format(&d->v[i], &b);
        gw_buf_append_char(&b, '\n');
    }
    char *s = gw_xstrdup(b.p ? b.p : "");
    gw_buf_release(&b);
    return s;
}

static const char dup_a[] =
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 81\n"
    "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: Bad_Name\n"
    "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: z\nspec:\n  ports:\n  - port: 80\n";

static void
test_decode_cache(void)
{
    struct gw_source_files fs;
    gw_source_files_init(&fs);
    upd(&fs, "d/a.yaml", svc_a);
    upd(&fs, "d/b.yaml", svc_b);
    upd(&fs, "d/c.yaml", dup_a); /* a again (duplicate), an invalid one, z */

    /* What a fresh decode of every file says, in order (the files' texts:
     * the source keeps only their hashes). */
    const char *texts[] = {svc_a, svc_b, dup_a};
    struct gw_store want;
    struct gw_diags wd;
    gw_store_init(&want);
    gw_diags_init(&wd);
    int want_rejected = 0;
    for (size_t i = 0; i < fs.n; i++) {
        struct gw_docs docs;
        gw_docs_init(&docs);
        gw_docs_add_yaml(&docs, fs.v[i].path, texts[i], strlen(texts[i]), &wd);
        want_rejected += gw_decode_docs(&docs, &want, &wd);
        gw_docs_release(&docs);
    }
    char *want_text = diags_text(&wd);

    struct gw_store *s1 = gw_xmalloc(sizeof(*s1)), s2;
    struct gw_diags d1, d2;
    gw_store_init(s1);
    gw_diags_init(&d1);
    int r1 = gw_source_files_decode(&fs, s1, &d1);
    gw_store_init(&s2);
    gw_diags_init(&d2);
    int r2 = gw_source_files_decode(&fs, &s2, &d2);
    char *t1 = diags_text(&d1), *t2 = diags_text(&d2);
    is_int(r1, want_rejected, "rejected count as a fresh decode");
    is_int(r2, want_rejected, "and again from the kept objects");
    is_str(t1, want_text, "diagnostics as a fresh decode, in its order");
    is_str(t2, want_text, "the same when nothing is decoded again");
    diag("%s", t2);
    is_int((long long)gw_store_size(s1), (long long)gw_store_size(&want), "same objects");
    is_int((long long)gw_store_size(&s2), 3, "a, b, z");
    const struct gw_service *a1 = gw_store_service(s1, "default", "a");
    const struct gw_service *a2 = gw_store_service(&s2, "default", "a");
    ok(a1 && a1 == a2, "an unchanged file's objects are shared, not decoded again");
    ok(a1 && strcmp(a1->meta.pos.file, "d/a.yaml") == 0 && a1->meta.pos.line == 1,
       "positions name the file");
    ok(gw_store_service(&s2, "default", "z") != NULL, "the object after a duplicate is kept");

    /* The old store outlives a change of the file its objects came from. */
    struct gw_store_part *old_part = fs.v[0].part;
    upd(&fs, "d/a.yaml", svc_b);
    ok(fs.v[0].part && fs.v[0].part != old_part, "a new version is decoded into a new part");
    ok(gw_source_files_remove(&fs, "d/b.yaml"), "b removed");
    is_str(a1 ? a1->meta.name : NULL, "a", "the old store's objects are still valid");
    gw_store_release(s1);
    free(s1);
    gw_diags_release(&d1);
    gw_diags_init(&d1);
    struct gw_store s3;
    gw_store_init(&s3);
    gw_source_files_decode(&fs, &s3, &d1);
    ok(gw_store_service(&s3, "default", "b") && gw_store_service(&s3, "default", "a") &&
           gw_store_service(&s3, "default", "a")->meta.pos.file[2] == 'c',
       "a now comes from c.yaml, b from a.yaml");
    is_int((long long)d1.errors, 1, "only the invalid object is an error now");

    /* The same bytes again (a racy stamp re-read): nothing is redone. */
    struct gw_source_object *objs = fs.v[1].objs;
    is_int(upd(&fs, "d/c.yaml", dup_a), GW_SOURCE_SAME, "the same bytes: SAME");
    ok(fs.v[1].objs == objs && fs.v[1].part, "its decoded objects stay");

    /* A broken new version keeps the decoded last good one. */
    struct gw_meta *z = fs.v[1].nobjs ? fs.v[1].objs[fs.v[1].nobjs - 1].obj : NULL;
    is_int(upd(&fs, "d/c.yaml", broken), GW_SOURCE_KEPT, "broken version kept");
    ok(z && fs.v[1].part && fs.v[1].objs[fs.v[1].nobjs - 1].obj == z,
       "its objects are not decoded again");
    is_int(upd(&fs, "d/c.yaml", dup_a), GW_SOURCE_PARSED,
           "back to the bytes in force: PARSED (the file's errors went)");
    ok(!fs.v[1].stale && fs.v[1].errors.n == 0 && fs.v[1].objs[fs.v[1].nobjs - 1].obj == z,
       "not stale, no errors, the same objects");
    gw_store_release(&s3);
    gw_store_release(&s2);
    gw_store_release(&want);
    gw_diags_release(&d1);
    gw_diags_release(&d2);
    gw_diags_release(&wd);
    free(t1);
    free(t2);
    free(want_text);
    gw_source_files_release(&fs);
}

static void
test_debounce(void)
{
    struct gw_source_debounce d;
    gw_source_debounce_init(&d, 30, 200);
    ok(gw_source_debounce_due(&d) == UINT64_MAX, "idle: nothing due");
    gw_source_debounce_touch(&d, 1000, false);
    is_int((long long)gw_source_debounce_due(&d), 1030, "quiet period after one change");
    gw_source_debounce_touch(&d, 1020, false);
    is_int((long long)gw_source_debounce_due(&d), 1050, "a second change moves it");
    for (uint64_t t = 1040; t < 1300; t += 20)
        gw_source_debounce_touch(&d, t, false);
    is_int((long long)gw_source_debounce_due(&d), 1200, "a constant stream: max delay caps it");
    gw_source_debounce_clear(&d);
    ok(gw_source_debounce_due(&d) == UINT64_MAX, "cleared");
    gw_source_debounce_touch(&d, 5000, false);
    is_int((long long)gw_source_debounce_due(&d), 5030, "a new burst starts over");
    gw_source_debounce_init(&d, 50, 10);
    gw_source_debounce_touch(&d, 0, false);
    is_int((long long)gw_source_debounce_due(&d), 50, "max below quiet is raised to quiet");

    /* Leading edge: a finished write after a quiet period goes at once. */
    gw_source_debounce_init(&d, 30, 200);
    gw_source_debounce_touch(&d, 1000, true);
    is_int((long long)gw_source_debounce_due(&d), 1000, "settled after quiet: due at once");
    gw_source_debounce_clear(&d);
    gw_source_debounce_done(&d, 1012); /* the reload took 12 ms */
    gw_source_debounce_touch(&d, 1020, true);
    is_int((long long)gw_source_debounce_due(&d), 1050,
           "a change right after a reload waits for quiet");
    gw_source_debounce_touch(&d, 1025, true);
    gw_source_debounce_touch(&d, 1040, true);
    is_int((long long)gw_source_debounce_due(&d), 1070, "and is coalesced with what follows");
    gw_source_debounce_clear(&d);
    gw_source_debounce_done(&d, 1080);
    gw_source_debounce_touch(&d, 1100, true);
    is_int((long long)gw_source_debounce_due(&d), 1130,
           "less than quiet after the last reload: still coalesced");
    gw_source_debounce_clear(&d);
    gw_source_debounce_done(&d, 1110);
    gw_source_debounce_touch(&d, 1140, false);
    is_int((long long)gw_source_debounce_due(&d), 1170,
           "after quiet, a write not finished waits for quiet");
    gw_source_debounce_touch(&d, 1141, true);
    is_int((long long)gw_source_debounce_due(&d), 1141, "until it is finished: then at once");
    gw_source_debounce_touch(&d, 1142, false);
    is_int((long long)gw_source_debounce_due(&d), 1172, "a new unfinished write waits again");
    gw_source_debounce_clear(&d);
    gw_source_debounce_done(&d, 1150);

    /* A burst during a long reload: one follow-up, quiet after its end. */
    gw_source_debounce_touch(&d, 2000, true);
    is_int((long long)gw_source_debounce_due(&d), 2000, "isolated write: at once");
    gw_source_debounce_clear(&d);
    /* The reload runs 2000..2080; five writes queue up meanwhile, read
     * when it has returned. */
    gw_source_debounce_done(&d, 2080);
    for (int i = 0; i < 5; i++)
        gw_source_debounce_touch(&d, 2080, true);
    is_int((long long)gw_source_debounce_due(&d), 2110, "one follow-up reload for all five");

    /* max_ms holds for a leading burst that never finishes. */
    gw_source_debounce_init(&d, 30, 100);
    for (uint64_t t = 3000; t < 3300; t += 10)
        gw_source_debounce_touch(&d, t, false);
    is_int((long long)gw_source_debounce_due(&d), 3100, "unfinished stream: max delay caps it");
}

/* Feeds one event; returns whether the burst is settled afterwards. */
static bool
ev(struct gw_source_writes *w, uint32_t mask, const char *name)
{
    gw_source_writes_event(w, 1, mask, name);
    return gw_source_writes_settled(w);
}

static void
test_writes(void)
{
    struct gw_source_writes w;
    gw_source_writes_init(&w);
    ok(!gw_source_writes_settled(&w), "nothing seen: not settled");

    /* open(O_CREAT|O_TRUNC), write, close: cp, the bench, most tools. */
    ok(!ev(&w, IN_CREATE, "r.yaml"), "created: being written");
    ok(!ev(&w, IN_MODIFY, "r.yaml"), "modified: still being written");
    ok(ev(&w, IN_CLOSE_WRITE, "r.yaml"), "closed after writing: settled");
    gw_source_writes_clear(&w);
    ok(!ev(&w, IN_MODIFY, "r.yaml"), "a write without a close is not finished");
    gw_source_writes_clear(&w);

    /* Two files: settled only when both are closed. */
    ev(&w, IN_MODIFY, "a.yaml");
    ev(&w, IN_MODIFY, "b.json");
    ok(gw_source_writes_open(&w, 1, "a.yaml"), "a.yaml open");
    ok(!gw_source_writes_open(&w, 2, "a.yaml"), "... in its own directory only");
    ok(!ev(&w, IN_CLOSE_WRITE, "a.yaml"), "one of two closed: not settled");
    ok(!gw_source_writes_open(&w, 1, "a.yaml"), "a.yaml closed");
    ok(gw_source_writes_open(&w, 1, "b.json"), "b.json still open");
    gw_source_writes_event(&w, 2, IN_CLOSE_WRITE, "b.json");
    ok(!gw_source_writes_settled(&w), "the same name in another directory is another file");
    ok(ev(&w, IN_CLOSE_WRITE, "b.json"), "both closed: settled");
    gw_source_writes_clear(&w);

    /* Rename into place: the temporary name does not count. */
    ok(!ev(&w, IN_CREATE, "r.yaml.tmp"), "temporary file created");
    ok(!ev(&w, IN_MODIFY, "r.yaml.tmp"), "written");
    ok(!ev(&w, IN_CLOSE_WRITE, "r.yaml.tmp"), "closed: finishes nothing we read");
    ok(!ev(&w, IN_MOVED_FROM, "r.yaml.tmp"), "renamed away: not a removal");
    ok(ev(&w, IN_MOVED_TO, "r.yaml"), "renamed into place: settled");
    gw_source_writes_clear(&w);

    /* An editor saving: the old version moves away first. */
    ok(!ev(&w, IN_MOVED_FROM, "r.yaml"), "manifest renamed away: wait");
    ok(!ev(&w, IN_MOVED_TO, "r.yaml~"), "backup name: nothing");
    ev(&w, IN_CREATE, "r.yaml");
    ok(!ev(&w, IN_CLOSE_WRITE, "r.yaml"), "new version written: still waits for quiet");
    gw_source_writes_clear(&w);
    ok(!ev(&w, IN_DELETE, "r.yaml"), "a deletion waits for quiet");
    gw_source_writes_clear(&w);
    ok(!ev(&w, IN_DELETE | IN_ISDIR, "sub"), "so does a directory's");
    gw_source_writes_clear(&w);

    /* vim's swap file stays open: it does not hold the save back. */
    ev(&w, IN_CREATE, ".r.yaml.swp");
    ev(&w, IN_MODIFY, ".r.yaml.swp");
    ev(&w, IN_MODIFY, "r.yaml");
    ok(ev(&w, IN_CLOSE_WRITE, "r.yaml"), "hidden files are not waited for");
    gw_source_writes_clear(&w);

    /* A ConfigMap update (the Kubernetes atomic writer). */
    ev(&w, IN_CREATE | IN_ISDIR, "..2024_01_01");
    ev(&w, IN_CREATE, "..data_tmp");
    ok(!ev(&w, IN_MOVED_FROM, "..data_tmp"), "..data_tmp renamed away: not a removal");
    ok(ev(&w, IN_MOVED_TO, "..data"), "..data swapped: settled");
    ok(ev(&w, IN_DELETE | IN_ISDIR, "..2023_12_31"), "the old data directory going: still settled");
    gw_source_writes_clear(&w);

    /* Directories, the watch itself, overflow. */
    ok(!ev(&w, IN_CREATE | IN_ISDIR, "sub"), "a new directory finishes nothing");
    ok(ev(&w, IN_MOVED_TO | IN_ISDIR, "sub2"), "a directory renamed into place: settled");
    ok(ev(&w, IN_ATTRIB, "r.yaml"), "attributes: a change that keeps it settled");
    ok(ev(&w, IN_IGNORED, ""), "events on the directory itself: nothing");
    ok(!ev(&w, IN_Q_OVERFLOW, ""), "queue overflow: wait for quiet");
    gw_source_writes_clear(&w);
    for (int i = 0; i < GW_SOURCE_WRITES_MAX + 1; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%02d.yaml", i);
        ev(&w, IN_MODIFY, name);
    }
    for (int i = 0; i < GW_SOURCE_WRITES_MAX + 1; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%02d.yaml", i);
        ev(&w, IN_CLOSE_WRITE, name);
    }
    ok(!gw_source_writes_settled(&w), "more files open than tracked: wait for quiet");
    gw_source_writes_clear(&w);
    ev(&w, IN_CREATE, "link.yaml"); /* a symlink: never closed */
    gw_source_writes_clear(&w);
    ok(ev(&w, IN_CLOSE_WRITE, "r.yaml"), "a file never closed does not hold the next burst back");
    ok(gw_source_writes_open(&w, 1, "link.yaml"), "... but is still known as open");
    gw_source_writes_clear(&w);

    /* A writer that stalls across a reload: still open until its close. */
    ev(&w, IN_MODIFY, "slow.yaml");
    gw_source_writes_clear(&w);
    ok(gw_source_writes_open(&w, 1, "slow.yaml"), "open across the reload");
    ok(ev(&w, IN_MODIFY, "slow.yaml") == false, "written again: this burst waits for it");
    ok(ev(&w, IN_CLOSE_WRITE, "slow.yaml"), "closed: settled");
    ok(!gw_source_writes_open(&w, 1, "slow.yaml"), "and no longer open");
    gw_source_writes_clear(&w);
    ev(&w, IN_MODIFY, "gone.yaml");
    gw_source_writes_clear(&w);
    gw_source_writes_event(&w, 1, IN_IGNORED, "");
    ok(!gw_source_writes_open(&w, 1, "gone.yaml"), "its directory's watch gone: forgotten");
    ev(&w, IN_MODIFY, "lost.yaml");
    gw_source_writes_event(&w, 1, IN_Q_OVERFLOW, "");
    ok(!gw_source_writes_open(&w, 1, "lost.yaml"), "overflow: nothing is known open");
    gw_source_writes_clear(&w);

    /* Full of an earlier burst's open files: room is made for new ones. */
    for (int i = 0; i < GW_SOURCE_WRITES_MAX; i++) {
        char name[32];
        snprintf(name, sizeof(name), "g%02d.yaml", i);
        ev(&w, IN_MODIFY, name);
    }
    gw_source_writes_clear(&w);
    ev(&w, IN_MODIFY, "new.yaml");
    ok(gw_source_writes_open(&w, 1, "new.yaml"), "a new write is tracked");
    ok(ev(&w, IN_CLOSE_WRITE, "new.yaml"), "and settles its burst");
    gw_source_writes_release(&w);
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
    source_sync(&fs, tmp, &d, on_dir, NULL, &dirs, &st);
    is_int((long long)st.files, 2, "two manifests found (txt and hidden skipped)");
    is_int((long long)st.read, 2, "both read");
    is_int(dirs, 1, "one directory walked");
    is_int((long long)d.n, 0, "no walk error");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    ok(st.racy_until_ns > now_ns - 1000000000LL && st.racy_until_ns <= now_ns + 100000000LL,
       "files just written: racy, the stats say until when");

    /* Stamps taken right after a write are "racy" and read again once. */
    usleep(150 * 1000);
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.same, (long long)st.read, "racy files read again: the same bytes");
    is_int((long long)st.racy_until_ns, 0, "no longer racy");
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.read, 0, "unchanged tree: nothing read");

    /* Rename into place, as editors do. */
    put("a.yaml.tmp", broken);
    char *from = gw_xasprintf("%s/a.yaml.tmp", tmp), *to = gw_xasprintf("%s/a.yaml", tmp);
    rename(from, to);
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
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
    source_sync(&fs, tmp, &d, on_dir, NULL, &dirs, &st);
    is_int(dirs, 2, "the new directory is walked (and would be watched)");
    is_int((long long)st.removed, 1, "deleted file dropped");
    is_int((long long)st.files, 2, "b.yml and sub/c.json");
    is_int((long long)decode_count(&fs, &errors), 2, "b and c decode");
    is_int((long long)errors, 0, "the broken file's error went with it");

    /* A missing root keeps everything (bad input never hurts traffic). */
    char *moved = gw_xasprintf("%s.moved", tmp);
    rename(tmp, moved);
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
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

static bool
writing_a(void *data, const char *path)
{
    (void)data;
    size_t n = strlen(path);
    return n >= 7 && !strcmp(path + n - 7, "/a.yaml");
}

/* A file rewritten in place is empty between its truncation and its
 * write: read then, it keeps its objects for a while. */
static void
test_sync_empty_hold(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/gw-source-empty-%d", (int)getpid());
    mkdir(tmp, 0700);
    put("a.yaml", svc_a);
    put("b.yaml", svc_b);
    struct gw_source_files fs;
    gw_source_files_init(&fs);
    struct gw_diags d;
    gw_diags_init(&d);
    struct source_sync_stats st;
    size_t errors;
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)decode_count(&fs, &errors), 2, "a and b");
    usleep(50 * 1000); /* past the racy window: b is not read again below */
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);

    put("a.yaml", ""); /* truncated, not written yet */
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.held, 1, "read empty: held");
    is_int((long long)st.read, 0, "... and not counted as read (nothing changed)");
    is_int((long long)decode_count(&fs, &errors), 2, "its objects stay in force");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    ok(st.racy_until_ns > now_ns && st.racy_until_ns <= now_ns + 1100000000LL,
       "the stats say when to look again");

    put("a.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n"
                  "spec:\n  ports:\n  - port: 81\n"); /* the write lands */
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.held, 0, "written: no longer held");
    is_int((long long)st.read, 1, "the new version is read");
    is_int((long long)decode_count(&fs, &errors), 2, "and in force");
    struct gw_source_file *f = gw_source_files_find(&fs, fs.v[0].path);
    ok(f && f->held_ns == 0, "the hold is forgotten");

    /* A writer still has it open (the watch says): not read at all. */
    put("a.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n");
    source_sync(&fs, tmp, &d, NULL, writing_a, NULL, &st);
    is_int((long long)st.held, 1, "being written: held");
    is_int((long long)st.read, 0, "... not read");
    is_int((long long)decode_count(&fs, &errors), 2, "its last version stays in force");
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.held, 0, "closed: no longer held");
    is_int((long long)st.read, 1, "... and read");

    put("a.yaml", ""); /* emptied for good */
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.held, 1, "emptied: held at first");
    usleep(1050 * 1000);
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.held, 0, "still empty after the hold: taken");
    is_int((long long)decode_count(&fs, &errors), 1, "its objects are gone");
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.held, 0, "an empty file with no objects is not held");

    put("c.yaml", ""); /* a new file starts empty: nothing to hold */
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.held, 0, "a new empty file is read as it is");

    const char *names[] = {"a.yaml", "b.yaml", "c.yaml"};
    for (size_t i = 0; i < 3; i++) {
        char *p = gw_xasprintf("%s/%s", tmp, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(tmp);
    gw_diags_release(&d);
    gw_source_files_release(&fs);
}

/* A first load of many files: the new ones are parsed on a helper thread
 * while the loop decodes those before; the result is what parsing them in
 * order gives, broken files and all. */
static void
test_sync_many(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/gw-source-many-%d", (int)getpid());
    mkdir(tmp, 0700);

    enum { N = 24 };

    for (int i = 0; i < N; i++) {
        char rel[32], *text;
        snprintf(rel, sizeof(rel), "f%02d.%s", i, i % 5 == 4 ? "json" : "yaml");
        if (i == 7)
            text = gw_xasprintf("%s", broken);
        else if (i % 5 == 4)
            text = gw_xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
                                "{\"name\":\"s%d\"},\"spec\":{\"ports\":[{\"port\":80}]}}",
                                i);
        else
            text = gw_xasprintf("apiVersion: v1\nkind: Service\nmetadata: {name: s%d}\n"
                                "spec: {ports: [{port: 80}]}\n",
                                i);
        put(rel, text);
        free(text);
    }
    struct gw_source_files fs;
    gw_source_files_init(&fs);
    struct gw_diags d;
    gw_diags_init(&d);
    struct source_sync_stats st;
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)st.files, N, "every file found");
    is_int((long long)st.read, N, "every file read");
    is_int((long long)st.failed, 1, "the broken one failed");
    size_t errors;
    is_int((long long)decode_count(&fs, &errors), N - 1, "the others decode");
    is_int((long long)errors, 1, "one error, the broken file's");
    const struct gw_source_file *f7 = NULL;
    for (size_t i = 0; i < fs.n; i++)
        if (strstr(fs.v[i].path, "/f07.yaml"))
            f7 = &fs.v[i];
    ok(f7 && !f7->good && f7->errors.errors == 1 && f7->errors.v[0].pos.line > 0,
       "the broken file's error says where");
    /* Files added later are parsed in place: one new file. */
    put("g.yaml", svc_a);
    usleep(50 * 1000);
    source_sync(&fs, tmp, &d, NULL, NULL, NULL, &st);
    is_int((long long)decode_count(&fs, &errors), N, "the new file decodes too");
    for (int i = 0; i < N; i++) {
        char *p = gw_xasprintf("%s/f%02d.%s", tmp, i, i % 5 == 4 ? "json" : "yaml");
        unlink(p);
        free(p);
    }
    char *p = gw_xasprintf("%s/g.yaml", tmp);
    unlink(p);
    free(p);
    rmdir(tmp);
    gw_diags_release(&d);
    gw_source_files_release(&fs);
}

/* The version in force is known again by its length and hash (its bytes
 * are not kept): every edit of the same length is a new version, wherever
 * the byte changed (the 8-byte words and the tail), and so are two words
 * swapped; the same bytes from a new buffer are not. */
static void
test_same_by_hash(void)
{
    struct gw_source_files fs;
    gw_source_files_init(&fs);
    /* 60 bytes: seven words and a tail of four */
    char a[] = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n";
    size_t n = strlen(a);
    is_int(upd(&fs, "d/a.yaml", a), GW_SOURCE_PARSED, "first version PARSED");
    char *copy = strdup(a);
    is_int(upd(&fs, "d/a.yaml", copy), GW_SOURCE_SAME, "the same bytes from another buffer: SAME");
    free(copy);
    int missed = 0;
    for (size_t i = 0; i < n; i++) {
        char b[sizeof(a)];
        memcpy(b, a, sizeof(a));
        /* any change must be seen, whether it parses or not */
        b[i] ^= 0x01;
        enum gw_source_update u = upd(&fs, "d/a.yaml", b);
        missed += u == GW_SOURCE_SAME;
        /* back to the version in force (a failed parse kept it: PARSED;
         * a good one replaced it: PARSED) */
        upd(&fs, "d/a.yaml", a);
    }
    is_int(missed, 0, "a one-byte change at any of the 60 positions is a new version");
    char sw[sizeof(a)];
    memcpy(sw, a, sizeof(a));
    memcpy(sw, a + 8, 8);
    memcpy(sw + 8, a, 8);
    ok(upd(&fs, "d/a.yaml", sw) != GW_SOURCE_SAME, "two 8-byte words swapped: a new version");
    is_int(upd(&fs, "d/a.yaml", a), GW_SOURCE_PARSED, "back to the first version");
    is_int(upd(&fs, "d/a.yaml", a), GW_SOURCE_SAME, "read again: SAME");
    gw_source_files_release(&fs);
}

int
main(void)
{
    test_last_good();
    test_decode_cache();
    test_same_by_hash();
    test_debounce();
    test_writes();
    test_sync();
    test_sync_empty_hold();
    test_sync_many();
    return done_testing();
}
