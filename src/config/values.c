/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value syntaxes of the API: Gateway API durations (GEP-2257) and RFC 3339
 * timestamps. Strict: anything the API server would refuse is GW_EINVAL.
 */
#include <string.h>

#include "config/config.h"

#include "base/banned.h"

int
gw_duration_parse(struct gw_str s, int64_t *ms)
{
    /* ^([0-9]{1,5}(h|m|s|ms)){1,4}$ */
    size_t i = 0;
    int parts = 0;
    int64_t total = 0;
    if (s.len == 0)
        return GW_EINVAL;
    while (i < s.len) {
        if (++parts > 4)
            return GW_EINVAL;
        int64_t v = 0;
        size_t digits = 0;
        while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9') {
            v = v * 10 + (s.p[i] - '0');
            i++;
            if (++digits > 5)
                return GW_EINVAL;
        }
        if (digits == 0 || i >= s.len)
            return GW_EINVAL;
        int64_t unit;
        if (s.p[i] == 'h') {
            unit = 3600000;
            i++;
        } else if (s.p[i] == 'm' && i + 1 < s.len && s.p[i + 1] == 's') {
            unit = 1;
            i += 2;
        } else if (s.p[i] == 'm') {
            unit = 60000;
            i++;
        } else if (s.p[i] == 's') {
            unit = 1000;
            i++;
        } else {
            return GW_EINVAL;
        }
        total += v * unit;
    }
    *ms = total;
    return 0;
}

static int
digits(const char *p, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return GW_EINVAL;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date: count whole 400-year
 * eras, then days within the era with March as the first month so the leap
 * day falls at the end of the year. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int
gw_time_parse(struct gw_str s, int64_t *ms)
{
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
    const char *p = s.p;
    int y, mo, d, h, mi, se, frac_ms = 0;
    if (s.len < 20)
        return GW_EINVAL;
    if (digits(p, 4, &y) || p[4] != '-' || digits(p + 5, 2, &mo) || p[7] != '-' ||
        digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
        digits(p + 11, 2, &h) || p[13] != ':' || digits(p + 14, 2, &mi) || p[16] != ':' ||
        digits(p + 17, 2, &se))
        return GW_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return GW_EINVAL;
    size_t i = 19;
    if (i < s.len && p[i] == '.') {
        size_t start = ++i;
        int scale = 100;
        while (i < s.len && p[i] >= '0' && p[i] <= '9') {
            frac_ms += (p[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return GW_EINVAL;
    }
    int offset_min = 0;
    if (i < s.len && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i + 6 == s.len && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
        int oh, om;
        if (digits(p + i + 1, 2, &oh) || digits(p + i + 4, 2, &om) || oh > 23 || om > 59)
            return GW_EINVAL;
        offset_min = (oh * 60 + om) * (p[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return GW_EINVAL;
    }
    if (i != s.len)
        return GW_EINVAL;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}
