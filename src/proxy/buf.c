/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy buffers: a byte queue consumed from the front (the socket writes or
 * the parser eats), appended at the back. Memory is allocated on first use
 * and kept for the connection's life, so requests after the first on a
 * keep-alive connection allocate nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

void
px_buf_init(struct px_buf *b, size_t max)
{
    *b = (struct px_buf){.max = max};
}

void
px_buf_release(struct px_buf *b)
{
    free(b->p);
    *b = (struct px_buf){.max = b->max};
}

size_t
px_buf_reserve(struct px_buf *b, size_t want)
{
    if (b->cap - b->len >= want)
        return b->cap - b->len;
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= want)
            return b->cap - b->len;
    }
    size_t need = b->len + want;
    if (need > b->max)
        need = b->max;
    if (need > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < need)
            ncap *= 2;
        if (ncap > b->max)
            ncap = b->max;
        b->p = gw_xrealloc(b->p, ncap);
        b->cap = ncap;
    }
    return b->cap - b->len;
}

int
px_buf_append(struct px_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len - b->off + n > b->max)
        return GW_ELIMIT;
    if (px_buf_reserve(b, n) < n)
        return GW_ELIMIT;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

char *
px_buf_span(struct px_buf *b, size_t n)
{
    if (b->len - b->off + n > b->max || px_buf_reserve(b, n) < n)
        return NULL;
    return b->p + b->len;
}

int
px_buf_append_str(struct px_buf *b, struct gw_str s)
{
    return px_buf_append(b, s.p, s.len);
}

int
px_buf_append_u64(struct px_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return px_buf_append(b, tmp + i, sizeof(tmp) - i);
}
