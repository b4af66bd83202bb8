/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-file state: each file's last good parse. A reload decodes every
 * file's documents again (the store is rebuilt from scratch, so an object
 * removed from a file disappears), but only files whose contents changed
 * are parsed again, and a file whose new version does not parse keeps its
 * previous documents in force ("bad input never hurts live traffic").
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "source/internal.h"

#include "base/banned.h"

void
gw_source_files_init(struct gw_source_files *fs)
{
    memset(fs, 0, sizeof(*fs));
}

static void
file_release(struct gw_source_file *f)
{
    free(f->path);
    if (f->docs) {
        gw_docs_release(f->docs);
        free(f->docs);
    }
    gw_diags_release(&f->errors);
}

void
gw_source_files_release(struct gw_source_files *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        file_release(&fs->v[i]);
    free(fs->v);
    gw_source_files_init(fs);
}

/* Index of path, or where it would go (binary search on the sorted array). */
static size_t
lookup(const struct gw_source_files *fs, const char *path, bool *found)
{
    size_t lo = 0, hi = fs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(fs->v[mid].path, path);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

struct gw_source_file *
gw_source_files_find(struct gw_source_files *fs, const char *path)
{
    bool found;
    size_t i = lookup(fs, path, &found);
    return found ? &fs->v[i] : NULL;
}

static bool
is_json(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && !memcmp(path + n - 5, ".json", 5);
}

enum gw_source_update
gw_source_files_update(struct gw_source_files *fs, const char *path,
                       const struct gw_source_stamp *stamp, const char *data, size_t len,
                       int read_err)
{
    bool found;
    size_t i = lookup(fs, path, &found);
    if (!found) {
        fs->v = gw_xgrow(fs->v, &fs->cap, fs->n + 1, sizeof(*fs->v));
        memmove(&fs->v[i + 1], &fs->v[i], (fs->n - i) * sizeof(*fs->v));
        fs->n++;
        struct gw_source_file *nf = &fs->v[i];
        memset(nf, 0, sizeof(*nf));
        nf->path = gw_xstrdup(path);
        gw_diags_init(&nf->errors);
    }
    struct gw_source_file *f = &fs->v[i];
    if (stamp)
        f->stamp = *stamp;
    gw_diags_release(&f->errors);

    struct gw_diags diags;
    gw_diags_init(&diags);
    int rc = read_err;
    struct gw_docs *docs = NULL;
    if (rc >= 0) {
        docs = gw_xmalloc(sizeof(*docs));
        gw_docs_init(docs);
        /* Most files are small: a 64 KiB first chunk for each of thousands
         * of files would be most of the memory. */
        gw_arena_init(&docs->arena, GW_MIN(GW_MAX(len * 4, (size_t)4096), (size_t)64 * 1024));
        if (len > docs->limits.max_file_bytes) {
            gw_diags_add(&diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL,
                         "file is larger than the limit of %zu bytes", docs->limits.max_file_bytes);
            rc = GW_ELIMIT;
        } else if (is_json(path)) {
            rc = gw_docs_add_json(docs, path, data ? data : "", len, &diags);
        } else {
            rc = gw_docs_add_yaml(docs, path, data ? data : "", len, &diags);
        }
    } else {
        gw_diags_add(&diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL,
                     "cannot read: %s", gw_strerror(read_err));
    }

    if (rc >= 0) {
        if (f->docs) {
            gw_docs_release(f->docs);
            free(f->docs);
        }
        f->docs = docs;
        f->stale = false;
        gw_diags_release(&diags);
        return GW_SOURCE_PARSED;
    }
    if (docs) {
        gw_docs_release(docs);
        free(docs);
    }
    if (diags.errors == 0)
        gw_diags_add(&diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL,
                     "%s", gw_strerror(rc));
    gw_diags_move(&f->errors, &diags);
    f->stale = f->docs != NULL;
    return f->docs ? GW_SOURCE_KEPT : GW_SOURCE_FAILED;
}

bool
gw_source_files_remove(struct gw_source_files *fs, const char *path)
{
    bool found;
    size_t i = lookup(fs, path, &found);
    if (!found)
        return false;
    file_release(&fs->v[i]);
    memmove(&fs->v[i], &fs->v[i + 1], (fs->n - i - 1) * sizeof(*fs->v));
    fs->n--;
    return true;
}

void
source_diag_copy(struct gw_diags *dst, const struct gw_diag *g)
{
    gw_diags_add(dst, g->severity, g->pos, g->kind, g->ns, g->name, g->path, "%s", g->message);
}

int
gw_source_files_decode(const struct gw_source_files *fs, struct gw_store *store,
                       struct gw_diags *diags)
{
    int rejected = 0;
    for (size_t i = 0; i < fs->n; i++) {
        const struct gw_source_file *f = &fs->v[i];
        for (size_t j = 0; j < f->errors.n; j++)
            source_diag_copy(diags, &f->errors.v[j]);
        if (f->stale)
            gw_diags_add(diags, GW_SEV_WARNING, (struct gw_pos){f->path, 0, 0}, NULL, NULL, NULL,
                         NULL, "the last good version of this file stays in force");
        if (f->docs)
            rejected += gw_decode_docs(f->docs, store, diags);
    }
    return rejected;
}

size_t
gw_source_files_failing(const struct gw_source_files *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->n; i++)
        n += fs->v[i].errors.errors > 0;
    return n;
}
