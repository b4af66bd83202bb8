/* SPDX-License-Identifier: Apache-2.0 */
/*
 * load internals shared by the doc tree front ends (doc_yaml.c, doc_json.c),
 * the node helpers (doc_node.c), scalar resolution (doc_scalar.c) and the
 * file/directory readers (doc_file.c). Nothing outside src/load includes
 * this header.
 */
#ifndef GW_LOAD_INTERNAL_H
#define GW_LOAD_INTERNAL_H

#include "load/load.h"

/* One front end run over one input (a file or a buffer). */
struct gw_load_ctx {
    struct gw_docs *docs;
    const char *file; /* interned in docs->arena */
    struct gw_diags *diags;
    const struct gw_load_limits *lim;
    size_t docs_at_start; /* docs->n on entry: the rollback point */
    size_t nodes;         /* nodes of the current document, after alias expansion */
    size_t aliases;       /* alias uses in the current document */
    int err;              /* first error, 0 while all is well */
};

/* Sets up ctx for one input named name; checks len against max_file_bytes
 * (adding the diagnostic). Returns 0 or GW_ELIMIT. */
int gw_load_ctx_begin(struct gw_load_ctx *ctx, struct gw_docs *docs, const char *name, size_t len,
                      struct gw_diags *diags);
/* Ends one input: on error the documents it added are dropped again (a file
 * is taken whole or not at all). Returns ctx->err. */
int gw_load_ctx_end(struct gw_load_ctx *ctx);

/* Records the first error of an input as a diagnostic at line:col of the
 * input (1-based; 0 when unknown). Later errors are ignored. */
GW_PRINTF(5, 6)
void gw_load_error(struct gw_load_ctx *ctx, int err, unsigned line, unsigned col, const char *fmt,
                   ...);

/* A new zeroed node in the docs arena, positioned in the current input. */
struct gw_node *gw_load_node_new(struct gw_load_ctx *ctx, enum gw_node_type t, unsigned line,
                                 unsigned col);
/* Adds n nodes to the document's count; GW_ELIMIT (with a diagnostic at
 * line:col) once max_nodes is passed. */
int gw_load_count(struct gw_load_ctx *ctx, size_t n, unsigned line, unsigned col);
/* Appends a finished document. */
void gw_load_doc_push(struct gw_load_ctx *ctx, struct gw_node *root, unsigned index);

/* Writes key as a quoted, escaped and possibly shortened string for
 * messages into out (NUL-terminated). */
void gw_load_quote(char *out, size_t size, const char *key, size_t len);

/* ------------------------------------------------------------------------ */
/* A string -> size_t hash table (open addressing, heap). Keys are borrowed. */

struct gw_load_strtab {
    struct gw_load_strtab_slot *slots;
    size_t cap, n;
};

#define GW_LOAD_STRTAB_NONE ((size_t)-1)

void gw_load_strtab_init(struct gw_load_strtab *t);
void gw_load_strtab_release(struct gw_load_strtab *t);
void gw_load_strtab_clear(struct gw_load_strtab *t);
/* The value stored for key, or GW_LOAD_STRTAB_NONE. */
size_t gw_load_strtab_get(const struct gw_load_strtab *t, const char *key, size_t len);
/* Stores val for key unless it is there already; returns the value already
 * there, or GW_LOAD_STRTAB_NONE if val was stored. */
size_t gw_load_strtab_add(struct gw_load_strtab *t, const char *key, size_t len, size_t val);
/* Stores val for key, replacing any earlier value. */
void gw_load_strtab_set(struct gw_load_strtab *t, const char *key, size_t len, size_t val);

/* Checks pairs[0..n) of one map for duplicate keys, skipping pairs whose key
 * is skip (may be NULL). Reports the second occurrence. Returns 0 or
 * GW_EPARSE. tab is scratch space, its contents unspecified afterwards. */
int gw_load_check_dups(struct gw_load_ctx *ctx, const struct gw_node_pair *pairs, size_t n,
                       const char *skip, struct gw_load_strtab *tab);

/* ------------------------------------------------------------------------ */
/* Scalar resolution (doc_scalar.c), go-yaml v2 rules as sigs.k8s.io/yaml.  */

/* Resolves a plain YAML scalar from n->text/n->len: sets n->type and n->v. */
void gw_load_resolve_plain(struct gw_node *n);

/* Resolves a scalar carrying an explicit tag (full form, e.g.
 * "tag:yaml.org,2002:int"). Returns 0, or -1 if the text is not a valid
 * value of the tag (the type found is left in n->type for the message). */
int gw_load_resolve_tagged(struct gw_node *n, const char *tag, bool plain);

#endif /* GW_LOAD_INTERNAL_H */
