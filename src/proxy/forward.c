/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What goes on the wire: the request head sent upstream and the response
 * head sent back, rebuilt field by field from the parsed heads (never
 * copied as raw bytes), so whatever reaches the other side is canonical:
 * CRLF line ends, single spaces, exactly one framing field, no obs-fold
 * (hostile/requests.yaml rule G4). Pure: no I/O, no allocation beyond the
 * output buffer.
 */
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

#define LOWER_EQ(s, lit) gw_str_caseeq((s), GW_STR(lit))

/* Hop-by-hop fields a proxy never forwards (RFC 9110 §7.6.1), plus the ones
 * the proxy writes itself. */
enum drop_kind { KEEP, DROP, XFF };

static enum drop_kind
request_field_kind(struct gw_str n, bool strip_expect)
{
    switch (n.len) {
    case 2:
        return LOWER_EQ(n, "te") ? DROP : KEEP;
    case 4:
        return LOWER_EQ(n, "host") ? DROP : KEEP;
    case 6:
        return strip_expect && LOWER_EQ(n, "expect") ? DROP : KEEP;
    case 7:
        return LOWER_EQ(n, "upgrade") ? DROP : KEEP;
    case 10:
        return LOWER_EQ(n, "connection") || LOWER_EQ(n, "keep-alive") ? DROP : KEEP;
    case 14:
        return LOWER_EQ(n, "content-length") || LOWER_EQ(n, "http2-settings") ? DROP : KEEP;
    case 15:
        if (LOWER_EQ(n, "x-forwarded-for"))
            return XFF;
        return KEEP;
    case 16:
        return LOWER_EQ(n, "x-forwarded-host") || LOWER_EQ(n, "proxy-connection") ? DROP : KEEP;
    case 17:
        return LOWER_EQ(n, "transfer-encoding") || LOWER_EQ(n, "x-forwarded-proto") ? DROP : KEEP;
    default:
        return KEEP;
    }
}

static bool
response_field_dropped(struct gw_str n, bool keep_length, bool keep_upgrade)
{
    switch (n.len) {
    case 2:
        return LOWER_EQ(n, "te");
    case 7:
        return !keep_upgrade && LOWER_EQ(n, "upgrade");
    case 10:
        return LOWER_EQ(n, "connection") || LOWER_EQ(n, "keep-alive");
    case 14:
        return (!keep_length && LOWER_EQ(n, "content-length")) || LOWER_EQ(n, "http2-settings");
    case 16:
        return LOWER_EQ(n, "proxy-connection");
    case 17:
        return LOWER_EQ(n, "transfer-encoding");
    default:
        return false;
    }
}

/* A token listed in a Connection field names a hop-by-hop field too. */
static bool
listed_in_connection(const struct gw_h1_header *h, size_t n, struct gw_str name)
{
    for (size_t i = 0; i < n; i++)
        if (LOWER_EQ(h[i].name, "connection") && gw_h1_list_has(h[i].value, name))
            return true;
    return false;
}

struct work {
    struct gw_h1_header v[PX_WORK_MAX];
    size_t n;
    bool overflow;
};

static void
work_push(struct work *w, struct gw_str name, struct gw_str value)
{
    if (w->n == PX_WORK_MAX) {
        w->overflow = true;
        return;
    }
    w->v[w->n++] = (struct gw_h1_header){name, value};
}

static void
work_remove(struct work *w, struct gw_str name)
{
    size_t j = 0;
    for (size_t i = 0; i < w->n; i++)
        if (!gw_str_caseeq(w->v[i].name, name))
            w->v[j++] = w->v[i];
    w->n = j;
}

/* Gateway API header modifier, with gw_route_headers_apply's semantics:
 * remove drops, set replaces, add appends (applied in that order, names
 * case-insensitive). Done in place on the working list, so two modifiers
 * (rule, then backend) need no second array. */
static void
work_apply(struct work *w, const struct gw_ir_header_mod *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nremove; i++)
        work_remove(w, gw_str_from(m->remove[i]));
    for (size_t i = 0; i < m->nset; i++) {
        struct gw_str n = gw_str_from(m->set[i].name);
        work_remove(w, n);
        work_push(w, n, gw_str_from(m->set[i].value));
    }
    for (size_t i = 0; i < m->nadd; i++)
        work_push(w, gw_str_from(m->add[i].name), gw_str_from(m->add[i].value));
}

static int
emit_fields(struct px_buf *out, const struct work *w)
{
    int rc = 0;
    for (size_t i = 0; i < w->n && rc == 0; i++) {
        rc |= px_buf_append_str(out, w->v[i].name);
        rc |= px_buf_append(out, ": ", 2);
        rc |= px_buf_append_str(out, w->v[i].value);
        rc |= px_buf_append(out, "\r\n", 2);
    }
    return rc ? GW_ELIMIT : 0;
}

int
px_request_head_format(const struct px_req_out *r, struct px_buf *out)
{
    const struct gw_h1_request *q = r->req;
    bool other_conn = (q->connection & GW_H1_CONN_OTHER) != 0;
    struct work w;
    w.n = 0;
    w.overflow = false;
    size_t first_xff = SIZE_MAX;
    for (size_t i = 0; i < q->nheaders; i++) {
        const struct gw_h1_header *h = &q->headers[i];
        enum drop_kind k = request_field_kind(h->name, r->strip_expect);
        if (k == DROP)
            continue;
        if (k == XFF) {
            if (first_xff == SIZE_MAX)
                first_xff = i;
            continue;
        }
        if (other_conn && listed_in_connection(q->headers, q->nheaders, h->name))
            continue;
        work_push(&w, h->name, h->value);
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(r->mods); i++)
        work_apply(&w, r->mods[i]);
    if (w.overflow)
        return GW_ELIMIT;

    int rc = 0;
    struct gw_str path = r->path.len ? r->path : GW_STR("/");
    rc |= px_buf_append_str(out, q->method);
    rc |= px_buf_append(out, " ", 1);
    rc |= px_buf_append_str(out, path);
    rc |= px_buf_append_lit(out, " HTTP/1.1\r\nHost: ");
    rc |= px_buf_append_str(out, r->host);
    rc |= px_buf_append(out, "\r\n", 2);
    if (rc)
        return GW_ELIMIT;
    if (emit_fields(out, &w) < 0)
        return GW_ELIMIT;

    /* X-Forwarded-For: every value the client sent, in order, then the
     * client's address (one field, comma-separated). */
    rc |= px_buf_append_lit(out, "X-Forwarded-For: ");
    if (first_xff != SIZE_MAX) {
        for (size_t i = first_xff; i < q->nheaders; i++) {
            const struct gw_h1_header *h = &q->headers[i];
            if (h->name.len != 15 || !LOWER_EQ(h->name, "x-forwarded-for") || h->value.len == 0)
                continue;
            rc |= px_buf_append_str(out, h->value);
            rc |= px_buf_append(out, ", ", 2);
        }
    }
    rc |= px_buf_append_str(out, r->client_ip);
    rc |= px_buf_append_lit(out, r->tls ? "\r\nX-Forwarded-Proto: https\r\n"
                                        : "\r\nX-Forwarded-Proto: http\r\n");
    if (q->host.len) {
        rc |= px_buf_append_lit(out, "X-Forwarded-Host: ");
        rc |= px_buf_append_str(out, q->host);
        rc |= px_buf_append(out, "\r\n", 2);
    }
    if (r->upgrade) {
        rc |= px_buf_append_lit(out, "Connection: upgrade\r\nUpgrade: ");
        rc |= px_buf_append_str(out, q->upgrade);
        rc |= px_buf_append(out, "\r\n", 2);
    }
    if (q->body == GW_H1_BODY_LENGTH) {
        rc |= px_buf_append_lit(out, "Content-Length: ");
        rc |= px_buf_append_u64(out, q->content_length);
        rc |= px_buf_append(out, "\r\n", 2);
    } else if (q->body == GW_H1_BODY_CHUNKED) {
        rc |= px_buf_append_lit(out, "Transfer-Encoding: chunked\r\n");
    }
    rc |= px_buf_append(out, "\r\n", 2);
    return rc ? GW_ELIMIT : 0;
}

struct px_rdecision
px_response_decide(const struct gw_h1_response *res, int client_minor, bool client_keep_alive)
{
    struct px_rdecision d = {.client_close = !client_keep_alive};
    switch (res->body) {
    case GW_H1_BODY_NONE:
        d.frame = PX_RF_NONE;
        break;
    case GW_H1_BODY_LENGTH:
        d.frame = PX_RF_LENGTH;
        break;
    case GW_H1_BODY_CHUNKED:
        if (client_minor >= 1) {
            d.frame = PX_RF_CHUNKED;
        } else {
            /* An HTTP/1.0 client cannot read chunked: end by closing. */
            d.frame = PX_RF_CLOSE;
            d.client_close = true;
        }
        break;
    case GW_H1_BODY_CLOSE:
        if (client_minor >= 1 && client_keep_alive) {
            d.frame = PX_RF_RECHUNK;
        } else {
            d.frame = PX_RF_CLOSE;
            d.client_close = true;
        }
        break;
    case GW_H1_BODY_TUNNEL:
        d.frame = PX_RF_TUNNEL;
        d.client_close = false;
        break;
    }
    return d;
}

int
px_response_head_format(const struct px_rsp_out *r, struct px_buf *out)
{
    const struct gw_h1_response *s = r->res;
    bool keep_length = r->d.frame == PX_RF_NONE;
    bool tunnel = r->d.frame == PX_RF_TUNNEL;
    bool other_conn = (s->connection & GW_H1_CONN_OTHER) != 0;
    struct work w;
    w.n = 0;
    w.overflow = false;
    for (size_t i = 0; i < s->nheaders; i++) {
        const struct gw_h1_header *h = &s->headers[i];
        if (response_field_dropped(h->name, keep_length, tunnel))
            continue;
        if (other_conn && listed_in_connection(s->headers, s->nheaders, h->name))
            continue;
        work_push(&w, h->name, h->value);
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(r->mods); i++)
        work_apply(&w, r->mods[i]);
    if (w.overflow)
        return GW_ELIMIT;

    int rc = 0;
    char code[4] = {(char)('0' + s->status / 100 % 10), (char)('0' + s->status / 10 % 10),
                    (char)('0' + s->status % 10), ' '};
    /* RFC 9112 §2.3: our own version, also to an HTTP/1.0 client (the
     * framing below is what keeps it readable for one). */
    rc |= px_buf_append_lit(out, "HTTP/1.1 ");
    rc |= px_buf_append(out, code, 4);
    if (s->reason.len)
        rc |= px_buf_append_str(out, s->reason);
    else
        rc |= px_buf_append_lit(out, gw_h1_status_reason(s->status));
    rc |= px_buf_append(out, "\r\n", 2);
    if (rc)
        return GW_ELIMIT;
    if (emit_fields(out, &w) < 0)
        return GW_ELIMIT;
    rc |= px_buf_append_str(out, r->extra);
    switch (r->d.frame) {
    case PX_RF_LENGTH:
        rc |= px_buf_append_lit(out, "Content-Length: ");
        rc |= px_buf_append_u64(out, s->content_length);
        rc |= px_buf_append(out, "\r\n", 2);
        break;
    case PX_RF_CHUNKED:
    case PX_RF_RECHUNK:
        rc |= px_buf_append_lit(out, "Transfer-Encoding: chunked\r\n");
        break;
    case PX_RF_TUNNEL:
        rc |= px_buf_append_lit(out, "Connection: upgrade\r\n");
        break;
    default:
        break;
    }
    if (!tunnel) {
        if (r->d.client_close)
            rc |= px_buf_append_lit(out, "Connection: close\r\n");
        else if (r->client_minor == 0)
            rc |= px_buf_append_lit(out, "Connection: keep-alive\r\n");
    }
    rc |= px_buf_append(out, "\r\n", 2);
    return rc ? GW_ELIMIT : 0;
}

int
px_local_response_format(struct px_buf *out, int status, struct gw_str extra, struct gw_str body,
                         bool close, bool head_only)
{
    int rc = 0;
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), ' '};
    rc |= px_buf_append_lit(out, "HTTP/1.1 ");
    rc |= px_buf_append(out, code, 4);
    rc |= px_buf_append_lit(out, gw_h1_status_reason(status));
    rc |= px_buf_append(out, "\r\n", 2);
    rc |= px_buf_append_str(out, extra);
    if (status >= 200 && status != 204 && status != 304) {
        rc |= px_buf_append_lit(out, "Content-Length: ");
        rc |= px_buf_append_u64(out, body.len);
        rc |= px_buf_append(out, "\r\n", 2);
        if (body.len)
            rc |= px_buf_append_lit(out, "Content-Type: text/plain\r\n");
    }
    if (close)
        rc |= px_buf_append_lit(out, "Connection: close\r\n");
    rc |= px_buf_append(out, "\r\n", 2);
    if (!head_only && status >= 200 && status != 204 && status != 304)
        rc |= px_buf_append_str(out, body);
    return rc ? GW_ELIMIT : 0;
}
