/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The access log: one line per request on stdout, text or JSON, written
 * with one write(2) per line (off by default; lines from different workers
 * never interleave because each is a single write of less than PIPE_BUF
 * in the common case).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/internal.h"

#include "base/banned.h"

void
px_access_log(struct px_dconn *d)
{
    enum gw_proxy_log mode = d->w->p->o.access_log;
    if (mode == GW_PROXY_LOG_OFF)
        return;
    struct px_buf *b = &d->w->logbuf;
    b->off = b->len = 0;
    uint64_t ms = gw_loop_now(d->w->loop) - d->start_ms;
    const char *route = d->route ? d->route->route : "-";
    char line[1200];
    int n;
    if (mode == GW_PROXY_LOG_JSON) {
        struct gw_buf j;
        gw_buf_init(&j, 4096);
        gw_buf_appendf(&j, "{\"client\":");
        gw_buf_append_json_str(&j, d->peer_ip, strlen(d->peer_ip));
        gw_buf_append_cstr(&j, ",\"method\":");
        gw_buf_append_json_str(&j, d->logm, strlen(d->logm));
        gw_buf_append_cstr(&j, ",\"target\":");
        gw_buf_append_json_str(&j, d->logp, strlen(d->logp));
        gw_buf_append_cstr(&j, ",\"host\":");
        gw_buf_append_json_str(&j, d->logh, strlen(d->logh));
        gw_buf_appendf(
            &j, ",\"status\":%d,\"bytes\":%llu,\"ms\":%llu,\"local\":%s,\"route\":", d->status,
            (unsigned long long)d->bytes_out, (unsigned long long)ms, d->local ? "true" : "false");
        gw_buf_append_json_str(&j, route, strlen(route));
        gw_buf_append_cstr(&j, "}\n");
        if (j.p) {
            ssize_t r = write(STDOUT_FILENO, j.p, j.len);
            (void)r;
        }
        gw_buf_release(&j);
        return;
    }
    n = snprintf(line, sizeof(line), "%s \"%s %s\" %d %llu %llums host=%s route=%s%s\n", d->peer_ip,
                 d->logm, d->logp, d->status, (unsigned long long)d->bytes_out,
                 (unsigned long long)ms, d->logh[0] ? d->logh : "-", route,
                 d->local ? " gateway" : "");
    if (n > 0) {
        ssize_t r = write(STDOUT_FILENO, line, GW_MIN((size_t)n, sizeof(line) - 1));
        (void)r;
    }
}
