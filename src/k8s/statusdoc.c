/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s: what to write. The status translate wants for an object, set
 * against the status the API server holds: other controllers' entries of
 * a shared list (a route's parents, a policy's ancestors) are kept as they
 * are, times of unchanged conditions are carried (status/times.c), and
 * nothing is written when the result is what the server already has.
 * Pure.
 *
 * The write is a JSON merge patch of /status, which merges objects member
 * by member: a top-level member the server has and desired lacks would
 * survive the patch, so the result names it with null (deleted). Those
 * nulls are left out when comparing with the server's status.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "k8s/internal.h"
#include "load/load.h"
#include "status/status.h"

#include "base/banned.h"

struct gw_sv *
gw_k8s_sv_from_node(struct gw_sv_pool *pool, const struct gw_node *n)
{
    struct gw_sv *v;
    if (!n)
        return gw_sv_new(pool, GW_SV_NULL);
    switch (n->type) {
    case GW_NODE_MAP:
        v = gw_sv_new(pool, GW_SV_OBJ);
        for (size_t i = 0; i < n->n; i++)
            gw_sv_add(v, gw_arena_strdup(pool->arena, n->u.pairs[i].key),
                      gw_k8s_sv_from_node(pool, n->u.pairs[i].value));
        return v;
    case GW_NODE_LIST:
        v = gw_sv_new(pool, GW_SV_ARR);
        for (size_t i = 0; i < n->n; i++)
            gw_sv_add(v, NULL, gw_k8s_sv_from_node(pool, n->u.items[i]));
        return v;
    case GW_NODE_INT:
        v = gw_sv_new(pool, GW_SV_INT);
        v->i = n->v.i;
        return v;
    case GW_NODE_BOOL:
        v = gw_sv_new(pool, GW_SV_BOOL);
        v->i = n->v.b;
        return v;
    case GW_NODE_NULL:
        return gw_sv_new(pool, GW_SV_NULL);
    case GW_NODE_FLOAT:
        /* gw_sv has no floats; statuses we compare have none. An integral
         * value reads as an integer, anything else keeps its text. */
        if (n->v.f >= -9e15 && n->v.f <= 9e15 && (double)(int64_t)n->v.f == n->v.f) {
            v = gw_sv_new(pool, GW_SV_INT);
            v->i = (int64_t)n->v.f;
            return v;
        }
        v = gw_sv_new(pool, GW_SV_STR);
        v->s = gw_arena_strdup(pool->arena, n->text ? n->text : "");
        return v;
    case GW_NODE_STR:
        break;
    }
    v = gw_sv_new(pool, GW_SV_STR);
    v->s = gw_arena_strdup(pool->arena, n->text ? n->text : "");
    return v;
}

bool
gw_k8s_sv_equal(const struct gw_sv *a, const struct gw_sv *b)
{
    return gw_sv_equal(a, b);
}

/* The list of a kind shared with other controllers, NULL if none. */
static const char *
shared_list(enum gw_kind kind)
{
    switch (kind) {
    case GW_KIND_HTTPROUTE:
    case GW_KIND_GRPCROUTE:
    case GW_KIND_TLSROUTE:
    case GW_KIND_TCPROUTE:
    case GW_KIND_UDPROUTE:
        return "parents";
    default:
        return gw_kind_is_policy(kind) ? "ancestors" : NULL;
    }
}

static bool
is_ours(const struct gw_sv *entry, const char *controller)
{
    const struct gw_sv *c = gw_sv_get(entry, "controllerName");
    return c && c->type == GW_SV_STR && !strcmp(c->s, controller);
}

/* Whether result, its null members left out, equals current. */
static bool
same_as_current(const struct gw_sv *result, const struct gw_sv *current)
{
    size_t n = 0;
    for (const struct gw_sv *m = result->child; m; m = m->next) {
        if (m->type == GW_SV_NULL)
            continue;
        n++;
        if (!gw_sv_equal(m, gw_sv_get(current, m->key)))
            return false;
    }
    return n == current->n;
}

struct gw_sv *
gw_k8s_status_merge(struct gw_sv_pool *pool, enum gw_kind kind, const struct gw_sv *desired,
                    const struct gw_sv *current, const char *controller, const char *now)
{
    if (current && current->type != GW_SV_OBJ)
        current = NULL; /* a status that is not an object: replaced whole */
    const char *list = shared_list(kind);
    struct gw_sv *stamped = NULL;
    if (desired && desired->type == GW_SV_OBJ)
        stamped = gw_status_times_carry(pool, desired, current, now);
    else
        stamped = gw_sv_new(pool, GW_SV_OBJ);

    /* The result: desired's members in desired's order (the shared list
     * with other controllers' entries first), then current's other
     * members as null. */
    struct gw_sv *out = gw_sv_new(pool, GW_SV_OBJ);
    const struct gw_sv *cur_list = list ? gw_sv_get(current, list) : NULL;
    bool others = false;
    if (cur_list && cur_list->type == GW_SV_ARR)
        for (const struct gw_sv *e = cur_list->child; e; e = e->next)
            if (!is_ours(e, controller))
                others = true;
    bool list_done = false;
    for (struct gw_sv *m = stamped->child, *next; m; m = next) {
        next = m->next;
        if (list && !strcmp(m->key, list) && m->type == GW_SV_ARR && others) {
            struct gw_sv *arr = gw_sv_new(pool, GW_SV_ARR);
            for (const struct gw_sv *e = cur_list->child; e; e = e->next)
                if (!is_ours(e, controller))
                    gw_sv_add(arr, NULL, gw_sv_copy(pool, e));
            for (struct gw_sv *e = m->child, *en; e; e = en) {
                en = e->next;
                e->next = NULL;
                gw_sv_add(arr, NULL, e);
            }
            gw_sv_add(out, m->key, arr);
            list_done = true;
            continue;
        }
        m->next = NULL;
        gw_sv_add(out, m->key, m);
    }
    if (list && others && !list_done) {
        struct gw_sv *arr = gw_sv_add_arr(pool, out, list);
        for (const struct gw_sv *e = cur_list->child; e; e = e->next)
            if (!is_ours(e, controller))
                gw_sv_add(arr, NULL, gw_sv_copy(pool, e));
    }
    if (current)
        for (const struct gw_sv *m = current->child; m; m = m->next)
            if (!gw_sv_get(out, m->key))
                gw_sv_add(out, gw_arena_strdup(pool->arena, m->key), gw_sv_new(pool, GW_SV_NULL));

    static const struct gw_sv empty = {.type = GW_SV_OBJ};
    if (same_as_current(out, current ? current : &empty))
        return NULL;
    /* Self-contained: desired's strings belong to a translation that may
     * be gone before the write (and its retries) is done. */
    return gw_sv_copy(pool, out);
}
