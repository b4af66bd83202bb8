/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net internal: the address text codecs shared by the PROXY v1 parser and
 * formatter, the CIDR parser and the X-Forwarded-For walk.
 */
#ifndef GW_NET_INTERNAL_H
#define GW_NET_INTERNAL_H

#include "net/net.h"

/* Whole s[0..n) as a strict IPv4 literal into out[4]. */
bool gw_net_ip4_parse(const char *s, size_t n, uint8_t out[4]);
/* Whole s[0..n) as an IPv6 literal into out[16]; v4_tail allows a dotted
 * IPv4 for the last 32 bits (PROXY v1 wants hex groups only). */
bool gw_net_ip6_parse(const char *s, size_t n, uint8_t out[16], bool v4_tail);
/* Writes a (NUL-terminated); returns the length. buf holds at least
 * GW_NET_ADDR_TEXT_MAX + 1 bytes. dotted: ::ffff:a.b.c.d for mapped ones. */
size_t gw_net_ip4_format(const uint8_t a[4], char *buf);
size_t gw_net_ip6_format(const uint8_t a[16], bool dotted, char *buf);
/* Whether a is ::ffff:a.b.c.d. */
bool gw_net_ip6_is_mapped(const uint8_t a[16]);

#endif /* GW_NET_INTERNAL_H */
