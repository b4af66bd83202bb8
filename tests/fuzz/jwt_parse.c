/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: JWT verification (auth/jwt.c, keys.c, claims.c,
 * cache.c) against a fixed tiny key set (RSA, P-256, Ed25519). The first
 * byte picks the mode:
 *   even: the rest is a token, verified directly and through a cache; the
 *         two must agree, and nothing the fuzzer writes may verify (it has
 *         no private key);
 *   odd:  the rest is a claims payload, signed here with a fixed Ed25519
 *         key, so the claim checks and the flattening see any payload
 *         behind a valid signature.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/auth.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000

static const uint8_t seed[32] = "gatehouse fuzz jwt_parse ed25519";

static const char jwks_fmt[] =
    "{\"keys\":["
    "{\"kty\":\"RSA\",\"kid\":\"fz-rsa\",\"e\":\"AQAB\",\"n\":\"q8yc74YNmUZcTAyErmP_t5TAofHVHPl"
    "i8ylh2xozA-J4imMd0kKjHwLPzx94hPQKIE_Md0jep7Ufe8PSNPfWDYTMoxqD6--zOwGwbMviALG9_jEOCxYeAx2vS"
    "YuUZrpoAfr45tqWkvT__V1hAATmyITq5qYMbxmCROm9mf8EXeZAtEmjiZkA1sfB4_GIuf0vhW3k59_5bPn8PmSJZVJj"
    "2ppy6nO-cWWDHoUaCzSWvQVSrLrgdy94jh3JCWErU7u6phOGNQ5CTTJBPAhFk4b3t8giu3VBNTCGd6d-exw65piWEk1"
    "IuKFH4ZYR3h39rqTB2R8yPjfT1v-vJ6_RDV43Yw\"},"
    "{\"kty\":\"EC\",\"kid\":\"fz-ec\",\"crv\":\"P-256\","
    "\"x\":\"qjX3SaFHvSdmPYYf0BdmAdinf2E2JgffFwTQE5Uugho\","
    "\"y\":\"Pz_Sz7UcDe2f2OnmYDN8vwYZGDhVrwTqEpBWgkMQBNk\"},"
    "{\"kty\":\"OKP\",\"kid\":\"fz-ed\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}";

static EVP_PKEY *signer;
static struct gw_auth_jwt_provider *prov;
static struct gw_auth_cache *cache;

static char *
b64url(const uint8_t *s, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = gw_xmalloc(n / 3 * 4 + 5);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = a[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = a[v & 63];
    }
    out[o] = '\0';
    return out;
}

static void
setup(void)
{
    signer = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, sizeof(seed));
    GW_ASSERT(signer);
    uint8_t pub[32];
    size_t n = sizeof(pub);
    GW_ASSERT(EVP_PKEY_get_raw_public_key(signer, pub, &n) == 1);
    char *x = b64url(pub, n);
    char *set = gw_xasprintf(jwks_fmt, x);
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *ks = NULL;
    GW_ASSERT(gw_auth_keyset_parse_jwks(set, strlen(set), "fuzz", &ks, &d) == 0);
    GW_ASSERT(gw_auth_keyset_count(ks) == 3);
    static const char *const aud[] = {"api"};
    struct gw_auth_jwt_config cfg = {
        .keys = ks, .issuer = "fz", .audiences = aud, .n_audiences = 1, .clock_skew_s = 30};
    prov = gw_auth_jwt_provider_new(&cfg);
    gw_auth_keyset_unref(ks);
    cache = gw_auth_cache_new(&(struct gw_auth_cache_config){.entries = 64, .fail_ttl_s = 2});
    gw_diags_release(&d);
    free(set);
    free(x);
}

static void
check_result(const struct gw_auth_jwt_result *r, enum gw_auth_jwt_status st)
{
    GW_ASSERT(r->status == st && r->reason && (st == GW_AUTH_JWT_OK) == (r->claims != NULL));
    if (!r->claims)
        return;
    for (size_t i = 0; i < gw_auth_claims_count(r->claims); i++) {
        struct gw_str name, value, again;
        gw_auth_claims_at(r->claims, i, &name, &value);
        GW_ASSERT(gw_auth_claims_get(r->claims, name, &again));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!signer)
        setup(); /* for the process */
    if (size == 0)
        return 0;
    struct gw_auth_jwt_result r;
    if (!(data[0] & 1)) {
        struct gw_str tok = {(const char *)data + 1, size - 1};
        enum gw_auth_jwt_status st = gw_auth_jwt_verify(prov, tok, NOW, &r);
        check_result(&r, st);
        GW_ASSERT(st != GW_AUTH_JWT_OK); /* the fuzzer has no private key */
        gw_auth_jwt_result_release(&r);
        enum gw_auth_jwt_status again = gw_auth_cache_verify(cache, prov, tok, NOW, &r);
        check_result(&r, again);
        GW_ASSERT(again == st);
        gw_auth_jwt_result_release(&r);
        struct gw_str bearer;
        if (gw_auth_bearer_parse(tok, &bearer))
            GW_ASSERT(bearer.p >= tok.p && bearer.p + bearer.len == tok.p + tok.len);
        return 0;
    }
    if (size - 1 > 12000)
        return 0;
    static const char hdr[] = "{\"alg\":\"EdDSA\",\"kid\":\"fz-ed\"}";
    char *h = b64url((const uint8_t *)hdr, sizeof(hdr) - 1);
    char *p = b64url(data + 1, size - 1);
    char *input = gw_xasprintf("%s.%s", h, p);
    uint8_t sig[64];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    GW_ASSERT(md && EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, signer, NULL) == 1 &&
              EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)input, strlen(input)) == 1);
    EVP_MD_CTX_free(md);
    char *s = b64url(sig, sig_len);
    char *tok = gw_xasprintf("%s.%s", input, s);
    enum gw_auth_jwt_status st = gw_auth_jwt_verify(prov, gw_str_from(tok), NOW, &r);
    check_result(&r, st);
    GW_ASSERT(st != GW_AUTH_JWT_BAD_SIGNATURE && st != GW_AUTH_JWT_UNKNOWN_KEY &&
              st != GW_AUTH_JWT_UNSUPPORTED_ALG);
    gw_auth_jwt_result_release(&r);
    free(h);
    free(p);
    free(input);
    free(s);
    free(tok);
    return 0;
}
