/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_h1_accept_encoding_parse and gw_h1_accept_weight.
 * Every weight stays within 0..1000 (-1 for "not listed" in the table), and
 * parsing the value whole or as two field lines split at a comma gives the
 * same table when the split leaves both halves well formed.
 */
#include <stdint.h>
#include <string.h>

#include "h1/h1.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_str v = {(const char *)data, size};
    struct gw_h1_accept a;
    gw_h1_accept_init(&a);
    int rc = gw_h1_accept_encoding_parse(v, &a);
    GW_ASSERT(rc == 0 || rc == GW_EINVAL);
    for (int c = 0; c < GW_H1_CODING__COUNT; c++) {
        GW_ASSERT(a.q[c] >= -1 && a.q[c] <= 1000);
        int w = gw_h1_accept_weight(&a, (enum gw_h1_coding)c);
        GW_ASSERT(w >= 0 && w <= 1000);
        if (c == GW_H1_CODING_ANY)
            GW_ASSERT(w == 0);
    }
    /* Split at the first comma outside quotes: two field lines. */
    const char *comma = memchr(v.p, ',', v.len);
    if (comma && !memchr(v.p, '"', v.len)) {
        struct gw_h1_accept b;
        gw_h1_accept_init(&b);
        int r1 = gw_h1_accept_encoding_parse((struct gw_str){v.p, (size_t)(comma - v.p)}, &b);
        int r2 = gw_h1_accept_encoding_parse(
            (struct gw_str){comma + 1, v.len - (size_t)(comma - v.p) - 1}, &b);
        if (rc == 0 && r1 == 0 && r2 == 0)
            GW_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
    }
    return 0;
}
