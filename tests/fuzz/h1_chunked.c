/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_h1_chunked_decode. The first byte picks a piece
 * size; the input is decoded whole and again delivered in pieces of that
 * size (a caller keeping unconsumed bytes). Both must agree on the result,
 * the decoded body, the trailers and the bytes consumed.
 */
#include <stdint.h>
#include <string.h>

#include "h1/h1.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
    int rc;
    size_t used;
    uint64_t hash;
    uint64_t total;
};

static void
mix(uint64_t *hash, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *hash = (*hash ^ (unsigned char)p[i]) * 1099511628211u;
}

static struct result
decode(const char *in, size_t len, size_t step)
{
    struct gw_h1_limits lim = GW_H1_LIMITS_DEFAULT;
    lim.max_chunk_ext = 64;
    lim.max_trailer_bytes = 256;
    struct gw_h1_chunked c;
    gw_h1_chunked_init(&c, &lim);
    struct result r = {.hash = 14695981039346656037u};
    size_t off = 0, have = GW_MIN(step, len);
    for (;;) {
        size_t used;
        struct gw_str d;
        int rc = gw_h1_chunked_decode(&c, in + off, have - off, &used, &d);
        GW_ASSERT(used <= have - off);
        if (d.len > 0)
            GW_ASSERT(d.p >= in + off && d.p + d.len <= in + have);
        mix(&r.hash, d.p, d.len);
        off += used;
        if (rc == GW_H1_CHUNKED_TRAILER) {
            mix(&r.hash, c.trailer.name.p, c.trailer.name.len);
            mix(&r.hash, ":", 1);
            mix(&r.hash, c.trailer.value.p, c.trailer.value.len);
            continue;
        }
        if (rc == GW_H1_CHUNKED_MORE)
            continue;
        if (rc == GW_EAGAIN && have < len) {
            have = GW_MIN(have + step, len);
            continue;
        }
        GW_ASSERT(rc == GW_EAGAIN || rc == GW_H1_CHUNKED_DONE || rc == GW_EPARSE ||
                  rc == GW_ELIMIT);
        r.rc = rc;
        r.used = off;
        r.total = c.total;
        return r;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t step = (size_t)data[0] % 16 + 1;
    const char *in = (const char *)data + 1;
    size--;
    struct result a = decode(in, size, size ? size : 1);
    struct result b = decode(in, size, step);
    GW_ASSERT(a.rc == b.rc && a.hash == b.hash && a.total == b.total);
    if (a.rc == GW_H1_CHUNKED_DONE || a.rc == GW_EAGAIN)
        GW_ASSERT(a.used == b.used);
    return 0;
}
