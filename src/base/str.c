/* SPDX-License-Identifier: Apache-2.0 */
/* Borrowed string views: comparisons and small parsers over (ptr, len). */
#include <string.h>
#include <strings.h>

#include "base/base.h"

#include "base/banned.h"

struct gw_str
gw_str_from(const char *cstr)
{
    if (!cstr)
        return GW_STR_NULL;
    return (struct gw_str){cstr, strlen(cstr)};
}

bool
gw_str_eq(struct gw_str a, struct gw_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
gw_str_eq_cstr(struct gw_str a, const char *b)
{
    return gw_str_eq(a, gw_str_from(b));
}

bool
gw_str_caseeq(struct gw_str a, struct gw_str b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

bool
gw_str_has_prefix(struct gw_str s, struct gw_str prefix)
{
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.p, prefix.p, prefix.len) == 0);
}

bool
gw_str_has_suffix(struct gw_str s, struct gw_str suffix)
{
    return s.len >= suffix.len &&
           (suffix.len == 0 || memcmp(s.p + s.len - suffix.len, suffix.p, suffix.len) == 0);
}

struct gw_str
gw_str_trim(struct gw_str s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

int
gw_str_to_u64(struct gw_str s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0)
        return GW_EINVAL;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9)
            return GW_EINVAL;
        if (v > (max - d) / 10)
            return GW_ELIMIT;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
