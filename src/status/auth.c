/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: JWTPolicy, BasicAuthPolicy and APIKeyPolicy (gatehouse.dev/
 * v1alpha1), attached by attach.c. Each kind resolves on its own: a
 * request's rule takes the policy of the most specific level that has one
 * (rule, route, listener, Gateway), so a JWTPolicy on a route and a
 * BasicAuthPolicy on its Gateway both apply. The Secrets and ConfigMaps a
 * policy names (its own namespace only) are parsed here, once per
 * translation, into the verifiers of auth/ (a remote JWKS is only
 * described: the data plane fetches it, proxy/jwks.c): a reference that is missing,
 * a key that is absent, or data that yields nothing usable makes the
 * policy Accepted=False, Invalid, with the reason. Unlike other policies
 * an invalid authentication policy still takes its targets (GEP-713
 * precedence as if it were valid) and fails closed: the routes it covers
 * answer 500 until it is fixed, rather than going unprotected. The
 * verifiers belong to the IR: their release is registered on its arena.
 */
#include "auth/auth.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "status/internal.h"

#include "base/banned.h"

/* Serials of htpasswd sets (gw_ir_basic.serial): the workers' caches of
 * good passwords key on them, so a new set never sees an old set's
 * entries. */
static atomic_uint_fast64_t basic_serial = 1;

static void
provider_free(void *p)
{
    gw_auth_jwt_provider_free(p);
}

static void
htpasswd_free(void *p)
{
    gw_auth_htpasswd_free(p);
}

static void
apikeys_free(void *p)
{
    gw_auth_apikeys_free(p);
}

static char *
lower(struct tr *t, const char *s)
{
    char *h = gw_arena_strdup(&t->ir->arena, s);
    for (char *c = h; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    return h;
}

/* The first error of diags, or what. */
static const char *
diag_msg(struct tr *t, const struct gw_diags *d, const char *what)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].severity == GW_SEV_ERROR)
            return tr_printf(t, "%s: %s", what, d->v[i].message);
    return tr_printf(t, "%s: unusable", what);
}

/* The bytes under ref's key (kind Secret or ConfigMap) in namespace ns, or
 * NULL with *why. */
static const struct gw_bytes *
data_get(struct tr *t, const char *ns, const struct gw_data_ref *ref, bool secret, const char *key,
         const char **why)
{
    const struct gw_bytes *v = NULL;
    size_t n = 0;
    const char *kind = secret ? "Secret" : "ConfigMap";
    if (secret) {
        const struct gw_secret *s = gw_store_secret(t->store, ns, ref->name);
        if (s) {
            v = s->data.v;
            n = s->data.n;
        } else {
            *why = tr_printf(t, "%s %s/%s not found", kind, ns, ref->name);
            return NULL;
        }
    } else {
        const struct gw_configmap *c = gw_store_configmap(t->store, ns, ref->name);
        if (c) {
            v = c->data.v;
            n = c->data.n;
        } else {
            *why = tr_printf(t, "%s %s/%s not found", kind, ns, ref->name);
            return NULL;
        }
    }
    const struct gw_bytes *b = gw_bytes_get(v, n, key);
    if (!b)
        *why = tr_printf(t, "%s %s/%s has no key %s", kind, ns, ref->name, key);
    return b;
}

static bool
is_pem(const struct gw_bytes *b)
{
    static const char mark[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof(mark) - 1 <= b->len; i++) {
        if (b->data[i] == ' ' || b->data[i] == '\t' || b->data[i] == '\r' || b->data[i] == '\n')
            continue;
        return !memcmp(b->data + i, mark, sizeof(mark) - 1);
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Compiling one policy                                                     */

/* jwks.remote: the IR's description for the data plane's fetcher (numbered
 * by remote_register); NULL with *why when a CA reference does not resolve. */
static struct gw_ir_jwks_remote *
remote_jwks(struct tr *t, const struct gw_jwtpolicy *p, const struct gw_jwt_provider *src,
            const char **why)
{
    const struct gw_jwt_remote *r = src->jwks.remote;
    struct gw_arena *a = &t->ir->arena;
    struct gw_buf ca;
    gw_buf_init(&ca, 16 * 1024 * 1024);
    const char *bad = tr_ca_bundle(t, p->meta.ns, r->ca_certificate_refs.v,
                                   r->ca_certificate_refs.n, "jwks.remote.caCertificateRefs", &ca);
    if (bad) {
        *why = tr_printf(t, "provider %s: %s", src->name, bad);
        gw_buf_release(&ca);
        return NULL;
    }
    struct gw_ir_jwks_remote *o = gw_arena_alloc(a, sizeof(*o));
    o->policy = TR_CAT(a, p->meta.ns, "/", p->meta.name);
    o->uri = gw_arena_strdup(a, r->uri);
    if (ca.len) {
        o->ca_pem = gw_arena_memdup(a, ca.p, ca.len);
        o->ca_len = ca.len;
    }
    gw_buf_release(&ca);
    o->refresh_ms = r->refresh_interval_ms;
    o->timeout_ms = r->timeout_ms;
    return o;
}

/* Adds o to ir->jwks_remotes, once its policy compiled: an Invalid policy's
 * URIs are not fetched. */
static void
remote_register(struct gw_ir *ir, struct gw_ir_jwks_remote *o)
{
    o->id = (uint32_t)ir->njwks_remotes;
    const struct gw_ir_jwks_remote **v =
        gw_arena_alloc(&ir->arena, (ir->njwks_remotes + 1) * sizeof(*v));
    if (ir->njwks_remotes)
        memcpy(v, ir->jwks_remotes, ir->njwks_remotes * sizeof(*v));
    v[ir->njwks_remotes++] = o;
    ir->jwks_remotes = v;
}

/* The key set of a Secret or ConfigMap provider, or NULL with *why. */
static struct gw_auth_keyset *
local_jwks(struct tr *t, const char *ns, const struct gw_jwt_provider *src, const char **why)
{
    bool secret = src->jwks.secret_ref != NULL;
    const struct gw_data_ref *ref = secret ? src->jwks.secret_ref : src->jwks.configmap_ref;
    if (!ref) {
        *why = tr_printf(t, "provider %s: no jwks", src->name);
        return NULL;
    }
    const char *miss = NULL;
    const struct gw_bytes *b = data_get(t, ns, ref, secret, ref->key, &miss);
    if (!b) {
        *why = tr_printf(t, "provider %s: %s", src->name, miss);
        return NULL;
    }
    const char *label =
        tr_printf(t, "%s %s/%s key %s", secret ? "Secret" : "ConfigMap", ns, ref->name, ref->key);
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *ks = NULL;
    int rc = is_pem(b) ? gw_auth_keyset_parse_pem((const char *)b->data, b->len, label, &ks, &d)
                       : gw_auth_keyset_parse_jwks((const char *)b->data, b->len, label, &ks, &d);
    if (rc < 0 || gw_auth_keyset_count(ks) == 0) {
        *why = rc < 0 ? tr_printf(t, "provider %s: %s", src->name, diag_msg(t, &d, label))
                      : tr_printf(t, "provider %s: %s holds no usable key", src->name, label);
        gw_diags_release(&d);
        gw_auth_keyset_unref(ks);
        return NULL;
    }
    gw_diags_release(&d);
    return ks;
}

static struct gw_ir_jwt *
compile_jwt(struct tr *t, const struct gw_jwtpolicy *p, const char **why)
{
    const char *ns = p->meta.ns;
    struct gw_arena *a = &t->ir->arena;
    struct gw_ir_jwt *j = gw_arena_alloc(a, sizeof(*j));
    j->policy = TR_CAT(a, ns, "/", p->meta.name);
    j->realm = gw_arena_strdup(a, p->spec.realm ? p->spec.realm : "gatehouse");
    j->nproviders = p->spec.providers.n;
    j->providers = gw_arena_alloc(a, (j->nproviders + 1) * sizeof(*j->providers));
    size_t nstrip = 0;
    for (size_t i = 0; i < p->spec.providers.n; i++)
        nstrip += p->spec.providers.v[i].claims_to_headers.n;
    j->strip = gw_arena_alloc(a, (nstrip + 1) * sizeof(*j->strip));
    struct gw_ir_jwks_remote **remotes =
        gw_arena_alloc(&t->tmp, (p->spec.providers.n + 1) * sizeof(*remotes));
    for (size_t i = 0; i < p->spec.providers.n; i++) {
        const struct gw_jwt_provider *src = &p->spec.providers.v[i];
        struct gw_ir_jwt_provider *o = &j->providers[i];
        o->name = gw_arena_strdup(a, src->name);
        struct gw_auth_keyset *ks = NULL;
        if (src->jwks.remote) {
            /* The keys come from the data plane's fetcher, at run time. */
            if (!(remotes[i] = remote_jwks(t, p, src, why)))
                return NULL;
            o->remote = remotes[i];
        } else if (!(ks = local_jwks(t, ns, src, why))) {
            return NULL;
        }
        const char **auds = gw_arena_alloc(&t->tmp, (src->audiences.n + 1) * sizeof(*auds));
        for (size_t k = 0; k < src->audiences.n; k++)
            auds[k] = src->audiences.v[k];
        struct gw_auth_jwt_config cfg = {
            .keys = ks,
            .issuer = src->issuer,
            .audiences = auds,
            .n_audiences = src->audiences.n,
            .clock_skew_s = src->clock_skew_ms > 0 ? src->clock_skew_ms / 1000 : 0,
        };
        struct gw_auth_jwt_provider *v = gw_auth_jwt_provider_new(&cfg);
        gw_auth_keyset_unref(ks); /* the provider holds its own */
        gw_arena_on_release(a, provider_free, v);
        o->verifier = v;
        if (src->from && src->from->cookie) {
            o->cookie = true;
            o->from = gw_arena_strdup(a, src->from->cookie);
        } else if (src->from && src->from->header) {
            o->from = lower(t, src->from->header->name);
            if (src->from->header->prefix && *src->from->header->prefix)
                o->prefix = gw_arena_strdup(a, src->from->header->prefix);
        } else {
            o->from = "authorization";
            o->bearer = true;
        }
        o->nclaims = src->claims_to_headers.n;
        o->claims = gw_arena_alloc(a, (o->nclaims + 1) * sizeof(*o->claims));
        for (size_t k = 0; k < o->nclaims; k++) {
            o->claims[k].claim = gw_arena_strdup(a, src->claims_to_headers.v[k].claim);
            o->claims[k].header = lower(t, src->claims_to_headers.v[k].header);
            bool dup = false;
            for (size_t m = 0; m < j->nstrip && !dup; m++)
                dup = !strcmp(j->strip[m], o->claims[k].header);
            if (!dup)
                j->strip[j->nstrip++] = o->claims[k].header;
        }
    }
    for (size_t i = 0; i < p->spec.providers.n; i++)
        if (remotes[i])
            remote_register(t->ir, remotes[i]);
    return j;
}

static struct gw_ir_basic *
compile_basic(struct tr *t, const struct gw_basicauthpolicy *p, const char **why)
{
    const char *ns = p->meta.ns;
    struct gw_arena *a = &t->ir->arena;
    const struct gw_data_ref *ref = p->spec.htpasswd.secret_ref;
    const char *key = ref->key ? ref->key : ".htpasswd";
    const struct gw_bytes *b = data_get(t, ns, ref, true, key, why);
    if (!b)
        return NULL;
    const char *label = tr_printf(t, "Secret %s/%s key %s", ns, ref->name, key);
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_htpasswd *h = NULL;
    int rc = gw_auth_htpasswd_parse((const char *)b->data, b->len, label, &h, &d);
    if (rc < 0 || gw_auth_htpasswd_count(h) == 0) {
        *why = rc < 0 ? diag_msg(t, &d, label)
                      : tr_printf(t, "%s holds no usable user (bcrypt, $5$, $6$ or {SHA})", label);
        gw_diags_release(&d);
        gw_auth_htpasswd_free(h);
        return NULL;
    }
    gw_diags_release(&d);
    gw_arena_on_release(a, htpasswd_free, h);
    struct gw_ir_basic *o = gw_arena_alloc(a, sizeof(*o));
    o->policy = TR_CAT(a, ns, "/", p->meta.name);
    o->realm = gw_arena_strdup(a, p->spec.realm ? p->spec.realm : "gatehouse");
    o->users = h;
    o->serial = atomic_fetch_add_explicit(&basic_serial, 1, memory_order_relaxed);
    o->user_header = p->spec.user_header ? lower(t, p->spec.user_header) : NULL;
    return o;
}

static struct gw_ir_apikey *
compile_apikey(struct tr *t, const struct gw_apikeypolicy *p, const char **why)
{
    const char *ns = p->meta.ns;
    struct gw_arena *a = &t->ir->arena;
    const struct gw_data_ref *ref = p->spec.keys.secret_ref;
    const struct gw_secret *s = gw_store_secret(t->store, ns, ref->name);
    if (!s) {
        *why = tr_printf(t, "Secret %s/%s not found", ns, ref->name);
        return NULL;
    }
    struct gw_auth_apikeys *k = gw_auth_apikeys_new();
    for (size_t i = 0; i < s->data.n; i++) {
        const struct gw_bytes *b = &s->data.v[i];
        /* A value written with echo ends in a newline that no client
         * sends: trailing CR and LF are not part of the key. */
        size_t len = b->len;
        while (len && (b->data[len - 1] == '\n' || b->data[len - 1] == '\r'))
            len--;
        int rc = gw_auth_apikeys_add(k, b->key, (struct gw_str){(const char *)b->data, len});
        if (rc < 0) {
            *why = tr_printf(t, "Secret %s/%s key %s: %s", ns, ref->name, b->key,
                             rc == GW_EEXISTS ? "the same API key as another client"
                                              : "empty or longer than 4096 bytes");
            gw_auth_apikeys_free(k);
            return NULL;
        }
    }
    if (!gw_auth_apikeys_count(k)) {
        *why = tr_printf(t, "Secret %s/%s holds no key", ns, ref->name);
        gw_auth_apikeys_free(k);
        return NULL;
    }
    gw_arena_on_release(a, apikeys_free, k);
    struct gw_ir_apikey *o = gw_arena_alloc(a, sizeof(*o));
    o->policy = TR_CAT(a, ns, "/", p->meta.name);
    o->keys = k;
    if (p->spec.from.query) {
        o->query = true;
        o->from = gw_arena_strdup(a, p->spec.from.query);
    } else {
        o->from = lower(t, p->spec.from.header ? p->spec.from.header : "X-API-Key");
    }
    o->client_header = p->spec.client_header ? lower(t, p->spec.client_header) : NULL;
    return o;
}

/* What an invalid policy's targets get: fail closed. */
static void *
deny(struct tr *t, enum gw_kind kind, const struct gw_meta *m)
{
    struct gw_arena *a = &t->ir->arena;
    const char *policy = TR_CAT(a, m->ns, "/", m->name);
    if (kind == GW_KIND_JWTPOLICY) {
        struct gw_ir_jwt *j = gw_arena_alloc(a, sizeof(*j));
        j->policy = policy;
        j->realm = "gatehouse";
        j->invalid = true;
        return j;
    }
    if (kind == GW_KIND_BASICAUTHPOLICY) {
        struct gw_ir_basic *b = gw_arena_alloc(a, sizeof(*b));
        b->policy = policy;
        b->realm = "gatehouse";
        b->invalid = true;
        return b;
    }
    struct gw_ir_apikey *k = gw_arena_alloc(a, sizeof(*k));
    k->policy = policy;
    k->from = "x-api-key";
    k->invalid = true;
    return k;
}

/* k[0]: the policies of kind, for the status; k[1]: the same with the
 * Invalid verdicts cleared (sharing the resolved targets), for the
 * lookups, since tr_attach_winner skips invalid policies. */
static struct tr_att_kind *
collect(struct tr *t, enum gw_kind kind)
{
    if (!gw_store_count(t->store, kind))
        return NULL;
    struct tr_att_kind *k = gw_arena_alloc(&t->tmp, 2 * sizeof(*k));
    tr_attach_collect(t, kind, k);
    k[1] = k[0];
    k[1].v = gw_arena_alloc(&t->tmp, (k->n + 1) * sizeof(*k[1].v));
    for (size_t i = 0; i < k->n; i++) {
        struct tr_att_policy *q = &k->v[i];
        const char *why = NULL;
        void *ir = NULL;
        if (kind == GW_KIND_JWTPOLICY)
            ir = compile_jwt(t, (const void *)q->m, &why);
        else if (kind == GW_KIND_BASICAUTHPOLICY)
            ir = compile_basic(t, (const void *)q->m, &why);
        else
            ir = compile_apikey(t, (const void *)q->m, &why);
        if (!ir) {
            q->invalid =
                tr_printf(t, "%s; the requests it covers are answered 500", why ? why : "invalid");
            ir = deny(t, kind, q->m);
        }
        for (size_t j = 0; j < q->ntargets; j++)
            q->targets[j].ir = ir;
        k[1].v[i] = *q;
        k[1].v[i].invalid = NULL;
    }
    return k;
}

void
tr_auths(struct tr *t)
{
    t->jwtp = collect(t, GW_KIND_JWTPOLICY);
    t->bap = collect(t, GW_KIND_BASICAUTHPOLICY);
    t->akp = collect(t, GW_KIND_APIKEYPOLICY);
}

/* ------------------------------------------------------------------------ */
/* Into the IR                                                              */

static const void *
winner(struct tr_att_kind *k, const struct tr_att_where *w)
{
    struct tr_att_target *x = k ? tr_attach_winner(&k[1], w) : NULL;
    return x ? x->ir : NULL;
}

static const void *
at_route(struct tr_att_kind *k, const struct rt *rt, size_t rule)
{
    if (!k)
        return NULL;
    const void *v = winner(k, &(struct tr_att_where){.level = TR_AT_RULE, .rt = rt, .rule = rule});
    return v ? v : winner(k, &(struct tr_att_where){.level = TR_AT_ROUTE, .rt = rt});
}

static const void *
at_listener(struct tr_att_kind *k, const struct lis *li)
{
    if (!k)
        return NULL;
    const void *v =
        li->ls ? NULL : winner(k, &(struct tr_att_where){.level = TR_AT_LISTENER, .li = li});
    return v ? v : winner(k, &(struct tr_att_where){.level = TR_AT_GATEWAY, .gw = li->gw});
}

void
tr_auth_route(struct tr *t, const struct rt *rt, size_t rule, struct gw_ir_route *r)
{
    r->jwt = at_route(t->jwtp, rt, rule);
    r->basic = at_route(t->bap, rt, rule);
    r->apikey = at_route(t->akp, rt, rule);
}

void
tr_auth_listener(struct tr *t, const struct lis *li, struct gw_ir_route *routes, size_t nroutes)
{
    const struct gw_ir_jwt *j = at_listener(t->jwtp, li);
    const struct gw_ir_basic *b = at_listener(t->bap, li);
    const struct gw_ir_apikey *k = at_listener(t->akp, li);
    if (!j && !b && !k)
        return;
    for (size_t i = 0; i < nroutes; i++) {
        if (!routes[i].jwt)
            routes[i].jwt = j;
        if (!routes[i].basic)
            routes[i].basic = b;
        if (!routes[i].apikey)
            routes[i].apikey = k;
    }
}

void
tr_auth_status(struct tr *t)
{
    if (t->jwtp)
        tr_attach_status(t, t->jwtp);
    if (t->bap)
        tr_attach_status(t, t->bap);
    if (t->akp)
        tr_attach_status(t, t->akp);
}
