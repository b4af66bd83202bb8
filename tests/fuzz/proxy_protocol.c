/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_net_proxy_parse, the PROXY protocol header at the
 * start of a connection. The input is parsed whole and as prefixes a
 * reader would have seen while bytes trickled in: a prefix only asks for
 * more or fails the same way, and never succeeds differently from the
 * whole. Every borrowed TLV view lies inside the input. A header that
 * parses is formatted again (v2 always, v1 when it can carry it) and must
 * parse back to the same addresses and TLVs.
 */
#include <stdint.h>
#include <string.h>

#include "net/net.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
inside(struct gw_str s, const uint8_t *data, size_t size)
{
    if (s.len == 0)
        return true;
    const uint8_t *p = (const uint8_t *)s.p;
    return p >= data && p + s.len <= data + size;
}

static void
same(const struct gw_net_proxy *a, const struct gw_net_proxy *b, bool tlvs)
{
    if (a->local != b->local)
        __builtin_trap();
    if (!a->local && (a->socktype != b->socktype || memcmp(&a->src, &b->src, sizeof(a->src)) ||
                      memcmp(&a->dst, &b->dst, sizeof(a->dst))))
        __builtin_trap();
    if (!tlvs)
        return;
    if (a->has_alpn != b->has_alpn || !gw_str_eq(a->alpn, b->alpn) ||
        a->has_authority != b->has_authority || !gw_str_eq(a->authority, b->authority) ||
        a->has_unique_id != b->has_unique_id || !gw_str_eq(a->unique_id, b->unique_id) ||
        a->has_crc32c != b->has_crc32c)
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_net_proxy h, part, back;
    int rc = gw_net_proxy_parse(data, size, &h);
    if (rc != GW_EAGAIN && rc != GW_EPROTO && rc != GW_EPARSE && rc != GW_ELIMIT && rc <= 0)
        __builtin_trap();
    if (rc > 0 && ((size_t)rc > size || rc > GW_NET_PROXY_MAX))
        __builtin_trap();
    if (rc > 0 && (!inside(h.alpn, data, size) || !inside(h.authority, data, size) ||
                   !inside(h.unique_id, data, size) || !inside(h.ssl_version, data, size) ||
                   !inside(h.ssl_cn, data, size)))
        __builtin_trap();
    /* prefixes at a stride, so large inputs stay fast */
    size_t step = size / 64 + 1;
    for (size_t n = 0; n < size; n += step) {
        int prc = gw_net_proxy_parse(data, n, &part);
        if (prc != GW_EAGAIN && prc != rc)
            __builtin_trap(); /* decided early, differently */
    }
    if (rc <= 0)
        return 0;
    uint8_t buf[GW_NET_PROXY_MAX];
    int n = gw_net_proxy_v2_format(&h, buf, sizeof(buf));
    if (n <= 0 || gw_net_proxy_parse(buf, (size_t)n, &back) != n)
        __builtin_trap();
    same(&h, &back, true);
    bool v1_ok = h.local || ((h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6) &&
                             h.socktype == SOCK_STREAM);
    n = gw_net_proxy_v1_format(&h, buf, sizeof(buf));
    if (v1_ok != (n > 0))
        __builtin_trap();
    if (n > 0) {
        if (gw_net_proxy_parse(buf, (size_t)n, &back) != n)
            __builtin_trap();
        same(&h, &back, false);
    }
    return 0;
}
