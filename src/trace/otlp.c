/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OTLP/HTTP JSON body of a batch of server spans: the protobuf JSON
 * mapping of ExportTraceServiceRequest (resourceSpans, scopeSpans, spans;
 * ids as lower-case hex, times and int values as decimal strings, kind 2 =
 * SPAN_KIND_SERVER), with the OpenTelemetry HTTP semantic conventions'
 * attribute names. No protobuf dependency.
 */
#include <inttypes.h>
#include <string.h>

#include "trace/trace.h"

#include "base/banned.h"

/* A JSON string of arbitrary bytes: printable ASCII but '"' and '\\' as is,
 * every other byte as its own \u00XX (valid JSON and UTF-8 whatever the
 * client sent; a reader gets the bytes back through Latin-1). */
static int
json_bytes(struct gw_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = gw_buf_append_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            continue;
        rc |= gw_buf_append(b, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc |= gw_buf_append(b, e, 2);
        } else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc |= gw_buf_append(b, u, sizeof(u));
        }
    }
    rc |= gw_buf_append(b, s + run, n - run);
    rc |= gw_buf_append_char(b, '"');
    return rc;
}

static int
attr_str(struct gw_buf *b, bool *first, const char *key, const char *v)
{
    if (!v[0])
        return 0;
    int rc =
        gw_buf_appendf(b, "%s{\"key\":\"%s\",\"value\":{\"stringValue\":", *first ? "" : ",", key);
    *first = false;
    rc |= json_bytes(b, v, strlen(v));
    return rc | gw_buf_append_cstr(b, "}}");
}

static int
attr_int(struct gw_buf *b, bool *first, const char *key, long long v)
{
    int rc = gw_buf_appendf(b, "%s{\"key\":\"%s\",\"value\":{\"intValue\":\"%lld\"}}",
                            *first ? "" : ",", key, v);
    *first = false;
    return rc;
}

static int
span_format(struct gw_buf *b, const struct gw_trace_span *s)
{
    char tid[33], sid[17], pid[17];
    gw_trace_hex_format(s->trace_id, 16, tid);
    gw_trace_hex_format(s->span_id, 8, sid);
    gw_trace_hex_format(s->parent_id, 8, pid);
    int rc = gw_buf_appendf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\",", tid, sid);
    if (s->has_parent)
        rc |= gw_buf_appendf(b, "\"parentSpanId\":\"%s\",", pid);
    /* The span's name: the method, and the route when there is one
     * (the semantic conventions' "{method} {http.route}"). */
    rc |= gw_buf_append_cstr(b, "\"name\":");
    char name[sizeof(s->method) + 1 + sizeof(s->route)];
    size_t ml = strlen(s->method), rl = strlen(s->route);
    memcpy(name, s->method, ml);
    size_t nl = ml;
    if (rl) {
        name[nl++] = ' ';
        memcpy(name + nl, s->route, rl);
        nl += rl;
    }
    rc |= json_bytes(b, name, nl);
    rc |= gw_buf_appendf(b,
                         ",\"kind\":2,\"flags\":%u,\"startTimeUnixNano\":\"%" PRIu64
                         "\",\"endTimeUnixNano\":\"%" PRIu64 "\",\"attributes\":[",
                         (unsigned)s->flags, s->start_ns, s->end_ns);
    bool first = true;
    rc |= attr_str(b, &first, "http.request.method", s->method);
    rc |= attr_str(b, &first, "url.path", s->path);
    rc |= attr_str(b, &first, "url.scheme", s->https ? "https" : "http");
    rc |= attr_str(b, &first, "server.address", s->host);
    if (s->server_port)
        rc |= attr_int(b, &first, "server.port", s->server_port);
    if (s->status)
        rc |= attr_int(b, &first, "http.response.status_code", s->status);
    rc |= attr_str(b, &first, "network.protocol.version",
                   s->proto == 20   ? "2"
                   : s->proto == 10 ? "1.0"
                                    : "1.1");
    rc |= attr_str(b, &first, "client.address", s->client);
    rc |= attr_str(b, &first, "user_agent.original", s->user_agent);
    rc |= attr_str(b, &first, "http.route", s->route);
    rc |= attr_str(b, &first, "error.type", s->error_type);
    rc |= gw_buf_append_cstr(b, "]");
    /* STATUS_CODE_ERROR for a server span: 5xx or an abort. */
    if (s->error_type[0])
        rc |= gw_buf_append_cstr(b, ",\"status\":{\"code\":2}");
    return rc | gw_buf_append_cstr(b, "}");
}

int
gw_trace_export_format(struct gw_buf *out, const char *service, const struct gw_trace_span *spans,
                       size_t n)
{
    int rc = gw_buf_append_cstr(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
                                     "\"service.name\",\"value\":{\"stringValue\":");
    rc |= json_bytes(out, service, strlen(service));
    rc |= gw_buf_append_cstr(out, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"gatehouse\"},"
                                  "\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            rc |= gw_buf_append_char(out, ',');
        rc |= span_format(out, &spans[i]);
    }
    rc |= gw_buf_append_cstr(out, "]}]}]}\n");
    return rc ? GW_ELIMIT : 0;
}
