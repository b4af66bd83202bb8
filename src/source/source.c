/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The source: one reload is sync (read and decode what changed) -> every
 * file's objects into a fresh store -> translate into the IR -> publish ->
 * the statuses (gw_status_pending_finish) -> keep statuses, IR and
 * diagnostics. A reload that finds nothing changed stops after the sync (the
 * tree is only stat'ed), so a burst of unrelated events (an editor's swap
 * file) costs a directory walk and nothing more.
 *
 * The watch glue: one inotify descriptor with a watch on every directory
 * the sync walks (re-adding a watch is idempotent, and a deleted
 * directory's watch goes away by itself), a signalfd for SIGHUP (which
 * forces every file to be read again), and the debounce timer. Events only
 * arm the debounce (and say whether the writes are finished, for a reload
 * at once): the sync's stamps decide what changed.
 */
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "ir/ir.h"
#include "loop/loop.h"
#include "source/internal.h"
#include "status/status.h"

#include "base/banned.h"

#define WATCH_MASK                                                                      \
    (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

int
gw_source_new(const struct gw_source_opts *opts, struct gw_source **out)
{
    if (!opts->dir || !*opts->dir)
        return GW_EINVAL;
    struct gw_source *s = gw_xcalloc(1, sizeof(*s));
    s->opts = *opts;
    if (!s->opts.quiet_ms)
        s->opts.quiet_ms = 30;
    if (!s->opts.max_ms)
        s->opts.max_ms = 500;
    if (!s->opts.max_logged_errors)
        s->opts.max_logged_errors = 100;
    gw_source_files_init(&s->files);
    gw_diags_init(&s->diags);
    gw_source_debounce_init(&s->debounce, s->opts.quiet_ms, s->opts.max_ms);
    gw_source_writes_init(&s->writes);
    s->inotify_fd = -1;
    *out = s;
    return 0;
}

static void
forget_watches(struct gw_source *s)
{
    for (size_t i = 0; i < s->nwatches; i++)
        free(s->watches[i].dir);
    s->nwatches = 0;
}

void
gw_source_free(struct gw_source *s)
{
    if (!s)
        return;
    if (s->loop) {
        gw_timer_stop(&s->timer);
        gw_timer_stop(&s->racy_timer);
        /* Not gw_io_close: its deferred callback would touch s after the
         * free. Dropping the interest unregisters the fd at once. */
        if (s->inotify_fd >= 0) {
            gw_io_set(&s->inotify_io, 0);
            close(s->inotify_fd);
        }
        if (s->has_sighup) {
            gw_io_set(&s->sighup_io, 0);
            close(s->sighup_io.fd);
        }
    }
    gw_source_files_release(&s->files);
    gw_source_writes_release(&s->writes);
    forget_watches(s);
    free(s->watches);
    gw_diags_release(&s->diags);
    if (s->status)
        gw_status_free(s->status);
    gw_ir_unref(s->ir);
    if (s->store) {
        gw_store_release(s->store);
        free(s->store);
    }
    free(s);
}

void
gw_source_on_publish(struct gw_source *s, gw_source_publish_fn fn, void *data)
{
    s->publish = fn;
    s->publish_data = data;
}

uint64_t
gw_source_reloads(const struct gw_source *s)
{
    return s->reloads[SOURCE_OK] + s->reloads[SOURCE_ERRORS] + s->reloads[SOURCE_FAILED];
}

const struct gw_status *
gw_source_status(const struct gw_source *s)
{
    return s->status;
}

struct gw_ir *
gw_source_ir(const struct gw_source *s)
{
    return s->ir;
}

const struct gw_diags *
gw_source_diags(const struct gw_source *s)
{
    return &s->diags;
}

/* ------------------------------------------------------------------------ */
/* Reload                                                                   */

static void
add_watch(void *data, const char *dir)
{
    struct gw_source *s = data;
    if (s->inotify_fd < 0)
        return;
    int wd = inotify_add_watch(s->inotify_fd, dir, WATCH_MASK);
    if (wd < 0) {
        if (!s->watch_warned) {
            /* Most likely fs.inotify.max_user_watches: SIGHUP still reloads. */
            s->watch_warned = true;
            gw_log_warn("source: cannot watch %s: %s (changes below it need SIGHUP)", dir,
                        gw_strerror(-errno));
        }
        return;
    }
    s->watches = gw_xgrow(s->watches, &s->watches_cap, s->nwatches + 1, sizeof(*s->watches));
    s->watches[s->nwatches++] = (struct source_watch){wd, gw_xstrdup(dir)};
}

static void on_inotify(struct gw_io *io, unsigned events);

/* Whether the events up to now say path's writer has not closed it (in
 * this burst or before). The events queued meanwhile are read first (they
 * also arm the debounce: a reload follows for them). */
static bool
is_writing(void *data, const char *path)
{
    struct gw_source *s = data;
    if (s->inotify_fd < 0 || !s->loop)
        return false;
    on_inotify(&s->inotify_io, 0);
    if (s->writes.nopen == 0 || s->writes.lost)
        return false;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return false;
    size_t n = (size_t)(slash - path);
    for (size_t i = 0; i < s->nwatches; i++) {
        const char *d = s->watches[i].dir;
        size_t m = strlen(d);
        /* "DIR/x.yaml" was walked in "DIR" (or "DIR/" as given). */
        if ((m == n && !memcmp(d, path, n)) || (m == n + 1 && !memcmp(d, path, m)))
            return gw_source_writes_open(&s->writes, s->watches[i].wd, slash + 1);
    }
    return false;
}

static size_t
count_routes(const struct gw_store *st)
{
    static const enum gw_kind kinds[] = {GW_KIND_HTTPROUTE, GW_KIND_GRPCROUTE, GW_KIND_TLSROUTE,
                                         GW_KIND_TCPROUTE, GW_KIND_UDPROUTE};

    size_t n = 0;
    for (size_t i = 0; i < GW_ARRAY_LEN(kinds); i++)
        n += gw_store_count(st, kinds[i]);
    return n;
}

static void
log_diags(const struct gw_source *s, const struct gw_diags *d)
{
    struct gw_buf line;
    gw_buf_init(&line, 16 * 1024);
    size_t shown = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (shown == s->opts.max_logged_errors) {
            gw_log_warn("... and %zu more (see /status on the admin port)", d->n - shown);
            break;
        }
        gw_buf_reset(&line);
        gw_diag_format(&d->v[i], &line);
        if (d->v[i].severity == GW_SEV_ERROR)
            gw_log_error("%s", line.p ? line.p : "");
        else
            gw_log_warn("%s", line.p ? line.p : "");
        shown++;
    }
    gw_buf_release(&line);
}

/*
 * The heap reserve (gw_source_reserve_heap, which the Kubernetes source
 * uses). The directory source takes none: after its first load it gives the
 * free heap back (malloc_trim) and only sets malloc's policy (blocks up to
 * 4 MiB from the heap, the free top kept up to 4 MiB), so later reloads
 * reuse what the previous snapshot freed. A reserve of twice what the load
 * allocated between the sync and the publish saved the first change after
 * start-up some 1,800 first-touch page faults at 5,000 routes, but it stayed
 * in the PSS for ever: 19 MiB of the 41 at 10,000 host routes, 64 of the
 * 244 MiB at 100,000 routes (issue 18: PSS < 30 MB and < 150 MB there); one
 * times that amount saved only a sixth of those faults. Instead, the first
 * change populates its fresh memory in one call (gw_source_prewarm_heap)
 * and then touches twice the snapshot for the second; after each later
 * change (past its publish) the memory it had to fault in is touched again,
 * twice over, for the next one (gw_source_reserve_heap): the memory comes
 * when changes need it, not at start-up.
 */
#define RESERVE_MAX       (64u << 20)
#define RESERVE_BLOCK     (256u << 10)
#define RESERVE_MMAP_FROM (4u << 20)
/* A reload that faulted fewer pages than this found its memory there. */
#define TOPUP_FAULTS 16
#define PAGE_BYTES   4096u

/* Malloc's policy: blocks up to 4 MiB from the heap, and its free top kept
 * up to twice the largest reserve yet (never less: a smaller top-up after a
 * bigger one would have the next free give the bigger one back). */
static void
heap_policy(size_t bytes)
{
    static size_t trim_from = RESERVE_MMAP_FROM;
    trim_from = GW_MAX(trim_from, 2 * bytes);
    mallopt(M_MMAP_THRESHOLD, (int)RESERVE_MMAP_FROM);
    mallopt(M_TRIM_THRESHOLD, (int)trim_from);
}

void
gw_source_reserve_heap(size_t bytes)
{
    bytes = GW_MIN(bytes, (size_t)RESERVE_MAX);
    heap_policy(bytes);
    size_t n = bytes / RESERVE_BLOCK;
    if (!n)
        return;
    void **v = gw_xmalloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        /* Not zeros: the compiler may make malloc + memset 0 a calloc,
         * which leaves fresh pages untouched. */
        v[i] = gw_xmalloc(RESERVE_BLOCK);
        memset(v[i], 0xa5, RESERVE_BLOCK);
    }
    for (size_t i = n; i-- > 0;)
        free(v[i]);
    free(v);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* The main heap's extent: the "[heap]" line of /proc/self/maps. */
static bool
heap_extent(uintptr_t *start, uintptr_t *end)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        if (!strstr(line, "[heap]"))
            continue;
        char *p;
        unsigned long long lo = strtoull(line, &p, 16);
        if (*p != '-')
            continue;
        unsigned long long hi = strtoull(p + 1, NULL, 16);
        *start = (uintptr_t)lo;
        *end = (uintptr_t)hi;
        found = hi > lo;
    }
    fclose(f);
    return found;
}

void
gw_source_prewarm_heap(size_t bytes)
{
    bytes = GW_MIN(bytes, (size_t)RESERVE_MAX);
    heap_policy(bytes);
    /* Blocks malloc takes from its free holes first, then from the top:
     * only their headers are touched here. */
    size_t n = bytes / RESERVE_BLOCK;
    void **v = n ? gw_xmalloc(n * sizeof(*v)) : NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = gw_xmalloc(RESERVE_BLOCK);
    uintptr_t lo, hi;
    /* Pages already there cost nothing more; the holes malloc_trim gave
     * back and the new top come in at once. An old kernel says EINVAL:
     * the pages then fault in as they are touched, as before. */
    if (heap_extent(&lo, &hi))
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
    for (size_t i = n; i-- > 0;)
        free(v[i]);
    free(v);
}

static uint64_t
minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? (uint64_t)ru.ru_minflt : 0;
}

/* Files read just after they were modified are read once more when their
 * stamps can be trusted (sync.c), unless a change is pending anyway: a
 * tree written just before start-up is not read again on the path of the
 * first change. That reload is no change: it leaves the debounce alone. */
static void
arm_racy(struct gw_source *s, int64_t until_ns)
{
    if (!s->loop || !until_ns || s->debounce.pending)
        return;
    int64_t left = until_ns - (int64_t)(gw_clock_real() * 1e9);
    gw_timer_start(&s->racy_timer, left > 0 ? (uint64_t)(left + 999999) / 1000000 : 0);
}

/* A reload with no file change and the same walk problems as before does
 * not change the configuration. */
static bool
same_walk_errors(const struct gw_diags *a, const struct gw_diags *b)
{
    return a->n == b->n && a->errors == b->errors;
}

int
gw_source_reload(struct gw_source *s)
{
    uint64_t t0 = gw_clock_mono_us();
    bool settle = s->loop && !s->settled;
    if (s->force) {
        /* SIGHUP: forget every stamp so every file is read again. */
        for (size_t i = 0; i < s->files.n; i++)
            memset(&s->files.v[i].stamp, 0, sizeof(s->files.v[i].stamp));
    }
    struct gw_diags walk;
    gw_diags_init(&walk);
    struct source_sync_stats stats;
    forget_watches(s);
    source_sync(&s->files, s->opts.dir, &walk, add_watch, is_writing, s, &stats);
    uint64_t t_sync = gw_clock_mono_us();
    if (s->status && !s->force && stats.read == stats.same && stats.removed == 0 &&
        same_walk_errors(&walk, &s->walk_errors)) {
        gw_diags_release(&walk);
        arm_racy(s, stats.racy_until_ns);
        gw_log_debug("reload: nothing changed (%zu files)", stats.files);
        return 0;
    }
    s->force = false;
    gw_diags_release(&s->walk_errors);
    for (size_t i = 0; i < walk.n; i++)
        source_diag_copy(&s->walk_errors, &walk.v[i]);

    /* The first load measures what its snapshot takes (store, IR,
     * statuses, proxy tables). A change builds its snapshot beside the old
     * one, with scratch on top: after the trim the first ones took some
     * 2.5 times that in fresh pages at 5,000 routes (2,500 faults, then
     * 900): the first change populates twice it first. */
    size_t heap0 = settle ? mallinfo2().uordblks : 0;
    bool prewarm = s->settled && !s->warm;
    if (prewarm)
        gw_source_prewarm_heap(2 * s->snapshot_bytes);
    uint64_t faults0 = minor_faults();
    uint64_t t_warm = gw_clock_mono_us();

    struct gw_store *store = gw_xmalloc(sizeof(*store));
    gw_store_init(store);
    struct gw_diags diags;
    gw_diags_init(&diags);
    gw_diags_move(&diags, &walk);
    gw_source_files_decode(&s->files, store, &diags);
    uint64_t t_decode = gw_clock_mono_us();

    struct gw_status_pending *pending = NULL;
    struct gw_ir *ir = NULL;
    int rc = gw_status_translate_ir(store, s->opts.status, &pending, &ir);
    uint64_t t1 = gw_clock_mono_us();
    s->last_duration_us = t1 - t0;
    s->last_time = gw_clock_real();
    if (rc < 0) {
        s->reloads[SOURCE_FAILED]++;
        gw_log_error("reload failed: %s; the previous configuration stays in force",
                     gw_strerror(rc));
        gw_store_release(store);
        free(store);
        gw_diags_release(&diags);
        return rc;
    }
    s->reloads[diags.errors ? SOURCE_ERRORS : SOURCE_OK]++;
    s->last_ok_time = s->last_time;

    /* Traffic needs only the IR: it is published first, the statuses are
     * written after it, and the old configuration is freed last. */
    if (s->publish)
        s->publish(s->publish_data, ir);
    uint64_t t2 = gw_clock_mono_us();
    uint64_t faults = minor_faults() - faults0;
    struct gw_status *st = gw_status_pending_finish(pending);
    /* Translate has no clock: conditions unchanged since the last reload
     * keep their lastTransitionTime, the others take this reload's time. */
    char now[GW_STATUS_TIME_LEN];
    gw_status_stamp_times(st, s->status, gw_status_time_format((int64_t)s->last_time, now));
    uint64_t t3 = gw_clock_mono_us();

    struct gw_status *old_status = s->status;
    struct gw_ir *old_ir = s->ir;
    struct gw_store *old_store = s->store;
    struct gw_diags old_diags = s->diags;
    s->status = st;
    s->ir = ir;
    s->store = store;
    s->diags = diags;
    for (int k = 0; k < GW_KIND__COUNT; k++)
        s->objects[k] = gw_store_count(store, (enum gw_kind)k);
    s->files_failing = gw_source_files_failing(&s->files);
    s->nfiles = s->files.n;
    if (old_status)
        gw_status_free(old_status);
    gw_ir_unref(old_ir);
    if (old_store) {
        gw_store_release(old_store);
        free(old_store);
    }
    gw_diags_release(&old_diags);
    if (s->settled) {
        /* What this reload had to fault in (its heap grew: the
         * configuration did), the next one may need again beyond what this
         * one freed: twice that is touched now, after the publish and the
         * statuses, so that the next change finds it ready. After the
         * first change (populated, so no faults counted) twice the
         * snapshot is: populated pages still cost their first touch on
         * this machine's hypervisor (~5 µs each), and the second change
         * had paid it (translate 10.8 ms instead of ~2.5 at 5,000 routes). */
        uint64_t grown = minor_faults() - faults0;
        s->warm = true;
        if (prewarm)
            gw_source_reserve_heap(2 * s->snapshot_bytes);
        else if (grown >= TOPUP_FAULTS)
            gw_source_reserve_heap(GW_MIN(2 * (size_t)grown * PAGE_BYTES, 2 * s->snapshot_bytes));
    }
    if (settle) {
        /* The load's garbage (its parse trees on the helper thread's
         * arena, the translation's scratch) goes back to the kernel. */
        size_t kept = mallinfo2().uordblks;
        s->snapshot_bytes = kept > heap0 ? kept - heap0 : 0;
        malloc_trim(0);
        gw_source_reserve_heap(0);
        s->settled = true;
    }
    log_diags(s, &s->diags);
    arm_racy(s, stats.racy_until_ns);
    /* "in" is the time to the publish (what traffic waits for); the
     * statuses come after it. */
    gw_log_info("reload ok: %zu objects, %zu routes, %zu errors in %.1f ms (%zu files, %zu read; "
                "sync %.1f, prewarm %.1f, decode %.1f, translate %.1f, publish %.1f ms, %llu "
                "faults; then status %.1f ms)",
                gw_store_size(store), count_routes(store), s->diags.errors,
                (double)(t2 - t0) / 1000.0, stats.files, stats.read, (double)(t_sync - t0) / 1000.0,
                (double)(t_warm - t_sync) / 1000.0, (double)(t_decode - t_warm) / 1000.0,
                (double)(t1 - t_decode) / 1000.0, (double)(t2 - t1) / 1000.0,
                (unsigned long long)faults, (double)(t3 - t2) / 1000.0);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Watch                                                                    */

static void
arm(struct gw_source *s, bool settled)
{
    uint64_t now = gw_loop_now(s->loop);
    gw_source_debounce_touch(&s->debounce, now, settled);
    uint64_t due = gw_source_debounce_due(&s->debounce);
    gw_timer_start(&s->timer, due > now ? due - now : 0);
}

static void
on_timer(struct gw_timer *t)
{
    struct gw_source *s = t->data;
    gw_source_debounce_clear(&s->debounce);
    /* The sync holds the files still being written (is_writing); the
     * events it reads for that begin the next burst, which is not a
     * leading one (the source is busy from now on). */
    gw_source_debounce_done(&s->debounce, gw_loop_now(s->loop));
    gw_source_reload(s);
    gw_source_writes_clear(&s->writes);
    /* The loop's clock stopped at the start of this turn. */
    gw_loop_update_time(s->loop);
    gw_source_debounce_done(&s->debounce, gw_loop_now(s->loop));
}

static void
on_inotify(struct gw_io *io, unsigned events)
{
    struct gw_source *s = io->data;
    (void)events;
    _Alignas(struct inotify_event) char buf[16 * 1024];
    bool any = false;
    for (;;) {
        ssize_t n = read(io->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        any = true;
        /* The sync's stamps decide what changed; the events only say
         * whether the writes are finished, i.e. how soon to look. */
        for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)n;) {
            const struct inotify_event *e = (const struct inotify_event *)(const void *)(buf + off);
            gw_source_writes_event(&s->writes, e->wd, e->mask, e->len ? e->name : "");
            off += sizeof(*e) + e->len;
        }
    }
    if (any)
        arm(s, gw_source_writes_settled(&s->writes));
}

static void
on_racy_timer(struct gw_timer *t)
{
    struct gw_source *s = t->data;
    /* A write may have begun since the last turn: its events (read now)
     * arm the debounce, whose reload waits until the write is done. */
    if (s->inotify_fd >= 0)
        on_inotify(&s->inotify_io, 0);
    if (!s->debounce.pending)
        gw_source_reload(s);
}

static void
on_sighup(struct gw_io *io, unsigned events)
{
    struct gw_source *s = io->data;
    struct signalfd_siginfo si;
    (void)events;
    bool hup = false;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        hup = hup || si.ssi_signo == SIGHUP;
    if (hup) {
        gw_log_info("SIGHUP: reloading every file");
        s->force = true;
        arm(s, true);
    }
}

int
gw_source_watch(struct gw_source *s, struct gw_loop *loop)
{
    s->loop = loop;
    gw_timer_init(loop, &s->timer, on_timer, s);
    gw_timer_init(loop, &s->racy_timer, on_racy_timer, s);
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        gw_log_warn("source: inotify: %s (SIGHUP still reloads)", gw_strerror(-errno));
    } else {
        s->inotify_fd = fd;
        gw_io_init(loop, &s->inotify_io, fd, on_inotify, s);
        int rc = gw_io_set(&s->inotify_io, GW_LOOP_READ);
        if (rc < 0)
            return rc;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    int err = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (err != 0)
        return -err;
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        return -errno;
    gw_io_init(loop, &s->sighup_io, sfd, on_sighup, s);
    int rc = gw_io_set(&s->sighup_io, GW_LOOP_READ);
    if (rc < 0) {
        close(sfd);
        return rc;
    }
    s->has_sighup = true;
    return 0;
}
