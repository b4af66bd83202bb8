/* SPDX-License-Identifier: Apache-2.0 */
/*
 * load: bytes in, typed objects out. Two steps, both pure (no I/O except
 * reading the files named by the caller):
 *
 *  1. The doc tree. YAML (libyaml) and JSON (our own small front end) become
 *     one tree of maps, lists and scalars, every node carrying file:line:col.
 *     Multi-document YAML, anchors and aliases (with a hard expansion cap),
 *     document size and depth limits.
 *  2. Decode. A document's tree becomes a typed Gateway API object (see
 *     config/config.h), with the CRD defaults the API server would apply and
 *     the CRD validation (OpenAPI and CEL rules). Errors name the kind,
 *     namespace/name, field path and position.
 */
#ifndef GW_LOAD_H
#define GW_LOAD_H

#include "base/base.h"
#include "config/config.h"

/* ======================================================================== */
/* 1. The doc tree                                                          */

enum gw_node_type {
    GW_NODE_NULL,  /* YAML ~ / null / empty; JSON null */
    GW_NODE_BOOL,  /* YAML 1.1 booleans as sigs.k8s.io/yaml reads them; JSON true/false */
    GW_NODE_INT,   /* integer that fits int64 */
    GW_NODE_FLOAT, /* any other number */
    GW_NODE_STR,   /* quoted scalar, or a plain scalar that resolves to no other type */
    GW_NODE_MAP,
    GW_NODE_LIST,
};

struct gw_node;

struct gw_node_pair {
    const char *key; /* NUL-terminated; map keys are always scalars */
    size_t key_len;
    struct gw_pos key_pos;
    struct gw_node *value;
};

/*
 * One node. Everything hangs off the owning gw_docs arena and is immutable
 * once loading returns. For scalars, text/len hold the scalar's text
 * (decoded, NUL-terminated; for STR the value itself, for numbers and bools
 * the source spelling) so messages can quote what the user wrote.
 */
struct gw_node {
    enum gw_node_type type;
    struct gw_pos pos;
    const char *text;
    size_t len;

    union {
        bool b;
        int64_t i;
        double f;
    } v;

    size_t n; /* number of pairs (MAP) or items (LIST) */

    union {
        struct gw_node_pair *pairs; /* MAP, in document order */
        struct gw_node **items;     /* LIST */
    } u;
};

/*
 * What readers of the tree may rely on:
 *  - Plain YAML scalars resolve as go-yaml v2 (sigs.k8s.io/yaml) does,
 *    including y/Y/n/N/yes/no/on/off as booleans, 0x/0o/leading-0 octal and
 *    0b integers, '_' ignored in numbers, .inf/.nan floats (so a FLOAT may
 *    be infinite or NaN); see src/load/doc_scalar.c. Integers past int64
 *    are FLOAT. JSON numbers: INT without fraction or exponent when they fit
 *    int64, else FLOAT.
 *  - A YAML alias is the anchored node itself: the same gw_node may appear
 *    at several places (and carries the anchor's position). Merge keys (<<)
 *    are already expanded; explicit keys win.
 *  - Keys are unique within a map and keep their source text ("1", "yes").
 *  - Strings never contain NUL (both front ends refuse it), so text and key
 *    may be used as C strings; they are valid UTF-8.
 *  - Columns count characters, not bytes.
 */

/* One YAML document (or one JSON value) of a file. */
struct gw_doc {
    struct gw_node *root; /* NULL for an empty document */
    const char *file;     /* interned in the gw_docs arena */
    unsigned index;       /* 0-based document index within the file */
};

/* Limits applied while reading; gw_load_limits_default() fills sane ones. */
struct gw_load_limits {
    size_t max_file_bytes; /* a file larger than this is rejected */
    unsigned max_depth;    /* nesting of maps and lists */
    size_t max_nodes;      /* per document, after alias expansion */
    size_t max_aliases;    /* alias uses per document */
};

void gw_load_limits_default(struct gw_load_limits *lim);

/* Everything loaded in one pass: the documents and the arena that owns them. */
struct gw_docs {
    struct gw_arena arena;
    struct gw_doc *v;
    size_t n, cap;
    struct gw_load_limits limits;
};

void gw_docs_init(struct gw_docs *docs);
void gw_docs_release(struct gw_docs *docs);

/*
 * Each gw_docs_add_* appends the documents it reads to docs. name is used
 * as the file in positions. On a syntax or limit error a diagnostic is added
 * to diags (with the position of the error) and GW_EPARSE or GW_ELIMIT is
 * returned; documents read before the error in that input are kept out (a
 * file is taken whole or not at all).
 */
int gw_docs_add_yaml(struct gw_docs *docs, const char *name, const char *data, size_t len,
                     struct gw_diags *diags);
int gw_docs_add_json(struct gw_docs *docs, const char *name, const char *data, size_t len,
                     struct gw_diags *diags);
/* Reads one file: *.json as JSON, anything else as YAML. -errno on I/O error. */
int gw_docs_add_file(struct gw_docs *docs, const char *path, struct gw_diags *diags);
/* Reads every *.yaml, *.yml and *.json under dir, recursively, in byte-wise
 * sorted path order; hidden entries (leading '.') are skipped. Keeps going
 * past bad files; returns the first error, or 0. */
int gw_docs_add_dir(struct gw_docs *docs, const char *dir, struct gw_diags *diags);

/* Map lookup by key; NULL if node is not a map or the key is absent. */
const struct gw_node *gw_node_get(const struct gw_node *map, const char *key);
/* Name of a node type for messages: "string", "integer", "object", ... */
const char *gw_node_type_name(enum gw_node_type t);

/* ======================================================================== */
/* 2. Decode: doc tree -> typed objects in a store (config/config.h)        */

/*
 * Decodes every document of docs into store. Each object is defaulted and
 * validated; an invalid object is reported (kind, ns/name, field path,
 * position) and left out of the store, as `kubectl apply` would refuse it.
 * Unknown kinds are skipped with a warning; a duplicate kind/ns/name is an
 * error naming both places. Returns the number of objects rejected.
 */
int gw_decode_docs(const struct gw_docs *docs, struct gw_store *store, struct gw_diags *diags);

/* Decodes one document's root; same rules. 0, or GW_EINVAL if rejected. */
int gw_decode_doc(const struct gw_doc *doc, struct gw_store *store, struct gw_diags *diags);

/*
 * gw_decode_doc in two steps, for objects decoded once and added to several
 * stores over time (the source keeps each file's objects across reloads).
 * gw_decode_object decodes doc's root into a new object allocated from a,
 * its positions naming file (borrowed: must live as long as a), and adds
 * no store: *out is the object, or NULL when the document holds nothing to
 * add (empty, a skipped kind). 0, or GW_EINVAL if rejected (diagnostics in
 * diags). The object only points into a and static storage.
 */
int gw_decode_object(const struct gw_doc *doc, struct gw_arena *a, const char *file,
                     struct gw_meta **out, struct gw_diags *diags);

/* Recent strings decoded into one arena, by a hash of their bytes: objects
 * decoded one after the other into the same arena (a file's) then share
 * equal strings (namespaces, hostnames, parent and backend names) instead
 * of a copy each. Caller storage, zeroed before the first object; it points
 * into the arena, so it lives no longer than the arena, and is used with
 * that arena only. */
#define GW_DECODE_STRS 256

struct gw_decode_str {
    const char *s; /* in the arena; NULL: empty slot */
    size_t len;
};

struct gw_decode_strs {
    struct gw_decode_str slot[GW_DECODE_STRS];
};

/* gw_decode_object taking its strings from strs (NULL: a copy each). */
int gw_decode_object_strs(const struct gw_doc *doc, struct gw_arena *a, const char *file,
                          struct gw_decode_strs *strs, struct gw_meta **out,
                          struct gw_diags *diags);
/* Adds obj (from gw_decode_object) to store, which borrows it; a duplicate
 * kind/ns/name is reported as gw_decode_doc reports it. 0 or GW_EEXISTS. */
int gw_decode_add(struct gw_store *store, struct gw_meta *obj, struct gw_diags *diags);

#endif /* GW_LOAD_H */
