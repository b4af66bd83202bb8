/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Structured diagnostics. A module that finds something wrong adds a gw_diag
 * naming the position, the object and the field; commands, the admin API and
 * the status writer decide how to show it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#include "base/banned.h"

void
gw_diags_init(struct gw_diags *d)
{
    memset(d, 0, sizeof(*d));
}

static void
diag_release(struct gw_diag *g)
{
    free(g->file);
    free(g->kind);
    free(g->ns);
    free(g->name);
    free(g->path);
    free(g->message);
}

void
gw_diags_release(struct gw_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        diag_release(&d->v[i]);
    free(d->v);
    gw_diags_init(d);
}

static char *
dup_or_null(const char *s)
{
    return s ? gw_xstrdup(s) : NULL;
}

void
gw_diags_add(struct gw_diags *d, enum gw_severity sev, struct gw_pos pos, const char *kind,
             const char *ns, const char *name, const char *path, const char *fmt, ...)
{
    d->v = gw_xgrow(d->v, &d->cap, d->n + 1, sizeof(*d->v));
    struct gw_diag *g = &d->v[d->n++];
    g->severity = sev;
    g->file = dup_or_null(pos.file);
    g->pos = pos;
    g->pos.file = g->file;
    g->kind = dup_or_null(kind);
    g->ns = dup_or_null(ns);
    g->name = dup_or_null(name);
    g->path = dup_or_null(path);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&g->message, fmt, ap) < 0)
        g->message = gw_xstrdup("(unformattable message)");
    va_end(ap);
    if (sev == GW_SEV_ERROR)
        d->errors++;
    else
        d->warnings++;
}

int
gw_diag_format(const struct gw_diag *g, struct gw_buf *b)
{
    int rc = 0;
    if (g->file) {
        rc = gw_buf_append_cstr(b, g->file);
        if (rc == 0 && g->pos.line)
            rc = gw_buf_appendf(b, ":%u:%u", g->pos.line, g->pos.col);
        if (rc == 0)
            rc = gw_buf_append(b, ": ", 2);
    }
    if (rc == 0 && g->severity == GW_SEV_WARNING)
        rc = gw_buf_append_cstr(b, "warning: ");
    if (rc == 0 && g->kind) {
        rc = gw_buf_appendf(b, "%s ", g->kind);
        if (rc == 0 && g->ns)
            rc = gw_buf_appendf(b, "%s/", g->ns);
        if (rc == 0)
            rc = gw_buf_appendf(b, "%s: ", g->name ? g->name : "(unnamed)");
    }
    if (rc == 0 && g->path && g->path[0])
        rc = gw_buf_appendf(b, "%s: ", g->path);
    if (rc == 0)
        rc = gw_buf_append_cstr(b, g->message);
    return rc;
}

void
gw_diags_move(struct gw_diags *dst, struct gw_diags *src)
{
    dst->v = gw_xgrow(dst->v, &dst->cap, dst->n + src->n, sizeof(*dst->v));
    if (src->n)
        memcpy(dst->v + dst->n, src->v, src->n * sizeof(*src->v));
    dst->n += src->n;
    dst->errors += src->errors;
    dst->warnings += src->warnings;
    free(src->v);
    gw_diags_init(src);
}
