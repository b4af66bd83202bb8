/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base64 (RFC 4648), one implementation for every caller: the standard and
 * the URL alphabets, padding required, forbidden or optional, white space
 * skipped or not, and a canonical mode (the bits past the last byte must
 * be zero, so that a value has one spelling: tokens and credentials).
 */
#include <limits.h>

#include "base/base.h"

#include "base/banned.h"

static int
val(unsigned char c, unsigned flags)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    bool url = flags & (GW_B64_URL | GW_B64_BOTH), std = !(flags & GW_B64_URL);
    if ((c == '-' && url) || (c == '+' && std))
        return 62;
    if ((c == '_' && url) || (c == '/' && std))
        return 63;
    return -1;
}

static bool
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
gw_base64_decode(struct gw_str s, unsigned flags, uint8_t *out, size_t cap, size_t *bad)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0, nchars = 0, npad = 0, i;
    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if ((flags & GW_B64_SPACE) && is_space(c))
            continue;
        if (c == '=' && !(flags & GW_B64_NOPAD)) {
            npad++;
            continue;
        }
        int v = val(c, flags);
        if (v < 0 || npad)
            goto invalid; /* a stranger, or data after the padding */
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        nchars++;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap || o >= INT_MAX)
                return GW_ELIMIT;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* A lone character cannot make a byte; padding completes a quantum. */
    i = s.len ? s.len - 1 : 0;
    if (bits >= 6 || npad > 2 || ((flags & GW_B64_PAD) && (nchars + npad) % 4) ||
        (npad && (nchars + npad) % 4))
        goto invalid;
    if ((flags & GW_B64_CANONICAL) && (acc & ((1u << bits) - 1)))
        goto invalid;
    return (int)o;
invalid:
    if (bad)
        *bad = i;
    return GW_EINVAL;
}

size_t
gw_base64_encode(const uint8_t *in, size_t n, unsigned flags, char *out)
{
    const char *abc = flags & GW_B64_URL
                          ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = abc[v >> 6 & 63];
        else if (!(flags & GW_B64_NOPAD))
            out[o++] = '=';
        if (i + 2 < n)
            out[o++] = abc[v & 63];
        else if (!(flags & GW_B64_NOPAD))
            out[o++] = '=';
    }
    return o;
}
