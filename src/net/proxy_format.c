/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PROXY protocol headers out: the v1 line and the v2 binary header for a
 * given pair of addresses, for sending PROXY to a backend and for tests.
 * A short buffer is never left half written: the v1 line is built in a
 * local buffer and copied out whole, the v2 header's size is known before
 * its first byte is written.
 */
#include <netinet/in.h>
#include <sys/un.h>

#include <string.h>

#include "net/internal.h"

#include "base/banned.h"

static size_t
put(uint8_t *b, size_t at, const void *p, size_t n)
{
    memcpy(b + at, p, n);
    return at + n;
}

static size_t
put_port(uint8_t *b, size_t at, uint16_t port)
{
    char tmp[5];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + port % 10);
        port /= 10;
    } while (port);
    while (k)
        b[at++] = (uint8_t)tmp[--k];
    return at;
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static size_t
text_of(const struct sockaddr_storage *ss, char *buf)
{
    if (ss->ss_family == AF_INET)
        return gw_net_ip4_format(
            (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr.s_addr, buf);
    return gw_net_ip6_format(((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr, false, buf);
}

int
gw_net_proxy_v1_format(const struct gw_net_proxy *h, uint8_t *buf, size_t cap)
{
    uint8_t line[GW_NET_PROXY_V1_MAX];
    size_t len = 0;
    if (h->local) {
        len = put(line, 0, "PROXY UNKNOWN\r\n", 15);
        goto out;
    }
    int fam = h->src.ss_family;
    if ((h->socktype != 0 && h->socktype != SOCK_STREAM) || fam != h->dst.ss_family ||
        (fam != AF_INET && fam != AF_INET6))
        return GW_EINVAL;
    char a[GW_NET_ADDR_TEXT_MAX + 1];
    len = put(line, 0, fam == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ", 11);
    len = put(line, len, a, text_of(&h->src, a));
    line[len++] = ' ';
    len = put(line, len, a, text_of(&h->dst, a));
    line[len++] = ' ';
    len = put_port(line, len, port_of(&h->src));
    line[len++] = ' ';
    len = put_port(line, len, port_of(&h->dst));
    len = put(line, len, "\r\n", 2);
out:
    if (len > cap)
        return GW_ELIMIT;
    memcpy(buf, line, len);
    return (int)len;
}

static size_t
put16(uint8_t *b, size_t at, size_t v)
{
    b[at] = (uint8_t)(v >> 8);
    b[at + 1] = (uint8_t)v;
    return at + 2;
}

static size_t
put_tlv(uint8_t *b, size_t at, uint8_t type, struct gw_str v)
{
    b[at++] = type;
    at = put16(b, at, v.len);
    return v.len ? put(b, at, v.p, v.len) : at;
}

int
gw_net_proxy_v2_format(const struct gw_net_proxy *h, uint8_t *buf, size_t cap)
{
    static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    int fam = h->local ? AF_UNSPEC : h->src.ss_family;
    size_t addr_len;
    uint8_t fam_nibble;
    switch (fam) {
    case AF_UNSPEC:
        addr_len = 0;
        fam_nibble = 0;
        break;
    case AF_INET:
        addr_len = 12;
        fam_nibble = 1;
        break;
    case AF_INET6:
        addr_len = 36;
        fam_nibble = 2;
        break;
    case AF_UNIX:
        addr_len = 216;
        fam_nibble = 3;
        break;
    default:
        return GW_EINVAL;
    }
    if (!h->local && h->dst.ss_family != fam)
        return GW_EINVAL;
    uint8_t tr = 0;
    if (!h->local) {
        if (h->socktype == 0 || h->socktype == SOCK_STREAM)
            tr = 1;
        else if (h->socktype == SOCK_DGRAM)
            tr = 2;
        else
            return GW_EINVAL;
    }
    /* sizes first: every TLV's value must fit its 16-bit length, and the
     * whole header our own parser's bound */
    size_t body = addr_len;
    if (h->has_alpn)
        body += 3 + h->alpn.len;
    if (h->has_authority)
        body += 3 + h->authority.len;
    if (h->has_unique_id) {
        if (h->unique_id.len > 128)
            return GW_EINVAL; /* spec 2.2.5; our parser refuses it */
        body += 3 + h->unique_id.len;
    }
    if (h->has_crc32c)
        body += 3 + 4;
    if (body > GW_NET_PROXY_V2_LEN_MAX || 16 + body > cap)
        return GW_ELIMIT;
    size_t at = put(buf, 0, sig, sizeof(sig));
    buf[at++] = h->local ? 0x20 : 0x21;
    buf[at++] = (uint8_t)(fam_nibble << 4 | tr);
    at = put16(buf, at, body);
    if (fam == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&h->src;
        const struct sockaddr_in *d = (const struct sockaddr_in *)&h->dst;
        at = put(buf, at, &s->sin_addr.s_addr, 4);
        at = put(buf, at, &d->sin_addr.s_addr, 4);
        at = put(buf, at, &s->sin_port, 2);
        at = put(buf, at, &d->sin_port, 2);
    } else if (fam == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&h->src;
        const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)&h->dst;
        at = put(buf, at, s->sin6_addr.s6_addr, 16);
        at = put(buf, at, d->sin6_addr.s6_addr, 16);
        at = put(buf, at, &s->sin6_port, 2);
        at = put(buf, at, &d->sin6_port, 2);
    } else if (fam == AF_UNIX) {
        at = put(buf, at, ((const struct sockaddr_un *)&h->src)->sun_path, 108);
        at = put(buf, at, ((const struct sockaddr_un *)&h->dst)->sun_path, 108);
    }
    if (h->has_alpn)
        at = put_tlv(buf, at, GW_NET_PP2_TYPE_ALPN, h->alpn);
    if (h->has_authority)
        at = put_tlv(buf, at, GW_NET_PP2_TYPE_AUTHORITY, h->authority);
    if (h->has_unique_id)
        at = put_tlv(buf, at, GW_NET_PP2_TYPE_UNIQUE_ID, h->unique_id);
    if (h->has_crc32c) {
        /* zeros while the checksum is computed, then the value (2.2.3) */
        static const uint8_t zeros[4];
        at = put_tlv(buf, at, GW_NET_PP2_TYPE_CRC32C, (struct gw_str){(const char *)zeros, 4});
        uint32_t c = gw_net_crc32c(0, buf, at);
        buf[at - 4] = (uint8_t)(c >> 24);
        buf[at - 3] = (uint8_t)(c >> 16);
        buf[at - 2] = (uint8_t)(c >> 8);
        buf[at - 1] = (uint8_t)c;
    }
    GW_ASSERT(at == 16 + body);
    return (int)at;
}
