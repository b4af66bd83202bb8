/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict base64 decoders (RFC 4648): base64url without padding for JWS
 * segments and JWK members, standard base64 with padding for Basic
 * credentials and {SHA} hashes. Both accept only the canonical spelling
 * (the bits past the last byte must be zero), so a token has exactly one
 * encoding: a client cannot make a second spelling of a cached or
 * logged token.
 */
#include <string.h>

#include "auth/internal.h"

#include "base/banned.h"

static int
val_url(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

static int
val_std(unsigned char c)
{
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == '-' || c == '_')
        return -1;
    return val_url(c);
}

/* Decodes s (no padding) with the alphabet val; len % 4 != 1. */
static int
decode(struct gw_str s, int (*val)(unsigned char), uint8_t *out, size_t out_len)
{
    if (s.len % 4 == 1)
        return GW_EINVAL;
    size_t need = s.len / 4 * 3 + (s.len % 4 ? s.len % 4 - 1 : 0);
    if (need > out_len)
        return GW_ELIMIT;
    if (need > INT32_MAX)
        return GW_ELIMIT;
    size_t o = 0;
    for (size_t i = 0; i < s.len; i += 4) {
        size_t k = GW_MIN((size_t)4, s.len - i);
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int c = j < k ? val((unsigned char)s.p[i + j]) : 0;
            if (c < 0)
                return GW_EINVAL;
            v = v << 6 | (uint32_t)c;
        }
        out[o++] = (uint8_t)(v >> 16);
        if (k > 2)
            out[o++] = (uint8_t)(v >> 8);
        if (k > 3)
            out[o++] = (uint8_t)v;
        /* Bits past the last byte must be zero: one spelling per value. */
        if ((k == 2 && (v & 0xffff)) || (k == 3 && (v & 0xff)))
            return GW_EINVAL;
    }
    GW_ASSERT(o == need);
    return (int)o;
}

int
auth_b64url_decode(struct gw_str s, uint8_t *out, size_t out_len)
{
    return decode(s, val_url, out, out_len);
}

int
auth_b64_decode(struct gw_str s, uint8_t *out, size_t out_len)
{
    if (s.len % 4 != 0)
        return GW_EINVAL;
    size_t pad = 0;
    if (s.len >= 1 && s.p[s.len - 1] == '=')
        pad = s.len >= 2 && s.p[s.len - 2] == '=' ? 2 : 1;
    struct gw_str body = {s.p, s.len - pad};
    /* Any '=' left inside the body fails the alphabet check. */
    return decode(body, val_std, out, out_len);
}
