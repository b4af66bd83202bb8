/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go's time.ParseDuration, re-stated: the echo's `delay=` and `delayRetry=`
 * take Go syntax and the 500 reply quotes Go's error text, so both the
 * grammar ([-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0") and the messages follow
 * it.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "echo/echo.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

static int
fail(char *msg, size_t cap, struct gw_str orig, const char *what, struct gw_str unit)
{
    if (msg && cap) {
        if (unit.p)
            snprintf(msg, cap,
                     "time: unknown unit \"" GW_STR_FMT "\" in duration \"" GW_STR_FMT "\"",
                     GW_STR_ARG(unit), GW_STR_ARG(orig));
        else
            snprintf(msg, cap, "time: %s duration \"" GW_STR_FMT "\"", what, GW_STR_ARG(orig));
    }
    return GW_EINVAL;
}

static uint64_t
unit_ns(struct gw_str u)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", 60ull * 1000000000},
        {"h", 3600ull * 1000000000},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(units); i++) {
        if (gw_str_eq_cstr(u, units[i].name))
            return units[i].ns;
    }
    return 0;
}

int
gw_echo_duration_parse(struct gw_str s, uint64_t *ms, char *msg, size_t cap)
{
    const struct gw_str orig = s;
    const uint64_t max = (uint64_t)1 << 63; /* |int64| */
    bool neg = false;
    uint64_t total = 0;

    if (s.len && (s.p[0] == '-' || s.p[0] == '+')) {
        neg = s.p[0] == '-';
        s.p++;
        s.len--;
    }
    if (s.len == 1 && s.p[0] == '0') {
        *ms = 0;
        return 0;
    }
    if (s.len == 0)
        return fail(msg, cap, orig, "invalid", GW_STR_NULL);
    while (s.len) {
        size_t i = 0;
        uint64_t v = 0, frac = 0, scale = 1;
        bool pre = false, post = false;
        if (!(s.p[0] == '.' || (s.p[0] >= '0' && s.p[0] <= '9')))
            return fail(msg, cap, orig, "invalid", GW_STR_NULL);
        for (; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
            if (v > (max - 1) / 10)
                return fail(msg, cap, orig, "invalid", GW_STR_NULL);
            v = v * 10 + (uint64_t)(s.p[i] - '0');
            if (v > max - 1)
                return fail(msg, cap, orig, "invalid", GW_STR_NULL);
            pre = true;
        }
        if (i < s.len && s.p[i] == '.') {
            i++;
            bool overflow = false;
            for (; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
                post = true;
                if (overflow || frac > (max - 1) / 10) {
                    overflow = true; /* extra digits are dropped, as Go does */
                    continue;
                }
                frac = frac * 10 + (uint64_t)(s.p[i] - '0');
                scale *= 10;
                if (scale > (uint64_t)1e18)
                    overflow = true;
            }
        }
        if (!pre && !post)
            return fail(msg, cap, orig, "invalid", GW_STR_NULL);
        size_t u = i;
        while (u < s.len && s.p[u] != '.' && !(s.p[u] >= '0' && s.p[u] <= '9'))
            u++;
        if (u == i)
            return fail(msg, cap, orig, "missing unit in", GW_STR_NULL);
        struct gw_str unit = {s.p + i, u - i};
        uint64_t per = unit_ns(unit);
        if (!per)
            return fail(msg, cap, orig, NULL, unit);
        if (v > max / per)
            return fail(msg, cap, orig, "invalid", GW_STR_NULL);
        v *= per;
        if (frac) {
            /* frac/scale of a unit, in ns, without float rounding trouble */
            long double f = (long double)frac * (long double)per / (long double)scale;
            v += (uint64_t)f;
        }
        total += v;
        if (total > max)
            return fail(msg, cap, orig, "invalid", GW_STR_NULL);
        s.p += u;
        s.len -= u;
    }
    if (neg)
        total = 0; /* a negative sleep returns at once */
    *ms = (total + 999999) / 1000000;
    return 0;
}
