/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: JWK Set and PEM key parsing (auth/keys.c) on any
 * bytes. A set is returned exactly when 0 is, never holds more than
 * GW_AUTH_JWKS_MAX_KEYS keys, and every diagnostic has a message.
 */
#include <stdint.h>

#include "auth/auth.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_keyset *ks = NULL;
    int rc = gw_auth_keyset_parse_jwks((const char *)data, size, "fuzz", &ks, &d);
    GW_ASSERT((rc == 0) == (ks != NULL));
    GW_ASSERT(!ks || gw_auth_keyset_count(ks) <= GW_AUTH_JWKS_MAX_KEYS);
    GW_ASSERT(rc == 0 || d.errors > 0);
    gw_auth_keyset_unref(ks);
    ks = NULL;
    rc = gw_auth_keyset_parse_pem((const char *)data, size, "fuzz", &ks, &d);
    GW_ASSERT((rc == 0) == (ks != NULL));
    GW_ASSERT(!ks || gw_auth_keyset_count(ks) == 1);
    gw_auth_keyset_unref(ks);
    for (size_t i = 0; i < d.n; i++)
        GW_ASSERT(d.v[i].message && d.v[i].message[0]);
    gw_diags_release(&d);
    return 0;
}
