/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: bytes -> YAML doc tree -> decode into a store, and into
 * one arena with shared strings -> release.
 * Anything may be rejected; nothing may crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>

#include "load/load.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_docs docs;
    struct gw_store store;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_store_init(&store);
    gw_diags_init(&diags);
    if (gw_docs_add_yaml(&docs, "fuzz.yaml", (const char *)data, size, &diags) == 0) {
        gw_decode_docs(&docs, &store, &diags);
        /* Again as the directory source decodes a file: one arena, its
         * strings shared (gw_decode_strs). */
        struct gw_arena a;
        gw_arena_init(&a, 0);
        struct gw_decode_strs strs = {0};
        for (size_t i = 0; i < docs.n; i++) {
            struct gw_meta *m = NULL;
            gw_decode_object_strs(&docs.v[i], &a, "fuzz.yaml", &strs, &m, &diags);
        }
        gw_arena_release(&a);
    }
    /* Formatting every diagnostic exercises the strings decode built. */
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < diags.n; i++) {
        gw_buf_reset(&b);
        gw_diag_format(&diags.v[i], &b);
    }
    gw_buf_release(&b);
    gw_diags_release(&diags);
    gw_store_release(&store);
    gw_docs_release(&docs);
    return 0;
}
