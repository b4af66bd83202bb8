/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: htpasswd parsing (auth/htpasswd.c), the Basic
 * Authorization value and API key lookup, on any bytes. Users kept plus
 * lines refused never pass the lines there are; Basic views lie inside the
 * caller's buffer; credentials decoded from the input are checked against
 * a fixed file of fast hashes ({SHA} and 1000-round SHA-256-crypt), never
 * against the fuzzed file (its bcrypt costs are the parser's to bound,
 * not the fuzzer's time to spend).
 */
#include <stdint.h>
#include <string.h>

#include "auth/auth.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* alice:{SHA} of "secret"; bob: $5$ of "hunter2" at 1000 rounds. */
static const char fixed[] =
    "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
    "bob:$5$rounds=1000$fuzzsalt$E5OwU2ohMEgxlOilpEnvzJYCw5GhTwWXREOkHfknd7.\n";

static struct gw_auth_htpasswd *known;
static struct gw_auth_apikeys *keys;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!known) {
        struct gw_diags d;
        gw_diags_init(&d);
        GW_ASSERT(gw_auth_htpasswd_parse(fixed, sizeof(fixed) - 1, "fixed", &known, &d) == 0);
        GW_ASSERT(d.n == 0);
        gw_diags_release(&d);
        keys = gw_auth_apikeys_new();
        GW_ASSERT(gw_auth_apikeys_add(keys, "client", GW_STR("k-123")) == 0);
    }
    const char *s = (const char *)data;
    struct gw_diags d;
    gw_diags_init(&d);
    struct gw_auth_htpasswd *h = NULL;
    int rc = gw_auth_htpasswd_parse(s, size, "fuzz", &h, &d);
    GW_ASSERT((rc == 0) == (h != NULL));
    if (h) {
        size_t lines = 0;
        for (size_t i = 0; i < size; i++)
            lines += s[i] == '\n';
        GW_ASSERT(gw_auth_htpasswd_count(h) + d.n <= lines + 1);
    }
    gw_auth_htpasswd_free(h);
    gw_diags_release(&d);

    char buf[GW_AUTH_BASIC_MAX_BYTES];
    struct gw_str user, pw;
    if (gw_auth_basic_parse((struct gw_str){s, size}, buf, sizeof(buf), &user, &pw) == 0) {
        GW_ASSERT(user.p == buf && user.len > 0 && !memchr(user.p, ':', user.len));
        GW_ASSERT(pw.p == user.p + user.len + 1 && pw.p + pw.len <= buf + sizeof(buf));
        bool good = gw_auth_htpasswd_verify(known, user, pw);
        GW_ASSERT(!good || (gw_str_eq_cstr(user, "alice") && gw_str_eq_cstr(pw, "secret")) ||
                  (gw_str_eq_cstr(user, "bob") && gw_str_eq_cstr(pw, "hunter2")));
    }
    const char *client = gw_auth_apikeys_lookup(keys, (struct gw_str){s, size});
    GW_ASSERT(!client || (size == 5 && memcmp(s, "k-123", 5) == 0));
    return 0;
}
