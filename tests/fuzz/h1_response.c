/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_h1_response_parse. The first byte picks the request
 * method (HEAD, CONNECT or GET); the rest is the response. Checks bounds,
 * views, prefix agreement and that framing is one of the documented kinds.
 */
#include <stdint.h>
#include <string.h>

#include "h1/h1.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;

    static const enum gw_h1_method methods[] = {GW_H1_METHOD_GET, GW_H1_METHOD_HEAD,
                                                GW_H1_METHOD_CONNECT, GW_H1_METHOD_POST};
    enum gw_h1_method m = methods[data[0] % GW_ARRAY_LEN(methods)];
    const char *buf = (const char *)data + 1;
    size--;
    struct gw_h1_limits lim = GW_H1_LIMITS_DEFAULT;
    lim.max_head_bytes = 2048;
    struct gw_h1_header h[16];
    struct gw_h1_response res = {.headers = h, .max_headers = GW_ARRAY_LEN(h)};
    int rc = gw_h1_response_parse(buf, size, &res, &lim, m);
    GW_ASSERT(rc == GW_EAGAIN || rc == GW_EPARSE || rc == GW_ELIMIT ||
              (rc > 0 && (size_t)rc <= size));
    if (rc < 0 && rc != GW_EAGAIN)
        GW_ASSERT(res.error_status == 502 && res.error != NULL);
    if (rc > 0) {
        GW_ASSERT(res.status >= 100 && res.status <= 999);
        GW_ASSERT(res.nheaders <= GW_ARRAY_LEN(h));
        for (size_t i = 0; i < res.nheaders; i++)
            GW_ASSERT(h[i].name.p >= buf && h[i].value.p + h[i].value.len <= buf + size);
        if (res.body == GW_H1_BODY_CLOSE || res.body == GW_H1_BODY_TUNNEL)
            GW_ASSERT(!res.keep_alive);
        if (m == GW_H1_METHOD_HEAD && res.status != 101)
            GW_ASSERT(res.body == GW_H1_BODY_NONE);
    }
    size_t step = size / 64 + 1;
    for (size_t n = 0; n < size; n += step) {
        struct gw_h1_response r2 = {.headers = h, .max_headers = GW_ARRAY_LEN(h)};
        int rc2 = gw_h1_response_parse(buf, n, &r2, &lim, m);
        if (rc2 == GW_EAGAIN)
            continue;
        GW_ASSERT(rc2 == rc);
        break;
    }
    return 0;
}
