/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation that never returns NULL. Running out of memory is not a state
 * the gateway can serve traffic from, so it aborts loudly; growth that input
 * drives is bounded by explicit limits long before this point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#include "base/banned.h"

static GW_NORETURN void
oom(size_t n)
{
    fprintf(stderr, "gatehouse: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
gw_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *
gw_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *
gw_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

void *
gw_xgrow(void *p, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return p;
    size_t ncap = *cap ? *cap : 4;
    while (ncap < want) {
        if (ncap > SIZE_MAX / 2 / elem)
            oom(SIZE_MAX);
        ncap *= 2;
    }
    p = gw_xrealloc(p, ncap * elem);
    *cap = ncap;
    return p;
}

char *
gw_xstrdup(const char *s)
{
    return gw_xstrndup(s, strlen(s));
}

char *
gw_xstrndup(const char *s, size_t n)
{
    char *p = gw_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
gw_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return s;
}
