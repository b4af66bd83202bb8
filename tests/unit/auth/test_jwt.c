/* SPDX-License-Identifier: Apache-2.0 */
/* auth jwt.c and keys.c: every algorithm against JWKS and PEM keys
 * generated here, the refused algorithms (none, HS256 keyed with an RSA
 * public key), key selection by kid and alg, the time and audience
 * claims, structural hostility, claims text, and JWK Sets with junk. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/auth.h"
#include "sign.h"
#include "tap.h"

#include "base/banned.h"

#define NOW 1700000000

static EVP_PKEY *rsa, *rsa2, *p256, *p384, *p521, *ed, *ed2;

static struct gw_str
S(const char *s) {
    return gw_str_from(s);

}

static struct gw_auth_keyset *
jwks(const char *json, size_t *warnings)

{
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *ks = NULL;
    int rc = gw_auth_keyset_parse_jwks(json, strlen(json), "test", &ks, &d);
    if (warnings)
        *warnings = d.warnings;
    for (size_t i = 0; i < d.n && !warnings; i++)
        diag("jwks: %s", d.v[i].message);
    gw_diags_release(&d);
    return rc == 0 ? ks : NULL;
}

static struct gw_auth_jwt_provider *
provider(struct gw_auth_keyset *ks, const char *iss, const char *const *aud, size_t n_aud)
{
    struct gw_auth_jwt_config cfg = {
        .keys = ks, .issuer = iss, .audiences = aud, .n_audiences = n_aud, .clock_skew_s = 60};
    return gw_auth_jwt_provider_new(&cfg);
}

/* Verifies tok under p at now; the status. */
static enum gw_auth_jwt_status
check(const struct gw_auth_jwt_provider *p, const char *tok, int64_t now)
{
    struct gw_auth_jwt_result r;
    enum gw_auth_jwt_status st = gw_auth_jwt_verify(p, S(tok), now, &r);
    GW_ASSERT(r.reason && (st == GW_AUTH_JWT_OK) == (r.claims != NULL));
    gw_auth_jwt_result_release(&r);
    return st;
}

static char *
signed_tok(EVP_PKEY *k, const char *alg, const char *kid, const char *payload)
{
    char hdr[256];
    if (kid)
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
    else
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    return test_jwt(k, alg, hdr, payload, NULL);
}

static const char *claims_ok = "{\"iss\":\"https://idp\",\"aud\":\"api\",\"sub\":\"alice\","
                               "\"exp\":1700000600,\"nbf\":1699999000}";

static struct gw_auth_keyset *
all_keys(void)
{
    char *j[7] = {test_jwk(rsa, "rsa", NULL),   test_jwk(p256, "p256", NULL),
                  test_jwk(p384, "p384", NULL), test_jwk(p521, "p521", NULL),
                  test_jwk(ed, "ed", NULL),     test_jwk(rsa2, "rsa-rs", "RS256"),
                  test_jwk(ed2, "ed2", "EdDSA")};
    char *set =
        gw_xasprintf("{\"keys\":[%s,%s,%s,%s,%s,%s,%s]}", j[0], j[1], j[2], j[3], j[4], j[5], j[6]);
    for (int i = 0; i < 7; i++)
        free(j[i]);
    struct gw_auth_keyset *ks = jwks(set, NULL);
    free(set);
    return ks;
}

static void
every_alg(void)
{
    struct gw_auth_keyset *ks = all_keys();
    ok(ks && gw_auth_keyset_count(ks) == 7, "a JWK Set of RSA, EC P-256/384/521 and Ed25519");
    const char *aud[] = {"api"};
    struct gw_auth_jwt_provider *p = provider(ks, "https://idp", aud, 1);

    static const struct {
        const char *alg, *kid;
        EVP_PKEY **key;
    } cases[] = {
        {"RS256", "rsa", &rsa},   {"RS384", "rsa", &rsa},     {"RS512", "rsa", &rsa},
        {"PS256", "rsa", &rsa},   {"PS384", "rsa", &rsa},     {"PS512", "rsa", &rsa},
        {"ES256", "p256", &p256}, {"ES384", "p384", &p384},   {"ES512", "p521", &p521},
        {"EdDSA", "ed", &ed},     {"RS256", "rsa-rs", &rsa2}, {"EdDSA", "ed2", &ed2},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        char *t = signed_tok(*cases[i].key, cases[i].alg, cases[i].kid, claims_ok);
        is_int(check(p, t, NOW), GW_AUTH_JWT_OK, "%s with kid %s verifies", cases[i].alg,
               cases[i].kid);
        /* Without a kid every key that fits the alg is tried. */
        char *t2 = signed_tok(*cases[i].key, cases[i].alg, NULL, claims_ok);
        is_int(check(p, t2, NOW), GW_AUTH_JWT_OK, "%s without kid verifies", cases[i].alg);
        /* One flipped signature bit. */
        size_t n = strlen(t);
        t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A';
        is_int(check(p, t, NOW), GW_AUTH_JWT_BAD_SIGNATURE, "%s with a flipped signature bit",
               cases[i].alg);
        free(t);
        free(t2);
    }
    /* The payload changed under the signature. */
    char *t = signed_tok(rsa, "RS256", "rsa", claims_ok);
    char *other = test_b64url("{\"sub\":\"mallory\"}", 17);
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
    *d1 = '\0';
    char *forged = gw_xasprintf("%s.%s%s", t, other, d2);
    is_int(check(p, forged, NOW), GW_AUTH_JWT_BAD_SIGNATURE, "a swapped payload fails");
    free(forged);
    free(other);
    free(t);

    /* Key selection. */
    t = signed_tok(rsa, "RS256", "nope", claims_ok);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNKNOWN_KEY, "an unknown kid is an unknown key");
    free(t);
    t = signed_tok(p256, "ES256", "rsa", claims_ok);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNKNOWN_KEY, "ES256 naming an RSA key's kid");
    free(t);
    t = signed_tok(rsa2, "PS256", "rsa-rs", claims_ok);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNKNOWN_KEY, "PS256 with a key whose JWK says RS256");
    free(t);
    t = signed_tok(rsa2, "RS256", "rsa", claims_ok);
    is_int(check(p, t, NOW), GW_AUTH_JWT_BAD_SIGNATURE, "another RSA key under this kid");
    free(t);
    t = test_jwt(p384, "ES384", "{\"alg\":\"ES256\",\"kid\":\"p256\"}", claims_ok, NULL);
    is_int(check(p, t, NOW), GW_AUTH_JWT_BAD_SIGNATURE,
           "ES256 header over a P-384 signature (96 bytes): bad signature");
    free(t);
    gw_auth_jwt_provider_free(p);
    gw_auth_keyset_unref(ks);
}

static void
pem_keys(void)
{
    EVP_PKEY *keys[] = {rsa, p256, p384, ed};
    const char *algs[] = {"PS256", "ES256", "ES384", "EdDSA"};
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        char *pem = test_pem(keys[i]);
        struct gw_diags d;
        gw_diags_init(&d);
        struct gw_auth_keyset *ks = NULL;
        int rc = gw_auth_keyset_parse_pem(pem, strlen(pem), "pem", &ks, &d);
        is_int(rc, 0, "PEM key for %s parses", algs[i]);
        if (rc == 0) {
            struct gw_auth_jwt_provider *p = provider(ks, NULL, NULL, 0);
            char *t = signed_tok(keys[i], algs[i], "any-kid", claims_ok);
            is_int(check(p, t, NOW), GW_AUTH_JWT_OK, "%s verifies against a PEM key", algs[i]);
            free(t);
            gw_auth_jwt_provider_free(p);
        }
        gw_auth_keyset_unref(ks);
        gw_diags_release(&d);
        free(pem);
    }
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *ks = NULL;
    is_int(gw_auth_keyset_parse_pem("nope", 4, "pem", &ks, &d), GW_EPARSE, "no PEM: GW_EPARSE");
    ok(ks == NULL && d.errors == 1, "... with an error");
    EVP_PKEY *small = test_key_gen("RSA1024");
    char *pem = test_pem(small);
    is_int(gw_auth_keyset_parse_pem(pem, strlen(pem), "pem", &ks, &d), GW_EINVAL,
           "an RSA-1024 PEM key is refused");
    free(pem);
    EVP_PKEY_free(small);
    gw_diags_release(&d);
}

static void
refused_algs(void)
{
    struct gw_auth_keyset *ks = all_keys();
    struct gw_auth_jwt_provider *p = provider(ks, NULL, NULL, 0);
    char *t = test_jwt(NULL, "none", "{\"alg\":\"none\"}", claims_ok, NULL);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNSUPPORTED_ALG, "alg none, empty signature");
    free(t);
    /* alg none carrying some signature bytes anyway */
    t = test_jwt(NULL, "HS256", "{\"alg\":\"none\"}", claims_ok, "x");
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNSUPPORTED_ALG, "alg none with a signature");
    free(t);
    t = test_jwt(NULL, "none", "{\"alg\":\"None\"}", claims_ok, NULL);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNSUPPORTED_ALG, "alg None");
    free(t);

    /* The classic confusion: HS256 keyed with the RSA public key's bytes,
     * both its PEM and its JWK "n". */
    char *pem = test_pem(rsa);
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *pks = NULL;
    GW_ASSERT(gw_auth_keyset_parse_pem(pem, strlen(pem), "pem", &pks, &d) == 0);
    struct gw_auth_jwt_provider *pp = provider(pks, NULL, NULL, 0);
    t = test_jwt(NULL, "HS256", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims_ok, pem);
    struct gw_auth_jwt_result r;
    is_int(gw_auth_jwt_verify(pp, S(t), NOW, &r), GW_AUTH_JWT_UNSUPPORTED_ALG,
           "HS256 signed with the RSA public key PEM as secret");
    is_str(r.reason, "HMAC algorithms are not supported", "... says why");
    gw_auth_jwt_result_release(&r);
    free(t);
    t = test_jwt(NULL, "HS256", "{\"alg\":\"HS256\",\"kid\":\"rsa\"}", claims_ok, pem);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNSUPPORTED_ALG, "HS256 naming the RSA JWK's kid");
    free(t);
    t = test_jwt(NULL, "HS512", "{\"alg\":\"HS512\"}", claims_ok, "secret");
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNSUPPORTED_ALG, "HS512");
    free(t);
    t = test_jwt(rsa, "RS256", "{\"alg\":\"rs256\"}", claims_ok, NULL);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNSUPPORTED_ALG, "alg names are case-sensitive");
    free(t);
    t = test_jwt(rsa, "RS256", "{\"typ\":\"JWT\"}", claims_ok, NULL);
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "no alg: malformed");
    free(t);
    t = test_jwt(rsa, "RS256", "{\"alg\":\"RS256\",\"crit\":[\"b64\"],\"b64\":false}", claims_ok,
                 NULL);
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "crit (b64: false) is refused");
    free(t);
    gw_auth_jwt_provider_free(pp);
    gw_auth_keyset_unref(pks);
    gw_diags_release(&d);
    free(pem);
    gw_auth_jwt_provider_free(p);
    gw_auth_keyset_unref(ks);
}

static void
time_and_audience(void)
{
    struct gw_auth_keyset *ks = all_keys();
    const char *aud[] = {"api", "other"};
    struct gw_auth_jwt_provider *p = provider(ks, "https://idp", aud, 2);
    char *t = signed_tok(ed, "EdDSA", "ed",
                         "{\"iss\":\"https://idp\",\"aud\":\"api\","
                         "\"exp\":1000,\"nbf\":500}");
    is_int(check(p, t, 999), GW_AUTH_JWT_OK, "before exp");
    is_int(check(p, t, 1059), GW_AUTH_JWT_OK, "within the skew past exp (exp + skew - 1)");
    is_int(check(p, t, 1060), GW_AUTH_JWT_EXPIRED, "expired at exp + skew");
    is_int(check(p, t, NOW), GW_AUTH_JWT_EXPIRED, "long expired");
    is_int(check(p, t, 440), GW_AUTH_JWT_OK, "nbf - skew is valid");
    is_int(check(p, t, 439), GW_AUTH_JWT_NOT_YET_VALID, "before nbf - skew: not yet valid");
    free(t);
    t = signed_tok(ed, "EdDSA", "ed", "{\"iss\":\"https://idp\",\"aud\":\"api\",\"exp\":1.5e3}");
    is_int(check(p, t, 1500 + 59), GW_AUTH_JWT_OK, "exp as a float");
    free(t);
    t = signed_tok(ed, "EdDSA", "ed", "{\"iss\":\"https://idp\",\"aud\":\"api\",\"exp\":\"1\"}");
    is_int(check(p, t, 0), GW_AUTH_JWT_MALFORMED, "exp as a string is malformed");
    free(t);
    t = signed_tok(ed, "EdDSA", "ed",
                   "{\"iss\":\"https://idp\",\"aud\":\"api\",\"exp\":9223372036854775807}");
    is_int(check(p, t, NOW), GW_AUTH_JWT_OK, "exp at INT64_MAX does not overflow");
    free(t);
    t = signed_tok(ed, "EdDSA", "ed", "{\"iss\":\"https://idp\",\"aud\":\"api\"}");
    is_int(check(p, t, NOW), GW_AUTH_JWT_OK, "no exp and no nbf");
    free(t);

    static const struct {
        const char *payload;
        enum gw_auth_jwt_status want;
        const char *what;
    } cases[] = {
        {"{\"iss\":\"https://idp/\",\"aud\":\"api\"}", GW_AUTH_JWT_WRONG_ISSUER, "iss differs"},
        {"{\"aud\":\"api\"}", GW_AUTH_JWT_WRONG_ISSUER, "no iss"},
        {"{\"iss\":[\"https://idp\"],\"aud\":\"api\"}", GW_AUTH_JWT_WRONG_ISSUER, "iss a list"},
        {"{\"iss\":\"https://idp\",\"aud\":\"web\"}", GW_AUTH_JWT_WRONG_AUDIENCE, "aud differs"},
        {"{\"iss\":\"https://idp\"}", GW_AUTH_JWT_WRONG_AUDIENCE, "no aud"},
        {"{\"iss\":\"https://idp\",\"aud\":[\"web\",\"other\"]}", GW_AUTH_JWT_OK,
         "aud array naming one audience"},
        {"{\"iss\":\"https://idp\",\"aud\":[\"web\",1,null]}", GW_AUTH_JWT_WRONG_AUDIENCE,
         "aud array naming none"},
        {"{\"iss\":\"https://idp\",\"aud\":[]}", GW_AUTH_JWT_WRONG_AUDIENCE, "empty aud array"},
        {"{\"iss\":\"https://idp\",\"aud\":\"other\"}", GW_AUTH_JWT_OK, "second audience"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        t = signed_tok(ed, "EdDSA", "ed", cases[i].payload);
        is_int(check(p, t, NOW), cases[i].want, "%s", cases[i].what);
        free(t);
    }
    gw_auth_jwt_provider_free(p);
    /* Nothing configured: iss and aud are not checked. */
    p = provider(ks, NULL, NULL, 0);
    t = signed_tok(ed, "EdDSA", "ed", "{\"aud\":\"whatever\"}");
    is_int(check(p, t, NOW), GW_AUTH_JWT_OK, "no issuer or audiences configured: not checked");
    free(t);
    gw_auth_jwt_provider_free(p);
    gw_auth_keyset_unref(ks);
}

static void
structure(void)
{
    struct gw_auth_keyset *ks = all_keys();
    struct gw_auth_jwt_provider *p = provider(ks, NULL, NULL, 0);
    char *good = signed_tok(ed, "EdDSA", "ed", claims_ok);
    is_int(check(p, good, NOW), GW_AUTH_JWT_OK, "the base token verifies");
    is_int(check(p, "", NOW), GW_AUTH_JWT_MISSING, "empty: missing");
    size_t n = strlen(good);
    char *dot2 = strrchr(good, '.');
    struct gw_auth_jwt_result r;
    is_int(gw_auth_jwt_verify(p, (struct gw_str){good, (size_t)(dot2 - good)}, NOW, &r),
           GW_AUTH_JWT_MALFORMED, "two segments");
    gw_auth_jwt_result_release(&r);
    is_int(gw_auth_jwt_verify(p, (struct gw_str){good, (size_t)(dot2 - good) + 1}, NOW, &r),
           GW_AUTH_JWT_MALFORMED, "empty signature segment");
    gw_auth_jwt_result_release(&r);
    is_int(gw_auth_jwt_verify(p, (struct gw_str){good, n - 1}, NOW, &r), GW_AUTH_JWT_MALFORMED,
           "signature one character short: not a base64url length");
    gw_auth_jwt_result_release(&r);
    is_int(gw_auth_jwt_verify(p, (struct gw_str){good, n - 2}, NOW, &r), GW_AUTH_JWT_BAD_SIGNATURE,
           "signature two characters short (63 bytes)");
    gw_auth_jwt_result_release(&r);
    char *t = gw_xasprintf("%s.", good);
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "four segments");
    free(t);
    t = gw_xasprintf("%s.e30", good);
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "a JWE-like five segments");
    free(t);
    t = gw_xasprintf("%s=", good);
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "padding on the signature");
    free(t);
    t = gw_xstrdup(good);
    t[2] = '+';
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "'+' (standard base64) in the header");
    t[2] = '%';
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "'%%' in the header");
    free(t);
    t = gw_xasprintf(" %s", good);
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "a leading space");
    free(t);
    /* {"alg":"EdDSA"} is 15 bytes: its last character carries 2 spare bits. */
    char *h = test_b64url("{\"alg\":\"EdDSA\"}", 15);
    size_t hl = strlen(h);
    ok(hl % 4 == 0 || hl % 4 == 2 || hl % 4 == 3, "header length");
    t = gw_xasprintf("%s%s", h, strchr(good, '.'));
    is_int(check(p, t, NOW), GW_AUTH_JWT_BAD_SIGNATURE, "re-encoded header: not what was signed");
    t[hl - 1] = t[hl - 1] == 'Q' ? 'R' : t[hl - 1] + 1; /* spare bits set */
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "non-canonical base64url (spare bits)");
    free(t);
    free(h);

    /* Oversize: a valid signature over a huge claim. */
    char *big = gw_xmalloc(20000);
    memset(big, 'a', 19999);
    big[19999] = '\0';
    char *pl = gw_xasprintf("{\"x\":\"%s\"}", big);
    t = signed_tok(ed, "EdDSA", "ed", pl);
    is_int(check(p, t, NOW), GW_AUTH_JWT_MALFORMED, "a token over 16 KiB");
    free(t);
    free(pl);
    free(big);

    static const struct {
        const char *hdr, *payload;
        enum gw_auth_jwt_status want;
        const char *what;
    } json[] = {
        {"[\"alg\"]", "{}", GW_AUTH_JWT_MALFORMED, "header a list"},
        {"{\"alg\":\"EdDSA\"", "{}", GW_AUTH_JWT_MALFORMED, "header truncated JSON"},
        {"{\"alg\":\"EdDSA\"}{}", "{}", GW_AUTH_JWT_MALFORMED, "two header objects"},
        {"{\"alg\":\"EdDSA\",\"alg\":\"none\"}", "{}", GW_AUTH_JWT_MALFORMED, "duplicate alg"},
        {"{\"alg\":\"EdDSA\",\"kid\":7}", "{}", GW_AUTH_JWT_MALFORMED, "kid a number"},
        {"{\"alg\":\"EdDSA\"}", "[1]", GW_AUTH_JWT_MALFORMED, "payload a list"},
        {"{\"alg\":\"EdDSA\"}", "{\"a\":1} x", GW_AUTH_JWT_MALFORMED, "payload trailing junk"},
        {"{\"alg\":\"EdDSA\"}", "{\"exp\":1,\"exp\":2e12}", GW_AUTH_JWT_MALFORMED, "duplicate exp"},
        {"{\"alg\":\"EdDSA\"}", "{}", GW_AUTH_JWT_OK, "empty claims"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(json); i++) {
        t = test_jwt(ed, "EdDSA", json[i].hdr, json[i].payload, NULL);
        is_int(check(p, t, NOW), json[i].want, "%s", json[i].what);
        free(t);
    }

    /* ES256 signatures of the wrong length, correctly base64url. */
    char *es = signed_tok(p256, "ES256", "p256", claims_ok);
    is_int(check(p, es, NOW), GW_AUTH_JWT_OK, "ES256 base token");
    char *sig_at = strrchr(es, '.') + 1;
    *sig_at = '\0';
    uint8_t raw[65];
    memset(raw, 1, sizeof(raw));
    size_t lens[] = {63, 65, 64, 8};
    for (size_t i = 0; i < GW_ARRAY_LEN(lens); i++) {
        char *s = test_b64url(raw, lens[i]);
        t = gw_xasprintf("%s%s", es, s);
        is_int(check(p, t, NOW), GW_AUTH_JWT_BAD_SIGNATURE, "ES256 signature of %zu bytes",
               lens[i]);
        free(t);
        free(s);
    }
    /* A DER signature where JOSE wants r||s. */
    free(es);
    free(good);
    gw_auth_jwt_provider_free(p);
    gw_auth_keyset_unref(ks);
}

static void
claims(void)
{
    struct gw_auth_keyset *ks = all_keys();
    struct gw_auth_jwt_provider *p = provider(ks, NULL, NULL, 0);
    char *t = signed_tok(ed, "EdDSA", "ed",
                         "{\"sub\":\"al\\u00efce\",\"n\":42,\"f\":1.5e2,\"b\":true,\"z\":null,"
                         "\"groups\":[\"a\",\"b\",3],\"mixed\":[\"a\",{}],"
                         "\"org\":{\"id\":\"o1\",\"team\":{\"name\":\"t\"},\"tags\":[\"x\"]},"
                         "\"https://x.io/role\":\"admin\",\"a\":{\"b\":\"path\"},\"a.b\":\"top\","
                         "\"exp\":1800000000}");
    struct gw_auth_jwt_result r;
    is_int(gw_auth_jwt_verify(p, S(t), NOW, &r), GW_AUTH_JWT_OK, "claims token verifies");
    is_int(r.exp, 1800000000, "exp in the result");
    struct gw_str v;

    static const struct {
        const char *name, *want;
    } want[] = {
        {"sub", "al\xc3\xaf"
                "ce"},
        {"n", "42"},
        {"f", "1.5e2"},
        {"b", "true"},
        {"groups", "a,b,3"},
        {"org.id", "o1"},
        {"org.team.name", "t"},
        {"org.tags", "x"},
        {"https://x.io/role", "admin"},
        {"a.b", "top"},
        {"exp", "1800000000"},
    };

    for (size_t i = 0; i < GW_ARRAY_LEN(want); i++) {
        bool got = r.claims && gw_auth_claims_get(r.claims, S(want[i].name), &v);
        char *s = got ? gw_xstrndup(v.p, v.len) : NULL;
        is_str(s, want[i].want, "claim %s", want[i].name);
        free(s);
    }
    ok(r.claims && !gw_auth_claims_get(r.claims, S("z"), &v), "null has no text");
    ok(r.claims && !gw_auth_claims_get(r.claims, S("mixed"), &v), "nor a list of objects");
    ok(r.claims && !gw_auth_claims_get(r.claims, S("org"), &v), "nor an object");
    ok(r.claims && !gw_auth_claims_get(r.claims, S("nope"), &v), "absent claim");
    size_t count = r.claims ? gw_auth_claims_count(r.claims) : 0;
    ok(count >= GW_ARRAY_LEN(want), "count covers them (%zu)", count);
    struct gw_str name;
    if (count) {
        gw_auth_claims_at(r.claims, 0, &name, &v);
        ok(gw_str_eq_cstr(name, "sub"), "entries in token order");
    }
    struct gw_auth_claims *keep = r.claims ? gw_auth_claims_ref(r.claims) : NULL;
    gw_auth_jwt_result_release(&r);
    ok(keep && gw_auth_claims_get(keep, S("sub"), &v), "claims outlive the result");
    gw_auth_claims_unref(keep);
    free(t);
    gw_auth_jwt_provider_free(p);
    gw_auth_keyset_unref(ks);
}

static void
jwks_junk(void)
{
    char *good_rsa = test_jwk(rsa, "good-rsa", "RS256");
    char *good_ec = test_jwk(p256, "good-ec", NULL);
    char *good_ed = test_jwk(ed, "good-ed", NULL);
    EVP_PKEY *small = test_key_gen("RSA1024");
    char *small_jwk = test_jwk(small, "small", NULL);
    EVP_PKEY_free(small);
    char *ec_alg_mismatch = test_jwk(p256, "ec-rs", "RS256");
    char *ec_es384 = test_jwk(p256, "ec-es384", "ES384");
    char *hs = test_jwk(rsa, "hs", "HS256");
    char *set = gw_xasprintf(
        "{\"keys\":[%s,"
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
        "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
        "{\"kty\":\"RSA\",\"n\":\"not base64!\",\"e\":\"AQAB\"},"
        "{\"kty\":\"RSA\",\"n\":\"AQAB\"},"
        "%s,%s,"
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
        "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"},"
        "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"},"
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"},"
        "\"a string\",42,{},"
        "%s,%s,%s,"
        "{\"kty\":\"RSA\",\"key_ops\":[\"encrypt\"],\"n\":\"AQAB\",\"e\":\"AQAB\"},"
        "%s]}",
        good_rsa, small_jwk, good_ec, ec_alg_mismatch, ec_es384, hs, good_ed);
    size_t warnings = 0;
    struct gw_auth_keyset *ks = jwks(set, &warnings);
    ok(ks != NULL, "a JWK Set with junk keys parses");
    is_int(ks ? (long long)gw_auth_keyset_count(ks) : -1, 3, "the three good keys are kept");
    is_int((long long)warnings, 16, "every junk key is a warning");
    struct gw_auth_jwt_provider *p = provider(ks, NULL, NULL, 0);
    char *t = signed_tok(rsa, "RS256", "good-rsa", claims_ok);
    is_int(check(p, t, NOW), GW_AUTH_JWT_OK, "a good key among junk verifies");
    free(t);
    t = signed_tok(p256, "ES256", "ec-rs", claims_ok);
    is_int(check(p, t, NOW), GW_AUTH_JWT_UNKNOWN_KEY, "the skipped key's kid is unknown");
    free(t);
    gw_auth_jwt_provider_free(p);
    gw_auth_keyset_unref(ks);
    free(set);

    struct gw_diags d;
    gw_diags_init(&d);
    static const char *bad[] = {"", "{", "[]", "{\"keys\":{}}", "{\"keys\":[]}{}", "null"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        ks = NULL;
        is_int(gw_auth_keyset_parse_jwks(bad[i], strlen(bad[i]), "x", &ks, &d), GW_EPARSE,
               "not a JWK Set: '%s'", bad[i]);
        gw_auth_keyset_unref(ks);
    }
    ks = jwks("{\"keys\":[]}", NULL);
    ok(ks && gw_auth_keyset_count(ks) == 0, "an empty set is a set");
    gw_auth_keyset_unref(ks);
    char *huge = gw_xcalloc(GW_AUTH_JWKS_MAX_BYTES + 2, 1);
    memset(huge, ' ', GW_AUTH_JWKS_MAX_BYTES + 1);
    is_int(gw_auth_keyset_parse_jwks(huge, GW_AUTH_JWKS_MAX_BYTES + 1, "x", &ks, &d), GW_ELIMIT,
           "over 1 MiB: GW_ELIMIT");
    free(huge);
    /* 70 good keys: 64 kept. */
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    gw_buf_append_cstr(&b, "{\"keys\":[");
    for (int i = 0; i < 70; i++)
        gw_buf_appendf(&b, "%s%s", i ? "," : "", good_ed);
    gw_buf_append_cstr(&b, "]}");
    ks = jwks(b.p, &warnings);
    is_int(ks ? (long long)gw_auth_keyset_count(ks) : -1, GW_AUTH_JWKS_MAX_KEYS,
           "at most 64 keys kept");
    is_int((long long)warnings, 6, "the rest are warnings");
    gw_auth_keyset_unref(ks);
    gw_buf_release(&b);
    gw_diags_release(&d);
    free(good_rsa);
    free(good_ec);
    free(good_ed);
    free(small_jwk);
    free(ec_alg_mismatch);
    free(ec_es384);
    free(hs);
}

/* Several threads verify with one provider and key set at once, each with
 * a cache of its own, as proxy workers will. */
struct worker {
    const struct gw_auth_jwt_provider *p;
    char *toks[4];
    unsigned good;
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct gw_auth_cache *c = gw_auth_cache_new(&(struct gw_auth_cache_config){.entries = 8});
    for (int i = 0; i < 50; i++) {
        struct gw_auth_jwt_result r;
        const char *t = w->toks[i % 4];
        enum gw_auth_jwt_status st = i % 2 ? gw_auth_jwt_verify(w->p, S(t), NOW, &r)
                                           : gw_auth_cache_verify(c, w->p, S(t), NOW, &r);
        w->good += st == GW_AUTH_JWT_OK;
        gw_auth_jwt_result_release(&r);
    }
    gw_auth_cache_free(c);
    return NULL;
}

static void
threads(void)
{
    struct gw_auth_keyset *ks = all_keys();
    struct gw_auth_jwt_provider *p = provider(ks, NULL, NULL, 0);
    gw_auth_keyset_unref(ks); /* the provider keeps its own reference */
    char *toks[4] = {
        signed_tok(rsa, "PS256", "rsa", claims_ok), signed_tok(p256, "ES256", "p256", claims_ok),
        signed_tok(ed, "EdDSA", NULL, claims_ok), signed_tok(p384, "ES384", "p384", claims_ok)};
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.p = p};
        memcpy(w[i].toks, toks, sizeof(toks));
        GW_ASSERT(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    unsigned good = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        good += w[i].good;
    }
    is_int(good, 200, "4 threads x 50 verifications with one provider all succeed");
    for (int i = 0; i < 4; i++)
        free(toks[i]);
    gw_auth_jwt_provider_free(p);
}

static void
bearer(void)
{
    struct gw_str t;
    ok(gw_auth_bearer_parse(S("Bearer abc.def.ghi"), &t) && gw_str_eq_cstr(t, "abc.def.ghi"),
       "Bearer token");
    ok(gw_auth_bearer_parse(S("bearer   a-b_c~+/=="), &t) && gw_str_eq_cstr(t, "a-b_c~+/=="),
       "case-insensitive scheme, several spaces, b64token characters");
    ok(!gw_auth_bearer_parse(S("Bearer"), &t), "no token");
    ok(!gw_auth_bearer_parse(S("Bearer "), &t), "empty token");
    ok(!gw_auth_bearer_parse(S("Bearerabc"), &t), "no space");
    ok(!gw_auth_bearer_parse(S("Basic abc"), &t), "another scheme");
    ok(!gw_auth_bearer_parse(S("Bearer a b"), &t), "two tokens");
    ok(!gw_auth_bearer_parse(S("Bearer a=b"), &t), "'=' inside");
    ok(!gw_auth_bearer_parse(S("Bearer a,"), &t), "a comma");
}

int
main(void)
{
    rsa = test_key_gen("RSA");
    rsa2 = test_key_gen("RSA");
    p256 = test_key_gen("P-256");
    p384 = test_key_gen("P-384");
    p521 = test_key_gen("P-521");
    ed = test_key_gen("Ed25519");
    ed2 = test_key_gen("Ed25519");
    every_alg();
    pem_keys();
    refused_algs();
    time_and_audience();
    structure();
    claims();
    jwks_junk();
    bearer();
    threads();
    EVP_PKEY *all[] = {rsa, rsa2, p256, p384, p521, ed, ed2};
    for (size_t i = 0; i < GW_ARRAY_LEN(all); i++)
        EVP_PKEY_free(all[i]);
    return done_testing();
}
