/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store: every decoded object, owned by its arena or by a part it holds
 * (objects shared with other stores), found by kind/namespace/name through
 * an open-addressing hash table, and listed per kind in namespace/name order
 * (kept sorted on insert, so readers never sort).
 */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#include "base/banned.h"

void
gw_store_init(struct gw_store *s)
{
    memset(s, 0, sizeof(*s));
    gw_arena_init(&s->arena, 64 * 1024);
}

void
gw_store_release(struct gw_store *s)
{
    for (unsigned k = 0; k < GW_KIND__COUNT; k++) {
        free(s->kinds[k].v);
        free(s->kinds[k].slots);
    }
    free(s->slices.v);
    for (size_t i = 0; i < s->nparts; i++)
        gw_store_part_unref(s->parts[i]);
    free(s->parts);
    free(s->files);
    gw_arena_release(&s->arena);
    memset(s, 0, sizeof(*s));
}

struct gw_arena *
gw_store_arena(struct gw_store *s)
{
    return &s->arena;
}

struct gw_store_part *
gw_store_part_new(size_t chunk)
{
    struct gw_store_part *p = gw_xmalloc(sizeof(*p));
    gw_arena_init(&p->arena, chunk);
    p->refs = 1;
    return p;
}

void
gw_store_part_ref(struct gw_store_part *p)
{
    GW_ASSERT(p->refs > 0);
    p->refs++;
}

void
gw_store_part_unref(struct gw_store_part *p)
{
    if (!p)
        return;
    GW_ASSERT(p->refs > 0);
    if (--p->refs > 0)
        return;
    gw_arena_release(&p->arena);
    free(p);
}

void
gw_store_hold(struct gw_store *s, struct gw_store_part *p)
{
    gw_store_part_ref(p);
    s->parts = gw_xgrow(s->parts, &s->parts_cap, s->nparts + 1, sizeof(*s->parts));
    s->parts[s->nparts++] = p;
}

const char *
gw_store_intern(struct gw_store *s, const char *file)
{
    if (!file)
        return NULL;
    for (size_t i = s->nfiles; i-- > 0;) {
        if (s->files[i] == file || strcmp(s->files[i], file) == 0)
            return s->files[i];
    }
    s->files = gw_xgrow(s->files, &s->files_cap, s->nfiles + 1, sizeof(*s->files));
    const char *copy = gw_arena_strdup(&s->arena, file);
    s->files[s->nfiles++] = copy;
    return copy;
}

static uint64_t
fnv(uint64_t h, const char *str)
{
    for (const unsigned char *p = (const unsigned char *)str; p && *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    /* A separator so ("ab","c") and ("a","bc") differ. */
    h ^= 0xff;
    h *= 1099511628211ULL;
    return h;
}

static uint64_t
key_hash(enum gw_kind kind, const char *ns, const char *name)
{
    uint64_t h = 14695981039346656037ULL ^ (uint64_t)kind;
    h *= 1099511628211ULL;
    return fnv(fnv(h, ns), name);
}

static const char *
key_ns(enum gw_kind kind, const char *ns)
{
    return gw_kind_is_namespaced(kind) && ns ? ns : "";
}

static bool
key_eq(const struct gw_meta *m, enum gw_kind kind, const char *ns, const char *name)
{
    return m->kind == kind && strcmp(key_ns(kind, m->ns), ns) == 0 && strcmp(m->name, name) == 0;
}

/* The slot of kind/ns/name, or the empty slot where it would go. The
 * stored hash spares the string compares of a probe past other keys. */
static size_t
slot_find(const struct gw_store_slot *slots, size_t nslots, uint64_t h, enum gw_kind kind,
          const char *ns, const char *name)
{
    size_t mask = nslots - 1;
    size_t i = (size_t)h & mask;
    while (slots[i].obj && (slots[i].hash != h || !key_eq(slots[i].obj, kind, ns, name)))
        i = (i + 1) & mask;
    return i;
}

/* Rehashes k into a table of n slots (a power of two, > k->n). Keys are
 * unique: each goes to the first free slot of its probe, no compare. */
static void
rehash(struct gw_store_kind *k, size_t n)
{
    struct gw_store_slot *slots = gw_xcalloc(n, sizeof(*slots));
    size_t mask = n - 1;
    for (size_t i = 0; i < k->nslots; i++) {
        if (!k->slots[i].obj)
            continue;
        size_t j = (size_t)k->slots[i].hash & mask;
        while (slots[j].obj)
            j = (j + 1) & mask;
        slots[j] = k->slots[i];
    }
    free(k->slots);
    k->slots = slots;
    k->nslots = n;
}

/* At most 3/4 full. */
static size_t
slots_for(size_t count)
{
    size_t n = 64;
    while (count * 4 > n * 3)
        n *= 2;
    return n;
}

void
gw_store_reserve(struct gw_store *s, enum gw_kind kind, size_t n)
{
    GW_ASSERT((unsigned)kind < GW_KIND__COUNT);
    struct gw_store_kind *k = &s->kinds[kind];
    size_t want = slots_for(n);
    if (want > k->nslots)
        rehash(k, want);
}

static int
cmp_meta(const struct gw_meta *a, const struct gw_meta *b)
{
    int c = strcmp(key_ns(a->kind, a->ns), key_ns(b->kind, b->ns));
    return c ? c : strcmp(a->name, b->name);
}

/* Inserts obj into k, keeping k sorted by cmp. */
static void
insert_sorted(struct gw_store_kind *k, struct gw_meta *obj,
              int (*cmp)(const struct gw_meta *, const struct gw_meta *))
{
    k->v = gw_xgrow(k->v, &k->cap, k->n + 1, sizeof(*k->v));
    size_t lo = 0, hi = k->n;
    /* Decode adds most objects in order: try the end first. */
    if (hi > 0 && cmp(k->v[hi - 1], obj) < 0)
        lo = hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(k->v[mid], obj) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(k->v + lo + 1, k->v + lo, (k->n - lo) * sizeof(*k->v));
    k->v[lo] = obj;
    k->n++;
}

static const char *
slice_service(const struct gw_meta *m)
{
    return ((const struct gw_endpointslice *)(const void *)m)->service_name;
}

/* The slice index order: namespace, service name, name. */
static int
cmp_slice(const struct gw_meta *a, const struct gw_meta *b)
{
    int c = strcmp(key_ns(a->kind, a->ns), key_ns(b->kind, b->ns));
    if (c == 0)
        c = strcmp(slice_service(a), slice_service(b));
    return c ? c : strcmp(a->name, b->name);
}

int
gw_store_add(struct gw_store *s, struct gw_meta *obj, const struct gw_meta **existing)
{
    GW_ASSERT((unsigned)obj->kind < GW_KIND__COUNT && obj->name);
    struct gw_store_kind *k = &s->kinds[obj->kind];
    if ((k->n + 1) * 4 > k->nslots * 3)
        rehash(k, slots_for(k->n + 1));
    const char *ns = key_ns(obj->kind, obj->ns);
    uint64_t h = key_hash(obj->kind, ns, obj->name);
    size_t i = slot_find(k->slots, k->nslots, h, obj->kind, ns, obj->name);
    if (k->slots[i].obj) {
        if (existing)
            *existing = k->slots[i].obj;
        return GW_EEXISTS;
    }
    k->slots[i] = (struct gw_store_slot){h, obj};
    s->count++;

    insert_sorted(k, obj, cmp_meta);
    if (obj->kind == GW_KIND_ENDPOINTSLICE && slice_service(obj))
        insert_sorted(&s->slices, obj, cmp_slice);
    return 0;
}

const struct gw_meta *
gw_store_get(const struct gw_store *s, enum gw_kind kind, const char *ns, const char *name)
{
    if (!name || (unsigned)kind >= GW_KIND__COUNT || !s->kinds[kind].nslots)
        return NULL;
    const struct gw_store_kind *k = &s->kinds[kind];
    ns = key_ns(kind, ns);
    size_t i = slot_find(k->slots, k->nslots, key_hash(kind, ns, name), kind, ns, name);
    return k->slots[i].obj;
}

const struct gw_meta *const *
gw_store_list(const struct gw_store *s, enum gw_kind kind, size_t *n)
{
    GW_ASSERT((unsigned)kind < GW_KIND__COUNT);
    *n = s->kinds[kind].n;
    return (const struct gw_meta *const *)s->kinds[kind].v;
}

size_t
gw_store_count(const struct gw_store *s, enum gw_kind kind)
{
    return (unsigned)kind < GW_KIND__COUNT ? s->kinds[kind].n : 0;
}

size_t
gw_store_size(const struct gw_store *s)
{
    return s->count;
}

size_t
gw_store_service_slices(const struct gw_store *s, const char *ns, const char *service,
                        const struct gw_endpointslice **out, size_t cap)
{
    if (!service)
        return 0;
    ns = key_ns(GW_KIND_ENDPOINTSLICE, ns);
    struct gw_meta *const *v = s->slices.v;
    size_t n = s->slices.n;
    /* The first slice of ns/service: the run ends at the first mismatch. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key_ns(v[mid]->kind, v[mid]->ns), ns);
        if (c == 0)
            c = strcmp(slice_service(v[mid]), service);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t total = 0;
    for (size_t i = lo; i < n && !strcmp(key_ns(v[i]->kind, v[i]->ns), ns) &&
                        !strcmp(slice_service(v[i]), service);
         i++) {
        if (total < cap)
            out[total] = (const struct gw_endpointslice *)(const void *)v[i];
        total++;
    }
    return total;
}

const struct gw_kv *
gw_store_namespace_labels(const struct gw_store *s, const char *ns, size_t *n)
{
    const struct gw_namespace *nsobj = gw_store_namespace(s, NULL, ns);
    if (!nsobj) {
        *n = 0;
        return NULL;
    }
    *n = nsobj->meta.labels.n;
    return nsobj->meta.labels.v;
}
