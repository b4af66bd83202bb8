/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy buffers: a byte queue consumed from the front (the socket writes or
 * the parser eats), appended at the back. Memory is allocated on first use
 * and kept for the connection's life, so requests after the first on a
 * keep-alive connection allocate nothing. Buffers that live for one request
 * (an h2 stream's, an upstream request's) take their first block from a
 * small per-thread cache: a 4 KiB malloc and free are a few hundred
 * instructions each, and malloc's thread cache stops at 1 KiB.
 */
#include <pthread.h>
#include <stdbool.h>
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

#define BUF_FIRST  4096 /* the first block of every buffer */
#define BUF_CACHED 2048 /* first blocks kept per thread (8 MiB) */

static _Thread_local struct {
    void *p[BUF_CACHED];
    size_t n;
    bool keyed; /* the key's destructor frees it when the thread ends */
} cache;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_drain(void *unused)
{
    (void)unused;
    while (cache.n)
        free(cache.p[--cache.n]);
}

static void
cache_key_new(void)
{
    GW_ASSERT(pthread_key_create(&cache_key, cache_drain) == 0);
}

void
px_buf_release(struct px_buf *b)
{
    if (b->p && b->cap == BUF_FIRST && cache.n < BUF_CACHED) {
        if (!cache.keyed) {
            pthread_once(&cache_once, cache_key_new);
            pthread_setspecific(cache_key, &cache);
            cache.keyed = true;
        }
        cache.p[cache.n++] = b->p;
    } else {
        free(b->p);
    }
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
        size_t ncap = b->cap ? b->cap : BUF_FIRST;
        while (ncap < need)
            ncap *= 2;
        if (ncap > b->max)
            ncap = b->max;
        if (!b->p && ncap == BUF_FIRST && cache.n)
            b->p = cache.p[--cache.n];
        else
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
