/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the session persistence token parser and the Cookie
 * field walk (proxy/session.c), on any bytes. A token the parser accepts
 * must format back to the same characters (one encoding per token: no
 * second spelling of a token a client could try), and the input read as a
 * Cookie field must yield views inside it and terminate.
 */
#include <stdint.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct px_skey *key;
    if (!key)
        key = px_skey_new("fuzz"); /* for the process */
    struct gw_str in = {(const char *)data, size};
    struct px_session_token tok;
    if (px_session_token_parse(key, in, &tok) == 0) {
        char again[PX_SESSION_TOKEN_LEN];
        px_session_token_format(key, &tok, again);
        GW_ASSERT(size == PX_SESSION_TOKEN_LEN && !memcmp(again, data, size));
    }
    /* A token signed under the key, altered by the input's first bytes,
     * must not pass unless unaltered. */
    if (size >= 2) {
        struct px_session_token t = {.tag = 7, .created_ms = 1000, .used_ms = 2000};
        char s[PX_SESSION_TOKEN_LEN];
        px_session_token_format(key, &t, s);
        size_t at = data[0] % PX_SESSION_TOKEN_LEN;
        char was = s[at];
        s[at] = (char)data[1];
        struct px_session_token out;
        int rc = px_session_token_parse(key, (struct gw_str){s, sizeof(s)}, &out);
        GW_ASSERT(rc != 0 || s[at] == was);
    }
    size_t pos = 0, n = 0;
    struct gw_str v;
    while (px_session_cookie_next(in, GW_STR("sp"), &pos, &v)) {
        GW_ASSERT(v.p >= in.p && v.p + v.len <= in.p + in.len && pos <= in.len);
        GW_ASSERT(++n <= size);
    }
    return 0;
}
