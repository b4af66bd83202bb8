/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What goes on the wire: the request head sent upstream and the response
 * head sent back, rebuilt field by field from the parsed heads (never
 * copied as raw bytes), so whatever reaches the other side is canonical:
 * CRLF line ends, single spaces, exactly one framing field, no obs-fold
 * (hostile/requests.yaml rule G4). No field name or value, request target
 * or Host holding CR, LF or NUL is ever written, whatever its origin (the
 * parsers refuse them from peers, load's decode from configuration; this is
 * the line behind both). Pure but for that check's counter and rate-limited
 * log line: no I/O, no allocation beyond the output buffer.
 */
#include <stdatomic.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

#define LOWER_EQ(s, lit) name_eq((s), (lit), sizeof(lit) - 1)

/* s equals the lower-case literal lower (n bytes), ASCII case ignored, a
 * word at a time: exact for any bytes ('A'-'Z' alone are folded). */
static inline uint64_t
fold8(const char *p)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t x7 = x & ~high;
    /* high bit of each byte in 'A'..'Z' (bytes >= 0x80 excluded) */
    uint64_t upper = (x7 + ones * (0x80 - 'A')) & ~(x7 + ones * (0x7f - 'Z')) & ~x & high;
    return x | (upper >> 2);
}

static inline bool
name_eq(struct gw_str s, const char *lower, size_t n)
{
    if (s.len != n)
        return false;
    if (n < 8) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s.p[i];
            if ((c >= 'A' && c <= 'Z' ? c | 0x20 : c) != (unsigned char)lower[i])
                return false;
        }
        return true;
    }
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t l;
        memcpy(&l, lower + i, 8);
        if (fold8(s.p + i) != l)
            return false;
    }
    uint64_t l;
    memcpy(&l, lower + n - 8, 8);
    return fold8(s.p + n - 8) == l;
}

/* The one list of the field names forwarding treats specially (the
 * PX_FIELD_* classes), a switch on the length first: most names cost one
 * comparison or none. */
static inline unsigned
field_class(struct gw_str n)
{
    switch (n.len) {
    case 2:
        return LOWER_EQ(n, "te") ? PX_FIELD_HOP : 0;
    case 4:
        return LOWER_EQ(n, "host") ? PX_FIELD_HOST : 0;
    case 6:
        return LOWER_EQ(n, "expect") ? PX_FIELD_EXPECT : 0;
    case 7:
        if (LOWER_EQ(n, "upgrade"))
            return PX_FIELD_HOP | PX_FIELD_UPGRADE;
        return LOWER_EQ(n, "trailer") ? PX_FIELD_TRAILER : 0;
    case 10:
        return LOWER_EQ(n, "connection") || LOWER_EQ(n, "keep-alive") ? PX_FIELD_HOP : 0;
    case 14:
        if (LOWER_EQ(n, "content-length"))
            return PX_FIELD_LENGTH;
        return LOWER_EQ(n, "http2-settings") ? PX_FIELD_HOP : 0;
    case 15:
        return LOWER_EQ(n, "x-forwarded-for") ? PX_FIELD_XFF : 0;
    case 16:
        if (LOWER_EQ(n, "proxy-connection"))
            return PX_FIELD_HOP;
        return LOWER_EQ(n, "x-forwarded-host") ? PX_FIELD_OURS : 0;
    case 17:
        if (LOWER_EQ(n, "transfer-encoding"))
            return PX_FIELD_HOP;
        return LOWER_EQ(n, "x-forwarded-proto") ? PX_FIELD_OURS : 0;
    default:
        return 0;
    }
}

unsigned
px_field_class(struct gw_str name)
{
    return field_class(name);
}

bool
px_field_is_hop_by_hop(struct gw_str name)
{
    return (field_class(name) & PX_FIELD_HOP) != 0;
}

bool
px_trailer_is_forwarded(struct gw_str name)
{
    return (field_class(name) & PX_TRAILER_DROP) == 0;
}

/* ------------------------------------------------------------------------ */
/* The wire check                                                           */

static atomic_uint_fast64_t wire_refused[PX_WIRE_NWHAT];

static const char *const wire_what[PX_WIRE_NWHAT] = {
    [PX_WIRE_REQUEST_FIELD] = "request field", [PX_WIRE_RESPONSE_FIELD] = "response field",
    [PX_WIRE_TARGET] = "request target",       [PX_WIRE_HOST] = "Host",
    [PX_WIRE_REASON] = "reason phrase",        [PX_WIRE_EXTRA] = "extra header block",
};

static const char *const wire_label[PX_WIRE_NWHAT] = {
    [PX_WIRE_REQUEST_FIELD] = "request_field", [PX_WIRE_RESPONSE_FIELD] = "response_field",
    [PX_WIRE_TARGET] = "request_target",       [PX_WIRE_HOST] = "host",
    [PX_WIRE_REASON] = "reason_phrase",        [PX_WIRE_EXTRA] = "extra_block",
};

uint64_t
px_wire_refused(enum px_wire_what what)
{
    GW_ASSERT(what < PX_WIRE_NWHAT);
    return atomic_load_explicit(&wire_refused[what], memory_order_relaxed);
}

const char *
px_wire_what_name(enum px_wire_what what)
{
    GW_ASSERT(what < PX_WIRE_NWHAT);
    return wire_label[what];
}

uint64_t
px_wire_refused_total(void)
{
    uint64_t n = 0;
    for (int i = 0; i < PX_WIRE_NWHAT; i++)
        n += px_wire_refused((enum px_wire_what)i);
    return n;
}

static inline bool
bad_byte(unsigned char c)
{
    return c == '\r' || c == '\n' || c == '\0';
}

bool
px_wire_is_unsafe(struct gw_str s)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= s.len; i += 8) {
        uint64_t x;
        memcpy(&x, s.p + i, 8);
        /* Some byte below 0x0e (exact as a yes/no): only then look closer,
         * so the usual word costs three operations and a branch. */
        if (((x - ones * 0x0e) & ~x & high) != 0)
            for (size_t j = i; j < i + 8; j++)
                if (bad_byte((unsigned char)s.p[j]))
                    return true;
    }
    for (; i < s.len; i++)
        if (bad_byte((unsigned char)s.p[i]))
            return true;
    return false;
}

/* Counts and logs (at most a line a second) one refusal; what names it,
 * name is printed only when it is safe to. */
static void
refuse(enum px_wire_what what, struct gw_str name)
{
    static struct gw_log_limit rl;
    atomic_fetch_add_explicit(&wire_refused[what], 1, memory_order_relaxed);
    uint64_t n = px_wire_refused_total();
    bool show = name.len && !px_wire_is_unsafe(name);
    gw_log_ratelimited(&rl, GW_LOG_WARN,
                       "proxy: %s%s%.*s holds CR, LF or NUL: not sent (%llu refused so far)",
                       wire_what[what], show ? " " : "", show ? (int)GW_MIN(name.len, 64) : 0,
                       show ? name.p : "", (unsigned long long)n);
}

/* An extra block is "Name: value\r\n" lines: no NUL, no bare CR or LF, no
 * empty line (which would end the head early), CRLF at the end. */
static bool
extra_ok(struct gw_str e)
{
    if (!e.len)
        return true;
    if (e.len < 2 || e.p[e.len - 2] != '\r' || e.p[e.len - 1] != '\n')
        return false;
    size_t line = 0;
    for (size_t i = 0; i < e.len; i++) {
        unsigned char c = (unsigned char)e.p[i];
        if (c == '\0' || c == '\n')
            return false;
        if (c == '\r') {
            if (i + 1 >= e.len || e.p[i + 1] != '\n' || i == line)
                return false;
            i++;
            line = i + 1;
        }
    }
    return true;
}

static struct gw_str
checked_extra(struct gw_str e)
{
    if (extra_ok(e))
        return e;
    refuse(PX_WIRE_EXTRA, GW_STR_NULL);
    return GW_STR_NULL;
}

/* Hop-by-hop fields a proxy never forwards (RFC 9110 §7.6.1), plus the ones
 * the proxy writes itself. */
enum drop_kind { KEEP, DROP, XFF };

static enum drop_kind
request_field_kind(struct gw_str n, bool strip_expect)
{
    unsigned c = field_class(n);
    if (!c)
        return KEEP;
    if (c & (PX_FIELD_HOP | PX_FIELD_HOST | PX_FIELD_LENGTH | PX_FIELD_OURS))
        return DROP;
    if (c & PX_FIELD_XFF)
        return XFF;
    return strip_expect && (c & PX_FIELD_EXPECT) ? DROP : KEEP;
}

static bool
response_field_dropped(struct gw_str n, bool keep_length, bool keep_upgrade)
{
    unsigned c = field_class(n);
    if (c & PX_FIELD_UPGRADE)
        return !keep_upgrade;
    return (c & PX_FIELD_HOP) || (!keep_length && (c & PX_FIELD_LENGTH));
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

/* A Gateway API header modifier, by route's one implementation (the one
 * its tests and fuzzers exercise), in place on the working list. */
static void
work_apply(struct work *w, const struct gw_ir_header_mod *m)
{
    if (m && gw_route_headers_apply(m, w->v, &w->n, PX_WORK_MAX) < 0)
        w->overflow = true;
}

/* Leaves out every field whose name or value would break the head. */
static void
work_scrub(struct work *w, enum px_wire_what what)
{
    size_t j = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (px_wire_is_unsafe(w->v[i].value) || px_wire_is_unsafe(w->v[i].name)) {
            refuse(what, w->v[i].name);
            continue;
        }
        if (j != i)
            w->v[j] = w->v[i];
        j++;
    }
    w->n = j;
}

/* Heads are measured, then written into one span of the output with
 * straight copies (PUT), instead of a bounds-checked append per piece. */
static inline char *
put(char *w, const void *s, size_t n)
{
    if (n) /* s may be NULL then */
        memcpy(w, s, n);
    return w + n;
}

#define PUT(w, s, n)    put((w), (s), (n))
#define PUT_LIT(w, lit) (memcpy((w), (lit), sizeof(lit) - 1), (w) + sizeof(lit) - 1)
#define PUT_STR(w, s)   put((w), (s).p, (s).len)

static size_t
u64_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static char *
put_u64(char *w, uint64_t v, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        w[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return w + n;
}

static size_t
fields_len(const struct work *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->n; i++)
        n += w->v[i].name.len + w->v[i].value.len + 4;
    return n;
}

static char *
put_fields(char *o, const struct work *w)
{
    for (size_t i = 0; i < w->n; i++) {
        o = PUT_STR(o, w->v[i].name);
        o = PUT_LIT(o, ": ");
        o = PUT_STR(o, w->v[i].value);
        o = PUT_LIT(o, "\r\n");
    }
    return o;
}

static bool
is_xff(const struct gw_h1_header *h)
{
    return h->name.len == 15 && LOWER_EQ(h->name, "x-forwarded-for") && h->value.len > 0;
}

/* The client's Trace Context fields: replaced by ours when tracing is on. */
static bool
is_trace_field(struct gw_str n)
{
    return (n.len == 11 && LOWER_EQ(n, "traceparent")) ||
           (n.len == 10 && LOWER_EQ(n, "tracestate"));
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
        if (GW_UNLIKELY(r->trace.len) && is_trace_field(h->name))
            continue;
        bool dropped = false;
        for (size_t x = 0; x < r->ndrop && !dropped; x++)
            dropped = gw_str_caseeq(h->name, gw_str_from(r->drop[x]));
        if (dropped)
            continue;
        work_push(&w, h->name, h->value);
    }
    for (size_t i = 0; i < r->nextra; i++)
        work_push(&w, r->extra[i].name, r->extra[i].value);
    for (size_t i = 0; i < r->nextra2; i++)
        work_push(&w, r->extra2[i].name, r->extra2[i].value);
    for (size_t i = 0; i < GW_ARRAY_LEN(r->mods); i++)
        work_apply(&w, r->mods[i]);
    if (w.overflow)
        return GW_ELIMIT;
    work_scrub(&w, PX_WIRE_REQUEST_FIELD);

    struct gw_str path = r->path.len ? r->path : GW_STR("/");
    if (px_wire_is_unsafe(path) || px_wire_is_unsafe(r->host)) {
        refuse(px_wire_is_unsafe(path) ? PX_WIRE_TARGET : PX_WIRE_HOST, GW_STR_NULL);
        return GW_EINVAL;
    }
    static const char proto_https[] = "\r\nX-Forwarded-Proto: https\r\n";
    static const char proto_http[] = "\r\nX-Forwarded-Proto: http\r\n";
    struct gw_str proto = r->tls ? GW_STR(proto_https) : GW_STR(proto_http);
    size_t cl_len = q->body == GW_H1_BODY_LENGTH ? u64_len(q->content_length) : 0;

    size_t n = q->method.len + 1 + path.len + sizeof(" HTTP/1.1\r\nHost: ") - 1 + r->host.len + 2 +
               fields_len(&w) + sizeof("X-Forwarded-For: ") - 1 + r->client_ip.len + proto.len + 2 +
               r->trace.len;
    if (first_xff != SIZE_MAX)
        for (size_t i = first_xff; i < q->nheaders; i++)
            if (is_xff(&q->headers[i]))
                n += q->headers[i].value.len + 2;
    if (q->host.len)
        n += sizeof("X-Forwarded-Host: ") - 1 + q->host.len + 2;
    if (r->upgrade)
        n += sizeof("Connection: upgrade\r\nUpgrade: ") - 1 + q->upgrade.len + 2;
    if (q->body == GW_H1_BODY_LENGTH)
        n += sizeof("Content-Length: ") - 1 + cl_len + 2;
    else if (q->body == GW_H1_BODY_CHUNKED)
        n += sizeof("Transfer-Encoding: chunked\r\n") - 1;

    char *start = px_buf_span(out, n), *o = start;
    if (!start)
        return GW_ELIMIT;
    o = PUT_STR(o, q->method);
    o = PUT_LIT(o, " ");
    o = PUT_STR(o, path);
    o = PUT_LIT(o, " HTTP/1.1\r\nHost: ");
    o = PUT_STR(o, r->host);
    o = PUT_LIT(o, "\r\n");
    o = put_fields(o, &w);
    /* X-Forwarded-For: every value the client sent, in order, then the
     * client's address (one field, comma-separated). */
    o = PUT_LIT(o, "X-Forwarded-For: ");
    if (first_xff != SIZE_MAX) {
        for (size_t i = first_xff; i < q->nheaders; i++) {
            if (!is_xff(&q->headers[i]))
                continue;
            o = PUT_STR(o, q->headers[i].value);
            o = PUT_LIT(o, ", ");
        }
    }
    o = PUT_STR(o, r->client_ip);
    o = PUT_STR(o, proto);
    o = PUT_STR(o, r->trace);
    if (q->host.len) {
        o = PUT_LIT(o, "X-Forwarded-Host: ");
        o = PUT_STR(o, q->host);
        o = PUT_LIT(o, "\r\n");
    }
    if (r->upgrade) {
        o = PUT_LIT(o, "Connection: upgrade\r\nUpgrade: ");
        o = PUT_STR(o, q->upgrade);
        o = PUT_LIT(o, "\r\n");
    }
    if (q->body == GW_H1_BODY_LENGTH) {
        o = PUT_LIT(o, "Content-Length: ");
        o = put_u64(o, q->content_length, cl_len);
        o = PUT_LIT(o, "\r\n");
    } else if (q->body == GW_H1_BODY_CHUNKED) {
        o = PUT_LIT(o, "Transfer-Encoding: chunked\r\n");
    }
    o = PUT_LIT(o, "\r\n");
    GW_ASSERT((size_t)(o - start) == n);
    px_buf_commit(out, n);
    return 0;
}

/* One line of p[0..n) ending in LF: its length without the line end (CR
 * too), *next past it; false when no LF is there yet. */
static bool
next_line(const char *p, size_t n, size_t *len, size_t *next)
{
    const char *lf = memchr(p, '\n', n);
    if (!lf)
        return false;
    size_t l = (size_t)(lf - p);
    *next = l + 1;
    *len = l && p[l - 1] == '\r' ? l - 1 : l;
    return true;
}

static struct gw_str
trim_ows(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct gw_str){p, n};
}

int
px_head_split(const char *p, size_t n, size_t max, struct gw_str *line, struct gw_h1_header *hv,
              size_t maxh, size_t *nh)
{
    size_t len, next, at;
    bool capped = n >= max;
    n = GW_MIN(n, max);
    *nh = 0;
    if (!next_line(p, n, &len, &next))
        return capped ? GW_ELIMIT : GW_EAGAIN;
    *line = (struct gw_str){p, len};
    for (at = next;; at += next) {
        if (!next_line(p + at, n - at, &len, &next))
            return capped ? GW_ELIMIT : GW_EAGAIN;
        if (len == 0)
            return at + next > INT32_MAX ? GW_ELIMIT : (int)(at + next);
        const char *f = p + at, *colon = memchr(f, ':', len);
        if (!colon || colon == f)
            return GW_EPROTO;
        if (*nh == maxh)
            return GW_ELIMIT;
        hv[(*nh)++] = (struct gw_h1_header){{f, (size_t)(colon - f)},
                                            trim_ows(colon + 1, len - (size_t)(colon + 1 - f))};
    }
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
    work_scrub(&w, PX_WIRE_RESPONSE_FIELD);
    struct gw_str extra = checked_extra(r->extra);

    char code[4] = {(char)('0' + s->status / 100 % 10), (char)('0' + s->status / 10 % 10),
                    (char)('0' + s->status % 10), ' '};
    struct gw_str reason = s->reason.len ? s->reason : gw_str_from(gw_h1_status_reason(s->status));
    if (s->reason.len && px_wire_is_unsafe(reason)) {
        refuse(PX_WIRE_REASON, GW_STR_NULL);
        reason = gw_str_from(gw_h1_status_reason(s->status));
    }
    size_t cl_len = r->d.frame == PX_RF_LENGTH ? u64_len(s->content_length) : 0;
    struct gw_str conn = GW_STR_NULL;
    if (!tunnel) {
        if (r->d.client_close)
            conn = GW_STR("Connection: close\r\n");
        else if (r->client_minor == 0)
            conn = GW_STR("Connection: keep-alive\r\n");
    }
    size_t n =
        sizeof("HTTP/1.1 ") - 1 + 4 + reason.len + 2 + fields_len(&w) + extra.len + conn.len + 2;
    switch (r->d.frame) {
    case PX_RF_LENGTH:
        n += sizeof("Content-Length: ") - 1 + cl_len + 2;
        break;
    case PX_RF_CHUNKED:
    case PX_RF_RECHUNK:
        n += sizeof("Transfer-Encoding: chunked\r\n") - 1;
        break;
    case PX_RF_TUNNEL:
        n += sizeof("Connection: upgrade\r\n") - 1;
        break;
    default:
        break;
    }

    char *start = px_buf_span(out, n), *o = start;
    if (!start)
        return GW_ELIMIT;
    /* RFC 9112 §2.3: our own version, also to an HTTP/1.0 client (the
     * framing below is what keeps it readable for one). */
    o = PUT_LIT(o, "HTTP/1.1 ");
    o = PUT(o, code, 4);
    o = PUT_STR(o, reason);
    o = PUT_LIT(o, "\r\n");
    o = put_fields(o, &w);
    o = PUT_STR(o, extra);
    switch (r->d.frame) {
    case PX_RF_LENGTH:
        o = PUT_LIT(o, "Content-Length: ");
        o = put_u64(o, s->content_length, cl_len);
        o = PUT_LIT(o, "\r\n");
        break;
    case PX_RF_CHUNKED:
    case PX_RF_RECHUNK:
        o = PUT_LIT(o, "Transfer-Encoding: chunked\r\n");
        break;
    case PX_RF_TUNNEL:
        o = PUT_LIT(o, "Connection: upgrade\r\n");
        break;
    default:
        break;
    }
    o = PUT_STR(o, conn);
    o = PUT_LIT(o, "\r\n");
    GW_ASSERT((size_t)(o - start) == n);
    px_buf_commit(out, n);
    return 0;
}

/* Whether header lines `extra` hold a Content-Type field. */
static bool
has_content_type(struct gw_str extra)
{
    static const char name[] = "content-type:";
    size_t n = sizeof(name) - 1;
    for (size_t i = 0; i + n <= extra.len; i++) {
        if (i && extra.p[i - 1] != '\n')
            continue;
        size_t k = 0;
        while (k < n && (extra.p[i + k] | 0x20) == name[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

int
px_local_response_format(struct px_buf *out, int status, struct gw_str extra, struct gw_str body,
                         bool close, bool head_only)
{
    int rc = 0;
    extra = checked_extra(extra);
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
        /* extra may carry its own (an authorization service's answer) */
        if (body.len && !has_content_type(extra))
            rc |= px_buf_append_lit(out, "Content-Type: text/plain\r\n");
    }
    if (close)
        rc |= px_buf_append_lit(out, "Connection: close\r\n");
    rc |= px_buf_append(out, "\r\n", 2);
    if (!head_only && status >= 200 && status != 204 && status != 304)
        rc |= px_buf_append_str(out, body);
    return rc ? GW_ELIMIT : 0;
}
