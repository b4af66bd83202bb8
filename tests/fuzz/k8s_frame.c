/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the watch-stream framer. The first byte chooses the
 * piece size and the event limit; the rest is fed in pieces, events
 * drained after each. Invariants: every event is a balanced object
 * ('{' ... '}') within the limit, and the events are a prefix of what a
 * one-pass reference framer finds in the whole input (all of them, and
 * the same error, when the input is fed to its end).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "k8s/internal.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct span {
    size_t off, len;
};

/* The reference: one pass over the whole input. Returns 0 or the error,
 * with the events in out (at most cap). */
static int
reference(const char *p, size_t n, size_t max, struct span *out, size_t cap, size_t *count)
{
    int depth = 0;
    bool in_str = false, esc = false;
    size_t start = 0;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (depth == 0) {
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
                continue;
            if (c != '{')
                return GW_EPARSE;
            depth = 1;
            start = i;
            continue;
        }
        if (i + 1 - start > max)
            return GW_ELIMIT;
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                if (*count < cap)
                    out[*count] = (struct span){start, i + 1 - start};
                (*count)++;
            }
        }
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] & 0x1f) + 1;
    size_t max = (data[0] & 0x20) ? 64 : 1 << 16;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    size_t cap = n / 2 + 1, nref = 0;
    struct span *ref = gw_xmalloc(cap * sizeof(*ref));
    int ref_rc = reference(in, n, max, ref, cap, &nref);

    struct gw_k8s_frame f;
    gw_k8s_frame_init(&f, max);
    size_t got = 0;
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += step) {
        rc = gw_k8s_frame_feed(&f, in + off, GW_MIN(step, n - off));
        GW_ASSERT(rc == 0 || rc == GW_EPARSE || rc == GW_ELIMIT);
        const char *p;
        size_t pn;
        while (gw_k8s_frame_next(&f, &p, &pn) == 1) {
            GW_ASSERT(rc == 0);
            GW_ASSERT(pn >= 2 && pn <= max && p[0] == '{');
            GW_ASSERT(p[pn - 1] == '}' || p[pn - 1] == ']');
            GW_ASSERT(got < nref && ref[got].len == pn);
            GW_ASSERT(memcmp(in + ref[got].off, p, pn) == 0);
            got++;
        }
    }
    if (rc == 0) {
        GW_ASSERT(ref_rc == 0 && got == nref);
    } else {
        GW_ASSERT(rc == ref_rc && got <= nref);
    }
    gw_k8s_frame_release(&f);
    free(ref);
    return 0;
}
