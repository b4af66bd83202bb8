/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The directory source as a gw_feed: what `gatehouse run` calls, the same
 * for every source. Starting it watches the tree, then loads it once.
 */
#include "base/base.h"
#include "loop/loop.h"
#include "source/internal.h"
#include "status/status.h"

#include "base/banned.h"

static void
feed_on_publish(void *self, gw_source_publish_fn fn, void *data)
{
    gw_source_on_publish(self, fn, data);
}

static int
feed_start(void *self, struct gw_loop *loop)
{
    struct gw_source *s = self;
    int rc = gw_source_watch(s, loop);
    if (rc < 0) {
        gw_log_error("watch %s: %s", s->opts.dir, gw_strerror(rc));
        return rc;
    }
    if ((rc = gw_source_reload(s)) < 0) {
        gw_log_error(
            "%s: the configuration cannot be translated: %s%s", s->opts.dir, gw_strerror(rc),
            s->opts.status && s->opts.status->address_pool ? " (is --address-pool a valid CIDR?)"
                                                           : "");
        return rc;
    }
    return 0;
}

static bool
feed_is_synced(const void *self)
{
    return gw_source_ir(self) != NULL;
}

static struct gw_ir *
feed_ir(const void *self)
{
    return gw_source_ir(self);
}

static int
feed_status(const void *self, struct gw_buf *out)
{
    return gw_source_status_format(self, out);
}

static int
feed_metrics(const void *self, struct gw_buf *out)
{
    return gw_source_metrics_format(self, out);
}

static void
feed_free(void *self)
{
    gw_source_free(self);
}

void
gw_source_feed(struct gw_source *s, struct gw_feed *out)
{
    *out = (struct gw_feed){
        .self = s,
        .on_publish = feed_on_publish,
        .start = feed_start,
        .is_synced = feed_is_synced,
        .ir = feed_ir,
        .status_format = feed_status,
        .metrics_format = feed_metrics,
        .free = feed_free,
    };
}
