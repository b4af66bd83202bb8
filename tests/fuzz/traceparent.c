/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: traceparent and tracestate. The input is split at the
 * first '\n': a traceparent value, then a tracestate value. A traceparent
 * that parses formats back to the same bytes when its flags are 00 or 01
 * (the parser accepts any flags; only the sampled bit is sent on), and is
 * always 55 bytes; tracestate's check stays within its bounds.
 */
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "trace/trace.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t tpn = nl ? (size_t)(nl - s) : size;
    struct gw_trace_ctx c;
    if (gw_trace_ctx_parse(&c, s, tpn) == 0) {
        GW_ASSERT(tpn == GW_TRACE_PARENT_LEN);
        char out[GW_TRACE_PARENT_LEN + 1];
        gw_trace_ctx_format(&c, out);
        GW_ASSERT(strlen(out) == GW_TRACE_PARENT_LEN);
        if (c.flags <= 1)
            GW_ASSERT(memcmp(out, s, GW_TRACE_PARENT_LEN) == 0);
        struct gw_trace_ctx back;
        GW_ASSERT(gw_trace_ctx_parse(&back, out, GW_TRACE_PARENT_LEN) == 0);
        GW_ASSERT(memcmp(back.trace_id, c.trace_id, 16) == 0);
        GW_ASSERT(memcmp(back.span_id, c.span_id, 8) == 0);
    }
    if (nl) {
        size_t n = size - tpn - 1;
        if (gw_trace_state_is_valid(nl + 1, n))
            GW_ASSERT(n > 0 && n <= GW_TRACE_STATE_MAX);
    }
    return 0;
}
