/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The access log: one line per request on stdout, text or JSON (fields in
 * docs/observability.md), written with one write(2) per line (off by
 * default; lines from different workers never interleave because each is a
 * single write of less than PIPE_BUF in the common case). The line is built
 * in the worker's logbuf, so logging allocates nothing once it has grown.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/internal.h"

#include "base/banned.h"

/* RFC 3339, UTC, milliseconds: "2024-05-01T12:00:00.123Z". */
static void
log_time(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void
upstream_addr(const struct px_ep *ep, char *out, size_t cap)
{
    if (!ep)
        snprintf(out, cap, "-");
    else if (strchr(ep->base.ip, ':'))
        snprintf(out, cap, "[%s]:%u", ep->base.ip, ep->base.port);
    else
        snprintf(out, cap, "%s:%u", ep->base.ip, ep->base.port);
}

/* Appends "name":"v" (escaped), or "name":null when v is NULL. */
static void
json_field(struct px_buf *b, const char *name, const char *v)
{
    px_buf_append_lit(b, ",\"");
    px_buf_append_lit(b, name);
    px_buf_append_lit(b, "\":");
    if (!v) {
        px_buf_append_lit(b, "null");
        return;
    }
    struct gw_buf j;
    gw_buf_init(&j, 4096);
    gw_buf_append_json_str(&j, v, strlen(v));
    if (j.p)
        px_buf_append(b, j.p, j.len);
    gw_buf_release(&j);
}

void
px_access_log(struct px_dconn *d)
{
    enum gw_proxy_log mode = d->w->p->o.access_log;
    if (mode == GW_PROXY_LOG_OFF)
        return;
    struct px_buf *b = &d->w->logbuf;
    b->off = b->len = 0;
    uint64_t ms = gw_loop_now(d->w->loop) - d->start_ms;
    char when[40], up[72], num[96];
    log_time(when, sizeof(when));
    upstream_addr(d->up_ep, up, sizeof(up));
    const char *route = d->route ? d->route->route : NULL;
    const char *backend = d->backend ? d->backend->name : NULL;
    if (mode == GW_PROXY_LOG_JSON) {
        px_buf_append_lit(b, "{\"time\":\"");
        px_buf_append_lit(b, when);
        px_buf_append_lit(b, "\"");
        json_field(b, "client", d->peer_ip);
        json_field(b, "method", d->logm);
        json_field(b, "path", d->logp);
        json_field(b, "host", d->logh);
        snprintf(num, sizeof(num), ",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%llu", d->status,
                 (unsigned long long)d->bytes_out, (unsigned long long)ms);
        px_buf_append_lit(b, num);
        json_field(b, "route", route);
        json_field(b, "backend", backend);
        json_field(b, "upstream", d->up_ep ? up : NULL);
        px_buf_append_lit(b, d->local ? ",\"local\":true}\n" : ",\"local\":false}\n");
    } else {
        char line[1400];
        int n = snprintf(
            line, sizeof(line),
            "%s %s \"%s %s\" %d %llu %llums host=%s route=\"%s\" backend=%s upstream=%s%s\n", when,
            d->peer_ip, d->logm, d->logp, d->status, (unsigned long long)d->bytes_out,
            (unsigned long long)ms, d->logh[0] ? d->logh : "-", route ? route : "-",
            backend ? backend : "-", up, d->local ? " gateway" : "");
        if (n > 0)
            px_buf_append(b, line, GW_MIN((size_t)n, sizeof(line) - 1));
    }
    if (px_buf_avail(b)) {
        ssize_t r = write(STDOUT_FILENO, px_buf_data(b), px_buf_avail(b));
        (void)r;
    }
}
