/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth internals shared by the module's files: the strict base64 decoders,
 * the key and key set layout, the provider, and the claims builder. Other
 * modules never include this.
 */
#ifndef GW_AUTH_INTERNAL_H
#define GW_AUTH_INTERNAL_H

#include <stdatomic.h>

#include <openssl/evp.h>

#include "auth/auth.h"
#include "load/load.h"

/* ------------------------------------------------------------------------ */
/* base64 (b64.c)                                                           */

/* Bytes a decode of n characters may produce at most. */
#define AUTH_B64_DECODED_MAX(n) ((n) / 4 * 3 + 3)

/* base64url (RFC 4648 §5) without padding, canonical: no '=', no character
 * outside the alphabet, a length that is not 1 mod 4, and zero bits after
 * the last byte. Writes at most AUTH_B64_DECODED_MAX(s.len) bytes to out.
 * The decoded length, or GW_EINVAL. */
int auth_b64url_decode(struct gw_str s, uint8_t *out, size_t out_len);
/* Standard base64 (RFC 4648 §4) with the padding it requires, canonical.
 * The decoded length, or GW_EINVAL (GW_ELIMIT when out is too small). */
int auth_b64_decode(struct gw_str s, uint8_t *out, size_t out_len);

/* ------------------------------------------------------------------------ */
/* Algorithms and keys (keys.c)                                             */

enum auth_alg {
    AUTH_ALG_RS256,
    AUTH_ALG_RS384,
    AUTH_ALG_RS512,
    AUTH_ALG_PS256,
    AUTH_ALG_PS384,
    AUTH_ALG_PS512,
    AUTH_ALG_ES256,
    AUTH_ALG_ES384,
    AUTH_ALG_ES512,
    AUTH_ALG_EDDSA,
    AUTH_ALG_COUNT,
    AUTH_ALG_NONE_SET = -1, /* a JWK without "alg" */
};

enum auth_kty {
    AUTH_KTY_RSA,
    AUTH_KTY_EC256,
    AUTH_KTY_EC384,
    AUTH_KTY_EC521,
    AUTH_KTY_ED25519,
};

/* The alg named by s, or -1 (also for "none" and HS*: never verifiable). */
int auth_alg_parse(struct gw_str s);
const char *auth_alg_name(enum auth_alg a);
/* Whether a key of kty may verify alg. */
bool auth_alg_fits_kty(enum auth_alg a, enum auth_kty k);

struct auth_key {
    EVP_PKEY *pkey;
    enum auth_kty kty;
    int alg;   /* enum auth_alg, or AUTH_ALG_NONE_SET */
    char *kid; /* NULL when the JWK has none */
};

struct gw_auth_keyset {
    atomic_uint refs;
    uint64_t serial; /* process-unique: keys cache entries with the provider's */
    struct auth_key *keys;
    size_t n;
};

/* Verifies sig over the signing input with key k for alg (the key fits).
 * For ES*, sig is JOSE's raw r||s and is converted to DER. true if valid. */
bool auth_key_verify(const struct auth_key *k, enum auth_alg alg, const uint8_t *msg,
                     size_t msg_len, const uint8_t *sig, size_t sig_len);

/* ------------------------------------------------------------------------ */
/* Providers and claims (jwt.c, claims.c)                                   */

struct gw_auth_jwt_provider {
    uint64_t serial;
    struct gw_auth_keyset *keys; /* NULL: given with each verification */
    char *issuer;
    char **audiences;
    size_t n_audiences;
    int64_t skew;
};

struct auth_claim {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
};

struct gw_auth_claims {
    atomic_uint refs;
    size_t n;
    const char *text;      /* names and values, in one block after v */
    struct auth_claim v[]; /* n entries */
};

/* The flattened claims of a payload object (one heap block). */
struct gw_auth_claims *auth_claims_build(const struct gw_node *payload);

/* gw_auth_jwt_verify_keys, also giving the token's nbf (INT64_MIN if
 * none) on OK, for the cache; ks is the set to use (may be NULL). */
enum gw_auth_jwt_status auth_jwt_verify(const struct gw_auth_jwt_provider *p,
                                        const struct gw_auth_keyset *ks, struct gw_str token,
                                        int64_t now, struct gw_auth_jwt_result *r, int64_t *nbf);

/* A number claim as whole seconds (fractions floored). 0 or GW_EINVAL. */
int auth_numeric_date(const struct gw_node *n, int64_t *out);

#endif /* GW_AUTH_INTERNAL_H */
