/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Arenas: bump allocation from chunks, released all at once (nginx pools,
 * h2o mem pools). Large requests get a chunk of their own. Cleanups run in
 * reverse order of registration when the arena is released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#include "base/banned.h"

#define ARENA_ALIGN   16
#define ARENA_DEFAULT (16 * 1024)

struct gw_arena_chunk {
    struct gw_arena_chunk *next;
    size_t used, size; /* data[0, used): aligned blocks; [size, ...): strings */
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct gw_arena_cleanup {
    struct gw_arena_cleanup *next;
    gw_cleanup_fn fn;
    void *data;
};

void
gw_arena_init(struct gw_arena *a, size_t chunk_size)
{
    a->chunk = NULL;
    a->cleanups = NULL;
    a->chunk_size = chunk_size ? chunk_size : ARENA_DEFAULT;
    a->total = 0;
}

void
gw_arena_release(struct gw_arena *a)
{
    while (a->cleanups) {
        struct gw_arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->data);
    }
    while (a->chunk) {
        struct gw_arena_chunk *c = a->chunk;
        a->chunk = c->next;
        free(c);
    }
    a->total = 0;
}

static struct gw_arena_chunk *
chunk_new(size_t size)
{
    struct gw_arena_chunk *c = gw_xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->used = 0;
    c->size = size;
    return c;
}

void *
gw_arena_alloc_uninit(struct gw_arena *a, size_t n)
{
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    struct gw_arena_chunk *c = a->chunk;
    if (!c || c->size - c->used < need) {
        if (need > a->chunk_size / 4) {
            /* A big block gets its own chunk, kept behind the current one so
             * the current chunk's free tail stays usable. */
            struct gw_arena_chunk *big = chunk_new(need);
            big->used = need;
            if (c) {
                big->next = c->next;
                c->next = big;
            } else {
                a->chunk = big;
            }
            a->total += n;
            return big->data;
        }
        c = chunk_new(a->chunk_size);
        c->next = a->chunk;
        a->chunk = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->total += n;
    return p;
}

void *
gw_arena_alloc(struct gw_arena *a, size_t n)
{
    void *p = gw_arena_alloc_uninit(a, n);
    memset(p, 0, n ? n : 1);
    return p;
}

char *
gw_arena_strndup(struct gw_arena *a, const char *s, size_t n)
{
    /* Strings need no alignment: they are packed down from the top of the
     * current chunk while the aligned blocks grow up from its bottom (a
     * chunk's size is where its strings begin). Rounded to 16 bytes each,
     * the short names, namespaces and hostnames of 100,000 routes' decoded
     * objects, IR and statuses took some 6 MiB more. */
    struct gw_arena_chunk *c = a->chunk;
    char *p;
    if (c && c->size - c->used > n) {
        c->size -= n + 1;
        p = (char *)c->data + c->size;
        a->total += n + 1;
    } else {
        p = gw_arena_alloc_uninit(a, n + 1);
    }
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
gw_arena_strdup(struct gw_arena *a, const char *s)
{
    return s ? gw_arena_strndup(a, s, strlen(s)) : NULL;
}

void *
gw_arena_memdup(struct gw_arena *a, const void *p, size_t n)
{
    void *q = gw_arena_alloc_uninit(a, n);
    if (n)
        memcpy(q, p, n);
    return q;
}

char *
gw_arena_sprintf(struct gw_arena *a, const char *fmt, ...)
{
    /* Formatted straight into the current chunk's free tail; a second pass
     * only when it did not fit. */
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    struct gw_arena_chunk *c = a->chunk;
    /* Whole alignment units only, so that what fits here is what
     * gw_arena_alloc_uninit hands out from this chunk. */
    size_t room = c ? (c->size - c->used) & ~(size_t)(ARENA_ALIGN - 1) : 0;
    char *tail = c ? (char *)c->data + c->used : NULL;
    int n = vsnprintf(tail, room, fmt, ap);
    va_end(ap);
    GW_ASSERT(n >= 0);
    char *p = gw_arena_alloc_uninit(a, (size_t)n + 1);
    if ((size_t)n < room)
        GW_ASSERT(p == tail); /* formatted in place already */
    else
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void
gw_arena_on_release(struct gw_arena *a, gw_cleanup_fn fn, void *data)
{
    struct gw_arena_cleanup *c = gw_arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

size_t
gw_arena_total(const struct gw_arena *a)
{
    return a->total;
}
