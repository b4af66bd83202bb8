/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h2: what every nghttp2 user in gatehouse shares (the echo backend's h2c
 * and gRPC server, the proxy's HTTP/2 from clients and to backends): the
 * allocator nghttp2 sessions run on, and HTTP/2's lower-case field names.
 * Framing, flow control and the sessions themselves stay with each user.
 *
 * Everything here is process-lifetime or pure computation: callable from
 * any thread and inside loop callbacks.
 */
#ifndef GW_H2_H
#define GW_H2_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

/*
 * The allocator for nghttp2_session_*_new3: gw_xmalloc and friends, so an
 * allocation failure aborts like everywhere else and nghttp2 never returns
 * NGHTTP2_ERR_NOMEM. nghttp2 copies it into the session; the pointer is to
 * process-lifetime storage and is never freed.
 */
nghttp2_mem *gw_h2_mem(void);

/* Writes the n bytes of name to out (room for n) with ASCII upper case
 * letters lowered: HTTP/2 field names are lower case (RFC 9113 8.2.1). */
void gw_h2_name_lower(char *out, const char *name, size_t n);

#endif
