/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The debounce: editors and `kubectl cp`-style tools touch a file several
 * times in a few milliseconds (truncate, write, write, rename), and a
 * ConfigMap update swaps a whole tree. Reloading once the tree has been
 * quiet for quiet_ms catches the burst in one go; max_ms after the first
 * pending change the reload happens anyway, so a constant stream of writes
 * cannot hold the configuration back forever.
 */
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
gw_source_debounce_touch(struct gw_source_debounce *d, uint64_t now)
{
    if (!d->pending) {
        d->pending = true;
        d->first = now;
    }
    d->last = now;
}

uint64_t
gw_source_debounce_due(const struct gw_source_debounce *d)
{
    if (!d->pending)
        return UINT64_MAX;
    return GW_MIN(d->last + d->quiet_ms, d->first + d->max_ms);
}

void
gw_source_debounce_clear(struct gw_source_debounce *d)
{
    d->pending = false;
    d->first = d->last = 0;
}
