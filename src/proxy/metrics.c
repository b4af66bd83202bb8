/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data plane's metrics: request counters by (gateway, listener, route,
 * code class), connections by listening address, the upstream latency
 * histogram, and their Prometheus text rendering.
 *
 * Requests are counted per snapshot. When a snapshot is published, the
 * publishing thread builds its px_mtab: one series per (listener, route
 * label) the IR can match (plus route "" per listener and per port for
 * 404s), and per worker a cache-line-aligned array of counter slots: one
 * slot per IR route, at the route's dense id (gw_ir_index), then one per
 * listener and port, found through a pointer-keyed map. Each slot belongs
 * to one series; a scrape sums a series' slots. A request of a route counts
 * into the table of the snapshot it pinned with one relaxed store into the
 * route's slot (one cache line, no probe: with a thousand routes, the map's
 * probe and the series' line were two more misses), a 404 after a probe of
 * the map; no string hashing, no lock. Labels come from the IR only, so
 * cardinality is bounded by the configuration.
 *
 * The build formats no string: a series remembers the IR objects its labels
 * come from (the snapshot keeps its IR alive as long as the table), and
 * series are told apart by pointers (routes of one HTTPRoute share their
 * label string). Two series with the same labels are summed wherever they
 * meet: the label strings are made at the first scrape that needs them
 * (metrics mutex) and kept with the table.
 *
 * Scrapes stay monotonic across reloads: when a snapshot dies (its last pin
 * dropped; the control thread frees it), its non-zero counts fold, under
 * the metrics mutex, into totals kept by series name, and a scrape adds
 * those totals to the counts of every live snapshot, by name. Only series
 * of the newest snapshot are shown; a scrape drops the totals of series the
 * newest snapshot no longer has (and a fold does, once the newest table
 * has its names), so a removed route's series disappears at the reload
 * that removes it and its totals go at the next scrape.
 *
 * What rolls up must not drop with them: per listener and per gateway
 * totals (the families gatehouse_http_listener_requests_total and
 * gatehouse_http_gateway_requests_total, as a proxy's listener counters)
 * keep every request counted under them, removed routes' included. A fold
 * adds every non-zero series, whether the newest table has it or not, to
 * totals kept by listener key ("gateway\037listener") and by gateway; a
 * scrape adds the live tables' counts to them by the same prefixes. They
 * are dropped only when the newest table has no series of that listener
 * (gateway) any more, which is when their series disappears.
 *
 * L4 (TCP, TLS, UDP) ports get series of their own in the same table, by
 * port, listener and route (struct gw_l4_counters per worker and series):
 * l4 asks once per connection for the counters of its route through
 * px_l4_counters (one pointer probe) and then only increments them. They
 * fold and show by name as the request series do (the active gauge is
 * accepted - closed: a dead table's connections have all closed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/internal.h"

#include "base/banned.h"

const unsigned px_lat_bounds_ms[PX_LAT_BUCKETS] = {1,   2,   5,   10,   25,   50,
                                                   100, 250, 500, 1000, 2500, 10000};

#define NCLASS 6
#define NL4    7           /* the fields of struct gw_l4_counters */
#define NROLL  8           /* room in a struct roll value: NCLASS or NL4 */
#define L4S    0x80000000u /* pointer map value: an L4 series */

struct px_mcount {
    atomic_uint_fast64_t c[NCLASS]; /* [0] other, 1xx..5xx */
};

/* Owned strings with an index; open addressing on string hashes (scrapes
 * and folds only). idx holds index + 1, 0 is empty. */
struct names {
    char **keys;
    size_t n, kcap;
    uint32_t *idx;
    size_t icap; /* power of two */
};

/* Series key: "gateway\037listener\037route". */
#define SEP '\037'

/* Where a series' labels come from: a port (l NULL: listener and route
 * ""), a listener (route NULL: route "") or a route of a listener. */
struct mser {
    const struct gw_ir_port *pt;
    const struct gw_ir_listener *l;
    const char *route;
};

struct px_mtab {
    struct gw_proxy *p;
    struct px_mtab *next, *prev; /* the live list */
    struct mser *ser;
    size_t n;
    /* L4 series: (their own index space; pointer map values | L4S) */
    struct mser *ser4;
    size_t n4;
    struct gw_l4_counters **counts4; /* [worker][series], in block4 */
    void *block4;
    struct names *names4; /* made with names */
    uint32_t *kid4;
    const void **pk; /* pointer map: IR listener or port -> slot; L4 object -> series | L4S */
    uint32_t *pv;
    size_t pmask;
    unsigned pshift;
    unsigned nworkers;
    uint32_t nrslots; /* slots [0, nrslots): routes, by id; then listeners and ports */
    size_t nslots;
    uint32_t *ser_at, *ser_slots; /* series s's slots: ser_slots[ser_at[s] .. ser_at[s + 1]) */
    struct px_mcount **counts;    /* [worker][slot], in block */
    void *block;
    /* Labels, made by the first scrape or fold that needs them (metrics
     * mutex): distinct keys in order of first appearance, and each
     * series' key. */
    struct names *names;
    uint32_t *kid;
};

struct mport {
    char address[64];
    uint16_t port;
    bool udp;
};

/* Totals by key (metrics mutex): values parallel to the keys. */
struct roll {
    struct names names;
    uint64_t (*v)[NROLL];
};

/* Rollup levels: how much of a series key names the total. */
enum { ROLL_GATEWAY = 1, ROLL_LISTENER = 2 };

struct px_mstate {
    pthread_mutex_t mu;
    struct px_mtab *live;
    struct px_mtab *newest;
    struct roll retired;  /* HTTP series' totals, by key */
    struct roll rolls[3]; /* [ROLL_GATEWAY], [ROLL_LISTENER] */
    struct roll retired4; /* L4 series' totals, by key */
    struct mport ports[PX_MAX_MPORTS];
    unsigned nports;
};

/* ------------------------------------------------------------------------ */
/* Names                                                                     */

static uint64_t
hstr(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static long
names_find(const struct names *t, const char *k)
{
    if (!t->icap)
        return -1;
    for (size_t i = hstr(k) & (t->icap - 1);; i = (i + 1) & (t->icap - 1)) {
        uint32_t v = t->idx[i];
        if (!v)
            return -1;
        if (strcmp(t->keys[v - 1], k) == 0)
            return (long)(v - 1);
    }
}

static void
names_index(struct names *t, size_t i)
{
    size_t j = hstr(t->keys[i]) & (t->icap - 1);
    while (t->idx[j])
        j = (j + 1) & (t->icap - 1);
    t->idx[j] = (uint32_t)(i + 1);
}

/* Room for n keys without growing. */
static void
names_reserve(struct names *t, size_t n)
{
    if (n > t->kcap) {
        t->kcap = n;
        t->keys = gw_xrealloc(t->keys, t->kcap * sizeof(*t->keys));
    }
    if (2 * n > t->icap) {
        size_t cap = t->icap ? t->icap : 32;
        while (cap < 2 * n)
            cap *= 2;
        free(t->idx);
        t->icap = cap;
        t->idx = gw_xcalloc(t->icap, sizeof(*t->idx));
        for (size_t i = 0; i < t->n; i++)
            names_index(t, i);
    }
}

/* Adds k (taking ownership; must be absent). Returns its index. */
static size_t
names_add(struct names *t, char *k)
{
    if (t->n == t->kcap)
        names_reserve(t, t->kcap ? 2 * t->kcap : 16);
    if (2 * (t->n + 1) > t->icap)
        names_reserve(t, t->n + 1);
    t->keys[t->n++] = k;
    names_index(t, t->n - 1);
    return t->n - 1;
}

static void
names_release(struct names *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->idx);
    *t = (struct names){0};
}

/* Adds v to the total of k (copied when new). */
static void
roll_add(struct roll *r, const char *k, const uint64_t *v, int n)
{
    long i = names_find(&r->names, k);
    if (i < 0) {
        i = (long)names_add(&r->names, gw_xstrdup(k));
        r->v = gw_xrealloc(r->v, r->names.kcap * sizeof(*r->v));
        memset(r->v[i], 0, sizeof(r->v[i]));
    }
    for (int c = 0; c < n; c++)
        r->v[i][c] += v[c];
}

/* Drops the totals whose key keep does not have. */
static void
roll_prune(struct roll *r, const struct names *keep)
{
    size_t k = 0;
    for (size_t i = 0; i < r->names.n; i++) {
        if (names_find(keep, r->names.keys[i]) < 0) {
            free(r->names.keys[i]);
            continue;
        }
        r->names.keys[k] = r->names.keys[i];
        memcpy(r->v[k], r->v[i], sizeof(r->v[k]));
        k++;
    }
    if (k == r->names.n)
        return;
    r->names.n = k;
    memset(r->names.idx, 0, r->names.icap * sizeof(*r->names.idx));
    for (size_t i = 0; i < k; i++)
        names_index(&r->names, i);
}

static void
roll_release(struct roll *r)
{
    names_release(&r->names);
    free(r->v);
    r->v = NULL;
}

/* ------------------------------------------------------------------------ */
/* Per-snapshot tables                                                       */

static inline size_t
phash(const struct px_mtab *t, const void *k)
{
    return (size_t)((((uintptr_t)k >> 3) * 0x9e3779b97f4a7c15ull) >> t->pshift);
}

static inline uint32_t
ptr_find(const struct px_mtab *t, const void *k)
{
    for (size_t i = phash(t, k);; i = (i + 1) & t->pmask) {
        if (t->pk[i] == k)
            return t->pv[i];
        if (!t->pk[i])
            return UINT32_MAX;
    }
}

static void
ptr_put(struct px_mtab *t, const void *k, uint32_t v)
{
    size_t i = phash(t, k);
    while (t->pk[i] && t->pk[i] != k)
        i = (i + 1) & t->pmask;
    t->pk[i] = k;
    t->pv[i] = v;
}

static bool
is_http(const struct gw_ir_listener *l)
{
    return l->proto == GW_IR_HTTP || l->proto == GW_IR_HTTPS;
}

/* A listener's routes by label pointer, while a table is built: routes of
 * one HTTPRoute share their series. Entries of earlier listeners are told
 * apart by l. */
struct rdedup {
    struct {
        const struct gw_ir_listener *l;
        const char *route;
        uint32_t s;
    } * e;

    size_t mask;
};

static uint32_t
route_series(struct mser *ser, size_t *n, struct rdedup *d, const struct gw_ir_port *pt,
             const struct gw_ir_listener *l, const char *route)
{
    uint64_t h =
        ((uintptr_t)l ^ ((uintptr_t)route * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    size_t i = (size_t)(h >> 32) & d->mask;
    for (; d->e[i].l; i = (i + 1) & d->mask)
        if (d->e[i].l == l && d->e[i].route == route)
            return d->e[i].s;
    d->e[i].l = l;
    d->e[i].route = route;
    d->e[i].s = (uint32_t)*n;
    ser[*n] = (struct mser){pt, l, route};
    return (uint32_t)(*n)++;
}

/* One zeroed block for nworkers arrays of n elements of size each, each
 * starting on its own cache line (large ones come as fresh pages from
 * calloc, touched only where something counts): worker w's array is at
 * *base + w * *stride. Returns the block (to free). */
static void *
rows_alloc(unsigned nworkers, size_t n, size_t size, char **base, size_t *stride)
{
    *stride = (n * size + 63) / 64 * 64;
    if (!*stride)
        *stride = 64;
    void *block = gw_xcalloc(1, nworkers * *stride + 64);
    *base = (char *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    return block;
}

/* The L4 series of t: per port l4 serves, one for the port, one per
 * listener, one per route label of a listener. */
static void
l4_series(struct px_mtab *t, const struct gw_ir *ir)
{
    size_t nobj = 0, nroutes = 0;
    for (size_t i = 0; i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (!gw_l4_port_is_served(pt))
            continue;
        nobj += 1 + pt->nlisteners;
        for (size_t j = 0; j < pt->nlisteners; j++)
            nroutes += pt->listeners[j].nl4;
    }
    if (!nobj)
        return;
    t->ser4 = gw_xmalloc((nobj + nroutes) * sizeof(*t->ser4));
    size_t dcap = 16;
    while (dcap < 2 * nroutes)
        dcap *= 2;
    struct rdedup d = {gw_xcalloc(dcap, sizeof(*d.e)), dcap - 1};
    for (size_t i = 0; i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (!gw_l4_port_is_served(pt))
            continue;
        t->ser4[t->n4] = (struct mser){pt, NULL, NULL};
        ptr_put(t, pt, L4S | (uint32_t)t->n4++);
        for (size_t j = 0; j < pt->nlisteners; j++) {
            const struct gw_ir_listener *l = &pt->listeners[j];
            t->ser4[t->n4] = (struct mser){pt, l, NULL};
            ptr_put(t, l, L4S | (uint32_t)t->n4++);
            for (size_t r = 0; r < l->nl4; r++)
                ptr_put(t, &l->l4[r],
                        L4S | route_series(t->ser4, &t->n4, &d, pt, l, l->l4[r].route));
        }
    }
    free(d.e);
    t->counts4 = gw_xmalloc(t->nworkers * sizeof(*t->counts4));
    char *base;
    size_t stride;
    t->block4 = rows_alloc(t->nworkers, t->n4, sizeof(struct gw_l4_counters), &base, &stride);
    for (unsigned w = 0; w < t->nworkers; w++)
        t->counts4[w] = (struct gw_l4_counters *)(void *)(base + (size_t)w * stride);
}

struct px_mtab *
px_mtab_new(struct gw_proxy *p, const struct gw_ir *ir)
{
    struct px_mtab *t = gw_xcalloc(1, sizeof(*t));
    t->p = p;
    /* Objects to map: ports, listeners and routes (HTTP and L4), counted
     * first so nothing grows. */
    size_t nobj = 0, nroutes = 0, nl4 = 0;
    for (size_t i = 0; i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        nobj++;
        for (size_t j = 0; j < pt->nlisteners; j++) {
            nobj++;
            nl4 += pt->listeners[j].nl4;
            for (size_t v = 0; v < pt->listeners[j].nvhosts; v++)
                nroutes += pt->listeners[j].vhosts[v].nroutes;
        }
    }
    /* Slots: one per route id, one per listener and port. */
    GW_ASSERT(ir->indexed);
    t->nrslots = ir->nroute_ids;
    uint32_t *slot_ser = gw_xmalloc((t->nrslots + nobj + 1) * sizeof(*slot_ser));
    for (size_t i = 0; i < t->nrslots + nobj; i++)
        slot_ser[i] = UINT32_MAX;
    size_t nslots = t->nrslots;
    nobj += nroutes;
    size_t nmap = nobj + nl4;
    size_t cap = 16;
    unsigned bits = 4;
    while (cap < 2 * nmap) {
        cap *= 2;
        bits++;
    }
    t->pk = gw_xcalloc(cap, sizeof(*t->pk));
    t->pv = gw_xmalloc(cap * sizeof(*t->pv));
    t->pmask = cap - 1;
    t->pshift = 64 - bits;
    t->ser = gw_xmalloc((nobj ? nobj : 1) * sizeof(*t->ser));
    size_t dcap = 16;
    while (dcap < 2 * nroutes)
        dcap *= 2;
    struct rdedup d = {gw_xcalloc(dcap, sizeof(*d.e)), dcap - 1};
    for (size_t i = 0; i < ir->nports; i++) {
        const struct gw_ir_port *pt = &ir->ports[i];
        if (pt->udp)
            continue;
        bool any = false;
        for (size_t j = 0; j < pt->nlisteners; j++) {
            const struct gw_ir_listener *l = &pt->listeners[j];
            if (!is_http(l))
                continue;
            any = true;
            t->ser[t->n] = (struct mser){pt, l, NULL};
            slot_ser[nslots] = (uint32_t)t->n++;
            ptr_put(t, l, (uint32_t)nslots++);
            for (size_t v = 0; v < l->nvhosts; v++)
                for (size_t r = 0; r < l->vhosts[v].nroutes; r++) {
                    const struct gw_ir_route *rt = &l->vhosts[v].routes[r];
                    GW_ASSERT(rt->id < t->nrslots);
                    slot_ser[rt->id] = route_series(t->ser, &t->n, &d, pt, l, rt->route);
                }
        }
        if (any) {
            t->ser[t->n] = (struct mser){pt, NULL, NULL};
            slot_ser[nslots] = (uint32_t)t->n++;
            ptr_put(t, pt, (uint32_t)nslots++);
        }
    }
    free(d.e);
    /* Each series' slots, for scrapes (a slot of no series: a route the
     * table does not show, never the case for routes of HTTP listeners). */
    t->nslots = nslots;
    t->ser_at = gw_xcalloc(t->n + 2, sizeof(*t->ser_at));
    t->ser_slots = gw_xmalloc((nslots ? nslots : 1) * sizeof(*t->ser_slots));
    for (size_t i = 0; i < nslots; i++)
        if (slot_ser[i] != UINT32_MAX)
            t->ser_at[slot_ser[i] + 2]++;
    for (size_t s = 0; s < t->n; s++)
        t->ser_at[s + 2] += t->ser_at[s + 1];
    for (size_t i = 0; i < nslots; i++)
        if (slot_ser[i] != UINT32_MAX)
            t->ser_slots[t->ser_at[slot_ser[i] + 1]++] = (uint32_t)i;
    free(slot_ser);
    t->nworkers = p->nworkers;
    t->counts = gw_xmalloc(t->nworkers * sizeof(*t->counts));
    char *base;
    size_t stride;
    t->block = rows_alloc(t->nworkers, nslots, sizeof(struct px_mcount), &base, &stride);
    for (unsigned w = 0; w < t->nworkers; w++)
        t->counts[w] = (struct px_mcount *)(void *)(base + (size_t)w * stride);
    l4_series(t, ir);

    struct px_mstate *ms = p->ms;
    pthread_mutex_lock(&ms->mu);
    t->next = ms->live;
    if (t->next)
        t->next->prev = t;
    ms->live = t;
    ms->newest = t;
    pthread_mutex_unlock(&ms->mu);
    return t;
}

/* The listener label: its name, or "ns/name/listener" when it comes from a
 * ListenerSet (names are unique within their owner only). */
static int
listener_label(struct gw_buf *out, const struct gw_ir_listener *l, const char *gw)
{
    const char *owner = l->owner ? l->owner : "";
    const char *sp = strchr(owner, ' ');
    const char *onn = sp ? sp + 1 : owner;
    int rc = 0;
    if (!(strncmp(owner, "Gateway ", 8) == 0 && strcmp(onn, gw) == 0)) {
        rc |= gw_buf_append_cstr(out, onn);
        rc |= gw_buf_append_cstr(out, "/");
    }
    return rc | gw_buf_append_cstr(out, l->name ? l->name : "");
}

/* Series m's key, formatted into out (reset first). */
static const char *
key_format(const struct mser *m, struct gw_buf *out)
{
    const char *gw = m->pt->gateway ? m->pt->gateway : "";
    char sep = SEP;
    gw_buf_reset(out);
    int rc = gw_buf_append_cstr(out, gw);
    rc |= gw_buf_append(out, &sep, 1);
    if (m->l)
        rc |= listener_label(out, m->l, gw);
    rc |= gw_buf_append(out, &sep, 1);
    rc |= gw_buf_append_cstr(out, m->route ? m->route : "");
    rc |= gw_buf_append(out, "", 1);
    if (rc) { /* labels longer than KEY_MAX: cannot come from valid names */
        gw_buf_reset(out);
        gw_buf_append(out, "\037\037", 3);
    }
    return out->p;
}

#define KEY_MAX (64 * 1024)

/* The distinct keys of ser[0..n) and each one's index. */
static void
names_build(const struct mser *ser, size_t n, struct names **names, uint32_t **kid)
{
    *names = gw_xcalloc(1, sizeof(**names));
    *kid = gw_xmalloc((n ? n : 1) * sizeof(**kid));
    names_reserve(*names, n);
    struct gw_buf k;
    gw_buf_init(&k, KEY_MAX);
    for (size_t s = 0; s < n; s++) {
        key_format(&ser[s], &k);
        long i = names_find(*names, k.p);
        if (i < 0)
            i = (long)names_add(*names, gw_xstrdup(k.p));
        (*kid)[s] = (uint32_t)i;
    }
    gw_buf_release(&k);
}

/* Makes t's label strings (request and L4 series), once (metrics mutex). */
static void
names_make(struct px_mtab *t)
{
    if (t->names)
        return;
    names_build(t->ser, t->n, &t->names, &t->kid);
    names_build(t->ser4, t->n4, &t->names4, &t->kid4);
}

/* Series s's key: t's own string when it has its names, else formatted
 * into scratch. */
static const char *
key_of(const struct px_mtab *t, size_t s, struct gw_buf *scratch)
{
    return t->names ? t->names->keys[t->kid[s]] : key_format(&t->ser[s], scratch);
}

/* Likewise for L4 series s. */
static const char *
key4_of(const struct px_mtab *t, size_t s, struct gw_buf *scratch)
{
    return t->names4 ? t->names4->keys[t->kid4[s]] : key_format(&t->ser4[s], scratch);
}

/* L4 series s's counters summed over workers, in struct gw_l4_counters
 * order; false if they are all 0. */
static bool
l4_counts_of(const struct px_mtab *t, size_t s, uint64_t v[NL4])
{
    memset(v, 0, NL4 * sizeof(*v));
    for (unsigned w = 0; w < t->nworkers; w++) {
        const struct gw_l4_counters *m = &t->counts4[w][s];
        const atomic_uint_fast64_t *f[NL4] = {&m->accepted,        &m->closed,    &m->bytes_in,
                                              &m->bytes_out,       &m->dgrams_in, &m->dgrams_out,
                                              &m->connect_failures};
        for (int i = 0; i < NL4; i++)
            v[i] += atomic_load_explicit(f[i], memory_order_relaxed);
    }
    for (int i = 0; i < NL4; i++)
        if (v[i])
            return true;
    return false;
}

/* The first level fields of series key k ("gateway" or
 * "gateway\037listener"), into out (reset first). */
static const char *
key_prefix(const char *k, int level, struct gw_buf *out)
{
    const char *e = k;
    for (int i = 0; i < level && e; i++)
        e = strchr(i ? e + 1 : e, SEP);
    GW_ASSERT(e);
    gw_buf_reset(out);
    /* shorter than the key, which fit in KEY_MAX */
    int rc = gw_buf_append(out, k, (size_t)(e - k));
    rc |= gw_buf_append(out, "", 1);
    GW_ASSERT(rc == 0);
    return out->p;
}

/* The listener and gateway keys of the newest table's series (it has its
 * names), into ks[ROLL_GATEWAY] and ks[ROLL_LISTENER] (empty first). */
static void
roll_keys(const struct px_mtab *t, struct names ks[3])
{
    struct gw_buf pre;
    gw_buf_init(&pre, KEY_MAX);
    for (int lv = ROLL_GATEWAY; lv <= ROLL_LISTENER; lv++)
        for (size_t i = 0; i < t->names->n; i++) {
            const char *k = key_prefix(t->names->keys[i], lv, &pre);
            if (names_find(&ks[lv], k) < 0)
                names_add(&ks[lv], gw_xstrdup(k));
        }
    gw_buf_release(&pre);
}

/* Drops the rollups of listeners and gateways the newest table no longer
 * has (it has its names). Metrics mutex. */
static void
rolls_prune(struct px_mstate *ms)
{
    struct names ks[3] = {{0}};
    roll_keys(ms->newest, ks);
    for (int lv = ROLL_GATEWAY; lv <= ROLL_LISTENER; lv++) {
        roll_prune(&ms->rolls[lv], &ks[lv]);
        names_release(&ks[lv]);
    }
}

/* Series s's counts summed over its slots and the workers; false if they
 * are all 0. */
static bool
counts_of(const struct px_mtab *t, size_t s, uint64_t v[NCLASS])
{
    memset(v, 0, NCLASS * sizeof(*v));
    for (uint32_t k = t->ser_at[s]; k < t->ser_at[s + 1]; k++)
        for (unsigned w = 0; w < t->nworkers; w++)
            for (int c = 0; c < NCLASS; c++)
                v[c] +=
                    atomic_load_explicit(&t->counts[w][t->ser_slots[k]].c[c], memory_order_relaxed);
    bool any = false;
    for (int c = 0; c < NCLASS; c++)
        any |= v[c] != 0;
    return any;
}

void
px_mtab_retire(struct px_mtab *t)
{
    if (!t)
        return;
    struct px_mstate *ms = t->p->ms;
    pthread_mutex_lock(&ms->mu);
    if (t->prev)
        t->prev->next = t->next;
    else
        ms->live = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (ms->newest == t)
        ms->newest = NULL;
    const struct names *nn = ms->newest ? ms->newest->names : NULL;
    struct gw_buf scratch, pre;
    gw_buf_init(&scratch, KEY_MAX);
    gw_buf_init(&pre, KEY_MAX);
    for (size_t s = 0; ms->newest && s < t->n; s++) {
        uint64_t v[NCLASS];
        if (!counts_of(t, s, v))
            continue;
        const char *k = key_of(t, s, &scratch);
        for (int lv = ROLL_GATEWAY; lv <= ROLL_LISTENER; lv++)
            roll_add(&ms->rolls[lv], key_prefix(k, lv, &pre), v, NCLASS);
        if (nn && names_find(nn, k) < 0)
            continue;
        roll_add(&ms->retired, k, v, NCLASS);
    }
    const struct names *nn4 = ms->newest ? ms->newest->names4 : NULL;
    for (size_t s = 0; ms->newest && s < t->n4; s++) {
        uint64_t v[NL4];
        if (!l4_counts_of(t, s, v))
            continue;
        const char *k = key4_of(t, s, &scratch);
        if (!nn4 || names_find(nn4, k) >= 0)
            roll_add(&ms->retired4, k, v, NL4);
    }
    gw_buf_release(&scratch);
    gw_buf_release(&pre);
    /* Without a scrape, totals of removed series (listeners) would pile
     * up: bound them by the newest table's size. */
    if (ms->newest && ms->retired.names.n > 2 * ms->newest->n + 64) {
        names_make(ms->newest);
        roll_prune(&ms->retired, ms->newest->names);
    }
    if (ms->newest && ms->rolls[ROLL_LISTENER].names.n > 2 * ms->newest->n + 64) {
        names_make(ms->newest);
        rolls_prune(ms);
    }
    if (ms->newest && ms->retired4.names.n > 2 * ms->newest->n4 + 64) {
        names_make(ms->newest);
        roll_prune(&ms->retired4, ms->newest->names4);
    }
    pthread_mutex_unlock(&ms->mu);
    free(t->counts);
    free(t->block);
    free(t->ser_at);
    free(t->ser_slots);
    free(t->pk);
    free(t->pv);
    free(t->ser);
    if (t->names) {
        names_release(t->names);
        free(t->names);
        names_release(t->names4);
        free(t->names4);
    }
    free(t->kid);
    free(t->kid4);
    free(t->ser4);
    free(t->counts4);
    free(t->block4);
    free(t);
}

static inline void
bump(atomic_uint_fast64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void
px_metrics_response(struct px_dconn *d, int status, bool local)
{
    struct px_worker *w = d->w;
    int c = status >= 100 && status < 600 ? status / 100 : 0;
    if (local)
        bump(&w->m->local[c]);
    const struct px_mtab *t = d->snap ? d->snap->s->mtab : NULL;
    uint32_t s = UINT32_MAX;
    if (t && d->route) {
        /* A route of the pinned snapshot: its slot is its id. */
        if (d->route->id < t->nrslots)
            s = d->route->id;
    } else if (t) {
        const void *key = d->listener ? (const void *)d->listener : (const void *)d->iport;
        s = key ? ptr_find(t, key) : UINT32_MAX;
        if (s & L4S) /* a port l4 serves too: its key is an L4 series */
            s = UINT32_MAX;
    }
    if (s != UINT32_MAX)
        bump(&t->counts[w->id][s].c[c]);
    else
        bump(&w->m->unattr[c]);
}

struct gw_l4_counters *
px_l4_counters(void *pin, const struct gw_ir_port *pt, const struct gw_ir_listener *l,
               const struct gw_ir_l4 *r)
{
    const struct px_wsnap *ws = pin;
    const struct px_mtab *t = ws ? ws->s->mtab : NULL;
    if (!t || !t->n4)
        return NULL;
    const void *keys[3] = {r, l, pt};
    for (int i = 0; i < 3; i++) {
        uint32_t s = keys[i] ? ptr_find(t, keys[i]) : UINT32_MAX;
        if (s != UINT32_MAX && (s & L4S))
            return &t->counts4[ws->w->id][s & ~L4S];
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* State and ports                                                           */

void
px_mstate_new(struct gw_proxy *p)
{
    p->ms = gw_xcalloc(1, sizeof(*p->ms));
    pthread_mutex_init(&p->ms->mu, NULL);
}

void
px_mstate_free(struct gw_proxy *p)
{
    struct px_mstate *ms = p->ms;
    if (!ms)
        return;
    GW_ASSERT(!ms->live);
    roll_release(&ms->retired);
    roll_release(&ms->rolls[ROLL_GATEWAY]);
    roll_release(&ms->rolls[ROLL_LISTENER]);
    roll_release(&ms->retired4);
    pthread_mutex_destroy(&ms->mu);
    free(ms);
    p->ms = NULL;
}

unsigned
px_mport_slot(struct gw_proxy *p, const char *address, uint16_t port, bool udp)
{
    struct px_mstate *ms = p->ms;
    pthread_mutex_lock(&ms->mu);
    unsigned i = 0;
    while (i < ms->nports && !(ms->ports[i].port == port && ms->ports[i].udp == udp &&
                               strcmp(ms->ports[i].address, address) == 0))
        i++;
    if (i == ms->nports) {
        if (ms->nports < PX_MAX_MPORTS - 1) {
            snprintf(ms->ports[i].address, sizeof(ms->ports[i].address), "%s", address);
            ms->ports[i].port = port;
            ms->ports[i].udp = udp;
            ms->nports++;
        } else {
            i = PX_MAX_MPORTS - 1; /* "other" */
        }
    }
    pthread_mutex_unlock(&ms->mu);
    return i;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */

static uint64_t
sum(const struct gw_proxy *p, size_t off)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < p->nworkers; i++) {
        const char *base = (const char *)&p->metrics[i];
        s += atomic_load_explicit((const atomic_uint_fast64_t *)(const void *)(base + off),
                                  memory_order_relaxed);
    }
    return s;
}

#define SUM(field) sum(p, offsetof(struct px_metrics, field))

/* A label value, escaped as the text format wants (backslash, quote,
 * newline). */
static int
label(struct gw_buf *out, const char *name, const char *v, size_t n, bool last)
{
    int rc = gw_buf_appendf(out, "%s=\"", name);
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (ch == '\\')
            rc |= gw_buf_append_cstr(out, "\\\\");
        else if (ch == '"')
            rc |= gw_buf_append_cstr(out, "\\\"");
        else if (ch == '\n')
            rc |= gw_buf_append_cstr(out, "\\n");
        else
            rc |= gw_buf_append(out, &ch, 1);
    }
    rc |= gw_buf_append_cstr(out, last ? "\"" : "\",");
    return rc;
}

static const char *const cls[NCLASS] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

static int
request_line(struct gw_buf *out, const char *key, int c, uint64_t v)
{
    const char *a = strchr(key, SEP), *b = a ? strchr(a + 1, SEP) : NULL;
    GW_ASSERT(a && b);
    int rc = gw_buf_append_cstr(out, "gatehouse_http_requests_total{");
    rc |= label(out, "gateway", key, (size_t)(a - key), false);
    rc |= label(out, "listener", a + 1, (size_t)(b - a - 1), false);
    rc |= label(out, "route", b + 1, strlen(b + 1), false);
    rc |= gw_buf_appendf(out, "code=\"%s\"} %llu\n", cls[c], (unsigned long long)v);
    return rc;
}

static int
roll_line(struct gw_buf *out, int lv, const char *key, int c, uint64_t v)
{
    const char *a = strchr(key, SEP);
    GW_ASSERT((lv == ROLL_LISTENER) == (a != NULL));
    int rc =
        gw_buf_append_cstr(out, lv == ROLL_LISTENER ? "gatehouse_http_listener_requests_total{"
                                                    : "gatehouse_http_gateway_requests_total{");
    rc |= label(out, "gateway", key, a ? (size_t)(a - key) : strlen(key), false);
    if (a)
        rc |= label(out, "listener", a + 1, strlen(a + 1), false);
    rc |= gw_buf_appendf(out, "code=\"%s\"} %llu\n", cls[c], (unsigned long long)v);
    return rc;
}

/* The listener and gateway totals: their folded totals plus every live
 * table's counts under them (the newest table has its names; metrics
 * mutex). */
static int
rolls_format(struct px_mstate *ms, struct gw_buf *out)
{
    static const char *const help[3] = {
        [ROLL_GATEWAY] = "# HELP gatehouse_http_gateway_requests_total HTTP requests answered, "
                         "by gateway and status class (every route's, removed ones "
                         "included).\n# TYPE gatehouse_http_gateway_requests_total counter\n",
        [ROLL_LISTENER] = "# HELP gatehouse_http_listener_requests_total HTTP requests answered, "
                          "by gateway, listener (\"\" when none took the request) and status "
                          "class (every route's, removed ones included).\n"
                          "# TYPE gatehouse_http_listener_requests_total counter\n",
    };
    struct names ks[3] = {{0}};
    roll_keys(ms->newest, ks);
    uint64_t(*acc[3])[NCLASS] = {NULL};
    struct gw_buf scratch, pre;
    gw_buf_init(&scratch, KEY_MAX);
    gw_buf_init(&pre, KEY_MAX);
    int rc = 0;
    for (int lv = ROLL_GATEWAY; lv <= ROLL_LISTENER; lv++) {
        struct roll *r = &ms->rolls[lv];
        roll_prune(r, &ks[lv]);
        acc[lv] = gw_xcalloc(ks[lv].n ? ks[lv].n : 1, sizeof(*acc[lv]));
        for (size_t i = 0; i < r->names.n; i++) {
            long k = names_find(&ks[lv], r->names.keys[i]);
            for (int c = 0; c < NCLASS; c++)
                acc[lv][k][c] += r->v[i][c];
        }
    }
    for (const struct px_mtab *l = ms->live; l; l = l->next) {
        for (size_t s = 0; s < l->n; s++) {
            uint64_t v[NCLASS];
            if (!counts_of(l, s, v))
                continue;
            const char *key = key_of(l, s, &scratch);
            for (int lv = ROLL_GATEWAY; lv <= ROLL_LISTENER; lv++) {
                long k = names_find(&ks[lv], key_prefix(key, lv, &pre));
                for (int c = 0; k >= 0 && c < NCLASS; c++)
                    acc[lv][k][c] += v[c];
            }
        }
    }
    for (int lv = ROLL_GATEWAY; lv <= ROLL_LISTENER; lv++) {
        rc |= gw_buf_append_cstr(out, help[lv]);
        for (size_t k = 0; k < ks[lv].n; k++)
            for (int c = 0; c < NCLASS; c++)
                if (acc[lv][k][c])
                    rc |= roll_line(out, lv, ks[lv].keys[k], c, acc[lv][k][c]);
        free(acc[lv]);
        names_release(&ks[lv]);
    }
    gw_buf_release(&scratch);
    gw_buf_release(&pre);
    return rc;
}

static int
requests_format(const struct gw_proxy *p, struct gw_buf *out)
{
    struct px_mstate *ms = p->ms;
    int rc = gw_buf_append_cstr(
        out, "# HELP gatehouse_http_requests_total HTTP requests answered, by gateway, listener, "
             "route (\"Kind ns/name\"; \"\" when no route matched) and status class.\n"
             "# TYPE gatehouse_http_requests_total counter\n");
    char unkey[] = {SEP, SEP, 0};
    for (int c = 0; c < NCLASS; c++) {
        uint64_t v = SUM(unattr[c]);
        if (v)
            rc |= request_line(out, unkey, c, v);
    }
    struct px_mtab *t = ms->newest;
    if (!t)
        return rc;
    names_make(t);
    roll_prune(&ms->retired, t->names);
    const struct names *nn = t->names;
    uint64_t(*acc)[NCLASS] = gw_xcalloc(nn->n ? nn->n : 1, sizeof(*acc));
    for (size_t r = 0; r < ms->retired.names.n; r++) {
        long k = names_find(nn, ms->retired.names.keys[r]);
        for (int c = 0; k >= 0 && c < NCLASS; c++)
            acc[k][c] += ms->retired.v[r][c];
    }
    struct gw_buf scratch;
    gw_buf_init(&scratch, KEY_MAX);
    for (const struct px_mtab *l = ms->live; l; l = l->next) {
        for (size_t s = 0; s < l->n; s++) {
            uint64_t v[NCLASS];
            if (!counts_of(l, s, v))
                continue;
            long k = l == t ? (long)t->kid[s] : names_find(nn, key_of(l, s, &scratch));
            for (int c = 0; k >= 0 && c < NCLASS; c++)
                acc[k][c] += v[c];
        }
    }
    gw_buf_release(&scratch);
    for (size_t k = 0; k < nn->n; k++)
        for (int c = 0; c < NCLASS; c++)
            if (acc[k][c])
                rc |= request_line(out, nn->keys[k], c, acc[k][c]);
    free(acc);
    return rc | rolls_format(ms, out);
}

static int
ports_format(const struct gw_proxy *p, struct gw_buf *out)
{
    struct px_mstate *ms = p->ms;

    static const struct {
        const char *name, *type, *help;
        size_t off;
        bool l4;
    } fam[] = {
        {"gatehouse_downstream_connections_active", "gauge",
         "HTTP client connections open, by listening address and port.",
         offsetof(struct px_metrics, conns_active), false},
        {"gatehouse_downstream_connections_total", "counter",
         "HTTP client connections accepted, by listening address and port.",
         offsetof(struct px_metrics, conns_total), false},
        {"gatehouse_l4_connections_total", "counter",
         "TCP and TLS-passthrough connections accepted and handed to the L4 proxy, by "
         "listening address and port.",
         offsetof(struct px_metrics, l4_total), true},
    };

    int rc = 0;
    for (size_t f = 0; f < GW_ARRAY_LEN(fam); f++) {
        rc |= gw_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
                             fam[f].name, fam[f].type);
        for (unsigned i = 0; i < PX_MAX_MPORTS; i++) {
            if (i >= ms->nports && !(i == PX_MAX_MPORTS - 1 && ms->nports == PX_MAX_MPORTS - 1))
                continue;
            if (i < ms->nports && ms->ports[i].udp)
                continue;
            uint64_t v = sum(p, fam[f].off + i * sizeof(atomic_uint_fast64_t));
            uint64_t seen = sum(p, (fam[f].l4 ? offsetof(struct px_metrics, l4_total)
                                              : offsetof(struct px_metrics, conns_total)) +
                                       i * sizeof(atomic_uint_fast64_t));
            if (!seen)
                continue; /* an address of the other kind (HTTP or L4) */
            bool other = i == PX_MAX_MPORTS - 1;
            const char *addr = other ? "other" : ms->ports[i].address;
            rc |= gw_buf_append_cstr(out, fam[f].name);
            rc |= gw_buf_append_cstr(out, "{");
            rc |= label(out, "address", addr, strlen(addr), false);
            rc |= gw_buf_appendf(out, "port=\"%u\"} %llu\n", other ? 0u : ms->ports[i].port,
                                 (unsigned long long)v);
        }
    }
    return rc;
}

/* The L4 families: every L4 series of the newest table with a non-zero
 * count (folded totals plus live tables', by name). Metrics mutex. */
static int
l4_format(struct px_mstate *ms, struct gw_buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } fam[NL4] = {
        {"gatehouse_l4_sessions_total", "counter",
         "TCP and TLS connections accepted and UDP sessions started, by gateway, listener and "
         "route (\"\" when the connection ended before one was chosen)."},
        {"gatehouse_l4_sessions_active", "gauge", "TCP and TLS connections and UDP sessions open."},
        {"gatehouse_l4_received_bytes_total", "counter",
         "Bytes read from L4 clients (terminated TLS: decrypted)."},
        {"gatehouse_l4_sent_bytes_total", "counter", "Bytes written to L4 clients."},
        {"gatehouse_l4_received_datagrams_total", "counter",
         "UDP datagrams from clients forwarded upstream."},
        {"gatehouse_l4_sent_datagrams_total", "counter", "UDP datagrams sent to clients."},
        {"gatehouse_l4_upstream_connect_failures_total", "counter",
         "L4 upstream connect attempts that failed (UDP: the upstream port was unreachable)."},
    };
    struct px_mtab *t = ms->newest;
    const struct names *nn = NULL;
    uint64_t(*acc)[NL4] = NULL;
    if (t) {
        names_make(t);
        nn = t->names4;
        roll_prune(&ms->retired4, nn);
        acc = gw_xcalloc(nn->n ? nn->n : 1, sizeof(*acc));
        for (size_t r = 0; r < ms->retired4.names.n; r++) {
            long k = names_find(nn, ms->retired4.names.keys[r]);
            for (int i = 0; i < NL4; i++)
                acc[k][i] += ms->retired4.v[r][i];
        }
        struct gw_buf scratch;
        gw_buf_init(&scratch, KEY_MAX);
        for (const struct px_mtab *l = ms->live; l; l = l->next)
            for (size_t s = 0; s < l->n4; s++) {
                uint64_t v[NL4];
                if (!l4_counts_of(l, s, v))
                    continue;
                long k = l == t ? (long)t->kid4[s] : names_find(nn, key4_of(l, s, &scratch));
                for (int i = 0; k >= 0 && i < NL4; i++)
                    acc[k][i] += v[i];
            }
        gw_buf_release(&scratch);
    }
    int rc = 0;
    for (int f = 0; f < NL4; f++) {
        rc |= gw_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
                             fam[f].name, fam[f].type);
        for (size_t k = 0; nn && k < nn->n; k++) {
            uint64_t v = acc[k][f];
            if (f == 1) /* the gauge in closed's place: shown with the series, 0 too */
                v = acc[k][0] > acc[k][1] ? acc[k][0] - acc[k][1] : 0;
            if (f == 1 ? !acc[k][0] : !v)
                continue;
            const char *key = nn->keys[k];
            const char *a = strchr(key, SEP), *b = a ? strchr(a + 1, SEP) : NULL;
            GW_ASSERT(a && b);
            rc |= gw_buf_append_cstr(out, fam[f].name);
            rc |= gw_buf_append_cstr(out, "{");
            rc |= label(out, "gateway", key, (size_t)(a - key), false);
            rc |= label(out, "listener", a + 1, (size_t)(b - a - 1), false);
            rc |= label(out, "route", b + 1, strlen(b + 1), true);
            rc |= gw_buf_appendf(out, "} %llu\n", (unsigned long long)v);
        }
    }
    free(acc);
    return rc;
}

int
gw_proxy_metrics_format(const struct gw_proxy *p, struct gw_buf *out)
{
    struct px_mstate *ms = p->ms;
    pthread_mutex_lock(&ms->mu);
    int rc = requests_format(p, out);
    rc |= gw_buf_append_cstr(out, "# HELP gatehouse_http_local_responses_total Responses made "
                                  "by the gateway itself (404, redirects, 5xx for failed "
                                  "upstreams...), by status class.\n"
                                  "# TYPE gatehouse_http_local_responses_total counter\n");
    for (int c = 0; c < NCLASS; c++)
        rc |= gw_buf_appendf(out, "gatehouse_http_local_responses_total{code=\"%s\"} %llu\n",
                             cls[c], (unsigned long long)SUM(local[c]));
    rc |= gw_buf_appendf(out,
                         "# HELP gatehouse_route_regex_giveups_total Requests during which a "
                         "route's regular expression was abandoned (the per-request regex "
                         "budget ran out, or a PCRE2 limit).\n"
                         "# TYPE gatehouse_route_regex_giveups_total counter\n"
                         "gatehouse_route_regex_giveups_total %llu\n",
                         (unsigned long long)gw_route_regex_giveups());
    rc |= ports_format(p, out);
    rc |= l4_format(ms, out);
    rc |= px_tracer_metrics_format(p, out);
    pthread_mutex_unlock(&ms->mu);
    rc |= gw_buf_appendf(
        out,
        "# HELP gatehouse_upstream_connections_total Upstream connections opened.\n"
        "# TYPE gatehouse_upstream_connections_total counter\n"
        "gatehouse_upstream_connections_total %llu\n"
        "# HELP gatehouse_upstream_reused_total Requests sent on a pooled upstream connection.\n"
        "# TYPE gatehouse_upstream_reused_total counter\n"
        "gatehouse_upstream_reused_total %llu\n"
        "# HELP gatehouse_upstream_connect_failures_total Upstream connects that failed.\n"
        "# TYPE gatehouse_upstream_connect_failures_total counter\n"
        "gatehouse_upstream_connect_failures_total %llu\n"
        "# HELP gatehouse_upstream_retries_total Request attempts retried.\n"
        "# TYPE gatehouse_upstream_retries_total counter\n"
        "gatehouse_upstream_retries_total %llu\n"
        "# HELP gatehouse_upstream_ejections_total Endpoints ejected by outlier detection.\n"
        "# TYPE gatehouse_upstream_ejections_total counter\n"
        "gatehouse_upstream_ejections_total %llu\n"
        "# HELP gatehouse_upstream_connections_refused_total Upstream connections not made "
        "for a limit (the request answered 503), by limit.\n"
        "# TYPE gatehouse_upstream_connections_refused_total counter\n"
        "gatehouse_upstream_connections_refused_total{limit=\"endpoint\"} %llu\n"
        "gatehouse_upstream_connections_refused_total{limit=\"descriptors\"} %llu\n"
        "# HELP gatehouse_ratelimit_refused_total Requests answered 429 by a "
        "RateLimitPolicy limit.\n"
        "# TYPE gatehouse_ratelimit_refused_total counter\n"
        "gatehouse_ratelimit_refused_total %llu\n",
        (unsigned long long)SUM(up_conns_total), (unsigned long long)SUM(up_reuse),
        (unsigned long long)SUM(up_connect_fail), (unsigned long long)SUM(retries),
        (unsigned long long)SUM(ejections), (unsigned long long)SUM(up_refused_ep),
        (unsigned long long)SUM(up_refused_fds), (unsigned long long)SUM(ratelimited));
    rc |= gw_buf_append_cstr(out, "# HELP gatehouse_source_address_refused_total Requests and "
                                  "connections refused by a SourceAddressPolicy, by protocol.\n"
                                  "# TYPE gatehouse_source_address_refused_total counter\n");
    for (int i = 0; i < 4; i++)
        rc |= gw_buf_appendf(out, "gatehouse_source_address_refused_total{protocol=\"%s\"} %llu\n",
                             px_edge_proto_name((enum px_edge_proto)i),
                             (unsigned long long)SUM(sa_refused[i]));
    rc |= gw_buf_append_cstr(out, "# HELP gatehouse_proxy_protocol_refused_total Connections "
                                  "closed by the PROXY protocol pre-phase, by reason.\n"
                                  "# TYPE gatehouse_proxy_protocol_refused_total counter\n");
    for (int i = 0; i < 4; i++)
        rc |= gw_buf_appendf(out, "gatehouse_proxy_protocol_refused_total{reason=\"%s\"} %llu\n",
                             px_edge_pp_reason_name((enum px_edge_pp_reason)i),
                             (unsigned long long)SUM(pp_refused[i]));
    static const char *const cblim[] = {"connections", "requests", "retries"};
    _Static_assert(GW_ARRAY_LEN(cblim) == PX_CB__COUNT, "one label per limit");
    rc |= gw_buf_append_cstr(out, "# HELP gatehouse_circuit_breaker_open_total Requests answered "
                                  "503 by a CircuitBreakerPolicy limit, by limit.\n"
                                  "# TYPE gatehouse_circuit_breaker_open_total counter\n");
    for (size_t i = 0; i < GW_ARRAY_LEN(cblim); i++)
        rc |= gw_buf_appendf(out, "gatehouse_circuit_breaker_open_total{limit=\"%s\"} %llu\n",
                             cblim[i], (unsigned long long)SUM(cb_open[i]));
    rc |= gw_buf_appendf(out,
                         "# HELP gatehouse_retry_budget_refused_total Retries not made: an "
                         "XBackendTrafficPolicy retry budget was spent.\n"
                         "# TYPE gatehouse_retry_budget_refused_total counter\n"
                         "gatehouse_retry_budget_refused_total %llu\n",
                         (unsigned long long)SUM(rb_refused));
    rc |= gw_buf_appendf(
        out,
        "# HELP gatehouse_auth_refused_total Requests answered 401 by an authentication "
        "policy, by kind.\n"
        "# TYPE gatehouse_auth_refused_total counter\n"
        "gatehouse_auth_refused_total{kind=\"jwt\"} %llu\n"
        "gatehouse_auth_refused_total{kind=\"basic\"} %llu\n"
        "gatehouse_auth_refused_total{kind=\"apikey\"} %llu\n"
        "# HELP gatehouse_auth_busy_total Requests answered 503: the worker's password-hash "
        "budget for the second was spent (BasicAuthPolicy).\n"
        "# TYPE gatehouse_auth_busy_total counter\n"
        "gatehouse_auth_busy_total %llu\n"
        "# HELP gatehouse_jwt_cache_total JWT verifications by the workers' caches, by "
        "result.\n"
        "# TYPE gatehouse_jwt_cache_total counter\n"
        "gatehouse_jwt_cache_total{result=\"hit\"} %llu\n"
        "gatehouse_jwt_cache_total{result=\"miss\"} %llu\n",
        (unsigned long long)SUM(auth_refused[0]), (unsigned long long)SUM(auth_refused[1]),
        (unsigned long long)SUM(auth_refused[2]), (unsigned long long)SUM(auth_busy),
        (unsigned long long)SUM(jwt_cache_hits), (unsigned long long)SUM(jwt_cache_misses));
    rc |= gw_buf_appendf(
        out,
        "# HELP gatehouse_ratelimit_global_total Requests checked against a global "
        "RateLimitPolicy limit, by verdict: Redis allowed or refused them, or Redis was away or "
        "late and the limit's failureMode let them through (fail_open) or refused them "
        "(fail_closed).\n"
        "# TYPE gatehouse_ratelimit_global_total counter\n"
        "gatehouse_ratelimit_global_total{verdict=\"allowed\"} %llu\n"
        "gatehouse_ratelimit_global_total{verdict=\"refused\"} %llu\n"
        "gatehouse_ratelimit_global_total{verdict=\"fail_open\"} %llu\n"
        "gatehouse_ratelimit_global_total{verdict=\"fail_closed\"} %llu\n"
        "# HELP gatehouse_redis_errors_total Redis error replies, failed connects and lost "
        "connections.\n"
        "# TYPE gatehouse_redis_errors_total counter\n"
        "gatehouse_redis_errors_total %llu\n"
        "# HELP gatehouse_redis_timeouts_total Global limit checks Redis did not answer within "
        "--redis-timeout.\n"
        "# TYPE gatehouse_redis_timeouts_total counter\n"
        "gatehouse_redis_timeouts_total %llu\n"
        "# HELP gatehouse_redis_connects_total Redis connections made (one per worker, again "
        "after each loss).\n"
        "# TYPE gatehouse_redis_connects_total counter\n"
        "gatehouse_redis_connects_total %llu\n"
        "# HELP gatehouse_redis_connections Workers whose Redis connection is up.\n"
        "# TYPE gatehouse_redis_connections gauge\n"
        "gatehouse_redis_connections %llu\n",
        (unsigned long long)SUM(rlg_allowed), (unsigned long long)SUM(rlg_refused),
        (unsigned long long)SUM(rlg_fail_open), (unsigned long long)SUM(rlg_fail_closed),
        (unsigned long long)SUM(redis_errors), (unsigned long long)SUM(redis_timeouts),
        (unsigned long long)SUM(redis_connects), (unsigned long long)SUM(redis_up));
    rc |= gw_buf_appendf(
        out,
        "# HELP gatehouse_extauth_total Requests put to an ExtAuthPolicy's authorization "
        "service, by outcome: its answer allowed or denied them, the call failed or timed out; "
        "fail_open counts the failed or timed out ones failureMode Open let through.\n"
        "# TYPE gatehouse_extauth_total counter\n"
        "gatehouse_extauth_total{outcome=\"allowed\"} %llu\n"
        "gatehouse_extauth_total{outcome=\"denied\"} %llu\n"
        "gatehouse_extauth_total{outcome=\"error\"} %llu\n"
        "gatehouse_extauth_total{outcome=\"timeout\"} %llu\n"
        "gatehouse_extauth_total{outcome=\"fail_open\"} %llu\n",
        (unsigned long long)SUM(ea_allowed), (unsigned long long)SUM(ea_denied),
        (unsigned long long)SUM(ea_error), (unsigned long long)SUM(ea_timeout),
        (unsigned long long)SUM(ea_fail_open));
    static const char *const h2lim[] = {"header_timeout", "oversized", "memory"};
    rc |= gw_buf_append_cstr(out, "# HELP gatehouse_http2_streams_limited_total HTTP/2 client "
                                  "streams reset or refused for a limit, by reason.\n"
                                  "# TYPE gatehouse_http2_streams_limited_total counter\n");
    for (size_t i = 0; i < GW_ARRAY_LEN(h2lim); i++)
        rc |= gw_buf_appendf(out, "gatehouse_http2_streams_limited_total{reason=\"%s\"} %llu\n",
                             h2lim[i], (unsigned long long)SUM(h2_limited[i]));
    rc |= gw_buf_append_cstr(out, "# HELP gatehouse_http_wire_refused_total Header fields, "
                                  "request targets, Hosts, reason phrases and extra header "
                                  "blocks not written for holding CR, LF or NUL, by kind.\n"
                                  "# TYPE gatehouse_http_wire_refused_total counter\n");
    for (int i = 0; i < PX_WIRE_NWHAT; i++)
        rc |= gw_buf_appendf(out, "gatehouse_http_wire_refused_total{what=\"%s\"} %llu\n",
                             px_wire_what_name((enum px_wire_what)i),
                             (unsigned long long)px_wire_refused((enum px_wire_what)i));
    rc |=
        gw_buf_append_cstr(out, "# HELP gatehouse_upstream_request_duration_seconds Time from "
                                "sending a request upstream to its response head, every attempt.\n"
                                "# TYPE gatehouse_upstream_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < PX_LAT_BUCKETS; i++) {
        cum += SUM(lat_bucket[i]);
        rc |= gw_buf_appendf(out,
                             "gatehouse_upstream_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                             px_lat_bounds_ms[i] / 1000.0, (unsigned long long)cum);
    }
    cum += SUM(lat_bucket[PX_LAT_BUCKETS]);
    rc |= gw_buf_appendf(out,
                         "gatehouse_upstream_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                         "gatehouse_upstream_request_duration_seconds_sum %g\n"
                         "gatehouse_upstream_request_duration_seconds_count %llu\n",
                         (unsigned long long)cum, (double)SUM(lat_sum_us) / 1e6,
                         (unsigned long long)cum);
    rc |= px_hc_metrics_format(p, out);
    rc |= px_dns_metrics_format(p, out);
    rc |= px_jwks_metrics_format(p, out);
    return rc ? GW_ELIMIT : 0;
}
