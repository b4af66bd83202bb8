/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nghttp2 glue shared by the echo backend and the proxy: the allocator on
 * gw_xmalloc, lower-case field names.
 */
#include "h2/h2.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#include "base/banned.h"

/*
 * nghttp2 allocates a dozen small blocks per stream and frame (the stream,
 * its outbound items, copies of the fields): a gRPC call through the proxy
 * paid ~3,000 instructions for them in malloc and free, whose per-thread
 * cache holds 7 blocks per size, far fewer than hundreds of streams in
 * flight release at once. Blocks up to CLASS_MAX are kept per thread in
 * power-of-two classes (a 16-byte header carries the size), CLASS_KEEP per
 * class; larger ones go to malloc. None are kept in sanitizer builds, where
 * a freed block must stay poisoned for use-after-free to show.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CLASS_KEEP 0u
#else
#define CLASS_KEEP 256u
#endif
#define CLASS_MIN_SHIFT 5 /* 32 bytes */
#define NCLASSES        8 /* up to 4 KiB */
#define CLASS_MAX       ((size_t)1 << (CLASS_MIN_SHIFT + NCLASSES - 1))
#define BIG             NCLASSES

struct hdr {
    size_t size;  /* the payload's room */
    size_t klass; /* its class, or BIG */
};

struct freed {
    struct freed *next;
};

static _Thread_local struct {
    struct freed *head[NCLASSES];
    unsigned n[NCLASSES];
    bool keyed; /* the key's destructor frees them when the thread ends */
} kept;

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void
kept_drain(void *unused)
{
    (void)unused;
    for (size_t k = 0; k < NCLASSES; k++) {
        while (kept.head[k]) {
            struct freed *f = kept.head[k];
            kept.head[k] = f->next;
            free((struct hdr *)(void *)f - 1);
        }
        kept.n[k] = 0;
    }
}

static void
kept_key_new(void)
{
    GW_ASSERT(pthread_key_create(&kept_key, kept_drain) == 0);
}

static size_t
class_of(size_t size)
{
    size_t k = 0;
    while (((size_t)1 << (CLASS_MIN_SHIFT + k)) < size)
        k++;
    return k;
}

static void *
mem_malloc(size_t size, void *ud)
{
    (void)ud;
    if (size > CLASS_MAX) {
        struct hdr *h = gw_xmalloc(sizeof(*h) + size);
        *h = (struct hdr){size, BIG};
        return h + 1;
    }
    size_t k = class_of(size);
    struct freed *f = kept.head[k];
    if (f) {
        kept.head[k] = f->next;
        kept.n[k]--;
        return f;
    }
    size_t room = (size_t)1 << (CLASS_MIN_SHIFT + k);
    struct hdr *h = gw_xmalloc(sizeof(*h) + room);
    *h = (struct hdr){room, k};
    return h + 1;
}

static void
mem_free(void *p, void *ud)
{
    (void)ud;
    if (!p)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    size_t k = h->klass;
    if (k == BIG || kept.n[k] + 1 > CLASS_KEEP) { /* (not >=: CLASS_KEEP may be 0) */
        free(h);
        return;
    }
    if (!kept.keyed) {
        pthread_once(&kept_once, kept_key_new);
        pthread_setspecific(kept_key, &kept);
        kept.keyed = true;
    }
    struct freed *f = p;
    f->next = kept.head[k];
    kept.head[k] = f;
    kept.n[k]++;
}

static void *
mem_calloc(size_t n, size_t size, void *ud)
{
    if (size && n > SIZE_MAX / size)
        abort(); /* as gw_xcalloc would */
    void *p = mem_malloc(n * size, ud);
    memset(p, 0, n * size);
    return p;
}

static void *
mem_realloc(void *p, size_t size, void *ud)
{
    if (!p)
        return mem_malloc(size, ud);
    struct hdr *h = (struct hdr *)p - 1;
    if (size <= h->size)
        return p;
    void *q = mem_malloc(size, ud);
    memcpy(q, p, h->size);
    mem_free(p, ud);
    return q;
}

nghttp2_mem *
gw_h2_mem(void)
{
    /* Not const: nghttp2 takes a mutable pointer, but only copies it. */
    static nghttp2_mem mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};
    return &mem;
}

void
gw_h2_name_lower(char *out, const char *name, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char ch = name[k];
        out[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
}
