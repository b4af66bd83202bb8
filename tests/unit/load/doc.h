/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helpers shared by the YAML and JSON front-end tests: one doc tree
 * and its diagnostics, reloaded from scratch per input, with the first
 * diagnostic formatted for comparison.
 */
#ifndef GW_TEST_LOAD_DOC_H
#define GW_TEST_LOAD_DOC_H

#include <stdio.h>

#include "base/base.h"
#include "load/load.h"

/* gw_docs_add_yaml or gw_docs_add_json. */
typedef int (*doc_add_fn)(struct gw_docs *docs, const char *name, const char *data, size_t len,
                          struct gw_diags *diags);

struct doc_fx {
    struct gw_docs docs;
    struct gw_diags diags;
    char first_diag[1024]; /* "file:line:col: message" of diags.v[0], or "" */
};

static inline void
doc_fx_init(struct doc_fx *fx)
{
    gw_docs_init(&fx->docs);
    gw_diags_init(&fx->diags);
    fx->first_diag[0] = '\0';
}

static inline void
doc_fx_release(struct doc_fx *fx)
{
    gw_docs_release(&fx->docs);
    gw_diags_release(&fx->diags);
}

/* Drops every document and diagnostic. */
static inline void
doc_fx_reset(struct doc_fx *fx)
{
    doc_fx_release(fx);
    doc_fx_init(fx);
}

/* Resets, then adds `text` as file `name` through `add` under `lim` (the
 * defaults when NULL); returns what `add` returned. */
static inline int
doc_fx_load(struct doc_fx *fx, doc_add_fn add, const char *name, const char *text, size_t len,
            const struct gw_load_limits *lim)
{
    doc_fx_reset(fx);
    if (lim)
        fx->docs.limits = *lim;
    int rc = add(&fx->docs, name, text, len, &fx->diags);
    if (fx->diags.n) {
        struct gw_buf b;
        gw_buf_init(&b, sizeof(fx->first_diag) - 1);
        gw_diag_format(&fx->diags.v[0], &b);
        snprintf(fx->first_diag, sizeof(fx->first_diag), "%s", b.p ? b.p : "");
        gw_buf_release(&b);
    }
    return rc;
}

/* The root of document i, or NULL past the last one. */
static inline const struct gw_node *
doc_fx_root(const struct doc_fx *fx, size_t i)
{
    return i < fx->docs.n ? fx->docs.v[i].root : NULL;
}

#endif
