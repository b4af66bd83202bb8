/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_docs_add_yaml. Any bytes in; a tree or a diagnostic
 * out, never a crash, a leak or a sanitizer report. The tree is walked so
 * every node is touched, and the all-or-nothing rule is checked.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/base.h"
#include "load/load.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
walk(const struct gw_node *n, unsigned depth)
{
    GW_ASSERT(n && depth <= 64 && n->pos.line > 0 && n->pos.col > 0);
    size_t count = 1;
    if (n->type == GW_NODE_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            GW_ASSERT(n->u.pairs[i].key && n->u.pairs[i].key[n->u.pairs[i].key_len] == '\0');
            count += walk(n->u.pairs[i].value, depth + 1);
        }
    } else if (n->type == GW_NODE_LIST) {
        for (size_t i = 0; i < n->n; i++)
            count += walk(n->u.items[i], depth + 1);
    } else {
        GW_ASSERT(n->text && n->text[n->len] == '\0');
    }
    return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_docs docs;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    docs.limits.max_nodes = 100000; /* keep each run quick */
    int rc = gw_docs_add_yaml(&docs, "fuzz.yaml", (const char *)data, size, &diags);
    if (rc < 0) {
        GW_ASSERT(docs.n == 0 && diags.n == 1 && diags.errors == 1);
    } else {
        GW_ASSERT(diags.n == 0);
        /* Alias subtrees are shared, so the walk sees the expanded tree:
         * bounded by max_nodes per document. */
        for (size_t i = 0; i < docs.n; i++)
            GW_ASSERT(walk(docs.v[i].root, 1) <= docs.limits.max_nodes);
    }
    gw_docs_release(&docs);
    gw_diags_release(&diags);
    return 0;
}
