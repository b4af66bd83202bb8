/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: lastTransitionTime. Translate has no clock and writes a
 * placeholder on every condition; the caller, who knows the time and the
 * status the object had before, stamps the result here: a condition whose
 * type and status are unchanged at the same place keeps the time it had,
 * any other gets now (what the Gateway API and metav1.Condition ask).
 * Pure; the desired tree is copied, never written, because translate
 * shares equal condition subtrees between items.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "status/status.h"

#include "base/banned.h"

char *
gw_status_time_format(int64_t epoch_s, char *out)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, GW_STATUS_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        /* Out of struct tm's range: the epoch, rather than garbage. */
        size_t n = strlen("1970-01-01T00:00:00Z") + 1;
        memcpy(out, "1970-01-01T00:00:00Z", n);
    }
    return out;
}

struct carry {
    struct gw_sv_pool *p;
    const char *now; /* in p's arena */
};

static const char *
str_of(const struct gw_sv *obj, const char *key)
{
    const struct gw_sv *v = gw_sv_get(obj, key);
    return v && v->type == GW_SV_STR ? v->s : NULL;
}

static bool
str_eq_def(const struct gw_sv *a, const struct gw_sv *b, const char *key, const char *def)
{
    const char *x = str_of(a, key), *y = str_of(b, key);
    if (!x)
        x = def;
    if (!y)
        y = def;
    return !strcmp(x, y);
}

/* Two parentRefs (or ancestorRefs) name the same parent: group and kind
 * with their CRD defaults, absent fields equal only absent ones. */
static bool
ref_eq(const struct gw_sv *a, const struct gw_sv *b)
{
    if (!a || !b || a->type != GW_SV_OBJ || b->type != GW_SV_OBJ)
        return false;
    if (!str_eq_def(a, b, "group", "gateway.networking.k8s.io") ||
        !str_eq_def(a, b, "kind", "Gateway") || !str_eq_def(a, b, "namespace", "") ||
        !str_eq_def(a, b, "name", "") || !str_eq_def(a, b, "sectionName", ""))
        return false;
    const struct gw_sv *pa = gw_sv_get(a, "port"), *pb = gw_sv_get(b, "port");
    return gw_sv_equal(pa, pb);
}

/* Whether item d (of desired's list key) and item c (of prev's) are the
 * same place. */
static bool
same_place(const char *list, const struct gw_sv *d, const struct gw_sv *c)
{
    if (d->type != GW_SV_OBJ || c->type != GW_SV_OBJ)
        return false;
    if (!strcmp(list, "listeners")) {
        const char *x = str_of(d, "name"), *y = str_of(c, "name");
        return x && y && !strcmp(x, y);
    }
    const char *ref = !strcmp(list, "parents") ? "parentRef" : "ancestorRef";
    return str_eq_def(d, c, "controllerName", "") && ref_eq(gw_sv_get(d, ref), gw_sv_get(c, ref));
}

static struct gw_sv *copy_obj(struct carry *k, const struct gw_sv *d, const struct gw_sv *prev);

/* A plain copy of d's nodes (strings borrowed). */
static struct gw_sv *
copy_plain(struct carry *k, const struct gw_sv *d)
{
    struct gw_sv *c = gw_sv_new(k->p, d->type);
    c->s = d->s;
    c->i = d->i;
    for (const struct gw_sv *x = d->child; x; x = x->next)
        gw_sv_add(c, x->key, copy_plain(k, x));
    return c;
}

static struct gw_sv *
copy_conditions(struct carry *k, const struct gw_sv *d, const struct gw_sv *prev)
{
    struct gw_sv *out = gw_sv_new(k->p, GW_SV_ARR);
    for (const struct gw_sv *cond = d->child; cond; cond = cond->next) {
        if (cond->type != GW_SV_OBJ) {
            gw_sv_add(out, NULL, copy_plain(k, cond));
            continue;
        }
        const char *time = k->now;
        const char *type = str_of(cond, "type");
        if (type && prev && prev->type == GW_SV_ARR)
            for (const struct gw_sv *pc = prev->child; pc; pc = pc->next) {
                const char *pt = str_of(pc, "type");
                if (!pt || strcmp(pt, type))
                    continue;
                const char *pt_time = str_of(pc, "lastTransitionTime");
                if (pt_time && gw_sv_equal(gw_sv_get(cond, "status"), gw_sv_get(pc, "status")))
                    time = gw_arena_strdup(k->p->arena, pt_time);
                break;
            }
        struct gw_sv *c = gw_sv_new(k->p, GW_SV_OBJ);
        bool stamped = false;
        for (const struct gw_sv *m = cond->child; m; m = m->next) {
            if (!strcmp(m->key, "lastTransitionTime")) {
                gw_sv_add_str(k->p, c, m->key, time);
                stamped = true;
            } else
                gw_sv_add(c, m->key, copy_plain(k, m));
        }
        if (!stamped)
            gw_sv_add_str(k->p, c, "lastTransitionTime", time);
        gw_sv_add(out, NULL, c);
    }
    return out;
}

static struct gw_sv *
copy_list(struct carry *k, const char *list, const struct gw_sv *d, const struct gw_sv *prev)
{
    struct gw_sv *out = gw_sv_new(k->p, GW_SV_ARR);
    for (const struct gw_sv *item = d->child; item; item = item->next) {
        const struct gw_sv *match = NULL;
        if (prev && prev->type == GW_SV_ARR)
            for (const struct gw_sv *pi = prev->child; pi && !match; pi = pi->next)
                if (same_place(list, item, pi))
                    match = pi;
        gw_sv_add(out, NULL, copy_obj(k, item, match));
    }
    return out;
}

static struct gw_sv *
copy_obj(struct carry *k, const struct gw_sv *d, const struct gw_sv *prev)
{
    if (d->type != GW_SV_OBJ)
        return copy_plain(k, d);
    struct gw_sv *out = gw_sv_new(k->p, GW_SV_OBJ);
    for (const struct gw_sv *m = d->child; m; m = m->next) {
        const struct gw_sv *pm = gw_sv_get(prev, m->key);
        struct gw_sv *c;
        if (m->type != GW_SV_ARR)
            c = copy_plain(k, m);
        else if (!strcmp(m->key, "conditions"))
            c = copy_conditions(k, m, pm);
        else if (!strcmp(m->key, "listeners") || !strcmp(m->key, "parents") ||
                 !strcmp(m->key, "ancestors"))
            c = copy_list(k, m->key, m, pm);
        else
            c = copy_plain(k, m);
        gw_sv_add(out, m->key, c);
    }
    return out;
}

struct gw_sv *
gw_status_times_carry(struct gw_sv_pool *p, const struct gw_sv *desired, const struct gw_sv *prev,
                      const char *now)
{
    if (!desired)
        return NULL;
    struct carry k = {.p = p, .now = gw_arena_strdup(p->arena, now)};
    return copy_obj(&k, desired, prev && prev->type == GW_SV_OBJ ? prev : NULL);
}

void
gw_status_stamp_times(struct gw_status *st, const struct gw_status *prev, const char *now)
{
    struct gw_sv_pool pool;
    gw_sv_pool_init(&pool, &st->arena);
    struct carry k = {.p = &pool, .now = gw_arena_strdup(&st->arena, now)};
    for (size_t i = 0; i < st->n; i++) {
        struct gw_status_item *it = &st->items[i];
        const struct gw_status_item *old =
            prev ? gw_status_find(prev, it->kind, it->ns, it->name) : NULL;
        const struct gw_sv *ps = old ? old->status : NULL;
        if (it->status)
            it->status = copy_obj(&k, it->status, ps && ps->type == GW_SV_OBJ ? ps : NULL);
    }
}
