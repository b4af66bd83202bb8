/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key sets: a JWK Set (RFC 7517, key types of RFC 7518 §6 and RFC 8037)
 * or one PEM public key, turned into OpenSSL 3 EVP keys built through the
 * provider API (EVP_PKEY_fromdata), so they hold no legacy caches and
 * many threads may verify with one key at once. Also the algorithm table
 * and the one function that checks a signature, for every algorithm.
 *
 * A bad key is skipped with a warning, never fatal: one junk entry in an
 * identity provider's set must not lock every user out.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth/internal.h"

#include "base/banned.h"

/* ------------------------------------------------------------------------ */
/* Algorithms                                                               */

enum alg_family { FAM_RSA, FAM_PSS, FAM_EC, FAM_ED };

static const struct {
    const char *name;
    const char *md; /* NULL for EdDSA (no pre-hash) */
    enum alg_family fam;
    int ec_kty;    /* the curve an ES* alg requires */
    size_t ec_len; /* bytes of r and of s */
} algs[AUTH_ALG_COUNT] = {
    [AUTH_ALG_RS256] = {"RS256", "SHA256", FAM_RSA, 0, 0},
    [AUTH_ALG_RS384] = {"RS384", "SHA384", FAM_RSA, 0, 0},
    [AUTH_ALG_RS512] = {"RS512", "SHA512", FAM_RSA, 0, 0},
    [AUTH_ALG_PS256] = {"PS256", "SHA256", FAM_PSS, 0, 0},
    [AUTH_ALG_PS384] = {"PS384", "SHA384", FAM_PSS, 0, 0},
    [AUTH_ALG_PS512] = {"PS512", "SHA512", FAM_PSS, 0, 0},
    [AUTH_ALG_ES256] = {"ES256", "SHA256", FAM_EC, AUTH_KTY_EC256, 32},
    [AUTH_ALG_ES384] = {"ES384", "SHA384", FAM_EC, AUTH_KTY_EC384, 48},
    [AUTH_ALG_ES512] = {"ES512", "SHA512", FAM_EC, AUTH_KTY_EC521, 66},
    [AUTH_ALG_EDDSA] = {"EdDSA", NULL, FAM_ED, 0, 0},
};

int
auth_alg_parse(struct gw_str s)
{
    for (int i = 0; i < AUTH_ALG_COUNT; i++)
        if (gw_str_eq_cstr(s, algs[i].name))
            return i;
    return -1;
}

const char *
auth_alg_name(enum auth_alg a)
{
    GW_ASSERT(a >= 0 && a < AUTH_ALG_COUNT);
    return algs[a].name;
}

bool
auth_alg_fits_kty(enum auth_alg a, enum auth_kty k)
{
    switch (algs[a].fam) {
    case FAM_RSA:
    case FAM_PSS:
        return k == AUTH_KTY_RSA;
    case FAM_EC:
        return (int)k == algs[a].ec_kty;
    case FAM_ED:
        return k == AUTH_KTY_ED25519;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */

/* JOSE's ECDSA signature is r||s, each left-padded to the curve's size
 * (RFC 7518 §3.4); OpenSSL wants DER. Any other length is a bad signature,
 * never reinterpreted. */
static int
ec_sig_to_der(const uint8_t *sig, size_t sig_len, size_t half, uint8_t **der)
{
    if (sig_len != 2 * half)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);
    int len = -1;
    if (!es || !r || !s) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    ECDSA_SIG_set0(es, r, s); /* es owns them now */
    *der = NULL;
    len = i2d_ECDSA_SIG(es, der);
out:
    ECDSA_SIG_free(es);
    return len;
}

bool
auth_key_verify(const struct auth_key *k, enum auth_alg alg, const uint8_t *msg, size_t msg_len,
                const uint8_t *sig, size_t sig_len)
{
    GW_ASSERT(auth_alg_fits_kty(alg, k->kty));
    uint8_t *der = NULL;
    if (algs[alg].fam == FAM_EC) {
        int n = ec_sig_to_der(sig, sig_len, algs[alg].ec_len, &der);
        if (n <= 0)
            return false;
        sig = der;
        sig_len = (size_t)n;
    }
    bool good = false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!md)
        goto out;
    if (EVP_DigestVerifyInit_ex(md, &pctx, algs[alg].md, NULL, NULL, k->pkey, NULL) != 1)
        goto out;
    if (algs[alg].fam == FAM_PSS) {
        /* RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash. */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
            goto out;
    } else if (algs[alg].fam == FAM_RSA) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            goto out;
    }
    good = EVP_DigestVerify(md, sig, sig_len, msg, msg_len) == 1;
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return good;
}

/* ------------------------------------------------------------------------ */
/* Key sets                                                                 */

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

static atomic_uint_fast64_t next_keyset_serial = 1;

static struct gw_auth_keyset *
keyset_new(void)
{
    struct gw_auth_keyset *ks = gw_xcalloc(1, sizeof(*ks));
    atomic_init(&ks->refs, 1);
    ks->serial = atomic_fetch_add_explicit(&next_keyset_serial, 1, memory_order_relaxed);
    return ks;
}

struct gw_auth_keyset *
gw_auth_keyset_ref(struct gw_auth_keyset *ks)
{
    unsigned old = atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
    GW_ASSERT(old > 0);
    return ks;
}

void
gw_auth_keyset_unref(struct gw_auth_keyset *ks)
{
    if (!ks)
        return;
    unsigned old = atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel);
    GW_ASSERT(old > 0);
    if (old != 1)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        EVP_PKEY_free(ks->keys[i].pkey);
        free(ks->keys[i].kid);
    }
    free(ks->keys);
    free(ks);
}

size_t
gw_auth_keyset_count(const struct gw_auth_keyset *ks)
{
    return ks->n;
}

uint64_t
gw_auth_keyset_serial(const struct gw_auth_keyset *ks)
{
    return ks->serial;
}

/* One JWK being read: where to report, and the reason it was skipped. */
struct jwk_ctx {
    struct gw_diags *diags;
    const char *name;
    size_t index;
};

GW_PRINTF(3, 4)

static void
skip(struct jwk_ctx *j, const struct gw_node *at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char path[32];
    snprintf(path, sizeof(path), "keys[%zu]", j->index);
    gw_diags_add(j->diags, GW_SEV_WARNING, at->pos, "JWKS", NULL, j->name, path, "key skipped: %s",
                 msg);
}

/* A base64url member of a JWK, decoded into a fresh buffer. The decoded
 * length, or -1 when absent or not base64url (reported). */
static int
member_b64(struct jwk_ctx *j, const struct gw_node *jwk, const char *key, uint8_t **out)
{
    const struct gw_node *n = gw_node_get(jwk, key);
    if (!n || n->type != GW_NODE_STR) {
        skip(j, jwk, "\"%s\" is missing or not a string", key);
        return -1;
    }
    size_t cap = AUTH_B64_DECODED_MAX(n->len);
    *out = gw_xmalloc(cap);
    int len = auth_b64url_decode((struct gw_str){n->text, n->len}, *out, cap);
    if (len <= 0) {
        skip(j, n, "\"%s\" is not base64url without padding", key);
        free(*out);
        *out = NULL;
        return -1;
    }
    return len;
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* OpenSSL's own sanity check of a public key (RSA: n odd and e sane; EC:
 * the point on the curve, not at infinity, of the group's order). */
static bool
pkey_is_sane(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool sane = ctx && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return sane;
}

static EVP_PKEY *
jwk_rsa(struct jwk_ctx *j, const struct gw_node *jwk)
{
    uint8_t *n = NULL, *e = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    int nlen = member_b64(j, jwk, "n", &n);
    if (nlen < 0)
        goto out;
    int elen = member_b64(j, jwk, "e", &e);
    if (elen < 0)
        goto out;
    if (elen > 8) {
        skip(j, jwk, "RSA exponent is too long");
        goto out;
    }
    bn = BN_bin2bn(n, nlen, NULL);
    be = BN_bin2bn(e, elen, NULL);
    if (!bn || !be)
        goto out;
    int bits = BN_num_bits(bn);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        skip(j, jwk, "RSA modulus of %d bits (%d to %d allowed)", bits, RSA_MIN_BITS, RSA_MAX_BITS);
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1)
        goto out;
    pkey = pkey_fromdata("RSA", bld);
    if (!pkey || !pkey_is_sane(pkey)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        skip(j, jwk, "not a valid RSA public key");
    }
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

static const struct {
    const char *crv;
    const char *group;
    enum auth_kty kty;
    size_t len;
} curves[] = {
    {"P-256", "prime256v1", AUTH_KTY_EC256, 32},
    {"P-384", "secp384r1", AUTH_KTY_EC384, 48},
    {"P-521", "secp521r1", AUTH_KTY_EC521, 66},
};

static EVP_PKEY *
jwk_ec(struct jwk_ctx *j, const struct gw_node *jwk, enum auth_kty *kty)
{
    const struct gw_node *crv = gw_node_get(jwk, "crv");
    size_t c = 0;
    while (c < GW_ARRAY_LEN(curves) &&
           !(crv && crv->type == GW_NODE_STR && strcmp(crv->text, curves[c].crv) == 0))
        c++;
    if (c == GW_ARRAY_LEN(curves)) {
        skip(j, crv ? crv : jwk, "EC \"crv\" is not P-256, P-384 or P-521");
        return NULL;
    }
    uint8_t *x = NULL, *y = NULL, *pt = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    int xlen = member_b64(j, jwk, "x", &x);
    if (xlen < 0)
        goto out;
    int ylen = member_b64(j, jwk, "y", &y);
    if (ylen < 0)
        goto out;
    size_t len = curves[c].len;
    if ((size_t)xlen != len || (size_t)ylen != len) {
        skip(j, jwk, "EC \"x\" and \"y\" must be %zu bytes each for %s", len, curves[c].crv);
        goto out;
    }
    pt = gw_xmalloc(1 + 2 * len); /* SEC 1 uncompressed point */
    pt[0] = 4;
    memcpy(pt + 1, x, len);
    memcpy(pt + 1 + len, y, len);
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[c].group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * len) != 1)
        goto out;
    pkey = pkey_fromdata("EC", bld);
    if (!pkey || !pkey_is_sane(pkey)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
        skip(j, jwk, "not a valid %s public key (point not on the curve?)", curves[c].crv);
        goto out;
    }
    *kty = curves[c].kty;
out:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    free(pt);
    return pkey;
}

static EVP_PKEY *
jwk_okp(struct jwk_ctx *j, const struct gw_node *jwk)
{
    const struct gw_node *crv = gw_node_get(jwk, "crv");
    if (!crv || crv->type != GW_NODE_STR || strcmp(crv->text, "Ed25519") != 0) {
        skip(j, crv ? crv : jwk, "OKP \"crv\" is not Ed25519");
        return NULL;
    }
    uint8_t *x = NULL;
    EVP_PKEY *pkey = NULL;
    int xlen = member_b64(j, jwk, "x", &x);
    if (xlen < 0)
        goto out;
    if (xlen != 32) {
        skip(j, jwk, "Ed25519 \"x\" must be 32 bytes");
        goto out;
    }
    if (gw_node_get(jwk, "d")) {
        /* A private key published by mistake: still usable to verify, but
         * worth a word. Not skipped. */
        gw_diags_add(j->diags, GW_SEV_WARNING, jwk->pos, "JWKS", NULL, j->name, NULL,
                     "keys[%zu] carries a private part (\"d\"); only the public key is used",
                     j->index);
    }
    pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, 32);
    if (!pkey)
        skip(j, jwk, "not a valid Ed25519 public key");
out:
    free(x);
    return pkey;
}

/* Whether a JWK's "use" and "key_ops" allow verifying signatures. */
static bool
jwk_is_for_verify(struct jwk_ctx *j, const struct gw_node *jwk)
{
    const struct gw_node *use = gw_node_get(jwk, "use");
    if (use && (use->type != GW_NODE_STR || strcmp(use->text, "sig") != 0)) {
        skip(j, use, "\"use\" is not \"sig\"");
        return false;
    }
    const struct gw_node *ops = gw_node_get(jwk, "key_ops");
    if (ops) {
        bool verify = false;
        for (size_t i = 0; ops->type == GW_NODE_LIST && i < ops->n; i++) {
            const struct gw_node *op = ops->u.items[i];
            verify |= op->type == GW_NODE_STR && strcmp(op->text, "verify") == 0;
        }
        if (!verify) {
            skip(j, ops, "\"key_ops\" does not include \"verify\"");
            return false;
        }
    }
    return true;
}

/* Reads one JWK into k. true if usable. */
static bool
jwk_read(struct jwk_ctx *j, const struct gw_node *jwk, struct auth_key *k)
{
    if (jwk->type != GW_NODE_MAP) {
        skip(j, jwk, "not an object");
        return false;
    }
    const struct gw_node *kty = gw_node_get(jwk, "kty");
    const struct gw_node *kid = gw_node_get(jwk, "kid");
    const struct gw_node *alg = gw_node_get(jwk, "alg");
    if (!kty || kty->type != GW_NODE_STR) {
        skip(j, jwk, "\"kty\" is missing or not a string");
        return false;
    }
    if (kid && kid->type != GW_NODE_STR) {
        skip(j, kid, "\"kid\" is not a string");
        return false;
    }
    if (!jwk_is_for_verify(j, jwk))
        return false;
    k->alg = AUTH_ALG_NONE_SET;
    if (alg) {
        k->alg =
            alg->type == GW_NODE_STR ? auth_alg_parse((struct gw_str){alg->text, alg->len}) : -1;
        if (k->alg < 0) {
            skip(j, alg, "\"alg\" %s is not supported for verification",
                 alg->type == GW_NODE_STR ? alg->text : "(not a string)");
            return false;
        }
    }
    if (strcmp(kty->text, "RSA") == 0) {
        k->kty = AUTH_KTY_RSA;
        k->pkey = jwk_rsa(j, jwk);
    } else if (strcmp(kty->text, "EC") == 0) {
        k->pkey = jwk_ec(j, jwk, &k->kty);
    } else if (strcmp(kty->text, "OKP") == 0) {
        k->kty = AUTH_KTY_ED25519;
        k->pkey = jwk_okp(j, jwk);
    } else {
        skip(j, kty, "\"kty\" \"%s\" is not supported (RSA, EC, OKP)", kty->text);
        return false;
    }
    if (!k->pkey)
        return false;
    if (k->alg != AUTH_ALG_NONE_SET && !auth_alg_fits_kty((enum auth_alg)k->alg, k->kty)) {
        skip(j, alg, "\"alg\" %s does not fit the key's type", alg->text);
        EVP_PKEY_free(k->pkey);
        k->pkey = NULL;
        return false;
    }
    k->kid = kid ? gw_xstrndup(kid->text, kid->len) : NULL;
    return true;
}

int
gw_auth_keyset_parse_jwks(const char *data, size_t len, const char *name,
                          struct gw_auth_keyset **out, struct gw_diags *diags)
{
    *out = NULL;
    const char *label = name ? name : "jwks";
    if (len > GW_AUTH_JWKS_MAX_BYTES) {
        gw_diags_add(diags, GW_SEV_ERROR, (struct gw_pos){0}, "JWKS", NULL, name, NULL,
                     "JWK Set of %zu bytes (at most %u)", len, GW_AUTH_JWKS_MAX_BYTES);
        return GW_ELIMIT;
    }
    struct gw_docs docs;
    gw_docs_init(&docs);
    docs.limits.max_depth = 16;
    docs.limits.max_nodes = 100000;
    int rc = gw_docs_add_json(&docs, label, data, len, diags);
    if (rc < 0)
        goto out;
    rc = GW_EPARSE;
    const struct gw_node *root = docs.n == 1 ? docs.v[0].root : NULL;
    const struct gw_node *keys = gw_node_get(root, "keys");
    if (!keys || keys->type != GW_NODE_LIST) {
        gw_diags_add(diags, GW_SEV_ERROR, root ? root->pos : (struct gw_pos){0}, "JWKS", NULL, name,
                     NULL, "not a JWK Set: one object with a \"keys\" list expected");
        goto out;
    }
    struct gw_auth_keyset *ks = keyset_new();
    ks->keys = gw_xcalloc(GW_MIN(keys->n, (size_t)GW_AUTH_JWKS_MAX_KEYS) + 1, sizeof(*ks->keys));
    for (size_t i = 0; i < keys->n; i++) {
        struct jwk_ctx j = {diags, name, i};
        if (ks->n == GW_AUTH_JWKS_MAX_KEYS) {
            skip(&j, keys->u.items[i], "more than %d usable keys", GW_AUTH_JWKS_MAX_KEYS);
            continue;
        }
        struct auth_key k = {0};
        if (jwk_read(&j, keys->u.items[i], &k))
            ks->keys[ks->n++] = k;
    }
    *out = ks;
    rc = 0;
out:
    gw_docs_release(&docs);
    return rc;
}

int
gw_auth_keyset_parse_pem(const char *data, size_t len, const char *name,
                         struct gw_auth_keyset **out, struct gw_diags *diags)
{
    *out = NULL;
    struct gw_pos nowhere = {0};
    if (len > GW_AUTH_JWKS_MAX_BYTES || len > INT32_MAX) {
        gw_diags_add(diags, GW_SEV_ERROR, nowhere, "PEM", NULL, name, NULL,
                     "PEM key of %zu bytes (at most %u)", len, GW_AUTH_JWKS_MAX_BYTES);
        return GW_ELIMIT;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        gw_diags_add(diags, GW_SEV_ERROR, nowhere, "PEM", NULL, name, NULL,
                     "no PEM public key (\"BEGIN PUBLIC KEY\") could be read");
        return GW_EPARSE;
    }
    struct auth_key k = {.pkey = pkey, .alg = AUTH_ALG_NONE_SET};
    const char *why = NULL;
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        k.kty = AUTH_KTY_RSA;
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
            why = "RSA key size out of range (2048 to 16384 bits)";
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        size_t c = GW_ARRAY_LEN(curves);
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           NULL) == 1)
            for (c = 0; c < GW_ARRAY_LEN(curves) && strcmp(group, curves[c].group) != 0; c++)
                ;
        if (c == GW_ARRAY_LEN(curves))
            why = "EC key not on P-256, P-384 or P-521";
        else
            k.kty = curves[c].kty;
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        k.kty = AUTH_KTY_ED25519;
    } else {
        why = "key type not supported (RSA, EC, Ed25519)";
    }
    if (!why && k.kty != AUTH_KTY_ED25519 && !pkey_is_sane(pkey))
        why = "public key fails OpenSSL's check";
    if (why) {
        gw_diags_add(diags, GW_SEV_ERROR, nowhere, "PEM", NULL, name, NULL, "%s", why);
        EVP_PKEY_free(pkey);
        return GW_EINVAL;
    }
    struct gw_auth_keyset *ks = keyset_new();
    ks->keys = gw_xcalloc(1, sizeof(*ks->keys));
    ks->keys[0] = k;
    ks->n = 1;
    *out = ks;
    return 0;
}
