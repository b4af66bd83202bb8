/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decode: one document's tree becomes one typed object in the store, the way
 * the API server would admit it. This file holds the driver (apiVersion and
 * kind, metadata, the store key, duplicates) and the schema engine that the
 * tables in decode_schema.c drive (with the CEL rules as check hooks).
 */
#include <stdlib.h>
#include <string.h>

#include "load/decode_internal.h"

#include "base/banned.h"

#define PATH_MAX_LEN 4096
#define MSG_MAX_LEN  8192
/* Fields of a schema decode_obj finds in one pass over the map (more: one
 * lookup each). */
#define DECODE_FIELDS_MAX 64

/* ------------------------------------------------------------------------ */
/* Diagnostics and paths                                                    */

static struct gw_pos
pos_of(const struct dctx *c, const struct gw_node *node)
{
    return node ? node->pos : c->root_pos;
}

static void
add_diag(struct dctx *c, enum gw_severity sev, struct gw_pos pos, const char *sub, const char *msg)
{
    size_t save = c->path.len;
    if (sub)
        gw_buf_append_cstr(&c->path, sub);
    gw_diags_add(c->diags, sev, pos, c->kind, c->ns, c->name, c->path.p ? c->path.p : "", "%s",
                 msg);
    c->path.len = save;
    if (c->path.p)
        c->path.p[save] = '\0';
    if (sev == GW_SEV_ERROR)
        c->errors++;
}

GW_PRINTF(4, 0)
static void verr_at(struct dctx *c, struct gw_pos pos, const char *sub, const char *fmt,
                    va_list ap);

static void
verr_at(struct dctx *c, struct gw_pos pos, const char *sub, const char *fmt, va_list ap)
{
    struct gw_buf m;
    gw_buf_init(&m, MSG_MAX_LEN);
    gw_buf_vappendf(&m, fmt, ap);
    add_diag(c, GW_SEV_ERROR, pos, sub, m.p ? m.p : "");
    gw_buf_release(&m);
}

GW_PRINTF(4, 5)

static void
err_at(struct dctx *c, struct gw_pos pos, const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr_at(c, pos, sub, fmt, ap);
    va_end(ap);
}

void
d_err(struct dctx *c, const struct gw_node *node, const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr_at(c, pos_of(c, node), sub, fmt, ap);
    va_end(ap);
}

void
d_cel(struct dctx *c, const struct gw_node *node, const char *sub, const char *what,
      const char *msg)
{
    d_err(c, node, sub, "Invalid value: \"%s\": %s", what, msg);
}

size_t
d_push(struct dctx *c, const char *name)
{
    size_t save = c->path.len;
    if (c->path.len)
        gw_buf_append_char(&c->path, '.');
    gw_buf_append_cstr(&c->path, name);
    return save;
}

size_t
d_push_index(struct dctx *c, size_t i)
{
    size_t save = c->path.len;
    gw_buf_appendf(&c->path, "[%zu]", i);
    return save;
}

void
d_pop(struct dctx *c, size_t len)
{
    c->path.len = len;
    if (c->path.p)
        c->path.p[len] = '\0';
}

const struct gw_node *
d_get(const struct gw_node *map, const char *key)
{
    if (!map || map->type != GW_NODE_MAP)
        return NULL;
    const struct gw_node *v = NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->u.pairs[i].key, key) == 0)
            v = map->u.pairs[i].value; /* the last one wins, as in sigs.k8s.io/yaml */
    }
    return v && v->type != GW_NODE_NULL ? v : NULL;
}

const struct gw_node *
d_item(const struct gw_node *list, size_t i)
{
    if (!list || list->type != GW_NODE_LIST || i >= list->n)
        return NULL;
    return list->u.items[i];
}

static const char *
type_name(enum gw_node_type t)
{
    switch (t) {
    case GW_NODE_NULL:
        return "null";
    case GW_NODE_BOOL:
        return "boolean";
    case GW_NODE_INT:
        return "integer";
    case GW_NODE_FLOAT:
        return "number";
    case GW_NODE_STR:
        return "string";
    case GW_NODE_MAP:
        return "object";
    case GW_NODE_LIST:
        return "array";
    }
    return "value";
}

/* Appends s as a JSON string (what the API server quotes values with). */
static void
quote(struct gw_buf *b, const char *s, size_t n)
{
    gw_buf_append_json_str(b, s ? s : "", s ? n : 0);
}

static int
type_error(struct dctx *c, const struct gw_node *v, const char *want)
{
    d_err(c, v, NULL, "expected %s, got %s", want, type_name(v->type));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Formats                                                                  */

static bool
is_alnum_lower(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool
is_alnum(char ch)
{
    return is_alnum_lower(ch) || (ch >= 'A' && ch <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool
dns_label(const char *s, size_t n)
{
    if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

/* dns_label(\.dns_label)* */
static bool
dns_subdomain(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!dns_label(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

static bool
is_token_char(unsigned char ch)
{
    return is_alnum((char)ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool
label_name(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && !strchr("-_.", s[i]))
            return false;
    }
    return true;
}

static bool
label_key(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    if (slash) {
        size_t plen = (size_t)(slash - s);
        if (plen == 0 || plen > 253 || !dns_subdomain(s, plen))
            return false;
        s = slash + 1;
        n -= plen + 1;
    }
    return n <= 63 && label_name(s, n);
}

static bool
grpc_ident(const char *s, size_t n, bool dots)
{
    /* service: ^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$, method: ^[A-Za-z_][A-Za-z_0-9]*$ */
    size_t i = 0;
    if (dots && n && s[0] == '.')
        i = 1;
    bool start = true;
    if (i == n)
        return false;
    for (; i < n; i++) {
        char ch = s[i];
        if (dots && ch == '.') {
            if (start)
                return false;
            start = true;
            continue;
        }
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(ch >= '0' && ch <= '9'))
            return false;
        if (start && !alpha)
            return false;
        start = false;
    }
    return !start;
}

struct fmt_info {
    size_t min, max;
    const char *pattern; /* for messages; NULL when the format is length-only */
};

static const struct fmt_info fmts[FMT__COUNT] = {
    [FMT_NONE] = {0, 0, NULL},
    [FMT_HOSTNAME] =
        {1, 253, "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
    [FMT_PRECISE_HOSTNAME] = {1, 253,
                              "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
    [FMT_SECTION_NAME] = {1, 253, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
    [FMT_OBJECT_NAME] = {1, 253, NULL},
    [FMT_GROUP] = {0, 253, "^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
    [FMT_KIND] = {1, 63, "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"},
    [FMT_NAMESPACE] = {1, 63, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
    [FMT_HEADER_NAME] = {1, 256, "^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$"},
    [FMT_PROTOCOL] =
        {1, 255,
         "^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-"
         "z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9]+$"},
    [FMT_LABEL_VALUE] = {0, 63, "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"},
    [FMT_ADDRESS_TYPE] = {1, 253,
                          "^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-"
                          "9]([-a-z0-9]*[a-z0-9])?)*\\/[a-zA-Z0-9]+$"},
    [FMT_DNS_SUBDOMAIN] = {1, 253,
                           "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"},
    [FMT_DNS_LABEL] = {1, 63, "[a-z0-9]([-a-z0-9]*[a-z0-9])?"},
    [FMT_GRPC_SERVICE] = {0, 1024, "^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$"},
    [FMT_GRPC_METHOD] = {0, 1024, "^[A-Za-z_][A-Za-z_0-9]*$"},
    [FMT_HEADER_VALUE] = {1, 4096, NULL},
    [FMT_QUERY_VALUE] = {1, 1024, NULL},
    [FMT_CORS_ORIGIN] = {1, 253, "^(([^:/?#]+):)(//([^/?#]*))([^?#]*)(\\?([^#]*))?(#(.*))?|\\*$"},
    [FMT_PATH] = {0, 0, NULL},
    [FMT_TEXT] = {0, 0, NULL},
};

/* Control characters (0x00-0x1F, 0x7F) in values that reach the wire: a CR
 * or LF there splits a header or a request line (request smuggling,
 * response splitting), and the CRDs put no pattern on these fields. HTAB
 * is allowed in header values only (RFC 9110 field-vchar / OWS); obs-text
 * (0x80-0xFF) passes. The index of the first bad byte, or -1. */
static long
ctl_at(const char *s, size_t n, bool htab_ok)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && !(htab_ok && ch == '\t')) || ch == 0x7f)
            return (long)i;
    }
    return -1;
}

/* Which formats refuse control characters: 0 none (or the pattern already
 * does), 1 all of them, 2 all but HTAB. */
static int
fmt_ctl(enum fmt f)
{
    switch (f) {
    case FMT_HEADER_VALUE:
        return 2;
    case FMT_QUERY_VALUE:
    case FMT_CORS_ORIGIN:
    case FMT_PATH:
    case FMT_TEXT:
        return 1;
    default:
        return 0;
    }
}

static bool
protocol_ok(const char *s, size_t n)
{
    /* ^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$ or domain/Name */
    const char *slash = memchr(s, '/', n);
    if (!slash) {
        if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!is_alnum(s[i]) && s[i] != '-')
                return false;
        }
        return true;
    }
    size_t plen = (size_t)(slash - s);
    if (!dns_subdomain(s, plen) || plen + 1 == n)
        return false;
    for (size_t i = plen + 1; i < n; i++) {
        if (!is_alnum(s[i]))
            return false;
    }
    return true;
}

static bool
cors_origin_ok(const char *s, size_t n)
{
    if (n == 1 && s[0] == '*')
        return true;
    const char *sep = n > 3 ? strstr(s, "://") : NULL;
    return sep && sep != s && (size_t)(sep - s) + 3 < n;
}

bool
d_fmt_ok(enum fmt f, const char *s, size_t n)
{
    switch (f) {
    case FMT_HOSTNAME:
        if (n >= 2 && s[0] == '*' && s[1] == '.')
            return dns_subdomain(s + 2, n - 2);
        return dns_subdomain(s, n);
    case FMT_PRECISE_HOSTNAME:
    case FMT_DNS_SUBDOMAIN:
        return dns_subdomain(s, n);
    case FMT_SECTION_NAME:
    case FMT_NAMESPACE:
    case FMT_DNS_LABEL:
        return dns_label(s, n);
    case FMT_GROUP:
        return n == 0 || dns_subdomain(s, n);
    case FMT_KIND:
        if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) ||
            !is_alnum(s[n - 1]))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!is_alnum(s[i]) && s[i] != '-')
                return false;
        }
        return true;
    case FMT_HEADER_NAME:
        for (size_t i = 0; i < n; i++) {
            if (!is_token_char((unsigned char)s[i]))
                return false;
        }
        return n > 0;
    case FMT_PROTOCOL:
        return protocol_ok(s, n);
    case FMT_LABEL_VALUE:
        return n == 0 || label_name(s, n);
    case FMT_ADDRESS_TYPE:
        if ((n == 8 && memcmp(s, "Hostname", 8) == 0) ||
            (n == 9 && memcmp(s, "IPAddress", 9) == 0) ||
            (n == 12 && memcmp(s, "NamedAddress", 12) == 0))
            return true;
        /* The name part after the slash also takes '-': upstream's own
         * conformance manifests use "test/fake-invalid-type". */
        {
            const char *slash = memchr(s, '/', n);
            if (!slash || slash == s || slash + 1 == s + n ||
                !dns_subdomain(s, (size_t)(slash - s)))
                return false;
            for (const char *q = slash + 1; q < s + n; q++) {
                if (!is_alnum(*q) && *q != '-')
                    return false;
            }
            return true;
        }
    case FMT_GRPC_SERVICE:
        return grpc_ident(s, n, true);
    case FMT_GRPC_METHOD:
        return grpc_ident(s, n, false);
    case FMT_CORS_ORIGIN:
        return ctl_at(s, n, false) < 0 && cors_origin_ok(s, n);
    case FMT_HEADER_VALUE:
    case FMT_QUERY_VALUE:
    case FMT_PATH:
    case FMT_TEXT:
        return ctl_at(s, n, fmt_ctl(f) == 2) < 0;
    default:
        return true;
    }
}

/* Length and pattern of a string value; reports and returns false on failure. */
static bool
check_string(struct dctx *c, const struct gw_node *v, enum fmt f, size_t min, size_t max)
{
    const struct fmt_info *fi = &fmts[f];
    if (fi->max && (!max || fi->max < max))
        max = fi->max;
    if (fi->min > min)
        min = fi->min;
    struct gw_buf m;
    gw_buf_init(&m, MSG_MAX_LEN);
    bool ok = true;
    long bad = fmt_ctl(f) ? ctl_at(v->text, v->len, fmt_ctl(f) == 2) : -1;
    if (max && v->len > max) {
        d_err(c, v, NULL, "Too long: may not be more than %zu bytes", max);
        ok = false;
    } else if (v->len < min) {
        gw_buf_append_cstr(&m, "Invalid value: ");
        quote(&m, v->text, v->len);
        gw_buf_appendf(&m, ": should be at least %zu chars long", min);
        d_err(c, v, NULL, "%s", m.p);
        ok = false;
    } else if (bad >= 0) {
        gw_buf_append_cstr(&m, "Invalid value: ");
        quote(&m, v->text, v->len);
        gw_buf_appendf(&m, ": must not contain control characters%s (0x%02x at byte %ld)",
                       fmt_ctl(f) == 2 ? " other than HTAB" : "", (unsigned char)v->text[bad], bad);
        d_err(c, v, NULL, "%s", m.p);
        ok = false;
    } else if (v->len && !d_fmt_ok(f, v->text, v->len)) {
        gw_buf_append_cstr(&m, "Invalid value: ");
        quote(&m, v->text, v->len);
        if (f == FMT_DNS_SUBDOMAIN)
            gw_buf_appendf(&m,
                           ": a lowercase RFC 1123 subdomain must consist of lower case "
                           "alphanumeric characters, '-' or '.', and must start and end "
                           "with an alphanumeric character (regex used for validation is "
                           "'%s')",
                           fi->pattern);
        else if (f == FMT_DNS_LABEL)
            gw_buf_appendf(&m,
                           ": a lowercase RFC 1123 label must consist of lower case "
                           "alphanumeric characters or '-', and must start and end with an "
                           "alphanumeric character (regex used for validation is '%s')",
                           fi->pattern);
        else
            gw_buf_appendf(&m, ": should match '%s'", fi->pattern ? fi->pattern : "");
        d_err(c, v, NULL, "%s", m.p);
        ok = false;
    }
    gw_buf_release(&m);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* The schema engine                                                        */

struct anylist {
    void *v;
    size_t n;
};

/* Strings longer than this are seldom repeated (certificates, CEL). */
#define SHARED_STR_MAX 256

static const char *
arena_str(struct dctx *c, const struct gw_node *v)
{
    const char *text = v->text ? v->text : "";
    size_t len = v->text ? v->len : 0;
    if (!c->strs || len > SHARED_STR_MAX)
        return gw_arena_strndup(c->a, text, len);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ull;
    struct gw_decode_str *slot = &c->strs->slot[(h ^ (h >> 29)) & (GW_DECODE_STRS - 1)];
    if (slot->s && slot->len == len && memcmp(slot->s, text, len) == 0)
        return slot->s;
    slot->s = gw_arena_strndup(c->a, text, len);
    slot->len = len;
    return slot->s;
}

static struct gw_pos
stored_pos(const struct dctx *c, struct gw_pos p)
{
    p.file = c->file;
    return p;
}

static int
enum_index(const struct field *f, const char *s)
{
    const char *const *all = gw_enum_names((enum gw_enum)f->enum_id);
    for (int i = 0; all[i]; i++) {
        if (strcmp(all[i], s) == 0)
            return i + 1;
    }
    return 0;
}

static bool
enum_allowed(const struct field *f, const char *s)
{
    const char *const *t = f->allowed ? f->allowed : gw_enum_names((enum gw_enum)f->enum_id);
    for (size_t i = 0; t[i]; i++) {
        if (strcmp(t[i], s) == 0)
            return true;
    }
    return false;
}

static int
unsupported(struct dctx *c, const struct gw_node *v, const char *const *allowed)
{
    struct gw_buf m;
    gw_buf_init(&m, MSG_MAX_LEN);
    gw_buf_append_cstr(&m, "Unsupported value: ");
    if (v->type == GW_NODE_STR)
        quote(&m, v->text, v->len);
    else
        gw_buf_append(&m, v->text ? v->text : "", v->text ? v->len : 0);
    gw_buf_append_cstr(&m, ": supported values: ");
    for (size_t i = 0; allowed[i]; i++) {
        if (i)
            gw_buf_append_cstr(&m, ", ");
        if (v->type == GW_NODE_STR)
            quote(&m, allowed[i], strlen(allowed[i]));
        else
            gw_buf_append_cstr(&m, allowed[i]);
    }
    d_err(c, v, NULL, "%s", m.p);
    gw_buf_release(&m);
    return 0;
}

static void decode_obj(struct dctx *c, const struct schema *sc, const struct gw_node *node,
                       void *obj, struct gw_pos fallback);

static bool
int_in_range(struct dctx *c, const struct gw_node *v, int64_t min, int64_t max)
{
    if (min == 0 && max == 0)
        return true;
    if (v->v.i < min) {
        d_err(c, v, NULL, "Invalid value: %lld: should be greater than or equal to %lld",
              (long long)v->v.i, (long long)min);
        return false;
    }
    if (v->v.i > max) {
        d_err(c, v, NULL, "Invalid value: %lld: should be less than or equal to %lld",
              (long long)v->v.i, (long long)max);
        return false;
    }
    return true;
}

static bool
list_size_ok(struct dctx *c, const struct field *f, const struct gw_node *v)
{
    if (f->max_items && v->n > f->max_items) {
        d_err(c, v, NULL, "Too many: %zu: must have at most %zu items", v->n, f->max_items);
        return false;
    }
    if (v->n < f->min_items) {
        d_err(c, v, NULL, "Invalid value: %zu: should have at least %zu items", v->n, f->min_items);
        return false;
    }
    return true;
}

static void
absent(struct dctx *c, const struct field *f, void *dst, const struct gw_node *parent,
       struct gw_pos here)
{
    if (f->flags & F_REQ)
        d_err(c, parent, NULL, "Required value");
    switch (f->type) {
    case T_STR:
        *(const char **)dst = f->def_str;
        break;
    case T_INT:
    case T_DURATION:
        *(int64_t *)dst = (f->flags & F_DEF) ? f->def_int : -1;
        break;
    case T_BOOL:
        *(int *)dst = (f->flags & F_DEF) ? (int)f->def_int : -1;
        break;
    case T_ENUM:
        *(int *)dst = f->def_str ? enum_index(f, f->def_str) : 0;
        break;
    case T_OBJ:
        if (f->flags & F_DEF) {
            void *o = gw_arena_alloc(c->a, f->sub->size);
            decode_obj(c, f->sub, NULL, o, here);
            *(void **)dst = o;
        }
        break;
    case T_STRUCT:
        if (!(f->flags & F_REQ))
            decode_obj(c, f->sub, NULL, dst, here);
        break;
    case T_LIST:
        if (f->flags & F_DEF) {
            struct anylist l = {gw_arena_alloc(c->a, f->sub->size), 1};
            size_t save = d_push_index(c, 0);
            decode_obj(c, f->sub, NULL, l.v, here);
            d_pop(c, save);
            memcpy(dst, &l, sizeof(l));
        }
        break;
    default:
        break;
    }
}

static void
unique_strings(struct dctx *c, const struct gw_node *list, const char *const *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v[i], v[j]) == 0) {
                struct gw_buf m;
                gw_buf_init(&m, MSG_MAX_LEN);
                gw_buf_append_cstr(&m, "Duplicate value: ");
                quote(&m, v[i], strlen(v[i]));
                size_t save = d_push_index(c, i);
                d_err(c, d_item(list, i), NULL, "%s", m.p);
                d_pop(c, save);
                gw_buf_release(&m);
                break;
            }
        }
    }
}

static void
unique_keys(struct dctx *c, const struct field *f, const struct gw_node *list, char *arr, size_t n)
{
    const char *key_name = NULL;
    for (const struct field *k = f->sub->fields; k->name; k++) {
        if (k->off == f->ukey)
            key_name = k->name;
    }
    for (size_t i = 1; i < n; i++) {
        const char *a = *(const char *const *)(const void *)(arr + i * f->sub->size + f->ukey);
        for (size_t j = 0; a && j < i; j++) {
            const char *b = *(const char *const *)(const void *)(arr + j * f->sub->size + f->ukey);
            if (b && strcmp(a, b) == 0) {
                struct gw_buf m;
                gw_buf_init(&m, MSG_MAX_LEN);
                gw_buf_appendf(&m, "Duplicate value: {\"%s\":", key_name ? key_name : "key");
                quote(&m, a, strlen(a));
                gw_buf_append_char(&m, '}');
                size_t save = d_push_index(c, i);
                d_err(c, d_item(list, i), NULL, "%s", m.p);
                d_pop(c, save);
                gw_buf_release(&m);
                break;
            }
        }
    }
}

static int
present(struct dctx *c, const struct field *f, void *dst, const struct gw_node *v)
{
    switch (f->type) {
    case T_IGNORE:
        return 0;
    case T_STR:
        if (v->type != GW_NODE_STR)
            return type_error(c, v, "string");
        if (f->allowed && !enum_allowed(f, v->text))
            unsupported(c, v, f->allowed);
        else
            check_string(c, v, f->fmt, (f->flags & F_NONEMPTY) ? 1 : (size_t)f->min,
                         (size_t)f->max);
        *(const char **)dst = arena_str(c, v);
        return 0;
    case T_INT:
        if (v->type != GW_NODE_INT)
            return type_error(c, v, "integer");
        if (f->allowed && !enum_allowed(f, v->text))
            unsupported(c, v, f->allowed);
        else
            int_in_range(c, v, f->min, f->max);
        *(int64_t *)dst = v->v.i;
        return 0;
    case T_BOOL:
        if (v->type != GW_NODE_BOOL)
            return type_error(c, v, "boolean");
        *(int *)dst = v->v.b ? 1 : 0;
        return 0;
    case T_ENUM:
        if (f->allowed && v->type == GW_NODE_INT) {
            /* Integer enums (redirect status codes) are spelled as strings here. */
            if (!enum_allowed(f, v->text))
                return unsupported(c, v, f->allowed);
            *(int *)dst = enum_index(f, v->text);
            return 0;
        }
        if (v->type != GW_NODE_STR)
            return type_error(c, v, "string");
        if (!enum_allowed(f, v->text))
            return unsupported(c, v,
                               f->allowed ? f->allowed : gw_enum_names((enum gw_enum)f->enum_id));
        *(int *)dst = enum_index(f, v->text);
        return 0;
    case T_DURATION:
        if (v->type != GW_NODE_STR)
            return type_error(c, v, "string");
        if (gw_duration_parse((struct gw_str){v->text, v->len}, (int64_t *)dst) != 0) {
            struct gw_buf m;
            gw_buf_init(&m, MSG_MAX_LEN);
            gw_buf_append_cstr(&m, "Invalid value: ");
            quote(&m, v->text, v->len);
            gw_buf_append_cstr(&m, ": should match '^([0-9]{1,5}(h|m|s|ms)){1,4}$'");
            d_err(c, v, NULL, "%s", m.p);
            gw_buf_release(&m);
        }
        return 0;
    case T_OBJ: {
        if (v->type != GW_NODE_MAP)
            return type_error(c, v, "object");
        void *o = gw_arena_alloc(c->a, f->sub->size);
        decode_obj(c, f->sub, v, o, v->pos);
        *(void **)dst = o;
        return 0;
    }
    case T_STRUCT:
        if (v->type != GW_NODE_MAP)
            return type_error(c, v, "object");
        decode_obj(c, f->sub, v, dst, v->pos);
        return 0;
    case T_LIST: {
        if (v->type != GW_NODE_LIST)
            return type_error(c, v, "array");
        if (!list_size_ok(c, f, v))
            return 0;
        struct anylist l = {gw_arena_alloc(c->a, f->sub->size * (v->n ? v->n : 1)), v->n};
        for (size_t i = 0; i < v->n; i++) {
            const struct gw_node *it = v->u.items[i];
            size_t save = d_push_index(c, i);
            if (it->type != GW_NODE_MAP)
                type_error(c, it, "object");
            else
                decode_obj(c, f->sub, it, (char *)l.v + i * f->sub->size, it->pos);
            d_pop(c, save);
        }
        memcpy(dst, &l, sizeof(l));
        if (f->flags & F_UNIQUE)
            unique_keys(c, f, v, l.v, l.n);
        return 0;
    }
    case T_STRLIST: {
        if (v->type != GW_NODE_LIST)
            return type_error(c, v, "array");
        if (!list_size_ok(c, f, v))
            return 0;
        const char **arr = gw_arena_alloc(c->a, sizeof(*arr) * (v->n ? v->n : 1));
        size_t n = 0;
        for (size_t i = 0; i < v->n; i++) {
            const struct gw_node *it = v->u.items[i];
            size_t save = d_push_index(c, i);
            if (it->type != GW_NODE_STR) {
                type_error(c, it, "string");
            } else {
                if (f->allowed && !enum_allowed(f, it->text))
                    unsupported(c, it, f->allowed);
                else
                    check_string(c, it, f->fmt, (size_t)f->min, (size_t)f->max);
                arr[n++] = arena_str(c, it);
            }
            d_pop(c, save);
        }
        struct anylist l = {arr, n};
        memcpy(dst, &l, sizeof(l));
        if ((f->flags & F_UNIQUE) && n == v->n)
            unique_strings(c, v, arr, n);
        return 0;
    }
    case T_INTLIST: {
        if (v->type != GW_NODE_LIST)
            return type_error(c, v, "array");
        if (!list_size_ok(c, f, v))
            return 0;
        int64_t *arr = gw_arena_alloc(c->a, sizeof(*arr) * (v->n ? v->n : 1));
        size_t n = 0;
        for (size_t i = 0; i < v->n; i++) {
            const struct gw_node *it = v->u.items[i];
            size_t save = d_push_index(c, i);
            if (it->type != GW_NODE_INT)
                type_error(c, it, "integer");
            else if (int_in_range(c, it, f->min, f->max))
                arr[n++] = it->v.i;
            d_pop(c, save);
        }
        struct anylist l = {arr, n};
        memcpy(dst, &l, sizeof(l));
        return 0;
    }
    case T_MAP: {
        if (v->type != GW_NODE_MAP)
            return type_error(c, v, "object");
        if (f->max_items && v->n > f->max_items) {
            d_err(c, v, NULL, "Too many: %zu: must have at most %zu items", v->n, f->max_items);
            return 0;
        }
        struct gw_kv *arr = gw_arena_alloc(c->a, sizeof(*arr) * (v->n ? v->n : 1));
        size_t n = 0;
        for (size_t i = 0; i < v->n; i++) {
            const struct gw_node_pair *p = &v->u.pairs[i];
            size_t save = d_push(c, p->key);
            if ((f->flags & F_LABELKEYS) && !label_key(p->key, p->key_len)) {
                struct gw_buf m;
                gw_buf_init(&m, MSG_MAX_LEN);
                gw_buf_append_cstr(&m, "Invalid value: ");
                quote(&m, p->key, p->key_len);
                gw_buf_append_cstr(&m, ": name part must consist of alphanumeric characters, "
                                       "'-', '_' or '.', and must start and end with an "
                                       "alphanumeric character");
                err_at(c, p->key_pos, NULL, "%s", m.p);
                gw_buf_release(&m);
            }
            if (p->value->type != GW_NODE_STR) {
                if (p->value->type != GW_NODE_NULL)
                    type_error(c, p->value, "string");
            } else {
                check_string(c, p->value, f->fmt, 0, 0);
                struct gw_kv *kv = NULL;
                for (size_t j = 0; j < n; j++) {
                    if (strcmp(arr[j].key, p->key) == 0)
                        kv = &arr[j]; /* a repeated key: the last one wins */
                }
                if (!kv) {
                    kv = &arr[n++];
                    kv->key = gw_arena_strndup(c->a, p->key, p->key_len);
                }
                kv->pos = stored_pos(c, p->value->pos);
                kv->value = arena_str(c, p->value);
            }
            d_pop(c, save);
        }
        struct anylist l = {arr, n};
        memcpy(dst, &l, sizeof(l));
        return 0;
    }
    }
    return 0;
}

static void
decode_obj(struct dctx *c, const struct schema *sc, const struct gw_node *node, void *obj,
           struct gw_pos fallback)
{
    *(struct gw_pos *)obj = stored_pos(c, node ? node->pos : fallback);
    /* The value of each field, found in the one pass that looks for
     * unknown fields (keys are unique within a map), rather than a scan
     * of the map per field. */
    const struct gw_node *vals[DECODE_FIELDS_MAX];
    size_t nf = 0;
    while (sc->fields[nf].name)
        nf++;
    bool found = nf <= DECODE_FIELDS_MAX;
    if (found)
        memset(vals, 0, nf * sizeof(*vals));
    if (node) {
        for (size_t i = 0; i < node->n; i++) {
            const struct gw_node_pair *p = &node->u.pairs[i];
            const struct field *f = sc->fields;
            while (f->name && strcmp(f->name, p->key) != 0)
                f++;
            if (!f->name) {
                size_t save = d_push(c, p->key);
                err_at(c, p->key_pos, NULL, "unknown field \"%s\"", p->key);
                d_pop(c, save);
            } else if (found) {
                vals[f - sc->fields] = p->value; /* the last one wins, as in d_get */
            }
        }
    }
    for (const struct field *f = sc->fields; f->name; f++) {
        const struct gw_node *v = found ? vals[f - sc->fields] : d_get(node, f->name);
        if (v && v->type == GW_NODE_NULL)
            v = NULL;
        size_t save = d_push(c, f->name);
        void *dst = (char *)obj + f->off;
        if (v)
            (void)present(c, f, dst, v);
        else
            absent(c, f, dst, node, node ? node->pos : fallback);
        d_pop(c, save);
    }
    if (sc->check)
        sc->check(c, obj, node);
}

void
d_object(struct dctx *c, const struct schema *sc, const struct gw_node *node, void *obj)
{
    decode_obj(c, sc, node, obj, node ? node->pos : c->root_pos);
}

/* ------------------------------------------------------------------------ */
/* Kinds and API versions                                                   */

struct kind_desc {
    const char *kind; /* as written in manifests */
    enum gw_kind model;
    const char *group;
    const char *versions[4];
    const struct schema *schema;
};

static const struct kind_desc kind_descs[] = {
    {"GatewayClass", GW_KIND_GATEWAYCLASS, GW_GROUP_GATEWAY, {"v1", "v1beta1"}, &d_gatewayclass},
    {"Gateway", GW_KIND_GATEWAY, GW_GROUP_GATEWAY, {"v1", "v1beta1"}, &d_gateway},
    {"ListenerSet", GW_KIND_LISTENERSET, GW_GROUP_GATEWAY, {"v1"}, &d_listenerset},
    {"XListenerSet",
     GW_KIND_LISTENERSET,
     "gateway.networking.x-k8s.io",
     {"v1alpha1"},
     &d_listenerset},
    {"HTTPRoute", GW_KIND_HTTPROUTE, GW_GROUP_GATEWAY, {"v1", "v1beta1"}, &d_httproute},
    {"GRPCRoute", GW_KIND_GRPCROUTE, GW_GROUP_GATEWAY, {"v1"}, &d_grpcroute},
    {"TLSRoute", GW_KIND_TLSROUTE, GW_GROUP_GATEWAY, {"v1", "v1alpha3", "v1alpha2"}, &d_tlsroute},
    {"TCPRoute", GW_KIND_TCPROUTE, GW_GROUP_GATEWAY, {"v1", "v1alpha2"}, &d_tcproute},
    {"UDPRoute", GW_KIND_UDPROUTE, GW_GROUP_GATEWAY, {"v1", "v1alpha2"}, &d_udproute},
    {"ReferenceGrant",
     GW_KIND_REFERENCEGRANT,
     GW_GROUP_GATEWAY,
     {"v1", "v1beta1"},
     &d_referencegrant},
    {"BackendTLSPolicy",
     GW_KIND_BACKENDTLSPOLICY,
     GW_GROUP_GATEWAY,
     {"v1", "v1alpha3"},
     &d_backendtlspolicy},
    {"RateLimitPolicy",
     GW_KIND_RATELIMITPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_ratelimitpolicy},
    {"HealthCheckPolicy",
     GW_KIND_HEALTHCHECKPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_healthcheckpolicy},
    {"ClientTrafficPolicy",
     GW_KIND_CLIENTTRAFFICPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_clienttrafficpolicy},
    {"SourceAddressPolicy",
     GW_KIND_SOURCEADDRESSPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_sourceaddresspolicy},
    {"CircuitBreakerPolicy",
     GW_KIND_CIRCUITBREAKERPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_circuitbreakerpolicy},
    {"LoadBalancerPolicy",
     GW_KIND_LOADBALANCERPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_loadbalancerpolicy},
    {"JWTPolicy", GW_KIND_JWTPOLICY, GW_GROUP_GATEHOUSE, {"v1alpha1"}, &d_jwtpolicy},
    {"BasicAuthPolicy",
     GW_KIND_BASICAUTHPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_basicauthpolicy},
    {"APIKeyPolicy", GW_KIND_APIKEYPOLICY, GW_GROUP_GATEHOUSE, {"v1alpha1"}, &d_apikeypolicy},
    {"XBackendTrafficPolicy",
     GW_KIND_XBACKENDTRAFFICPOLICY,
     "gateway.networking.x-k8s.io",
     {"v1alpha1"},
     &d_xbackendtrafficpolicy},
    {"Service", GW_KIND_SERVICE, "", {"v1"}, &d_service},
    {"EndpointSlice", GW_KIND_ENDPOINTSLICE, "discovery.k8s.io", {"v1"}, &d_endpointslice},
    {"Secret", GW_KIND_SECRET, "", {"v1"}, &d_secret},
    {"ConfigMap", GW_KIND_CONFIGMAP, "", {"v1"}, &d_configmap},
    {"Namespace", GW_KIND_NAMESPACE, "", {"v1"}, &d_namespace},
    {"ExtAuthPolicy", GW_KIND_EXTAUTHPOLICY, GW_GROUP_GATEHOUSE, {"v1alpha1"}, &d_extauthpolicy},
    {"XBackend", GW_KIND_XBACKEND, GW_GROUP_GATEWAY_X, {"v1alpha1"}, &d_xbackend},
    {"CompressionPolicy",
     GW_KIND_COMPRESSIONPOLICY,
     GW_GROUP_GATEHOUSE,
     {"v1alpha1"},
     &d_compressionpolicy},
};

/* Standard Kubernetes kinds that appear next to Gateway API objects and that
 * gatehouse has no use for: skipped without a word. */
static const char *const ignored_kinds[] = {
    "Deployment",
    "Pod",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "Endpoints",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "CustomResourceDefinition",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "LimitRange",
    "ResourceQuota",
    "PriorityClass",
    "Lease",
    "Event",
    "List",
};

static const struct kind_desc *
find_kind(const char *kind)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(kind_descs); i++) {
        if (strcmp(kind_descs[i].kind, kind) == 0)
            return &kind_descs[i];
    }
    return NULL;
}

static bool
api_version_ok(const struct kind_desc *kd, const char *av)
{
    size_t glen = strlen(kd->group);
    const char *version = av;
    if (glen) {
        if (strncmp(av, kd->group, glen) != 0 || av[glen] != '/')
            return false;
        version = av + glen + 1;
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(kd->versions) && kd->versions[i]; i++) {
        if (strcmp(kd->versions[i], version) == 0)
            return true;
    }
    return false;
}

/* The apiVersions most manifests write: an object with one of them points
 * at the constant instead of a copy (100,000 routes: ~3 MB less). */
static const char *const common_api_versions[] = {
    GW_GROUP_GATEWAY "/v1",      "v1", "discovery.k8s.io/v1", GW_GROUP_GATEHOUSE "/v1alpha1",
    GW_GROUP_GATEWAY "/v1beta1",
};

static const char *
api_version_keep(struct gw_arena *a, const char *av)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(common_api_versions); i++)
        if (strcmp(common_api_versions[i], av) == 0)
            return common_api_versions[i];
    return gw_arena_strdup(a, av);
}

static void
bad_api_version(struct dctx *c, const struct kind_desc *kd, const struct gw_node *v)
{
    struct gw_buf m;
    gw_buf_init(&m, MSG_MAX_LEN);
    gw_buf_append_cstr(&m, "Unsupported value: ");
    quote(&m, v->text, v->len);
    gw_buf_append_cstr(&m, ": supported values: ");
    for (size_t i = 0; i < GW_ARRAY_LEN(kd->versions) && kd->versions[i]; i++) {
        char *s = *kd->group ? gw_xasprintf("%s/%s", kd->group, kd->versions[i])
                             : gw_xstrdup(kd->versions[i]);
        if (i)
            gw_buf_append_cstr(&m, ", ");
        quote(&m, s, strlen(s));
        free(s);
    }
    d_err(c, v, "apiVersion", "%s", m.p);
    gw_buf_release(&m);
}

static const char *
scalar_text(const struct gw_node *n)
{
    return n && n->type == GW_NODE_STR ? n->text : NULL;
}

/* Kubernetes adds this label to every Namespace; selectors rely on it. */
static void
add_namespace_label(struct dctx *c, struct gw_meta *m)
{
    if (gw_meta_label(m, "kubernetes.io/metadata.name"))
        return;
    struct gw_kv *v = gw_arena_alloc(c->a, sizeof(*v) * (m->labels.n + 1));
    if (m->labels.n)
        memcpy(v, m->labels.v, sizeof(*v) * m->labels.n);
    v[m->labels.n] = (struct gw_kv){m->pos, "kubernetes.io/metadata.name", m->name};
    m->labels.v = v;
    m->labels.n++;
}

int
gw_decode_object(const struct gw_doc *doc, struct gw_arena *a, const char *file,
                 struct gw_meta **out, struct gw_diags *diags)
{
    return gw_decode_object_strs(doc, a, file, NULL, out, diags);
}

int
gw_decode_object_strs(const struct gw_doc *doc, struct gw_arena *a, const char *file,
                      struct gw_decode_strs *strs, struct gw_meta **out, struct gw_diags *diags)
{
    *out = NULL;
    const struct gw_node *root = doc->root;
    if (!root || root->type == GW_NODE_NULL)
        return 0;
    struct dctx c = {
        .a = a,
        .strs = strs,
        .diags = diags,
        .file = file,
        .root_pos = root->pos,
    };
    gw_buf_init(&c.path, PATH_MAX_LEN);
    int rc = GW_EINVAL;
    if (root->type != GW_NODE_MAP) {
        d_err(&c, root, NULL, "expected object, got %s", type_name(root->type));
        goto out;
    }
    const struct gw_node *kind = d_get(root, "kind");
    const struct gw_node *av = d_get(root, "apiVersion");
    const struct gw_node *md = d_get(root, "metadata");
    c.name = scalar_text(d_get(md, "name"));
    c.ns = scalar_text(d_get(md, "namespace"));
    if (!kind || kind->type != GW_NODE_STR || !kind->len) {
        d_err(&c, kind ? kind : root, "kind", "Object 'Kind' is missing or not a string");
        goto out;
    }
    c.kind = kind->text;
    if (!av || av->type != GW_NODE_STR || !av->len) {
        d_err(&c, av ? av : root, "apiVersion", "Object 'apiVersion' is missing or not a string");
        goto out;
    }
    const struct kind_desc *kd = find_kind(kind->text);
    if (!kd) {
        for (size_t i = 0; i < GW_ARRAY_LEN(ignored_kinds); i++) {
            if (strcmp(ignored_kinds[i], kind->text) == 0) {
                rc = 0;
                goto out;
            }
        }
        gw_diags_add(diags, GW_SEV_WARNING, root->pos, c.kind, c.ns, c.name, NULL,
                     "unknown kind %s (apiVersion %s): ignored", kind->text, av->text);
        rc = 0;
        goto out;
    }
    bool namespaced = gw_kind_is_namespaced(kd->model);
    if (!namespaced)
        c.ns = NULL;
    else if (!c.ns)
        c.ns = "default";
    if (!api_version_ok(kd, av->text))
        bad_api_version(&c, kd, av);

    struct gw_meta *m = gw_arena_alloc(c.a, kd->schema->size);
    d_object(&c, kd->schema, root, m);
    m->pos = stored_pos(&c, root->pos);
    m->kind = kd->model;
    m->api_version = api_version_keep(c.a, av->text);
    if (!namespaced)
        m->ns = NULL;
    else if (!m->ns)
        m->ns = "default";
    if (c.errors)
        goto out;
    if (kd->model == GW_KIND_NAMESPACE)
        add_namespace_label(&c, m);
    if (kd->model == GW_KIND_ENDPOINTSLICE)
        ((struct gw_endpointslice *)(void *)m)->service_name =
            gw_meta_label(m, "kubernetes.io/service-name");
    *out = m;
    rc = 0;
out:
    gw_buf_release(&c.path);
    return rc;
}

int
gw_decode_add(struct gw_store *store, struct gw_meta *obj, struct gw_diags *diags)
{
    const struct gw_meta *prev = NULL;
    if (gw_store_add(store, obj, &prev) != GW_EEXISTS)
        return 0;
    /* Said as gw_decode_object says its errors: at the document's root,
     * with the kind as written (find_kind matched it exactly). */
    const char *kind = gw_kind_name(obj->kind);
    gw_diags_add(diags, GW_SEV_ERROR, obj->pos, kind, obj->ns, obj->name, "",
                 "duplicate object: %s %s%s%s already defined at %s:%u:%u", kind,
                 prev->ns ? prev->ns : "", prev->ns ? "/" : "", prev->name,
                 prev->pos.file ? prev->pos.file : "?", prev->pos.line, prev->pos.col);
    return GW_EEXISTS;
}

int
gw_decode_doc(const struct gw_doc *doc, struct gw_store *store, struct gw_diags *diags)
{
    const struct gw_node *root = doc->root;
    if (!root || root->type == GW_NODE_NULL)
        return 0;
    const char *file = gw_store_intern(store, root->pos.file ? root->pos.file : doc->file);
    struct gw_meta *m = NULL;
    int rc = gw_decode_object(doc, gw_store_arena(store), file, &m, diags);
    if (rc == 0 && m && gw_decode_add(store, m, diags) != 0)
        rc = GW_EINVAL;
    return rc;
}

int
gw_decode_docs(const struct gw_docs *docs, struct gw_store *store, struct gw_diags *diags)
{
    int rejected = 0;
    for (size_t i = 0; i < docs->n; i++) {
        if (gw_decode_doc(&docs->v[i], store, diags) != 0)
            rejected++;
    }
    return rejected;
}
