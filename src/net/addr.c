/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Address literals, by hand rather than inet_pton/inet_ntop: the input is a
 * counted view (no NUL to rely on), the rules are stricter than libc's in
 * places (no dotted tail for PROXY v1), and the output must be the same on
 * every libc (RFC 5952 text for PROXY v1 lines and tests).
 */
#include <netinet/in.h>

#include <string.h>

#include "net/internal.h"

#include "base/banned.h"

bool
gw_net_ip4_parse(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        size_t len = i - start;
        /* no digits, a fourth digit, a leading zero (octal to some), > 255 */
        if (len == 0 || (i < n && s[i] >= '0' && s[i] <= '9') || (len > 1 && s[start] == '0') ||
            v > 255)
            return false;
        out[part] = (uint8_t)v;
    }
    return i == n;
}

bool
gw_net_ip6_parse(const char *s, size_t n, uint8_t out[16], bool v4_tail)
{
    uint16_t g[8];
    int ng = 0, gap = -1; /* gap: index in g where "::" stands */
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    }
    while (i < n) {
        size_t start = i;
        unsigned v = 0;
        int d;
        while (i < n && i - start < 5 && (d = gw_hex_digit((unsigned char)s[i])) >= 0) {
            v = (v << 4) | (unsigned)d;
            i++;
        }
        if (i < n && s[i] == '.') {
            /* the dotted tail: the last 32 bits, to the end of s */
            uint8_t a4[4];
            if (!v4_tail || ng > 6 || !gw_net_ip4_parse(s + start, n - start, a4))
                return false;
            g[ng++] = (uint16_t)(a4[0] << 8 | a4[1]);
            g[ng++] = (uint16_t)(a4[2] << 8 | a4[3]);
            i = n;
            break;
        }
        if (i == start || i - start > 4 || ng == 8)
            return false;
        g[ng++] = (uint16_t)v;
        if (i == n)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return false;
            gap = ng;
            i++;
            if (i == n)
                break;
        } else if (i == n) {
            return false; /* a trailing single colon */
        }
    }
    if (gap >= 0) {
        if (ng > 7)
            return false;
        int fill = 8 - ng;
        memmove(g + gap + fill, g + gap, (size_t)(ng - gap) * sizeof(g[0]));
        for (int k = 0; k < fill; k++)
            g[gap + k] = 0;
    } else if (ng != 8) {
        return false;
    }
    for (int k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(g[k] >> 8);
        out[2 * k + 1] = (uint8_t)g[k];
    }
    return true;
}

bool
gw_net_ip6_is_mapped(const uint8_t a[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, sizeof(prefix)) == 0;
}

static size_t
put_dec(char *buf, unsigned v)
{
    char tmp[3];
    size_t k = 0, len = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        buf[len++] = tmp[--k];
    return len;
}

size_t
gw_net_ip4_format(const uint8_t a[4], char *buf)
{
    size_t len = 0;
    for (int k = 0; k < 4; k++) {
        if (k)
            buf[len++] = '.';
        len += put_dec(buf + len, a[k]);
    }
    buf[len] = '\0';
    return len;
}

size_t
gw_net_ip6_format(const uint8_t a[16], bool dotted, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    if (dotted && gw_net_ip6_is_mapped(a)) {
        memcpy(buf, "::ffff:", 7);
        return 7 + gw_net_ip4_format(a + 12, buf + 7);
    }
    uint16_t g[8];
    for (int k = 0; k < 8; k++)
        g[k] = (uint16_t)(a[2 * k] << 8 | a[2 * k + 1]);
    /* RFC 5952 4.2: the longest run of two or more zero groups, the first
     * one on a tie, becomes "::". */
    int best = -1, best_len = 1;
    for (int k = 0; k < 8;) {
        if (g[k] != 0) {
            k++;
            continue;
        }
        int j = k;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - k > best_len) {
            best = k;
            best_len = j - k;
        }
        k = j;
    }
    size_t len = 0;
    for (int k = 0; k < 8; k++) {
        if (k == best) {
            buf[len++] = ':';
            buf[len++] = ':';
            k += best_len - 1;
            continue;
        }
        if (k > 0 && k != best + best_len)
            buf[len++] = ':';
        bool lead = true;
        for (int sh = 12; sh >= 0; sh -= 4) {
            unsigned d = (g[k] >> sh) & 0xf;
            if (d == 0 && lead && sh > 0)
                continue;
            lead = false;
            buf[len++] = hex[d];
        }
    }
    buf[len] = '\0';
    return len;
}

int
gw_net_addr_parse(struct gw_str s, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (s.len == 0 || s.p == NULL)
        return GW_EPARSE;
    if (memchr(s.p, ':', s.len)) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        if (!gw_net_ip6_parse(s.p, s.len, sin6->sin6_addr.s6_addr, true))
            return GW_EPARSE;
        sin6->sin6_family = AF_INET6;
        return 0;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    if (!gw_net_ip4_parse(s.p, s.len, (uint8_t *)&sin->sin_addr.s_addr))
        return GW_EPARSE;
    sin->sin_family = AF_INET;
    return 0;
}

int
gw_net_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
    char tmp[GW_NET_ADDR_TEXT_MAX + 1];
    size_t len;
    if (sa->sa_family == AF_INET)
        len = gw_net_ip4_format(
            (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr, tmp);
    else if (sa->sa_family == AF_INET6)
        len = gw_net_ip6_format(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr,
                                true, tmp);
    else
        return GW_EINVAL;
    if (len + 1 > cap)
        return GW_ELIMIT;
    memcpy(buf, tmp, len + 1);
    return (int)len;
}
