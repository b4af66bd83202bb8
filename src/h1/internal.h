/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h1 internals: the byte-class table the parsers scan with, and the small
 * helpers head.c, chunked.c and util.c share. Never included outside h1.
 */
#ifndef GW_H1_INTERNAL_H
#define GW_H1_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "h1/h1.h"

/* Bits of gw_h1_class[byte]. */
#define H1_TCHAR 1u  /* RFC 9110 §5.6.2 tchar */
#define H1_VALUE 2u  /* field-value byte: VCHAR, obs-text, SP, HTAB */
#define H1_PATH  4u  /* RFC 3986 pchar plus '/' and '?' (no '#', no '[') */
#define H1_HOST  8u  /* reg-name/IP-literal/port bytes, without ',' and '@' */
#define H1_CHECK 16u /* '%', '[', ']': a target holding one needs a closer look */
#define H1_UNDER 32u /* '_' */
#define H1_REG   64u /* H1_HOST without ':', '[' and ']': a reg-name or IPv4 byte */

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

/*
 * SWAR: eight bytes in a uint64_t, byte i of the input in bits 8i..8i+7
 * (h1_load8 swaps on big-endian hosts), so the first byte a mask flags is
 * its lowest set bit. The tests below work on bytes below 0x80, where no
 * sum carries into the next byte, so every byte's answer is exact.
 */
#define H1_ONES 0x0101010101010101ull
#define H1_HIGH 0x8080808080808080ull

static inline uint64_t
h1_load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The high bit of each byte of x7 (all below 0x80) in [lo, hi]. */
static inline uint64_t
h1_swar_in(uint64_t x7, unsigned lo, unsigned hi)
{
    return (x7 + H1_ONES * (0x80u - lo)) & ~(x7 + H1_ONES * (0x7fu - hi)) & H1_HIGH;
}

/* The high bit of each byte of x that is not [0-9A-Za-z-], the bytes most
 * field names are made of. */
static inline uint64_t
h1_swar_not_name(uint64_t x)
{
    uint64_t x7 = x & ~H1_HIGH;
    uint64_t ok = h1_swar_in(x7, '0', '9') | h1_swar_in(x7 | H1_ONES * 0x20, 'a', 'z') |
                  h1_swar_in(x7, '-', '-');
    return ~(ok & ~x) & H1_HIGH;
}

/* Index of the first flagged byte of a non-zero SWAR mask. */
static inline unsigned
h1_swar_first(uint64_t m)
{
    return (unsigned)__builtin_ctzll(m) >> 3;
}

/* s equals the lower-case literal lower (n bytes of letters, digits and
 * '-'), ignoring case, for s made of tchar or field-value bytes: setting
 * bit 0x20 maps only 'A'-'Z' onto a letter and only '-' onto '-' among
 * those, so a word-wide OR-and-compare is exact. */
static inline bool
h1_word_eq(struct gw_str s, const char *lower, size_t n)
{
    if (s.len != n)
        return false;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            if ((h1_load8(s.p + i) | H1_ONES * 0x20) != h1_load8(lower + i))
                return false;
        return i == n || (h1_load8(s.p + n - 8) | H1_ONES * 0x20) == h1_load8(lower + n - 8);
    }
    if (n >= 4) {
        uint32_t a, b, c, d;
        memcpy(&a, s.p, 4);
        memcpy(&b, lower, 4);
        memcpy(&c, s.p + n - 4, 4);
        memcpy(&d, lower + n - 4, 4);
        return (a | 0x20202020u) == b && (c | 0x20202020u) == d;
    }
    return h1_lower_eq(s, lower, n);
}

#define H1_WORD_EQ(s, lit) h1_word_eq((s), (lit), sizeof(lit) - 1)

/* Validates uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2.2); with
 * need_port the port must be present and non-empty (authority-form). */
bool gw_h1_host_is_valid(struct gw_str s, bool need_port);

#endif /* GW_H1_INTERNAL_H */
