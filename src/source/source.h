/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source: the standalone configuration source of `gatehouse run`. A
 * directory of YAML/JSON manifests is read file by file (the walk of
 * gw_docs_add_dir: *.yaml, *.yml, *.json, recursively, hidden entries
 * skipped, byte-wise sorted paths), each version of a file decoded once,
 * every file's objects put into a fresh store on every reload and
 * translated (status/) into statuses and an IR snapshot.
 *
 * Three layers, from pure to I/O:
 *  1. The per-file state (struct gw_source_files): each file's last good
 *     version, decoded once when read. A new version that does not parse
 *     (or cannot be read) leaves the last good one in force and records
 *     why; a file that is gone is dropped. Pure: bytes in, state out.
 *  2. The debounce (struct gw_source_debounce): when to reload after a burst
 *     of changes (at once for a finished write after a quiet period, else
 *     after a quiet period, capped by a maximum delay). Pure.
 *  3. The source (struct gw_source): syncs the per-file state with the
 *     directory (stat stamps decide which files are read again), decodes,
 *     translates, keeps the current statuses, IR and diagnostics, and, once
 *     attached to a loop, watches the tree with inotify (new directories
 *     too; editors' rename-into-place; ConfigMap-style `..data` symlink
 *     swaps) and SIGHUP, and reloads after the debounce.
 *
 * Nothing here is thread-safe: a source belongs to the control thread.
 */
#ifndef GW_SOURCE_H
#define GW_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "config/config.h"
#include "load/load.h"

struct gw_loop;
struct gw_ir;
struct gw_status;
struct gw_status_opts;

/* ======================================================================== */
/* 1. Per-file state                                                        */

/* What stat says about a file; two equal stamps mean "not changed". */
struct gw_source_stamp {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
};

/* One object of a file's documents, decoded. */
struct gw_source_object {
    struct gw_meta *obj; /* in the file's part */
    size_t diags;        /* decode diagnostics of the file that come before it */
};

struct gw_source_file {
    char *path;                   /* heap, as walked ("DIR/sub/x.yaml") */
    struct gw_source_stamp stamp; /* of the version last read (good or not) */
    bool good;                    /* a version is in force (none yet: false) */
    struct gw_diags errors;       /* why the last version read is not in force; empty if it is */
    bool stale;                   /* the version in force is older than the file's current one */
    /* The version in force: its length and a 64-bit hash of its bytes (to
     * know it when it is read again; the bytes are not kept), and its
     * objects, decoded once when it was read (the document tree is not
     * kept): a reload adds them to the new store as they are. */
    uint64_t hash;
    size_t nbytes;
    struct gw_store_part *part;    /* the objects (one reference) */
    struct gw_source_object *objs; /* heap, in document order */
    size_t nobjs, objs_cap;
    size_t nkind[GW_KIND__COUNT]; /* objects of each kind (to presize a store) */
    struct gw_diags decoded;      /* what decode said about them */
    int rejected;                 /* objects decode rejected */
    /* CLOCK_REALTIME ns since which the sync holds this file's version in
     * force (it was being written, or read empty: see sync.c), and the
     * file's ctime when it was read empty (a later truncation starts the
     * wait again); 0: not held. */
    int64_t held_ns, held_ctime_ns;
};

struct gw_source_files {
    struct gw_source_file *v; /* sorted by path (strcmp) */
    size_t n, cap;
};

void gw_source_files_init(struct gw_source_files *fs);
void gw_source_files_release(struct gw_source_files *fs);

/* The file for path, NULL if not known. */
struct gw_source_file *gw_source_files_find(struct gw_source_files *fs, const char *path);

/* What gw_source_files_update did. */
enum gw_source_update {
    GW_SOURCE_SAME,   /* the version in force, unchanged: nothing to do */
    GW_SOURCE_PARSED, /* the new version is in force */
    GW_SOURCE_KEPT,   /* it failed; the last good version stays in force */
    GW_SOURCE_FAILED, /* it failed and there is no earlier version */
};

/*
 * Takes a new version of path: data[0..len) parsed as JSON (*.json) or YAML
 * and decoded, or, when read_err < 0, the error reading it (data ignored).
 * On success its objects replace the file's; on failure the previous ones
 * (if any) stay and the errors (file:line:col) are kept in the file's
 * `errors`. The bytes of the version in force again (a racy stamp, SIGHUP)
 * are neither parsed nor decoded again (GW_SOURCE_SAME, or GW_SOURCE_PARSED
 * if a broken version was in the file meanwhile).
 * stamp is recorded either way, so an unchanged broken file is not read
 * again. Pure; data is borrowed for the call.
 */
enum gw_source_update gw_source_files_update(struct gw_source_files *fs, const char *path,
                                             const struct gw_source_stamp *stamp, const char *data,
                                             size_t len, int read_err);

/* Forgets path (the file was deleted). false if it was not known. */
bool gw_source_files_remove(struct gw_source_files *fs, const char *path);

/*
 * Adds every file's objects, in path order, to store (fresh; it holds the
 * files' parts), and appends to diags each file's pending errors (with a
 * warning that the last good version is in force, when there is one) and
 * every decode diagnostic: the result of decoding every file's documents
 * into store again. Returns the number of objects rejected by decode.
 */
int gw_source_files_decode(const struct gw_source_files *fs, struct gw_store *store,
                           struct gw_diags *diags);

/* Number of files whose latest version is not in force. */
size_t gw_source_files_failing(const struct gw_source_files *fs);

/* ======================================================================== */
/* 2. Debounce                                                              */

/*
 * When to reload. A burst of changes is normally reloaded once it has been
 * quiet for quiet_ms, or max_ms after its first change, whichever comes
 * first (editors and tools touch a file several times in a few ms). A burst
 * that starts after a quiet period (no change, no reload, for quiet_ms) and
 * whose writes are all finished ("settled", see gw_source_writes) reloads
 * at once instead: a file written and closed goes live without waiting.
 * Changes that come while a reload runs, or right after it, wait for quiet
 * again, so a stream of writes costs one reload per quiet period, not one
 * per write.
 */
struct gw_source_debounce {
    uint64_t quiet_ms;
    uint64_t max_ms;
    uint64_t first, last; /* changes of the pending burst */
    uint64_t busy;        /* the last change or reload end (monotonic ms), 0: none */
    bool pending;
    bool leading; /* the pending burst started after a quiet period */
    bool settled; /* ... and its writes were all finished at its last change */
};

void gw_source_debounce_init(struct gw_source_debounce *d, uint64_t quiet_ms, uint64_t max_ms);
/* Changes were seen at now (monotonic ms); settled: every write seen so far
 * is finished (gw_source_writes_settled). */
void gw_source_debounce_touch(struct gw_source_debounce *d, uint64_t now, bool settled);
/* When the reload is due (absolute ms, may be <= now: due already), or
 * UINT64_MAX when nothing is pending. */
uint64_t gw_source_debounce_due(const struct gw_source_debounce *d);
/* The reload started: nothing is pending any more. */
void gw_source_debounce_clear(struct gw_source_debounce *d);
/* The reload ended at now: the quiet period that allows the next immediate
 * reload starts over. */
void gw_source_debounce_done(struct gw_source_debounce *d, uint64_t now);

/*
 * Which writes of a burst are finished, from the inotify events (masks of
 * <sys/inotify.h>, name relative to the watched directory wd, "" for the
 * directory itself). Only names a reload would read count: manifests
 * (*.yaml, *.yml, *.json, not hidden), directories that are not hidden, and
 * "..name" entries (the Kubernetes atomic writer's `..data` swap); events
 * on other names (a temporary file, an editor's swap file) are changes that
 * finish nothing.
 *  - created or modified: the file is being written (open)
 *  - closed after writing, or renamed into place: finished
 *  - deleted or renamed away (a manifest or directory): "removed"; a new
 *    version often follows at once (an editor's save), so the burst waits
 *    for quiet rather than serve the tree without it
 *  - queue overflow, or too many files open at once: "lost"
 * Settled: something finished, nothing the burst opened is open, nothing
 * removed or lost. A file open when the burst ends stays known as open (for
 * gw_source_writes_open) until its close, its removal, or the loss of its
 * directory's watch, but it does not hold later bursts back. Pure.
 */
#define GW_SOURCE_WRITES_MAX 64

struct gw_source_writes {
    struct {
        int wd;
        char *name; /* heap */
        bool burst; /* opened (modified) in this burst */
    } open[GW_SOURCE_WRITES_MAX];

    size_t nopen;
    size_t nburst; /* entries with .burst */
    bool finished, removed, lost;
};

void gw_source_writes_init(struct gw_source_writes *w);
void gw_source_writes_release(struct gw_source_writes *w);
/* Ends the burst (the reload ran). A file still open stays known as open,
 * but no longer holds the next burst back: its close finishes a new burst,
 * and nothing that is never closed (a symlink, a fifo) holds every later
 * burst back. */
void gw_source_writes_clear(struct gw_source_writes *w);
void gw_source_writes_event(struct gw_source_writes *w, int wd, uint32_t mask, const char *name);
bool gw_source_writes_settled(const struct gw_source_writes *w);
/* Whether name in the directory watched as wd was modified (or created)
 * and not closed since, in this burst or an earlier one. */
bool gw_source_writes_open(const struct gw_source_writes *w, int wd, const char *name);

/* ======================================================================== */
/* 3. The source                                                            */

struct gw_source;

struct gw_source_opts {
    const char *dir; /* borrowed for the source's life */
    /* Given to gw_status_translate; borrowed. NULL: defaults. */
    const struct gw_status_opts *status;
    uint64_t quiet_ms; /* debounce quiet period, default 30 */
    uint64_t max_ms;   /* debounce maximum delay, default 500 */
    /* Errors logged per reload (each file:line:col: ...); the rest are
     * counted. 0: 100. */
    size_t max_logged_errors;
};

/* Called on the control thread after each reload that produced a new IR,
 * with the new snapshot (borrowed: take a reference to keep it). */
typedef void (*gw_source_publish_fn)(void *data, struct gw_ir *ir);

/* Creates a source (no I/O yet). *out is the caller's (gw_source_free). */
int gw_source_new(const struct gw_source_opts *opts, struct gw_source **out);
void gw_source_free(struct gw_source *s);

/* Calls fn after every reload that produced an IR (the first one included). */
void gw_source_on_publish(struct gw_source *s, gw_source_publish_fn fn, void *data);

/*
 * Watches the tree (inotify) and SIGHUP on loop; call it before the first
 * gw_source_reload so no change between the scan and the watch is lost, and
 * before other threads start (it blocks SIGHUP in the calling thread so
 * they inherit the mask). 0 or a negated errno. Not from a callback.
 */
int gw_source_watch(struct gw_source *s, struct gw_loop *loop);

/*
 * Reloads now: syncs with the directory (only files whose stamp changed
 * are read), decodes into a fresh store, translates, keeps statuses and
 * diagnostics, calls the publish callback and logs a summary line plus the
 * errors. 0, or a negative GW_E* when nothing could be translated (the
 * previous IR stays current). May run inside a loop callback (it is what
 * the watch runs).
 */
int gw_source_reload(struct gw_source *s);

/*
 * A heap reserve (the Kubernetes source's, after its first configuration;
 * the directory source's after a change, for the next one, and 0 after its
 * first load, for malloc's policy only): a change builds the new snapshot
 * while the old one serves, so the first change needs as much fresh memory
 * again, and first-touch page faults (12-21 us each in the benchmark's VM)
 * slow its publish. Faults bytes in and frees them to malloc, which is told
 * to keep them (blocks up to 4 MiB from the heap, the heap top not trimmed
 * below twice the largest reserve yet). At most 64 MiB. Not thread-safe:
 * the control thread only.
 */
void gw_source_reserve_heap(size_t bytes);

/*
 * What a change costs in fresh memory, paid in one system call: makes sure
 * the heap has bytes free beyond what is in use (growing its top, kept from
 * now on: the heap top is not trimmed below twice bytes) and populates
 * every page of it at once (MADV_POPULATE_WRITE). Faulting the pages one at
 * a time as the translation first touches them cost about twice as much in
 * the benchmark's VM (some 12 us a page; the first access after the
 * populate still costs the hypervisor's half). Called on the control
 * thread before the directory source's first change after start-up is
 * translated (the memory is taken when a change needs it, not at start).
 */
void gw_source_prewarm_heap(size_t bytes);

/* Reloads done, whatever their outcome. */
uint64_t gw_source_reloads(const struct gw_source *s);
/* The current statuses (NULL before the first reload); owned by s, valid
 * until the next reload. */
const struct gw_status *gw_source_status(const struct gw_source *s);
/* The current IR (NULL before the first reload); borrowed. */
struct gw_ir *gw_source_ir(const struct gw_source *s);
/* The diagnostics of the current configuration; owned by s. */
const struct gw_diags *gw_source_diags(const struct gw_source *s);

/*
 * /status: the statuses as the List `gatehouse check -o json` prints, with
 * one more top-level member, "errors": every current diagnostic as
 * {"severity","file","line","column","kind","namespace","name","field",
 * "message","text"}. 0 or GW_ELIMIT.
 */
int gw_source_status_format(const struct gw_source *s, struct gw_buf *out);

/* The same document for any statuses and diagnostics (st NULL: no items):
 * what every source's /status shows. */
int gw_source_status_list_format(const struct gw_status *st, const struct gw_diags *diags,
                                 struct gw_buf *out);

/* Control-plane metrics in Prometheus text format: reloads by outcome, last
 * reload duration and time, current config errors, objects by kind, files
 * failing. 0 or GW_ELIMIT. */
int gw_source_metrics_format(const struct gw_source *s, struct gw_buf *out);

/* Appends diag as a JSON object (the members /status uses). */
int gw_source_diag_format_json(const struct gw_diag *g, struct gw_buf *out);

/* ======================================================================== */
/* 4. What `gatehouse run` asks of a source                                 */

/*
 * One interface for every source (this directory source, the Kubernetes
 * one in k8s/): `gatehouse run`, the admin server and the data plane never
 * learn where the objects came from. self is the source; every function is
 * called on the control thread.
 */
struct gw_feed {
    void *self;
    /* Calls fn after each translate that produced an IR. */
    void (*on_publish)(void *self, gw_source_publish_fn fn, void *data);
    /* Starts watching on loop (and, for a source that can, loads at once:
     * a directory fails here when nothing can be translated). 0 or a
     * negative code, with a message already logged. Not from a callback. */
    int (*start)(void *self, struct gw_loop *loop);
    /* The first configuration is in (every kind listed, translated). */
    bool (*is_synced)(const void *self);
    struct gw_ir *(*ir)(const void *self);
    int (*status_format)(const void *self, struct gw_buf *out);
    int (*metrics_format)(const void *self, struct gw_buf *out);
    void (*free)(void *self);
};

/* s as a feed (s is the feed's self: free it through the feed). */
void gw_source_feed(struct gw_source *s, struct gw_feed *out);

#endif /* GW_SOURCE_H */
