/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nghttp2 glue shared by the echo backend and the proxy: the allocator on
 * gw_xmalloc, lower-case field names.
 */
#include "h2/h2.h"

#include <stdlib.h>

#include "base/base.h"

#include "base/banned.h"

/* nghttp2 may ask for zero bytes; gw_x* always return a block. */
static void *
mem_malloc(size_t size, void *ud)
{
    (void)ud;
    return gw_xmalloc(size ? size : 1);
}

static void
mem_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

static void *
mem_calloc(size_t n, size_t size, void *ud)
{
    (void)ud;
    return gw_xcalloc(n ? n : 1, size ? size : 1);
}

static void *
mem_realloc(void *p, size_t size, void *ud)
{
    (void)ud;
    return gw_xrealloc(p, size ? size : 1);
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
