/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decode internals, shared by decode*.c only: a small table-driven schema
 * engine (the OpenAPI part of a CRD: types, required, enums, formats,
 * ranges, list sizes, defaults, strict unknown fields) plus per-struct check
 * hooks for the CEL rules.
 */
#ifndef GW_LOAD_DECODE_INTERNAL_H
#define GW_LOAD_DECODE_INTERNAL_H

#include <stddef.h>

#include "base/base.h"
#include "config/config.h"
#include "load/load.h"

enum ftype {
    T_STR,      /* const char * */
    T_INT,      /* int64_t, -1 if absent without default */
    T_BOOL,     /* int tri-state */
    T_ENUM,     /* int: index + 1 into gw_enum_names(enum_id) */
    T_DURATION, /* int64_t ms */
    T_OBJ,      /* pointer to a sub-struct (NULL if absent) */
    T_STRUCT,   /* embedded sub-struct */
    T_LIST,     /* GW_LIST of sub-structs */
    T_STRLIST,  /* GW_LIST(const char *) */
    T_INTLIST,  /* GW_LIST(int64_t) */
    T_MAP,      /* string map -> GW_LIST(struct gw_kv) */
    T_IGNORE,   /* accepted, not modelled */
};

/* String formats (patterns and lengths of the CRDs and of Kubernetes). */
enum fmt {
    FMT_NONE,
    FMT_HOSTNAME,         /* Hostname: optional "*." prefix */
    FMT_PRECISE_HOSTNAME, /* PreciseHostname */
    FMT_SECTION_NAME,     /* SectionName */
    FMT_OBJECT_NAME,      /* ObjectName: 1..253 */
    FMT_GROUP,            /* Group: "" or a DNS subdomain */
    FMT_KIND,             /* Kind */
    FMT_NAMESPACE,        /* Namespace: DNS label */
    FMT_HEADER_NAME,      /* HTTPHeaderName */
    FMT_PROTOCOL,         /* ProtocolType */
    FMT_LABEL_VALUE,      /* Kubernetes label value */
    FMT_ADDRESS_TYPE,     /* AddressType */
    FMT_DNS_SUBDOMAIN,    /* metadata.name of most kinds */
    FMT_DNS_LABEL,        /* metadata.name of Namespace, Service */
    FMT_GRPC_SERVICE,     /* GRPCMethodMatch.service */
    FMT_GRPC_METHOD,      /* GRPCMethodMatch.method */
    FMT_HEADER_VALUE,     /* 1..4096, no control character but HTAB */
    FMT_QUERY_VALUE,      /* 1..1024, no control character */
    FMT_CORS_ORIGIN,      /* scheme://host..., or "*"; no control character */
    FMT_PATH,             /* a path (matches, rewrites, redirects): no control character */
    FMT_TEXT,             /* free text that may reach the wire: no control character */
    FMT__COUNT
};

/* Field flags. */
#define F_REQ       0x01u /* required */
#define F_DEF       0x02u /* has a default (def_str / def_int, or "empty" for objects and lists) */
#define F_UNIQUE    0x04u /* list: keyed by the string at ukey (listMapKey) or a set */
#define F_LABELKEYS 0x08u /* map: keys are label keys */
#define F_NONEMPTY  0x10u /* string: at least one character */

struct dctx;
struct schema;

typedef void (*check_fn)(struct dctx *c, void *obj, const struct gw_node *node);

struct field {
    const char *name;
    enum ftype type;
    unsigned flags;
    size_t off;
    const struct schema *sub;    /* T_OBJ, T_STRUCT, T_LIST */
    enum fmt fmt;                /* strings, string lists and map values */
    int enum_id;                 /* T_ENUM: enum gw_enum */
    const char *const *allowed;  /* T_ENUM: subset allowed here (NULL: all) */
    int64_t min, max;            /* T_INT/T_INTLIST values; T_STR length (max 0: none) */
    size_t min_items, max_items; /* lists, maps (max 0: none) */
    size_t ukey;                 /* F_UNIQUE on T_LIST: offset of the key string */
    const char *def_str;         /* T_STR / T_ENUM default */
    int64_t def_int;             /* T_INT / T_BOOL / T_DURATION default */
};

struct schema {
    const char *name;
    size_t size;
    const struct field *fields; /* terminated by a field with a NULL name */
    check_fn check;             /* CEL rules; may be NULL */
};

/* The state of decoding one object. */
struct dctx {
    struct gw_arena *a;          /* the object's */
    struct gw_decode_strs *strs; /* strings shared in a, NULL: none */
    struct gw_diags *diags;
    const char *file; /* lives as long as the object (interned in its arena) */
    const char *kind; /* for diagnostics */
    const char *ns;
    const char *name;
    struct gw_pos root_pos;
    struct gw_buf path; /* the current field path */
    unsigned errors;
};

/* Adds an error at the current path (plus sub, e.g. ".port" or "[2]"), at
 * the position of node (or of the object if node is NULL). */
GW_PRINTF(4, 5)
void d_err(struct dctx *c, const struct gw_node *node, const char *sub, const char *fmt, ...);
/* The CEL flavour: "Invalid value: \"object\": msg" (or "array"/"string"). */
void d_cel(struct dctx *c, const struct gw_node *node, const char *sub, const char *what,
           const char *msg);

/* Decodes node (a map, or NULL for "absent, apply defaults") into obj. */
void d_object(struct dctx *c, const struct schema *sc, const struct gw_node *node, void *obj);

/* Path helpers: push returns the length to restore with pop. */
size_t d_push(struct dctx *c, const char *name);
size_t d_push_index(struct dctx *c, size_t i);
void d_pop(struct dctx *c, size_t len);

/* A map's value node, NULL when absent or null. */
const struct gw_node *d_get(const struct gw_node *map, const char *key);
/* Item i of a list node, NULL if node is not a list or too short. */
const struct gw_node *d_item(const struct gw_node *list, size_t i);

/* Format checks, also used by hooks. */
bool d_fmt_ok(enum fmt f, const char *s, size_t len);

/* Roots of every kind (decode_schema.c). */
extern const struct schema d_gatewayclass, d_gateway, d_listenerset, d_httproute, d_grpcroute,
    d_tlsroute, d_tcproute, d_udproute, d_referencegrant, d_backendtlspolicy, d_ratelimitpolicy,
    d_healthcheckpolicy, d_circuitbreakerpolicy, d_loadbalancerpolicy, d_service, d_endpointslice,
    d_secret, d_configmap, d_namespace, d_metadata;
extern const struct schema d_clienttrafficpolicy;
extern const struct schema d_sourceaddresspolicy;
extern const struct schema d_jwtpolicy, d_basicauthpolicy, d_apikeypolicy;
extern const struct schema d_extauthpolicy;
extern const struct schema d_xbackend;
extern const struct schema d_xbackendtrafficpolicy;
extern const struct schema d_compressionpolicy;

#endif /* GW_LOAD_DECODE_INTERNAL_H */
