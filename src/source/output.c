/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the admin server shows of a source: the statuses (the List
 * `gatehouse check -o json` prints) with the current diagnostics added as
 * one more top-level member, and the control-plane metrics. Every label
 * value of the metrics comes from a fixed set (outcomes, kinds), so their
 * cardinality is bounded whatever the configuration holds.
 */
#include <string.h>

#include "base/base.h"
#include "source/internal.h"
#include "status/status.h"

#include "base/banned.h"

static int
member_str(struct gw_buf *out, const char *key, const char *v, bool comma)
{
    int rc = gw_buf_appendf(out, "%s\"%s\": ", comma ? ", " : "", key);
    if (rc == 0)
        rc = v ? gw_buf_append_json_str(out, v, strlen(v)) : gw_buf_append_cstr(out, "null");
    return rc;
}

int
gw_source_diag_format_json(const struct gw_diag *g, struct gw_buf *out)
{
    struct gw_buf text;
    gw_buf_init(&text, 64 * 1024);
    gw_diag_format(g, &text);
    int rc = gw_buf_append_char(out, '{');
    if (rc == 0)
        rc = member_str(out, "severity", g->severity == GW_SEV_ERROR ? "error" : "warning", false);
    if (rc == 0)
        rc = member_str(out, "file", g->file, true);
    if (rc == 0)
        rc = gw_buf_appendf(out, ", \"line\": %u, \"column\": %u", g->pos.line, g->pos.col);
    if (rc == 0)
        rc = member_str(out, "kind", g->kind, true);
    if (rc == 0)
        rc = member_str(out, "namespace", g->ns, true);
    if (rc == 0)
        rc = member_str(out, "name", g->name, true);
    if (rc == 0)
        rc = member_str(out, "field", g->path, true);
    if (rc == 0)
        rc = member_str(out, "message", g->message, true);
    if (rc == 0)
        rc = member_str(out, "text", text.p ? text.p : "", true);
    if (rc == 0)
        rc = gw_buf_append_char(out, '}');
    gw_buf_release(&text);
    return rc;
}

int
gw_source_status_format(const struct gw_source *s, struct gw_buf *out)
{
    return gw_source_status_list_format(s->status, &s->diags, out);
}

int
gw_source_status_list_format(const struct gw_status *st, const struct gw_diags *diags,
                             struct gw_buf *out)
{
    size_t start = out->len;
    int rc = 0;
    if (st) {
        rc = gw_status_format(st, false, out);
    } else {
        rc = gw_buf_append_cstr(out, "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n"
                                     "  \"items\": []\n}\n");
    }
    if (rc < 0)
        return rc;
    /* Reopen the List object: drop the closing brace (and what follows). */
    size_t end = out->len;
    while (end > start && (out->p[end - 1] == '\n' || out->p[end - 1] == ' '))
        end--;
    if (end == start || out->p[end - 1] != '}')
        return GW_EINVAL;
    out->len = end - 1;
    while (out->len > start && (out->p[out->len - 1] == '\n' || out->p[out->len - 1] == ' '))
        out->len--;
    out->p[out->len] = '\0';
    rc = gw_buf_append_cstr(out, ",\n  \"errors\": [");
    for (size_t i = 0; rc == 0 && i < diags->n; i++) {
        rc = gw_buf_append_cstr(out, i ? ",\n    " : "\n    ");
        if (rc == 0)
            rc = gw_source_diag_format_json(&diags->v[i], out);
    }
    if (rc == 0)
        rc = gw_buf_append_cstr(out, diags->n ? "\n  ]\n}\n" : "]\n}\n");
    return rc;
}

int
gw_source_metrics_format(const struct gw_source *s, struct gw_buf *out)
{
    static const char *const outcome[SOURCE__COUNT] = {"ok", "errors", "failed"};
    int rc = gw_buf_append_cstr(
        out, "# HELP gatehouse_config_reloads_total Configuration reloads by outcome (ok: no "
             "error; errors: served without the invalid parts; failed: not applied).\n"
             "# TYPE gatehouse_config_reloads_total counter\n");
    for (int i = 0; rc == 0 && i < SOURCE__COUNT; i++)
        rc = gw_buf_appendf(out, "gatehouse_config_reloads_total{outcome=\"%s\"} %llu\n",
                            outcome[i], (unsigned long long)s->reloads[i]);
    if (rc == 0)
        rc = gw_buf_appendf(
            out,
            "# HELP gatehouse_config_last_reload_duration_seconds Duration of the last reload.\n"
            "# TYPE gatehouse_config_last_reload_duration_seconds gauge\n"
            "gatehouse_config_last_reload_duration_seconds %.6f\n"
            "# HELP gatehouse_config_last_reload_timestamp_seconds When the last reload ended.\n"
            "# TYPE gatehouse_config_last_reload_timestamp_seconds gauge\n"
            "gatehouse_config_last_reload_timestamp_seconds %.3f\n"
            "# HELP gatehouse_config_last_applied_timestamp_seconds When a configuration was "
            "last applied.\n"
            "# TYPE gatehouse_config_last_applied_timestamp_seconds gauge\n"
            "gatehouse_config_last_applied_timestamp_seconds %.3f\n"
            "# HELP gatehouse_config_errors Errors in the configuration in force.\n"
            "# TYPE gatehouse_config_errors gauge\n"
            "gatehouse_config_errors %zu\n"
            "# HELP gatehouse_config_warnings Warnings in the configuration in force.\n"
            "# TYPE gatehouse_config_warnings gauge\n"
            "gatehouse_config_warnings %zu\n"
            "# HELP gatehouse_config_files Manifest files, by whether their latest version is "
            "in force.\n"
            "# TYPE gatehouse_config_files gauge\n"
            "gatehouse_config_files{state=\"ok\"} %zu\n"
            "gatehouse_config_files{state=\"failing\"} %zu\n",
            (double)s->last_duration_us / 1e6, s->last_time, s->last_ok_time, s->diags.errors,
            s->diags.warnings, s->nfiles - s->files_failing, s->files_failing);
    if (rc == 0)
        rc = gw_buf_append_cstr(out, "# HELP gatehouse_config_objects Objects in the "
                                     "configuration in force, by kind.\n"
                                     "# TYPE gatehouse_config_objects gauge\n");
    for (int k = 0; rc == 0 && k < GW_KIND__COUNT; k++)
        rc = gw_buf_appendf(out, "gatehouse_config_objects{kind=\"%s\"} %zu\n",
                            gw_kind_name((enum gw_kind)k), s->objects[k]);
    if (rc == 0)
        rc = gw_buf_appendf(out,
                            "# HELP gatehouse_routes_not_ready Routes with a parent of ours not "
                            "Accepted or with unresolved references.\n"
                            "# TYPE gatehouse_routes_not_ready gauge\n"
                            "gatehouse_routes_not_ready %zu\n",
                            s->status ? s->status->routes_not_ready : 0);
    return rc;
}
