/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict base64 (RFC 4648, base/base64.c): base64url without padding for JWS
 * segments and JWK members, standard base64 with padding for Basic
 * credentials and {SHA} hashes. Both accept only the canonical spelling
 * (the bits past the last byte must be zero), so a token has exactly one
 * encoding: a client cannot make a second spelling of a cached or
 * logged token.
 */
#include <string.h>

#include "auth/internal.h"

#include "base/banned.h"

int
auth_b64url_decode(struct gw_str s, uint8_t *out, size_t out_len)
{
    return gw_base64_decode(s, GW_B64_URL | GW_B64_NOPAD | GW_B64_CANONICAL, out, out_len, NULL);
}

int
auth_b64_decode(struct gw_str s, uint8_t *out, size_t out_len)
{
    return gw_base64_decode(s, GW_B64_PAD | GW_B64_CANONICAL, out, out_len, NULL);
}
