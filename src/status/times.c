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
#include <stdint.h>
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

/* Stamped conditions made, to share: translate shares one member list
 * between equal conditions, and a copy stamped with the same time can be
 * shared the same way (trees are never changed once made). Direct-mapped,
 * keyed by the desired condition's member list and the time's pointer. */
#define CARRY_MEMO_BITS 10
#define CARRY_TIMES     4

struct carry_memo {
    const struct gw_sv *from; /* the desired condition's first member */
    const char *time;
    struct gw_sv *to; /* the stamped condition whose members are shared */
};

struct carry {
    struct gw_sv_pool *p;
    const char *now; /* in p's arena */
    /* Earlier times copied into p's arena, so that equal times are one
     * pointer (most conditions carry one of a few times). */
    const char *times[CARRY_TIMES];
    size_t ntimes;
    struct carry_memo *memo; /* 1 << CARRY_MEMO_BITS entries, or NULL */
};

static const char *
carry_time(struct carry *k, const char *t)
{
    for (size_t i = 0; i < k->ntimes; i++)
        if (!strcmp(k->times[i], t))
            return k->times[i];
    const char *c = gw_arena_strdup(k->p->arena, t);
    if (k->ntimes < CARRY_TIMES)
        k->times[k->ntimes++] = c;
    return c;
}

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

/* A copy of node d that shares d's members (trees are never changed once
 * made, and the copy lives in the same arena): nothing under it has a
 * time to stamp. A deep copy doubled every changed status's parentRefs
 * and the like (10,000 routes: 2.5 MB). */
static struct gw_sv *
copy_plain(struct carry *k, const struct gw_sv *d)
{
    struct gw_sv *c = gw_sv_new(k->p, d->type);
    if (d->type == GW_SV_STR)
        c->s = d->s;
    else
        c->i = d->i;
    gw_sv_share(c, d);
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
                    time = carry_time(k, pt_time);
                break;
            }
        struct gw_sv *c = gw_sv_new(k->p, GW_SV_OBJ);
        struct carry_memo *memo = NULL;
        if (k->memo && cond->child) {
            uint64_t h = ((uint64_t)(uintptr_t)cond->child * 31 + (uint64_t)(uintptr_t)time) *
                         0x9E3779B97F4A7C15ull;
            memo = &k->memo[h >> (64 - CARRY_MEMO_BITS)];
            if (memo->to && memo->from == cond->child && memo->time == time) {
                gw_sv_share(c, memo->to);
                gw_sv_add(out, NULL, c);
                continue;
            }
        }
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
        if (memo)
            *memo = (struct carry_memo){cond->child, time, c};
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

/* With no earlier status every condition takes now: it is written in
 * place (what copy_obj would copy, walked the same way), shared member
 * lists included, since every condition sharing them takes the same time.
 * false if some condition has no lastTransitionTime member to write (the
 * caller copies then; what was written already is what the copy writes). */
static bool
stamp_obj(struct gw_sv *d, const char *now)
{
    if (d->type != GW_SV_OBJ)
        return true;
    for (struct gw_sv *m = d->child; m; m = m->next) {
        if (m->type != GW_SV_ARR)
            continue;
        if (!strcmp(m->key, "conditions")) {
            for (struct gw_sv *cond = m->child; cond; cond = cond->next) {
                if (cond->type != GW_SV_OBJ)
                    continue;
                struct gw_sv *t = (struct gw_sv *)gw_sv_get(cond, "lastTransitionTime");
                if (!t)
                    return false;
                t->type = GW_SV_STR;
                t->s = now;
            }
        } else if (!strcmp(m->key, "listeners") || !strcmp(m->key, "parents") ||
                   !strcmp(m->key, "ancestors")) {
            for (struct gw_sv *item = m->child; item; item = item->next)
                if (!stamp_obj(item, now))
                    return false;
        }
    }
    return true;
}

void
gw_status_stamp_times(struct gw_status *st, const struct gw_status *prev, const char *now)
{
    const char *at = gw_arena_strdup(&st->arena, now);
    bool in_place = !prev;
    for (size_t i = 0; i < st->n && in_place; i++)
        in_place = !st->items[i].status || stamp_obj(st->items[i].status, at);
    if (in_place)
        return;
    struct gw_sv_pool pool;
    gw_sv_pool_init(&pool, &st->arena);
    struct carry k = {.p = &pool, .now = at};
    k.memo = gw_xcalloc((size_t)1 << CARRY_MEMO_BITS, sizeof(*k.memo));
    /* Items sharing one status (routes of one Gateway) whose previous
     * statuses are shared too get one copy, shared as well. */
    const struct gw_sv *last_d = NULL, *last_p = NULL;
    struct gw_sv *last_c = NULL;
    for (size_t i = 0; i < st->n; i++) {
        struct gw_status_item *it = &st->items[i];
        const struct gw_status_item *old =
            prev ? gw_status_find(prev, it->kind, it->ns, it->name) : NULL;
        const struct gw_sv *ps = old ? old->status : NULL;
        if (ps && ps->type != GW_SV_OBJ)
            ps = NULL;
        if (!it->status)
            continue;
        if (last_c && it->status == last_d && ps == last_p) {
            it->status = last_c;
            continue;
        }
        last_d = it->status;
        last_p = ps;
        it->status = last_c = copy_obj(&k, it->status, ps);
    }
    free(k.memo);
}
