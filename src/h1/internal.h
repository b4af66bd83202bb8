/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h1 internals: the byte-class table the parsers scan with, and the small
 * helpers head.c, chunked.c and util.c share. Never included outside h1.
 */
#ifndef GW_H1_INTERNAL_H
#define GW_H1_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "h1/h1.h"

/* Bits of gw_h1_class[byte]. */
#define H1_TCHAR 1u  /* RFC 9110 §5.6.2 tchar */
#define H1_VALUE 2u  /* field-value byte: VCHAR, obs-text, SP, HTAB */
#define H1_PATH  4u  /* RFC 3986 pchar plus '/' and '?' (no '#', no '[') */
#define H1_HOST  8u  /* reg-name/IP-literal/port bytes, without ',' and '@' */
#define H1_CHECK 16u /* '%', '[', ']': a target holding one needs a closer look */
#define H1_UNDER 32u /* '_' */

extern const uint8_t gw_h1_class[256];

static inline bool
h1_is(unsigned char c, unsigned bits)
{
    return (gw_h1_class[c] & bits) != 0;
}

static inline unsigned char
h1_lower(unsigned char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
}

/* Strips SP and HTAB from both ends. */
static inline struct gw_str
h1_trim(struct gw_str s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Case-insensitive compare of s against a lower-case literal. */
static inline bool
h1_lower_eq(struct gw_str s, const char *lower, size_t n)
{
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h1_lower((unsigned char)s.p[i]) != (unsigned char)lower[i])
            return false;
    return true;
}

#define H1_LOWER_EQ(s, lit) h1_lower_eq((s), (lit), sizeof(lit) - 1)

/* Validates uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2.2); with
 * need_port the port must be present and non-empty (authority-form). */
bool gw_h1_host_is_valid(struct gw_str s, bool need_port);

#endif /* GW_H1_INTERNAL_H */
