/* SPDX-License-Identifier: Apache-2.0 */
/* auth cache.c: hits and misses, a success never served at or past exp
 * nor past max_ttl, failures remembered for fail_ttl only, providers that
 * never share entries, eviction in a small cache, and claims that outlive
 * their entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/auth.h"
#include "sign.h"
#include "tap.h"

#include "base/banned.h"

static EVP_PKEY *ed;

static struct gw_auth_jwt_provider *
provider_of(EVP_PKEY *k, const char *iss)
{
    char *jwk = test_jwk(k, "k1", NULL);
    char *set = gw_xasprintf("{\"keys\":[%s]}", jwk);
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *ks = NULL;
    GW_ASSERT(gw_auth_keyset_parse_jwks(set, strlen(set), "t", &ks, &d) == 0);
    struct gw_auth_jwt_config cfg = {.keys = ks, .issuer = iss, .clock_skew_s = 30};
    struct gw_auth_jwt_provider *p = gw_auth_jwt_provider_new(&cfg);
    gw_auth_keyset_unref(ks); /* the provider holds its own reference */
    gw_diags_release(&d);
    free(set);
    free(jwk);
    return p;
}

static char *
tok(const char *payload)
{
    return test_jwt(ed, "EdDSA", "{\"alg\":\"EdDSA\",\"kid\":\"k1\"}", payload, NULL);
}

static enum gw_auth_jwt_status
via(struct gw_auth_cache *c, const struct gw_auth_jwt_provider *p, const char *t, int64_t now)
{
    struct gw_auth_jwt_result r;
    enum gw_auth_jwt_status st = gw_auth_cache_verify(c, p, gw_str_from(t), now, &r);
    GW_ASSERT((st == GW_AUTH_JWT_OK) == (r.claims != NULL) && r.reason);
    gw_auth_jwt_result_release(&r);
    return st;
}

static struct gw_auth_cache_stats
stats(const struct gw_auth_cache *c)
{
    struct gw_auth_cache_stats s;
    gw_auth_cache_stats_get(c, &s);
    return s;
}

int
main(void)
{
    ed = test_key_gen("Ed25519");
    struct gw_auth_jwt_provider *p = provider_of(ed, "idp");
    struct gw_auth_cache *c =
        gw_auth_cache_new(&(struct gw_auth_cache_config){.entries = 64, .fail_ttl_s = 5});

    char *t = tok("{\"iss\":\"idp\",\"sub\":\"alice\",\"exp\":1000}");
    is_int(via(c, p, t, 900), GW_AUTH_JWT_OK, "first use: verified");
    is_int((long long)stats(c).misses, 1, "a miss");
    is_int(via(c, p, t, 901), GW_AUTH_JWT_OK, "second use");
    is_int((long long)stats(c).hits, 1, "a hit");
    struct gw_auth_jwt_result r;
    gw_auth_cache_verify(c, p, gw_str_from(t), 950, &r);
    struct gw_str v;
    ok(r.claims && gw_auth_claims_get(r.claims, gw_str_from("sub"), &v) &&
           gw_str_eq_cstr(v, "alice"),
       "a hit carries the claims");
    is_int(r.exp, 1000, "and exp");
    is_int(via(c, p, t, 999), GW_AUTH_JWT_OK, "hit just before exp");
    uint64_t hits = stats(c).hits;
    /* exp + skew would still pass a fresh check, but the entry is not
     * served at exp: the check runs again. */
    is_int(via(c, p, t, 1000), GW_AUTH_JWT_OK, "at exp: checked again (within skew)");
    is_int((long long)(stats(c).hits - hits), 0, "... not a hit");
    is_int(via(c, p, t, 1030), GW_AUTH_JWT_EXPIRED, "past exp + skew: expired");
    is_int(via(c, p, t, 1031), GW_AUTH_JWT_EXPIRED, "expired, remembered");
    ok(r.claims && gw_auth_claims_get(r.claims, gw_str_from("sub"), &v),
       "claims held by a result outlive their entry");
    gw_auth_jwt_result_release(&r);
    free(t);

    /* Failures are remembered for fail_ttl_s only. */
    t = tok("{\"iss\":\"other\"}");
    is_int(via(c, p, t, 100), GW_AUTH_JWT_WRONG_ISSUER, "wrong issuer");
    hits = stats(c).hits;
    is_int(via(c, p, t, 104), GW_AUTH_JWT_WRONG_ISSUER, "wrong issuer, remembered");
    is_int((long long)(stats(c).hits - hits), 1, "... as a hit");
    is_int(via(c, p, t, 105), GW_AUTH_JWT_WRONG_ISSUER, "after fail_ttl: checked again");
    is_int((long long)(stats(c).hits - hits), 1, "... not a hit");
    free(t);

    /* Not yet valid is never remembered: it turns valid by itself. */
    t = tok("{\"iss\":\"idp\",\"nbf\":200}");
    is_int(via(c, p, t, 100), GW_AUTH_JWT_NOT_YET_VALID, "not yet valid");
    is_int(via(c, p, t, 170), GW_AUTH_JWT_OK, "valid at nbf - skew");
    is_int(via(c, p, t, 171), GW_AUTH_JWT_OK, "then a hit");
    hits = stats(c).hits;
    is_int(via(c, p, t, 169), GW_AUTH_JWT_NOT_YET_VALID,
           "a clock gone back before nbf - skew: not served from the cache");
    is_int((long long)(stats(c).hits - hits), 0, "... not a hit");
    free(t);

    /* No exp: max_ttl_s (default 300) bounds the entry. */
    t = tok("{\"iss\":\"idp\"}");
    is_int(via(c, p, t, 0), GW_AUTH_JWT_OK, "no exp");
    hits = stats(c).hits;
    is_int(via(c, p, t, 299), GW_AUTH_JWT_OK, "hit within max_ttl");
    is_int(via(c, p, t, 300), GW_AUTH_JWT_OK, "checked again at max_ttl");
    is_int((long long)(stats(c).hits - hits), 1, "one hit");

    /* Another provider (same keys, another issuer) never sees the entry. */
    struct gw_auth_jwt_provider *p2 = provider_of(ed, "elsewhere");
    is_int(via(c, p2, t, 301), GW_AUTH_JWT_WRONG_ISSUER, "another provider checks afresh");
    gw_auth_jwt_provider_free(p2);
    free(t);

    /* The token is hashed whole: one byte of difference is another entry. */
    t = tok("{\"iss\":\"idp\",\"exp\":5000}");
    is_int(via(c, p, t, 10), GW_AUTH_JWT_OK, "base token");
    size_t n = strlen(t);
    t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
    is_int(via(c, p, t, 11), GW_AUTH_JWT_BAD_SIGNATURE, "a tampered token is no hit");
    free(t);
    is_int(via(c, p, "", 1), GW_AUTH_JWT_MISSING, "empty token: missing");
    gw_auth_cache_free(c);

    /* Eviction: a cache of 4 entries (one set), 6 tokens. */
    c = gw_auth_cache_new(&(struct gw_auth_cache_config){.entries = 4});
    char *ts[6];
    for (int i = 0; i < 6; i++) {
        char pl[64];
        snprintf(pl, sizeof(pl), "{\"iss\":\"idp\",\"n\":%d}", i);
        ts[i] = tok(pl);
        via(c, p, ts[i], 1);
    }
    is_int((long long)stats(c).evictions, 2, "two evictions in a full set");
    hits = stats(c).hits;
    via(c, p, ts[5], 2);
    via(c, p, ts[2], 2);
    is_int((long long)(stats(c).hits - hits), 2, "the newest four are hits");
    via(c, p, ts[0], 2);
    is_int((long long)(stats(c).hits - hits), 2, "the oldest was evicted (LRU)");
    for (int i = 0; i < 6; i++)
        free(ts[i]);
    gw_auth_cache_free(c);
    gw_auth_cache_free(NULL);
    gw_auth_jwt_provider_free(p);
    EVP_PKEY_free(ed);
    return done_testing();
}
