/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signing side of the auth tests (sign.h), written against OpenSSL 3
 * EVP directly so it shares no code with the verifier it checks.
 */
#include "sign.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "base/base.h"

#include "base/banned.h"

EVP_PKEY *
test_key_gen(const char *type)
{
    EVP_PKEY *k = NULL;
    if (strcmp(type, "RSA") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (strcmp(type, "RSA1024") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    else if (strcmp(type, "Ed25519") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", type);
    GW_ASSERT(k);
    return k;
}

char *
test_b64url(const void *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *s = p;
    char *out = gw_xmalloc(n / 3 * 4 + 5);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
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

static char *
bn_b64(EVP_PKEY *k, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    GW_ASSERT(EVP_PKEY_get_bn_param(k, param, &bn) == 1);
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    uint8_t *buf = gw_xmalloc(n);
    GW_ASSERT(BN_bn2binpad(bn, buf, (int)n) == (int)n);
    char *s = test_b64url(buf, n);
    free(buf);
    BN_free(bn);
    return s;
}

char *
test_jwk(EVP_PKEY *k, const char *kid, const char *alg)
{
    struct gw_buf b;
    gw_buf_init(&b, 1 << 16);
    gw_buf_append_cstr(&b, "{");
    if (kid)
        gw_buf_appendf(&b, "\"kid\":\"%s\",", kid);
    if (alg)
        gw_buf_appendf(&b, "\"alg\":\"%s\",", alg);
    if (EVP_PKEY_is_a(k, "RSA")) {
        char *n = bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0);
        gw_buf_appendf(&b, "\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", n, e);
        free(n);
        free(e);
    } else if (EVP_PKEY_is_a(k, "EC")) {
        char group[32];
        GW_ASSERT(EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                 sizeof(group), NULL) == 1);
        const char *crv = strcmp(group, "prime256v1") == 0  ? "P-256"
                          : strcmp(group, "secp384r1") == 0 ? "P-384"
                                                            : "P-521";
        size_t len = crv[2] == '2' ? 32 : crv[2] == '3' ? 48 : 66;
        char *x = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, len);
        char *y = bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, len);
        gw_buf_appendf(&b, "\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", crv, x, y);
        free(x);
        free(y);
    } else {
        uint8_t raw[32];
        size_t len = sizeof(raw);
        GW_ASSERT(EVP_PKEY_get_raw_public_key(k, raw, &len) == 1 && len == 32);
        char *x = test_b64url(raw, len);
        gw_buf_appendf(&b, "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", x);
        free(x);
    }
    return gw_buf_steal(&b);
}

char *
test_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    GW_ASSERT(bio && PEM_write_bio_PUBKEY(bio, k) == 1);
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    char *s = gw_xstrndup(p, (size_t)n);
    BIO_free(bio);
    return s;
}

/* Signs msg; the signature in a malloc'd buffer, its length in *len. */
static uint8_t *
sign(EVP_PKEY *k, const char *alg, const char *msg, size_t msg_len, const char *secret, size_t *len)
{
    if (strcmp(alg, "none") == 0) {
        *len = 0;
        return gw_xmalloc(1);
    }
    const char *md = alg[2] == '2' ? "SHA256" : alg[2] == '3' ? "SHA384" : "SHA512";
    if (strncmp(alg, "HS", 2) == 0) {
        uint8_t *out = gw_xmalloc(EVP_MAX_MD_SIZE);
        unsigned n = 0;
        GW_ASSERT(HMAC(EVP_get_digestbyname(md), secret, (int)strlen(secret), (const uint8_t *)msg,
                       msg_len, out, &n));
        *len = n;
        return out;
    }
    bool ed = strcmp(alg, "EdDSA") == 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    GW_ASSERT(EVP_DigestSignInit_ex(ctx, &pctx, ed ? NULL : md, NULL, NULL, k, NULL) == 1);
    if (alg[0] == 'P') {
        GW_ASSERT(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
        GW_ASSERT(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1);
    }
    size_t n = 0;
    GW_ASSERT(EVP_DigestSign(ctx, NULL, &n, (const uint8_t *)msg, msg_len) == 1);
    uint8_t *sig = gw_xmalloc(n);
    GW_ASSERT(EVP_DigestSign(ctx, sig, &n, (const uint8_t *)msg, msg_len) == 1);
    EVP_MD_CTX_free(ctx);
    if (alg[0] == 'E' && !ed) {
        /* DER -> JOSE r||s */
        size_t half = alg[2] == '2' ? 32 : alg[2] == '3' ? 48 : 66;
        const uint8_t *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        GW_ASSERT(es);
        uint8_t *raw = gw_xmalloc(2 * half);
        GW_ASSERT(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)half) == (int)half);
        GW_ASSERT(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + half, (int)half) == (int)half);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        n = 2 * half;
    }
    *len = n;
    return sig;
}

char *
test_jwt(EVP_PKEY *k, const char *alg, const char *header, const char *payload, const char *secret)
{
    char *h = test_b64url(header, strlen(header));
    char *p = test_b64url(payload, strlen(payload));
    char *input = gw_xasprintf("%s.%s", h, p);
    size_t n = 0;
    uint8_t *sig = sign(k, alg, input, strlen(input), secret, &n);
    char *s = test_b64url(sig, n);
    char *tok = gw_xasprintf("%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(sig);
    free(s);
    return tok;
}
