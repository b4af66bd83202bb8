/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The directory sync: walks the tree with gw_docs_add_dir's rules (every
 * *.yaml, *.yml and *.json, recursively, hidden entries skipped, symlinked
 * directories after the real tree, each directory once), stats every file
 * and reads only those whose stamp (device, inode, size, mtime, ctime)
 * changed. Inotify is only the trigger: the stamps decide, so a lost or
 * merged event, a rename-into-place or a symlink swap (a Kubernetes
 * ConfigMap's `..data`) all end the same way.
 *
 * A file modified less than RACY_NS before it was read may change again
 * within the same timestamp tick without its stamp changing (git's "racily
 * clean" problem); such a file gets an impossible stamp so the next sync
 * reads it again, and the stats say when that read will be for good (the
 * source syncs once more then, so that the next change does not pay for
 * re-reading a whole tree written just before start-up). RACY_NS is over
 * twice the coarsest kernel timestamp tick (10 ms, HZ=100).
 *
 * A file with a version in force can be caught half-written: when writes
 * never pause for the debounce's quiet period, the reload at its cap reads
 * whatever is there, and a file rewritten in place (an editor, `cp`, a
 * shell's `>`) is empty between its truncation and its first write. Such a
 * file is held: its objects stay in force and it is read again at the next
 * sync. It is held while the watch says a writer still has it open
 * (modified and not closed since, even across reloads: a writer may stall;
 * asked after the read, so that a write begun before it has queued its
 * events), for at most WRITING_HOLD_NS; and while it
 * reads empty, for EMPTY_HOLD_NS (an empty file touched again starts the
 * wait again), which covers what the watch cannot see (lost events, no
 * watch). The writer's close reloads at once, so a hold costs a finished
 * write nothing; a file emptied for good loses its objects EMPTY_HOLD_NS
 * late (the stats say when; the source syncs again then).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "source/internal.h"

#include "base/banned.h"

#define MAX_WALK_DEPTH  64
#define RACY_NS         (25 * 1000 * 1000LL)
#define EMPTY_HOLD_NS   (1000 * 1000 * 1000LL)
#define WRITING_HOLD_NS (10 * 1000 * 1000 * 1000LL)

struct walk {
    char **paths;
    size_t n, cap;

    struct {
        dev_t dev;
        ino_t ino;
    } * seen;

    size_t nseen, seen_cap;
    char **links;
    size_t nlinks, links_cap;
    char **failed; /* directories that could not be read: keep their files */
    size_t nfailed, failed_cap;
    struct gw_diags *diags;
    source_dir_fn on_dir;
    void *data;
};

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool
wanted(const char *name)
{
    return has_suffix(name, ".yaml") || has_suffix(name, ".yml") || has_suffix(name, ".json");
}

static int
cmp_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory entry: its name and the type readdir gave (DT_UNKNOWN on
 * file systems that do not say). */
struct entry {
    char *name;
    unsigned char type;
};

static int
cmp_entries(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void
walk_failed(struct walk *w, const char *dir, const char *what, int err)
{
    gw_diags_add(w->diags, GW_SEV_ERROR, (struct gw_pos){dir, 0, 0}, NULL, NULL, NULL, NULL,
                 "%s: %s", what, gw_strerror(err));
    w->failed = gw_xgrow(w->failed, &w->failed_cap, w->nfailed + 1, sizeof(*w->failed));
    w->failed[w->nfailed++] = gw_xstrdup(dir);
}

static void
walk_dir(struct walk *w, const char *dir, const struct stat *st, unsigned depth)
{
    for (size_t i = 0; i < w->nseen; i++) {
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
            return;
    }
    w->seen = gw_xgrow(w->seen, &w->seen_cap, w->nseen + 1, sizeof(*w->seen));
    w->seen[w->nseen].dev = st->st_dev;
    w->seen[w->nseen].ino = st->st_ino;
    w->nseen++;
    if (depth > MAX_WALK_DEPTH) {
        walk_failed(w, dir, "directory nesting too deep", GW_ELIMIT);
        return;
    }
    /* Watch before reading, so an entry created meanwhile is not missed. */
    if (w->on_dir)
        w->on_dir(w->data, dir);
    DIR *d = opendir(dir);
    if (!d) {
        walk_failed(w, dir, "cannot open directory", -errno);
        return;
    }
    struct entry *names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = gw_xgrow(names, &cap, n + 1, sizeof(*names));
        names[n++] = (struct entry){gw_xstrdup(e->d_name), e->d_type};
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_entries);

    size_t dlen = strlen(dir);
    bool slash = dlen > 0 && dir[dlen - 1] == '/';
    for (size_t i = 0; i < n; i++) {
        char *path = gw_xasprintf("%s%s%s", dir, slash ? "" : "/", names[i].name);
        unsigned char type = DT_UNKNOWN;
        struct stat cst, lst;
        /* Regular files need no stat here (the sync stats every file), so
         * readdir's word for them is enough; directories need theirs (to be
         * walked once), and other types are asked. */
        if (names[i].type == DT_REG) {
            type = DT_REG;
        } else if (lstat(path, &lst) == 0) {
            if (S_ISREG(lst.st_mode))
                type = DT_REG;
            else if (S_ISDIR(lst.st_mode))
                type = DT_DIR;
            else if (S_ISLNK(lst.st_mode))
                type = DT_LNK;
        }
        if (type == DT_REG) {
            if (wanted(names[i].name)) {
                w->paths = gw_xgrow(w->paths, &w->cap, w->n + 1, sizeof(*w->paths));
                w->paths[w->n++] = path;
                path = NULL;
            }
        } else if (type == DT_DIR) {
            walk_dir(w, path, &lst, depth + 1);
        } else if (type == DT_LNK && stat(path, &cst) == 0) {
            if (S_ISDIR(cst.st_mode)) {
                w->links = gw_xgrow(w->links, &w->links_cap, w->nlinks + 1, sizeof(*w->links));
                w->links[w->nlinks++] = path;
                path = NULL;
            } else if (S_ISREG(cst.st_mode) && wanted(names[i].name)) {
                w->paths = gw_xgrow(w->paths, &w->cap, w->n + 1, sizeof(*w->paths));
                w->paths[w->n++] = path;
                path = NULL;
            }
        } else if (type == DT_LNK && wanted(names[i].name)) {
            gw_diags_add(w->diags, GW_SEV_ERROR, (struct gw_pos){path, 0, 0}, NULL, NULL, NULL,
                         NULL, "cannot stat: %s", gw_strerror(-errno));
        }
        free(path);
        free(names[i].name);
    }
    free(names);
}

static void
stamp_of(const struct stat *st, struct gw_source_stamp *s)
{
    s->dev = (uint64_t)st->st_dev;
    s->ino = (uint64_t)st->st_ino;
    s->size = (uint64_t)st->st_size;
    s->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    s->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

static bool
stamp_eq(const struct gw_source_stamp *a, const struct gw_source_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* Reads path whole (bounded); fills stamp from the open file. 0 or -errno /
 * GW_ELIMIT; -ENOENT when it vanished. */
static int
read_file(const char *path, size_t max, char **out, size_t *outlen, struct gw_source_stamp *stamp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    int rc = 0;
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    stamp_of(&st, stamp);
    if (!S_ISREG(st.st_mode)) {
        rc = -EISDIR;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = GW_ELIMIT;
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1;
    buf = gw_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (len > max) {
                rc = GW_ELIMIT;
                goto out;
            }
            buf = gw_xgrow(buf, &cap, cap + 1, 1);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > max)
        rc = GW_ELIMIT;
out:
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/*
 * Files new to the state (all of them at start-up) are read and parsed by a
 * helper thread, in path order, while the loop of source_sync decodes the
 * ones before: parsing (libyaml and the document tree) and decoding each
 * take about half of a load, so on two cores a big directory loads in about
 * the time of its parsing. Only the parse runs there: the documents are
 * freed once decoded, and the decoded objects, which stay, come from this
 * thread's heap. Files changed later are few and parsed in place.
 */
#define PREFETCH_MIN 2 /* new files below which no thread is started */

struct pre_file {
    const char *path; /* borrowed from the walk */
    int rc;           /* of read_file */
    char *buf;
    size_t len;
    struct gw_source_stamp stamp;
    struct source_parsed parsed;
};

struct prefetch {
    struct pre_file *v;
    size_t n, next;   /* next: the loop's position in v */
    size_t ready;     /* entries parsed (under mu) */
    size_t max_bytes; /* read_file's bound */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running;
};

static void *
prefetch_run(void *arg)
{
    struct prefetch *pf = arg;
    for (size_t i = 0; i < pf->n; i++) {
        struct pre_file *e = &pf->v[i];
        memset(&e->stamp, 0, sizeof(e->stamp));
        e->rc = read_file(e->path, pf->max_bytes, &e->buf, &e->len, &e->stamp);
        gw_diags_init(&e->parsed.diags);
        if (e->rc != -ENOENT)
            e->parsed.rc = source_file_parse(e->path, e->buf, e->len, e->rc, &e->parsed.docs,
                                             &e->parsed.diags);
        pthread_mutex_lock(&pf->mu);
        pf->ready = i + 1;
        pthread_cond_signal(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
    }
    return NULL;
}

/* Starts the helper on the paths (sorted, as w's) that fs does not know,
 * if there are enough of them. */
static void
prefetch_start(struct prefetch *pf, struct gw_source_files *fs, char **paths, size_t n,
               size_t max_bytes)
{
    memset(pf, 0, sizeof(*pf));
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++)
        fresh += !gw_source_files_find(fs, paths[i]);
    if (fresh < PREFETCH_MIN)
        return;
    pf->v = gw_xcalloc(fresh, sizeof(*pf->v));
    for (size_t i = 0; i < n; i++)
        if (!gw_source_files_find(fs, paths[i]))
            pf->v[pf->n++].path = paths[i];
    pf->max_bytes = max_bytes;
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    if (pthread_create(&pf->thread, NULL, prefetch_run, pf) != 0) {
        pthread_mutex_destroy(&pf->mu);
        pthread_cond_destroy(&pf->cv);
        free(pf->v);
        memset(pf, 0, sizeof(*pf));
        return;
    }
    pf->running = true;
}

/* The helper's entry for path if it is the next one, waiting until it is
 * parsed; NULL if path is not one of its files. */
static struct pre_file *
prefetch_take(struct prefetch *pf, const char *path)
{
    if (!pf->running || pf->next == pf->n || strcmp(pf->v[pf->next].path, path) != 0)
        return NULL;
    size_t i = pf->next++;
    pthread_mutex_lock(&pf->mu);
    while (pf->ready <= i)
        pthread_cond_wait(&pf->cv, &pf->mu);
    pthread_mutex_unlock(&pf->mu);
    return &pf->v[i];
}

/* Waits for the helper and frees what the loop did not take. */
static void
prefetch_finish(struct prefetch *pf)
{
    if (!pf->running)
        return;
    pthread_join(pf->thread, NULL);
    for (size_t i = pf->next; i < pf->n; i++) {
        free(pf->v[i].buf);
        source_parsed_release(&pf->v[i].parsed);
    }
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    free(pf->v);
}

static bool
under_failed(const struct walk *w, const char *path)
{
    for (size_t i = 0; i < w->nfailed; i++) {
        size_t n = strlen(w->failed[i]);
        if (!strncmp(path, w->failed[i], n) && (path[n] == '/' || path[n] == '\0'))
            return true;
    }
    return false;
}

void
source_sync(struct gw_source_files *fs, const char *dir, struct gw_diags *diags,
            source_dir_fn on_dir, source_writing_fn writing, void *data,
            struct source_sync_stats *stats)
{
    struct walk w;
    memset(&w, 0, sizeof(w));
    memset(stats, 0, sizeof(*stats));
    w.diags = diags;
    w.on_dir = on_dir;
    w.data = data;
    struct stat st;
    if (stat(dir, &st) != 0)
        walk_failed(&w, dir, "cannot open directory", -errno);
    else if (!S_ISDIR(st.st_mode))
        walk_failed(&w, dir, "cannot open directory", -ENOTDIR);
    else
        walk_dir(&w, dir, &st, 0);
    for (size_t i = 0; i < w.nlinks; i++) {
        struct stat lst;
        if (stat(w.links[i], &lst) == 0)
            walk_dir(&w, w.links[i], &lst, 1);
        free(w.links[i]);
    }
    free(w.links);
    if (w.n)
        qsort(w.paths, w.n, sizeof(*w.paths), cmp_paths);
    stats->files = w.n;
    bool future = false;
    int64_t held_until_ns = 0;

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    struct gw_load_limits lim;
    gw_load_limits_default(&lim);

    /* Files gone: both lists are sorted, one merge pass. */
    size_t j = 0;
    for (size_t i = 0; i < fs->n;) {
        const char *p = fs->v[i].path;
        while (j < w.n && strcmp(w.paths[j], p) < 0)
            j++;
        if ((j < w.n && !strcmp(w.paths[j], p)) || under_failed(&w, p)) {
            i++;
            continue;
        }
        gw_source_files_remove(fs, p);
        stats->removed++;
    }

    struct prefetch pf;
    prefetch_start(&pf, fs, w.paths, w.n, lim.max_file_bytes);
    for (size_t i = 0; i < w.n; i++) {
        const char *path = w.paths[i];
        struct gw_source_file *f = gw_source_files_find(fs, path);
        struct pre_file *pre = f ? NULL : prefetch_take(&pf, path);
        struct gw_source_stamp stamp;
        struct stat fst;
        if (f && stat(path, &fst) == 0) {
            stamp_of(&fst, &stamp);
            if (stamp_eq(&stamp, &f->stamp))
                continue;
        }
        char *buf = NULL;
        size_t len = 0;
        int rc;
        if (pre) {
            rc = pre->rc;
            buf = pre->buf;
            len = pre->len;
            stamp = pre->stamp;
            pre->buf = NULL;
        } else {
            memset(&stamp, 0, sizeof(stamp));
            rc = read_file(path, lim.max_file_bytes, &buf, &len, &stamp);
        }
        if (rc == -ENOENT) {
            /* Gone between the walk and now; the next event reloads. */
            if (pre)
                source_parsed_release(&pre->parsed);
            if (f && gw_source_files_remove(fs, path))
                stats->removed++;
            continue;
        }
        /* Asked after the read: a write begun before it has queued its
         * events by now, so what was read may be half of it. */
        if (f && f->good && writing && writing(data, path)) {
            if (!f->held_ns)
                f->held_ns = now_ns;
            if (now_ns - f->held_ns < WRITING_HOLD_NS) {
                /* The stamp is left: it still differs next time. Its
                 * close arms the next reload; the stats ask for one
                 * anyway, in case that event is lost. */
                held_until_ns = GW_MAX(held_until_ns, now_ns + EMPTY_HOLD_NS);
                stats->held++;
                gw_log_debug("%s: being written; its last version stays in force", path);
                free(buf);
                continue;
            }
        }
        if (f && rc == 0 && len == 0 && f->good && f->nobjs > 0) {
            if (!f->held_ns || f->held_ctime_ns != stamp.ctime_ns) {
                f->held_ns = now_ns;
                f->held_ctime_ns = stamp.ctime_ns;
            }
            if (now_ns - f->held_ns < EMPTY_HOLD_NS) {
                /* Truncated, and maybe not written yet: its objects stay,
                 * and an impossible stamp has it read again. */
                f->stamp = stamp;
                f->stamp.mtime_ns = -1;
                held_until_ns = GW_MAX(held_until_ns, f->held_ns + EMPTY_HOLD_NS);
                stats->held++;
                gw_log_debug("%s: read empty; its objects stay in force for up to %lld ms (a "
                             "write in progress?)",
                             path, (long long)(EMPTY_HOLD_NS / 1000000));
                free(buf);
                continue;
            }
            gw_log_info("%s: empty for %lld ms: its objects are removed", path,
                        (long long)((now_ns - f->held_ns) / 1000000));
        }
        if (f)
            f->held_ns = 0;
        if (now_ns - stamp.mtime_ns < RACY_NS || now_ns - stamp.ctime_ns < RACY_NS) {
            int64_t last = GW_MAX(stamp.mtime_ns, stamp.ctime_ns);
            if (last > now_ns)
                future = true; /* read again at every sync, no use waiting */
            else
                stats->racy_until_ns = GW_MAX(stats->racy_until_ns, last + RACY_NS);
            stamp.mtime_ns = -1;
        }
        stats->read++;
        enum gw_source_update u =
            source_files_take(fs, path, &stamp, buf, len, rc, pre ? &pre->parsed : NULL);
        if (u == GW_SOURCE_SAME)
            stats->same++;
        else if (u != GW_SOURCE_PARSED)
            stats->failed++;
        free(buf);
    }

    prefetch_finish(&pf);
    if (future)
        stats->racy_until_ns = 0;
    stats->racy_until_ns = GW_MAX(stats->racy_until_ns, held_until_ns);
    for (size_t i = 0; i < w.n; i++)
        free(w.paths[i]);
    free(w.paths);
    free(w.seen);
    for (size_t i = 0; i < w.nfailed; i++)
        free(w.failed[i]);
    free(w.failed);
}
