/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunked transfer coding (RFC 9112 §7.1): a streaming decoder that
 * reports data as views into its input, and the encoder's framing helper.
 * Chunk framing is consumed byte by byte so no input ever has to be held
 * back; only trailer lines are consumed whole, so that each field can be
 * reported as two views. Every malformation is fatal: after a framing error
 * the connection cannot be resynchronised safely.
 */
#include <string.h>

#include "h1/internal.h"

#include "base/banned.h"

enum {
    CS_SIZE_FIRST, /* first hex digit of chunk-size */
    CS_SIZE,       /* more hex digits, ';', BWS or CR */
    CS_SIZE_WS,    /* BWS after the size: only ';' may follow */
    CS_EXT,        /* chunk extensions up to CR */
    CS_SIZE_LF,    /* LF ending the chunk-size line */
    CS_DATA,
    CS_DATA_CR, /* CRLF after chunk-data */
    CS_DATA_LF,
    CS_TRAILER, /* at the start of a trailer line or the final CRLF */
    CS_DONE,
    CS_ERROR,
};

/* 16 hex digits fill a uint64_t; more would need leading zeros, which we
 * refuse rather than count. */
#define MAX_SIZE_DIGITS 16

void
gw_h1_chunked_init(struct gw_h1_chunked *c, const struct gw_h1_limits *lim)
{
    struct gw_h1_limits d = GW_H1_LIMITS_DEFAULT;
    if (lim == NULL)
        lim = &d;
    memset(c, 0, sizeof(*c));
    c->state = CS_SIZE_FIRST;
    c->max_ext = lim->max_chunk_ext;
    c->max_trailer = lim->max_trailer_bytes;
}

static int
fail(struct gw_h1_chunked *c, int rc, const char *why)
{
    c->state = CS_ERROR;
    c->err = rc;
    c->error = why;
    return rc;
}

/* One complete trailer line [p, lf): "name: value" CR. */
static int
trailer_line(struct gw_h1_chunked *c, const char *p, const char *lf)
{
    if (lf == p || lf[-1] != '\r')
        return fail(c, GW_EPARSE, "bare LF in trailer");
    const char *end = lf - 1, *q = p;
    while (q < end && h1_is((unsigned char)*q, H1_TCHAR))
        q++;
    if (q == p || q == end || *q != ':')
        return fail(c, GW_EPARSE, "invalid trailer field");
    c->trailer.name = (struct gw_str){p, (size_t)(q - p)};
    q++;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    const char *v = q;
    while (q < end && h1_is((unsigned char)*q, H1_VALUE))
        q++;
    if (q != end)
        return fail(c, GW_EPARSE, "invalid trailer value");
    while (q > v && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    c->trailer.value = (struct gw_str){v, (size_t)(q - v)};
    return GW_H1_CHUNKED_TRAILER;
}

int
gw_h1_chunked_decode(struct gw_h1_chunked *c, const char *in, size_t len, size_t *consumed,
                     struct gw_str *data)
{
    const char *p = in, *end = in + len;
    int rc;

    *data = (struct gw_str){in, 0};
    *consumed = 0;
    if (c->state == CS_ERROR)
        return c->err;

    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        int v;
        switch (c->state) {
        case CS_SIZE_FIRST:
            v = gw_hex_digit((unsigned char)ch);
            if (v < 0)
                return fail(c, GW_EPARSE,
                            ch == '\r' || ch == '\n' ? "empty chunk size" : "invalid chunk size");
            c->remaining = (uint64_t)v;
            c->digits = 1;
            c->state = CS_SIZE;
            p++;
            break;
        case CS_SIZE:
            v = gw_hex_digit((unsigned char)ch);
            if (v >= 0) {
                if (c->digits == MAX_SIZE_DIGITS)
                    return fail(c, GW_ELIMIT, "chunk size too long");
                c->remaining = c->remaining << 4 | (uint64_t)v;
                c->digits++;
            } else if (ch == ';') {
                c->ext_bytes = 0;
                c->state = CS_EXT;
            } else if (ch == ' ' || ch == '\t') {
                c->state = CS_SIZE_WS;
            } else if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else {
                return fail(c, GW_EPARSE, ch == '\n' ? "bare LF" : "invalid chunk size");
            }
            p++;
            break;
        case CS_SIZE_WS:
            if (ch == ';') {
                c->ext_bytes = 0;
                c->state = CS_EXT;
            } else if (ch != ' ' && ch != '\t') {
                return fail(c, GW_EPARSE, "invalid chunk size");
            }
            p++;
            break;
        case CS_EXT:
            if (ch == '\r') {
                c->state = CS_SIZE_LF;
            } else if (!h1_is(ch, H1_VALUE)) {
                return fail(c, GW_EPARSE, ch == '\n' ? "bare LF" : "invalid chunk extension");
            } else if (++c->ext_bytes > c->max_ext) {
                return fail(c, GW_ELIMIT, "chunk extensions too large");
            }
            p++;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                return fail(c, GW_EPARSE, "bare CR");
            p++;
            if (c->remaining == 0) {
                c->trailer_bytes = 0;
                c->state = CS_TRAILER;
            } else {
                c->state = CS_DATA;
            }
            break;
        case CS_DATA: {
            size_t n = (size_t)GW_MIN(c->remaining, (uint64_t)(end - p));
            *data = (struct gw_str){p, n};
            p += n;
            c->remaining -= n;
            c->total += n;
            if (c->remaining == 0)
                c->state = CS_DATA_CR;
            *consumed = (size_t)(p - in);
            return p == end ? GW_EAGAIN : GW_H1_CHUNKED_MORE;
        }
        case CS_DATA_CR:
            if (ch != '\r')
                return fail(c, GW_EPARSE,
                            ch == '\n' ? "bare LF after chunk data" : "chunk data overrun");
            c->state = CS_DATA_LF;
            p++;
            break;
        case CS_DATA_LF:
            if (ch != '\n')
                return fail(c, GW_EPARSE, "bare CR after chunk data");
            c->state = CS_SIZE_FIRST;
            p++;
            break;
        case CS_TRAILER: {
            if (ch == '\r') {
                if (p + 1 == end)
                    goto hold;
                if (p[1] != '\n')
                    return fail(c, GW_EPARSE, "bare CR");
                c->state = CS_DONE;
                *consumed = (size_t)(p + 2 - in);
                return GW_H1_CHUNKED_DONE;
            }
            if (ch == ' ' || ch == '\t')
                return fail(c, GW_EPARSE, "obsolete line folding in trailer");
            const char *lf = memchr(p, '\n', (size_t)(end - p));
            size_t line = lf != NULL ? (size_t)(lf + 1 - p) : (size_t)(end - p);
            if (c->trailer_bytes + line > c->max_trailer)
                return fail(c, GW_ELIMIT, "trailer section too large");
            if (lf == NULL)
                goto hold;
            rc = trailer_line(c, p, lf);
            if (rc < 0)
                return rc;
            c->trailer_bytes += line;
            *consumed = (size_t)(lf + 1 - in);
            return rc;
        }
        case CS_DONE:
            *consumed = (size_t)(p - in);
            return GW_H1_CHUNKED_DONE;
        default:
            GW_ASSERT(!"unreachable chunked state");
        }
    }
    *consumed = (size_t)(p - in);
    return c->state == CS_DONE ? GW_H1_CHUNKED_DONE : GW_EAGAIN;

hold:
    *consumed = (size_t)(p - in);
    return GW_EAGAIN;
}

size_t
gw_h1_chunk_header_format(char out[GW_H1_CHUNK_HEADER_MAX], uint64_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    int shift = 60;
    while (shift > 0 && ((size >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        out[n++] = hex[(size >> shift) & 0xf];
    out[n++] = '\r';
    out[n++] = '\n';
    return n;
}
