/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: address literals, CIDR sets and the X-Forwarded-For
 * client. The first byte is a hop count; the rest, split at '|', is CIDR
 * strings and last an X-Forwarded-For value. Every literal that parses
 * formats and parses back to the same bytes; every CIDR that parses is in
 * the set built from them at both ends of its range, agreeing with a
 * linear scan; both XFF walks return only their documented codes, and an
 * address they return agrees with the set.
 */
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>

#include "net/net.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_CIDRS = 64 };

static const uint8_t *
bytes_of(const struct sockaddr_storage *ss, size_t *n)
{
    if (ss->ss_family == AF_INET) {
        *n = 4;
        return (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr.s_addr;
    }
    *n = 16;
    return ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
}

static bool
prefix_has(const struct gw_net_cidr *c, const uint8_t *a)
{
    unsigned bits = c->bits, k = 0;
    for (; bits >= 8; bits -= 8, k++)
        if (a[k] != c->addr[k])
            return false;
    return bits == 0 || ((a[k] ^ c->addr[k]) & (0xff00u >> bits)) == 0;
}

/* The set's meaning, one prefix at a time. */
static bool
linear_has(const struct gw_net_cidr *c, size_t n, const struct sockaddr_storage *ss)
{
    static const uint8_t pre[12] = {[10] = 0xff, [11] = 0xff};
    size_t len;
    const uint8_t *a = bytes_of(ss, &len);
    uint8_t mapped[16];
    memcpy(mapped, pre, 12);
    if (len == 4)
        memcpy(mapped + 12, a, 4);
    bool is_mapped = len == 16 && memcmp(a, pre, 12) == 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].family == AF_INET6 && prefix_has(&c[i], len == 4 ? mapped : a))
            return true;
        if (c[i].family == AF_INET && (len == 4 || is_mapped) &&
            prefix_has(&c[i], len == 4 ? a : a + 12))
            return true;
    }
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned hops = data[0] % (GW_NET_XFF_WALK_MAX + 2);
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    struct gw_net_cidr c[MAX_CIDRS];
    size_t nc = 0;
    const char *bar;
    while ((bar = memchr(p, '|', (size_t)(end - p))) != NULL) {
        struct gw_str s = {p, (size_t)(bar - p)};
        p = bar + 1;
        struct sockaddr_storage a, b;
        if (gw_net_addr_parse(s, &a) == 0) {
            char t[GW_NET_ADDR_TEXT_MAX + 1];
            int len = gw_net_addr_format((const struct sockaddr *)&a, t, sizeof(t));
            if (len <= 0 || gw_net_addr_parse((struct gw_str){t, (size_t)len}, &b) != 0 ||
                memcmp(&a, &b, sizeof(a)) != 0)
                __builtin_trap();
        }
        if (nc < MAX_CIDRS && gw_net_cidr_parse(s, &c[nc]) == 0) {
            if (c[nc].bits > (c[nc].family == AF_INET ? 32u : 128u))
                __builtin_trap();
            nc++;
        }
    }
    struct gw_net_cidr_set *set = gw_net_cidr_set_new(c, nc);
    for (size_t i = 0; i < nc; i++) {
        /* the first and the last address of each prefix are members */
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        ss.ss_family = (sa_family_t)c[i].family;
        size_t len;
        uint8_t *a = (uint8_t *)bytes_of(&ss, &len);
        memcpy(a, c[i].addr, len);
        if (!gw_net_cidr_set_has(set, (const struct sockaddr *)&ss))
            __builtin_trap();
        for (unsigned bit = c[i].bits; bit < 8 * len; bit++)
            a[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
        if (!gw_net_cidr_set_has(set, (const struct sockaddr *)&ss) || !linear_has(c, nc, &ss))
            __builtin_trap();
        /* and one past the last agrees with the linear scan */
        size_t k = len;
        while (k > 0 && ++a[k - 1] == 0)
            k--;
        if (gw_net_cidr_set_has(set, (const struct sockaddr *)&ss) != linear_has(c, nc, &ss))
            __builtin_trap();
    }
    struct gw_str xff = {p, (size_t)(end - p)};
    struct sockaddr_storage out;
    int rc = gw_net_xff_hop_parse(xff, hops, &out);
    if (rc != 0 && rc != GW_ENOTFOUND && rc != GW_EPARSE && rc != GW_EINVAL)
        __builtin_trap();
    if ((hops == 0 || hops > GW_NET_XFF_WALK_MAX) != (rc == GW_EINVAL))
        __builtin_trap();
    if (rc == 0 &&
        gw_net_cidr_set_has(set, (const struct sockaddr *)&out) != linear_has(c, nc, &out))
        __builtin_trap();
    rc = gw_net_xff_trusted_parse(xff, set, &out);
    if (rc != 0 && rc != GW_ENOTFOUND && rc != GW_EPARSE && rc != GW_ELIMIT)
        __builtin_trap();
    if (rc == 0 &&
        gw_net_cidr_set_has(set, (const struct sockaddr *)&out) != linear_has(c, nc, &out))
        __builtin_trap();
    gw_net_cidr_set_free(set);
    return 0;
}
