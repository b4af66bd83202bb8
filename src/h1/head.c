/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request and response heads (RFC 9112 §2-§6). One forward pass over the
 * bytes: the start line, then the field lines, noting on the way the few
 * fields that decide framing and routing; a short semantic pass over those
 * notes then decides the body kind or the status to answer. No state is
 * kept between calls, so GW_EAGAIN simply means "call again with more".
 *
 * Strictness choices (see ../shared/hostile/requests.yaml): only CRLF ends a
 * line (a bare CR or LF anywhere is 400); single SP in the start line;
 * obs-fold, whitespace before the colon, empty names and bytes outside
 * tchar/field-vchar are 400; duplicate Host, Content-Length or
 * Transfer-Encoding lines are 400 even when identical; Content-Length and
 * Transfer-Encoding together are 400; a Transfer-Encoding that is not
 * exactly "chunked" is 400 (chunked misplaced or repeated) or 501 (a coding
 * we do not implement).
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "h1/internal.h"

#include "base/banned.h"

/* Everything a parse needs besides the cursor, and what it noticed. */
struct ctx {
    const struct gw_h1_limits *lim;
    const char *start;
    struct gw_h1_header *headers;
    size_t max_headers;
    size_t nheaders;
    bool request;
    bool allow_underscore;

    /* noticed fields */
    unsigned host_count, cl_count, te_count;
    struct gw_str host, cl, te_enc, upgrade, te, expect;
    bool cl_differs; /* responses: a later Content-Length disagreed */
    unsigned connection;

    /* error */
    int status;
    const char *error;
};

static int
fail(struct ctx *x, int rc, int status, const char *why)
{
    x->status = x->request ? status : 502;
    x->error = why;
    return rc;
}

#define FAIL_PARSE(x, st, why) fail((x), GW_EPARSE, (st), (why))
#define FAIL_LIMIT(x, st, why) fail((x), GW_ELIMIT, (st), (why))

/* "HTTP/" DIGIT "." DIGIT. Returns 8, GW_EAGAIN on a matching prefix, or an
 * error (505 for a well-formed version other than 1.x). */
static int
parse_version(struct ctx *x, const char *p, const char *end, int *minor)
{
    static const char name[] = "HTTP/";
    size_t avail = (size_t)(end - p);
    if (avail >= 8 && memcmp(p, "HTTP/1.", 7) == 0 && p[7] >= '0' && p[7] <= '9') {
        *minor = p[7] == '0' ? 0 : 1; /* the common case, as below */
        return 8;
    }
    for (size_t i = 0; i < 5; i++) {
        if (i == avail)
            return GW_EAGAIN;
        if (p[i] != name[i])
            return FAIL_PARSE(x, 400, "invalid HTTP version");
    }
    if (avail < 8) {
        if (avail > 5 && !(p[5] >= '0' && p[5] <= '9'))
            return FAIL_PARSE(x, 400, "invalid HTTP version");
        if (avail > 6 && p[6] != '.')
            return FAIL_PARSE(x, 400, "invalid HTTP version");
        return GW_EAGAIN;
    }
    if (!(p[5] >= '0' && p[5] <= '9') || p[6] != '.' || !(p[7] >= '0' && p[7] <= '9'))
        return FAIL_PARSE(x, 400, "invalid HTTP version");
    if (p[5] != '1')
        return FAIL_PARSE(x, 505, "unsupported HTTP version");
    /* RFC 9110 §6.2: a higher minor version is treated as the highest we
     * implement. */
    *minor = p[7] == '0' ? 0 : 1;
    return 8;
}

/* Expects CRLF at p. Returns 2, GW_EAGAIN or an error. */
static int
expect_crlf(struct ctx *x, const char *p, const char *end, const char *what)
{
    if (p == end)
        return GW_EAGAIN;
    if (*p != '\r')
        return FAIL_PARSE(x, 400, what);
    if (p + 1 == end)
        return GW_EAGAIN;
    if (p[1] != '\n')
        return FAIL_PARSE(x, 400, "bare CR");
    return 2;
}

/* A head still incomplete: is it already past a limit? */
static int
incomplete(struct ctx *x, const char *end)
{
    if ((size_t)(end - x->start) > x->lim->max_head_bytes)
        return FAIL_LIMIT(x, 431, "header section too large");
    return GW_EAGAIN;
}

/* Connection: the usual single values first, then the general list. */
static unsigned
connection_flags(struct gw_str value)
{
    if (H1_WORD_EQ(value, "keep-alive"))
        return GW_H1_CONN_KEEP_ALIVE;
    if (H1_WORD_EQ(value, "close"))
        return GW_H1_CONN_CLOSE;
    unsigned flags = 0;
    struct gw_str rest = value, item;
    while (gw_h1_list_next(&rest, &item)) {
        if (H1_LOWER_EQ(item, "close"))
            flags |= GW_H1_CONN_CLOSE;
        else if (H1_LOWER_EQ(item, "keep-alive"))
            flags |= GW_H1_CONN_KEEP_ALIVE;
        else if (H1_LOWER_EQ(item, "upgrade"))
            flags |= GW_H1_CONN_UPGRADE;
        else if (H1_LOWER_EQ(item, "te"))
            flags |= GW_H1_CONN_TE;
        else
            flags |= GW_H1_CONN_OTHER;
    }
    return flags;
}

/* Names are tchar here, which is what H1_WORD_EQ needs; the length picks
 * the one candidate first. */
static inline void
note_field(struct ctx *x, struct gw_str name, struct gw_str value)
{
    switch (name.len) {
    case 2:
        if (H1_WORD_EQ(name, "te"))
            x->te = value;
        break;
    case 4:
        if (H1_WORD_EQ(name, "host")) {
            x->host_count++;
            x->host = value;
        }
        break;
    case 6:
        if (H1_WORD_EQ(name, "expect"))
            x->expect = value;
        break;
    case 7:
        if (H1_WORD_EQ(name, "upgrade") && x->upgrade.p == NULL)
            x->upgrade = value;
        break;
    case 10:
        if (H1_WORD_EQ(name, "connection"))
            x->connection |= connection_flags(value);
        break;
    case 14:
        if (H1_WORD_EQ(name, "content-length")) {
            if (x->cl_count++ == 0)
                x->cl = value;
            else if (!gw_str_eq(x->cl, value))
                x->cl_differs = true;
        }
        break;
    case 17:
        if (H1_WORD_EQ(name, "transfer-encoding")) {
            x->te_count++;
            x->te_enc = value;
        }
        break;
    default:
        break;
    }
}

/* Skips bytes whose class has one of bits, OR-ing their classes into
 * *seen; four at a time while there is room, since the bound check costs as
 * much as the lookup. */
static inline const char *
scan_class(const char *p, const char *end, unsigned bits, unsigned *seen)
{
    const unsigned char *u = (const unsigned char *)p, *e = (const unsigned char *)end;
    unsigned acc = 0;
    while (e - u >= 4) {
        unsigned a = gw_h1_class[u[0]], b = gw_h1_class[u[1]], c = gw_h1_class[u[2]],
                 d = gw_h1_class[u[3]];
        if (!(a & b & c & d & bits))
            break;
        acc |= a | b | c | d;
        u += 4;
    }
    while (u < e && (gw_h1_class[*u] & bits)) {
        acc |= gw_h1_class[*u];
        u++;
    }
    *seen |= acc;
    return (const char *)u;
}

/* A field name: eight bytes at a time while they are letters, digits and
 * '-', then the class table from the first other byte (':' at once, or a
 * rarer tchar such as '_', which *seen must report). */
static inline const char *
scan_name(const char *p, const char *end, unsigned *seen)
{
    while (end - p >= 8) {
        uint64_t m = h1_swar_not_name(h1_load8(p));
        if (m != 0) {
            p += h1_swar_first(m);
            if (*p == ':')
                return p;
            break;
        }
        p += 8;
    }
    return scan_class(p, end, H1_TCHAR, seen);
}

/* Skips field-value bytes (VCHAR, obs-text, SP, HTAB) and returns the first
 * other byte's position. Most values are long runs of printable ASCII, so
 * with SSE2 (always there on x86-64) sixteen bytes are checked at once for
 * anything below 0x20 or equal to 0x7f; the byte loop settles the rest. */
static inline const char *
scan_value(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i ctl = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v), _mm_cmpeq_epi8(v, del));
        int mask = _mm_movemask_epi8(bad);
        if (mask != 0) {
            p += __builtin_ctz((unsigned)mask);
            break;
        }
        p += 16;
    }
#endif
    while (p < end && h1_is((unsigned char)*p, H1_VALUE))
        p++;
    return p;
}

/*
 * Field lines up to and including the empty line. *pp is the start of the
 * first field line on entry and just past the head on success (returns 0).
 */
static int
parse_fields(struct ctx *x, const char **pp, const char *end)
{
    const char *p = *pp;
    size_t max_count = GW_MIN(x->max_headers, x->lim->max_header_count);

    for (;;) {
        if (p == end)
            return incomplete(x, end);
        if (*p == '\r') {
            if (p + 1 == end)
                return incomplete(x, end);
            if (p[1] != '\n')
                return FAIL_PARSE(x, 400, "bare CR");
            p += 2;
            break;
        }
        if (*p == ' ' || *p == '\t')
            return FAIL_PARSE(x, 400, "obsolete line folding");

        const char *name = p;
        unsigned seen = 0;
        p = scan_name(p, end, &seen);
        if (p == end)
            return incomplete(x, end);
        if (*p != ':') {
            if (*p == '\n')
                return FAIL_PARSE(x, 400, "bare LF");
            if (*p == ' ' || *p == '\t')
                return FAIL_PARSE(x, 400, "whitespace in field name");
            return FAIL_PARSE(x, 400, "invalid field name");
        }
        if (p == name)
            return FAIL_PARSE(x, 400, "empty field name");
        struct gw_str fname = {name, (size_t)(p - name)};
        if ((seen & H1_UNDER) && !x->allow_underscore)
            return FAIL_PARSE(x, 400, "underscore in field name");
        p++;

        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        p = scan_value(p, end);
        if (p == end)
            return incomplete(x, end);
        if (*p != '\r')
            return FAIL_PARSE(x, 400, *p == '\n' ? "bare LF" : "invalid field value");
        if (p + 1 == end)
            return incomplete(x, end);
        if (p[1] != '\n')
            return FAIL_PARSE(x, 400, "bare CR");
        const char *vend = p;
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        p += 2;

        if (x->nheaders == max_count)
            return FAIL_LIMIT(x, 431, "too many header fields");
        if ((size_t)(p - x->start) > x->lim->max_head_bytes)
            return FAIL_LIMIT(x, 431, "header section too large");
        struct gw_str fvalue = {value, (size_t)(vend - value)};
        x->headers[x->nheaders].name = fname;
        x->headers[x->nheaders].value = fvalue;
        x->nheaders++;
        note_field(x, fname, fvalue);
    }
    if ((size_t)(p - x->start) > x->lim->max_head_bytes)
        return FAIL_LIMIT(x, 431, "header section too large");
    *pp = p;
    return 0;
}

/* 1*DIGIT into *out; false on anything else or overflow. */
static bool
parse_length(struct gw_str s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned)(unsigned char)s.p[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Content-Length for a response: RFC 9110 §8.6 lets a recipient accept a
 * list or repeated lines of one identical value. */
static bool
parse_length_list(struct gw_str s, uint64_t *out)
{
    if (parse_length(s, out))
        return true; /* one plain value, the usual case */
    struct gw_str rest = s, item;
    bool any = false;
    uint64_t v = 0;
    while (gw_h1_list_next(&rest, &item)) {
        uint64_t w;
        if (!parse_length(item, &w) || (any && w != v))
            return false;
        v = w;
        any = true;
    }
    *out = v;
    return any;
}

enum te_kind {
    TE_CHUNKED,     /* exactly "chunked" */
    TE_NOT_CHUNKED, /* valid codings, chunked not final (or absent) */
    TE_BAD,         /* syntax error, empty, chunked repeated */
    TE_UNKNOWN,     /* a coding we do not implement */
};

static enum te_kind
classify_te(struct gw_str v)
{
    struct gw_str rest = v, item;
    size_t count = 0, chunked = 0;
    bool last_chunked = false, unknown = false;
    while (gw_h1_list_next(&rest, &item)) {
        if (!gw_h1_is_token(item))
            return TE_BAD; /* parameters are never sent on transfer codings */
        count++;
        last_chunked = H1_LOWER_EQ(item, "chunked");
        if (last_chunked)
            chunked++;
        else if (!H1_LOWER_EQ(item, "gzip") && !H1_LOWER_EQ(item, "deflate") &&
                 !H1_LOWER_EQ(item, "compress") && !H1_LOWER_EQ(item, "x-gzip") &&
                 !H1_LOWER_EQ(item, "x-compress"))
            unknown = true;
    }
    if (count == 0 || chunked > 1)
        return TE_BAD;
    if (chunked == 1 && !last_chunked)
        return TE_NOT_CHUNKED;
    if (unknown)
        return TE_UNKNOWN;
    if (count == 1 && last_chunked)
        return TE_CHUNKED;
    return last_chunked ? TE_UNKNOWN : TE_NOT_CHUNKED;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static bool
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Checks %XX escapes and brackets in an origin-form path. */
static bool
path_is_valid(struct gw_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!h1_is(c, H1_PATH))
            return false;
        if (c == '%') {
            if (i + 2 >= s.len || !is_hex(s.p[i + 1]) || !is_hex(s.p[i + 2]))
                return false;
            i += 2;
        }
    }
    return true;
}

static int
classify_target(struct ctx *x, struct gw_h1_request *req, bool check)
{
    struct gw_str t = req->target;
    req->path = (struct gw_str){t.p, 0};
    req->authority = GW_STR_NULL;

    if (req->method_id == GW_H1_METHOD_CONNECT) {
        req->form = GW_H1_FORM_AUTHORITY;
        if (memchr(t.p, '@', t.len) != NULL || !gw_h1_host_is_valid(t, true))
            return FAIL_PARSE(x, 400, "invalid authority-form target");
        req->authority = t;
        return 0;
    }
    if (t.p[0] == '/') {
        req->form = GW_H1_FORM_ORIGIN;
        if (check && !path_is_valid(t))
            return FAIL_PARSE(x, 400, "invalid request target");
        req->path = t;
        return 0;
    }
    if (t.len == 1 && t.p[0] == '*') {
        req->form = GW_H1_FORM_ASTERISK;
        if (req->method_id != GW_H1_METHOD_OPTIONS)
            return FAIL_PARSE(x, 400, "asterisk-form target without OPTIONS");
        return 0;
    }
    size_t skip = 0;
    if (t.len >= 7 && H1_LOWER_EQ(((struct gw_str){t.p, 7}), "http://"))
        skip = 7;
    else if (t.len >= 8 && H1_LOWER_EQ(((struct gw_str){t.p, 8}), "https://"))
        skip = 8;
    if (skip == 0)
        return FAIL_PARSE(x, 400, "invalid request target");
    req->form = GW_H1_FORM_ABSOLUTE;
    const char *a = t.p + skip, *e = t.p + t.len, *q = a;
    while (q < e && *q != '/' && *q != '?')
        q++;
    struct gw_str auth = {a, (size_t)(q - a)};
    if (auth.len == 0 || memchr(a, '@', auth.len) != NULL || !gw_h1_host_is_valid(auth, false))
        return FAIL_PARSE(x, 400, "invalid authority in request target");
    struct gw_str path = {q, (size_t)(e - q)};
    if (!path_is_valid(path))
        return FAIL_PARSE(x, 400, "invalid request target");
    req->authority = auth;
    req->path = path;
    return 0;
}

static int
request_semantics(struct ctx *x, struct gw_h1_request *req)
{
    if (x->host_count > 1)
        return FAIL_PARSE(x, 400, "duplicate Host");
    if (x->host_count == 0 && req->minor_version == 1)
        return FAIL_PARSE(x, 400, "missing Host");
    if (x->host_count == 1) {
        if (x->host.len > 0 && !gw_h1_host_is_valid(x->host, false))
            return FAIL_PARSE(x, 400, "invalid Host");
        req->host = x->host;
    }
    if (req->authority.p == NULL)
        req->authority = req->host;

    if (x->te_count > 0) {
        if (x->te_count > 1)
            return FAIL_PARSE(x, 400, "duplicate Transfer-Encoding");
        if (x->cl_count > 0)
            return FAIL_PARSE(x, 400, "Content-Length with Transfer-Encoding");
        if (req->minor_version == 0)
            return FAIL_PARSE(x, 400, "Transfer-Encoding in HTTP/1.0");
        switch (classify_te(x->te_enc)) {
        case TE_CHUNKED:
            req->body = GW_H1_BODY_CHUNKED;
            break;
        case TE_UNKNOWN:
            return FAIL_PARSE(x, 501, "unsupported transfer coding");
        case TE_NOT_CHUNKED:
            return FAIL_PARSE(x, 400, "chunked is not the final transfer coding");
        case TE_BAD:
        default:
            return FAIL_PARSE(x, 400, "invalid Transfer-Encoding");
        }
    } else if (x->cl_count > 0) {
        if (x->cl_count > 1)
            return FAIL_PARSE(x, 400, "duplicate Content-Length");
        if (!parse_length(x->cl, &req->content_length))
            return FAIL_PARSE(x, 400, "invalid Content-Length");
        if (x->lim->max_body != 0 && req->content_length > x->lim->max_body)
            return FAIL_LIMIT(x, 413, "body too large");
        req->body = GW_H1_BODY_LENGTH;
    }

    req->connection = x->connection;
    req->keep_alive = req->minor_version == 1 ? !(x->connection & GW_H1_CONN_CLOSE)
                                              : (x->connection & GW_H1_CONN_KEEP_ALIVE) &&
                                                    !(x->connection & GW_H1_CONN_CLOSE);
    req->expect_continue = req->minor_version == 1 && H1_LOWER_EQ(x->expect, "100-continue");
    if (x->upgrade.p != NULL)
        req->upgrade = x->upgrade;
    if (x->te.p != NULL)
        req->te = x->te;
    return 0;
}

static int
request_parse(struct ctx *x, const char *buf, size_t len, struct gw_h1_request *req)
{
    const char *p = buf, *end = buf + len;
    int rc;

    /* RFC 9112 §2.2: ignore up to max_empty_lines CRLFs before the line. */
    for (unsigned n = 0;; n++) {
        if (p == end)
            return GW_EAGAIN;
        if (*p != '\r')
            break;
        if (p + 1 == end)
            return GW_EAGAIN;
        if (p[1] != '\n')
            return FAIL_PARSE(x, 400, "bare CR");
        if (n == x->lim->max_empty_lines)
            return FAIL_PARSE(x, 400, "empty lines before the request line");
        p += 2;
    }
    /* The request line is scanned no further than a line of max_line bytes
     * and its CRLF could reach (lend), so what lies beyond never changes the
     * answer: a prefix and the whole input always agree. Running into lend,
     * or into the end of more than max_line + 1 bytes, is 414. */
    const char *line = p, *lend = end;
    size_t max_line = x->lim->max_request_line;
    if ((size_t)(end - line) > max_line + 2)
        lend = line + max_line + 2;
#define LINE_INCOMPLETE()                                                               \
    ((size_t)(lend - line) > max_line + 1 ? FAIL_LIMIT(x, 414, "request line too long") \
                                          : incomplete(x, end))

    while (p < lend && h1_is((unsigned char)*p, H1_TCHAR))
        p++;
    if (p == lend)
        return LINE_INCOMPLETE();
    if (*p != ' ' || p == line)
        return FAIL_PARSE(x, 400, *p == '\n' ? "bare LF" : "invalid method");
    req->method = (struct gw_str){line, (size_t)(p - line)};
    req->method_id = gw_h1_method_from(req->method);
    p++;

    const char *target = p;
    unsigned seen = 0;
    p = scan_class(p, lend, H1_PATH | H1_HOST, &seen);
    if (p == lend)
        return LINE_INCOMPLETE();
    if (*p != ' ' || p == target)
        return FAIL_PARSE(x, 400, "invalid request target");
    req->target = (struct gw_str){target, (size_t)(p - target)};
    p++;

    rc = parse_version(x, p, lend, &req->minor_version);
    if (rc == GW_EAGAIN)
        return LINE_INCOMPLETE();
    if (rc < 0)
        return rc;
    p += rc;
    rc = expect_crlf(x, p, lend, "invalid HTTP version");
    if (rc == GW_EAGAIN)
        return LINE_INCOMPLETE();
    if (rc < 0)
        return rc;
    if ((size_t)(p - line) > max_line)
        return FAIL_LIMIT(x, 414, "request line too long");
    p += rc;
#undef LINE_INCOMPLETE

    rc = classify_target(x, req, (seen & H1_CHECK) != 0);
    if (rc < 0)
        return rc;
    rc = parse_fields(x, &p, end);
    if (rc < 0)
        return rc;
    req->nheaders = x->nheaders;
    rc = request_semantics(x, req);
    if (rc < 0)
        return rc;
    return (int)(p - buf);
}

int
gw_h1_request_parse(const char *buf, size_t len, struct gw_h1_request *req,
                    const struct gw_h1_limits *lim)
{
    static const struct gw_h1_limits defaults = GW_H1_LIMITS_INIT;
    struct gw_h1_header *headers = req->headers;
    size_t max_headers = req->max_headers;
    struct ctx x = {
        .lim = lim != NULL ? lim : &defaults,
        .start = buf,
        .headers = headers,
        .max_headers = max_headers,
        .request = true,
    };
    x.allow_underscore = x.lim->allow_underscore_names;
    /* A head never extends past max_head_bytes, so bytes beyond it cannot
     * change the answer; this also keeps the result within int. */
    GW_ASSERT(x.lim->max_head_bytes < INT32_MAX);
    len = GW_MIN(len, x.lim->max_head_bytes + 1);

    memset(req, 0, sizeof(*req));
    req->headers = headers;
    req->max_headers = max_headers;
    req->host = (struct gw_str){"", 0};
    req->upgrade = (struct gw_str){"", 0};
    req->te = (struct gw_str){"", 0};

    int rc = request_parse(&x, buf, len, req);
    if (rc < 0) {
        req->nheaders = x.nheaders;
        if (rc != GW_EAGAIN) {
            req->error_status = x.status;
            req->error = x.error;
        }
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

static int
response_semantics(struct ctx *x, struct gw_h1_response *res, enum gw_h1_method method)
{
    int s = res->status;
    res->connection = x->connection;
    if (x->upgrade.p != NULL)
        res->upgrade = x->upgrade;
    res->keep_alive = res->minor_version == 1 ? !(x->connection & GW_H1_CONN_CLOSE)
                                              : (x->connection & GW_H1_CONN_KEEP_ALIVE) &&
                                                    !(x->connection & GW_H1_CONN_CLOSE);

    /* RFC 9112 §6.3, in its order. */
    if (s == 101 || (method == GW_H1_METHOD_CONNECT && s >= 200 && s < 300)) {
        res->body = GW_H1_BODY_TUNNEL;
        res->keep_alive = false;
        return 0;
    }
    if (method == GW_H1_METHOD_HEAD || s < 200 || s == 204 || s == 304) {
        res->body = GW_H1_BODY_NONE;
        return 0;
    }
    if (x->te_count > 0) {
        /* Smuggling or response splitting; RFC 9112 §6.3 says "ought to be
         * handled as an error", and a proxy answers 502. */
        if (x->cl_count > 0)
            return FAIL_PARSE(x, 502, "Content-Length with Transfer-Encoding");
        if (x->te_count > 1 || res->minor_version == 0)
            return FAIL_PARSE(x, 502, "invalid Transfer-Encoding");
        switch (classify_te(x->te_enc)) {
        case TE_CHUNKED:
            res->body = GW_H1_BODY_CHUNKED;
            return 0;
        case TE_NOT_CHUNKED:
        case TE_UNKNOWN:
            res->body = GW_H1_BODY_CLOSE;
            res->keep_alive = false;
            return 0;
        case TE_BAD:
        default:
            return FAIL_PARSE(x, 502, "invalid Transfer-Encoding");
        }
    }
    if (x->cl_count > 0) {
        /* Identical repeats are allowed for responses (RFC 9110 §8.6);
         * note_field saw them as one value unless they differed. */
        if (x->cl_differs || !parse_length_list(x->cl, &res->content_length))
            return FAIL_PARSE(x, 502, "invalid Content-Length");
        res->body = GW_H1_BODY_LENGTH;
        return 0;
    }
    res->body = GW_H1_BODY_CLOSE;
    res->keep_alive = false;
    return 0;
}

static int
response_parse(struct ctx *x, const char *buf, size_t len, struct gw_h1_response *res,
               enum gw_h1_method method)
{
    const char *p = buf, *end = buf + len;
    int rc = parse_version(x, p, end, &res->minor_version);
    if (rc == GW_EAGAIN)
        return incomplete(x, end);
    if (rc < 0)
        return rc;
    p += rc;
    /* SP 3DIGIT */
    for (int i = 0; i < 4; i++) {
        if (p + i == end)
            return incomplete(x, end);
        char c = p[i];
        if (i == 0 ? c != ' ' : !(c >= '0' && c <= '9') || (i == 1 && c == '0'))
            return FAIL_PARSE(x, 502, "invalid status line");
        if (i > 0)
            res->status = res->status * 10 + (c - '0');
    }
    p += 4;
    /* SP reason-phrase; a missing SP before an empty reason is tolerated,
     * it is common and harmless. */
    if (p == end)
        return incomplete(x, end);
    if (*p == ' ') {
        const char *reason = ++p;
        while (p < end && h1_is((unsigned char)*p, H1_VALUE))
            p++;
        res->reason = (struct gw_str){reason, (size_t)(p - reason)};
    } else if (*p != '\r') {
        return FAIL_PARSE(x, 502, "invalid status line");
    }
    if ((size_t)(p - buf) > x->lim->max_request_line)
        return FAIL_LIMIT(x, 502, "status line too long");
    rc = expect_crlf(x, p, end, "invalid reason phrase");
    if (rc == GW_EAGAIN)
        return incomplete(x, end);
    if (rc < 0)
        return rc;
    p += rc;

    rc = parse_fields(x, &p, end);
    if (rc < 0)
        return rc;
    res->nheaders = x->nheaders;
    rc = response_semantics(x, res, method);
    if (rc < 0)
        return rc;
    return (int)(p - buf);
}

int
gw_h1_response_parse(const char *buf, size_t len, struct gw_h1_response *res,
                     const struct gw_h1_limits *lim, enum gw_h1_method request_method)
{
    static const struct gw_h1_limits defaults = GW_H1_LIMITS_INIT;
    struct gw_h1_header *headers = res->headers;
    size_t max_headers = res->max_headers;
    struct ctx x = {
        .lim = lim != NULL ? lim : &defaults,
        .start = buf,
        .headers = headers,
        .max_headers = max_headers,
        .request = false,
        .allow_underscore = true,
    };
    /* A head never extends past max_head_bytes, so bytes beyond it cannot
     * change the answer; this also keeps the result within int. */
    GW_ASSERT(x.lim->max_head_bytes < INT32_MAX);
    len = GW_MIN(len, x.lim->max_head_bytes + 1);

    memset(res, 0, sizeof(*res));
    res->headers = headers;
    res->max_headers = max_headers;
    res->reason = (struct gw_str){"", 0};
    res->upgrade = (struct gw_str){"", 0};

    int rc = response_parse(&x, buf, len, res, request_method);
    if (rc < 0) {
        res->nheaders = x.nheaders;
        if (rc != GW_EAGAIN) {
            res->error_status = x.status;
            res->error = x.error;
        }
    }
    return rc;
}

bool
gw_h1_head_is_ready(const char *buf, size_t len, size_t old_len)
{
    size_t from = old_len >= 2 ? old_len - 2 : 0;
    for (size_t i = from; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n'))
            return true;
    }
    return false;
}
