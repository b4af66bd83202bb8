/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The debounce: editors and `kubectl cp`-style tools touch a file several
 * times in a few milliseconds (truncate, write, write, rename), and a
 * ConfigMap update swaps a whole tree. Reloading once the tree has been
 * quiet for quiet_ms catches the burst in one go; max_ms after the first
 * pending change the reload happens anyway, so a constant stream of writes
 * cannot hold the configuration back forever.
 *
 * Waiting out the quiet period is only needed while a write may still be
 * going on. When the events say every write of a burst is finished (the
 * file was closed, or renamed into place) and the burst started after a
 * quiet period, the reload runs at once (leading edge); what follows within
 * the quiet period (more of a burst, changes made while the reload ran) is
 * coalesced the usual way.
 */
#include <sys/inotify.h>

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "source/source.h"

#include "base/banned.h"

void
gw_source_debounce_init(struct gw_source_debounce *d, uint64_t quiet_ms, uint64_t max_ms)
{
    memset(d, 0, sizeof(*d));
    d->quiet_ms = quiet_ms;
    d->max_ms = GW_MAX(max_ms, quiet_ms);
}

void
gw_source_debounce_touch(struct gw_source_debounce *d, uint64_t now, bool settled)
{
    if (!d->pending) {
        d->pending = true;
        d->first = now;
        d->leading = d->busy == 0 || now >= d->busy + d->quiet_ms;
    }
    d->last = now;
    d->busy = GW_MAX(d->busy, now);
    d->settled = settled;
}

uint64_t
gw_source_debounce_due(const struct gw_source_debounce *d)
{
    if (!d->pending)
        return UINT64_MAX;
    uint64_t cap = d->first + d->max_ms;
    if (d->leading && d->settled)
        return GW_MIN(d->last, cap);
    return GW_MIN(d->last + d->quiet_ms, cap);
}

void
gw_source_debounce_clear(struct gw_source_debounce *d)
{
    d->pending = d->leading = d->settled = false;
    d->first = d->last = 0;
}

void
gw_source_debounce_done(struct gw_source_debounce *d, uint64_t now)
{
    d->busy = GW_MAX(d->busy, now);
}

/* ------------------------------------------------------------------------ */
/* Which writes are finished                                                */

void
gw_source_writes_init(struct gw_source_writes *w)
{
    memset(w, 0, sizeof(*w));
}

static void
forget_all(struct gw_source_writes *w)
{
    for (size_t i = 0; i < w->nopen; i++)
        free(w->open[i].name);
    w->nopen = w->nburst = 0;
}

void
gw_source_writes_clear(struct gw_source_writes *w)
{
    for (size_t i = 0; i < w->nopen; i++)
        w->open[i].burst = false;
    w->nburst = 0;
    w->finished = w->removed = w->lost = false;
}

void
gw_source_writes_release(struct gw_source_writes *w)
{
    forget_all(w);
    gw_source_writes_init(w);
}

static bool
has_suffix(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* A name the sync reads (source_sync's rules): not hidden, a manifest. */
static bool
is_manifest(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && (has_suffix(name, n, ".yaml") || has_suffix(name, n, ".yml") ||
                              has_suffix(name, n, ".json"));
}

static size_t
find_open(const struct gw_source_writes *w, int wd, const char *name)
{
    for (size_t i = 0; i < w->nopen; i++) {
        if (w->open[i].wd == wd && strcmp(w->open[i].name, name) == 0)
            return i;
    }
    return SIZE_MAX;
}

static void
drop(struct gw_source_writes *w, size_t i)
{
    if (w->open[i].burst)
        w->nburst--;
    free(w->open[i].name);
    w->open[i] = w->open[--w->nopen];
}

static void
set_open(struct gw_source_writes *w, int wd, const char *name)
{
    size_t i = find_open(w, wd, name);
    if (i == SIZE_MAX) {
        if (w->nopen == GW_SOURCE_WRITES_MAX) {
            /* Full: make room from an earlier burst's, if any. */
            for (size_t j = 0; j < w->nopen && i == SIZE_MAX; j++)
                if (!w->open[j].burst)
                    i = j;
            if (i == SIZE_MAX) {
                w->lost = true;
                return;
            }
            drop(w, i);
        }
        i = w->nopen++;
        w->open[i].wd = wd;
        w->open[i].name = gw_xstrdup(name);
        w->open[i].burst = false;
    }
    if (!w->open[i].burst) {
        w->open[i].burst = true;
        w->nburst++;
    }
}

static void
set_closed(struct gw_source_writes *w, int wd, const char *name)
{
    size_t i = find_open(w, wd, name);
    if (i != SIZE_MAX)
        drop(w, i);
}

void
gw_source_writes_event(struct gw_source_writes *w, int wd, uint32_t mask, const char *name)
{
    if (mask & IN_Q_OVERFLOW) {
        w->lost = true;
        forget_all(w); /* closes may be among the lost */
        return;
    }
    if (mask & IN_IGNORED) {
        /* The watch is gone (its directory removed): so are its files. */
        for (size_t i = w->nopen; i-- > 0;)
            if (w->open[i].wd == wd)
                drop(w, i);
        return;
    }
    if (!name || !*name)
        return; /* the watched directory itself: *_SELF */
    bool dir = (mask & IN_ISDIR) != 0;
    bool manifest = !dir && is_manifest(name);
    bool atomic = name[0] == '.' && name[1] == '.' && name[2] != '\0';
    if (!manifest && !atomic && !(dir && name[0] != '.'))
        return;
    if ((mask & (IN_CREATE | IN_MODIFY)) && !dir)
        set_open(w, wd, name);
    if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
        set_closed(w, wd, name);
        w->finished = true;
    }
    if (mask & (IN_DELETE | IN_MOVED_FROM)) {
        set_closed(w, wd, name);
        if (!atomic)
            w->removed = true;
    }
}

bool
gw_source_writes_open(const struct gw_source_writes *w, int wd, const char *name)
{
    return find_open(w, wd, name) != SIZE_MAX;
}

bool
gw_source_writes_settled(const struct gw_source_writes *w)
{
    return w->finished && !w->removed && !w->lost && w->nburst == 0;
}
