/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net proxy.c and proxy_format.c: the PROXY protocol. v1 lines good and
 * broken in every field, v2 headers of each family and command with their
 * TLVs (CRC32C good and bad), every header cut at every byte, early refusal
 * of streams that are not PROXY, and formatter round trips.
 */
#include <netinet/in.h>
#include <sys/un.h>

#include <stdio.h>
#include <string.h>

#include "net/net.h"
#include "tap.h"

#include "base/banned.h"

/* "addr port" of ss, in one of four rotating static buffers. */
static const char *
ep(const struct sockaddr_storage *ss)
{
    static char bufs[4][80];
    static int k;
    char *b = bufs[k++ % 4];
    char a[GW_NET_ADDR_TEXT_MAX + 1];
    if (ss->ss_family == AF_UNIX) {
        snprintf(b, 80, "unix:%.60s", ((const struct sockaddr_un *)ss)->sun_path);
        return b;
    }
    if (gw_net_addr_format((const struct sockaddr *)ss, a, sizeof(a)) < 0)
        return "-";
    unsigned port = ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
                                             : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    snprintf(b, 80, "%s %u", a, port);
    return b;
}

static void
mk(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
    GW_ASSERT(gw_net_addr_parse(gw_str_from(addr), ss) == 0);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int
parse_s(const char *s, struct gw_net_proxy *h)
{
    return gw_net_proxy_parse((const uint8_t *)s, strlen(s), h);
}

/* Every strict prefix of p[0..n) asks for more; the whole gives want. */
static void
check_prefixes(const uint8_t *p, size_t n, int want, const char *what)
{
    struct gw_net_proxy h;
    size_t bad = 0;
    for (size_t k = 0; k < n; k++) {
        int rc = gw_net_proxy_parse(p, k, &h);
        if (rc != GW_EAGAIN && bad++ == 0)
            diag("%s: prefix %zu gave %d", what, k, rc);
    }
    ok(bad == 0, "%s: every prefix of %zu bytes asks for more", what, n);
    is_int(gw_net_proxy_parse(p, n, &h), want, "%s: then completes", what);
}

static void
test_v1_good(void)
{
    struct gw_net_proxy h;
    const char *l = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
    is_int(parse_s(l, &h), 47, "v1 TCP4: the line's length");
    is_int(h.version, 1, "v1 TCP4: version 1");
    ok(!h.local && h.socktype == SOCK_STREAM, "v1 TCP4: addresses to use, stream");
    is_str(ep(&h.src), "192.168.0.1 56324", "v1 TCP4: source");
    is_str(ep(&h.dst), "192.168.0.11 443", "v1 TCP4: destination");

    l = "PROXY TCP6 2001:DB8::1 2001:db8:0:0:0:0:0:2 0 65535\r\n";
    is_int(parse_s(l, &h), (int)strlen(l), "v1 TCP6");
    is_str(ep(&h.src), "2001:db8::1 0", "v1 TCP6: source (upper-case hex)");
    is_str(ep(&h.dst), "2001:db8::2 65535", "v1 TCP6: destination, ports 0 and 65535");

    l = "PROXY TCP6 :: ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 1 2\r\n";
    is_int(parse_s(l, &h), (int)strlen(l), "v1 TCP6: :: and all ones");
    is_str(ep(&h.src), ":: 1", "v1 TCP6: ::");

    is_int(parse_s("PROXY UNKNOWN\r\n", &h), 15, "v1 UNKNOWN, short form");
    ok(h.local && h.src.ss_family == AF_UNSPEC, "v1 UNKNOWN: local, no addresses");
    l = "PROXY UNKNOWN whatever is here ; is ignored\r\n";
    is_int(parse_s(l, &h), (int)strlen(l), "v1 UNKNOWN with the rest of a line");
    ok(h.local, "v1 UNKNOWN long form: local");

    /* the spec's worst case: 107 bytes */
    char big[200];
    snprintf(big, sizeof(big), "PROXY UNKNOWN %s %s 65535 65535\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    is_int((int)strlen(big), 107, "the worst-case line is 107 bytes");
    is_int(parse_s(big, &h), 107, "a 107-byte line is accepted");
    snprintf(big, sizeof(big), "PROXY UNKNOWN %s %s 65535 655350\r\n",
             "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    is_int(parse_s(big, &h), GW_ELIMIT, "a 108-byte line is refused");
    memset(big, 'A', sizeof(big));
    memcpy(big, "PROXY ", 6);
    is_int(gw_net_proxy_parse((const uint8_t *)big, 106, &h), GW_EAGAIN,
           "106 bytes without CRLF: more");
    is_int(gw_net_proxy_parse((const uint8_t *)big, 107, &h), GW_ELIMIT,
           "107 bytes without CRLF: refused");
}

static void
test_v1_bad(void)
{
    static const char *bad[] = {
        /* the keyword and the protocol */
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY \r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP4 \r\n",
        /* separators and field count */
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
        /* IPv4 */
        "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n",
        "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6..8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8. 1 2\r\n",
        "PROXY TCP4 1.2.3.1234 5.6.7.8 1 2\r\n",
        "PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
        /* families */
        "PROXY TCP4 ::1 ::2 1 2\r\n",
        "PROXY TCP4 1.2.3.4 ::2 1 2\r\n",
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
        /* IPv6 */
        "PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP6 1::2::3 ::1 1 2\r\n",
        "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
        "PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n",
        "PROXY TCP6 12345::1 ::1 1 2\r\n",
        "PROXY TCP6 :1::1 ::1 1 2\r\n",
        "PROXY TCP6 1::1: ::1 1 2\r\n",
        "PROXY TCP6 ::: ::1 1 2\r\n",
        "PROXY TCP6 [::1] ::1 1 2\r\n",
        "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
        "PROXY TCP6 g::1 ::1 1 2\r\n",
        "PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2\r\n",
        /* ports */
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n",
        /* line ends and bytes */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        "PROXY UNKNOWN \x01\r\n",
        "PROXY UNKNOWN \x80\r\n",
        "PROXY UNKNOWN \x7f\r\n",
    };
    struct gw_net_proxy h;
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        int rc = parse_s(bad[i], &h);
        is_int(rc, GW_EPARSE, "v1 refused: %zu", i);
    }
    /* a NUL inside the line (strlen would stop there) */
    static const char nul[] = "PROXY UNKNOWN a\0b\r\n";
    is_int(gw_net_proxy_parse((const uint8_t *)nul, sizeof(nul) - 1, &h), GW_EPARSE,
           "v1: NUL in the line");
    /* bytes that break the line are refused before the CRLF arrives */
    is_int(parse_s("PROXY TCP4 1.2\n", &h), GW_EPARSE, "v1: a bare LF, at once");
    is_int(parse_s("PROXY TCP4 1.2\rx", &h), GW_EPARSE, "v1: a lone CR, at once");
}

static void
test_v1_split(void)
{
    const char *l = "PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n";
    check_prefixes((const uint8_t *)l, strlen(l), (int)strlen(l), "v1 TCP6 line");
    l = "PROXY UNKNOWN\r\n";
    check_prefixes((const uint8_t *)l, strlen(l), 15, "v1 UNKNOWN line");
    /* a line given in two reads, the payload already behind it */
    const char *full = "PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\nGET / HTTP/1.1\r\n\r\n";
    uint8_t buf[128];
    size_t have = 0;
    struct gw_net_proxy h;
    memcpy(buf, full, 20);
    have = 20;
    is_int(gw_net_proxy_parse(buf, have, &h), GW_EAGAIN, "v1 split: first read");
    memcpy(buf + have, full + 20, strlen(full) - 20);
    have = strlen(full);
    int rc = gw_net_proxy_parse(buf, have, &h);
    is_int(rc, 38, "v1 split: second read completes");
    ok(rc > 0 && memcmp(buf + rc, "GET ", 4) == 0, "v1 split: the payload follows");
}

/* A v2 header builder. */
struct v2 {
    uint8_t p[4096];
    size_t n;
};

static void
v2_start(struct v2 *b, uint8_t ver_cmd, uint8_t fam)
{
    static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    memcpy(b->p, sig, 12);
    b->p[12] = ver_cmd;
    b->p[13] = fam;
    b->n = 16;
}

static void
v2_put(struct v2 *b, const void *p, size_t n)
{
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
v2_tlv(struct v2 *b, uint8_t type, const void *v, size_t n)
{
    uint8_t t[3] = {type, (uint8_t)(n >> 8), (uint8_t)n};
    v2_put(b, t, 3);
    v2_put(b, v, n);
}

/* Sets the length field from what was put; returns the total. */
static size_t
v2_end(struct v2 *b)
{
    size_t len = b->n - 16;
    b->p[14] = (uint8_t)(len >> 8);
    b->p[15] = (uint8_t)len;
    return b->n;
}

static const uint8_t inet4_block[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xc3, 0x50, 0x01, 0xbb};

static void
test_v2_families(void)
{
    struct v2 b;
    struct gw_net_proxy h;

    v2_start(&b, 0x21, 0x11);
    v2_put(&b, inet4_block, 12);
    v2_put(&b, "payload", 7);
    b.n -= 7;
    v2_end(&b);
    b.n += 7;
    is_int(gw_net_proxy_parse(b.p, b.n, &h), 28, "v2 TCP4: 28 bytes");
    ok(h.version == 2 && !h.local && h.socktype == SOCK_STREAM, "v2 TCP4: proxied stream");
    is_str(ep(&h.src), "192.0.2.1 50000", "v2 TCP4: source");
    is_str(ep(&h.dst), "198.51.100.7 443", "v2 TCP4: destination");
    check_prefixes(b.p, 28, 28, "v2 TCP4");

    v2_start(&b, 0x21, 0x22);
    uint8_t a6[36] = {0x20, 0x01, 0x0d,     0xb8,     [15] = 1, [16] = 0x20, 0x01,
                      0x0d, 0xb8, [31] = 2, [32] = 0, 53,       0,           54};
    v2_put(&b, a6, 36);
    size_t n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), 52, "v2 UDP6: 52 bytes");
    ok(h.socktype == SOCK_DGRAM, "v2 UDP6: datagram");
    is_str(ep(&h.src), "2001:db8::1 53", "v2 UDP6: source");
    is_str(ep(&h.dst), "2001:db8::2 54", "v2 UDP6: destination");

    v2_start(&b, 0x21, 0x31);
    uint8_t au[216] = {0};
    memcpy(au, "/run/src.sock", 13);
    memcpy(au + 108, "/run/dst.sock", 13);
    v2_put(&b, au, 216);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), 232, "v2 UNIX stream: 232 bytes");
    is_str(ep(&h.src), "unix:/run/src.sock", "v2 UNIX: source path");
    is_str(ep(&h.dst), "unix:/run/dst.sock", "v2 UNIX: destination path");
    check_prefixes(b.p, n, 232, "v2 UNIX");

    /* UNSPEC: local; \x00 has TLVs right after the fixed header, one
     * half UNSPEC a block of unknown layout */
    v2_start(&b, 0x21, 0x00);
    v2_tlv(&b, GW_NET_PP2_TYPE_ALPN, "h2", 2);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), 21, "v2 PROXY UNSPEC with a TLV");
    ok(h.local && h.src.ss_family == AF_UNSPEC && h.has_alpn, "v2 UNSPEC: local, TLV read");
    v2_start(&b, 0x21, 0x00);
    v2_put(&b, "\xff\xff\xff", 3);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), GW_EPARSE, "v2 UNSPEC: bytes that are no TLV");
    v2_start(&b, 0x21, 0x01);
    v2_put(&b, "\xff\xff\xff", 3);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), 19, "v2 family UNSPEC over STREAM: skipped whole");
    ok(h.local, "v2 family UNSPEC: local");
    v2_start(&b, 0x21, 0x10);
    v2_put(&b, inet4_block, 12);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), 28, "v2 INET with transport UNSPEC");
    ok(h.local, "v2 transport UNSPEC: local");

    /* LOCAL: the addresses are not used */
    v2_start(&b, 0x20, 0x00);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), 16, "v2 LOCAL, 16 bytes");
    ok(h.local && h.socktype == 0, "v2 LOCAL: local");
    v2_start(&b, 0x20, 0x11);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), 16, "v2 LOCAL TCP4 with no block");
    v2_start(&b, 0x20, 0x11);
    v2_put(&b, inet4_block, 12);
    v2_tlv(&b, GW_NET_PP2_TYPE_AUTHORITY, "hc.example", 10);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), (int)n, "v2 LOCAL TCP4 with a block and a TLV");
    ok(h.local && h.src.ss_family == AF_UNSPEC, "v2 LOCAL: addresses not filled");
    ok(h.has_authority && gw_str_eq_cstr(h.authority, "hc.example"), "v2 LOCAL: its TLV read");

    /* bad nibbles and short blocks */
    static const struct {
        uint8_t vc, fam;
        size_t block;
        int want;
        const char *what;
    } bad[] = {
        {0x22, 0x11, 12, GW_EPARSE, "command 2"},
        {0x2f, 0x11, 12, GW_EPARSE, "command 15"},
        {0x21, 0x41, 12, GW_EPARSE, "family 4"},
        {0x21, 0xf1, 12, GW_EPARSE, "family 15"},
        {0x21, 0x13, 12, GW_EPARSE, "transport 3"},
        {0x21, 0x11, 11, GW_EPARSE, "TCP4 block of 11"},
        {0x21, 0x21, 35, GW_EPARSE, "TCP6 block of 35"},
        {0x21, 0x31, 215, GW_EPARSE, "UNIX block of 215"},
        {0x21, 0x11, 0, GW_EPARSE, "PROXY TCP4 with no block"},
        {0x20, 0x21, 12, GW_EPARSE, "LOCAL TCP6 block of 12"},
        {0x11, 0x11, 12, GW_EPROTO, "version 1 in the binary header"},
        {0x31, 0x11, 12, GW_EPROTO, "version 3"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        uint8_t zero[216] = {0};
        v2_start(&b, bad[i].vc, bad[i].fam);
        v2_put(&b, zero, bad[i].block);
        n = v2_end(&b);
        is_int(gw_net_proxy_parse(b.p, n, &h), bad[i].want, "v2 refused: %s", bad[i].what);
    }
}

static void
test_v2_tlvs(void)
{
    struct v2 b;
    struct gw_net_proxy h;
    v2_start(&b, 0x21, 0x11);
    v2_put(&b, inet4_block, 12);
    v2_tlv(&b, GW_NET_PP2_TYPE_ALPN, "h2", 2);
    v2_tlv(&b, GW_NET_PP2_TYPE_NOOP, "\0\0\0", 3);
    v2_tlv(&b, GW_NET_PP2_TYPE_AUTHORITY, "www.example.com", 15);
    v2_tlv(&b, 0xe0, "custom", 6);
    v2_tlv(&b, GW_NET_PP2_TYPE_UNIQUE_ID, "id-1", 4);
    uint8_t ssl[64] = {GW_NET_PP2_CLIENT_SSL | 0x02, 0, 0, 0, 0};
    size_t sn = 5;
    uint8_t sub1[] = {GW_NET_PP2_SUBTYPE_SSL_VERSION, 0, 7, 'T', 'L', 'S', 'v', '1', '.', '3'};
    memcpy(ssl + sn, sub1, sizeof(sub1));
    sn += sizeof(sub1);
    uint8_t sub2[] = {0x23, 0, 3, 'A', 'E', 'S'};
    memcpy(ssl + sn, sub2, sizeof(sub2));
    sn += sizeof(sub2);
    uint8_t sub3[] = {GW_NET_PP2_SUBTYPE_SSL_CN, 0, 6, 'c', 'l', 'i', 'e', 'n', 't'};
    memcpy(ssl + sn, sub3, sizeof(sub3));
    sn += sizeof(sub3);
    v2_tlv(&b, GW_NET_PP2_TYPE_SSL, ssl, sn);
    size_t n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), (int)n, "v2 with TLVs");
    ok(h.has_alpn && gw_str_eq_cstr(h.alpn, "h2"), "ALPN");
    ok(h.has_authority && gw_str_eq_cstr(h.authority, "www.example.com"), "AUTHORITY");
    ok(h.has_unique_id && gw_str_eq_cstr(h.unique_id, "id-1"), "UNIQUE_ID");
    ok(h.has_ssl && h.ssl_client == 3 && h.ssl_verify == 0, "SSL: client bits, verified");
    ok(gw_str_eq_cstr(h.ssl_version, "TLSv1.3"), "SSL: version sub-TLV");
    ok(gw_str_eq_cstr(h.ssl_cn, "client"), "SSL: CN sub-TLV");
    ok(!h.has_crc32c, "no CRC32C");
    check_prefixes(b.p, n, (int)n, "v2 with TLVs");

    /* broken TLV walks */
    struct {
        const char *what;
        uint8_t tail[16];
        size_t n;
    } bad[] = {
        {"one stray byte", {0x04}, 1},
        {"two stray bytes", {0x04, 0x00}, 2},
        {"a TLV one byte past the end", {0x04, 0x00, 0x02, 0x00}, 4},
        {"a TLV of 65535", {0x04, 0xff, 0xff, 0x00}, 4},
        {"ALPN twice", {0x01, 0, 1, 'a', 0x01, 0, 1, 'b'}, 8},
        {"AUTHORITY twice", {0x02, 0, 1, 'a', 0x02, 0, 0}, 7},
        {"CRC32C of 3 bytes", {0x03, 0, 3, 0, 0, 0}, 6},
        {"SSL of 4 bytes", {0x20, 0, 4, 0, 0, 0, 0}, 7},
        {"SSL sub-TLV past its TLV", {0x20, 0, 8, 1, 0, 0, 0, 0, 0x21, 0, 1}, 11},
        {"SSL sub-TLV header cut", {0x20, 0, 7, 1, 0, 0, 0, 0, 0x21, 0}, 10},
        {"SSL version twice", {0x20, 0, 11, 1, 0, 0, 0, 0, 0x21, 0, 0, 0x21, 0, 0}, 14},
        {"SSL twice", {0x20, 0, 5, 1, 0, 0, 0, 0, 0x20, 0, 5, 1, 0, 0, 0, 0}, 16},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        v2_start(&b, 0x21, 0x11);
        v2_put(&b, inet4_block, 12);
        v2_put(&b, bad[i].tail, bad[i].n);
        n = v2_end(&b);
        is_int(gw_net_proxy_parse(b.p, n, &h), GW_EPARSE, "v2 TLVs refused: %s", bad[i].what);
    }
    uint8_t id[129] = {0};
    v2_start(&b, 0x21, 0x11);
    v2_put(&b, inet4_block, 12);
    v2_tlv(&b, GW_NET_PP2_TYPE_UNIQUE_ID, id, 128);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), (int)n, "UNIQUE_ID of 128 bytes");
    v2_start(&b, 0x21, 0x11);
    v2_put(&b, inet4_block, 12);
    v2_tlv(&b, GW_NET_PP2_TYPE_UNIQUE_ID, id, 129);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), GW_EPARSE, "UNIQUE_ID of 129 bytes refused");
}

static void
test_v2_crc(void)
{
    is_int(gw_net_crc32c(0, "123456789", 9), 0xe3069283, "CRC32C check value");
    is_int(gw_net_crc32c(gw_net_crc32c(0, "1234", 4), "56789", 5), 0xe3069283,
           "CRC32C in two parts");
    is_int(gw_net_crc32c(0, "", 0), 0, "CRC32C of nothing");

    struct v2 b;
    struct gw_net_proxy h;
    v2_start(&b, 0x21, 0x11);
    v2_put(&b, inet4_block, 12);
    v2_tlv(&b, GW_NET_PP2_TYPE_CRC32C, "\0\0\0\0", 4);
    v2_tlv(&b, GW_NET_PP2_TYPE_AUTHORITY, "a.example", 9);
    size_t n = v2_end(&b);
    uint32_t c = gw_net_crc32c(0, b.p, n);
    size_t at = 16 + 12 + 3;
    b.p[at] = (uint8_t)(c >> 24);
    b.p[at + 1] = (uint8_t)(c >> 16);
    b.p[at + 2] = (uint8_t)(c >> 8);
    b.p[at + 3] = (uint8_t)c;
    is_int(gw_net_proxy_parse(b.p, n, &h), (int)n, "CRC32C good (first TLV)");
    ok(h.has_crc32c && h.has_authority, "CRC32C verified, AUTHORITY read");
    check_prefixes(b.p, n, (int)n, "v2 with CRC32C");
    b.p[at + 3] ^= 1;
    is_int(gw_net_proxy_parse(b.p, n, &h), GW_EPARSE, "CRC32C with a flipped checksum bit");
    b.p[at + 3] ^= 1;
    b.p[n - 1] ^= 0x20;
    is_int(gw_net_proxy_parse(b.p, n, &h), GW_EPARSE, "CRC32C over a changed AUTHORITY");
    b.p[n - 1] ^= 0x20;
    b.p[17] ^= 1;
    is_int(gw_net_proxy_parse(b.p, n, &h), GW_EPARSE, "CRC32C over a changed address");
    b.p[17] ^= 1;
    is_int(gw_net_proxy_parse(b.p, n, &h), (int)n, "and good again once restored");
    /* two CRC TLVs: refused, even if both were right */
    v2_tlv(&b, GW_NET_PP2_TYPE_CRC32C, b.p + at, 4);
    n = v2_end(&b);
    is_int(gw_net_proxy_parse(b.p, n, &h), GW_EPARSE, "CRC32C twice");
}

static void
test_v2_limits(void)
{
    struct v2 b;
    struct gw_net_proxy h;
    v2_start(&b, 0x21, 0x11);
    b.p[14] = (uint8_t)((GW_NET_PROXY_V2_LEN_MAX + 1) >> 8);
    b.p[15] = (uint8_t)(GW_NET_PROXY_V2_LEN_MAX + 1);
    is_int(gw_net_proxy_parse(b.p, 15, &h), GW_EAGAIN, "v2 oversize: 15 bytes, more");
    is_int(gw_net_proxy_parse(b.p, 16, &h), GW_ELIMIT, "v2 oversize: refused at byte 16");
    b.p[14] = b.p[15] = 0xff;
    is_int(gw_net_proxy_parse(b.p, 16, &h), GW_ELIMIT, "v2 length 65535 refused");
    /* the largest accepted: padded with a NOOP */
    static uint8_t pad[GW_NET_PROXY_V2_LEN_MAX];
    v2_start(&b, 0x21, 0x11);
    v2_put(&b, inet4_block, 12);
    v2_tlv(&b, GW_NET_PP2_TYPE_NOOP, pad, GW_NET_PROXY_V2_LEN_MAX - 12 - 3);
    size_t n = v2_end(&b);
    is_int((int)n, GW_NET_PROXY_MAX, "a header of GW_NET_PROXY_MAX bytes");
    is_int(gw_net_proxy_parse(b.p, n, &h), (int)n, "is accepted");
    is_int(gw_net_proxy_parse(b.p, n - 1, &h), GW_EAGAIN, "one byte short: more");
}

/* The first count of bytes at which the parse stops asking for more. */
static size_t
decided_at(const uint8_t *p, size_t n, int *rc)
{
    struct gw_net_proxy h;
    for (size_t k = 1; k <= n; k++) {
        *rc = gw_net_proxy_parse(p, k, &h);
        if (*rc != GW_EAGAIN)
            return k;
    }
    return 0;
}

static void
test_not_proxy(void)
{
    static const struct {
        const char *what;
        const char *p;
        size_t n;
        size_t at;
    } in[] = {
        {"HTTP GET", "GET / HTTP/1.1\r\n\r\n", 18, 1},
        {"TLS ClientHello", "\x16\x03\x01\x02\x00\x01", 6, 1},
        {"HTTP POST", "POST / HTTP/1.1\r\n", 17, 2},
        {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, 3},
        {"PROPFIND", "PROPFIND / HTTP/1.1\r\n", 21, 4},
        {"lower-case proxy", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32, 1},
        {"PROXY without SP", "PROXY\r\n", 7, 6},
        {"CRLF CRLF (an empty request)", "\r\n\r\n\r\n", 6, 5},
        {"v2 signature with a wrong last byte", "\r\n\r\n\0\r\nQUIT\r\x21\x11", 14, 12},
        {"v2 signature, version 1", "\r\n\r\n\0\r\nQUIT\n\x11\x11\0\0", 16, 13},
        {"SSH banner", "SSH-2.0-OpenSSH\r\n", 17, 1},
        {"empty line", "\n", 1, 1},
        {"NUL", "\0\0\0\0", 4, 1},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(in); i++) {
        int rc = 0;
        size_t at = decided_at((const uint8_t *)in[i].p, in[i].n, &rc);
        is_int(rc, GW_EPROTO, "not PROXY: %s", in[i].what);
        is_int((long long)at, (long long)in[i].at, "not PROXY: %s, decided at byte", in[i].what);
    }
}

static void
roundtrip(struct gw_net_proxy *in, int version, const char *what)
{
    uint8_t buf[GW_NET_PROXY_MAX];
    int n = version == 1 ? gw_net_proxy_v1_format(in, buf, sizeof(buf))
                         : gw_net_proxy_v2_format(in, buf, sizeof(buf));
    ok(n > 0, "%s: formatted (%d bytes)", what, n);
    if (n <= 0)
        return;
    struct gw_net_proxy out;
    is_int(gw_net_proxy_parse(buf, (size_t)n, &out), n, "%s: parses back whole", what);
    ok(out.version == version && out.local == in->local, "%s: version and local", what);
    if (!in->local) {
        is_str(ep(&out.src), ep(&in->src), "%s: source", what);
        is_str(ep(&out.dst), ep(&in->dst), "%s: destination", what);
        is_int(out.socktype, in->socktype ? in->socktype : SOCK_STREAM, "%s: socktype", what);
    }
    ok(out.has_alpn == in->has_alpn && gw_str_eq(out.alpn, in->alpn), "%s: ALPN", what);
    ok(out.has_authority == in->has_authority && gw_str_eq(out.authority, in->authority),
       "%s: AUTHORITY", what);
    ok(out.has_crc32c == in->has_crc32c, "%s: CRC32C", what);
    /* every shorter buffer is refused */
    bool all = true;
    for (int k = 0; k < n; k++) {
        int rc = version == 1 ? gw_net_proxy_v1_format(in, buf, (size_t)k)
                              : gw_net_proxy_v2_format(in, buf, (size_t)k);
        all = all && rc == GW_ELIMIT;
    }
    ok(all, "%s: any shorter buffer is GW_ELIMIT", what);
}

static void
test_format(void)
{
    struct gw_net_proxy h;
    memset(&h, 0, sizeof(h));
    mk(&h.src, "203.0.113.9", 61000);
    mk(&h.dst, "10.1.2.3", 8443);
    uint8_t buf[GW_NET_PROXY_MAX];
    int n = gw_net_proxy_v1_format(&h, buf, sizeof(buf));
    const char *line = "PROXY TCP4 203.0.113.9 10.1.2.3 61000 8443\r\n";
    is_int(n, (int)strlen(line), "v1 TCP4 line length");
    ok(n > 0 && memcmp(buf, line, strlen(line)) == 0, "v1 TCP4 line text");
    roundtrip(&h, 1, "v1 TCP4");
    roundtrip(&h, 2, "v2 TCP4");
    mk(&h.src, "2001:db8:0:0:1:0:0:1", 1);
    mk(&h.dst, "::ffff:192.0.2.1", 0);
    n = gw_net_proxy_v1_format(&h, buf, sizeof(buf));
    const char *want = "PROXY TCP6 2001:db8::1:0:0:1 ::ffff:c000:201 1 0\r\n";
    ok(n == (int)strlen(want) && memcmp(buf, want, strlen(want)) == 0,
       "v1 TCP6: RFC 5952 text, a mapped address in hex groups");
    roundtrip(&h, 1, "v1 TCP6");
    h.socktype = SOCK_DGRAM;
    h.has_alpn = true;
    h.alpn = GW_STR("h2");
    h.has_authority = true;
    h.authority = GW_STR("api.example.com");
    h.has_crc32c = true;
    roundtrip(&h, 2, "v2 UDP6 with ALPN, AUTHORITY, CRC32C");
    is_int(gw_net_proxy_v1_format(&h, buf, sizeof(buf)), GW_EINVAL, "v1 cannot carry UDP");
    h.socktype = SOCK_STREAM;
    mk(&h.dst, "192.0.2.1", 0);
    is_int(gw_net_proxy_v1_format(&h, buf, sizeof(buf)), GW_EINVAL, "v1: mixed families");
    is_int(gw_net_proxy_v2_format(&h, buf, sizeof(buf)), GW_EINVAL, "v2: mixed families");

    memset(&h, 0, sizeof(h));
    struct sockaddr_un *su = (struct sockaddr_un *)&h.src, *du = (struct sockaddr_un *)&h.dst;
    su->sun_family = du->sun_family = AF_UNIX;
    memcpy(su->sun_path, "/a", 2);
    memcpy(du->sun_path, "/b", 2);
    is_int(gw_net_proxy_v1_format(&h, buf, sizeof(buf)), GW_EINVAL, "v1 cannot carry UNIX");
    roundtrip(&h, 2, "v2 UNIX");

    memset(&h, 0, sizeof(h));
    h.local = true;
    roundtrip(&h, 1, "v1 UNKNOWN");
    h.has_crc32c = true;
    roundtrip(&h, 2, "v2 LOCAL with a CRC32C");
    n = gw_net_proxy_v2_format(&h, buf, sizeof(buf));
    ok(n == 23 && buf[12] == 0x20 && buf[13] == 0x00, "v2 LOCAL: command 0, family UNSPEC");

    memset(&h, 0, sizeof(h));
    mk(&h.src, "1.2.3.4", 1);
    mk(&h.dst, "5.6.7.8", 2);
    h.has_authority = true;
    static char huge[GW_NET_PROXY_V2_LEN_MAX];
    h.authority = (struct gw_str){huge, sizeof(huge)};
    is_int(gw_net_proxy_v2_format(&h, buf, sizeof(buf)), GW_ELIMIT, "v2 past the bound");
}

int
main(void)
{
    test_v1_good();
    test_v1_bad();
    test_v1_split();
    test_v2_families();
    test_v2_tlvs();
    test_v2_crc();
    test_v2_limits();
    test_not_proxy();
    test_format();
    return done_testing();
}
