/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT verification (RFC 7519 over the JWS compact serialization of RFC
 * 7515): split and decode the three segments, read the JOSE header, find
 * the keys that fit its kid and alg, check the signature, and only then
 * look at the claims (exp, nbf with the provider's skew, iss, aud).
 *
 * The order matters: nothing of the payload is trusted, or even parsed,
 * before the signature holds, and the algorithm comes from the header but
 * may only pick among the algorithms each key allows (its kty, and its
 * alg when the JWK names one). "none" and HS* have no entry in the table
 * at all, so no path leads from them to a key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"

#include "base/banned.h"

const char *
gw_auth_jwt_status_name(enum gw_auth_jwt_status s)
{
    switch (s) {
    case GW_AUTH_JWT_OK:
        return "ok";
    case GW_AUTH_JWT_MISSING:
        return "missing";
    case GW_AUTH_JWT_MALFORMED:
        return "malformed";
    case GW_AUTH_JWT_UNSUPPORTED_ALG:
        return "unsupported alg";
    case GW_AUTH_JWT_UNKNOWN_KEY:
        return "unknown key";
    case GW_AUTH_JWT_BAD_SIGNATURE:
        return "bad signature";
    case GW_AUTH_JWT_EXPIRED:
        return "expired";
    case GW_AUTH_JWT_NOT_YET_VALID:
        return "not yet valid";
    case GW_AUTH_JWT_WRONG_ISSUER:
        return "wrong issuer";
    case GW_AUTH_JWT_WRONG_AUDIENCE:
        return "wrong audience";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------ */
/* Providers                                                                */

static atomic_uint_fast64_t next_serial = 1;

struct gw_auth_jwt_provider *
gw_auth_jwt_provider_new(const struct gw_auth_jwt_config *cfg)
{
    GW_ASSERT(cfg->clock_skew_s >= 0);
    struct gw_auth_jwt_provider *p = gw_xcalloc(1, sizeof(*p));
    p->serial = atomic_fetch_add_explicit(&next_serial, 1, memory_order_relaxed);
    p->keys = cfg->keys ? gw_auth_keyset_ref(cfg->keys) : NULL;
    p->issuer = cfg->issuer ? gw_xstrdup(cfg->issuer) : NULL;
    p->n_audiences = cfg->n_audiences;
    p->audiences = gw_xcalloc(cfg->n_audiences + 1, sizeof(*p->audiences));
    for (size_t i = 0; i < cfg->n_audiences; i++)
        p->audiences[i] = gw_xstrdup(cfg->audiences[i]);
    p->skew = cfg->clock_skew_s;
    return p;
}

void
gw_auth_jwt_provider_free(struct gw_auth_jwt_provider *p)
{
    if (!p)
        return;
    gw_auth_keyset_unref(p->keys);
    free(p->issuer);
    for (size_t i = 0; i < p->n_audiences; i++)
        free(p->audiences[i]);
    free(p->audiences);
    free(p);
}

void
gw_auth_jwt_result_release(struct gw_auth_jwt_result *r)
{
    gw_auth_claims_unref(r->claims);
    r->claims = NULL;
}

/* ------------------------------------------------------------------------ */
/* Verification                                                             */

static enum gw_auth_jwt_status
fail(struct gw_auth_jwt_result *r, enum gw_auth_jwt_status s, const char *reason)
{
    r->status = s;
    r->reason = reason;
    return s;
}

/* Parses decoded JSON bytes into docs: the root, when they hold exactly
 * one value and it is an object ("{}{}" is a stream to the reader, not a
 * JWT), else NULL. */
static const struct gw_node *
json_object(struct gw_docs *docs, const char *what, const uint8_t *p, size_t n)
{
    size_t before = docs->n;
    struct gw_diags diags;
    gw_diags_init(&diags);
    int rc = gw_docs_add_json(docs, what, (const char *)p, n, &diags);
    gw_diags_release(&diags);
    if (rc < 0 || docs->n != before + 1)
        return NULL;
    const struct gw_node *root = docs->v[before].root;
    return root && root->type == GW_NODE_MAP ? root : NULL;
}

int
auth_numeric_date(const struct gw_node *n, int64_t *out)
{
    if (n->type == GW_NODE_INT) {
        *out = n->v.i;
        return 0;
    }
    if (n->type != GW_NODE_FLOAT)
        return GW_EINVAL;
    double f = n->v.f;
    /* NaN fails both comparisons. */
    if (!(f > -9.0e18 && f < 9.0e18))
        return GW_EINVAL;
    int64_t t = (int64_t)f;
    if ((double)t > f)
        t--; /* floor, for negative fractions */
    *out = t;
    return 0;
}

static bool
aud_matches(const struct gw_auth_jwt_provider *p, const struct gw_node *n)
{
    if (n->type != GW_NODE_STR)
        return false;
    for (size_t i = 0; i < p->n_audiences; i++)
        if (strcmp(n->text, p->audiences[i]) == 0)
            return true;
    return false;
}

static enum gw_auth_jwt_status
check_claims(const struct gw_auth_jwt_provider *p, const struct gw_node *pl, int64_t now,
             struct gw_auth_jwt_result *r, int64_t *nbf_out)
{
    const struct gw_node *exp = gw_node_get(pl, "exp");
    const struct gw_node *nbf = gw_node_get(pl, "nbf");
    int64_t e = INT64_MAX, b = INT64_MIN;
    if (exp && auth_numeric_date(exp, &e) < 0)
        return fail(r, GW_AUTH_JWT_MALFORMED, "\"exp\" is not a number");
    if (nbf && auth_numeric_date(nbf, &b) < 0)
        return fail(r, GW_AUTH_JWT_MALFORMED, "\"nbf\" is not a number");
    /* Valid while now < exp + skew and now >= nbf - skew (saturating). */
    int64_t hi, lo;
    if (__builtin_add_overflow(e, p->skew, &hi))
        hi = INT64_MAX;
    if (__builtin_sub_overflow(b, p->skew, &lo))
        lo = INT64_MIN;
    if (exp && now >= hi)
        return fail(r, GW_AUTH_JWT_EXPIRED, "token has expired");
    if (nbf && now < lo)
        return fail(r, GW_AUTH_JWT_NOT_YET_VALID, "token is not valid yet (nbf)");
    if (p->issuer) {
        const struct gw_node *iss = gw_node_get(pl, "iss");
        if (!iss || iss->type != GW_NODE_STR || strcmp(iss->text, p->issuer) != 0)
            return fail(r, GW_AUTH_JWT_WRONG_ISSUER, "issuer does not match");
    }
    if (p->n_audiences) {
        const struct gw_node *aud = gw_node_get(pl, "aud");
        bool hit = false;
        if (aud && aud->type == GW_NODE_LIST) {
            for (size_t i = 0; i < aud->n && !hit; i++)
                hit = aud_matches(p, aud->u.items[i]);
        } else if (aud) {
            hit = aud_matches(p, aud);
        }
        if (!hit)
            return fail(r, GW_AUTH_JWT_WRONG_AUDIENCE, "audience does not match");
    }
    r->exp = e;
    *nbf_out = b;
    return GW_AUTH_JWT_OK;
}

/* The signature step: which keys may verify, and does one. */
static enum gw_auth_jwt_status
check_signature(const struct gw_auth_keyset *ks, enum auth_alg alg, const struct gw_node *kid,
                struct gw_str input, const uint8_t *sig, size_t sig_len,
                struct gw_auth_jwt_result *r)
{
    if (!ks)
        return fail(r, GW_AUTH_JWT_UNKNOWN_KEY, "keys unavailable");
    size_t tried = 0;
    for (size_t i = 0; i < ks->n; i++) {
        const struct auth_key *k = &ks->keys[i];
        /* A token's kid selects keys with that kid, or without any (a PEM
         * key); a key's alg, when named, is the only one it verifies. */
        if (kid && k->kid && strcmp(kid->text, k->kid) != 0)
            continue;
        if (!auth_alg_fits_kty(alg, k->kty) || (k->alg >= 0 && k->alg != (int)alg))
            continue;
        tried++;
        if (auth_key_verify(k, alg, (const uint8_t *)input.p, input.len, sig, sig_len))
            return GW_AUTH_JWT_OK;
    }
    if (!tried)
        return fail(r, GW_AUTH_JWT_UNKNOWN_KEY, "no key fits the token's kid and alg");
    return fail(r, GW_AUTH_JWT_BAD_SIGNATURE, "signature does not verify");
}

/* The whole check; *nbf is the token's nbf (INT64_MIN if none) on OK. */
enum gw_auth_jwt_status
auth_jwt_verify(const struct gw_auth_jwt_provider *p, const struct gw_auth_keyset *ks,
                struct gw_str token, int64_t now, struct gw_auth_jwt_result *r, int64_t *nbf)
{
    memset(r, 0, sizeof(*r));
    r->reason = "ok";
    if (token.len == 0)
        return fail(r, GW_AUTH_JWT_MISSING, "no token");
    if (token.len > GW_AUTH_JWT_MAX_BYTES)
        return fail(r, GW_AUTH_JWT_MALFORMED, "token too large");
    const char *d1 = memchr(token.p, '.', token.len);
    const char *end = token.p + token.len;
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
        return fail(r, GW_AUTH_JWT_MALFORMED, "not three dot-separated segments");
    struct gw_str seg[3] = {
        {token.p, (size_t)(d1 - token.p)},
        {d1 + 1, (size_t)(d2 - d1 - 1)},
        {d2 + 1, (size_t)(end - d2 - 1)},
    };
    if (!seg[0].len || !seg[1].len)
        return fail(r, GW_AUTH_JWT_MALFORMED, "empty header or payload");

    /* One buffer for the three decoded segments. */
    size_t cap[3];
    for (int i = 0; i < 3; i++)
        cap[i] = AUTH_B64_DECODED_MAX(seg[i].len);
    uint8_t *buf = gw_xmalloc(cap[0] + cap[1] + cap[2]);
    uint8_t *dec[3] = {buf, buf + cap[0], buf + cap[0] + cap[1]};
    int len[3];
    enum gw_auth_jwt_status st = GW_AUTH_JWT_OK;
    struct gw_docs docs;
    gw_docs_init(&docs);
    gw_arena_init(&docs.arena, 4096); /* unused yet: a smaller first chunk */
    docs.limits.max_depth = 16;
    docs.limits.max_nodes = 4096;
    for (int i = 0; i < 3; i++) {
        len[i] = auth_b64url_decode(seg[i], dec[i], cap[i]);
        if (len[i] < 0) {
            st = fail(r, GW_AUTH_JWT_MALFORMED, "a segment is not base64url without padding");
            goto out;
        }
    }

    const struct gw_node *hdr = json_object(&docs, "jwt header", dec[0], (size_t)len[0]);
    if (!hdr) {
        st = fail(r, GW_AUTH_JWT_MALFORMED, "header is not a JSON object");
        goto out;
    }
    const struct gw_node *alg = gw_node_get(hdr, "alg");
    const struct gw_node *kid = gw_node_get(hdr, "kid");
    const struct gw_node *typ = gw_node_get(hdr, "typ");
    if (!alg || alg->type != GW_NODE_STR) {
        st = fail(r, GW_AUTH_JWT_MALFORMED, "header has no \"alg\" string");
        goto out;
    }
    int a = auth_alg_parse((struct gw_str){alg->text, alg->len});
    if (a < 0) {
        if (strcmp(alg->text, "none") == 0)
            st = fail(r, GW_AUTH_JWT_UNSUPPORTED_ALG, "alg \"none\" is never accepted");
        else if (alg->text[0] == 'H' && alg->text[1] == 'S')
            st = fail(r, GW_AUTH_JWT_UNSUPPORTED_ALG, "HMAC algorithms are not supported");
        else
            st = fail(r, GW_AUTH_JWT_UNSUPPORTED_ALG, "alg is not supported");
        goto out;
    }
    if ((kid && kid->type != GW_NODE_STR) || (typ && typ->type != GW_NODE_STR)) {
        st = fail(r, GW_AUTH_JWT_MALFORMED, "\"kid\" or \"typ\" is not a string");
        goto out;
    }
    if (gw_node_get(hdr, "crit")) {
        /* RFC 7515 §4.1.11: extensions we do not implement (b64: false...)
         * must make the token invalid. */
        st = fail(r, GW_AUTH_JWT_MALFORMED, "\"crit\" header parameters are not supported");
        goto out;
    }
    if (len[2] == 0) {
        st = fail(r, GW_AUTH_JWT_MALFORMED, "empty signature");
        goto out;
    }
    struct gw_str input = {token.p, (size_t)(d2 - token.p)};
    st =
        check_signature(ks ? ks : p->keys, (enum auth_alg)a, kid, input, dec[2], (size_t)len[2], r);
    if (st != GW_AUTH_JWT_OK)
        goto out;

    const struct gw_node *pl = json_object(&docs, "jwt payload", dec[1], (size_t)len[1]);
    if (!pl) {
        st = fail(r, GW_AUTH_JWT_MALFORMED, "payload is not a JSON object");
        goto out;
    }
    st = check_claims(p, pl, now, r, nbf);
    if (st != GW_AUTH_JWT_OK)
        goto out;
    r->claims = auth_claims_build(pl);
    r->status = GW_AUTH_JWT_OK;
    r->reason = "ok";
out:
    gw_docs_release(&docs);
    free(buf);
    return st;
}

enum gw_auth_jwt_status
gw_auth_jwt_verify(const struct gw_auth_jwt_provider *p, struct gw_str token, int64_t now,
                   struct gw_auth_jwt_result *r)
{
    int64_t nbf;
    return auth_jwt_verify(p, NULL, token, now, r, &nbf);
}

enum gw_auth_jwt_status
gw_auth_jwt_verify_keys(const struct gw_auth_jwt_provider *p, const struct gw_auth_keyset *keys,
                        struct gw_str token, int64_t now, struct gw_auth_jwt_result *r)
{
    int64_t nbf;
    return auth_jwt_verify(p, keys, token, now, r, &nbf);
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
 * "+" / "/" ) *"=". */
static bool
is_b64token(struct gw_str s)
{
    size_t i = 0;
    for (; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'))
            break;
    }
    if (i == 0)
        return false;
    while (i < s.len && s.p[i] == '=')
        i++;
    return i == s.len;
}

bool
gw_auth_bearer_parse(struct gw_str value, struct gw_str *token)
{
    const struct gw_str scheme = GW_STR("Bearer");
    if (value.len <= scheme.len + 1 || value.p[scheme.len] != ' ' ||
        !gw_str_caseeq((struct gw_str){value.p, scheme.len}, scheme))
        return false;
    size_t i = scheme.len;
    while (i < value.len && value.p[i] == ' ')
        i++;
    struct gw_str t = {value.p + i, value.len - i};
    if (!is_b64token(t))
        return false;
    *token = t;
    return true;
}
