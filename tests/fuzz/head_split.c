/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: px_head_split (proxy/forward.c), the splitter the HTTP/2
 * codecs run on the heads conn.c's formatters wrote, on any bytes. It must
 * terminate, stay inside the input and its bounds, and give views inside
 * the head it measured.
 */
#include <stdint.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
inside(struct gw_str s, const char *p, size_t n)
{
    return s.p >= p && s.p + s.len <= p + n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct gw_h1_header hv[8];
    struct gw_str line = GW_STR_NULL;
    size_t nh = 0, max = size > 0 ? (size_t)data[0] * 4 + 1 : 1;
    int n = px_head_split(p, size, max, &line, hv, GW_ARRAY_LEN(hv), &nh);
    GW_ASSERT(n == GW_EAGAIN || n == GW_ELIMIT || n == GW_EPROTO || n > 0);
    GW_ASSERT(nh <= GW_ARRAY_LEN(hv));
    if (n > 0) {
        GW_ASSERT((size_t)n <= size && (size_t)n <= max);
        GW_ASSERT(inside(line, p, (size_t)n));
        for (size_t i = 0; i < nh; i++) {
            GW_ASSERT(hv[i].name.len > 0 && inside(hv[i].name, p, (size_t)n));
            GW_ASSERT(inside(hv[i].value, p, (size_t)n));
            GW_ASSERT(!memchr(hv[i].name.p, ':', hv[i].name.len));
            GW_ASSERT(!memchr(hv[i].value.p, '\n', hv[i].value.len));
        }
    }
    return 0;
}
