/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: hostname matching and intersection as the Gateway API defines
 * them. A wildcard "*.example.com" matches one or more leading labels
 * ("a.example.com", "a.b.example.com") but never "example.com" itself.
 */
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

static bool
is_wild(const char *h)
{
    return h[0] == '*' && h[1] == '.';
}

bool
tr_host_matches(const char *pattern, const char *host)
{
    if (!pattern || !strcmp(pattern, "*"))
        return true;
    if (!is_wild(pattern))
        return !strcasecmp(pattern, host);
    const char *suffix = pattern + 1; /* ".example.com" */
    size_t sl = strlen(suffix), hl = strlen(host);
    /* At least one label before the suffix. */
    return hl > sl + 0 && hl - sl >= 1 && host[0] != '.' && !strcasecmp(host + hl - sl, suffix);
}

const char *
tr_host_intersect(const char *lh, const char *rh)
{
    if (!lh && !rh)
        return "*";
    if (!lh)
        return rh;
    if (!rh)
        return lh;
    bool lw = is_wild(lh), rw = is_wild(rh);
    if (!lw && !rw)
        return !strcasecmp(lh, rh) ? lh : NULL;
    if (lw && !rw)
        return tr_host_matches(lh, rh) ? rh : NULL;
    if (!lw && rw)
        return tr_host_matches(rh, lh) ? lh : NULL;
    /* Both wildcards: the more specific one, if one contains the other. */
    if (!strcasecmp(lh, rh))
        return lh;
    if (tr_host_matches(lh, rh + 2))
        return rh;
    if (tr_host_matches(rh, lh + 2))
        return lh;
    return NULL;
}
