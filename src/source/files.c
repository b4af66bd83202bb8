/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-file state: each file's last good version, decoded. A reload
 * builds the store from scratch (so an object removed from a file
 * disappears), but only files whose contents changed are parsed and decoded
 * again, once, when they are read: the others' objects are shared by the
 * old and the new store (a reference-counted part); the document trees are
 * not kept. A file whose new version does not parse keeps its previous
 * version in force ("bad input never hurts live traffic").
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

/* Drops the decoded objects (the stores holding the part keep it). */
static void
file_forget_decoded(struct gw_source_file *f)
{
    gw_store_part_unref(f->part);
    f->part = NULL;
    free(f->objs);
    f->objs = NULL;
    f->nobjs = f->objs_cap = 0;
    memset(f->nkind, 0, sizeof(f->nkind));
    gw_diags_release(&f->decoded);
    f->rejected = 0;
}

static void
file_release(struct gw_source_file *f)
{
    free(f->path);
    gw_diags_release(&f->errors);
    file_forget_decoded(f);
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

/*
 * The hash that tells a version read again from a new one: keeping every
 * file's bytes for a memcmp doubled the source text in memory (2.2 MB of
 * 9.7 for 10,000 routes). 64 bits, 8 bytes a step through a 64x64->128
 * multiply folded to 64 (a chained "mum", as wyhash does): some 5 ms for
 * 27 MB. K1 has bytes above 0x7f, so no word of ASCII text cancels it to
 * a zero factor.
 */
__extension__ typedef unsigned __int128 u128;

#define HASH_K1 0xa0761d6478bd642full
#define HASH_K2 0xe7037ed1a0b428dbull

static uint64_t
mum(uint64_t a, uint64_t b)
{
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t
bytes_hash(const char *p, size_t n)
{
    uint64_t h = mum((uint64_t)n ^ HASH_K1, HASH_K2);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mum(w ^ HASH_K1, h ^ HASH_K2);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i);
        h = mum(w ^ HASH_K1, h ^ HASH_K2);
    }
    return mum(h ^ HASH_K1, HASH_K2 ^ (uint64_t)n);
}

static bool
is_json(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && !memcmp(path + n - 5, ".json", 5);
}

/* Decodes docs (f's new version) into a new part. */
static void
file_decode(struct gw_source_file *f, const struct gw_docs *docs)
{
    /* Decoded objects take about what their tree does. */
    f->part = gw_store_part_new(
        GW_MIN(GW_MAX(gw_arena_total(&docs->arena) / 2, (size_t)4096), (size_t)64 * 1024));
    struct gw_arena *a = &f->part->arena;
    const char *file = NULL;
    struct gw_decode_strs strs = {0};
    for (size_t i = 0; i < docs->n; i++) {
        const struct gw_doc *doc = &docs->v[i];
        if (!doc->root)
            continue;
        /* What gw_decode_doc interns: one copy per file name. */
        const char *name = doc->root->pos.file ? doc->root->pos.file : doc->file;
        if (!file || strcmp(file, name) != 0)
            file = gw_arena_strdup(a, name);
        struct gw_meta *m = NULL;
        if (gw_decode_object_strs(doc, a, file, &strs, &m, &f->decoded) != 0) {
            f->rejected++;
        } else if (m) {
            f->objs = gw_xgrow(f->objs, &f->objs_cap, f->nobjs + 1, sizeof(*f->objs));
            f->objs[f->nobjs++] = (struct gw_source_object){m, f->decoded.n};
            f->nkind[m->kind]++;
        }
    }
}

int
source_file_parse(const char *path, const char *data, size_t len, int read_err,
                  struct gw_docs **out, struct gw_diags *diags)
{
    *out = NULL;
    if (read_err < 0) {
        gw_diags_add(diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL,
                     "cannot read: %s", gw_strerror(read_err));
        return read_err;
    }
    struct gw_docs *docs = gw_xmalloc(sizeof(*docs));
    gw_docs_init(docs);
    /* Most files are small: a 64 KiB first chunk for each of thousands
     * of files would be most of the memory. */
    gw_arena_init(&docs->arena, GW_MIN(GW_MAX(len * 4, (size_t)4096), (size_t)64 * 1024));
    int rc;
    if (len > docs->limits.max_file_bytes) {
        gw_diags_add(diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL,
                     "file is larger than the limit of %zu bytes", docs->limits.max_file_bytes);
        rc = GW_ELIMIT;
    } else if (is_json(path)) {
        rc = gw_docs_add_json(docs, path, data ? data : "", len, diags);
    } else {
        rc = gw_docs_add_yaml(docs, path, data ? data : "", len, diags);
    }
    if (rc < 0) {
        gw_docs_release(docs);
        free(docs);
        return rc;
    }
    *out = docs;
    return rc;
}

void
source_parsed_release(struct source_parsed *pre)
{
    if (pre->docs) {
        gw_docs_release(pre->docs);
        free(pre->docs);
        pre->docs = NULL;
    }
    gw_diags_release(&pre->diags);
}

enum gw_source_update
source_files_take(struct gw_source_files *fs, const char *path, const struct gw_source_stamp *stamp,
                  const char *data, size_t len, int read_err, struct source_parsed *pre)
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
        gw_diags_init(&nf->decoded);
    }
    struct gw_source_file *f = &fs->v[i];
    if (stamp)
        f->stamp = *stamp;
    uint64_t hash = read_err >= 0 ? bytes_hash(data, len) : 0;
    if (read_err >= 0 && f->good && len == f->nbytes && hash == f->hash) {
        /* The version in force, read again (its stamp was racy, SIGHUP, a
         * touch): nothing to parse or decode. */
        bool was_failing = f->errors.n > 0 || f->stale;
        gw_diags_release(&f->errors);
        f->stale = false;
        if (pre)
            source_parsed_release(pre);
        return was_failing ? GW_SOURCE_PARSED : GW_SOURCE_SAME;
    }
    gw_diags_release(&f->errors);

    struct gw_diags diags;
    gw_diags_init(&diags);
    struct gw_docs *docs = NULL;
    int rc;
    if (pre) {
        rc = pre->rc;
        docs = pre->docs;
        pre->docs = NULL;
        gw_diags_move(&diags, &pre->diags);
    } else {
        rc = source_file_parse(path, data, len, read_err, &docs, &diags);
    }

    if (rc >= 0) {
        file_forget_decoded(f);
        file_decode(f, docs);
        gw_docs_release(docs);
        free(docs);
        f->good = true;
        f->stale = false;
        f->hash = hash;
        f->nbytes = len;
        gw_diags_release(&diags);
        return GW_SOURCE_PARSED;
    }
    if (diags.errors == 0)
        gw_diags_add(&diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL,
                     "%s", gw_strerror(rc));
    gw_diags_move(&f->errors, &diags);
    f->stale = f->good;
    return f->good ? GW_SOURCE_KEPT : GW_SOURCE_FAILED;
}

enum gw_source_update
gw_source_files_update(struct gw_source_files *fs, const char *path,
                       const struct gw_source_stamp *stamp, const char *data, size_t len,
                       int read_err)
{
    return source_files_take(fs, path, stamp, data, len, read_err, NULL);
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
    size_t total[GW_KIND__COUNT] = {0};
    for (size_t i = 0; i < fs->n; i++)
        for (int k = 0; k < GW_KIND__COUNT; k++)
            total[k] += fs->v[i].good ? fs->v[i].nkind[k] : 0;
    for (int k = 0; k < GW_KIND__COUNT; k++)
        if (total[k])
            gw_store_reserve(store, (enum gw_kind)k, total[k]);
    for (size_t i = 0; i < fs->n; i++) {
        const struct gw_source_file *f = &fs->v[i];
        for (size_t j = 0; j < f->errors.n; j++)
            source_diag_copy(diags, &f->errors.v[j]);
        if (f->stale)
            gw_diags_add(diags, GW_SEV_WARNING, (struct gw_pos){f->path, 0, 0}, NULL, NULL, NULL,
                         NULL, "the last good version of this file stays in force");
        if (!f->good)
            continue;
        gw_store_hold(store, f->part);
        rejected += f->rejected;
        /* Adding in document order, with each object's diagnostics before
         * it, says what gw_decode_docs would say in the order it would. */
        size_t said = 0;
        for (size_t j = 0; j < f->nobjs; j++) {
            for (; said < f->objs[j].diags; said++)
                source_diag_copy(diags, &f->decoded.v[said]);
            if (gw_decode_add(store, f->objs[j].obj, diags) != 0)
                rejected++;
        }
        for (; said < f->decoded.n; said++)
            source_diag_copy(diags, &f->decoded.v[said]);
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
