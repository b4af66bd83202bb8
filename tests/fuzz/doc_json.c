/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: gw_docs_add_json. Any bytes in; a tree or a diagnostic
 * with a position out, never a crash, a leak or a sanitizer report. Every
 * string of the tree must be valid UTF-8 without NUL, since the front end
 * promises that.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "load/load.h"
/* Last, so its bans cannot break the system headers above. */
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8(const char *s, size_t len)
{
    GW_ASSERT(s[len] == '\0' && memchr(s, '\0', len) == NULL);
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        GW_ASSERT(c < 0x80 || (c >= 0xc2 && c <= 0xf4));
        GW_ASSERT((size_t)(end - p) >= n);
        for (size_t i = 1; i < n; i++)
            GW_ASSERT((p[i] & 0xc0) == 0x80);
        p += n;
    }
}

static void
walk(const struct gw_node *n, unsigned depth)
{
    GW_ASSERT(n && depth <= 64 && n->pos.line > 0 && n->pos.col > 0);
    switch (n->type) {
    case GW_NODE_MAP:
        for (size_t i = 0; i < n->n; i++) {
            check_utf8(n->u.pairs[i].key, n->u.pairs[i].key_len);
            walk(n->u.pairs[i].value, depth + 1);
        }
        break;
    case GW_NODE_LIST:
        for (size_t i = 0; i < n->n; i++)
            walk(n->u.items[i], depth + 1);
        break;
    case GW_NODE_STR:
        check_utf8(n->text, n->len);
        break;
    default:
        GW_ASSERT(n->text && n->len > 0);
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_docs docs;
    struct gw_diags diags;
    gw_docs_init(&docs);
    gw_diags_init(&diags);
    int rc = gw_docs_add_json(&docs, "fuzz.json", (const char *)data, size, &diags);
    if (rc < 0) {
        GW_ASSERT(docs.n == 0 && diags.n == 1 && diags.v[0].pos.line > 0);
    } else {
        GW_ASSERT(diags.n == 0);
        for (size_t i = 0; i < docs.n; i++)
            walk(docs.v[i].root, 1);
    }
    gw_docs_release(&docs);
    gw_diags_release(&diags);
    return 0;
}
