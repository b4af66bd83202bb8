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

/* Appends the bytes of s as a JSON string. The bytes a client sends need
 * not be UTF-8 (obs-text in a Host, an h2 :path), so each is kept as
 * itself or as its own \u00XX escape: 0x20-0x7e but '"' and '\\' as is,
 * '"' and '\\' backslashed, every control byte, 0x7f and every byte from
 * 0x80 as \u00XX. Every line is valid JSON whatever was sent, and the
 * string's code points are the bytes (a reader gets them back with
 * Latin-1: Python's s.encode("latin-1")). */
static void
json_bytes(struct px_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    px_buf_append_lit(b, "\"");
    size_t run = 0; /* start of the bytes not appended yet */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            continue;
        px_buf_append(b, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            px_buf_append(b, e, 2);
        } else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            px_buf_append(b, u, sizeof(u));
        }
    }
    px_buf_append(b, s + run, n - run);
    px_buf_append_lit(b, "\"");
}

/* A copy of s for the text format, NUL-terminated in out (cap >= 4 * the
 * longest s + 1): bytes 0x21-0x7e but '"' and '\\' as is, every other as
 * \xHH, so a field stays one word and the line one line. */
static const char *
text_bytes(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (; *s && k + 5 <= cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[k++] = (char)c;
        } else {
            out[k++] = '\\';
            out[k++] = 'x';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
    return out;
}

/* Appends "name":"v" (escaped), or "name":null when v is NULL. */
static void
json_field(struct px_buf *b, const char *name, const char *v)
{
    px_buf_append_lit(b, ",\"");
    px_buf_append_lit(b, name);
    px_buf_append_lit(b, "\":");
    if (!v)
        px_buf_append_lit(b, "null");
    else
        json_bytes(b, v, strlen(v));
}

void
px_access_log(struct px_dconn *d)
{
    if (GW_UNLIKELY(d->tr != NULL))
        px_trace_finish(d);
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
        json_field(b, "client", d->client_ip);
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
        char line[4096], m[4 * sizeof(d->logm)], p[4 * sizeof(d->logp)], h[4 * sizeof(d->logh)];
        int n = snprintf(
            line, sizeof(line),
            "%s %s \"%s %s\" %d %llu %llums host=%s route=\"%s\" backend=%s upstream=%s%s\n", when,
            d->client_ip, text_bytes(d->logm, m, sizeof(m)), text_bytes(d->logp, p, sizeof(p)),
            d->status, (unsigned long long)d->bytes_out, (unsigned long long)ms,
            d->logh[0] ? text_bytes(d->logh, h, sizeof(h)) : "-", route ? route : "-",
            backend ? backend : "-", up, d->local ? " gateway" : "");
        if (n > 0)
            px_buf_append(b, line, GW_MIN((size_t)n, sizeof(line) - 1));
    }
    if (px_buf_avail(b)) {
        ssize_t r = write(STDOUT_FILENO, px_buf_data(b), px_buf_avail(b));
        (void)r;
    }
}
