/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PROXY protocol parser (haproxy doc/proxy-protocol.txt). Sans-I/O: it
 * sees the connection's first bytes again after each GW_EAGAIN and keeps
 * nothing between calls, so a header split over reads at any byte parses
 * the same as one read whole. The version is told from the first byte ('P'
 * or CR) and every later byte is checked against the signature as it
 * arrives, so a stream that is not PROXY at all is refused early. Nothing
 * is allocated; every length is checked against what is left before use.
 */
#include <netinet/in.h>
#include <sys/un.h>

#include <string.h>

#include "net/internal.h"

#include "base/banned.h"

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

enum {
    V2_HEADER = 16,
    V2_CMD_LOCAL = 0,
    V2_CMD_PROXY = 1,
    V2_FAM_UNSPEC = 0,
    V2_FAM_INET = 1,
    V2_FAM_INET6 = 2,
    V2_FAM_UNIX = 3,
    V2_TR_UNSPEC = 0,
    V2_TR_STREAM = 1,
    V2_TR_DGRAM = 2,
    V2_UNIX_PATH = 108,
    TLV_HEADER = 3,
    SSL_FIXED = 5, /* client (1) and verify (4) before the sub-TLVs */
    UNIQUE_ID_MAX = 128,
};

/* ------------------------------------------------------------------------ */
/* Version 1                                                                */

/* A port: decimal 0..65535, no leading zero (spec 2.1). */
static bool
port_parse(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool
v1_addr(const char *s, size_t n, int family, uint16_t port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        if (!gw_net_ip4_parse(s, n, (uint8_t *)&sin->sin_addr.s_addr))
            return false;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return true;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
    /* hex groups only, as the spec writes them; 128 bits exactly */
    if (!gw_net_ip6_parse(s, n, sin6->sin6_addr.s6_addr, false))
        return false;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    return true;
}

/* Decodes the line's fields: s[0..n) is what lies between "PROXY " and
 * the CRLF. */
static int
v1_fields(const char *s, size_t n, struct gw_net_proxy *out)
{
    if (n >= 7 && memcmp(s, "UNKNOWN", 7) == 0 && (n == 7 || s[7] == ' ')) {
        /* the rest is to be ignored (spec 2.1) */
        out->local = true;
        return 0;
    }
    int family;
    if (n >= 5 && memcmp(s, "TCP4 ", 5) == 0)
        family = AF_INET;
    else if (n >= 5 && memcmp(s, "TCP6 ", 5) == 0)
        family = AF_INET6;
    else
        return GW_EPARSE;
    /* exactly four fields, one SP between each: src dst sport dport */
    const char *f[4];
    size_t flen[4];
    size_t i = 5;
    for (int k = 0; k < 4; k++) {
        size_t start = i;
        while (i < n && s[i] != ' ')
            i++;
        if (i == start)
            return GW_EPARSE;
        f[k] = s + start;
        flen[k] = i - start;
        if (k < 3) {
            if (i == n)
                return GW_EPARSE;
            i++; /* the SP */
        }
    }
    if (i != n)
        return GW_EPARSE;
    uint16_t sport, dport;
    if (!port_parse(f[2], flen[2], &sport) || !port_parse(f[3], flen[3], &dport))
        return GW_EPARSE;
    if (!v1_addr(f[0], flen[0], family, sport, &out->src) ||
        !v1_addr(f[1], flen[1], family, dport, &out->dst))
        return GW_EPARSE;
    out->socktype = SOCK_STREAM;
    return 0;
}

static int
v1_parse(const uint8_t *p, size_t n, struct gw_net_proxy *out)
{
    size_t lim = GW_MIN(n, (size_t)GW_NET_PROXY_V1_MAX);
    for (size_t i = 6; i < lim; i++) {
        uint8_t c = p[i];
        if (c == '\r') {
            if (i + 2 > GW_NET_PROXY_V1_MAX)
                return GW_ELIMIT;
            if (i + 1 == n)
                return GW_EAGAIN;
            if (p[i + 1] != '\n')
                return GW_EPARSE; /* a lone CR */
            out->version = 1;
            int rc = v1_fields((const char *)p + 6, i - 6, out);
            return rc < 0 ? rc : (int)(i + 2);
        }
        if (c < 0x20 || c > 0x7e)
            return GW_EPARSE; /* a bare LF, a control byte, non-ASCII */
    }
    return n >= GW_NET_PROXY_V1_MAX ? GW_ELIMIT : GW_EAGAIN;
}

/* ------------------------------------------------------------------------ */
/* Version 2                                                                */

static uint16_t
be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The SSL TLV's value v[0..n): client, verify, then sub-TLVs. */
static int
ssl_parse(const uint8_t *v, size_t n, struct gw_net_proxy *out)
{
    if (n < SSL_FIXED)
        return GW_EPARSE;
    out->has_ssl = true;
    out->ssl_client = v[0];
    out->ssl_verify = be32(v + 1);
    bool have_version = false, have_cn = false;
    size_t off = SSL_FIXED;
    while (off < n) {
        if (n - off < TLV_HEADER)
            return GW_EPARSE;
        uint8_t type = v[off];
        size_t len = be16(v + off + 1);
        off += TLV_HEADER;
        if (len > n - off)
            return GW_EPARSE;
        struct gw_str val = {(const char *)v + off, len};
        if (type == GW_NET_PP2_SUBTYPE_SSL_VERSION) {
            if (have_version)
                return GW_EPARSE;
            have_version = true;
            out->ssl_version = val;
        } else if (type == GW_NET_PP2_SUBTYPE_SSL_CN) {
            if (have_cn)
                return GW_EPARSE;
            have_cn = true;
            out->ssl_cn = val;
        }
        off += len;
    }
    return 0;
}

/* Whether the CRC32C of h[0..total), with the four bytes at crc_at read as
 * zeros (spec 2.2.3), equals the value those bytes hold. */
static bool
crc_ok(const uint8_t *h, size_t total, size_t crc_at)
{
    static const uint8_t zeros[4];
    uint32_t c = gw_net_crc32c(0, h, crc_at);
    c = gw_net_crc32c(c, zeros, 4);
    c = gw_net_crc32c(c, h + crc_at + 4, total - crc_at - 4);
    return c == be32(h + crc_at);
}

static int
tlvs_parse(const uint8_t *h, size_t off, size_t total, struct gw_net_proxy *out)
{
    while (off < total) {
        if (total - off < TLV_HEADER)
            return GW_EPARSE;
        uint8_t type = h[off];
        size_t len = be16(h + off + 1);
        off += TLV_HEADER;
        if (len > total - off)
            return GW_EPARSE;
        struct gw_str val = {(const char *)h + off, len};
        switch (type) {
        case GW_NET_PP2_TYPE_ALPN:
            if (out->has_alpn)
                return GW_EPARSE;
            out->has_alpn = true;
            out->alpn = val;
            break;
        case GW_NET_PP2_TYPE_AUTHORITY:
            if (out->has_authority)
                return GW_EPARSE;
            out->has_authority = true;
            out->authority = val;
            break;
        case GW_NET_PP2_TYPE_UNIQUE_ID:
            if (out->has_unique_id || len > UNIQUE_ID_MAX)
                return GW_EPARSE;
            out->has_unique_id = true;
            out->unique_id = val;
            break;
        case GW_NET_PP2_TYPE_CRC32C:
            if (out->has_crc32c || len != 4 || !crc_ok(h, total, off))
                return GW_EPARSE;
            out->has_crc32c = true;
            break;
        case GW_NET_PP2_TYPE_SSL: {
            if (out->has_ssl)
                return GW_EPARSE;
            int rc = ssl_parse(h + off, len, out);
            if (rc < 0)
                return rc;
            break;
        }
        default:
            break; /* NOOP, NETNS, custom and future types: skipped */
        }
        off += len;
    }
    return 0;
}

static void
inet_set(struct sockaddr_storage *ss, int family, const uint8_t *addr, const uint8_t *port)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr.s_addr, addr, 4);
        memcpy(&sin->sin_port, port, 2); /* both in network order */
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(sin6->sin6_addr.s6_addr, addr, 16);
        memcpy(&sin6->sin6_port, port, 2);
    }
}

static void
unix_set(struct sockaddr_storage *ss, const uint8_t *path)
{
    _Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) >= V2_UNIX_PATH,
                   "sun_path holds the spec's 108 bytes");
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, V2_UNIX_PATH);
}

static int
v2_parse(const uint8_t *p, size_t n, struct gw_net_proxy *out)
{
    if (n < V2_HEADER)
        return GW_EAGAIN;
    unsigned cmd = p[12] & 0xf, fam = p[13] >> 4, tr = p[13] & 0xf;
    if (cmd > V2_CMD_PROXY || fam > V2_FAM_UNIX || tr > V2_TR_DGRAM)
        return GW_EPARSE;
    size_t len = be16(p + 14);
    if (len > GW_NET_PROXY_V2_LEN_MAX)
        return GW_ELIMIT;
    size_t total = V2_HEADER + len;
    if (n < total)
        return GW_EAGAIN;
    out->version = 2;
    if (fam == V2_FAM_UNSPEC && tr == V2_TR_UNSPEC) {
        /* \x00: no address block (what a LOCAL sender presents, 2.2), so
         * TLVs start right after the fixed header */
        out->local = true;
        int rc = tlvs_parse(p, V2_HEADER, total, out);
        return rc < 0 ? rc : (int)total;
    }
    if (fam == V2_FAM_UNSPEC || tr == V2_TR_UNSPEC) {
        /* one half unspecified: the block's layout is unknown, so it is
         * skipped whole, TLVs included */
        out->local = true;
        return (int)total;
    }
    size_t addr_len = fam == V2_FAM_INET ? 12 : fam == V2_FAM_INET6 ? 36 : 2 * V2_UNIX_PATH;
    if (cmd == V2_CMD_LOCAL && len == 0) {
        out->local = true;
        return (int)total;
    }
    if (len < addr_len)
        return GW_EPARSE;
    const uint8_t *a = p + V2_HEADER;
    if (cmd == V2_CMD_LOCAL) {
        out->local = true;
    } else if (fam == V2_FAM_UNIX) {
        unix_set(&out->src, a);
        unix_set(&out->dst, a + V2_UNIX_PATH);
    } else {
        int family = fam == V2_FAM_INET ? AF_INET : AF_INET6;
        size_t w = fam == V2_FAM_INET ? 4 : 16;
        inet_set(&out->src, family, a, a + 2 * w);
        inet_set(&out->dst, family, a + w, a + 2 * w + 2);
    }
    if (!out->local)
        out->socktype = tr == V2_TR_STREAM ? SOCK_STREAM : SOCK_DGRAM;
    int rc = tlvs_parse(p, V2_HEADER + addr_len, total, out);
    return rc < 0 ? rc : (int)total;
}

int
gw_net_proxy_parse(const uint8_t *p, size_t n, struct gw_net_proxy *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return GW_EAGAIN;
    if (p[0] == v2_sig[0]) {
        if (memcmp(p, v2_sig, GW_MIN(n, sizeof(v2_sig))) != 0)
            return GW_EPROTO;
        if (n <= sizeof(v2_sig))
            return GW_EAGAIN;
        if (p[12] >> 4 != 2)
            return GW_EPROTO;
        return v2_parse(p, n, out);
    }
    static const char v1_sig[] = "PROXY ";
    if (memcmp(p, v1_sig, GW_MIN(n, sizeof(v1_sig) - 1)) != 0)
        return GW_EPROTO;
    if (n < sizeof(v1_sig) - 1)
        return GW_EAGAIN;
    return v1_parse(p, n, out);
}
