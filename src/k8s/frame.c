/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Watch-stream framing: a watch body is a sequence of JSON objects, one per
 * event, cut by the transport at arbitrary places. The framer scans every
 * byte once as it is fed (string and escape aware, so braces inside
 * strings do not count), refuses anything but an object at the top level
 * and events longer than the limit, and hands complete events out one at
 * a time. It does not validate the JSON inside an event: the doc-tree
 * parser does that.
 *
 * Buffer layout: [0, done) was returned (or is blank) and is dropped on the
 * next feed; [done, scan) holds complete events not yet returned and, when
 * depth > 0, the start of an incomplete one at `start`.
 */
#include <string.h>

#include "k8s/internal.h"

#include "base/banned.h"

/* What one feed may add on top of a pending event: transports hand over
 * at most a few tens of KiB at a time. */
#define FEED_SLACK (1u << 20)

static bool
is_blank(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

void
gw_k8s_frame_init(struct gw_k8s_frame *f, size_t max)
{
    memset(f, 0, sizeof(*f));
    f->max = max ? max : 1;
    gw_buf_init(&f->buf, f->max + FEED_SLACK);
}

void
gw_k8s_frame_release(struct gw_k8s_frame *f)
{
    gw_buf_release(&f->buf);
    memset(f, 0, sizeof(*f));
}

static void
compact(struct gw_k8s_frame *f)
{
    if (f->done == 0)
        return;
    size_t keep = f->buf.len - f->done;
    if (keep)
        memmove(f->buf.p, f->buf.p + f->done, keep);
    f->buf.len = keep;
    f->buf.p[keep] = '\0';
    f->scan -= f->done;
    f->start = f->start > f->done ? f->start - f->done : 0;
    f->done = 0;
}

/* Scans [scan, len): the state carries over between feeds. */
static int
scan(struct gw_k8s_frame *f)
{
    const char *p = f->buf.p;
    size_t len = f->buf.len;
    for (size_t i = f->scan; i < len; i++) {
        char c = p[i];
        if (f->depth == 0) {
            if (is_blank(c)) {
                /* Blanks before the first pending event can go at once. */
                if (f->done == i)
                    f->done = i + 1;
                continue;
            }
            if (c != '{') {
                f->scan = i;
                return GW_EPARSE;
            }
            f->depth = 1;
            f->start = i;
            continue;
        }
        if (i + 1 - f->start > f->max) {
            f->scan = i;
            return GW_ELIMIT;
        }
        if (f->in_str) {
            if (f->esc)
                f->esc = false;
            else if (c == '\\')
                f->esc = true;
            else if (c == '"')
                f->in_str = false;
        } else if (c == '"') {
            f->in_str = true;
        } else if (c == '{' || c == '[') {
            f->depth++;
        } else if (c == '}' || c == ']') {
            f->depth--;
        }
    }
    f->scan = len;
    return 0;
}

int
gw_k8s_frame_feed(struct gw_k8s_frame *f, const char *p, size_t n)
{
    if (f->err)
        return f->err;
    compact(f);
    if (n == 0)
        return 0;
    int rc = gw_buf_append(&f->buf, p, n);
    if (rc == 0)
        rc = scan(f);
    if (rc < 0)
        f->err = rc;
    return rc;
}

int
gw_k8s_frame_next(struct gw_k8s_frame *f, const char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (f->err || f->buf.len == 0)
        return 0;
    const char *b = f->buf.p;
    size_t i = f->done;
    while (i < f->scan && is_blank(b[i]))
        i++;
    f->done = i;
    /* Nothing pending but the event still open: no need to look. */
    if (i >= f->scan || (f->depth > 0 && i == f->start))
        return 0;
    /* A complete event starts at i (the feed checked it): find its end. */
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t j = i; j < f->scan; j++) {
        char c = b[j];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            *p = b + i;
            *n = j + 1 - i;
            f->done = j + 1;
            return 1;
        }
    }
    GW_ASSERT(!"framer: a complete event without an end");
    return 0;
}
