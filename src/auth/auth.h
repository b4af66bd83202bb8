/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth: the pure logic behind the JWT and basic-auth/API-key policies.
 * Bytes and a caller-given time in, decisions out: no I/O, no clock reads,
 * no printing; problems with configuration input become gw_diag entries.
 *
 *  - Key sets: a JWK Set (RFC 7517) or one PEM public key, parsed once into
 *    an immutable, refcounted set of OpenSSL 3 EVP keys.
 *  - JWT (RFC 7519, JWS compact form of RFC 7515, algorithms of RFC 7518
 *    and RFC 8037): a provider (key set, issuer, audiences, clock skew)
 *    verifies a token into an outcome, a short reason and its claims.
 *    Supported: RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA
 *    (Ed25519). "none" and every HS* are refused, always: a key is only
 *    used for the algorithms its kty (and alg, when the JWK names one)
 *    allows, so no token can make an RSA public key an HMAC secret.
 *  - A per-worker verification cache of outcomes and claims.
 *  - htpasswd files (bcrypt, SHA-256-crypt, SHA-512-crypt through
 *    libcrypt, and legacy {SHA}), the Basic Authorization value, and API
 *    key sets.
 *
 * Threading: key sets, providers, claims, htpasswd sets and API key sets
 * are immutable once built and may be read from any number of threads at
 * once (verification takes only per-call OpenSSL contexts). A cache
 * belongs to one thread. Nothing here blocks on I/O. The per-request calls
 * (verify, cache, claims, bearer, Basic, API key lookup) may run in a loop
 * callback; the parsers are for building a snapshot; bcrypt is slow by
 * design (tens of ms at cost 10): see gw_auth_htpasswd_verify.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include "base/base.h"

/* ======================================================================== */
/* Limits                                                                   */

#define GW_AUTH_JWT_MAX_BYTES      (16u * 1024) /* a token, all three segments */
#define GW_AUTH_JWKS_MAX_BYTES     (1u << 20)   /* a JWK Set or PEM document */
#define GW_AUTH_JWKS_MAX_KEYS      64           /* usable keys kept per set */
#define GW_AUTH_HTPASSWD_MAX_BYTES (1u << 20)
#define GW_AUTH_HTPASSWD_MAX_USERS 10000
#define GW_AUTH_BASIC_MAX_BYTES    4096 /* an Authorization value, scheme included */
#define GW_AUTH_APIKEY_MAX_BYTES   4096 /* one API key */

/* ======================================================================== */
/* Key sets                                                                 */

struct gw_auth_keyset;

/*
 * Parses a JWK Set ({"keys": [...]}, at most GW_AUTH_JWKS_MAX_BYTES).
 * Keys of kty RSA (n, e; 2048 to 16384 bits), EC (crv P-256, P-384, P-521;
 * x, y on the curve) and OKP (crv Ed25519; x) are kept with their kid and
 * alg. A key with "use": "enc", "key_ops" without "verify", an alg this
 * module does not verify with or one that does not fit its kty, an
 * unknown kty (including "oct": HS* is not supported) or a bad member is
 * skipped with a warning in diags (path "keys[i]"), not fatal; so are keys
 * past GW_AUTH_JWKS_MAX_KEYS. name labels the diagnostics (may be NULL).
 * Returns 0 and *out (one reference, the caller's), even when every key
 * was skipped (gw_auth_keyset_count() is then 0); GW_EPARSE (not JSON, no
 * "keys" list) or GW_ELIMIT (too large) with an error in diags and *out
 * NULL. Not for a loop callback on large inputs (it parses RSA moduli).
 */
int gw_auth_keyset_parse_jwks(const char *data, size_t len, const char *name,
                              struct gw_auth_keyset **out, struct gw_diags *diags);
/*
 * Parses one PEM public key ("BEGIN PUBLIC KEY", SubjectPublicKeyInfo) of
 * type RSA, EC P-256/P-384/P-521 or Ed25519: a set of one key, no kid, no
 * alg. 0 and *out, or GW_EPARSE / GW_EINVAL (unsupported key) / GW_ELIMIT
 * with an error in diags.
 */
int gw_auth_keyset_parse_pem(const char *data, size_t len, const char *name,
                             struct gw_auth_keyset **out, struct gw_diags *diags);
/* Reference counting (atomic: any thread may ref and unref). unref(NULL)
 * is a no-op; the last unref frees the set and its keys. */
struct gw_auth_keyset *gw_auth_keyset_ref(struct gw_auth_keyset *ks);
void gw_auth_keyset_unref(struct gw_auth_keyset *ks);
/* Number of usable keys in the set. */
size_t gw_auth_keyset_count(const struct gw_auth_keyset *ks);
/* The set's process-unique serial (never 0): two parses of the same
 * document are two serials, so a cache keyed by it never mixes them. */
uint64_t gw_auth_keyset_serial(const struct gw_auth_keyset *ks);

/* ======================================================================== */
/* JWT verification                                                         */

enum gw_auth_jwt_status {
    GW_AUTH_JWT_OK,
    GW_AUTH_JWT_MISSING,         /* no token at all */
    GW_AUTH_JWT_MALFORMED,       /* not a compact JWS with JSON header and claims */
    GW_AUTH_JWT_UNSUPPORTED_ALG, /* none, HS*, or an alg we do not know */
    GW_AUTH_JWT_UNKNOWN_KEY,     /* no key of the set fits kid and alg */
    GW_AUTH_JWT_BAD_SIGNATURE,
    GW_AUTH_JWT_EXPIRED,       /* now >= exp + skew */
    GW_AUTH_JWT_NOT_YET_VALID, /* now + skew < nbf */
    GW_AUTH_JWT_WRONG_ISSUER,
    GW_AUTH_JWT_WRONG_AUDIENCE,
};

/* A short name for a status ("ok", "expired", ...); static storage. */
const char *gw_auth_jwt_status_name(enum gw_auth_jwt_status s);

/* What a provider checks. Every pointer is borrowed by
 * gw_auth_jwt_provider_new, which copies what it keeps. */
struct gw_auth_jwt_config {
    /* the provider takes a reference; NULL: a provider whose keys change
     * (a remote JWKS), given with each verification (_verify_keys) */
    struct gw_auth_keyset *keys;
    const char *issuer;           /* exact match of "iss"; NULL: not checked */
    const char *const *audiences; /* "aud" must name one of them ... */
    size_t n_audiences;           /* ... 0: "aud" is not checked */
    int64_t clock_skew_s;         /* leeway on exp and nbf, seconds, >= 0 */
};

struct gw_auth_jwt_provider;

/* A provider from cfg (copied; cfg->keys referenced). Each provider gets a
 * process-unique serial, which keys its cache entries: a new provider (new
 * keys, new issuer) never sees its predecessor's outcomes. Never NULL. */
struct gw_auth_jwt_provider *gw_auth_jwt_provider_new(const struct gw_auth_jwt_config *cfg);
void gw_auth_jwt_provider_free(struct gw_auth_jwt_provider *p); /* NULL is a no-op */

/*
 * A verified token's claims, flattened: every top-level claim whose value
 * is a string, number or boolean, as text (strings decoded; numbers and
 * booleans as the token spells them); an array of such values as its
 * items joined with ","; members of objects as "a.b" paths (depth 4 at
 * most). Immutable and refcounted (atomic).
 */
struct gw_auth_claims;

struct gw_auth_claims *gw_auth_claims_ref(struct gw_auth_claims *c);
void gw_auth_claims_unref(struct gw_auth_claims *c); /* NULL is a no-op */
/* The text of claim name (a top-level name, or an "a.b" path; a
 * top-level name containing dots wins over a path). true and *value (a
 * view into c, valid while the caller holds its reference), or false. */
bool gw_auth_claims_get(const struct gw_auth_claims *c, struct gw_str name, struct gw_str *value);
/* Number of flattened entries, and the i-th one (i < count), in token order. */
size_t gw_auth_claims_count(const struct gw_auth_claims *c);
void gw_auth_claims_at(const struct gw_auth_claims *c, size_t i, struct gw_str *name,
                       struct gw_str *value);

/* The outcome of one verification, in caller storage. */
struct gw_auth_jwt_result {
    enum gw_auth_jwt_status status;
    const char *reason;            /* short, static storage, never NULL */
    struct gw_auth_claims *claims; /* OK only: one reference the result owns; else NULL */
    int64_t exp;                   /* OK only: "exp", or INT64_MAX when absent */
};

/* Drops the result's claims reference; the result may be reused. */
void gw_auth_jwt_result_release(struct gw_auth_jwt_result *r);

/*
 * Verifies token (the compact JWS itself, without "Bearer ") at time now
 * (seconds since the epoch, the caller's clock) against p: the structure
 * (three base64url segments without padding, canonical, at most
 * GW_AUTH_JWT_MAX_BYTES; JSON objects; no "crit"), the alg, a key of the
 * set that fits kid and alg, the signature, then exp, nbf, iss and aud.
 * A token's kid picks the keys with that kid or with none (a PEM key);
 * without a kid every key that fits the alg is tried. "typ", when present,
 * must be a string; its value is not checked (providers disagree on it).
 * Fills *r (release it) and returns r->status. An empty token is MISSING.
 * Safe from any thread; allocates per call; fine in a loop callback (an
 * RSA-2048 verification is some tens of microseconds; put a cache in
 * front, gw_auth_cache_verify).
 */
enum gw_auth_jwt_status gw_auth_jwt_verify(const struct gw_auth_jwt_provider *p,
                                           struct gw_str token, int64_t now,
                                           struct gw_auth_jwt_result *r);
/* The same with keys instead of p's own (p was made without keys, or the
 * caller overrides them). keys NULL: p's own; with neither, a token that
 * gets as far as the signature is UNKNOWN_KEY, reason "keys unavailable". */
enum gw_auth_jwt_status gw_auth_jwt_verify_keys(const struct gw_auth_jwt_provider *p,
                                                const struct gw_auth_keyset *keys,
                                                struct gw_str token, int64_t now,
                                                struct gw_auth_jwt_result *r);

/*
 * The token of an Authorization field value "Bearer <token>" (scheme
 * case-insensitive, one or more spaces, no trailing spaces or other
 * characters outside token68). true and *token (a view into value), or
 * false.
 */
bool gw_auth_bearer_parse(struct gw_str value, struct gw_str *token);

/* ======================================================================== */
/* Verification cache (one per worker thread)                               */

struct gw_auth_cache_config {
    size_t entries;     /* rounded up to a multiple of 4; 0 = 1024 */
    int64_t fail_ttl_s; /* failures are remembered this long; 0 = never */
    int64_t max_ttl_s;  /* cap on any success; also the lifetime of a
                           token without exp; 0 = 300 */
};

struct gw_auth_cache;

struct gw_auth_cache *gw_auth_cache_new(const struct gw_auth_cache_config *cfg);
void gw_auth_cache_free(struct gw_auth_cache *c); /* NULL is a no-op */

/*
 * gw_auth_jwt_verify through the cache: entries are keyed by SHA-256 of
 * the provider's serial, the key set's serial and the token, compared in
 * full (a new key set never sees the outcomes of the one it replaced). A success is
 * served until the token's exp (never past it, skew notwithstanding) or
 * max_ttl_s, a failure for fail_ttl_s; the claims are shared with the
 * entry (r holds its own reference). 4-way set associative, LRU within a
 * set. Not thread-safe: one cache per thread.
 */
enum gw_auth_jwt_status gw_auth_cache_verify(struct gw_auth_cache *c,
                                             const struct gw_auth_jwt_provider *p,
                                             struct gw_str token, int64_t now,
                                             struct gw_auth_jwt_result *r);
/* gw_auth_jwt_verify_keys through the cache (keys NULL: p's own). */
enum gw_auth_jwt_status gw_auth_cache_verify_keys(struct gw_auth_cache *c,
                                                  const struct gw_auth_jwt_provider *p,
                                                  const struct gw_auth_keyset *keys,
                                                  struct gw_str token, int64_t now,
                                                  struct gw_auth_jwt_result *r);

struct gw_auth_cache_stats {
    uint64_t hits, misses, evictions;
};

void gw_auth_cache_stats_get(const struct gw_auth_cache *c, struct gw_auth_cache_stats *out);

/* ======================================================================== */
/* Basic authentication: htpasswd and the Authorization value               */

struct gw_auth_htpasswd;

/*
 * Parses an htpasswd file (at most GW_AUTH_HTPASSWD_MAX_BYTES and _USERS):
 * "user:hash" lines, LF or CRLF; blank lines and lines starting with '#'
 * are skipped. Hashes: bcrypt ($2y$, $2b$, $2a$), SHA-256-crypt ($5$),
 * SHA-512-crypt ($6$) and {SHA} (unsalted SHA-1: weak, accepted for old
 * files only). Any other line (plain text, $apr1$ MD5, crypt(3) DES, no
 * ':', a repeated user, a bcrypt cost over 17 or over 1000000 rounds of
 * SHA-crypt) is reported in diags with its line number (file
 * name, may be NULL) and left out. 0 and *out (the caller's, free it),
 * or GW_ELIMIT with an error in diags and *out NULL.
 */
int gw_auth_htpasswd_parse(const char *data, size_t len, const char *name,
                           struct gw_auth_htpasswd **out, struct gw_diags *diags);
void gw_auth_htpasswd_free(struct gw_auth_htpasswd *h); /* NULL is a no-op */
size_t gw_auth_htpasswd_count(const struct gw_auth_htpasswd *h);
/*
 * true when user is in h and password hashes to its hash (the final
 * comparison is constant-time). An unknown user returns false at once, so
 * timing tells whether a user exists. Thread-safe. bcrypt costs what the
 * hash's cost says (2^cost rounds; ~50 ms at 10): do not call it from a
 * loop callback for bcrypt users without a cache or a helper thread.
 */
bool gw_auth_htpasswd_verify(const struct gw_auth_htpasswd *h, struct gw_str user,
                             struct gw_str password);

/*
 * Splits an Authorization value "Basic <base64(user:password)>" (RFC 7617;
 * scheme case-insensitive; padding required as RFC 4648 has it; at most
 * GW_AUTH_BASIC_MAX_BYTES). The decoded bytes go to buf (buf_len >= 3/4
 * of the value is always enough); *user and *password are views into it.
 * The user may not be empty nor hold ':' or control characters; the
 * password may not hold NUL. 0, or GW_EINVAL (not Basic, bad base64, no
 * ':', bad characters) or GW_ELIMIT (too long, or buf too small).
 */
int gw_auth_basic_parse(struct gw_str value, char *buf, size_t buf_len, struct gw_str *user,
                        struct gw_str *password);

/* ======================================================================== */
/* API keys                                                                 */

struct gw_auth_apikeys;

/* An empty set; fill it with gw_auth_apikeys_add, then share it read-only. */
struct gw_auth_apikeys *gw_auth_apikeys_new(void);
void gw_auth_apikeys_free(struct gw_auth_apikeys *k); /* NULL is a no-op */
/* Adds key (1 to GW_AUTH_APIKEY_MAX_BYTES bytes) for client (copied), e.g.
 * a Secret's data key and value. Only SHA-256 of the key is kept. 0,
 * GW_EINVAL (empty or too long), or GW_EEXISTS (the same key already
 * names a client). Not thread-safe: build, then share. */
int gw_auth_apikeys_add(struct gw_auth_apikeys *k, const char *client, struct gw_str key);
size_t gw_auth_apikeys_count(const struct gw_auth_apikeys *k);
/* The client of the presented key, or NULL. Hashes the key, then compares
 * the digest with every entry in constant time (no early exit). The
 * string belongs to k. Thread-safe. */
const char *gw_auth_apikeys_lookup(const struct gw_auth_apikeys *k, struct gw_str presented);

#endif /* GW_AUTH_H */
