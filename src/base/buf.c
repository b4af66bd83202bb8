/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded growable byte buffers. Every buffer carries its own maximum so
 * that no input can make one grow without limit; an append past the maximum
 * fails and leaves the buffer as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#include "base/banned.h"

void
gw_buf_init(struct gw_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
gw_buf_release(struct gw_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void
gw_buf_reset(struct gw_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

static int
reserve(struct gw_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return GW_ELIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->p = gw_xrealloc(b->p, cap);
    b->cap = cap;
    return 0;
}

int
gw_buf_append(struct gw_buf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int
gw_buf_append_str(struct gw_buf *b, struct gw_str s)
{
    return gw_buf_append(b, s.p, s.len);
}

int
gw_buf_append_cstr(struct gw_buf *b, const char *s)
{
    return gw_buf_append(b, s, strlen(s));
}

int
gw_buf_append_char(struct gw_buf *b, char c)
{
    return gw_buf_append(b, &c, 1);
}

int
gw_buf_vappendf(struct gw_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return GW_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int
gw_buf_appendf(struct gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gw_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int
gw_buf_append_json_str(struct gw_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t mark = b->len;
    int rc = gw_buf_append_char(b, '"');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            rc = gw_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            rc = gw_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            rc = gw_buf_append(b, "\\n", 2);
            break;
        case '\r':
            rc = gw_buf_append(b, "\\r", 2);
            break;
        case '\t':
            rc = gw_buf_append(b, "\\t", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rc = gw_buf_append(b, u, sizeof(u));
            } else {
                rc = gw_buf_append_char(b, (char)c);
            }
        }
    }
    if (rc == 0)
        rc = gw_buf_append_char(b, '"');
    if (rc < 0) {
        b->len = mark;
        if (b->p)
            b->p[mark] = '\0';
    }
    return rc;
}

char *
gw_buf_steal(struct gw_buf *b)
{
    char *p = b->p ? b->p : gw_xstrdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
