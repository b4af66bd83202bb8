/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy: the authentication policies on the request path (JWTPolicy,
 * BasicAuthPolicy, APIKeyPolicy), run after routing and before the rate
 * limits, in the order JWT, Basic, API key: a request must pass every
 * policy that applies to its route. The verifiers come ready from the IR
 * (auth/ built them at translate); what lives here is per worker:
 *
 *  - the JWT verification cache (gw_auth_cache), so that a client's
 *    repeated token costs one signature check per worker until it expires;
 *  - its hold on each remote JWKS source's current set (jwks.c), retaken
 *    when the fetcher swapped it (the cache keys on the set, so a key that
 *    left the set takes its cached successes with it);
 *  - a cache of good Basic credentials: SHA-256 of (the htpasswd set's
 *    serial, user, password) for CACHE_TTL_S, so that a client's repeated
 *    requests cost one bcrypt (tens of ms at cost 10) per worker;
 *  - a budget of password hashes per second (HASH_BUDGET): beyond it a
 *    request that would need one is answered 503 with Retry-After: 1,
 *    so that a flood of wrong passwords stalls a worker for at most the
 *    budget's worth of hashing per second (cached users still pass).
 *
 * An accepted request loses its credentials (the Authorization field for
 * Basic; the API key's field or query parameter) and the client's copies
 * of every header a policy sets (claims, user, client), then gains those.
 * A route whose policy is Invalid answers 500 (fail closed).
 */
#include "auth/auth.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/base.h"
#include "proxy/internal.h"

#include "base/banned.h"

#define CACHE_SLOTS 1024 /* good Basic credentials, per worker (direct-mapped) */
#define CACHE_TTL_S 300
#define HASH_BUDGET 8 /* password hashes (cache misses) per worker per second */

struct basic_slot {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int64_t expires; /* 0: empty */
};

/* A worker's hold on a remote JWKS source's set (jwks.c): retaken only
 * when the source's version moved. */
struct jwks_pin {
    struct px_jwks_src *src;
    uint64_t version;
    struct gw_auth_keyset *keys; /* NULL: none fetched yet */
};

struct px_auth_worker {
    struct gw_auth_cache *jwt;
    struct jwks_pin *pins; /* one per source this worker met; sources live as long as p */
    size_t npins;
    int64_t budget_second;
    unsigned budget_used;
    struct basic_slot basic[CACHE_SLOTS];
};

void
px_auth_worker_free(struct px_auth_worker *a)
{
    if (!a)
        return;
    gw_auth_cache_free(a->jwt);
    for (size_t i = 0; i < a->npins; i++)
        gw_auth_keyset_unref(a->pins[i].keys);
    free(a->pins);
    free(a);
}

static struct px_auth_worker *
worker_state(struct px_worker *w)
{
    if (!w->auth) {
        w->auth = gw_xcalloc(1, sizeof(*w->auth));
        struct gw_auth_cache_config cfg = {.entries = 4096, .fail_ttl_s = 5, .max_ttl_s = 300};
        w->auth->jwt = gw_auth_cache_new(&cfg);
    }
    return w->auth;
}

/* ------------------------------------------------------------------------ */
/* Request fields                                                           */

static bool
field_get(const struct gw_h1_request *req, const char *lname, struct gw_str *value)
{
    struct gw_str name = gw_str_from(lname);
    for (size_t i = 0; i < req->nheaders; i++)
        if (gw_str_caseeq(req->headers[i].name, name)) {
            *value = req->headers[i].value;
            return true;
        }
    return false;
}

/* Removes every field named lname (lower-case) from req, in place. */
static void
field_strip(struct gw_h1_request *req, const char *lname)
{
    struct gw_str name = gw_str_from(lname);
    size_t j = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (gw_str_caseeq(req->headers[i].name, name))
            continue;
        if (j != i)
            req->headers[j] = req->headers[i];
        j++;
    }
    req->nheaders = j;
}

/* Adds field lname: value, the value copied into out (a value that does
 * not fit is left out: the upstream does not see a truncated identity). */
static void
out_set(struct px_auth_out *out, const char *lname, struct gw_str value)
{
    if (out->nset == PX_AUTH_MAX_SET || value.len > sizeof(out->vals) - out->nvals)
        return;
    char *p = out->vals + out->nvals;
    if (value.len)
        memcpy(p, value.p, value.len);
    out->nvals += value.len;
    out->set[out->nset++] = (struct gw_h1_header){gw_str_from(lname), {p, value.len}};
}

static struct gw_str
trim(struct gw_str s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* The value of cookie `name` in any Cookie field, or an empty string. */
static struct gw_str
cookie_get(const struct gw_h1_request *req, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!gw_str_caseeq(req->headers[i].name, GW_STR("cookie")))
            continue;
        struct gw_str v = req->headers[i].value;
        while (v.len) {
            const char *semi = memchr(v.p, ';', v.len);
            size_t n = semi ? (size_t)(semi - v.p) : v.len;
            struct gw_str pair = trim((struct gw_str){v.p, n});
            const char *eq = pair.len ? memchr(pair.p, '=', pair.len) : NULL;
            if (eq && (size_t)(eq - pair.p) == nlen && !memcmp(pair.p, name, nlen))
                return trim((struct gw_str){eq + 1, pair.len - nlen - 1});
            v.p += n + (semi ? 1 : 0);
            v.len -= n + (semi ? 1 : 0);
        }
    }
    return GW_STR_NULL;
}

static bool
prefix_strip(struct gw_str v, const char *prefix, struct gw_str *out)
{
    size_t n = strlen(prefix);
    if (v.len < n || !gw_str_caseeq((struct gw_str){v.p, n}, (struct gw_str){prefix, n}))
        return false;
    *out = trim((struct gw_str){v.p + n, v.len - n});
    return true;
}

/* Percent-decodes s ('+' is a space, as forms send it) into buf. */
static bool
pct_decode(struct gw_str s, char *buf, size_t cap, struct gw_str *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (n == cap)
            return false;
        char c = s.p[i];
        if (c == '%' && i + 2 < s.len && gw_hex_digit((unsigned char)s.p[i + 1]) >= 0 &&
            gw_hex_digit((unsigned char)s.p[i + 2]) >= 0) {
            c = (char)(gw_hex_digit((unsigned char)s.p[i + 1]) * 16 +
                       gw_hex_digit((unsigned char)s.p[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        buf[n++] = c;
    }
    *out = (struct gw_str){buf, n};
    return true;
}

/* ------------------------------------------------------------------------ */
/* Refusals                                                                 */

static int refuse(struct px_worker *w, struct px_auth_out *out, int kind, const char *fmt, ...)
    GW_PRINTF(4, 5);

static int
refuse(struct px_worker *w, struct px_auth_out *out, int kind, const char *fmt, ...)
{
    atomic_fetch_add_explicit(&w->m->auth_refused[kind], 1, memory_order_relaxed);
    va_list ap;
    va_start(ap, fmt);
    gw_buf_reset(&out->extra);
    if (gw_buf_vappendf(&out->extra, fmt, ap) < 0)
        gw_buf_reset(&out->extra);
    va_end(ap);
    return 401;
}

/* ------------------------------------------------------------------------ */
/* JWT                                                                      */

static struct gw_str
jwt_token(const struct gw_h1_request *req, const struct gw_ir_jwt_provider *p)
{
    struct gw_str v, t = GW_STR_NULL;
    if (p->cookie)
        return cookie_get(req, p->from);
    if (!field_get(req, p->from, &v))
        return GW_STR_NULL;
    if (p->bearer) {
        /* "Bearer x" with anything odd in x is still a token that is not
         * valid, not a missing one: so x is not scanned for RFC 6750's
         * b64token syntax here (gw_auth_bearer_parse), which cost a third
         * of a cached check; the signature check refuses what is not
         * base64url. */
        return prefix_strip(v, "Bearer ", &t) ? t : GW_STR_NULL;
    }
    if (p->prefix)
        return prefix_strip(v, p->prefix, &t) ? t : GW_STR_NULL;
    return trim(v);
}

/* The current set of a remote JWKS source (NULL before the first good
 * fetch): an atomic load per call, the source's mutex only when it moved. */
static const struct gw_auth_keyset *
remote_keys(struct px_auth_worker *a, struct px_jwks_src *src)
{
    struct jwks_pin *pin = NULL;
    for (size_t i = 0; i < a->npins && !pin; i++)
        if (a->pins[i].src == src)
            pin = &a->pins[i];
    if (!pin) {
        a->pins = gw_xrealloc(a->pins, (a->npins + 1) * sizeof(*a->pins));
        pin = &a->pins[a->npins++];
        *pin = (struct jwks_pin){.src = src};
    }
    if (atomic_load_explicit(&src->version, memory_order_acquire) != pin->version) {
        pthread_mutex_lock(&src->mu);
        struct gw_auth_keyset *old = pin->keys;
        pin->keys = src->keys ? gw_auth_keyset_ref(src->keys) : NULL;
        pin->version = atomic_load_explicit(&src->version, memory_order_relaxed);
        pthread_mutex_unlock(&src->mu);
        gw_auth_keyset_unref(old);
    }
    return pin->keys;
}

static int
jwt_check(struct px_worker *w, struct px_auth_worker *a, const struct px_snap *s,
          struct gw_h1_request *req, const struct gw_ir_jwt *j, struct px_auth_out *out)
{
    int64_t now = (int64_t)gw_clock_real();
    const char *why = NULL;
    const struct gw_ir_jwt_provider *ok = NULL;
    struct gw_auth_jwt_result res = {0};
    for (size_t i = 0; i < j->nproviders && !ok; i++) {
        const struct gw_ir_jwt_provider *p = &j->providers[i];
        struct gw_str token = jwt_token(req, p);
        if (!token.len)
            continue;
        struct px_jwks_src *src = NULL;
        const struct gw_auth_keyset *keys = NULL;
        if (p->remote && s->jwks && p->remote->id < s->jwks->n) {
            src = s->jwks->by_id[p->remote->id];
            keys = remote_keys(a, src);
        }
        enum gw_auth_jwt_status st =
            gw_auth_cache_verify_keys(a->jwt, p->verifier, keys, token, now, &res);
        if (st == GW_AUTH_JWT_UNKNOWN_KEY && keys)
            px_jwks_want(w->p, src); /* a rotation, maybe: fetch early (with no set
                                        yet, the fetcher is retrying already) */
        if (st == GW_AUTH_JWT_OK) {
            ok = p;
            break;
        }
        if (!why)
            why = res.reason;
        gw_auth_jwt_result_release(&res);
    }
    struct gw_auth_cache_stats cs;
    gw_auth_cache_stats_get(a->jwt, &cs);
    atomic_store_explicit(&w->m->jwt_cache_hits, cs.hits, memory_order_relaxed);
    atomic_store_explicit(&w->m->jwt_cache_misses, cs.misses, memory_order_relaxed);
    if (!ok) {
        if (!why) /* RFC 6750 3.1: no token, no error code */
            return refuse(w, out, 0, "WWW-Authenticate: Bearer realm=\"%s\"\r\n", j->realm);
        return refuse(w, out, 0,
                      "WWW-Authenticate: Bearer realm=\"%s\", error=\"invalid_token\", "
                      "error_description=\"%s\"\r\n",
                      j->realm, why);
    }
    for (size_t i = 0; i < j->nstrip; i++)
        field_strip(req, j->strip[i]);
    for (size_t i = 0; i < ok->nclaims; i++) {
        struct gw_str v;
        if (gw_auth_claims_get(res.claims, gw_str_from(ok->claims[i].claim), &v))
            out_set(out, ok->claims[i].header, v);
    }
    gw_auth_jwt_result_release(&res);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Basic                                                                    */

static int
basic_check(struct px_worker *w, struct px_auth_worker *a, struct gw_h1_request *req,
            const struct gw_ir_basic *b, struct px_auth_out *out)
{
    struct gw_str v, user, pass;
    char buf[GW_AUTH_BASIC_MAX_BYTES];
    if (!field_get(req, "authorization", &v) ||
        gw_auth_basic_parse(v, buf, sizeof(buf), &user, &pass) < 0)
        return refuse(w, out, 1, "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n",
                      b->realm);
    unsigned char d[SHA256_DIGEST_LENGTH];
    {
        /* Keyed by the set: another set (a reload) never reuses an entry. */
        unsigned char in[8 + 2 * GW_AUTH_BASIC_MAX_BYTES];
        size_t n = 0;
        memcpy(in, &b->serial, 8);
        n = 8;
        memcpy(in + n, user.p, user.len);
        n += user.len;
        in[n++] = 0;
        memcpy(in + n, pass.p, pass.len);
        n += pass.len;
        SHA256(in, n, d);
        OPENSSL_cleanse(in, n);
    }
    int64_t now = (int64_t)gw_clock_real();
    struct basic_slot *s = &a->basic[(d[0] | (unsigned)d[1] << 8) % CACHE_SLOTS];
    bool good = s->expires > now && !CRYPTO_memcmp(s->digest, d, sizeof(d));
    if (!good) {
        if (a->budget_second != now) {
            a->budget_second = now;
            a->budget_used = 0;
        }
        if (a->budget_used >= HASH_BUDGET) {
            atomic_fetch_add_explicit(&w->m->auth_busy, 1, memory_order_relaxed);
            gw_buf_reset(&out->extra);
            gw_buf_append_cstr(&out->extra, "Retry-After: 1\r\n");
            return 503;
        }
        a->budget_used++;
        good = gw_auth_htpasswd_verify(b->users, user, pass);
        if (good) {
            memcpy(s->digest, d, sizeof(d));
            s->expires = now + CACHE_TTL_S;
        }
    }
    if (!good)
        return refuse(w, out, 1, "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n",
                      b->realm);
    field_strip(req, "authorization");
    if (b->user_header) {
        field_strip(req, b->user_header);
        out_set(out, b->user_header, user);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* API keys                                                                 */

/* The query without parameter name (every occurrence) into out->qbuf. */
static void
query_strip(struct gw_str q, struct gw_str name, struct px_auth_out *out)
{
    size_t n = 0;
    while (q.len) {
        const char *amp = memchr(q.p, '&', q.len);
        size_t len = amp ? (size_t)(amp - q.p) : q.len;
        struct gw_str pair = {q.p, len};
        bool drop = (len == name.len || (len > name.len && pair.p[name.len] == '=')) &&
                    !memcmp(pair.p, name.p, name.len);
        if (!drop && len && n + len + 1 <= sizeof(out->qbuf)) {
            if (n)
                out->qbuf[n++] = '&';
            memcpy(out->qbuf + n, pair.p, len);
            n += len;
        }
        q.p += len + (amp ? 1 : 0);
        q.len -= len + (amp ? 1 : 0);
    }
    out->query = (struct gw_str){out->qbuf, n};
    out->query_set = true;
}

static bool
query_get(struct gw_str q, struct gw_str name, struct gw_str *value)
{
    while (q.len) {
        const char *amp = memchr(q.p, '&', q.len);
        size_t len = amp ? (size_t)(amp - q.p) : q.len;
        if (len > name.len && q.p[name.len] == '=' && !memcmp(q.p, name.p, name.len)) {
            *value = (struct gw_str){q.p + name.len + 1, len - name.len - 1};
            return true;
        }
        q.p += len + (amp ? 1 : 0);
        q.len -= len + (amp ? 1 : 0);
    }
    return false;
}

static int
apikey_check(struct px_worker *w, struct gw_h1_request *req, struct gw_str query,
             const struct gw_ir_apikey *k, struct px_auth_out *out)
{
    struct gw_str v = GW_STR_NULL, name = gw_str_from(k->from);
    char buf[GW_AUTH_APIKEY_MAX_BYTES];
    bool have = false;
    if (k->query) {
        struct gw_str raw;
        have = query_get(query, name, &raw) && pct_decode(raw, buf, sizeof(buf), &v);
    } else {
        have = field_get(req, k->from, &v);
        v = trim(v);
    }
    const char *client = have && v.len ? gw_auth_apikeys_lookup(k->keys, v) : NULL;
    if (!client)
        return refuse(w, out, 2, "WWW-Authenticate: APIKey realm=\"gatehouse\", %s=\"%s\"\r\n",
                      k->query ? "query" : "header", k->from);
    if (k->query)
        query_strip(query, name, out);
    else
        field_strip(req, k->from);
    if (k->client_header) {
        field_strip(req, k->client_header);
        out_set(out, k->client_header, gw_str_from(client));
    }
    return 0;
}

/* ------------------------------------------------------------------------ */

int
px_auth_check(struct px_worker *w, const struct px_snap *s, struct gw_h1_request *req,
              struct gw_str query, const struct gw_ir_route *r, struct px_auth_out *out)
{
    out->nset = 0;
    out->nvals = 0;
    out->query_set = false;
    out->query = GW_STR_NULL;
    gw_buf_init(&out->extra, 1024);
    if ((r->jwt && r->jwt->invalid) || (r->basic && r->basic->invalid) ||
        (r->apikey && r->apikey->invalid))
        return 500; /* an Invalid policy fails closed (status says why) */
    struct px_auth_worker *a = worker_state(w);
    int rc = 0;
    if (r->jwt)
        rc = jwt_check(w, a, s, req, r->jwt, out);
    if (!rc && r->basic)
        rc = basic_check(w, a, req, r->basic, out);
    if (!rc && r->apikey)
        rc = apikey_check(w, req, out->query_set ? out->query : query, r->apikey, out);
    return rc;
}

void
px_auth_out_release(struct px_auth_out *out)
{
    out->nset = 0;
    gw_buf_release(&out->extra);
}
