/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache: every object the reflectors deliver, decoded once when it
 * arrives (the same decode, defaults and validation as a file's objects)
 * into a part of its own, so a translate builds a fresh store from parts
 * that already exist and an event costs the decode of one object. Beside
 * the decoded object it keeps what the status writer needs: the object's
 * resourceVersion and current status (compact JSON: read only when a
 * status is compared), and for an object decode rejected, the few
 * references its status is written against. The objects of one list share
 * one part.
 *
 * An event says what it changed: a status-only change (our own write
 * coming back, or another controller's) does not translate again. That is
 * decided by a hash of everything but metadata.resourceVersion,
 * metadata.managedFields and, for the kinds whose status we write,
 * status.
 *
 * Objects of a kind sit in an array (in arrival order) indexed by a hash
 * table on namespace/name (open addressing, backward-shift deletion).
 */
#include <stdlib.h>
#include <string.h>

#include "k8s/internal.h"

#include "base/banned.h"

struct kind_table {
    struct gw_k8s_obj **v;
    size_t n, cap;
    uint32_t *slots; /* index + 1 into v; 0: empty */
    size_t nslots;   /* power of two */
    size_t rejected; /* objects decode rejected */
};

struct gw_k8s_cache {
    struct kind_table kinds[GW_KIND__COUNT];
    /* Per kind, the part the objects of its list in progress are decoded
     * into, one for all (a part per object wastes most of its first
     * chunk); NULL outside a list, where each object gets a small part of
     * its own. */
    struct gw_store_part *batch[GW_KIND__COUNT];
};

/* ------------------------------------------------------------------------ */
/* Hashing                                                                  */

static uint64_t
key_hash(const char *ns, const char *name)
{
    uint64_t h = GW_K8S_FNV_OFFSET;
    if (ns)
        h = gw_k8s_fnv(h, ns, strlen(ns));
    h = gw_k8s_fnv(h, "/", 1);
    return gw_k8s_fnv(h, name, strlen(name));
}

static bool
key_eq(const struct gw_k8s_obj *o, const char *ns, const char *name)
{
    if (strcmp(o->name, name) != 0)
        return false;
    if (!o->ns || !ns)
        return !o->ns && !ns;
    return strcmp(o->ns, ns) == 0;
}

/* Whether a status subresource of this kind is ours to compare (and so
 * left out of the config hash). */
static bool
has_our_status(enum gw_kind kind)
{
    switch (kind) {
    case GW_KIND_GATEWAYCLASS:
    case GW_KIND_GATEWAY:
    case GW_KIND_LISTENERSET:
    case GW_KIND_HTTPROUTE:
    case GW_KIND_GRPCROUTE:
    case GW_KIND_TLSROUTE:
    case GW_KIND_TCPROUTE:
    case GW_KIND_UDPROUTE:
        return true;
    default:
        return gw_kind_is_policy(kind);
    }
}

/* depth 1 is metadata's own map: its resourceVersion and managedFields
 * are left out. */
static uint64_t
node_hash(uint64_t h, const struct gw_node *n, int depth)
{
    h = gw_k8s_fnv(h, &n->type, sizeof(n->type));
    switch (n->type) {
    case GW_NODE_MAP:
        for (size_t i = 0; i < n->n; i++) {
            const struct gw_node_pair *p = &n->u.pairs[i];
            if (depth == 1 &&
                (!strcmp(p->key, "resourceVersion") || !strcmp(p->key, "managedFields")))
                continue;
            h = gw_k8s_fnv(h, p->key, p->key_len + 1);
            h = node_hash(h, p->value, depth + 1);
        }
        break;
    case GW_NODE_LIST:
        for (size_t i = 0; i < n->n; i++)
            h = node_hash(h, n->u.items[i], depth + 1);
        h = gw_k8s_fnv(h, &n->n, sizeof(n->n));
        break;
    default:
        if (n->text)
            h = gw_k8s_fnv(h, n->text, n->len + 1);
        break;
    }
    return h;
}

/* The config hash: all but metadata's resourceVersion and managedFields,
 * and our status. */
static uint64_t
object_hash(enum gw_kind kind, const struct gw_node *root)
{
    uint64_t h = GW_K8S_FNV_OFFSET;
    bool skip = has_our_status(kind);
    for (size_t i = 0; i < root->n; i++) {
        const struct gw_node_pair *p = &root->u.pairs[i];
        if (skip && !strcmp(p->key, "status"))
            continue;
        h = gw_k8s_fnv(h, p->key, p->key_len + 1);
        if (!strcmp(p->key, "metadata") && p->value->type == GW_NODE_MAP)
            h = node_hash(h, p->value, 1);
        else
            h = node_hash(h, p->value, 2);
    }
    return h;
}

/* ------------------------------------------------------------------------ */
/* The table                                                                */

static size_t
slot_of(const struct kind_table *t, const char *ns, const char *name)
{
    return (size_t)key_hash(ns, name) & (t->nslots - 1);
}

static void
rehash(struct kind_table *t, size_t nslots)
{
    free(t->slots);
    t->nslots = nslots;
    t->slots = gw_xcalloc(nslots, sizeof(*t->slots));
    for (size_t i = 0; i < t->n; i++) {
        size_t s = slot_of(t, t->v[i]->ns, t->v[i]->name);
        while (t->slots[s])
            s = (s + 1) & (nslots - 1);
        t->slots[s] = (uint32_t)(i + 1);
    }
}

/* The slot holding ns/name, or the empty slot where it would go. */
static size_t
find_slot(const struct kind_table *t, const char *ns, const char *name)
{
    size_t s = slot_of(t, ns, name);
    while (t->slots[s] && !key_eq(t->v[t->slots[s] - 1], ns, name))
        s = (s + 1) & (t->nslots - 1);
    return s;
}

static struct gw_k8s_obj *
table_get(const struct kind_table *t, const char *ns, const char *name)
{
    if (!t->nslots)
        return NULL;
    size_t s = find_slot(t, ns, name);
    return t->slots[s] ? t->v[t->slots[s] - 1] : NULL;
}

static void
table_add(struct kind_table *t, struct gw_k8s_obj *o)
{
    if ((t->n + 1) * 2 > t->nslots)
        rehash(t, t->nslots ? t->nslots * 2 : 16);
    t->v = gw_xgrow(t->v, &t->cap, t->n + 1, sizeof(*t->v));
    t->v[t->n++] = o;
    size_t s = find_slot(t, o->ns, o->name);
    t->slots[s] = (uint32_t)t->n;
}

/* Removes o (present) from the table: swap-remove from the array, and a
 * backward-shift deletion of its slot. */
static void
table_remove(struct kind_table *t, struct gw_k8s_obj *o)
{
    size_t s = find_slot(t, o->ns, o->name);
    uint32_t idx = t->slots[s] - 1;
    size_t mask = t->nslots - 1;
    t->slots[s] = 0;
    for (size_t j = (s + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        const struct gw_k8s_obj *x = t->v[t->slots[j] - 1];
        size_t home = slot_of(t, x->ns, x->name);
        /* x may move to s when s lies cyclically within [home, j). */
        bool movable = (j > s) ? (home <= s || home > j) : (home <= s && home > j);
        if (movable) {
            t->slots[s] = t->slots[j];
            t->slots[j] = 0;
            s = j;
        }
    }
    size_t last = t->n - 1;
    if (idx != last) {
        struct gw_k8s_obj *m = t->v[last];
        t->v[idx] = m;
        size_t ms = find_slot(t, m->ns, m->name);
        t->slots[ms] = idx + 1;
    }
    t->n--;
}

/* ------------------------------------------------------------------------ */
/* Objects                                                                  */

static void
obj_free(struct gw_k8s_obj *o)
{
    if (!o)
        return;
    free(o->ns);
    free(o->name);
    free(o->rv);
    free(o->status);
    gw_store_part_unref(o->part);
    gw_diags_release(&o->diags);
    gw_arena_release(&o->refs_arena);
    free(o);
}

struct gw_k8s_cache *
gw_k8s_cache_new(void)
{
    return gw_xcalloc(1, sizeof(struct gw_k8s_cache));
}

void
gw_k8s_cache_free(struct gw_k8s_cache *c)
{
    if (!c)
        return;
    for (int k = 0; k < GW_KIND__COUNT; k++) {
        struct kind_table *t = &c->kinds[k];
        for (size_t i = 0; i < t->n; i++)
            obj_free(t->v[i]);
        free(t->v);
        free(t->slots);
    }
    for (int k = 0; k < GW_KIND__COUNT; k++)
        gw_store_part_unref(c->batch[k]);
    free(c);
}

static const char *
str_at(const struct gw_node *map, const char *key)
{
    const struct gw_node *n = gw_node_get(map, key);
    return n && n->type == GW_NODE_STR ? n->text : NULL;
}

/* The apiVersion of a kind's list items, which carry none for built-in
 * kinds: the first version decode accepts. */
static const char *
default_api_version(enum gw_kind kind)
{
    switch (kind) {
    case GW_KIND_ENDPOINTSLICE:
        return "discovery.k8s.io/v1";
    case GW_KIND_SERVICE:
    case GW_KIND_SECRET:
    case GW_KIND_CONFIGMAP:
    case GW_KIND_NAMESPACE:
        return "v1";
    default:
        return "gateway.networking.k8s.io/v1";
    }
}

/* root with apiVersion and kind, added (in a from a) where missing. */
static const struct gw_node *
with_type(struct gw_arena *a, enum gw_kind kind, const struct gw_node *root)
{
    bool has_av = gw_node_get(root, "apiVersion") != NULL;
    bool has_kind = gw_node_get(root, "kind") != NULL;
    if (has_av && has_kind)
        return root;
    struct gw_node *m = gw_arena_alloc(a, sizeof(*m));
    *m = *root;
    m->u.pairs = gw_arena_alloc(a, (root->n + 2) * sizeof(*m->u.pairs));
    size_t n = 0;
    const char *keys[2] = {has_av ? NULL : "apiVersion", has_kind ? NULL : "kind"};
    const char *vals[2] = {default_api_version(kind), gw_kind_name(kind)};
    for (int i = 0; i < 2; i++) {
        if (!keys[i])
            continue;
        struct gw_node *v = gw_arena_alloc(a, sizeof(*v));
        v->type = GW_NODE_STR;
        v->pos = root->pos;
        v->text = vals[i];
        v->len = strlen(vals[i]);
        m->u.pairs[n++] = (struct gw_node_pair){keys[i], strlen(keys[i]), root->pos, v};
    }
    memcpy(m->u.pairs + n, root->u.pairs, root->n * sizeof(*m->u.pairs));
    m->n = root->n + n;
    return m;
}

/* The API path of an object: the "file" its positions name. */
static char *
object_path(enum gw_kind kind, const char *ns, const char *name)
{
    const char *g = gw_kind_group(kind);
    const char *plural = gw_k8s_kind_plural(kind);
    if (ns)
        return gw_xasprintf("%s/namespaces/%s/%s/%s", *g ? g : "core", ns, plural, name);
    return gw_xasprintf("%s/%s/%s", *g ? g : "core", plural, name);
}

/* The compact JSON of a doc-tree value (numbers and booleans as their
 * text, as the API server sent them). */
static void
node_json(const struct gw_node *n, struct gw_buf *b)
{
    switch (n->type) {
    case GW_NODE_NULL:
        gw_buf_append_cstr(b, "null");
        break;
    case GW_NODE_BOOL:
        gw_buf_append_cstr(b, n->v.b ? "true" : "false");
        break;
    case GW_NODE_INT:
    case GW_NODE_FLOAT:
        gw_buf_append(b, n->text, n->len);
        break;
    case GW_NODE_STR:
        gw_buf_append_json_str(b, n->text, n->len);
        break;
    case GW_NODE_MAP:
        gw_buf_append_char(b, '{');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                gw_buf_append_char(b, ',');
            gw_buf_append_json_str(b, n->u.pairs[i].key, n->u.pairs[i].key_len);
            gw_buf_append_char(b, ':');
            node_json(n->u.pairs[i].value, b);
        }
        gw_buf_append_char(b, '}');
        break;
    case GW_NODE_LIST:
        gw_buf_append_char(b, '[');
        for (size_t i = 0; i < n->n; i++) {
            if (i)
                gw_buf_append_char(b, ',');
            node_json(n->u.items[i], b);
        }
        gw_buf_append_char(b, ']');
        break;
    }
}

/* Takes root's status as o's current one; true if it changed. */
static bool
obj_take_status(struct gw_k8s_obj *o, const struct gw_node *root)
{
    const struct gw_node *st = gw_node_get(root, "status");
    char *text = NULL;
    size_t len = 0;
    if (st && st->type == GW_NODE_MAP) {
        struct gw_buf b;
        gw_buf_init(&b, 16u << 20);
        node_json(st, &b);
        len = b.len;
        text = gw_buf_steal(&b);
    }
    bool same = (!text && !o->status) ||
                (text && o->status && len == o->status_len && !memcmp(text, o->status, len));
    if (same) {
        free(text);
        return false;
    }
    free(o->status);
    o->status = text;
    o->status_len = len;
    o->status_changed = true;
    return true;
}

struct gw_sv *
gw_k8s_obj_status(const struct gw_k8s_obj *o, struct gw_sv_pool *pool)
{
    if (!o->status)
        return NULL;
    struct gw_docs docs;
    gw_docs_init(&docs);
    struct gw_diags diags;
    gw_diags_init(&diags);
    struct gw_sv *sv = NULL;
    if (gw_docs_add_json(&docs, "status", o->status, o->status_len, &diags) == 0 && docs.n == 1 &&
        docs.v[0].root)
        sv = gw_k8s_sv_from_node(pool, docs.v[0].root);
    gw_diags_release(&diags);
    gw_docs_release(&docs);
    return sv;
}

/* Decodes root into o (into the list's batch part, or a small part of its
 * own), keeping, when rejected, the references its status needs. */
static void
obj_decode(struct gw_k8s_cache *c, struct gw_k8s_obj *o, enum gw_kind kind,
           const struct gw_node *root)
{
    gw_store_part_unref(o->part);
    o->part = NULL;
    o->obj = NULL;
    gw_diags_release(&o->diags);
    gw_diags_init(&o->diags);
    gw_arena_release(&o->refs_arena);
    gw_arena_init(&o->refs_arena, 512);
    o->refs = NULL;

    struct gw_arena tmp;
    gw_arena_init(&tmp, 1024);
    struct gw_doc doc = {.root = (struct gw_node *)with_type(&tmp, kind, root), .index = 0};
    char *path = object_path(kind, o->ns, o->name);
    struct gw_store_part *part;
    if (c->batch[kind]) {
        part = c->batch[kind];
        gw_store_part_ref(part);
    } else {
        part = gw_store_part_new(1024);
    }
    const char *file = gw_arena_strdup(&part->arena, path);
    free(path);
    doc.file = file;
    struct gw_meta *m = NULL;
    if (gw_decode_object(&doc, &part->arena, file, &m, &o->diags) == 0 && m) {
        o->part = part;
        o->obj = m;
    } else {
        gw_store_part_unref(part);
    }
    gw_arena_release(&tmp);

    if (!o->obj) {
        struct gw_sv_pool pool;
        gw_sv_pool_init(&pool, &o->refs_arena);
        const struct gw_node *spec = gw_node_get(root, "spec");
        struct gw_sv *refs = gw_sv_new(&pool, GW_SV_OBJ);
        static const char *const keep[] = {"parentRefs", "gatewayClassName", "controllerName",
                                           "targetRefs"};
        for (size_t i = 0; spec && i < GW_ARRAY_LEN(keep); i++) {
            const struct gw_node *v = gw_node_get(spec, keep[i]);
            if (v)
                gw_sv_add(refs, gw_arena_strdup(&o->refs_arena, keep[i]),
                          gw_k8s_sv_from_node(&pool, v));
        }
        o->refs = refs;
    }
}

unsigned
gw_k8s_cache_event(struct gw_k8s_cache *c, enum gw_kind kind, enum gw_k8s_event ev,
                   const struct gw_node *root)
{
    struct kind_table *t = &c->kinds[kind];
    if (ev == GW_K8S_LIST_BEGIN) {
        for (size_t i = 0; i < t->n; i++)
            t->v[i]->seen = false;
        gw_store_part_unref(c->batch[kind]);
        c->batch[kind] = gw_store_part_new(64u << 10);
        return 0;
    }
    if (ev == GW_K8S_LIST_END) {
        gw_store_part_unref(c->batch[kind]);
        c->batch[kind] = NULL;
        /* Whatever the list did not deliver is gone. */
        unsigned changed = 0;
        for (size_t i = t->n; i-- > 0;) {
            struct gw_k8s_obj *o = t->v[i];
            if (o->seen)
                continue;
            if (!o->obj)
                t->rejected--;
            table_remove(t, o);
            obj_free(o);
            changed = GW_K8S_CHANGED_CONFIG;
        }
        return changed;
    }
    if (!root || root->type != GW_NODE_MAP)
        return 0;
    const struct gw_node *md = gw_node_get(root, "metadata");
    const char *name = md ? str_at(md, "name") : NULL;
    if (!name)
        return 0;
    const char *ns = gw_kind_is_namespaced(kind) ? str_at(md, "namespace") : NULL;
    if (gw_kind_is_namespaced(kind) && !ns)
        return 0;
    struct gw_k8s_obj *o = table_get(t, ns, name);
    if (ev == GW_K8S_DELETED) {
        if (!o)
            return 0;
        if (!o->obj)
            t->rejected--;
        table_remove(t, o);
        obj_free(o);
        return GW_K8S_CHANGED_CONFIG;
    }
    const char *rv = str_at(md, "resourceVersion");
    const struct gw_node *gen = gw_node_get(md, "generation");
    uint64_t h = object_hash(kind, root);
    unsigned changed = 0;
    if (!o) {
        o = gw_xcalloc(1, sizeof(*o));
        o->ns = ns ? gw_xstrdup(ns) : NULL;
        o->name = gw_xstrdup(name);
        gw_diags_init(&o->diags);
        gw_arena_init(&o->refs_arena, 512);
        table_add(t, o);
        obj_decode(c, o, kind, root);
        if (!o->obj)
            t->rejected++;
        changed |= GW_K8S_CHANGED_CONFIG;
    } else if (o->hash != h) {
        bool was = o->obj != NULL;
        obj_decode(c, o, kind, root);
        t->rejected += (size_t)(was && !o->obj);
        t->rejected -= (size_t)(!was && o->obj);
        changed |= GW_K8S_CHANGED_CONFIG;
    }
    /* Only the kinds whose status is ours, and the Services (the one that
     * fronts gatehouse gives Gateways its addresses), keep theirs. */
    if ((has_our_status(kind) || kind == GW_KIND_SERVICE) && obj_take_status(o, root))
        changed |= GW_K8S_CHANGED_STATUS;
    o->hash = h;
    o->seen = true;
    if (!o->rv || !rv || strcmp(o->rv, rv) != 0) {
        free(o->rv);
        o->rv = rv ? gw_xstrdup(rv) : NULL;
        changed |= GW_K8S_CHANGED_STATUS;
    }
    o->generation = gen && gen->type == GW_NODE_INT ? gen->v.i : 0;
    return changed;
}

static void
diag_copy(struct gw_diags *dst, const struct gw_diag *g)
{
    gw_diags_add(dst, g->severity, (struct gw_pos){g->file, g->pos.line, g->pos.col}, g->kind,
                 g->ns, g->name, g->path, "%s", g->message);
}

void
gw_k8s_cache_store(const struct gw_k8s_cache *c, struct gw_store *store, struct gw_diags *diags)
{
    for (int k = 0; k < GW_KIND__COUNT; k++) {
        const struct kind_table *t = &c->kinds[k];
        if (t->n)
            gw_store_reserve(store, (enum gw_kind)k, t->n);
        const struct gw_store_part *held = NULL;
        for (size_t i = 0; i < t->n; i++) {
            const struct gw_k8s_obj *o = t->v[i];
            for (size_t j = 0; j < o->diags.n; j++)
                diag_copy(diags, &o->diags.v[j]);
            if (!o->obj)
                continue;
            /* Objects of one list share a part, mostly side by side. */
            if (o->part != held)
                gw_store_hold(store, o->part);
            held = o->part;
            gw_decode_add(store, o->obj, diags);
        }
    }
}

struct gw_k8s_obj *
gw_k8s_cache_get(const struct gw_k8s_cache *c, enum gw_kind kind, const char *ns, const char *name)
{
    return table_get(&c->kinds[kind], gw_kind_is_namespaced(kind) ? ns : NULL, name);
}

struct gw_k8s_obj *const *
gw_k8s_cache_list(const struct gw_k8s_cache *c, enum gw_kind kind, size_t *n)
{
    *n = c->kinds[kind].n;
    return c->kinds[kind].v;
}

size_t
gw_k8s_cache_count(const struct gw_k8s_cache *c, enum gw_kind kind)
{
    return c->kinds[kind].n;
}

size_t
gw_k8s_cache_rejected(const struct gw_k8s_cache *c)
{
    size_t n = 0;
    for (int k = 0; k < GW_KIND__COUNT; k++)
        n += c->kinds[k].rejected;
    return n;
}

size_t
gw_k8s_cache_decoded(const struct gw_k8s_cache *c, enum gw_kind kind)
{
    return c->kinds[kind].n - c->kinds[kind].rejected;
}
