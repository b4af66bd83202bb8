/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: the result object. Items (one per object whose status we write),
 * conditions in metav1.Condition shape, lookups, and the List writer that
 * `gatehouse check -o json|yaml` prints.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"
#include "status/status.h"

#include "base/banned.h"

struct gw_status_item *
tr_item(struct tr *t, const struct gw_meta *m)
{
    struct gw_status *st = t->st;
    st->items = gw_xgrow(st->items, &st->cap, st->n + 1, sizeof(*st->items));
    struct gw_status_item *it = &st->items[st->n++];
    memset(it, 0, sizeof(*it));
    it->kind = m->kind;
    it->ns = m->ns ? gw_arena_strdup(&st->arena, m->ns) : NULL;
    it->name = gw_arena_strdup(&st->arena, m->name);
    it->generation = m->generation;
    it->status = gw_sv_new(&t->sv, GW_SV_OBJ);
    return it;
}

char *
tr_printf(struct tr *t, const char *fmt, ...)
{
    va_list ap;
    struct gw_buf b;
    gw_buf_init(&b, 64 * 1024);
    va_start(ap, fmt);
    gw_buf_vappendf(&b, fmt, ap);
    va_end(ap);
    char *s = gw_arena_strndup(&t->st->arena, b.p ? b.p : "", b.len);
    gw_buf_release(&b);
    return s;
}

char *
tr_cat(struct gw_arena *a, size_t n, const char *const *parts)
{
    size_t lens[TR_CAT_MAX], total = 0;
    GW_ASSERT(n <= TR_CAT_MAX);
    for (size_t i = 0; i < n; i++) {
        /* What "%s" prints for NULL, so that callers stay byte-identical
         * to the sprintf they replace. */
        lens[i] = parts[i] ? strlen(parts[i]) : 6;
        total += lens[i];
    }
    char *s = gw_arena_alloc(a, total + 1), *p = s;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i] ? parts[i] : "(null)", lens[i]);
        p += lens[i];
    }
    *p = '\0';
    return s;
}

const char *
tr_i64(char buf[TR_I64_LEN], int64_t v)
{
    char *p = buf + TR_I64_LEN - 1;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    *p = '\0';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return p;
}

/* Most conditions repeat (every accepted route has the same two): a
 * condition whose strings are the same pointers and whose generation is the
 * same as a recent one shares its members; only the object node is new.
 * Status trees are never changed once made, so sharing is safe. */
void
tr_cond(struct tr *t, struct gw_sv *arr, const char *type, bool status, const char *reason,
        const char *msg, int64_t generation)
{
    struct gw_sv *c = gw_sv_add_obj(&t->sv, arr, NULL);
    uint64_t h = (uint64_t)(uintptr_t)type * 31 + (uint64_t)(uintptr_t)reason;
    h = (h * 31 + (uint64_t)(uintptr_t)msg) * 31 + (uint64_t)generation * 2 + status;
    h *= 0x9E3779B97F4A7C15ull;
    struct tr_cond_memo *m = &t->conds[h >> (64 - TR_COND_MEMO_BITS)];
    if (m->c && m->type == type && m->status == status && m->reason == reason && m->msg == msg &&
        m->generation == generation) {
        gw_sv_share(c, m->c);
        return;
    }
    gw_sv_add_str(&t->sv, c, "type", type);
    gw_sv_add_str(&t->sv, c, "status", status ? "True" : "False");
    gw_sv_add_int(&t->sv, c, "observedGeneration", generation);
    gw_sv_add_str(&t->sv, c, "lastTransitionTime", t->ltt);
    gw_sv_add_str(&t->sv, c, "reason", reason);
    gw_sv_add_str(&t->sv, c, "message", msg ? msg : "");
    *m = (struct tr_cond_memo){type, reason, msg, generation, status, c};
}

void
tr_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    const char *p = base;
    for (size_t i = 1; i < n; i++)
        if (cmp(p + (i - 1) * size, p + i * size) > 0) {
            qsort(base, n, size, cmp);
            return;
        }
}

static int
cmp_item(const void *a, const void *b)
{
    const struct gw_status_item *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    int c = strcmp(x->ns ? x->ns : "", y->ns ? y->ns : "");
    return c ? c : strcmp(x->name, y->name);
}

/* Items come in runs of one kind, most of them in store order already
 * (routes, classes, policies): a stable split by kind, then a check of each
 * kind's order, sorting only where it does not hold, costs O(n) compares
 * where sorting everything cost O(n log n). */
void
tr_sort_items(struct gw_status *st)
{
    size_t start[GW_KIND__COUNT + 1] = {0};
    if (st->n < 2)
        return;
    for (size_t i = 0; i < st->n; i++)
        start[st->items[i].kind + 1]++;
    for (int k = 0; k < GW_KIND__COUNT; k++)
        start[k + 1] += start[k];
    struct gw_status_item *v = gw_xmalloc(st->n * sizeof(*v));
    size_t at[GW_KIND__COUNT];
    memcpy(at, start, sizeof(at));
    for (size_t i = 0; i < st->n; i++)
        v[at[st->items[i].kind]++] = st->items[i];
    for (int k = 0; k < GW_KIND__COUNT; k++)
        tr_sort(v + start[k], start[k + 1] - start[k], sizeof(*v), cmp_item);
    free(st->items);
    st->items = v;
    st->cap = st->n;
}

const struct gw_status_item *
gw_status_find(const struct gw_status *st, enum gw_kind kind, const char *ns, const char *name)
{
    struct gw_status_item key = {.kind = kind, .ns = ns, .name = name};
    if (!st->n)
        return NULL;
    return bsearch(&key, st->items, st->n, sizeof(*st->items), cmp_item);
}

void
gw_status_free(struct gw_status *st)
{
    if (!st)
        return;
    gw_arena_release(&st->arena);
    free(st->items);
    free(st);
}

static const char *
api_version(enum gw_kind k)
{
    if (!strcmp(gw_kind_group(k), GW_GROUP_GATEHOUSE))
        return GW_GROUP_GATEHOUSE "/v1alpha1"; /* every gatehouse.dev kind */
    if (!strcmp(gw_kind_group(k), GW_GROUP_GATEWAY_X))
        return GW_GROUP_GATEWAY_X "/v1alpha1"; /* XBackendTrafficPolicy */
    switch (k) {
    case GW_KIND_TCPROUTE:
    case GW_KIND_UDPROUTE:
        return GW_GROUP_GATEWAY "/v1alpha2";
    default:
        return GW_GROUP_GATEWAY "/v1";
    }
}

int
gw_status_format(const struct gw_status *st, bool yaml, struct gw_buf *out)
{
    struct gw_arena a;
    gw_arena_init(&a, 0);
    struct gw_sv_pool pool;
    gw_sv_pool_init(&pool, &a);
    struct gw_sv *list = gw_sv_new(&pool, GW_SV_OBJ);
    gw_sv_add_str(&pool, list, "apiVersion", "v1");
    gw_sv_add_str(&pool, list, "kind", "List");
    struct gw_sv *items = gw_sv_add_arr(&pool, list, "items");
    for (size_t i = 0; i < st->n; i++) {
        const struct gw_status_item *it = &st->items[i];
        struct gw_sv *o = gw_sv_add_obj(&pool, items, NULL);
        gw_sv_add_str(&pool, o, "apiVersion", api_version(it->kind));
        gw_sv_add_str(&pool, o, "kind", gw_kind_name(it->kind));
        struct gw_sv *md = gw_sv_add_obj(&pool, o, "metadata");
        gw_sv_add_str(&pool, md, "name", it->name);
        if (it->ns)
            gw_sv_add_str(&pool, md, "namespace", it->ns);
        gw_sv_add_int(&pool, md, "generation", it->generation);
        /* Shared, not copied: the tree is only read. */
        struct gw_sv *s = gw_sv_new(&pool, GW_SV_OBJ);
        *s = *it->status;
        s->next = NULL;
        gw_sv_add(o, "status", s);
    }
    int rc = yaml ? gw_sv_format_yaml(list, out) : gw_sv_format_json(list, out);
    gw_arena_release(&a);
    return rc;
}
