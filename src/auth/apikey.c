/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API key sets: client name -> key, as a Secret's data holds them. Only
 * SHA-256 of each key is kept, and a presented key is hashed once and
 * compared with every entry without an early exit, so neither the time
 * nor the memory of the set tells anything about a key's bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/internal.h"

#include "base/banned.h"

struct apikey {
    uint8_t digest[32];
    char *client;
};

struct gw_auth_apikeys {
    struct apikey *v;
    size_t n, cap;
};

struct gw_auth_apikeys *
gw_auth_apikeys_new(void)
{
    return gw_xcalloc(1, sizeof(struct gw_auth_apikeys));
}

void
gw_auth_apikeys_free(struct gw_auth_apikeys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i].client);
    free(k->v);
    free(k);
}

size_t
gw_auth_apikeys_count(const struct gw_auth_apikeys *k)
{
    return k->n;
}

static void
sha256(struct gw_str s, uint8_t out[32])
{
    unsigned len = 0;
    GW_ASSERT(EVP_Digest(s.p, s.len, out, &len, EVP_sha256(), NULL) == 1 && len == 32);
}

int
gw_auth_apikeys_add(struct gw_auth_apikeys *k, const char *client, struct gw_str key)
{
    if (key.len == 0 || key.len > GW_AUTH_APIKEY_MAX_BYTES)
        return GW_EINVAL;
    uint8_t d[32];
    sha256(key, d);
    for (size_t i = 0; i < k->n; i++)
        if (memcmp(k->v[i].digest, d, sizeof(d)) == 0)
            return GW_EEXISTS;
    k->v = gw_xgrow(k->v, &k->cap, k->n + 1, sizeof(*k->v));
    memcpy(k->v[k->n].digest, d, sizeof(d));
    k->v[k->n].client = gw_xstrdup(client);
    k->n++;
    return 0;
}

const char *
gw_auth_apikeys_lookup(const struct gw_auth_apikeys *k, struct gw_str presented)
{
    if (presented.len == 0 || presented.len > GW_AUTH_APIKEY_MAX_BYTES)
        return NULL;
    uint8_t d[32];
    sha256(presented, d);
    /* Every entry is compared; the match is picked with a mask, not a
     * branch. Keys are unique, so at most one entry matches. */
    size_t found = 0;
    for (size_t i = 0; i < k->n; i++) {
        size_t hit = (size_t)(CRYPTO_memcmp(k->v[i].digest, d, sizeof(d)) == 0);
        found |= (i + 1) & (0 - hit);
    }
    return found ? k->v[found - 1].client : NULL;
}
