/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files and directories into the doc tree: one file is read whole (bounded
 * by max_file_bytes) and handed to the JSON or YAML front end by its name;
 * a directory is walked recursively, every *.yaml, *.yml and *.json path is
 * collected, and the paths are loaded in byte-wise sorted order so the
 * result never depends on readdir order. Hidden entries are skipped, and a
 * directory reached twice (a symlink loop, or two links to one directory)
 * is walked only once.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* A problem with a whole file: no line, the file as position. */
static void
file_error(struct gw_diags *diags, const char *path, const char *what, int err)
{
    if (!diags)
        return;
    struct gw_pos pos = {path, 0, 0};
    if (err)
        gw_diags_add(diags, GW_SEV_ERROR, pos, NULL, NULL, NULL, NULL, "%s: %s", what,
                     gw_strerror(err));
    else
        gw_diags_add(diags, GW_SEV_ERROR, pos, NULL, NULL, NULL, NULL, "%s", what);
}

/* Reads all of fd, failing with GW_ELIMIT past max bytes. */
static int
read_all(int fd, size_t max, char **out, size_t *outlen)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                free(buf);
                return GW_ELIMIT;
            }
            size_t want = cap ? cap * 2 : 64 * 1024;
            if (want > max + 1)
                want = max + 1;
            if (want <= len)
                want = len + 1;
            buf = gw_xgrow(buf, &cap, want, 1);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int err = -errno;
            free(buf);
            return err;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > max) {
            free(buf);
            return GW_ELIMIT;
        }
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int
gw_docs_add_file(struct gw_docs *docs, const char *path, struct gw_diags *diags)
{
    size_t max = docs->limits.max_file_bytes;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int err = -errno;
        file_error(diags, path, "cannot open", err);
        return err;
    }
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        file_error(diags, path, "cannot stat", rc);
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        file_error(diags, path, "cannot read", rc);
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        rc = GW_ELIMIT;
    } else {
        rc = read_all(fd, max, &data, &len);
    }
    if (rc == GW_ELIMIT) {
        if (diags)
            gw_diags_add(diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL, NULL,
                         "file is larger than the limit of %zu bytes", max);
        goto out;
    }
    if (rc < 0) {
        file_error(diags, path, "cannot read", rc);
        goto out;
    }
    if (has_suffix(path, ".json"))
        rc = gw_docs_add_json(docs, path, data ? data : "", len, diags);
    else
        rc = gw_docs_add_yaml(docs, path, data ? data : "", len, diags);
out:
    free(data);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Directory walk                                                           */

struct walk {
    char **paths;
    size_t n, cap;

    struct {
        dev_t dev;
        ino_t ino;
    } * seen;

    size_t nseen, seen_cap;
    char **links; /* symlinked directories, walked after the real tree */
    size_t nlinks, links_cap;
    int first_err;
    struct gw_docs *docs;
    struct gw_diags *diags;
};

#define MAX_WALK_DEPTH 64

static bool
wanted(const char *name)
{
    return has_suffix(name, ".yaml") || has_suffix(name, ".yml") || has_suffix(name, ".json");
}

static void
walk_error(struct walk *w, int err, const char *path, const char *what)
{
    file_error(w->diags, path, what, err);
    if (!w->first_err)
        w->first_err = err;
}

static int
cmp_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
walk_dir(struct walk *w, const char *dir, const struct stat *st, unsigned depth)
{
    for (size_t i = 0; i < w->nseen; i++) {
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
            return; /* reached before: a loop or a second link */
    }
    w->seen = gw_xgrow(w->seen, &w->seen_cap, w->nseen + 1, sizeof(*w->seen));
    w->seen[w->nseen].dev = st->st_dev;
    w->seen[w->nseen].ino = st->st_ino;
    w->nseen++;
    if (depth > MAX_WALK_DEPTH) {
        walk_error(w, GW_ELIMIT, dir, "directory nesting too deep");
        return;
    }

    DIR *d = opendir(dir);
    if (!d) {
        walk_error(w, -errno, dir, "cannot open directory");
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = gw_xgrow(names, &cap, n + 1, sizeof(*names));
        names[n++] = gw_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_paths);

    size_t dlen = strlen(dir);
    bool slash = dlen > 0 && dir[dlen - 1] == '/';
    for (size_t i = 0; i < n; i++) {
        char *path = gw_xasprintf("%s%s%s", dir, slash ? "" : "/", names[i]);
        struct stat cst, lst;
        if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && stat(path, &cst) == 0 &&
            S_ISDIR(cst.st_mode)) {
            /* Real directories first, so a link to a directory of the tree
             * does not take its place. */
            w->links = gw_xgrow(w->links, &w->links_cap, w->nlinks + 1, sizeof(*w->links));
            w->links[w->nlinks++] = path;
        } else if (stat(path, &cst) != 0) {
            /* A dangling symlink to a wanted name is worth a word. */
            if (wanted(names[i]))
                walk_error(w, -errno, path, "cannot stat");
            free(path);
        } else if (S_ISDIR(cst.st_mode)) {
            walk_dir(w, path, &cst, depth + 1);
            free(path);
        } else if (S_ISREG(cst.st_mode) && wanted(names[i])) {
            w->paths = gw_xgrow(w->paths, &w->cap, w->n + 1, sizeof(*w->paths));
            w->paths[w->n++] = path;
        } else {
            free(path);
        }
        free(names[i]);
    }
    free(names);
}

int
gw_docs_add_dir(struct gw_docs *docs, const char *dir, struct gw_diags *diags)
{
    struct walk w;
    memset(&w, 0, sizeof(w));
    w.docs = docs;
    w.diags = diags;
    struct stat st;
    if (stat(dir, &st) != 0) {
        int err = -errno;
        file_error(diags, dir, "cannot open directory", err);
        return err;
    }
    if (!S_ISDIR(st.st_mode)) {
        file_error(diags, dir, "cannot open directory", -ENOTDIR);
        return -ENOTDIR;
    }
    walk_dir(&w, dir, &st, 0);
    for (size_t i = 0; i < w.nlinks; i++) {
        /* The list may grow while it is walked: links inside links. */
        struct stat lst;
        if (stat(w.links[i], &lst) == 0)
            walk_dir(&w, w.links[i], &lst, 1);
        free(w.links[i]);
    }
    free(w.links);
    qsort(w.paths, w.n, sizeof(*w.paths), cmp_paths);
    int rc = w.first_err;
    for (size_t i = 0; i < w.n; i++) {
        int r = gw_docs_add_file(docs, w.paths[i], diags);
        if (r < 0 && !rc)
            rc = r;
        free(w.paths[i]);
    }
    free(w.paths);
    free(w.seen);
    return rc;
}
