/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source internals: what the per-file state, the directory sync, the
 * reloader and the output share.
 */
#ifndef GW_SOURCE_INTERNAL_H
#define GW_SOURCE_INTERNAL_H

#include "base/base.h"
#include "loop/loop.h"
#include "source/source.h"

enum source_outcome {
    SOURCE_OK,     /* translated, no configuration error */
    SOURCE_ERRORS, /* translated; some objects or files rejected, the rest served */
    SOURCE_FAILED, /* not translated: the previous configuration stays */
    SOURCE__COUNT
};

struct gw_source {
    struct gw_source_opts opts;
    struct gw_source_files files;
    /* The configuration in force: all from the last successful reload. */
    struct gw_store *store;
    struct gw_status *status;
    struct gw_ir *ir;
    struct gw_diags diags;
    struct gw_diags walk_errors; /* of the last sync, to notice changes */
    size_t objects[GW_KIND__COUNT];
    size_t files_failing, nfiles;
    /* metrics */
    uint64_t reloads[SOURCE__COUNT];
    uint64_t last_duration_us;
    double last_time, last_ok_time; /* seconds since the epoch; 0: never */
    /* publish */
    gw_source_publish_fn publish;
    void *publish_data;
    /* watch */
    struct gw_loop *loop;
    struct gw_io inotify_io, sighup_io;
    int inotify_fd;
    bool has_sighup, watch_warned, force, settled;
    /* What the first load's snapshot took (store, IR, statuses, proxy
     * tables); the first change populates twice that much heap before it
     * translates (gw_source_prewarm_heap); warm: it has. */
    size_t snapshot_bytes;
    bool warm;
    struct gw_timer timer;
    struct gw_timer racy_timer; /* reads racily-clean files again (sync.c) */
    struct gw_source_debounce debounce;
    struct gw_source_writes writes; /* of the pending burst */

    /* The directories watched by the last sync, and their watches (to
     * match a file with the writes' wd and name). */
    struct source_watch {
        int wd;
        char *dir; /* heap, as walked */
    } * watches;

    size_t nwatches, watches_cap;
};

/* A file's version parsed ahead of source_files_take (sync.c parses new
 * files on a helper thread while it decodes the ones before). */
struct source_parsed {
    int rc;               /* of source_file_parse */
    struct gw_docs *docs; /* heap; NULL if rc < 0 */
    struct gw_diags diags;
};

/* Parses data[0..len) of path (JSON for *.json, else YAML; read_err < 0:
 * the read failed, data ignored) into *out (heap, gw_docs_release + free;
 * NULL on failure), adding problems to diags. Returns 0 or a negative
 * GW_E*. Touches nothing shared: any thread may call it. */
int source_file_parse(const char *path, const char *data, size_t len, int read_err,
                      struct gw_docs **out, struct gw_diags *diags);
/* Frees what pre holds. */
void source_parsed_release(struct source_parsed *pre);
/* gw_source_files_update, with the new version already parsed (pre, whose
 * contents it takes; NULL: parsed here). */
enum gw_source_update source_files_take(struct gw_source_files *fs, const char *path,
                                        const struct gw_source_stamp *stamp, const char *data,
                                        size_t len, int read_err, struct source_parsed *pre);

/* Appends a copy of g to dst. */
void source_diag_copy(struct gw_diags *dst, const struct gw_diag *g);

/* Called for every directory the sync walks (to watch it). */
typedef void (*source_dir_fn)(void *data, const char *dir);
/* Whether a writer is known to have path open (the watch's word). */
typedef bool (*source_writing_fn)(void *data, const char *path);

/* What one sync did. */
struct source_sync_stats {
    size_t files;   /* files in the tree */
    size_t read;    /* files read again (changed or new) */
    size_t same;    /* ... of which the bytes were those in force */
    size_t removed; /* files gone */
    size_t failed;  /* files read whose new version is not in force */
    size_t held;    /* changed files whose last version stays for now (sync.c) */
    /* CLOCK_REALTIME ns from which the racy files read (modified just
     * before, see sync.c) can be read once more for good, or a file held
     * empty (`held`) can be taken as it is; 0 if none, or if a file was
     * modified in the future and none is held. */
    int64_t racy_until_ns;
};

/*
 * Brings fs in line with the tree under dir: walks it (gw_docs_add_dir's
 * rules), stats every file, reads and parses the ones whose stamp changed,
 * drops the ones that are gone. Walk problems (an unreadable directory) go
 * to diags. on_dir (may be NULL) sees every directory walked, dir first;
 * writing (may be NULL) says which changed files are still being written.
 */
void source_sync(struct gw_source_files *fs, const char *dir, struct gw_diags *diags,
                 source_dir_fn on_dir, source_writing_fn writing, void *data,
                 struct source_sync_stats *stats);

#endif /* GW_SOURCE_INTERNAL_H */
