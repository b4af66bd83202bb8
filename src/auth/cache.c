/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-worker verification cache: a client sends the same token on
 * every request, and a signature check (tens of microseconds for RSA, more
 * for P-384) is worth remembering. Sets of 4 entries chosen by the digest,
 * LRU within a set: bounded, no allocation per lookup, no rehashing.
 *
 * An entry is keyed by SHA-256 of the provider's serial, the key set's
 * serial and the token, and the whole digest is compared, so a hit is the
 * same token under the same provider and the same keys: a key removed from
 * a refreshed remote set takes its successes with it. A success is never served at or past the
 * token's exp (the skew only ever widens a fresh check) nor before its nbf minus the skew (a clock
 * that went back), and at most max_ttl_s after it was checked.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/internal.h"

#include "base/banned.h"

#define WAYS 4

struct entry {
    uint8_t digest[32];
    bool used;
    enum gw_auth_jwt_status status;
    const char *reason;
    struct gw_auth_claims *claims; /* OK only */
    int64_t exp;                   /* OK only: the token's exp */
    int64_t not_before;            /* OK only: nbf - skew */
    int64_t until;                 /* served while now < until */
    uint64_t last_use;
};

struct gw_auth_cache {
    EVP_MD *sha256; /* fetched once: no implicit fetch per request */
    struct entry *e;
    size_t sets;
    int64_t fail_ttl, max_ttl;
    uint64_t tick;
    struct gw_auth_cache_stats stats;
};

struct gw_auth_cache *
gw_auth_cache_new(const struct gw_auth_cache_config *cfg)
{
    struct gw_auth_cache *c = gw_xcalloc(1, sizeof(*c));
    size_t n = cfg->entries ? cfg->entries : 1024;
    c->sets = (n + WAYS - 1) / WAYS;
    c->e = gw_xcalloc(c->sets * WAYS, sizeof(*c->e));
    c->fail_ttl = cfg->fail_ttl_s > 0 ? cfg->fail_ttl_s : 0;
    c->max_ttl = cfg->max_ttl_s > 0 ? cfg->max_ttl_s : 300;
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    GW_ASSERT(c->sha256);
    return c;
}

static void
entry_clear(struct entry *e)
{
    gw_auth_claims_unref(e->claims);
    memset(e, 0, sizeof(*e));
}

void
gw_auth_cache_free(struct gw_auth_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->sets * WAYS; i++)
        entry_clear(&c->e[i]);
    free(c->e);
    EVP_MD_free(c->sha256);
    free(c);
}

void
gw_auth_cache_stats_get(const struct gw_auth_cache *c, struct gw_auth_cache_stats *out)
{
    *out = c->stats;
}

static void
digest(const struct gw_auth_cache *c, uint64_t serial, uint64_t ks_serial, struct gw_str token,
       uint8_t out[32])
{
    uint8_t s[16];
    for (int i = 0; i < 8; i++) {
        s[i] = (uint8_t)(serial >> (8 * i));
        s[8 + i] = (uint8_t)(ks_serial >> (8 * i));
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned len = 0;
    GW_ASSERT(md && EVP_DigestInit_ex2(md, c->sha256, NULL) == 1 &&
              EVP_DigestUpdate(md, s, sizeof(s)) == 1 &&
              EVP_DigestUpdate(md, token.p, token.len) == 1 &&
              EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32);
    EVP_MD_CTX_free(md);
}

static bool
entry_serves(const struct entry *e, int64_t now)
{
    if (now >= e->until)
        return false;
    if (e->status == GW_AUTH_JWT_OK)
        return now < e->exp && now >= e->not_before;
    return true;
}

static void
fill(struct gw_auth_jwt_result *r, const struct entry *e)
{
    r->status = e->status;
    r->reason = e->reason;
    r->exp = e->exp;
    r->claims = e->claims ? gw_auth_claims_ref(e->claims) : NULL;
}

enum gw_auth_jwt_status
gw_auth_cache_verify(struct gw_auth_cache *c, const struct gw_auth_jwt_provider *p,
                     struct gw_str token, int64_t now, struct gw_auth_jwt_result *r)
{
    return gw_auth_cache_verify_keys(c, p, NULL, token, now, r);
}

enum gw_auth_jwt_status
gw_auth_cache_verify_keys(struct gw_auth_cache *c, const struct gw_auth_jwt_provider *p,
                          const struct gw_auth_keyset *keys, struct gw_str token, int64_t now,
                          struct gw_auth_jwt_result *r)
{
    if (!keys)
        keys = p->keys;
    if (token.len == 0 || token.len > GW_AUTH_JWT_MAX_BYTES)
        return gw_auth_jwt_verify_keys(p, keys, token, now, r); /* cheap, not worth a slot */
    uint8_t d[32];
    /* Serial 0 (no keys yet) is a set of its own: "keys unavailable". */
    digest(c, p->serial, keys ? keys->serial : 0, token, d);
    uint64_t h = 0;
    memcpy(&h, d, sizeof(h));
    struct entry *set = &c->e[(h % c->sets) * WAYS];
    c->tick++;
    struct entry *victim = &set[0];
    for (int i = 0; i < WAYS; i++) {
        struct entry *e = &set[i];
        if (e->used && CRYPTO_memcmp(e->digest, d, sizeof(d)) == 0) {
            if (entry_serves(e, now)) {
                e->last_use = c->tick;
                c->stats.hits++;
                memset(r, 0, sizeof(*r));
                fill(r, e);
                return r->status;
            }
            entry_clear(e); /* stale: checked again below, in this slot */
        }
        if (!e->used)
            victim = e;
        else if (victim->used && e->last_use < victim->last_use)
            victim = e;
    }
    c->stats.misses++;
    int64_t nbf = INT64_MIN;
    enum gw_auth_jwt_status st = auth_jwt_verify(p, keys, token, now, r, &nbf);
    int64_t until;
    if (st == GW_AUTH_JWT_OK) {
        if (__builtin_add_overflow(now, c->max_ttl, &until))
            until = INT64_MAX;
    } else if (c->fail_ttl && st != GW_AUTH_JWT_NOT_YET_VALID) {
        /* Not yet valid turns valid by itself: never remembered. */
        if (__builtin_add_overflow(now, c->fail_ttl, &until))
            until = INT64_MAX;
    } else {
        return st;
    }
    if (victim->used)
        c->stats.evictions++;
    entry_clear(victim);
    memcpy(victim->digest, d, sizeof(d));
    victim->used = true;
    victim->status = st;
    victim->reason = r->reason;
    victim->until = until;
    victim->last_use = c->tick;
    if (st == GW_AUTH_JWT_OK) {
        victim->claims = gw_auth_claims_ref(r->claims);
        victim->exp = r->exp;
        if (__builtin_sub_overflow(nbf, p->skew, &victim->not_before))
            victim->not_before = INT64_MIN;
    }
    return st;
}
