/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net: network addresses at the edge. Strict IPv4/IPv6 literals, the
 * HAProxy PROXY protocol (versions 1 and 2: a sans-I/O parser over the
 * first bytes of a connection and a formatter for both versions), immutable
 * CIDR sets with a fast membership test, and the choice of the client
 * address in an X-Forwarded-For value (by trusted hop count or by trusted
 * CIDR set).
 *
 * Everything here is pure: no I/O, no allocation except the CIDR set
 * itself, no global state, and every function may run inside a loop
 * callback and on any thread. Work on hostile input is bounded (stated per
 * function). Depends on base only.
 */
#ifndef GW_NET_H
#define GW_NET_H

#include <sys/socket.h>

#include "base/base.h"

/* ------------------------------------------------------------------------ */
/* Address literals                                                         */

/* Longest text gw_net_addr_format writes, NUL excluded (an IPv6 address
 * with an embedded IPv4 tail). */
#define GW_NET_ADDR_TEXT_MAX 45

/*
 * Parses a whole IPv4 ("192.0.2.1": four decimal parts 0..255, no leading
 * zeros) or IPv6 literal (RFC 4291 2.2: hex groups of 1..4 digits, at most
 * one "::", an optional dotted IPv4 tail) into *out with port 0. No
 * brackets, ports, zone ids or surrounding spaces. Returns 0 or GW_EPARSE
 * (*out then unspecified).
 */
int gw_net_addr_parse(struct gw_str s, struct sockaddr_storage *out);

/*
 * Writes the address of sa (AF_INET or AF_INET6; the port is ignored) as
 * text into buf and NUL-terminates it: IPv6 in RFC 5952 form, an
 * IPv4-mapped one as "::ffff:a.b.c.d". Returns the length written (NUL
 * excluded), GW_ELIMIT if cap is too small (GW_NET_ADDR_TEXT_MAX + 1 is
 * always enough) or GW_EINVAL for another family.
 */
int gw_net_addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* PROXY protocol (haproxy doc/proxy-protocol.txt, versions 1 and 2)        */

/* A v1 line is at most this long, CRLF included (spec 2.1). */
#define GW_NET_PROXY_V1_MAX 107
/* Our bound on the v2 length field (address block plus TLVs); the spec
 * allows 65535, senders put a few hundred bytes at most. */
#define GW_NET_PROXY_V2_LEN_MAX 2048
/* The longest header gw_net_proxy_parse can accept. */
#define GW_NET_PROXY_MAX (16 + GW_NET_PROXY_V2_LEN_MAX)
/* v2 TLV types (spec 2.2). */
#define GW_NET_PP2_TYPE_ALPN           0x01
#define GW_NET_PP2_TYPE_AUTHORITY      0x02
#define GW_NET_PP2_TYPE_CRC32C         0x03
#define GW_NET_PP2_TYPE_NOOP           0x04
#define GW_NET_PP2_TYPE_UNIQUE_ID      0x05
#define GW_NET_PP2_TYPE_SSL            0x20
#define GW_NET_PP2_SUBTYPE_SSL_VERSION 0x21
#define GW_NET_PP2_SUBTYPE_SSL_CN      0x22
#define GW_NET_PP2_CLIENT_SSL          0x01

/*
 * A parsed PROXY header. The gw_str fields borrow the bytes given to
 * gw_net_proxy_parse (raw, unvalidated bytes from the sender: treat them as
 * untrusted text) and are empty when their TLV is absent.
 */
struct gw_net_proxy {
    int version; /* 1 or 2 */
    /* The connection's own addresses are to be used: v1 UNKNOWN, v2 LOCAL,
     * v2 family or transport UNSPEC. src and dst are then AF_UNSPEC. */
    bool local;
    int socktype; /* SOCK_STREAM or SOCK_DGRAM; 0 when local */
    /* AF_INET, AF_INET6 (with ports) or AF_UNIX (the spec's 108 path bytes,
     * copied as sent: not necessarily NUL-terminated) */
    struct sockaddr_storage src, dst;
    /* v2 TLVs. A CRC32C TLV is verified by the parse: has_crc32c means it
     * was present and correct (a wrong one fails the parse). */
    bool has_authority, has_alpn, has_unique_id, has_crc32c, has_ssl;
    struct gw_str authority, alpn, unique_id;
    uint8_t ssl_client;                /* PP2_CLIENT_* bits of the SSL TLV */
    uint32_t ssl_verify;               /* 0: client certificate verified */
    struct gw_str ssl_version, ssl_cn; /* its sub-TLVs, when present */
};

/*
 * Parses a PROXY header (v1 or v2) at the start of p[0..n): the first bytes
 * received on a connection, given again with more bytes after each
 * GW_EAGAIN (nothing is kept between calls). On success fills *out and
 * returns the header's length: the connection's payload starts at
 * p[return value]. Otherwise *out is unspecified and the return is:
 *   GW_EAGAIN  a prefix of a header that may still be valid: read more.
 *   GW_EPROTO  not the PROXY protocol at all. Decided at the first byte that
 *              departs from both "PROXY " and the v2 signature (12 bytes, then
 *              a version nibble of 2): at byte 1 unless the input starts with
 *              'P' or CR (so at once for TLS and for HTTP methods other than
 *              P...: "POST", "PUT" and "PATCH" at byte 2, "PRI" at byte 3,
 *              "PROPFIND" at byte 4), at byte 13 at the latest.
 *   GW_EPARSE  a header that breaks the spec: v1 with a field out of place
 *              or range (one SP between fields, no leading zeros, ports
 *              0..65535, TCP4 needs IPv4 and TCP6 IPv6 written as hex groups,
 *              a bare CR or LF, a byte outside printable ASCII, even after
 *              UNKNOWN); v2 with an unknown command, family or transport, an
 *              address block shorter than its family needs, a TLV running
 *              past the header, a duplicate ALPN/AUTHORITY/CRC32C/UNIQUE_ID/
 *              SSL TLV, a UNIQUE_ID over 128 bytes, or a wrong CRC32C.
 *              Many v1 faults show only once the CRLF has arrived.
 *   GW_ELIMIT  v1 without CRLF in its first 107 bytes (decided at byte 107),
 *              or a v2 length field over GW_NET_PROXY_V2_LEN_MAX (decided at
 *              byte 16, before the header's body arrives).
 * A v2 header is local for LOCAL and for family or transport UNSPEC. Its
 * TLVs are walked after the address block of its family, for LOCAL too;
 * with \x00 (UNSPEC over UNSPEC, what LOCAL senders present) they start
 * right after the 16 fixed bytes; with only one of the two UNSPEC the
 * block's layout is unknown and it is skipped whole, unread.
 * Work is O(min(n, GW_NET_PROXY_MAX)).
 */
int gw_net_proxy_parse(const uint8_t *p, size_t n, struct gw_net_proxy *out);

/*
 * Writes a v1 line for h into buf: "PROXY UNKNOWN\r\n" when h->local, else
 * "PROXY TCP4|TCP6 src dst sport dport\r\n" (IPv6 as plain hex groups, RFC
 * 5952 compression). Only version, local, socktype (0 or SOCK_STREAM),
 * src and dst are read. Returns the length written (no NUL is added),
 * GW_EINVAL (v1 carries only TCP over one IP family, the same both sides)
 * or GW_ELIMIT (cap < the line; GW_NET_PROXY_V1_MAX is always enough).
 */
int gw_net_proxy_v1_format(const struct gw_net_proxy *h, uint8_t *buf, size_t cap);

/*
 * Writes a v2 header for h into buf: LOCAL with family UNSPEC when
 * h->local, else PROXY with the family of src (AF_INET, AF_INET6 or
 * AF_UNIX; dst must match) and socktype (0 means SOCK_STREAM); then the
 * ALPN, AUTHORITY and UNIQUE_ID TLVs whose has_ flags are set, and last a
 * CRC32C TLV when has_crc32c, computed over the whole header. The SSL
 * fields are not written. Returns the length written, GW_EINVAL or
 * GW_ELIMIT (cap too small, or the header would pass GW_NET_PROXY_MAX).
 */
int gw_net_proxy_v2_format(const struct gw_net_proxy *h, uint8_t *buf, size_t cap);

/* CRC32C (Castagnoli, RFC 4960 appendix B) of p[0..n), continuing from crc
 * (0 to start). Exposed for tests and for senders. */
uint32_t gw_net_crc32c(uint32_t crc, const void *p, size_t n);

/* ------------------------------------------------------------------------ */
/* CIDR sets                                                                */

/* One parsed prefix: addr has its host bits cleared. */
struct gw_net_cidr {
    int family;       /* AF_INET or AF_INET6 */
    unsigned bits;    /* prefix length: 0..32 or 0..128 */
    uint8_t addr[16]; /* network order; the first 4 bytes for AF_INET */
    bool host_bits;   /* the text had host bits set (cleared here): a
                       * validator may warn about "10.1.2.3/8" */
};

/*
 * Parses "a.b.c.d/len", "v6/len" or a bare address (a /32 or /128), the
 * whole of s with no spaces; len is decimal without leading zeros and within
 * the family's width. Returns 0 or GW_EPARSE.
 */
int gw_net_cidr_parse(struct gw_str s, struct gw_net_cidr *out);

struct gw_net_cidr_set;

/*
 * Builds an immutable set from v[0..n) (copied; n may be 0: the empty set
 * matches nothing). Overlapping and adjacent prefixes are merged. IPv6
 * prefixes that cover part of ::ffff:0:0/96 also match the IPv4 addresses
 * they map. Never fails (aborts on OOM); free with gw_net_cidr_set_free. The
 * set may be read by any number of threads at once.
 */
struct gw_net_cidr_set *gw_net_cidr_set_new(const struct gw_net_cidr *v, size_t n);
void gw_net_cidr_set_free(struct gw_net_cidr_set *set); /* NULL is fine */

/*
 * Whether sa's address (AF_INET or AF_INET6; any other family, or a NULL
 * set, is not a member) is in the set. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack socket reports for an IPv4 peer) is
 * looked up as the IPv4 address. O(log n), no allocation.
 */
bool gw_net_cidr_set_has(const struct gw_net_cidr_set *set, const struct sockaddr *sa);

/* ------------------------------------------------------------------------ */
/* X-Forwarded-For                                                          */

/* Most entries either function examines; also the most hops. */
#define GW_NET_XFF_WALK_MAX 64
/* Longest entry accepted, spaces around it included. */
#define GW_NET_XFF_ENTRY_MAX 64

/*
 * The client address in an X-Forwarded-For value, by trusted hop count.
 * xff is the field value as received (several XFF field lines joined with
 * "," in order, RFC 9110 5.3); hops is the number of trusted proxies in
 * front of us, the peer of the connection included. Each trusted proxy
 * appended the address it received from, so the client is the hops-th entry
 * from the right (hops = 1: the rightmost). This is Envoy's
 * xff_num_trusted_hops with use_remote_address. Entries left of it were
 * written by the client and are never read, so a spoofed prefix changes
 * nothing. An entry is an IPv4 or IPv6 literal (gw_net_addr_parse) with
 * optional SP/HTAB around it; no ports or brackets.
 * Returns 0 with *out set (port 0), GW_ENOTFOUND (fewer than hops entries:
 * the caller must not fall back to the leftmost one), GW_EPARSE (an entry
 * among the hops rightmost is malformed or empty) or GW_EINVAL (hops 0 or
 * over GW_NET_XFF_WALK_MAX). Reads at most hops * (GW_NET_XFF_ENTRY_MAX +
 * 1) bytes from the right, however long xff is.
 */
int gw_net_xff_hop_parse(struct gw_str xff, unsigned hops, struct sockaddr_storage *out);

/*
 * The client address in an X-Forwarded-For value, by trusted addresses:
 * walking from the right, the first entry not in trusted; when every entry
 * is trusted, the leftmost (nginx real_ip_recursive, Envoy xff_trusted_cidrs).
 * The caller has checked that the connection's peer is itself trusted.
 * Returns 0 with *out set, GW_ENOTFOUND (empty value), GW_EPARSE (an entry
 * walked over is malformed or empty) or GW_ELIMIT (more than
 * GW_NET_XFF_WALK_MAX trusted entries in a row). Bounded like
 * gw_net_xff_hop_parse with hops = GW_NET_XFF_WALK_MAX.
 */
int gw_net_xff_trusted_parse(struct gw_str xff, const struct gw_net_cidr_set *trusted,
                             struct sockaddr_storage *out);

#endif /* GW_NET_H */
